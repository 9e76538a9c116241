//! The configuration of a `hotline` server, every key declared once.
//!
//! The one [`settings!`] list below gives each key its type, default, help,
//! environment variable and an example value. From it come the command-line
//! flags and environment variables ([`Settings`], through clap), the file
//! format ([`Settings`], through serde), the resolved [`Config`] and
//! `--print-config`, and the [`KEYS`] table that a test checks the README's
//! configuration table against.
//!
//! Each key takes the first of: a flag, its `HOTLINE_*` environment variable
//! (clap reads both), the TOML file given by `--config` (or `./hotline.toml`
//! when it exists), the default.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use hotline_ivr::sip::trust::TrustedSources;
use hotline_ticketing::callbacks::{BusinessHours, CallbackPolicy};
use hotline_ticketing::limitation::Thresholds;
use hotline_ticketing::paging::PagingPolicy;
use hotline_ticketing::retention::RetentionPolicy;
use hotline_ticketing::routing::RoutingPolicy;

/// The file read when `--config` is not given and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "hotline.toml";

/// One configuration key, as the README documents it.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The TOML key; the flag is `--` and this with `-` for `_`.
    pub name: &'static str,
    /// The environment variable.
    pub env: &'static str,
    /// The default as text, or what happens when the key is not set.
    pub default: &'static str,
    /// Whether `default` is a value (rather than a description).
    pub has_default: bool,
    /// A valid value other than the default, for tests.
    pub example: &'static str,
}

impl Key {
    pub fn flag(&self) -> String {
        format!("--{}", self.name.replace('_', "-"))
    }
}

/// Declares every key once; see the module documentation.
macro_rules! settings {
    (
        with_default { $(
            $key:ident: $ty:ty = $default:literal,
                env $env:literal, value $value:literal, example $example:literal,
                help $help:literal;
        )* }
        optional { $(
            $okey:ident: $oty:ty, unset $unset:literal,
                env $oenv:literal, value $ovalue:literal, example $oexample:literal,
                help $ohelp:literal;
        )* }
        switches { $(
            $skey:ident, env $senv:literal, help $shelp:literal;
        )* }
    ) => {
        /// Every key as given on the command line, in the environment or in
        /// the file; `None` where it was not given there.
        #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Settings {
            $(
                #[arg(long, env = $env, value_name = $value,
                      help = concat!($help, " [default: ", $default, "]"))]
                #[serde(default)]
                pub $key: Option<$ty>,
            )*
            $(
                #[arg(long, env = $oenv, value_name = $ovalue,
                      help = concat!($ohelp, " [default: ", $unset, "]"))]
                #[serde(default)]
                pub $okey: Option<$oty>,
            )*
            $(
                // `--flag` alone means true; `--flag false` and the
                // environment variable say either.
                #[arg(long, env = $senv, value_name = "BOOL", num_args = 0..=1,
                      default_missing_value = "true", help = concat!($shelp, " [default: false]"))]
                #[serde(default)]
                pub $skey: Option<bool>,
            )*
        }

        /// The resolved configuration, as `--print-config` shows it.
        #[derive(Debug, Clone, Serialize)]
        pub struct Config {
            $( #[doc = $help] pub $key: $ty, )*
            $( #[doc = $ohelp] pub $okey: Option<$oty>, )*
            $( #[doc = $shelp] pub $skey: bool, )*
        }

        impl Settings {
            /// Each key from `self` where given there, from `fallback` otherwise.
            pub fn or(self, fallback: Settings) -> Settings {
                Settings {
                    $( $key: self.$key.or(fallback.$key), )*
                    $( $okey: self.$okey.or(fallback.$okey), )*
                    $( $skey: self.$skey.or(fallback.$skey), )*
                }
            }

            /// Fills in the defaults and checks the result.
            pub fn resolve(self) -> Result<Config, ConfigError> {
                let config = Config {
                    $( $key: match self.$key {
                        Some(value) => value,
                        None => parse_default(stringify!($key), $default)?,
                    }, )*
                    $( $okey: self.$okey, )*
                    $( $skey: self.$skey.unwrap_or(false), )*
                };
                config.checked()
            }
        }

        /// Every key, in the order of the README's table.
        pub const KEYS: &[Key] = &[
            $( Key { name: stringify!($key), env: $env, default: $default,
                     has_default: true, example: $example }, )*
            $( Key { name: stringify!($okey), env: $oenv, default: $unset,
                     has_default: false, example: $oexample }, )*
            $( Key { name: stringify!($skey), env: $senv, default: "false",
                     has_default: true, example: "true" }, )*
        ];
    };
}

settings! {
    with_default {
        grpc_listen: SocketAddr = "127.0.0.1:50051",
            env "HOTLINE_GRPC_LISTEN", value "ADDR", example "127.0.0.1:6051",
            help "Address of the ticketing gRPC API; port 0 picks a free port.";
        sip_listen: SocketAddr = "0.0.0.0:5060",
            env "HOTLINE_SIP_LISTEN", value "ADDR", example "127.0.0.1:6060",
            help "SIP address, UDP and TCP on one port; port 0 picks a free port.";
        admin_listen: SocketAddr = "127.0.0.1:50052",
            env "HOTLINE_ADMIN_LISTEN", value "ADDR", example "127.0.0.1:6052",
            help "Address of the IVR admin gRPC API.";
        metrics_listen: SocketAddr = "127.0.0.1:9464",
            env "HOTLINE_METRICS_LISTEN", value "ADDR", example "127.0.0.1:6464",
            help "Address of the IVR's Prometheus endpoint (GET /metrics).";
        web_listen: SocketAddr = "127.0.0.1:8080",
            env "HOTLINE_WEB_LISTEN", value "ADDR", example "127.0.0.1:6080",
            help "Address of the web console (served by ticketing); port 0 picks a free port.";
        data_dir: PathBuf = "hotline-data",
            env "HOTLINE_DATA_DIR", value "DIR", example "/srv/hotline",
            help "Data directory: the SQLite file, the IVR outbox, call recordings.";
        log_format: LogFormat = "text",
            env "HOTLINE_LOG_FORMAT", value "text|json", example "json",
            help "Log format: text for people, json for log collectors.";
        log: String = "info",
            env "HOTLINE_LOG", value "FILTER", example "hotline_ticketing=debug,info",
            help "Log filter, e.g. info or hotline_ticketing=debug.";
        max_calls: usize = "500",
            env "HOTLINE_MAX_CALLS", value "N", example "42",
            help "Calls at once, at most the RTP range's ports; past it (or past what the CPU carries) new calls get 503.";
        drain_timeout_secs: u64 = "30",
            env "HOTLINE_DRAIN_TIMEOUT_SECS", value "SECS", example "12",
            help "Seconds calls in progress may go on after SIGTERM.";
        answer_delay_ms: u64 = "0",
            env "HOTLINE_ANSWER_DELAY_MS", value "MS", example "1500",
            help "Milliseconds of ringing (180) before the IVR answers; 0 answers at once.";
        rtp_port_min: u16 = "20000",
            env "HOTLINE_RTP_PORT_MIN", value "PORT", example "30000",
            help "Lowest RTP port of the IVR; each call takes one port of the range (RTCP shares it).";
        rtp_port_max: u16 = "29999",
            env "HOTLINE_RTP_PORT_MAX", value "PORT", example "30999",
            help "Highest RTP port of the IVR.";
        rtp_timeout_secs: u64 = "30",
            env "HOTLINE_RTP_TIMEOUT_SECS", value "SECS", example "45",
            help "Seconds without RTP from the caller before a call is ended.";
        invite_burst: u32 = "20",
            env "HOTLINE_INVITE_BURST", value "N", example "7",
            help "New INVITEs one source address may send at once; past it 503.";
        invites_per_second: u32 = "5",
            env "HOTLINE_INVITES_PER_SECOND", value "N", example "3",
            help "New INVITEs per second one source address may send after its burst.";
        sip_calls_per_source: usize = "4",
            env "HOTLINE_SIP_CALLS_PER_SOURCE", value "N", example "8",
            help "Calls one untrusted source address may hold at once; past it 486.";
        sip_untrusted: UntrustedAnswer = "reject",
            env "HOTLINE_SIP_UNTRUSTED", value "reject|drop", example "drop",
            help "What sources outside sip_trusted get, when it is set: 403 once, or nothing.";
        node_id: String = "ivr-1",
            env "HOTLINE_NODE_ID", value "NAME", example "ivr-7",
            help "This IVR node's name in the idempotency keys of its ticket requests.";
        ticketing: String = "http://127.0.0.1:50051",
            env "HOTLINE_TICKETING", value "URL[,URL…]", example "http://127.0.0.1:6051",
            help "Where `hotline ivr` finds ticketing: one node, or several separated by commas (requests go to those answering their health check; clients use the first that answers); `hotline serve` uses its own.";
        critical_below_days: i64 = "7",
            env "HOTLINE_CRITICAL_BELOW_DAYS", value "DAYS", example "5",
            help "Fewer days left than this is critical (Legal Aid Law art. 44).";
        urgent_below_days: i64 = "30",
            env "HOTLINE_URGENT_BELOW_DAYS", value "DAYS", example "20",
            help "Fewer days left than this is urgent.";
        ack_critical_secs: u64 = "300",
            env "HOTLINE_ACK_CRITICAL_SECS", value "SECS", example "120",
            help "Seconds a duty lawyer has to acknowledge a critical ticket's offer.";
        ack_urgent_secs: u64 = "1800",
            env "HOTLINE_ACK_URGENT_SECS", value "SECS", example "900",
            help "Seconds to acknowledge an urgent or expired ticket's offer.";
        offer_candidates: u32 = "3",
            env "HOTLINE_OFFER_CANDIDATES", value "N", example "4",
            help "Lawyers offered a ticket per round before supervisors are alerted.";
        escalation_repeat_secs: u64 = "300",
            env "HOTLINE_ESCALATION_REPEAT_SECS", value "SECS", example "240",
            help "Seconds between rounds of offers for an escalated ticket.";
        start_within_secs: u64 = "14400",
            env "HOTLINE_START_WITHIN_SECS", value "SECS", example "7200",
            help "Seconds an assigned ticket may wait to be started before it is flagged.";
        stuck_escalation_secs: u64 = "1800",
            env "HOTLINE_STUCK_ESCALATION_SECS", value "SECS", example "900",
            help "Seconds an escalated urgent ticket may stay unowned before `hotline check` reports it (set on the ticketing node).";
        business_hours: BusinessHours = "09:00-12:00,13:30-17:30",
            env "HOTLINE_BUSINESS_HOURS", value "HH:MM-HH:MM,…", example "08:30-12:00,14:00-18:00",
            help "The centre's opening hours on working days (China Standard Time): callbacks fall due within them.";
        callback_critical_minutes: u64 = "30",
            env "HOTLINE_CALLBACK_CRITICAL_MINUTES", value "MINUTES", example "20",
            help "Minutes of business time within which a critical ticket's caller is called back.";
        callback_normal_working_days: u32 = "2",
            env "HOTLINE_CALLBACK_NORMAL_WORKING_DAYS", value "DAYS", example "3",
            help "Working days within which a normal ticket's caller is called back (an urgent one's: the same working day).";
        page_retries: u32 = "1",
            env "HOTLINE_PAGE_RETRIES", value "N", example "2",
            help "Further calls to a paged duty lawyer who did not answer or chose nothing, each before the offer's deadline.";
        page_retry_after_secs: u64 = "60",
            env "HOTLINE_PAGE_RETRY_AFTER_SECS", value "SECS", example "90",
            help "Seconds after an unanswered page that the lawyer is called again.";
        page_calls_per_hour: u32 = "120",
            env "HOTLINE_PAGE_CALLS_PER_HOUR", value "N", example "300",
            help "Pages dialled per hour, all IVR nodes together (a bound on toll fraud); past it pages wait (set on the ticketing node).";
        page_ring_secs: u64 = "30",
            env "HOTLINE_PAGE_RING_SECS", value "SECS", example "25",
            help "Seconds an IVR node lets a paged lawyer's phone ring before it counts as no answer.";
        callback_ring_secs: u64 = "40",
            env "HOTLINE_CALLBACK_RING_SECS", value "SECS", example "30",
            help "Seconds an IVR node lets a caller's phone ring on a click-to-call (hotline callbacks call) before it counts as no answer.";
        callback_calls_per_hour: u32 = "60",
            env "HOTLINE_CALLBACK_CALLS_PER_HOUR", value "N", example "200",
            help "Click-to-calls asked for per hour, all ticketing nodes of the database together (a bound on toll fraud); past it the next is refused.";
        retention_call_recordings_days: u32 = "30",
            env "HOTLINE_RETENTION_CALL_RECORDINGS_DAYS", value "DAYS", example "14",
            help "Days an IVR node keeps each call's recording of the caller (<data_dir>/recordings); 0 keeps them.";
        retention_message_recordings_days: u32 = "180",
            env "HOTLINE_RETENTION_MESSAGE_RECORDINGS_DAYS", value "DAYS", example "90",
            help "Days after a ticket closes that its message recordings are removed; 0 keeps them.";
        retention_personal_data_years: u32 = "3",
            env "HOTLINE_RETENTION_PERSONAL_DATA_YEARS", value "YEARS", example "5",
            help "Years after a ticket closes that its caller and callback numbers and summary are anonymised; 0 keeps them.";
    }
    optional {
        sip_advertise: IpAddr, unset "the local address each request arrived on",
            env "HOTLINE_SIP_ADVERTISE", value "IP", example "192.0.2.7",
            help "The address put into SDP c= and Contact.";
        sip_trusted: TrustedSources, unset "none: every source is untrusted",
            env "HOTLINE_SIP_TRUSTED", value "CIDR,…", example "10.1.0.0/16,192.0.2.7/32",
            help "Trunks and proxies by address or CIDR; others get media only at their own address, after their ACK.";
        database_url: String, unset "`sqlite://<data_dir>/hotline.db?mode=rwc`",
            env "HOTLINE_DATABASE_URL", value "URL", example "postgres://hotline@db.example/hotline",
            help "Database: sqlite://PATH or postgres://USER@HOST/DB.";
        menu: PathBuf, unset "the embedded 12348 menu",
            env "HOTLINE_MENU", value "FILE", example "/etc/hotline/menu.toml",
            help "The IVR's menu file.";
        prompts_dir: PathBuf, unset "the embedded prompts",
            env "HOTLINE_PROMPTS_DIR", value "DIR", example "/etc/hotline/prompts",
            help "Folder of prompt WAVs, one subfolder per language (see `hotline prompts export`).";
        limitation_rules: PathBuf, unset "the bundled rule table",
            env "HOTLINE_LIMITATION_RULES", value "FILE", example "/etc/hotline/rules.toml",
            help "A limitation rule table replacing the bundled one.";
        token_file: PathBuf, unset "`<data_dir>/ivr.token`, which `hotline serve` writes for its own IVR; for `hotline ivr`, made with `hotline token create --role ivr`",
            env "HOTLINE_TOKEN_FILE", value "FILE", example "/etc/hotline/ivr.token",
            help "The file holding the ivr token the IVR presents to ticketing (mode 0600).";
        holiday_calendar: PathBuf, unset "the bundled calendar",
            env "HOTLINE_HOLIDAY_CALENDAR", value "FILE", example "/etc/hotline/holidays.toml",
            help "A holiday calendar replacing the bundled one (a newer State Council notice).";
        outbound_trunk: String, unset "none: lawyers without a sip_uri are not paged",
            env "HOTLINE_OUTBOUND_TRUNK", value "HOST:PORT", example "10.1.0.5:5060",
            help "The SIP trunk through which an IVR node pages a lawyer's phone number and dials callers on a click-to-call (the number as the request-URI user); set it on ticketing nodes too, which page phones and take click-to-calls only when it is set.";
        tls_cert: PathBuf, unset "none: plaintext gRPC",
            env "HOTLINE_TLS_CERT", value "FILE", example "/etc/hotline/tls/cert.pem",
            help "PEM certificate chain of the gRPC servers (with tls_key): TLS by rustls.";
        tls_key: PathBuf, unset "none",
            env "HOTLINE_TLS_KEY", value "FILE", example "/etc/hotline/tls/key.pem",
            help "PEM private key of tls_cert.";
        tls_ca: PathBuf, unset "none: ticketing is reached in plaintext",
            env "HOTLINE_TLS_CA", value "FILE", example "/etc/hotline/tls/ca.pem",
            help "PEM CA that signed ticketing's certificate, for `hotline ivr` reaching it over https://.";
    }
    switches {
        dev_tls, env "HOTLINE_DEV_TLS",
            help "Serve gRPC over TLS with a self-signed certificate made in <data_dir>/dev-tls/ (for trying it out; tls_cert wins).";
        page_urgent, env "HOTLINE_PAGE_URGENT",
            help "Page duty lawyers by phone for urgent tickets' offers too (critical ones always are).";
        record_callbacks, env "HOTLINE_RECORD_CALLBACKS",
            help "Record click-to-calls (both parties hear that the call is recorded first) and attach the recording to the ticket (set on the ticketing node, which tells the IVR node with each call).";
        allow_plaintext, env "HOTLINE_ALLOW_PLAINTEXT",
            help "Allow plaintext gRPC on an address other than loopback, and to a ticketing elsewhere (otherwise refused).";
    }
}

/// What a server subcommand takes: the settings, where to read more of
/// them, and whether to print them.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); `./hotline.toml` is read when it exists.
    #[arg(long, env = "HOTLINE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: Settings,
    /// Print the resolved configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Run the start-up checks on the configuration (files, TLS, plaintext
    /// rules, menu, rules, an IVR node's ticketing URLs and token) without
    /// binding an address, creating the data directory or opening the
    /// database, and exit: 0 when they pass, 2 with the reason if not.
    /// With --dev-tls, the development certificate is made as at start-up.
    #[arg(long, conflicts_with = "print_config")]
    pub check_config: bool,
}

/// What a SIP request from outside `sip_trusted` gets, when it is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum UntrustedAnswer {
    Reject,
    Drop,
}

impl FromStr for UntrustedAnswer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <Self as clap::ValueEnum>::from_str(s, true)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <Self as clap::ValueEnum>::from_str(s, true)
    }
}

/// A configuration that cannot be used; always the user's to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {reason}", path.display())]
    File {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{0}")]
    Invalid(String),
}

fn parse_default<T: FromStr>(key: &str, text: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| {
        ConfigError::Invalid(format!("the default of {key} (`{text}`) is invalid: {e}"))
    })
}

impl Config {
    /// Flags and environment from `args`, then the configuration file, then
    /// the defaults.
    pub fn load(args: &ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                read_file(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => Settings::default(),
        };
        args.settings.clone().or(file).resolve()
    }

    /// Every default, as a server started with no configuration has it.
    pub fn defaults() -> Result<Self, ConfigError> {
        Settings::default().resolve()
    }

    fn checked(self) -> Result<Self, ConfigError> {
        let invalid = |text: String| Err(ConfigError::Invalid(text));
        if self.rtp_port_min > self.rtp_port_max || self.rtp_port_min == 0 {
            return invalid(format!(
                "rtp_port_min ({}) .. rtp_port_max ({}) must be a range of ports above 0, low to high",
                self.rtp_port_min, self.rtp_port_max
            ));
        }
        if self.max_calls == 0 {
            return invalid("max_calls must be at least 1: 0 would refuse every call".into());
        }
        let ports = usize::from(self.rtp_port_max - self.rtp_port_min) + 1;
        if self.max_calls > ports {
            // Each call holds one port of the range while it lasts: a cap
            // above the range could never be reached, and calls past the
            // range would be refused for want of a port, not by the cap.
            return invalid(format!(
                "max_calls ({}) is more than the {ports} RTP ports of rtp_port_min ({}) .. rtp_port_max ({}); each call holds one: widen the range or lower max_calls",
                self.max_calls, self.rtp_port_min, self.rtp_port_max
            ));
        }
        if !(0 < self.critical_below_days && self.critical_below_days <= self.urgent_below_days) {
            return invalid(format!(
                "critical_below_days ({}) must be above 0 and at most urgent_below_days ({})",
                self.critical_below_days, self.urgent_below_days
            ));
        }
        for (name, secs) in [
            ("ack_critical_secs", self.ack_critical_secs),
            ("ack_urgent_secs", self.ack_urgent_secs),
            ("escalation_repeat_secs", self.escalation_repeat_secs),
            ("start_within_secs", self.start_within_secs),
            ("stuck_escalation_secs", self.stuck_escalation_secs),
        ] {
            if !(1..=7 * 86_400).contains(&secs) {
                return invalid(format!("{name} ({secs}) must be 1 to 604800 seconds"));
            }
        }
        if !(1..=24 * 60).contains(&self.callback_critical_minutes) {
            return invalid(format!(
                "callback_critical_minutes ({}) must be 1 to 1440",
                self.callback_critical_minutes
            ));
        }
        if !(1..=30).contains(&self.callback_normal_working_days) {
            return invalid(format!(
                "callback_normal_working_days ({}) must be 1 to 30",
                self.callback_normal_working_days
            ));
        }
        if !(1..=50).contains(&self.offer_candidates) {
            return invalid(format!(
                "offer_candidates ({}) must be 1 to 50",
                self.offer_candidates
            ));
        }
        let node_ok = !self.node_id.is_empty()
            && self.node_id.len() <= hotline_domain::limits::MAX_NODE_ID_LEN
            && self
                .node_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !node_ok {
            return invalid(format!(
                "node_id `{}` must be 1 to 64 letters, digits, '-', '_' or '.'",
                self.node_id
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return invalid("tls_cert and tls_key go together: give both, or neither".to_owned());
        }
        if self.retention_personal_data_years > 100 {
            return invalid(format!(
                "retention_personal_data_years ({}) must be 0 (keep) to 100",
                self.retention_personal_data_years
            ));
        }
        if self.page_retries > 5 {
            return invalid(format!(
                "page_retries ({}) must be 0 to 5",
                self.page_retries
            ));
        }
        if !(1..=3600).contains(&self.page_retry_after_secs) {
            return invalid(format!(
                "page_retry_after_secs ({}) must be 1 to 3600",
                self.page_retry_after_secs
            ));
        }
        if self.callback_calls_per_hour == 0 {
            return invalid("callback_calls_per_hour must be at least 1".to_owned());
        }
        if !(5..=300).contains(&self.callback_ring_secs) {
            return invalid(format!(
                "callback_ring_secs ({}) must be 5 to 300",
                self.callback_ring_secs
            ));
        }
        if !(5..=300).contains(&self.page_ring_secs) {
            return invalid(format!(
                "page_ring_secs ({}) must be 5 to 300",
                self.page_ring_secs
            ));
        }
        if self.page_calls_per_hour == 0 {
            return invalid("page_calls_per_hour must be at least 1".to_owned());
        }
        if let Some(trunk) = &self.outbound_trunk {
            if let Err(e) = hotline_domain::SipUri::parse(&format!("sip:{trunk}")) {
                return invalid(format!("outbound_trunk `{trunk}` is not HOST[:PORT]: {e}"));
            }
            if trunk.contains('@') {
                return invalid(format!(
                    "outbound_trunk `{trunk}` is HOST[:PORT], without a user"
                ));
            }
        }
        if self.sip_calls_per_source == 0 {
            return invalid("sip_calls_per_source must be at least 1".to_owned());
        }
        if self.invite_burst == 0 || self.invites_per_second == 0 {
            return invalid("invite_burst and invites_per_second must be at least 1".to_owned());
        }
        Ok(self)
    }

    /// The database: the configured URL, or a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("hotline.db").display()
            ),
        }
    }

    pub fn routing(&self) -> RoutingPolicy {
        let secs = |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
        RoutingPolicy {
            ack_critical: secs(self.ack_critical_secs),
            ack_urgent: secs(self.ack_urgent_secs),
            max_candidates: i64::from(self.offer_candidates),
            repeat_every: secs(self.escalation_repeat_secs),
            start_within: secs(self.start_within_secs),
            stuck_escalation: secs(self.stuck_escalation_secs),
            paging: PagingPolicy {
                urgent: self.page_urgent,
                retries: self.page_retries,
                retry_after: secs(self.page_retry_after_secs),
                calls_per_hour: self.page_calls_per_hour,
                // Phones are paged only where there is a trunk to dial them.
                phones: self.outbound_trunk.is_some(),
            },
        }
    }

    /// How an IVR node pages duty lawyers.
    pub fn pager(&self) -> hotline_ivr::paging::PagerConfig {
        hotline_ivr::paging::PagerConfig {
            node: self.node_id.clone(),
            trunk: self.outbound_trunk.clone(),
            ring: std::time::Duration::from_secs(self.page_ring_secs),
        }
    }

    /// How an IVR node places click-to-calls.
    pub fn bridges(&self, boot: &str) -> hotline_ivr::bridge::BridgeConfig {
        hotline_ivr::bridge::BridgeConfig {
            boot: boot.to_owned(),
            node: self.node_id.clone(),
            trunk: self.outbound_trunk.clone(),
            lawyer_ring: std::time::Duration::from_secs(self.page_ring_secs),
            caller_ring: std::time::Duration::from_secs(self.callback_ring_secs),
        }
    }

    /// The click-to-call settings of a ticketing node.
    pub fn bridge_policy(&self) -> hotline_ticketing::callbacks::bridge::BridgePolicy {
        hotline_ticketing::callbacks::bridge::BridgePolicy {
            calls_per_hour: self.callback_calls_per_hour,
            record: self.record_callbacks,
        }
    }

    /// When callers are called back.
    pub fn callbacks(&self) -> CallbackPolicy {
        CallbackPolicy {
            hours: self.business_hours.clone(),
            critical_within: chrono::Duration::minutes(
                i64::try_from(self.callback_critical_minutes).unwrap_or(30),
            ),
            normal_working_days: self.callback_normal_working_days,
        }
    }

    /// How long ticketing keeps a closed ticket's personal data.
    pub fn retention(&self) -> RetentionPolicy {
        let kept = |n: u32| (n > 0).then_some(n);
        RetentionPolicy {
            recordings_days_after_close: kept(self.retention_message_recordings_days),
            personal_data_years_after_close: kept(self.retention_personal_data_years),
        }
    }

    /// How long an IVR node keeps its whole-call recordings.
    pub fn call_recordings_kept(&self) -> Option<std::time::Duration> {
        (self.retention_call_recordings_days > 0).then(|| {
            std::time::Duration::from_secs(u64::from(self.retention_call_recordings_days) * 86_400)
        })
    }

    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            critical_below_days: self.critical_below_days,
            urgent_below_days: self.urgent_below_days,
        }
    }

    /// The configuration as TOML, with the database URL filled in and its
    /// password hidden.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        let mut shown = self.clone();
        shown.database_url = Some(hotline_ticketing::store::redact(&self.database_url()));
        toml::to_string(&shown).map_err(|e| ConfigError::Invalid(e.to_string()))
    }
}

fn read_file(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| {
        // FILE:LINE: reason, as menu files report theirs.
        let line = e
            .span()
            .and_then(|s| text.get(..s.start))
            .map(|before| before.matches('\n').count() + 1)
            .unwrap_or(0);
        ConfigError::File {
            path: path.to_owned(),
            line,
            reason: e.message().trim().replace('\n', " "),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_parses_and_passes_the_checks() {
        let config = Config::defaults().unwrap();
        assert_eq!(config.grpc_listen.to_string(), "127.0.0.1:50051");
        assert_eq!(config.sip_listen.to_string(), "0.0.0.0:5060");
        assert_eq!(config.menu, None);
        assert!(config
            .database_url()
            .starts_with("sqlite://hotline-data/hotline.db"));
    }

    #[test]
    fn every_example_is_valid_and_differs_from_the_default() {
        let mut text = String::new();
        for key in KEYS {
            assert_ne!(key.example, key.default, "{}", key.name);
            let quoted = toml::Value::String(key.example.to_owned());
            let value = match (key.example.parse::<i64>(), key.example.parse::<bool>()) {
                (Ok(n), _) => n.to_string(),
                (_, Ok(b)) => b.to_string(),
                _ => quoted.to_string(),
            };
            text.push_str(&format!("{} = {value}\n", key.name));
        }
        let file: Settings = toml::from_str(&text).unwrap();
        let config = file.resolve().unwrap();
        let printed = config.to_toml().unwrap();
        for key in KEYS {
            assert!(
                printed.contains(key.example),
                "{} missing in\n{printed}",
                key.name
            );
        }
    }

    #[test]
    fn a_flag_beats_the_file_and_the_file_beats_the_default() {
        let flags = Settings {
            max_calls: Some(7),
            ..Settings::default()
        };
        let file: Settings = toml::from_str("max_calls = 9\nnode_id = \"b\"").unwrap();
        let config = flags.or(file).resolve().unwrap();
        assert_eq!(config.max_calls, 7);
        assert_eq!(config.node_id, "b");
        assert_eq!(config.drain_timeout_secs, 30);
    }

    #[test]
    fn more_calls_than_rtp_ports_are_refused_naming_both() {
        let file: Settings =
            toml::from_str("max_calls = 1001\nrtp_port_min = 30000\nrtp_port_max = 30999").unwrap();
        let err = file.resolve().unwrap_err().to_string();
        assert!(
            err.contains("max_calls (1001)") && err.contains("1000 RTP ports"),
            "{err}"
        );
        let file: Settings =
            toml::from_str("max_calls = 1000\nrtp_port_min = 30000\nrtp_port_max = 30999").unwrap();
        assert_eq!(file.resolve().unwrap().max_calls, 1000);
    }

    #[test]
    fn no_calls_at_all_is_refused_saying_why() {
        let file: Settings = toml::from_str("max_calls = 0").unwrap();
        let err = file.resolve().unwrap_err().to_string();
        assert!(
            err.contains("max_calls must be at least 1") && err.contains("refuse every call"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_file_key_is_refused_with_its_name() {
        let err = toml::from_str::<Settings>("max_call = 3").unwrap_err();
        assert!(err.to_string().contains("max_call"), "{err}");
    }

    /// The README's configuration table has a row for every key, with its
    /// flag, environment variable and default as the code has them.
    #[test]
    fn the_readme_documents_every_key() {
        let readme = include_str!("../README.md");
        let mut missing = Vec::new();
        for key in KEYS {
            let default = if key.has_default {
                format!("`{}`", key.default)
            } else {
                key.default.to_owned()
            };
            let row = format!(
                "| `{}` | `{}` | `{}` | {default} |",
                key.name,
                key.flag(),
                key.env
            );
            if !readme.lines().any(|line| line.starts_with(&row)) {
                missing.push(row);
            }
        }
        assert!(
            missing.is_empty(),
            "rows missing from the README's configuration table:\n{}",
            missing.join("\n")
        );
    }
}
