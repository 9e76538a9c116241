//! Several ticketing nodes behind one IVR node. Requests are spread over the
//! nodes by tonic's own balancer (power of two choices on pending requests);
//! what this module adds is the standard gRPC health check in front of it:
//! every node is asked `grpc.health.v1.Health/Check` about every second,
//! and the balancer's set holds the nodes that answer SERVING. A node that
//! dies, freezes or drains leaves the set within a check or two, instead of
//! staying in it and failing fast, which would draw more requests to it
//! than to the node that works; it comes back when it answers again. When
//! no node answers, the set holds them all: an empty set would leave
//! requests waiting rather than failing, and the IVR's outbox backs off
//! only on a failure. Requests that met a dead node are retried by the
//! outbox with the same idempotency key, so none is lost and none doubled.

use std::time::Duration;

use tokio::sync::mpsc::Sender;
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// How long the checker waits between rounds.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// A node that does not answer within this is out.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// The service every ticketing node reports in its health.
const TICKET_SERVICE: &str = "hotline.v1.TicketService";

/// The channel to ticketing: to the one node connected lazily (the IVR
/// starts and answers calls while ticketing is down), or balanced over
/// several. Must be called inside a tokio runtime when there are several
/// (it starts their health checker).
pub fn channel(endpoints: Vec<Endpoint>) -> Channel {
    let mut endpoints: Vec<Endpoint> = endpoints
        .into_iter()
        .map(|e| e.connect_timeout(Duration::from_secs(1)).tcp_nodelay(true))
        .collect();
    if endpoints.len() > 1 {
        return balanced(endpoints);
    }
    match endpoints.pop() {
        Some(endpoint) => endpoint.connect_lazy(),
        // The configuration always names a node; a channel to nowhere
        // fails every request at once, as ticketing down does.
        None => Endpoint::from_static("http://127.0.0.1:0").connect_lazy(),
    }
}

/// One channel over all `endpoints`, the healthy ones in its set.
fn balanced(endpoints: Vec<Endpoint>) -> Channel {
    let (channel, changes) = Channel::balance_channel::<usize>(endpoints.len() * 2);
    tokio::spawn(watch(endpoints, changes));
    channel
}

/// Keeps the balancer's set to the nodes that answer SERVING (all of them
/// when none does); ends when the channel is dropped.
async fn watch(endpoints: Vec<Endpoint>, changes: Sender<Change<usize, Endpoint>>) {
    let mut health: Vec<Option<HealthClient<Channel>>> = vec![None; endpoints.len()];
    // Every node at first: requests need not wait for the first round.
    let mut in_set = vec![true; endpoints.len()];
    for (key, endpoint) in endpoints.iter().enumerate() {
        if changes
            .send(Change::Insert(key, endpoint.clone()))
            .await
            .is_err()
        {
            return;
        }
    }
    // What the log last said of each node, and of them all: it reports
    // health as the checks find it, not membership of the set (a node that
    // fails stays in the set while none answers).
    let mut answered: Vec<Option<bool>> = vec![None; endpoints.len()];
    let mut none_answered = false;
    loop {
        let mut serving = Vec::with_capacity(endpoints.len());
        for (endpoint, client) in endpoints.iter().zip(health.iter_mut()) {
            serving.push(check(endpoint, client).await);
        }
        for (key, endpoint) in endpoints.iter().enumerate() {
            if answered[key] != Some(serving[key]) {
                let node = endpoint.uri().to_string();
                if serving[key] {
                    tracing::info!(%node, "ticketing node answers its health check");
                } else {
                    tracing::warn!(%node, "ticketing node fails its health check; requests go to the others");
                }
                answered[key] = Some(serving[key]);
            }
        }
        let any = serving.iter().any(|s| *s);
        if any == none_answered {
            if any {
                tracing::info!("requests go to the ticketing nodes that answer");
            } else {
                tracing::warn!(
                    "no ticketing node answers its health check; requests go to all of them and \
                     fail until one answers (the outbox keeps them)"
                );
            }
            none_answered = !any;
        }
        for (key, endpoint) in endpoints.iter().enumerate() {
            let wanted = serving[key] || !any;
            if wanted == in_set[key] {
                continue;
            }
            let change = if wanted {
                Change::Insert(key, endpoint.clone())
            } else {
                Change::Remove(key)
            };
            if changes.send(change).await.is_err() {
                return;
            }
            in_set[key] = wanted;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An address nothing listens on: bound, then released.
    fn dead_endpoint() -> Endpoint {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap()
    }

    /// With every node down a request fails (so the outbox backs off)
    /// rather than waiting on an empty set; the bound only catches a hang.
    #[tokio::test]
    async fn with_every_node_down_a_request_fails_instead_of_waiting() {
        let channel = channel(vec![dead_endpoint(), dead_endpoint()]);
        let mut client = HealthClient::new(channel);
        for _ in 0..3 {
            let answer = tokio::time::timeout(
                Duration::from_secs(30),
                client.check(HealthCheckRequest::default()),
            )
            .await;
            assert!(matches!(answer, Ok(Err(_))), "{answer:?}");
            // Again after the checker's first rounds took the nodes out.
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
    }
}
