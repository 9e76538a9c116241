//! `hotline call` against `hotline serve`: it walks the default 12348 menu
//! over real SIP and RTP and names the prompts it heard; after a centre
//! replaces one prompt's recording, the same `--expect` fails naming that
//! prompt; and it recognises the prompts over A-law as well (the caller
//! offers only PCMA, so the IVR encodes A-law itself; the µ-law to A-law
//! transcoding path is a unit test of the recogniser).

// test-group: real-time (tests/suite.sh runs these one at a time)

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

use common::{hotline, stderr, stdout, Server};

fn call(server: &Server, args: &[&str]) -> Output {
    let uri = format!("sip:12348@{}", server.sip.unwrap());
    Command::new(hotline())
        .arg("call")
        .arg(&uri)
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(stdout(out).trim())
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)))
}

#[test]
fn a_status_lookup_walked_by_a_real_call_names_every_prompt_and_the_number() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);
    let created = server.client(&[
        "tickets",
        "create",
        "--matter",
        "labor-wages",
        "--callback",
        "13812345678",
        "--json",
    ]);
    assert!(created.status.success(), "{}", stderr(&created));
    let number = json(&created)["number"].as_str().unwrap().to_owned();
    let keys = format!("1,4,{number}#");
    let out = call(
        &server,
        &[
            "--keys",
            &keys,
            "--json",
            "--expect",
            "zh/welcome,zh/main-menu,zh/progress-enter,zh/ticket-status,zh/repeat-or-goodbye,zh/goodbye",
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let report = json(&out);
    assert_eq!(report["answered"], true);
    assert_eq!(report["ticket_number"], number.as_str());
    assert_eq!(report["ended_by"], "ivr");
    let prompts: Vec<&str> = report["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    // The number is read digit by digit between the status and its words.
    let at = prompts
        .iter()
        .position(|p| *p == "zh/ticket-status")
        .unwrap();
    let digits: Vec<String> = number.chars().map(|d| format!("zh/digit-{d}")).collect();
    assert_eq!(prompts[at + 1..at + 11], digits[..], "{prompts:?}");
    assert!(prompts[at + 11].starts_with("zh/status-"), "{prompts:?}");
}

#[test]
fn a_replaced_prompt_fails_the_same_expectation_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    let export = Command::new(hotline())
        .args(["prompts", "export"])
        .arg(&prompts)
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", stderr(&export));
    let expect = [
        "--keys",
        "1",
        "--max-secs",
        "8",
        "--expect",
        "welcome,main-menu",
    ];
    {
        let server = Server::start(dir.path(), &["serve", "--prompts-dir", "prompts"]);
        let out = call(&server, &expect);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    }
    // The centre records a new main menu (here: another prompt's audio).
    std::fs::copy(
        prompts.join("zh/goodbye.wav"),
        prompts.join("zh/main-menu.wav"),
    )
    .unwrap();
    let server = Server::start(dir.path(), &["serve", "--prompts-dir", "prompts"]);
    let out = call(&server, &expect);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("expected prompt `main-menu` was not heard"),
        "{}",
        stderr(&out)
    );
    // What it heard instead is named.
    assert!(stdout(&out).contains("zh/goodbye"), "{}", stdout(&out));
    // Given the centre's recordings, it hears the menu as the centre made it.
    let dir_arg = prompts.to_str().unwrap();
    let out = call(
        &server,
        &[
            "--keys",
            "1",
            "--max-secs",
            "8",
            "--expect",
            "zh/welcome",
            "--prompts-dir",
            dir_arg,
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn prompts_are_recognised_over_a_law() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);
    let out = call(
        &server,
        &[
            "--codec",
            "pcma",
            "--keys",
            "1",
            "--max-secs",
            "8",
            "--json",
            "--expect",
            "welcome,main-menu",
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(json(&out)["prompts"][0], "zh/welcome");
}
