//! The IVR admin API (`hotline.v1.IvrAdmin`): the calls in progress and a
//! stream of call events, for supervisors' consoles. Callers' numbers are
//! masked here as everywhere. Every method but health and reflection needs
//! a supervisor's or admin's token ([`gate`]).

pub mod gate;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use hotline_proto::v1 as pb;
use hotline_proto::v1::ivr_admin_server::{IvrAdmin, IvrAdminServer};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_stream::Stream;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::menu::metrics::FlowMetrics;
use crate::menu::MenuStore;
use gate::AdminGate;

/// How many events a slow watcher may fall behind before it misses some.
const EVENT_BACKLOG: usize = 1024;

#[derive(Debug, Clone)]
struct Entry {
    sip_call_id: String,
    caller: String,
    called: String,
    state: &'static str,
    position: String,
    /// The center the call was routed to, once answered.
    center: String,
    started_at: SystemTime,
    started: Instant,
}

#[derive(Debug, Clone)]
pub struct CallEventRecord {
    pub call_id: String,
    pub kind: &'static str,
    pub detail: String,
    pub at: SystemTime,
}

/// Live calls and their events, updated by the call tasks.
#[derive(Debug, Clone)]
pub struct CallBoard {
    calls: Arc<Mutex<HashMap<String, Entry>>>,
    events: broadcast::Sender<CallEventRecord>,
}

impl Default for CallBoard {
    fn default() -> Self {
        Self::new()
    }
}

impl CallBoard {
    pub fn new() -> Self {
        Self {
            calls: Arc::default(),
            events: broadcast::channel(EVENT_BACKLOG).0,
        }
    }

    fn publish(&self, call_id: &str, kind: &'static str, detail: impl Into<String>) {
        // Nobody watching is fine.
        let _ = self.events.send(CallEventRecord {
            call_id: call_id.to_owned(),
            kind,
            detail: detail.into(),
            at: SystemTime::now(),
        });
    }

    fn update(&self, call_id: &str, f: impl FnOnce(&mut Entry)) {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = calls.get_mut(call_id) {
            f(entry);
        }
    }

    /// A new call; `caller` must already be masked.
    /// A new call, under the IVR's own id of it; the peer's Call-ID is
    /// kept for display only.
    pub fn incoming(&self, call_id: &str, sip_call_id: &str, caller: &str, called: &str) {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).insert(
            call_id.to_owned(),
            Entry {
                sip_call_id: sip_call_id.to_owned(),
                caller: caller.to_owned(),
                called: called.to_owned(),
                state: "ringing",
                position: String::new(),
                center: String::new(),
                started_at: SystemTime::now(),
                started: Instant::now(),
            },
        );
        self.publish(call_id, "incoming", called);
    }

    pub fn answered(&self, call_id: &str) {
        self.update(call_id, |e| e.state = "answered");
        self.publish(call_id, "answered", "");
    }

    /// The center an answered call was routed to.
    pub fn center(&self, call_id: &str, center: &str) {
        self.update(call_id, |e| e.center = center.to_owned());
    }

    pub fn position(&self, call_id: &str, position: &str) {
        self.update(call_id, |e| e.position = position.to_owned());
        self.publish(call_id, "position", position);
    }

    pub fn digit(&self, call_id: &str, digit: char) {
        self.publish(call_id, "digit", digit.to_string());
    }

    pub fn ended(&self, call_id: &str, why: &str) {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(call_id);
        self.publish(call_id, "ended", why);
    }

    pub fn list(&self) -> Vec<pb::ActiveCall> {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<_> = calls
            .iter()
            .map(|(id, e)| pb::ActiveCall {
                call_id: id.clone(),
                sip_call_id: e.sip_call_id.clone(),
                center: e.center.clone(),
                caller: e.caller.clone(),
                called: e.called.clone(),
                state: e.state.to_owned(),
                position: e.position.clone(),
                started_at: Some(timestamp(e.started_at)),
                duration_seconds: u32::try_from(e.started.elapsed().as_secs()).unwrap_or(u32::MAX),
            })
            .collect();
        list.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        list
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CallEventRecord> {
        self.events.subscribe()
    }
}

fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

struct AdminApi {
    board: CallBoard,
    menus: Option<MenuStore>,
    metrics: FlowMetrics,
    gate: AdminGate,
}

/// What the admin API serves besides the call board.
#[derive(Debug, Clone)]
pub struct AdminExtras {
    pub menus: Option<MenuStore>,
    pub metrics: FlowMetrics,
    /// Checks every request's token with ticketing.
    pub gate: AdminGate,
    /// The certificate and key to serve TLS with, when configured.
    pub tls: Option<tonic::transport::Identity>,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::CallEvent, Status>> + Send>>;

#[tonic::async_trait]
impl IvrAdmin for AdminApi {
    async fn list_calls(
        &self,
        request: Request<pb::ListCallsRequest>,
    ) -> Result<Response<pb::ListCallsResponse>, Status> {
        self.gate
            .admit(&request, "ListCalls", gate::READERS)
            .await?;
        Ok(Response::new(pb::ListCallsResponse {
            calls: self.board.list(),
        }))
    }

    async fn reload_menu(
        &self,
        request: Request<pb::ReloadMenuRequest>,
    ) -> Result<Response<pb::ReloadMenuResponse>, Status> {
        let actor = self
            .gate
            .admit(&request, "ReloadMenu", gate::ADMINS)
            .await?;
        tracing::info!(%actor, "menu reload asked over the admin API");
        let Some(menus) = &self.menus else {
            return Err(Status::unimplemented("this IVR has no menu file"));
        };
        let menus = menus.clone();
        // Reading and validating touches files: off the async threads.
        let loaded = tokio::task::spawn_blocking(move || menus.reload())
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        Ok(Response::new(pb::ReloadMenuResponse {
            file: loaded.menu.file.clone(),
            nodes: u32::try_from(loaded.menu.nodes.len()).unwrap_or(u32::MAX),
        }))
    }

    async fn get_flow_metrics(
        &self,
        request: Request<pb::GetFlowMetricsRequest>,
    ) -> Result<Response<pb::FlowMetrics>, Status> {
        self.gate
            .admit(&request, "GetFlowMetrics", gate::READERS)
            .await?;
        let nodes = self
            .metrics
            .snapshot()
            .into_iter()
            .map(|(node, c)| pb::NodeMetrics {
                node,
                entered: c.entered,
                completed: c.completed,
                abandoned: c.abandoned,
                invalid_inputs: c.invalid,
                timeouts: c.timeouts,
                unreachable_hangups: c.unreachable,
            })
            .collect();
        Ok(Response::new(pb::FlowMetrics { nodes }))
    }

    type WatchCallEventsStream = EventStream;

    async fn watch_call_events(
        &self,
        request: Request<pb::WatchCallEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        self.gate
            .admit(&request, "WatchCallEvents", gate::READERS)
            .await?;
        let token = gate::AdminGate::token(&request).unwrap_or_default();
        let mut events = self.board.subscribe();
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let gate = self.gate.clone();
        tokio::spawn(async move {
            // The token is asked about again as often as the gate forgets
            // it: a revoked token's stream ends within that.
            let mut recheck = tokio::time::interval(gate::REMEMBER);
            recheck.tick().await;
            loop {
                tokio::select! {
                    _ = recheck.tick() => {
                        if let Err(status) = gate.still_valid(&token, gate::READERS).await {
                            let _ = tx.send(Err(status)).await;
                            return;
                        }
                    }
                    event = events.recv() => match event {
                        Ok(e) => {
                            let sent = tx.send(Ok(pb::CallEvent {
                                call_id: e.call_id,
                                kind: e.kind.to_owned(),
                                detail: e.detail,
                                at: Some(timestamp(e.at)),
                            }));
                            if sent.await.is_err() {
                                return;
                            }
                        }
                        // A watcher too slow to keep up misses events rather
                        // than holding memory.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                    () = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("admin gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves the admin API, health and reflection until `shutdown`.
pub async fn run(
    listener: TcpListener,
    board: CallBoard,
    extras: AdminExtras,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AdminError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<IvrAdminServer<AdminApi>>().await;
    let reflection = |builder: tonic_reflection::server::Builder<'static>| {
        builder
            .register_encoded_file_descriptor_set(hotline_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let v1 = reflection(tonic_reflection::server::Builder::configure()).build_v1()?;
    let v1alpha = reflection(tonic_reflection::server::Builder::configure()).build_v1alpha()?;
    let (shutdown_fired, mut shutdown_seen) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = shutdown_fired.send(true);
    };
    let mut builder = tonic::transport::Server::builder();
    if let Some(identity) = extras.tls.clone() {
        builder =
            builder.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))?;
    }
    let serve = builder
        // Watchers of the board: a few per console, never without end.
        .max_concurrent_streams(Some(32))
        // A request still unanswered after this is ended (streams are not:
        // only the wait for their first answer is bounded).
        .timeout(std::time::Duration::from_secs(10))
        .add_service(health_service)
        .add_service(v1)
        .add_service(v1alpha)
        .add_service(
            IvrAdminServer::new(AdminApi {
                board,
                menus: extras.menus,
                metrics: extras.metrics,
                gate: extras.gate,
            })
            // Its requests are empty messages.
            .max_decoding_message_size(4 * 1024),
        )
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        );
    tokio::pin!(serve);
    // A WatchCallEvents stream never ends by itself: after the shutdown,
    // requests in flight get STREAM_GRACE, then connections close.
    tokio::select! {
        served = &mut serve => served?,
        () = async {
            let _ = shutdown_seen.wait_for(|s| *s).await;
            tokio::time::sleep(hotline_proto::STREAM_GRACE).await;
        } => tracing::info!("admin streams still open after the grace period; closing them"),
    }
    Ok(())
}
