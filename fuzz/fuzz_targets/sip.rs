#![no_main]
//! Any datagram as a SIP message, and any byte stream through the TCP
//! framer: never a panic; what parses writes back to an equivalent message.

use hotline_ivr::sip::message::{frame, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});
