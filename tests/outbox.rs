//! The IVR's outbox after an outage, end to end: one request ticketing will
//! never accept sits in front of twenty it accepts, and one whose recording
//! is over the upload limit. Ticketing is down when the IVR starts and comes
//! up later. Every good request is delivered; the refused ones are set
//! aside with their reason (the ticket of the too-long message is created
//! without it) and shown by `hotline outbox list|check` and the metrics.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{bare_hotline, free_port, stdout, Server};
use hotline_ivr::tickets::{Entry, Outbox};
use hotline_proto::v1 as pb;
use prost::Message;

fn request(key: &str, matter: Option<&str>) -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        idempotency_key: key.to_owned(),
        kind: Some("consultation".into()),
        matter: matter.map(str::to_owned),
        language: Some("zh".into()),
        center: Some("default".into()),
        caller_number: Some("13912345678".into()),
        ..Default::default()
    }
}

fn entry(key: &str, matter: Option<&str>, recording: Option<Vec<u8>>) -> Entry {
    Entry {
        idempotency_key: key.to_owned(),
        request: request(key, matter).encode_to_vec(),
        recording_ms: if recording.is_some() { 1000 } else { 0 },
        recording,
        attempts: 0,
        ticket_number: None,
    }
}

/// A WAV of `samples` samples of silence.
fn wav(samples: usize) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
    for _ in 0..samples {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    out.into_inner()
}

fn outbox_cli(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    bare_hotline(dir).arg("outbox").args(args).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_is_set_aside_and_the_twenty_behind_it_are_delivered() {
    let dir = tempfile::tempdir().unwrap();
    // What calls left while ticketing was down, oldest first.
    {
        let outbox = Outbox::open(&dir.path().join("hotline-data/ivr-outbox.db"))
            .await
            .unwrap();
        outbox
            .put(&entry("ivr-1:refused", Some("no-such-matter"), None), 1)
            .await
            .unwrap();
        let too_long = wav(hotline_domain::limits::MAX_RECORDING_BYTES / 2 + 1000);
        outbox
            .put(&entry("ivr-1:too-long", None, Some(too_long)), 2)
            .await
            .unwrap();
        for i in 0..20 {
            outbox
                .put(
                    &entry(
                        &format!("ivr-1:good-{i:02}"),
                        Some("labor-wages"),
                        Some(wav(800)),
                    ),
                    10 + i,
                )
                .await
                .unwrap();
        }
        outbox.close().await;
    }
    let ticketing_port = free_port();
    let ticketing_url = format!("http://127.0.0.1:{ticketing_port}");
    let listen = format!("127.0.0.1:{ticketing_port}");
    let ticketing_dir = tempfile::tempdir().unwrap();
    common::provision_ivr(ticketing_dir.path(), &listen, dir.path());
    let ivr = Server::start(dir.path(), &["ivr", "--ticketing", &ticketing_url]);
    // The outage: a few delivery attempts fail.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ticketing = Server::start(
        ticketing_dir.path(),
        &["ticketing", "--grpc-listen", &listen],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let tickets = loop {
        let lines = ticketing.tickets();
        let waiting = outbox_cli(dir.path(), &["list", "--json"]);
        let still_waiting = stdout(&waiting).contains("\"waiting\"");
        if (lines.len() == 21 && !still_waiting) || std::time::Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // Twenty good requests with their messages, and the ticket of the
    // too-long message without it; the refused request made none.
    assert_eq!(tickets.len(), 21, "{tickets:?}");
    let with_message = tickets
        .iter()
        .filter(|t| t["recordings"].as_array().is_some_and(|r| r.len() == 1))
        .count();
    assert_eq!(with_message, 20);

    let out = outbox_cli(dir.path(), &["list", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let listed: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["key"], "ivr-1:refused");
    assert_eq!(listed[0]["state"], "dead");
    assert_eq!(listed[0]["ticket_created"], false);
    let reason = listed[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("InvalidArgument") && reason.contains("matter"),
        "{reason}"
    );
    assert_eq!(listed[1]["key"], "ivr-1:too-long");
    assert_eq!(listed[1]["state"], "dead");
    assert_eq!(listed[1]["ticket_created"], true);
    let number = listed[1]["number"].as_str().unwrap();
    assert!(tickets.iter().any(|t| t["number"] == number));
    assert!(listed[1]["reason"]
        .as_str()
        .unwrap()
        .contains("recording refused"));

    // `check` fails while dead letters wait; the metrics count them.
    let out = outbox_cli(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(common::stderr(&out).contains("2 dead letter(s)"));
    let metrics = common::http_get(ivr.metrics.unwrap(), "/metrics");
    assert!(metrics.contains("hotline_outbox_dead 2"), "{metrics}");
    assert!(metrics.contains("hotline_outbox_waiting 0"), "{metrics}");

    // An operator gives the refused one up; the check is clean after the
    // other is dropped too.
    for key in ["ivr-1:refused", "ivr-1:too-long"] {
        let out = outbox_cli(dir.path(), &["drop", key]);
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    let out = outbox_cli(dir.path(), &["drop", "ivr-1:refused"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown key is a usage error"
    );
    assert!(outbox_cli(dir.path(), &["check"]).status.success());
}
