//! Databases for tests: a fresh SQLite file or a fresh PostgreSQL database per
//! test, so tests running in parallel never see each other's rows.

#![allow(dead_code)]

use hotline_ticketing::Store;
use sqlx::{Connection, Executor, PgConnection};

/// Where the PostgreSQL server for tests is; CI runs one here.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

pub async fn sqlite() -> (Store, TestDb) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("hotline.db").display()
    );
    let store = Store::connect(&url).await.expect("open SQLite store");
    (store, TestDb::Sqlite(dir))
}

pub fn postgres_admin_url() -> String {
    std::env::var("HOTLINE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

pub async fn postgres() -> (Store, TestDb) {
    let admin_url = postgres_admin_url();
    let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {admin_url} ({e}). Start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
             (Debian package `postgresql`), or point HOTLINE_TEST_POSTGRES_URL at a server."
        )
    });
    let name = format!("hotline_t_{:016x}", rand::random::<u64>());
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create test database");
    admin.close().await.ok();
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .expect("PostgreSQL URL with a database name");
    let store = Store::connect(&format!("{base}/{name}"))
        .await
        .expect("open PostgreSQL store");
    (store, TestDb::Postgres { admin_url, name })
}

impl TestDb {
    /// The database's URL, for a second store on it (a second ticketing
    /// node in a test).
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(dir) => format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("hotline.db").display()
            ),
            TestDb::Postgres { admin_url, name } => {
                let base = admin_url.rsplit_once('/').map_or("", |(base, _)| base);
                format!("{base}/{name}")
            }
        }
    }

    /// Drops a PostgreSQL test database; a SQLite one goes with its temp dir.
    pub async fn finish(self, store: Store) {
        store.close().await;
        if let TestDb::Postgres { admin_url, name } = self {
            if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                admin
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await
                    .ok();
            }
        }
    }
}

/// A token of `role` (a lawyer's names `lawyer`), made through the front
/// door as `hotline token create` makes one.
#[allow(dead_code)]
pub async fn token(
    ticketing: &hotline_ticketing::Ticketing,
    role: hotline_ticketing::auth::Role,
    lawyer: Option<&str>,
) -> String {
    let new = hotline_ticketing::auth::NewToken {
        role,
        lawyer: lawyer.map(Into::into),
        center: None,
        name: lawyer.unwrap_or(role.as_str()).to_owned(),
        expires_at: None,
    };
    ticketing.create_token(&new, "test").await.unwrap().0
}

/// A channel to `addr` whose requests carry `token`.
#[allow(dead_code)]
pub async fn channel(addr: std::net::SocketAddr, token: &str) -> hotline_proto::AuthedChannel {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    tonic::service::interceptor::InterceptedService::new(
        channel,
        hotline_proto::Bearer::new(Some(token)).unwrap(),
    )
}

/// Runs each listed async test (taking a fresh `Store`) against both
/// backends: `sqlite::NAME` and `postgres::NAME`, the names tests/run.sh
/// counts to check the PostgreSQL half ran.
#[allow(unused_macros)]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, db) = crate::support::sqlite().await;
                    super::$name(store.clone()).await;
                    db.finish(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, db) = crate::support::postgres().await;
                    super::$name(store.clone()).await;
                    db.finish(store).await;
                }
            )*
        }
    };
}
