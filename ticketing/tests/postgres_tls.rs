//! The store reaches PostgreSQL over TLS (rustls), verifying the server's
//! certificate against the CA it is given (`sslmode=verify-ca` with
//! `sslrootcert`; `verify-full` also checks the host name).

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sqlx::{Connection, PgConnection, Row};

#[tokio::test]
async fn the_store_talks_to_postgresql_over_verified_tls() {
    let (store, db) = support::postgres().await;
    drop(store);
    let url = db.url();
    // The server's own certificate (Debian's is self-signed: its own CA).
    let mut plain = PgConnection::connect(&url).await.unwrap();
    let ssl: String = sqlx::query("SHOW ssl")
        .fetch_one(&mut plain)
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        ssl, "on",
        "the PostgreSQL server at {url} has ssl = off; Debian's package turns it on with \
         its snakeoil certificate (package ssl-cert)"
    );
    let cert: String = sqlx::query("SHOW ssl_cert_file")
        .fetch_one(&mut plain)
        .await
        .unwrap()
        .get(0);
    plain.close().await.ok();
    let cert = if cert.starts_with('/') {
        cert
    } else {
        let dir: String = {
            let mut c = PgConnection::connect(&url).await.unwrap();
            sqlx::query("SHOW data_directory")
                .fetch_one(&mut c)
                .await
                .unwrap()
                .get(0)
        };
        format!("{dir}/{cert}")
    };
    let secure = format!("{url}?sslmode=verify-ca&sslrootcert={cert}");
    let store = hotline_ticketing::Store::connect(&secure).await.unwrap();
    let encrypted: bool = sqlx::query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert!(encrypted, "the store's connection is encrypted");
    // A CA that did not sign the server's certificate (a self-signed one of
    // the test suite's, tests/data/unrelated-ca.pem) is refused.
    let wrong = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wrong.path(), include_str!("data/unrelated-ca.pem")).unwrap();
    let refused = hotline_ticketing::Store::connect(&format!(
        "{url}?sslmode=verify-ca&sslrootcert={}",
        wrong.path().display()
    ))
    .await;
    assert!(refused.is_err(), "an unverified server is refused");
    db.finish(store).await;
}
