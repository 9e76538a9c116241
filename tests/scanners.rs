//! SIP scanners against the running IVR, as they knock on real SIP ports
//! all day: sipvicious (Debian `sipvicious`) `svmap` looks for SIP devices,
//! `svwar` for extensions to attack.

// test-group: real-time (tests/suite.sh runs these one at a time)

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{genuine_calls, require, sipp_report, Server};

/// Runs a sipvicious tool against `target` and returns what it printed.
fn scan(tool: &str, args: &[&str], target: std::net::SocketAddr) -> String {
    require(tool, "sipvicious");
    let out = Command::new("timeout")
        .arg("120")
        .arg(tool)
        .args(args)
        .arg(target.ip().to_string())
        .args(["-p", &target.port().to_string()])
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A node that serves only its trunks (the scanner is not one of them,
/// and strangers get no answer at all) is invisible: no device, no
/// extension, whatever method the scanner tries, while the trunk's genuine
/// calls go through.
#[test]
fn scanners_find_nothing_on_a_node_that_serves_only_its_trunks() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "serve",
            "--sip-trusted",
            "127.0.0.2/32",
            "--sip-untrusted",
            "drop",
        ],
    );
    let sip = server.sip.unwrap();
    let trunk = std::thread::spawn(move || genuine_calls("127.0.0.2", sip, 20));
    let found = scan("svmap", &[], sip);
    assert!(found.contains("found nothing"), "{found}");
    assert!(!found.contains(&sip.to_string()), "{found}");
    for method in [&[][..], &["-m", "INVITE"][..], &["-m", "OPTIONS"][..]] {
        let mut args = vec!["-e100-120"];
        args.extend_from_slice(method);
        let found = scan("svwar", &args, sip);
        assert!(found.contains("found nothing"), "svwar {args:?}: {found}");
    }
    let calls = trunk.join().unwrap();
    assert_eq!(calls.status.code(), Some(0), "{}", sipp_report(&calls));
}

/// An open node (no trunks named) answers every request-URI user alike:
/// the scanner sees a SIP device (so it is talking to a live node) but the
/// extension scan finds nothing to attack, while a caller's genuine calls
/// go through.
#[test]
fn svwar_finds_no_extension_on_an_open_node() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);
    let sip = server.sip.unwrap();
    let caller = std::thread::spawn(move || genuine_calls("127.0.0.2", sip, 20));
    let device = scan("svmap", &[], sip);
    assert!(
        device.contains(&sip.to_string()),
        "svmap sees the node: {device}"
    );
    let found = scan("svwar", &["-e100-120"], sip);
    assert!(found.contains("found nothing"), "{found}");
    let calls = caller.join().unwrap();
    assert_eq!(calls.status.code(), Some(0), "{}", sipp_report(&calls));
}
