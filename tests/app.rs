//! The `App` in-process: every listener bound on port 0, a ticket created
//! over gRPC, a SIP OPTIONS answered, and a shutdown that returns only when
//! every part has stopped and the database is closed.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/app.rs"]
mod app;

use std::time::Duration;

use hotline_proto::v1 as pb;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_serves_every_part_and_stops_in_order() {
    let mut app = app::spawn_app().await;

    // Ticketing answers on its gRPC address.
    let mut client = TicketServiceClient::new(app.admin_channel().await);
    let created = client
        .create_ticket(pb::CreateTicketRequest {
            idempotency_key: "in-process-1".into(),
            matter: Some("family".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();

    // The IVR answers SIP on its address.
    let sip = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sip.local_addr().unwrap();
    let options = format!(
        "OPTIONS sip:12348@{0} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-app-1\r\n\
         From: <sip:probe@{me}>;tag=p\r\nTo: <sip:12348@{0}>\r\nCall-ID: app-options-1\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        app.sip
    );
    sip.send_to(options.as_bytes(), app.sip).await.unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), sip.recv_from(&mut buf))
        .await
        .expect("an answer to OPTIONS")
        .unwrap();
    assert!(
        buf[..n].starts_with(b"SIP/2.0 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );

    // The metrics endpoint serves Prometheus text.
    let mut stream = tokio::net::TcpStream::connect(app.metrics).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The load, for an operator's dashboard: a fresh node has refused no
    // call for want of CPU, and its cap is still max_calls.
    assert!(
        answer.contains("\nhotline_ivr_calls_refused_cpu_total 0\n"),
        "{answer}"
    );
    assert!(
        answer.contains("\nhotline_ivr_cpu_call_limit 500\n"),
        "{answer}"
    );

    // Stopping returns once every part has stopped: nothing listens any more,
    // and the database, closed, holds the ticket.
    drop(client);
    app.stop().await.unwrap();
    for addr in [app.grpc, app.admin, app.metrics] {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "{addr} still listens after the app stopped"
        );
    }
    let url = format!(
        "sqlite://{}?mode=rw",
        app.data.path().join("hotline.db").display()
    );
    let store = hotline_ticketing::Store::connect(&url).await.unwrap();
    let number: hotline_domain::TicketNumber = created.number.parse().unwrap();
    assert_eq!(store.ticket(&number).await.unwrap().number, number);
}

/// Streams never end by themselves: a supervisor watching events, a lawyer
/// watching offers and an admin watching calls must not keep the node from
/// stopping. (The timeout only turns a hang into a failure.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_stops_with_streams_open() {
    use hotline_proto::v1::ivr_admin_client::IvrAdminClient;
    use hotline_proto::v1::routing_service_client::RoutingServiceClient;

    use hotline_proto::v1::access_service_client::AccessServiceClient;

    let mut app = app::spawn_app().await;
    let admin_channel = app.admin_channel().await;
    let mut routing = RoutingServiceClient::new(admin_channel.clone());
    let events = routing
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    routing
        .put_lawyer(pb::Lawyer {
            id: "li".into(),
            name: "Li".into(),
            phone: "13900000001".into(),
            capacity: 3,
            active: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let li = AccessServiceClient::new(admin_channel)
        .create_token(pb::CreateTokenRequest {
            role: "lawyer".into(),
            lawyer: Some("li".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .secret;
    let offers = RoutingServiceClient::new(app.channel(&li).await)
        .watch_offers(pb::WatchOffersRequest::default())
        .await
        .unwrap()
        .into_inner();
    let admin_token = std::fs::read_to_string(app.data.path().join("admin.token")).unwrap();
    let ivr_admin = tonic::transport::Channel::from_shared(format!("http://{}", app.admin))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut admin = IvrAdminClient::with_interceptor(
        ivr_admin,
        hotline_proto::Bearer::new(Some(admin_token.trim())).unwrap(),
    );
    let calls = admin
        .watch_call_events(pb::WatchCallEventsRequest::default())
        .await
        .unwrap()
        .into_inner();

    let stopped = tokio::time::timeout(Duration::from_secs(60), app.stop()).await;
    assert!(
        matches!(stopped, Ok(Ok(()))),
        "the app did not stop with streams open: {stopped:?}"
    );
    drop((events, offers, calls));
}
