//! Click-to-call, the IVR node's side: it takes bridges from ticketing
//! (`RoutingService/TakeBridges`, each claimed for this node alone), calls
//! the lawyer and tells them who is being called, then calls the caller
//! through the outbound trunk with the centre's number as caller ID, and
//! relays the media between the two legs ([`relay`], sans-I/O) until one
//! hangs up; then it reports how each leg went (`ReportBridge`). The
//! caller sees 12348, never the lawyer's number. When the centre records these calls
//! (`record_callbacks`, which ticketing sends with each bridge), both
//! parties hear that the call is recorded before they are connected, and
//! the recording goes to the ticket. Only a node with an outbound trunk
//! takes bridges.

mod call;
pub mod relay;

pub use call::{connect, BridgeCall, CallerLeg, Connected};
pub use relay::{End, LegFormat, Relay, RelayCounts, Side, Stream};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hotline_domain::Language;
use hotline_proto::v1 as pb;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, info_span, warn, Instrument};

use crate::paging::{detail, not_answered, resolve, RouteError};
use crate::service::{Control, Dial, DialOutcome, Script};
use crate::sip::endpoint::EndReason;
use crate::tickets::TicketsClient;

/// Bridges one node connects at once.
const MAX_AT_ONCE: usize = 32;

#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// This IVR node's name, written on the bridges it claims.
    pub node: String,
    /// `HOST:PORT` of the SIP trunk: every caller is dialled through it.
    pub trunk: Option<String>,
    /// How long the lawyer's phone rings.
    pub lawyer_ring: Duration,
    /// How long the caller's phone rings.
    pub caller_ring: Duration,
    /// This run of the node: bridges an earlier run held are given up when
    /// it subscribes.
    pub boot: String,
}

/// Takes bridges from ticketing until `stop` completes, placing each
/// through `control` (the endpoint task).
pub async fn run(
    tickets: TicketsClient,
    control: mpsc::Sender<Control>,
    config: BridgeConfig,
    stop: impl Future<Output = ()>,
) {
    let config = Arc::new(config);
    let node = config.node.clone();
    let boot = config.boot.clone();
    let subscriber = tickets.clone();
    crate::paging::take(
        "bridges",
        move || {
            let (tickets, node, boot) = (subscriber.clone(), node.clone(), boot.clone());
            async move { tickets.take_bridges(&node, &boot).await }
        },
        move |bridge: pb::BridgeRequest| {
            let span =
                info_span!("bridge", bridge = bridge.bridge_id, ticket = %bridge.ticket_number);
            let (tickets, control, config) = (tickets.clone(), control.clone(), config.clone());
            async move { bridge_one(bridge, &tickets, &control, &config).await }.instrument(span)
        },
        MAX_AT_ONCE,
        stop,
    )
    .await;
}

/// Places one bridge and reports how it went.
async fn bridge_one(
    bridge: pb::BridgeRequest,
    tickets: &TicketsClient,
    control: &mpsc::Sender<Control>,
    config: &BridgeConfig,
) {
    let report =
        |lawyer_leg: &str, caller_leg: Option<&str>, detail: Option<String>| pb::BridgeReport {
            bridge_id: bridge.bridge_id,
            node: config.node.clone(),
            lawyer_leg: lawyer_leg.to_owned(),
            caller_leg: caller_leg.map(str::to_owned),
            detail,
            talk_seconds: 0,
        };
    let trunk = config.trunk.as_deref();
    // The caller is reached through the trunk, never at a SIP address.
    let routes = match resolve(&bridge.lawyer_target, trunk).await {
        Ok(_) if !bridge.caller_target.starts_with("tel:") => {
            Err("the caller's number: not a phone number".to_owned())
        }
        Ok(lawyer) => match resolve(&bridge.caller_target, trunk).await {
            Ok(caller) => Ok((lawyer, caller)),
            Err(RouteError::NoTrunk) => Err(RouteError::NoTrunk.to_string()),
            Err(e) => Err(format!("the caller's number: {e}")),
        },
        Err(e) => Err(format!("the lawyer's address: {e}")),
    };
    let (lawyer_route, caller_route) = match routes {
        Ok(routes) => routes,
        Err(why) => {
            warn!(lawyer = %bridge.lawyer, error = %why, "click-to-call not placed");
            send_report(tickets, report("failed", None, Some(detail(why)))).await;
            return;
        }
    };
    let call = BridgeCall {
        bridge_id: bridge.bridge_id,
        ticket_number: bridge.ticket_number.clone(),
        lawyer_language: Language::parse(&bridge.lawyer_language).unwrap_or(Language::Zh),
        caller_language: Language::parse(&bridge.caller_language).unwrap_or(Language::Zh),
        caller: caller_route,
        control: control.clone(),
        caller_ring: config.caller_ring,
        record: bridge.record,
        tickets: tickets.clone(),
        uploads: Arc::default(),
    };
    let uploads = call.uploads.clone();
    let (outcome_tx, outcome_rx) = oneshot::channel();
    let dial = Dial {
        target: lawyer_route.addr,
        uri: lawyer_route.uri,
        script: Script::Bridge(Box::new(call)),
        ring_for: Some(config.lawyer_ring),
        outcome: outcome_tx,
        abandon: None,
    };
    info!(lawyer = %bridge.lawyer, "click-to-call: calling the lawyer");
    if control.send(Control::Dial(dial)).await.is_err() {
        let stopping = report("failed", None, Some("the IVR is stopping".into()));
        send_report(tickets, stopping).await;
        return;
    }
    let outcome = outcome_rx
        .await
        .unwrap_or(DialOutcome::NotAnswered(EndReason::Failed(500)));
    let finished = match outcome {
        DialOutcome::Bridged(connected) => {
            let said = connected.detail.clone();
            let (caller, detail_text) = match &connected.caller {
                CallerLeg::Answered => (Some("answered"), said),
                CallerLeg::NotAnswered(reason) => {
                    let (name, code) = not_answered(reason);
                    // The caller's number does not exist, or their phone
                    // was busy or not picked up: all attempts.
                    (Some(name), code)
                }
                CallerLeg::Failed(why) => (Some("failed"), Some(why.clone())),
                CallerLeg::LeftEarly => (Some("no-answer"), said),
                CallerLeg::NotDialled => (None, said),
            };
            pb::BridgeReport {
                talk_seconds: i64::try_from(connected.talk.as_secs()).unwrap_or(i64::MAX),
                ..report("answered", caller, detail_text.map(detail))
            }
        }
        DialOutcome::NotAnswered(reason) => {
            let (name, code) = not_answered(&reason);
            // The lawyer's number is no caller's: wrong-number is a failure here.
            let name = if name == "wrong-number" {
                "failed"
            } else {
                name
            };
            report(name, None, code)
        }
        DialOutcome::Completed | DialOutcome::Paged(_) => report(
            "failed",
            None,
            Some("the lawyer's call ran no bridge".into()),
        ),
    };
    info!(
        lawyer_leg = %finished.lawyer_leg,
        caller_leg = finished.caller_leg.as_deref().unwrap_or("-"),
        talk_seconds = finished.talk_seconds,
        "click-to-call ended"
    );
    send_report(tickets, finished).await;
    // The recording's parts, before the job (and a stopping node) ends.
    let pending: Vec<_> = uploads
        .lock()
        .map(|mut u| u.drain(..).collect())
        .unwrap_or_default();
    for upload in pending {
        let _ = upload.await;
    }
}

async fn send_report(tickets: &TicketsClient, report: pb::BridgeReport) {
    // The caller leg's outcome is a callback attempt: tried for about two
    // minutes (a ticketing node restarting). Ticketing takes a claim back
    // only long after the longest call.
    let mut wait = Duration::from_secs(1);
    for attempt in 0..8 {
        match tickets.report_bridge(report.clone()).await {
            Ok(()) => return,
            Err(status) if status.code() == tonic::Code::NotFound => {
                // Reported already (an answer lost on the way), or taken
                // back: ticketing says which on the ticket.
                warn!(bridge = report.bridge_id, error = %status.message(), "ticketing holds no such click-to-call for this node");
                return;
            }
            // Sending it again would meet the same refusal.
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::InvalidArgument
                        | tonic::Code::PermissionDenied
                        | tonic::Code::Unauthenticated
                ) || attempt == 7 =>
            {
                warn!(bridge = report.bridge_id, error = %status.message(), "click-to-call outcome not reported");
                return;
            }
            Err(_) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        }
    }
}
