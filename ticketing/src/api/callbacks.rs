//! `ListCallbacks` and `RecordCallback`: the callers waiting for a call
//! back and what came of an attempt. A lawyer sees and records their own
//! tickets' callbacks, a supervisor their centre's; the numbers to call
//! are shown in full, and every listing is an audited read.

use hotline_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::convert::{self, field_error, parse_number, pb_time};
use super::gate::{Gate, Method};
use crate::auth::{Principal, Role};
use crate::callbacks::{Callback, CallbackFilter, CallbackOutcome};
use crate::service::Ticketing;

/// One callback as the API gives it.
pub fn callback_to_pb(c: &Callback) -> pb::CallbackStatus {
    let t = &c.ticket;
    pb::CallbackStatus {
        number: t.number.to_string(),
        center: t.center.clone(),
        urgency: t.urgency.map(|u| u.as_str().to_owned()).unwrap_or_default(),
        state: t.state.as_str().to_owned(),
        matter: t.matter.map(|m| m.as_str().to_owned()).unwrap_or_default(),
        assigned_lawyer: t.assigned_lawyer.clone(),
        phone: c.phone().map(|p| p.as_str().to_owned()).unwrap_or_default(),
        due_at: c.due_at.map(pb_time),
        flagged: c.flagged,
        attempts: c
            .attempts
            .iter()
            .map(|a| pb::CallbackAttempt {
                at: Some(pb_time(a.at)),
                outcome: a.outcome.as_str().to_owned(),
                note: a.note.clone(),
                actor: a.actor.clone(),
            })
            .collect(),
    }
}

/// The callbacks `who` may see (a lawyer's own, a supervisor's centre),
/// audited as a read of their numbers.
pub async fn visible(
    ticketing: &Ticketing,
    gate: &Gate,
    who: &Principal,
    method: Method,
    center: Option<String>,
    due_before: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Vec<Callback>, Status> {
    let center = gate.center_for(who, method, center).await?;
    let lawyer = (who.role == Role::Lawyer).then(|| who.lawyer_id().unwrap_or_default().to_owned());
    let list = ticketing
        .callbacks(&CallbackFilter {
            center: center.as_deref(),
            lawyer: lawyer.as_deref(),
            number: None,
            due_before,
        })
        .await?;
    let shown: Vec<&crate::tickets::Ticket> = list.iter().map(|c| &c.ticket).collect();
    gate.audit_read(who, &shown, None).await?;
    Ok(list)
}

pub async fn list(
    ticketing: &Ticketing,
    gate: &Gate,
    request: Request<pb::ListCallbacksRequest>,
) -> Result<Response<pb::ListCallbacksResponse>, Status> {
    let who = gate.admit(&request, Method::ListCallbacks).await?;
    let req = request.into_inner();
    let due_before = req
        .due_before
        .as_ref()
        .map(|t| convert::timestamp("due_before", t))
        .transpose()?;
    let list = visible(
        ticketing,
        gate,
        &who,
        Method::ListCallbacks,
        req.center,
        due_before,
    )
    .await?;
    Ok(Response::new(pb::ListCallbacksResponse {
        callbacks: list.iter().map(callback_to_pb).collect(),
    }))
}

pub async fn record(
    ticketing: &Ticketing,
    gate: &Gate,
    request: Request<pb::RecordCallbackRequest>,
) -> Result<Response<pb::CallbackStatus>, Status> {
    let who = gate.admit(&request, Method::RecordCallback).await?;
    let req = request.into_inner();
    let number = parse_number("number", &req.number)?;
    super::record_ticket(&number);
    let outcome =
        CallbackOutcome::parse(req.outcome.trim()).map_err(|e| field_error("outcome", &e))?;
    let note = convert::text("note", req.note.as_deref().unwrap_or(""), false)?;
    gate.ticket(&who, Method::RecordCallback, &number).await?;
    let callback = ticketing
        .record_callback(&number, outcome, &note, &who.actor())
        .await?;
    gate.audit_read(&who, &[&callback.ticket], None).await?;
    Ok(Response::new(callback_to_pb(&callback)))
}
