//! Several ticketing nodes behind one IVR node. Requests are spread over the
//! nodes by tonic's own balancer (power of two choices on pending requests);
//! what this module adds is the standard gRPC health check in front of it:
//! each node is asked `grpc.health.v1.Health/Check` every second, and only
//! nodes that answer SERVING are in the balancer's set. A node that dies
//! (or drains) leaves the set within about two seconds, instead of staying
//! in it and failing fast, which would draw more requests to it than to the
//! node that works; it comes back when it answers again. Requests that met
//! the dead node before it left are retried by the outbox with the same
//! idempotency key, so none is lost and none is doubled.

use std::time::Duration;

use tokio::sync::mpsc::Sender;
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// How often each node is asked.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// A node that does not answer within this is out.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// The service every ticketing node reports in its health.
const TICKET_SERVICE: &str = "hotline.v1.TicketService";

/// The channel to ticketing: to the one node connected lazily (the IVR
/// starts and answers calls while ticketing is down), or balanced over
/// several. Must be called inside a tokio runtime when there are several
/// (it starts one health checker per node).
pub fn channel(endpoints: Vec<Endpoint>) -> Channel {
    let mut endpoints: Vec<Endpoint> = endpoints
        .into_iter()
        .map(|e| e.connect_timeout(Duration::from_secs(1)).tcp_nodelay(true))
        .collect();
    match endpoints.len() {
        0 | 1 => match endpoints.pop() {
            Some(endpoint) => endpoint.connect_lazy(),
            // No node at all: a channel that never connects, so every
            // request fails as with ticketing down.
            None => balanced(Vec::new()),
        },
        _ => balanced(endpoints),
    }
}

/// One channel over all `endpoints`, each in the set while it is healthy.
fn balanced(endpoints: Vec<Endpoint>) -> Channel {
    let (channel, changes) = Channel::balance_channel::<usize>(endpoints.len().max(1) * 2);
    for (key, endpoint) in endpoints.into_iter().enumerate() {
        tokio::spawn(watch(key, endpoint, changes.clone()));
    }
    channel
}

/// Keeps node `key` in the set while it answers SERVING; ends when the
/// channel is dropped.
async fn watch(key: usize, endpoint: Endpoint, changes: Sender<Change<usize, Endpoint>>) {
    let node = endpoint.uri().to_string();
    let mut health: Option<HealthClient<Channel>> = None;
    let mut in_set = false;
    loop {
        let serving = check(&endpoint, &mut health).await;
        if serving != in_set {
            let change = if serving {
                tracing::info!(%node, "ticketing node answers its health check; in rotation");
                Change::Insert(key, endpoint.clone())
            } else {
                tracing::warn!(%node, "ticketing node fails its health check; out of rotation");
                Change::Remove(key)
            };
            if changes.send(change).await.is_err() {
                return;
            }
            in_set = serving;
        }
        if changes.is_closed() {
            return;
        }
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

/// Whether the node answers SERVING now; a failed connection is dropped so
/// the next check connects afresh.
async fn check(endpoint: &Endpoint, health: &mut Option<HealthClient<Channel>>) -> bool {
    let client = match health {
        Some(client) => client,
        None => {
            let connected = tokio::time::timeout(CHECK_TIMEOUT, endpoint.clone().connect()).await;
            match connected {
                Ok(Ok(channel)) => health.insert(HealthClient::new(channel)),
                _ => return false,
            }
        }
    };
    let request = HealthCheckRequest {
        service: TICKET_SERVICE.to_owned(),
    };
    match tokio::time::timeout(CHECK_TIMEOUT, client.check(request)).await {
        Ok(Ok(response)) => response.into_inner().status == ServingStatus::Serving as i32,
        _ => {
            *health = None;
            false
        }
    }
}
