//! The IVR nodes' side of voice paging (`RoutingService/TakePages` and
//! `ReportPage`): a stream per IVR node that hands out due pages, each
//! claimed for that node first, and the outcome coming back. Only the `ivr`
//! role reaches these; what may be dialled was fixed when the page was
//! written (the roster's `sip_uri`, or the phone for the IVR's trunk).

use std::time::Duration;

use hotline_proto::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::convert::field_error;
use super::gate::{Gate, Method};
use crate::paging::PageOutcome;
use crate::service::Ticketing;
use crate::store::{PageFinish, PageJob};
use crate::tickets::Ticket;

/// How often a page stream looks for due pages when no commit woke it: a
/// retry falls due with time, not with a commit.
const PAGE_POLL: Duration = Duration::from_millis(500);

pub(super) fn node_name(node: &str) -> Result<String, Status> {
    let node = node.trim();
    if node.is_empty() || node.len() > 64 {
        return Err(field_error("node", "is required, at most 64 characters"));
    }
    if !node
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(field_error("node", "letters, digits and - _ . only"));
    }
    Ok(node.to_owned())
}

fn page_to_pb(
    job: &PageJob,
    ticket: &Ticket,
    now: chrono::DateTime<chrono::Utc>,
) -> pb::PageRequest {
    // The lawyer's first language the IVR speaks; Mandarin otherwise.
    let language = job
        .languages
        .iter()
        .find(|l| matches!(l.as_str(), "zh" | "en"))
        .cloned()
        .unwrap_or_else(|| "zh".to_owned());
    pb::PageRequest {
        page_id: job.id,
        ticket_number: job.number.to_string(),
        lawyer: job.lawyer.clone(),
        target: job.target.clone(),
        attempt: job.attempt,
        language,
        urgency: ticket
            .urgency
            .map_or_else(|| "critical".to_owned(), |u| u.to_string()),
        matter: ticket.matter.map(|m| m.to_string()),
        days_left: Ticketing::days_left(ticket, now),
        preservation: ticket.preservation,
        ack_deadline: hotline_domain::shown_time(job.ack_deadline),
    }
}

pub(super) type PageStream = ReceiverStream<Result<pb::PageRequest, Status>>;

pub(super) async fn take_pages(
    ticketing: &Ticketing,
    gate: &Gate,
    request: Request<pb::TakePagesRequest>,
) -> Result<Response<PageStream>, Status> {
    let who = gate.admit(&request, Method::TakePages).await?;
    let node = request.get_ref().node.clone();
    claim_stream(
        ticketing,
        gate,
        &request,
        &node,
        &who,
        |ticketing, node, token| async move {
            let claimed = ticketing.claim_page(&node, &token).await?;
            Ok(claimed.map(|(job, ticket)| {
            tracing::info!(ticket = %job.number, lawyer = %job.lawyer, page = job.id, %node, "page handed to an IVR node");
            page_to_pb(&job, &ticket, ticketing.now())
        }))
        },
    )
}

/// A stream for one IVR node that hands out what `claim` claims for it, as
/// it falls due: woken by every commit, and every [`PAGE_POLL`] for what
/// falls due with time. It claims only while the node is there to take the
/// item, and ends when the token is revoked.
pub(super) fn claim_stream<R, T, F, Fut>(
    ticketing: &Ticketing,
    gate: &Gate,
    request: &Request<R>,
    node: &str,
    who: &crate::auth::Principal,
    claim: F,
) -> Result<Response<ReceiverStream<Result<T, Status>>>, Status>
where
    T: Send + 'static,
    F: Fn(Ticketing, String, String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Option<T>, crate::store::StoreError>> + Send,
{
    let slot = gate.open_stream(who)?;
    let token = super::gate::bearer(request);
    let node = node_name(node)?;
    let (tx, rx) = mpsc::channel(4);
    let (ticketing, gate) = (ticketing.clone(), gate.clone());
    let token_id = who.token_id.clone();
    let commits = ticketing.store().commits();
    tokio::spawn(async move {
        let _slot = slot;
        let mut checked = std::time::Instant::now();
        loop {
            if checked.elapsed() >= super::gate::STREAM_RECHECK {
                if let Err(status) = gate.still_valid(token.as_deref()).await {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
                checked = std::time::Instant::now();
            }
            // Claim only while this node is there to take it: an item
            // claimed for a node that is gone would wait for nobody.
            let Ok(permit) = tx.reserve().await else {
                return;
            };
            let woken = commits.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match claim(ticketing.clone(), node.clone(), token_id.clone()).await {
                Ok(Some(item)) => permit.send(Ok(item)),
                Ok(None) => {
                    drop(permit);
                    if tx.is_closed() {
                        return;
                    }
                    tokio::select! {
                        () = woken => {}
                        () = tokio::time::sleep(PAGE_POLL) => {}
                    }
                }
                Err(e) => {
                    permit.send(Err(Status::from(e)));
                    return;
                }
            }
        }
    });
    Ok(Response::new(ReceiverStream::new(rx)))
}

pub(super) async fn report_page(
    ticketing: &Ticketing,
    gate: &Gate,
    request: Request<pb::PageReport>,
) -> Result<Response<pb::PageReceipt>, Status> {
    let who = gate.admit(&request, Method::ReportPage).await?;
    let r = request.into_inner();
    let node = node_name(&r.node)?;
    let outcome = PageOutcome::parse(&r.outcome).ok_or_else(|| {
        field_error(
            "outcome",
            "must be answered, accepted, declined, no-answer, busy or failed",
        )
    })?;
    let detail = r.detail.as_deref().map(str::trim).filter(|d| !d.is_empty());
    if detail.is_some_and(|d| d.chars().count() > 200) {
        return Err(field_error("detail", "is at most 200 characters"));
    }
    match ticketing
        .finish_page(
            r.page_id,
            &node,
            &who,
            outcome,
            detail,
            r.permanent && outcome == PageOutcome::Failed,
        )
        .await?
    {
        PageFinish::Recorded => Ok(Response::new(pb::PageReceipt {
            decided: outcome.decided(),
        })),
        PageFinish::OfferGone => Ok(Response::new(pb::PageReceipt { decided: false })),
        PageFinish::Unknown => Err(Status::not_found(format!(
            "page_id: no page {} is being dialled by IVR node {node}",
            r.page_id
        ))),
    }
}
