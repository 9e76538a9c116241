#![no_main]
//! Any SIP INFO body as application/dtmf-relay.

use hotline_ivr::sip::info::parse_dtmf_relay;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_dtmf_relay(text);
    }
});
