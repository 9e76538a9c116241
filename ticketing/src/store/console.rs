//! What the web console keeps and reads beyond tickets: browser sessions,
//! quality reviews, and the facts statistics and reports are computed from.

use chrono::{DateTime, Utc};
use hotline_domain::TicketNumber;
use sqlx::AssertSqlSafe;

use super::access::{token_from_row, TOKEN_COLUMNS};
use super::offers::{ms, offer_from_row, OFFER_COLUMNS};
use super::tickets::millis;
use super::tickets::TICKET_COLUMNS;
use super::{get, Store, StoreError};
use crate::auth::TokenRecord;
use crate::quality::{NewReview, Review, Scores};
use crate::routing::Offer;
use crate::stats::{Period, TicketFact};
use crate::tickets::{EventKind, Ticket};

/// The events statistics look at.
const FACT_KINDS: &str =
    "'created', 'offered', 'offer_acknowledged', 'assigned', 'owned', 'offer_expired', \
     'decision_overdue', 'assignment_overdue', 'transitioned'";

impl Store {
    /// Opens a session for `token_id`; the caller keeps the id's text.
    pub async fn create_session(
        &self,
        id_sha256: &str,
        token_id: &str,
        csrf: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // Expired sessions go as new ones come: the table stays small.
        sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
            .bind(ms(now))
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO web_sessions (id_sha256, token_id, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_sha256)
        .bind(token_id)
        .bind(csrf)
        .bind(ms(now))
        .bind(ms(expires_at))
        .execute(&mut **tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The token a live session stands for, and its CSRF secret; `None`
    /// for an unknown or expired session (the token's own state is the
    /// caller's to check).
    pub async fn session(
        &self,
        id_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(TokenRecord, String)>, StoreError> {
        let columns = TOKEN_COLUMNS
            .split(", ")
            .map(|c| format!("t.{c} AS {c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, s.csrf AS csrf FROM web_sessions s \
             JOIN api_tokens t ON t.id = s.token_id \
             WHERE s.id_sha256 = $1 AND s.expires_at > $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(id_sha256)
            .bind(ms(now))
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some((token_from_row(&row)?, get(&row, "csrf")?))),
            None => Ok(None),
        }
    }

    /// Ends a session (logout); ending an unknown one changes nothing.
    pub async fn end_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM web_sessions WHERE id_sha256 = $1")
            .bind(id_sha256)
            .execute(&mut **tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Tickets not closed or rejected (of `center`, when given), oldest
    /// first: what the board shows.
    pub async fn open_tickets(&self, center: Option<&str>) -> Result<Vec<Ticket>, StoreError> {
        let center_sql = if center.is_some() {
            " AND t.center = $1"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets t \
             WHERE t.state NOT IN ('closed', 'rejected'){center_sql} ORDER BY t.created_at, t.id"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        if let Some(c) = center {
            query = query.bind(c);
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(self
            .hydrate(rows)
            .await?
            .into_iter()
            .map(|(_, t)| t)
            .collect())
    }

    /// Open major cases (重点督办) (of `center`, when given).
    pub async fn major_cases(&self, center: Option<&str>) -> Result<Vec<TicketNumber>, StoreError> {
        let center_sql = if center.is_some() {
            " AND center = $1"
        } else {
            ""
        };
        let sql = format!(
            "SELECT number FROM tickets WHERE major_case = 1 \
             AND state NOT IN ('closed', 'rejected'){center_sql}"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        if let Some(c) = center {
            query = query.bind(c);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let number: String = get(row, "number")?;
                number
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("ticket `{number}`: {e}")))
            })
            .collect()
    }

    /// Every pending offer (of `center`'s tickets, when given), oldest first.
    pub async fn open_offers(&self, center: Option<&str>) -> Result<Vec<Offer>, StoreError> {
        let center_sql = if center.is_some() {
            " AND t.center = $1"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {OFFER_COLUMNS} FROM offers o JOIN tickets t ON t.id = o.ticket_id \
             WHERE o.state = 'pending'{center_sql} ORDER BY o.id"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        if let Some(c) = center {
            query = query.bind(c);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(offer_from_row).collect()
    }

    /// Tickets whose routing escalated (nobody took them), with when.
    pub async fn escalated(
        &self,
        center: Option<&str>,
    ) -> Result<Vec<(TicketNumber, DateTime<Utc>)>, StoreError> {
        let center_sql = if center.is_some() {
            " AND t.center = $1"
        } else {
            ""
        };
        let sql = format!(
            "SELECT t.number AS number, r.updated_at AS since FROM routing r \
             JOIN tickets t ON t.id = r.ticket_id WHERE r.status = 'escalated'{center_sql}"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        if let Some(c) = center {
            query = query.bind(c);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let number: String = get(row, "number")?;
                Ok((
                    number
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("ticket `{number}`: {e}")))?,
                    millis(get(row, "since")?)?,
                ))
            })
            .collect()
    }

    /// For each ticket created in `period` (of `center`, when given), the
    /// events statistics need, oldest first.
    pub async fn ticket_facts(
        &self,
        period: &Period,
        center: Option<&str>,
    ) -> Result<Vec<(TicketNumber, TicketFact)>, StoreError> {
        let center_sql = if center.is_some() {
            " AND t.center = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT t.number AS number, e.kind AS kind, e.at AS at, e.actor AS actor, \
             e.to_state AS to_state \
             FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id \
             WHERE t.created_at >= $1 AND t.created_at < $2{center_sql} \
             AND e.kind IN ({FACT_KINDS}) ORDER BY e.id"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(ms(period.start))
            .bind(ms(period.end));
        if let Some(c) = center {
            query = query.bind(c);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut facts = Vec::with_capacity(rows.len());
        for row in &rows {
            let number: String = get(row, "number")?;
            let number = number
                .parse::<TicketNumber>()
                .map_err(|e| StoreError::Corrupt(format!("ticket number `{number}`: {e}")))?;
            let kind: String = get(row, "kind")?;
            let kind = EventKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("event kind `{kind}`")))?;
            facts.push((
                number,
                TicketFact {
                    kind,
                    at: millis(get(row, "at")?)?,
                    actor: get(row, "actor")?,
                    to_state: get(row, "to_state")?,
                },
            ));
        }
        Ok(facts)
    }

    /// Tickets closed in `period` (of `center`, when given) with the
    /// lawyer who closed them, by ticket number: what quality review draws
    /// from.
    pub async fn closed_in(
        &self,
        period: &Period,
        center: Option<&str>,
    ) -> Result<Vec<(TicketNumber, String)>, StoreError> {
        let center_sql = if center.is_some() {
            " AND t.center = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT DISTINCT t.number AS number, t.assigned_lawyer AS lawyer \
             FROM tickets t JOIN ticket_events e ON e.ticket_id = t.id \
             WHERE e.kind = 'transitioned' AND e.to_state = 'closed' \
             AND e.at >= $1 AND e.at < $2 AND t.state = 'closed' \
             AND t.assigned_lawyer IS NOT NULL{center_sql} ORDER BY t.number"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(ms(period.start))
            .bind(ms(period.end));
        if let Some(c) = center {
            query = query.bind(c);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let number: String = get(row, "number")?;
                Ok((
                    number
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("ticket `{number}`: {e}")))?,
                    get(row, "lawyer")?,
                ))
            })
            .collect()
    }

    /// Records a review of `number`, whose lawyer is `lawyer`.
    pub async fn add_review(
        &self,
        number: &TicketNumber,
        lawyer: &str,
        review: &NewReview,
        now: DateTime<Utc>,
    ) -> Result<Review, StoreError> {
        let ticket_id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO quality_reviews (ticket_id, lawyer_id, reviewer, accuracy, timeliness, \
             communication, documentation, comment, reviewed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(ticket_id)
        .bind(lawyer)
        .bind(&review.reviewer)
        .bind(i64::from(review.scores.accuracy))
        .bind(i64::from(review.scores.timeliness))
        .bind(i64::from(review.scores.communication))
        .bind(i64::from(review.scores.documentation))
        .bind(&review.comment)
        .bind(ms(now))
        .fetch_one(&mut **tx)
        .await?;
        tx.commit().await?;
        Ok(Review {
            id: get(&row, "id")?,
            ticket: number.clone(),
            lawyer: lawyer.to_owned(),
            reviewer: review.reviewer.clone(),
            scores: review.scores,
            comment: review.comment.clone(),
            reviewed_at: now,
        })
    }

    /// Reviews made in `period` (of tickets of `center`, when given), or of
    /// one ticket, oldest first.
    pub async fn reviews(
        &self,
        period: Option<&Period>,
        center: Option<&str>,
        ticket: Option<&TicketNumber>,
    ) -> Result<Vec<Review>, StoreError> {
        let mut conditions = Vec::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if period.is_some() {
            conditions.push(format!("r.reviewed_at >= {}", next()));
            conditions.push(format!("r.reviewed_at < {}", next()));
        }
        if center.is_some() {
            conditions.push(format!("t.center = {}", next()));
        }
        if ticket.is_some() {
            conditions.push(format!("t.number = {}", next()));
        }
        let where_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT r.id AS id, t.number AS number, r.lawyer_id AS lawyer_id, \
             r.reviewer AS reviewer, CAST(r.accuracy AS BIGINT) AS accuracy, CAST(r.timeliness AS BIGINT) AS timeliness, \
             CAST(r.communication AS BIGINT) AS communication, CAST(r.documentation AS BIGINT) AS documentation, \
             r.comment AS comment, r.reviewed_at AS reviewed_at \
             FROM quality_reviews r JOIN tickets t ON t.id = r.ticket_id {where_sql} \
             ORDER BY r.reviewed_at, r.id"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        if let Some(p) = period {
            query = query.bind(ms(p.start)).bind(ms(p.end));
        }
        if let Some(c) = center {
            query = query.bind(c);
        }
        if let Some(t) = ticket {
            query = query.bind(t.to_string());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let number: String = get(row, "number")?;
                let score = |column: &str| -> Result<u8, StoreError> {
                    let v: i64 = get(row, column)?;
                    u8::try_from(v).map_err(|_| StoreError::Corrupt(format!("{column} score {v}")))
                };
                Ok(Review {
                    id: get(row, "id")?,
                    ticket: number
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("ticket `{number}`: {e}")))?,
                    lawyer: get(row, "lawyer_id")?,
                    reviewer: get(row, "reviewer")?,
                    scores: Scores {
                        accuracy: score("accuracy")?,
                        timeliness: score("timeliness")?,
                        communication: score("communication")?,
                        documentation: score("documentation")?,
                    },
                    comment: get(row, "comment")?,
                    reviewed_at: millis(get(row, "reviewed_at")?)?,
                })
            })
            .collect()
    }
}
