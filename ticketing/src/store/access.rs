//! API tokens (stored by the digest of their secret) and the append-only
//! audit log of denials and personal-data reads.
//!
//! Audit lines are group-committed: every lawyer's stream of offers writes
//! a line for each number it reveals, and at a thousand offers a second
//! one commit per stream wake-up was a large share of the database's
//! work. Lines of concurrent callers wait in one queue; the process's
//! audit writer takes everything waiting and writes it in one transaction,
//! and each caller returns only after that commit (nothing personal is
//! shown before its line is durable).

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use hotline_domain::TicketNumber;
use sqlx::any::AnyRow;
use sqlx::AssertSqlSafe;
use tokio::sync::{mpsc, oneshot};

use super::batch::{again, shapes, text, unreachable, values};
use super::offers::ms;
use super::tickets::{millis, Bind, Where};
use super::{get, Store, StoreError};
use crate::auth::token::IssuedToken;
use crate::auth::{AuditEntry, AuditFilter, NewAudit, NewToken, Role, TokenRecord};

/// Callers' calls of [`Store::audit`] waiting; past this, callers wait to
/// enqueue.
const AUDIT_QUEUE: usize = 4096;
/// The most of those calls the writer takes at a time.
const AUDIT_JOBS: usize = 256;
/// The lines one transaction writes, unless one call brings more alone.
const AUDIT_ROWS: usize = 1024;

/// The queue to this process's audit writer, started by the first line
/// (in its runtime).
#[derive(Default)]
pub(super) struct AuditQueue(OnceLock<mpsc::Sender<AuditJob>>);

struct AuditJob {
    entries: Vec<NewAudit>,
    at: DateTime<Utc>,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

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

    /// Appends lines to the audit log, stamped `now`; returns once they are
    /// committed, with the lines of concurrent callers in one transaction.
    pub async fn audit(&self, entries: &[NewAudit], now: DateTime<Utc>) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let queue = self.audits.0.get_or_init(|| self.start_audit_writer());
        let (reply, answer) = oneshot::channel();
        let job = AuditJob {
            entries: entries.to_vec(),
            at: now,
            reply,
        };
        if queue.send(job).await.is_ok() {
            if let Ok(outcome) = answer.await {
                return outcome;
            }
        }
        // The writer is gone with the runtime that started it (shutting
        // down): written here. Should its batch have committed after all,
        // the lines are there twice, which an audit log can bear; missing
        // them could not.
        tracing::warn!("the audit writer is gone; writing the lines alone");
        self.write_audit(&[(entries, now)]).await
    }

    fn start_audit_writer(&self) -> mpsc::Sender<AuditJob> {
        let (sender, mut receiver) = mpsc::channel::<AuditJob>(AUDIT_QUEUE);
        // As the create writer: the writer's copy must not keep the
        // callers' queue open, so it ends with the last of their `Store`s.
        let store = Store {
            creates: Arc::default(),
            audits: Arc::default(),
            ..self.clone()
        };
        tokio::spawn(async move {
            let mut jobs = Vec::with_capacity(AUDIT_JOBS);
            while receiver.recv_many(&mut jobs, AUDIT_JOBS).await > 0 {
                // Lines of a caller that gave up are written all the same:
                // an audit log may say more than was shown, never less.
                let mut group = Vec::new();
                let mut rows = 0;
                for job in jobs.drain(..) {
                    // A long list (a supervisor's callbacks) goes in a
                    // transaction of its own rather than hold up the lines
                    // of everyone else's streams.
                    if !group.is_empty() && rows + job.entries.len() > AUDIT_ROWS {
                        store.write_audit_group(std::mem::take(&mut group)).await;
                        rows = 0;
                    }
                    rows += job.entries.len();
                    group.push(job);
                }
                store.write_audit_group(group).await;
            }
        });
        sender
    }

    /// Writes the lines of `jobs` in one transaction and answers each
    /// caller after its commit.
    async fn write_audit_group(&self, mut jobs: Vec<AuditJob>) {
        if jobs.is_empty() {
            return;
        }
        let lines: Vec<(&[NewAudit], DateTime<Utc>)> =
            jobs.iter().map(|j| (&j.entries[..], j.at)).collect();
        match self.write_audit(&lines).await {
            Ok(()) => {
                for job in jobs {
                    let _ = job.reply.send(Ok(()));
                }
            }
            Err(e) if jobs.len() == 1 => {
                if let Some(job) = jobs.pop() {
                    let _ = job.reply.send(Err(e));
                }
            }
            // The database itself is out of reach: each caller gets the
            // failure at once, not one timeout after another.
            Err(StoreError::Database(e)) if unreachable(&e) => {
                tracing::warn!(error = %e, callers = jobs.len(), "audit lines not written");
                let e = StoreError::Database(e);
                for job in jobs {
                    let _ = job.reply.send(Err(again(&e)));
                }
            }
            Err(e) => {
                // One caller's bad line must not cost the others theirs:
                // each is written alone, until the database is out of reach.
                tracing::debug!(error = %e, "audit batch rolled back; writing it caller by caller");
                let mut down: Option<StoreError> = None;
                for job in jobs {
                    let outcome = match &down {
                        Some(e) => Err(again(e)),
                        None => self.write_audit(&[(&job.entries, job.at)]).await,
                    };
                    if let Err(e @ StoreError::Database(db)) = &outcome {
                        if unreachable(db) && down.is_none() {
                            down = Some(again(e));
                        }
                    }
                    let _ = job.reply.send(outcome);
                }
            }
        }
    }

    /// Writes `(lines, at)` groups in one transaction, a few multi-row
    /// statements of the shapes the create writer uses.
    async fn write_audit(&self, lines: &[(&[NewAudit], DateTime<Utc>)]) -> Result<(), StoreError> {
        let rows: Vec<(&NewAudit, i64)> = lines
            .iter()
            .flat_map(|(entries, at)| entries.iter().map(move |e| (e, ms(*at))))
            .collect();
        let mut tx = self.begin_write().await?;
        let size = |(e, _): &(&NewAudit, i64)| {
            8 + 8
                + text(Some(&e.actor))
                + text(e.token_id.as_deref())
                + text(Some(&e.action))
                + text(Some(e.outcome.as_str()))
                + text(e.ticket.as_deref())
                + text(e.center.as_deref())
                + text(e.detail.as_deref())
        };
        for chunk in shapes(&rows, size) {
            let sql = format!(
                "INSERT INTO audit_log (at, actor, token_id, action, outcome, ticket_number, \
                 recording_id, center, detail) VALUES {}",
                values(chunk.len(), 9, "{}, {}, {}, {}, {}, {}, {}, {}, {}")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
            for (e, at) in chunk {
                query = query
                    .bind(*at)
                    .bind(&e.actor)
                    .bind(e.token_id.as_deref())
                    .bind(&e.action)
                    .bind(e.outcome.as_str())
                    .bind(e.ticket.as_deref())
                    .bind(e.recording)
                    .bind(e.center.as_deref())
                    .bind(e.detail.as_deref());
            }
            query.execute(&mut **tx).await?;
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
