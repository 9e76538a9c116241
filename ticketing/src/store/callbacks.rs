//! Callbacks: the due time and flag on each ticket, and the attempts
//! (table `callback_attempts`), each written with its ticket event in one
//! transaction. When the next attempt is due is the caller's to decide
//! ([`crate::callbacks::CallbackPolicy`]); the store keeps it.

use chrono::{DateTime, Utc};
use hotline_domain::{PhoneNumber, TicketNumber, TicketState};
use sqlx::AssertSqlSafe;

use super::offers::ms;
use super::tickets::{flag, insert_event, millis, parse, read_flag, EventDetail, TICKET_COLUMNS};
use super::{get, Store, StoreError};
use crate::callbacks::{
    number_to_call, Callback, CallbackAttempt, CallbackFilter, CallbackOutcome, NextStep,
};
use crate::tickets::lifecycle::LifecycleError;
use crate::tickets::EventKind;

/// Decides what follows a failed attempt from the failures' times and the
/// due time so far ([`crate::callbacks::CallbackPolicy::after_failures`]).
pub type NextAfterFailures<'a> =
    dyn Fn(&[DateTime<Utc>], Option<DateTime<Utc>>) -> NextStep + Sync + 'a;

/// The most callbacks one listing returns.
const MAX_LISTED: i64 = 500;

impl Store {
    /// Tickets whose callers wait for a call back (or were flagged after
    /// three failed half-days), open ones only, soonest due first.
    pub async fn callbacks(
        &self,
        filter: &CallbackFilter<'_>,
    ) -> Result<Vec<Callback>, StoreError> {
        let mut clauses = vec![
            "t.state NOT IN ('closed', 'rejected')".to_owned(),
            "(t.callback_due_at IS NOT NULL OR t.callback_flagged = 1)".to_owned(),
        ];
        let mut binds: Vec<String> = Vec::new();
        if let Some(c) = filter.center {
            binds.push(c.to_owned());
            clauses.push(format!("t.center = ${}", binds.len()));
        }
        if let Some(l) = filter.lawyer {
            binds.push(l.to_owned());
            clauses.push(format!("t.assigned_lawyer = ${}", binds.len()));
        }
        if let Some(n) = filter.number {
            binds.push(n.as_str().to_owned());
            clauses.push(format!("t.number = ${}", binds.len()));
        }
        let due_before = filter.due_before.map(ms);
        if due_before.is_some() {
            clauses.push(format!(
                "(t.callback_due_at <= ${} OR t.callback_flagged = 1)",
                binds.len() + 1
            ));
        }
        let sql = format!(
            "SELECT {TICKET_COLUMNS}, t.callback_due_at AS callback_due_at, \
             t.callback_flagged AS callback_flagged FROM tickets t WHERE {} \
             ORDER BY t.callback_flagged DESC, t.callback_due_at, t.id LIMIT {MAX_LISTED}",
            clauses.join(" AND ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for b in &binds {
            query = query.bind(b.as_str());
        }
        if let Some(d) = due_before {
            query = query.bind(d);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut state = Vec::with_capacity(rows.len());
        for row in &rows {
            let due: Option<i64> = get(row, "callback_due_at")?;
            state.push((
                due.map(millis).transpose()?,
                read_flag(row, "callback_flagged")?,
            ));
        }
        let tickets = self.hydrate(rows).await?;
        let mut out = Vec::with_capacity(tickets.len());
        for ((id, ticket), (due_at, flagged)) in tickets.into_iter().zip(state) {
            out.push(Callback {
                attempts: self.callback_attempts(id).await?,
                ticket,
                due_at,
                flagged,
            });
        }
        Ok(out)
    }

    /// The attempts to call `number`'s caller back, oldest first.
    pub async fn callback_attempts_of(
        &self,
        number: &TicketNumber,
    ) -> Result<Vec<CallbackAttempt>, StoreError> {
        let id = self.ticket_id(number).await?;
        self.callback_attempts(id).await
    }

    async fn callback_attempts(&self, ticket_id: i64) -> Result<Vec<CallbackAttempt>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, outcome, note, actor FROM callback_attempts WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(ticket_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CallbackAttempt {
                    at: millis(get(row, "at")?)?,
                    outcome: parse(&get::<String>(row, "outcome")?, CallbackOutcome::parse)?,
                    note: get(row, "note")?,
                    actor: get(row, "actor")?,
                })
            })
            .collect()
    }

    /// Records an attempt to call `number`'s caller back at `now`; `next`
    /// decides, from the failed attempts since the caller was last reached
    /// (this one included) and the due time so far, when the next attempt
    /// is due and whether the ticket is flagged. Refused for a closed or
    /// rejected ticket and for one with no number to call. Returns the
    /// callback as it stands after the attempt, and whether this attempt
    /// flagged it.
    pub async fn record_callback(
        &self,
        number: &TicketNumber,
        outcome: CallbackOutcome,
        note: &str,
        actor: &str,
        now: DateTime<Utc>,
        next: &NextAfterFailures<'_>,
    ) -> Result<(Callback, bool), StoreError> {
        let id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await?;
        let (due, flagged, flag_now) = self
            .record_callback_in(&mut tx, id, outcome, note, actor, now, next)
            .await?;
        tx.commit().await?;
        self.committed();
        let ticket = self.ticket_by_id(id).await?;
        let callback = Callback {
            attempts: self.callback_attempts(id).await?,
            ticket,
            due_at: due,
            flagged,
        };
        Ok((callback, flag_now))
    }

    /// [`Store::record_callback`] in `tx`, for ticket `id`: the attempt, its
    /// event, the next due time and the flag. Returns the due time, whether
    /// the ticket is flagged, and whether this attempt flagged it.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn record_callback_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        id: i64,
        outcome: CallbackOutcome,
        note: &str,
        actor: &str,
        now: DateTime<Utc>,
        next: &NextAfterFailures<'_>,
    ) -> Result<(Option<DateTime<Utc>>, bool, bool), StoreError> {
        let state = self.locked_state(tx, id).await?;
        if matches!(state, TicketState::Closed | TicketState::Rejected) {
            return Err(LifecycleError::CallbackOver(state).into());
        }
        let row = sqlx::query(
            "SELECT caller_number, callback_number, callback_due_at, callback_flagged \
             FROM tickets WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
        let phone = |column: &str| -> Result<Option<PhoneNumber>, StoreError> {
            let text: Option<String> = get(&row, column)?;
            Ok(text.and_then(|t| PhoneNumber::parse(&t).ok()))
        };
        let (caller, callback) = (phone("caller_number")?, phone("callback_number")?);
        if number_to_call(callback.as_ref(), caller.as_ref()).is_none() {
            return Err(LifecycleError::NoNumberToCall.into());
        }
        let due_before: Option<i64> = get(&row, "callback_due_at")?;
        let due_before = due_before.map(millis).transpose()?;
        let flagged_before = read_flag(&row, "callback_flagged")?;
        sqlx::query(
            "INSERT INTO callback_attempts (ticket_id, at, outcome, note, actor) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(ms(now))
        .bind(outcome.as_str())
        .bind(note)
        .bind(actor)
        .execute(&mut **tx)
        .await?;
        // Failures since the caller was last reached: an answered call
        // starts the count again.
        let failed = sqlx::query(
            "SELECT at FROM callback_attempts WHERE ticket_id = $1 AND outcome <> 'answered' \
             AND id > COALESCE((SELECT MAX(id) FROM callback_attempts \
             WHERE ticket_id = $1 AND outcome = 'answered'), 0) ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|row| millis(get(row, "at")?))
        .collect::<Result<Vec<_>, StoreError>>()?;
        let step = if outcome.reached() {
            NextStep {
                due: None,
                flag: false,
            }
        } else {
            next(&failed, due_before)
        };
        let flag_now = step.flag && !flagged_before;
        // Reaching the caller settles a flag too.
        let flagged = !outcome.reached() && (flagged_before || step.flag);
        sqlx::query(
            "UPDATE tickets SET callback_due_at = $2, callback_flagged = $3, updated_at = $4 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(step.due.map(ms))
        .bind(flag(flagged))
        .bind(ms(now))
        .execute(&mut **tx)
        .await?;
        insert_event(
            tx,
            id,
            EventKind::CallbackAttempt,
            actor,
            now,
            EventDetail {
                reason: Some(outcome.as_str()),
                note: (!note.is_empty()).then_some(note),
                ..EventDetail::default()
            },
        )
        .await?;
        if flag_now {
            insert_event(
                tx,
                id,
                EventKind::CallbackFlagged,
                actor,
                now,
                EventDetail {
                    reason: Some("the caller was not reached on three different half-days"),
                    ..EventDetail::default()
                },
            )
            .await?;
        }
        Ok((step.due, flagged, flag_now))
    }

    /// Sets the first callback's due time again after a correction (the
    /// urgency or the numbers changed), as long as nobody has tried yet:
    /// once attempts are made, their own schedule holds.
    pub async fn reschedule_first_callback(
        &self,
        number: &TicketNumber,
        due: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE tickets SET callback_due_at = $2 WHERE id = $1 AND callback_flagged = 0 \
             AND state NOT IN ('closed', 'rejected') \
             AND NOT EXISTS (SELECT 1 FROM callback_attempts WHERE ticket_id = $1)",
        )
        .bind(id)
        .bind(due.map(ms))
        .execute(&mut **tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
