//! The configuration of a `hotline` server, in one typed struct.
//!
//! Each key comes from the first of: a command-line flag, a `HOTLINE_*`
//! environment variable (clap reads both), the TOML file given by `--config`
//! (or `./hotline.toml` when it exists), and the built-in default.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use hotline_ticketing::limitation::Thresholds;

use crate::cli::ServeArgs;

/// The resolved configuration, as `--print-config` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Where the ticketing gRPC API listens.
    pub grpc_listen: SocketAddr,
    /// Where SIP listens, UDP and TCP on the same port.
    pub sip_listen: SocketAddr,
    /// Where the IVR admin gRPC API listens.
    pub admin_listen: SocketAddr,
    /// The address put into SDP `c=` and Contact; by default the local
    /// address each request arrived on.
    pub sip_advertise: Option<IpAddr>,
    /// Where the prompt WAVs are (one folder per language).
    pub prompts_dir: PathBuf,
    /// The RTP port range, inclusive.
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
    /// Calls at once; past it new calls get 503.
    pub max_calls: usize,
    /// Seconds without RTP from a caller before the call is ended.
    pub rtp_timeout_secs: u64,
    /// Seconds calls may go on after SIGTERM.
    pub drain_timeout_secs: u64,
    /// Milliseconds of ringing (180) before the IVR answers; 0 answers at once.
    pub answer_delay_ms: u64,
    /// New INVITEs one source address may send at once, and per second after.
    pub invite_burst: u32,
    pub invites_per_second: u32,
    /// The SQLite file and, later, the IVR outbox live here.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; by default a SQLite file in `data_dir`.
    pub database_url: String,
    /// `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `hotline_ticketing=debug,info`.
    pub log: String,
    /// A limitation rule table replacing the bundled one.
    pub limitation_rules: Option<PathBuf>,
    /// A holiday calendar replacing the bundled one (a newer State Council notice).
    pub holiday_calendar: Option<PathBuf>,
    /// Fewer days left than this is `critical` (Legal Aid Law art. 44: 7).
    pub critical_below_days: i64,
    /// Fewer days left than this is `urgent`.
    pub urgent_below_days: i64,
    /// The IVR's call flow.
    pub menu: PathBuf,
    /// Where the IVR finds ticketing when it runs alone (`hotline ivr`);
    /// `hotline serve` uses its own ticketing listener.
    pub ticketing: String,
    /// Names this IVR node in the idempotency keys of its ticket requests.
    pub node_id: String,
    /// Where the IVR serves Prometheus metrics (`GET /metrics`).
    pub metrics_listen: SocketAddr,
    /// Seconds a duty lawyer has to acknowledge a critical ticket's offer.
    pub ack_critical_secs: u64,
    /// Seconds to acknowledge an urgent or expired ticket's offer.
    pub ack_urgent_secs: u64,
    /// Lawyers offered a ticket per round before supervisors are alerted.
    pub offer_candidates: u32,
    /// Seconds between rounds of offers for an escalated ticket.
    pub escalation_repeat_secs: u64,
    /// Seconds an assigned ticket may wait to be started before it is flagged.
    pub start_within_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The configuration file: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    grpc_listen: Option<SocketAddr>,
    sip_listen: Option<SocketAddr>,
    admin_listen: Option<SocketAddr>,
    sip_advertise: Option<IpAddr>,
    prompts_dir: Option<PathBuf>,
    rtp_port_min: Option<u16>,
    rtp_port_max: Option<u16>,
    max_calls: Option<usize>,
    rtp_timeout_secs: Option<u64>,
    drain_timeout_secs: Option<u64>,
    answer_delay_ms: Option<u64>,
    invite_burst: Option<u32>,
    invites_per_second: Option<u32>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    log_format: Option<LogFormat>,
    log: Option<String>,
    limitation_rules: Option<PathBuf>,
    holiday_calendar: Option<PathBuf>,
    critical_below_days: Option<i64>,
    urgent_below_days: Option<i64>,
    menu: Option<PathBuf>,
    ticketing: Option<String>,
    node_id: Option<String>,
    metrics_listen: Option<SocketAddr>,
    ack_critical_secs: Option<u64>,
    ack_urgent_secs: Option<u64>,
    offer_candidates: Option<u32>,
    escalation_repeat_secs: Option<u64>,
    start_within_secs: Option<u64>,
}

pub const DEFAULT_GRPC_LISTEN: &str = "127.0.0.1:50051";
pub const DEFAULT_SIP_LISTEN: &str = "0.0.0.0:5060";
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:50052";
pub const DEFAULT_CONFIG_FILE: &str = "hotline.toml";
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";
pub const DEFAULT_MENU: &str = "ivr/menus/12348.toml";
pub const DEFAULT_TICKETING: &str = "http://127.0.0.1:50051";

impl Config {
    pub fn load(args: &ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                read_file(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("hotline-data"));
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| {
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.join("hotline.db").display()
                )
            });
        let defaults = Thresholds::default();
        Ok(Self {
            grpc_listen: match args.grpc_listen.or(file.grpc_listen) {
                Some(addr) => addr,
                None => DEFAULT_GRPC_LISTEN.parse()?,
            },
            sip_listen: match args.sip_listen.or(file.sip_listen) {
                Some(addr) => addr,
                None => DEFAULT_SIP_LISTEN.parse()?,
            },
            admin_listen: match args.admin_listen.or(file.admin_listen) {
                Some(addr) => addr,
                None => DEFAULT_ADMIN_LISTEN.parse()?,
            },
            sip_advertise: args.sip_advertise.or(file.sip_advertise),
            prompts_dir: args
                .prompts_dir
                .clone()
                .or(file.prompts_dir)
                .unwrap_or_else(|| PathBuf::from("prompts")),
            rtp_port_min: file.rtp_port_min.unwrap_or(20000),
            rtp_port_max: file.rtp_port_max.unwrap_or(29999),
            max_calls: args.max_calls.or(file.max_calls).unwrap_or(500),
            rtp_timeout_secs: file.rtp_timeout_secs.unwrap_or(30),
            drain_timeout_secs: args
                .drain_timeout_secs
                .or(file.drain_timeout_secs)
                .unwrap_or(30),
            answer_delay_ms: args.answer_delay_ms.or(file.answer_delay_ms).unwrap_or(0),
            invite_burst: file.invite_burst.unwrap_or(20),
            invites_per_second: file.invites_per_second.unwrap_or(5),
            data_dir,
            database_url,
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            log: args
                .log
                .clone()
                .or(file.log)
                .unwrap_or_else(|| "info".to_owned()),
            limitation_rules: args.limitation_rules.clone().or(file.limitation_rules),
            holiday_calendar: args.holiday_calendar.clone().or(file.holiday_calendar),
            critical_below_days: args
                .critical_below_days
                .or(file.critical_below_days)
                .unwrap_or(defaults.critical_below_days),
            urgent_below_days: args
                .urgent_below_days
                .or(file.urgent_below_days)
                .unwrap_or(defaults.urgent_below_days),
            menu: args
                .menu
                .clone()
                .or(file.menu)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_MENU)),
            ticketing: args
                .ticketing
                .clone()
                .or(file.ticketing)
                .unwrap_or_else(|| DEFAULT_TICKETING.to_owned()),
            node_id: args
                .node_id
                .clone()
                .or(file.node_id)
                .unwrap_or_else(|| "ivr-1".to_owned()),
            metrics_listen: match args.metrics_listen.or(file.metrics_listen) {
                Some(addr) => addr,
                None => DEFAULT_METRICS_LISTEN.parse()?,
            },
            ack_critical_secs: args
                .ack_critical_secs
                .or(file.ack_critical_secs)
                .unwrap_or(300),
            ack_urgent_secs: args
                .ack_urgent_secs
                .or(file.ack_urgent_secs)
                .unwrap_or(1800),
            offer_candidates: file.offer_candidates.unwrap_or(3),
            escalation_repeat_secs: args
                .escalation_repeat_secs
                .or(file.escalation_repeat_secs)
                .unwrap_or(300),
            start_within_secs: file.start_within_secs.unwrap_or(4 * 3600),
        })
        .and_then(Config::checked)
    }

    fn checked(self) -> anyhow::Result<Self> {
        if self.rtp_port_min > self.rtp_port_max || self.rtp_port_max - self.rtp_port_min < 2 {
            return Err(crate::UsageError(format!(
                "rtp_port_min ({}) .. rtp_port_max ({}) must span at least one even/odd pair",
                self.rtp_port_min, self.rtp_port_max
            ))
            .into());
        }
        if !(0 < self.critical_below_days && self.critical_below_days <= self.urgent_below_days) {
            return Err(crate::UsageError(format!(
                "critical_below_days ({}) must be above 0 and at most urgent_below_days ({})",
                self.critical_below_days, self.urgent_below_days
            ))
            .into());
        }
        let bounded = |name: &str, v: u64| -> anyhow::Result<()> {
            if (1..=7 * 86_400).contains(&v) {
                Ok(())
            } else {
                Err(crate::UsageError(format!("{name} ({v}) must be 1 to 604800 seconds")).into())
            }
        };
        bounded("ack_critical_secs", self.ack_critical_secs)?;
        bounded("ack_urgent_secs", self.ack_urgent_secs)?;
        bounded("escalation_repeat_secs", self.escalation_repeat_secs)?;
        bounded("start_within_secs", self.start_within_secs)?;
        if !(1..=50).contains(&self.offer_candidates) {
            return Err(crate::UsageError(format!(
                "offer_candidates ({}) must be 1 to 50",
                self.offer_candidates
            ))
            .into());
        }
        let node_ok = !self.node_id.is_empty()
            && self.node_id.len() <= 64
            && self
                .node_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !node_ok {
            return Err(crate::UsageError(format!(
                "node_id `{}` must be 1 to 64 letters, digits, '-', '_' or '.'",
                self.node_id
            ))
            .into());
        }
        Ok(self)
    }

    pub fn routing(&self) -> hotline_ticketing::routing::RoutingPolicy {
        let secs = |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
        hotline_ticketing::routing::RoutingPolicy {
            ack_critical: secs(self.ack_critical_secs),
            ack_urgent: secs(self.ack_urgent_secs),
            max_candidates: i64::from(self.offer_candidates),
            repeat_every: secs(self.escalation_repeat_secs),
            start_within: secs(self.start_within_secs),
        }
    }

    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            critical_below_days: self.critical_below_days,
            urgent_below_days: self.urgent_below_days,
        }
    }

    /// The configuration as TOML, with any database password hidden.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        let mut shown = self.clone();
        shown.database_url = hotline_ticketing::store::redact(&self.database_url);
        Ok(toml::to_string(&shown)?)
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        crate::UsageError(format!(
            "invalid configuration file {}: {}",
            path.display(),
            e.to_string().trim_end()
        ))
        .into()
    })
}
