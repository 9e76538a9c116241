//! Routing in the database: the roster, offers and the per-ticket routing
//! row whose `due_at` is its durable timer. Every decision is one
//! transaction that holds the ticket's lock, so each offer's outcome is
//! decided exactly once however many ticketing nodes run the scheduler.
//! `now` is always a parameter; SQL never reads a clock.

use chrono::{DateTime, Utc};
use hotline_domain::{TicketNumber, TicketState, Urgency};
use sqlx::any::AnyRow;
// Dynamic SQL here is built from constant fragments and `$n` placeholders,
// never from input: every value is bound.
use sqlx::{Any, AssertSqlSafe, Transaction};

use super::tickets::{event_from_row, insert_event, millis, parse, EventDetail};
use super::{get, placeholders, Backend, Store, StoreError};
use crate::routing::policy::{self, Candidate, Need, RoutingPolicy, Step};
use crate::routing::{Lawyer, Offer, OfferState, Problem, RosterError, RoutingStatus, Shift};
use crate::tickets::lifecycle::Move;
use crate::tickets::{EventKind, TicketEvent};

/// Who routing acts as in ticket histories.
pub const ROUTING_ACTOR: &str = "routing";

/// Why routing accepts a ticket on a lawyer's acknowledgement.
const ACCEPT_REASON: &str =
    "urgent case: legal aid given at once (Legal Aid Law art. 44); acknowledged by the duty lawyer";

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn lawyer_from_row(row: &AnyRow) -> Result<Lawyer, StoreError> {
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

fn offer_from_row(row: &AnyRow) -> Result<Offer, StoreError> {
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

const OFFER_COLUMNS: &str = "o.id, t.number, o.lawyer_id, o.round, o.state, o.offered_at, \
     o.ack_deadline, o.reason";

/// The facts of a ticket routing needs, read under its lock.
struct Routed {
    id: i64,
    number: TicketNumber,
    state: TicketState,
    urgency: Option<Urgency>,
    center: String,
    need: Need,
}

impl Store {
    /// Adds a lawyer, or updates the one with that id.
    pub async fn put_lawyer(&self, lawyer: &Lawyer, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO lawyers (id, center, name, phone, sip_uri, skills, regions, languages, \
             capacity, active, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO UPDATE SET center = $2, name = $3, phone = $4, sip_uri = $5, \
             skills = $6, regions = $7, languages = $8, capacity = $9, active = $10",
        )
        .bind(&lawyer.id)
        .bind(&lawyer.center)
        .bind(&lawyer.name)
        .bind(&lawyer.phone)
        .bind(&lawyer.sip_uri)
        .bind(lawyer.skills.join(","))
        .bind(lawyer.regions.join(","))
        .bind(lawyer.languages.join(","))
        .bind(lawyer.capacity)
        .bind(i64::from(lawyer.active))
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn lawyers(&self) -> Result<Vec<Lawyer>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, center, name, phone, sip_uri, skills, regions, languages, capacity, \
             active FROM lawyers ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(lawyer_from_row).collect()
    }

    /// Adds a shift; one that overlaps another shift of the lawyer is refused.
    pub async fn add_shift(
        &self,
        lawyer: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Result<Shift, RosterError>, StoreError> {
        let mut tx = self.begin_write().await?;
        let lock = match self.backend {
            Backend::Postgres => "SELECT id FROM lawyers WHERE id = $1 FOR UPDATE",
            Backend::Sqlite => "SELECT id FROM lawyers WHERE id = $1",
        };
        if sqlx::query(lock)
            .bind(lawyer)
            .fetch_optional(&mut **tx)
            .await?
            .is_none()
        {
            return Ok(Err(RosterError::UnknownLawyer(lawyer.to_owned())));
        }
        let overlap = sqlx::query(
            "SELECT starts_at, ends_at FROM shifts WHERE lawyer_id = $1 AND starts_at < $3 \
             AND ends_at > $2 LIMIT 1",
        )
        .bind(lawyer)
        .bind(ms(from))
        .bind(ms(to))
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(row) = overlap {
            return Ok(Err(RosterError::Overlap {
                lawyer: lawyer.to_owned(),
                from: from.to_rfc3339(),
                to: to.to_rfc3339(),
                other_from: millis(get(&row, "starts_at")?)?.to_rfc3339(),
                other_to: millis(get(&row, "ends_at")?)?.to_rfc3339(),
            }));
        }
        let row = sqlx::query(
            "INSERT INTO shifts (lawyer_id, starts_at, ends_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(lawyer)
        .bind(ms(from))
        .bind(ms(to))
        .fetch_one(&mut **tx)
        .await?;
        tx.commit().await?;
        self.committed();
        Ok(Ok(Shift {
            id: get(&row, "id")?,
            lawyer: lawyer.to_owned(),
            starts_at: from,
            ends_at: to,
        }))
    }

    /// Shifts not ended by `after`, by start.
    pub async fn shifts(&self, after: DateTime<Utc>) -> Result<Vec<Shift>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, lawyer_id, starts_at, ends_at FROM shifts WHERE ends_at > $1 \
             ORDER BY starts_at, id",
        )
        .bind(ms(after))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Shift {
                    id: get(r, "id")?,
                    lawyer: get(r, "lawyer_id")?,
                    starts_at: millis(get(r, "starts_at")?)?,
                    ends_at: millis(get(r, "ends_at")?)?,
                })
            })
            .collect()
    }

    /// Active lawyers of `center` with a shift covering `at`.
    pub async fn on_duty(
        &self,
        center: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Lawyer>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT l.id, l.center, l.name, l.phone, l.sip_uri, l.skills, l.regions, \
             l.languages, l.capacity, l.active FROM lawyers l JOIN shifts s ON s.lawyer_id = l.id \
             WHERE l.center = $1 AND l.active = 1 AND s.starts_at <= $2 AND s.ends_at > $2 \
             ORDER BY l.id",
        )
        .bind(center)
        .bind(ms(at))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(lawyer_from_row).collect()
    }

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
        let open = matches!(
            ticket.state,
            TicketState::Consultation | TicketState::Application | TicketState::Accepted
        );
        if !RoutingPolicy::routes(ticket.urgency) || !open {
            return Ok(false);
        }
        let inserted = sqlx::query(
            "INSERT INTO routing (ticket_id, status, round, attempts, due_at, updated_at) \
             VALUES ($1, 'offering', 1, 0, NULL, $2) ON CONFLICT (ticket_id) DO NOTHING",
        )
        .bind(id)
        .bind(ms(now))
        .execute(&mut **tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        self.offer_next(tx, &ticket, 1, 0, policy, now).await?;
        Ok(true)
    }

    /// Processes every routing timer due by `now`, each in its own
    /// transaction; returns how many were processed. On PostgreSQL the rows
    /// are claimed with `FOR UPDATE SKIP LOCKED`, so nodes share the work.
    pub async fn process_due(
        &self,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut processed = 0;
        loop {
            let mut tx = self.begin_write().await?;
            let claim = match self.backend {
                Backend::Postgres => {
                    "SELECT ticket_id, status, round, attempts FROM routing \
                     WHERE due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at LIMIT 1 \
                     FOR UPDATE SKIP LOCKED"
                }
                Backend::Sqlite => {
                    "SELECT ticket_id, status, round, attempts FROM routing \
                     WHERE due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at LIMIT 1"
                }
            };
            let Some(row) = sqlx::query(claim)
                .bind(ms(now))
                .fetch_optional(&mut **tx)
                .await?
            else {
                break;
            };
            let ticket_id: i64 = get(&row, "ticket_id")?;
            let status: String = get(&row, "status")?;
            let status = RoutingStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("routing status `{status}`")))?;
            let round: i64 = get(&row, "round")?;
            let attempts: i64 = get(&row, "attempts")?;
            let ticket = self.routed(&mut tx, ticket_id).await?;
            match status {
                RoutingStatus::Offering => {
                    self.expire_pending(&mut tx, &ticket, now).await?;
                    self.offer_next(&mut tx, &ticket, round, attempts, policy, now)
                        .await?;
                }
                RoutingStatus::Escalated => {
                    // A new round: everyone on duty may be asked again.
                    self.offer_next(&mut tx, &ticket, round + 1, 0, policy, now)
                        .await?;
                }
                RoutingStatus::Owned => {
                    // The bound for starting the case has passed.
                    if ticket.state == TicketState::Assigned {
                        insert_event(
                            &mut tx,
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
            tx.commit().await?;
            self.committed();
            processed += 1;
        }
        // Reminders, half way to an offer's deadline, once each.
        loop {
            let mut tx = self.begin_write().await?;
            let claim = match self.backend {
                Backend::Postgres => {
                    "SELECT id, ticket_id, lawyer_id, ack_deadline FROM offers \
                     WHERE state = 'pending' AND remind_at IS NOT NULL AND remind_at <= $1 \
                     ORDER BY remind_at LIMIT 1 FOR UPDATE SKIP LOCKED"
                }
                Backend::Sqlite => {
                    "SELECT id, ticket_id, lawyer_id, ack_deadline FROM offers \
                     WHERE state = 'pending' AND remind_at IS NOT NULL AND remind_at <= $1 \
                     ORDER BY remind_at LIMIT 1"
                }
            };
            let Some(row) = sqlx::query(claim)
                .bind(ms(now))
                .fetch_optional(&mut **tx)
                .await?
            else {
                return Ok(processed);
            };
            let offer: i64 = get(&row, "id")?;
            let lawyer: String = get(&row, "lawyer_id")?;
            let deadline = millis(get(&row, "ack_deadline")?)?;
            sqlx::query("UPDATE offers SET remind_at = NULL WHERE id = $1")
                .bind(offer)
                .execute(&mut **tx)
                .await?;
            let note = format!("acknowledge by {}", deadline.to_rfc3339());
            self.offer_event(
                &mut tx,
                get(&row, "ticket_id")?,
                EventKind::OfferReminder,
                ROUTING_ACTOR,
                &lawyer,
                Some(&note),
                now,
            )
            .await?;
            tx.commit().await?;
            self.committed();
            processed += 1;
        }
    }

    /// The lawyer takes the offer: in one transaction the ticket is accepted
    /// (if it was not yet) and assigned to them.
    pub async fn acknowledge(
        &self,
        number: &TicketNumber,
        lawyer: &str,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<Result<(), RosterError>, StoreError> {
        let id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await?;
        let ticket = self.routed(&mut tx, id).await?;
        let Some(offer_id) = self.pending_offer_of(&mut tx, id, Some(lawyer)).await? else {
            return Ok(Err(RosterError::NoOffer {
                ticket: number.to_string(),
                lawyer: lawyer.to_owned(),
            }));
        };
        self.decide_offer(&mut tx, offer_id, OfferState::Acknowledged, None, now)
            .await?;
        self.offer_event(
            &mut tx,
            id,
            EventKind::OfferAcknowledged,
            lawyer,
            lawyer,
            None,
            now,
        )
        .await?;
        self.take(
            &mut tx,
            id,
            ticket.state,
            lawyer,
            ACCEPT_REASON,
            ROUTING_ACTOR,
            policy,
            now,
        )
        .await?;
        tx.commit().await?;
        self.committed();
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
        let ticket = self.routed(&mut tx, id).await?;
        let Some(offer_id) = self.pending_offer_of(&mut tx, id, Some(lawyer)).await? else {
            return Ok(Err(RosterError::NoOffer {
                ticket: number.to_string(),
                lawyer: lawyer.to_owned(),
            }));
        };
        self.decide_offer(&mut tx, offer_id, OfferState::Declined, Some(reason), now)
            .await?;
        self.offer_event(
            &mut tx,
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
        self.offer_next(&mut tx, &ticket, round, attempts, policy, now)
            .await?;
        tx.commit().await?;
        self.committed();
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
    /// accepted if needed and assigned, in one transaction.
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
        let known = sqlx::query("SELECT id FROM lawyers WHERE id = $1")
            .bind(lawyer)
            .fetch_optional(&mut **tx)
            .await?;
        if known.is_none() {
            return Ok(Err(RosterError::UnknownLawyer(lawyer.to_owned())));
        }
        if self.pending_offer_of(&mut tx, id, None).await?.is_some() {
            return Ok(Err(RosterError::Offered(number.to_string())));
        }
        let reason = format!("pulled from the queue for {lawyer}");
        self.take(
            &mut tx,
            id,
            ticket.state,
            lawyer,
            &reason,
            actor,
            policy,
            now,
        )
        .await?;
        tx.commit().await?;
        self.committed();
        Ok(Ok(()))
    }

    /// The lawyer takes the ticket (an acknowledged offer, or a pull from
    /// the queue): accepted first if it is not yet, then assigned; its
    /// routing row owned, with the bound for starting the case as its timer.
    #[allow(clippy::too_many_arguments)]
    async fn take(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: i64,
        from: TicketState,
        lawyer: &str,
        accept_reason: &str,
        actor: &str,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = from;
        if matches!(state, TicketState::Application | TicketState::Consultation) {
            let mv = Move {
                reason: Some(accept_reason.to_owned()),
                ..Move::default()
            };
            self.transition_locked(tx, id, state, TicketState::Accepted, &mv, actor, now)
                .await?;
            state = TicketState::Accepted;
        }
        let mv = Move {
            lawyer: Some(lawyer.to_owned()),
            ..Move::default()
        };
        self.transition_locked(tx, id, state, TicketState::Assigned, &mv, actor, now)
            .await?;
        sqlx::query(
            "INSERT INTO routing (ticket_id, status, round, attempts, due_at, updated_at) \
             VALUES ($1, 'owned', 0, 0, $2, $3) ON CONFLICT (ticket_id) DO UPDATE \
             SET status = 'owned', due_at = $2, updated_at = $3",
        )
        .bind(id)
        .bind(ms(now + policy.start_within))
        .bind(ms(now))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Gives a shift to another lawyer (a swap), refused if it overlaps
    /// one of theirs.
    pub async fn reassign_shift(
        &self,
        shift: i64,
        lawyer: &str,
    ) -> Result<Result<Shift, RosterError>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(row) = sqlx::query("SELECT starts_at, ends_at FROM shifts WHERE id = $1")
            .bind(shift)
            .fetch_optional(&mut **tx)
            .await?
        else {
            return Ok(Err(RosterError::UnknownShift(shift)));
        };
        let (from, to) = (get::<i64>(&row, "starts_at")?, get::<i64>(&row, "ends_at")?);
        if sqlx::query("SELECT id FROM lawyers WHERE id = $1")
            .bind(lawyer)
            .fetch_optional(&mut **tx)
            .await?
            .is_none()
        {
            return Ok(Err(RosterError::UnknownLawyer(lawyer.to_owned())));
        }
        let overlap = sqlx::query(
            "SELECT starts_at, ends_at FROM shifts WHERE lawyer_id = $1 AND id <> $4 \
             AND starts_at < $3 AND ends_at > $2 LIMIT 1",
        )
        .bind(lawyer)
        .bind(from)
        .bind(to)
        .bind(shift)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(o) = overlap {
            return Ok(Err(RosterError::Overlap {
                lawyer: lawyer.to_owned(),
                from: millis(from)?.to_rfc3339(),
                to: millis(to)?.to_rfc3339(),
                other_from: millis(get(&o, "starts_at")?)?.to_rfc3339(),
                other_to: millis(get(&o, "ends_at")?)?.to_rfc3339(),
            }));
        }
        sqlx::query("UPDATE shifts SET lawyer_id = $2 WHERE id = $1")
            .bind(shift)
            .bind(lawyer)
            .execute(&mut **tx)
            .await?;
        tx.commit().await?;
        self.committed();
        Ok(Ok(Shift {
            id: shift,
            lawyer: lawyer.to_owned(),
            starts_at: millis(from)?,
            ends_at: millis(to)?,
        }))
    }

    /// The lawyer's open tickets (assigned or in progress), oldest first.
    pub async fn tickets_of(&self, lawyer: &str) -> Result<Vec<TicketNumber>, StoreError> {
        let rows = sqlx::query(
            "SELECT number FROM tickets WHERE assigned_lawyer = $1 \
             AND state IN ('assigned', 'in_progress') ORDER BY id",
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

    /// The id of the newest event, 0 when there is none.
    pub async fn latest_event_id(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS id FROM ticket_events")
            .fetch_one(&self.pool)
            .await?;
        get(&row, "id")
    }

    /// Events after the event `after` (0: from the start), at most `limit`,
    /// in the order streams deliver them; only `lawyer`'s offer events when
    /// given. Gap-safe on PostgreSQL: only events of transactions older than
    /// every running one are returned, in (transaction, id) order, so an
    /// event committed later never sorts before one already delivered.
    pub async fn events_after(
        &self,
        after: i64,
        lawyer: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TicketEvent>, StoreError> {
        let columns = "e.id, t.number, e.kind, e.actor, e.at, e.reason, e.from_state, \
             e.to_state, e.changes, e.note, e.lawyer";
        let filter = if lawyer.is_some() {
            "AND e.lawyer = $4"
        } else {
            "AND $4 = $4"
        };
        let rows = match self.backend {
            Backend::Sqlite => {
                let sql = format!(
                    "SELECT {columns} FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id \
                     WHERE e.id > $1 AND $2 = $2 {filter} ORDER BY e.id LIMIT $3"
                );
                sqlx::query(AssertSqlSafe(sql.as_str()))
                    .bind(after)
                    .bind(0_i64)
                    .bind(limit)
                    .bind(lawyer.unwrap_or_default())
                    .fetch_all(&self.pool)
                    .await?
            }
            Backend::Postgres => {
                let txid: i64 = if after > 0 {
                    match sqlx::query("SELECT txid FROM ticket_events WHERE id = $1")
                        .bind(after)
                        .fetch_optional(&self.pool)
                        .await?
                    {
                        Some(row) => get(&row, "txid")?,
                        None => 0,
                    }
                } else {
                    0
                };
                let sql = format!(
                    "SELECT {columns} FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id \
                     WHERE (e.txid, e.id) > ($2, $1) \
                     AND e.txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
                     {filter} ORDER BY e.txid, e.id LIMIT $3"
                );
                sqlx::query(AssertSqlSafe(sql.as_str()))
                    .bind(after)
                    .bind(txid)
                    .bind(limit)
                    .bind(lawyer.unwrap_or_default())
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(event_from_row).collect()
    }

    /// Every offer to `lawyer` of these tickets, oldest first: what a
    /// stream needs to state the deadlines its offer events announce.
    pub async fn offers_to(
        &self,
        lawyer: &str,
        numbers: &[TicketNumber],
    ) -> Result<Vec<Offer>, StoreError> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = placeholders(2, numbers.len());
        let sql = format!(
            "SELECT {OFFER_COLUMNS} FROM offers o JOIN tickets t ON t.id = o.ticket_id \
             WHERE o.lawyer_id = $1 AND t.number IN ({placeholders}) ORDER BY o.id"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str())).bind(lawyer);
        for number in numbers {
            query = query.bind(number.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(offer_from_row).collect()
    }

    /// Open urgent tickets with no routing row: routing them was
    /// interrupted (a crash between the create and the offer).
    pub async fn unrouted(&self) -> Result<Vec<TicketNumber>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.number FROM tickets t WHERE t.urgency IN ('critical', 'urgent', 'expired') \
             AND t.state IN ('consultation', 'application', 'accepted') \
             AND NOT EXISTS (SELECT 1 FROM routing r WHERE r.ticket_id = t.id) ORDER BY t.id LIMIT 500",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| parse(&get::<String>(r, "number")?, TicketNumber::parse))
            .collect()
    }

    /// The reconciliation check: urgent tickets nobody has, and offers the
    /// scheduler should have processed by `now - grace`.
    pub async fn check(
        &self,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> Result<Vec<Problem>, StoreError> {
        let mut problems = Vec::new();
        let rows = sqlx::query(
            "SELECT t.number, t.urgency FROM tickets t \
             WHERE t.urgency IN ('critical', 'urgent', 'expired') \
             AND t.state IN ('consultation', 'application', 'accepted') \
             AND t.assigned_lawyer IS NULL \
             AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.ticket_id = t.id AND o.state = 'pending') \
             AND NOT EXISTS (SELECT 1 FROM routing r WHERE r.ticket_id = t.id AND r.status = 'escalated') \
             ORDER BY t.id",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            problems.push(Problem::Unrouted {
                ticket: parse(&get::<String>(&row, "number")?, TicketNumber::parse)?,
                urgency: get(&row, "urgency")?,
            });
        }
        let rows = sqlx::query(
            "SELECT t.number, o.lawyer_id, o.ack_deadline FROM offers o \
             JOIN tickets t ON t.id = o.ticket_id \
             WHERE o.state = 'pending' AND o.ack_deadline < $1 ORDER BY o.id",
        )
        .bind(ms(now - grace))
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            problems.push(Problem::OverdueOffer {
                ticket: parse(&get::<String>(&row, "number")?, TicketNumber::parse)?,
                lawyer: get(&row, "lawyer_id")?,
                ack_deadline: millis(get(&row, "ack_deadline")?)?,
            });
        }
        Ok(problems)
    }

    /// Locks the ticket and reads what routing needs of it.
    async fn routed(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: i64,
    ) -> Result<Routed, StoreError> {
        let state = self.locked_state(tx, id).await?;
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

    async fn pending_offer_of(
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

    async fn decide_offer(
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
    async fn expire_pending(
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
    async fn offer_next(
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
                sqlx::query(
                    "INSERT INTO offers (ticket_id, lawyer_id, round, state, offered_at, ack_deadline, \
                     remind_at) VALUES ($1, $2, $3, 'pending', $4, $5, $6)",
                )
                .bind(ticket.id)
                .bind(&lawyer)
                .bind(round)
                .bind(ms(now))
                .bind(ms(ack_deadline))
                .bind(ms(now + (ack_deadline - now) / 2))
                .execute(&mut **tx)
                .await?;
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
                let note = format!("acknowledge by {}", ack_deadline.to_rfc3339());
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
                let note = format!(
                    "unowned, supervisors alerted: {why}; next round at {}",
                    next_round.to_rfc3339()
                );
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
    /// pending offers).
    async fn candidates(
        &self,
        tx: &mut Transaction<'static, Any>,
        center: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Candidate>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.id, l.skills, l.regions, l.languages, l.capacity, \
             COALESCE((SELECT MAX(o.offered_at) FROM offers o WHERE o.lawyer_id = l.id), 0) \
               AS last_offer_at, \
             (SELECT COUNT(*) FROM tickets t WHERE t.assigned_lawyer = l.id \
                AND t.state IN ('assigned', 'in_progress')) \
             + (SELECT COUNT(*) FROM offers o WHERE o.lawyer_id = l.id AND o.state = 'pending') \
               AS load \
             FROM lawyers l WHERE l.center = $1 AND l.active = 1 AND EXISTS \
             (SELECT 1 FROM shifts s WHERE s.lawyer_id = l.id AND s.starts_at <= $2 \
              AND s.ends_at > $2) ORDER BY l.id",
        )
        .bind(center)
        .bind(ms(now))
        .fetch_all(&mut **tx)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Candidate {
                    lawyer: get(row, "id")?,
                    skills: list(&get::<String>(row, "skills")?),
                    regions: list(&get::<String>(row, "regions")?),
                    languages: list(&get::<String>(row, "languages")?),
                    load: get(row, "load")?,
                    capacity: get(row, "capacity")?,
                    last_offer_at: get(row, "last_offer_at")?,
                })
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    async fn offer_event(
        &self,
        tx: &mut Transaction<'static, Any>,
        ticket_id: i64,
        kind: EventKind,
        actor: &str,
        lawyer: &str,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let note = match detail {
            Some(d) => format!("lawyer {lawyer}: {d}"),
            None => format!("lawyer {lawyer}"),
        };
        let reason = (kind == EventKind::OfferDeclined)
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
