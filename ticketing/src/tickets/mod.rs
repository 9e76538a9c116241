//! What a ticket is: its fields, the facts a caller gives, the events of its
//! history, and the lifecycle rules (in [`lifecycle`]).

pub mod lifecycle;

use crate::limitation::TicketUrgency;
use chrono::{DateTime, NaiveDate, Utc};
use hotline_domain::{
    Document, HardshipBasis, Language, Matter, PhoneNumber, PriorityGroup, RegionCode, TicketKind,
    TicketNumber, TicketState, Urgency,
};

/// The name of the center a ticket belongs to when nothing else is configured.
pub const DEFAULT_CENTER: &str = "default";

/// The most a summary or note may hold, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 4096;

/// The facts of a new ticket, already validated.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub idempotency_key: String,
    pub proposed_number: Option<TicketNumber>,
    pub kind: TicketKind,
    pub matter: Option<Matter>,
    pub caller_number: Option<PhoneNumber>,
    pub callback_number: Option<PhoneNumber>,
    /// The date the period runs from: with a document, the day it was received.
    pub event_date: Option<NaiveDate>,
    /// A document the caller received that starts a procedural deadline.
    pub document: Option<Document>,
    /// A limitation rule chosen by id; decides over document and matter.
    pub chosen_rule: Option<String>,
    pub preservation: bool,
    pub priority_group: PriorityGroup,
    pub language: Language,
    pub center: String,
    pub region: Option<RegionCode>,
    pub summary: String,
    pub flags: Flags,
    /// Where a caller who hung up stopped in the menu (callback tickets).
    pub last_node: Option<String>,
    /// Who creates it: `operator`, `ivr`, …
    pub actor: String,
}

impl NewTicket {
    /// What the deadline is computed from.
    pub fn facts(&self) -> crate::limitation::TicketFacts<'_> {
        crate::limitation::TicketFacts {
            matter: self.matter,
            document: self.document,
            rule: self.chosen_rule.as_deref(),
            event_date: self.event_date,
            preservation: self.preservation || self.flags.advance_enforcement,
        }
    }
}

/// What the service works out for a new ticket before storing it.
#[derive(Debug, Clone)]
pub struct Assessed {
    /// The limitation assessment on the day of creation.
    pub urgency: TicketUrgency,
    /// When the centre must call the caller back; `None` when there is no
    /// number to call.
    pub callback_due: Option<DateTime<Utc>>,
}

/// The yes/no facts from the Legal Aid Law that travel with a ticket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// Economic-hardship check waived as claimed (art. 42), or not a
    /// condition at all (art. 32); proof is still required.
    pub hardship_waived: bool,
    /// The article the caller's claim rests on.
    pub hardship_basis: Option<HardshipBasis>,
    /// The caller is willing to give a written hardship pledge (art. 41).
    pub pledge_offered: bool,
    /// Advance enforcement (先予执行) is needed: the other side must pay
    /// wages, medical costs or support now. Makes the ticket critical.
    pub advance_enforcement: bool,
    pub home_visit: bool,
    pub mediation_preferred: bool,
}

/// A stored ticket.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub number: TicketNumber,
    pub aliases: Vec<TicketNumber>,
    pub kind: TicketKind,
    pub state: TicketState,
    pub matter: Option<Matter>,
    pub urgency: Option<Urgency>,
    pub deadline: Option<NaiveDate>,
    pub event_date: Option<NaiveDate>,
    pub document: Option<Document>,
    pub chosen_rule: Option<String>,
    pub preservation: bool,
    pub priority_group: PriorityGroup,
    pub caller_number: Option<PhoneNumber>,
    pub callback_number: Option<PhoneNumber>,
    pub language: Language,
    pub center: String,
    pub region: Option<RegionCode>,
    pub summary: String,
    pub flags: Flags,
    /// Where a caller who hung up stopped in the menu (callback tickets).
    pub last_node: Option<String>,
    pub recordings: Vec<RecordingInfo>,
    pub assigned_lawyer: Option<String>,
    pub outcome: Option<String>,
    pub rejection_reason: Option<String>,
    /// The rule whose deadline decides, and what the lawyer should know.
    pub limitation_rule: Option<String>,
    pub limitation_warnings: Vec<String>,
    /// Legal Aid Law art. 43 clocks. The decision clock starts when the
    /// materials are received; until then it is `None`.
    pub decision_due: Option<NaiveDate>,
    pub assignment_due: Option<NaiveDate>,
    /// When an operator or lawyer marked the application's materials received.
    pub materials_received_at: Option<DateTime<Utc>>,
    /// 重点督办: supervisors are alerted on its every event from the mark on.
    pub major_case: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A recording to attach to a ticket.
#[derive(Debug, Clone, Copy)]
pub struct NewRecording<'a> {
    pub idempotency_key: &'a str,
    pub content_type: &'a str,
    pub duration_ms: i64,
    pub audio: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingInfo {
    pub id: i64,
    pub content_type: String,
    pub size_bytes: i64,
    pub duration_ms: i64,
    pub created_at: DateTime<Utc>,
}

/// Corrections to a ticket's facts; `None` leaves a fact as it is.
#[derive(Debug, Clone, Default)]
pub struct Correction {
    pub matter: Option<Matter>,
    /// `Some(None)` clears the date: the caller turned out not to know it.
    pub event_date: Option<Option<NaiveDate>>,
    /// `Some(None)` clears the document.
    pub document: Option<Option<Document>>,
    /// `Some(None)` clears the chosen rule.
    pub chosen_rule: Option<Option<String>>,
    pub callback_number: Option<PhoneNumber>,
    pub preservation: Option<bool>,
    pub advance_enforcement: Option<bool>,
    pub priority_group: Option<PriorityGroup>,
    pub hardship_waived: Option<bool>,
    /// `Some(None)` clears it.
    pub hardship_basis: Option<Option<HardshipBasis>>,
    pub pledge_offered: Option<bool>,
    pub home_visit: Option<bool>,
    pub mediation_preferred: Option<bool>,
    pub region: Option<RegionCode>,
    pub language: Option<Language>,
}

/// One entry of a ticket's append-only history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketEvent {
    pub id: i64,
    pub ticket_number: TicketNumber,
    pub kind: EventKind,
    pub actor: String,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
    pub from_state: Option<TicketState>,
    pub to_state: Option<TicketState>,
    pub changes: Vec<FieldChange>,
    pub note: Option<String>,
    /// The lawyer an offer event is about.
    pub lawyer: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Transitioned,
    Corrected,
    Note,
    /// The daily re-evaluation changed the urgency or deadline.
    Reevaluated,
    /// A recording (the caller's message) was attached.
    RecordingAdded,
    /// Offered to a duty lawyer, with an acknowledgement deadline.
    Offered,
    OfferAcknowledged,
    OfferDeclined,
    /// Nobody answered the offer in time.
    OfferExpired,
    /// Half the time to acknowledge has passed.
    OfferReminder,
    /// No lawyer took it: supervisors alerted, the ticket is unowned.
    Escalated,
    /// Assigned, but not started within the bound.
    StartOverdue,
    /// A pending offer taken back because the ticket left routing.
    OfferWithdrawn,
    /// A supervisor gave an assigned ticket to another lawyer; the event
    /// names the lawyer it was taken from.
    Reassigned,
    /// The other half of a reassignment: names the lawyer who now has it.
    Assigned,
    /// A duty lawyer took an offer that decides nothing (an urgent or
    /// expired application, a consultation): they own it, the state stays.
    Owned,
    /// The application's materials were received: the art. 43 decision
    /// clock (re)starts.
    MaterialsReceived,
    /// The art. 43 decision date passed without a decision; supervisors alerted.
    DecisionOverdue,
    /// The art. 43 assignment date passed without a lawyer; supervisors alerted.
    AssignmentOverdue,
    /// Retention removed a message recording (its id is in the note).
    RecordingRemoved,
    /// Retention anonymised the caller and callback numbers and the summary.
    Anonymised,
    /// A supervisor marked it a major case (重点督办); the reason says why.
    MajorCase,
    /// An attempt to call the caller back: the outcome is the reason.
    CallbackAttempt,
    /// The caller was not reached on three different half-days: for a
    /// supervisor.
    CallbackFlagged,
    /// An IVR node called the offered lawyer: the note says to whom, which
    /// attempt, and how it ended (answered, accepted, declined, no-answer,
    /// busy, failed).
    Paged,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Transitioned => "transitioned",
            EventKind::Corrected => "corrected",
            EventKind::Note => "note",
            EventKind::Reevaluated => "reevaluated",
            EventKind::RecordingAdded => "recording_added",
            EventKind::Offered => "offered",
            EventKind::OfferAcknowledged => "offer_acknowledged",
            EventKind::OfferDeclined => "offer_declined",
            EventKind::OfferExpired => "offer_expired",
            EventKind::OfferReminder => "offer_reminder",
            EventKind::Escalated => "escalated",
            EventKind::StartOverdue => "start_overdue",
            EventKind::OfferWithdrawn => "offer_withdrawn",
            EventKind::Reassigned => "reassigned",
            EventKind::Assigned => "assigned",
            EventKind::Owned => "owned",
            EventKind::MaterialsReceived => "materials_received",
            EventKind::DecisionOverdue => "decision_overdue",
            EventKind::AssignmentOverdue => "assignment_overdue",
            EventKind::RecordingRemoved => "recording_removed",
            EventKind::Anonymised => "anonymised",
            EventKind::MajorCase => "major_case",
            EventKind::CallbackAttempt => "callback_attempt",
            EventKind::CallbackFlagged => "callback_flagged",
            EventKind::Paged => "paged",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "created" => EventKind::Created,
            "transitioned" => EventKind::Transitioned,
            "corrected" => EventKind::Corrected,
            "note" => EventKind::Note,
            "reevaluated" => EventKind::Reevaluated,
            "recording_added" => EventKind::RecordingAdded,
            "offered" => EventKind::Offered,
            "offer_acknowledged" => EventKind::OfferAcknowledged,
            "offer_declined" => EventKind::OfferDeclined,
            "offer_expired" => EventKind::OfferExpired,
            "offer_reminder" => EventKind::OfferReminder,
            "escalated" => EventKind::Escalated,
            "start_overdue" => EventKind::StartOverdue,
            "offer_withdrawn" => EventKind::OfferWithdrawn,
            "reassigned" => EventKind::Reassigned,
            "assigned" => EventKind::Assigned,
            "owned" => EventKind::Owned,
            "materials_received" => EventKind::MaterialsReceived,
            "decision_overdue" => EventKind::DecisionOverdue,
            "assignment_overdue" => EventKind::AssignmentOverdue,
            "recording_removed" => EventKind::RecordingRemoved,
            "anonymised" => EventKind::Anonymised,
            "major_case" => EventKind::MajorCase,
            "callback_attempt" => EventKind::CallbackAttempt,
            "callback_flagged" => EventKind::CallbackFlagged,
            "paged" => EventKind::Paged,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Filters for listing tickets; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    /// Tickets known by this number, as their own or as an alias.
    pub number: Option<TicketNumber>,
    pub state: Option<TicketState>,
    pub urgency: Option<Urgency>,
    pub matter: Option<Matter>,
    pub center: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
}

/// Where a listing continues: after the ticket with this creation time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor {
    pub created_at_ms: i64,
    pub id: i64,
}

impl PageCursor {
    pub fn encode(self) -> String {
        format!("{}.{}", self.created_at_ms, self.id)
    }

    pub fn decode(token: &str) -> Option<Self> {
        let (at, id) = token.split_once('.')?;
        Some(Self {
            created_at_ms: at.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

impl Ticket {
    /// What the deadline is computed from.
    pub fn facts(&self) -> crate::limitation::TicketFacts<'_> {
        crate::limitation::TicketFacts {
            matter: self.matter,
            document: self.document,
            rule: self.chosen_rule.as_deref(),
            event_date: self.event_date,
            preservation: self.preservation || self.flags.advance_enforcement,
        }
    }

    /// An application (or provisional aid) whose materials are not in yet:
    /// the art. 43 decision clock has not started.
    pub fn awaits_materials(&self) -> bool {
        matches!(
            self.state,
            TicketState::Application | TicketState::Provisional
        ) && self.materials_received_at.is_none()
    }

    /// Stores a fresh limitation assessment on the ticket.
    pub fn set_urgency(&mut self, u: TicketUrgency) {
        self.urgency = Some(u.urgency);
        self.deadline = u.deadline;
        self.limitation_rule = u.rule;
        self.limitation_warnings = u.warnings;
    }
}
