#![no_main]
//! A stream of datagrams (split on 0xFF) through the RTP parser and the
//! telephone-event receiver: never a panic.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::rfc4733(data));
