//! The ticketing gRPC server: the ticket API, health checking and server
//! reflection (v1 and v1alpha) on one listener, so grpcurl works as is, and
//! the background work beside it (the routing scheduler, the daily
//! re-evaluation, the event readers), drained when the API stops.

use std::future::Future;
use std::time::Duration;

use hotline_proto::v1::access_service_server::AccessServiceServer;
use hotline_proto::v1::report_service_server::ReportServiceServer;
use hotline_proto::v1::routing_service_server::RoutingServiceServer;
use hotline_proto::v1::ticket_service_server::TicketServiceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;

use tracing::{info, warn};

use crate::api::access::AccessApi;
use crate::api::gate::Gate;
use crate::api::reports::ReportApi;
use crate::api::routing::RoutingApi;
use crate::api::wakes::{LawyerWakes, RecentEvents};
use crate::api::TicketApi;
use crate::service::Ticketing;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The largest request of the routing and access services.
const SMALL_MESSAGE: usize = 64 * 1024;
/// Requests and streams open at once on one connection.
const MAX_STREAMS_PER_CONNECTION: u32 = 64;
/// How long a request may take to be answered (a stream: to start).
const REQUEST_TIME_LIMIT: Duration = Duration::from_secs(60);

/// Serves the ticketing API on `listener` until `shutdown` completes, then
/// lets requests in flight finish.
pub async fn run(
    listener: TcpListener,
    ticketing: Ticketing,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    run_with_tls(listener, ticketing, None, shutdown).await
}

/// [`run`], serving TLS (rustls) with `tls` when given.
pub async fn run_with_tls(
    listener: TcpListener,
    ticketing: Ticketing,
    tls: Option<tonic::transport::Identity>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    run_node(listener, None, ticketing, tls, shutdown).await
}

/// The web console's listener and what it needs besides ticketing.
pub struct WebListener {
    pub listener: TcpListener,
    pub options: crate::web::ConsoleOptions,
}

/// [`run_with_tls`], and the web console on `web` when given.
pub async fn run_node(
    listener: TcpListener,
    web: Option<WebListener>,
    ticketing: Ticketing,
    tls: Option<tonic::transport::Identity>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<TicketServiceServer<TicketApi>>()
        .await;

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(hotline_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(hotline_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    // Background work stops when the API has: a pass in progress finishes.
    let (stop_background, background_stop) = watch::channel(false);
    let reevaluation = tokio::spawn(reevaluate_daily(ticketing.clone(), background_stop.clone()));
    let retention = tokio::spawn(retention_daily(ticketing.clone(), background_stop.clone()));
    let scheduler = tokio::spawn(route_due(ticketing.clone(), background_stop.clone()));
    let wake = ticketing.store().commits();
    let listen_store = ticketing.store().clone();
    let listen_wake = wake.clone();
    // The listeners only read; stopping them mid-wait loses nothing.
    let listener_task = tokio::spawn(until(background_stop.clone(), async move {
        listen_store.listen_for_events(listen_wake).await
    }));
    let lawyer_wakes = std::sync::Arc::new(LawyerWakes::default());
    let recent = std::sync::Arc::new(RecentEvents::default());
    let wake_reader = tokio::spawn(until(
        background_stop,
        crate::api::wakes::run(
            ticketing.clone(),
            wake,
            lawyer_wakes.clone(),
            recent.clone(),
        ),
    ));
    // Every method but health and reflection passes the gate.
    let gate = Gate::new(ticketing.clone());
    // Seen by the select below, to bound the drain, and by the console.
    let (shutdown_fired, shutdown_seen) = watch::channel(false);
    let console = web.map(|web| {
        let stop = shutdown_seen.clone();
        let serve = crate::web::serve(
            web.listener,
            ticketing.clone(),
            gate.clone(),
            recent.clone(),
            web.options,
            stopped(stop.clone()),
        );
        tokio::spawn(async move {
            // Open event streams would hold a graceful stop for ever: they
            // get the same grace as gRPC streams.
            tokio::select! {
                served = serve => if let Err(e) = served {
                    warn!(error = %e, "the web console stopped");
                },
                () = async {
                    stopped(stop).await;
                    tokio::time::sleep(hotline_proto::STREAM_GRACE).await;
                } => {}
            }
        })
    });
    // Bounded messages on every service: a roster entry or a token request
    // is a few hundred bytes.
    let routing = RoutingServiceServer::new(RoutingApi::new(
        ticketing.clone(),
        gate.clone(),
        recent,
        lawyer_wakes,
    ))
    .max_decoding_message_size(SMALL_MESSAGE);
    let access = AccessServiceServer::new(AccessApi::new(ticketing.clone(), gate.clone()))
        .max_decoding_message_size(SMALL_MESSAGE);
    // An IVR node's report lists up to 200 calls and 5,000 counts.
    let reports = ReportServiceServer::new(ReportApi::new(ticketing.clone(), gate.clone()))
        .max_decoding_message_size(1024 * 1024);
    let api = TicketServiceServer::new(TicketApi::new(ticketing, gate))
        // Bounded messages: a create with a 4 KiB summary is far below this.
        .max_decoding_message_size(256 * 1024);

    let shutdown = async move {
        shutdown.await;
        // Said first, so that IVR nodes balancing over several ticketing
        // nodes (they ask each node's health every second) send new
        // requests elsewhere while this one finishes what it has.
        health_reporter
            .set_not_serving::<TicketServiceServer<TicketApi>>()
            .await;
        let _ = shutdown_fired.send(true);
    };
    let mut builder = Server::builder();
    if let Some(identity) = tls {
        builder =
            builder.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))?;
    }
    let serve = builder
        // One connection may not open streams without end.
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .concurrency_limit_per_connection(MAX_STREAMS_PER_CONNECTION as usize)
        // No request holds a slot for ever: a stream's messages are not
        // bounded (only the wait for its first answer), a recording
        // upload is, whole.
        .timeout(REQUEST_TIME_LIMIT)
        .trace_fn(|request| {
            tracing::info_span!(
                "grpc",
                method = %request.uri().path(),
                ticket = tracing::field::Empty,
            )
        })
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(api)
        .add_service(routing)
        .add_service(access)
        .add_service(reports)
        // Without TCP_NODELAY, HTTP/2's separate header and data writes meet
        // Nagle's algorithm and delayed ACKs: 40 ms per answer.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener)
                .with_nodelay(Some(true))
                .with_keepalive(Some(Duration::from_secs(60))),
            shutdown,
        );
    tokio::pin!(serve);
    // A lawyer's or supervisor's stream never ends by itself: after the
    // shutdown, requests in flight get STREAM_GRACE, then connections close.
    let served = tokio::select! {
        served = &mut serve => served,
        () = async {
            stopped(shutdown_seen).await;
            tokio::time::sleep(hotline_proto::STREAM_GRACE).await;
        } => {
            info!("streams still open after the grace period; closing them");
            Ok(())
        }
    };
    let _ = stop_background.send(true);
    if let Some(console) = console {
        if let Err(e) = console.await {
            warn!(error = %e, "the web console task failed");
        }
    }
    for task in [
        reevaluation,
        retention,
        scheduler,
        listener_task,
        wake_reader,
    ] {
        if let Err(e) = task.await {
            warn!(error = %e, "a ticketing background task failed");
        }
    }
    served?;
    Ok(())
}

/// Resolves once `stop` has seen `true` (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Runs `work` until `stop`.
async fn until(stop: watch::Receiver<bool>, work: impl Future<Output = ()>) {
    tokio::select! {
        () = work => {}
        () = stopped(stop) => {}
    }
}

/// How often the routing scheduler looks for due timers. Deadlines are
/// stored, so a restart processes overdue ones at once.
const ROUTING_TICK: Duration = Duration::from_millis(500);

/// Runs the routing scheduler: missed offers move on, escalation rounds
/// repeat, urgent tickets whose routing was interrupted get routed.
async fn route_due(ticketing: Ticketing, stop: watch::Receiver<bool>) {
    loop {
        match ticketing.run_routing().await {
            Ok(0) => {}
            Ok(handled) => tracing::debug!(handled, "routing timers processed"),
            Err(e) => warn!(error = %e, "routing scheduler pass failed; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(ROUTING_TICK) => {}
            () = stopped(stop.clone()) => return,
        }
    }
}

/// Removes recordings and anonymises personal data whose time is up, once
/// a day (claimed in the database, so one node runs it), starting now.
async fn retention_daily(ticketing: Ticketing, stop: watch::Receiver<bool>) {
    loop {
        match ticketing.retention_daily().await {
            Ok(Some(report)) => {
                for (ticket, recording) in &report.recordings_removed {
                    info!(ticket = %ticket, recording, "retention removed a message recording");
                }
                for ticket in &report.anonymised {
                    info!(ticket = %ticket, "retention anonymised a ticket's numbers and summary");
                }
                info!(
                    recordings = report.recordings_removed.len(),
                    anonymised = report.anonymised.len(),
                    "daily retention pass done"
                );
            }
            Ok(None) => {}
            Err(e) => {
                warn!(error = %e, "the retention pass failed; tomorrow's pass takes what is left")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(REEVALUATION_CHECK) => {}
            () = stopped(stop.clone()) => return,
        }
    }
}

/// How often the re-evaluation job checks whether today's run is due.
const REEVALUATION_CHECK: Duration = Duration::from_secs(600);

/// Re-assesses every open ticket at start-up and once a day after that. The
/// start-up run always happens (rules or the calendar may have changed); the
/// daily one is claimed in the database, so one node runs it.
async fn reevaluate_daily(ticketing: Ticketing, stop: watch::Receiver<bool>) {
    let today = Ticketing::today(ticketing.now());
    match ticketing.reevaluate().await {
        Ok(changed) => info!(changed = changed.len(), "start-up re-evaluation done"),
        Err(e) => warn!(error = %e, "start-up re-evaluation failed; the daily run will retry"),
    }
    // Today's run is covered by the start-up run.
    if let Err(e) = ticketing
        .store()
        .claim_daily_run(crate::service::REEVALUATION_JOB, today)
        .await
    {
        warn!(error = %e, "cannot record today's re-evaluation");
    }
    loop {
        tokio::select! {
            () = tokio::time::sleep(REEVALUATION_CHECK) => {}
            () = stopped(stop.clone()) => return,
        }
        match ticketing.reevaluate_daily().await {
            Ok(Some(changed)) => info!(changed, "daily re-evaluation done"),
            Ok(None) => {}
            Err(e) => warn!(error = %e, "daily re-evaluation failed; retrying later"),
        }
    }
}
