//! The ticketing gRPC API (`hotline.v1.TicketService`): admits every
//! request through the [`gate::Gate`] (token, role, ticket), validates it at
//! the edge and calls the [`Ticketing`] front door, which reads the clock
//! and reaches the store.

pub mod access;
mod bridges;
pub mod callbacks;
pub(crate) mod convert;
pub mod gate;
mod paging;
pub mod reports;
pub mod routing;
pub mod wakes;

use hotline_proto::v1 as pb;
use hotline_proto::v1::ticket_service_server::TicketService;
use tonic::{Request, Response, Status};
use tracing::{info, Span};

use hotline_domain::limits::{MAX_IDEMPOTENCY_KEY_LEN, MAX_MESSAGE_SECS};

use crate::service::Ticketing;
use crate::tickets::lifecycle::LifecycleError;
use crate::tickets::PageCursor;
use crate::StoreError;
use convert::{field_error, parse_number, FieldError, Numbers};
use gate::{Gate, Method};

/// Listing page size when the client gives none, and the most it may ask for.
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 500;

pub struct TicketApi {
    ticketing: Ticketing,
    gate: Gate,
}

impl TicketApi {
    pub fn new(ticketing: Ticketing, gate: Gate) -> Self {
        Self { ticketing, gate }
    }

    /// A chosen limitation rule must be one of the table's.
    fn check_rule(&self, rule: Option<&str>) -> Result<(), Status> {
        match rule {
            Some(id) if self.ticketing.limitation().rules().rule(id).is_none() => Err(field_error(
                "chosen_rule",
                &format!("unknown rule `{id}`; `hotline limitation --list` shows the rules"),
            )),
            _ => Ok(()),
        }
    }
}

/// An event date after today cannot be right: the caller mistyped it.
pub(crate) fn check_event_date(
    date: Option<chrono::NaiveDate>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Status> {
    let today = Ticketing::today(now);
    match date {
        Some(d) if d > today => Err(field_error(
            "event_date",
            &format!("{d} is after today ({today})"),
        )),
        _ => Ok(()),
    }
}

fn record_ticket(number: &impl std::fmt::Display) {
    Span::current().record("ticket", tracing::field::display(number));
}

impl From<FieldError> for Status {
    fn from(e: FieldError) -> Self {
        field_error(e.field, &e.message)
    }
}

impl From<StoreError> for Status {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) | StoreError::RecordingNotFound(_) => {
                Status::not_found(e.to_string())
            }
            StoreError::Lifecycle(LifecycleError::Missing(_, field)) => {
                field_error(field, &e.to_string())
            }
            StoreError::Lifecycle(
                LifecycleError::Illegal { .. }
                | LifecycleError::DecisionFirst(_)
                | LifecycleError::NoApplication(_)
                | LifecycleError::CallbackOver(_)
                | LifecycleError::NoNumberToCall,
            ) => Status::failed_precondition(e.to_string()),
            StoreError::NumbersExhausted(_) => Status::resource_exhausted(e.to_string()),
            StoreError::Database(sqlx::Error::PoolTimedOut) => {
                Status::unavailable("the database is busy; retry shortly")
            }
            // PostgreSQL's lock_not_available: a write waited out its lock
            // timeout (another node holds the lock); nothing was applied.
            e if e.is_lock_timeout() => {
                Status::unavailable("another node holds what this request needs; retry shortly")
            }
            other => {
                tracing::error!(error = %other, "store failure");
                Status::internal("the ticket store failed; the request was not applied")
            }
        }
    }
}

/// Largest recording accepted: two minutes of 8 kHz 16-bit audio is ~1.9 MB.
pub use hotline_domain::limits::MAX_RECORDING_BYTES;
/// Chunk size of recordings sent back.
const RECORDING_CHUNK: usize = 64 << 10;

#[tonic::async_trait]
impl TicketService for TicketApi {
    type GetRecordingStream =
        tokio_stream::Iter<std::vec::IntoIter<Result<pb::RecordingChunk, Status>>>;

    async fn list_callbacks(
        &self,
        request: Request<pb::ListCallbacksRequest>,
    ) -> Result<Response<pb::ListCallbacksResponse>, Status> {
        callbacks::list(&self.ticketing, &self.gate, request).await
    }

    async fn record_callback(
        &self,
        request: Request<pb::RecordCallbackRequest>,
    ) -> Result<Response<pb::CallbackStatus>, Status> {
        callbacks::record(&self.ticketing, &self.gate, request).await
    }

    async fn call_back(
        &self,
        request: Request<pb::CallBackRequest>,
    ) -> Result<Response<pb::CallBackQueued>, Status> {
        bridges::call_back(&self.ticketing, &self.gate, request).await
    }

    async fn upload_recording(
        &self,
        request: Request<tonic::Streaming<pb::RecordingChunk>>,
    ) -> Result<Response<pb::Recording>, Status> {
        let actor = self
            .gate
            .admit(&request, Method::UploadRecording)
            .await?
            .actor();
        let mut stream = request.into_inner();
        let Some(first) = stream.message().await? else {
            return Err(field_error("ticket_number", "the upload sent no chunk"));
        };
        let number = parse_number("ticket_number", &first.ticket_number)?;
        record_ticket(&number);
        if first.idempotency_key.is_empty() || first.idempotency_key.len() > MAX_IDEMPOTENCY_KEY_LEN
        {
            return Err(field_error(
                "idempotency_key",
                &format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} bytes"),
            ));
        }
        if first.content_type != "audio/wav" {
            return Err(field_error("content_type", "must be audio/wav"));
        }
        let longest_ms = i64::from(MAX_MESSAGE_SECS) * 1000;
        if !(0..=longest_ms).contains(&first.duration_ms) {
            return Err(field_error(
                "duration_ms",
                &format!("must be 0 to {longest_ms}"),
            ));
        }
        let mut audio = first.data;
        while let Some(chunk) = stream.message().await? {
            if audio.len() + chunk.data.len() > MAX_RECORDING_BYTES {
                return Err(Status::resource_exhausted(format!(
                    "a recording is at most {MAX_RECORDING_BYTES} bytes"
                )));
            }
            audio.extend_from_slice(&chunk.data);
        }
        if audio.is_empty() {
            return Err(field_error("data", "the recording is empty"));
        }
        let recording = crate::tickets::NewRecording {
            idempotency_key: &first.idempotency_key,
            content_type: &first.content_type,
            duration_ms: first.duration_ms,
            audio: &audio,
        };
        let info = self
            .ticketing
            .add_recording(&number, &recording, &actor)
            .await?;
        info!(recording = info.id, bytes = audio.len(), "recording stored");
        Ok(Response::new(convert::recording_to_pb(&info)))
    }

    async fn get_recording(
        &self,
        request: Request<pb::GetRecordingRequest>,
    ) -> Result<Response<Self::GetRecordingStream>, Status> {
        let who = self.gate.admit(&request, Method::GetRecording).await?;
        let id = request.get_ref().id;
        if id <= 0 {
            return Err(field_error("id", "must be a recording id from the ticket"));
        }
        let (info, number, audio) = match self.ticketing.recording_audio(id).await {
            Ok(found) => found,
            // As with tickets: trying ids tells a lawyer nothing.
            Err(StoreError::RecordingNotFound(_)) if who.role == crate::auth::Role::Lawyer => {
                let why = format!("recording {id} is not of a ticket assigned to them");
                return Err(self.gate.deny(&who, Method::GetRecording, None, &why).await);
            }
            Err(e) => return Err(e.into()),
        };
        record_ticket(&number);
        // Recordings are for the lawyer the case is assigned to (not one
        // only offered it) and the centre. A lawyer's denial names neither
        // the ticket nor whether the id exists: the same words as for an
        // id that does not.
        if who.role == crate::auth::Role::Lawyer {
            let ticket = self.ticketing.ticket(&number).await?;
            if ticket.assigned_lawyer.as_deref() != who.lawyer_id() {
                let why = format!("recording {id} is not of a ticket assigned to them");
                return Err(self
                    .gate
                    .deny(&who, Method::GetRecording, Some(&ticket), &why)
                    .await);
            }
        }
        let ticket = self
            .gate
            .ticket(&who, Method::GetRecording, &number)
            .await?;
        self.gate.audit_read(&who, &[&ticket], Some(id)).await?;
        let mut chunks: Vec<Result<pb::RecordingChunk, Status>> = audio
            .chunks(RECORDING_CHUNK)
            .map(|data| {
                Ok(pb::RecordingChunk {
                    data: data.to_vec(),
                    ..Default::default()
                })
            })
            .collect();
        let header = pb::RecordingChunk {
            ticket_number: number.to_string(),
            content_type: info.content_type.clone(),
            duration_ms: info.duration_ms,
            ..Default::default()
        };
        match chunks.first_mut() {
            Some(Ok(first)) => {
                first.ticket_number = header.ticket_number;
                first.content_type = header.content_type;
                first.duration_ms = header.duration_ms;
            }
            _ => chunks.push(Ok(header)),
        }
        Ok(Response::new(tokio_stream::iter(chunks)))
    }

    async fn create_ticket(
        &self,
        request: Request<pb::CreateTicketRequest>,
    ) -> Result<Response<pb::CreateTicketResponse>, Status> {
        let who = self.gate.admit(&request, Method::CreateTicket).await?;
        let new = convert::new_ticket(request.into_inner(), who.actor())?;
        // A supervisor of one center enters tickets of that center only.
        if let Some(own) = who
            .center
            .as_ref()
            .filter(|_| who.role == crate::auth::Role::Supervisor)
        {
            if &new.center != own {
                let why = format!(
                    "a supervisor of center `{own}` may not create tickets of center `{}`",
                    new.center
                );
                return Err(self.gate.deny(&who, Method::CreateTicket, None, &why).await);
            }
        }
        let now = self.ticketing.now();
        check_event_date(new.event_date, now)?;
        self.check_rule(new.chosen_rule.as_deref())?;
        let (ticket, created) = self.ticketing.create(&new).await?;
        record_ticket(&ticket.number);
        if created {
            info!(
                caller = ?ticket.caller_number,
                kind = %ticket.kind,
                matter = ?ticket.matter.map(|m| m.as_str()),
                urgency = ?ticket.urgency.map(|u| u.as_str()),
                "ticket created"
            );
        } else {
            info!("ticket create repeated; returning the existing ticket");
        }
        Ok(Response::new(pb::CreateTicketResponse {
            ticket: Some(convert::ticket_to_pb(&ticket, now, Numbers::Masked)),
            created,
        }))
    }

    async fn get_ticket(
        &self,
        request: Request<pb::GetTicketRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let who = self.gate.admit(&request, Method::GetTicket).await?;
        let number = parse_number("number", &request.get_ref().number)?;
        record_ticket(&number);
        let ticket = self.gate.ticket(&who, Method::GetTicket, &number).await?;
        // One ticket opened by someone who may see it: its numbers in full,
        // and the read in the audit log.
        self.gate.audit_read(&who, &[&ticket], None).await?;
        Ok(Response::new(convert::ticket_to_pb(
            &ticket,
            self.ticketing.now(),
            Numbers::Full,
        )))
    }

    async fn list_tickets(
        &self,
        request: Request<pb::ListTicketsRequest>,
    ) -> Result<Response<pb::ListTicketsResponse>, Status> {
        let who = self.gate.admit(&request, Method::ListTickets).await?;
        let req = request.into_inner();
        let mut filter = convert::filter(&req)?;
        // A supervisor of one center lists that center's tickets.
        if let (crate::auth::Role::Supervisor, Some(own)) = (who.role, &who.center) {
            match &filter.center {
                Some(asked) if asked != own => {
                    let why = format!("the token covers center `{own}`, not `{asked}`");
                    return Err(self.gate.deny(&who, Method::ListTickets, None, &why).await);
                }
                _ => filter.center = Some(own.clone()),
            }
        }
        let limit = match req.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n <= MAX_PAGE_SIZE => n,
            _ => {
                return Err(field_error(
                    "page_size",
                    &format!("at most {MAX_PAGE_SIZE}"),
                ))
            }
        };
        let after =
            if req.page_token.is_empty() {
                None
            } else {
                Some(PageCursor::decode(&req.page_token).ok_or_else(|| {
                    field_error("page_token", "not a token from a previous response")
                })?)
            };
        let (tickets, next) = self.ticketing.list_tickets(&filter, limit, after).await?;
        let now = self.ticketing.now();
        Ok(Response::new(pb::ListTicketsResponse {
            tickets: tickets
                .iter()
                .map(|t| convert::ticket_to_pb(t, now, Numbers::Masked))
                .collect(),
            next_page_token: next.map(PageCursor::encode).unwrap_or_default(),
        }))
    }

    async fn transition_ticket(
        &self,
        request: Request<pb::TransitionTicketRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let who = self.gate.admit(&request, Method::TransitionTicket).await?;
        let req = request.into_inner();
        let number = parse_number("number", &req.number)?;
        record_ticket(&number);
        self.gate
            .ticket(&who, Method::TransitionTicket, &number)
            .await?;
        let actor = who.actor();
        let (to, mv) = convert::transition(&req)?;
        let ticket = self.ticketing.transition(&number, to, mv, &actor).await?;
        info!(to = %to, "ticket transitioned");
        Ok(Response::new(convert::ticket_to_pb(
            &ticket,
            self.ticketing.now(),
            Numbers::Masked,
        )))
    }

    async fn correct_ticket(
        &self,
        request: Request<pb::CorrectTicketRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let who = self.gate.admit(&request, Method::CorrectTicket).await?;
        let req = request.into_inner();
        let number = parse_number("number", &req.number)?;
        record_ticket(&number);
        self.gate
            .ticket(&who, Method::CorrectTicket, &number)
            .await?;
        let actor = who.actor();
        let (correction, reason) = convert::correction(&req)?;
        let now = self.ticketing.now();
        check_event_date(correction.event_date.flatten(), now)?;
        self.check_rule(correction.chosen_rule.clone().flatten().as_deref())?;
        let ticket = self
            .ticketing
            .correct(&number, &correction, reason.as_deref(), &actor)
            .await?;
        info!(urgency = ?ticket.urgency.map(|u| u.as_str()), "ticket corrected");
        Ok(Response::new(convert::ticket_to_pb(
            &ticket,
            self.ticketing.now(),
            Numbers::Masked,
        )))
    }

    async fn mark_materials_received(
        &self,
        request: Request<pb::MarkMaterialsReceivedRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let who = self
            .gate
            .admit(&request, Method::MarkMaterialsReceived)
            .await?;
        let req = request.into_inner();
        let number = parse_number("number", &req.number)?;
        record_ticket(&number);
        self.gate
            .ticket(&who, Method::MarkMaterialsReceived, &number)
            .await?;
        let actor = who.actor();
        let note = req
            .note
            .as_deref()
            .map(|n| convert::text("note", n, true))
            .transpose()?;
        let ticket = self
            .ticketing
            .materials_received(&number, note.as_deref(), &actor)
            .await?;
        info!(decision_due = ?ticket.decision_due, "materials received");
        Ok(Response::new(convert::ticket_to_pb(
            &ticket,
            self.ticketing.now(),
            Numbers::Masked,
        )))
    }

    async fn add_note(
        &self,
        request: Request<pb::AddNoteRequest>,
    ) -> Result<Response<pb::TicketEvent>, Status> {
        let who = self.gate.admit(&request, Method::AddNote).await?;
        let req = request.into_inner();
        let number = parse_number("number", &req.number)?;
        record_ticket(&number);
        self.gate.ticket(&who, Method::AddNote, &number).await?;
        let actor = who.actor();
        let text = convert::text("text", &req.text, true)?;
        let event = self.ticketing.add_note(&number, &text, &actor).await?;
        Ok(Response::new(convert::event_to_pb(&event)))
    }

    async fn list_ticket_events(
        &self,
        request: Request<pb::ListTicketEventsRequest>,
    ) -> Result<Response<pb::ListTicketEventsResponse>, Status> {
        let who = self.gate.admit(&request, Method::ListTicketEvents).await?;
        let number = parse_number("number", &request.get_ref().number)?;
        record_ticket(&number);
        self.gate
            .ticket(&who, Method::ListTicketEvents, &number)
            .await?;
        let events = self.ticketing.history(&number).await?;
        Ok(Response::new(pb::ListTicketEventsResponse {
            events: events.iter().map(convert::event_to_pb).collect(),
        }))
    }

    async fn lookup_status(
        &self,
        request: Request<pb::LookupStatusRequest>,
    ) -> Result<Response<pb::TicketStatus>, Status> {
        let who = self.gate.admit(&request, Method::LookupStatus).await?;
        let number = parse_number("number", &request.get_ref().number)?;
        record_ticket(&number);
        let ticket = self.ticketing.ticket(&number).await?;
        // A supervisor of one center answers for that center only.
        if !(who.role == crate::auth::Role::Ivr || who.oversees(&ticket.center)) {
            let why = format!("the ticket belongs to center `{}`", ticket.center);
            return Err(self
                .gate
                .deny(&who, Method::LookupStatus, Some(&ticket), &why)
                .await);
        }
        Ok(Response::new(pb::TicketStatus {
            number: number.to_string(),
            state: ticket.state.to_string(),
            next_step: convert::next_step(&ticket).to_owned(),
        }))
    }
}
