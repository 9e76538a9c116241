//! `hotline serve` and `hotline ticketing`: start the services, print the
//! `listening …` line once every listener is bound, stop on SIGTERM/Ctrl-C.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hotline_domain::HolidayCalendar;
use hotline_ivr::admin::{AdminExtras, CallBoard};
use hotline_ivr::menu::metrics::FlowMetrics;
use hotline_ivr::menu::MenuStore;
use hotline_ivr::service::IvrConfig;
use hotline_ivr::tickets::{Outbox, TicketsClient};
use hotline_ticketing::limitation::{Limitation, RuleTable};
use hotline_ticketing::{Store, SystemClock, Ticketing};
use tokio::net::TcpListener;
use tracing::info;

use crate::cli::ServeArgs;
use crate::config::{Config, LogFormat};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Ticketing and the IVR on one node.
    All,
    /// Ticketing alone.
    Ticketing,
    /// The IVR alone.
    Ivr,
}

pub async fn serve(args: ServeArgs, role: Role) -> anyhow::Result<()> {
    let config = Config::load(&args)?;
    if args.print_config {
        print!("{}", config.to_toml()?);
        return Ok(());
    }
    init_logging(&config)?;
    let with_ticketing = role != Role::Ivr;
    let with_ivr = role != Role::Ticketing;

    // Everything that can be refused is checked before anything listens.
    let menus = if with_ivr {
        Some(
            MenuStore::load(&config.menu, &config.prompts_dir).map_err(|e| {
                crate::UsageError(format!(
                    "invalid menu: {}",
                    e.to_string().replace('\n', "; ")
                ))
            })?,
        )
    } else {
        None
    };
    let mut listening = Vec::new();
    let ticketing = if with_ticketing {
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
        listening.push(format!("grpc={}", grpc.local_addr()?));
        Some((grpc, store, limitation))
    } else {
        None
    };
    let sip = match menus {
        Some(menus) => {
            let (udp, tcp) = hotline_ivr::service::bind(config.sip_listen)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen on {} for SIP; choose another address with --sip-listen",
                        config.sip_listen
                    )
                })?;
            let admin = TcpListener::bind(config.admin_listen).await.with_context(|| {
                format!(
                    "cannot listen on {} for the admin API; choose another address with --admin-listen",
                    config.admin_listen
                )
            })?;
            let metrics = TcpListener::bind(config.metrics_listen)
                .await
                .with_context(|| {
                    format!(
                    "cannot listen on {} for metrics; choose another address with --metrics-listen",
                    config.metrics_listen
                )
                })?;
            listening.insert(0, format!("sip={}", udp.local_addr()?));
            listening.push(format!("admin={}", admin.local_addr()?));
            listening.push(format!("metrics={}", metrics.local_addr()?));
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!(
                    "cannot create the data directory {}",
                    config.data_dir.display()
                )
            })?;
            let outbox = Outbox::open(&config.data_dir.join("ivr-outbox.db")).await?;
            // `serve` reaches its own ticketing over loopback, keeping the contract honest.
            let ticketing_url = match &ticketing {
                Some((grpc, _, _)) => {
                    let addr = grpc.local_addr()?;
                    let ip = if addr.ip().is_unspecified() {
                        std::net::IpAddr::from([127, 0, 0, 1])
                    } else {
                        addr.ip()
                    };
                    format!("http://{}", std::net::SocketAddr::new(ip, addr.port()))
                }
                None => config.ticketing.clone(),
            };
            let tickets = TicketsClient::new(&ticketing_url, outbox)
                .map_err(|e| crate::UsageError(e.to_string()))?;
            Some((udp, tcp, admin, metrics, menus, tickets))
        }
        None => None,
    };

    // The one line tests and scripts read to learn the real ports.
    eprintln!("listening {}", listening.join(" "));
    info!(?role, listening = %listening.join(" "), "hotline started");

    // SIGTERM drains the IVR first; ticketing stops once the IVR is done.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let calendar = Arc::new(load_calendar(&config)?);
    let ivr = sip.map(|(udp, tcp, admin, metrics_listener, menus, tickets)| {
        let board = CallBoard::new();
        let metrics = FlowMetrics::default();
        // The admin API lives as long as the IVR.
        let admin_stop = stopped(stop_rx.clone());
        let admin_board = board.clone();
        let extras = AdminExtras {
            menus: Some(menus.clone()),
            metrics: metrics.clone(),
        };
        tokio::spawn(async move {
            if let Err(e) = hotline_ivr::admin::run(admin, admin_board, extras, admin_stop).await {
                tracing::error!(error = %e, "admin API failed");
            }
        });
        let metrics_stop = stopped(stop_rx.clone());
        let served = metrics.clone();
        tokio::spawn(async move {
            if let Err(e) =
                hotline_ivr::menu::metrics::serve(metrics_listener, served, metrics_stop).await
            {
                tracing::error!(error = %e, "metrics endpoint failed");
            }
        });
        let outbox_stop = stopped(stop_rx.clone());
        let delivery = tickets.clone();
        tokio::spawn(async move { delivery.run_outbox(outbox_stop).await });
        tokio::spawn(reload_on_sighup(menus.clone()));
        let ivr_config = IvrConfig {
            board,
            advertise: config.sip_advertise,
            rtp_ports: (config.rtp_port_min, config.rtp_port_max),
            max_calls: config.max_calls,
            rtp_timeout: Duration::from_secs(config.rtp_timeout_secs),
            drain_timeout: Duration::from_secs(config.drain_timeout_secs),
            answer_delay: Duration::from_millis(config.answer_delay_ms),
            invite_burst: f64::from(config.invite_burst),
            invites_per_second: f64::from(config.invites_per_second),
            max_recording_samples: 120 * 8000,
            recordings_dir: Some(config.data_dir.join("recordings")),
            prompts: menus.current().prompts.clone(),
            menus,
            calendar: calendar.clone(),
            metrics,
            tickets,
            node_id: config.node_id.clone(),
        };
        tokio::spawn(hotline_ivr::service::run(
            udp,
            tcp,
            ivr_config,
            stopped(stop_rx.clone()),
        ))
    });
    let ivr_done = async move {
        match ivr {
            Some(task) => match task.await {
                Ok(result) => result.map_err(anyhow::Error::from),
                Err(e) => Err(anyhow::anyhow!("the IVR task failed: {e}")),
            },
            None => {
                stopped(stop_rx.clone()).await;
                Ok(())
            }
        }
    };
    match ticketing {
        Some((grpc, store, limitation)) => {
            let ticketing = Ticketing::new(store.clone(), Arc::new(SystemClock), limitation)
                .with_routing(config.routing());
            let (ivr_result_tx, ivr_result_rx) = tokio::sync::oneshot::channel();
            let stop_ticketing = async move {
                let result = ivr_done.await;
                let _ = ivr_result_tx.send(result);
            };
            hotline_ticketing::server::run(grpc, ticketing, stop_ticketing).await?;
            store.close().await;
            ivr_result_rx.await.unwrap_or(Ok(()))?;
        }
        None => ivr_done.await?,
    }
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
    Ok(Limitation::new(
        rules,
        load_calendar(config)?,
        config.thresholds(),
    ))
}

fn load_calendar(config: &Config) -> anyhow::Result<HolidayCalendar> {
    Ok(match &config.holiday_calendar {
        Some(path) => HolidayCalendar::load(path).map_err(|e| crate::UsageError(e.to_string()))?,
        None => HolidayCalendar::bundled()?,
    })
}

/// SIGHUP loads the menu file again; an invalid one is refused and logged.
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
                    tracing::error!(menu = %menus.path().display(), "menu reload refused; the old menu stays: {}", e.to_string().replace('\n', "; "))
                }
                Err(e) => tracing::error!(error = %e, "menu reload failed"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = menus;
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
