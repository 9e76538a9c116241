//! How records print: aligned text for people, one JSON object per line with
//! `--json` for scripts. JSON keys are fixed by the design; keep them stable.

use chrono::{DateTime, FixedOffset};
use hotline_proto::v1 as pb;
use serde_json::{json, Value};

/// Asia/Shanghai: UTC+8 all year, with no daylight saving since 1991.
pub fn shanghai() -> FixedOffset {
    hotline_domain::shanghai()
}

fn time(t: Option<&prost_types::Timestamp>) -> Value {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .map(|t| Value::String(hotline_domain::shown_time(t)))
        .unwrap_or(Value::Null)
}

pub fn ticket_json(t: &pb::Ticket) -> Value {
    json!({
        "number": t.number,
        "aliases": t.aliases,
        "kind": t.kind,
        "state": t.state,
        "matter": t.matter,
        "urgency": t.urgency,
        "deadline": t.deadline,
        "days_left": t.days_left,
        "event_date": t.event_date,
        "document": t.document,
        "chosen_rule": t.chosen_rule,
        "preservation": t.preservation,
        "advance_enforcement": t.advance_enforcement,
        "priority_group": t.priority_group,
        "caller_number": t.caller_number,
        "callback_number": t.callback_number,
        "language": t.language,
        "center": t.center,
        "region": t.region,
        "summary": t.summary,
        "last_node": t.last_node,
        "hardship_waived": t.hardship_waived,
        "hardship_basis": t.hardship_basis,
        "hardship_note": hardship_note(t),
        "pledge_offered": t.pledge_offered,
        "home_visit": t.home_visit,
        "mediation_preferred": t.mediation_preferred,
        "recordings": t.recordings.iter().map(|r| json!({
            "id": r.id,
            "content_type": r.content_type,
            "size_bytes": r.size_bytes,
            "duration_ms": r.duration_ms,
            "created_at": time(r.created_at.as_ref()),
        })).collect::<Vec<_>>(),
        "assigned_lawyer": t.assigned_lawyer,
        "outcome": t.outcome,
        "rejection_reason": t.rejection_reason,
        "limitation_rule": t.limitation_rule,
        "limitation_warnings": t.limitation_warnings,
        "materials_awaited": t.materials_awaited,
        "materials_received_at": time(t.materials_received_at.as_ref()),
        "decision_due": t.decision_due,
        "assignment_due": t.assignment_due,
        "created_at": time(t.created_at.as_ref()),
        "updated_at": time(t.updated_at.as_ref()),
    })
}

/// What a lawyer must know of a hardship claim made on the phone: it is
/// the caller's claim, and the proof is still to come.
fn hardship_note(t: &pb::Ticket) -> Value {
    let basis = t
        .hardship_basis
        .as_deref()
        .and_then(|b| hotline_domain::HardshipBasis::parse(b).ok());
    let article = match basis {
        Some(b) => b.article(),
        None if t.hardship_waived => "Legal Aid Law art. 42",
        None => return Value::Null,
    };
    Value::String(format!("claimed under {article}; proof is still required"))
}

/// One ticket in full.
pub fn ticket(t: &pb::Ticket, as_json: bool) {
    if as_json {
        println!("{}", ticket_json(t));
        return;
    }
    let Value::Object(fields) = ticket_json(t) else {
        return;
    };
    for (key, value) in fields {
        let text = match value {
            Value::Null => "-".to_owned(),
            Value::String(s) if s.is_empty() => "-".to_owned(),
            Value::String(s) => s,
            Value::Array(items) if items.is_empty() => "-".to_owned(),
            other => other.to_string(),
        };
        println!("{key:<20} {text}");
    }
}

pub fn ticket_header() {
    println!(
        "{:<10}  {:<12}  {:<8}  {:<26}  {:<10}  CREATED",
        "NUMBER", "STATE", "URGENCY", "MATTER", "DEADLINE"
    );
}

/// One ticket as a line of a listing.
pub fn ticket_row(t: &pb::Ticket, as_json: bool) {
    if as_json {
        println!("{}", ticket_json(t));
        return;
    }
    let created = match time(t.created_at.as_ref()) {
        Value::String(s) => s,
        _ => "-".to_owned(),
    };
    println!(
        "{:<10}  {:<12}  {:<8}  {:<26}  {:<10}  {created}",
        t.number,
        t.state,
        t.urgency.as_deref().unwrap_or("-"),
        t.matter.as_deref().unwrap_or("-"),
        t.deadline.as_deref().unwrap_or("-"),
    );
}

pub fn event_json(e: &pb::TicketEvent) -> Value {
    json!({
        "id": e.id,
        "ticket_number": e.ticket_number,
        "kind": e.kind,
        "actor": e.actor,
        "at": time(e.at.as_ref()),
        "reason": e.reason,
        "from_state": e.from_state,
        "to_state": e.to_state,
        "changes": e.changes.iter().map(|c| json!({
            "field": c.field, "old": c.old_value, "new": c.new_value,
        })).collect::<Vec<_>>(),
        "note": e.note,
    })
}

/// One history event.
pub fn event(e: &pb::TicketEvent, as_json: bool) {
    if as_json {
        println!("{}", event_json(e));
        return;
    }
    let at = match time(e.at.as_ref()) {
        Value::String(s) => s,
        _ => "-".to_owned(),
    };
    let mut line = format!("{at}  {:<12}  {}", e.kind, e.actor);
    if let (Some(from), Some(to)) = (&e.from_state, &e.to_state) {
        line.push_str(&format!("  {from} → {to}"));
    } else if let Some(to) = &e.to_state {
        line.push_str(&format!("  → {to}"));
    }
    for c in &e.changes {
        line.push_str(&format!(
            "  {}: {} → {}",
            c.field,
            c.old_value.as_deref().unwrap_or("-"),
            c.new_value.as_deref().unwrap_or("-")
        ));
    }
    if let Some(reason) = &e.reason {
        line.push_str(&format!("  ({reason})"));
    }
    if let Some(note) = &e.note {
        line.push_str(&format!("  \"{note}\""));
    }
    println!("{line}");
}
