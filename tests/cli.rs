//! The operator CLI against a running server: output shapes and exit codes.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{stderr, stdout, Server};

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn create_show_transition_correct_note_history() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);

    let out = server.client(&[
        "tickets",
        "create",
        "--matter",
        "labor-termination",
        "--caller",
        "13812345678",
        "--callback",
        "13812345678",
        "--event-date",
        "2025-02-28",
        "--group",
        "migrant-worker",
        "--region",
        "440300",
        "--summary",
        "dismissed without notice",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let created = json_lines(&stdout(&out));
    assert_eq!(created.len(), 1);
    let t = &created[0];
    for key in [
        "number",
        "state",
        "matter",
        "urgency",
        "deadline",
        "days_left",
        "event_date",
        "preservation",
        "priority_group",
        "caller_number",
        "callback_number",
        "language",
        "region",
        "summary",
        "recordings",
        "assigned_lawyer",
        "created_at",
    ] {
        assert!(t.get(key).is_some(), "ticket JSON lacks `{key}`: {t}");
    }
    assert_eq!(t["state"], "application");
    assert_eq!(t["matter"], "labor-termination");
    assert_eq!(t["event_date"], "2025-02-28");
    assert_eq!(t["caller_number"], "138****5678");
    assert_eq!(t["priority_group"], "migrant-worker");
    assert_eq!(t["language"], "zh");
    assert_eq!(t["recordings"], serde_json::json!([]));
    let number = t["number"].as_str().unwrap().to_owned();

    let out = server.client(&[
        "tickets",
        "transition",
        &number,
        "--to",
        "accepted",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json_lines(&stdout(&out))[0]["state"], "accepted");

    let out = server.client(&["tickets", "transition", &number, "--to", "closed", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "closing without an outcome is a usage error"
    );
    assert!(stderr(&out).contains("outcome"), "{}", stderr(&out));

    let out = server.client(&["tickets", "transition", &number, "--to", "in_progress"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("`accepted`"),
        "names the current state: {}",
        stderr(&out)
    );

    let out = server.client(&[
        "tickets",
        "correct",
        &number,
        "--matter",
        "work-injury",
        "--reason",
        "caller was injured",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json_lines(&stdout(&out))[0]["matter"], "work-injury");

    let out = server.client(&["tickets", "note", &number, "called back at 15:00"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = server.client(&["tickets", "history", &number, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let kinds: Vec<_> = json_lines(&stdout(&out))
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    // The claim has expired (2026-02-28): with nobody on duty, routing
    // escalated it at once.
    assert_eq!(kinds[..2], ["created", "escalated"]);
    let own: Vec<_> = kinds.iter().filter(|k| *k != "escalated").collect();
    assert_eq!(own, ["created", "transitioned", "corrected", "note"]);

    let out = server.client(&["tickets", "show", &number, "--json"]);
    assert_eq!(json_lines(&stdout(&out))[0]["state"], "accepted");

    let out = server.client(&["tickets", "list", "--state", "accepted", "--json"]);
    assert_eq!(json_lines(&stdout(&out)).len(), 1);
    let out = server.client(&["tickets", "list", "--state", "closed", "--json"]);
    assert_eq!(stdout(&out), "");
}

#[test]
fn bad_input_exits_2_with_one_line_and_failures_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);

    let out = server.client(&["tickets", "create", "--matter", "labour"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("`matter`") && err.contains("labor-wages"),
        "{err}"
    );

    let out = server.client(&["tickets", "show", "1234567890"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("check digit"), "{}", stderr(&out));

    let out = server.client(&["tickets", "show", "1234567897"]);
    assert_eq!(out.status.code(), Some(1));

    let out = server.client(&["tickets", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2));

    let out = std::process::Command::new(common::hotline())
        .args(["tickets", "list", "--ticketing", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("nothing listens at http://127.0.0.1:9")
            && stderr(&out).contains("hotline serve"),
        "{}",
        stderr(&out)
    );
    // A URL without its scheme is the user's to fix (exit 2), said so.
    let out = std::process::Command::new(common::hotline())
        .args(["tickets", "list", "--ticketing", "127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("needs its scheme"),
        "{}",
        stderr(&out)
    );
    // Several ticketing nodes: the first that answers serves the command;
    // none answering says so for each.
    let nodes = format!("http://127.0.0.1:9, {}", server.url());
    let out = server.client(&["tickets", "list", "--ticketing", &nodes]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = std::process::Command::new(common::hotline())
        .args([
            "tickets",
            "list",
            "--ticketing",
            "http://127.0.0.1:9,http://127.0.0.1:7",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !stderr(&out).contains("tcp connect error: tcp connect error"),
        "a cause is said once: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("no ticketing node answers")
            && stderr(&out).contains("127.0.0.1:9")
            && stderr(&out).contains("127.0.0.1:7"),
        "{}",
        stderr(&out)
    );
    // A list is checked whole before any node is tried (exit 2).
    for list in [
        format!("{},127.0.0.1:7", server.url()),
        format!("{},,http://127.0.0.1:7", server.url()),
    ] {
        let out = server.client(&["tickets", "list", "--ticketing", &list]);
        assert_eq!(out.status.code(), Some(2), "{list}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
}

#[test]
fn limitation_prints_one_json_object_with_the_fixed_keys() {
    let out = std::process::Command::new(common::hotline())
        .args([
            "limitation",
            "--matter",
            "labor-termination",
            "--event-date",
            "2025-02-28",
            "--today",
            "2026-02-20",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&stdout(&out));
    assert_eq!(lines.len(), 1);
    let a = &lines[0];
    for key in [
        "deadline",
        "days_left",
        "urgency",
        "rule",
        "legal_basis",
        "warnings",
    ] {
        assert!(a.get(key).is_some(), "missing `{key}` in {a}");
    }
    assert_eq!(a["deadline"], "2026-02-28");
    assert_eq!(a["days_left"], 8);
    assert_eq!(a["urgency"], "urgent");
    assert_eq!(a["rule"], "labor-arbitration");
    assert!(a["legal_basis"].as_str().unwrap().contains("art. 27"));

    let out = std::process::Command::new(common::hotline())
        .args(["limitation", "--list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(json_lines(&stdout(&out)).len(), 25);

    // Divorce, custody and support never expire (Civil Code art. 196).
    let out = std::process::Command::new(common::hotline())
        .args([
            "limitation",
            "--matter",
            "family",
            "--event-date",
            "2010-01-01",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let a = &json_lines(&stdout(&out))[0];
    assert_eq!(a["deadline"], serde_json::Value::Null);
    assert_eq!(a["urgency"], "normal");
    assert_ne!(a["urgency"], "expired");

    // A judgment served ten days before: five days to appeal.
    let out = std::process::Command::new(common::hotline())
        .args([
            "limitation",
            "--document",
            "judgment",
            "--matter",
            "labor-termination",
            "--event-date",
            "2026-03-02",
            "--today",
            "2026-03-12",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let a = &json_lines(&stdout(&out))[0];
    assert_eq!(a["rule"], "appeal-judgment");
    assert_eq!(a["deadline"], "2026-03-17");
    assert_eq!(a["urgency"], "critical");

    for bad in [
        &[
            "limitation",
            "--matter",
            "labour",
            "--event-date",
            "2025-01-01",
        ][..],
        &["limitation", "--rule", "nope", "--event-date", "2025-01-01"],
        &[
            "limitation",
            "--matter",
            "family",
            "--event-date",
            "2025-02-30",
        ],
        &[
            "limitation",
            "--matter",
            "family",
            "--event-date",
            "2026-05-01",
            "--today",
            "2026-01-01",
        ],
        &["limitation", "--event-date", "2025-01-01"],
        &[
            "limitation",
            "--document",
            "letter",
            "--event-date",
            "2025-01-01",
        ],
        &[
            "limitation",
            "--document",
            "ruling",
            "--rule",
            "appeal-ruling",
        ],
    ] {
        let out = std::process::Command::new(common::hotline())
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty());
    }
}

/// `hotline dtmf` over a keypad sequence made by sox, an independent generator.
#[test]
fn dtmf_prints_the_digits_of_a_sox_sequence_in_order() {
    common::require("sox", "sox");
    let dir = tempfile::tempdir().unwrap();
    let keys = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '*', '#'];
    let low = |k: char| match k {
        '1' | '2' | '3' => 697,
        '4' | '5' | '6' => 770,
        '7' | '8' | '9' => 852,
        _ => 941,
    };
    let high = |k: char| match k {
        '1' | '4' | '7' | '*' => 1209,
        '2' | '5' | '8' | '0' => 1336,
        _ => 1477,
    };
    // Each key: 80 ms of its two sines (a two-channel synth mixed down) at
    // about -10 dBm0, then 80 ms of silence.
    let wav = dir.path().join("keys.wav");
    let mut sox = std::process::Command::new("sox");
    for k in keys {
        sox.arg(format!(
            "|sox -n -r 8000 -c 1 -b 16 -p synth 0.08 sine {} sine {} remix - vol 0.22 pad 0 0.08",
            low(k),
            high(k)
        ));
    }
    let made = sox
        .args(["-r", "8000", "-c", "1", "-b", "16"])
        .arg(&wav)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    let out = std::process::Command::new(common::hotline())
        .args(["dtmf", "--json"])
        .arg(&wav)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&stdout(&out));
    let digits: String = lines.iter().map(|l| l["digit"].as_str().unwrap()).collect();
    assert_eq!(digits, "1234567890*#");
    let starts: Vec<u64> = lines
        .iter()
        .map(|l| l["start_ms"].as_u64().unwrap())
        .collect();
    for (i, start) in starts.iter().enumerate() {
        let expected = i as u64 * 160;
        assert!(
            start.abs_diff(expected) <= 10,
            "digit {i} starts at {start} ms, expected {expected}"
        );
    }

    // A file that is not 8 kHz mono is refused with how to convert it.
    let stereo = dir.path().join("stereo.wav");
    let made = std::process::Command::new("sox")
        .args(["-n", "-r", "44100", "-c", "2", "-b", "16"])
        .arg(&stereo)
        .args(["synth", "0.1", "sine", "440"])
        .output()
        .unwrap();
    assert!(made.status.success());
    let out = std::process::Command::new(common::hotline())
        .arg("dtmf")
        .arg(&stereo)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("sox IN.wav -r 8000 -c 1 -b 16 OUT.wav"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn callbacks_due_and_recorded_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);
    // A critical ticket (preservation) whose caller gave a callback number.
    let out = server.client(&[
        "tickets",
        "create",
        "--kind",
        "consultation",
        "--matter",
        "labor-wages",
        "--caller",
        "13812345678",
        "--callback",
        "13987654321",
        "--preservation",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let number = json_lines(&stdout(&out))[0]["number"]
        .as_str()
        .unwrap()
        .to_owned();

    // Every caller waiting, with the number to call in full.
    let out = server.client(&["callbacks", "due", "--all", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = json_lines(&stdout(&out));
    let c = listed
        .iter()
        .find(|c| c["number"] == number.as_str())
        .unwrap();
    assert_eq!(c["phone"], "13987654321");
    assert_eq!(c["urgency"], "critical");
    assert_eq!(c["flagged"], false);
    assert!(c["due_at"].is_string(), "{c}");

    // A failed attempt: the next is due later, and the attempt is kept.
    let out = server.client(&[
        "callbacks",
        "record",
        &number,
        "--outcome",
        "busy",
        "--note",
        "line busy",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let c = &json_lines(&stdout(&out))[0];
    assert_eq!(c["attempts"][0]["outcome"], "busy");
    assert_eq!(c["attempts"][0]["note"], "line busy");
    assert_eq!(c["attempts"][0]["actor"], "admin:admin");

    // An unknown outcome is a usage error naming the field and the choices.
    let out = server.client(&["callbacks", "record", &number, "--outcome", "voicemail"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("outcome") && err.contains("message-left"),
        "{err}"
    );

    // Answered: no callback is owed any more.
    let out = server.client(&["callbacks", "record", &number, "--outcome", "answered"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("no callback is due"),
        "{}",
        stdout(&out)
    );
    let out = server.client(&["callbacks", "due", "--all", "--json"]);
    assert!(!stdout(&out).contains(&number), "{}", stdout(&out));
}
