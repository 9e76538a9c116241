//! The ticketing operations that need more than the store: the clock and the
//! limitation calculator. The gRPC API and the background jobs call these, so
//! urgency is computed the same way wherever a ticket changes.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use hotline_domain::{TicketKind, TicketNumber, TicketState, Urgency};

use crate::clock::Clock;
use crate::limitation::{Limitation, TicketUrgency};
use crate::routing::RoutingPolicy;
use crate::store::{Store, StoreError};
use crate::tickets::lifecycle::Move;
use crate::tickets::{Assessed, Correction, NewTicket, Ticket};

/// The daily job that moves urgencies as deadlines come closer.
pub const REEVALUATION_JOB: &str = "reevaluate-urgency";

#[derive(Clone)]
pub struct Ticketing {
    store: Store,
    clock: Arc<dyn Clock>,
    limitation: Arc<Limitation>,
    routing: Arc<RoutingPolicy>,
}

impl Ticketing {
    pub fn new(store: Store, clock: Arc<dyn Clock>, limitation: Arc<Limitation>) -> Self {
        Self {
            store,
            clock,
            limitation,
            routing: Arc::new(RoutingPolicy::default()),
        }
    }

    /// The same service with another routing policy (configuration).
    pub fn with_routing(mut self, policy: RoutingPolicy) -> Self {
        self.routing = Arc::new(policy);
        self
    }

    pub fn routing_policy(&self) -> &RoutingPolicy {
        &self.routing
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn limitation(&self) -> &Limitation {
        &self.limitation
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The calendar date in Asia/Shanghai at `now`.
    pub fn today(now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&hotline_domain::shanghai()).date_naive()
    }

    /// Days from today to the ticket's deadline; 0 on the last day.
    pub fn days_left(ticket: &Ticket, now: DateTime<Utc>) -> Option<i64> {
        ticket.deadline.map(|d| (d - Self::today(now)).num_days())
    }

    fn reassess(&self, ticket: &Ticket, today: NaiveDate) -> TicketUrgency {
        self.limitation
            .assess_ticket(ticket.matter, ticket.event_date, ticket.preservation, today)
    }

    pub async fn create(&self, new: &NewTicket) -> Result<(Ticket, bool), StoreError> {
        let now = self.now();
        let today = Self::today(now);
        let assessed = Assessed {
            urgency: self.limitation.assess_ticket(
                new.matter,
                new.event_date,
                new.preservation,
                today,
            ),
            decision_due: (new.kind == TicketKind::Application)
                .then(|| self.limitation.decision_due(today)),
        };
        // An urgent ticket gets its first offer in the transaction that
        // creates it: one durable commit, and never a ticket without routing.
        self.store
            .create_and_route(new, &assessed, Some(&self.routing), now)
            .await
    }

    /// One pass of the routing scheduler at the clock's `now`: every due
    /// timer (missed offers, escalation rounds, unstarted cases), then any
    /// urgent ticket not routed yet (one whose routing a crash interrupted).
    /// Returns how many timers and tickets it handled.
    pub async fn run_routing(&self) -> Result<usize, StoreError> {
        let now = self.now();
        let mut handled = self.store.process_due(&self.routing, now).await?;
        for number in self.store.unrouted().await? {
            if self.store.route(&number, &self.routing, now).await? {
                handled += 1;
            }
        }
        Ok(handled)
    }

    pub async fn correct(
        &self,
        number: &TicketNumber,
        correction: &Correction,
        reason: Option<&str>,
        actor: &str,
    ) -> Result<Ticket, StoreError> {
        let now = self.now();
        let today = Self::today(now);
        let ticket = self
            .store
            .correct(number, correction, reason, actor, now, &|t| {
                self.reassess(t, today)
            })
            .await?;
        // A correction that makes the ticket urgent routes it at once.
        if RoutingPolicy::routes(ticket.urgency) {
            self.store.route(&ticket.number, &self.routing, now).await?;
        }
        Ok(ticket)
    }

    pub async fn transition(
        &self,
        number: &TicketNumber,
        to: TicketState,
        mut mv: Move,
        actor: &str,
    ) -> Result<Ticket, StoreError> {
        let now = self.now();
        if to == TicketState::Accepted {
            mv.assignment_due = Some(self.limitation.assignment_due(Self::today(now)));
        }
        self.store.transition(number, to, &mv, actor, now).await
    }

    /// Re-assesses every open ticket now.
    pub async fn reevaluate(
        &self,
    ) -> Result<Vec<(TicketNumber, Option<Urgency>, Option<Urgency>)>, StoreError> {
        let now = self.now();
        let today = Self::today(now);
        let changed = self
            .store
            .reevaluate(now, &|t| self.reassess(t, today))
            .await?;
        // An upgrade to urgent is offered the moment it happens.
        for (number, _, new) in &changed {
            if RoutingPolicy::routes(*new) {
                self.store.route(number, &self.routing, now).await?;
            }
        }
        Ok(changed)
    }

    /// Runs today's re-evaluation if no node has yet; returns how many
    /// tickets changed, or `None` when another run already had today.
    pub async fn reevaluate_daily(&self) -> Result<Option<usize>, StoreError> {
        let today = Self::today(self.now());
        if !self.store.claim_daily_run(REEVALUATION_JOB, today).await? {
            return Ok(None);
        }
        Ok(Some(self.reevaluate().await?.len()))
    }
}
