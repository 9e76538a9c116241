//! `hotline`: one thin binary that runs the services and the operator tools.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage or invalid input, each
//! failure with one line on stderr that says what was wrong.

mod access;
mod call;
mod callbacks;
mod cli;
mod limitation;
mod menu;
mod outbox;
mod output;
mod reports;
mod roster;
mod serve;
mod tickets;

use std::process::ExitCode;

use clap::Parser;
use hotline::Role;

use cli::{Cli, Command};

/// Returns the memory of a burst of calls to the system once they end (see
/// the dependency's note in Cargo.toml).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// An error in what the user asked for (exit code 2), as opposed to a
/// failure while doing it (exit code 1).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    let result = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(e) => Err(anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hotline: {}", one_line(&e));
            if e.is::<UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// A listing piped into `head` loses its reader part way: that is the
/// reader's choice, not a failure. Rust ignores SIGPIPE, so `println!`
/// panics on the closed pipe instead; end quietly with the status a shell
/// gives a process the pipe stopped (128 + SIGPIPE).
fn quiet_on_closed_pipe() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::serve(args, Role::All).await,
        Command::Ticketing(args) => serve::serve(args, Role::Ticketing).await,
        Command::Ivr(args) => serve::serve(args, Role::Ivr).await,
        Command::Tickets(command) => tickets::run(command).await,
        Command::Limitation(args) => limitation::run(&args),
        Command::Token(command) => access::token(command).await,
        Command::Audit(command) => access::audit(command).await,
        Command::Supervisor(command) => reports::run(command).await,
        Command::Callbacks(command) => callbacks::run(command).await,
        Command::Outbox(command) => outbox::run(command).await,
        Command::Menu(command) => menu::run(command).await,
        Command::Prompts(command) => menu::prompts(command),
        Command::Roster(command) => roster::roster(command).await,
        Command::Lawyer(command) => roster::lawyer(command).await,
        Command::Check {
            client,
            grace_seconds,
        } => roster::check(client, grace_seconds).await,
        Command::Call(args) => call::run(args).await,
        Command::Dtmf { file, json } => dtmf(&file, json),
    }
}

/// `hotline dtmf`: the in-band detector over a file, digits in time order.
fn dtmf(file: &std::path::Path, json: bool) -> anyhow::Result<()> {
    use hotline_ivr::media::wav::{read_telephone_wav, WavError};
    let samples = read_telephone_wav(file).map_err(|e| match e {
        WavError::Format { .. } => anyhow::Error::new(UsageError(e.to_string())),
        WavError::Read { .. } => UsageError(e.to_string()).into(),
        WavError::Write { .. } => anyhow::Error::new(e),
    })?;
    for found in hotline_ivr::media::dtmf::inband::detect(&samples) {
        if json {
            println!(
                "{}",
                serde_json::json!({ "digit": found.digit.to_string(), "start_ms": found.start_ms })
            );
        } else {
            println!("{:>8} ms  {}", found.start_ms, found.digit);
        }
    }
    Ok(())
}

/// The error and its causes on one line.
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}
