//! TLS on gRPC with the development certificate: the CLI works over
//! https:// with `--tls-ca`, the node's own IVR reaches its ticketing over
//! TLS, a plaintext client gets a clear error, and plaintext gRPC on an
//! address other than loopback is refused.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{stderr, stdout, Server};

#[test]
fn the_cli_works_over_tls_and_a_plaintext_client_is_told_why_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve", "--dev-tls"]);
    let ca = dir.path().join("hotline-data/dev-tls/cert.pem");
    let https = format!("https://{}", server.grpc);
    let run = |url: &str, extra: &[&str], args: &[&str]| {
        std::process::Command::new(common::hotline())
            .args(args)
            .args(extra)
            .env("HOTLINE_TICKETING", url)
            .env("HOTLINE_TOKEN", server.admin_token.as_deref().unwrap())
            .output()
            .unwrap()
    };
    let ca_arg = ["--tls-ca", ca.to_str().unwrap()];
    let out = run(
        &https,
        &ca_arg,
        &["tickets", "create", "--matter", "family", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&https, &ca_arg, &["tickets", "list", "--json"]);
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stderr(&out));

    // Plaintext to the TLS port: refused, with what to do.
    let out = run(&server.url(), &[], &["tickets", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("https://"), "{}", stderr(&out));
    // https without the CA: a usage error that names --tls-ca.
    let out = run(&https, &[], &["tickets", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--tls-ca"), "{}", stderr(&out));

    // The node's IVR checks tokens with its ticketing over TLS: its admin
    // API (TLS too) answers a supervisor's request.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use hotline_proto::v1::ivr_admin_client::IvrAdminClient;
        let pem = std::fs::read(&ca).unwrap();
        let channel =
            tonic::transport::Channel::from_shared(format!("https://{}", server.admin.unwrap()))
                .unwrap()
                .tls_config(
                    tonic::transport::ClientTlsConfig::new()
                        .ca_certificate(tonic::transport::Certificate::from_pem(pem)),
                )
                .unwrap()
                .connect()
                .await
                .unwrap();
        let bearer = hotline_proto::Bearer::new(server.admin_token.as_deref()).unwrap();
        let mut admin = IvrAdminClient::with_interceptor(channel, bearer);
        admin
            .list_calls(hotline_proto::v1::ListCallsRequest {})
            .await
            .unwrap();
    });
}

#[test]
fn plaintext_grpc_beyond_loopback_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::bare_hotline(dir.path())
        .args(["ticketing", "--grpc-listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--allow-plaintext"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--dev-tls"), "{}", stderr(&out));
    // Said on purpose, it starts.
    let server = Server::start(
        dir.path(),
        &[
            "ticketing",
            "--grpc-listen",
            "0.0.0.0:0",
            "--allow-plaintext",
        ],
    );
    assert_ne!(server.grpc.port(), 0);
}

#[test]
fn an_ivr_refuses_a_plaintext_ticketing_on_another_machine() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ivr.token"), "hlt_0123456789ab_x").unwrap();
    let out = common::bare_hotline(dir.path())
        .args(["ivr", "--token-file", "ivr.token"])
        .args(["--ticketing", "http://192.0.2.7:50051"])
        .args([
            "--sip-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("https://"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--allow-plaintext"),
        "{}",
        stderr(&out)
    );
}

/// The web console serves HTTPS with the same certificate, and its session
/// cookie is then Secure; plain HTTP to it gets nowhere. Driven by curl.
#[test]
fn the_console_serves_https_with_the_grpc_certificate() {
    common::require("curl", "curl");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve", "--dev-tls"]);
    let ca = dir.path().join("hotline-data/dev-tls/cert.pem");
    let web = server.web.unwrap();
    let curl = |args: &[&str]| {
        std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert", ca.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap()
    };
    let login_page = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("https://{web}/login"),
    ]);
    assert_eq!(stdout(&login_page), "200", "{}", stderr(&login_page));
    let token = format!("token={}", server.admin_token.as_deref().unwrap());
    let login = curl(&[
        "-D",
        "-",
        "-o",
        "/dev/null",
        "--data",
        &token,
        &format!("https://{web}/login"),
    ]);
    let headers = stdout(&login).to_ascii_lowercase();
    let cookie = headers
        .lines()
        .find(|l| l.starts_with("set-cookie: hotline_session="))
        .unwrap_or_else(|| panic!("no session cookie:\n{headers}"));
    for flag in ["httponly", "samesite=strict", "secure"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    // Plain HTTP to the TLS port is no console.
    let plain = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://{web}/login"),
    ]);
    assert_ne!(stdout(&plain), "200");
}
