//! Every input that once crashed a fuzz target (`fuzz/regressions/<target>/`)
//! goes through what that target checks, on every test run, so a fixed
//! crash stays fixed without cargo-fuzz.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use hotline_ivr::sip::message::{frame, Message};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// The `sip` target's checks: parse, write back, parse again; frame a stream.
#[test]
fn sip_regressions_neither_panic_nor_lose_what_parsed() {
    let inputs = inputs("sip");
    assert!(!inputs.is_empty(), "no kept inputs for the sip target");
    for (path, data) in inputs {
        if let Ok(m) = Message::parse(&data) {
            let again = Message::parse(&m.to_bytes())
                .unwrap_or_else(|e| panic!("{}: our own bytes: {e}", path.display()));
            assert_eq!(again.start, m.start, "{}", path.display());
            assert_eq!(again.call_id(), m.call_id(), "{}", path.display());
            assert_eq!(again.body, m.body, "{}", path.display());
        }
        let mut rest = &data[..];
        while let Ok(Some(n)) = frame(rest) {
            assert!(n > 0 && n <= rest.len(), "{}", path.display());
            rest = &rest[n..];
        }
    }
}
