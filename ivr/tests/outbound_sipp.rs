//! The IVR places a call to a sipp UAS (Debian `sip-tester`), plays a
//! prompt and hangs up: INVITE, 180, 200, ACK, BYE, 200 over real UDP.

// test-group: real-time (tests/suite.sh runs these one at a time)

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket as StdUdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hotline_ivr::service::{self, Control, Dial, DialOutcome, IvrConfig, Prompts, Script};
use tokio::sync::{mpsc, oneshot};

fn require_sipp() {
    let found = Command::new("sh")
        .args(["-c", "command -v sipp"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`sipp` is missing: install it with `apt-get install -y sip-tester`"
    );
}

fn free_port() -> u16 {
    StdUdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_a_sipp_uas_completes() {
    require_sipp();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let prompts = Prompts::embedded().unwrap();
    let menus = hotline_ivr::menu::MenuStore::load(
        hotline_ivr::menu::MenuSource::File(root.join("tests/menus/digits.toml")),
        hotline_ivr::prompts::PromptSource::Embedded,
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let outbox = hotline_ivr::tickets::Outbox::open(&data.path().join("outbox.db"))
        .await
        .unwrap();
    // This test only dials out; no ticket is ever created.
    let tickets =
        hotline_ivr::tickets::TicketsClient::new("http://127.0.0.1:1", None, outbox).unwrap();
    let config = IvrConfig {
        advertise: None,
        sip_trusted: Default::default(),
        sip_untrusted: Default::default(),
        calls_per_source: 4,
        rtp_ports: hotline_ivr::service::ports::RtpPorts::new(30000, 30999),
        max_calls: 10,
        load: Default::default(),
        rtp_timeout: Duration::from_secs(30),
        drain_timeout: Duration::from_secs(5),
        answer_delay: Duration::ZERO,
        invite_burst: 20.0,
        invites_per_second: 5.0,
        max_recording_samples: 0,
        recordings_dir: None,
        prompts,
        menus,
        calendar: std::sync::Arc::new(hotline_domain::HolidayCalendar::bundled().unwrap()),
        metrics: Default::default(),
        tickets,
        node_id: "test".into(),
        board: hotline_ivr::admin::CallBoard::new(),
    };
    let (udp, tcp) = service::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (control, control_rx) = mpsc::channel(4);
    let (stop, stopped) = oneshot::channel::<()>();
    let ivr = tokio::spawn(service::run_with_control(
        udp,
        tcp,
        config,
        control_rx,
        async {
            stopped.await.ok();
        },
    ));

    let uas_port = free_port();
    let uas = tokio::task::spawn_blocking(move || {
        Command::new("sipp")
            .args([
                "-sn",
                "uas",
                "-i",
                "127.0.0.1",
                "-m",
                "1",
                "-nostdin",
                "-timeout",
                "30s",
                "-timeout_error",
            ])
            .args(["-p", &uas_port.to_string(), "-mp", &free_port().to_string()])
            .output()
            .unwrap()
    });
    // sipp needs a moment to bind its port before the INVITE arrives; an
    // INVITE sent too early is simply retransmitted after T1.
    let (outcome_tx, outcome_rx) = oneshot::channel();
    control
        .send(Control::Dial(Dial {
            target: format!("127.0.0.1:{uas_port}").parse().unwrap(),
            uri: format!("sip:lawyer@127.0.0.1:{uas_port}"),
            script: Script::Message(("en".into(), "goodbye".into())),
            ring_for: None,
            outcome: outcome_tx,
            abandon: None,
        }))
        .await
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(30), outcome_rx)
        .await
        .expect("the call ends in time")
        .unwrap();
    assert_eq!(outcome, DialOutcome::Completed);
    let out = uas.await.unwrap();
    assert!(
        out.status.success(),
        "sipp UAS: {}\n{}",
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = stop.send(());
    ivr.await.unwrap().unwrap();
}
