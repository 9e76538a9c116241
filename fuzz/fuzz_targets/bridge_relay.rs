#![no_main]
//! Datagrams from both legs of a click-to-call through the relay: what it
//! sends on is well-formed RTP for the other leg.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::bridge_relay(data));
