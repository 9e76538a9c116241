//! SDP for audio calls (RFC 4566) and the offer/answer model (RFC 3264):
//! G.711 µ-law and A-law, `telephone-event/8000` with the offerer's payload
//! type, `ptime`, and the direction attributes used for hold and resume.
//!
//! Parsing is lenient in what it skips (unknown lines, other media) and
//! strict in what it needs (an audio line with a port and formats); it never
//! panics on any input.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::codec::G711;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// What the answerer uses for an offered direction.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }
}

/// A payload type the peer listed, with its rtpmap if it gave one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pub payload_type: u8,
    /// Encoding name and clock rate from `a=rtpmap`, e.g. ("PCMU", 8000).
    pub rtpmap: Option<(String, u32)>,
}

/// The audio stream of a session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioDescription {
    /// Where the peer wants our RTP; `None` when it gave no usable address.
    pub address: Option<IpAddr>,
    pub port: u16,
    pub formats: Vec<Format>,
    pub ptime: Option<u32>,
    pub direction: Direction,
    /// `a=rtcp-mux` (RFC 5761): RTCP shares the RTP port both ways.
    pub rtcp_mux: bool,
    /// `a=rtcp:PORT` (RFC 3605): where the peer takes RTCP, when not at
    /// the RTP port + 1.
    pub rtcp_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("line {0}: not of the form x=value")]
    Line(usize),
    #[error("no audio media line")]
    NoAudio,
    #[error("line {0}: malformed m= line")]
    Media(usize),
    #[error("no codec in common (we take PCMU and PCMA)")]
    NoCommonCodec,
}

/// Parses the first audio stream of an SDP body.
pub fn parse_audio(sdp: &str) -> Result<AudioDescription, SdpError> {
    let mut session_address = None;
    let mut session_direction = Direction::SendRecv;
    let mut audio: Option<AudioDescription> = None;
    // True while inside the first audio m= section.
    let mut in_audio = false;
    let mut seen_media = false;
    for (i, raw) in sdp.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let Some((kind, value)) = line.split_once('=') else {
            return Err(SdpError::Line(i + 1));
        };
        match kind {
            "m" => {
                seen_media = true;
                in_audio = false;
                let mut parts = value.split_whitespace();
                if audio.is_some() || parts.next() != Some("audio") {
                    continue;
                }
                let (port, _proto) = (parts.next(), parts.next());
                let port: u16 = port
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse().ok())
                    .ok_or(SdpError::Media(i + 1))?;
                let formats = parts
                    .filter_map(|f| f.parse::<u8>().ok())
                    .filter(|pt| *pt < 128)
                    .map(|payload_type| Format {
                        payload_type,
                        rtpmap: None,
                    })
                    .collect();
                audio = Some(AudioDescription {
                    address: session_address,
                    port,
                    formats,
                    ptime: None,
                    direction: session_direction,
                    rtcp_mux: false,
                    rtcp_port: None,
                });
                in_audio = true;
            }
            "c" => {
                let address = parse_connection(value);
                if !seen_media {
                    session_address = address;
                } else if let (true, Some(a)) = (in_audio, audio.as_mut()) {
                    a.address = address;
                }
            }
            "a" => {
                let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                let direction = match name {
                    "sendrecv" => Some(Direction::SendRecv),
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                if !seen_media {
                    if let Some(d) = direction {
                        session_direction = d;
                    }
                    continue;
                }
                let Some(a) = audio.as_mut().filter(|_| in_audio) else {
                    continue;
                };
                if let Some(d) = direction {
                    a.direction = d;
                }
                match name {
                    "rtpmap" => {
                        if let Some((pt, map)) = parse_rtpmap(arg) {
                            if let Some(f) = a.formats.iter_mut().find(|f| f.payload_type == pt) {
                                f.rtpmap = Some(map);
                            }
                        }
                    }
                    "ptime" => a.ptime = arg.trim().parse().ok(),
                    "rtcp-mux" => a.rtcp_mux = true,
                    "rtcp" => {
                        a.rtcp_port = arg
                            .split_whitespace()
                            .next()
                            .and_then(|p| p.parse().ok())
                            .filter(|p| *p != 0)
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let mut audio = audio.ok_or(SdpError::NoAudio)?;
    // c=IN IP4 0.0.0.0 is the old way to put a call on hold (RFC 2543).
    if audio.address.is_some_and(|a| a.is_unspecified()) && audio.direction == Direction::SendRecv {
        audio.direction = Direction::SendOnly;
    }
    Ok(audio)
}

fn parse_connection(value: &str) -> Option<IpAddr> {
    let mut parts = value.split_whitespace();
    let (_net, _kind, address) = (parts.next()?, parts.next()?, parts.next()?);
    address.split('/').next()?.parse().ok()
}

fn parse_rtpmap(arg: &str) -> Option<(u8, (String, u32))> {
    let (pt, rest) = arg.trim().split_once(char::is_whitespace)?;
    let mut parts = rest.trim().split('/');
    let name = parts.next()?.to_owned();
    let rate = parts.next()?.parse().ok()?;
    Some((pt.parse().ok()?, (name, rate)))
}

/// What both sides agreed on for a call's audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: G711,
    /// The payload type the peer uses for the codec (0 or 8 unless remapped).
    pub payload_type: u8,
    /// The peer's telephone-event payload type, when it offered one.
    pub telephone_event: Option<u8>,
    pub ptime: u32,
    pub direction: Direction,
    /// RTCP goes on the RTP port both ways (the offer asked for rtcp-mux).
    pub rtcp_mux: bool,
    /// Where the peer takes RTCP when not multiplexed: its `a=rtcp` port,
    /// else the RTP port + 1 (RFC 3550).
    pub rtcp_port: Option<u16>,
}

impl Negotiated {
    /// Where our RTCP reports go, given where the peer's RTP goes.
    pub fn rtcp_destination(&self, rtp: std::net::SocketAddr) -> std::net::SocketAddr {
        let port = if self.rtcp_mux {
            rtp.port()
        } else {
            self.rtcp_port.unwrap_or(rtp.port().wrapping_add(1))
        };
        std::net::SocketAddr::new(rtp.ip(), port)
    }
}

fn format_is(f: &Format, name: &str, static_pt: u8) -> bool {
    match &f.rtpmap {
        Some((n, rate)) => n.eq_ignore_ascii_case(name) && *rate == 8000,
        None => f.payload_type == static_pt,
    }
}

/// Chooses what to answer to an offer: the first G.711 law in the
/// offerer's order, its telephone-event type, and the answering direction.
pub fn negotiate(offer: &AudioDescription) -> Result<Negotiated, SdpError> {
    let (codec, payload_type) = offer
        .formats
        .iter()
        .find_map(|f| {
            if format_is(f, "PCMU", 0) {
                Some((G711::Pcmu, f.payload_type))
            } else if format_is(f, "PCMA", 8) {
                Some((G711::Pcma, f.payload_type))
            } else {
                None
            }
        })
        .ok_or(SdpError::NoCommonCodec)?;
    let telephone_event = offer
        .formats
        .iter()
        .find(|f| {
            f.rtpmap
                .as_ref()
                .is_some_and(|(n, rate)| n.eq_ignore_ascii_case("telephone-event") && *rate == 8000)
        })
        .map(|f| f.payload_type);
    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event,
        // We send 20 ms packets; an offer asking for 10–60 ms in 10 ms steps is honoured.
        ptime: offer
            .ptime
            .filter(|p| (10..=60).contains(p) && p % 10 == 0)
            .unwrap_or(20),
        direction: offer.direction.answer(),
        rtcp_mux: offer.rtcp_mux,
        rtcp_port: offer.rtcp_port,
    })
}

/// Our side of a session description: where we receive RTP.
#[derive(Debug, Clone, Copy)]
pub struct Local {
    pub address: IpAddr,
    pub port: u16,
    pub session_id: u64,
    pub version: u64,
}

fn header(local: &Local) -> String {
    let family = if local.address.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    };
    format!(
        "v=0\r\no=hotline {id} {version} IN {family} {addr}\r\ns=-\r\nc=IN {family} {addr}\r\nt=0 0\r\n",
        id = local.session_id,
        version = local.version,
        addr = local.address,
    )
}

/// The answer to an offer, after [`negotiate`].
pub fn answer(local: &Local, agreed: &Negotiated) -> String {
    let mut sdp = header(local);
    let name = match agreed.codec {
        G711::Pcmu => "PCMU",
        G711::Pcma => "PCMA",
    };
    let _ = write!(
        sdp,
        "m=audio {} RTP/AVP {}",
        local.port, agreed.payload_type
    );
    if let Some(te) = agreed.telephone_event {
        let _ = write!(sdp, " {te}");
    }
    let _ = write!(sdp, "\r\na=rtpmap:{} {name}/8000\r\n", agreed.payload_type);
    if let Some(te) = agreed.telephone_event {
        let _ = write!(
            sdp,
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n"
        );
    }
    let _ = write!(
        sdp,
        "a=ptime:{}\r\na={}\r\n",
        agreed.ptime,
        agreed.direction.attribute()
    );
    // One port per call: our RTCP is taken on the RTP port (RFC 3605),
    // multiplexed when the peer offered it (RFC 5761).
    let _ = write!(sdp, "a=rtcp:{}\r\n", local.port);
    if agreed.rtcp_mux {
        sdp.push_str("a=rtcp-mux\r\n");
    }
    sdp
}

/// Our offer, for an INVITE that came without SDP and for calls we place.
pub fn offer(local: &Local) -> String {
    let mut sdp = header(local);
    let _ = write!(
        sdp,
        "m=audio {} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n\
         a=rtcp:{}\r\na=rtcp-mux\r\n",
        local.port, local.port
    );
    sdp
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

    const BARESIP_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
        t=0 0\r\nm=audio 10000 RTP/AVP 9 8 0 96\r\na=rtpmap:9 G722/8000\r\na=rtpmap:96 \
        telephone-event/8000\r\na=fmtp:96 0-15\r\na=ptime:20\r\na=sendrecv\r\n";

    #[test]
    fn answers_sipp_with_pcmu_and_its_event_type() {
        let offer = parse_audio(SIPP_OFFER).unwrap();
        assert_eq!(offer.port, 6000);
        assert_eq!(offer.address, Some("127.0.0.1".parse().unwrap()));
        let agreed = negotiate(&offer).unwrap();
        assert_eq!(agreed.codec, G711::Pcmu);
        assert_eq!(agreed.telephone_event, Some(101));
        assert_eq!(agreed.ptime, 20);
        let local = Local {
            address: "10.0.0.5".parse().unwrap(),
            port: 20000,
            session_id: 1,
            version: 1,
        };
        let sdp = answer(&local, &agreed);
        assert!(sdp.contains("m=audio 20000 RTP/AVP 0 101\r\n"), "{sdp}");
        assert!(sdp.contains("c=IN IP4 10.0.0.5\r\n"), "{sdp}");
        // RTCP comes to the RTP port: one port per call.
        assert!(sdp.contains("a=rtcp:20000\r\n"), "{sdp}");
        assert!(
            !sdp.contains("rtcp-mux"),
            "not offered, not answered: {sdp}"
        );
        // Our own answer parses back to the same choice.
        let back = negotiate(&parse_audio(&sdp).unwrap()).unwrap();
        assert_eq!(
            back,
            Negotiated {
                rtcp_port: Some(20000),
                ..agreed
            }
        );
        // sipp said nothing of RTCP: its reports go to its RTP port + 1.
        let rtp: std::net::SocketAddr = "127.0.0.1:6000".parse().unwrap();
        assert_eq!(agreed.rtcp_destination(rtp).port(), 6001);
    }

    #[test]
    fn rtcp_mux_and_a_separate_rtcp_port_are_honoured() {
        let local = Local {
            address: "10.0.0.5".parse().unwrap(),
            port: 20000,
            session_id: 1,
            version: 1,
        };
        let rtp: std::net::SocketAddr = "192.0.2.7:7000".parse().unwrap();
        let muxed = SIPP_OFFER.replace(
            "a=fmtp:101 0-11,16\r\n",
            "a=fmtp:101 0-11,16\r\na=rtcp-mux\r\n",
        );
        let agreed = negotiate(&parse_audio(&muxed).unwrap()).unwrap();
        assert!(agreed.rtcp_mux);
        assert_eq!(agreed.rtcp_destination(rtp), rtp);
        assert!(answer(&local, &agreed).contains("a=rtcp:20000\r\na=rtcp-mux\r\n"));
        let elsewhere = SIPP_OFFER.replace(
            "a=fmtp:101 0-11,16\r\n",
            "a=fmtp:101 0-11,16\r\na=rtcp:7007 IN IP4 192.0.2.7\r\n",
        );
        let agreed = negotiate(&parse_audio(&elsewhere).unwrap()).unwrap();
        assert!(!agreed.rtcp_mux);
        assert_eq!(agreed.rtcp_destination(rtp).port(), 7007);
        // Our offer asks for both, so a peer that can multiplexes.
        let ours = parse_audio(&offer(&local)).unwrap();
        assert!(ours.rtcp_mux);
        assert_eq!(ours.rtcp_port, Some(20000));
    }

    #[test]
    fn takes_the_first_g711_in_the_offerers_order() {
        let agreed = negotiate(&parse_audio(BARESIP_OFFER).unwrap()).unwrap();
        assert_eq!(agreed.codec, G711::Pcma);
        assert_eq!(agreed.payload_type, 8);
        assert_eq!(agreed.telephone_event, Some(96));
    }

    #[test]
    fn hold_and_resume_directions() {
        let held = SIPP_OFFER.replace(
            "a=fmtp:101 0-11,16\r\n",
            "a=fmtp:101 0-11,16\r\na=sendonly\r\n",
        );
        assert_eq!(
            negotiate(&parse_audio(&held).unwrap()).unwrap().direction,
            Direction::RecvOnly
        );
        let old_hold = SIPP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        assert_eq!(
            parse_audio(&old_hold).unwrap().direction,
            Direction::SendOnly
        );
        let inactive = SIPP_OFFER.replace("t=0 0\r\n", "t=0 0\r\na=inactive\r\n");
        assert_eq!(
            parse_audio(&inactive).unwrap().direction,
            Direction::Inactive
        );
    }

    #[test]
    fn no_common_codec_is_refused() {
        let g729 =
            "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
        assert_eq!(
            negotiate(&parse_audio(g729).unwrap()),
            Err(SdpError::NoCommonCodec)
        );
        // A dynamic type mapped to PCMU is PCMU; static 0 remapped to something else is not.
        let remapped = "v=0\r\nm=audio 4000 RTP/AVP 0 97\r\na=rtpmap:0 opus/48000\r\na=rtpmap:97 PCMU/8000\r\n";
        let agreed = negotiate(&parse_audio(remapped).unwrap()).unwrap();
        assert_eq!((agreed.codec, agreed.payload_type), (G711::Pcmu, 97));
    }

    #[test]
    fn malformed_or_truncated_sdp_is_an_error() {
        assert_eq!(parse_audio(""), Err(SdpError::NoAudio));
        assert_eq!(
            parse_audio("v=0\r\nm=video 5000 RTP/AVP 96\r\n"),
            Err(SdpError::NoAudio)
        );
        assert_eq!(parse_audio("v=0\r\nm=audio\r\n"), Err(SdpError::Media(2)));
        assert_eq!(
            parse_audio("v=0\r\nm=audio 99999 RTP/AVP 0\r\n"),
            Err(SdpError::Media(2))
        );
        assert_eq!(parse_audio("v=0\r\ngarbage\r\n"), Err(SdpError::Line(2)));
        let truncated = &SIPP_OFFER[..SIPP_OFFER.find("m=audio 6000 RTP").unwrap() + 10];
        // Cut inside the m= line: no formats survive, so nothing can be agreed.
        assert!(parse_audio(truncated).and_then(|o| negotiate(&o)).is_err());
    }

    #[test]
    fn our_offer_is_answerable() {
        let local = Local {
            address: "::1".parse().unwrap(),
            port: 30000,
            session_id: 9,
            version: 2,
        };
        let offered = parse_audio(&offer(&local)).unwrap();
        assert_eq!(offered.address, Some("::1".parse().unwrap()));
        let agreed = negotiate(&offered).unwrap();
        assert_eq!(
            (agreed.codec, agreed.telephone_event),
            (G711::Pcmu, Some(101))
        );
    }
}
