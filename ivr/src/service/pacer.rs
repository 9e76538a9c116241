//! The media pacer: a few tasks ("lanes") that drive every answered call's
//! [`MediaSession`], instead of one timer wake-up per packet per call.
//!
//! A lane files its sessions on a wheel of milliseconds by when each next
//! needs attention (its next packet, or 20 ms at most). One wake-up serves
//! every session due:
//! what arrived on its socket goes in, the packets due go out, and the
//! events (digits, prompt finished, silence, no RTP) go to the call's task,
//! which wakes only for those. At thousands of calls this is the difference
//! between a wake-up per packet and a wake-up per millisecond.
//!
//! How late the lanes wake up is one of the node's two measures of load
//! (with how long new calls wait for their answer): admission turns new
//! calls away when either shows the CPU short (see [`Pacer::lateness`]).
//! Measured, the call tasks fall behind first; the media follows when
//! the calls up are more than the CPU carries.
//!
//! The session stays a sans-I/O state machine; the call's task changes it
//! (play, stop, record) through [`Media::with`], under a lock no one holds
//! across an `await`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use super::ports::{PortLease, RtpSocket};

use crate::media::rtcp::{sender_report, REPORT_INTERVAL};
use crate::media::sdp::Negotiated;
use crate::media::session::{MediaEvent, MediaOutput, MediaSession};

/// The longest a session goes unvisited: its packet grid, so what a
/// caller who sends audio sends (keys, speech) is read within one packet
/// time even while nothing is being sent to them.
const VISIT: Duration = Duration::from_millis(20);

/// Datagrams read from one socket per visit (every 20 ms): a caller sends
/// one or two. A flood at one call's port waits in, and overflows, that
/// socket's buffer rather than starve the other calls of the lane; the
/// flooded call loses audio and keys while it lasts (it would lose them to
/// the flood's volume anyway).
const READS_PER_VISIT: usize = 64;

/// How often the socket of a caller who has sent nothing for this long is
/// read. Reading at visits rather than on readiness keeps the socket out of
/// epoll: a socket with a waiter has the kernel take its wait-queue lock at
/// every packet *sent* (the write-space wake-up), measured as the largest
/// single cost of a playing call. A caller whose packets come at most this
/// far apart is read at every visit; one whose socket has been silent this
/// long (who sends nothing yet, has gone quiet, or whose gateway sends
/// nothing in silence) is read about this often (at the first visit after
/// it, so up to one visit more), which delays their next packet (latching,
/// a key) by as much. While the caller is recorded, or their media is
/// about to be declared lost, every visit reads (see [`read_due`]).
const IDLE_SOCKET_READS: Duration = Duration::from_millis(100);

/// Hands sessions to lanes in turn.
#[derive(Debug, Clone)]
pub struct Pacer {
    lanes: Arc<Vec<mpsc::UnboundedSender<Command>>>,
    next: Arc<AtomicUsize>,
    /// Each lane's smoothed lateness, in microseconds.
    late: Arc<Vec<AtomicU64>>,
}

/// The weight of one wake-up in a lane's smoothed lateness: 1/32, so the
/// average spans some 32 wake-ups (tens of milliseconds under load) and
/// one slow wake-up alone does not turn calls away.
const LATE_WEIGHT: u64 = 32;

enum Command {
    Attach(u64, Entry),
    /// Visit this session now: its schedule may have moved earlier.
    Wake(u64),
}

struct Shared {
    session: Mutex<MediaSession>,
    /// Set by the call's task when it is done with the session.
    closed: AtomicBool,
}

struct Entry {
    shared: Arc<Shared>,
    /// Non-blocking and in no epoll set: read at visits instead (see
    /// [`visit`]).
    socket: std::net::UdpSocket,
    /// When the socket last had something to read (or the session began).
    last_heard: Instant,
    /// When it was last read.
    last_read: Instant,
    events: mpsc::UnboundedSender<MediaEvent>,
    /// What was agreed, for where RTCP reports go.
    agreed: Negotiated,
    next_report: Instant,
    /// The socket's place in the port range, given back with the socket.
    _port: PortLease,
}

/// A call's hold on its session while a lane drives it.
pub struct Media {
    id: u64,
    shared: Arc<Shared>,
    lane: mpsc::UnboundedSender<Command>,
    /// Events from the lane, in order.
    pub events: mpsc::UnboundedReceiver<MediaEvent>,
}

impl Pacer {
    /// Starts `lanes` lane tasks on the current runtime.
    pub fn start(lanes: usize) -> Self {
        let late: Arc<Vec<AtomicU64>> =
            Arc::new((0..lanes.max(1)).map(|_| AtomicU64::new(0)).collect());
        let lanes = (0..lanes.max(1))
            .map(|i| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(lane(rx, late.clone(), i));
                tx
            })
            .collect();
        Self {
            lanes: Arc::new(lanes),
            next: Arc::default(),
            late,
        }
    }

    /// How late the lanes wake up for the packets due, smoothed; the
    /// latest lane speaks for all (its calls are the ones heard late).
    /// Zero while no call has media.
    pub fn lateness(&self) -> Duration {
        let micros = self
            .late
            .iter()
            .map(|l| l.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        Duration::from_micros(micros)
    }

    /// Gives `session` to a lane, sending on `socket` (RTCP too, where
    /// `agreed` says the peer takes it).
    pub fn attach(
        &self,
        session: MediaSession,
        socket: RtpSocket,
        agreed: Negotiated,
    ) -> std::io::Result<Media> {
        let (socket, port) = socket.into_parts();
        // Leaves the reactor; stays non-blocking.
        let socket = socket.into_std()?;
        let id = self.next.fetch_add(1, Ordering::Relaxed) as u64;
        let lane = self.lanes[id as usize % self.lanes.len()].clone();
        let shared = Arc::new(Shared {
            session: Mutex::new(session),
            closed: AtomicBool::new(false),
        });
        let (events_tx, events) = mpsc::unbounded_channel();
        let now = Instant::now();
        let entry = Entry {
            shared: shared.clone(),
            socket,
            last_heard: now,
            last_read: now,
            events: events_tx,
            agreed,
            next_report: now + REPORT_INTERVAL,
            _port: port,
        };
        // A lane ends only with the runtime; then the call ends too.
        let _ = lane.send(Command::Attach(id, entry));
        Ok(Media {
            id,
            shared,
            lane,
            events,
        })
    }
}

impl Drop for Media {
    /// A call task that ends any way at all stops its media.
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
    }
}

impl Media {
    /// Changes the session (play, stop, record…); the lane sees the change
    /// at its next visit.
    pub fn with<R>(&self, f: impl FnOnce(&mut MediaSession) -> R) -> R {
        let mut session = self
            .shared
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut session)
    }

    /// Like [`Media::with`], for a change that makes audio due at once
    /// (the ACK that lets held audio start).
    pub fn with_now<R>(&self, f: impl FnOnce(&mut MediaSession) -> R) -> R {
        let result = self.with(f);
        let _ = self.lane.send(Command::Wake(self.id));
        result
    }

    /// Ends the call's media: nothing more is sent, and what was recorded
    /// of the caller is returned.
    pub fn finish(self) -> Vec<i16> {
        self.shared.closed.store(true, Ordering::Release);
        self.with(MediaSession::stop_recording)
    }

    /// Whether a prompt is queued or playing: a "finished" that crossed
    /// the queueing of the next prompt is about the one before.
    pub fn is_playing(&self) -> bool {
        self.with(|s| s.is_playing())
    }
}

async fn lane(mut commands: mpsc::UnboundedReceiver<Command>, late: Arc<Vec<AtomicU64>>, i: usize) {
    let mut wheel: Wheel<Entry> = Wheel::new(Instant::now());
    let mut buf = vec![0u8; 2048];
    let mut lateness = Lateness::default();
    loop {
        let due = wheel.next_due();
        let woke = tokio::select! {
            biased;
            command = commands.recv() => match command {
                None => return,
                Some(Command::Attach(id, entry)) => {
                    wheel.insert(id, Instant::now(), entry);
                    false
                }
                Some(Command::Wake(id)) => {
                    wheel.wake(id);
                    false
                }
            },
            () = sleep_until(due) => true,
        };
        let now = Instant::now();
        if let (true, Some(due)) = (woke, due) {
            late[i].store(
                lateness.record(now.saturating_duration_since(due)),
                Ordering::Relaxed,
            );
        }
        wheel.serve(now, |entry| visit(entry, now, &mut buf));
        if wheel.len == 0 {
            lateness = Lateness::default();
            late[i].store(0, Ordering::Relaxed);
        } else if wheel.next_due().is_some_and(|due| due <= Instant::now()) {
            // Behind: more is due already. Let the other tasks (the SIP
            // loop above all, which hangs calls up and refuses new ones)
            // run before the next pass, or a lane with more calls than the
            // CPU can serve would hold the worker for seconds at a time.
            tokio::task::yield_now().await;
        }
    }
}

/// A lane's lateness, smoothed over its last wake-ups (in microseconds,
/// scaled by [`LATE_WEIGHT`] to keep integer precision).
#[derive(Debug, Default)]
struct Lateness {
    scaled: u64,
}

impl Lateness {
    /// Adds one wake-up `late`; returns the smoothed lateness in µs. A
    /// wake-up counts as at most one packet time late: one long stall (a
    /// page fault, a preempted thread) must not weigh as many late ones.
    fn record(&mut self, late: Duration) -> u64 {
        let micros = u64::try_from(late.min(VISIT).as_micros()).unwrap_or(0);
        self.scaled = self.scaled - self.scaled / LATE_WEIGHT + micros;
        self.scaled / LATE_WEIGHT
    }
}

/// Ticks (milliseconds) a wheel looks ahead: more than [`VISIT`].
const SLOTS: u64 = 32;

/// Items filed by the millisecond in which they are next due, at most
/// [`SLOTS`] ms ahead: filing and serving are O(1), and one millisecond's
/// items are served together from one vector.
struct Wheel<T> {
    origin: Instant,
    /// The last tick served.
    served: u64,
    slots: Vec<Vec<(u64, T)>>,
    /// An empty vector kept for its capacity: the slot being served swaps
    /// with it.
    spare: Vec<(u64, T)>,
    len: usize,
}

impl<T> Wheel<T> {
    fn new(origin: Instant) -> Self {
        Self {
            origin,
            served: 0,
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
            spare: Vec::new(),
            len: 0,
        }
    }

    /// The first tick at or after `at`.
    fn tick_after(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.origin);
        let ms = since.as_millis() as u64;
        if since > Duration::from_millis(ms) {
            ms + 1
        } else {
            ms
        }
    }

    /// Files `item` for its first tick at or after `at`; no sooner than
    /// the next tick, no later than the wheel reaches.
    fn insert(&mut self, id: u64, at: Instant, item: T) {
        let tick = self
            .tick_after(at)
            .clamp(self.served + 1, self.served + SLOTS);
        self.slots[(tick % SLOTS) as usize].push((id, item));
        self.len += 1;
    }

    /// When the earliest filed item is due.
    fn next_due(&self) -> Option<Instant> {
        if self.len == 0 {
            return None;
        }
        (self.served + 1..=self.served + SLOTS)
            .find(|tick| !self.slots[(tick % SLOTS) as usize].is_empty())
            .map(|tick| self.origin + Duration::from_millis(tick))
    }

    /// Moves item `id` to the next tick.
    fn wake(&mut self, id: u64) {
        for slot in &mut self.slots {
            if let Some(i) = slot.iter().position(|(item, _)| *item == id) {
                let (id, item) = slot.swap_remove(i);
                self.len -= 1;
                self.insert(id, self.origin, item);
                return;
            }
        }
    }

    /// Serves every tick up to `now`: `serve` says when each item is due
    /// again, or `None` to drop it. Items asked back are filed once the
    /// ticks are served, so a late wake-up visits each item once.
    fn serve(&mut self, now: Instant, mut serve: impl FnMut(&mut T) -> Option<Instant>) {
        let until = now.saturating_duration_since(self.origin).as_millis() as u64;
        let mut again = Vec::new();
        if until >= self.served + SLOTS {
            // Idle or stalled for longer than the wheel: everything filed is
            // due; serve it once and move on, not millisecond by millisecond.
            for slot in &mut self.slots {
                for (id, mut item) in slot.drain(..) {
                    if let Some(at) = serve(&mut item) {
                        again.push((id, at, item));
                    }
                }
            }
            self.len = 0;
            self.served = until;
        }
        while self.served < until {
            self.served += 1;
            let mut batch = std::mem::take(&mut self.spare);
            std::mem::swap(&mut batch, &mut self.slots[(self.served % SLOTS) as usize]);
            self.len -= batch.len();
            for (id, mut item) in batch.drain(..) {
                if let Some(at) = serve(&mut item) {
                    again.push((id, at, item));
                }
            }
            self.spare = batch;
        }
        for (id, at, item) in again {
            self.insert(id, at, item);
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Whether a visit at `now` reads the socket: always while the caller has
/// been heard within [`IDLE_SOCKET_READS`] or `listening` (a recording, or
/// a deadline that what they sent might push back), else once per
/// [`IDLE_SOCKET_READS`].
fn read_due(now: Instant, last_heard: Instant, last_read: Instant, listening: bool) -> bool {
    listening
        || now.saturating_duration_since(last_heard) < IDLE_SOCKET_READS
        || now.saturating_duration_since(last_read) >= IDLE_SOCKET_READS
}

/// Serves one session: reads, sends what is due, passes events on.
/// Returns when to come back, or `None` when the call is done with it.
fn visit(entry: &mut Entry, now: Instant, buf: &mut [u8]) -> Option<Instant> {
    if entry.shared.closed.load(Ordering::Acquire) {
        return None;
    }
    let mut session = entry
        .shared
        .session
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // What the caller sent first: their first packet may move where we send.
    if read_due(
        now,
        entry.last_heard,
        entry.last_read,
        session.wants_every_packet(now),
    ) {
        entry.last_read = now;
        for _ in 0..READS_PER_VISIT {
            match entry.socket.recv_from(buf) {
                Ok((n, from)) => {
                    entry.last_heard = now;
                    session.handle_datagram(now, from, &buf[..n]);
                }
                // WouldBlock: nothing (more) to read. An unconnected UDP
                // socket reports no other error a retry would clear.
                Err(_) => break,
            }
        }
    }
    session.handle_timeout(now);
    let remote = session.remote();
    while let Some(output) = session.poll_output() {
        match output {
            MediaOutput::Send(datagram) => {
                if let Some(to) = remote {
                    // A full send buffer drops the packet, as the network would.
                    let _ = entry.socket.send_to(&datagram, to);
                }
            }
            MediaOutput::Event(event) => {
                if entry.events.send(event).is_err() {
                    return None;
                }
            }
        }
    }
    if now >= entry.next_report {
        entry.next_report += REPORT_INTERVAL;
        if let Some(remote) = remote {
            let report = sender_report(session.sender_info(), SystemTime::now(), "ivr@hotline");
            let to = entry.agreed.rtcp_destination(remote);
            let _ = entry.socket.send_to(&report, to);
        }
    }
    let due = session
        .poll_timeout()
        .unwrap_or(now + VISIT)
        .min(now + VISIT);
    // A deadline already past (the timeout was reported) is not a reason to spin.
    Some(if due <= now { now + VISIT } else { due })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_is_smoothed_over_wake_ups_and_follows_a_lasting_change() {
        let mut late = Lateness::default();
        let ms = Duration::from_millis;
        // One wake-up 32 ms late among punctual ones: a packet time at
        // most, over 32 wake-ups.
        assert_eq!(late.record(ms(32)), 625);
        // One stall of a second weighs no more.
        let mut stalled = Lateness::default();
        assert_eq!(stalled.record(ms(1_000)), 625);
        for _ in 0..200 {
            late.record(Duration::ZERO);
        }
        assert!(late.record(Duration::ZERO) < 10);
        // Late by 10 ms wake-up after wake-up: the average gets there.
        let mut seen = 0;
        for _ in 0..200 {
            seen = late.record(ms(10));
        }
        assert!((9_900..=10_000).contains(&seen), "{seen} µs");
    }

    #[test]
    fn a_caller_who_sends_is_read_at_every_visit_an_idle_socket_every_100_ms() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // Heard 60 ms ago (40-ms packets, a late one): every visit reads.
        assert!(read_due(ms(160), ms(100), ms(140), false));
        assert!(read_due(ms(199), ms(100), ms(180), false));
        // Silent for 100 ms: read once per 100 ms.
        assert!(!read_due(ms(220), ms(100), ms(200), false));
        assert!(!read_due(ms(299), ms(100), ms(200), false));
        assert!(read_due(ms(300), ms(100), ms(200), false));
        // Never heard (a caller who sends nothing yet), from the start.
        assert!(read_due(ms(20), t0, t0, false));
        assert!(!read_due(ms(120), t0, ms(100), false));
        // Recorded, or about to be declared lost: every visit.
        assert!(read_due(ms(220), ms(100), ms(200), true));
    }

    #[test]
    fn the_wheel_serves_each_item_in_the_millisecond_it_is_due() {
        let t0 = Instant::now();
        let mut wheel = Wheel::new(t0);
        let ms = |n: u64| t0 + Duration::from_millis(n);
        wheel.insert(1, ms(5), "a");
        wheel.insert(2, t0 + Duration::from_micros(5_300), "b");
        wheel.insert(3, ms(19), "c");
        assert_eq!(wheel.next_due(), Some(ms(5)));
        let mut seen = Vec::new();
        // Nothing before it is due; "b" (5.3 ms) waits for tick 6.
        wheel.serve(ms(5), |item| {
            seen.push(*item);
            None
        });
        assert_eq!(seen, ["a"]);
        assert_eq!(wheel.next_due(), Some(ms(6)));
        // A late wake-up serves everything due since, and an item asked
        // back 20 ms on is filed there.
        wheel.serve(ms(25), |item| {
            seen.push(*item);
            (*item == "c").then(|| ms(45))
        });
        assert_eq!(seen, ["a", "b", "c"]);
        assert_eq!(wheel.next_due(), Some(ms(45)));
        // Waking moves it to the next tick; a time already past is the next tick too.
        wheel.wake(3);
        assert_eq!(wheel.next_due(), Some(ms(26)));
        wheel.insert(4, t0, "d");
        wheel.serve(ms(26), |_| None);
        assert_eq!(wheel.next_due(), None);
        // After an idle hour the next item is served at once, in one pass.
        let hour = ms(3_600_000);
        wheel.insert(5, hour, "e");
        let mut visits = 0;
        wheel.serve(hour, |_| {
            visits += 1;
            Some(hour + Duration::from_millis(20))
        });
        assert_eq!(visits, 1);
        assert_eq!(wheel.next_due(), Some(hour + Duration::from_millis(20)));
        // Late by 40 ms: served once, not once per 20 ms of lateness.
        let mut visits = 0;
        wheel.serve(hour + Duration::from_millis(60), |_| {
            visits += 1;
            Some(hour + Duration::from_millis(80))
        });
        assert_eq!(visits, 1);
    }
}
