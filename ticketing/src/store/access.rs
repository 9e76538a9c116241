//! API tokens (stored by the digest of their secret) and the append-only
//! audit log of denials and personal-data reads.

use chrono::{DateTime, Utc};
use hotline_domain::TicketNumber;
use sqlx::any::AnyRow;
use sqlx::AssertSqlSafe;

use super::offers::ms;
use super::tickets::{millis, Bind, Where};
use super::{get, Store, StoreError};
use crate::auth::token::IssuedToken;
use crate::auth::{AuditEntry, AuditFilter, NewAudit, NewToken, Role, TokenRecord};

pub(super) const TOKEN_COLUMNS: &str =
    "id, role, lawyer_id, center, name, created_at, created_by, expires_at, revoked_at";

pub(super) fn token_from_row(row: &AnyRow) -> Result<TokenRecord, StoreError> {
    let role: String = get(row, "role")?;
    let optional_time = |column: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        get::<Option<i64>>(row, column)?.map(millis).transpose()
    };
    Ok(TokenRecord {
        id: get(row, "id")?,
        role: Role::parse(&role).map_err(StoreError::Corrupt)?,
        lawyer: get(row, "lawyer_id")?,
        center: get(row, "center")?,
        name: get(row, "name")?,
        created_at: millis(get(row, "created_at")?)?,
        created_by: get(row, "created_by")?,
        expires_at: optional_time("expires_at")?,
        revoked_at: optional_time("revoked_at")?,
    })
}

impl Store {
    /// Stores a new token (its digest only) and returns its record.
    pub async fn insert_token(
        &self,
        issued: &IssuedToken,
        new: &NewToken,
        created_by: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO api_tokens (id, secret_sha256, role, lawyer_id, center, name, \
             created_at, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             RETURNING {TOKEN_COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(&issued.id)
            .bind(&issued.secret_sha256)
            .bind(new.role.as_str())
            .bind(new.lawyer.as_deref())
            .bind(new.center.as_deref())
            .bind(&new.name)
            .bind(ms(now))
            .bind(created_by)
            .bind(new.expires_at.map(ms))
            .fetch_one(&mut **tx)
            .await?;
        let record = token_from_row(&row)?;
        tx.commit().await?;
        Ok(record)
    }

    /// The token with `id` whose secret has `secret_sha256`, if any
    /// (revoked and expired ones too: the caller decides).
    pub async fn token(
        &self,
        id: &str,
        secret_sha256: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let sql =
            format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1 AND secret_sha256 = $2");
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(id)
            .bind(secret_sha256)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// Every token, newest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at DESC, id");
        let rows = sqlx::query(AssertSqlSafe(sql.as_str()))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes a token; `None` when there is no such token. Revoking a
    /// revoked token changes nothing and returns it.
    pub async fn revoke_token(
        &self,
        id: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2, revoked_by = $3 \
             WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(ms(now))
        .bind(by)
        .execute(&mut **tx)
        .await?;
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        tx.commit().await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// Appends lines to the audit log, in one transaction.
    pub async fn audit(&self, entries: &[NewAudit], now: DateTime<Utc>) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for e in entries {
            sqlx::query(
                "INSERT INTO audit_log (at, actor, token_id, action, outcome, ticket_number, \
                 recording_id, center, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(ms(now))
            .bind(&e.actor)
            .bind(e.token_id.as_deref())
            .bind(&e.action)
            .bind(e.outcome.as_str())
            .bind(e.ticket.as_deref())
            .bind(e.recording)
            .bind(e.center.as_deref())
            .bind(e.detail.as_deref())
            .execute(&mut **tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Audit lines matching `filter`, oldest first.
    pub async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let mut w = Where::default();
        if let Some(ticket) = &filter.ticket {
            // A ticket's lines under any of its numbers.
            let resolved = match TicketNumber::parse(ticket) {
                Ok(n) => self.ticket_by_id(self.ticket_id(&n).await?).await?.number,
                Err(_) => return Ok(Vec::new()),
            };
            w.add("ticket_number = ?", Bind::Text(resolved.to_string()));
        }
        if let Some(actor) = &filter.actor {
            w.add("actor = ?", Bind::Text(actor.clone()));
        }
        if let Some(from) = filter.from {
            w.add("at >= ?", Bind::Int(ms(from)));
        }
        if let Some(to) = filter.to {
            w.add("at < ?", Bind::Int(ms(to)));
        }
        if let Some(center) = &filter.center {
            w.add("center = ?", Bind::Text(center.clone()));
        }
        if let Some(after) = filter.after_id {
            w.add("id > ?", Bind::Int(after));
        }
        let Where { clauses, binds } = w;
        let where_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT id, at, actor, token_id, action, outcome, ticket_number, recording_id, \
             center, detail FROM audit_log {where_sql} ORDER BY id LIMIT {}",
            filter.limit.clamp(1, 10_000)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for bind in binds {
            query = match bind {
                Bind::Text(s) => query.bind(s),
                Bind::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: get(row, "id")?,
                    at: millis(get(row, "at")?)?,
                    actor: get(row, "actor")?,
                    token_id: get(row, "token_id")?,
                    action: get(row, "action")?,
                    outcome: get(row, "outcome")?,
                    ticket: get(row, "ticket_number")?,
                    recording: get(row, "recording_id")?,
                    center: get(row, "center")?,
                    detail: get(row, "detail")?,
                })
            })
            .collect()
    }

    /// Whether `lawyer` may see ticket `number`: it is assigned to them, or
    /// offered to them and waiting for their answer.
    pub async fn lawyer_on(&self, number: &TicketNumber, lawyer: &str) -> Result<bool, StoreError> {
        let id = self.ticket_id(number).await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM tickets t WHERE t.id = $1 AND (t.assigned_lawyer = $2 \
             OR EXISTS (SELECT 1 FROM offers o WHERE o.ticket_id = t.id AND o.lawyer_id = $2 \
             AND o.state = 'pending'))",
        )
        .bind(id)
        .bind(lawyer)
        .fetch_one(&self.pool)
        .await?;
        Ok(get::<i64>(&row, "n")? > 0)
    }
}
