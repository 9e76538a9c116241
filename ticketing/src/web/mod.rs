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
mod tls;

use std::future::Future;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

use crate::api::gate::Gate;
use crate::api::wakes::RecentEvents;
use crate::service::Ticketing;

pub use error::WebError;
pub use session::SESSION_COOKIE;
pub use tls::{count_certificates, ConsoleTls, ConsoleTlsError};

/// What the console needs besides ticketing.
#[derive(Clone, Default)]
pub struct ConsoleOptions {
    /// Serve HTTPS with this certificate and key (cookies are then Secure).
    pub tls: Option<ConsoleTls>,
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
        .route("/tickets/{number}/callback", post(lawyer::record_callback))
        .route("/tickets/{number}/call", post(lawyer::call_back))
        .route("/tickets/{number}/review", post(quality::review))
        .route("/recordings/{id}", get(recording::audio))
        .route("/my", get(lawyer::page))
        .route("/roster", get(roster::page))
        .route("/roster.csv", get(roster::export))
        .route("/roster/swap", post(roster::swap))
        .route("/roster/import", post(roster::import))
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

/// Why the console could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(transparent)]
    Tls(#[from] ConsoleTlsError),
    #[error("the web console failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves the console on `listener` (HTTPS when `options.tls` says) until
/// `shutdown`.
pub async fn serve(
    listener: TcpListener,
    ticketing: Ticketing,
    gate: Gate,
    recent: Arc<RecentEvents>,
    options: ConsoleOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ConsoleError> {
    let tls = options.tls.clone();
    let app = router(Console {
        ticketing,
        gate,
        recent,
        options,
    });
    match tls {
        Some(tls) => {
            axum::serve(tls::TlsListener::new(listener, &tls)?, app)
                .with_graceful_shutdown(shutdown)
                .await?
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await?
        }
    }
    Ok(())
}
