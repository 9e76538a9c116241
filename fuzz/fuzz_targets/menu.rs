#![no_main]
//! Any text as a menu file: refused with file:line messages, or accepted
//! and then walkable — a flow started on it never panics, whatever keys
//! and timeouts follow (the bytes after a 0 byte drive the call).

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::menu(data));
