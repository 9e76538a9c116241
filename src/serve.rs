//! `hotline serve`, `hotline ticketing` and `hotline ivr`: load the
//! configuration, start logging, build the [`App`], print the `listening`
//! line, and run until SIGTERM or Ctrl-C. SIGHUP reloads the menu.

use std::io::IsTerminal;

use hotline::config::LogFormat;
use hotline::{App, AppError, Config, Role, ServeArgs};
use hotline_ivr::menu::MenuStore;
use tracing::info;

use crate::UsageError;

pub async fn serve(args: ServeArgs, role: Role) -> anyhow::Result<()> {
    let config = Config::load(&args).map_err(|e| UsageError(e.to_string()))?;
    if args.print_config {
        print!(
            "{}",
            config.to_toml().map_err(|e| UsageError(e.to_string()))?
        );
        return Ok(());
    }
    init_logging(&config)?;
    if args.check_config {
        App::check(&config, role).await.map_err(app_error)?;
        let unchecked = match role {
            Role::Ivr => {
                "binding its addresses, creating its data directory and outbox, reaching ticketing"
            }
            Role::All | Role::Ticketing => {
                "binding its addresses, creating its data directory, opening the database"
            }
        };
        println!("the configuration passes every start-up check; not checked: {unchecked}");
        return Ok(());
    }
    raise_descriptor_limit();
    let app = App::build(config, role).await.map_err(app_error)?;
    // The one line tests and scripts read to learn the real ports.
    eprintln!("listening {}", app.listening());
    if let Some(menus) = app.menus() {
        tokio::spawn(reload_on_sighup(menus));
    }
    app.run(shutdown_signal()).await.map_err(app_error)
}

fn app_error(e: AppError) -> anyhow::Error {
    if e.is_usage() {
        UsageError(e.to_string()).into()
    } else {
        e.into()
    }
}

/// SIGHUP loads the menu again; an invalid one is refused and logged.
async fn reload_on_sighup(menus: MenuStore) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            return;
        };
        while hangups.recv().await.is_some() {
            let store = menus.clone();
            match tokio::task::spawn_blocking(move || store.reload()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(menu = %menus.source(), "menu reload refused; the old menu stays: {}", e.to_string().replace('\n', "; "))
                }
                Err(e) => tracing::error!(error = %e, "menu reload failed"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = menus;
}

/// Raises the open-file limit to what the server may need (the IVR's calls
/// and SIP TCP connections, the database pool), up to the hard limit.
fn raise_descriptor_limit() {
    const WANTED: u64 = 65_536;
    match rlimit::increase_nofile_limit(WANTED) {
        Ok(limit) if limit < 4096 => tracing::warn!(
            limit,
            "open files are limited to {limit} (ulimit -n): fewer calls and SIP TCP connections fit"
        ),
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot read or raise the open-file limit"),
    }
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .map_err(|e| UsageError(format!("invalid log filter `{}`: {e}", config.log)))?;
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
