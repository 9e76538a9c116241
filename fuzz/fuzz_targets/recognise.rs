#![no_main]
//! Any audio, in packets of any size, through the prompt recogniser of
//! `hotline call`: no panic, and nothing reported beyond what was heard.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::recognise(data));
