//! What `hotline check` reports: urgent tickets nobody owns, offers or
//! escalates, and offers left past their deadline.

use chrono::{DateTime, Utc};
use hotline_domain::TicketNumber;
// Dynamic SQL here is built from constant fragments and `$n` placeholders,
// never from input: every value is bound.

use super::offers::ms;
use super::tickets::{millis, parse};
use super::{get, Store, StoreError};
use crate::routing::Problem;

impl Store {
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
}
