#![no_main]
//! Any audio through the in-band detector, in the chunks a network
//! delivers: at most one digit per 5 ms.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::inband(data));
