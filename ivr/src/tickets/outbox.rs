//! The IVR's durable outbox: an embedded SQLite file on the IVR node that
//! holds every ticket request (and its recording) until ticketing has
//! confirmed it. A request is written here before the first delivery
//! attempt, so neither ticketing being down nor the IVR crashing loses a
//! caller's request; delivery retries with the same idempotency key.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

/// One request as delivery sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub idempotency_key: String,
    /// `CreateTicketRequest`, protobuf-encoded.
    pub request: Vec<u8>,
    /// The caller's message as a WAV file, if one was recorded.
    pub recording: Option<Vec<u8>>,
    pub recording_ms: i64,
    pub attempts: i64,
    /// Set once ticketing has created the ticket: only the recording is
    /// left to deliver.
    pub ticket_number: Option<String>,
}

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// Delivery is retried at `next_attempt_at`.
    Waiting,
    /// Ticketing refused it for good; it waits for an operator
    /// (`hotline outbox retry|drop`).
    Dead,
}

impl EntryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Dead => "dead",
        }
    }

    fn parse(text: &str) -> Self {
        if text == "dead" {
            Self::Dead
        } else {
            Self::Waiting
        }
    }
}

/// An entry as an operator sees it (`hotline outbox list|show`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub idempotency_key: String,
    pub state: EntryState,
    /// The number the IVR proposed (and the caller heard, if ticketing was
    /// slow), or ticketing's once it created the ticket.
    pub number: Option<String>,
    pub ticket_created: bool,
    pub recording_bytes: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub next_attempt_at_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("cannot open the IVR outbox at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("IVR outbox: {0}")]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, Clone)]
pub struct Outbox {
    pool: SqlitePool,
}

/// The wait before retry `attempts` (1, 2, …): 1 s doubling to 5 min.
pub fn backoff_ms(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    1000_i64.saturating_mul(1 << doublings).min(300_000)
}

/// How far back an entry goes when ticketing cannot be reached.
const UNREACHABLE_RETRY_MS: i64 = 1000;

/// Columns added after the first release, for outbox files made by it.
const ADDED_COLUMNS: &[(&str, &str)] = &[
    ("state", "TEXT NOT NULL DEFAULT 'waiting'"),
    ("next_attempt_at", "INTEGER NOT NULL DEFAULT 0"),
    ("ticket_number", "TEXT"),
];

impl Outbox {
    /// Opens (or creates) the outbox file, with WAL and `synchronous=FULL`
    /// so that an entry survives a power loss once `put` returns.
    pub async fn open(path: &Path) -> Result<Self, OutboxError> {
        let open_error = |source| OutboxError::Open {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| open_error(sqlx::Error::Io(e)))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(open_error)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS outbox (
                idempotency_key TEXT PRIMARY KEY,
                request         BLOB NOT NULL,
                recording       BLOB,
                recording_ms    INTEGER NOT NULL DEFAULT 0,
                created_at      INTEGER NOT NULL,
                attempts        INTEGER NOT NULL DEFAULT 0,
                last_error      TEXT
            )",
        )
        .execute(&pool)
        .await
        .map_err(open_error)?;
        let present: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info('outbox')")
            .fetch_all(&pool)
            .await
            .map_err(open_error)?
            .iter()
            .map(|r| r.try_get("name"))
            .collect::<Result<_, _>>()
            .map_err(open_error)?;
        for (column, definition) in ADDED_COLUMNS {
            if !present.iter().any(|p| p == column) {
                // Constant names and definitions, never input.
                let sql = format!("ALTER TABLE outbox ADD COLUMN {column} {definition}");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&pool)
                    .await
                    .map_err(open_error)?;
            }
        }
        sqlx::query("CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at)")
            .execute(&pool)
            .await
            .map_err(open_error)?;
        Ok(Self { pool })
    }

    /// Stores a request, due at once; a second `put` with the same key
    /// keeps the first.
    pub async fn put(&self, entry: &Entry, now_ms: i64) -> Result<(), OutboxError> {
        sqlx::query(
            "INSERT INTO outbox (idempotency_key, request, recording, recording_ms, created_at, \
             next_attempt_at) VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&entry.idempotency_key)
        .bind(&entry.request)
        .bind(&entry.recording)
        .bind(entry.recording_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Waiting requests due by `now_ms`, the longest overdue first; at most
    /// `limit` (a pass takes them in pages until none is due).
    pub async fn due(&self, now_ms: i64, limit: i64) -> Result<Vec<Entry>, OutboxError> {
        let rows = sqlx::query(
            "SELECT idempotency_key, request, recording, recording_ms, attempts, ticket_number \
             FROM outbox WHERE state = 'waiting' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, created_at, idempotency_key LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Entry {
                    idempotency_key: r.try_get("idempotency_key")?,
                    request: r.try_get("request")?,
                    recording: r.try_get("recording")?,
                    recording_ms: r.try_get("recording_ms")?,
                    attempts: r.try_get("attempts")?,
                    ticket_number: r.try_get("ticket_number")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// When the next waiting request is due, if any waits.
    pub async fn next_due(&self) -> Result<Option<i64>, OutboxError> {
        let row =
            sqlx::query("SELECT MIN(next_attempt_at) AS at FROM outbox WHERE state = 'waiting'")
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get("at")?)
    }

    /// Requests waiting and dead.
    pub async fn counts(&self) -> Result<(i64, i64), OutboxError> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(state = 'waiting'), 0) AS waiting, \
             COALESCE(SUM(state = 'dead'), 0) AS dead FROM outbox",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("waiting")?, row.try_get("dead")?))
    }

    pub async fn count(&self) -> Result<i64, OutboxError> {
        let (waiting, dead) = self.counts().await?;
        Ok(waiting + dead)
    }

    /// Ticketing has confirmed the request and its recording.
    pub async fn delivered(&self, key: &str) -> Result<(), OutboxError> {
        sqlx::query("DELETE FROM outbox WHERE idempotency_key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ticketing created the ticket; the recording may still be to deliver.
    pub async fn ticket_created(&self, key: &str, number: &str) -> Result<(), OutboxError> {
        sqlx::query("UPDATE outbox SET ticket_number = $2 WHERE idempotency_key = $1")
            .bind(key)
            .bind(number)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A failed attempt that may succeed later: retried after a backoff
    /// that grows with the entry's own attempts, so it delays nobody else.
    pub async fn retry_later(
        &self,
        key: &str,
        error: &str,
        now_ms: i64,
    ) -> Result<(), OutboxError> {
        let Some(row) = sqlx::query("SELECT attempts FROM outbox WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(());
        };
        let attempts = row.try_get::<i64, _>("attempts")? + 1;
        sqlx::query(
            "UPDATE outbox SET attempts = $2, last_error = $3, next_attempt_at = $4 \
             WHERE idempotency_key = $1",
        )
        .bind(key)
        .bind(attempts)
        .bind(error)
        .bind(now_ms.saturating_add(backoff_ms(attempts)))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ticketing could not be reached: the attempt is counted and its error
    /// kept, and the entry goes to the back of what is due (a second from
    /// now, never more), so the next pass starts with another entry. Waiting
    /// for ticketing to come back is the delivery loop's one backoff, not
    /// every entry's own, so when it returns every waiting caller's request
    /// goes at once.
    pub async fn note_unreachable(
        &self,
        key: &str,
        error: &str,
        now_ms: i64,
    ) -> Result<(), OutboxError> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 \
             WHERE idempotency_key = $1",
        )
        .bind(key)
        .bind(error)
        .bind(now_ms.saturating_add(UNREACHABLE_RETRY_MS))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The recording of an entry, for an operator to keep.
    pub async fn recording(&self, key: &str) -> Result<Option<Vec<u8>>, OutboxError> {
        let row = sqlx::query("SELECT recording FROM outbox WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get("recording")?,
            None => None,
        })
    }

    /// Ticketing refused the entry for good: set aside with the reason.
    pub async fn dead(&self, key: &str, reason: &str) -> Result<(), OutboxError> {
        sqlx::query(
            "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = $2 \
             WHERE idempotency_key = $1",
        )
        .bind(key)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every entry, oldest first, as an operator sees it.
    pub async fn list(&self) -> Result<Vec<Listed>, OutboxError> {
        self.listed(None).await
    }

    /// One entry by its key.
    pub async fn show(&self, key: &str) -> Result<Option<Listed>, OutboxError> {
        Ok(self.listed(Some(key)).await?.pop())
    }

    async fn listed(&self, key: Option<&str>) -> Result<Vec<Listed>, OutboxError> {
        let rows = sqlx::query(
            "SELECT idempotency_key, request, state, ticket_number, \
             COALESCE(LENGTH(recording), 0) AS recording_bytes, attempts, last_error, \
             created_at, next_attempt_at FROM outbox \
             WHERE $1 IS NULL OR idempotency_key = $1 ORDER BY created_at, idempotency_key",
        )
        .bind(key)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let ticket_number: Option<String> = r.try_get("ticket_number")?;
                let request: Vec<u8> = r.try_get("request")?;
                let proposed = <hotline_proto::v1::CreateTicketRequest as prost::Message>::decode(
                    request.as_slice(),
                )
                .ok()
                .and_then(|r| r.proposed_number);
                Ok(Listed {
                    idempotency_key: r.try_get("idempotency_key")?,
                    state: EntryState::parse(&r.try_get::<String, _>("state")?),
                    ticket_created: ticket_number.is_some(),
                    number: ticket_number.or(proposed),
                    recording_bytes: r.try_get("recording_bytes")?,
                    attempts: r.try_get("attempts")?,
                    last_error: r.try_get("last_error")?,
                    created_at_ms: r.try_get("created_at")?,
                    next_attempt_at_ms: r.try_get("next_attempt_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// An operator sends an entry (dead or waiting) again at once. Returns
    /// whether the key exists.
    pub async fn retry(&self, key: &str, now_ms: i64) -> Result<bool, OutboxError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'waiting', attempts = 0, next_attempt_at = $2 \
             WHERE idempotency_key = $1",
        )
        .bind(key)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Closes the file (every connection), for a clean handover.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// An operator gives an entry up. Returns whether the key existed.
    pub async fn drop_entry(&self, key: &str) -> Result<bool, OutboxError> {
        let done = sqlx::query("DELETE FROM outbox WHERE idempotency_key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str) -> Entry {
        Entry {
            idempotency_key: key.into(),
            request: vec![1, 2, 3],
            recording: Some(vec![9; 100]),
            recording_ms: 6,
            attempts: 0,
            ticket_number: None,
        }
    }

    #[tokio::test]
    async fn requests_survive_a_reopen_until_delivered_and_are_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/outbox.db");
        let outbox = Outbox::open(&path).await.unwrap();
        outbox.put(&entry("ivr-1:a"), 1).await.unwrap();
        outbox.put(&entry("ivr-1:b"), 2).await.unwrap();
        // A second put with the same key (a retried call task) keeps the first.
        let mut changed = entry("ivr-1:a");
        changed.request = vec![7];
        outbox.put(&changed, 3).await.unwrap();
        outbox
            .retry_later("ivr-1:a", "connection refused", 3)
            .await
            .unwrap();
        drop(outbox);

        // As after a crash: everything is still there, oldest first.
        let outbox = Outbox::open(&path).await.unwrap();
        let pending = outbox.due(i64::MAX, 10).await.unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[1].idempotency_key, "ivr-1:a");
        assert_eq!(pending[1].request, vec![1, 2, 3]);
        assert_eq!(pending[1].attempts, 1);
        assert_eq!(pending[0], entry("ivr-1:b"));
        outbox.delivered("ivr-1:a").await.unwrap();
        assert_eq!(outbox.count().await.unwrap(), 1);
        assert_eq!(
            outbox.due(i64::MAX, 10).await.unwrap()[0].idempotency_key,
            "ivr-1:b"
        );
    }

    #[tokio::test]
    async fn each_entry_waits_its_own_backoff_and_dead_letters_wait_for_an_operator() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&dir.path().join("outbox.db")).await.unwrap();
        for (key, at) in [("a", 10), ("b", 20), ("c", 30)] {
            outbox.put(&entry(key), at).await.unwrap();
        }
        // `a` fails twice: 1 s, then 2 s from its own failures.
        outbox.retry_later("a", "unavailable", 100).await.unwrap();
        assert_eq!(
            outbox.show("a").await.unwrap().unwrap().next_attempt_at_ms,
            1100
        );
        outbox.retry_later("a", "unavailable", 1100).await.unwrap();
        assert_eq!(
            outbox.show("a").await.unwrap().unwrap().next_attempt_at_ms,
            3100
        );
        // `b` is refused for good.
        outbox.dead("b", "INVALID_ARGUMENT: matter").await.unwrap();
        let due: Vec<_> = outbox
            .due(1000, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.idempotency_key)
            .collect();
        assert_eq!(due, ["c"], "a waits for its backoff, b for an operator");
        assert_eq!(outbox.counts().await.unwrap(), (2, 1));
        assert_eq!(outbox.next_due().await.unwrap(), Some(30));
        let b = outbox.show("b").await.unwrap().unwrap();
        assert_eq!(b.state, EntryState::Dead);
        assert_eq!(b.last_error.as_deref(), Some("INVALID_ARGUMENT: matter"));
        // An operator retries it: due at once.
        assert!(outbox.retry("b", 5000).await.unwrap());
        assert!(outbox
            .due(5000, 10)
            .await
            .unwrap()
            .iter()
            .any(|e| e.idempotency_key == "b" && e.attempts == 0));
        // Unreachable ticketing counts the attempt but keeps the entry due.
        outbox
            .note_unreachable("c", "connection refused", 40)
            .await
            .unwrap();
        let c = outbox.show("c").await.unwrap().unwrap();
        assert_eq!(
            (c.attempts, c.next_attempt_at_ms),
            (1, 1040),
            "a second, not a backoff"
        );
        assert!(outbox.drop_entry("b").await.unwrap());
        assert!(!outbox.drop_entry("b").await.unwrap());
        assert!(outbox.show("b").await.unwrap().is_none());
        assert_eq!(backoff_ms(1), 1000);
        assert_eq!(backoff_ms(3), 4000);
        assert_eq!(backoff_ms(40), 300_000);
    }
}
