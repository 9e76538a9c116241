//! The IVR's side of ticketing: creates the caller's ticket with a number
//! the IVR proposes and an idempotency key (node + Call-ID), uploads the
//! message, and looks up progress. Every request goes through the durable
//! [`outbox`] first; when ticketing cannot be reached within a few seconds
//! the caller hears the proposed number, and [`TicketsClient::run_outbox`]
//! delivers the request later with the same key, so that number finds the
//! ticket.

pub mod outbox;

use std::sync::Arc;
use std::time::Duration;

use hotline_domain::{TicketNumber, Urgency};
use hotline_proto::v1 as pb;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;
use prost::Message;
use tokio::sync::Notify;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};
use tracing::{info, warn};

pub use outbox::{Entry, Outbox, OutboxError};

use crate::menu::{TicketCreated, TicketDraft};

/// How long a caller waits for ticketing before hearing the proposed number.
const CALLER_BUDGET: Duration = Duration::from_secs(4);
/// One CreateTicket or upload attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Upload chunk size.
const CHUNK: usize = 64 << 10;
/// Who the IVR is in ticket histories.
const ACTOR: &str = "ivr";

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
    client: TicketServiceClient<Channel>,
    outbox: Outbox,
    wake: Arc<Notify>,
}

impl TicketsClient {
    /// Connects lazily: the IVR starts and answers calls while ticketing is down.
    pub fn new(url: &str, outbox: Outbox) -> Result<Self, TicketsError> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|source| TicketsError::Url {
                url: url.to_owned(),
                source,
            })?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true);
        Ok(Self {
            client: TicketServiceClient::new(endpoint.connect_lazy()),
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
            summary: None,
            hardship_waived: draft.hardship_waived,
            pledge_accepted: draft.pledge_accepted,
            home_visit: draft.home_visit,
            mediation_preferred: draft.mediation_preferred,
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
        };
        self.outbox.put(&entry, now_ms()).await?;
        match tokio::time::timeout(CALLER_BUDGET, self.deliver(&entry)).await {
            Ok(Ok(created)) => {
                self.outbox.delivered(&key).await?;
                Ok(created)
            }
            Ok(Err(status)) => {
                warn!(error = %status.message(), code = ?status.code(), "ticketing did not take the request; it waits in the outbox");
                self.outbox.failed(&key, status.message()).await?;
                self.wake.notify_one();
                Ok(TicketCreated {
                    number: proposed,
                    urgency: None,
                })
            }
            Err(_) => {
                warn!("ticketing did not answer in time; the request waits in the outbox");
                self.outbox.failed(&key, "timed out").await?;
                self.wake.notify_one();
                Ok(TicketCreated {
                    number: proposed,
                    urgency: None,
                })
            }
        }
    }

    /// One delivery: CreateTicket (retried briefly on transient errors), then the recording.
    async fn deliver(&self, entry: &Entry) -> Result<TicketCreated, Status> {
        let request = pb::CreateTicketRequest::decode(entry.request.as_slice())
            .map_err(|e| Status::internal(format!("outbox entry unreadable: {e}")))?;
        let mut delay = Duration::from_millis(100);
        let response = loop {
            let mut client = self.client.clone();
            match client.create_ticket(with_actor(request.clone())).await {
                Ok(r) => break r.into_inner(),
                Err(s) if transient(&s) && delay < Duration::from_millis(800) => {
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
        if let Some(wav) = &entry.recording {
            self.upload(&number, &entry.idempotency_key, wav, entry.recording_ms)
                .await?;
        }
        info!(ticket = %number, created = response.created, "ticket delivered");
        Ok(TicketCreated {
            number,
            urgency: ticket
                .urgency
                .as_deref()
                .and_then(|u| Urgency::parse(u).ok()),
        })
    }

    async fn upload(
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
            first.idempotency_key = format!("{key}:message");
            first.content_type = "audio/wav".into();
            first.duration_ms = duration_ms;
        }
        let mut request = Request::new(tokio_stream::iter(chunks));
        request.set_timeout(ATTEMPT_TIMEOUT * 5);
        set_actor(&mut request);
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
        set_actor(&mut request);
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
    /// call adds to it, otherwise with a backoff from 1 s to 30 s.
    pub async fn run_outbox(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_secs(1);
        loop {
            let delivered_all = self.flush().await;
            backoff = if delivered_all {
                Duration::from_secs(1)
            } else {
                (backoff * 2).min(Duration::from_secs(30))
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(backoff) => {}
            }
        }
    }

    /// One pass over the outbox; true when nothing is left.
    pub async fn flush(&self) -> bool {
        let pending = match self.outbox.pending(100).await {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "cannot read the outbox");
                return false;
            }
        };
        if pending.is_empty() {
            return true;
        }
        let mut all = true;
        for entry in pending {
            let result = tokio::time::timeout(ATTEMPT_TIMEOUT * 5, self.deliver(&entry)).await;
            let ticketing_away = match &result {
                Ok(Err(s)) => transient(s),
                Err(_) => true,
                Ok(Ok(_)) => false,
            };
            let outcome = match result {
                Ok(Ok(created)) => {
                    info!(ticket = %created.number, "outbox request delivered");
                    self.outbox.delivered(&entry.idempotency_key).await
                }
                Ok(Err(s)) => {
                    all = false;
                    if !transient(&s) {
                        // Refused, not unreachable: it stays for an operator
                        // to see, and must not hold up the requests behind it.
                        tracing::error!(key = %entry.idempotency_key, attempts = entry.attempts + 1, error = %s.message(), "ticketing refused an outbox request");
                    }
                    self.outbox
                        .failed(&entry.idempotency_key, s.message())
                        .await
                }
                Err(_) => {
                    all = false;
                    self.outbox
                        .failed(&entry.idempotency_key, "timed out")
                        .await
                }
            };
            if let Err(e) = outcome {
                warn!(error = %e, "cannot update the outbox");
                all = false;
            }
            if !all && ticketing_away {
                // Ticketing is still away: try the rest later.
                break;
            }
        }
        all && self.outbox.count().await.is_ok_and(|n| n == 0)
    }
}

impl std::fmt::Debug for TicketsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketsClient").finish_non_exhaustive()
    }
}

fn with_actor<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(ATTEMPT_TIMEOUT);
    set_actor(&mut request);
    request
}

fn set_actor<T>(request: &mut Request<T>) {
    request.metadata_mut().insert(
        hotline_proto::ACTOR_HEADER,
        tonic::metadata::MetadataValue::from_static(ACTOR),
    );
}

fn transient(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Aborted
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
