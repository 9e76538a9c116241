#![no_main]
//! Any bytes as a prompt WAV (a centre's own prompts folder is read at
//! start-up and on reload): refused with a message naming the file, or
//! read as samples, never more than the bytes could hold.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::wav(data));
