//! `hotline serve` and `hotline ticketing`: start the services, print the
//! `listening …` line once every listener is bound, stop on SIGTERM/Ctrl-C.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use hotline_domain::HolidayCalendar;
use hotline_ticketing::limitation::{Limitation, RuleTable};
use hotline_ticketing::{Store, SystemClock, Ticketing};
use tokio::net::TcpListener;
use tracing::info;

use crate::cli::ServeArgs;
use crate::config::{Config, LogFormat};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything on one node. The IVR joins ticketing here with the telephony work.
    All,
    /// Ticketing alone.
    Ticketing,
}

pub async fn serve(args: ServeArgs, role: Role) -> anyhow::Result<()> {
    let config = Config::load(&args)?;
    if args.print_config {
        print!("{}", config.to_toml()?);
        return Ok(());
    }
    init_logging(&config)?;

    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
    }
    let limitation = Arc::new(load_limitation(&config)?);
    let store = Store::connect(&config.database_url).await?;
    let grpc = TcpListener::bind(config.grpc_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} for gRPC; choose another address with --grpc-listen",
                config.grpc_listen
            )
        })?;
    let grpc_addr = grpc.local_addr()?;

    // The one line tests and scripts read to learn the real ports.
    eprintln!("listening grpc={grpc_addr}");
    info!(%grpc_addr, ?role, backend = ?store.backend(), "hotline started");

    let ticketing = Ticketing::new(store.clone(), Arc::new(SystemClock), limitation);
    hotline_ticketing::server::run(grpc, ticketing, shutdown_signal()).await?;
    store.close().await;
    info!("hotline stopped");
    Ok(())
}

/// The rule table and holiday calendar: bundled, or the configured files,
/// which are refused with file, line and reason when malformed.
fn load_limitation(config: &Config) -> anyhow::Result<Limitation> {
    let rules = match &config.limitation_rules {
        Some(path) => RuleTable::load(path).map_err(|e| crate::UsageError(e.to_string()))?,
        None => RuleTable::bundled()?,
    };
    let calendar = match &config.holiday_calendar {
        Some(path) => HolidayCalendar::load(path).map_err(|e| crate::UsageError(e.to_string()))?,
        None => HolidayCalendar::bundled()?,
    };
    Ok(Limitation::new(rules, calendar, config.thresholds()))
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .map_err(|e| crate::UsageError(format!("invalid log filter `{}`: {e}", config.log)))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("Ctrl-C received; stopping"),
        () = terminate => info!("SIGTERM received; stopping"),
    }
}
