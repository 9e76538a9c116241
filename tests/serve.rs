//! `hotline serve` on a fresh directory, as a new user would start it.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{stderr, stdout, Server};
use tokio_stream::StreamExt;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

#[test]
fn serve_creates_the_database_and_lists_no_tickets() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);
    assert!(
        dir.path().join("hotline-data/hotline.db").is_file(),
        "serve must create ./hotline-data/hotline.db"
    );
    let out = server.client(&["tickets", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "no tickets, no lines");
}

/// Lists services the way `grpcurl list` does, through server reflection.
#[tokio::test]
async fn reflection_lists_the_services_and_health_is_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);

    let channel = tonic::transport::Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a service list, got {response:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "hotline.v1.TicketService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }

    // grpcurl describes a service by fetching the file that defines it.
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "hotline.v1.TicketService".into(),
        )),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    assert!(
        matches!(response.message_response, Some(MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
        "{response:?}"
    );

    // Older clients still speak v1alpha.
    let mut alpha =
        tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient::new(
            channel.clone(),
        );
    let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut responses = alpha
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    assert!(responses.next().await.unwrap().is_ok());

    let mut health = HealthClient::new(channel);
    for service in ["", "hotline.v1.TicketService"] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            answer.status(),
            ServingStatus::Serving,
            "service `{service}`"
        );
    }
}

/// A draining node says so on its health service before it stops, so an
/// IVR balancing over several ticketing nodes moves its new requests to the
/// others while this one finishes what it has.
#[tokio::test]
async fn health_turns_not_serving_when_the_node_drains() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["ticketing"]);
    let channel = tonic::transport::Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut statuses = HealthClient::new(channel)
        .watch(HealthCheckRequest {
            service: "hotline.v1.TicketService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = statuses.next().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let next = statuses.next().await.unwrap().unwrap();
    assert_eq!(next.status(), ServingStatus::NotServing);
}

#[test]
fn print_config_shows_flag_over_env_over_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hotline.toml"),
        "grpc_listen = \"127.0.0.1:7001\"\ndata_dir = \"from-file\"\nlog = \"debug\"\n",
    )
    .unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(common::hotline());
        cmd.args(["serve", "--print-config"])
            .args(args)
            .current_dir(dir.path());
        for key in [
            "HOTLINE_GRPC_LISTEN",
            "HOTLINE_DATA_DIR",
            "HOTLINE_LOG",
            "HOTLINE_DATABASE_URL",
        ] {
            cmd.env_remove(key);
        }
        cmd.envs(env.iter().copied());
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let from_file = run(&[], &[]);
    assert!(
        from_file.contains("grpc_listen = \"127.0.0.1:7001\""),
        "{from_file}"
    );
    assert!(
        from_file.contains("data_dir = \"from-file\""),
        "{from_file}"
    );
    assert!(from_file.contains("from-file/hotline.db"), "{from_file}");
    assert!(from_file.contains("log = \"debug\""), "{from_file}");

    let from_env = run(&[], &[("HOTLINE_GRPC_LISTEN", "127.0.0.1:7002")]);
    assert!(
        from_env.contains("grpc_listen = \"127.0.0.1:7002\""),
        "{from_env}"
    );

    let from_flag = run(
        &["--grpc-listen", "127.0.0.1:7003"],
        &[("HOTLINE_GRPC_LISTEN", "127.0.0.1:7002")],
    );
    assert!(
        from_flag.contains("grpc_listen = \"127.0.0.1:7003\""),
        "{from_flag}"
    );
    assert!(
        from_flag.contains("log = \"debug\""),
        "the file still fills the rest"
    );

    let hidden = run(
        &[
            "--database-url",
            "postgres://hotline:s3cret@db.example/hotline",
        ],
        &[],
    );
    assert!(
        !hidden.contains("s3cret"),
        "passwords are never printed: {hidden}"
    );

    std::fs::write(dir.path().join("hotline.toml"), "grpc_listen = 5\n").unwrap();
    let out = std::process::Command::new(common::hotline())
        .args(["serve", "--print-config"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("hotline.toml"), "{}", stderr(&out));
}
