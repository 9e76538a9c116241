#![no_main]
//! Any datagram: parse as RTP; what parses must write back to a packet
//! that parses to the same fields.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::rtp(data));
