//! The Prometheus text endpoint (`GET /metrics`) over the call flow's
//! per-node counts and the outbox (requests waiting for ticketing, and dead
//! letters refused for good): the only HTTP the IVR serves.

use std::fmt::Write as _;

use crate::menu::metrics::FlowMetrics;
use crate::tickets::Outbox;

/// Serves `GET /metrics` in the Prometheus text format until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: FlowMetrics,
    outbox: Outbox,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            let outbox = outbox.clone();
            async move {
                let mut text = metrics.prometheus();
                if let Ok((waiting, dead)) = outbox.counts().await {
                    let _ = write!(
                        text,
                        "# HELP hotline_outbox_waiting Ticket requests waiting to be delivered to ticketing.\n\
                         # TYPE hotline_outbox_waiting gauge\nhotline_outbox_waiting {waiting}\n\
                         # HELP hotline_outbox_dead Ticket requests ticketing refused for good, waiting for an operator.\n\
                         # TYPE hotline_outbox_dead gauge\nhotline_outbox_dead {dead}\n"
                    );
                }
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    text,
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
