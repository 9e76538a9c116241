//! Click-to-call against the real binary: `hotline callbacks call N
//! --lawyer ID` makes the IVR call the lawyer (a sipp UAS), then the caller
//! through the outbound trunk (another sipp UAS, which checks that the
//! caller's number is the request-URI user), and connect the two. Each
//! sipp answers with an SDP naming a UDP socket of this test, so the test
//! itself sends each side's RTP and counts what the other side receives:
//! µ-law from the lawyer reaches the caller as A-law and the other way
//! round, and a key the lawyer presses (RFC 4733) reaches the caller. The
//! caller leg's outcome is a callback attempt in the lawyer's name.

// test-group: real-time (tests/suite.sh runs these one at a time)

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::uas::Uas;
use common::{free_port, require, stderr, stdout, Server};
use hotline_ivr::media::codec::G711;

const CALLER: &str = "13812345678";

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// Waits for the IVR's BYE and answers it.
const WAIT_FOR_BYE: &str = r#"
  <recv request="BYE" timeout="120000"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"#;

/// Talks for a while, then hangs up.
fn hang_up_after(ms: u64) -> String {
    format!(
        r#"
  <pause milliseconds="{ms}"/>
  <send retrans="500">
    <![CDATA[

      BYE sip:12348@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To:[$ivrfrom]
      Call-ID: [call_id]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
"#
    )
}

/// What one side's media socket received from the IVR.
#[derive(Debug, Default, Clone)]
struct Heard {
    /// Packets of the other side's audio, as this side's law makes it
    /// (transcoded when the laws differ): their payload types.
    relayed: Vec<u8>,
    /// RFC 4733 events (the IVR sends none of its own): (payload type, digit).
    events: Vec<(u8, u8)>,
    /// Every other packet: the IVR's prompts, ringback, silence.
    prompts: usize,
    /// The SSRCs everything came with: one stream, prompts and bridge alike.
    ssrcs: std::collections::BTreeSet<u32>,
    /// Whether the first relayed packet carried the marker bit.
    marked: Option<bool>,
}

/// What one side sends: a tone-like payload in its law.
fn payload_in(payload_type: u8) -> Vec<u8> {
    (0..160u32)
        .map(|n| {
            if payload_type == 8 {
                0x35 ^ (n as u8 & 0x0f)
            } else {
                0x20 + (n as u8 & 0x0f)
            }
        })
        .collect()
}

/// `payload_in(from)` as the relay hands it to a leg speaking `to`.
fn relayed(from: u8, to: u8) -> Vec<u8> {
    let law = |pt| if pt == 8 { G711::Pcma } else { G711::Pcmu };
    if from == to {
        return payload_in(from);
    }
    let mut samples = Vec::new();
    law(from).decode(&payload_in(from), &mut samples);
    let mut out = Vec::new();
    law(to).encode(&samples, &mut out);
    out
}

/// The media end of one phone: a UDP socket named in its SDP. Once the IVR
/// sends to it (its prompts), it answers every 20 ms with RTP of its own
/// (`payload_type`, [`payload_in`]) toward where those came from; with
/// `key`, it presses that digit (RFC 4733, `event_type`) a second after the
/// other side's audio began to arrive. `expect` is what the other side's
/// audio looks like when it arrives here.
struct Media {
    port: u16,
    stop: Arc<AtomicBool>,
    heard: Arc<Mutex<Heard>>,
    thread: Option<JoinHandle<()>>,
}

fn rtp(
    payload_type: u8,
    marker: bool,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut p = vec![0x80, (u8::from(marker) << 7) | payload_type];
    p.extend_from_slice(&sequence.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

impl Media {
    fn start(payload_type: u8, event_type: u8, expect: Vec<u8>, key: Option<u8>) -> Media {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let heard = Arc::new(Mutex::new(Heard::default()));
        let (stop2, heard2) = (stop.clone(), heard.clone());
        let thread = std::thread::spawn(move || {
            let payload = payload_in(payload_type);
            let ssrc = 0x5eed_0000 | u32::from(payload_type);
            let mut to: Option<SocketAddr> = None;
            let mut next = Instant::now();
            let (mut sequence, mut timestamp) = (0u16, 0u32);
            let mut bridged_since: Option<Instant> = None;
            let mut keyed = false;
            let mut buf = [0u8; 2048];
            while !stop2.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    if n >= 12 {
                        let pt = buf[1] & 0x7f;
                        let mut h = heard2.lock().unwrap();
                        h.ssrcs
                            .insert(u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]));
                        if pt == 101 || pt == 96 {
                            h.events.push((pt, buf[12]));
                        } else if buf[12..n] == expect[..] {
                            h.marked.get_or_insert(buf[1] & 0x80 != 0);
                            h.relayed.push(pt);
                            bridged_since.get_or_insert_with(Instant::now);
                        } else {
                            h.prompts += 1;
                        }
                        to.get_or_insert(from);
                    }
                }
                let Some(to) = to else { continue };
                if Instant::now() < next {
                    continue;
                }
                next += Duration::from_millis(20);
                let pressing = key.filter(|_| {
                    !keyed && bridged_since.is_some_and(|t| t.elapsed() > Duration::from_secs(1))
                });
                if let Some(digit) = pressing {
                    // One press: start, update, and the end three times.
                    for (i, duration) in [160u16, 320, 480, 480, 480].into_iter().enumerate() {
                        let end = if i >= 2 { 0x80 } else { 0 };
                        let event = [digit, end | 10, (duration >> 8) as u8, duration as u8];
                        let packet = rtp(event_type, i == 0, sequence, timestamp, ssrc, &event);
                        let _ = socket.send_to(&packet, to);
                        sequence = sequence.wrapping_add(1);
                    }
                    keyed = true;
                    timestamp = timestamp.wrapping_add(480);
                    continue;
                }
                let packet = rtp(payload_type, false, sequence, timestamp, ssrc, &payload);
                let _ = socket.send_to(&packet, to);
                sequence = sequence.wrapping_add(1);
                timestamp = timestamp.wrapping_add(160);
            }
        });
        Media {
            port,
            stop,
            heard,
            thread: Some(thread),
        }
    }

    fn heard(mut self) -> Heard {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let heard = self.heard.lock().unwrap().clone();
        heard
    }
}

fn history(server: &Server, number: &str) -> Vec<serde_json::Value> {
    ok(server.client(&["tickets", "history", number, "--json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits until the ticket's history has an event of `kind`.
fn wait_for(server: &Server, number: &str, kind: &str, within: Duration) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + within;
    loop {
        let events = history(server, number);
        if events.iter().any(|e| e["kind"] == kind) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} on {number}: {events:#?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A lawyer reached at `sip_uri`, and a consultation whose caller left
/// `CALLER` to be called back on; returns its number.
fn lawyer_and_ticket(server: &Server, sip_uri: &str) -> String {
    ok(server.client(&[
        "roster",
        "add-lawyer",
        "--id",
        "li",
        "--name",
        "Li",
        "--phone",
        "13900000001",
        "--skills",
        "family",
        "--languages",
        "en",
        "--sip-uri",
        sip_uri,
    ]));
    let out = ok(server.client(&[
        "tickets",
        "create",
        "--kind",
        "consultation",
        "--matter",
        "family",
        "--callback",
        CALLER,
        "--language",
        "en",
        "--json",
    ]));
    let t: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    t["number"].as_str().unwrap().to_owned()
}

/// A leg's scenario values: the request-URI it expects, its media port,
/// law and telephone-event type, and how it ends.
fn leg<'a>(
    dialled: &'a str,
    port: &'a str,
    law: u8,
    event: &'a str,
    ending: &'a str,
) -> [(&'a str, &'a str); 6] {
    let (pt, codec) = if law == 8 {
        ("8", "PCMA")
    } else {
        ("0", "PCMU")
    };
    [
        ("dialled", dialled),
        ("leg_port", port),
        ("leg_pt", pt),
        ("leg_codec", codec),
        ("leg_te", event),
        ("ending", ending),
    ]
}

#[test]
fn click_to_call_connects_lawyer_and_caller_both_ways_and_records_the_attempt() {
    let dir = tempfile::tempdir().unwrap();
    // The lawyer's phone speaks µ-law with keys as payload type 101 and
    // presses 5; the caller's, behind the trunk, speaks A-law with keys as
    // 96 and hangs up after a few seconds of talk (its prompt takes ~9 s).
    let lawyer_media = Media::start(0, 101, relayed(8, 0), Some(5));
    let caller_media = Media::start(8, 96, relayed(0, 8), None);
    let (lawyer_port, caller_port) = (lawyer_media.port.to_string(), caller_media.port.to_string());
    let lawyer = Uas::start(
        "bridge_leg.xml",
        &leg("sip:li@", &lawyer_port, 0, "101", WAIT_FOR_BYE),
        1,
    );
    let caller_dialled = format!("sip:{CALLER}@");
    let hang_up = hang_up_after(14_000);
    let trunk = Uas::start(
        "bridge_leg.xml",
        &leg(&caller_dialled, &caller_port, 8, "96", &hang_up),
        1,
    );
    let server = Server::start(
        dir.path(),
        &[
            "serve",
            "--outbound-trunk",
            &trunk.addr(),
            "--record-callbacks",
        ],
    );
    let number = lawyer_and_ticket(&server, &format!("sip:li@{}", lawyer.addr()));

    let asked = ok(server.client(&["callbacks", "call", &number, "--lawyer", "li"]));
    assert!(asked.contains("will call lawyer li"), "{asked}");
    trunk.finished(Duration::from_secs(120));
    // The caller hung up: the IVR hangs up the lawyer.
    lawyer.finished(Duration::from_secs(20));
    let events = wait_for(
        &server,
        &number,
        "callback_attempt",
        Duration::from_secs(20),
    );
    let (to_lawyer, to_caller) = (lawyer_media.heard(), caller_media.heard());

    // Each side heard the IVR first, then the other side: A-law from the
    // caller became the lawyer's µ-law and the other way round, byte for
    // byte as G.711 says, on the stream the prompts came on (one SSRC),
    // marked where the other voice begins.
    for (who, heard, law) in [("lawyer", &to_lawyer, 0), ("caller", &to_caller, 8)] {
        assert!(heard.prompts > 100, "{who}: {heard:?}");
        assert!(
            heard.relayed.len() > 50,
            "the {who} heard {} packets of the other side",
            heard.relayed.len()
        );
        assert!(
            heard.relayed.iter().all(|pt| *pt == law),
            "{who}: {:?}",
            heard.relayed
        );
        assert_eq!(heard.ssrcs.len(), 1, "{who}: {:?}", heard.ssrcs);
        assert_eq!(heard.marked, Some(true), "{who}");
    }
    // The lawyer's key reached the caller as the caller's telephone-event.
    assert!(
        !to_caller.events.is_empty() && to_caller.events.iter().all(|e| *e == (96, 5)),
        "{:?}",
        to_caller.events
    );

    let attempt = events
        .iter()
        .find(|e| e["kind"] == "callback_attempt")
        .unwrap();
    assert_eq!(attempt["reason"], "answered", "{attempt}");
    assert_eq!(attempt["actor"], "lawyer:li", "{attempt}");
    assert!(
        attempt["note"].as_str().unwrap().contains("connected"),
        "{attempt}"
    );
    // Reached: no callback is due any more.
    let due = ok(server.client(&["callbacks", "due", "--all", "--json"]));
    assert!(!due.contains(&number), "{due}");
    // Recorded, as the setting says: attached to the ticket.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ticket: serde_json::Value =
            serde_json::from_str(&ok(server.client(&["tickets", "show", &number, "--json"])))
                .unwrap();
        if ticket["recordings"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
        {
            break;
        }
        assert!(Instant::now() < deadline, "no recording: {ticket}");
        std::thread::sleep(Duration::from_millis(300));
    }
    // The caller's number is nowhere in the history.
    assert!(!serde_json::to_string(&events).unwrap().contains(CALLER));
}

/// Logs in to the web console with `token` (curl keeps the session), and
/// presses the "Call the caller" button of ticket `number` on /my.
fn console_call(server: &Server, number: &str, token: &str) {
    require("curl", "curl");
    let web = format!("http://{}", server.web.expect("web= in the listening line"));
    let jar = tempfile::NamedTempFile::new().unwrap();
    let jar = jar.path().to_str().unwrap();
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "-b", jar, "-c", jar])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "curl {args:?}: {}", stderr(&out));
        stdout(&out)
    };
    curl(&["-d", &format!("token={token}"), &format!("{web}/login")]);
    let page = curl(&[&format!("{web}/my")]);
    let form = page
        .find(&format!("/tickets/{number}/call\""))
        .unwrap_or_else(|| panic!("no call button for {number} on /my:\n{page}"));
    let csrf = &page[form..];
    let start = csrf.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let csrf = &csrf[start..start + csrf[start..].find('"').unwrap()];
    let status = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        "-d",
        &format!("csrf={csrf}"),
        &format!("{web}/tickets/{number}/call"),
    ]);
    let back = format!("/my?calling={number}");
    assert!(
        status.starts_with("303") && status.ends_with(&back),
        "{status}"
    );
    // The page says the hotline is calling.
    let page = curl(&[&format!("{web}{back}")]);
    assert!(page.contains("id=\"calling\""), "{page}");
}

#[test]
fn a_busy_caller_is_a_failed_attempt_and_the_callback_stays_due() {
    let dir = tempfile::tempdir().unwrap();
    let lawyer_media = Media::start(0, 101, Vec::new(), None);
    let lawyer_port = lawyer_media.port.to_string();
    let lawyer = Uas::start(
        "bridge_leg.xml",
        &leg("sip:li@", &lawyer_port, 0, "101", WAIT_FOR_BYE),
        1,
    );
    let trunk = Uas::start(
        "bridge_busy.xml",
        &[("dialled", &format!("sip:{CALLER}@"))],
        1,
    );
    let server = Server::start(dir.path(), &["serve", "--outbound-trunk", &trunk.addr()]);
    let number = lawyer_and_ticket(&server, &format!("sip:li@{}", lawyer.addr()));
    // Li has the case, and presses "Call the caller" in the console.
    ok(server.client(&["tickets", "transition", &number, "--to", "accepted"]));
    ok(server.client(&[
        "tickets",
        "transition",
        &number,
        "--to",
        "assigned",
        "--lawyer",
        "li",
    ]));
    console_call(&server, &number, &server.lawyer_token("li"));
    trunk.finished(Duration::from_secs(90));
    // The lawyer hears that the caller was not reached; then the IVR hangs up.
    lawyer.finished(Duration::from_secs(40));
    let events = wait_for(
        &server,
        &number,
        "callback_attempt",
        Duration::from_secs(20),
    );
    drop(lawyer_media);
    let attempt = events
        .iter()
        .find(|e| e["kind"] == "callback_attempt")
        .unwrap();
    assert_eq!(attempt["reason"], "busy", "{attempt}");
    assert_eq!(attempt["actor"], "lawyer:li", "{attempt}");
    let due = ok(server.client(&["callbacks", "due", "--all", "--json"]));
    let listed: serde_json::Value = serde_json::from_str(
        due.lines()
            .find(|l| l.contains(&number))
            .unwrap_or_else(|| panic!("{due}")),
    )
    .unwrap();
    assert_eq!(listed["attempts"][0]["outcome"], "busy");
    assert_eq!(listed["attempts"][0]["actor"], "lawyer:li");
    assert!(listed["due_at"].is_string(), "{listed}");
}

#[test]
fn a_lawyer_who_hangs_up_while_the_caller_rings_cancels_it_and_costs_no_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let lawyer_media = Media::start(0, 101, Vec::new(), None);
    let lawyer_port = lawyer_media.port.to_string();
    // The lawyer's message takes ~16 s; they hang up a few seconds into
    // the ringing.
    let hang_up = hang_up_after(24_000);
    let lawyer = Uas::start(
        "bridge_leg.xml",
        &leg("sip:li@", &lawyer_port, 0, "101", &hang_up),
        1,
    );
    // The caller's phone rings until the IVR CANCELs.
    let trunk = Uas::start("lawyer_no_answer.xml", &[], 1);
    let server = Server::start(dir.path(), &["serve", "--outbound-trunk", &trunk.addr()]);
    let number = lawyer_and_ticket(&server, &format!("sip:li@{}", lawyer.addr()));
    ok(server.client(&["callbacks", "call", &number, "--lawyer", "li"]));
    lawyer.finished(Duration::from_secs(60));
    trunk.finished(Duration::from_secs(20));
    drop(lawyer_media);
    let deadline = Instant::now() + Duration::from_secs(20);
    let events = loop {
        let events = history(&server, &number);
        if events.iter().any(|e| {
            e["kind"] == "note"
                && e["note"]
                    .as_str()
                    .is_some_and(|n| n.contains("while the caller's phone rang"))
        }) {
            break events;
        }
        assert!(Instant::now() < deadline, "{events:#?}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        events.iter().all(|e| e["kind"] != "callback_attempt"),
        "{events:#?}"
    );
    let due = ok(server.client(&["callbacks", "due", "--all", "--json"]));
    assert!(due.contains(&number), "still due: {due}");
}

#[test]
fn click_to_call_is_refused_clearly_when_it_cannot_be_placed() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens at the trunk: nothing here gets as far as dialling.
    let trunk = format!("127.0.0.1:{}", free_port());
    let server = Server::start(dir.path(), &["serve", "--outbound-trunk", &trunk]);
    let number = lawyer_and_ticket(&server, "sip:li@127.0.0.1:5999");
    let refused = |out: Output, why: &str| {
        assert!(!out.status.success(), "{}", stdout(&out));
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
    };
    refused(
        server.client(&["callbacks", "call", &number, "--lawyer", "nobody"]),
        "lawyer `nobody` is not on the roster",
    );
    refused(server.client(&["callbacks", "call", &number]), "lawyer");
    refused(
        server.client(&["callbacks", "call", "1234567890", "--lawyer", "li"]),
        "the check digit does not match",
    );
    // A lawyer connects themselves only, and only on their own tickets.
    ok(server.client(&[
        "roster",
        "add-lawyer",
        "--id",
        "wang",
        "--name",
        "Wang",
        "--phone",
        "13900000002",
        "--skills",
        "family",
        "--languages",
        "en",
    ]));
    refused(
        server.as_lawyer("wang", &["callbacks", "call", &number, "--lawyer", "li"]),
        "own calls only",
    );
    refused(
        server.as_lawyer("wang", &["callbacks", "call", &number]),
        "not offered or assigned to them",
    );
    // Nothing was queued: no note on the ticket.
    assert!(history(&server, &number)
        .iter()
        .all(|e| e["kind"] != "note"));
    drop(server);

    // Without a trunk nobody can be called back this way.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);
    let number = lawyer_and_ticket(&server, "sip:li@127.0.0.1:5999");
    refused(
        server.client(&["callbacks", "call", &number, "--lawyer", "li"]),
        "outbound_trunk is not set",
    );
}
