#![no_main]
//! The date a caller keys in (YYYYMMDD), from which the limitation period
//! is counted: any keys against any `today` (the first two bytes) give no
//! date, or a real date that is exactly what was keyed, not after today
//! and not before 1900.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::event_date(data));
