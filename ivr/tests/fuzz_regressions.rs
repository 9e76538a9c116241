//! Every input kept in `fuzz/regressions/<target>/` (inputs that once
//! crashed a target, and hand-made edge cases) goes through what that
//! target checks (`fuzz/checks.rs`, shared with the fuzz targets), on every
//! test run, so a fixed crash stays fixed without cargo-fuzz.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn fuzz_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn every_kept_input_passes_its_targets_checks() {
    let dir = fuzz_dir().join("regressions");
    let mut replayed = 0;
    for folder in std::fs::read_dir(&dir).unwrap() {
        let folder = folder.unwrap().path();
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        let (_, check) = checks::TARGETS
            .iter()
            .find(|(target, _)| *target == name)
            .unwrap_or_else(|| panic!("{}: no fuzz target is called {name}", folder.display()));
        let mut inputs: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{}: an empty folder", folder.display());
        for input in inputs {
            let data = std::fs::read(&input).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{} fails its target's checks",
                input.display()
            );
            replayed += 1;
        }
    }
    assert!(
        replayed >= checks::TARGETS.len(),
        "only {replayed} inputs kept"
    );
}

/// The fuzz targets cargo-fuzz builds are exactly the checks replayed here.
#[test]
fn every_fuzz_target_has_its_checks_and_kept_inputs() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let mut built: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "hotline-fuzz")
        .collect();
    let mut checked: Vec<&str> = checks::TARGETS.iter().map(|(n, _)| *n).collect();
    built.sort_unstable();
    checked.sort_unstable();
    assert_eq!(built, checked);
    for target in checked {
        let kept = fuzz_dir().join("regressions").join(target);
        assert!(kept.is_dir(), "{}: keep at least one input", kept.display());
    }
}
