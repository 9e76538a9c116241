//! The 12348 call flow end to end: sipp places the calls, the test's own
//! media socket ([`common::phone`]) presses the keys as RFC 4733 events,
//! speaks the message and hears the prompts. Ticket numbers are recovered
//! from the audio the caller received — the digit prompts matched byte for
//! byte — never from logs.

// test-group: real-time (tests/suite.sh runs these one at a time)

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Mutex;
use std::time::Duration;

use chrono::{Months, Utc};
use common::phone::{prompt, read_digits_after, wav_samples, Phone};
use common::{free_port, sipp_calls, sipp_report, stdout, Server};

static SERIAL: Mutex<()> = Mutex::new(());

const CALLER: &str = "13812345678";
const LONG: Duration = Duration::from_secs(60);

fn ticket_json(server: &Server, number: &str) -> serde_json::Value {
    let out = server.client(&["tickets", "show", number, "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    serde_json::from_str(stdout(&out).trim()).unwrap()
}

/// What the caller says as a message: a few seconds of real speech.
fn speech() -> Vec<i16> {
    wav_samples(&common::prompts_dir().join("en/main-menu.wav"))
        .into_iter()
        .take(8000 * 3)
        .collect()
}

/// One sipp call of `scenario` from CALLER, its media on `phone`, in the
/// background; join it for sipp's result.
fn dial(
    scenario: &'static str,
    sip: std::net::SocketAddr,
    phone: &Phone,
) -> std::thread::JoinHandle<std::process::Output> {
    let rows = vec![vec![phone.port.to_string(), CALLER.to_owned()]];
    std::thread::spawn(move || sipp_calls(scenario, sip, &rows, &[]))
}

/// Walks the flow up to the message: waits for each prompt to start, then
/// presses the caller's key (a barge-in, as impatient callers do).
fn answer(phone: &Phone, lang: &str, steps: &[(&str, &str)], mut at: usize) -> usize {
    for (name, keys) in steps {
        at = phone.wait_started(&prompt(lang, name), at, LONG);
        phone.press(keys);
    }
    at
}

/// Leaves a message after the tone, then `#`; returns where the result starts.
fn leave_message(phone: &Phone, lang: &str, at: usize) -> usize {
    let at = phone.wait_heard(&prompt(lang, "beep"), at, LONG);
    phone.speak(speech());
    phone.press("#");
    at
}

/// Half a second from the middle of a prompt: many prompts begin alike
/// (对不起…, 请输入您…), so a prompt is told apart by its middle.
fn middle(p: &common::phone::Heard) -> &[u8] {
    let mid = p.bytes.len() / 2;
    &p.bytes[mid.saturating_sub(2000)..(mid + 2000).min(p.bytes.len())]
}

/// Today in Asia/Shanghai.
fn today() -> chrono::NaiveDate {
    (Utc::now() + chrono::Duration::hours(8)).date_naive()
}

#[test]
fn an_application_by_phone_is_a_ticket_the_caller_hears_and_can_check() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);
    let sip = server.sip.unwrap();

    // A termination about 15 days before its one-year deadline.
    let event = today()
        .checked_sub_months(Months::new(12))
        .unwrap()
        .checked_add_days(chrono::Days::new(15))
        .unwrap();
    let date = event.format("%Y%m%d").to_string();

    let phone = Phone::new();
    let call = dial("call_flow.xml", sip, &phone);
    let at = answer(
        &phone,
        "zh",
        &[
            ("welcome", "1"),
            ("main-menu", "1"),
            ("matter-menu", "1"),
            ("labor-menu", "2"),
            ("document-menu", "9"),
            ("date-termination", &format!("{date}#")),
            ("you-entered", "1"),
            ("preservation-question", "9"),
            ("group-menu", "9"),
            ("home-visit-question", "2"),
            ("pledge-question", "1"),
            ("callback-ending", "1"),
        ],
        0,
    );
    let at = leave_message(&phone, "zh", at);
    let intro = prompt("zh", "your-ticket-number");
    let end = phone.wait_heard(&prompt("zh", "next-step-urgent"), at, LONG);
    let heard = phone.heard();
    let number = read_digits_after(&heard[at..end], &intro, "zh", 10)
        .expect("the caller heard the ticket number digit by digit");
    let out = call.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));

    let ticket = ticket_json(&server, &number);
    assert_eq!(ticket["number"], number.as_str());
    assert_eq!(ticket["kind"], "application");
    assert_eq!(ticket["matter"], "labor-termination");
    assert_eq!(ticket["event_date"], event.format("%Y-%m-%d").to_string());
    assert_eq!(ticket["urgency"], "urgent");
    assert_eq!(ticket["preservation"], false);
    assert_eq!(ticket["priority_group"], "none");
    assert_eq!(ticket["callback_number"], CALLER);
    assert_eq!(ticket["language"], "zh");
    let recordings = ticket["recordings"].as_array().unwrap();
    assert_eq!(recordings.len(), 1, "{ticket}");
    let id = recordings[0]["id"].as_i64().unwrap().to_string();
    let wav = dir.path().join("message.wav");
    let out = server.client(&["tickets", "recording", &id, "-o", wav.to_str().unwrap()]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let message = wav_samples(&wav);
    assert!(message.len() >= 8000 * 2, "{} samples", message.len());
    // What the caller said is in it, exactly as G.711 carried it.
    let said = hotline_ivr::media::codec::G711::Pcmu.round_trip(&speech()[8000..8800]);
    assert!(
        message.windows(said.len()).any(|w| w == said.as_slice()),
        "the recording holds the caller's speech"
    );

    // A second call keys the number into menu 4 and hears the state.
    let phone = Phone::new();
    let call = dial("call_flow.xml", sip, &phone);
    let at = answer(
        &phone,
        "zh",
        &[
            ("welcome", "1"),
            ("main-menu", "4"),
            ("progress-enter", &format!("{number}#")),
        ],
        0,
    );
    let intro = prompt("zh", "ticket-status");
    // The decision clock waits for the application's materials (art. 43).
    let end = phone.wait_heard(&prompt("zh", "status-materials-awaited"), at, LONG);
    let heard = phone.heard();
    assert_eq!(
        read_digits_after(&heard[at..end], &intro, "zh", 10).as_deref(),
        Some(number.as_str()),
        "the status names the number"
    );
    let out = call.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
}

/// Personal information stays out of the logs (PIPL): a caller who keys a
/// callback number, with a caller ID of their own, leaves neither number
/// complete in any line the server wrote, while the ticket holds both.
#[test]
fn no_log_line_holds_a_complete_phone_number() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let typed = "13987654321";
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve", "--log", "debug"]);
    let phone = Phone::new();
    let call = dial("call_flow.xml", server.sip.unwrap(), &phone);
    let at = answer(
        &phone,
        "zh",
        &[
            ("welcome", "1"),
            ("main-menu", "2"),
            ("matter-menu", "9"),
            ("document-menu", "9"),
            ("date-harm", "*"),
            ("preservation-question", "9"),
            ("callback-ending", "2"),
            ("callback-enter", &format!("{typed}#")),
        ],
        0,
    );
    let at = leave_message(&phone, "zh", at);
    let intro = prompt("zh", "your-ticket-number");
    let end = phone.wait_heard(&prompt("zh", "next-step-consultation"), at, LONG);
    let number = read_digits_after(&phone.heard()[at..end], &intro, "zh", 10)
        .expect("the caller heard the ticket number");
    let out = call.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    let ticket = ticket_json(&server, &number);
    assert_eq!(ticket["callback_number"], typed);
    assert_eq!(ticket["caller_number"], CALLER);

    // Every line so far, at debug level: the call, its keys, the ticket.
    std::thread::sleep(Duration::from_millis(500));
    let lines: Vec<String> = server.log.try_iter().collect();
    assert!(
        lines.iter().any(|l| l.contains("call ended")),
        "the log has the call: {lines:#?}"
    );
    for line in &lines {
        for full in [typed, CALLER] {
            assert!(!line.contains(full), "a complete number in the log: {line}");
        }
    }
}

#[test]
fn the_green_channel_with_preservation_is_critical() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);
    let sip = server.sip.unwrap();
    let phone = Phone::new();
    let call = dial("call_flow.xml", sip, &phone);
    let at = answer(
        &phone,
        "zh",
        &[
            ("welcome", "1"),
            ("main-menu", "3"),
            ("document-menu", "9"),
            // Still employed: the date is unknown.
            ("date-wages", "*"),
            ("preservation-question", "1"),
            // The group and pledge questions are skipped.
            ("callback-ending", "1"),
        ],
        0,
    );
    let at = leave_message(&phone, "zh", at);
    let intro = prompt("zh", "your-ticket-number");
    let end = phone.wait_heard(&prompt("zh", "next-step-critical"), at, LONG);
    let number = read_digits_after(&phone.heard()[at..end], &intro, "zh", 10).unwrap();
    let out = call.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    let heard = phone.heard();
    for skipped in ["group-menu", "pledge-question"] {
        assert!(
            common::phone::find(&heard, middle(&prompt("zh", skipped))).is_none(),
            "{skipped} must be skipped on the green channel"
        );
    }
    let ticket = ticket_json(&server, &number);
    assert_eq!(ticket["matter"], "labor-wages");
    assert_eq!(ticket["priority_group"], "migrant-worker");
    assert_eq!(ticket["preservation"], true);
    assert_eq!(ticket["urgency"], "critical");
    assert_eq!(ticket["event_date"], serde_json::Value::Null);
}

/// One application by phone for a dismissal, with a document received ten
/// days ago (`document_key`), walked as the issue lists it; returns the
/// ticket.
fn application_with_a_document(document_key: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);
    let received = today() - chrono::Duration::days(10);
    let date = received.format("%Y%m%d").to_string();
    let phone = Phone::new();
    let call = dial("call_flow.xml", server.sip.unwrap(), &phone);
    let at = answer(
        &phone,
        "zh",
        &[
            ("welcome", "1"),
            ("main-menu", "1"),
            ("matter-menu", "1"),
            ("labor-menu", "2"),
            ("document-menu", document_key),
            ("date-received", &format!("{date}#")),
            ("you-entered", "1"),
            ("preservation-question", "9"),
            ("group-menu", "9"),
            ("home-visit-question", "2"),
            ("pledge-question", "1"),
            ("callback-ending", "1"),
        ],
        0,
    );
    let at = leave_message(&phone, "zh", at);
    let intro = prompt("zh", "your-ticket-number");
    let end = phone.wait_heard(&prompt("zh", "repeat-or-goodbye"), at, LONG);
    let heard = phone.heard();
    let number = read_digits_after(&heard[at..end], &intro, "zh", 10)
        .expect("the caller heard the ticket number digit by digit");
    let out = call.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    // The date question for the event was never asked.
    assert!(
        common::phone::find(&heard, middle(&prompt("zh", "date-termination"))).is_none(),
        "the event-date question is skipped when a document was received"
    );
    let ticket = ticket_json(&server, &number);
    assert_eq!(
        ticket["event_date"],
        received.format("%Y-%m-%d").to_string()
    );
    assert_eq!(ticket["matter"], "labor-termination");
    assert_eq!(ticket["pledge_offered"], true);
    ticket
}

/// The deadline a period of `days` from `received` ends on: the last day,
/// moved past rest days and holidays (Civil Procedure Law art. 85), and the
/// urgency those days left give.
fn expected_deadline(received: chrono::NaiveDate, days: u64) -> (String, &'static str) {
    let calendar = hotline_domain::HolidayCalendar::bundled().unwrap();
    let last = received.checked_add_days(chrono::Days::new(days)).unwrap();
    let (deadline, _) = calendar.first_working_day_from(last).unwrap();
    let left = (deadline - today()).num_days();
    let urgency = if left < 7 { "critical" } else { "urgent" };
    (deadline.format("%Y-%m-%d").to_string(), urgency)
}

/// A judgment served ten days ago leaves five days to appeal (Civil
/// Procedure Law art. 171): the phone reaches the appeal rule, not the
/// one-year labour rule, and the ticket is critical. (When the 15th day
/// falls on a rest day the deadline moves on; with seven days left or more
/// the ticket is urgent, as the law counts it.)
#[test]
fn a_judgment_received_ten_days_ago_is_an_appeal_deadline_from_the_phone() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ticket = application_with_a_document("1");
    let received = today() - chrono::Duration::days(10);
    let (deadline, urgency) = expected_deadline(received, 15);
    assert_eq!(ticket["document"], "judgment", "{ticket}");
    assert_eq!(ticket["limitation_rule"], "appeal-judgment", "{ticket}");
    assert_eq!(ticket["deadline"], deadline.as_str(), "{ticket}");
    assert_eq!(ticket["urgency"], urgency, "{ticket}");
}

/// A labour arbitral award received ten days ago: 15 days to sue (Labour
/// Dispute Mediation and Arbitration Law arts. 48 and 50).
#[test]
fn an_arbitral_award_received_ten_days_ago_is_a_suit_deadline_from_the_phone() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ticket = application_with_a_document("3");
    let received = today() - chrono::Duration::days(10);
    let (deadline, urgency) = expected_deadline(received, 15);
    assert_eq!(ticket["document"], "arbitral-award", "{ticket}");
    assert_eq!(ticket["limitation_rule"], "labor-award-suit", "{ticket}");
    assert_eq!(ticket["deadline"], deadline.as_str(), "{ticket}");
    assert_eq!(ticket["urgency"], urgency, "{ticket}");
}

#[test]
fn a_wrong_check_digit_is_refused_on_the_phone() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);
    let sip = server.sip.unwrap();
    let phone = Phone::new();
    let call = dial("call_flow.xml", sip, &phone);
    // 1234567897 has a valid Luhn digit; 1234567898 does not.
    let at = answer(
        &phone,
        "zh",
        &[
            ("welcome", "1"),
            ("main-menu", "4"),
            ("progress-enter", "1234567898#"),
        ],
        0,
    );
    let at = phone.wait_heard(&prompt("zh", "check-number"), at, LONG);
    // Asked again; the caller gives up with three wrong numbers.
    let at = answer(&phone, "zh", &[("progress-enter", "1234567898#")], at);
    let at = phone.wait_heard(&prompt("zh", "check-number"), at, LONG);
    let at = answer(&phone, "zh", &[("progress-enter", "1111111111#")], at);
    phone.wait_heard(&prompt("zh", "goodbye"), at, LONG);
    let out = call.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    let heard = phone.heard();
    assert!(
        common::phone::find(&heard, middle(&prompt("zh", "not-found"))).is_none(),
        "no lookup was made: the caller never heard `not found`"
    );
}

#[test]
fn with_ticketing_down_every_caller_hears_a_number_that_later_finds_the_ticket() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let calls = 20;
    let dir = tempfile::tempdir().unwrap();
    let ticketing_port = free_port();
    let ticketing_url = format!("http://127.0.0.1:{ticketing_port}");
    let listen = format!("127.0.0.1:{ticketing_port}");
    let ticketing_dir = tempfile::tempdir().unwrap();
    common::provision_ivr(ticketing_dir.path(), &listen, dir.path());
    // Twenty callers from one address: a trunk, as a centre's would be.
    let ivr = Server::start(
        dir.path(),
        &[
            "ivr",
            "--ticketing",
            &ticketing_url,
            "--sip-trusted",
            "127.0.0.1",
        ],
    );
    let sip = ivr.sip.unwrap();
    let phones: Vec<Phone> = (0..calls).map(|_| Phone::new()).collect();
    let rows: Vec<Vec<String>> = phones
        .iter()
        .enumerate()
        .map(|(i, p)| vec![p.port.to_string(), format!("139{:08}", 10_000_000 + i)])
        .collect();
    let sipp = std::thread::spawn(move || sipp_calls("call_flow.xml", sip, &rows, &[]));
    // Each caller asks for a consultation and leaves a message.
    let numbers: Vec<String> = std::thread::scope(|s| {
        let walks: Vec<_> = phones
            .iter()
            .map(|phone| {
                s.spawn(move || {
                    let at = answer(
                        phone,
                        "zh",
                        &[
                            ("welcome", "1"),
                            ("main-menu", "2"),
                            ("matter-menu", "9"),
                            ("document-menu", "9"),
                            ("date-harm", "*"),
                            ("preservation-question", "9"),
                            ("callback-ending", "1"),
                        ],
                        0,
                    );
                    let at = leave_message(phone, "zh", at);
                    let intro = prompt("zh", "your-ticket-number");
                    let end = phone.wait_heard(&prompt("zh", "next-step-consultation"), at, LONG);
                    read_digits_after(&phone.heard()[at..end], &intro, "zh", 10)
                        .expect("a reference number")
                })
            })
            .collect();
        walks.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let out = sipp.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));

    // Ticketing comes back on the address the IVR knows.
    let ticketing = Server::start(
        ticketing_dir.path(),
        &["ticketing", "--grpc-listen", &listen],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let listed = loop {
        let lines = ticketing.tickets();
        let with_recordings = lines
            .iter()
            .filter(|t| t["recordings"].as_array().is_some_and(|r| r.len() == 1))
            .count();
        if with_recordings == calls || std::time::Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(listed.len(), calls, "every request exactly once");
    let mut found: Vec<String> = listed
        .iter()
        .map(|t| t["number"].as_str().unwrap().to_owned())
        .collect();
    let mut heard = numbers.clone();
    found.sort();
    heard.sort();
    assert_eq!(found, heard, "each ticket has the number its caller heard");
    for t in &listed {
        assert_eq!(t["kind"], "consultation");
        assert_eq!(t["recordings"].as_array().map(Vec::len), Some(1), "{t}");
    }
}

/// Reads `GET /metrics` from the IVR's Prometheus endpoint.
fn metrics(server: &Server) -> String {
    common::http_get(server.metrics.unwrap(), "/metrics")
}

fn counter(text: &str, name: &str, node: &str) -> u64 {
    let prefix = format!("hotline_ivr_node_{name}_total{{node=\"{node}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[test]
fn drop_off_counts_per_node_match_the_script() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);
    let sip = server.sip.unwrap();

    // Two callers finish a consultation; the IVR ends their calls.
    let phones: Vec<Phone> = (0..2).map(|_| Phone::new()).collect();
    let rows: Vec<Vec<String>> = phones
        .iter()
        .map(|p| vec![p.port.to_string(), CALLER.to_owned()])
        .collect();
    let sipp = std::thread::spawn(move || sipp_calls("call_flow.xml", sip, &rows, &[]));
    std::thread::scope(|s| {
        for phone in &phones {
            s.spawn(move || {
                let at = answer(
                    phone,
                    "zh",
                    &[
                        ("welcome", "1"),
                        ("main-menu", "2"),
                        ("matter-menu", "9"),
                        ("document-menu", "9"),
                        ("date-harm", "*"),
                        ("preservation-question", "9"),
                        ("callback-ending", "1"),
                    ],
                    0,
                );
                let at = leave_message(phone, "zh", at);
                let at = phone.wait_started(&prompt("zh", "your-ticket-number"), at, LONG);
                phone.wait_heard(&prompt("zh", "goodbye"), at, LONG);
            });
        }
    });
    let out = sipp.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));

    // Three callers hang up in the main menu, one in the matter menu
    // (sipp's BYE comes 9 s after the answer; the menus' prompts are longer).
    let quitters: Vec<(Phone, &str)> = vec![
        (Phone::new(), "1"),
        (Phone::new(), "1"),
        (Phone::new(), "1"),
        (Phone::new(), "11"),
    ];
    let rows: Vec<Vec<String>> = quitters
        .iter()
        .map(|(p, _)| vec![p.port.to_string()])
        .collect();
    let sipp = std::thread::spawn(move || sipp_calls("load.xml", sip, &rows, &["-d", "9000"]));
    std::thread::scope(|s| {
        for (phone, keys) in &quitters {
            s.spawn(move || {
                let at = phone.wait_started(&prompt("zh", "welcome"), 0, LONG);
                phone.press(&keys[..1]);
                if keys.len() > 1 {
                    phone.wait_started(&prompt("zh", "main-menu"), at, LONG);
                    phone.press(&keys[1..]);
                }
            });
        }
    });
    let out = sipp.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));

    // The counts settle once the last call task has ended.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = metrics(&server);
        if counter(&text, "abandoned", "matter") == 1 || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(counter(&text, "entered", "welcome"), 6, "{text}");
    assert_eq!(counter(&text, "entered", "main"), 6, "{text}");
    assert_eq!(counter(&text, "abandoned", "main"), 3, "{text}");
    // The two consultations ask the matter too.
    assert_eq!(counter(&text, "entered", "matter"), 3, "{text}");
    assert_eq!(counter(&text, "abandoned", "matter"), 1, "{text}");
    assert_eq!(counter(&text, "entered", "consult"), 2, "{text}");
    assert_eq!(counter(&text, "completed", "goodbye"), 2, "{text}");
    assert_eq!(counter(&text, "abandoned", "welcome"), 0, "{text}");

    // The admin API gives the same counts.
    let nodes = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use hotline_proto::v1::ivr_admin_client::IvrAdminClient;
        let mut client = IvrAdminClient::new(server.admin_api().await);
        client
            .get_flow_metrics(hotline_proto::v1::GetFlowMetricsRequest {})
            .await
            .unwrap()
            .into_inner()
            .nodes
    });
    for n in &nodes {
        assert_eq!(n.entered, counter(&text, "entered", &n.node), "{}", n.node);
        assert_eq!(
            n.abandoned,
            counter(&text, "abandoned", &n.node),
            "{}",
            n.node
        );
        assert_eq!(
            n.completed,
            counter(&text, "completed", &n.node),
            "{}",
            n.node
        );
    }
    assert!(nodes.iter().any(|n| n.node == "main" && n.abandoned == 3));

    // The same counts reach ticketing (the IVR reports every 2 s) and the
    // supervisor's report for today: six calls, each ended in one node.
    let day = today().to_string();
    let report_args = [
        "supervisor",
        "report",
        "--from",
        &day,
        "--to",
        &day,
        "--format",
        "csv",
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let csv = loop {
        let out = server.client(&report_args);
        assert!(out.status.success(), "{}", common::stderr(&out));
        let csv = common::stdout(&out);
        if csv.contains("\nivr,calls,6\n") || std::time::Instant::now() > deadline {
            break csv;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(csv.starts_with("section,item,value\n"), "{csv}");
    assert!(csv.contains("\nivr,calls,6\n"), "{csv}");
    assert!(csv.contains("\nivr,abandoned,4\n"), "{csv}");
    for n in &nodes {
        for (name, value) in [
            ("entered", n.entered),
            ("completed", n.completed),
            ("abandoned", n.abandoned),
        ] {
            let row = format!("\nivr_node,{}:{name},{value}\n", n.node);
            assert!(csv.contains(&row), "{row:?} missing from\n{csv}");
        }
    }
}

/// A caller who chose a service and hung up before the request was
/// complete is not lost: a `callback` ticket keeps where they stopped and
/// what they had answered, and is due for a call back. A withheld number
/// cannot be called back: counted in the node, no ticket.
#[test]
fn a_caller_who_hangs_up_after_choosing_a_service_gets_a_callback_ticket() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);
    let sip = server.sip.unwrap();
    let known = Phone::new();
    let withheld = Phone::new();
    let rows = vec![
        vec![known.port.to_string(), "13912345678".to_owned()],
        vec![withheld.port.to_string(), "anonymous".to_owned()],
    ];
    // Both hang up 12 s after the answer, while the document menu plays.
    let sipp = std::thread::spawn(move || sipp_calls("quitter.xml", sip, &rows, &["-d", "12000"]));
    std::thread::scope(|s| {
        for phone in [&known, &withheld] {
            s.spawn(move || {
                let at = answer(
                    phone,
                    "zh",
                    &[("welcome", "1"), ("main-menu", "1"), ("matter-menu", "2")],
                    0,
                );
                phone.wait_started(&prompt("zh", "document-menu"), at, LONG);
            });
        }
    });
    let out = sipp.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));

    // The request travels like any other (outbox, then ticketing).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let callbacks = loop {
        let found: Vec<_> = server
            .tickets()
            .into_iter()
            .filter(|t| t["kind"] == "callback")
            .collect();
        if !found.is_empty() || std::time::Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(callbacks.len(), 1, "{callbacks:?}");
    let number = callbacks[0]["number"].as_str().unwrap().to_owned();
    let t = ticket_json(&server, &number);
    assert_eq!(t["state"], "callback", "{t}");
    assert_eq!(t["last_node"], "document", "{t}");
    assert_eq!(t["matter"], "family", "{t}");
    assert_eq!(t["caller_number"], "13912345678", "{t}");
    // The centre owes the caller a call back, to the number they called from.
    let due = server.client(&["callbacks", "due", "--all", "--json"]);
    let due = stdout(&due);
    assert!(
        due.contains(&number) && due.contains("\"phone\":\"13912345678\""),
        "{due}"
    );
    // The withheld caller: counted where they hung up, and nothing else.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = metrics(&server);
        if counter(&text, "unreachable_hangups", "document") == 1
            || std::time::Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        counter(&text, "unreachable_hangups", "document"),
        1,
        "{text}"
    );
    assert_eq!(counter(&text, "abandoned", "document"), 2, "{text}");
    assert_eq!(
        server.tickets().len(),
        1,
        "no ticket for the withheld number"
    );
}

/// The default menu with the operator open around the clock and a transfer
/// URI, written into `dir`.
fn operator_menu(dir: &std::path::Path) -> String {
    let menu = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr/menus/12348.toml"),
    )
    .unwrap()
    .replace(
        "working_day_hours = [\"09:00-12:00\", \"13:30-17:30\"]\nrest_day_hours = []",
        "working_day_hours = [\"00:00-24:00\"]\nrest_day_hours = [\"00:00-24:00\"]",
    )
    .replace("uri = \"\"", "uri = \"sip:operator@127.0.0.1:5999\"");
    assert!(menu.contains("sip:operator@") && menu.contains("00:00-24:00"));
    let path = dir.join("operator.toml");
    std::fs::write(&path, menu).unwrap();
    path.display().to_string()
}

#[test]
fn zero_transfers_the_caller_to_the_operator_by_refer() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let menu = operator_menu(dir.path());
    let server = Server::start(dir.path(), &["serve", "--menu", &menu]);
    let sip = server.sip.unwrap();
    let phone = Phone::new();
    let call = dial("transfer_accept.xml", sip, &phone);
    answer(&phone, "zh", &[("welcome", "1"), ("main-menu", "0")], 0);
    // sipp checks the REFER names the operator, accepts it, reports the
    // operator answered; the IVR then hangs up.
    let out = call.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    let heard = phone.heard();
    assert!(
        common::phone::find(&heard, middle(&prompt("zh", "operator-unavailable"))).is_none(),
        "a transferred caller hears no fallback"
    );
}

#[test]
fn a_refused_transfer_falls_back_to_a_message() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let menu = operator_menu(dir.path());
    let server = Server::start(dir.path(), &["serve", "--menu", &menu]);
    let sip = server.sip.unwrap();
    let phone = Phone::new();
    let call = dial("transfer_decline.xml", sip, &phone);
    let at = answer(&phone, "zh", &[("welcome", "1"), ("main-menu", "0")], 0);
    let at = phone.wait_heard(&prompt("zh", "operator-unavailable"), at, LONG);
    phone.wait_started(&prompt("zh", "callback-ending"), at, LONG);
    let out = call.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
}

/// The binary needs nothing from the checkout: started in an empty
/// directory with no flags, it answers with the 12348 menu and the prompts
/// compiled into it. Only the listening addresses come from the
/// environment, on loopback port 0, so the test never fights another
/// program for the fixed default ports.
#[test]
fn a_server_started_in_an_empty_directory_answers_with_the_embedded_menu() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let mut command = common::bare_hotline(dir.path());
    command.arg("serve");
    for key in [
        "HOTLINE_SIP_LISTEN",
        "HOTLINE_GRPC_LISTEN",
        "HOTLINE_ADMIN_LISTEN",
        "HOTLINE_METRICS_LISTEN",
        "HOTLINE_WEB_LISTEN",
    ] {
        command.env(key, "127.0.0.1:0");
    }
    let server = Server::launch(command);
    let sip = server.sip.unwrap();

    let phone = Phone::new();
    let call = dial("call_flow.xml", sip, &phone);
    // Welcome, Mandarin, the progress lookup; three numbers with a wrong
    // check digit end the call with goodbye.
    let at = answer(
        &phone,
        "zh",
        &[
            ("welcome", "1"),
            ("main-menu", "4"),
            ("progress-enter", "1234567890"),
            ("check-number", "1234567890"),
            ("check-number", "1234567890"),
        ],
        0,
    );
    phone.wait_heard(&prompt("zh", "goodbye"), at, LONG);
    let out = call.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));

    // Everything it wrote is in the data directory under the empty one.
    assert!(dir.path().join("hotline-data/hotline.db").is_file());
    assert!(dir.path().join("hotline-data/ivr-outbox.db").is_file());
}

/// A caller who says their piece and then stops, without pressing `#`, is
/// done after five seconds of silence: the message ends, the ticket is
/// made and its number read out, instead of a two-minute wait.
#[test]
fn a_message_ends_when_the_caller_stops_talking() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);
    let phone = Phone::new();
    let call = dial("call_flow.xml", server.sip.unwrap(), &phone);
    let at = answer(
        &phone,
        "zh",
        &[
            ("welcome", "1"),
            ("main-menu", "2"),
            ("matter-menu", "9"),
            ("document-menu", "9"),
            ("date-harm", "*"),
            ("preservation-question", "9"),
            ("callback-ending", "1"),
        ],
        0,
    );
    let at = phone.wait_heard(&prompt("zh", "beep"), at, LONG);
    phone.speak(speech());
    // No `#`. The result comes long before the 120 s bound would end it.
    let intro = prompt("zh", "your-ticket-number");
    let end = phone.wait_heard(&prompt("zh", "repeat-or-goodbye"), at, LONG);
    let number =
        read_digits_after(&phone.heard()[at..end], &intro, "zh", 10).expect("a reference number");
    let out = call.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    let stopped = server
        .log
        .try_iter()
        .any(|l| l.contains("the caller stopped talking"));
    assert!(stopped, "the IVR logs why the message ended");
    let ticket = ticket_json(&server, &number);
    let ms = ticket["recordings"][0]["duration_ms"].as_i64().unwrap();
    // Three seconds of speech and the five of silence that ended it.
    assert!(
        (7000..=10_000).contains(&ms),
        "message of {ms} ms: {ticket}"
    );
}

/// The Call-ID is the peer's choice: twenty callers whose INVITEs all carry
/// the same one (each from its own sipp, at once) are twenty requests, each
/// with its own ticket and its own recording. Keyed by the Call-ID, the
/// second caller heard the first one's ticket number and the WAVs overwrote
/// each other.
#[test]
fn twenty_calls_with_one_call_id_are_twenty_tickets_and_twenty_recordings() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let calls = 20;
    let dir = tempfile::tempdir().unwrap();
    // A short flow: a message of at most 2 s, the ticket, goodbye.
    let menu = dir.path().join("short.toml");
    std::fs::write(
        &menu,
        r#"[menu]
start = "consult"
languages = ["zh"]

[nodes.consult]
type = "set"
set = { kind = "consultation" }
next = "message"

[nodes.message]
type = "record"
prompt = ["beep"]
max_secs = 2
next = "create"

[nodes.create]
type = "create-ticket"
next = "goodbye"

[nodes.goodbye]
type = "hangup"
prompt = ["goodbye"]
"#,
    )
    .unwrap();
    // Twenty callers from one address: a trunk, as a centre's would be.
    let server = Server::start(
        dir.path(),
        &[
            "serve",
            "--menu",
            menu.to_str().unwrap(),
            "--sip-trusted",
            "127.0.0.1",
        ],
    );
    let sip = server.sip.unwrap();
    let phones: Vec<Phone> = (0..calls).map(|_| Phone::new()).collect();
    let sipps: Vec<_> = phones
        .iter()
        .enumerate()
        .map(|(i, phone)| {
            phone.speak(speech());
            let rows = vec![vec![
                phone.port.to_string(),
                format!("139{:08}", 30_000_000 + i),
            ]];
            std::thread::spawn(move || {
                sipp_calls(
                    "call_flow.xml",
                    sip,
                    &rows,
                    &["-cid_str", "victim-call@10.0.0.1"],
                )
            })
        })
        .collect();
    for sipp in sipps {
        let out = sipp.join().unwrap();
        assert!(out.status.success(), "{}", sipp_report(&out));
    }
    // The IVR did see one Call-ID twenty times.
    let answered = server
        .log
        .try_iter()
        .filter(|l| l.contains("call answered") && l.contains("victim-call@10.0.0.1"))
        .count();
    assert_eq!(answered, calls);
    // The outbox delivers each call's ticket for sure, not at once: an
    // attempt that times out on a loaded machine is retried after 1, 2,
    // 4, 8, 16, 32 s. The wait covers that schedule.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let listed = loop {
        let lines = server.tickets();
        let with_message = lines
            .iter()
            .filter(|t| t["recordings"].as_array().is_some_and(|r| r.len() == 1))
            .count();
        if with_message == calls || std::time::Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(listed.len(), calls, "one ticket per call");
    for t in &listed {
        assert_eq!(t["recordings"].as_array().map(Vec::len), Some(1), "{t}");
    }
    let callers: std::collections::HashSet<_> = listed
        .iter()
        .map(|t| t["caller_number"].to_string())
        .collect();
    assert_eq!(callers.len(), calls, "each ticket is its own caller's");
    let wavs: Vec<_> = std::fs::read_dir(dir.path().join("hotline-data/recordings"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(wavs.len(), calls, "{wavs:?}");
    for name in &wavs {
        let id = name.strip_suffix(".wav").unwrap();
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{name}"
        );
    }
}
