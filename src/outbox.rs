//! `hotline outbox`: an operator's view of the IVR node's outbox, read from
//! the SQLite file in the node's data directory (the running IVR shares it;
//! a retried entry is picked up by its next pass, within 30 s).

use anyhow::Context;
use hotline::Config;
use hotline_ivr::tickets::{EntryState, Listed, Outbox};

use crate::cli::{OutboxArgs, OutboxCommand};
use crate::UsageError;

pub async fn run(command: OutboxCommand) -> anyhow::Result<()> {
    match command {
        OutboxCommand::List { args } => {
            let entries = open(&args).await?.list().await?;
            if entries.is_empty() && !args.json {
                println!("the outbox is empty: every request reached ticketing");
            }
            for entry in &entries {
                print(entry, args.json);
            }
        }
        OutboxCommand::Show { args, key, output } => {
            let outbox = open(&args).await?;
            let entry = outbox.show(&key).await?.ok_or_else(|| no_entry(&key))?;
            print(&entry, args.json);
            if let Some(path) = output {
                let wav = outbox
                    .recording(&key)
                    .await?
                    .ok_or_else(|| UsageError(format!("the entry `{key}` holds no recording")))?;
                std::fs::write(&path, wav)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("recording written to {}", path.display());
            }
        }
        OutboxCommand::Retry { args, key } => {
            if !open(&args).await?.retry(&key, now_ms()).await? {
                return Err(no_entry(&key));
            }
            println!("{key}: will be sent again on the IVR's next pass");
        }
        OutboxCommand::Drop { args, key } => {
            if !open(&args).await?.drop_entry(&key).await? {
                return Err(no_entry(&key));
            }
            println!("{key}: dropped");
        }
        OutboxCommand::Check { args } => {
            let dead: Vec<Listed> = open(&args)
                .await?
                .list()
                .await?
                .into_iter()
                .filter(|e| e.state == EntryState::Dead)
                .collect();
            for entry in &dead {
                print(entry, args.json);
            }
            if dead.is_empty() && !args.json {
                println!("no dead letters");
            }
            if !dead.is_empty() {
                anyhow::bail!(
                    "{} dead letter(s): requests ticketing refused; fix the cause and \
                     `hotline outbox retry KEY`, or `hotline outbox drop KEY`",
                    dead.len()
                );
            }
        }
    }
    Ok(())
}

async fn open(args: &OutboxArgs) -> anyhow::Result<Outbox> {
    let config = Config::load(&args.node).map_err(|e| UsageError(e.to_string()))?;
    if args.node.print_config {
        // The configuration the outbox is found by, as `serve` prints it.
        print!(
            "{}",
            config.to_toml().map_err(|e| UsageError(e.to_string()))?
        );
        std::process::exit(0);
    }
    let path = config.data_dir.join("ivr-outbox.db");
    if !path.exists() {
        return Err(UsageError(format!(
            "no IVR outbox at {} (is this the IVR node, and --data-dir its data directory?)",
            path.display()
        ))
        .into());
    }
    Outbox::open(&path)
        .await
        .with_context(|| format!("opening {}", path.display()))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn no_entry(key: &str) -> anyhow::Error {
    UsageError(format!(
        "the outbox has no entry `{key}` (see `hotline outbox list`)"
    ))
    .into()
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(hotline_domain::shown_time)
        .unwrap_or_default()
}

fn print(e: &Listed, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "key": e.idempotency_key,
                "state": e.state.as_str(),
                "number": e.number,
                "ticket_created": e.ticket_created,
                "recording_bytes": e.recording_bytes,
                "attempts": e.attempts,
                "reason": e.last_error,
                "created_at": time(e.created_at_ms),
                "next_attempt_at": (e.state == EntryState::Waiting).then(|| time(e.next_attempt_at_ms)),
            })
        );
    } else {
        let next = match e.state {
            EntryState::Waiting if e.next_attempt_at_ms <= now_ms() => "due now".to_owned(),
            EntryState::Waiting => format!("next {}", time(e.next_attempt_at_ms)),
            EntryState::Dead => "waits for an operator".to_owned(),
        };
        println!(
            "{:<7} {}  ticket {}{}  attempts {}  created {}  {next}{}",
            e.state.as_str(),
            e.idempotency_key,
            e.number.as_deref().unwrap_or("?"),
            if e.ticket_created { " (created)" } else { "" },
            e.attempts,
            time(e.created_at_ms),
            e.last_error
                .as_deref()
                .map(|r| format!("\n        reason: {r}"))
                .unwrap_or_default(),
        );
    }
}
