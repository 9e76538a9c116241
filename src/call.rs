//! `hotline call`: tests a menu by a real call ([`hotline_ivr::probe`]) and
//! prints the prompts heard; exit 1 when `--expect` is not met.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hotline_ivr::media::codec::G711;
use hotline_ivr::media::wav::{read_telephone_wav, write_telephone_wav};
use hotline_ivr::probe::recognise::References;
use hotline_ivr::probe::{self, CallPlan};
use hotline_ivr::prompts::{PromptSource, Prompts};

use crate::cli::{CallArgs, Codec};
use crate::UsageError;

pub async fn run(args: CallArgs) -> anyhow::Result<()> {
    let prompts = match &args.prompts_dir {
        Some(dir) => Prompts::load(&PromptSource::Folder(dir.clone())),
        None => Prompts::load(&PromptSource::Embedded),
    }
    .map_err(|e| UsageError(e.to_string()))?;
    let refs = References::new(
        prompts
            .all()
            .map(|(lang, name, audio)| (format!("{lang}/{name}"), audio.samples().to_vec())),
    );
    let say = match &args.say {
        Some(path) => Some(read_telephone_wav(path).map_err(|e| UsageError(format!("--say {e}")))?),
        None => None,
    };
    let keys: Vec<String> = match &args.keys {
        Some(seq) => seq
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    if let Some(bad) = keys
        .iter()
        .flat_map(|g| g.chars())
        .find(|c| !matches!(c, '0'..='9' | '*' | '#' | 'A'..='D'))
    {
        return Err(UsageError(format!(
            "--keys: `{bad}` is not a phone key (0-9, *, #, A-D)"
        ))
        .into());
    }
    let expected: Vec<String> = args
        .expect
        .as_deref()
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(unknown) = expected.iter().find(|p| !refs.knows(p)) {
        return Err(UsageError(format!(
            "--expect: no prompt `{unknown}` among the prompt files (names as in prompts/<language>/, e.g. main-menu or en/main-menu)"
        ))
        .into());
    }
    // The From user goes into a SIP header: a number or a plain name only.
    let from_ok = !args.from.is_empty()
        && args.from.len() <= 32
        && args
            .from
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-._".contains(c));
    if !from_ok {
        return Err(UsageError(format!(
            "--from `{}`: 1 to 32 letters, digits and + - . _",
            args.from
        ))
        .into());
    }
    if !(1..=3600).contains(&args.max_secs) {
        return Err(UsageError("--max-secs: 1 to 3600".into()).into());
    }
    // Where the recording goes is checked before the call, not after it.
    if let Some(path) = &args.save {
        std::fs::File::create(path)
            .map_err(|e| UsageError(format!("--save {}: {e}", path.display())))?;
    }
    let plan = CallPlan {
        uri: args.uri.clone(),
        from: args.from.clone(),
        keys,
        say,
        codec: match args.codec {
            Codec::Both => None,
            Codec::Pcmu => Some(G711::Pcmu),
            Codec::Pcma => Some(G711::Pcma),
        },
        max_duration: Duration::from_secs(args.max_secs),
        quiet_end: Duration::from_secs(args.quiet_secs),
    };
    let report = probe::call(&plan, Arc::new(refs))
        .await
        .map_err(|e| match e {
            probe::ProbeError::Uri { .. } | probe::ProbeError::Keys(_) => {
                anyhow::Error::new(UsageError(e.to_string()))
            }
            other => anyhow::Error::new(other),
        })?;
    if let Some(path) = &args.save {
        write_telephone_wav(path, &report.audio)
            .with_context(|| format!("--save {}", path.display()))?;
    }
    let names: Vec<&str> = report.heard.iter().map(|h| h.name.as_str()).collect();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "answered": report.answered,
                "prompts": names,
                "ticket_number": report.ticket_number,
                "ended_by": report.ended_by.as_str(),
            })
        );
    } else {
        for h in &report.heard {
            let cut = if h.complete { "" } else { "  (cut short)" };
            println!("{:>8} ms  {}{cut}", h.start / 8, h.name);
        }
        if let Some(number) = &report.ticket_number {
            println!("ticket number: {number}");
        }
        println!("ended by: {}", report.ended_by.as_str());
    }
    if !report.answered {
        match report.ended_by {
            probe::EndedBy::NotAnswered(code) if code > 0 => {
                anyhow::bail!("the call was not answered (SIP {code})")
            }
            other => anyhow::bail!("the call was not answered ({})", other.as_str()),
        }
    }
    if let Some(missing) = probe::missing_expected(&report.heard, &expected) {
        let position = expected.iter().position(|e| e == missing).unwrap_or(0);
        let heard_at_all =
            probe::missing_expected(&report.heard, &expected[position..=position]).is_none();
        match expected[..position].last() {
            Some(before) if heard_at_all => anyhow::bail!(
                "expected prompt `{missing}` was heard, but not after `{before}`; heard: {}",
                names.join(", ")
            ),
            _ => anyhow::bail!(
                "expected prompt `{missing}` was not heard; heard: {}",
                names.join(", ")
            ),
        }
    }
    Ok(())
}
