#![no_main]
//! Any SIP INFO body as application/dtmf-relay.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::dtmf_relay(data));
