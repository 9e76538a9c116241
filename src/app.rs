//! The whole system wired in one place: [`App::build`] checks what can be
//! refused, opens the store and binds every listener; [`App::run`] runs the
//! parts until shutdown and drains them in order — the IVR first (calls in
//! progress finish), then its admin API, metrics and outbox (one last
//! delivery while ticketing is still up), then ticketing's API and
//! scheduler, then the store.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hotline_domain::{limits, HolidayCalendar};
use hotline_ivr::admin::gate::AdminGate;
use hotline_ivr::admin::{AdminExtras, CallBoard};
use hotline_ivr::menu::metrics::FlowMetrics;
use hotline_ivr::menu::{LoadError, MenuSource, MenuStore};
use hotline_ivr::prompts::PromptSource;
use hotline_ivr::service::IvrConfig;
use hotline_ivr::tickets::{Outbox, TicketsClient};
use hotline_ticketing::auth::{NewToken, Role as TokenRole};
use hotline_ticketing::limitation::{Limitation, RuleTable};
use hotline_ticketing::service::AccessError;
use hotline_ticketing::{Store, StoreError, SystemClock, Ticketing};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::config::{Config, ConfigError};

/// The admin token `hotline serve` writes on its first start, in the data
/// directory; clients read `./hotline-data/admin.token` when given no token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// The IVR's own token, in the data directory (unless `token_file` says).
pub const IVR_TOKEN_FILE: &str = "ivr.token";

/// Which parts a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Ticketing and the IVR on one node (`hotline serve`).
    All,
    /// Ticketing alone (`hotline ticketing`).
    Ticketing,
    /// The IVR alone (`hotline ivr`), reaching ticketing at `config.ticketing`.
    Ivr,
}

/// Why the system could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("invalid menu: {0}")]
    Menu(String),
    #[error("invalid prompts: {0}")]
    Prompts(String),
    #[error("{0}")]
    Limitation(String),
    #[error("cannot listen on {addr} for {what}; choose another address with {flag}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        flag: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot open the IVR outbox: {0}")]
    Outbox(String),
    #[error("{0}")]
    TicketingUrl(String),
    #[error("{0}")]
    Token(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot write {path}: {source}")]
    Secret {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ticketing failed: {0}")]
    Ticketing(String),
    #[error("the IVR failed: {0}")]
    Ivr(String),
}

impl AppError {
    /// Whether the user must change what they asked for (exit code 2),
    /// rather than something failing while doing it (exit code 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::Config(_)
                | Self::Menu(_)
                | Self::Prompts(_)
                | Self::Limitation(_)
                | Self::TicketingUrl(_)
                | Self::Token(_)
                | Self::Tls(_)
                | Self::Store(StoreError::UnsupportedUrl(_))
        )
    }
}

/// What [`App::preflight`] loaded.
struct Preflight {
    calendar: Arc<HolidayCalendar>,
    tls: Option<crate::tls::ServerTls>,
    menus: Option<MenuStore>,
    limitation: Option<Arc<Limitation>>,
    /// An IVR node's ticketing endpoints and token (`hotline ivr` only).
    remote: Option<(Vec<tonic::transport::Endpoint>, String)>,
}

/// Ticketing, bound and connected, not yet serving.
struct TicketingPart {
    grpc: TcpListener,
    web: TcpListener,
    store: Store,
    limitation: Arc<Limitation>,
}

/// The IVR, bound, not yet answering.
struct IvrPart {
    udp: UdpSocket,
    tcp: TcpListener,
    admin: TcpListener,
    metrics: TcpListener,
    menus: MenuStore,
    tickets: TicketsClient,
    admin_gate: AdminGate,
}

/// A node of the system, every listener bound.
pub struct App {
    config: Config,
    role: Role,
    /// What the gRPC servers serve TLS with, if anything.
    tls: Option<crate::tls::ServerTls>,
    calendar: Arc<HolidayCalendar>,
    ticketing: Option<TicketingPart>,
    ivr: Option<IvrPart>,
}

impl App {
    /// Everything start-up checks before it binds an address or opens the
    /// database, which is what `--check-config` checks: the calendar, the
    /// TLS files and the plaintext rules, the menu and its prompts, the
    /// limitation rules, and an IVR node's ticketing URLs, CA and token.
    /// Returns what it loaded, for [`App::build`].
    async fn preflight(config: &Config, role: Role) -> Result<Preflight, AppError> {
        let with_ticketing = role != Role::Ivr;
        let with_ivr = role != Role::Ticketing;

        let calendar = Arc::new(load_calendar(config)?);
        let tls = crate::tls::server(config)?;
        if tls.is_none() && !config.allow_plaintext {
            // Tokens and personal data must not cross a network in clear.
            let exposed = [
                (with_ticketing, config.grpc_listen, "grpc_listen"),
                (with_ivr, config.admin_listen, "admin_listen"),
            ];
            for (serves, addr, key) in exposed {
                if serves && !addr.ip().is_loopback() {
                    return Err(AppError::Config(ConfigError::Invalid(format!(
                        "{key} {addr} is not loopback and gRPC would be plaintext: give \
                         --tls-cert and --tls-key (or --dev-tls to try it), or say --allow-plaintext"
                    ))));
                }
            }
        }
        if with_ticketing
            && tls.is_none()
            && !config.web_listen.ip().is_loopback()
            && !config.allow_plaintext
        {
            // The console carries session cookies and personal data.
            return Err(AppError::Config(ConfigError::Invalid(format!(
                "web_listen {} is not loopback and the web console would be plain HTTP: give \
                 --tls-cert and --tls-key (or --dev-tls to try it), or say --allow-plaintext",
                config.web_listen
            ))));
        }
        if let (true, Some(tls)) = (with_ticketing, &tls) {
            console_tls(tls)
                .check()
                .map_err(|e| AppError::Tls(crate::tls::TlsError::Console(e.to_string())))?;
        }
        let menus = if with_ivr {
            let menu = MenuSource::from_option(config.menu.as_deref());
            let prompts = PromptSource::from_option(config.prompts_dir.as_deref());
            Some(load_menus(menu, prompts).await?)
        } else {
            None
        };

        let limitation = if with_ticketing {
            hotline_ticketing::store::check_url(&config.database_url())?;
            let limitation = Arc::new(load_limitation(config, (*calendar).clone())?);
            if let Some(menus) = &menus {
                check_chosen_rules(menus, &limitation)?;
            }
            Some(limitation)
        } else {
            None
        };
        // An IVR node alone reaches ticketing elsewhere: several nodes,
        // requests going to those that answer their health check.
        let remote = if role == Role::Ivr {
            let endpoints = ticketing_urls(&config.ticketing)?
                .iter()
                .map(|url| ticketing_endpoint(config, url, tls.as_ref()))
                .collect::<Result<Vec<_>, _>>()?;
            Some((endpoints, read_ivr_token(config)?))
        } else {
            None
        };
        Ok(Preflight {
            calendar,
            tls,
            menus,
            limitation,
            remote,
        })
    }

    /// The start-up checks of [`App::preflight`] alone, for `--check-config`:
    /// a configuration that passes them starts, unless an address cannot
    /// be bound or the database or ticketing cannot be reached.
    pub async fn check(config: &Config, role: Role) -> Result<(), AppError> {
        Self::preflight(config, role).await.map(drop)
    }

    /// Checks what can be refused ([`App::preflight`]) before anything
    /// listens, then opens the store and binds every listener.
    pub async fn build(config: Config, role: Role) -> Result<Self, AppError> {
        let Preflight {
            calendar,
            tls,
            menus,
            limitation,
            remote,
        } = Self::preflight(&config, role).await?;

        let ticketing = if let Some(limitation) = limitation {
            let database_url = config.database_url();
            if database_url.starts_with("sqlite:") {
                create_data_dir(&config)?;
            }
            if let Some(path) = sqlite_file(&database_url) {
                create_private(&path)?;
            }
            let store = Store::connect(&database_url).await?;
            ensure_admin_token(&config, &store, &limitation).await?;
            let grpc = bind_tcp(config.grpc_listen, "gRPC", "--grpc-listen").await?;
            let web = bind_tcp(config.web_listen, "the web console", "--web-listen").await?;
            Some(TicketingPart {
                grpc,
                web,
                store,
                limitation,
            })
        } else {
            None
        };

        let ivr = match menus {
            Some(menus) => {
                let (udp, tcp) = hotline_ivr::service::bind(config.sip_listen)
                    .await
                    .map_err(|source| AppError::Bind {
                        what: "SIP",
                        addr: config.sip_listen,
                        flag: "--sip-listen",
                        source,
                    })?;
                let admin =
                    bind_tcp(config.admin_listen, "the admin API", "--admin-listen").await?;
                let metrics =
                    bind_tcp(config.metrics_listen, "metrics", "--metrics-listen").await?;
                create_data_dir(&config)?;
                let outbox_file = config.data_dir.join("ivr-outbox.db");
                create_private(&outbox_file)?;
                let outbox = Outbox::open(&outbox_file)
                    .await
                    .map_err(|e| AppError::Outbox(e.to_string()))?;
                let (endpoints, token) = match (&ticketing, remote) {
                    // `serve` reaches its own ticketing over loopback,
                    // keeping the contract honest.
                    (Some(part), _) => {
                        let url = loopback_url(local_addr(&part.grpc), tls.is_some());
                        let endpoint = ticketing_endpoint(&config, &url, tls.as_ref())?;
                        (vec![endpoint], own_ivr_token(&config, part).await?)
                    }
                    (None, Some(remote)) => remote,
                    (None, None) => {
                        return Err(AppError::Ticketing(
                            "an IVR node alone has no ticketing to reach".into(),
                        ))
                    }
                };
                let channel = hotline_ivr::tickets::nodes::channel(endpoints);
                let tickets = TicketsClient::with_channel(channel.clone(), Some(&token), outbox)
                    .map_err(|e| AppError::TicketingUrl(e.to_string()))?;
                // The admin API's tokens are ticketing's: it asks there.
                let admin_gate = AdminGate::with_channel(channel);
                Some(IvrPart {
                    udp,
                    tcp,
                    admin,
                    metrics,
                    menus,
                    tickets,
                    admin_gate,
                })
            }
            None => None,
        };
        Ok(Self {
            config,
            role,
            tls,
            calendar,
            ticketing,
            ivr,
        })
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The ticketing gRPC address, when this node runs ticketing.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.ticketing.as_ref().map(|t| local_addr(&t.grpc))
    }

    /// The web console's address, when this node runs ticketing.
    pub fn web_addr(&self) -> Option<SocketAddr> {
        self.ticketing.as_ref().map(|t| local_addr(&t.web))
    }

    /// The SIP address (UDP and TCP), when this node runs the IVR.
    pub fn sip_addr(&self) -> Option<SocketAddr> {
        self.ivr.as_ref().and_then(|i| i.udp.local_addr().ok())
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.ivr.as_ref().map(|i| local_addr(&i.admin))
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.ivr.as_ref().map(|i| local_addr(&i.metrics))
    }

    /// `sip=ADDR grpc=ADDR admin=ADDR metrics=ADDR`, the ones this node has:
    /// what the `listening` line says, so scripts read the real ports back.
    pub fn listening(&self) -> String {
        [
            ("sip", self.sip_addr()),
            ("grpc", self.grpc_addr()),
            ("admin", self.admin_addr()),
            ("metrics", self.metrics_addr()),
            ("web", self.web_addr()),
        ]
        .into_iter()
        .filter_map(|(name, addr)| addr.map(|a| format!("{name}={a}")))
        .collect::<Vec<_>>()
        .join(" ")
    }

    /// The menu new calls take, for a reload on SIGHUP.
    pub fn menus(&self) -> Option<MenuStore> {
        self.ivr.as_ref().map(|i| i.menus.clone())
    }

    /// Runs every part until `shutdown` completes, then drains them in
    /// order and returns when each has stopped.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let Self {
            config,
            role,
            tls,
            calendar,
            ticketing,
            ivr,
        } = self;
        info!(?role, "hotline started");
        let board = CallBoard::new();
        // Fires once the IVR has drained; ticketing serves until then.
        let (ivr_done, ivr_done_rx) = watch::channel(false);

        // Fires if ticketing stops on its own (its server failed): the rest
        // of the node then stops too, rather than run with a dead API.
        let (ticketing_down, ticketing_down_rx) = watch::channel(false);
        let ticketing_task = ticketing.map(|part| {
            let service =
                Ticketing::new(part.store.clone(), Arc::new(SystemClock), part.limitation)
                    .with_routing(config.routing())
                    .with_callbacks(config.callbacks())
                    .with_bridges(config.bridge_policy())
                    .with_retention(config.retention());
            let stop = fired(ivr_done_rx.clone());
            let identity = tls.as_ref().map(|t| t.identity.clone());
            let web = hotline_ticketing::server::WebListener {
                listener: part.web,
                options: hotline_ticketing::web::ConsoleOptions {
                    tls: tls.as_ref().map(console_tls),
                },
            };
            tokio::spawn(async move {
                let served = hotline_ticketing::server::run_node(
                    part.grpc,
                    Some(web),
                    service,
                    identity,
                    stop,
                )
                .await;
                part.store.close().await;
                if let Err(e) = &served {
                    error!(error = %e, "ticketing stopped; stopping the node");
                }
                let _ = ticketing_down.send(true);
                served.map_err(|e| AppError::Ticketing(e.to_string()))
            })
        });
        let shutdown = async move {
            tokio::select! {
                () = shutdown => {}
                () = down(ticketing_down_rx) => {}
            }
        };

        let ivr_result = match ivr {
            Some(part) => {
                let identity = tls.as_ref().map(|t| t.identity.clone());
                run_ivr(part, board, &config, calendar, identity, shutdown).await
            }
            None => {
                shutdown.await;
                Ok(())
            }
        };
        let _ = ivr_done.send(true);

        let ticketing_result = match ticketing_task {
            Some(task) => task.await.unwrap_or_else(|e| {
                Err(AppError::Ticketing(format!(
                    "the ticketing task failed: {e}"
                )))
            }),
            None => Ok(()),
        };
        info!("hotline stopped");
        ivr_result.and(ticketing_result)
    }
}

/// The console serves TLS with the gRPC servers' certificate and key.
fn console_tls(tls: &crate::tls::ServerTls) -> hotline_ticketing::web::ConsoleTls {
    hotline_ticketing::web::ConsoleTls {
        certificate_pem: tls.certificate.clone(),
        key_pem: tls.key.clone(),
    }
}

/// The IVR's tasks: SIP and calls until `shutdown`, then (once the calls
/// have drained) its admin API, metrics and outbox.
async fn run_ivr(
    part: IvrPart,
    board: CallBoard,
    config: &Config,
    calendar: Arc<HolidayCalendar>,
    tls: Option<tonic::transport::Identity>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let (calls_done, calls_done_rx) = watch::channel(false);
    let metrics = FlowMetrics::default();
    let extras = AdminExtras {
        menus: Some(part.menus.clone()),
        metrics: metrics.clone(),
        gate: part.admin_gate.clone(),
        tls,
    };
    let admin = spawn_logged(
        "admin API",
        hotline_ivr::admin::run(
            part.admin,
            board.clone(),
            extras,
            fired(calls_done_rx.clone()),
        ),
    );
    let load = hotline_ivr::service::metrics::LoadFigures::default();
    let metrics_server = spawn_logged(
        "metrics endpoint",
        hotline_ivr::service::metrics::serve(
            part.metrics,
            metrics.clone(),
            load.clone(),
            part.tickets.outbox().clone(),
            fired(calls_done_rx.clone()),
        ),
    );
    // Calls in progress and call-flow counts to ticketing, for the
    // console's board and reports; a fresh run id, so counts of an earlier
    // run of this node are added to, not replaced.
    let boot = format!("{:032x}", rand::random::<u128>());
    let figures = tokio::spawn(hotline_ivr::tickets::figures::run(
        part.tickets.clone(),
        config.node_id.clone(),
        boot.clone(),
        board.clone(),
        metrics.clone(),
        fired(calls_done_rx.clone()),
    ));
    let delivery = part.tickets.clone();
    let outbox_stop = fired(calls_done_rx.clone());
    let outbox = tokio::spawn(async move { delivery.run_outbox(outbox_stop).await });
    let recordings_dir = config.data_dir.join("recordings");
    let retention = config.call_recordings_kept().map(|keep| {
        tokio::spawn(hotline_ivr::service::retention::run(
            recordings_dir.clone(),
            keep,
            fired(calls_done_rx.clone()),
        ))
    });

    let ivr_config = IvrConfig {
        board,
        advertise: config.sip_advertise,
        sip_trusted: config.sip_trusted.clone().unwrap_or_default(),
        sip_untrusted: match config.sip_untrusted {
            crate::config::UntrustedAnswer::Reject => hotline_ivr::sip::endpoint::Untrusted::Reject,
            crate::config::UntrustedAnswer::Drop => hotline_ivr::sip::endpoint::Untrusted::Drop,
        },
        calls_per_source: config.sip_calls_per_source,
        rtp_ports: hotline_ivr::service::ports::RtpPorts::new(
            config.rtp_port_min,
            config.rtp_port_max,
        ),
        max_calls: config.max_calls,
        load,
        rtp_timeout: Duration::from_secs(config.rtp_timeout_secs),
        drain_timeout: Duration::from_secs(config.drain_timeout_secs),
        answer_delay: Duration::from_millis(config.answer_delay_ms),
        invite_burst: f64::from(config.invite_burst),
        invites_per_second: f64::from(config.invites_per_second),
        max_recording_samples: limits::samples(limits::CALL_RECORDING_SECS),
        recordings_dir: Some(recordings_dir),
        prompts: part.menus.current().prompts.clone(),
        menus: part.menus,
        calendar,
        metrics,
        tickets: part.tickets.clone(),
        node_id: config.node_id.clone(),
    };
    // Pages to duty lawyers, taken from ticketing and dialled by this node;
    // a draining node takes no more (the calls it has go on).
    let (draining, draining_rx) = watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = draining.send(true);
    };
    let (control, control_rx) = tokio::sync::mpsc::channel(16);
    let pager = tokio::spawn(hotline_ivr::paging::run(
        part.tickets.clone(),
        control.clone(),
        config.pager(),
        fired(draining_rx.clone()),
    ));
    // Click-to-calls dial the caller through the trunk: a node without
    // one leaves them to the nodes that have one.
    let bridger = config.outbound_trunk.is_some().then(|| {
        tokio::spawn(hotline_ivr::bridge::run(
            part.tickets.clone(),
            control,
            config.bridges(&boot),
            fired(draining_rx),
        ))
    });
    let result = hotline_ivr::service::run_with_control(
        part.udp, part.tcp, ivr_config, control_rx, shutdown,
    )
    .await
    .map_err(|e| AppError::Ivr(e.to_string()));

    let _ = calls_done.send(true);
    let tasks = [
        ("admin API", Some(admin)),
        ("metrics endpoint", Some(metrics_server)),
        ("outbox", Some(outbox)),
        ("call figures", Some(figures)),
        ("pager", Some(pager)),
        ("click-to-call", bridger),
        ("recording retention", retention),
    ];
    for (what, task) in tasks.into_iter().filter_map(|(w, t)| t.map(|t| (w, t))) {
        if let Err(e) = task.await {
            error!(error = %e, "the {what} task failed");
        }
    }
    // What the last calls left in the outbox, while ticketing still listens;
    // whatever is still undelivered stays on disk for the next start.
    if tokio::time::timeout(Duration::from_secs(5), part.tickets.flush())
        .await
        .is_err()
    {
        info!("outbox requests left for the next start");
    }
    result
}

/// Spawns a server task whose failure is logged, not lost.
fn spawn_logged<E: std::fmt::Display>(
    what: &'static str,
    task: impl Future<Output = Result<(), E>> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = task.await {
            error!(error = %e, "the {what} failed");
        }
    })
}

/// Resolves once `rx` has seen `true` (or its sender is gone).
async fn fired(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|done| *done).await;
}

/// Resolves once `rx` has seen `true`; never, if there is no sender (a
/// node without ticketing).
async fn down(mut rx: watch::Receiver<bool>) {
    if rx.wait_for(|down| *down).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn load_menus(menu: MenuSource, prompts: PromptSource) -> Result<MenuStore, AppError> {
    // Reading and decoding the prompts touches files: off the async threads.
    let loaded = tokio::task::spawn_blocking(move || MenuStore::load(menu, prompts))
        .await
        .map_err(|e| AppError::Menu(e.to_string()))?;
    loaded.map_err(|e: LoadError| match e {
        LoadError::Menu(errors) => AppError::Menu(errors.to_string().replace('\n', "; ")),
        LoadError::Prompts(e) => AppError::Prompts(e.to_string()),
    })
}

async fn bind_tcp(
    addr: SocketAddr,
    what: &'static str,
    flag: &'static str,
) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Bind {
            what,
            addr,
            flag,
            source,
        })
}

fn local_addr(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// How this process reaches a listener of its own.
fn loopback_url(addr: SocketAddr, tls: bool) -> String {
    let ip = if addr.ip().is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{}", SocketAddr::new(ip, addr.port()))
}

/// The ticketing nodes of `--ticketing`: one URL, or several separated by
/// commas.
fn ticketing_urls(setting: &str) -> Result<Vec<String>, AppError> {
    let urls: Vec<String> = setting.split(',').map(|u| u.trim().to_owned()).collect();
    if urls.iter().any(String::is_empty) {
        return Err(AppError::TicketingUrl(format!(
            "ticketing `{setting}` has an empty entry: give one URL, or several separated by commas"
        )));
    }
    // A node that cannot be a URL is a mistake to say now, not a node that
    // fails its health check for ever.
    if let Some(bad) = urls
        .iter()
        .find(|u| !u.starts_with("http://") && !u.starts_with("https://"))
    {
        return Err(AppError::TicketingUrl(format!(
            "the ticketing URL `{bad}` needs its scheme: http://HOST:PORT, or https:// with --tls-ca"
        )));
    }
    Ok(urls)
}

/// Where the IVR reaches ticketing: over TLS for an https:// URL, trusting
/// this node's own certificate (`serve`) or `tls_ca` (`hotline ivr`).
fn ticketing_endpoint(
    config: &Config,
    url: &str,
    own: Option<&crate::tls::ServerTls>,
) -> Result<tonic::transport::Endpoint, AppError> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
        .map_err(|e| AppError::TicketingUrl(format!("invalid ticketing URL `{url}`: {e}")))?;
    if !url.starts_with("https://") {
        // The IVR's token and callers' numbers would cross the network in
        // clear: as for listening, only on loopback unless the operator says so.
        if !config.allow_plaintext && !crate::tls::is_loopback(url) {
            return Err(AppError::TicketingUrl(format!(
                "ticketing at {url} is not on this machine and the URL is plaintext: \
                 use https:// with --tls-ca, or say --allow-plaintext"
            )));
        }
        return Ok(endpoint);
    }
    let ca = match (&config.tls_ca, own) {
        (Some(path), _) => crate::tls::read_ca(path)?,
        (None, Some(own)) => own.certificate.clone(),
        (None, None) => {
            return Err(AppError::TicketingUrl(format!(
            "ticketing at {url} speaks TLS: give --tls-ca with the CA that signed its certificate"
        )))
        }
    };
    endpoint
        .tls_config(crate::tls::client(&ca))
        .map_err(|e| AppError::TicketingUrl(format!("TLS to {url}: {e}")))
}

/// The data directory holds personal data (the database, recordings, the
/// outbox) and tokens: made readable by the service's user only.
fn create_data_dir(config: &Config) -> Result<(), AppError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&config.data_dir)
        .map_err(|source| AppError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
    // An existing folder keeps the mode its operator gave it; say so when
    // others can look in.
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(&config.data_dir) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if mode & 0o077 != 0 && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                dir = %config.data_dir.display(),
                mode = format!("{mode:o}"),
                "the data directory holds personal data and is open to other users; chmod 700 it"
            );
        }
    }
    Ok(())
}

/// The file of a `sqlite://PATH?…` URL.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Creates `path` (a SQLite file) readable by the service's user only,
/// before SQLite opens it: SQLite gives its -wal and -shm files the
/// database file's mode.
fn create_private(path: &std::path::Path) -> Result<(), AppError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let secret = |source| AppError::Secret {
        path: path.to_owned(),
        source,
    };
    let file = options.open(path).map_err(secret)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(secret)?;
    }
    #[cfg(not(unix))]
    drop(file);
    Ok(())
}

/// Writes a token to `path`, readable by the service's user only.
fn write_secret(path: &std::path::Path, text: &str) -> Result<(), AppError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let secret = |source| AppError::Secret {
        path: path.to_owned(),
        source,
    };
    let mut file = options.open(path).map_err(secret)?;
    // A file that existed keeps its old mode through `open`: narrow it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(secret)?;
    }
    file.write_all(format!("{text}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(secret)
}

/// A front door over the store for the start-up's own token work.
fn door(store: &Store, limitation: &Arc<Limitation>) -> Ticketing {
    Ticketing::new(store.clone(), Arc::new(SystemClock), limitation.clone())
}

/// On the first start (the database has never had an admin token), makes
/// one and writes it to `<data_dir>/admin.token`, so that the README's
/// commands work at once. Only once: revoking every admin token is not
/// undone by a restart.
async fn ensure_admin_token(
    config: &Config,
    store: &Store,
    limitation: &Arc<Limitation>,
) -> Result<(), AppError> {
    let door = door(store, limitation);
    if door
        .tokens()
        .await?
        .iter()
        .any(|t| t.role == TokenRole::Admin)
    {
        return Ok(());
    }
    let new = NewToken {
        role: TokenRole::Admin,
        lawyer: None,
        center: None,
        name: "admin".to_owned(),
        expires_at: None,
    };
    let (text, record) = door.create_token(&new, "system:first-start").await?;
    create_data_dir(config)?;
    let path = config.data_dir.join(ADMIN_TOKEN_FILE);
    write_secret(&path, &text)?;
    info!(token = %record.id, file = %path.display(), "first start: an admin token was written");
    Ok(())
}

/// The file the IVR's token is read from.
fn ivr_token_file(config: &Config) -> PathBuf {
    config
        .token_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join(IVR_TOKEN_FILE))
}

/// `hotline serve`'s IVR token: the one in its file while it is valid,
/// else a new one (named after the node), written there.
async fn own_ivr_token(config: &Config, part: &TicketingPart) -> Result<String, AppError> {
    let path = ivr_token_file(config);
    let door = door(&part.store, &part.limitation);
    if let Ok(text) = std::fs::read_to_string(&path) {
        match door.authenticate(Some(text.trim())).await {
            Ok(who) if who.role == TokenRole::Ivr => return Ok(text.trim().to_owned()),
            // Never overwrite a valid token of another role: it may be the
            // operator's only copy.
            Ok(who) => {
                return Err(AppError::Token(format!(
                    "{} holds a {} token, not an ivr one; point --token-file elsewhere",
                    path.display(),
                    who.role
                )))
            }
            Err(AccessError::Auth(_)) => {
                info!(file = %path.display(), "the IVR's token is no longer valid; making a new one")
            }
            Err(AccessError::Store(e)) => return Err(e.into()),
        }
    }
    // The node's earlier IVR tokens (a lost file) stop working.
    for old in door.tokens().await? {
        if old.role == TokenRole::Ivr && old.name == config.node_id && old.revoked_at.is_none() {
            door.revoke_token(&old.id, "system:first-start").await?;
        }
    }
    let new = NewToken {
        role: TokenRole::Ivr,
        lawyer: None,
        center: None,
        name: config.node_id.clone(),
        expires_at: None,
    };
    let (text, record) = door.create_token(&new, "system:first-start").await?;
    create_data_dir(config)?;
    write_secret(&path, &text)?;
    info!(token = %record.id, file = %path.display(), "the IVR's token was written");
    Ok(text)
}

/// `hotline ivr`'s token, from its file; refused at start when missing.
fn read_ivr_token(config: &Config) -> Result<String, AppError> {
    let path = ivr_token_file(config);
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(&path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{mode:o}"),
                "the IVR's token file is readable by other users; chmod 600 it"
            );
        }
    }
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        _ => Err(AppError::Token(format!(
            "the IVR has no token to reach ticketing: on a ticketing node run \
             `hotline token create --role ivr --name {}` and save what it prints in {} \
             (mode 0600), or point --token-file at such a file",
            config.node_id,
            path.display()
        ))),
    }
}

/// The rule table and holiday calendar: bundled, or the configured files,
/// which are refused with file, line and reason when malformed.
/// A menu that chooses a limitation rule the table lacks would have every
/// such request refused by ticketing: refuse the start instead, naming it.
fn check_chosen_rules(menus: &MenuStore, limitation: &Limitation) -> Result<(), AppError> {
    let loaded = menus.current();
    for (node, line, rule) in loaded.menu.chosen_rules() {
        if limitation.rules().rule(rule).is_none() {
            return Err(AppError::Menu(format!(
                "{}:{line}: node `{node}` sets rule `{rule}`, which the limitation table does not have (`hotline limitation --list`)",
                loaded.menu.file
            )));
        }
    }
    Ok(())
}

fn load_limitation(config: &Config, calendar: HolidayCalendar) -> Result<Limitation, AppError> {
    let rules = match &config.limitation_rules {
        Some(path) => RuleTable::load(path),
        None => RuleTable::bundled(),
    }
    .map_err(|e| AppError::Limitation(e.to_string()))?;
    Ok(Limitation::new(rules, calendar, config.thresholds()))
}

fn load_calendar(config: &Config) -> Result<HolidayCalendar, AppError> {
    match &config.holiday_calendar {
        Some(path) => HolidayCalendar::load(path),
        None => HolidayCalendar::bundled(),
    }
    .map_err(|e| AppError::Limitation(e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ticketing_takes_one_url_or_several() {
        assert_eq!(super::ticketing_urls("http://a:1").unwrap(), ["http://a:1"]);
        assert_eq!(
            super::ticketing_urls("http://a:1, http://b:2").unwrap(),
            ["http://a:1", "http://b:2"]
        );
        let e = super::ticketing_urls("http://a:1,,http://b:2").unwrap_err();
        assert!(e.to_string().contains("empty entry"), "{e}");
        let e = super::ticketing_urls("http://a:1,b:2").unwrap_err();
        assert!(e.to_string().contains("`b:2` needs its scheme"), "{e}");
    }
}
