//! The operator CLI against a running server: output shapes and exit codes.

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
    assert_eq!(kinds, ["created", "transitioned", "corrected", "note"]);

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
        stderr(&out).contains("cannot reach ticketing"),
        "{}",
        stderr(&out)
    );
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
    assert_eq!(json_lines(&stdout(&out)).len(), 12);

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
    ] {
        let out = std::process::Command::new(common::hotline())
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty());
    }
}
