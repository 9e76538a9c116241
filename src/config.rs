//! The configuration of a `hotline` server, in one typed struct.
//!
//! Each key comes from the first of: a command-line flag, a `HOTLINE_*`
//! environment variable (clap reads both), the TOML file given by `--config`
//! (or `./hotline.toml` when it exists), and the built-in default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

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
        })
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
