#![no_main]
//! Any text as an SDP offer; what negotiates must produce an answer that
//! parses and negotiates to the same choice.

use hotline_ivr::media::sdp::{answer, negotiate, parse_audio, Local};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});
