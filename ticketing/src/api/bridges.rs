//! Click-to-call over gRPC: `TicketService/CallBack` asks for one (a lawyer
//! for themselves on their own tickets, a supervisor for a lawyer of the
//! ticket's centre); `RoutingService/TakeBridges` hands them to IVR nodes,
//! each claimed for one node, with the caller's number in full (role `ivr`
//! only); `ReportBridge` brings back how the legs went.

use hotline_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::convert::{field_error, parse_number};
use super::gate::{Gate, Method};
use super::paging::{claim_stream, node_name};
use crate::auth::Role;
use crate::callbacks::bridge::{BridgeError, LegOutcome};
use crate::service::Ticketing;
use crate::store::{BridgeJob, BridgeLegs};

impl From<BridgeError> for Status {
    fn from(e: BridgeError) -> Status {
        match e {
            BridgeError::UnknownLawyer(_) | BridgeError::OtherCenter { .. } => {
                field_error("lawyer", &e.to_string())
            }
            BridgeError::NoTrunk | BridgeError::Inactive(_) | BridgeError::NotCallable(_) => {
                Status::failed_precondition(e.to_string())
            }
            BridgeError::InProgress(_) => Status::already_exists(e.to_string()),
            BridgeError::TooMany(_) | BridgeError::HourlyCap(_) => {
                Status::resource_exhausted(e.to_string())
            }
            BridgeError::Store(e) => Status::from(e),
        }
    }
}

/// The first of `languages` the IVR speaks; Mandarin otherwise.
fn spoken(languages: &[String]) -> String {
    languages
        .iter()
        .find(|l| matches!(l.as_str(), "zh" | "en"))
        .cloned()
        .unwrap_or_else(|| "zh".to_owned())
}

fn bridge_to_pb(job: &BridgeJob, record: bool) -> pb::BridgeRequest {
    pb::BridgeRequest {
        record,
        bridge_id: job.id,
        ticket_number: job.number.to_string(),
        lawyer: job.lawyer.clone(),
        lawyer_target: job.lawyer_target.clone(),
        caller_target: format!("tel:{}", job.caller.as_str()),
        lawyer_language: spoken(&job.lawyer_languages),
        caller_language: spoken(std::slice::from_ref(&job.caller_language)),
    }
}

pub(super) async fn call_back(
    ticketing: &Ticketing,
    gate: &Gate,
    request: Request<pb::CallBackRequest>,
) -> Result<Response<pb::CallBackQueued>, Status> {
    let who = gate.admit(&request, Method::CallBack).await?;
    let req = request.into_inner();
    let number = parse_number("number", &req.number)?;
    super::record_ticket(&number);
    let asked = req
        .lawyer
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty());
    let lawyer = match (who.role, asked) {
        // A lawyer connects themselves, never a colleague.
        (Role::Lawyer, Some(l)) if Some(l) != who.lawyer_id() => {
            return Err(field_error(
                "lawyer",
                "a lawyer's token asks for the lawyer's own calls only",
            ));
        }
        (Role::Lawyer, _) => who.lawyer_id().unwrap_or_default().to_owned(),
        (_, Some(l)) => l.to_owned(),
        (_, None) => return Err(field_error("lawyer", "is required (the roster id)")),
    };
    let ticket = gate.ticket(&who, Method::CallBack, &number).await?;
    let bridge = ticketing
        .request_bridge(&number, &lawyer, &who.actor())
        .await?;
    tracing::info!(ticket = %number, %lawyer, bridge, "click-to-call asked for");
    // No number is shown to the one asking: nothing to audit as a read.
    Ok(Response::new(pb::CallBackQueued {
        bridge_id: bridge,
        number: ticket.number.to_string(),
        lawyer,
    }))
}

pub(super) type BridgeStream =
    tokio_stream::wrappers::ReceiverStream<Result<pb::BridgeRequest, Status>>;

pub(super) async fn take_bridges(
    ticketing: &Ticketing,
    gate: &Gate,
    request: Request<pb::TakeBridgesRequest>,
) -> Result<Response<BridgeStream>, Status> {
    let who = gate.admit(&request, Method::TakeBridges).await?;
    let node = node_name(&request.get_ref().node)?;
    let boot = request.get_ref().boot.trim().to_owned();
    if boot.len() > 64 || !boot.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(field_error("boot", "at most 64 letters, digits and -"));
    }
    if !boot.is_empty() {
        let released = ticketing.release_earlier_runs(&node, &boot).await?;
        if released > 0 {
            tracing::warn!(%node, released, "an IVR node started again: its earlier run's click-to-calls are given up");
        }
    }
    claim_stream(
        ticketing,
        gate,
        &request,
        &node,
        &who,
        move |ticketing, node, token| {
            let boot = boot.clone();
            async move {
                let claimed = ticketing.claim_bridge(&node, &token, &boot).await?;
                Ok(claimed.map(|job| {
            tracing::info!(ticket = %job.number, lawyer = %job.lawyer, bridge = job.id, %node, "click-to-call handed to an IVR node");
            bridge_to_pb(&job, ticketing.records_bridges())
        }))
            }
        },
    )
}

pub(super) async fn report_bridge(
    ticketing: &Ticketing,
    gate: &Gate,
    request: Request<pb::BridgeReport>,
) -> Result<Response<pb::BridgeReceipt>, Status> {
    let who = gate.admit(&request, Method::ReportBridge).await?;
    let r = request.into_inner();
    let node = node_name(&r.node)?;
    let leg = |field: &str, text: &str| {
        LegOutcome::parse(text).ok_or_else(|| {
            field_error(
                field,
                "must be answered, no-answer, busy, wrong-number or failed",
            )
        })
    };
    let lawyer = leg("lawyer_leg", &r.lawyer_leg)?;
    let caller = r
        .caller_leg
        .as_deref()
        .map(|c| leg("caller_leg", c))
        .transpose()?;
    if caller.is_some() && lawyer != LegOutcome::Answered {
        return Err(field_error(
            "caller_leg",
            "the caller is dialled only once the lawyer answered",
        ));
    }
    let detail = r.detail.as_deref().map(str::trim).filter(|d| !d.is_empty());
    if detail.is_some_and(|d| d.chars().count() > 200) {
        return Err(field_error("detail", "is at most 200 characters"));
    }
    if !(0..=86_400).contains(&r.talk_seconds) {
        return Err(field_error("talk_seconds", "must be 0 to 86400"));
    }
    let legs = BridgeLegs {
        lawyer,
        caller,
        detail,
        talk_seconds: r.talk_seconds,
    };
    if ticketing
        .finish_bridge(r.bridge_id, &node, &who, legs)
        .await?
    {
        Ok(Response::new(pb::BridgeReceipt {}))
    } else {
        Err(Status::not_found(format!(
            "bridge_id: no bridge {} is being placed by IVR node {node}",
            r.bridge_id
        )))
    }
}
