//! Statistics of a period: what the console's statistics page and the
//! justice bureau's reports show. Pure: [`Statistics::compute`] takes the
//! tickets created in the period and their events and returns the counts
//! and times, so tests check it against figures they compute themselves.
//!
//! Definitions (the README's "Reports" section repeats them):
//! - a ticket belongs to the period it was created in (China Standard Time
//!   dates, both ends included);
//! - time to acknowledgement: creation to the first acknowledged offer;
//!   time to assignment: creation to the first moment a lawyer holds it
//!   (an acknowledged offer, a ticket taken from the queue, or one the
//!   centre assigned);
//! - percentiles are nearest-rank: p of n sorted values is the value at
//!   rank ⌈p·n/100⌉;
//! - channel: `phone` for tickets the IVR created, `staff` for the others;
//! - the IVR's figures count calls by the day they reached a menu node
//!   ([`ivr`]).

pub mod ivr;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use hotline_domain::{PriorityGroup, TicketNumber, Urgency};

use crate::tickets::{EventKind, Ticket};

/// Dates from `from` to `to`, both included, in China Standard Time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The first instant of `from`.
    pub start: DateTime<Utc>,
    /// The first instant after `to`.
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("the period ends ({to}) before it starts ({from})")]
    Reversed { from: NaiveDate, to: NaiveDate },
    #[error("a period is at most 3660 days")]
    TooLong,
    #[error("date out of range")]
    OutOfRange,
}

impl Period {
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, PeriodError> {
        if to < from {
            return Err(PeriodError::Reversed { from, to });
        }
        if (to - from).num_days() > 3660 {
            return Err(PeriodError::TooLong);
        }
        let instant = |d: NaiveDate| -> Result<DateTime<Utc>, PeriodError> {
            d.and_hms_opt(0, 0, 0)
                .and_then(|t| t.and_local_timezone(hotline_domain::shanghai()).single())
                .map(|t| t.with_timezone(&Utc))
                .ok_or(PeriodError::OutOfRange)
        };
        let next = to.succ_opt().ok_or(PeriodError::OutOfRange)?;
        Ok(Self {
            from,
            to,
            start: instant(from)?,
            end: instant(next)?,
        })
    }
}

/// One event of a ticket, as statistics see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFact {
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub to_state: Option<String>,
}

/// p50, p90 and the largest of a set of durations (none when empty).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spread {
    pub count: usize,
    pub p50: Option<Duration>,
    pub p90: Option<Duration>,
    pub max: Option<Duration>,
}

impl Spread {
    pub fn of(mut values: Vec<Duration>) -> Self {
        values.sort();
        let rank = |p: usize| -> Option<Duration> {
            let n = values.len();
            if n == 0 {
                return None;
            }
            // Nearest rank: ⌈p·n/100⌉, 1-based.
            let r = (p * n).div_ceil(100).max(1);
            values.get(r - 1).copied()
        };
        Self {
            count: values.len(),
            p50: rank(50),
            p90: rank(90),
            max: values.last().copied(),
        }
    }
}

/// Counts by a key, in the key's order.
pub type Counts = BTreeMap<String, u64>;

/// What a period's tickets add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statistics {
    pub tickets: u64,
    pub by_matter: Counts,
    pub by_urgency: Counts,
    pub by_priority_group: Counts,
    pub by_channel: Counts,
    pub by_state: Counts,
    /// Closed tickets by their outcome; rejected ones under `rejected`.
    pub by_outcome: Counts,
    pub by_region: Counts,
    pub to_acknowledgement: Spread,
    pub to_assignment: Spread,
    /// The same, for critical and urgent tickets only.
    pub urgent_to_acknowledgement: Spread,
    /// Offers nobody acknowledged in time.
    pub offers_missed: u64,
    /// Art. 43 decision and assignment dates that passed (alerts raised).
    pub decisions_overdue: u64,
    pub assignments_overdue: u64,
    /// Critical and urgent tickets.
    pub urgent_cases: u64,
    /// Migrant workers' wage claims (priority group and matter).
    pub migrant_wage_cases: u64,
    /// Applications given provisional aid (Legal Aid Law art. 44).
    pub provisional_aid: u64,
    pub home_visits: u64,
    pub pledges: u64,
    /// The IVR's calls and counts per menu node in the period (filled in
    /// from the IVR nodes' reports, not from tickets).
    pub ivr: ivr::IvrFigures,
}

impl Statistics {
    /// Adds up `tickets` (those created in the period) and `facts` (their
    /// events, oldest first).
    pub fn compute(tickets: &[Ticket], facts: &[(TicketNumber, TicketFact)]) -> Self {
        let mut by_ticket: HashMap<&TicketNumber, Vec<&TicketFact>> = HashMap::new();
        for (number, fact) in facts {
            by_ticket.entry(number).or_default().push(fact);
        }
        let mut s = Statistics::default();
        let mut to_ack = Vec::new();
        let mut to_assign = Vec::new();
        let mut urgent_ack = Vec::new();
        let bump = |counts: &mut Counts, key: &str| *counts.entry(key.to_owned()).or_insert(0) += 1;
        for t in tickets {
            s.tickets += 1;
            let events = by_ticket.get(&t.number).map(Vec::as_slice).unwrap_or(&[]);
            bump(
                &mut s.by_matter,
                t.matter.map(|m| m.as_str()).unwrap_or("unknown"),
            );
            bump(
                &mut s.by_urgency,
                t.urgency.map(|u| u.as_str()).unwrap_or("unassessed"),
            );
            bump(&mut s.by_priority_group, t.priority_group.as_str());
            let phone = events
                .iter()
                .find(|e| e.kind == EventKind::Created)
                .is_some_and(|e| e.actor.starts_with("ivr:") || e.actor == "ivr");
            bump(&mut s.by_channel, if phone { "phone" } else { "staff" });
            bump(&mut s.by_state, t.state.as_str());
            match t.state.as_str() {
                "closed" => bump(
                    &mut s.by_outcome,
                    t.outcome
                        .as_deref()
                        .filter(|o| !o.is_empty())
                        .unwrap_or("unstated"),
                ),
                "rejected" => bump(&mut s.by_outcome, "rejected"),
                _ => {}
            }
            bump(
                &mut s.by_region,
                &t.region
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "unknown".to_owned()),
            );
            let urgent = matches!(t.urgency, Some(Urgency::Critical | Urgency::Urgent));
            if urgent {
                s.urgent_cases += 1;
            }
            if t.priority_group == PriorityGroup::MigrantWorker
                && t.matter.map(|m| m.as_str()) == Some("labor-wages")
            {
                s.migrant_wage_cases += 1;
            }
            if t.flags.home_visit {
                s.home_visits += 1;
            }
            if t.flags.pledge_offered {
                s.pledges += 1;
            }
            let first = |kinds: &[EventKind]| {
                events
                    .iter()
                    .find(|e| kinds.contains(&e.kind))
                    .map(|e| e.at - t.created_at)
            };
            if let Some(d) = first(&[EventKind::OfferAcknowledged]) {
                to_ack.push(d);
                if urgent {
                    urgent_ack.push(d);
                }
            }
            let held = events
                .iter()
                .find(|e| {
                    matches!(
                        e.kind,
                        EventKind::OfferAcknowledged | EventKind::Owned | EventKind::Assigned
                    ) || (e.kind == EventKind::Transitioned
                        && e.to_state.as_deref() == Some("assigned"))
                })
                .map(|e| e.at - t.created_at);
            if let Some(d) = held {
                to_assign.push(d);
            }
            for e in events {
                match e.kind {
                    EventKind::OfferExpired => s.offers_missed += 1,
                    EventKind::DecisionOverdue => s.decisions_overdue += 1,
                    EventKind::AssignmentOverdue => s.assignments_overdue += 1,
                    _ => {}
                }
            }
            if events.iter().any(|e| {
                e.kind == EventKind::Transitioned && e.to_state.as_deref() == Some("provisional")
            }) || t.state.as_str() == "provisional"
            {
                s.provisional_aid += 1;
            }
        }
        s.to_acknowledgement = Spread::of(to_ack);
        s.to_assignment = Spread::of(to_assign);
        s.urgent_to_acknowledgement = Spread::of(urgent_ack);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(v: &[i64]) -> Vec<Duration> {
        v.iter().map(|s| Duration::seconds(*s)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let s = Spread::of(secs(&[10, 1, 9, 2, 8, 3, 7, 4, 6, 5]));
        assert_eq!(s.count, 10);
        assert_eq!(s.p50, Some(Duration::seconds(5)));
        assert_eq!(s.p90, Some(Duration::seconds(9)));
        assert_eq!(s.max, Some(Duration::seconds(10)));
        let one = Spread::of(secs(&[42]));
        assert_eq!(
            (one.p50, one.p90),
            (Some(Duration::seconds(42)), Some(Duration::seconds(42)))
        );
        assert_eq!(Spread::of(Vec::new()).p50, None);
    }

    #[test]
    fn a_period_is_china_standard_time_days() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let p = Period::new(d("2026-11-01"), d("2026-11-30")).unwrap();
        assert_eq!(p.start.to_rfc3339(), "2026-10-31T16:00:00+00:00");
        assert_eq!(p.end.to_rfc3339(), "2026-11-30T16:00:00+00:00");
        assert!(Period::new(d("2026-11-02"), d("2026-11-01")).is_err());
    }
}
