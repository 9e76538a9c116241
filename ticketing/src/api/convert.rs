//! Between the wire and the domain: every request field is parsed into a
//! domain type here, and a bad one becomes INVALID_ARGUMENT naming the field.

use chrono::{DateTime, NaiveDate, Utc};
use hotline_domain::limits::MAX_IDEMPOTENCY_KEY_LEN;
use hotline_domain::{
    Document, HardshipBasis, Language, Matter, PhoneNumber, PriorityGroup, RegionCode, TicketKind,
    TicketNumber, TicketState, Urgency,
};
use hotline_proto::v1 as pb;
use tonic::Status;

use crate::service::Ticketing;
use crate::tickets::lifecycle::Move;
use crate::tickets::{
    Correction, Flags, NewTicket, Ticket, TicketEvent, TicketFilter, DEFAULT_CENTER, MAX_TEXT_BYTES,
};

/// A request field that failed validation.
#[derive(Debug)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl ToString) -> FieldError {
    FieldError {
        field,
        message: message.to_string(),
    }
}

/// INVALID_ARGUMENT with the field first, so clients can show which one.
pub fn field_error(field: &str, message: &str) -> Status {
    Status::invalid_argument(format!("invalid field `{field}`: {message}"))
}

pub fn parse_number(field: &'static str, text: &str) -> Result<TicketNumber, FieldError> {
    TicketNumber::parse(text).map_err(|e| bad(field, e))
}

fn parse_with<T, E: ToString>(
    field: &'static str,
    text: &Option<String>,
    parser: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, FieldError> {
    text.as_deref()
        .map(|t| parser(t).map_err(|e| bad(field, e)))
        .transpose()
}

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    // chrono accepts a few variations; the contract is exactly YYYY-MM-DD.
    if text.len() != 10 {
        return Err(format!("`{}` is not a date as YYYY-MM-DD", truncate(text)));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| format!("`{text}` is not a date as YYYY-MM-DD ({e})"))
}

fn truncate(text: &str) -> String {
    text.chars().take(32).collect()
}

/// Checks a free text: valid length, and (if `required`) not blank.
pub fn text(field: &'static str, value: &str, required: bool) -> Result<String, FieldError> {
    if required && value.trim().is_empty() {
        return Err(bad(field, "must not be empty"));
    }
    if value.len() > MAX_TEXT_BYTES {
        return Err(bad(
            field,
            format!(
                "{} bytes is more than the {MAX_TEXT_BYTES} allowed",
                value.len()
            ),
        ));
    }
    Ok(value.to_owned())
}

/// A short code such as a center name or an outcome: `[a-z0-9-_]`, 1–64.
pub fn code(field: &'static str, value: &str) -> Result<String, FieldError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(bad(field, "1 to 64 characters of a-z, 0-9, - and _"))
    }
}

/// A menu node's id: 1 to 64 visible characters.
fn menu_node(field: &'static str, value: &str) -> Result<String, FieldError> {
    let value = value.trim();
    if value.is_empty() || value.len() > 64 || value.chars().any(char::is_control) {
        return Err(bad(field, "1 to 64 characters, no control characters"));
    }
    Ok(value.to_owned())
}

pub fn new_ticket(req: pb::CreateTicketRequest, actor: String) -> Result<NewTicket, FieldError> {
    let key = req.idempotency_key.trim();
    if key.is_empty() {
        return Err(bad("idempotency_key", "must not be empty"));
    }
    if key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(bad(
            "idempotency_key",
            format!("at most {MAX_IDEMPOTENCY_KEY_LEN} bytes"),
        ));
    }
    let kind = parse_with("kind", &req.kind, TicketKind::parse)?.unwrap_or(TicketKind::Application);
    let matter = parse_with("matter", &req.matter, Matter::parse)?;
    if kind == TicketKind::Application && matter.is_none() {
        return Err(bad("matter", "an application needs a matter"));
    }
    let center = match &req.center {
        Some(c) => code("center", c)?,
        None => DEFAULT_CENTER.to_owned(),
    };
    Ok(NewTicket {
        idempotency_key: key.to_owned(),
        proposed_number: parse_with("proposed_number", &req.proposed_number, TicketNumber::parse)?,
        kind,
        matter,
        caller_number: parse_with("caller_number", &req.caller_number, PhoneNumber::parse)?,
        callback_number: parse_with("callback_number", &req.callback_number, PhoneNumber::parse)?,
        event_date: parse_with("event_date", &req.event_date, parse_date)?,
        preservation: req.preservation,
        priority_group: parse_with("priority_group", &req.priority_group, priority_group)?
            .unwrap_or(PriorityGroup::None),
        language: parse_with("language", &req.language, Language::parse)?.unwrap_or(Language::Zh),
        center,
        region: parse_with("region", &req.region, RegionCode::parse)?,
        summary: text("summary", req.summary.as_deref().unwrap_or(""), false)?,
        last_node: req
            .last_node
            .as_deref()
            .map(|n| menu_node("last_node", n))
            .transpose()?,
        document: parse_with("document", &req.document, Document::parse)?,
        chosen_rule: req
            .chosen_rule
            .as_deref()
            .map(|r| code("chosen_rule", r))
            .transpose()?,
        flags: Flags {
            hardship_waived: req.hardship_waived,
            hardship_basis: parse_with(
                "hardship_basis",
                &req.hardship_basis,
                HardshipBasis::parse,
            )?,
            pledge_offered: req.pledge_offered,
            advance_enforcement: req.advance_enforcement,
            home_visit: req.home_visit,
            mediation_preferred: req.mediation_preferred,
        },
        actor,
    })
}

pub fn filter(req: &pb::ListTicketsRequest) -> Result<TicketFilter, FieldError> {
    Ok(TicketFilter {
        number: parse_with("number", &req.number, TicketNumber::parse)?,
        state: parse_with("state", &req.state, TicketState::parse)?,
        urgency: parse_with("urgency", &req.urgency, Urgency::parse)?,
        matter: parse_with("matter", &req.matter, Matter::parse)?,
        center: req
            .center
            .as_deref()
            .map(|c| code("center", c))
            .transpose()?,
        created_from: req
            .created_from
            .as_ref()
            .map(|t| timestamp("created_from", t))
            .transpose()?,
        created_to: req
            .created_to
            .as_ref()
            .map(|t| timestamp("created_to", t))
            .transpose()?,
    })
}

pub(crate) fn timestamp(
    field: &'static str,
    t: &prost_types::Timestamp,
) -> Result<DateTime<Utc>, FieldError> {
    u32::try_from(t.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
        .ok_or_else(|| bad(field, "timestamp out of range"))
}

pub fn transition(req: &pb::TransitionTicketRequest) -> Result<(TicketState, Move), FieldError> {
    let to = TicketState::parse(&req.to).map_err(|e| bad("to", e))?;
    let reason = req
        .reason
        .as_deref()
        .map(|r| text("reason", r, true))
        .transpose()?;
    let outcome = req
        .outcome
        .as_deref()
        .map(|o| code("outcome", o))
        .transpose()?;
    let lawyer = req
        .lawyer
        .as_deref()
        .map(|l| code("lawyer", l))
        .transpose()?;
    Ok((
        to,
        Move {
            reason,
            outcome,
            lawyer,
            assignment_due: None,
        },
    ))
}

pub fn correction(
    req: &pb::CorrectTicketRequest,
) -> Result<(Correction, Option<String>), FieldError> {
    let event_date = match req.event_date.as_deref() {
        None => None,
        Some("") => Some(None),
        Some(d) => Some(Some(parse_date(d).map_err(|e| bad("event_date", e))?)),
    };
    let clearable = |field: &'static str, v: &Option<String>| {
        match v.as_deref() {
            None => Ok(None),
            Some("") => Ok(Some(None)),
            Some(text) => Ok(Some(Some(text.to_owned()))),
        }
        .and_then(|v: Option<Option<String>>| match &v {
            Some(Some(text)) => code(field, text).map(|_| v),
            _ => Ok(v),
        })
    };
    let document = clearable("document", &req.document)?
        .map(|d| d.map(|d| Document::parse(&d)).transpose())
        .transpose()
        .map_err(|e| bad("document", e))?;
    let hardship_basis = clearable("hardship_basis", &req.hardship_basis)?
        .map(|b| b.map(|b| HardshipBasis::parse(&b)).transpose())
        .transpose()
        .map_err(|e| bad("hardship_basis", e))?;
    let correction = Correction {
        matter: parse_with("matter", &req.matter, Matter::parse)?,
        event_date,
        document,
        chosen_rule: clearable("chosen_rule", &req.chosen_rule)?,
        advance_enforcement: req.advance_enforcement,
        hardship_basis,
        callback_number: parse_with("callback_number", &req.callback_number, PhoneNumber::parse)?,
        preservation: req.preservation,
        priority_group: parse_with("priority_group", &req.priority_group, priority_group)?,
        hardship_waived: req.hardship_waived,
        pledge_offered: req.pledge_offered,
        home_visit: req.home_visit,
        mediation_preferred: req.mediation_preferred,
        region: parse_with("region", &req.region, RegionCode::parse)?,
        language: parse_with("language", &req.language, Language::parse)?,
    };
    let reason = req
        .reason
        .as_deref()
        .map(|r| text("reason", r, true))
        .transpose()?;
    Ok((correction, reason))
}

pub(crate) fn pb_time(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// Whether a ticket is shown with its phone numbers in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbers {
    /// `138****5678`: lists, queues and answers to changes.
    Masked,
    /// To a reader who may see them, with the read in the audit log.
    Full,
}

/// A ticket as the API shows it, its numbers masked unless `numbers` says.
pub fn ticket_to_pb(t: &Ticket, now: DateTime<Utc>, numbers: Numbers) -> pb::Ticket {
    let shown = |n: &PhoneNumber| match numbers {
        Numbers::Masked => n.masked(),
        Numbers::Full => n.as_str().to_owned(),
    };
    pb::Ticket {
        number: t.number.to_string(),
        aliases: t.aliases.iter().map(ToString::to_string).collect(),
        kind: t.kind.to_string(),
        state: t.state.to_string(),
        matter: t.matter.map(|m| m.to_string()),
        urgency: t.urgency.map(|u| u.to_string()),
        deadline: t.deadline.map(|d| d.to_string()),
        days_left: Ticketing::days_left(t, now).and_then(|d| i32::try_from(d).ok()),
        event_date: t.event_date.map(|d| d.to_string()),
        preservation: t.preservation,
        priority_group: t.priority_group.to_string(),
        caller_number: t.caller_number.as_ref().map(shown),
        callback_number: t.callback_number.as_ref().map(shown),
        language: t.language.to_string(),
        center: t.center.clone(),
        region: t.region.map(|r| r.to_string()),
        summary: t.summary.clone(),
        last_node: t.last_node.clone(),
        recordings: t.recordings.iter().map(recording_to_pb).collect(),
        assigned_lawyer: t.assigned_lawyer.clone(),
        created_at: Some(pb_time(t.created_at)),
        updated_at: Some(pb_time(t.updated_at)),
        hardship_waived: t.flags.hardship_waived,
        pledge_offered: t.flags.pledge_offered,
        home_visit: t.flags.home_visit,
        mediation_preferred: t.flags.mediation_preferred,
        outcome: t.outcome.clone(),
        rejection_reason: t.rejection_reason.clone(),
        limitation_rule: t.limitation_rule.clone(),
        limitation_warnings: t.limitation_warnings.clone(),
        decision_due: t.decision_due.map(|d| d.to_string()),
        assignment_due: t.assignment_due.map(|d| d.to_string()),
        document: t.document.map(|d| d.to_string()),
        chosen_rule: t.chosen_rule.clone(),
        advance_enforcement: t.flags.advance_enforcement,
        hardship_basis: t.flags.hardship_basis.map(|b| b.to_string()),
        materials_received_at: t.materials_received_at.map(pb_time),
        materials_awaited: t.awaits_materials(),
    }
}

pub fn event_to_pb(e: &TicketEvent) -> pb::TicketEvent {
    pb::TicketEvent {
        id: e.id,
        ticket_number: e.ticket_number.to_string(),
        kind: e.kind.as_str().to_owned(),
        actor: e.actor.clone(),
        at: Some(pb_time(e.at)),
        reason: e.reason.clone(),
        from_state: e.from_state.map(|s| s.to_string()),
        to_state: e.to_state.map(|s| s.to_string()),
        changes: e
            .changes
            .iter()
            .map(|c| {
                // A corrected number stays masked in the history: the full
                // one is read, audited, on the ticket itself.
                let shown = |v: &Option<String>| match c.field.as_str() {
                    "callback_number" | "caller_number" => {
                        v.as_deref().map(hotline_domain::phone::mask)
                    }
                    _ => v.clone(),
                };
                pb::FieldChange {
                    field: c.field.clone(),
                    old_value: shown(&c.old),
                    new_value: shown(&c.new),
                }
            })
            .collect(),
        note: e.note.clone(),
    }
}

/// A priority group by name. `veteran` is the former name of `military`
/// (veterans, servicemen, military families): a request queued in an IVR's
/// outbox before the rename still arrives.
fn priority_group(text: &str) -> Result<PriorityGroup, hotline_domain::UnknownName> {
    match text {
        "veteran" => Ok(PriorityGroup::Military),
        _ => PriorityGroup::parse(text),
    }
}

/// What happens next for a ticket, as a code the IVR can speak.
pub fn next_step(t: &Ticket) -> &'static str {
    match t.state {
        _ if t.awaits_materials() && t.state == TicketState::Application => "materials-awaited",
        // A caller who hung up hears, on a later call, that the message
        // is in: the centre calls them back.
        TicketState::Consultation | TicketState::Callback => "message-received",
        TicketState::Application => "decision-pending",
        TicketState::Provisional => "provisional",
        TicketState::Accepted => "awaiting-lawyer",
        TicketState::Assigned => "lawyer-assigned",
        TicketState::InProgress => "in-progress",
        TicketState::Rejected => "rejected",
        TicketState::Closed => "closed",
    }
}

pub fn recording_to_pb(r: &crate::tickets::RecordingInfo) -> pb::Recording {
    pb::Recording {
        id: r.id,
        content_type: r.content_type.clone(),
        size_bytes: r.size_bytes,
        duration_ms: r.duration_ms,
        created_at: Some(pb_time(r.created_at)),
    }
}
