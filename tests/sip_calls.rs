//! Real SIP calls into a running `hotline serve`, placed by sipp (Debian
//! `sip-tester`) over UDP on loopback. These tests share one lock so they
//! run one at a time and do not fight over the 2 cores.

// test-group: real-time (tests/suite.sh runs these one at a time)

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{digits_menu, free_port, stderr, stdout, Server};

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs one sipp call of `scenario` (from tests/sipp) against `target`,
/// with `[key]` placeholders of ours replaced first (sipp's own `-key` does
/// not reach attributes such as `<recv response="[status]">`).
fn sipp(scenario: &str, target: SocketAddr, values: &[(&str, &str)]) -> Output {
    sipp_with(scenario, target, values, &[])
}

/// [`sipp`] with extra sipp options, e.g. `-t t1` for TCP.
fn sipp_with(
    scenario: &str,
    target: SocketAddr,
    values: &[(&str, &str)],
    options: &[&str],
) -> Output {
    common::require("sipp", "sip-tester");
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(scenario);
    let mut text = std::fs::read_to_string(&source).unwrap();
    for (key, value) in values {
        text = text.replace(&format!("[{key}]"), value);
    }
    let file: PathBuf = dir.path().join(scenario);
    std::fs::write(&file, text).unwrap();
    Command::new("sipp")
        .arg("-sf")
        .arg(&file)
        .args([
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-nostdin",
            "-timeout",
            "40s",
            "-timeout_error",
        ])
        .args([
            "-p",
            &free_port().to_string(),
            "-mp",
            &free_port().to_string(),
        ])
        .args(options)
        .arg(target.to_string())
        .current_dir(dir.path())
        .output()
        .unwrap()
}

fn succeeded(out: &Output) -> bool {
    out.status.success()
}

fn explain(out: &Output) -> String {
    format!(
        "sipp exit {:?}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .take(25)
            .collect::<Vec<_>>()
            .join("\n"),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Waits for a server log line containing `needle`.
fn wait_log(server: &Server, needle: &str) -> Result<String, Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match server.log.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return Ok(line),
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    Err(seen)
}

fn start() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve", "--menu", &digits_menu()]);
    (dir, server)
}

#[test]
fn rfc4733_digits_from_sipp_captures_pcmu_and_pcma() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, server) = start();
    let sip = server.sip.unwrap();
    for (pt, name) in [("0", "PCMU"), ("8", "PCMA")] {
        let out = sipp(
            "dtmf_rfc4733.xml",
            sip,
            &[("codec_pt", pt), ("codec_name", name)],
        );
        assert!(succeeded(&out), "{name}: {}", explain(&out));
        let line =
            wait_log(&server, "call ended").unwrap_or_else(|seen| panic!("{name}: {seen:#?}"));
        assert!(
            line.contains("digits=11#"),
            "{name}: the IVR must report exactly 1 1 #: {line}"
        );
        assert!(
            line.contains("138****5678"),
            "caller masked in the log: {line}"
        );
    }
}

#[test]
fn sip_info_digits() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, server) = start();
    let out = sipp("dtmf_info.xml", server.sip.unwrap(), &[]);
    assert!(succeeded(&out), "{}", explain(&out));
    let line = wait_log(&server, "call ended").unwrap_or_else(|seen| panic!("{seen:#?}"));
    assert!(line.contains("digits=42#"), "{line}");
}

/// The duplicate-digit counter of the IVR's metrics, all sources.
fn duplicate_digits(server: &Server) -> u64 {
    common::http_get(server.metrics.unwrap(), "/metrics")
        .lines()
        .filter_map(|l| l.strip_prefix("hotline_ivr_duplicate_digits_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A gateway reporting every key as SIP INFO and as RFC 4733 events, in
/// either order: one press is one digit.
#[test]
fn keys_sent_as_sip_info_and_rfc4733_count_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, server) = start();
    let out = sipp(
        "dtmf_info_and_rfc4733.xml",
        server.sip.unwrap(),
        &[("codec_pt", "0"), ("codec_name", "PCMU")],
    );
    assert!(succeeded(&out), "{}", explain(&out));
    let line = wait_log(&server, "call ended").unwrap_or_else(|seen| panic!("{seen:#?}"));
    assert!(line.contains("digits=11# "), "each key once: {line}");
    assert_eq!(
        duplicate_digits(&server),
        3,
        "three copies dropped and counted"
    );
}

/// `1 1 #` as DTMF tones at -8 dBm0 per tone, 100 ms each, 400 ms apart,
/// after a second of silence: a u-law WAV, the format sipp's rtp_stream
/// sends as PCMU, made with sox.
fn tone_file(dir: &Path) -> PathBuf {
    common::require("sox", "sox");
    let sox = |args: &[&str]| {
        let out = Command::new("sox")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sox {args:?}: {}",
            common::stderr(&out)
        );
    };
    let level = format!("{}", 10f64.powf((-8.0 - 3.17) / 20.0));
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "16",
        "gap1000.wav",
        "trim",
        "0",
        "1.0",
    ]);
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "16",
        "gap400.wav",
        "trim",
        "0",
        "0.4",
    ]);
    for (name, low, high) in [("one", "697", "1209"), ("pound", "941", "1477")] {
        let part =
            |hz: &str| format!("|sox -n -r 8000 -c 1 -b 16 -p synth 0.1 sine {hz} vol {level}");
        sox(&["-m", &part(low), &part(high), &format!("{name}.wav")]);
    }
    sox(&[
        "gap1000.wav",
        "one.wav",
        "gap400.wav",
        "one.wav",
        "gap400.wav",
        "pound.wav",
        "gap1000.wav",
        "-e",
        "u-law",
        "tones.wav",
    ]);
    dir.join("tones.wav")
}

/// One call of `scenario` streaming the tone file: the keys the IVR took
/// and the copies it dropped.
fn tone_call(scenario: &str) -> (String, u64) {
    let (dir, server) = start();
    let tones = tone_file(dir.path());
    let out = sipp(
        scenario,
        server.sip.unwrap(),
        &[("tones", tones.to_str().unwrap())],
    );
    assert!(succeeded(&out), "{}", explain(&out));
    let line = wait_log(&server, "call ended").unwrap_or_else(|seen| panic!("{seen:#?}"));
    (line, duplicate_digits(&server))
}

/// A phone that sends its keys only as tones in the audio (no
/// telephone-event offered): the IVR hears them inside the live call.
#[test]
fn keys_sent_as_tones_in_the_audio_are_heard_in_a_live_call() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (line, dropped) = tone_call("dtmf_inband.xml");
    assert!(line.contains("digits=11# "), "{line}");
    assert_eq!(dropped, 0);
}

/// The common gateway: tones left in the audio and SIP INFO for the same
/// presses. One press is one digit.
#[test]
fn keys_sent_as_tones_and_sip_info_count_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (line, dropped) = tone_call("dtmf_inband_and_info.xml");
    assert!(line.contains("digits=11# "), "each key once: {line}");
    assert_eq!(dropped, 3, "three copies dropped and counted");
}

#[test]
fn the_caller_hangs_up() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, server) = start();
    let out = sipp("caller_hangs_up.xml", server.sip.unwrap(), &[]);
    assert!(succeeded(&out), "{}", explain(&out));
    wait_log(&server, "caller hung up").unwrap_or_else(|seen| panic!("{seen:#?}"));
}

#[test]
fn hostile_input_is_answered_or_ignored_and_calls_go_on() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, server) = start();
    let sip = server.sip.unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    // Garbage and an oversized datagram: no answer, no crash.
    socket.send_to(b"\x00\x01\x02garbage", sip).unwrap();
    socket.send_to(&vec![b'A'; 30_000], sip).unwrap();
    // A request that parses badly but can be answered: 400 naming the fault.
    let bad = "OPTIONS sip:12348@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad\r\n\
               From: <sip:x@y>;tag=1\r\nTo: <sip:12348@127.0.0.1>\r\nCall-ID: bad-1\r\nCSeq: x OPTIONS\r\n\r\n";
    socket.send_to(bad.as_bytes(), sip).unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = socket.recv_from(&mut buf).expect("a 400 comes back");
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("SIP/2.0 400"), "{answer}");
    assert!(answer.contains("CSeq"), "{answer}");
    // An offer with no common codec (G.729 only): 488.
    let out = sipp(
        "invite_refused.xml",
        sip,
        &[
            ("codec_pt", "18"),
            ("codec_name", "G729"),
            ("status", "488"),
        ],
    );
    assert!(succeeded(&out), "{}", explain(&out));
    // And the server still takes calls.
    let out = sipp(
        "dtmf_rfc4733.xml",
        sip,
        &[("codec_pt", "0"), ("codec_name", "PCMU")],
    );
    assert!(succeeded(&out), "{}", explain(&out));
}

#[test]
fn sigterm_drains_calls_and_exits_zero() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, mut server) = start();
    let sip = server.sip.unwrap();
    assert!(succeeded(&sipp("options.xml", sip, &[("status", "200")])));
    // A call that lasts a few seconds, started before the signal.
    let call = std::thread::spawn(move || sipp("caller_hangs_up.xml", sip, &[]));
    std::thread::sleep(Duration::from_millis(800));
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_millis(200));
    let out = sipp("options.xml", sip, &[("status", "503")]);
    assert!(succeeded(&out), "OPTIONS while draining: {}", explain(&out));
    let out = sipp(
        "invite_refused.xml",
        sip,
        &[("codec_pt", "0"), ("codec_name", "PCMU"), ("status", "503")],
    );
    assert!(succeeded(&out), "INVITE while draining: {}", explain(&out));
    let out = call.join().unwrap();
    assert!(
        succeeded(&out),
        "the call in progress finishes: {}",
        explain(&out)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit after draining"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_invite_without_sdp_gets_an_offer_in_the_200() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, server) = start();
    let out = sipp("offerless.xml", server.sip.unwrap(), &[]);
    assert!(succeeded(&out), "{}", explain(&out));
    let line = wait_log(&server, "call ended").unwrap_or_else(|seen| panic!("{seen:#?}"));
    assert!(line.contains("digits=1#"), "{line}");
}

#[test]
fn cancel_while_ringing_gets_487() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "serve",
            "--menu",
            &digits_menu(),
            "--answer-delay-ms",
            "3000",
        ],
    );
    let out = sipp("cancel.xml", server.sip.unwrap(), &[]);
    assert!(succeeded(&out), "{}", explain(&out));
    wait_log(&server, "caller gave up before the answer")
        .unwrap_or_else(|seen| panic!("{seen:#?}"));
}

#[test]
fn the_admin_api_lists_live_calls_and_streams_their_events() {
    use hotline_proto::v1 as pb;
    use hotline_proto::v1::ivr_admin_client::IvrAdminClient;
    use tokio_stream::StreamExt;

    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, server) = start();
    let sip = server.sip.unwrap();
    let admin = format!(
        "http://{}",
        server.admin.expect("the listening line names admin=")
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // Without a token the board shows nothing.
        let mut bare = IvrAdminClient::connect(admin).await.unwrap();
        let refused = bare.list_calls(pb::ListCallsRequest {}).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
        // A lawyer's token does not open it either, and the refusal is in
        // ticketing's audit log like ticketing's own.
        let added = server.client(&[
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
        ]);
        assert!(added.status.success(), "{}", stderr(&added));
        let lawyer = server.lawyer_token("li");
        let mut as_lawyer = IvrAdminClient::new(
            common::authed_channel(&format!("http://{}", server.admin.unwrap()), Some(&lawyer))
                .await,
        );
        let refused = as_lawyer
            .list_calls(pb::ListCallsRequest {})
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
        let audit = server.client(&["audit", "list", "--json", "--actor", "lawyer:li"]);
        assert!(
            stdout(&audit).contains("/hotline.v1.IvrAdmin/ListCalls")
                && stdout(&audit).contains("denied"),
            "{}{}",
            stdout(&audit),
            stderr(&audit)
        );
        let mut client = IvrAdminClient::new(server.admin_api().await);
        let mut events = client
            .watch_call_events(pb::WatchCallEventsRequest {})
            .await
            .unwrap()
            .into_inner();
        let call = std::thread::spawn(move || sipp("caller_hangs_up.xml", sip, &[]));
        let mut listed = None;
        for _ in 0..100 {
            let calls = client
                .list_calls(pb::ListCallsRequest {})
                .await
                .unwrap()
                .into_inner()
                .calls;
            if let Some(c) = calls.into_iter().find(|c| c.state == "answered") {
                listed = Some(c);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let listed = listed.expect("the call is listed while it lasts");
        assert_eq!(listed.caller, "138****5678", "masked");
        assert_eq!(listed.called, "12348");
        assert!(!listed.call_id.is_empty());

        let mut kinds = Vec::new();
        while let Ok(Some(event)) =
            tokio::time::timeout(std::time::Duration::from_secs(15), events.next()).await
        {
            let event = event.unwrap();
            assert_eq!(event.call_id, listed.call_id);
            kinds.push(event.kind.clone());
            if event.kind == "ended" {
                break;
            }
        }
        assert_eq!(
            kinds[..3],
            ["incoming", "answered", "position"],
            "{kinds:?}"
        );
        assert_eq!(kinds.last().map(String::as_str), Some("ended"), "{kinds:?}");
        let out = tokio::task::spawn_blocking(move || call.join().unwrap())
            .await
            .unwrap();
        assert!(succeeded(&out), "{}", explain(&out));
        let calls = client
            .list_calls(pb::ListCallsRequest {})
            .await
            .unwrap()
            .into_inner()
            .calls;
        assert!(
            calls.is_empty(),
            "an ended call is no longer listed: {calls:?}"
        );
    });
}

#[test]
fn a_call_over_tcp() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, server) = start();
    let out = sipp_with(
        "dtmf_rfc4733.xml",
        server.sip.unwrap(),
        &[("codec_pt", "0"), ("codec_name", "PCMU")],
        &["-t", "t1"],
    );
    assert!(succeeded(&out), "{}", explain(&out));
    let line = wait_log(&server, "call ended").unwrap_or_else(|seen| panic!("{seen:#?}"));
    assert!(line.contains("digits=11#"), "{line}");
}

/// Idle TCP connections cannot take the IVR's descriptors: past eight
/// from one address, new ones are closed at once; with them gone, a call
/// over TCP goes through.
#[test]
fn idle_tcp_connections_from_one_address_are_capped_and_calls_go_on() {
    use std::io::Read;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, server) = start();
    let sip = server.sip.unwrap();
    let idle: Vec<std::net::TcpStream> = (0..20)
        .map(|_| std::net::TcpStream::connect(sip).unwrap())
        .collect();
    let mut closed = 0;
    for mut stream in &idle {
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut byte = [0u8; 1];
        if matches!(stream.read(&mut byte), Ok(0)) {
            closed += 1;
        }
    }
    assert_eq!(closed, 12, "eight stay open, twelve are closed");
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));
    let out = sipp_with(
        "dtmf_rfc4733.xml",
        sip,
        &[("codec_pt", "0"), ("codec_name", "PCMU")],
        &["-t", "t1"],
    );
    assert!(succeeded(&out), "{}", explain(&out));
}

#[test]
fn hold_and_resume_by_reinvite() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_dir, server) = start();
    // The scenario stops with a failure if an answer has the wrong direction.
    let out = sipp("hold_resume.xml", server.sip.unwrap(), &[]);
    assert!(succeeded(&out), "{}", explain(&out));
    wait_log(&server, "direction=RecvOnly").unwrap_or_else(|seen| panic!("{seen:#?}"));
}

/// Bound to every address (the default is 0.0.0.0:5060), the IVR must put
/// the address the caller reached into SDP and Contact, never 0.0.0.0.
#[test]
fn a_wildcard_listener_advertises_the_address_the_caller_reached() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "serve",
            "--menu",
            &digits_menu(),
            "--sip-listen",
            "0.0.0.0:0",
        ],
    );
    let port = server.sip.unwrap().port();
    let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let out = sipp(
        "dtmf_rfc4733.xml",
        target,
        &[("codec_pt", "0"), ("codec_name", "PCMU")],
    );
    assert!(succeeded(&out), "{}", explain(&out));
    let line = wait_log(&server, "call ended").unwrap_or_else(|seen| panic!("{seen:#?}"));
    assert!(
        line.contains("digits=11#"),
        "RTP reached the advertised address: {line}"
    );
}
