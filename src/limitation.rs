//! `hotline limitation`: the deadline calculator on the command line.

use chrono::{NaiveDate, Utc};
use hotline_domain::{Document, HolidayCalendar, Matter};
use hotline_ticketing::limitation::{Limitation, RuleTable, Selection, Thresholds};
use serde_json::json;

use crate::cli::LimitationArgs;
use crate::UsageError;

pub fn run(args: &LimitationArgs) -> anyhow::Result<()> {
    let rules = match &args.rules {
        Some(path) => RuleTable::load(path).map_err(|e| UsageError(e.to_string()))?,
        None => RuleTable::bundled()?,
    };
    let calendar = match &args.calendar {
        Some(path) => HolidayCalendar::load(path).map_err(|e| UsageError(e.to_string()))?,
        None => HolidayCalendar::bundled()?,
    };
    let limitation = Limitation::new(rules, calendar, Thresholds::default());
    if args.list {
        list(&limitation, args.json);
        return Ok(());
    }

    let matter = args
        .matter
        .as_deref()
        .map(Matter::parse)
        .transpose()
        .map_err(|e| UsageError(e.to_string()))?;
    let document = args
        .document
        .as_deref()
        .map(Document::parse)
        .transpose()
        .map_err(|e| UsageError(e.to_string()))?;
    let selection = match (matter, document, &args.rule) {
        (m, Some(d), None) => Selection::Document(d, m),
        (Some(m), None, None) => Selection::Matter(m),
        (None, None, Some(r)) => Selection::Rule(r),
        (_, Some(_), Some(_)) => {
            return Err(UsageError(
                "give --document or --rule, not both: a chosen rule replaces the document's".into(),
            )
            .into())
        }
        _ => {
            return Err(UsageError(
                "give one of --matter, --document (with or without --matter) or --rule".into(),
            )
            .into())
        }
    };
    let event_date = args
        .event_date
        .as_deref()
        .map(|d| date("--event-date", d))
        .transpose()?;
    let today = match &args.today {
        Some(d) => date("--today", d)?,
        None => Utc::now()
            .with_timezone(&hotline_domain::shanghai())
            .date_naive(),
    };
    let a = limitation
        .assess(selection, event_date, today, args.preservation)
        .map_err(|e| UsageError(e.to_string()))?;

    if args.json {
        let out = json!({
            "deadline": a.deadline.map(|d| d.to_string()),
            "days_left": a.days_left,
            "urgency": a.urgency.as_str(),
            "rule": a.rule,
            "legal_basis": a.legal_basis,
            "warnings": a.warnings,
            "today": today.to_string(),
            "event_date": event_date.map(|d| d.to_string()),
            "candidates": a.candidates.iter().map(|c| json!({
                "rule": c.rule,
                "legal_basis": c.legal_basis,
                "period": c.period,
                "last_day": c.last_day.map(|d| d.to_string()),
                "deadline": c.deadline.map(|d| d.to_string()),
                "days_left": c.days_left,
            })).collect::<Vec<_>>(),
        });
        println!("{out}");
        return Ok(());
    }
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    println!(
        "deadline     {}",
        or_dash(a.deadline.map(|d| d.to_string()))
    );
    println!(
        "days left    {}",
        or_dash(a.days_left.map(|d| d.to_string()))
    );
    println!("urgency      {}", a.urgency);
    println!("rule         {} ({})", a.rule, a.legal_basis);
    if a.candidates.len() > 1 {
        for c in &a.candidates {
            let passed = if c.days_left.is_some_and(|d| d < 0) {
                " (passed)"
            } else {
                ""
            };
            println!(
                "candidate    {} {}: {}{passed} ({})",
                c.rule,
                c.period,
                or_dash(c.deadline.map(|d| d.to_string())),
                c.legal_basis
            );
        }
    }
    for w in &a.warnings {
        println!("warning      {w}");
    }
    Ok(())
}

fn date(flag: &str, text: &str) -> anyhow::Result<NaiveDate> {
    if text.len() != 10 {
        return Err(UsageError(format!("{flag} `{text}`: expected a date as YYYY-MM-DD")).into());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| UsageError(format!("{flag} `{text}` is not a real date (YYYY-MM-DD)")).into())
}

fn list(limitation: &Limitation, as_json: bool) {
    let table = limitation.rules();
    for rule in table.rules() {
        let matters: Vec<&str> = Matter::ALL
            .iter()
            .filter(|m| table.for_matter(**m).iter().any(|r| r.id == rule.id))
            .map(|m| m.as_str())
            .collect();
        if as_json {
            println!(
                "{}",
                json!({
                    "rule": rule.id,
                    "period": rule.period.to_string(),
                    "starts": rule.starts,
                    "legal_basis": rule.legal_basis,
                    "notes": rule.notes,
                    "matters": matters,
                })
            );
        } else {
            println!(
                "{:<40} {:<10} {:<55} {}",
                rule.id,
                rule.period.to_string(),
                rule.legal_basis,
                if matters.is_empty() {
                    "-".to_owned()
                } else {
                    matters.join(",")
                }
            );
        }
    }
}
