//! The Prometheus text endpoint (`GET /metrics`) over the call flow's
//! per-node counts, the outbox (requests waiting for ticketing, and dead
//! letters refused for good) and the load (calls up, the calls the CPU
//! carries, calls refused for want of CPU): the only HTTP the IVR serves.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::menu::metrics::FlowMetrics;
use crate::tickets::Outbox;

/// The SIP loop's load figures, written by it once a second.
#[derive(Debug, Clone, Default)]
pub struct LoadFigures {
    calls: Arc<AtomicU64>,
    cpu_limit: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
}

impl LoadFigures {
    pub fn set(&self, calls: usize, cpu_limit: usize, refused_total: u64) {
        self.calls.store(calls as u64, Ordering::Relaxed);
        self.cpu_limit.store(cpu_limit as u64, Ordering::Relaxed);
        self.refused.store(refused_total, Ordering::Relaxed);
    }

    fn prometheus(&self, text: &mut String) {
        let _ = write!(
            text,
            "# HELP hotline_ivr_calls Calls up now.\n\
             # TYPE hotline_ivr_calls gauge\nhotline_ivr_calls {}\n\
             # HELP hotline_ivr_cpu_call_limit Calls at once the CPU carries, as last learnt (max_calls until the CPU has been short).\n\
             # TYPE hotline_ivr_cpu_call_limit gauge\nhotline_ivr_cpu_call_limit {}\n\
             # HELP hotline_ivr_calls_refused_cpu_total New calls refused with 503 because the CPU carried no more.\n\
             # TYPE hotline_ivr_calls_refused_cpu_total counter\nhotline_ivr_calls_refused_cpu_total {}\n",
            self.calls.load(Ordering::Relaxed),
            self.cpu_limit.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        );
    }
}

/// Serves `GET /metrics` in the Prometheus text format until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: FlowMetrics,
    load: LoadFigures,
    outbox: Outbox,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            let outbox = outbox.clone();
            let load = load.clone();
            async move {
                let mut text = metrics.prometheus();
                load.prometheus(&mut text);
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
