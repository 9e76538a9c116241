#![no_main]
//! Any text as a lawyer's SIP address on the roster: refused, or a plain
//! `sip:user@host[:port]` that reads back as itself.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::sip_uri(data));
