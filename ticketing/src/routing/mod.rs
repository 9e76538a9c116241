//! Duty-lawyer routing: who is on duty ([`Lawyer`], shifts), who gets an
//! urgent ticket first ([`policy`], pure), and what happens when an offer is
//! missed ([`policy::Step`]). The store carries it out in transactions with
//! durable timers (`routing.due_at`), so a restart or a second node never
//! drops or doubles an escalation.

pub mod policy;

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

/// An offer of a ticket to a lawyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub id: i64,
    pub ticket: hotline_domain::TicketNumber,
    pub lawyer: String,
    pub round: i64,
    /// `pending`, `acknowledged`, `declined`, `expired`.
    pub state: String,
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
                ack_deadline.to_rfc3339()
            ),
        }
    }
}
