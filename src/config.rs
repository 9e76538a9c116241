//! The configuration of a `hotline` server, in one typed struct.
//!
//! Each key comes from the first of: a command-line flag, a `HOTLINE_*`
//! environment variable (clap reads both), the TOML file given by `--config`
//! (or `./hotline.toml` when it exists), and the built-in default.

use std::net::SocketAddr;
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
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    log_format: Option<LogFormat>,
    log: Option<String>,
    limitation_rules: Option<PathBuf>,
    holiday_calendar: Option<PathBuf>,
    critical_below_days: Option<i64>,
    urgent_below_days: Option<i64>,
}

pub const DEFAULT_GRPC_LISTEN: &str = "127.0.0.1:50051";
pub const DEFAULT_CONFIG_FILE: &str = "hotline.toml";

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
        })
        .and_then(Config::checked)
    }

    fn checked(self) -> anyhow::Result<Self> {
        if !(0 < self.critical_below_days && self.critical_below_days <= self.urgent_below_days) {
            return Err(crate::UsageError(format!(
                "critical_below_days ({}) must be above 0 and at most urgent_below_days ({})",
                self.critical_below_days, self.urgent_below_days
            ))
            .into());
        }
        Ok(self)
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
