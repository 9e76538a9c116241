//! Duty-lawyer routing: who is on duty ([`Lawyer`], shifts), who gets an
//! urgent ticket first ([`policy`], pure), and what happens when an offer is
//! missed ([`policy::Step`]). The store carries it out in transactions with
//! durable timers (`routing.due_at`), so a restart or a second node never
//! drops or doubles an escalation.

pub mod policy;
pub mod roster_csv;

use chrono::{DateTime, Utc};

pub use policy::{Candidate, Need, RoutingPolicy, Step};

/// A lawyer on the roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lawyer {
    pub id: String,
    pub center: String,
    pub name: String,
    /// Shown in full to the lawyer's own tools only.
    pub phone: String,
    pub sip_uri: Option<String>,
    /// Matter names (`labor-wages`, …) the lawyer takes.
    pub skills: Vec<String>,
    /// Region codes the lawyer covers; empty means anywhere.
    pub regions: Vec<String>,
    pub languages: Vec<String>,
    /// Most open tickets (assigned, in progress, or offered) at once.
    pub capacity: i64,
    pub active: bool,
}

/// One shift of a lawyer, `[starts_at, ends_at)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub id: i64,
    pub lawyer: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Where an offer stands. Stored as its lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfferState {
    /// Waiting for the lawyer until its acknowledgement deadline.
    Pending,
    Acknowledged,
    Declined,
    /// The deadline passed without an answer.
    Expired,
    /// Taken back before an answer: the ticket left routing (rejected,
    /// closed, or assigned by hand).
    Withdrawn,
}

impl OfferState {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Acknowledged,
        Self::Declined,
        Self::Expired,
        Self::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Acknowledged => "acknowledged",
            Self::Declined => "declined",
            Self::Expired => "expired",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for OfferState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a ticket in this state is still looking for a lawyer: only then
/// may it have a pending offer or an offering or escalated routing row.
pub fn seeks_lawyer(state: hotline_domain::TicketState) -> bool {
    use hotline_domain::TicketState::*;
    matches!(state, Consultation | Callback | Application | Accepted)
}

/// Where a routed ticket stands: its row in the routing table, whose due
/// time is the next thing the scheduler does for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoutingStatus {
    /// An offer is out; due at its deadline.
    Offering,
    /// Nobody took it; supervisors alerted; due at the next round.
    Escalated,
    /// A lawyer owns it; due when starting the case is overdue.
    Owned,
    /// The ticket left routing (rejected or closed); never due again.
    Closed,
}

impl RoutingStatus {
    pub const ALL: [Self; 4] = [Self::Offering, Self::Escalated, Self::Owned, Self::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offering => "offering",
            Self::Escalated => "escalated",
            Self::Owned => "owned",
            Self::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// An offer of a ticket to a lawyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub id: i64,
    pub ticket: hotline_domain::TicketNumber,
    pub lawyer: String,
    pub round: i64,
    pub state: OfferState,
    pub offered_at: DateTime<Utc>,
    pub ack_deadline: DateTime<Utc>,
    pub reason: Option<String>,
}

/// What `hotline check` finds wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A critical, urgent or expired ticket nobody owns, offers or escalates.
    Unrouted {
        ticket: hotline_domain::TicketNumber,
        urgency: String,
    },
    /// An offer past its deadline that the scheduler has not processed.
    OverdueOffer {
        ticket: hotline_domain::TicketNumber,
        lawyer: String,
        ack_deadline: DateTime<Utc>,
    },
    /// A ticket that no longer seeks a lawyer (rejected, closed, assigned)
    /// still has a pending offer or live routing timer.
    StrayRouting {
        ticket: hotline_domain::TicketNumber,
        state: hotline_domain::TicketState,
        what: String,
    },
    /// A critical or urgent ticket escalated and still unowned for longer
    /// than the allowed time.
    StuckEscalation {
        ticket: hotline_domain::TicketNumber,
        urgency: String,
        since: DateTime<Utc>,
    },
    /// Legal Aid Law art. 43: the decision on an application is overdue.
    DecisionOverdue {
        ticket: hotline_domain::TicketNumber,
        due: chrono::NaiveDate,
    },
    /// Legal Aid Law art. 43: an accepted ticket has no lawyer past its date.
    AssignmentOverdue {
        ticket: hotline_domain::TicketNumber,
        due: chrono::NaiveDate,
    },
    /// The load routing reads for a lawyer (kept by the database's
    /// triggers) differs from what they hold: routing would misjudge their
    /// room.
    LoadMismatch {
        lawyer: String,
        kept: i64,
        held: i64,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Unrouted { ticket, urgency } => write!(
                f,
                "ticket {ticket} ({urgency}) has no owner, no pending offer and no escalation"
            ),
            Problem::OverdueOffer {
                ticket,
                lawyer,
                ack_deadline,
            } => write!(
                f,
                "the offer of ticket {ticket} to {lawyer} passed its deadline {} unprocessed",
                hotline_domain::shown_time(*ack_deadline)
            ),
            Problem::StrayRouting {
                ticket,
                state,
                what,
            } => write!(f, "ticket {ticket} is `{state}` but still has {what}"),
            Problem::StuckEscalation {
                ticket,
                urgency,
                since,
            } => write!(
                f,
                "ticket {ticket} ({urgency}) has been escalated and unowned since {}",
                hotline_domain::shown_time(*since)
            ),
            Problem::DecisionOverdue { ticket, due } => write!(
                f,
                "ticket {ticket}: the decision on the application was due {due} (Legal Aid Law art. 43)"
            ),
            Problem::AssignmentOverdue { ticket, due } => write!(
                f,
                "ticket {ticket}: a lawyer was to be assigned by {due} (Legal Aid Law art. 43)"
            ),
            Problem::LoadMismatch { lawyer, kept, held } => write!(
                f,
                "lawyer {lawyer}: routing counts a load of {kept}, but they hold {held} \
                 (open tickets and pending offers)"
            ),
        }
    }
}

/// A roster or offer operation refused for a reason the caller can fix.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    #[error("lawyer `{0}` is not on the roster")]
    UnknownLawyer(String),
    #[error(
        "the shift {from} – {to} of `{lawyer}` overlaps their shift {other_from} – {other_to}"
    )]
    Overlap {
        lawyer: String,
        from: String,
        to: String,
        other_from: String,
        other_to: String,
    },
    #[error("ticket {ticket} has no offer waiting for `{lawyer}`")]
    NoOffer { ticket: String, lawyer: String },
    #[error("ticket {ticket} is not assigned to `{lawyer}`")]
    NotAssigned { ticket: String, lawyer: String },
    #[error("ticket {0} is offered to a duty lawyer; it cannot be pulled from the queue")]
    Offered(String),
    #[error("ticket {0} is not waiting in your center's queue (it has a lawyer, is closed, or is another center's)")]
    NotInQueue(String),
    #[error("there is no shift {0}")]
    UnknownShift(i64),
    #[error("lawyer `{0}` is on the roster but not active")]
    Inactive(String),
    #[error(
        "ticket {ticket} is `{state}`; only a ticket a lawyer has (owned, provisional, assigned or in progress) can be reassigned"
    )]
    NotReassignable { ticket: String, state: String },
    #[error("ticket {ticket} is already assigned to `{lawyer}`")]
    AlreadyAssigned { ticket: String, lawyer: String },
}
