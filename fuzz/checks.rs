//! What each fuzz target checks, in one place: the targets in
//! `fuzz_targets/` run these under libFuzzer, and
//! `ivr/tests/fuzz_regressions.rs` runs every input kept in
//! `regressions/<target>/` through them on every test run, without
//! cargo-fuzz. A check panics when the code under test misbehaves.

// Each target uses one of these; the regression test uses them all.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use hotline_ivr::bridge::{LegFormat, Relay, Side, Stream};
use hotline_ivr::media::codec::G711;
use hotline_ivr::media::dtmf::inband::InbandDetector;
use hotline_ivr::media::dtmf::rfc4733::EventReceiver;
use hotline_ivr::media::dtmf::Digit;
use hotline_ivr::media::rtp::RtpPacket;
use hotline_ivr::media::sdp::{answer, negotiate, parse_audio, Local};
use hotline_ivr::media::wav::decode_telephone_wav;
use hotline_ivr::menu::flow::parse_date;
use hotline_ivr::menu::{parse, CallInfo, Flow, Input, PromptCheck};
use hotline_ivr::sip::info::parse_dtmf_relay;
use hotline_ivr::sip::message::{frame, Message};

/// What a target checks of one input.
pub type Check = fn(&[u8]);

/// Every target by name, for the regression replay.
pub const TARGETS: &[(&str, Check)] = &[
    ("sip", sip),
    ("sdp", sdp),
    ("rtp", rtp),
    ("rfc4733", rfc4733),
    ("dtmf_relay", dtmf_relay),
    ("inband", inband),
    ("menu", menu),
    ("wav", wav),
    ("event_date", event_date),
    ("token", token),
    ("sip_uri", sip_uri),
    ("recognise", recognise),
    ("bridge_relay", bridge_relay),
    ("sip_route", sip_route),
];

/// Any datagram as a SIP message, and any byte stream through the TCP
/// framer: never a panic; what parses writes back to an equivalent message.
pub fn sip(data: &[u8]) {
    if let Ok(m) = Message::parse(data) {
        let again = Message::parse(&m.to_bytes()).expect("our own bytes parse");
        assert_eq!(again.start, m.start);
        assert_eq!(again.call_id(), m.call_id());
        assert_eq!(again.body, m.body);
        let _ = m.response(200, "OK", Some("tag"));
    }
    let mut rest = data;
    while let Ok(Some(n)) = frame(rest) {
        assert!(n > 0 && n <= rest.len());
        rest = &rest[n..];
    }
}

/// Any text as an SDP offer; what negotiates must produce an answer that
/// parses and negotiates to the same choice.
pub fn sdp(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(offer) = parse_audio(text) else {
        return;
    };
    let Ok(agreed) = negotiate(&offer) else {
        return;
    };
    let local = Local {
        address: std::net::Ipv4Addr::LOCALHOST.into(),
        port: 40000,
        session_id: 1,
        version: 1,
    };
    let sdp = answer(&local, &agreed);
    let back = negotiate(&parse_audio(&sdp).expect("our answer parses")).expect("and negotiates");
    assert_eq!(back.codec, agreed.codec);
    assert_eq!(back.telephone_event, agreed.telephone_event);
}

/// Any datagram: parse as RTP; what parses must write back to a packet
/// that parses to the same fields.
pub fn rtp(data: &[u8]) {
    if let Ok(p) = RtpPacket::parse(data) {
        let mut out = Vec::new();
        p.write(&mut out);
        let back = RtpPacket::parse(&out).expect("our own packet parses");
        assert_eq!(back, p);
    }
}

/// A stream of datagrams (split on 0xFF) through the RTP parser and the
/// telephone-event receiver: never a panic.
pub fn rfc4733(data: &[u8]) {
    let mut receiver = EventReceiver::new();
    for datagram in data.split(|&b| b == 0xff) {
        if let Ok(p) = RtpPacket::parse(datagram) {
            let _ = receiver.receive(&p);
        }
    }
}

/// Any SIP INFO body as application/dtmf-relay.
pub fn dtmf_relay(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_dtmf_relay(text);
    }
}

/// Any audio through the in-band detector, in the chunks a network
/// delivers: at most one digit per 5 ms.
pub fn inband(data: &[u8]) {
    let samples: Vec<i16> = data
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let mut detector = InbandDetector::new();
    for chunk in samples.chunks(160) {
        let found = detector.push(chunk);
        assert!(found.len() <= 1 + chunk.len() / 40);
    }
}

/// Any text as a menu file: refused with file:line messages, or accepted
/// and then walkable — a flow started on it never panics, whatever keys
/// and timeouts follow (the bytes after a 0 byte drive the call).
pub fn menu(data: &[u8]) {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let Ok(text) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let menu = match parse(text, "fuzz.toml", PromptCheck::Skip) {
        Ok(menu) => Arc::new(menu),
        Err(errors) => {
            assert!(!errors.0.is_empty(), "a refusal says why");
            return;
        }
    };
    let Ok(calendar) = hotline_domain::HolidayCalendar::bundled() else {
        return;
    };
    let info = CallInfo {
        caller: None,
        center: "default".into(),
        region: None,
        started_local: NaiveDate::from_ymd_opt(2026, 3, 2)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .expect("a date"),
    };
    let mut now = Instant::now();
    let mut flow = Flow::new(menu, Arc::new(calendar), info, now);
    for &b in data.get(split + 1..).unwrap_or_default() {
        now += Duration::from_millis(u64::from(b) * 50);
        match b % 4 {
            0 => flow.handle_input(now, Input::PlaybackFinished),
            1 => flow.handle_timeout(now),
            _ => {
                let keys = "0123456789*#";
                if let Some(d) = keys
                    .chars()
                    .nth(usize::from(b) % keys.len())
                    .and_then(Digit::from_char)
                {
                    flow.handle_input(now, Input::Digit(d));
                }
            }
        }
        while flow.poll_output().is_some() {}
    }
}

/// Any bytes as a prompt WAV (a centre's own prompts folder is read at
/// start-up and on reload): refused with a message naming the file, or
/// read as samples, never more than the bytes could hold.
pub fn wav(data: &[u8]) {
    match decode_telephone_wav(data, "fuzz.wav") {
        Ok(samples) => assert!(samples.len() * 2 <= data.len(), "samples from nowhere"),
        Err(e) => assert!(
            e.to_string().contains("fuzz.wav"),
            "the refusal names the file: {e}"
        ),
    }
}

/// The date a caller keys in (YYYYMMDD), from which the limitation period
/// is counted: any keys against any `today` (the first two bytes) give no
/// date, or a real date that is exactly what was keyed, not after today
/// and not before 1900.
pub fn event_date(data: &[u8]) {
    let (days, keys) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]), rest),
        _ => return,
    };
    let Some(today) = NaiveDate::from_ymd_opt(1900, 1, 1)
        .and_then(|d| d.checked_add_days(chrono::Days::new(u64::from(days))))
    else {
        return;
    };
    let Ok(keys) = std::str::from_utf8(keys) else {
        return;
    };
    if let Some(date) = parse_date(keys, today) {
        assert_eq!(
            date.format("%Y%m%d").to_string(),
            keys,
            "read back as keyed"
        );
        assert!(date <= today, "{date} is after {today}");
        assert!(date.year() >= 1900, "{date} is before 1900");
    }
}

/// Any text as a bearer token (every gRPC request and the IVR admin API
/// read one from a header): refused, or read as exactly one token whose
/// id can be revoked.
pub fn token(data: &[u8]) {
    use hotline_domain::token::{is_id, parse, TOKEN_LEN};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(token) = parse(text) {
        let text = text.trim();
        assert_eq!(text.len(), TOKEN_LEN);
        assert!(is_id(&token.id));
        assert_eq!(text.get(4..16), Some(token.id.as_str()));
        assert_eq!(token.secret_sha256.len(), 64);
        assert_eq!(parse(text).ok(), Some(token));
    }
}

/// Any text as a roster SIP address (written by an admin, dialled by an
/// IVR node): refused, or a plain address that reads back as itself and
/// carries nothing a request-URI could smuggle.
pub fn sip_uri(data: &[u8]) {
    use hotline_domain::SipUri;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uri) = SipUri::parse(text) {
        let shown = uri.to_string();
        assert_eq!(SipUri::parse(&shown).ok(), Some(uri.clone()));
        assert!(
            !shown.contains([';', '?', ' ', '\r', '\n', '<', '>']),
            "{shown}"
        );
        assert!(!uri.host.is_empty());
    }
}

/// Any text as a Record-Route value (a proxy's, or anyone's in an INVITE):
/// never a panic; an address it names is where the same route written
/// plainly leads too.
pub fn sip_route(data: &[u8]) {
    use hotline_ivr::sip::build::route_address;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(addr) = route_address(text) {
        assert_eq!(
            route_address(&format!("<sip:{addr};lr>")),
            Some(addr),
            "{text}"
        );
    }
}

/// Any audio heard on a call (the IVR's, or anyone's at our RTP port), in
/// packets of any size: the prompt recogniser never panics and reports
/// only prompts within what was heard.
pub fn recognise(data: &[u8]) {
    use hotline_ivr::probe::recognise::{Recognised, Recogniser, References};
    static REFS: std::sync::OnceLock<Arc<References>> = std::sync::OnceLock::new();
    let refs = REFS.get_or_init(|| {
        let tone = |f: f64, n: usize| -> Vec<i16> {
            (0..n)
                .map(|i| (6000.0 * (f * i as f64 / 8000.0 * std::f64::consts::TAU).sin()) as i16)
                .collect()
        };
        Arc::new(References::new([
            ("zh/a".to_owned(), tone(440.0, 2400)),
            ("zh/b".to_owned(), tone(700.0, 1200)),
        ]))
    });
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let samples: Vec<i16> = rest
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let mut r = Recogniser::new(refs.clone());
    let mut events = Vec::new();
    for part in samples.chunks(usize::from(chunk).max(1)) {
        events.extend(r.push(part));
    }
    events.extend(r.finish());
    for e in events {
        if let Recognised::Heard(h) = e {
            assert!(h.start + h.length <= samples.len(), "{h:?}");
        }
    }
}

/// A stream of datagrams (split on 0xFF) through a bridge's relay, from
/// each leg in turn; the first byte picks the legs' laws and payload types.
/// Never a panic; what the relay sends on is RTP for the other leg: that
/// leg's SSRC, its audio or event payload type, audio of the same length,
/// and sequence numbers that follow the sender's; the recording stays
/// within its bound.
pub fn bridge_relay(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let leg = |bits: u8| LegFormat {
        codec: if bits & 1 == 0 {
            G711::Pcmu
        } else {
            G711::Pcma
        },
        payload_type: if bits & 2 == 0 { 0 } else { 8 },
        telephone_event: (bits & 4 != 0).then_some(96 + (bits & 8)),
    };
    let (lawyer, caller) = (leg(pick), leg(pick >> 4));
    let stream = |ssrc: u32| Stream {
        ssrc,
        sequence: 65_000,
        timestamp: u32::MAX - 1000,
    };
    let t0 = Instant::now();
    let mut relay = Relay::new(
        [(lawyer, stream(1)), (caller, stream(2))],
        Duration::from_secs(30),
        Duration::from_secs(7200),
        t0,
    )
    .record(1600);
    // Per direction: the last (source, sender's, ours) sequence numbers.
    let mut last: [Option<(u32, u16, u16)>; 2] = [None, None];
    for (i, datagram) in rest.split(|&b| b == 0xff).enumerate() {
        let side = if i % 2 == 0 {
            Side::Lawyer
        } else {
            Side::Caller
        };
        let (target, ssrc, dir) = if side == Side::Lawyer {
            (caller, 2, 0)
        } else {
            (lawyer, 1, 1)
        };
        let now = t0 + Duration::from_millis(20 * i as u64);
        if let Some(out) = relay.forward(side, datagram, now) {
            let sent = RtpPacket::parse(&out).expect("the relay sends RTP");
            let came = RtpPacket::parse(datagram).expect("only RTP is relayed");
            assert_eq!(sent.ssrc, ssrc);
            assert!(
                sent.payload_type == target.payload_type
                    || Some(sent.payload_type) == target.telephone_event
            );
            assert_eq!(sent.payload.len(), came.payload.len());
            // Within one source, ours move as the sender's do.
            if let Some((source, theirs, ours)) = last[dir] {
                if source == came.ssrc {
                    assert_eq!(
                        came.sequence.wrapping_sub(theirs),
                        sent.sequence.wrapping_sub(ours)
                    );
                }
            }
            last[dir] = Some((came.ssrc, came.sequence, sent.sequence));
        }
        assert!(relay.recorded() <= 1600);
        let _ = relay.handle_timeout(now);
    }
}
