//! Store-level create rate: tickets created through `Ticketing::create` (the
//! front door the gRPC handler calls, without gRPC) by many concurrent
//! callers, beside the raw one-row commit rate of the same database with
//! the same durability measured the same way (sqlx, the same number of
//! callers). Normal tickets (the ticket and its event) and critical ones
//! (with their first offer) are measured apart, on SQLite (WAL,
//! `synchronous=FULL`) and on PostgreSQL.
//!
//!   cargo bench -p hotline-ticketing --bench create_rate
//!
//! Settings come from the environment: HOTLINE_BENCH_TICKETS (per run,
//! default 5000), HOTLINE_BENCH_CONCURRENCY (callers, default 64),
//! HOTLINE_BENCH_BACKENDS (`sqlite,postgres`), HOTLINE_TEST_POSTGRES_URL (an
//! admin URL; a scratch database is made and dropped). Output: one line per
//! figure and a CSV line per run (`csv,…`) for bench/run-all.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use hotline_domain::{Language, Matter, PhoneNumber, PriorityGroup, RegionCode, TicketKind};
use hotline_ticketing::clock::SystemClock;
use hotline_ticketing::limitation::Limitation;
use hotline_ticketing::routing::Lawyer;
use hotline_ticketing::tickets::{Flags, NewTicket};
use hotline_ticketing::{Store, Ticketing};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn new_ticket(key: String, critical: bool) -> NewTicket {
    NewTicket {
        idempotency_key: key,
        proposed_number: None,
        kind: TicketKind::Application,
        matter: Some(Matter::LaborWages),
        caller_number: PhoneNumber::parse("13812345678").ok(),
        callback_number: PhoneNumber::parse("13812345678").ok(),
        event_date: None,
        document: None,
        chosen_rule: None,
        preservation: critical,
        priority_group: PriorityGroup::MigrantWorker,
        language: Language::Zh,
        center: "default".to_owned(),
        region: RegionCode::parse("110108").ok(),
        summary: String::new(),
        flags: Flags::default(),
        last_node: None,
        actor: "ivr".to_owned(),
    }
}

/// Runs `job(i)` for i in 0..total from `concurrency` callers; returns the
/// rate per second and the sorted latencies.
async fn drive<F, Fut>(total: usize, concurrency: usize, job: F) -> (f64, Vec<Duration>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let began = Instant::now();
    let mut callers = Vec::new();
    for _ in 0..concurrency {
        let (job, next) = (job.clone(), next.clone());
        callers.push(tokio::spawn(async move {
            let mut took = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return took;
                }
                let at = Instant::now();
                job(i).await;
                took.push(at.elapsed());
            }
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for caller in callers {
        latencies.extend(caller.await.unwrap());
    }
    let rate = total as f64 / began.elapsed().as_secs_f64();
    latencies.sort();
    (rate, latencies)
}

fn ms(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

async fn measure(backend: &str, tickets: usize, concurrency: usize) {
    let (store, db) = match backend {
        "sqlite" => support::sqlite().await,
        _ => support::postgres().await,
    };
    // SQLite takes one writer at a time: its ceiling is one caller
    // committing back to back (more would only wait in the busy handler).
    // PostgreSQL's is several clients, as pgbench measures it in run-all.
    let raw_callers = if backend == "sqlite" { 1 } else { 8 };
    let raw = raw_commits(&store, tickets, raw_callers).await;
    let ticketing = Ticketing::new(
        store.clone(),
        Arc::new(SystemClock),
        Arc::new(Limitation::bundled().unwrap()),
    );
    let now = Utc::now();
    for i in 0..10 {
        let id = format!("l{i}");
        let lawyer = Lawyer {
            id: id.clone(),
            center: "default".into(),
            name: id.clone(),
            phone: "13900000000".into(),
            sip_uri: None,
            skills: vec!["labor-wages".into()],
            regions: vec![],
            languages: vec!["zh".into()],
            capacity: 100_000,
            active: true,
        };
        store.put_lawyer(&lawyer, now).await.unwrap();
        store
            .add_shift(
                &id,
                now - chrono::Duration::hours(1),
                now + chrono::Duration::hours(8),
            )
            .await
            .unwrap()
            .unwrap();
    }
    println!(
        "{backend}: raw one-row commits {:.0}/s (p50 {:.2} ms, p99 {:.2} ms), {raw_callers} callers",
        raw.0,
        ms(&raw.1, 0.5),
        ms(&raw.1, 0.99)
    );
    println!(
        "csv,{backend},raw,{raw_callers},{:.0},{:.3},{:.3}",
        raw.0,
        ms(&raw.1, 0.5),
        ms(&raw.1, 0.99)
    );
    for (kind, critical) in [("normal", false), ("critical", true)] {
        let t = ticketing.clone();
        let (rate, latencies) = drive(tickets, concurrency, move |i| {
            let t = t.clone();
            async move {
                let (_, created) = t
                    .create(&new_ticket(format!("{kind}-{i}"), critical))
                    .await
                    .unwrap();
                assert!(created);
            }
        })
        .await;
        println!(
            "{backend}: {kind} creates {rate:.0}/s = {:.0} % of raw (p50 {:.2} ms, p99 {:.2} ms)",
            100.0 * rate / raw.0,
            ms(&latencies, 0.5),
            ms(&latencies, 0.99)
        );
        println!(
            "csv,{backend},{kind},{concurrency},{rate:.0},{:.3},{:.3}",
            ms(&latencies, 0.5),
            ms(&latencies, 0.99)
        );
    }
    db.finish(store).await;
}

/// One INSERT of one row per transaction, through the store's own pool
/// (the same connection settings, so the same durability).
async fn raw_commits(store: &Store, total: usize, concurrency: usize) -> (f64, Vec<Duration>) {
    let pool = store.pool().clone();
    sqlx::query("CREATE TABLE bench_raw (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    let (rate, latencies) = drive(total, concurrency, move |i| {
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("INSERT INTO bench_raw (id, payload) VALUES ($1, $2)")
                .bind(i as i64)
                .bind("a ticket's worth of text")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    })
    .await;
    (rate, latencies)
}

fn main() {
    let tickets = env_number("HOTLINE_BENCH_TICKETS", 5000);
    let concurrency = env_number("HOTLINE_BENCH_CONCURRENCY", 64).max(1);
    let backends =
        std::env::var("HOTLINE_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for backend in backends.split(',').map(str::trim) {
        runtime.block_on(measure(backend, tickets, concurrency));
    }
}
