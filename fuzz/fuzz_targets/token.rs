#![no_main]
//! Any text as a bearer token (every gRPC request and the IVR admin API
//! read one from a header): refused, or read as exactly one token whose
//! id can be revoked.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::token(data));
