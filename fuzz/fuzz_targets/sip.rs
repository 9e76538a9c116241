#![no_main]
//! Any datagram as a SIP message, and any byte stream through the TCP
//! framer: never a panic; what parses writes back to an equivalent message.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::sip(data));
