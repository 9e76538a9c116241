//! Offers in the database: routing a ticket to the best on-duty lawyer,
//! acknowledgements, declines, pulls from the queue, and the per-ticket
//! routing row whose `due_at` is its durable timer, claimed by the scheduler. Every decision is one
//! transaction that holds the ticket's lock, so each offer's outcome is
//! decided exactly once however many ticketing nodes run the scheduler.
//! `now` is always a parameter; SQL never reads a clock.

use chrono::{DateTime, Utc};
use hotline_domain::{TicketNumber, TicketState, Urgency};
use sqlx::any::AnyRow;
// Dynamic SQL here is built from constant fragments and `$n` placeholders,
// never from input: every value is bound.
use sqlx::{Any, AssertSqlSafe, Transaction};

use super::tickets::{assigned_lawyer, insert_event, millis, parse, EventDetail};
use super::{get, placeholders, Backend, Store, StoreError};
use crate::routing::policy::{self, Candidate, Need, RoutingPolicy, Step};
use crate::routing::{seeks_lawyer, Lawyer, Offer, OfferState, RosterError, RoutingStatus};
use crate::tickets::lifecycle::Move;
use crate::tickets::{EventKind, FieldChange, Ticket};

/// What a scheduler pass leaves for the next one: centers whose routing
/// lock another node held past the lock timeout, and tickets that waited
/// for such a lock (of a center not their own: a lawyer's).
#[derive(Default)]
struct Stuck {
    centers: Vec<String>,
    tickets: Vec<i64>,
}

impl Stuck {
    /// Notes a lock timeout of the transaction on ticket `ticket` of
    /// `center`; false for any other error.
    fn add(&mut self, error: &StoreError, ticket: i64, center: &str) -> bool {
        let busy = match error {
            StoreError::CenterBusy(busy) => busy.as_str(),
            // A lock of the ticket's own center, as far as is known.
            e if e.is_lock_timeout() => center,
            _ => return false,
        };
        tracing::warn!(
            center = busy,
            ticket_id = ticket,
            "a routing lock was held past the lock timeout (a node frozen mid-transaction?); \
             this center's timers wait for the next scheduler pass"
        );
        if !self.centers.iter().any(|c| c == busy) {
            self.centers.push(busy.to_owned());
        }
        self.tickets.push(ticket);
        true
    }

    /// The centers and the tickets as JSON arrays, bound as two parameters.
    fn as_json(&self) -> Result<(String, String), StoreError> {
        let json = |e: serde_json::Error| StoreError::Corrupt(format!("stuck list as JSON: {e}"));
        Ok((
            serde_json::to_string(&self.centers).map_err(json)?,
            serde_json::to_string(&self.tickets).map_err(json)?,
        ))
    }
}

/// What a scheduler's claim on PostgreSQL leaves out: the stuck centers'
/// tickets ($2) and the stuck tickets ($3), alias `t` for tickets.
const NOT_STUCK: &str = "t.center NOT IN (SELECT value FROM json_array_elements_text($2::json)) \
     AND t.id NOT IN (SELECT CAST(value AS BIGINT) FROM json_array_elements_text($3::json))";

/// Who routing acts as in ticket histories.
pub const ROUTING_ACTOR: &str = "routing";

/// Why a critical application is given provisional aid on a lawyer's
/// acknowledgement. It is not the centre's decision, which still follows.
const PROVISIONAL_REASON: &str = "fewer than 7 days left, or preservation or advance enforcement needed: legal aid provided first (Legal Aid Law art. 44); the centre's decision on the application follows";

pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(super) fn lawyer_from_row(row: &AnyRow) -> Result<Lawyer, StoreError> {
    Ok(Lawyer {
        id: get(row, "id")?,
        center: get(row, "center")?,
        name: get(row, "name")?,
        phone: get(row, "phone")?,
        sip_uri: get(row, "sip_uri")?,
        skills: list(&get::<String>(row, "skills")?),
        regions: list(&get::<String>(row, "regions")?),
        languages: list(&get::<String>(row, "languages")?),
        capacity: get(row, "capacity")?,
        active: get::<i64>(row, "active")? != 0,
    })
}

pub(super) fn offer_from_row(row: &AnyRow) -> Result<Offer, StoreError> {
    Ok(Offer {
        id: get(row, "id")?,
        ticket: parse(&get::<String>(row, "number")?, TicketNumber::parse)?,
        lawyer: get(row, "lawyer_id")?,
        round: get(row, "round")?,
        state: {
            let text: String = get(row, "state")?;
            OfferState::parse(&text)
                .ok_or_else(|| StoreError::Corrupt(format!("offer state `{text}`")))?
        },
        offered_at: millis(get(row, "offered_at")?)?,
        ack_deadline: millis(get(row, "ack_deadline")?)?,
        reason: get(row, "reason")?,
    })
}

/// A lawyer as routing sees them: the load counts open tickets and pending
/// offers, `last_offer_at` orders a round robin. Both are kept per lawyer
/// in `lawyer_load` by the database's triggers (migration `lawyer_load`);
/// counting the rows here visited every pending offer on each decision.
/// Select from `lawyers l` joined with [`LOAD_JOIN`].
const CANDIDATE_COLUMNS: &str = "l.id, l.skills, l.regions, l.languages, l.capacity, \
     COALESCE(k.last_offer_at, 0) AS last_offer_at, COALESCE(k.load, 0) AS load";

/// A lawyer with no offer or ticket yet may have no `lawyer_load` row.
const LOAD_JOIN: &str = "LEFT JOIN lawyer_load k ON k.lawyer_id = l.id";

fn candidate_from_row(row: &AnyRow) -> Result<Candidate, StoreError> {
    Ok(Candidate {
        lawyer: get(row, "id")?,
        skills: list(&get::<String>(row, "skills")?),
        regions: list(&get::<String>(row, "regions")?),
        languages: list(&get::<String>(row, "languages")?),
        load: get(row, "load")?,
        capacity: get(row, "capacity")?,
        last_offer_at: get(row, "last_offer_at")?,
    })
}

/// One shift of a roster lawyer, as routing a batch reads the roster.
pub(super) struct RosterShift {
    pub candidate: Candidate,
    /// The shift's bounds, in ms.
    pub starts_at: i64,
    pub ends_at: i64,
    /// Where a page rings the lawyer.
    pub phone: String,
    pub sip_uri: Option<String>,
}

/// The note of an `offered` event's detail.
pub(super) fn offer_note(ack_deadline: DateTime<Utc>) -> String {
    format!(
        "acknowledge by {}",
        hotline_domain::shown_time(ack_deadline)
    )
}

/// The note of an `escalated` event.
pub(super) fn escalation_note(why: &str, next_round: DateTime<Utc>) -> String {
    format!(
        "unowned, supervisors alerted: {why}; next round at {}",
        hotline_domain::shown_time(next_round)
    )
}

/// The note of an offer event: the lawyer, and what happened.
pub(super) fn offer_event_note(lawyer: &str, detail: Option<&str>) -> String {
    match detail {
        Some(d) => format!("lawyer {lawyer}: {d}"),
        None => format!("lawyer {lawyer}"),
    }
}

pub(super) const OFFER_COLUMNS: &str =
    "o.id, t.number, o.lawyer_id, o.round, o.state, o.offered_at, \
     o.ack_deadline, o.reason";

/// The facts of a ticket routing needs, read under its lock.
pub(super) struct Routed {
    pub(super) id: i64,
    pub(super) number: TicketNumber,
    state: TicketState,
    urgency: Option<Urgency>,
    center: String,
    need: Need,
}

impl Store {
    /// Starts routing a ticket if its urgency calls for it and it is not
    /// routed yet: the first offer, or an escalation when nobody is on duty.
    /// Returns whether anything was done.
    pub async fn route(
        &self,
        number: &TicketNumber,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await?;
        if !self.route_in(&mut tx, id, policy, now).await? {
            return Ok(false);
        }
        tx.commit().await?;
        self.committed();
        Ok(true)
    }

    /// [`Store::route`] inside the caller's transaction (a new ticket is
    /// routed in the transaction that creates it: one commit, not two).
    pub(super) async fn route_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: i64,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let ticket = self.routed(tx, id).await?;
        if !RoutingPolicy::routes(ticket.urgency) || !seeks_lawyer(ticket.state) {
            return Ok(false);
        }
        // A row closed when a correction made the ticket normal opens again.
        let inserted = sqlx::query(
            "INSERT INTO routing (ticket_id, status, round, attempts, due_at, updated_at) \
             VALUES ($1, 'offering', 1, 0, NULL, $2) ON CONFLICT (ticket_id) DO UPDATE \
             SET status = 'offering', round = routing.round + 1, attempts = 0, due_at = NULL, \
             updated_at = $2 WHERE routing.status = 'closed'",
        )
        .bind(id)
        .bind(ms(now))
        .execute(&mut **tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        // A new round: everyone on duty may be asked again.
        let row = sqlx::query("SELECT round FROM routing WHERE ticket_id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
        let round: i64 = get(&row, "round")?;
        self.offer_next(tx, &ticket, round, 0, policy, now).await?;
        Ok(true)
    }

    /// A ticket whose urgency no longer calls for offers (a correction made
    /// it normal): its pending offer is withdrawn and its routing ends in
    /// one transaction, so it is neither offered nor escalated again; it
    /// waits in the queue. Returns whether anything was running.
    pub async fn stop_offering(
        &self,
        number: &TicketNumber,
        why: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await?;
        let ticket = self.routed(&mut tx, id).await?;
        if RoutingPolicy::routes(ticket.urgency) {
            return Ok(false);
        }
        let status = sqlx::query("SELECT status FROM routing WHERE ticket_id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .map(|row| get::<String>(&row, "status"))
            .transpose()?;
        let running = matches!(status.as_deref(), Some("offering" | "escalated"));
        if !running {
            return Ok(false);
        }
        self.end_routing(&mut tx, id, ticket.state, why, actor, now)
            .await?;
        tx.commit().await?;
        self.committed();
        Ok(true)
    }

    /// Processes every routing timer due by `now`, each in its own
    /// transaction; returns how many were processed. On PostgreSQL the rows
    /// are claimed with `FOR UPDATE SKIP LOCKED`, so nodes share the work.
    ///
    /// A timer whose transaction waits out the lock timeout on a center's
    /// routing lock (a node frozen mid-transaction holding it) is left for
    /// the next pass with every other timer of that center: a stuck center
    /// costs the timers of a pass one lock timeout (and the unrouted sweep,
    /// [`Store::route_unrouted`], one more), and the other centers' run.
    pub async fn process_due(
        &self,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut processed = 0;
        let mut stuck = Stuck::default();
        loop {
            let mut tx = self.begin_write().await?;
            let claim = match self.backend {
                // The ticket's row is locked with the routing row, and
                // skipped if either is taken: every other writer (a move, an
                // acknowledgement) locks the ticket first, so the scheduler
                // must never wait on a ticket while holding its routing row.
                Backend::Postgres => format!(
                    "SELECT r.ticket_id, r.status, r.round, r.attempts, t.center FROM routing r \
                     JOIN tickets t ON t.id = r.ticket_id \
                     WHERE r.due_at IS NOT NULL AND r.due_at <= $1 AND {NOT_STUCK} \
                     ORDER BY r.due_at LIMIT 1 FOR UPDATE OF r, t SKIP LOCKED"
                ),
                // No lock timeouts: one writer at a time, nothing is stuck.
                Backend::Sqlite => "SELECT r.ticket_id, r.status, r.round, r.attempts, t.center \
                     FROM routing r JOIN tickets t ON t.id = r.ticket_id \
                     WHERE r.due_at IS NOT NULL AND r.due_at <= $1 ORDER BY r.due_at LIMIT 1"
                    .to_owned(),
            };
            let Some(row) = self.claim(&mut tx, &claim, &stuck, now).await? else {
                break;
            };
            let (ticket, center): (i64, String) = (get(&row, "ticket_id")?, get(&row, "center")?);
            let done = self.process_timer(&mut tx, &row, policy, now).await;
            if self.settle(tx, done, &mut stuck, ticket, &center).await? {
                processed += 1;
            }
        }
        // Reminders, half way to an offer's deadline, once each.
        loop {
            let mut tx = self.begin_write().await?;
            let claim = match self.backend {
                // As above: the ticket is locked with the offer, or skipped.
                Backend::Postgres => format!(
                    "SELECT o.id, o.ticket_id, o.lawyer_id, o.ack_deadline, t.center FROM offers o \
                     JOIN tickets t ON t.id = o.ticket_id \
                     WHERE o.state = 'pending' AND o.remind_at IS NOT NULL AND o.remind_at <= $1 \
                     AND {NOT_STUCK} ORDER BY o.remind_at LIMIT 1 FOR UPDATE OF o, t SKIP LOCKED"
                ),
                Backend::Sqlite => {
                    "SELECT o.id, o.ticket_id, o.lawyer_id, o.ack_deadline, t.center \
                     FROM offers o JOIN tickets t ON t.id = o.ticket_id \
                     WHERE o.state = 'pending' AND o.remind_at IS NOT NULL AND o.remind_at <= $1 \
                     ORDER BY o.remind_at LIMIT 1"
                        .to_owned()
                }
            };
            let Some(row) = self.claim(&mut tx, &claim, &stuck, now).await? else {
                return Ok(processed);
            };
            let (ticket, center): (i64, String) = (get(&row, "ticket_id")?, get(&row, "center")?);
            let done = self.process_reminder(&mut tx, &row, now).await;
            if self.settle(tx, done, &mut stuck, ticket, &center).await? {
                processed += 1;
            }
        }
    }

    /// Urgent tickets with no routing row (their routing was interrupted by
    /// a crash, or a correction made them urgent while a node was down):
    /// each routed now, as [`Store::route`] would, skipping stuck centers
    /// as [`Store::process_due`] does. Returns how many were routed.
    pub async fn route_unrouted(
        &self,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.center FROM tickets t \
             WHERE t.urgency IN ('critical', 'urgent', 'expired') \
             AND t.state IN ('consultation', 'application', 'accepted') \
             AND NOT EXISTS (SELECT 1 FROM routing r WHERE r.ticket_id = t.id) ORDER BY t.id LIMIT 500",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut routed = 0;
        let mut stuck = Stuck::default();
        for row in rows {
            let (id, center): (i64, String) = (get(&row, "id")?, get(&row, "center")?);
            if stuck.centers.contains(&center) {
                continue;
            }
            let mut tx = self.begin_write().await?;
            match self.route_in(&mut tx, id, policy, now).await {
                Ok(false) => tx.rollback().await?,
                done => {
                    if self
                        .settle(tx, done.map(drop), &mut stuck, id, &center)
                        .await?
                    {
                        routed += 1;
                    }
                }
            }
        }
        Ok(routed)
    }

    /// Ends a scheduler transaction on ticket `ticket` of `center`: commits
    /// what `done` did (true), or rolls back a lock timeout, noted in
    /// `stuck` for the rest of the pass (false); any other error is the
    /// pass's.
    async fn settle(
        &self,
        tx: super::WriteTx,
        done: Result<(), StoreError>,
        stuck: &mut Stuck,
        ticket: i64,
        center: &str,
    ) -> Result<bool, StoreError> {
        match done {
            Ok(()) => {
                tx.commit().await?;
                self.committed();
                Ok(true)
            }
            Err(e) if stuck.add(&e, ticket, center) => {
                tx.rollback().await?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The next row of a scheduler's `claim` due by `now`, leaving out what
    /// is `stuck` (PostgreSQL's claims bind it as $2 and $3).
    async fn claim(
        &self,
        tx: &mut Transaction<'static, Any>,
        claim: &str,
        stuck: &Stuck,
        now: DateTime<Utc>,
    ) -> Result<Option<AnyRow>, StoreError> {
        let mut query = sqlx::query(AssertSqlSafe(claim)).bind(ms(now));
        if self.backend == Backend::Postgres {
            let (centers, tickets) = stuck.as_json()?;
            query = query.bind(centers).bind(tickets);
        }
        Ok(query.fetch_optional(&mut **tx).await?)
    }

    /// One claimed routing timer (`row`), inside its transaction.
    async fn process_timer(
        &self,
        tx: &mut Transaction<'static, Any>,
        row: &AnyRow,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let ticket_id: i64 = get(row, "ticket_id")?;
        let status: String = get(row, "status")?;
        let status = RoutingStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("routing status `{status}`")))?;
        let round: i64 = get(row, "round")?;
        let attempts: i64 = get(row, "attempts")?;
        let ticket = self.routed(tx, ticket_id).await?;
        if !seeks_lawyer(ticket.state)
            && matches!(status, RoutingStatus::Offering | RoutingStatus::Escalated)
        {
            // The ticket left routing without ending it (a row written
            // before moves ended routing): end it now, offer nothing.
            let why = format!("the ticket is {}", ticket.state);
            self.end_routing(tx, ticket_id, ticket.state, &why, ROUTING_ACTOR, now)
                .await?;
            if ticket.state == TicketState::Assigned {
                self.own(tx, ticket_id, Some(now + policy.start_within), now)
                    .await?;
            }
            return Ok(());
        }
        match status {
            RoutingStatus::Closed => {
                sqlx::query(
                    "UPDATE routing SET due_at = NULL, updated_at = $2 WHERE ticket_id = $1",
                )
                .bind(ticket_id)
                .bind(ms(now))
                .execute(&mut **tx)
                .await?;
            }
            RoutingStatus::Offering => {
                self.expire_pending(tx, &ticket, now).await?;
                self.offer_next(tx, &ticket, round, attempts, policy, now)
                    .await?;
            }
            RoutingStatus::Escalated => {
                // A new round: everyone on duty may be asked again.
                self.offer_next(tx, &ticket, round + 1, 0, policy, now)
                    .await?;
            }
            RoutingStatus::Owned => {
                // The bound for starting the case has passed.
                if ticket.state == TicketState::Assigned {
                    insert_event(
                        tx,
                        ticket_id,
                        EventKind::StartOverdue,
                        ROUTING_ACTOR,
                        now,
                        EventDetail {
                            note: Some("assigned but not started in time; supervisors alerted"),
                            ..EventDetail::default()
                        },
                    )
                    .await?;
                }
                sqlx::query(
                    "UPDATE routing SET due_at = NULL, updated_at = $2 WHERE ticket_id = $1",
                )
                .bind(ticket_id)
                .bind(ms(now))
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }

    /// One claimed reminder (`row`, a pending offer), inside its
    /// transaction: the lawyer's stream is told, once; an offer whose ticket
    /// left routing without ending it is withdrawn instead.
    async fn process_reminder(
        &self,
        tx: &mut Transaction<'static, Any>,
        row: &AnyRow,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let offer: i64 = get(row, "id")?;
        let lawyer: String = get(row, "lawyer_id")?;
        let deadline = millis(get(row, "ack_deadline")?)?;
        let ticket_id: i64 = get(row, "ticket_id")?;
        let state = self.locked_state(tx, ticket_id).await?;
        if !seeks_lawyer(state) {
            let why = format!("the ticket is {state}");
            self.lock_load_centers(tx, ticket_id, None).await?;
            return self
                .end_routing(tx, ticket_id, state, &why, ROUTING_ACTOR, now)
                .await;
        }
        sqlx::query("UPDATE offers SET remind_at = NULL WHERE id = $1")
            .bind(offer)
            .execute(&mut **tx)
            .await?;
        let note = format!("acknowledge by {}", hotline_domain::shown_time(deadline));
        self.offer_event(
            tx,
            ticket_id,
            EventKind::OfferReminder,
            ROUTING_ACTOR,
            &lawyer,
            Some(&note),
            now,
        )
        .await?;
        Ok(())
    }

    /// The lawyer takes the offer, in one transaction. What that means
    /// depends on the ticket: a critical application gets provisional aid
    /// (art. 44) with the lawyer assigned; an accepted ticket is assigned;
    /// anything else (an urgent or expired application, a consultation)
    /// gets the lawyer as its owner and no decision.
    pub async fn acknowledge(
        &self,
        number: &TicketNumber,
        lawyer: &str,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<Result<(), RosterError>, StoreError> {
        let id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await?;
        let taken = self
            .acknowledge_in(&mut tx, id, lawyer, None, policy, now)
            .await?;
        if taken.is_ok() {
            tx.commit().await?;
            self.committed();
        }
        Ok(taken)
    }

    /// [`Store::acknowledge`] within `tx`; `via` names the channel (`by
    /// phone`) in the event when it is not the lawyer's own tools.
    pub(super) async fn acknowledge_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: i64,
        lawyer: &str,
        via: Option<&str>,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<Result<(), RosterError>, StoreError> {
        let ticket = self.routed(tx, id).await?;
        let Some(offer_id) = self.pending_offer_of(tx, id, Some(lawyer)).await? else {
            return Ok(Err(RosterError::NoOffer {
                ticket: ticket.number.to_string(),
                lawyer: lawyer.to_owned(),
            }));
        };
        self.decide_offer(tx, offer_id, OfferState::Acknowledged, None, now)
            .await?;
        self.offer_event(
            tx,
            id,
            EventKind::OfferAcknowledged,
            lawyer,
            lawyer,
            via,
            now,
        )
        .await?;
        let why = match via {
            Some(via) => format!("took the offer as the duty lawyer {lawyer} ({via})"),
            None => format!("took the offer as the duty lawyer {lawyer}"),
        };
        self.take(tx, &ticket, lawyer, &why, ROUTING_ACTOR, policy, now)
            .await?;
        Ok(Ok(()))
    }

    /// The lawyer declines the offer, with a reason; the next candidate is
    /// asked at once.
    pub async fn decline(
        &self,
        number: &TicketNumber,
        lawyer: &str,
        reason: &str,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<Result<(), RosterError>, StoreError> {
        let id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await?;
        let declined = self
            .decline_in(&mut tx, id, lawyer, reason, policy, now)
            .await?;
        if declined.is_ok() {
            tx.commit().await?;
            self.committed();
        }
        Ok(declined)
    }

    /// [`Store::decline`] within `tx`.
    pub(super) async fn decline_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: i64,
        lawyer: &str,
        reason: &str,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<Result<(), RosterError>, StoreError> {
        let ticket = self.routed(tx, id).await?;
        let Some(offer_id) = self.pending_offer_of(tx, id, Some(lawyer)).await? else {
            return Ok(Err(RosterError::NoOffer {
                ticket: ticket.number.to_string(),
                lawyer: lawyer.to_owned(),
            }));
        };
        self.decide_offer(tx, offer_id, OfferState::Declined, Some(reason), now)
            .await?;
        self.offer_event(
            tx,
            id,
            EventKind::OfferDeclined,
            lawyer,
            lawyer,
            Some(reason),
            now,
        )
        .await?;
        let row = sqlx::query("SELECT round, attempts FROM routing WHERE ticket_id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
        let (round, attempts) = (get::<i64>(&row, "round")?, get::<i64>(&row, "attempts")?);
        self.offer_next(tx, &ticket, round, attempts, policy, now)
            .await?;
        Ok(Ok(()))
    }

    /// The queue of tickets waiting to be pulled (not offered: `normal`
    /// urgency, or none), open and unassigned: green-channel groups first,
    /// then by the art. 43 decision date, then oldest first.
    pub async fn queue(&self, center: &str, limit: i64) -> Result<Vec<TicketNumber>, StoreError> {
        let rows = sqlx::query(
            "SELECT number FROM tickets WHERE center = $1 AND assigned_lawyer IS NULL \
             AND state IN ('consultation', 'application', 'accepted') \
             AND (urgency IS NULL OR urgency = 'normal') \
             ORDER BY CASE WHEN priority_group = 'none' THEN 1 ELSE 0 END, \
             COALESCE(decision_due, '9999-12-31'), id LIMIT $2",
        )
        .bind(center)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| parse(&get::<String>(r, "number")?, TicketNumber::parse))
            .collect()
    }

    /// A lawyer (or a supervisor for them) takes a ticket from the queue:
    /// assigned if the centre has accepted it, else owned (no decision).
    pub async fn pull(
        &self,
        number: &TicketNumber,
        lawyer: &str,
        actor: &str,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<Result<(), RosterError>, StoreError> {
        let id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await?;
        let ticket = self.routed(&mut tx, id).await?;
        let known = sqlx::query("SELECT center FROM lawyers WHERE id = $1")
            .bind(lawyer)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(known) = known else {
            return Ok(Err(RosterError::UnknownLawyer(lawyer.to_owned())));
        };
        if self.pending_offer_of(&mut tx, id, None).await?.is_some() {
            return Ok(Err(RosterError::Offered(number.to_string())));
        }
        // Only what waits for a lawyer, in the lawyer's own center: never a
        // case another lawyer has, nor a closed one.
        let waiting = seeks_lawyer(ticket.state)
            && super::tickets::assigned_lawyer(&mut tx, id)
                .await?
                .is_none()
            && get::<String>(&known, "center")? == ticket.center;
        if !waiting {
            return Ok(Err(RosterError::NotInQueue(number.to_string())));
        }
        let why = format!("pulled from the queue for {lawyer}");
        self.take(&mut tx, &ticket, lawyer, &why, actor, policy, now)
            .await?;
        tx.commit().await?;
        self.committed();
        Ok(Ok(()))
    }

    /// The lawyer takes the ticket (an acknowledged offer, or a pull from
    /// the queue). A critical application gets provisional aid (art. 44)
    /// with the lawyer assigned; an accepted ticket is assigned to them,
    /// with the bound for starting the case as its routing timer. Any other
    /// (an urgent, expired or normal application, a consultation) gets them
    /// as its owner: the state and the centre's decision stay as they are.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn take(
        &self,
        tx: &mut Transaction<'static, Any>,
        ticket: &Routed,
        lawyer: &str,
        why: &str,
        actor: &str,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (id, from) = (ticket.id, ticket.state);
        if from == TicketState::Application && ticket.urgency == Some(Urgency::Critical) {
            let mv = Move {
                reason: Some(format!("{PROVISIONAL_REASON}; {why}")),
                lawyer: Some(lawyer.to_owned()),
                ..Move::default()
            };
            return self
                .transition_locked(tx, id, from, TicketState::Provisional, &mv, actor, now)
                .await;
        }
        if from == TicketState::Accepted {
            let mv = Move {
                lawyer: Some(lawyer.to_owned()),
                reason: Some(why.to_owned()),
                ..Move::default()
            };
            self.transition_locked(tx, id, from, TicketState::Assigned, &mv, actor, now)
                .await?;
            return self.own(tx, id, Some(now + policy.start_within), now).await;
        }
        let old = assigned_lawyer(tx, id).await?;
        sqlx::query("UPDATE tickets SET assigned_lawyer = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(lawyer)
            .bind(ms(now))
            .execute(&mut **tx)
            .await?;
        let changes = [FieldChange {
            field: "assigned_lawyer".into(),
            old,
            new: Some(lawyer.to_owned()),
        }];
        let note = format!("{lawyer} owns the {from}; nothing is decided by it");
        insert_event(
            tx,
            id,
            EventKind::Owned,
            actor,
            now,
            EventDetail {
                reason: Some(why),
                changes: &changes,
                note: Some(&note),
                lawyer: Some(lawyer),
                ..EventDetail::default()
            },
        )
        .await?;
        self.own(tx, id, None, now).await
    }

    /// Marks the ticket's routing row owned (creating it if the ticket was
    /// never routed), with `due` as the bound for starting the case.
    pub(super) async fn own(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: i64,
        due: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO routing (ticket_id, status, round, attempts, due_at, updated_at) \
             VALUES ($1, 'owned', 0, 0, $2, $3) ON CONFLICT (ticket_id) DO UPDATE \
             SET status = 'owned', due_at = $2, updated_at = $3",
        )
        .bind(id)
        .bind(due.map(ms))
        .bind(ms(now))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Ends the routing of a ticket that stopped seeking a lawyer (`to`),
    /// inside the transaction that moved it: the pending offer is withdrawn
    /// with an event its lawyer's stream shows, and the routing row stops
    /// being due (closed, or owned when the ticket was assigned).
    pub(super) async fn end_routing(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: i64,
        to: TicketState,
        why: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let pending = sqlx::query(
            "SELECT id, lawyer_id FROM offers WHERE ticket_id = $1 AND state = 'pending'",
        )
        .bind(id)
        .fetch_all(&mut **tx)
        .await?;
        for row in pending {
            let lawyer: String = get(&row, "lawyer_id")?;
            self.decide_offer(tx, get(&row, "id")?, OfferState::Withdrawn, Some(why), now)
                .await?;
            self.offer_event(
                tx,
                id,
                EventKind::OfferWithdrawn,
                actor,
                &lawyer,
                Some(why),
                now,
            )
            .await?;
            tracing::info!(ticket_id = id, %lawyer, why, "offer withdrawn");
        }
        let status = if matches!(to, TicketState::Assigned | TicketState::Provisional) {
            RoutingStatus::Owned
        } else {
            RoutingStatus::Closed
        };
        sqlx::query(
            "UPDATE routing SET status = $2, due_at = NULL, updated_at = $3 WHERE ticket_id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(ms(now))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// A supervisor gives an assigned (or in-progress) ticket to another
    /// lawyer, with a reason. The event names the lawyer it was taken from,
    /// so their stream is told; an assigned ticket's bound for starting the
    /// case restarts for the new lawyer.
    #[allow(clippy::too_many_arguments)]
    pub async fn reassign(
        &self,
        number: &TicketNumber,
        to_lawyer: &str,
        reason: &str,
        actor: &str,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<Result<(), RosterError>, StoreError> {
        let id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await?;
        let state = self.locked_state(&mut tx, id).await?;
        let owner = assigned_lawyer(&mut tx, id).await?;
        // A ticket with a lawyer: assigned, in progress, under provisional
        // aid, or owned before any decision.
        let has_lawyer = matches!(
            state,
            TicketState::Assigned | TicketState::InProgress | TicketState::Provisional
        ) || (seeks_lawyer(state) && owner.is_some());
        if !has_lawyer {
            return Ok(Err(RosterError::NotReassignable {
                ticket: number.to_string(),
                state: state.to_string(),
            }));
        }
        let active = sqlx::query("SELECT active FROM lawyers WHERE id = $1")
            .bind(to_lawyer)
            .fetch_optional(&mut **tx)
            .await?;
        match active {
            None => return Ok(Err(RosterError::UnknownLawyer(to_lawyer.to_owned()))),
            Some(row) if get::<i64>(&row, "active")? == 0 => {
                return Ok(Err(RosterError::Inactive(to_lawyer.to_owned())))
            }
            Some(_) => {}
        }
        let old = owner;
        if old.as_deref() == Some(to_lawyer) {
            return Ok(Err(RosterError::AlreadyAssigned {
                ticket: number.to_string(),
                lawyer: to_lawyer.to_owned(),
            }));
        }
        self.lock_load_centers(&mut tx, id, Some(to_lawyer)).await?;
        sqlx::query("UPDATE tickets SET assigned_lawyer = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(to_lawyer)
            .bind(ms(now))
            .execute(&mut **tx)
            .await?;
        let changes = [FieldChange {
            field: "assigned_lawyer".into(),
            old: old.clone(),
            new: Some(to_lawyer.to_owned()),
        }];
        let note = format!(
            "reassigned from {} to {to_lawyer}",
            old.as_deref().unwrap_or("nobody")
        );
        // One event per lawyer, so each one's stream is told.
        insert_event(
            &mut tx,
            id,
            EventKind::Reassigned,
            actor,
            now,
            EventDetail {
                reason: Some(reason),
                changes: &changes,
                note: Some(&note),
                lawyer: old.as_deref(),
                ..EventDetail::default()
            },
        )
        .await?;
        insert_event(
            &mut tx,
            id,
            EventKind::Assigned,
            actor,
            now,
            EventDetail {
                reason: Some(reason),
                note: Some(&note),
                lawyer: Some(to_lawyer),
                ..EventDetail::default()
            },
        )
        .await?;
        if state == TicketState::Assigned {
            self.own(&mut tx, id, Some(now + policy.start_within), now)
                .await?;
        }
        tx.commit().await?;
        self.committed();
        tracing::info!(ticket = %number, to = to_lawyer, "reassigned");
        Ok(Ok(()))
    }

    /// The lawyer's open tickets (owned, provisional, assigned or in
    /// progress), oldest first.
    pub async fn tickets_of(&self, lawyer: &str) -> Result<Vec<TicketNumber>, StoreError> {
        let rows = sqlx::query(
            "SELECT number FROM tickets WHERE assigned_lawyer = $1 \
             AND state NOT IN ('rejected', 'closed') ORDER BY id",
        )
        .bind(lawyer)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| parse(&get::<String>(r, "number")?, TicketNumber::parse))
            .collect()
    }

    /// Offers waiting for `lawyer`'s answer.
    pub async fn pending_offers(&self, lawyer: &str) -> Result<Vec<Offer>, StoreError> {
        let sql = format!(
            "SELECT {OFFER_COLUMNS} FROM offers o JOIN tickets t ON t.id = o.ticket_id \
             WHERE o.lawyer_id = $1 AND o.state = 'pending' ORDER BY o.id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(lawyer)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(offer_from_row).collect()
    }

    /// Every offer of a ticket, oldest first.
    pub async fn offers(&self, number: &TicketNumber) -> Result<Vec<Offer>, StoreError> {
        let id = self.ticket_id(number).await?;
        let sql = format!(
            "SELECT {OFFER_COLUMNS} FROM offers o JOIN tickets t ON t.id = o.ticket_id \
             WHERE o.ticket_id = $1 ORDER BY o.id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(offer_from_row).collect()
    }

    /// The tickets with these numbers (as [`Store::tickets_by_number`])
    /// and every offer of theirs to `lawyer`, oldest first: what a stream
    /// needs to show its offer events and state their deadlines. The
    /// offers are read by the tickets' ids and the lawyer, both bounding
    /// the `(lawyer_id, ticket_id)` index: joined to the numbers instead, a
    /// planner whose statistics predate the day's offers walked all of the
    /// lawyer's.
    pub async fn tickets_and_offers_to(
        &self,
        lawyer: &str,
        numbers: &[TicketNumber],
    ) -> Result<(Vec<Ticket>, Vec<Offer>), StoreError> {
        let tickets = self.hydrated_by_number(numbers).await?;
        if tickets.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let sql = format!(
            "SELECT {OFFER_COLUMNS} FROM offers o JOIN tickets t ON t.id = o.ticket_id \
             WHERE o.lawyer_id = $1 AND o.ticket_id IN ({}) ORDER BY o.id",
            placeholders(2, tickets.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str())).bind(lawyer);
        for (id, _) in &tickets {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let offers = rows.iter().map(offer_from_row).collect::<Result<_, _>>()?;
        Ok((tickets.into_iter().map(|(_, t)| t).collect(), offers))
    }

    /// Locks the ticket, and the routing locks of the centers whose loads
    /// routing may change for it ([`Store::lock_load_centers`]: before any
    /// offer or assignment of the transaction changes one), and reads what
    /// routing needs of it. A lawyer who takes the ticket from the queue is
    /// of its center, and one who takes an offer has it pending.
    pub(super) async fn routed(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: i64,
    ) -> Result<Routed, StoreError> {
        let state = self.locked_state(tx, id).await?;
        self.lock_load_centers(tx, id, None).await?;
        let row = sqlx::query(
            "SELECT number, urgency, center, matter, region, language FROM tickets WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
        Ok(Routed {
            id,
            number: parse(&get::<String>(&row, "number")?, TicketNumber::parse)?,
            state,
            urgency: get::<Option<String>>(&row, "urgency")?
                .map(|u| parse(&u, Urgency::parse))
                .transpose()?,
            center: get(&row, "center")?,
            need: Need {
                matter: get(&row, "matter")?,
                region: get(&row, "region")?,
                language: get(&row, "language")?,
            },
        })
    }

    pub(super) async fn pending_offer_of(
        &self,
        tx: &mut Transaction<'static, Any>,
        ticket_id: i64,
        lawyer: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT id, lawyer_id FROM offers WHERE ticket_id = $1 AND state = 'pending'",
        )
        .bind(ticket_id)
        .fetch_optional(&mut **tx)
        .await?;
        match row {
            Some(row)
                if lawyer
                    .is_none_or(|l| get::<String>(&row, "lawyer_id").is_ok_and(|x| x == l)) =>
            {
                Ok(Some(get(&row, "id")?))
            }
            _ => Ok(None),
        }
    }

    pub(super) async fn decide_offer(
        &self,
        tx: &mut Transaction<'static, Any>,
        offer_id: i64,
        state: OfferState,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE offers SET state = $2, reason = $3, decided_at = $4, remind_at = NULL \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(offer_id)
        .bind(state.as_str())
        .bind(reason)
        .bind(ms(now))
        .execute(&mut **tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Corrupt(format!(
                "offer {offer_id} was decided twice"
            )));
        }
        Ok(())
    }

    /// Expires the ticket's pending offer if its deadline has passed.
    pub(super) async fn expire_pending(
        &self,
        tx: &mut Transaction<'static, Any>,
        ticket: &Routed,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let row = sqlx::query(
            "SELECT id, lawyer_id FROM offers WHERE ticket_id = $1 AND state = 'pending' \
             AND ack_deadline <= $2",
        )
        .bind(ticket.id)
        .bind(ms(now))
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(row) = row {
            let lawyer: String = get(&row, "lawyer_id")?;
            self.decide_offer(tx, get(&row, "id")?, OfferState::Expired, None, now)
                .await?;
            self.offer_event(
                tx,
                ticket.id,
                EventKind::OfferExpired,
                ROUTING_ACTOR,
                &lawyer,
                None,
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// Offers the ticket to the best candidate not yet asked in `round`, or
    /// escalates; updates the routing row's timer either way.
    pub(super) async fn offer_next(
        &self,
        tx: &mut Transaction<'static, Any>,
        ticket: &Routed,
        round: i64,
        attempts: i64,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let candidates = self.candidates(tx, &ticket.center, now).await?;
        let asked: Vec<String> =
            sqlx::query("SELECT lawyer_id FROM offers WHERE ticket_id = $1 AND round = $2")
                .bind(ticket.id)
                .bind(round)
                .fetch_all(&mut **tx)
                .await?
                .iter()
                .map(|r| get::<String>(r, "lawyer_id"))
                .collect::<Result<_, _>>()?;
        let ranked = policy::rank(&ticket.need, &candidates, &asked);
        match policy::next_step(
            policy,
            ticket.urgency,
            attempts,
            ranked.first().copied(),
            now,
        ) {
            Step::Offer {
                lawyer,
                ack_deadline,
            } => {
                let offer = sqlx::query(
                    "INSERT INTO offers (ticket_id, lawyer_id, round, state, offered_at, ack_deadline, \
                     remind_at) VALUES ($1, $2, $3, 'pending', $4, $5, $6) RETURNING id",
                )
                .bind(ticket.id)
                .bind(&lawyer)
                .bind(round)
                .bind(ms(now))
                .bind(ms(ack_deadline))
                .bind(ms(now + (ack_deadline - now) / 2))
                .fetch_one(&mut **tx)
                .await?;
                if policy.paging.pages(ticket.urgency) {
                    // The lawyer's phone rings with the offer (an IVR node
                    // takes the page); their other tools see it as well.
                    self.schedule_page(
                        tx,
                        &policy.paging,
                        ticket.id,
                        get(&offer, "id")?,
                        &lawyer,
                        1,
                        now,
                    )
                    .await?;
                }
                sqlx::query(
                    "UPDATE routing SET status = 'offering', round = $2, attempts = $3, \
                     due_at = $4, updated_at = $5 WHERE ticket_id = $1",
                )
                .bind(ticket.id)
                .bind(round)
                .bind(attempts + 1)
                .bind(ms(ack_deadline))
                .bind(ms(now))
                .execute(&mut **tx)
                .await?;
                let note = offer_note(ack_deadline);
                self.offer_event(
                    tx,
                    ticket.id,
                    EventKind::Offered,
                    ROUTING_ACTOR,
                    &lawyer,
                    Some(&note),
                    now,
                )
                .await?;
                tracing::info!(ticket = %ticket.number, %lawyer, round, "offered");
            }
            Step::Escalate { next_round, why } => {
                sqlx::query(
                    "UPDATE routing SET status = 'escalated', round = $2, attempts = $3, \
                     due_at = $4, updated_at = $5 WHERE ticket_id = $1",
                )
                .bind(ticket.id)
                .bind(round)
                .bind(attempts)
                .bind(ms(next_round))
                .bind(ms(now))
                .execute(&mut **tx)
                .await?;
                let note = escalation_note(why, next_round);
                insert_event(
                    tx,
                    ticket.id,
                    EventKind::Escalated,
                    ROUTING_ACTOR,
                    now,
                    EventDetail {
                        note: Some(&note),
                        ..EventDetail::default()
                    },
                )
                .await?;
                tracing::warn!(ticket = %ticket.number, round, why, "escalated");
            }
        }
        Ok(())
    }

    /// On-duty lawyers of the center with their load (open tickets and
    /// pending offers). The caller holds the center's routing lock (taken
    /// by [`Store::routed`] with the ticket's).
    pub(super) async fn candidates(
        &self,
        tx: &mut Transaction<'static, Any>,
        center: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Candidate>, StoreError> {
        let sql = format!(
            "SELECT {CANDIDATE_COLUMNS} FROM lawyers l {LOAD_JOIN} WHERE l.center = $1 AND l.active = 1 \
             AND EXISTS (SELECT 1 FROM shifts s WHERE s.lawyer_id = l.id AND s.starts_at <= $2 \
             AND s.ends_at > $2) ORDER BY l.id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(center)
            .bind(ms(now))
            .fetch_all(&mut **tx)
            .await?;
        rows.iter().map(candidate_from_row).collect()
    }

    /// Routing decisions of one center are made one at a time, across
    /// every node: two transactions that read the same loads would both
    /// offer to the lawyer with room for one more. On PostgreSQL a
    /// transaction-scoped advisory lock per center (the key the load
    /// triggers of 0016 take too), taken in a statement of its own so that
    /// the roster read after it (a new snapshot, READ COMMITTED) sees the
    /// offers of the transaction it waited for. SQLite has one writer at a
    /// time already.
    ///
    /// Every transaction takes all the center locks it will need at once,
    /// before it changes any lawyer's load, in the order of their keys (not
    /// of their names: two names may share a key, and a shared key is one
    /// lock): a load row is then never held by one transaction while it
    /// waits for a center another holds. These are the centers of a batch's
    /// new tickets.
    pub(super) async fn lock_centers(
        &self,
        tx: &mut Transaction<'static, Any>,
        centers: &[&str],
    ) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres || centers.is_empty() {
            return Ok(());
        }
        let names = serde_json::to_string(centers)
            .map_err(|e| StoreError::Corrupt(format!("center names as JSON: {e}")))?;
        // One name per key, in key order.
        let rows = sqlx::query(
            "SELECT MIN(name) AS center FROM json_array_elements_text($1::json) AS c(name) \
             GROUP BY hashtext('hotline-routing:' || name) \
             ORDER BY hashtext('hotline-routing:' || name)",
        )
        .bind(names)
        .fetch_all(&mut **tx)
        .await?;
        for row in rows {
            self.lock_center(tx, get(&row, "center")?).await?;
        }
        Ok(())
    }

    /// One center's routing lock, after the locks of the centers before it
    /// in key order; a lock timeout names the center another node holds.
    async fn lock_center(
        &self,
        tx: &mut Transaction<'static, Any>,
        center: String,
    ) -> Result<(), StoreError> {
        let locked =
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('hotline-routing:' || $1))")
                .bind(&center)
                .execute(&mut **tx)
                .await;
        match locked.map_err(StoreError::from) {
            Ok(_) => Ok(()),
            Err(e) if e.is_lock_timeout() => Err(StoreError::CenterBusy(center)),
            Err(e) => Err(e),
        }
    }

    /// [`Store::lock_centers`] for a transaction on an existing ticket, right
    /// after the ticket's row lock: the centers of the ticket (its new
    /// offers go to its center's lawyers), of its lawyer, of every lawyer
    /// with a pending offer for it (withdrawn, expired or taken), and of
    /// `new_lawyer`, whom the move gives it. A load row of a lawyer of
    /// another center may be changed by a routing transaction of that
    /// center in the other order (an expired offer to one, the next offer
    /// to the other): holding that center first makes one wait for the
    /// other instead of each holding one row and waiting for the other.
    pub(super) async fn lock_load_centers(
        &self,
        tx: &mut Transaction<'static, Any>,
        ticket_id: i64,
        new_lawyer: Option<&str>,
    ) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        // One name per key, in key order; then each lock on its own, so a
        // lock timeout says whose center another node holds.
        let rows = sqlx::query(
            "SELECT MIN(center) AS center FROM ( \
             SELECT center FROM tickets WHERE id = $1 \
             UNION ALL SELECT l.center FROM tickets t JOIN lawyers l ON l.id = t.assigned_lawyer \
             WHERE t.id = $1 \
             UNION ALL SELECT l.center FROM offers o JOIN lawyers l ON l.id = o.lawyer_id \
             WHERE o.ticket_id = $1 AND o.state = 'pending' \
             UNION ALL SELECT center FROM lawyers WHERE id = $2) AS centers \
             GROUP BY hashtext('hotline-routing:' || center) \
             ORDER BY hashtext('hotline-routing:' || center)",
        )
        .bind(ticket_id)
        .bind(new_lawyer)
        .fetch_all(&mut **tx)
        .await?;
        for row in rows {
            self.lock_center(tx, get(&row, "center")?).await?;
        }
        Ok(())
    }

    /// The center's lawyers on duty at any moment of `[from, to]`, one
    /// [`RosterShift`] per shift that covers part of it, so a batch of
    /// tickets created at slightly different moments reads the roster once
    /// and picks each ticket's candidates at its own moment. Their phones
    /// come along: a first offer that pages needs them, and the lawyer's
    /// row is read here anyway. The caller holds the center's routing lock
    /// ([`Store::lock_centers`]).
    pub(super) async fn candidates_between(
        &self,
        tx: &mut Transaction<'static, Any>,
        center: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<RosterShift>, StoreError> {
        let sql = format!(
            "SELECT {CANDIDATE_COLUMNS}, l.phone, l.sip_uri, s.starts_at, s.ends_at \
             FROM lawyers l {LOAD_JOIN} \
             JOIN shifts s ON s.lawyer_id = l.id \
             WHERE l.center = $1 AND l.active = 1 AND s.starts_at <= $3 AND s.ends_at > $2 \
             ORDER BY l.id, s.starts_at"
        );
        let rows = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(center)
            .bind(ms(from))
            .bind(ms(to))
            .fetch_all(&mut **tx)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(RosterShift {
                    candidate: candidate_from_row(row)?,
                    starts_at: get(row, "starts_at")?,
                    ends_at: get(row, "ends_at")?,
                    phone: get(row, "phone")?,
                    sip_uri: get(row, "sip_uri")?,
                })
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn offer_event(
        &self,
        tx: &mut Transaction<'static, Any>,
        ticket_id: i64,
        kind: EventKind,
        actor: &str,
        lawyer: &str,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let note = offer_event_note(lawyer, detail);
        let reason = matches!(kind, EventKind::OfferDeclined | EventKind::OfferWithdrawn)
            .then_some(detail)
            .flatten();
        insert_event(
            tx,
            ticket_id,
            kind,
            actor,
            now,
            EventDetail {
                reason,
                note: Some(&note),
                lawyer: Some(lawyer),
                ..EventDetail::default()
            },
        )
        .await?;
        Ok(())
    }
}
