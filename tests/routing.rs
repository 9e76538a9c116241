//! Duty-lawyer routing against the real binary: the roster and lawyer
//! commands, offers that survive a SIGKILL of ticketing, a lawyer's stream
//! that reconnects without losing or repeating an offer, `hotline check`,
//! and two ticketing nodes sharing one PostgreSQL database.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{hotline, stderr, stdout, Server};

fn ok(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// A lawyer on duty for the next 8 hours.
fn on_duty(server: &Server, id: &str, skills: &str) {
    ok(server.client(&[
        "roster",
        "add-lawyer",
        "--id",
        id,
        "--name",
        id,
        "--phone",
        "13900000000",
        "--skills",
        skills,
    ]));
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

fn history_kinds(server: &Server, number: &str) -> Vec<String> {
    ok(server.client(&["tickets", "history", number, "--json"]))
        .lines()
        .map(|l| {
            let e: serde_json::Value = serde_json::from_str(l).unwrap();
            e["kind"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn check_clean(server: &Server) {
    let out = server.client(&["check"]);
    assert!(
        out.status.success(),
        "check: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn offers_time_out_exactly_once_across_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["ticketing", "--ack-critical-secs", "3"];
    let mut server = Server::start(dir.path(), &args);
    on_duty(&server, "a", "labor-wages");
    on_duty(&server, "b", "labor-wages");
    let tickets: Vec<String> = (0..3).map(|_| critical(&server)).collect();
    for t in &tickets {
        assert_eq!(history_kinds(&server, t), ["created", "offered"]);
    }
    // Killed before any deadline; the deadlines pass while it is down.
    server.kill();
    std::thread::sleep(Duration::from_secs(4));
    let server = Server::start(dir.path(), &args);
    // At start-up the overdue offers are processed at once, each once.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut histories;
    loop {
        histories = tickets
            .iter()
            .map(|t| history_kinds(&server, t))
            .collect::<Vec<_>>();
        let done = histories
            .iter()
            .all(|h| h.iter().filter(|k| *k == "offered").count() == 2);
        if done || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for h in &histories {
        // A reminder of the new offer may already have come; it is no timeout.
        let h: Vec<_> = h.iter().filter(|k| *k != "offer_reminder").collect();
        assert_eq!(
            h,
            ["created", "offered", "offer_expired", "offered"],
            "{h:?}"
        );
    }
    check_clean(&server);
}

/// `hotline lawyer watch --json` in the background, its lines on a channel.
struct Watch {
    child: std::process::Child,
    lines: mpsc::Receiver<serde_json::Value>,
}

impl Watch {
    fn start(server: &Server, lawyer: &str, after: i64) -> Watch {
        let mut child = Command::new(hotline())
            .args(["lawyer", "watch", "--lawyer", lawyer, "--json"])
            .args(["--after", &after.to_string()])
            .env("HOTLINE_TICKETING", server.url())
            .env("HOTLINE_TOKEN", server.lawyer_token(lawyer))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines }
    }

    fn next(&self) -> serde_json::Value {
        self.lines
            .recv_timeout(Duration::from_secs(10))
            .expect("an offer event on the lawyer's stream")
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_lawyer_who_reconnects_gets_every_offer_made_meanwhile_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["ticketing"]);
    on_duty(&server, "li", "labor-wages");
    let watch = Watch::start(&server, "li", 0);
    let first = critical(&server);
    let event = watch.next();
    assert_eq!(event["event"], "offered");
    assert_eq!(event["ticket"]["number"], first.as_str());
    // The lawyer must call back: the number is shown in full.
    assert_eq!(event["ticket"]["callback_number"], "13812345678");
    let deadline = chrono::DateTime::parse_from_rfc3339(event["ack_deadline"].as_str().unwrap())
        .expect("ack_deadline is RFC 3339 with an offset");
    assert!(deadline > Utc::now() + chrono::Duration::minutes(4));
    let last_seen = event["event_id"].as_i64().unwrap();
    drop(watch);

    // Offers made while the lawyer is away.
    let missed: Vec<String> = (0..3).map(|_| critical(&server)).collect();
    let watch = Watch::start(&server, "li", last_seen);
    for number in &missed {
        let event = watch.next();
        assert_eq!(event["event"], "offered");
        assert_eq!(event["ticket"]["number"], number.as_str());
        // Caught up in one batch, each offer still states its own deadline.
        let deadline = event["ack_deadline"].as_str().expect("an offer's deadline");
        let deadline = chrono::DateTime::parse_from_rfc3339(deadline).unwrap();
        assert!(deadline > Utc::now() + chrono::Duration::minutes(4));
    }
    assert!(
        watch
            .lines
            .recv_timeout(Duration::from_millis(700))
            .is_err(),
        "nothing is delivered twice"
    );

    // The lawyer takes one: provisional aid (art. 44), not yet a decision.
    ok(server.as_lawyer("li", &["lawyer", "ack", &first, "--lawyer", "li"]));
    let event = watch.next();
    assert_eq!(event["event"], "acknowledged");
    assert!(event["ack_deadline"].is_null(), "{event}");
    let shown = ok(server.client(&["tickets", "show", &first, "--json"]));
    assert!(shown.contains("\"state\":\"provisional\""), "{shown}");
    let early = server.as_lawyer("li", &["lawyer", "start", &first, "--lawyer", "li"]);
    assert_eq!(early.status.code(), Some(1), "{}", stderr(&early));
    assert!(
        stderr(&early).contains("before the centre decides"),
        "{}",
        stderr(&early)
    );
    // The centre accepts; li stays on it, starts it and closes it.
    ok(server.client(&["tickets", "transition", &first, "--to", "accepted"]));
    ok(server.as_lawyer("li", &["lawyer", "start", &first, "--lawyer", "li"]));
    let mine = ok(server.as_lawyer("li", &["lawyer", "mine", "--lawyer", "li", "--json"]));
    let count = |prefix: &str| mine.lines().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(count("{\"offer\""), 3, "three offers: {mine}");
    assert_eq!(count("{\"number\""), 1, "one case: {mine}");
    // The case's caller waits for li's call back, at the number they gave.
    assert_eq!(count("{\"callback\""), 1, "one callback: {mine}");
    assert!(mine.contains("\"phone\":\"13812345678\""), "{mine}");
    ok(server.as_lawyer(
        "li",
        &["lawyer", "close", &first, "--outcome", "advice-given"],
    ));
    // Someone else's ticket cannot be started by this lawyer, nor can li's
    // token act as another lawyer.
    let out = server.as_lawyer("li", &["lawyer", "start", &missed[0]]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = server.as_lawyer("li", &["lawyer", "mine", "--lawyer", "wang"]);
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );
    check_clean(&server);
}

#[test]
fn check_lists_an_urgent_ticket_left_unowned_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &["ticketing"]);
    on_duty(&server, "li", "labor-wages");
    let number = critical(&server);
    ok(server.as_lawyer("li", &["lawyer", "ack", &number, "--lawyer", "li"]));
    check_clean(&server);
    server.kill();
    common::require("sqlite3", "sqlite3");
    // Edit the database by hand: the ticket loses its lawyer.
    let db = dir.path().join("hotline-data/hotline.db");
    let edited = Command::new("sqlite3")
        .arg(&db)
        .arg(format!(
            "UPDATE tickets SET assigned_lawyer = NULL, state = 'accepted' WHERE number = '{number}';"
        ))
        .status()
        .expect("sqlite3 is missing: apt-get install -y sqlite3");
    assert!(edited.success());
    let server = Server::start(dir.path(), &["ticketing"]);
    let out = server.client(&["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains(&number), "{}", stdout(&out));
}

fn psql(sql: &str) -> String {
    common::require("psql", "postgresql");
    let url = std::env::var("HOTLINE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let out = Command::new("psql")
        .args([url.as_str(), "-At", "-c", sql])
        .output()
        .unwrap();
    assert!(out.status.success(), "psql {sql}: {}", stderr(&out));
    stdout(&out).trim().to_owned()
}

#[test]
fn two_nodes_on_one_postgres_process_every_timeout_once_and_share_streams() {
    let name = format!("hotline_t_{:016x}", rand::random::<u64>());
    psql(&format!("CREATE DATABASE {name}"));
    let base = std::env::var("HOTLINE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let count = |kind: &str| -> usize {
        let sql = format!("SELECT count(*) FROM ticket_events WHERE kind = '{kind}'");
        let out = Command::new("psql")
            .args([url.as_str(), "-At", "-c", &sql])
            .output()
            .unwrap();
        stdout(&out).trim().parse().unwrap()
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = [
        "ticketing",
        "--database-url",
        &url,
        "--ack-urgent-secs",
        "3",
    ];
    let a = Server::start(dir_a.path(), &args);
    let mut b = Server::start(dir_b.path(), &args);
    // The first node made the admin token; both nodes accept it.
    assert!(b.admin_token.is_none(), "one first start per database");
    b.admin_token = a.admin_token.clone();
    ok(a.client(&[
        "roster",
        "add-lawyer",
        "--id",
        "li",
        "--name",
        "Li",
        "--phone",
        "13900000000",
        "--skills",
        "labor-termination",
        "--capacity",
        "1000",
    ]));
    let from = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = (Utc::now() + chrono::Duration::hours(8)).to_rfc3339();
    ok(b.client(&[
        "roster",
        "add-shift",
        "--lawyer",
        "li",
        "--from",
        &from,
        "--to",
        &to,
    ]));
    let watch = Watch::start(&a, "li", 0);

    // 500 urgent tickets: employment ended a year ago less 15 days.
    let event_date = (Utc::now() + chrono::Duration::hours(8)).date_naive()
        - chrono::Months::new(12)
        + chrono::Days::new(15);
    let tickets = 500;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let via_b: Vec<String> = runtime.block_on(async {
        use hotline_proto::v1 as pb;
        use hotline_proto::v1::ticket_service_client::TicketServiceClient;
        let clients = [
            TicketServiceClient::new(a.channel().await),
            TicketServiceClient::new(b.channel().await),
        ];
        let mut tasks = Vec::new();
        for worker in 0..20 {
            let mut client = clients[worker % 2].clone();
            let date = event_date.to_string();
            tasks.push(tokio::spawn(async move {
                let mut made = Vec::new();
                for i in (worker..tickets).step_by(20) {
                    let t = client
                        .create_ticket(pb::CreateTicketRequest {
                            idempotency_key: format!("k{i}"),
                            matter: Some("labor-termination".into()),
                            event_date: Some(date.clone()),
                            ..Default::default()
                        })
                        .await
                        .unwrap()
                        .into_inner()
                        .ticket
                        .unwrap();
                    assert_eq!(t.urgency.as_deref(), Some("urgent"));
                    made.push(t.number);
                }
                (worker % 2 == 1, made)
            }));
        }
        let mut via_b = Vec::new();
        for task in tasks {
            let (on_b, made) = task.await.unwrap();
            if on_b {
                via_b.extend(made);
            }
        }
        via_b
    });
    assert_eq!(via_b.len(), tickets / 2);

    // Node A's stream sees the offers made through node B.
    let mut offered = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while offered.len() < tickets && Instant::now() < deadline {
        if let Ok(e) = watch.lines.recv_timeout(Duration::from_secs(1)) {
            if e["event"] == "offered" {
                offered.insert(e["ticket"]["number"].as_str().unwrap().to_owned());
            }
        }
    }
    for number in &via_b {
        assert!(
            offered.contains(number),
            "{number} missing from node A's stream"
        );
    }

    // Every offer expires under both schedulers: each timeout once.
    let deadline = Instant::now() + Duration::from_secs(60);
    while count("escalated") < tickets && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(count("offered"), tickets);
    assert_eq!(
        count("offer_expired"),
        tickets,
        "each timeout processed exactly once"
    );
    assert_eq!(count("escalated"), tickets);
    check_clean(&a);
    drop(watch);
    drop(a);
    drop(b);
    psql(&format!("DROP DATABASE {name} WITH (FORCE)"));
}

#[test]
fn the_roster_imports_from_csv_and_refuses_a_bad_row_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["ticketing"]);
    let from = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = (Utc::now() + chrono::Duration::hours(8)).to_rfc3339();
    let csv = dir.path().join("roster.csv");
    std::fs::write(
        &csv,
        format!(
            "id,name,phone,sip_uri,skills,regions,languages,capacity,center,shift_from,shift_to\n\
             li,\"Li, Wei\",13900000001,sip:li@pbx.example,labor-wages;work-injury,110000,zh;en,4,default,{from},{to}\n\
             wang,Wang Fang,13900000002,,family,,zh,,default,,\n"
        ),
    )
    .unwrap();
    let out = server.client(&["roster", "import", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = ok(server.client(&["roster", "list", "--json"]));
    let lawyers: Vec<serde_json::Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lawyers.len(), 2);
    assert_eq!(lawyers[0]["name"], "Li, Wei");
    assert_eq!(
        lawyers[0]["skills"],
        serde_json::json!(["labor-wages", "work-injury"])
    );
    assert_eq!(lawyers[0]["capacity"], 4);
    let on_duty = ok(server.client(&["roster", "on-duty", "--json"]));
    assert_eq!(on_duty.lines().count(), 1, "{on_duty}");
    assert!(on_duty.contains("\"li\""));
    let exported = ok(server.client(&["roster", "export"]));
    assert!(
        exported.starts_with("id,name,phone,sip_uri,skills"),
        "{exported}"
    );
    assert!(exported.contains("\"Li, Wei\""), "{exported}");
    // Exported with its coming shift, so importing it elsewhere rebuilds the roster.
    assert_eq!(exported.lines().count(), 3, "{exported}");
    let li = exported.lines().find(|l| l.starts_with("li,")).unwrap();
    let fields: Vec<&str> = li.rsplitn(3, ',').collect();
    let ms = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .timestamp_millis()
    };
    assert_eq!((ms(fields[1]), ms(fields[0])), (ms(&from), ms(&to)), "{li}");
    assert!(
        fields[1].ends_with("+08:00"),
        "shown in Asia/Shanghai: {li}"
    );

    std::fs::write(
        &csv,
        "id,name,phone,sip_uri,skills,regions,languages,capacity,center,shift_from,shift_to\n\
         zhao,Zhao,13900000003,,family,,zh,2,default,,\n\
         qian,Qian,13900000004,,labour,,zh,2,default,,\n",
    )
    .unwrap();
    let out = server.client(&["roster", "import", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("{}:3: invalid field `skills`", csv.display())),
        "{}",
        stderr(&out)
    );
}

#[test]
fn supervisors_see_escalations_on_the_event_stream_and_can_resume() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["ticketing"]);
    // Nobody is on duty: the critical ticket is escalated at once.
    let number = critical(&server);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use hotline_proto::v1 as pb;
        use hotline_proto::v1::routing_service_client::RoutingServiceClient;
        let mut client = RoutingServiceClient::new(server.channel().await);
        let mut stream = client
            .watch_events(pb::WatchEventsRequest { after_event_id: 0 })
            .await
            .unwrap()
            .into_inner();
        let created = stream.message().await.unwrap().unwrap();
        assert_eq!(
            (created.kind.as_str(), created.ticket_number.as_str()),
            ("created", number.as_str())
        );
        let escalated = stream.message().await.unwrap().unwrap();
        assert_eq!(escalated.kind, "escalated");
        assert!(escalated
            .note
            .unwrap_or_default()
            .contains("no matching lawyer is on duty"));
        // A supervisor who reconnects after the first event gets the second.
        let mut resumed = client
            .watch_events(pb::WatchEventsRequest {
                after_event_id: created.id,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(resumed.message().await.unwrap().unwrap().id, escalated.id);
        let bad = client
            .watch_events(pb::WatchEventsRequest { after_event_id: -1 })
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
        assert!(
            bad.message().contains("after_event_id"),
            "{}",
            bad.message()
        );
    });
    check_clean(&server);
}
