#![no_main]
//! Any text as a Record-Route value: the next hop of the IVR's in-dialog
//! requests never panics to parse and reads back as itself.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::sip_route(data));
