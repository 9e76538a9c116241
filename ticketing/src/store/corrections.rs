//! Facts corrected after the call and urgency re-assessed: a correction
//! and the new urgency commit with their event; the daily re-evaluation
//! moves urgencies as deadlines come closer, claimed by one node a day.

use chrono::{DateTime, NaiveDate, Utc};
use hotline_domain::{Matter, PhoneNumber, RegionCode, TicketNumber, TicketState, Urgency};
// Dynamic SQL here is built from constant fragments and `$n` placeholders,
// never from input: every value is bound.
use sqlx::AssertSqlSafe;

use super::tickets::{
    apply, diff, expect_one_row, flag, insert_event, ticket_from_row, warnings_json, EventDetail,
    TICKET_COLUMNS,
};
use super::{get, Store, StoreError};
use crate::limitation::TicketUrgency;
use crate::tickets::{Correction, EventKind, Ticket};

impl Store {
    /// Corrects facts of a ticket. Each call that changes anything writes one
    /// `corrected` event listing every field's old and new value.
    pub async fn correct(
        &self,
        number: &TicketNumber,
        correction: &Correction,
        reason: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
        reassess: &(dyn Fn(&Ticket) -> TicketUrgency + Sync),
    ) -> Result<Ticket, StoreError> {
        let id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await?;
        self.locked_state(&mut tx, id).await?;
        let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
        let old = ticket_from_row(&row)?;
        let mut new = old.clone();
        apply(&mut new, correction);
        new.set_urgency(reassess(&new));
        let changes = diff(&old, &new);
        if changes.is_empty() {
            tx.commit().await?;
            self.committed();
            return self.ticket_by_id(id).await;
        }
        let updated = sqlx::query(
            "UPDATE tickets SET matter = $1, event_date = $2, callback_number = $3, \
             preservation = $4, priority_group = $5, hardship_waived = $6, \
             pledge_offered = $7, home_visit = $8, mediation_preferred = $9, region = $10, \
             language = $11, updated_at = $12, urgency = $14, deadline = $15, \
             limitation_rule = $16, limitation_warnings = $17, document = $18, \
             chosen_rule = $19, advance_enforcement = $20, hardship_basis = $21 WHERE id = $13",
        )
        .bind(new.matter.map(Matter::as_str))
        .bind(new.event_date.map(|d| d.to_string()))
        .bind(new.callback_number.as_ref().map(PhoneNumber::as_str))
        .bind(flag(new.preservation))
        .bind(new.priority_group.as_str())
        .bind(flag(new.flags.hardship_waived))
        .bind(flag(new.flags.pledge_offered))
        .bind(flag(new.flags.home_visit))
        .bind(flag(new.flags.mediation_preferred))
        .bind(new.region.as_ref().map(RegionCode::as_str))
        .bind(new.language.as_str())
        .bind(now.timestamp_millis())
        .bind(id)
        .bind(new.urgency.map(Urgency::as_str))
        .bind(new.deadline.map(|d| d.to_string()))
        .bind(new.limitation_rule.as_deref())
        .bind(warnings_json(&new.limitation_warnings)?)
        .bind(new.document.map(hotline_domain::Document::as_str))
        .bind(new.chosen_rule.as_deref())
        .bind(flag(new.flags.advance_enforcement))
        .bind(
            new.flags
                .hardship_basis
                .map(hotline_domain::HardshipBasis::as_str),
        )
        .execute(&mut **tx)
        .await?;
        expect_one_row(updated.rows_affected(), id)?;
        insert_event(
            &mut tx,
            id,
            EventKind::Corrected,
            actor,
            now,
            EventDetail {
                reason,
                changes: &changes,
                ..EventDetail::default()
            },
        )
        .await?;
        tx.commit().await?;
        self.committed();
        self.ticket_by_id(id).await
    }

    /// Re-assesses every open ticket (not rejected, not closed) and stores
    /// each change of urgency or deadline with a `reevaluated` event. Each
    /// ticket is re-read under its row lock, so two nodes running this at
    /// once write each change once. Returns the tickets that changed.
    pub async fn reevaluate(
        &self,
        now: DateTime<Utc>,
        reassess: &(dyn Fn(&Ticket) -> TicketUrgency + Sync),
    ) -> Result<Vec<(TicketNumber, Option<Urgency>, Option<Urgency>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM tickets WHERE state NOT IN ('rejected', 'closed') ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut changed = Vec::new();
        for row in rows {
            let id: i64 = get(&row, "id")?;
            let mut tx = self.begin_write().await?;
            self.locked_state(&mut tx, id).await?;
            let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.id = $1");
            let row = sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
            let old = ticket_from_row(&row)?;
            if matches!(old.state, TicketState::Rejected | TicketState::Closed) {
                tx.commit().await?;
                self.committed();
                continue;
            }
            let mut new = old.clone();
            new.set_urgency(reassess(&old));
            let changes = diff(&old, &new);
            if changes.is_empty() && old.limitation_warnings == new.limitation_warnings {
                tx.commit().await?;
                self.committed();
                continue;
            }
            let updated = sqlx::query(
                "UPDATE tickets SET urgency = $1, deadline = $2, limitation_rule = $3, \
                 limitation_warnings = $4 WHERE id = $5",
            )
            .bind(new.urgency.map(Urgency::as_str))
            .bind(new.deadline.map(|d| d.to_string()))
            .bind(new.limitation_rule.as_deref())
            .bind(warnings_json(&new.limitation_warnings)?)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            expect_one_row(updated.rows_affected(), id)?;
            if !changes.is_empty() {
                insert_event(
                    &mut tx,
                    id,
                    EventKind::Reevaluated,
                    "limitation",
                    now,
                    EventDetail {
                        reason: Some("daily re-evaluation of the limitation deadline"),
                        changes: &changes,
                        ..EventDetail::default()
                    },
                )
                .await?;
                changed.push((old.number.clone(), old.urgency, new.urgency));
            }
            tx.commit().await?;
            self.committed();
        }
        Ok(changed)
    }

    /// Claims today's run of a daily job: true for exactly one caller per
    /// day, whichever node it runs on.
    pub async fn claim_daily_run(&self, job: &str, today: NaiveDate) -> Result<bool, StoreError> {
        sqlx::query(
            "INSERT INTO scheduled_runs (job, last_run_on) VALUES ($1, '0000-00-00') \
             ON CONFLICT (job) DO NOTHING",
        )
        .bind(job)
        .execute(&self.pool)
        .await?;
        let claimed = sqlx::query(
            "UPDATE scheduled_runs SET last_run_on = $1 WHERE job = $2 AND last_run_on < $1",
        )
        .bind(today.to_string())
        .bind(job)
        .execute(&self.pool)
        .await?;
        Ok(claimed.rows_affected() == 1)
    }
}
