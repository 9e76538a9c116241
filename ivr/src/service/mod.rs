//! The IVR service: the thin tokio layer around the sans-I/O SIP endpoint.
//! One task owns the endpoint and the SIP sockets (UDP and TCP on one
//! port); each call runs in a task of its own, its RTP socket and media
//! session driven by the [`pacer`]'s lanes. They talk over channels:
//! commands from calls, signals to them.

mod call;
pub mod call_ref;
pub mod metrics;
mod outbound;
mod pacer;
pub mod ports;
pub mod retention;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::media::dtmf::Digit;
pub use crate::prompts::Prompts;
use crate::sip::admission::source_key;
use crate::sip::endpoint::{CallKey, Config, Endpoint, Event, Output, Peer, Transport};
use crate::sip::message::{frame, MAX_MESSAGE};
use call_ref::CallRef;

#[derive(Debug, Clone)]
pub struct IvrConfig {
    /// The address put into SDP and Contact; by default the local address
    /// a request arrived on.
    pub advertise: Option<IpAddr>,
    /// The centre's trunks and proxies; every other source is untrusted.
    pub sip_trusted: crate::sip::trust::TrustedSources,
    /// The answer to other sources when `sip_trusted` names any.
    pub sip_untrusted: crate::sip::endpoint::Untrusted,
    /// Calls one untrusted source may hold at once.
    pub calls_per_source: usize,
    /// The RTP port range, and which of its ports calls hold.
    pub rtp_ports: ports::RtpPorts,
    pub max_calls: usize,
    pub rtp_timeout: Duration,
    /// How long calls may go on after SIGTERM before they are hung up.
    pub drain_timeout: Duration,
    /// Ringing (180) before the answer; zero answers at once.
    pub answer_delay: Duration,
    /// New INVITEs per source address: a burst, then a rate per second.
    pub invite_burst: f64,
    pub invites_per_second: f64,
    pub max_recording_samples: usize,
    /// Where each call's recording of the caller is saved; `None` records nothing.
    pub recordings_dir: Option<std::path::PathBuf>,
    /// Prompts for outbound calls.
    pub prompts: Prompts,
    /// The menu (and its prompts) new calls take.
    pub menus: crate::menu::MenuStore,
    pub calendar: Arc<hotline_domain::HolidayCalendar>,
    pub metrics: crate::menu::metrics::FlowMetrics,
    /// Calls up, the CPU's cap and its refusals, for `/metrics`.
    pub load: metrics::LoadFigures,
    pub tickets: crate::tickets::TicketsClient,
    /// Names this IVR node in idempotency keys (with the IVR's id of the call).
    pub node_id: String,
    /// Live calls, for the admin API.
    pub board: crate::admin::CallBoard,
}

/// What a call task asks of the endpoint.
#[derive(Debug)]
pub enum CallCommand {
    Ring(CallKey),
    Answer(CallKey, String),
    Reject(CallKey, u16, &'static str),
    Hangup(CallKey),
    /// Blind transfer of the call to a SIP URI (REFER).
    Refer(CallKey, String),
}

/// What the endpoint tells a call task.
#[derive(Debug)]
pub enum CallSignal {
    /// The ACK arrived, with the caller's SDP answer if our 200 offered.
    Confirmed(Option<String>),
    Dtmf(Digit),
    Reoffer(Option<String>),
    /// How a transfer ended: true when the target answered.
    Transfer(bool),
    Ended,
}

#[derive(Debug, thiserror::Error)]
pub enum IvrError {
    #[error("SIP socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds SIP on `addr` for UDP and TCP on the same port (port 0 picks one
/// free for both).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    for _ in 0..20 {
        let udp = UdpSocket::bind(addr).await?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() != 0 => return Err(e),
            Err(_) => continue,
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no port free for both UDP and TCP",
    ))
}

/// SIP over TCP connections at once, in all and from one untrusted
/// address: idle sockets must not take the IVR's descriptors.
const MAX_TCP_CONNECTIONS: usize = 1024;
const MAX_TCP_PER_SOURCE: usize = 8;
/// Of [`MAX_TCP_CONNECTIONS`], what untrusted sources may hold together: the
/// rest stays free for the trunks and proxies in `sip_trusted`.
const MAX_UNTRUSTED_TCP: usize = 768;
/// A connection that sends nothing this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(120);
/// A message begun must arrive whole within this (slow-loris).
const TCP_MESSAGE_DEADLINE: Duration = Duration::from_secs(10);
/// After a failed accept (descriptors exhausted), wait before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

enum Net {
    Udp(std::io::Result<(usize, SocketAddr)>),
    Tcp(SocketAddr, SocketAddr, Vec<u8>),
    TcpClosed(SocketAddr),
}

/// Serves SIP until `shutdown` completes, then drains: new INVITEs and
/// OPTIONS get 503, calls in progress go on up to `drain_timeout`.
pub async fn run(
    udp: UdpSocket,
    tcp: TcpListener,
    config: IvrConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), IvrError> {
    let (_control, control_rx) = mpsc::channel(1);
    run_with_control(udp, tcp, config, control_rx, shutdown).await
}

/// Requests to the IVR from the rest of the system.
#[derive(Debug)]
pub enum Control {
    /// Place a call: a recorded message, or a page to a duty lawyer.
    Dial(outbound::Dial),
}

pub(crate) use call::wav_bytes;
pub(crate) use outbound::outbound_prompt;
pub use outbound::{Answered, Dial, DialOutcome, Happened, Leg, Script};

/// [`run`], also taking [`Control`] requests.
pub async fn run_with_control(
    udp: UdpSocket,
    tcp: TcpListener,
    config: IvrConfig,
    mut control: mpsc::Receiver<Control>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), IvrError> {
    let config = Arc::new(config);
    // One lane per core drives every answered call's media.
    let pacer = pacer::Pacer::start(
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
    );
    let mut outbound_calls: HashMap<CallKey, outbound::Pending> = HashMap::new();
    let local_udp = udp.local_addr()?;
    let mut local_addresses = LocalAddresses::default();
    let mut endpoint = Endpoint::new(Config {
        max_calls: config.max_calls,
        advertise: config.advertise,
        invite_burst: config.invite_burst,
        invites_per_second: config.invites_per_second,
        trusted: config.sip_trusted.clone(),
        untrusted: config.sip_untrusted,
        calls_per_source: config.calls_per_source,
        ..Config::default()
    });
    let (command_tx, mut command_rx) = mpsc::channel::<CallCommand>(1024);
    let (tcp_in_tx, mut tcp_in_rx) = mpsc::channel::<Net>(1024);
    let mut tcp_writers: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    // Open TCP connections per source address.
    let mut tcp_sources: HashMap<IpAddr, usize> = HashMap::new();
    let mut untrusted_tcp: usize = 0;
    let mut accept_after: Option<Instant> = None;
    let mut calls: HashMap<CallKey, (mpsc::Sender<CallSignal>, CallRef)> = HashMap::new();
    let mut buf = vec![0u8; MAX_MESSAGE + 1];
    tokio::pin!(shutdown);
    let mut drain_deadline: Option<Instant> = None;
    let mut overload = OverloadLog::default();

    loop {
        // At least once a second, so per-source buckets are pruned even
        // when no transaction has a timer (a flood answered statelessly).
        let tick = Instant::now() + Duration::from_secs(1);
        let wake = Some(
            endpoint
                .poll_timeout()
                .map(Instant::from_std)
                .map_or(tick, |w| w.min(tick)),
        );
        let net = tokio::select! {
            received = udp.recv_from(&mut buf) => Some(Net::Udp(received)),
            accepted = tcp.accept(), if accept_after.is_none() => {
                match accepted {
                    Ok((stream, from)) => {
                        // Counted per subscriber (an IPv6 /64 is one), and
                        // strangers together never take the trunks' share.
                        let source = source_key(from.ip());
                        let of_source = tcp_sources.get(&source).copied().unwrap_or(0);
                        let trusted = config.sip_trusted.contains(from.ip());
                        if tcp_writers.len() >= MAX_TCP_CONNECTIONS
                            || (!trusted
                                && (of_source >= MAX_TCP_PER_SOURCE
                                    || untrusted_tcp >= MAX_UNTRUSTED_TCP))
                        {
                            // Closed at once: dropping the stream.
                            debug!(%from, "SIP TCP connection refused: too many open");
                        } else {
                            let (writer_tx, writer_rx) = mpsc::channel(64);
                            tcp_writers.insert(from, writer_tx);
                            *tcp_sources.entry(source).or_insert(0) += 1;
                            if !trusted {
                                untrusted_tcp += 1;
                            }
                            let local = stream.local_addr().unwrap_or(local_udp);
                            tokio::spawn(serve_tcp(stream, from, local, tcp_in_tx.clone(), writer_rx));
                        }
                    }
                    // Out of descriptors, say: back off instead of spinning.
                    Err(e) => {
                        warn!(error = %e, "SIP TCP accept failed; pausing accepts");
                        accept_after = Some(Instant::now() + ACCEPT_BACKOFF);
                    }
                }
                None
            }
            () = async { match accept_after { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                accept_after = None;
                None
            }
            Some(message) = tcp_in_rx.recv() => Some(message),
            Some(Control::Dial(dial)) = control.recv() => {
                let local = local_addresses.toward(local_udp, dial.target);
                if let Some(pending) = outbound::start(&mut endpoint, dial, &config, local).await {
                    outbound_calls.insert(pending.key, pending);
                }
                None
            }
            Some(command) = command_rx.recv() => {
                let now = std::time::Instant::now();
                match command {
                    CallCommand::Ring(key) => endpoint.ring(now, key),
                    CallCommand::Answer(key, sdp) => endpoint.answer(now, key, &sdp),
                    CallCommand::Reject(key, code, reason) => endpoint.reject(now, key, code, reason),
                    CallCommand::Hangup(key) => endpoint.hangup(now, key),
                    CallCommand::Refer(key, target) => endpoint.refer(now, key, &target),
                }
                None
            }
            () = async { match wake { Some(w) => tokio::time::sleep_until(w).await, None => std::future::pending().await } } => {
                endpoint.handle_timeout(std::time::Instant::now());
                None
            }
            () = &mut shutdown, if drain_deadline.is_none() => {
                info!(calls = endpoint.active_calls(), "draining: new calls get 503");
                endpoint.set_draining(true);
                drain_deadline = Some(Instant::now() + config.drain_timeout);
                None
            }
            () = async { match drain_deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                warn!(calls = endpoint.active_calls(), "drain time is up; hanging up");
                for key in calls.keys().copied().collect::<Vec<_>>() {
                    endpoint.hangup(std::time::Instant::now(), key);
                }
                drain_deadline = Some(Instant::now() + Duration::from_secs(3600));
                None
            }
        };
        let now = std::time::Instant::now();
        endpoint.observe_load(now, pacer.lateness());
        overload.report(now, &endpoint, &pacer, &config.load);
        // The call table gives a burst's room back as the endpoint's maps
        // do (a check of two numbers when there is nothing to give).
        crate::sip::endpoint::shrink(&mut calls);
        // Placed calls that rang too long are given up (CANCEL); the
        // endpoint reports each as ended, and its outcome follows below.
        for (key, pending) in &outbound_calls {
            if pending.give_up(now) {
                endpoint.hangup(now, *key);
            }
        }
        match net {
            Some(Net::Udp(Ok((n, from)))) => {
                let peer = Peer {
                    addr: from,
                    transport: Transport::Udp,
                };
                let local = local_addresses.toward(local_udp, from);
                endpoint.handle_message(now, peer, local, &buf[..n]);
            }
            Some(Net::Udp(Err(e))) => warn!(error = %e, "SIP UDP receive failed"),
            Some(Net::Tcp(from, local, data)) => {
                let peer = Peer {
                    addr: from,
                    transport: Transport::Tcp,
                };
                endpoint.handle_message(now, peer, local, &data);
            }
            Some(Net::TcpClosed(from)) if tcp_writers.remove(&from).is_some() => {
                let source = source_key(from.ip());
                if !config.sip_trusted.contains(from.ip()) {
                    untrusted_tcp = untrusted_tcp.saturating_sub(1);
                }
                if let Some(n) = tcp_sources.get_mut(&source) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        tcp_sources.remove(&source);
                    }
                }
            }
            Some(Net::TcpClosed(_)) => {}
            None => {}
        }
        while let Some(output) = endpoint.poll_output() {
            match output {
                Output::Send { peer, data } => match peer.transport {
                    Transport::Udp => {
                        if let Err(e) = udp.send_to(&data, peer.addr).await {
                            warn!(error = %e, to = %peer.addr, "SIP send failed");
                        }
                    }
                    Transport::Tcp => {
                        if let Some(writer) = tcp_writers.get(&peer.addr) {
                            let _ = writer.try_send(data);
                        }
                    }
                },
                Output::Event(Event::Answered { call, sdp }) => {
                    if let Some(pending) = outbound_calls.remove(&call) {
                        let (tx, rx) = mpsc::channel(64);
                        calls.insert(call, (tx, CallRef::from_seed(rand::random())));
                        tokio::spawn(outbound::run(
                            pending,
                            sdp,
                            config.clone(),
                            command_tx.clone(),
                            rx,
                        ));
                    }
                }
                Output::Event(Event::Ended { call, reason, .. })
                    if outbound_calls.contains_key(&call) =>
                {
                    if let Some(pending) = outbound_calls.remove(&call) {
                        pending.finish(DialOutcome::NotAnswered(reason));
                    }
                }
                Output::Event(event) => route(event, &config, &pacer, &command_tx, &mut calls),
            }
        }
        if drain_deadline.is_some() && endpoint.active_calls() == 0 && outbound_calls.is_empty() {
            info!("drained; stopping");
            return Ok(());
        }
    }
}

/// Tells the operator, at most every few seconds, how many new calls the
/// CPU turned away (503), which sign said it was short and what it carries:
/// one line per stretch of overload, not one per refused INVITE, and one
/// when it is over. At debug level, the load once a second whatever it is.
#[derive(Default)]
struct OverloadLog {
    reported: u64,
    refusing: bool,
    next_warning: Option<std::time::Instant>,
    next_debug: Option<std::time::Instant>,
}

/// How often an overload is reported while it lasts.
const OVERLOAD_REPORT_EVERY: Duration = Duration::from_secs(5);

/// Milliseconds to a tenth, for log lines people read.
fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

impl OverloadLog {
    fn report(
        &mut self,
        now: std::time::Instant,
        endpoint: &Endpoint,
        pacer: &pacer::Pacer,
        figures: &metrics::LoadFigures,
    ) {
        use crate::sip::admission::{MEDIA_LATE, SETUP_LATE};
        if self.next_debug.is_none_or(|at| now >= at) {
            self.next_debug = Some(now + Duration::from_secs(1));
            figures.set(
                endpoint.active_calls(),
                endpoint.cpu_limit(),
                endpoint.overload_refusals(),
            );
            debug!(
                calls = endpoint.active_calls(),
                cpu_limit = endpoint.cpu_limit(),
                media_late_ms = ms(pacer.lateness()),
                last_setup_ms = ms(endpoint.setup_time()),
                refused_total = endpoint.overload_refusals(),
                "load"
            );
        }
        if self.next_warning.is_some_and(|at| now < at) {
            return;
        }
        let refused = endpoint.overload_refusals();
        if refused == self.reported {
            if self.refusing {
                self.refusing = false;
                info!(
                    calls = endpoint.active_calls(),
                    cpu_limit = endpoint.cpu_limit(),
                    "CPU overload over: no call refused for it in the last 5 s"
                );
            }
            return;
        }
        warn!(
            refused_in_5s = refused - self.reported,
            calls = endpoint.active_calls(),
            cpu_limit = endpoint.cpu_limit(),
            setup_ms = ms(endpoint.setup_time()),
            setup_limit_ms = ms(SETUP_LATE),
            media_late_ms = ms(pacer.lateness()),
            media_limit_ms = ms(MEDIA_LATE),
            "CPU overloaded: new calls above cpu_limit calls at once get 503, because calls wait \
             too long for their answer (setup_ms) or the media runs late (media_late_ms); \
             more cores or another IVR node would carry more"
        );
        self.reported = refused;
        self.refusing = true;
        self.next_warning = Some(now + OVERLOAD_REPORT_EVERY);
    }
}

/// Our address as a peer sees it. A socket bound to a wildcard address
/// (0.0.0.0 or ::) must not put that into SDP and Contact: the address the
/// kernel would send from toward the peer is the one the request reached,
/// on every symmetric route. Looked up once per peer address and kept.
#[derive(Default)]
struct LocalAddresses {
    toward: HashMap<IpAddr, IpAddr>,
}

/// Peers remembered at most; past it the table starts over (bounded memory).
const MAX_REMEMBERED_PEERS: usize = 10_000;

impl LocalAddresses {
    fn toward(&mut self, bound: SocketAddr, peer: SocketAddr) -> SocketAddr {
        if !bound.ip().is_unspecified() {
            return bound;
        }
        if self.toward.len() >= MAX_REMEMBERED_PEERS {
            self.toward.clear();
        }
        let ip = *self.toward.entry(peer.ip()).or_insert_with(|| {
            let any: SocketAddr = match peer {
                SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
                SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
            };
            // connect() on UDP sends nothing; it only asks the routing table.
            std::net::UdpSocket::bind(any)
                .and_then(|s| s.connect(peer).and_then(|()| s.local_addr()))
                .map(|a| a.ip())
                .unwrap_or(bound.ip())
        });
        SocketAddr::new(ip, bound.port())
    }
}

fn route(
    event: Event,
    config: &Arc<IvrConfig>,
    pacer: &pacer::Pacer,
    commands: &mpsc::Sender<CallCommand>,
    calls: &mut HashMap<CallKey, (mpsc::Sender<CallSignal>, CallRef)>,
) {
    let signal = |calls: &mut HashMap<CallKey, (mpsc::Sender<CallSignal>, CallRef)>,
                  key: CallKey,
                  s: CallSignal| {
        if let Some((tx, _)) = calls.get(&key) {
            let _ = tx.try_send(s);
        }
    };
    match event {
        Event::Incoming {
            call,
            call_id,
            caller,
            called,
            offer,
            peer,
            local,
            seed,
        } => {
            let (tx, rx) = mpsc::channel(64);
            let call_ref = CallRef::from_seed(seed);
            calls.insert(call, (tx, call_ref.clone()));
            let masked = caller.as_deref().map(hotline_domain::phone::mask);
            let sip_call_id = call_id.shown();
            config.board.incoming(
                call_ref.as_str(),
                &sip_call_id,
                masked.as_deref().unwrap_or("anonymous"),
                called.as_deref().unwrap_or(""),
            );
            let span = info_span!("call", call = %call_ref, call_id = %sip_call_id, caller = masked.as_deref().unwrap_or("anonymous"));
            let incoming = call::IncomingCall {
                key: call,
                call_ref,
                caller,
                called,
                offer,
                local,
                peer: peer.addr,
                seed,
            };
            tokio::spawn(
                call::run(
                    incoming,
                    config.clone(),
                    pacer.clone(),
                    commands.clone(),
                    rx,
                )
                .instrument(span),
            );
        }
        Event::Confirmed { call, sdp } => signal(calls, call, CallSignal::Confirmed(sdp)),
        Event::Dtmf { call, digit } => signal(calls, call, CallSignal::Dtmf(digit)),
        Event::Reoffer { call, offer } => signal(calls, call, CallSignal::Reoffer(offer)),
        Event::Ended { call, reason, .. } => {
            signal(calls, call, CallSignal::Ended);
            if let Some((_, call_ref)) = calls.remove(&call) {
                config
                    .board
                    .ended(call_ref.as_str(), &format!("{reason:?}"));
            }
        }
        Event::Transfer { call, ok, code } => {
            info!(ok, code, "transfer ended");
            signal(calls, call, CallSignal::Transfer(ok));
        }
        Event::Ringing { .. } | Event::Answered { .. } => {}
    }
}

/// Reads framed SIP messages from one TCP connection and writes answers back.
async fn serve_tcp(
    stream: TcpStream,
    from: SocketAddr,
    local: SocketAddr,
    to_endpoint: mpsc::Sender<Net>,
    mut writes: mpsc::Receiver<Vec<u8>>,
) {
    let (mut reader, mut writer) = stream.into_split();
    let write = tokio::spawn(async move {
        while let Some(data) = writes.recv().await {
            if writer.write_all(&data).await.is_err() {
                break;
            }
        }
    });
    let mut pending = Vec::new();
    let mut chunk = vec![0u8; 8192];
    // When the message in progress must be complete.
    let mut message_due: Option<tokio::time::Instant> = None;
    'read: loop {
        let deadline = message_due.unwrap_or_else(|| tokio::time::Instant::now() + TCP_IDLE);
        match tokio::time::timeout_at(deadline, reader.read(&mut chunk)).await {
            // Idle too long, or a message begun and never finished.
            Err(_) => break,
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => pending.extend_from_slice(&chunk[..n]),
        }
        loop {
            match frame(&pending) {
                Ok(Some(len)) => {
                    let message: Vec<u8> = pending.drain(..len).collect();
                    if to_endpoint
                        .send(Net::Tcp(from, local, message))
                        .await
                        .is_err()
                    {
                        break 'read;
                    }
                }
                Ok(None) => break,
                // A stream that cannot be framed cannot be resynchronised.
                Err(_) => break 'read,
            }
        }
        // Keep-alive CRLFs between messages are not a message begun.
        let begun = pending.iter().any(|b| !b.is_ascii_whitespace());
        message_due = match (begun, message_due) {
            (false, _) => None,
            (true, Some(due)) => Some(due),
            (true, None) => Some(tokio::time::Instant::now() + TCP_MESSAGE_DEADLINE),
        };
    }
    write.abort();
    let _ = to_endpoint.send(Net::TcpClosed(from)).await;
}
