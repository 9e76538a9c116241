//! Where tickets live: SQLite (the embedded default) or PostgreSQL, through
//! one sqlx `Any` pool, so both backends run the very same statements and the
//! same test suite. Each backend has its own migrations, applied at start-up.
//!
//! The statements are grouped by job: [`tickets`] (create, read, list,
//! transition, notes, history), [`batch`] (concurrent creates committed
//! together), [`corrections`] (facts corrected, urgency
//! re-assessed), [`recordings`], [`roster`] (lawyers, shifts, who is on
//! duty), [`offers`] (the offer state machine and the routing timers the
//! scheduler claims), [`events`] (what streams read), [`health`] (what
//! `hotline check` reports), [`access`] (tokens, and the audit log, whose
//! lines of concurrent callers are committed together as creates are) and
//! [`retention`] (recordings removed and numbers anonymised when their time
//! is up).
//!
//! Every statement takes `now` from the caller; no SQL reads the clock.

mod access;
mod batch;
mod bridges;
mod callbacks;
mod clocks;
mod console;
mod corrections;
mod events;
mod health;
mod ivr_figures;
mod migrations;
mod offers;
mod pages;
mod recordings;
mod retention;
mod roster;
mod tickets;

pub use crate::routing::RosterError;
pub use crate::tickets::NewRecording;
pub use batch::CreateRequest;
pub use bridges::{BridgeJob, BridgeLegs};
pub use offers::ROUTING_ACTOR;
pub use pages::{PageFinish, PageJob};

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Transaction};

use crate::tickets::lifecycle::LifecycleError;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot open the database at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot apply the database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("no ticket has the number {0}")]
    NotFound(String),
    #[error("no recording has the id {0}")]
    RecordingNotFound(i64),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error("the database holds a value this version cannot read: {0}")]
    Corrupt(String),
    #[error("could not find a free ticket number after {0} tries")]
    NumbersExhausted(u32),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A lock timeout ([`StoreError::is_lock_timeout`]) shared by every
    /// create of a batch that hit it.
    #[error("another node holds a lock this write needs (lock timeout); nothing was written")]
    LockTimeout,
    /// The lock timeout on the routing lock of this center: another node
    /// holds it (a node frozen mid-transaction?).
    #[error(
        "another node holds the routing lock of center {0} (lock timeout); nothing was written"
    )]
    CenterBusy(String),
}

/// Whether `url` names a database this store can open (its scheme only;
/// nothing is connected): what start-up checks before it binds anything.
pub fn check_url(url: &str) -> Result<(), StoreError> {
    backend_of(url).map(drop)
}

fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::UnsupportedUrl(redact(url)))
    }
}

impl StoreError {
    /// PostgreSQL's lock_not_available (55P03): a write waited out the lock
    /// timeout every write transaction begins with (five seconds) and
    /// was rolled back; nothing of it was written, and it may be retried.
    pub fn is_lock_timeout(&self) -> bool {
        match self {
            StoreError::LockTimeout | StoreError::CenterBusy(_) => true,
            StoreError::Database(sqlx::Error::Database(db)) => {
                db.code().as_deref() == Some("55P03")
            }
            _ => false,
        }
    }
}

/// The ticket store. Cheap to clone: clones share one pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// For the PostgreSQL LISTEN connection; never printed unredacted.
    url: String,
    /// Woken after every commit of this process, so its streams need not
    /// wait for their next poll (other nodes' commits come by NOTIFY).
    committed: std::sync::Arc<tokio::sync::Notify>,
    /// SQLite's single write lock, taken in this process first: writers
    /// queue here and are woken the moment the previous one commits,
    /// instead of polling SQLite's lock in its busy handler, which sleeps
    /// up to 100 ms between tries and left the CPU idle under load.
    write_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// New tickets on their way to a group commit (see [`batch`]).
    creates: std::sync::Arc<batch::CreateQueue>,
    /// Audit lines on their way to a group commit (see [`access`]).
    audits: std::sync::Arc<access::AuditQueue>,
}

/// A write transaction. On SQLite it holds the process's write turn until
/// it commits or is dropped (rolled back).
pub(crate) struct WriteTx {
    // Dropped first: the rollback is queued before the turn is released.
    tx: Transaction<'static, Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Rolls back now, rather than when the connection next leaves the pool.
    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = Transaction<'static, Any>;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl Store {
    /// Opens the database at `url`, creating a SQLite file if needed, and
    /// applies the migrations of its backend.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        let options = match backend {
            // One writer at a time is SQLite's nature; a few readers run
            // beside it thanks to WAL.
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // WAL with synchronous=FULL: a write that returned
                            // OK survives a power loss, not only a crash.
                            // secure_delete: what retention removes (a
                            // recording, a number) is overwritten, not left
                            // in the file's free pages.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                             PRAGMA secure_delete = ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
            }
            Backend::Postgres => AnyPoolOptions::new().max_connections(16),
        };
        let pool = options
            .acquire_timeout(Duration::from_secs(15))
            .connect(url)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact(url),
                source,
            })?;
        match backend {
            Backend::Sqlite => migrations::sqlite().run(&pool).await?,
            Backend::Postgres => migrations::postgres().run(&pool).await?,
        }
        Ok(Self {
            pool,
            backend,
            url: url.to_owned(),
            committed: std::sync::Arc::default(),
            write_turn: std::sync::Arc::default(),
            creates: std::sync::Arc::default(),
            audits: std::sync::Arc::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// What streams wait on: woken after this process commits, and (on
    /// PostgreSQL, once [`Store::listen_for_events`] runs) after any node does.
    pub fn commits(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.committed.clone()
    }

    fn committed(&self) {
        self.committed.notify_waiters();
    }

    /// Wakes `wake` whenever any node commits a ticket event (PostgreSQL
    /// LISTEN/NOTIFY), until the connection fails for good. SQLite has one
    /// node; its streams poll.
    pub async fn listen_for_events(&self, wake: std::sync::Arc<tokio::sync::Notify>) {
        if self.backend != Backend::Postgres {
            return;
        }
        loop {
            match sqlx::postgres::PgListener::connect(&self.url).await {
                Ok(mut listener) => {
                    if listener.listen("hotline_events").await.is_ok() {
                        while listener.recv().await.is_ok() {
                            wake.notify_waiters();
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot LISTEN for events; streams poll"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The pool, for checks and maintenance jobs.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection, waiting for the ones in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a transaction that will write. On SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`): a deferred transaction that reads
    /// first and writes later would fail with SQLITE_BUSY instead of waiting
    /// when another writer got in between. On PostgreSQL it waits at most
    /// [`BEGIN_WRITE_POSTGRES`]'s lock timeout for any lock.
    async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let turn = self.write_turn.clone().lock_owned().await;
                Ok(WriteTx {
                    tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
                    _turn: Some(turn),
                })
            }
            Backend::Postgres => Ok(WriteTx {
                tx: self.pool.begin_with(BEGIN_WRITE_POSTGRES).await?,
                _turn: None,
            }),
        }
    }
}

/// A write transaction on PostgreSQL, and how long it waits for a lock
/// before it gives up. A lock that another node holds and does not let go
/// (a node frozen mid-transaction holding a center's routing lock) then
/// fails a create, an acknowledgement or a close with an error after
/// this, instead of stopping every write of the center behind it. Both
/// statements go in one message (sqlx sends a BEGIN as a simple query):
/// one round trip.
const BEGIN_WRITE_POSTGRES: &str = "BEGIN; SET LOCAL lock_timeout = '5s'";

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("url", &redact(&self.url))
            .finish_non_exhaustive()
    }
}

/// `$first, $first+1, …`: the bind placeholders of an `IN (…)` list of
/// `count` values that follow `first - 1` other parameters.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Hides the password of a database URL before it goes into a message.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn get<'r, T>(row: &'r AnyRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    use sqlx::Row;
    row.try_get(column).map_err(StoreError::Database)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://./x.db"), "sqlite://./x.db");
    }
}
