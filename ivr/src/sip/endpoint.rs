//! The SIP user agent as a sans-I/O state machine: datagrams, commands and
//! `now` go in; datagrams to send, call events and the next wake-up come
//! out. It answers calls (UAS) and places them (UAC), with the RFC 3261
//! transaction rules that matter on real networks:
//! - INVITE: 100 Trying at once; the 2xx is retransmitted (T1, doubling to
//!   T2) until the ACK, and the call is ended with BYE if no ACK comes in
//!   64·T1 (16·T1 from a source outside `sip_trusted`, which a forger may
//!   be); a non-2xx final answer is retransmitted until its ACK.
//! - CANCEL before the answer: 200 to the CANCEL, 487 to the INVITE.
//! - Non-INVITE requests: the answer is remembered for 64·T1 and resent to
//!   retransmissions, so a retransmitted BYE or INFO acts once.
//! - BYE either way, OPTIONS (200, or 503 while draining), INFO
//!   `application/dtmf-relay`, re-INVITE (hold, resume), 405/501 for the
//!   rest, 400 for malformed requests, 481 for unknown dialogs.
//!
//! The same answers go to every request-URI user; the Server header names
//! no product or version.
//!
//! This is the coordinator of the layers beside it: the retransmitted
//! answers and requests and their timers are `super::transaction`'s, a
//! call's identity and state `super::dialog`'s, whether a call may start
//! `super::admission`'s, and every message it sends is made in
//! [`super::build`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::admission::{Admission, Verdict};
use super::build::{self, ack_for_failure, bad_request, cancel_for, contact_uri, ALLOW};
use super::dialog::{Call, CallState};
use super::info::parse_dtmf_relay;
use super::message::{uri_user, CallId, Message, Method, StartLine};
use super::transaction::{ClientTx, Retransmit, RetransmitKind, TimerKey};
use crate::keypad::Digit;

pub use super::build::AGENT;
pub use super::dialog::CallKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub(super) fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// Where a message came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub addr: SocketAddr,
    pub transport: Transport,
}

/// What happens to a request from a source `trusted` does not name, when
/// it names any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Untrusted {
    /// 403 Forbidden, sent once.
    #[default]
    Reject,
    /// Nothing: a scanner learns nothing, not even that SIP is here.
    Drop,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// RFC 3261 T1 (round-trip estimate) and T2 (retransmission cap).
    pub t1: Duration,
    pub t2: Duration,
    /// Calls at once; past it new INVITEs get 503.
    pub max_calls: usize,
    /// The address put into Contact and Via; `None` means the local address
    /// the request arrived on.
    pub advertise: Option<std::net::IpAddr>,
    /// New INVITEs one source address may send: a burst, then a steady rate
    /// per second; past it, 503 with Retry-After.
    pub invite_burst: f64,
    pub invites_per_second: f64,
    /// The centre's trunks and proxies. When any are named, requests from
    /// other sources get `untrusted`'s answer; when none are, every source
    /// is served as untrusted: per-source limits, answers sent once.
    pub trusted: super::trust::TrustedSources,
    pub untrusted: Untrusted,
    /// Calls one untrusted source may hold at once; past it, 486.
    pub calls_per_source: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            max_calls: 500,
            advertise: None,
            invite_burst: 20.0,
            invites_per_second: 5.0,
            trusted: super::trust::TrustedSources::default(),
            untrusted: Untrusted::Reject,
            calls_per_source: 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The caller hung up.
    RemoteBye,
    /// We hung up.
    LocalBye,
    /// The caller gave up before the answer.
    Cancelled,
    /// Our answer was never acknowledged.
    NoAck,
    /// We refused the call (the code we sent).
    Rejected(u16),
    /// An outbound call was not answered (the final code, 408 on timeout).
    Failed(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new call. Answer it with [`Endpoint::answer`] or refuse it with
    /// [`Endpoint::reject`].
    Incoming {
        call: CallKey,
        call_id: CallId,
        /// The user part of the From URI, if any (the caller's number).
        caller: Option<String>,
        /// The user part of the request-URI (the number dialled).
        called: Option<String>,
        /// The SDP offer, if the INVITE carried one.
        offer: Option<String>,
        /// Seeds the call's own random values (SSRC, RTP sequence and
        /// timestamp, SDP session id), so a seeded endpoint replays a whole call.
        seed: u64,
        peer: Peer,
        /// Our address the INVITE arrived on.
        local: SocketAddr,
    },
    /// The caller acknowledged our answer; `sdp` is its answer when our 200
    /// carried the offer.
    Confirmed { call: CallKey, sdp: Option<String> },
    /// A re-INVITE in the call: answer it with [`Endpoint::answer`].
    Reoffer {
        call: CallKey,
        offer: Option<String>,
    },
    /// A key pressed, sent as SIP INFO.
    Dtmf { call: CallKey, digit: Digit },
    /// An outbound call is ringing.
    Ringing { call: CallKey },
    /// An outbound call was answered.
    Answered { call: CallKey, sdp: Option<String> },
    /// How a transfer asked with [`Endpoint::refer`] ended: `ok` when the
    /// transfer target answered (the final NOTIFY's sipfrag was 2xx); `code`
    /// is that status, or the REFER's own failure (408 when unanswered).
    Transfer { call: CallKey, ok: bool, code: u16 },
    Ended {
        call: CallKey,
        call_id: String,
        reason: EndReason,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Send { peer: Peer, data: Vec<u8> },
    Event(Event),
}

/// How often calls that are over are forgotten (see `Endpoint::sweep`).
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How long a placed call may ring once the callee said it rings: longer
/// than any ring time the IVR is configured for (at most five minutes),
/// after which the caller of `dial` has CANCELled it.
const RINGING_LIMIT: Duration = Duration::from_secs(330);

pub struct Endpoint {
    config: Config,
    calls: HashMap<CallKey, Call>,
    /// Calls of `calls` that are over, kept until the sweep forgets them.
    ended: usize,
    /// (Call-ID, our tag) → call, for in-dialog requests; and Call-ID with an
    /// empty tag for calls not yet answered.
    dialogs: HashMap<(String, String), CallKey>,
    /// Server transactions by (top Via branch, method; ACK maps to INVITE).
    server: HashMap<(String, String), Retransmit>,
    /// Client transactions by branch.
    client: HashMap<String, ClientTx>,
    /// Inbound INVITE transactions awaiting a final answer: branch → call.
    invites: HashMap<String, CallKey>,
    /// When each transaction's timer fires (see `super::transaction`).
    timers: BinaryHeap<Reverse<(Instant, TimerKey)>>,
    /// The 2xx answers of each call still resent until their ACK.
    unacknowledged: HashMap<CallKey, Vec<(String, String)>>,
    /// When calls that are over are next forgotten and idle rate-limit
    /// buckets dropped: once a second, not on every timer.
    next_sweep: Option<Instant>,
    outputs: VecDeque<Output>,
    next_key: u64,
    /// Who may start a call.
    admission: Admission,
    /// Calls held now by each untrusted source.
    per_source: HashMap<std::net::IpAddr, usize>,
    /// Every random value: tags, branches, Call-IDs, CSeqs, call seeds.
    rng: StdRng,
}

impl Endpoint {
    /// An endpoint whose tags, branches, Call-IDs, CSeqs and call seeds come
    /// from a generator seeded by the operating system.
    pub fn new(config: Config) -> Self {
        Self::with_rng(config, StdRng::from_rng(&mut rand::rng()))
    }

    /// An endpoint drawing every random value from `rng`: with a fixed seed,
    /// the same inputs at the same times give the same bytes out.
    pub fn with_rng(config: Config, rng: StdRng) -> Self {
        Self {
            rng,
            calls: HashMap::new(),
            ended: 0,
            dialogs: HashMap::new(),
            server: HashMap::new(),
            client: HashMap::new(),
            invites: HashMap::new(),
            timers: BinaryHeap::new(),
            unacknowledged: HashMap::new(),
            next_sweep: None,
            outputs: VecDeque::new(),
            next_key: 1,
            admission: Admission::new(
                config.invite_burst,
                config.invites_per_second,
                config.max_calls,
                config.calls_per_source,
            ),
            per_source: HashMap::new(),
            config,
        }
    }

    /// Calls that are not over (counted, not scanned: asked once per INVITE).
    pub fn active_calls(&self) -> usize {
        debug_assert!(self.ended <= self.calls.len(), "ended calls miscounted");
        self.calls.len().saturating_sub(self.ended)
    }

    /// How late the media of the calls up runs now: moves the cap on calls
    /// the CPU carries (see [`super::admission`]).
    pub fn observe_load(&mut self, now: Instant, lateness: std::time::Duration) {
        let active = self.active_calls();
        self.admission.observe_load(now, lateness, active);
    }

    /// The calls at once the CPU carries, as last learnt.
    pub fn cpu_limit(&self) -> usize {
        self.admission.cpu_limit()
    }

    /// INVITEs refused so far because the CPU carried no more calls.
    pub fn overload_refusals(&self) -> u64 {
        self.admission.overload_refusals()
    }

    /// How long new calls lately waited for their first answer, on average.
    pub fn setup_time(&self) -> std::time::Duration {
        self.admission.setup_time()
    }

    /// While draining, new INVITEs and OPTIONS get 503, so a load balancer
    /// takes this node out of rotation; calls in progress go on.
    pub fn set_draining(&mut self, draining: bool) {
        self.admission.set_draining(draining);
    }

    /// 64 random bits as 16 hex digits: a tag, a branch, a Call-ID.
    fn token(&mut self) -> String {
        format!("{:016x}", self.rng.random::<u64>())
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next time [`Endpoint::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.peek().map(|Reverse((at, _))| *at);
        // Calls that are over are forgotten at the next sweep, and a map
        // left roomy by a burst is shrunk by it.
        let sweep = self
            .next_sweep
            .filter(|_| !self.calls.is_empty() || self.has_spare_room());
        match (timer, sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn keep_server(&mut self, key: (String, String), r: Retransmit) {
        if r.kind == RetransmitKind::Ok2xx {
            if let Some(call) = r.call {
                self.unacknowledged
                    .entry(call)
                    .or_default()
                    .push(key.clone());
            }
        }
        self.timers
            .push(Reverse((r.wake(), TimerKey::Server(key.clone()))));
        self.server.insert(key, r);
    }

    fn keep_client(&mut self, branch: String, t: ClientTx) {
        self.timers
            .push(Reverse((t.wake(), TimerKey::Client(branch.clone()))));
        self.client.insert(branch, t);
    }

    fn send(&mut self, peer: Peer, data: Vec<u8>) {
        self.outputs.push_back(Output::Send { peer, data });
    }

    fn event(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    fn end(&mut self, key: CallKey, reason: EndReason) {
        if let Some(call) = self.calls.get_mut(&key) {
            if call.state == CallState::Ended {
                return;
            }
            call.state = CallState::Ended;
            self.ended += 1;
            if let Some(ip) = call.counted.take() {
                if let Some(n) = self.per_source.get_mut(&ip) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.per_source.remove(&ip);
                    }
                }
            }
            let call_id = call.call_id.clone();
            self.event(Event::Ended {
                call: key,
                call_id,
                reason,
            });
        }
    }

    /// A datagram (or one framed stream message) from `peer`, received on `local`.
    pub fn handle_message(&mut self, now: Instant, peer: Peer, local: SocketAddr, data: &[u8]) {
        match Message::parse(data) {
            Ok(m) => match &m.start {
                StartLine::Request { .. } => self.handle_request(now, peer, local, m),
                StartLine::Response { .. } => self.handle_response(now, m),
            },
            Err(e) => {
                // Garbage counts against an untrusted source like any request.
                let ip = peer.addr.ip();
                if !self.config.trusted.contains(ip)
                    && (!self.config.trusted.is_empty() || !self.admission.admit_request(now, ip))
                {
                    return;
                }
                if let Some(resp) = bad_request(data, &e.to_string()) {
                    self.send(peer, resp);
                }
            }
        }
    }

    fn respond(
        &mut self,
        now: Instant,
        peer: Peer,
        req: &Message,
        mut resp: Message,
        call: Option<CallKey>,
    ) {
        resp.add_header("Server", AGENT);
        let data = resp.to_bytes();
        let code = match resp.start {
            StartLine::Response { code, .. } => code,
            StartLine::Request { .. } => 0,
        };
        let is_invite = req.method() == Some(&Method::Invite);
        let branch = req.branch().unwrap_or_default().to_owned();
        let method = req
            .method()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default();
        let reliable = peer.transport == Transport::Tcp;
        let mut give_up = now + 64 * self.config.t1;
        // An answered call from a stranger that never ACKs (a forged
        // source, say) holds a call slot and has its 200 resent to an
        // address that never proved it asked: a real phone ACKs within a
        // second, so wait 16·T1 (8 s, four resends) rather than 64·T1.
        if is_invite && (200..300).contains(&code) && !self.config.trusted.contains(peer.addr.ip())
        {
            give_up = now + 16 * self.config.t1;
        }
        if code >= 200 {
            let (kind, next) = if !is_invite {
                (RetransmitKind::NonInvite, None)
            } else if code < 300 {
                (RetransmitKind::Ok2xx, Some(now + self.config.t1))
            } else {
                (
                    RetransmitKind::FinalError,
                    (!reliable).then_some(now + self.config.t1),
                )
            };
            self.keep_server(
                (branch, method),
                Retransmit {
                    peer,
                    data: data.clone(),
                    next,
                    interval: self.config.t1,
                    until: give_up,
                    call,
                    kind,
                },
            );
        }
        self.send(peer, data);
    }

    fn handle_request(&mut self, now: Instant, peer: Peer, local: SocketAddr, req: Message) {
        let Some(method) = req.method().cloned() else {
            return;
        };
        let trusted = self.config.trusted.contains(peer.addr.ip());
        if !trusted {
            if !self.config.trusted.is_empty() {
                // Only the centre's trunks may call; others hear 403 once,
                // or nothing.
                if self.config.untrusted == Untrusted::Reject
                    && method != Method::Ack
                    && self.admission.admit_request(now, peer.addr.ip())
                {
                    let mut resp = req.response(403, "Forbidden", Some(&self.token()));
                    resp.add_header("Server", AGENT);
                    self.send(peer, resp.to_bytes());
                }
                return;
            }
            // Every method counts against an untrusted source; past its
            // budget a request gets nothing back.
            if !self.admission.admit_request(now, peer.addr.ip()) {
                return;
            }
        }
        let branch = req.branch().unwrap_or_default().to_owned();
        let tx_method = if method == Method::Ack {
            "INVITE"
        } else {
            method.as_str()
        };
        // A retransmitted request: resend our answer (ACKs are handled
        // below), only to the address that sent the original: a cached
        // answer is never sent where nobody asked for it.
        if method != Method::Ack {
            if let Some(r) = self.server.get(&(branch.clone(), tx_method.to_owned())) {
                if r.peer.addr == peer.addr {
                    let (peer, data) = (r.peer, r.data.clone());
                    self.send(peer, data);
                }
                return;
            }
        }
        // A retransmitted INVITE still waiting for our answer: say Trying again.
        if method == Method::Invite && self.invites.contains_key(&branch) {
            let trying = req.response(100, "Trying", None);
            self.respond(now, peer, &req, trying, None);
            return;
        }
        match method {
            Method::Invite => self.on_invite(now, peer, local, req),
            Method::Ack => self.on_ack(req),
            Method::Cancel => self.on_cancel(now, peer, req),
            Method::Bye => {
                let resp = match self.dialog(&req) {
                    Some(key) => {
                        self.end(key, EndReason::RemoteBye);
                        req.response(200, "OK", None)
                    }
                    None => req.response(481, "Call/Transaction Does Not Exist", None),
                };
                self.respond(now, peer, &req, resp, None);
            }
            Method::Options => {
                let mut resp = if self.admission.draining() {
                    req.response(503, "Service Unavailable", Some(&self.token()))
                } else {
                    req.response(200, "OK", Some(&self.token()))
                };
                resp.add_header("Allow", ALLOW);
                resp.add_header("Accept", "application/sdp");
                self.respond(now, peer, &req, resp, None);
            }
            Method::Info => {
                let resp = match self.dialog(&req) {
                    Some(key) => {
                        let relay = req.header("Content-Type").is_some_and(|t| {
                            t.to_ascii_lowercase().starts_with("application/dtmf-relay")
                        });
                        let digit = relay
                            .then(|| {
                                std::str::from_utf8(&req.body)
                                    .ok()
                                    .and_then(parse_dtmf_relay)
                            })
                            .flatten();
                        if let Some(digit) = digit {
                            self.event(Event::Dtmf { call: key, digit });
                        }
                        req.response(200, "OK", None)
                    }
                    None => req.response(481, "Call/Transaction Does Not Exist", None),
                };
                self.respond(now, peer, &req, resp, None);
            }
            Method::Notify => {
                let resp = match self.dialog(&req) {
                    Some(key) => self.on_notify(key, &req),
                    None => req.response(481, "Call/Transaction Does Not Exist", None),
                };
                self.respond(now, peer, &req, resp, None);
            }
            Method::Other(_) => {
                let mut resp = req.response(501, "Not Implemented", Some(&self.token()));
                resp.add_header("Allow", ALLOW);
                self.respond(now, peer, &req, resp, None);
            }
            _ => {
                let mut resp = req.response(405, "Method Not Allowed", Some(&self.token()));
                resp.add_header("Allow", ALLOW);
                self.respond(now, peer, &req, resp, None);
            }
        }
    }

    /// A NOTIFY about our REFER: its sipfrag body is the status of the
    /// transferee's call to the target; a final one ends the transfer.
    fn on_notify(&mut self, key: CallKey, req: &Message) -> Message {
        let event = req
            .header("Event")
            .or_else(|| req.header("o"))
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !event.starts_with("refer") {
            return req.response(489, "Bad Event", None);
        }
        let status = std::str::from_utf8(&req.body)
            .ok()
            .and_then(|body| body.lines().next())
            .and_then(|line| line.trim().strip_prefix("SIP/2.0 "))
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse::<u16>().ok());
        match status {
            Some(code) if code >= 200 => self.transfer_ended(key, code < 300, code),
            Some(_) => {}
            None => return req.response(400, "Bad Request (sipfrag status line)", None),
        }
        req.response(200, "OK", None)
    }

    fn transfer_ended(&mut self, key: CallKey, ok: bool, code: u16) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if std::mem::take(&mut call.transferring) {
            self.event(Event::Transfer {
                call: key,
                ok,
                code,
            });
        }
    }

    /// The call an in-dialog request belongs to.
    fn dialog(&self, req: &Message) -> Option<CallKey> {
        let tag = req.to_tag()?;
        let key = self
            .dialogs
            .get(&(req.call_id().to_owned(), tag.to_owned()))?;
        self.calls
            .get(key)
            .filter(|c| c.state != CallState::Ended)
            .map(|_| *key)
    }

    fn on_invite(&mut self, now: Instant, peer: Peer, local: SocketAddr, req: Message) {
        let offer = (!req.body.is_empty()).then(|| String::from_utf8_lossy(&req.body).into_owned());
        if req.to_tag().is_some() {
            // A re-INVITE: hold, resume or a media change.
            match self.dialog(&req) {
                Some(key) => {
                    if let Some(call) = self.calls.get_mut(&key) {
                        call.pending_invite = Some(req.clone());
                        call.peer = peer;
                    }
                    self.invites
                        .insert(req.branch().unwrap_or_default().to_owned(), key);
                    self.event(Event::Reoffer { call: key, offer });
                }
                None => {
                    let resp = req.response(481, "Call/Transaction Does Not Exist", None);
                    self.respond(now, peer, &req, resp, None);
                }
            }
            return;
        }
        let Some(call_id) = CallId::parse(req.call_id()) else {
            // A bounded, printable Call-ID keeps dialog keys and log lines sane.
            let resp = req.response(400, "Bad Request: Call-ID too long or not printable", None);
            self.respond(now, peer, &req, resp, None);
            return;
        };
        let active = self.active_calls();
        let trusted = self.config.trusted.contains(peer.addr.ip());
        let source = super::admission::source_key(peer.addr.ip());
        let of_source = self.per_source.get(&source).copied().unwrap_or(0);
        let refusal = match self
            .admission
            .admit_invite(now, source, trusted, active, of_source)
        {
            Verdict::Admit => None,
            Verdict::RateLimited => Some((503, "Service Unavailable", Some("5"))),
            Verdict::Busy => Some((503, "Service Unavailable", Some("30"))),
            Verdict::Overloaded => Some((503, "Service Unavailable", Some("2"))),
            Verdict::SourceFull => {
                Some((486, "Busy Here (too many calls from this address)", None))
            }
        };
        if let Some((code, reason, retry_after)) = refusal {
            let mut resp = req.response(code, reason, Some(&self.token()));
            if let Some(after) = retry_after {
                resp.add_header("Retry-After", after);
            }
            if trusted {
                self.respond(now, peer, &req, resp, None);
            } else {
                // Sent once and not kept: a flood costs no memory and gets
                // no retransmissions (no amplification).
                resp.add_header("Server", AGENT);
                self.send(peer, resp.to_bytes());
            }
            return;
        }
        let trying = req.response(100, "Trying", None);
        self.respond(now, peer, &req, trying, None);

        let key = CallKey(self.next_key);
        self.next_key += 1;
        let local_tag = self.token();
        let contact = req.header("Contact").map(contact_uri);
        let uri = match &req.start {
            StartLine::Request { uri, .. } => uri.clone(),
            StartLine::Response { .. } => String::new(),
        };
        let call = Call {
            call_id: req.call_id().to_owned(),
            peer,
            local,
            local_tag: local_tag.clone(),
            remote_tag: req.from_tag().map(str::to_owned),
            local_party: req.header("To").unwrap_or_default().to_owned(),
            remote_party: req.header("From").unwrap_or_default().to_owned(),
            remote_target: contact.unwrap_or(uri),
            route_set: req
                .header_values("Record-Route")
                .map(str::to_owned)
                .collect(),
            local_cseq: 1 + u32::from(self.rng.random::<u16>()),
            state: CallState::Offered,
            pending_invite: Some(req.clone()),
            transferring: false,
            counted: (!trusted).then_some(source),
            offered_at: Some(now),
        };
        if !trusted {
            *self.per_source.entry(source).or_insert(0) += 1;
        }
        self.dialogs.insert((call.call_id.clone(), local_tag), key);
        self.invites
            .insert(req.branch().unwrap_or_default().to_owned(), key);
        self.calls.insert(key, call);
        let seed = self.rng.random();
        self.event(Event::Incoming {
            call: key,
            call_id,
            caller: req.header("From").and_then(uri_user).map(str::to_owned),
            called: req.request_user().map(str::to_owned),
            offer,
            peer,
            local,
            seed,
        });
    }

    fn on_ack(&mut self, req: Message) {
        let branch = req.branch().unwrap_or_default().to_owned();
        // The ACK of a non-2xx answer ends that INVITE transaction.
        if let Some(r) = self.server.get_mut(&(branch, "INVITE".to_owned())) {
            if r.kind == RetransmitKind::FinalError {
                r.next = None;
                return;
            }
        }
        // The ACK of a 2xx: stop retransmitting it, the call is confirmed.
        let Some(key) = self.dialog(&req) else { return };
        for k in self.unacknowledged.remove(&key).unwrap_or_default() {
            if self
                .server
                .get(&k)
                .is_some_and(|r| r.call == Some(key) && r.kind == RetransmitKind::Ok2xx)
            {
                self.server.remove(&k);
            }
        }
        if let Some(call) = self.calls.get_mut(&key) {
            if call.state == CallState::Answered {
                call.state = CallState::Confirmed;
                let sdp =
                    (!req.body.is_empty()).then(|| String::from_utf8_lossy(&req.body).into_owned());
                self.event(Event::Confirmed { call: key, sdp });
            }
        }
    }

    fn on_cancel(&mut self, now: Instant, peer: Peer, req: Message) {
        let branch = req.branch().unwrap_or_default().to_owned();
        let Some(&key) = self.invites.get(&branch) else {
            let resp = req.response(481, "Call/Transaction Does Not Exist", None);
            self.respond(now, peer, &req, resp, None);
            return;
        };
        let resp = req.response(200, "OK", None);
        self.respond(now, peer, &req, resp, None);
        let unanswered = self
            .calls
            .get(&key)
            .is_some_and(|c| c.state == CallState::Offered);
        if unanswered {
            let invite = self
                .calls
                .get_mut(&key)
                .and_then(|c| c.pending_invite.take());
            if let Some(invite) = invite {
                let tag = self.calls.get(&key).map(|c| c.local_tag.clone());
                let resp = invite.response(487, "Request Terminated", tag.as_deref());
                self.invites.remove(&branch);
                self.respond(now, peer, &invite, resp, Some(key));
            }
            self.end(key, EndReason::Cancelled);
        }
    }

    /// Answers the pending INVITE (initial or re-INVITE) with 200 and `sdp`.
    pub fn answer(&mut self, now: Instant, key: CallKey, sdp: &str) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(invite) = call.pending_invite.take() else {
            return;
        };
        if call.state == CallState::Offered {
            call.state = CallState::Answered;
        }
        if let Some(at) = call.offered_at.take() {
            self.admission
                .observe_setup(now.saturating_duration_since(at));
        }
        let contact = self.calls[&key].contact(self.config.advertise);
        let call = &self.calls[&key];
        let mut resp = invite.response(200, "OK", Some(&call.local_tag));
        resp.add_header("Contact", contact);
        resp.add_header("Allow", ALLOW);
        resp.add_header("Content-Type", "application/sdp");
        resp.body = sdp.as_bytes().to_vec();
        let peer = call.peer;
        // A re-INVITE of a confirmed call: its ACK needs nothing more.
        self.invites.remove(invite.branch().unwrap_or_default());
        self.respond(now, peer, &invite, resp, Some(key));
    }

    /// Sends 180 Ringing for a call not yet answered.
    pub fn ring(&mut self, now: Instant, key: CallKey) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(invite) = &call.pending_invite else {
            return;
        };
        if let Some(at) = call.offered_at.take() {
            self.admission
                .observe_setup(now.saturating_duration_since(at));
        }
        let resp = invite.response(180, "Ringing", Some(&call.local_tag));
        let (peer, invite) = (call.peer, invite.clone());
        self.respond(now, peer, &invite, resp, Some(key));
    }

    /// Refuses a call not yet answered (486 busy, 488 no common codec, 503 …).
    pub fn reject(&mut self, now: Instant, key: CallKey, code: u16, reason: &str) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(invite) = call.pending_invite.take() else {
            return;
        };
        if let Some(at) = call.offered_at.take() {
            self.admission
                .observe_setup(now.saturating_duration_since(at));
        }
        let mut resp = invite.response(code, reason, Some(&call.local_tag.clone()));
        let peer = call.peer;
        let initial = call.state == CallState::Offered;
        let untrusted = call.counted.is_some();
        self.invites.remove(invite.branch().unwrap_or_default());
        if untrusted && code >= 300 {
            // To an untrusted source a refusal goes once and is not kept:
            // a forged INVITE gets no retransmissions aimed at its victim.
            resp.add_header("Server", AGENT);
            self.send(peer, resp.to_bytes());
        } else {
            self.respond(now, peer, &invite, resp, Some(key));
        }
        if initial {
            self.end(key, EndReason::Rejected(code));
        }
    }

    /// Hangs up: BYE in a call, 480 for a call not yet answered.
    pub fn hangup(&mut self, now: Instant, key: CallKey) {
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        match call.state {
            CallState::Offered => {
                self.reject(now, key, 480, "Temporarily Unavailable");
            }
            CallState::Answered | CallState::Confirmed => {
                self.send_bye(now, key);
                self.end(key, EndReason::LocalBye);
            }
            CallState::Calling => {
                // Not answered yet: CANCEL the INVITE (same branch, built from
                // it), stop retransmitting it, and report the call as ended.
                // The INVITE transaction stays until its final response (or
                // Timer B): the 487 is ACKed, and a 200 that crossed the
                // CANCEL is ACKed and ended with a BYE.
                let give_up = now + 64 * self.config.t1;
                let mut cancels = Vec::new();
                for (branch, tx) in self.client.iter_mut().filter(|(_, t)| t.call == key) {
                    if let Some(invite) = &tx.invite {
                        cancels.push((branch.clone(), tx.peer, cancel_for(invite).to_bytes()));
                        tx.next = None;
                        tx.until = give_up;
                    }
                }
                for (branch, peer, cancel) in cancels {
                    self.timers
                        .push(Reverse((give_up, TimerKey::Client(branch))));
                    self.send(peer, cancel);
                }
                self.end(key, EndReason::LocalBye);
            }
            CallState::Ended => {}
        }
    }

    fn send_bye(&mut self, now: Instant, key: CallKey) {
        self.send_in_dialog(now, key, Method::Bye, Vec::new());
    }

    /// Asks the caller's side to call `target` instead (RFC 3515 REFER,
    /// blind transfer). The outcome comes as [`Event::Transfer`]; on success
    /// hang up with [`Endpoint::hangup`].
    pub fn refer(&mut self, now: Instant, key: CallKey, target: &str) {
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        if !matches!(call.state, CallState::Answered | CallState::Confirmed) || call.transferring {
            self.event(Event::Transfer {
                call: key,
                ok: false,
                code: 491,
            });
            return;
        }
        call.transferring = true;
        let local = call.local_party.clone();
        self.send_in_dialog(
            now,
            key,
            Method::Refer,
            vec![("Refer-To", format!("<{target}>")), ("Referred-By", local)],
        );
    }

    /// Sends a request inside the call's dialog, retransmitted until answered.
    fn send_in_dialog(
        &mut self,
        now: Instant,
        key: CallKey,
        method: Method,
        extra: Vec<(&str, String)>,
    ) {
        let branch = format!("z9hG4bK{}", self.token());
        let Some(call) = self.calls.get_mut(&key) else {
            return;
        };
        call.local_cseq += 1;
        let via_addr = call.via_addr(self.config.advertise);
        let mut req = build::request(
            method.clone(),
            call.remote_target.clone(),
            build::via(call.peer.transport, via_addr, &branch),
        );
        // Our party carries its tag already on calls we placed; on calls we
        // answered it is the caller's To, without the tag we gave it.
        let from = if call.local_party.contains(";tag=") {
            call.local_party.clone()
        } else {
            format!("{};tag={}", call.local_party, call.local_tag)
        };
        req.add_header("From", from);
        req.add_header("To", call.remote_party.clone());
        req.add_header("Call-ID", call.call_id.clone());
        req.add_header("CSeq", format!("{} {}", call.local_cseq, method.as_str()));
        for route in &call.route_set {
            req.add_header("Route", route.clone());
        }
        if method == Method::Refer {
            req.add_header("Contact", format!("<sip:ivr@{via_addr}>"));
        }
        for (name, value) in extra {
            req.add_header(name, value);
        }
        req.add_header("User-Agent", AGENT);
        let peer = call.next_hop();
        let data = req.to_bytes();
        self.keep_client(
            branch,
            ClientTx {
                peer,
                data: data.clone(),
                method,
                call: key,
                next: (peer.transport == Transport::Udp).then_some(now + self.config.t1),
                interval: self.config.t1,
                until: now + 64 * self.config.t1,
                invite: None,
            },
        );
        self.send(peer, data);
    }

    /// Places a call: an INVITE with `sdp` to `target` (a SIP URI) at `peer`,
    /// from `local` (our address, for Via and Contact).
    pub fn dial(
        &mut self,
        now: Instant,
        peer: Peer,
        local: SocketAddr,
        target: &str,
        from_user: &str,
        sdp: &str,
    ) -> CallKey {
        let key = CallKey(self.next_key);
        self.next_key += 1;
        let call_id = format!("{}@hotline", self.token());
        let local_tag = self.token();
        let branch = format!("z9hG4bK{}", self.token());
        let host = self.config.advertise.unwrap_or(local.ip());
        let addr = SocketAddr::new(host, local.port());
        let from = format!("<sip:{from_user}@{addr}>;tag={local_tag}");
        let mut invite = build::request(
            Method::Invite,
            target.to_owned(),
            build::via(peer.transport, addr, &branch),
        );
        invite.body = sdp.as_bytes().to_vec();
        invite.add_header("From", from.clone());
        invite.add_header("To", format!("<{target}>"));
        invite.add_header("Call-ID", call_id.clone());
        invite.add_header("CSeq", "1 INVITE");
        invite.add_header("Contact", format!("<sip:{from_user}@{addr}>"));
        invite.add_header("Allow", ALLOW);
        invite.add_header("User-Agent", AGENT);
        invite.add_header("Content-Type", "application/sdp");
        let data = invite.to_bytes();
        self.calls.insert(
            key,
            Call {
                call_id: call_id.clone(),
                peer,
                local,
                local_tag: local_tag.clone(),
                remote_tag: None,
                local_party: from,
                remote_party: format!("<{target}>"),
                remote_target: target.to_owned(),
                route_set: Vec::new(),
                local_cseq: 1,
                state: CallState::Calling,
                pending_invite: None,
                transferring: false,
                counted: None,
                offered_at: None,
            },
        );
        self.dialogs.insert((call_id, local_tag), key);
        self.keep_client(
            branch,
            ClientTx {
                peer,
                data: data.clone(),
                method: Method::Invite,
                call: key,
                next: (peer.transport == Transport::Udp).then_some(now + self.config.t1),
                interval: self.config.t1,
                until: now + 64 * self.config.t1,
                invite: Some(invite),
            },
        );
        self.send(peer, data);
        key
    }

    fn handle_response(&mut self, now: Instant, resp: Message) {
        let StartLine::Response { code, .. } = resp.start else {
            return;
        };
        let Some(branch) = resp.branch().map(str::to_owned) else {
            return;
        };
        let method = resp.cseq().map(|(_, m)| m).ok();
        // A retransmitted 2xx to our INVITE after the transaction ended: ACK again.
        let Some(tx) = self.client.get_mut(&branch) else {
            if let (Some(Method::Invite), 200..=299) = (method, code) {
                if let Some(key) = self.dialog_of_response(&resp) {
                    // The callee answered as our CANCEL went out: the 2xx
                    // made a dialog we no longer want. ACK it and end it
                    // with a BYE, or their line stays open with nobody on it.
                    let gave_up = self
                        .calls
                        .get(&key)
                        .is_some_and(|c| c.state == CallState::Ended && c.remote_tag.is_none());
                    if gave_up {
                        if let Some(call) = self.calls.get_mut(&key) {
                            call.remote_tag = resp.to_tag().map(str::to_owned);
                            call.remote_party = resp.header("To").unwrap_or_default().to_owned();
                            if let Some(contact) = resp.header("Contact") {
                                call.remote_target = contact_uri(contact);
                            }
                            call.route_set = resp
                                .header_values("Record-Route")
                                .map(str::to_owned)
                                .collect();
                            call.route_set.reverse();
                        }
                    }
                    self.ack_2xx(key, &resp);
                    if gave_up {
                        self.send_bye(now, key);
                    }
                }
            }
            return;
        };
        let key = tx.call;
        match (&tx.method, code) {
            (Method::Invite, 100..=199) => {
                // Provisional: stop retransmitting, and let it ring for as
                // long as the caller of `dial` wants (it CANCELs); Timer B
                // no longer applies, a generous bound does.
                tx.next = None;
                let ended = self
                    .calls
                    .get(&key)
                    .is_none_or(|c| c.state == CallState::Ended);
                if !ended {
                    tx.until = tx.until.max(now + RINGING_LIMIT);
                    if code > 100 {
                        self.event(Event::Ringing { call: key });
                    }
                }
            }
            (Method::Invite, 200..=299) => {
                self.client.remove(&branch);
                let mut cancelled = false;
                if let Some(call) = self.calls.get_mut(&key) {
                    call.remote_tag = resp.to_tag().map(str::to_owned);
                    call.remote_party = resp.header("To").unwrap_or_default().to_owned();
                    if let Some(contact) = resp.header("Contact") {
                        call.remote_target = contact_uri(contact);
                    }
                    // Our requests pass the proxies in the reverse of the
                    // order they record themselves in (§12.1.2).
                    call.route_set = resp
                        .header_values("Record-Route")
                        .map(str::to_owned)
                        .collect();
                    call.route_set.reverse();
                    cancelled = call.state == CallState::Ended;
                    if !cancelled {
                        call.state = CallState::Confirmed;
                    }
                }
                self.ack_2xx(key, &resp);
                if cancelled {
                    // Answered as our CANCEL went out: a dialog we no
                    // longer want, ended at once.
                    self.send_bye(now, key);
                    return;
                }
                let sdp = (!resp.body.is_empty())
                    .then(|| String::from_utf8_lossy(&resp.body).into_owned());
                self.event(Event::Answered { call: key, sdp });
            }
            (Method::Invite, _) => {
                // A failure: ACK on the same branch, and the call is over.
                if let Some(tx) = self.client.remove(&branch) {
                    if let Some(invite) = &tx.invite {
                        let ack = ack_for_failure(invite, &resp);
                        self.send(tx.peer, ack.to_bytes());
                    }
                }
                self.end(key, EndReason::Failed(code));
            }
            (_, 100..=199) => tx.next = tx.next.map(|_| now + self.config.t2),
            (Method::Refer, 200..=299) => {
                // Accepted: the outcome comes in NOTIFYs.
                self.client.remove(&branch);
            }
            (Method::Refer, _) => {
                self.client.remove(&branch);
                self.transfer_ended(key, false, code);
            }
            _ => {
                self.client.remove(&branch);
            }
        }
    }

    fn dialog_of_response(&self, resp: &Message) -> Option<CallKey> {
        let tag = resp.from_tag()?;
        self.dialogs
            .get(&(resp.call_id().to_owned(), tag.to_owned()))
            .copied()
    }

    fn ack_2xx(&mut self, key: CallKey, resp: &Message) {
        let branch = self.token();
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        let addr = call.via_addr(self.config.advertise);
        let cseq = resp.cseq().map(|(n, _)| n).unwrap_or(1);
        let mut ack = build::request(
            Method::Ack,
            call.remote_target.clone(),
            build::via(call.peer.transport, addr, &format!("z9hG4bK{branch}")),
        );
        ack.add_header("From", call.local_party.clone());
        ack.add_header("To", resp.header("To").unwrap_or_default().to_owned());
        ack.add_header("Call-ID", call.call_id.clone());
        ack.add_header("CSeq", format!("{cseq} ACK"));
        for route in &call.route_set {
            ack.add_header("Route", route.clone());
        }
        let peer = call.next_hop();
        self.send(peer, ack.to_bytes());
    }

    /// Resends what is due, gives up on what has waited too long.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, key))) = self.timers.pop() else {
                break;
            };
            match key {
                TimerKey::Server(k) => self.server_timer(now, k),
                TimerKey::Client(branch) => self.client_timer(now, branch),
            }
        }
        if self.next_sweep.is_none_or(|at| at <= now) {
            self.sweep(now);
        }
    }

    fn server_timer(&mut self, now: Instant, k: (String, String)) {
        let t2 = self.config.t2;
        let Some(r) = self.server.get_mut(&k) else {
            return;
        };
        if r.until > now {
            if let Some((peer, data)) = r.due(now, t2) {
                self.send(peer, data);
            }
            if let Some(r) = self.server.get(&k) {
                let wake = r.wake();
                self.timers.push(Reverse((wake, TimerKey::Server(k))));
            }
            return;
        }
        let Some(r) = self.server.remove(&k) else {
            return;
        };
        // A 2xx never acknowledged: the caller is gone; hang up (§13.3.1.4).
        if r.kind == RetransmitKind::Ok2xx && r.next.is_some() {
            if let Some(key) = r.call {
                if self
                    .calls
                    .get(&key)
                    .is_some_and(|c| c.state == CallState::Answered)
                {
                    self.send_bye(now, key);
                    self.end(key, EndReason::NoAck);
                }
            }
        }
    }

    fn client_timer(&mut self, now: Instant, branch: String) {
        let t2 = self.config.t2;
        let Some(t) = self.client.get_mut(&branch) else {
            return;
        };
        if t.until > now {
            if let Some((peer, data)) = t.due(now, t2) {
                self.send(peer, data);
            }
            if let Some(t) = self.client.get(&branch) {
                let wake = t.wake();
                self.timers.push(Reverse((wake, TimerKey::Client(branch))));
            }
            return;
        }
        if let Some(t) = self.client.remove(&branch) {
            match t.method {
                Method::Invite => self.end(t.call, EndReason::Failed(408)),
                Method::Refer => self.transfer_ended(t.call, false, 408),
                _ => {}
            }
        }
    }

    /// Once a second: forgets calls that are over with nothing left in
    /// flight, and rate-limit buckets that have refilled.
    fn sweep(&mut self, now: Instant) {
        self.next_sweep = Some(now + SWEEP_EVERY);
        self.admission.forget_refilled(now);
        // A map keeps the room of its busiest moment; after a burst of
        // calls most of it goes back, or a quiet node holds the burst's
        // memory for good. (Shrunk before this sweep's removals: the next
        // sweep, a second later, takes what they free.)
        shrink(&mut self.calls);
        shrink(&mut self.dialogs);
        shrink(&mut self.invites);
        shrink(&mut self.unacknowledged);
        shrink(&mut self.server);
        shrink(&mut self.client);
        let busy: std::collections::HashSet<CallKey> = self
            .server
            .values()
            .filter_map(|r| r.call)
            .chain(self.client.values().map(|t| t.call))
            .collect();
        let done: Vec<CallKey> = self
            .calls
            .iter()
            .filter(|(k, c)| c.state == CallState::Ended && !busy.contains(k))
            .map(|(k, _)| *k)
            .collect();
        if done.is_empty() {
            return;
        }
        for key in &done {
            if let Some(call) = self.calls.remove(key) {
                self.ended -= 1;
                self.dialogs.remove(&(call.call_id, call.local_tag));
            }
            self.unacknowledged.remove(key);
        }
        let done: std::collections::HashSet<CallKey> = done.into_iter().collect();
        self.invites.retain(|_, k| !done.contains(k));
    }

    /// Whether a map has room [`shrink`] would give back.
    fn has_spare_room(&self) -> bool {
        spare_room(&self.calls)
            || spare_room(&self.dialogs)
            || spare_room(&self.invites)
            || spare_room(&self.unacknowledged)
            || spare_room(&self.server)
            || spare_room(&self.client)
    }
}

/// A map at most a quarter full, past a small floor of room.
fn spare_room<K, V>(map: &HashMap<K, V>) -> bool {
    map.capacity() > 256 && map.len() * 4 < map.capacity()
}

/// Shrinks a map with [`spare_room`] to twice its entries: a map that
/// empties by the second is rehashed at most every time it halves again,
/// not every second.
pub(crate) fn shrink<K: Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>) {
    if spare_room(map) {
        map.shrink_to(map.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_emptied_after_a_burst_gives_its_room_back_and_a_busy_one_keeps_it() {
        let mut map: HashMap<u32, [u8; 64]> = (0..5000).map(|i| (i, [0; 64])).collect();
        let burst = map.capacity();
        map.retain(|k, _| *k < 3000);
        let before = map.capacity();
        shrink(&mut map);
        assert_eq!(map.capacity(), before, "more than a quarter full: kept");
        map.retain(|k, _| *k < 100);
        shrink(&mut map);
        assert!(map.capacity() < burst / 8, "{} of {burst}", map.capacity());
        assert!(map.capacity() >= 200);
        assert_eq!(map.len(), 100);
        // A small map is left alone.
        let mut small: HashMap<u32, u32> = (0..200).map(|i| (i, i)).collect();
        small.clear();
        let room = small.capacity();
        shrink(&mut small);
        assert_eq!(small.capacity(), room);
    }
}
