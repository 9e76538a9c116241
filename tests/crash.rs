//! A SIGKILL in the middle of a stream of creates loses no ticket whose
//! create call returned OK.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::Server;
use hotline_proto::v1 as pb;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_creates_loses_no_acknowledged_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &["serve"]);
    let url = server.url();
    let token = server.admin_token.clone();

    // Four writers create tickets as fast as they can; each records the
    // tickets whose create returned OK.
    let acknowledged: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let mut writers = Vec::new();
    for writer in 0..4 {
        let url = url.clone();
        let token = token.clone();
        let acknowledged = acknowledged.clone();
        writers.push(tokio::spawn(async move {
            let mut client =
                TicketServiceClient::new(common::authed_channel(&url, token.as_deref()).await);
            for i in 0.. {
                let key = format!("writer-{writer}-{i}");
                let request = pb::CreateTicketRequest {
                    idempotency_key: key.clone(),
                    matter: Some("labor-wages".into()),
                    summary: Some(format!("ticket {i} of writer {writer}")),
                    ..Default::default()
                };
                match client.create_ticket(request).await {
                    Ok(response) => {
                        let number = response.into_inner().ticket.unwrap().number;
                        acknowledged.lock().unwrap().insert(key, number);
                    }
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }

    // Kill the server once a fair number of creates went through.
    loop {
        if acknowledged.lock().unwrap().len() >= 150 {
            break;
        }
        tokio::task::yield_now().await;
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    server.kill();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 150);

    // Start again on the same data directory: every acknowledged ticket is there.
    let server = Server::start(dir.path(), &["serve"]);
    // Not a first start: the admin token from before still works.
    assert_eq!(server.admin_token, token);
    let mut client = TicketServiceClient::new(server.channel().await);
    for (key, number) in &acknowledged {
        let ticket = client
            .get_ticket(pb::GetTicketRequest {
                number: number.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("ticket {number} ({key}) was acknowledged but is lost: {e}"))
            .into_inner();
        assert_eq!(&ticket.number, number);
        // A retry with the same key finds the same ticket, not a new one.
        let retry = client
            .create_ticket(pb::CreateTicketRequest {
                idempotency_key: key.clone(),
                matter: Some("labor-wages".into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!retry.created, "{key} was created twice");
        assert_eq!(&retry.ticket.unwrap().number, number);
    }
}
