//! The IVR's durable outbox: an embedded SQLite file on the IVR node that
//! holds every ticket request (and its recording) until ticketing has
//! confirmed it. A request is written here before the first delivery
//! attempt, so neither ticketing being down nor the IVR crashing loses a
//! caller's request; delivery retries with the same idempotency key.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

/// One waiting request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub idempotency_key: String,
    /// `CreateTicketRequest`, protobuf-encoded.
    pub request: Vec<u8>,
    /// The caller's message as a WAV file, if one was recorded.
    pub recording: Option<Vec<u8>>,
    pub recording_ms: i64,
    pub attempts: i64,
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
        Ok(Self { pool })
    }

    /// Stores a request; a second `put` with the same key keeps the first.
    pub async fn put(&self, entry: &Entry, now_ms: i64) -> Result<(), OutboxError> {
        sqlx::query(
            "INSERT INTO outbox (idempotency_key, request, recording, recording_ms, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING",
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

    /// Requests still waiting, oldest first.
    pub async fn pending(&self, limit: i64) -> Result<Vec<Entry>, OutboxError> {
        let rows = sqlx::query(
            "SELECT idempotency_key, request, recording, recording_ms, attempts FROM outbox \
             ORDER BY created_at, idempotency_key LIMIT $1",
        )
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
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    pub async fn count(&self) -> Result<i64, OutboxError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM outbox")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Ticketing has confirmed the request and its recording.
    pub async fn delivered(&self, key: &str) -> Result<(), OutboxError> {
        sqlx::query("DELETE FROM outbox WHERE idempotency_key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn failed(&self, key: &str, error: &str) -> Result<(), OutboxError> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE idempotency_key = $1",
        )
        .bind(key)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
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
            .failed("ivr-1:a", "connection refused")
            .await
            .unwrap();
        drop(outbox);

        // As after a crash: everything is still there, oldest first.
        let outbox = Outbox::open(&path).await.unwrap();
        let pending = outbox.pending(10).await.unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].idempotency_key, "ivr-1:a");
        assert_eq!(pending[0].request, vec![1, 2, 3]);
        assert_eq!(pending[0].attempts, 1);
        assert_eq!(pending[1], entry("ivr-1:b"));
        outbox.delivered("ivr-1:a").await.unwrap();
        assert_eq!(outbox.count().await.unwrap(), 1);
        assert_eq!(
            outbox.pending(10).await.unwrap()[0].idempotency_key,
            "ivr-1:b"
        );
    }
}
