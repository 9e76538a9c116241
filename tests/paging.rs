//! Voice paging of duty lawyers against the real binary: sipp UAS
//! processes (Debian `sip-tester`) play the lawyers' phones over real UDP.
//! A lawyer who keys 1 acknowledges the offer (and a later `lawyer ack`
//! changes nothing), one who keys 2 declines it, a phone nobody picks up
//! leaves the offer to its deadline and the next candidate, a phone number
//! is reached through the outbound trunk, and with two IVR nodes on one
//! ticketing node every page is dialled once.

// test-group: real-time (tests/suite.sh runs these one at a time)

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::uas::Uas;
use common::{hotline, stderr, stdout, Server};

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// A lawyer on duty for the next 8 hours, reached at `sip_uri` if given.
fn on_duty(server: &Server, id: &str, phone: &str, sip_uri: Option<&str>) {
    let mut args = vec![
        "roster",
        "add-lawyer",
        "--id",
        id,
        "--name",
        id,
        "--phone",
        phone,
        "--skills",
        "labor-wages",
        "--languages",
        "en",
    ];
    if let Some(uri) = sip_uri {
        args.extend(["--sip-uri", uri]);
    }
    ok(server.client(&args));
    let from = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = (Utc::now() + chrono::Duration::hours(8)).to_rfc3339();
    ok(server.client(&[
        "roster",
        "add-shift",
        "--lawyer",
        id,
        "--from",
        &from,
        "--to",
        &to,
    ]));
}

/// A critical ticket (preservation needed); returns its number.
fn critical(server: &Server) -> String {
    let out = ok(server.client(&[
        "tickets",
        "create",
        "--matter",
        "labor-wages",
        "--preservation",
        "--callback",
        "13812345678",
        "--json",
    ]));
    let t: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(t["urgency"], "critical");
    t["number"].as_str().unwrap().to_owned()
}

fn history(server: &Server, number: &str) -> Vec<serde_json::Value> {
    ok(server.client(&["tickets", "history", number, "--json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn kinds(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .filter(|k| k != "offer_reminder")
        .collect()
}

fn notes_of<'a>(events: &'a [serde_json::Value], kind: &str) -> Vec<&'a str> {
    events
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["note"].as_str().unwrap_or_default())
        .collect()
}

/// Waits until `done` holds for the ticket's history.
fn wait_history(
    server: &Server,
    number: &str,
    within: Duration,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + within;
    loop {
        let events = history(server, number);
        if done(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "history of {number}: {:?}",
            kinds(&events)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_lawyer_who_keys_1_on_the_page_acknowledges_the_offer_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);
    let phone = Uas::start("lawyer_accepts.xml", &[], 1);
    on_duty(&server, "a", "13900000001", Some(&phone.uri("a")));
    let number = critical(&server);
    phone.finished(Duration::from_secs(90));
    let events = wait_history(&server, &number, Duration::from_secs(10), |e| {
        kinds(e).contains(&"paged".to_owned())
    });
    assert_eq!(
        kinds(&events),
        [
            "created",
            "offered",
            "offer_acknowledged",
            "transitioned",
            "paged"
        ],
        "{events:#?}"
    );
    let acked = &events[2];
    assert_eq!(acked["actor"], "a");
    assert!(
        acked["note"].as_str().unwrap().contains("by phone"),
        "{acked}"
    );
    let paged = notes_of(&events, "paged");
    assert!(paged[0].contains("accepted"), "{paged:?}");
    assert!(paged[0].contains("attempt 1"), "{paged:?}");
    let ticket: serde_json::Value =
        serde_json::from_str(&ok(server.client(&["tickets", "show", &number, "--json"]))).unwrap();
    assert_eq!(ticket["assigned_lawyer"], "a");
    assert_eq!(ticket["state"], "provisional");

    // The same lawyer's tools come second: refused, nothing changes.
    let again = server.as_lawyer("a", &["lawyer", "ack", &number]);
    assert!(!again.status.success(), "{}", stdout(&again));
    assert!(
        stderr(&again).contains("no offer waiting"),
        "{}",
        stderr(&again)
    );
    assert_eq!(history(&server, &number).len(), events.len());
}

#[test]
fn a_decline_by_phone_moves_on_and_an_unanswered_page_waits_for_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let declines = Uas::start("lawyer_declines.xml", &[], 1);
    let rings = Uas::start("lawyer_no_answer.xml", &[], 1);
    let trunk = Uas::start("lawyer_trunk_accepts.xml", &[], 1);
    let trunk_addr = format!("127.0.0.1:{}", trunk.port);
    let server = Server::start(
        dir.path(),
        &[
            "serve",
            "--ack-critical-secs",
            "12",
            "--page-ring-secs",
            "5",
            "--page-retries",
            "0",
            "--outbound-trunk",
            &trunk_addr,
        ],
    );
    // Ranked b, c, d (same skills and load; then by id).
    on_duty(&server, "b", "13900000002", Some(&declines.uri("b")));
    on_duty(&server, "c", "13900000003", Some(&rings.uri("c")));
    // No SIP address: paged on their phone, through the trunk.
    on_duty(&server, "d", "13900000004", None);
    let number = critical(&server);
    declines.finished(Duration::from_secs(60));
    rings.finished(Duration::from_secs(60));
    trunk.finished(Duration::from_secs(90));
    let events = wait_history(&server, &number, Duration::from_secs(10), |e| {
        notes_of(e, "paged").len() == 3
    });
    let routing: Vec<String> = kinds(&events)
        .into_iter()
        .filter(|k| k != "transitioned")
        .collect();
    assert_eq!(
        routing,
        [
            "created",
            "offered",
            "offer_declined",
            "offered",
            "paged",
            "paged",
            "offer_expired",
            "offered",
            "offer_acknowledged",
            "paged",
        ],
        "{events:#?}"
    );
    let declined = events
        .iter()
        .find(|e| e["kind"] == "offer_declined")
        .unwrap();
    assert_eq!(declined["reason"], "declined by phone");
    let paged = notes_of(&events, "paged");
    assert!(
        paged[0].contains("lawyer b") && paged[0].contains(": declined"),
        "{paged:?}"
    );
    assert!(
        paged[1].contains("lawyer c") && paged[1].contains("no-answer"),
        "{paged:?}"
    );
    assert!(
        paged[2].contains("lawyer d (phone, through the trunk)") && paged[2].contains("accepted"),
        "{paged:?}"
    );
    // The phone nobody picked up did not end c's offer: it expired at its
    // deadline, 12 s after it was made.
    let offered_c = events
        .iter()
        .filter(|e| e["kind"] == "offered")
        .nth(1)
        .unwrap();
    let expired = events
        .iter()
        .find(|e| e["kind"] == "offer_expired")
        .unwrap();
    let at = |e: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap()
    };
    assert!(
        at(expired) - at(offered_c) >= chrono::Duration::seconds(12),
        "{offered_c} {expired}"
    );
    let ticket: serde_json::Value =
        serde_json::from_str(&ok(server.client(&["tickets", "show", &number, "--json"]))).unwrap();
    assert_eq!(ticket["assigned_lawyer"], "d");
}

#[test]
fn with_two_ivr_nodes_each_page_is_dialled_once() {
    let dir = tempfile::tempdir().unwrap();
    let ticketing = Server::start(dir.path(), &["ticketing"]);
    let phone = Uas::start("lawyer_accepts.xml", &[], 3);
    let mut nodes = Vec::new();
    for name in ["ivr-a", "ivr-b"] {
        let token = ok(ticketing.client(&["token", "create", "--role", "ivr", "--name", name]));
        let node_dir = dir.path().join(name);
        std::fs::create_dir_all(&node_dir).unwrap();
        std::fs::write(node_dir.join("ivr.token"), token.trim()).unwrap();
        let mut command = Command::new(hotline());
        command
            .args(["ivr", "--node-id", name, "--token-file", "ivr.token"])
            .args(["--ticketing", &ticketing.url()])
            .args([
                "--sip-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .current_dir(&node_dir)
            .env_remove("HOTLINE_DATABASE_URL");
        nodes.push(Server::launch(command));
    }
    for (i, id) in ["e1", "e2", "e3"].iter().enumerate() {
        on_duty(
            &ticketing,
            id,
            &format!("1390000001{i}"),
            Some(&phone.uri(id)),
        );
    }
    // One ticket each (the least loaded lawyer gets the next).
    let numbers: Vec<String> = (0..3).map(|_| critical(&ticketing)).collect();
    phone.finished(Duration::from_secs(120));
    for number in &numbers {
        let events = wait_history(&ticketing, number, Duration::from_secs(10), |e| {
            kinds(e).contains(&"paged".to_owned())
        });
        assert_eq!(notes_of(&events, "paged").len(), 1, "{events:#?}");
        assert_eq!(notes_of(&events, "offer_acknowledged").len(), 1);
    }
    // Each node says what it dialled; together, three calls (the log lines
    // are read as they come, until the three are there or a while passed).
    let mut dialled = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while dialled < 3 && Instant::now() < deadline {
        for n in &nodes {
            if let Ok(line) = n.log.recv_timeout(Duration::from_millis(100)) {
                dialled += usize::from(line.contains("paging the duty lawyer"));
            }
        }
    }
    // And no fourth: whatever else the nodes logged meanwhile.
    for n in &nodes {
        dialled += n
            .log
            .try_iter()
            .filter(|l| l.contains("paging the duty lawyer"))
            .count();
    }
    assert_eq!(dialled, 3);
}
