//! Offer latency: from the start of CreateTicket for a critical ticket to
//! the offer arriving on a duty lawyer's WatchOffers stream, through the
//! real `hotline ticketing` binary, on SQLite and on PostgreSQL. Figures
//! are printed, never asserted (speed lives in `bench/offer_latency.sh`,
//! which runs this in release mode at 100 and 1,000 tickets/s); the test
//! asserts only that every ticket was offered once.
//!
//! HOTLINE_BENCH_TICKETS (default 100) and HOTLINE_BENCH_RATE (tickets per
//! second, default 100) set the load; with HOTLINE_BENCH_CALLERS (N > 0), N
//! callers create back to back instead, and the create rate the server
//! sustains is printed.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{stderr, Server};
use hotline_proto::v1 as pb;
use hotline_proto::v1::routing_service_client::RoutingServiceClient;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;

/// Lawyers on duty: at least 10, and enough that nobody's capacity (at
/// most 1,000 open tickets) runs out.
const LAWYERS: usize = 10;

/// Per ticket: when CreateTicket started and how long it took.
type Started = Arc<Mutex<HashMap<String, (Instant, Duration)>>>;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn measure(backend: &str, args: &[&str]) {
    let tickets = env_number("HOTLINE_BENCH_TICKETS", 100);
    let rate = env_number("HOTLINE_BENCH_RATE", 100).max(1);
    let callers = env_number("HOTLINE_BENCH_CALLERS", 0);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), args);
    let from = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = (Utc::now() + chrono::Duration::hours(8)).to_rfc3339();
    let lawyers = LAWYERS.max(tickets.div_ceil(1000));
    for i in 0..lawyers {
        let id = format!("l{i}");
        let out = server.client(&[
            "roster",
            "add-lawyer",
            "--id",
            &id,
            "--name",
            &id,
            "--phone",
            "13900000000",
            "--skills",
            "labor-wages",
            "--capacity",
            "1000",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let out = server.client(&[
            "roster",
            "add-shift",
            "--lawyer",
            &id,
            "--from",
            &from,
            "--to",
            &to,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (latencies, creates, offered, placed_in) = runtime.block_on(async {
        let received: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        for i in 0..lawyers {
            let token = server.lawyer_token(&format!("l{i}"));
            let mut routing = RoutingServiceClient::new(
                common::authed_channel(&server.url(), Some(&token)).await,
            );
            let mut stream = routing
                .watch_offers(pb::WatchOffersRequest {
                    lawyer: format!("l{i}"),
                    after_event_id: 0,
                })
                .await
                .unwrap()
                .into_inner();
            let received = received.clone();
            tokio::spawn(async move {
                while let Ok(Some(e)) = stream.message().await {
                    if e.event == "offered" {
                        if let Some(t) = e.ticket {
                            received.lock().unwrap().insert(t.number, Instant::now());
                        }
                    }
                }
            });
        }
        let client = TicketServiceClient::new(server.channel().await);
        let started: Started = Arc::default();
        let create = move |mut client: TicketServiceClient<_>, i: usize, started: Started| async move {
            let at = Instant::now();
            let t = client
                .create_ticket(pb::CreateTicketRequest {
                    idempotency_key: format!("bench-{i}"),
                    matter: Some("labor-wages".into()),
                    preservation: true,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .ticket
                .unwrap();
            started.lock().unwrap().insert(t.number, (at, at.elapsed()));
        };
        let begin = tokio::time::Instant::now();
        let mut tasks = Vec::new();
        if callers > 0 {
            // Closed loop: each caller creates its next ticket as soon as
            // the last is answered; the rate is what the server sustains.
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            for _ in 0..callers {
                let (client, started, next) = (client.clone(), started.clone(), next.clone());
                tasks.push(tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= tickets {
                            break;
                        }
                        create(client.clone(), i, started.clone()).await;
                    }
                }));
            }
        } else {
            let interval = Duration::from_secs_f64(1.0 / rate as f64);
            for i in 0..tickets {
                tokio::time::sleep_until(begin + interval * i as u32).await;
                tasks.push(tokio::spawn(create(client.clone(), i, started.clone())));
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        let placed_in = begin.elapsed();
        let deadline = Instant::now() + Duration::from_secs(60);
        while received.lock().unwrap().len() < tickets && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let started = started.lock().unwrap();
        let received = received.lock().unwrap();
        let mut latencies: Vec<Duration> = started
            .iter()
            .filter_map(|(n, (at, _))| received.get(n).map(|r| r.saturating_duration_since(*at)))
            .collect();
        latencies.sort();
        let mut creates: Vec<Duration> = started.values().map(|(_, took)| *took).collect();
        creates.sort();
        (latencies, creates, received.len(), placed_in)
    });
    assert_eq!(
        offered, tickets,
        "every critical ticket reached a lawyer's stream"
    );
    let ms = |sorted: &[Duration], q: f64| {
        sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)].as_secs_f64() * 1000.0
    };
    let load = if callers > 0 {
        format!(
            "{tickets} tickets from {callers} callers back to back: {:.0} created/s",
            tickets as f64 / placed_in.as_secs_f64()
        )
    } else {
        format!("{tickets} tickets at {rate}/s")
    };
    eprintln!(
        "offer latency ({backend}, {load}): p50 {:.1} ms, p99 {:.1} ms, \
         max {:.1} ms; CreateTicket p50 {:.1} ms, p99 {:.1} ms",
        ms(&latencies, 0.50),
        ms(&latencies, 0.99),
        ms(&latencies, 1.0),
        ms(&creates, 0.50),
        ms(&creates, 0.99),
    );
}

#[test]
fn critical_tickets_reach_a_lawyer_stream_sqlite() {
    measure("sqlite", &["ticketing"]);
}

#[test]
fn critical_tickets_reach_a_lawyer_stream_postgres() {
    common::require("psql", "postgresql");
    let base = std::env::var("HOTLINE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let name = format!("hotline_t_{:016x}", rand::random::<u64>());
    let run = |sql: &str| {
        let out = std::process::Command::new("psql")
            .args([base.as_str(), "-At", "-c", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    run(&format!("CREATE DATABASE {name}"));
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    measure("postgres", &["ticketing", "--database-url", &url]);
    run(&format!("DROP DATABASE {name} WITH (FORCE)"));
}
