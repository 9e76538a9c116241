//! The Legal Aid Law art. 43 clocks: the decision on an application (7 days
//! from the day its materials are complete) and the assignment of a lawyer
//! (3 days from the decision). Marking the materials received starts, or
//! restarts, the decision clock; a clock that passes is alerted once, as an
//! event on the supervisors' stream, claimed like routing timers so several
//! ticketing nodes never alert twice. `now` and `today` are parameters.

use chrono::{DateTime, NaiveDate, Utc};
use hotline_domain::{TicketNumber, TicketState};

use super::offers::ms;
use super::tickets::{insert_event, EventDetail};
use super::{get, Backend, Store, StoreError};
use crate::tickets::lifecycle::LifecycleError;
use crate::tickets::{EventKind, FieldChange, Ticket};

impl Store {
    /// The application's materials are in: the decision is due on
    /// `decision_due`, and an earlier overdue alert no longer stands.
    pub async fn materials_received(
        &self,
        number: &TicketNumber,
        note: Option<&str>,
        actor: &str,
        decision_due: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Ticket, StoreError> {
        let id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await?;
        let state = self.locked_state(&mut tx, id).await?;
        if !matches!(state, TicketState::Application | TicketState::Provisional) {
            return Err(LifecycleError::NoApplication(state).into());
        }
        let old: Option<String> = get(
            &sqlx::query("SELECT decision_due FROM tickets WHERE id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await?,
            "decision_due",
        )?;
        sqlx::query(
            "UPDATE tickets SET materials_received_at = $2, decision_due = $3, \
             decision_alerted_at = NULL, updated_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(ms(now))
        .bind(decision_due.to_string())
        .execute(&mut **tx)
        .await?;
        let changes = [FieldChange {
            field: "decision_due".into(),
            old,
            new: Some(decision_due.to_string()),
        }];
        let why = format!("the application is complete; a decision is due by {decision_due} (Legal Aid Law art. 43)");
        insert_event(
            &mut tx,
            id,
            EventKind::MaterialsReceived,
            actor,
            now,
            EventDetail {
                reason: Some(&why),
                changes: &changes,
                note,
                ..EventDetail::default()
            },
        )
        .await?;
        tx.commit().await?;
        self.committed();
        self.ticket_by_id(id).await
    }

    /// Alerts every art. 43 clock that passed before `today` and was not
    /// alerted yet, each in its own transaction; returns how many.
    pub async fn alert_overdue_clocks(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let today = now
            .with_timezone(&hotline_domain::shanghai())
            .date_naive()
            .to_string();
        let mut alerted = 0;
        loop {
            let mut tx = self.begin_write().await?;
            let claim = match self.backend {
                Backend::Postgres => {
                    "SELECT id, state, decision_due, assignment_due FROM tickets \
                     WHERE (state IN ('application', 'provisional') AND decision_due < $1 \
                     AND materials_received_at IS NOT NULL AND decision_alerted_at IS NULL) \
                     OR (state = 'accepted' AND assignment_due < $1 \
                     AND assignment_alerted_at IS NULL) \
                     ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
                }
                Backend::Sqlite => {
                    "SELECT id, state, decision_due, assignment_due FROM tickets \
                     WHERE (state IN ('application', 'provisional') AND decision_due < $1 \
                     AND materials_received_at IS NOT NULL AND decision_alerted_at IS NULL) \
                     OR (state = 'accepted' AND assignment_due < $1 \
                     AND assignment_alerted_at IS NULL) \
                     ORDER BY id LIMIT 1"
                }
            };
            let Some(row) = sqlx::query(claim)
                .bind(&today)
                .fetch_optional(&mut **tx)
                .await?
            else {
                return Ok(alerted);
            };
            let id: i64 = get(&row, "id")?;
            let state: String = get(&row, "state")?;
            let (kind, column, due, what) = if state == TicketState::Accepted.as_str() {
                (
                    EventKind::AssignmentOverdue,
                    "assignment_alerted_at",
                    get::<Option<String>>(&row, "assignment_due")?,
                    "no lawyer assigned",
                )
            } else {
                (
                    EventKind::DecisionOverdue,
                    "decision_alerted_at",
                    get::<Option<String>>(&row, "decision_due")?,
                    "no decision on the application",
                )
            };
            let note = format!(
                "{what} by {} (Legal Aid Law art. 43); supervisors alerted",
                due.as_deref().unwrap_or("-")
            );
            insert_event(
                &mut tx,
                id,
                kind,
                super::offers::ROUTING_ACTOR,
                now,
                EventDetail {
                    note: Some(&note),
                    ..EventDetail::default()
                },
            )
            .await?;
            // The column name is one of two constants above, never input.
            let update = format!("UPDATE tickets SET {column} = $2 WHERE id = $1");
            sqlx::query(sqlx::AssertSqlSafe(update))
                .bind(id)
                .bind(ms(now))
                .execute(&mut **tx)
                .await?;
            tx.commit().await?;
            self.committed();
            tracing::warn!(
                ticket_id = id,
                kind = kind.as_str(),
                "art. 43 clock overdue"
            );
            alerted += 1;
        }
    }
}
