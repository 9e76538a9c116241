//! The command line: every subcommand and flag, with help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use hotline::ServeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "hotline",
    version,
    about = "The 12348 public legal-aid hotline: IVR, ticketing and routing.",
    after_help = "Run `hotline serve` to start the system, then `hotline tickets --help` for the operator commands."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole system on one node (embedded SQLite by default).
    Serve(ServeArgs),
    /// Run the ticketing service alone, for deployments with several nodes.
    Ticketing(ServeArgs),
    /// Run the IVR (SIP) service alone.
    Ivr(ServeArgs),
    /// Create, find and move tickets, as an operator.
    #[command(subcommand)]
    Tickets(TicketsCommand),
    /// Compute a limitation deadline and its urgency (Legal Aid Law art. 44), offline.
    Limitation(LimitationArgs),
    /// Manage the duty-lawyer roster: lawyers and their shifts.
    #[command(subcommand)]
    Roster(RosterCommand),
    /// A duty lawyer's side: watch offers, acknowledge, decline, start, close.
    #[command(subcommand)]
    Lawyer(LawyerCommand),
    /// List routing problems; exit 1 if any: urgent tickets nobody owns, offers
    /// past their deadline, offers or timers left on tickets that no longer seek
    /// a lawyer, and escalations unowned longer than the server's
    /// stuck_escalation_secs.
    Check {
        #[command(flatten)]
        client: ClientArgs,
        /// Offers this many seconds past their deadline count as unprocessed.
        #[arg(long, default_value_t = 60, value_name = "SECS")]
        grace_seconds: i64,
    },
    /// API tokens: make one for a lawyer, a supervisor or an IVR node, list
    /// them, revoke one (admin).
    #[command(subcommand)]
    Token(TokenCommand),
    /// The audit log: who was denied what, who saw which ticket's full
    /// numbers or recordings, and when (supervisors and admins).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Callers waiting for the centre to call them back: what is due, and
    /// what came of an attempt (lawyers their own tickets, supervisors
    /// their centre).
    #[command(subcommand)]
    Callbacks(CallbacksCommand),
    /// The justice bureau's reports and quality-review samples
    /// (supervisors and admins); the web console shows the same.
    #[command(subcommand)]
    Supervisor(SupervisorCommand),
    /// The IVR node's outbox: ticket requests waiting for ticketing, and
    /// dead letters it refused for good (run on the IVR node; reads the
    /// outbox in the configured data directory).
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Check a menu file, or draw it.
    #[command(subcommand)]
    Menu(MenuCommand),
    /// The prompts compiled into the binary, for a center to replace.
    #[command(subcommand)]
    Prompts(PromptsCommand),
    /// Test a menu by a real call: dial, key, listen, and name the prompts
    /// heard (matched against the prompt files); exit 1 when --expect is not
    /// met.
    Call(CallArgs),
    /// Find in-band DTMF digits in a WAV file (8 kHz mono 16-bit PCM).
    Dtmf {
        /// The recording to analyse.
        file: PathBuf,
        /// One JSON object per digit: {"digit": "5", "start_ms": 1200}.
        #[arg(long)]
        json: bool,
    },
}

/// `hotline call SIP_URI …`
#[derive(Debug, Args)]
pub struct CallArgs {
    /// Where to call, e.g. sip:12348@127.0.0.1:5060.
    pub uri: String,
    /// Key groups, comma-separated, each sent (RFC 4733) as the IVR's next
    /// prompt begins: `1,1,20250301#`.
    #[arg(long, value_name = "SEQ")]
    pub keys: Option<String>,
    /// A recording (8 kHz mono 16-bit WAV) to talk when a record node beeps.
    #[arg(long, value_name = "FILE.wav")]
    pub say: Option<PathBuf>,
    /// Prompts that must be heard, in this order (`welcome`, or `en/goodbye`
    /// for one language); exit 1 naming the first one missing.
    #[arg(long, value_name = "P1,P2,…")]
    pub expect: Option<String>,
    /// The prompt files to recognise (default: the embedded prompts).
    #[arg(long, value_name = "DIR")]
    pub prompts_dir: Option<PathBuf>,
    /// Save everything heard as a WAV.
    #[arg(long, value_name = "FILE.wav")]
    pub save: Option<PathBuf>,
    /// One JSON object: answered, prompts, ticket_number, ended_by.
    #[arg(long)]
    pub json: bool,
    /// The caller's number the IVR sees (the From user).
    #[arg(long, default_value = "13800000000", value_name = "NUMBER")]
    pub from: String,
    /// The codec offered: both, or only one (as a trunk that transcodes to it).
    #[arg(long, value_enum, default_value_t = Codec::Both)]
    pub codec: Codec,
    /// Hang up after this long whatever happens.
    #[arg(long, default_value_t = 180, value_name = "SECS")]
    pub max_secs: u64,
    /// Hang up when, after the last key, nothing is said for this long.
    #[arg(long, default_value_t = 12, value_name = "SECS")]
    pub quiet_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Codec {
    Both,
    Pcmu,
    Pcma,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["matter", "document", "rule", "list"])))]
pub struct LimitationArgs {
    /// The caller's matter, e.g. labor-termination; its rules decide.
    #[arg(long)]
    pub matter: Option<String>,
    /// One rule by id (see --list), e.g. appeal-judgment.
    #[arg(long, value_name = "ID")]
    pub rule: Option<String>,
    /// A document the caller received: judgment, ruling, arbitral-award,
    /// administrative-decision or reconsideration-decision; its rules decide
    /// (with --matter, the matter's own mapping if it has one), and
    /// --event-date is the day it was received.
    #[arg(long, value_name = "DOCUMENT")]
    pub document: Option<String>,
    /// The date the period runs from; leave it out when the caller does not know it.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub event_date: Option<String>,
    /// Today's date [default: today in Asia/Shanghai].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub today: Option<String>,
    /// Property or evidence preservation is needed: always critical.
    #[arg(long)]
    pub preservation: bool,
    /// Print the rule table instead.
    #[arg(long)]
    pub list: bool,
    /// Print JSON: one object (with --list, one per rule).
    #[arg(long)]
    pub json: bool,
    /// A rule table to use instead of the bundled one.
    #[arg(long, env = "HOTLINE_LIMITATION_RULES", value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// A holiday calendar to use instead of the bundled one.
    #[arg(long, env = "HOTLINE_HOLIDAY_CALENDAR", value_name = "FILE")]
    pub calendar: Option<PathBuf>,
}

/// Options every client command shares.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// URL of the ticketing service (several nodes: comma-separated; the
    /// first that answers is used).
    #[arg(
        long,
        env = "HOTLINE_TICKETING",
        default_value = "http://127.0.0.1:50051",
        value_name = "URL[,URL…]",
        global = true
    )]
    pub ticketing: String,
    /// PEM CA that signed ticketing's certificate, for an https:// URL
    /// (with `hotline serve --dev-tls`: ./hotline-data/dev-tls/cert.pem).
    #[arg(long, env = "HOTLINE_TLS_CA", value_name = "FILE", global = true)]
    pub tls_ca: Option<PathBuf>,
    /// The bearer token to present [default: ./hotline-data/admin.token,
    /// which `hotline serve`, or the first `hotline ticketing` on a
    /// database, writes on its first start].
    #[arg(
        long,
        env = "HOTLINE_TOKEN",
        value_name = "TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Print records as JSON, one object per line.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TicketsCommand {
    /// Create a ticket as an operator would, and print it.
    Create {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        facts: CreateArgs,
    },
    /// List tickets, newest first.
    List {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        filter: ListArgs,
    },
    /// Show one ticket, by its number or an alias.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        number: String,
    },
    /// Show a ticket's history, oldest first.
    History {
        #[command(flatten)]
        client: ClientArgs,
        number: String,
    },
    /// Move a ticket through its lifecycle.
    Transition {
        #[command(flatten)]
        client: ClientArgs,
        number: String,
        /// provisional, accepted, rejected, assigned, in_progress or closed.
        #[arg(long, value_name = "STATE")]
        to: String,
        /// Why; required to reject (Legal Aid Law art. 43).
        #[arg(long)]
        reason: Option<String>,
        /// Outcome code; required to close (e.g. advice-given, settled, withdrawn).
        #[arg(long, value_name = "CODE")]
        outcome: Option<String>,
        /// Lawyer id; required to assign.
        #[arg(long, value_name = "ID")]
        lawyer: Option<String>,
    },
    /// Give an assigned (or in-progress) ticket to another lawyer, with a
    /// reason; the lawyer it is taken from is told on their offer stream.
    Reassign {
        #[command(flatten)]
        client: ClientArgs,
        /// The ticket's number (or an alias).
        number: String,
        /// The lawyer who takes it over (active on the roster).
        #[arg(long, value_name = "ID")]
        lawyer: String,
        /// Why, for the ticket's history and both lawyers' streams.
        #[arg(long)]
        reason: String,
    },
    /// Correct facts of a ticket; each correction is recorded in its history.
    Correct {
        #[command(flatten)]
        client: ClientArgs,
        number: String,
        #[arg(long)]
        matter: Option<String>,
        /// YYYY-MM-DD, or `unknown` when the caller does not know it.
        #[arg(long, value_name = "DATE")]
        event_date: Option<String>,
        #[arg(long, value_name = "NUMBER")]
        callback: Option<String>,
        /// A document the caller received (judgment, ruling, arbitral-award,
        /// administrative-decision, reconsideration-decision), or `none`.
        #[arg(long, value_name = "DOCUMENT")]
        document: Option<String>,
        /// A limitation rule by id that decides (e.g. inheritance), or `none`.
        #[arg(long, value_name = "ID")]
        rule: Option<String>,
        /// Preservation of property or evidence needed.
        #[arg(long, value_name = "BOOL")]
        preservation: Option<bool>,
        /// Advance enforcement needed.
        #[arg(long, value_name = "BOOL")]
        advance_enforcement: Option<bool>,
        /// Priority group, e.g. migrant-worker.
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        #[arg(long, value_name = "CODE")]
        region: Option<String>,
        #[arg(long, value_name = "zh|en")]
        language: Option<String>,
        /// Why the facts changed.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Mark an application's materials received: the art. 43 decision
    /// clock (7 days) starts, or restarts, today.
    Materials {
        #[command(flatten)]
        client: ClientArgs,
        number: String,
        /// What was received, for the history.
        #[arg(long)]
        note: Option<String>,
    },
    /// Add a note to a ticket's history.
    Note {
        #[command(flatten)]
        client: ClientArgs,
        number: String,
        text: String,
    },
    /// Save a recording of a ticket (its id is in `tickets show`) to a file.
    Recording {
        #[command(flatten)]
        client: ClientArgs,
        /// The recording's id.
        id: i64,
        /// Where to write the audio (a WAV file); `-` writes to stdout.
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// application or consultation.
    #[arg(long, default_value = "application")]
    pub kind: String,
    /// Matter, e.g. labor-termination (see the glossary); optional for a consultation.
    #[arg(long)]
    pub matter: Option<String>,
    /// The number the caller called from.
    #[arg(long, value_name = "NUMBER")]
    pub caller: Option<String>,
    /// The number to call back.
    #[arg(long, value_name = "NUMBER")]
    pub callback: Option<String>,
    /// The date the limitation period runs from, YYYY-MM-DD (with --document,
    /// the day it was received).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub event_date: Option<String>,
    /// A document the caller received: judgment, ruling, arbitral-award,
    /// administrative-decision, reconsideration-decision.
    #[arg(long, value_name = "DOCUMENT")]
    pub document: Option<String>,
    /// A limitation rule by id (`hotline limitation --list`); decides over
    /// the document and the matter.
    #[arg(long, value_name = "ID")]
    pub rule: Option<String>,
    /// Property or evidence preservation is needed.
    #[arg(long)]
    pub preservation: bool,
    /// Advance enforcement is needed: the other side must pay wages,
    /// medical costs or support now.
    #[arg(long)]
    pub advance_enforcement: bool,
    /// Priority group: migrant-worker, disabled-or-elderly, military, social-assistance, minor, domestic-violence, none.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    #[arg(long, value_name = "zh|en")]
    pub language: Option<String>,
    /// Legal-aid center [default: default].
    #[arg(long)]
    pub center: Option<String>,
    /// GB/T 2260 region code, e.g. 440300.
    #[arg(long, value_name = "CODE")]
    pub region: Option<String>,
    /// What the caller said, at most 4 KiB.
    #[arg(long)]
    pub summary: Option<String>,
    /// Economic-hardship check waived as claimed (art. 42; proof still required).
    #[arg(long)]
    pub hardship_waived: bool,
    /// The article the hardship claim rests on: art-42-1, art-42-2, art-42-3, art-32.
    #[arg(long, value_name = "ARTICLE")]
    pub hardship_basis: Option<String>,
    /// The caller is willing to give a written hardship pledge (art. 41).
    #[arg(long)]
    pub pledge_offered: bool,
    #[arg(long)]
    pub home_visit: bool,
    #[arg(long)]
    pub mediation_preferred: bool,
    /// Makes retries safe: the same key returns the same ticket [default: a fresh key].
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub state: Option<String>,
    #[arg(long)]
    pub urgency: Option<String>,
    #[arg(long)]
    pub matter: Option<String>,
    #[arg(long)]
    pub center: Option<String>,
    /// Tickets this number finds, as their own number or an alias.
    #[arg(long)]
    pub number: Option<String>,
    /// Created at or after this time (RFC 3339, or a date YYYY-MM-DD in Asia/Shanghai).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Created before this time (RFC 3339, or a date YYYY-MM-DD in Asia/Shanghai).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// At most this many tickets.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum MenuCommand {
    /// Validate a menu file as the IVR does at start; prints every problem as FILE:LINE: reason.
    Check {
        /// The menu file [default: the embedded 12348 menu].
        file: Option<PathBuf>,
        /// Folder of prompt WAVs to check the menu's prompts against [default: the embedded prompts].
        #[arg(long, env = "HOTLINE_PROMPTS_DIR", value_name = "DIR")]
        prompts_dir: Option<PathBuf>,
    },
    /// Print the flow as Graphviz DOT (`hotline menu graph FILE | dot -Tsvg > menu.svg`).
    Graph {
        /// The menu file [default: the embedded 12348 menu].
        file: Option<PathBuf>,
    },
    /// Ask a running IVR to load its menu file again (as SIGHUP does).
    Reload {
        /// Address of the IVR admin API.
        #[arg(
            long,
            env = "HOTLINE_ADMIN",
            default_value = "http://127.0.0.1:50052",
            value_name = "URL"
        )]
        admin: String,
        /// An admin's token [default: ./hotline-data/admin.token].
        #[arg(
            long,
            env = "HOTLINE_TOKEN",
            value_name = "TOKEN",
            hide_env_values = true
        )]
        token: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PromptsCommand {
    /// Write the embedded prompts to DIR/<language>/<name>.wav with their
    /// texts in DIR/prompts.tsv; replace files there and start with --prompts-dir DIR.
    Export {
        /// The folder to write; created if missing.
        dir: PathBuf,
        /// Replace prompts already in DIR (a center's own recordings are
        /// otherwise never overwritten).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Add a lawyer to the roster (or update the one with that id).
    AddLawyer {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// Phone number (shown in full only to the lawyer's own tools).
        #[arg(long, value_name = "NUMBER")]
        phone: String,
        /// Where the lawyer is paged: sip:user@host[:port]. Without it,
        /// pages go to their phone through outbound_trunk.
        #[arg(long = "sip-uri", alias = "sip", value_name = "URI")]
        sip: Option<String>,
        /// Matters the lawyer takes, e.g. labor-wages,labor-termination.
        #[arg(long, value_delimiter = ',', required = true)]
        skills: Vec<String>,
        /// Region codes covered (GB/T 2260); none means anywhere.
        #[arg(long, value_delimiter = ',')]
        regions: Vec<String>,
        #[arg(long, value_delimiter = ',', default_value = "zh")]
        languages: Vec<String>,
        /// Most open tickets at once.
        #[arg(long, default_value_t = 5)]
        capacity: i64,
        #[arg(long, default_value = "default")]
        center: String,
        /// Off the roster for now (no offers).
        #[arg(long)]
        inactive: bool,
    },
    /// Add a shift; times are RFC 3339, or local times in Asia/Shanghai.
    AddShift {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        lawyer: String,
        #[arg(long, value_name = "TIME")]
        from: String,
        #[arg(long, value_name = "TIME")]
        to: String,
        /// Repeat the shift weekly, this many times in all (a weekly pattern).
        #[arg(long, default_value_t = 1, value_name = "WEEKS")]
        weekly: u32,
    },
    /// Give a shift to another lawyer (a swap).
    SwapShift {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long, value_name = "ID")]
        shift: i64,
        #[arg(long, value_name = "LAWYER")]
        to: String,
    },
    /// Import lawyers (and shifts) from CSV: id,name,phone,sip_uri,skills,regions,languages,capacity,center,shift_from,shift_to (lists separated by `;`).
    Import {
        #[command(flatten)]
        client: ClientArgs,
        file: PathBuf,
    },
    /// Print the roster as CSV, in the import format.
    Export {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The lawyers on the roster.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Who is on duty now, or at --at.
    OnDuty {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long, default_value = "default")]
        center: String,
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum LawyerCommand {
    /// Follow offers as they come (and are withdrawn), until interrupted.
    Watch {
        #[command(flatten)]
        client: ClientArgs,
        /// The lawyer's id; must be the token's own [default: the token's lawyer].
        #[arg(long, value_name = "ID")]
        lawyer: Option<String>,
        /// Resume after this event id (the last one seen).
        #[arg(long, default_value_t = 0, value_name = "EVENT_ID")]
        after: i64,
    },
    /// Take an offered ticket.
    Ack {
        #[command(flatten)]
        client: ClientArgs,
        ticket: String,
        /// The lawyer's id; must be the token's own [default: the token's lawyer].
        #[arg(long, value_name = "ID")]
        lawyer: Option<String>,
    },
    /// Decline an offered ticket; the next lawyer is asked at once.
    Decline {
        #[command(flatten)]
        client: ClientArgs,
        ticket: String,
        /// The lawyer's id; must be the token's own [default: the token's lawyer].
        #[arg(long, value_name = "ID")]
        lawyer: Option<String>,
        #[arg(long)]
        reason: String,
    },
    /// Start working on an assigned ticket (in_progress).
    Start {
        #[command(flatten)]
        client: ClientArgs,
        ticket: String,
        /// The lawyer's id; must be the token's own [default: the token's lawyer].
        #[arg(long, value_name = "ID")]
        lawyer: Option<String>,
    },
    /// Close a ticket with an outcome.
    Close {
        #[command(flatten)]
        client: ClientArgs,
        ticket: String,
        /// The lawyer's id; must be the token's own [default: the token's lawyer].
        #[arg(long, value_name = "ID")]
        lawyer: Option<String>,
        #[arg(long, value_name = "CODE")]
        outcome: String,
    },
    /// Tickets waiting to be pulled: green-channel groups first, then by decision date.
    Queue {
        #[command(flatten)]
        client: ClientArgs,
        /// The center [default: the token's center, else `default`].
        #[arg(long)]
        center: Option<String>,
    },
    /// Take a ticket from the queue: an accepted ticket is assigned to the
    /// lawyer; an application or consultation gets them as its owner, and
    /// the centre's decision is still to come.
    Pull {
        #[command(flatten)]
        client: ClientArgs,
        ticket: String,
        /// The lawyer's id; must be the token's own [default: the token's lawyer].
        #[arg(long, value_name = "ID")]
        lawyer: Option<String>,
    },
    /// The lawyer's open tickets and pending offers.
    Mine {
        #[command(flatten)]
        client: ClientArgs,
        /// The lawyer's id; must be the token's own [default: the token's lawyer].
        #[arg(long, value_name = "ID")]
        lawyer: Option<String>,
    },
}

/// Where the outbox is: the node's configuration (file, env, flags), of
/// which only `data_dir` is used.
#[derive(Debug, Args)]
pub struct OutboxArgs {
    #[command(flatten)]
    #[command(
        next_help_heading = "The IVR node's configuration (only --config and --data-dir matter here)"
    )]
    pub node: ServeArgs,
    /// Print records as JSON, one object per line.
    #[arg(long, help_heading = "Options")]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Every entry, oldest first: waiting ones and dead letters with their reason.
    List {
        #[command(flatten)]
        args: OutboxArgs,
    },
    /// One entry by its key.
    Show {
        #[command(flatten)]
        args: OutboxArgs,
        /// The entry's key, `NODE:CALL` as `list` shows it.
        key: String,
        /// Also write the entry's recording (the caller's message) to FILE.
        #[arg(long, short = 'o', value_name = "FILE", help_heading = "Options")]
        output: Option<PathBuf>,
    },
    /// Send an entry again on the IVR's next pass (a dead letter after the cause is fixed).
    Retry {
        #[command(flatten)]
        args: OutboxArgs,
        /// The entry's key, `NODE:CALL` as `list` shows it.
        key: String,
    },
    /// Give an entry up for good; its request is lost.
    Drop {
        #[command(flatten)]
        args: OutboxArgs,
        /// The entry's key, `NODE:CALL` as `list` shows it.
        key: String,
    },
    /// List dead letters; exit 1 if there is any.
    Check {
        #[command(flatten)]
        args: OutboxArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it (once: only its digest is kept). Plain
    /// output is the token alone on stdout, so `$(hotline token create …)`
    /// captures it.
    Create {
        #[command(flatten)]
        client: ClientArgs,
        /// ivr, lawyer, supervisor or admin.
        #[arg(long)]
        role: String,
        /// The lawyer's roster id (required for --role lawyer).
        #[arg(long, value_name = "ID")]
        lawyer: Option<String>,
        /// Limit a supervisor's token to one center [default: every center].
        #[arg(long, value_name = "ID")]
        center: Option<String>,
        /// Who holds it, as the history names them (`supervisor:NAME`)
        /// [default: the lawyer id, or the role].
        #[arg(long, value_name = "TEXT")]
        name: Option<String>,
        /// How long it works: 30d, 12h, 90m, 3600s, or `never`
        /// [default: 90d; an ivr token never expires].
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// Every token, newest first (never their secrets).
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Revoke a token by its id (as `token list` shows it); refused from
    /// the next request on.
    Revoke {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SupervisorCommand {
    /// A period's report: CSV (section,item,value per figure) or a
    /// printable HTML page with charts, written to standard output or
    /// --output (the document itself: --json does not apply).
    Report {
        #[command(flatten)]
        client: ClientArgs,
        /// First day (YYYY-MM-DD, China Standard Time).
        #[arg(long, value_name = "DATE")]
        from: String,
        /// Last day, included.
        #[arg(long, value_name = "DATE")]
        to: String,
        /// One center [default: every center the token covers].
        #[arg(long, value_name = "CENTER")]
        center: Option<String>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Csv)]
        format: ReportFormat,
        /// The HTML page's language.
        #[arg(long, value_name = "zh|en", default_value = "zh")]
        language: String,
        /// Write the report to this file (created 0600) instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Draw a reproducible random sample of the tickets each lawyer closed
    /// in a period, for quality review (案件质量评估).
    Sample {
        #[command(flatten)]
        client: ClientArgs,
        /// First day the cases were closed (YYYY-MM-DD, China Standard Time).
        #[arg(long, value_name = "DATE")]
        from: String,
        /// Last day, included.
        #[arg(long, value_name = "DATE")]
        to: String,
        /// One center [default: every center the token covers].
        #[arg(long, value_name = "CENTER")]
        center: Option<String>,
        /// Tickets per lawyer, at most.
        #[arg(long, value_name = "N")]
        per_lawyer: u32,
        /// The same seed draws the same sample.
        #[arg(long, value_name = "S")]
        seed: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum CallbacksCommand {
    /// Callbacks due by the end of today, flagged ones first (a lawyer's
    /// own tickets, a supervisor's centre), with the number to call in full.
    Due {
        #[command(flatten)]
        client: ClientArgs,
        /// One center [default: every center the token covers].
        #[arg(long, value_name = "CENTER")]
        center: Option<String>,
        /// Every caller waiting for a call back, due now or later.
        #[arg(long)]
        all: bool,
    },
    /// Record an attempt to call a caller back: `answered` ends the
    /// callback; any other outcome makes the next attempt due by the end of
    /// the next business half-day, and failures on three different
    /// half-days flag the ticket for a supervisor.
    Record {
        #[command(flatten)]
        client: ClientArgs,
        /// The ticket's number (or an alias).
        ticket: String,
        /// answered, no-answer, busy, wrong-number or message-left.
        #[arg(long, value_name = "OUTCOME")]
        outcome: String,
        /// What was said or left.
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
    },
    /// Click-to-call: an IVR node calls the lawyer, then the caller with the
    /// centre's number as caller ID, and connects the two, so the caller
    /// never sees the lawyer's number. The outcome is recorded as a callback
    /// attempt. Needs an IVR node with `outbound_trunk` running.
    Call {
        #[command(flatten)]
        client: ClientArgs,
        /// The ticket's number (or an alias).
        ticket: String,
        /// The lawyer to connect (roster id); required with a supervisor's
        /// or admin's token [default: the lawyer whose token this is].
        #[arg(long, value_name = "ID")]
        lawyer: Option<String>,
    },
}

/// A report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Csv,
    Html,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Audit lines, oldest first.
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Lines about this ticket (its number or an alias).
        #[arg(long, value_name = "NUMBER")]
        ticket: Option<String>,
        /// Lines of this actor, e.g. lawyer:li.
        #[arg(long, value_name = "ACTOR")]
        actor: Option<String>,
        /// At or after this time (RFC 3339, or YYYY-MM-DD in Asia/Shanghai).
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Before this time.
        #[arg(long, value_name = "TIME")]
        to: Option<String>,
        /// At most this many lines.
        #[arg(long, default_value_t = 500)]
        limit: u32,
    },
}
