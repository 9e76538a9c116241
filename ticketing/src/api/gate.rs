//! The gate every request passes: the bearer token is checked
//! (UNAUTHENTICATED when missing, malformed, unknown, revoked or expired),
//! the token's role must be one the method admits ([`Method::roles`]), and
//! a ticket named by the request must be one its holder may see
//! ([`Ticketing::may_see`]). Every denial is PERMISSION_DENIED or
//! UNAUTHENTICATED and written to the audit log; so is every read of a
//! ticket's full numbers or of a recording ([`Gate::audit_read`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hotline_domain::TicketNumber;
use tonic::{Request, Status};
use tracing::warn;

use crate::auth::{actions, AuditOutcome, AuthError, NewAudit, Principal, Role};
use crate::service::{AccessError, Ticketing};
use crate::tickets::Ticket;

/// Every method of the ticketing server that needs a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    CreateTicket,
    GetTicket,
    ListTickets,
    TransitionTicket,
    CorrectTicket,
    MarkMaterialsReceived,
    AddNote,
    ListTicketEvents,
    LookupStatus,
    UploadRecording,
    GetRecording,
    PutLawyer,
    ListLawyers,
    AddShift,
    ListShifts,
    SwapShift,
    OnDuty,
    Acknowledge,
    Decline,
    StartCase,
    CloseCase,
    Queue,
    Pull,
    Reassign,
    MyWork,
    WatchOffers,
    WatchEvents,
    Check,
    WhoAmI,
    CreateToken,
    ListTokens,
    RevokeToken,
    ListAudit,
    RecordDenial,
    Report,
    QualitySample,
    PublishIvrFigures,
    ListCallbacks,
    RecordCallback,
    TakePages,
    ReportPage,
    CallBack,
    TakeBridges,
    ReportBridge,
}

use Role::{Admin, Ivr, Lawyer, Supervisor};

impl Method {
    pub const ALL: [Method; 44] = [
        Method::CreateTicket,
        Method::GetTicket,
        Method::ListTickets,
        Method::TransitionTicket,
        Method::CorrectTicket,
        Method::MarkMaterialsReceived,
        Method::AddNote,
        Method::ListTicketEvents,
        Method::LookupStatus,
        Method::UploadRecording,
        Method::GetRecording,
        Method::PutLawyer,
        Method::ListLawyers,
        Method::AddShift,
        Method::ListShifts,
        Method::SwapShift,
        Method::OnDuty,
        Method::Acknowledge,
        Method::Decline,
        Method::StartCase,
        Method::CloseCase,
        Method::Queue,
        Method::Pull,
        Method::Reassign,
        Method::MyWork,
        Method::WatchOffers,
        Method::WatchEvents,
        Method::Check,
        Method::WhoAmI,
        Method::CreateToken,
        Method::ListTokens,
        Method::RevokeToken,
        Method::ListAudit,
        Method::RecordDenial,
        Method::Report,
        Method::QualitySample,
        Method::PublishIvrFigures,
        Method::ListCallbacks,
        Method::RecordCallback,
        Method::TakePages,
        Method::ReportPage,
        Method::CallBack,
        Method::TakeBridges,
        Method::ReportBridge,
    ];

    /// The roles that may call it. Methods on one ticket check the ticket
    /// too: a lawyer only their own, a supervisor only their center's.
    pub fn roles(self) -> &'static [Role] {
        match self {
            // The IVR registers calls and answers "where is my case?".
            Method::CreateTicket | Method::LookupStatus => &[Ivr, Supervisor, Admin],
            // An IVR node's calls and counts, for the board and reports.
            Method::UploadRecording | Method::PublishIvrFigures => &[Ivr],
            // IVR nodes dial the pages to duty lawyers and say how they went.
            Method::TakePages | Method::ReportPage => &[Ivr],
            // IVR nodes place the click-to-calls and say how they went.
            Method::TakeBridges | Method::ReportBridge => &[Ivr],
            // A lawyer's own tickets, a supervisor's center.
            Method::GetTicket
            | Method::CorrectTicket
            | Method::MarkMaterialsReceived
            | Method::AddNote
            | Method::ListTicketEvents
            | Method::GetRecording
            | Method::ListCallbacks
            | Method::RecordCallback
            | Method::CallBack => &[Lawyer, Supervisor, Admin],
            // The centre decides and oversees.
            Method::ListTickets
            | Method::TransitionTicket
            | Method::ListLawyers
            | Method::AddShift
            | Method::SwapShift
            | Method::OnDuty
            | Method::Reassign
            | Method::WatchEvents
            | Method::Check
            | Method::ListAudit
            | Method::Report
            | Method::QualitySample => &[Supervisor, Admin],
            Method::ListShifts | Method::Queue | Method::MyWork => &[Lawyer, Supervisor, Admin],
            // Only the lawyer named by the token acts on their offers.
            Method::Acknowledge
            | Method::Decline
            | Method::StartCase
            | Method::CloseCase
            | Method::Pull
            | Method::WatchOffers => &[Lawyer],
            Method::PutLawyer | Method::CreateToken | Method::ListTokens | Method::RevokeToken => {
                &[Admin]
            }
            // Any holder may ask who they are, and have a refusal elsewhere
            // written down against themselves.
            Method::WhoAmI | Method::RecordDenial => &[Ivr, Lawyer, Supervisor, Admin],
        }
    }

    /// The gRPC path, as the audit log names a denied call.
    pub fn path(self) -> String {
        let service = match self {
            Method::CreateTicket
            | Method::GetTicket
            | Method::ListTickets
            | Method::TransitionTicket
            | Method::CorrectTicket
            | Method::MarkMaterialsReceived
            | Method::AddNote
            | Method::ListTicketEvents
            | Method::LookupStatus
            | Method::UploadRecording
            | Method::GetRecording
            | Method::ListCallbacks
            | Method::RecordCallback
            | Method::CallBack => "TicketService",
            Method::WhoAmI
            | Method::CreateToken
            | Method::ListTokens
            | Method::RevokeToken
            | Method::ListAudit
            | Method::RecordDenial => "AccessService",
            Method::Report | Method::QualitySample | Method::PublishIvrFigures => "ReportService",
            _ => "RoutingService",
        };
        format!("/hotline.v1.{service}/{self:?}")
    }
}

/// How often a stream re-checks its token: a revoked or expired token
/// loses its stream within this.
pub const STREAM_RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// How many denials without a valid token are written to the audit log per
/// second: a stranger hammering the port must not fill the disk.
const ANONYMOUS_AUDITS_PER_SECOND: u32 = 20;
/// The same for each valid token: a holder trying what their role may not
/// is written down, but a script doing it in a loop does not fill the disk.
const TOKEN_DENIALS_PER_SECOND: u32 = 20;

/// Streams (offers, events) one token may hold open at once: a lawyer's
/// phone and laptop, a supervisor's consoles; not a leak without end.
pub const MAX_STREAMS_PER_TOKEN: usize = 8;

#[derive(Clone)]
pub struct Gate {
    ticketing: Ticketing,
    /// (second, denials written in it) for requests without a valid token.
    anonymous: Arc<Mutex<(i64, u32)>>,
    /// (second, denials written in it per token id) for valid tokens.
    denials: Arc<Mutex<(i64, HashMap<String, u32>)>>,
    /// Open streams per token id.
    streams: Arc<Mutex<HashMap<String, usize>>>,
}

/// One open stream of a token; the count goes down when it is dropped
/// (the stream's task ends).
pub struct StreamSlot {
    token_id: String,
    streams: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = streams.get_mut(&self.token_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                streams.remove(&self.token_id);
            }
        }
    }
}

impl Gate {
    pub fn new(ticketing: Ticketing) -> Self {
        Self {
            ticketing,
            anonymous: Arc::default(),
            denials: Arc::default(),
            streams: Arc::default(),
        }
    }

    /// A slot for one more stream of `who`'s token; RESOURCE_EXHAUSTED past
    /// [`MAX_STREAMS_PER_TOKEN`].
    pub fn open_stream(&self, who: &Principal) -> Result<StreamSlot, Status> {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let open = streams.entry(who.token_id.clone()).or_insert(0);
        if *open >= MAX_STREAMS_PER_TOKEN {
            return Err(Status::resource_exhausted(format!(
                "this token already has {MAX_STREAMS_PER_TOKEN} streams open; close one first"
            )));
        }
        *open += 1;
        Ok(StreamSlot {
            token_id: who.token_id.clone(),
            streams: self.streams.clone(),
        })
    }

    /// The holder of the request's token, if its role may call `method`.
    pub async fn admit<T>(
        &self,
        request: &Request<T>,
        method: Method,
    ) -> Result<Principal, Status> {
        let token = bearer(request);
        let who = match self.ticketing.authenticate(token.as_deref()).await {
            Ok(who) => who,
            Err(AccessError::Store(e)) => return Err(e.into()),
            Err(AccessError::Auth(e)) => {
                // The id of a well-formed token (expired, revoked, or
                // forged), so the log says which one was tried.
                let presented = token
                    .as_deref()
                    .and_then(|t| crate::auth::token::parse(t).ok())
                    .map(|t| t.id);
                return Err(self.unauthenticated(method, presented, &e).await);
            }
        };
        self.allow(&who, method).await?;
        Ok(who)
    }

    /// Whether `who`'s role may call `method`; PERMISSION_DENIED (audited)
    /// otherwise. The web console asks this for each page and action.
    pub async fn allow(&self, who: &Principal, method: Method) -> Result<(), Status> {
        if method.roles().contains(&who.role) {
            Ok(())
        } else {
            let why = format!(
                "a {} token may not call {method:?} (allowed: {})",
                who.role,
                method
                    .roles()
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Err(self.deny(who, method, None, &why).await)
        }
    }

    /// The centre a request may cover: the token's own for a supervisor of
    /// one centre (asking for another is PERMISSION_DENIED, audited), the
    /// one asked for (or all) otherwise.
    pub async fn center_for(
        &self,
        who: &Principal,
        method: Method,
        asked: Option<String>,
    ) -> Result<Option<String>, Status> {
        let asked = asked.filter(|c| !c.trim().is_empty());
        match (&who.center, asked) {
            (Some(own), Some(asked)) if *own != asked => {
                let why = format!("the token covers center `{own}`, not `{asked}`");
                Err(self.deny(who, method, None, &why).await)
            }
            (Some(own), _) => Ok(Some(own.clone())),
            (None, asked) => Ok(asked),
        }
    }

    /// A refused console login, written to the audit log like any request
    /// without a valid token (within the same budget).
    pub async fn refuse_login(&self, e: &AuthError) -> Status {
        self.unauthenticated(Method::WhoAmI, None, e).await
    }

    /// Whether the token a stream was opened with is still good; checked
    /// every [`STREAM_RECHECK`] by the stream's task.
    pub async fn still_valid(&self, token: Option<&str>) -> Result<(), Status> {
        match self.ticketing.authenticate(token).await {
            Ok(_) => Ok(()),
            Err(AccessError::Auth(e)) => {
                Err(Status::unauthenticated(format!("the stream ends: {e}")))
            }
            Err(AccessError::Store(e)) => Err(e.into()),
        }
    }

    /// The ticket `number`, if `who` may see it; PERMISSION_DENIED (audited)
    /// otherwise. An unknown number is NOT_FOUND for those who may list
    /// tickets, and PERMISSION_DENIED for the others, so that trying numbers
    /// tells a lawyer nothing.
    pub async fn ticket(
        &self,
        who: &Principal,
        method: Method,
        number: &TicketNumber,
    ) -> Result<Ticket, Status> {
        let ticket = match self.ticketing.ticket(number).await {
            Ok(t) => t,
            Err(crate::StoreError::NotFound(n)) if who.role == Role::Lawyer => {
                let why = format!("ticket {n} is not offered or assigned to them");
                return Err(self.deny(who, method, None, &why).await);
            }
            Err(e) => return Err(e.into()),
        };
        if self.ticketing.may_see(who, &ticket).await? {
            Ok(ticket)
        } else {
            let why = match who.role {
                // The same words as for a number that does not exist.
                Role::Lawyer => format!("ticket {number} is not offered or assigned to them"),
                Role::Supervisor => format!(
                    "the ticket belongs to center `{}`, not to the token's",
                    ticket.center
                ),
                _ => "the role may not see tickets".to_owned(),
            };
            Err(self.deny(who, method, Some(&ticket), &why).await)
        }
    }

    /// PERMISSION_DENIED for `who`, written to the audit log.
    pub async fn deny(
        &self,
        who: &Principal,
        method: Method,
        ticket: Option<&Ticket>,
        why: &str,
    ) -> Status {
        let entry = NewAudit {
            actor: who.actor(),
            token_id: Some(who.token_id.clone()),
            action: method.path(),
            outcome: AuditOutcome::Denied,
            ticket: ticket.map(|t| t.number.to_string()),
            recording: None,
            center: ticket.map(|t| t.center.clone()),
            detail: Some(why.to_owned()),
        };
        self.write_denial(entry).await;
        Status::permission_denied(format!("permission denied: {why}"))
    }

    /// Writes a denial of a valid token, within that token's budget of
    /// [`TOKEN_DENIALS_PER_SECOND`].
    pub async fn write_denial(&self, entry: NewAudit) {
        let second = self.ticketing.now().timestamp();
        let token = entry.token_id.clone().unwrap_or_default();
        let within = match self.denials.lock() {
            Ok(mut window) => {
                if window.0 != second {
                    *window = (second, HashMap::new());
                }
                let n = window.1.entry(token).or_insert(0);
                *n += 1;
                *n <= TOKEN_DENIALS_PER_SECOND
            }
            Err(_) => true,
        };
        if within {
            self.write(&[entry]).await;
        }
    }

    /// Records that `who` was shown `ticket`'s full numbers, or (with
    /// `recording`) one of its recordings.
    pub async fn audit_read(
        &self,
        who: &Principal,
        tickets: &[&Ticket],
        recording: Option<i64>,
    ) -> Result<(), Status> {
        let action = if recording.is_some() {
            actions::READ_RECORDING
        } else {
            actions::READ_NUMBERS
        };
        let entries: Vec<NewAudit> = tickets
            .iter()
            .map(|t| NewAudit {
                actor: who.actor(),
                token_id: Some(who.token_id.clone()),
                action: action.to_owned(),
                outcome: AuditOutcome::Allowed,
                ticket: Some(t.number.to_string()),
                recording,
                center: Some(t.center.clone()),
                detail: None,
            })
            .collect();
        // Nothing personal goes out unless its record is committed.
        self.ticketing.audit(&entries).await.map_err(Status::from)
    }

    async fn unauthenticated(
        &self,
        method: Method,
        token_id: Option<String>,
        e: &AuthError,
    ) -> Status {
        let second = self.ticketing.now().timestamp();
        let record = match self.anonymous.lock() {
            Ok(mut window) => {
                if window.0 != second {
                    *window = (second, 0);
                }
                window.1 += 1;
                window.1 <= ANONYMOUS_AUDITS_PER_SECOND
            }
            Err(_) => false,
        };
        if record {
            let entry = NewAudit {
                actor: "anonymous".to_owned(),
                token_id,
                action: method.path(),
                outcome: AuditOutcome::Denied,
                ticket: None,
                recording: None,
                center: None,
                detail: Some(e.to_string()),
            };
            self.write(&[entry]).await;
        }
        Status::unauthenticated(e.to_string())
    }

    async fn write(&self, entries: &[NewAudit]) {
        if let Err(e) = self.ticketing.audit(entries).await {
            warn!(error = %e, "cannot write a denial to the audit log");
        }
    }
}

/// The request's bearer token; `None` when absent.
pub(crate) fn bearer<T>(request: &Request<T>) -> Option<String> {
    hotline_proto::bearer_token(request.metadata())
}
