//! The one front door to ticketing: every operation the gRPC API and the
//! background jobs perform. Each reads the clock once and brings the
//! limitation calculator and the routing policy to the store, so urgency
//! and routing are worked out the same way wherever a ticket changes.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use hotline_domain::{TicketNumber, TicketState, Urgency};

use crate::auth::token;
use crate::auth::{AuditEntry, AuditFilter, AuthError, NewAudit, NewToken, Principal, TokenRecord};
use crate::callbacks::{Callback, CallbackFilter, CallbackOutcome, CallbackPolicy};
use crate::clock::Clock;
use crate::limitation::{Limitation, TicketUrgency};
use crate::quality::{self, NewReview, Review};
use crate::reports::Report;
use crate::retention::{RetentionPolicy, RetentionReport};
use crate::routing::{Lawyer, Offer, Problem, RosterError, RoutingPolicy, Shift};
use crate::stats::ivr::{IvrFigures, LiveCall, MenuNodeDay};
use crate::stats::{Period, Statistics};
use crate::store::{Store, StoreError};
use crate::tickets::lifecycle::Move;
use crate::tickets::{
    Assessed, Correction, NewRecording, NewTicket, PageCursor, RecordingInfo, Ticket, TicketEvent,
    TicketFilter,
};

/// A roster or offer operation: refused for a reason the caller can fix
/// (`Ok(Err(…))`), or failed in the store.
pub type RosterResult<T> = Result<Result<T, RosterError>, StoreError>;

/// The daily job that moves urgencies as deadlines come closer.
pub const REEVALUATION_JOB: &str = "reevaluate-urgency";

/// The daily job that removes recordings and anonymises personal data.
pub const RETENTION_JOB: &str = "retention";

#[derive(Clone)]
pub struct Ticketing {
    store: Store,
    clock: Arc<dyn Clock>,
    limitation: Arc<Limitation>,
    routing: Arc<RoutingPolicy>,
    retention: RetentionPolicy,
    /// The IVR nodes' calls in progress, as they last reported them.
    ivr_calls: Arc<crate::stats::ivr::LiveIvrCalls>,
    callbacks: Arc<CallbackPolicy>,
    bridges: Arc<crate::callbacks::bridge::BridgePolicy>,
}

impl Ticketing {
    pub fn new(store: Store, clock: Arc<dyn Clock>, limitation: Arc<Limitation>) -> Self {
        Self {
            store,
            clock,
            limitation,
            routing: Arc::new(RoutingPolicy::default()),
            retention: RetentionPolicy::default(),
            ivr_calls: Arc::default(),
            callbacks: Arc::default(),
            bridges: Arc::default(),
        }
    }

    /// Sets the click-to-call settings.
    pub fn with_bridges(mut self, policy: crate::callbacks::bridge::BridgePolicy) -> Self {
        self.bridges = Arc::new(policy);
        self
    }

    /// The same service with other callback settings (configuration).
    pub fn with_callbacks(mut self, policy: CallbackPolicy) -> Self {
        self.callbacks = Arc::new(policy);
        self
    }

    /// The same service with another routing policy (configuration).
    pub fn with_routing(mut self, policy: RoutingPolicy) -> Self {
        self.routing = Arc::new(policy);
        self
    }

    /// The same service with another retention policy (configuration).
    pub fn with_retention(mut self, policy: RetentionPolicy) -> Self {
        self.retention = policy;
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
        self.limitation.assess_ticket(ticket.facts(), today)
    }

    pub async fn create(&self, new: &NewTicket) -> Result<(Ticket, bool), StoreError> {
        let now = self.now();
        let today = Self::today(now);
        let urgency = self.limitation.assess_ticket(new.facts(), today);
        // Every caller with a number to call gets a call back: the answer
        // to a consultation, the materials an application needs.
        let callback_due = self.first_callback_due(
            Some(urgency.urgency),
            new.callback_number.as_ref(),
            new.caller_number.as_ref(),
            now,
        );
        let assessed = Assessed {
            urgency,
            callback_due,
        };
        // An urgent ticket gets its first offer in the transaction that
        // creates it: one durable commit, and never a ticket without routing.
        self.store
            .create_and_route(new, &assessed, Some(self.routing.clone()), now)
            .await
    }

    /// One pass of the routing scheduler at the clock's `now`: every due
    /// timer (missed offers, escalation rounds, unstarted cases), then any
    /// urgent ticket not routed yet (one whose routing a crash interrupted).
    /// Returns how many timers and tickets it handled. Each part runs
    /// whether or not the one before it failed (a stuck center must not
    /// stop page expiry or another ticket's routing); the first failure is
    /// returned once all have run.
    pub async fn run_routing(&self) -> Result<usize, StoreError> {
        let now = self.now();
        let mut pass = Pass::default();
        pass.count(self.store.process_due(&self.routing, now).await);
        pass.count(self.store.expire_page_claims(&self.routing, now).await);
        pass.count(self.store.expire_bridges(now).await);
        pass.count(self.store.alert_overdue_clocks(now).await);
        pass.count(self.store.route_unrouted(&self.routing, now).await);
        pass.finish()
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
        // A new urgency or number moves the first callback, if nobody has
        // tried yet.
        let due = self.first_callback_due(
            ticket.urgency,
            ticket.callback_number.as_ref(),
            ticket.caller_number.as_ref(),
            ticket.created_at,
        );
        self.store
            .reschedule_first_callback(&ticket.number, due)
            .await?;
        // A correction that makes the ticket urgent routes it at once; one
        // that makes it normal stops offering it (it waits in the queue).
        if RoutingPolicy::routes(ticket.urgency) {
            self.store.route(&ticket.number, &self.routing, now).await?;
        } else {
            let why = format!("the ticket is no longer urgent after a correction by {actor}");
            self.store
                .stop_offering(&ticket.number, &why, actor, now)
                .await?;
        }
        Ok(ticket)
    }

    /// The application's materials are in: the art. 43 decision clock
    /// starts (or restarts) today.
    pub async fn materials_received(
        &self,
        number: &TicketNumber,
        note: Option<&str>,
        actor: &str,
    ) -> Result<Ticket, StoreError> {
        let now = self.now();
        let due = self.limitation.decision_due(Self::today(now));
        self.store
            .materials_received(number, note, actor, due, now)
            .await
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
        self.store
            .transition_routed(number, to, &mv, actor, Some(&self.routing), now)
            .await
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

    /// One retention pass at the clock's `now`: message recordings of
    /// tickets closed long enough ago are removed, then numbers and
    /// summaries anonymised, each with an event in the ticket's history.
    pub async fn apply_retention(&self) -> Result<RetentionReport, StoreError> {
        let now = self.now();
        let mut report = RetentionReport::default();
        if let (Some(cutoff), Some(days)) = (
            self.retention.recordings_cutoff(now),
            self.retention.recordings_days_after_close,
        ) {
            let reason = format!("kept {days} days after the ticket closed");
            report.recordings_removed = self
                .store
                .remove_recordings_closed_before(cutoff, &reason, now)
                .await?;
        }
        if let (Some(cutoff), Some(years)) = (
            self.retention.personal_data_cutoff(now),
            self.retention.personal_data_years_after_close,
        ) {
            let reason = format!("kept {years} years after the ticket closed");
            report.anonymised = self
                .store
                .anonymise_closed_before(cutoff, &reason, now)
                .await?;
        }
        Ok(report)
    }

    /// Runs today's retention pass if no node has yet; `None` when another
    /// run already had today.
    pub async fn retention_daily(&self) -> Result<Option<RetentionReport>, StoreError> {
        let today = Self::today(self.now());
        if !self.store.claim_daily_run(RETENTION_JOB, today).await? {
            return Ok(None);
        }
        Ok(Some(self.apply_retention().await?))
    }

    // --- Tickets ------------------------------------------------------------

    pub async fn ticket(&self, number: &TicketNumber) -> Result<Ticket, StoreError> {
        self.store.ticket(number).await
    }

    pub async fn tickets_by_number(
        &self,
        numbers: &[TicketNumber],
    ) -> Result<Vec<Ticket>, StoreError> {
        self.store.tickets_by_number(numbers).await
    }

    pub async fn list_tickets(
        &self,
        filter: &TicketFilter,
        limit: u32,
        after: Option<PageCursor>,
    ) -> Result<(Vec<Ticket>, Option<PageCursor>), StoreError> {
        self.store.list_tickets(filter, limit, after).await
    }

    pub async fn history(&self, number: &TicketNumber) -> Result<Vec<TicketEvent>, StoreError> {
        self.store.history(number).await
    }

    pub async fn add_note(
        &self,
        number: &TicketNumber,
        text: &str,
        actor: &str,
    ) -> Result<TicketEvent, StoreError> {
        self.store.add_note(number, text, actor, self.now()).await
    }

    /// Marks a ticket a major case (重点督办); `false` when it already was.
    pub async fn mark_major_case(
        &self,
        number: &TicketNumber,
        reason: &str,
        actor: &str,
    ) -> Result<bool, StoreError> {
        self.store
            .mark_major_case(number, reason, actor, self.now())
            .await
    }

    pub async fn add_recording(
        &self,
        number: &TicketNumber,
        recording: &NewRecording<'_>,
        actor: &str,
    ) -> Result<RecordingInfo, StoreError> {
        self.store
            .add_recording(number, recording, actor, self.now())
            .await
    }

    pub async fn recording_audio(
        &self,
        id: i64,
    ) -> Result<(RecordingInfo, TicketNumber, Vec<u8>), StoreError> {
        self.store.recording_audio(id).await
    }

    // --- The roster -----------------------------------------------------------

    pub async fn put_lawyer(&self, lawyer: &Lawyer) -> Result<(), StoreError> {
        self.store.put_lawyer(lawyer, self.now()).await
    }

    pub async fn lawyers(&self) -> Result<Vec<Lawyer>, StoreError> {
        self.store.lawyers().await
    }

    pub async fn add_shift(
        &self,
        lawyer: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> RosterResult<Shift> {
        self.store.add_shift(lawyer, from, to).await
    }

    /// Shifts that end after `after` (now when `None`).
    pub async fn shifts(&self, after: Option<DateTime<Utc>>) -> Result<Vec<Shift>, StoreError> {
        let after = after.unwrap_or_else(|| self.now());
        self.store.shifts(after).await
    }

    /// The lawyer whose shift `id` is, if it exists.
    pub async fn shift_lawyer(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.store.shift_lawyer(id).await
    }

    /// Gives a shift to another lawyer (a swap).
    pub async fn swap_shift(&self, shift: i64, lawyer: &str) -> RosterResult<Shift> {
        self.store.reassign_shift(shift, lawyer).await
    }

    /// Lawyers of `center` on duty at `at` (now when `None`).
    pub async fn on_duty(
        &self,
        center: &str,
        at: Option<DateTime<Utc>>,
    ) -> Result<Vec<Lawyer>, StoreError> {
        let at = at.unwrap_or_else(|| self.now());
        self.store.on_duty(center, at).await
    }

    // --- Offers and the lawyer's work -------------------------------------------

    /// A lawyer takes the ticket offered to them.
    pub async fn acknowledge(&self, number: &TicketNumber, lawyer: &str) -> RosterResult<()> {
        self.store
            .acknowledge(number, lawyer, &self.routing, self.now())
            .await
    }

    /// The next page due for IVR node `node` to dial, claimed for it, with
    /// its ticket; `None` when nothing is due (or the hourly cap is reached).
    pub async fn claim_page(
        &self,
        node: &str,
        token: &str,
    ) -> Result<Option<(crate::store::PageJob, Ticket)>, StoreError> {
        let cap = self.routing.paging.calls_per_hour;
        let Some(job) = self.store.claim_page(node, token, cap, self.now()).await? else {
            return Ok(None);
        };
        let ticket = self.store.ticket(&job.number).await?;
        Ok(Some((job, ticket)))
    }

    /// How a page went, from the IVR node that dialled it: a key the
    /// lawyer pressed acknowledges or declines the offer (once, whichever
    /// channel is first).
    pub async fn finish_page(
        &self,
        id: i64,
        node: &str,
        who: &crate::auth::Principal,
        outcome: crate::paging::PageOutcome,
        detail: Option<&str>,
        permanent: bool,
    ) -> Result<crate::store::PageFinish, StoreError> {
        self.store
            .finish_page(
                id,
                node,
                &who.token_id,
                &who.actor(),
                outcome,
                detail,
                permanent,
                &self.routing,
                self.now(),
            )
            .await
    }

    /// A lawyer declines an offer; the next candidate is asked at once.
    pub async fn decline(
        &self,
        number: &TicketNumber,
        lawyer: &str,
        reason: &str,
    ) -> RosterResult<()> {
        self.store
            .decline(number, lawyer, reason, &self.routing, self.now())
            .await
    }

    /// Normal tickets waiting in `center`'s queue, first to pull first.
    pub async fn queue(&self, center: &str, limit: i64) -> Result<Vec<Ticket>, StoreError> {
        let numbers = self.store.queue(center, limit).await?;
        let mut tickets = self.store.tickets_by_number(&numbers).await?;
        // The queue's order, not the read's.
        tickets.sort_by_key(|t| numbers.iter().position(|n| *n == t.number));
        Ok(tickets)
    }

    /// A lawyer takes a ticket from the queue.
    pub async fn pull(&self, number: &TicketNumber, lawyer: &str) -> RosterResult<()> {
        self.store
            .pull(
                number,
                lawyer,
                &format!("lawyer:{lawyer}"),
                &self.routing,
                self.now(),
            )
            .await
    }

    /// A supervisor gives an assigned ticket to another lawyer.
    pub async fn reassign(
        &self,
        number: &TicketNumber,
        to_lawyer: &str,
        reason: &str,
        actor: &str,
    ) -> RosterResult<()> {
        self.store
            .reassign(number, to_lawyer, reason, actor, &self.routing, self.now())
            .await
    }

    /// The lawyer assigned to a ticket moves it on (start, close).
    pub async fn move_case(
        &self,
        number: &TicketNumber,
        lawyer: &str,
        to: TicketState,
        mv: Move,
    ) -> RosterResult<Ticket> {
        let ticket = self.store.ticket(number).await?;
        if ticket.assigned_lawyer.as_deref() != Some(lawyer) {
            return Ok(Err(RosterError::NotAssigned {
                ticket: number.to_string(),
                lawyer: lawyer.to_owned(),
            }));
        }
        let moved = self
            .transition(number, to, mv, &format!("lawyer:{lawyer}"))
            .await?;
        Ok(Ok(moved))
    }

    /// A lawyer's open tickets and pending offers.
    pub async fn work_of(&self, lawyer: &str) -> Result<(Vec<Ticket>, Vec<Offer>), StoreError> {
        let offers = self.store.pending_offers(lawyer).await?;
        let numbers = self.store.tickets_of(lawyer).await?;
        let mut tickets = self.store.tickets_by_number(&numbers).await?;
        tickets.sort_by_key(|t| numbers.iter().position(|n| *n == t.number));
        Ok((tickets, offers))
    }

    /// The tickets with these numbers, and their offers to `lawyer`
    /// oldest first.
    pub async fn tickets_and_offers_to(
        &self,
        lawyer: &str,
        numbers: &[TicketNumber],
    ) -> Result<(Vec<Ticket>, Vec<Offer>), StoreError> {
        self.store.tickets_and_offers_to(lawyer, numbers).await
    }

    /// The newest event's id: where a reader that wants only new events starts.
    pub async fn latest_event_id(&self) -> Result<i64, StoreError> {
        self.store.latest_event_id().await
    }

    /// Events after `after` (only those concerning `lawyer`, when given).
    pub async fn events_after(
        &self,
        after: i64,
        lawyer: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TicketEvent>, StoreError> {
        self.store.events_after(after, lawyer, limit).await
    }

    /// [`Ticketing::events_after`], and whether committed events wait
    /// behind a transaction still running (see [`Store::events_after_held`]).
    pub async fn events_after_held(
        &self,
        after: i64,
        lawyer: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<TicketEvent>, bool), StoreError> {
        self.store.events_after_held(after, lawyer, limit).await
    }

    /// What `hotline check` reports: unowned urgent tickets, offers past
    /// their deadline by more than `grace`.
    pub async fn check(&self, grace: chrono::Duration) -> Result<Vec<Problem>, StoreError> {
        self.store
            .check(self.now(), grace, self.routing.stuck_escalation)
            .await
    }

    // --- Access: tokens, who may see a ticket, the audit log ---------------

    /// The holder of a token's text, at the clock's now.
    pub async fn authenticate(&self, text: Option<&str>) -> Result<Principal, AccessError> {
        let text = text.ok_or(AuthError::Missing)?;
        let presented = token::parse(text).map_err(AuthError::Malformed)?;
        let record = self
            .store
            .token(&presented.id, &presented.secret_sha256)
            .await?
            .ok_or(AuthError::Invalid)?;
        if record.revoked_at.is_some() {
            return Err(AuthError::Invalid.into());
        }
        if !record.active(self.now()) {
            return Err(AuthError::Expired.into());
        }
        Ok(record.principal())
    }

    /// Makes a token; returns its text (to show once) and its record.
    pub async fn create_token(
        &self,
        new: &NewToken,
        created_by: &str,
    ) -> Result<(String, TokenRecord), StoreError> {
        let issued = token::issue(&mut rand::rng());
        let record = self
            .store
            .insert_token(&issued, new, created_by, self.now())
            .await?;
        Ok((issued.text, record))
    }

    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.store.tokens().await
    }

    /// Revokes a token at once; `None` when there is no such token.
    pub async fn revoke_token(
        &self,
        id: &str,
        by: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        self.store.revoke_token(id, by, self.now()).await
    }

    /// Whether `who` may see `ticket` at all: a supervisor of its center, an
    /// admin, or the lawyer it is offered or assigned to.
    pub async fn may_see(&self, who: &Principal, ticket: &Ticket) -> Result<bool, StoreError> {
        if Self::sees_without_offers(who, ticket) {
            return Ok(true);
        }
        match who.lawyer_id() {
            Some(lawyer) => self.store.lawyer_on(&ticket.number, lawyer).await,
            None => Ok(false),
        }
    }

    /// [`Self::may_see`] with the offers of `ticket` to `who` already read
    /// (a lawyer's stream has them for a whole batch): no read of its own.
    pub fn may_see_given(who: &Principal, ticket: &Ticket, offers: &[Offer]) -> bool {
        Self::sees_without_offers(who, ticket)
            || who.lawyer_id().is_some_and(|lawyer| {
                offers.iter().any(|o| {
                    o.ticket == ticket.number
                        && o.lawyer == lawyer
                        && o.state == crate::routing::OfferState::Pending
                })
            })
    }

    /// Sees it whatever its offers: a supervisor of its center, an admin,
    /// the lawyer it is assigned to.
    fn sees_without_offers(who: &Principal, ticket: &Ticket) -> bool {
        who.oversees(&ticket.center)
            || who
                .lawyer_id()
                .is_some_and(|lawyer| ticket.assigned_lawyer.as_deref() == Some(lawyer))
    }

    /// Appends to the audit log, stamped now.
    pub async fn audit(&self, entries: &[NewAudit]) -> Result<(), StoreError> {
        self.store.audit(entries, self.now()).await
    }

    pub async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        self.store.audit_log(filter).await
    }
}

impl Ticketing {
    // --- The console: sessions, statistics, reports, quality review ---------

    /// Opens a browser session for the holder of `token` (checked as for
    /// any request); returns the session id's text and its CSRF secret.
    pub async fn open_session(
        &self,
        token: &str,
        lifetime: chrono::Duration,
    ) -> Result<(String, String, Principal), AccessError> {
        let who = self.authenticate(Some(token)).await?;
        let (id, csrf) = {
            // The thread's generator is not Send: used up before any await.
            let (mut id, mut csrf) = ([0u8; 32], [0u8; 32]);
            let mut rng = rand::rng();
            rand::Rng::fill_bytes(&mut rng, &mut id);
            rand::Rng::fill_bytes(&mut rng, &mut csrf);
            (hex::encode(id), hex::encode(csrf))
        };
        let now = self.now();
        self.store
            .create_session(&session_key(&id), &who.token_id, &csrf, now, now + lifetime)
            .await?;
        Ok((id, csrf, who))
    }

    /// The holder of a live session and its CSRF secret: the session must
    /// be known and unexpired and its token still active.
    pub async fn session(&self, id: &str) -> Result<(Principal, String), AccessError> {
        let now = self.now();
        let (record, csrf) = self
            .store
            .session(&session_key(id), now)
            .await?
            .ok_or(AuthError::Invalid)?;
        if record.revoked_at.is_some() {
            return Err(AuthError::Invalid.into());
        }
        if !record.active(now) {
            return Err(AuthError::Expired.into());
        }
        Ok((record.principal(), csrf))
    }

    pub async fn close_session(&self, id: &str) -> Result<(), StoreError> {
        self.store.end_session(&session_key(id)).await
    }

    /// Open tickets (of `center`, when given), oldest first.
    pub async fn open_tickets(&self, center: Option<&str>) -> Result<Vec<Ticket>, StoreError> {
        self.store.open_tickets(center).await
    }

    /// Open major cases (of `center`, when given).
    pub async fn major_cases(&self, center: Option<&str>) -> Result<Vec<TicketNumber>, StoreError> {
        self.store.major_cases(center).await
    }

    /// Pending offers (of `center`'s tickets, when given), oldest first.
    pub async fn open_offers(&self, center: Option<&str>) -> Result<Vec<Offer>, StoreError> {
        self.store.open_offers(center).await
    }

    /// Tickets nobody took after every round of offers, with since when.
    pub async fn escalated(
        &self,
        center: Option<&str>,
    ) -> Result<Vec<(TicketNumber, DateTime<Utc>)>, StoreError> {
        self.store.escalated(center).await
    }

    /// Every ticket created in `period` (of `center`, when given).
    pub async fn tickets_created(
        &self,
        period: &Period,
        center: Option<&str>,
    ) -> Result<Vec<Ticket>, StoreError> {
        let filter = TicketFilter {
            center: center.map(str::to_owned),
            created_from: Some(period.start),
            // The filter's end is inclusive; the period's is not.
            created_to: Some(period.end - chrono::Duration::milliseconds(1)),
            ..TicketFilter::default()
        };
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let (page, next) = self.store.list_tickets(&filter, 500, after).await?;
            all.extend(page);
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        Ok(all)
    }

    /// The statistics of `period`.
    pub async fn statistics(
        &self,
        period: &Period,
        center: Option<&str>,
    ) -> Result<Statistics, StoreError> {
        let tickets = self.tickets_created(period, center).await?;
        let facts = self.store.ticket_facts(period, center).await?;
        let mut stats = Statistics::compute(&tickets, &facts);
        let nodes = self.store.ivr_figures(period, center).await?;
        stats.ivr = IvrFigures::add_up(nodes.iter().map(|(n, c)| (n.as_str(), *c)));
        Ok(stats)
    }

    /// The callers waiting for a call back (and those flagged), soonest
    /// due first.
    pub async fn callbacks(
        &self,
        filter: &CallbackFilter<'_>,
    ) -> Result<Vec<Callback>, StoreError> {
        self.store.callbacks(filter).await
    }

    /// Records an attempt to call `number`'s caller back now; the next is
    /// due by the end of the next business half-day (never earlier than it
    /// already was), and failures on three different half-days flag the
    /// ticket for a supervisor.
    pub async fn record_callback(
        &self,
        number: &TicketNumber,
        outcome: CallbackOutcome,
        note: &str,
        actor: &str,
    ) -> Result<Callback, StoreError> {
        let now = self.now();
        let calendar = self.limitation.calendar();
        let policy = self.callbacks.clone();
        let (callback, _) = self
            .store
            .record_callback(number, outcome, note, actor, now, &|failures, due| {
                policy.after_failures(failures, due, calendar)
            })
            .await?;
        Ok(callback)
    }

    /// Whether click-to-call can be asked for: the IVR nodes dial callers
    /// through the outbound trunk, which this node's config names.
    pub fn click_to_call(&self) -> bool {
        self.routing.paging.phones
    }

    /// Asks for a click-to-call of `number`'s caller by `lawyer`: an IVR
    /// node calls the lawyer, then the caller through the outbound trunk.
    pub async fn request_bridge(
        &self,
        number: &TicketNumber,
        lawyer: &str,
        requested_by: &str,
    ) -> Result<i64, crate::callbacks::bridge::BridgeError> {
        // The caller is always dialled through the trunk.
        if !self.click_to_call() {
            return Err(crate::callbacks::bridge::BridgeError::NoTrunk);
        }
        self.store
            .request_bridge(
                number,
                lawyer,
                requested_by,
                &self.routing.paging,
                self.bridges.calls_per_hour,
                self.now(),
            )
            .await
    }

    /// Whether click-to-calls are recorded (the centre's setting).
    pub fn records_bridges(&self) -> bool {
        self.bridges.record
    }

    /// Claims the next click-to-call for IVR node `node`.
    pub async fn claim_bridge(
        &self,
        node: &str,
        token: &str,
        boot: &str,
    ) -> Result<Option<crate::store::BridgeJob>, StoreError> {
        self.store.claim_bridge(node, token, boot, self.now()).await
    }

    /// IVR node `node` subscribes as run `boot`: what an earlier run of it
    /// holds is given up.
    pub async fn release_earlier_runs(&self, node: &str, boot: &str) -> Result<usize, StoreError> {
        self.store
            .release_earlier_runs(node, boot, self.now())
            .await
    }

    /// How a click-to-call went, from the IVR node that placed it; `false`
    /// when that node holds no such bridge.
    pub async fn finish_bridge(
        &self,
        id: i64,
        node: &str,
        who: &crate::auth::Principal,
        legs: crate::store::BridgeLegs<'_>,
    ) -> Result<bool, StoreError> {
        let calendar = self.limitation.calendar();
        let policy = self.callbacks.clone();
        self.store
            .finish_bridge(
                id,
                node,
                &who.token_id,
                &who.actor(),
                legs,
                self.now(),
                &|failures, due| policy.after_failures(failures, due, calendar),
            )
            .await
    }

    /// When a new ticket's caller is first called back: `None` without a
    /// number to call.
    fn first_callback_due(
        &self,
        urgency: Option<hotline_domain::Urgency>,
        callback: Option<&hotline_domain::PhoneNumber>,
        caller: Option<&hotline_domain::PhoneNumber>,
        created: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        crate::callbacks::number_to_call(callback, caller)?;
        self.callbacks
            .first_due(urgency, created, self.limitation.calendar())
    }

    /// An IVR node's report: its calls in progress for the board, its
    /// counts (totals of its run `boot`) for statistics.
    pub async fn publish_ivr_figures(
        &self,
        ivr_node: &str,
        boot: &str,
        in_progress: u32,
        calls: Vec<hotline_proto::v1::ActiveCall>,
        rows: &[MenuNodeDay],
    ) -> Result<(), StoreError> {
        let now = self.now();
        self.ivr_calls.update(ivr_node, in_progress, calls, now);
        self.store.put_ivr_figures(ivr_node, boot, rows, now).await
    }

    /// The calls in progress in the IVR nodes still reporting, of
    /// `centers` (all when `None`), and how many there are in all.
    pub fn ivr_calls(&self, centers: Option<&[String]>) -> (Vec<LiveCall>, u64) {
        self.ivr_calls.calls(centers, self.now())
    }

    /// The report of `period`: statistics and the quality-review scores of
    /// reviews made in it.
    pub async fn report(
        &self,
        period: &Period,
        center: Option<&str>,
    ) -> Result<Report, StoreError> {
        let stats = self.statistics(period, center).await?;
        let reviews = self.store.reviews(Some(period), center, None).await?;
        Ok(Report {
            period: period.clone(),
            center: center.map(str::to_owned),
            stats,
            scores: quality::per_lawyer(&reviews),
            generated_at: self.now(),
        })
    }

    /// A reproducible sample of the tickets closed in `period`, up to
    /// `per_lawyer` per lawyer.
    pub async fn quality_sample(
        &self,
        period: &Period,
        center: Option<&str>,
        per_lawyer: usize,
        seed: u64,
    ) -> Result<Vec<(TicketNumber, String)>, StoreError> {
        let closed = self.store.closed_in(period, center).await?;
        Ok(quality::sample(&closed, per_lawyer, seed))
    }

    /// Records a review of a closed ticket; refused (`Ok(Err)`) for a ticket
    /// that is not closed or scores out of range.
    pub async fn review(
        &self,
        number: &TicketNumber,
        review: &NewReview,
    ) -> Result<Result<Review, String>, StoreError> {
        if let Err(e) = review.scores.check() {
            return Ok(Err(e));
        }
        let ticket = self.store.ticket(number).await?;
        let lawyer = match (&ticket.state, &ticket.assigned_lawyer) {
            (TicketState::Closed, Some(lawyer)) => lawyer.clone(),
            _ => {
                return Ok(Err(format!(
                    "ticket {number} is not a closed case of a lawyer; only those are reviewed"
                )))
            }
        };
        self.store
            .add_review(number, &lawyer, review, self.now())
            .await
            .map(Ok)
    }

    /// The reviews of one ticket, oldest first.
    pub async fn reviews_of(&self, number: &TicketNumber) -> Result<Vec<Review>, StoreError> {
        self.store.reviews(None, None, Some(number)).await
    }
}

/// What the sessions table keys a session by: never the id itself, so a
/// copy of the database opens no browser session.
fn session_key(id: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(id.as_bytes()))
}

/// Why a request's token was not accepted: its own fault, or the store's.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one routing pass handled, and its first failure.
#[derive(Default)]
struct Pass {
    handled: usize,
    failed: Option<StoreError>,
}

impl Pass {
    fn count(&mut self, part: Result<usize, StoreError>) {
        if let Some(n) = self.ok(part) {
            self.handled += n;
        }
    }

    fn ok<T>(&mut self, part: Result<T, StoreError>) -> Option<T> {
        match part {
            Ok(value) => Some(value),
            Err(e) => {
                if self.failed.is_some() {
                    tracing::warn!(error = %e, "routing scheduler: a further part of the pass failed");
                } else {
                    self.failed = Some(e);
                }
                None
            }
        }
    }

    fn finish(self) -> Result<usize, StoreError> {
        match self.failed {
            Some(e) => Err(e),
            None => Ok(self.handled),
        }
    }
}
