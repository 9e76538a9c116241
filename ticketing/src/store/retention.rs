//! The retention pass's statements: removing a closed ticket's message
//! recordings and anonymising its numbers and summary, one ticket per
//! transaction, each removal written into the ticket's history.
//!
//! Anonymising rewrites the numbers inside earlier events' `changes`, which
//! the append-only trigger otherwise refuses: the transaction opens the
//! documented gate (a row in `retention_pass`, see migration 0008) and
//! closes it before it commits. Nothing else in the service writes that
//! table.
//!
//! The two selecting statements are built from constant fragments; every
//! value is bound.

use chrono::{DateTime, Utc};
use hotline_domain::TicketNumber;
use sqlx::AssertSqlSafe;

use super::tickets::{insert_event, parse, EventDetail};
use super::{get, Store, StoreError};
use crate::retention::{blank_numbers, RETENTION_ACTOR};
use crate::tickets::{EventKind, FieldChange};

/// Tickets handled per query; the pass repeats until none are left.
const BATCH: i64 = 100;

/// The fields of an event's `changes` that hold personal data.
const PERSONAL_FIELDS: &[&str] = &["caller_number", "callback_number", "summary"];

/// Closed and rejected tickets whose last move into that state was at or
/// before `$1` (the ticket's closing time is its history's, not a column).
const CLOSED_BEFORE: &str = "t.state IN ('closed', 'rejected') AND \
     (SELECT MAX(e.at) FROM ticket_events e WHERE e.ticket_id = t.id AND e.to_state = t.state) <= $1";

impl Store {
    /// Removes the message recordings of tickets closed at or before
    /// `closed_before`, with a `recording_removed` event for each.
    pub async fn remove_recordings_closed_before(
        &self,
        closed_before: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(TicketNumber, i64)>, StoreError> {
        let sql = format!(
            "SELECT t.id, t.number FROM tickets t WHERE {CLOSED_BEFORE} \
             AND EXISTS (SELECT 1 FROM recordings r WHERE r.ticket_id = t.id) \
             ORDER BY t.id LIMIT {BATCH}"
        );
        let mut removed = Vec::new();
        loop {
            let due = self.due(&sql, closed_before).await?;
            if due.is_empty() {
                return Ok(removed);
            }
            for (id, number) in due {
                let mut tx = self.begin_write().await?;
                self.locked_state(&mut tx, id).await?;
                let rows = sqlx::query(
                    "DELETE FROM recordings WHERE ticket_id = $1 RETURNING id, duration_ms",
                )
                .bind(id)
                .fetch_all(&mut **tx)
                .await?;
                for row in rows {
                    let recording: i64 = get(&row, "id")?;
                    let duration_ms: i64 = get(&row, "duration_ms")?;
                    let note =
                        format!("recording {recording} ({duration_ms} ms) removed: {reason}");
                    insert_event(
                        &mut tx,
                        id,
                        EventKind::RecordingRemoved,
                        RETENTION_ACTOR,
                        now,
                        EventDetail {
                            note: Some(&note),
                            ..EventDetail::default()
                        },
                    )
                    .await?;
                    removed.push((number.clone(), recording));
                }
                tx.commit().await?;
                self.committed();
            }
        }
    }

    /// Anonymises tickets closed at or before `closed_before`: the caller
    /// and callback numbers and the summary go, in the ticket and in the
    /// numbers its history recorded, and numbers written into its outcome,
    /// rejection reason and its events' notes and reasons are blanked;
    /// with an `anonymised` event.
    pub async fn anonymise_closed_before(
        &self,
        closed_before: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TicketNumber>, StoreError> {
        let sql = format!(
            "SELECT t.id, t.number FROM tickets t WHERE {CLOSED_BEFORE} \
             AND t.anonymised_at IS NULL ORDER BY t.id LIMIT {BATCH}"
        );
        let mut anonymised = Vec::new();
        loop {
            let due = self.due(&sql, closed_before).await?;
            if due.is_empty() {
                return Ok(anonymised);
            }
            for (id, number) in due {
                let mut tx = self.begin_write().await?;
                self.locked_state(&mut tx, id).await?;
                sqlx::query("INSERT INTO retention_pass (ticket_id, started_at) VALUES ($1, $2)")
                    .bind(id)
                    .bind(now.timestamp_millis())
                    .execute(&mut **tx)
                    .await?;
                let events = sqlx::query(
                    "SELECT id, changes, reason, note FROM ticket_events \
                     WHERE ticket_id = $1 ORDER BY id",
                )
                .bind(id)
                .fetch_all(&mut **tx)
                .await?;
                for event in events {
                    let event_id: i64 = get(&event, "id")?;
                    let changes: Option<String> = get(&event, "changes")?;
                    let reason: Option<String> = get(&event, "reason")?;
                    let note: Option<String> = get(&event, "note")?;
                    let cleaned = match &changes {
                        Some(text) => without_personal_data(text)?.or(changes.clone()),
                        None => None,
                    };
                    let reason_now = reason.as_deref().map(blank_numbers);
                    let note_now = note.as_deref().map(blank_numbers);
                    if cleaned == changes && reason_now == reason && note_now == note {
                        continue;
                    }
                    sqlx::query(
                        "UPDATE ticket_events SET changes = $1, reason = $2, note = $3 WHERE id = $4",
                    )
                    .bind(cleaned)
                    .bind(reason_now)
                    .bind(note_now)
                    .bind(event_id)
                    .execute(&mut **tx)
                    .await?;
                }
                let offers = sqlx::query(
                    "SELECT id, reason FROM offers WHERE ticket_id = $1 AND reason IS NOT NULL",
                )
                .bind(id)
                .fetch_all(&mut **tx)
                .await?;
                for offer in offers {
                    let reason: String = get(&offer, "reason")?;
                    let blanked = blank_numbers(&reason);
                    if blanked != reason {
                        sqlx::query("UPDATE offers SET reason = $1 WHERE id = $2")
                            .bind(blanked)
                            .bind(get::<i64>(&offer, "id")?)
                            .execute(&mut **tx)
                            .await?;
                    }
                }
                let row =
                    sqlx::query("SELECT outcome, rejection_reason FROM tickets WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut **tx)
                        .await?;
                let outcome: Option<String> = get(&row, "outcome")?;
                let rejection: Option<String> = get(&row, "rejection_reason")?;
                sqlx::query(
                    "UPDATE tickets SET caller_number = NULL, callback_number = NULL, \
                     summary = '', outcome = $1, rejection_reason = $2, anonymised_at = $3, \
                     updated_at = $3 WHERE id = $4",
                )
                .bind(outcome.as_deref().map(blank_numbers))
                .bind(rejection.as_deref().map(blank_numbers))
                .bind(now.timestamp_millis())
                .bind(id)
                .execute(&mut **tx)
                .await?;
                insert_event(
                    &mut tx,
                    id,
                    EventKind::Anonymised,
                    RETENTION_ACTOR,
                    now,
                    EventDetail {
                        note: Some(&format!(
                            "caller and callback numbers, summary, and numbers in notes anonymised: {reason}"
                        )),
                        ..EventDetail::default()
                    },
                )
                .await?;
                sqlx::query("DELETE FROM retention_pass WHERE ticket_id = $1")
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                tx.commit().await?;
                self.committed();
                anonymised.push(number);
            }
        }
    }

    async fn due(
        &self,
        sql: &str,
        closed_before: DateTime<Utc>,
    ) -> Result<Vec<(i64, TicketNumber)>, StoreError> {
        sqlx::query(AssertSqlSafe(sql))
            .bind(closed_before.timestamp_millis())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let number: String = get(row, "number")?;
                Ok((get(row, "id")?, parse(&number, TicketNumber::parse)?))
            })
            .collect()
    }
}

/// An event's `changes` with the personal values blanked, or `None` when
/// it holds none.
fn without_personal_data(text: &str) -> Result<Option<String>, StoreError> {
    let mut changes: Vec<FieldChange> = serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("an event's changes `{text}`: {e}")))?;
    let mut touched = false;
    for change in &mut changes {
        if PERSONAL_FIELDS.contains(&change.field.as_str())
            && (change.old.is_some() || change.new.is_some())
        {
            change.old = None;
            change.new = None;
            touched = true;
        }
    }
    if !touched {
        return Ok(None);
    }
    serde_json::to_string(&changes)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode changes: {e}")))
}
