//! The web console for supervisors and duty lawyers, served by ticketing on
//! its own listener (`--web-listen`): server-rendered pages (maud), a small
//! script that refreshes the live part of a page when the server says so
//! (server-sent events), and forms for every action, so it works without
//! the script too.
//!
//! Every page and action goes through the same [`Gate`] as the gRPC API:
//! the session stands for a token, the token's role must admit the method,
//! and a ticket must be one its holder may see. Nothing is loaded from
//! elsewhere: the style, the script and the charts ship in the binary.

mod assets;
mod board;
mod error;
mod lawyer;
mod layout;
mod quality;
mod recording;
mod reports;
mod roster;
mod session;
mod ticket;

use std::future::Future;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use hotline_proto::v1 as pb;
use tokio::net::TcpListener;

use crate::api::gate::Gate;
use crate::api::wakes::RecentEvents;
use crate::service::Ticketing;

pub use error::WebError;
pub use session::SESSION_COOKIE;

/// The calls in the IVR now, for the board: given when the IVR runs in
/// the same process (`hotline serve`).
pub trait LiveCalls: Send + Sync {
    fn calls(&self) -> Vec<pb::ActiveCall>;
}

/// What the console needs besides ticketing.
#[derive(Clone, Default)]
pub struct ConsoleOptions {
    /// Cookies are marked Secure (the console is served over TLS).
    pub secure_cookies: bool,
    pub calls: Option<Arc<dyn LiveCalls>>,
}

/// Shared by every handler.
#[derive(Clone)]
pub(crate) struct Console {
    pub ticketing: Ticketing,
    pub gate: Gate,
    pub recent: Arc<RecentEvents>,
    pub options: ConsoleOptions,
}

/// The console's routes.
pub(crate) fn router(console: Console) -> Router {
    Router::new()
        .route("/", get(board::page))
        .route("/events", get(board::events))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/lang", get(session::switch_language))
        .route("/assets/{name}", get(assets::serve))
        .route("/tickets", get(ticket::find))
        .route("/tickets/{number}", get(ticket::page))
        .route("/tickets/{number}/reassign", post(ticket::reassign))
        .route("/tickets/{number}/decide", post(ticket::decide))
        .route("/tickets/{number}/note", post(ticket::note))
        .route("/tickets/{number}/major", post(ticket::mark_major))
        .route("/tickets/{number}/correct", post(ticket::correct))
        .route("/tickets/{number}/ack", post(lawyer::acknowledge))
        .route("/tickets/{number}/decline", post(lawyer::decline))
        .route("/tickets/{number}/take", post(lawyer::take))
        .route("/tickets/{number}/start", post(lawyer::start))
        .route("/tickets/{number}/close", post(lawyer::close))
        .route("/tickets/{number}/review", post(quality::review))
        .route("/recordings/{id}", get(recording::audio))
        .route("/my", get(lawyer::page))
        .route("/roster", get(roster::page))
        .route("/roster.csv", get(roster::export))
        .route("/roster/swap", post(roster::swap))
        .route("/stats", get(reports::stats_page))
        .route("/reports", get(reports::reports_page))
        .route("/reports/report.csv", get(reports::csv))
        .route("/reports/report.html", get(reports::html))
        .route("/quality", get(quality::page))
        .fallback(error::not_found)
        .layer(axum::middleware::map_response(error::rejections_as_pages))
        .layer(axum::middleware::map_response(error::security_headers))
        .with_state(console)
}

/// Serves the console on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    ticketing: Ticketing,
    gate: Gate,
    recent: Arc<RecentEvents>,
    options: ConsoleOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(Console {
        ticketing,
        gate,
        recent,
        options,
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
