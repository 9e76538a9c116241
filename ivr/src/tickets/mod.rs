//! The IVR's side of ticketing: creates the caller's ticket with a number
//! the IVR proposes and an idempotency key (node + the IVR's id of the
//! call), uploads the
//! message, and looks up progress. Every request goes through the durable
//! [`outbox`] first; when ticketing cannot be reached within a few seconds
//! the caller hears the proposed number, and [`TicketsClient::run_outbox`]
//! delivers the request later with the same key, so that number finds the
//! ticket.

pub mod figures;
pub mod nodes;
pub mod outbox;

use std::sync::Arc;
use std::time::Duration;

use hotline_domain::{TicketNumber, Urgency};
use hotline_proto::v1 as pb;
use hotline_proto::v1::report_service_client::ReportServiceClient;
use hotline_proto::v1::routing_service_client::RoutingServiceClient;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;
use hotline_proto::{AuthedChannel, Bearer};
use prost::Message;
use tokio::sync::Notify;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};
use tracing::{info, warn};

pub use outbox::{Entry, EntryState, Listed, Outbox, OutboxError};

use crate::menu::{TicketCreated, TicketDraft};

/// How long a caller waits for ticketing before hearing the proposed number.
const CALLER_BUDGET: Duration = Duration::from_secs(4);
/// One CreateTicket or upload attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Upload chunk size.
const CHUNK: usize = 64 << 10;
/// Entries read from the outbox at a time; a pass reads until none is due.
const PAGE: i64 = 100;
/// The longest the delivery loop sleeps without looking at the outbox.
const MAX_IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum TicketsError {
    #[error("invalid ticketing URL `{url}`: {source}")]
    Url {
        url: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error("ticketing refused the request for good: {0}")]
    Refused(String),
    #[error("{0}")]
    Token(String),
}

/// A ticket request with its recording, ready to deliver.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The number the IVR drew for this request and proposes to ticketing;
    /// the caller hears it if ticketing does not answer in time.
    pub proposed: TicketNumber,
    pub request: pb::CreateTicketRequest,
    /// The message as WAV bytes, and its length.
    pub recording: Option<(Vec<u8>, i64)>,
}

#[derive(Clone)]
pub struct TicketsClient {
    client: TicketServiceClient<AuthedChannel>,
    /// The same channel, for the node's figures ([`figures`]).
    reports: ReportServiceClient<AuthedChannel>,
    /// The same channel, for pages to duty lawyers ([`crate::paging`]).
    routing: RoutingServiceClient<AuthedChannel>,
    outbox: Outbox,
    wake: Arc<Notify>,
}

impl TicketsClient {
    /// Connects lazily: the IVR starts and answers calls while ticketing is
    /// down. Every request carries `token` (the IVR node's `ivr` token): who
    /// the IVR is in ticket histories comes from it.
    pub fn new(url: &str, token: Option<&str>, outbox: Outbox) -> Result<Self, TicketsError> {
        let endpoint =
            Endpoint::from_shared(url.to_owned()).map_err(|source| TicketsError::Url {
                url: url.to_owned(),
                source,
            })?;
        Self::with_endpoint(endpoint, token, outbox)
    }

    /// The same over `endpoint` (with TLS, when ticketing serves it).
    pub fn with_endpoint(
        endpoint: Endpoint,
        token: Option<&str>,
        outbox: Outbox,
    ) -> Result<Self, TicketsError> {
        Self::with_channel(nodes::channel(vec![endpoint]), token, outbox)
    }

    /// The same over `channel` ([`nodes::channel`]: one ticketing node or
    /// several).
    pub fn with_channel(
        channel: Channel,
        token: Option<&str>,
        outbox: Outbox,
    ) -> Result<Self, TicketsError> {
        let bearer = Bearer::new(token).map_err(|e| TicketsError::Token(e.to_string()))?;
        Ok(Self {
            client: TicketServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            reports: ReportServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            routing: RoutingServiceClient::with_interceptor(channel, bearer),
            outbox,
            wake: Arc::new(Notify::new()),
        })
    }

    /// The request a call's draft becomes, proposing `proposed`.
    pub fn request(
        draft: &TicketDraft,
        idempotency_key: String,
        proposed: &TicketNumber,
    ) -> pb::CreateTicketRequest {
        pb::CreateTicketRequest {
            idempotency_key,
            proposed_number: Some(proposed.to_string()),
            kind: draft.kind.map(|k| k.to_string()),
            matter: draft.matter.map(|m| m.to_string()),
            caller_number: draft.caller_number.as_ref().map(|n| n.as_str().to_owned()),
            callback_number: draft
                .callback_number
                .as_ref()
                .map(|n| n.as_str().to_owned()),
            event_date: draft.event_date.map(|d| d.format("%Y-%m-%d").to_string()),
            preservation: draft.preservation,
            priority_group: draft.priority_group.map(|g| g.to_string()),
            language: Some(draft.language.to_string()),
            center: Some(draft.center.clone()),
            region: draft.region.as_ref().map(|r| r.as_str().to_owned()),
            // What a caller who hung up had chosen: the ticket's kind is
            // `callback`, so the service goes into the summary.
            summary: draft.last_node.as_ref().map(|node| {
                format!("The caller hung up in menu node `{node}` before the request was complete.")
            }),
            hardship_waived: draft.hardship_waived,
            pledge_offered: draft.pledge_offered,
            home_visit: draft.home_visit,
            mediation_preferred: draft.mediation_preferred,
            document: draft.document.map(|d| d.to_string()),
            chosen_rule: draft.rule.clone(),
            // A menu node id longer than ticketing takes is cut, never refused.
            last_node: draft
                .last_node
                .as_ref()
                .map(|n| n.chars().take(64).collect()),
            advance_enforcement: draft.advance_enforcement,
            hardship_basis: draft.hardship_basis.map(|b| b.to_string()),
        }
    }

    /// Makes the request durable, then tries to deliver it while the caller
    /// waits. Returns the number to read out: ticketing's, or the proposed
    /// one while the request waits in the outbox.
    pub async fn submit(&self, submission: Submission) -> Result<TicketCreated, TicketsError> {
        let key = submission.request.idempotency_key.clone();
        let proposed = submission.proposed;
        let entry = Entry {
            idempotency_key: key.clone(),
            request: submission.request.encode_to_vec(),
            recording: submission.recording.as_ref().map(|(wav, _)| wav.clone()),
            recording_ms: submission.recording.as_ref().map_or(0, |(_, ms)| *ms),
            attempts: 0,
            ticket_number: None,
        };
        self.outbox.put(&entry, now_ms()).await?;
        let waited = tokio::time::timeout(CALLER_BUDGET, self.deliver(&entry)).await;
        let created = match &waited {
            Ok(Ok(created)) => Some(created.clone()),
            Ok(Err(failure)) => failure.created.clone(),
            Err(_) => None,
        };
        let outcome = match waited {
            Ok(Ok(_)) => Outcome::Delivered,
            Ok(Err(failure)) => failure.outcome(),
            Err(_) => Outcome::RetryLater("timed out".to_owned()),
        };
        // A request refused for good made no ticket: the number would lead
        // nowhere, so the caller takes the failure path instead.
        let refused = match (&outcome, &created) {
            (Outcome::Dead(reason), None) => Some(reason.clone()),
            _ => None,
        };
        let waits = matches!(outcome, Outcome::RetryLater(_) | Outcome::Unreachable(_));
        // The request is on disk (`put` returned): a failure to note how
        // this attempt went loses nothing, and the caller still gets their
        // number; the delivery loop sorts the entry out.
        if let Err(e) = self.settle(&key, outcome).await {
            warn!(%key, error = %e, "cannot note the delivery attempt in the outbox");
        }
        if waits {
            self.wake.notify_one();
        }
        if let Some(reason) = refused {
            return Err(TicketsError::Refused(reason));
        }
        Ok(created.unwrap_or(TicketCreated {
            number: proposed,
            urgency: None,
        }))
    }

    /// Records the outcome of one delivery attempt in the outbox.
    async fn settle(&self, key: &str, outcome: Outcome) -> Result<(), OutboxError> {
        match outcome {
            Outcome::Delivered => self.outbox.delivered(key).await,
            Outcome::RetryLater(error) => {
                warn!(%key, %error, "ticketing did not take the request; it waits in the outbox");
                self.outbox.retry_later(key, &error, now_ms()).await
            }
            Outcome::Unreachable(error) => {
                warn!(%key, %error, "ticketing cannot be reached; the request waits in the outbox");
                self.outbox.note_unreachable(key, &error, now_ms()).await
            }
            Outcome::Dead(reason) => {
                tracing::error!(%key, %reason, "ticketing refused an outbox request for good; it is set aside for an operator (hotline outbox list)");
                self.outbox.dead(key, &reason).await
            }
        }
    }

    /// One delivery: CreateTicket (retried briefly on transient errors)
    /// unless an earlier attempt created it, then the recording.
    async fn deliver(&self, entry: &Entry) -> Result<TicketCreated, Failure> {
        let created = match &entry.ticket_number {
            Some(number) => TicketCreated {
                number: TicketNumber::parse(number).map_err(|e| {
                    Failure::create(Status::internal(format!("outbox holds a bad number: {e}")))
                })?,
                urgency: None,
            },
            None => self.create(entry).await.map_err(Failure::create)?,
        };
        if let Some(wav) = &entry.recording {
            if entry.ticket_number.is_none() {
                // Remember the ticket: a refused or failed upload must not
                // make the next attempt look like a new request.
                if let Err(e) = self
                    .outbox
                    .ticket_created(&entry.idempotency_key, created.number.as_str())
                    .await
                {
                    warn!(error = %e, "cannot note the created ticket in the outbox");
                }
            }
            self.upload(
                &created.number,
                &entry.idempotency_key,
                wav,
                entry.recording_ms,
            )
            .await
            .map_err(|status| Failure {
                stage: Stage::Recording,
                status,
                created: Some(created.clone()),
            })?;
        }
        info!(ticket = %created.number, "ticket delivered");
        Ok(created)
    }

    async fn create(&self, entry: &Entry) -> Result<TicketCreated, Status> {
        let request = pb::CreateTicketRequest::decode(entry.request.as_slice())
            .map_err(|e| Status::invalid_argument(format!("outbox entry unreadable: {e}")))?;
        let mut delay = Duration::from_millis(100);
        let response = loop {
            let mut client = self.client.clone();
            match client.create_ticket(timed(request.clone())).await {
                Ok(r) => break r.into_inner(),
                Err(s)
                    if matches!(s.code(), Code::Unavailable | Code::DeadlineExceeded)
                        && delay < Duration::from_millis(800) =>
                {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(s) => return Err(s),
            }
        };
        let ticket = response
            .ticket
            .ok_or_else(|| Status::internal("CreateTicket answered without a ticket"))?;
        let number = TicketNumber::parse(&ticket.number)
            .map_err(|e| Status::internal(format!("ticketing sent a bad number: {e}")))?;
        Ok(TicketCreated {
            number,
            urgency: ticket
                .urgency
                .as_deref()
                .and_then(|u| Urgency::parse(u).ok()),
        })
    }

    /// Attaches a recording (WAV bytes) to ticket `number`; `key` makes a
    /// retried upload harmless. Tries three times.
    pub async fn attach_recording(
        &self,
        number: &str,
        key: &str,
        wav: &[u8],
        duration_ms: i64,
    ) -> Result<(), Status> {
        let number =
            TicketNumber::parse(number).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let mut last = Status::unavailable("not tried");
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(2u64.pow(attempt))).await;
            }
            match self.upload_as(&number, key, wav, duration_ms).await {
                Ok(()) => return Ok(()),
                Err(status) => last = status,
            }
        }
        Err(last)
    }

    async fn upload(
        &self,
        number: &TicketNumber,
        key: &str,
        wav: &[u8],
        duration_ms: i64,
    ) -> Result<(), Status> {
        self.upload_as(number, &format!("{key}:message"), wav, duration_ms)
            .await
    }

    async fn upload_as(
        &self,
        number: &TicketNumber,
        key: &str,
        wav: &[u8],
        duration_ms: i64,
    ) -> Result<(), Status> {
        let mut chunks: Vec<pb::RecordingChunk> = wav
            .chunks(CHUNK)
            .map(|data| pb::RecordingChunk {
                data: data.to_vec(),
                ..Default::default()
            })
            .collect();
        if let Some(first) = chunks.first_mut() {
            first.ticket_number = number.to_string();
            first.idempotency_key = key.to_owned();
            first.content_type = "audio/wav".into();
            first.duration_ms = duration_ms;
        }
        let mut request = Request::new(tokio_stream::iter(chunks));
        request.set_timeout(ATTEMPT_TIMEOUT * 5);
        let mut client = self.client.clone();
        client.upload_recording(request).await?;
        Ok(())
    }

    /// The progress of a ticket as a LookupStatus next-step code; `None`
    /// when no ticket has the number; `unavailable` when ticketing is down.
    pub async fn lookup(&self, number: &TicketNumber) -> Option<String> {
        let mut client = self.client.clone();
        let mut request = Request::new(pb::LookupStatusRequest {
            number: number.to_string(),
        });
        request.set_timeout(ATTEMPT_TIMEOUT);
        match client.lookup_status(request).await {
            Ok(r) => Some(r.into_inner().next_step),
            Err(s) if s.code() == Code::NotFound => None,
            Err(s) => {
                warn!(error = %s.message(), "progress lookup failed");
                Some("unavailable".into())
            }
        }
    }

    /// Delivers what waits in the outbox until `shutdown`: at once when a
    /// call adds to it, otherwise when its earliest entry is due (each
    /// entry keeps its own backoff), looking at least every 30 s. While
    /// ticketing cannot be reached at all the loop backs off as a whole,
    /// 1 s doubling to 30 s, and every entry keeps its place.
    pub async fn run_outbox(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut away = Duration::ZERO;
        loop {
            let wait = match self.flush_pass().await {
                Pass::Unreachable => {
                    away = (away * 2).clamp(Duration::from_secs(1), MAX_IDLE);
                    away
                }
                Pass::Done | Pass::Waiting => {
                    away = Duration::ZERO;
                    self.until_next_due().await
                }
                // Nothing was due (a call's wake-up between retries): the
                // outage backoff, if any, goes on.
                Pass::Idle if !away.is_zero() => away,
                Pass::Idle => self.until_next_due().await,
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn until_next_due(&self) -> Duration {
        match self.outbox.next_due().await {
            Ok(Some(at)) => {
                Duration::from_millis(u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0))
            }
            Ok(None) => MAX_IDLE,
            Err(e) => {
                warn!(error = %e, "cannot read the outbox");
                MAX_IDLE
            }
        }
        .clamp(Duration::from_millis(200), MAX_IDLE)
    }

    /// One pass over every entry due now; true when nothing is left
    /// waiting (dead letters wait for an operator, not for delivery).
    pub async fn flush(&self) -> bool {
        matches!(self.flush_pass().await, Pass::Done)
    }

    /// One pass over every entry due now, a page at a time. When ticketing
    /// cannot be reached the pass stops: the rest would fail the same way.
    async fn flush_pass(&self) -> Pass {
        let started = now_ms();
        let mut attempted = false;
        loop {
            let due = match self.outbox.due(started, PAGE).await {
                Ok(due) => due,
                Err(e) => {
                    warn!(error = %e, "cannot read the outbox");
                    return Pass::Waiting;
                }
            };
            if due.is_empty() {
                break;
            }
            attempted = true;
            for entry in due {
                let result = tokio::time::timeout(ATTEMPT_TIMEOUT * 5, self.deliver(&entry)).await;
                let outcome = match result {
                    Ok(Ok(created)) => {
                        info!(ticket = %created.number, "outbox request delivered");
                        Outcome::Delivered
                    }
                    Ok(Err(failure)) => failure.outcome(),
                    Err(_) => Outcome::RetryLater("timed out".to_owned()),
                };
                let unreachable = matches!(outcome, Outcome::Unreachable(_));
                if let Err(e) = self.settle(&entry.idempotency_key, outcome).await {
                    warn!(error = %e, "cannot update the outbox");
                    return Pass::Waiting;
                }
                if unreachable {
                    return Pass::Unreachable;
                }
            }
        }
        match self.outbox.counts().await {
            Ok((0, _)) => Pass::Done,
            _ if !attempted => Pass::Idle,
            _ => Pass::Waiting,
        }
    }

    /// Sends the node's calls and figures ([`figures::run`]).
    pub async fn publish_figures(&self, figures: pb::IvrFigures) -> Result<(), Status> {
        let mut request = Request::new(figures);
        request.set_timeout(ATTEMPT_TIMEOUT);
        let mut reports = self.reports.clone();
        reports.publish_ivr_figures(request).await.map(|_| ())
    }

    /// The pages ticketing hands this node to dial, as they fall due.
    pub async fn take_pages(
        &self,
        node: &str,
    ) -> Result<tonic::Streaming<pb::PageRequest>, Status> {
        let mut routing = self.routing.clone();
        let request = pb::TakePagesRequest {
            node: node.to_owned(),
        };
        routing.take_pages(request).await.map(|r| r.into_inner())
    }

    /// How a page went; for a key the lawyer pressed, whether it decided
    /// the offer.
    pub async fn report_page(&self, report: pb::PageReport) -> Result<pb::PageReceipt, Status> {
        let mut request = Request::new(report);
        request.set_timeout(ATTEMPT_TIMEOUT);
        let mut routing = self.routing.clone();
        routing.report_page(request).await.map(|r| r.into_inner())
    }

    /// The click-to-calls ticketing hands this node to place.
    pub async fn take_bridges(
        &self,
        node: &str,
        boot: &str,
    ) -> Result<tonic::Streaming<pb::BridgeRequest>, Status> {
        let mut routing = self.routing.clone();
        let request = pb::TakeBridgesRequest {
            node: node.to_owned(),
            boot: boot.to_owned(),
        };
        routing.take_bridges(request).await.map(|r| r.into_inner())
    }

    /// How a click-to-call went.
    pub async fn report_bridge(&self, report: pb::BridgeReport) -> Result<(), Status> {
        let mut request = Request::new(report);
        request.set_timeout(ATTEMPT_TIMEOUT);
        let mut routing = self.routing.clone();
        routing.report_bridge(request).await.map(drop)
    }

    /// The outbox this client delivers from.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}

/// How a pass over the outbox ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Nothing waits.
    Done,
    /// Some entries wait for their next attempt.
    Waiting,
    /// Entries wait, none was due: ticketing was not tried.
    Idle,
    /// Ticketing cannot be reached; the pass stopped.
    Unreachable,
}

/// What one delivery attempt leaves in the outbox.
#[derive(Debug)]
enum Outcome {
    Delivered,
    /// Ticketing answered but could not take it now: this entry backs off.
    RetryLater(String),
    /// Ticketing could not be reached: the entry stays due.
    Unreachable(String),
    /// Refused for good: a dead letter.
    Dead(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Create,
    Recording,
}

/// A failed delivery: where it failed, why, and the ticket if it was made.
#[derive(Debug)]
struct Failure {
    stage: Stage,
    status: Status,
    created: Option<TicketCreated>,
}

impl Failure {
    fn create(status: Status) -> Self {
        Self {
            stage: Stage::Create,
            status,
            created: None,
        }
    }

    fn outcome(&self) -> Outcome {
        let what = match self.stage {
            Stage::Create => "ticket refused",
            Stage::Recording => "recording refused (the ticket was created without it)",
        };
        let reason = format!(
            "{what}: {:?}: {}",
            self.status.code(),
            self.status.message()
        );
        if self.status.code() == Code::Unavailable {
            return Outcome::Unreachable(reason);
        }
        match classify(&self.status, self.stage) {
            Refusal::Transient => Outcome::RetryLater(reason),
            Refusal::Permanent => Outcome::Dead(reason),
        }
    }
}

/// Whether a refusal can change by trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Ticketing is away, slow or failing: try again later.
    Transient,
    /// Ticketing will never take this request as it is: a bad field, a
    /// key already used for another request, a recording over the upload
    /// limit. Retrying only blocks; it waits for an operator instead.
    Permanent,
}

/// Only refusals that say the request itself is wrong are permanent;
/// anything else (a node being upgraded, a misconfigured token, ticketing
/// out of numbers) may pass later and must not throw callers' requests
/// aside.
fn classify(status: &Status, stage: Stage) -> Refusal {
    match (status.code(), stage) {
        (Code::InvalidArgument | Code::AlreadyExists | Code::OutOfRange, _) => Refusal::Permanent,
        // Ticketing's answer to a recording over MAX_RECORDING_BYTES.
        (Code::ResourceExhausted, Stage::Recording) => Refusal::Permanent,
        _ => Refusal::Transient,
    }
}

impl std::fmt::Debug for TicketsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketsClient").finish_non_exhaustive()
    }
}

/// A request bounded by one attempt's time.
fn timed<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(ATTEMPT_TIMEOUT);
    request
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_of_the_request_itself_are_permanent() {
        let permanent =
            |code, stage| classify(&Status::new(code, "x"), stage) == Refusal::Permanent;
        for code in [Code::InvalidArgument, Code::AlreadyExists, Code::OutOfRange] {
            assert!(permanent(code, Stage::Create), "{code:?}");
            assert!(permanent(code, Stage::Recording), "{code:?}");
        }
        assert!(permanent(Code::ResourceExhausted, Stage::Recording));
        assert!(
            !permanent(Code::ResourceExhausted, Stage::Create),
            "out of numbers passes"
        );
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::Internal,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::Unimplemented,
            Code::FailedPrecondition,
            Code::NotFound,
        ] {
            assert!(!permanent(code, Stage::Create), "{code:?}");
        }
    }

    /// While ticketing cannot be reached, requests keep their places: each
    /// pass tries the entry due first, which steps back a second; no entry's
    /// wait grows, so when ticketing comes back every caller's request goes
    /// at once, however long the outage was.
    #[tokio::test]
    async fn an_outage_leaves_every_request_due() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&dir.path().join("outbox.db")).await.unwrap();
        for (i, key) in ["a", "b", "c"].iter().enumerate() {
            let entry = Entry {
                idempotency_key: (*key).to_owned(),
                request: pb::CreateTicketRequest::default().encode_to_vec(),
                recording: None,
                recording_ms: 0,
                attempts: 0,
                ticket_number: None,
            };
            outbox.put(&entry, i as i64).await.unwrap();
        }
        // A port nobody listens on: connection refused, UNAVAILABLE.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client =
            TicketsClient::new(&format!("http://127.0.0.1:{port}"), None, outbox.clone()).unwrap();
        for _ in 0..3 {
            assert_eq!(client.flush_pass().await, Pass::Unreachable);
        }
        let listed = outbox.list().await.unwrap();
        assert!(
            listed.iter().all(|e| e.attempts == 1),
            "each pass took the next entry: {listed:?}"
        );
        assert!(listed.iter().all(|e| e.state == EntryState::Waiting));
        let soon = now_ms() + 2000;
        assert_eq!(
            outbox.due(soon, 10).await.unwrap().len(),
            3,
            "all due within a second or so"
        );
        // The pass did not wake the loop for itself.
        let woken = tokio::time::timeout(Duration::from_millis(50), client.wake.notified()).await;
        assert!(woken.is_err(), "a pass must not wake its own loop");
    }
}
