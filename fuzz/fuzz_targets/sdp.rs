#![no_main]
//! Any text as an SDP offer; what negotiates must produce an answer that
//! parses and negotiates to the same choice.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::sdp(data));
