//! What `hotline check` reports: urgent tickets nobody owns, offers or
//! escalates; offers left past their deadline; routing left running on a
//! ticket that no longer seeks a lawyer; escalations nobody has taken for
//! too long; art. 43 decisions and assignments past their dates; loads
//! routing reads that differ from what the lawyers hold.

use chrono::{DateTime, Utc};
use hotline_domain::{TicketNumber, TicketState};
// Dynamic SQL here is built from constant fragments and `$n` placeholders,
// never from input: every value is bound.

use super::offers::ms;
use super::tickets::{millis, parse};
use super::{get, Store, StoreError};
use crate::routing::Problem;

impl Store {
    /// The reconciliation check: urgent tickets nobody has, offers the
    /// scheduler should have processed by `now - grace`, stray routing, and
    /// tickets escalated and unowned for more than `stuck_after`.
    pub async fn check(
        &self,
        now: DateTime<Utc>,
        grace: chrono::Duration,
        stuck_after: chrono::Duration,
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
        let rows = sqlx::query(
            "SELECT t.number, t.state, 0 AS part, 'a pending offer to ' || o.lawyer_id AS what \
             FROM offers o \
             JOIN tickets t ON t.id = o.ticket_id WHERE o.state = 'pending' \
             AND t.state NOT IN ('consultation', 'application', 'accepted') \
             UNION ALL \
             SELECT t.number, t.state, 1 AS part, \
             'an open routing row (' || r.status || ')' AS what \
             FROM routing r JOIN tickets t ON t.id = r.ticket_id \
             WHERE r.status IN ('offering', 'escalated') \
             AND t.state NOT IN ('consultation', 'application', 'accepted') \
             ORDER BY number, part",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            problems.push(Problem::StrayRouting {
                ticket: parse(&get::<String>(&row, "number")?, TicketNumber::parse)?,
                state: parse(&get::<String>(&row, "state")?, TicketState::parse)?,
                what: get(&row, "what")?,
            });
        }
        let rows = sqlx::query(
            "SELECT t.number, t.urgency, \
             (SELECT MIN(e.at) FROM ticket_events e WHERE e.ticket_id = t.id \
              AND e.kind = 'escalated') AS since \
             FROM tickets t JOIN routing r ON r.ticket_id = t.id \
             WHERE r.status IN ('offering', 'escalated') AND t.assigned_lawyer IS NULL \
             AND t.urgency IN ('critical', 'urgent', 'expired') \
             AND t.state IN ('consultation', 'application', 'accepted') ORDER BY t.id",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let Some(since) = get::<Option<i64>>(&row, "since")? else {
                continue;
            };
            let since = millis(since)?;
            if since < now - stuck_after {
                problems.push(Problem::StuckEscalation {
                    ticket: parse(&get::<String>(&row, "number")?, TicketNumber::parse)?,
                    urgency: get(&row, "urgency")?,
                    since,
                });
            }
        }
        let today = now
            .with_timezone(&hotline_domain::shanghai())
            .date_naive()
            .to_string();
        let rows = sqlx::query(
            "SELECT number, state, decision_due, assignment_due FROM tickets \
             WHERE (state IN ('application', 'provisional') AND decision_due < $1 \
             AND materials_received_at IS NOT NULL) \
             OR (state = 'accepted' AND assignment_due < $1) ORDER BY id",
        )
        .bind(&today)
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let ticket = parse(&get::<String>(&row, "number")?, TicketNumber::parse)?;
            let state = parse(&get::<String>(&row, "state")?, TicketState::parse)?;
            let date = |column| -> Result<chrono::NaiveDate, StoreError> {
                parse(&get::<String>(&row, column)?, |d| {
                    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                })
            };
            problems.push(if state == TicketState::Accepted {
                Problem::AssignmentOverdue {
                    ticket,
                    due: date("assignment_due")?,
                }
            } else {
                Problem::DecisionOverdue {
                    ticket,
                    due: date("decision_due")?,
                }
            });
        }
        let rows = sqlx::query(
            "SELECT l.id, COALESCE(k.load, 0) AS kept, \
             (SELECT COUNT(*) FROM tickets t WHERE t.assigned_lawyer = l.id \
              AND t.state NOT IN ('rejected', 'closed')) \
             + (SELECT COUNT(*) FROM offers o WHERE o.lawyer_id = l.id AND o.state = 'pending') \
             AS held \
             FROM lawyers l LEFT JOIN lawyer_load k ON k.lawyer_id = l.id ORDER BY l.id",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let kept: i64 = get(&row, "kept")?;
            let held: i64 = get(&row, "held")?;
            if kept != held {
                problems.push(Problem::LoadMismatch {
                    lawyer: get(&row, "id")?,
                    kept,
                    held,
                });
            }
        }
        Ok(problems)
    }
}
