//! The Prometheus text endpoint (`GET /metrics`) over the call flow's
//! per-node counts: the only HTTP the IVR serves.

use crate::menu::metrics::FlowMetrics;

/// Serves `GET /metrics` in the Prometheus text format until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: FlowMetrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    metrics.prometheus(),
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
