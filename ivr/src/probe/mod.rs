//! `hotline call`: a test caller that dials a menu over real SIP, keys
//! what it is told as each next prompt begins, talks a WAV when a record
//! node beeps, records what it hears, and names the prompts it heard by
//! matching the audio against the prompt files ([`recognise`]). A centre
//! runs it after every menu change; it is what call-flow test products do.
//!
//! The SIP side is the IVR's own sans-I/O endpoint, dialling out; the
//! media side is [`outgoing`] (our packets) and [`recognise`] (theirs),
//! driven here by a small tokio loop.

pub mod outgoing;
pub mod recognise;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline_domain::SipUri;
use tokio::net::UdpSocket;

use crate::media::codec::G711;
use crate::media::rtp::RtpPacket;
use crate::media::sdp;
use crate::sip::endpoint::{Config, EndReason, Endpoint, Event, Output, Peer, Transport};
use outgoing::Outgoing;
use recognise::{Heard, Recognised, Recogniser, References};

/// What to do on the call.
#[derive(Debug, Clone)]
pub struct CallPlan {
    /// `sip:12348@host[:port]`.
    pub uri: String,
    /// The From user (the caller's number as the IVR sees it).
    pub from: String,
    /// Key groups, each sent as the next prompt begins.
    pub keys: Vec<String>,
    /// Spoken after the beep of a record node (8 kHz linear).
    pub say: Option<Vec<i16>>,
    /// The only codec offered; both when `None`.
    pub codec: Option<G711>,
    /// The call is ended by us after this long.
    pub max_duration: Duration,
    /// After the last key, this long without any prompt ends the call.
    pub quiet_end: Duration,
}

/// How the call went.
#[derive(Debug, Clone)]
pub struct CallReport {
    pub answered: bool,
    /// Prompts heard, in order (`zh/welcome`), cut ones included.
    pub heard: Vec<Heard>,
    /// The digits read out after `your-ticket-number` or `ticket-status`.
    pub ticket_number: Option<String>,
    pub ended_by: EndedBy,
    /// Everything heard, decoded (8 kHz linear), for `--save`.
    pub audio: Vec<i16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// The IVR hung up.
    Ivr,
    /// Nothing more was said after the last key; we hung up.
    Silence,
    /// `max_duration` passed; we hung up.
    TimeLimit,
    /// Not answered (the SIP status).
    NotAnswered(u16),
}

impl EndedBy {
    pub fn as_str(self) -> String {
        match self {
            Self::Ivr => "ivr".into(),
            Self::Silence => "silence".into(),
            Self::TimeLimit => "time-limit".into(),
            Self::NotAnswered(code) => format!("not-answered ({code})"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{uri}: {reason}")]
    Uri { uri: String, reason: String },
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    #[error("the IVR's answer is unusable: {0}")]
    Answer(String),
    #[error(transparent)]
    Keys(#[from] outgoing::KeyError),
}

/// Where to send the INVITE for `uri`.
async fn target(uri: &str) -> Result<SocketAddr, ProbeError> {
    let bad = |reason: String| ProbeError::Uri {
        uri: uri.to_owned(),
        reason,
    };
    let parsed = SipUri::parse(uri).map_err(|e| bad(e.to_string()))?;
    tokio::net::lookup_host(parsed.host_port())
        .await
        .map_err(|e| bad(format!("cannot resolve {}: {e}", parsed.host)))?
        .next()
        .ok_or_else(|| bad(format!("{} has no address", parsed.host)))
}

/// The SDP offer: the one codec asked for, or both, and telephone events.
fn offer(address: std::net::IpAddr, port: u16, codec: Option<G711>, session: u64) -> String {
    let formats: &[(u8, &str)] = match codec {
        Some(G711::Pcmu) => &[(0, "PCMU")],
        Some(G711::Pcma) => &[(8, "PCMA")],
        None => &[(0, "PCMU"), (8, "PCMA")],
    };
    let ip = if address.is_ipv4() { "IP4" } else { "IP6" };
    let list: Vec<String> = formats.iter().map(|(pt, _)| pt.to_string()).collect();
    let mut sdp = format!(
        "v=0\r\no=hotline-call {session} 1 IN {ip} {address}\r\ns=hotline call\r\nc=IN {ip} {address}\r\nt=0 0\r\nm=audio {port} RTP/AVP {} 101\r\n",
        list.join(" ")
    );
    for (pt, name) in formats {
        sdp.push_str(&format!("a=rtpmap:{pt} {name}/8000\r\n"));
    }
    sdp.push_str(
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
    );
    sdp
}

/// Places the call and runs `plan` on it.
pub async fn call(plan: &CallPlan, refs: Arc<References>) -> Result<CallReport, ProbeError> {
    let remote_sip = target(&plan.uri).await?;
    // Our address toward the IVR: what goes into Via, Contact and SDP.
    let probe = std::net::UdpSocket::bind(if remote_sip.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })?;
    probe.connect(remote_sip)?;
    let local_ip = probe.local_addr()?.ip();
    drop(probe);
    let sip = UdpSocket::bind(SocketAddr::new(local_ip, 0)).await?;
    let rtp = UdpSocket::bind(SocketAddr::new(local_ip, 0)).await?;
    let local_sip = sip.local_addr()?;
    let rtp_port = rtp.local_addr()?.port();
    let seed: u64 = rand::random();

    let mut endpoint = Endpoint::new(Config::default());
    let peer = Peer {
        addr: remote_sip,
        transport: Transport::Udp,
    };
    let key = endpoint.dial(
        Instant::now(),
        peer,
        local_sip,
        &plan.uri,
        &plan.from,
        &offer(local_ip, rtp_port, plan.codec, seed >> 1),
    );
    let started = Instant::now();
    let mut recogniser = Recogniser::new(refs);
    let mut heard: Vec<Heard> = Vec::new();
    let mut media: Option<(Outgoing, Option<SocketAddr>, u8, G711)> = None;
    let mut keys = plan.keys.iter();
    let mut next_key = keys.next();
    // Sample index after which a prompt's start sends the next group.
    let mut keys_after = 0usize;
    let mut last_activity = Instant::now();
    let mut said = false;
    let mut answered = false;
    let mut ended_by = None;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sip_buf = vec![0u8; 65_535];
    let mut rtp_buf = vec![0u8; 2048];

    // Whatever goes wrong during the call, it is hung up, not left to
    // the IVR's media timeout.
    let during: Result<(), ProbeError> = async {
        while ended_by.is_none() {
            let wake = endpoint
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            tokio::select! {
                received = sip.recv_from(&mut sip_buf) => {
                    let (n, from) = received?;
                    let peer = Peer { addr: from, transport: Transport::Udp };
                    endpoint.handle_message(Instant::now(), peer, local_sip, &sip_buf[..n]);
                }
                received = rtp.recv_from(&mut rtp_buf) => {
                    let (n, from) = received?;
                    // Their audio, decoded; events and anything else are not heard.
                    let samples = match (media.as_mut(), RtpPacket::parse(&rtp_buf[..n])) {
                        (Some((_, remote, payload_type, codec)), Ok(packet))
                            if packet.payload_type == *payload_type =>
                        {
                            remote.get_or_insert(from);
                            let mut samples = Vec::with_capacity(packet.payload.len());
                            codec.decode(packet.payload, &mut samples);
                            samples
                        }
                        _ => Vec::new(),
                    };
                    // Anything said (not silence) keeps the call going.
                    if samples.iter().any(|s| s.unsigned_abs() > 300) {
                        last_activity = Instant::now();
                    }
                    for event in recogniser.push(&samples) {
                        match event {
                            // Keyed once the prompt is known: a prompt sharing
                            // its first words with another is not cut before
                            // it can be told apart.
                            Recognised::Identified { start, .. } if start >= keys_after => {
                                if let (Some(group), Some((out, _, _, _))) = (next_key, media.as_mut()) {
                                    out.keys(group)?;
                                    keys_after = recogniser.audio().len();
                                    next_key = keys.next();
                                }
                            }
                            Recognised::Heard(h) => {
                                let beep = h.name.ends_with("/beep");
                                heard.push(h);
                                if beep && !said {
                                    if let (Some(say), Some((out, _, _, _))) = (&plan.say, media.as_mut()) {
                                        out.say(say);
                                        said = true;
                                    }
                                }
                            }
                            Recognised::Began(_) | Recognised::Identified { .. } => {}
                        }
                    }
                }
                _ = tick.tick(), if media.is_some() => {
                    if let Some((out, Some(remote), _, _)) = media.as_mut() {
                        let packet = out.next_packet();
                        let _ = rtp.send_to(&packet, *remote).await;
                    }
                    let now = Instant::now();
                    let keys_done = next_key.is_none() && !media.as_ref().is_some_and(|m| m.0.busy());
                    if keys_done && now.duration_since(last_activity) >= plan.quiet_end {
                        ended_by = Some(EndedBy::Silence);
                        endpoint.hangup(now, key);
                    }
                }
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                    endpoint.handle_timeout(Instant::now());
                }
            }
            if started.elapsed() >= plan.max_duration && ended_by.is_none() {
                ended_by = Some(EndedBy::TimeLimit);
                endpoint.hangup(Instant::now(), key);
            }
            while let Some(output) = endpoint.poll_output() {
                match output {
                    Output::Send { peer, data } => {
                        let _ = sip.send_to(&data, peer.addr).await;
                    }
                    Output::Event(Event::Answered { sdp, .. }) => {
                        answered = true;
                        last_activity = Instant::now();
                        let description = sdp
                            .as_deref()
                            .ok_or(sdp::SdpError::NoAudio)
                            .and_then(sdp::parse_audio)
                            .map_err(|e| ProbeError::Answer(e.to_string()))?;
                        let agreed = sdp::negotiate(&description)
                            .map_err(|e| ProbeError::Answer(e.to_string()))?;
                        let remote = description
                            .address
                            .filter(|a| !a.is_unspecified())
                            .map(|ip| SocketAddr::new(ip, description.port));
                        media = Some((
                            Outgoing::new(
                                agreed.codec,
                                agreed.payload_type,
                                agreed.telephone_event,
                                seed,
                            ),
                            remote,
                            agreed.payload_type,
                            agreed.codec,
                        ));
                    }
                    Output::Event(Event::Ended { reason, .. }) => {
                        if ended_by.is_none() {
                            ended_by = Some(match reason {
                                EndReason::Failed(code) if !answered => EndedBy::NotAnswered(code),
                                _ if !answered => EndedBy::NotAnswered(0),
                                _ => EndedBy::Ivr,
                            });
                        }
                    }
                    Output::Event(_) => {}
                }
            }
        }
        Ok(())
    }
    .await;
    if during.is_err() {
        endpoint.hangup(Instant::now(), key);
    }
    // Let the BYE out (and its answer in) before the sockets close.
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        while let Some(output) = endpoint.poll_output() {
            if let Output::Send { peer, data } = output {
                let _ = sip.send_to(&data, peer.addr).await;
            }
        }
        let wait = tokio::time::sleep(Duration::from_millis(50));
        tokio::select! {
            received = sip.recv_from(&mut sip_buf) => {
                if let Ok((n, from)) = received {
                    let peer = Peer { addr: from, transport: Transport::Udp };
                    endpoint.handle_message(Instant::now(), peer, local_sip, &sip_buf[..n]);
                }
            }
            () = wait => endpoint.handle_timeout(Instant::now()),
        }
    }
    during?;
    for event in recogniser.finish() {
        if let Recognised::Heard(h) = event {
            heard.push(h);
        }
    }
    let ticket_number = ticket_number(&heard);
    Ok(CallReport {
        answered,
        heard,
        ticket_number,
        ended_by: ended_by.unwrap_or(EndedBy::Ivr),
        audio: recogniser.audio().to_vec(),
    })
}

/// The digits read out right after `your-ticket-number` (a new ticket) or
/// `ticket-status` (a status lookup).
fn ticket_number(heard: &[Heard]) -> Option<String> {
    let at = heard.iter().rposition(|h| {
        h.name.ends_with("/your-ticket-number") || h.name.ends_with("/ticket-status")
    })?;
    let digits: String = heard[at + 1..]
        .iter()
        .map_while(|h| h.name.rsplit_once("/digit-").map(|(_, d)| d.to_owned()))
        .collect();
    (!digits.is_empty()).then_some(digits)
}

/// Whether `expected` (names, with or without `lang/`) were heard in that
/// order; the first one missing otherwise.
pub fn missing_expected<'a>(heard: &[Heard], expected: &'a [String]) -> Option<&'a str> {
    let mut heard = heard.iter();
    for want in expected {
        let matches = |h: &Heard| {
            std::iter::once(&h.name)
                .chain(&h.also)
                .any(|n| recognise::names_match(n, want))
        };
        if !heard.any(matches) {
            return Some(want);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str) -> Heard {
        Heard {
            name: name.into(),
            also: Vec::new(),
            start: 0,
            length: 1,
            complete: true,
        }
    }

    #[test]
    fn the_ticket_number_is_the_digits_after_its_announcement() {
        let heard = [
            h("zh/your-ticket-number"),
            h("zh/digit-2"),
            h("zh/digit-6"),
            h("zh/next-step-critical"),
            h("zh/digit-9"),
        ];
        assert_eq!(ticket_number(&heard), Some("26".into()));
        assert_eq!(ticket_number(&heard[1..]), None);
    }

    #[test]
    fn expected_prompts_are_checked_in_order_with_or_without_language() {
        let heard = [h("zh/welcome"), h("zh/main-menu"), h("en/goodbye")];
        let want = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            missing_expected(&heard, &want(&["welcome", "en/goodbye"])),
            None
        );
        assert_eq!(
            missing_expected(&heard, &want(&["main-menu", "welcome"])),
            Some("welcome")
        );
        assert_eq!(
            missing_expected(&heard, &want(&["zh/goodbye"])),
            Some("zh/goodbye")
        );
    }
}
