//! The node's one reader of the event log. It looks at each commit's new
//! events and
//! - wakes only the `WatchOffers` streams of the lawyers they name: a commit
//!   costs one query here and one in the stream it concerns, not one in
//!   every connected lawyer's stream (those still read their own events
//!   from the gap-safe log; a wake only says when to look);
//! - keeps the latest events, each with its ticket's center, in
//!   [`RecentEvents`]: supervisors' `WatchEvents` streams that are caught up
//!   read from there, so a commit costs one query however many supervisors
//!   watch. A stream further behind reads the log itself until it is in
//!   the window.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use hotline_domain::TicketNumber;

use crate::service::Ticketing;
use crate::tickets::TicketEvent;

/// Events read per query.
const BATCH: i64 = 500;
/// How often the reader looks when no commit woke it (another node's commit
/// whose NOTIFY was lost, say).
const POLL: Duration = Duration::from_millis(200);

/// The wake of each lawyer with an open stream on this process.
#[derive(Default)]
pub struct LawyerWakes {
    by_lawyer: Mutex<HashMap<String, Weak<Notify>>>,
}

impl LawyerWakes {
    /// The wake for `lawyer`'s streams; several streams of one lawyer share it.
    pub fn subscribe(&self, lawyer: &str) -> Arc<Notify> {
        let mut map = self.lock();
        if let Some(wake) = map.get(lawyer).and_then(Weak::upgrade) {
            return wake;
        }
        // A good moment to forget lawyers whose streams all ended.
        map.retain(|_, w| w.strong_count() > 0);
        let wake = Arc::new(Notify::new());
        map.insert(lawyer.to_owned(), Arc::downgrade(&wake));
        wake
    }

    fn wake(&self, lawyer: &str) {
        if let Some(wake) = self.lock().get(lawyer).and_then(Weak::upgrade) {
            wake.notify_waiters();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Weak<Notify>>> {
        // The map holds no invariant a panicking holder could break.
        self.by_lawyer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How long a reader of the log waits before looking again when committed
/// events wait behind a transaction still running (PostgreSQL): that
/// commit may wake no one, as an audit line's does not. Short at first,
/// such transactions last milliseconds; doubling up to the reader's usual
/// poll, so a transaction left open does not have every reader query the
/// database in a loop.
#[derive(Debug)]
pub struct HeldRetry {
    next: Duration,
}

impl Default for HeldRetry {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

impl HeldRetry {
    const FIRST: Duration = Duration::from_millis(2);

    /// How long to wait after a read that `delivered` events or not:
    /// `poll` unless events were `held`. Events delivered start the
    /// waits short again (the transaction holding them is a new one).
    pub fn wait(&mut self, held: bool, delivered: bool, poll: Duration) -> Duration {
        if !held || delivered {
            self.next = Self::FIRST;
        }
        if !held {
            return poll;
        }
        let wait = self.next.min(poll);
        self.next = (self.next * 2).min(poll);
        wait
    }
}

/// Events kept for caught-up streams: minutes of a busy centre's events.
const WINDOW: usize = 4096;

/// An event with the center of its ticket (`None`: the ticket was not found).
pub type CenteredEvent = (TicketEvent, Option<String>);

/// The events the reader read last, in the order it read them: the same
/// order, from any cursor in it, a stream reading the log itself would get.
#[derive(Default)]
pub struct RecentEvents {
    window: Mutex<Window>,
    arrived: Notify,
}

#[derive(Default)]
struct Window {
    /// The cursor the window's first event follows; `None` until the reader
    /// has started.
    start: Option<i64>,
    events: VecDeque<CenteredEvent>,
}

impl RecentEvents {
    /// Woken whenever events arrive.
    pub fn arrived(&self) -> &Notify {
        &self.arrived
    }

    /// Where a reader that wants only what comes next starts: the window's
    /// last event, or its start; `None` until the reader has started.
    pub fn cursor(&self) -> Option<i64> {
        let window = self.lock();
        window.events.back().map(|(e, _)| e.id).or(window.start)
    }

    /// At most `limit` events after `cursor`, when `cursor` is the window's
    /// start or one of its events (`Some(empty)`: nothing newer yet);
    /// `None` when the stream must read the log itself.
    pub fn after(&self, cursor: i64, limit: usize) -> Option<Vec<CenteredEvent>> {
        let window = self.lock();
        let start = window.start?;
        let from = if cursor == start {
            0
        } else {
            // Caught-up streams sit at the end: search from there.
            window.events.iter().rposition(|(e, _)| e.id == cursor)? + 1
        };
        Some(
            window
                .events
                .iter()
                .skip(from)
                .take(limit)
                .cloned()
                .collect(),
        )
    }

    /// Adds what the reader read after `cursor`. A batch that does not
    /// follow the window (the reader lost its place) starts a new one.
    fn push(&self, cursor: i64, batch: Vec<CenteredEvent>) {
        let mut window = self.lock();
        let last = window.events.back().map(|(e, _)| e.id).or(window.start);
        if last != Some(cursor) {
            window.start = Some(cursor);
            window.events.clear();
        }
        window.events.extend(batch);
        while window.events.len() > WINDOW {
            if let Some((e, _)) = window.events.pop_front() {
                window.start = Some(e.id);
            }
        }
        drop(window);
        self.arrived.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        // Every change leaves the window whole before the next line.
        self.window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The centers of the tickets `events` are about, in one query.
pub async fn with_centers(
    ticketing: &Ticketing,
    events: Vec<TicketEvent>,
) -> Result<Vec<CenteredEvent>, crate::store::StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut numbers: Vec<TicketNumber> = events.iter().map(|e| e.ticket_number.clone()).collect();
    numbers.sort();
    numbers.dedup();
    let centers: HashMap<TicketNumber, String> = ticketing
        .tickets_by_number(&numbers)
        .await?
        .into_iter()
        .map(|t| (t.number, t.center))
        .collect();
    Ok(events
        .into_iter()
        .map(|e| {
            let center = centers.get(&e.ticket_number).cloned();
            (e, center)
        })
        .collect())
}

/// Reads the event log after every commit (`commits`), wakes the streams
/// of the lawyers named in new events and keeps them in `recent`. Runs
/// until the server stops it.
pub async fn run(
    ticketing: Ticketing,
    commits: Arc<Notify>,
    wakes: Arc<LawyerWakes>,
    recent: Arc<RecentEvents>,
) {
    // Only what is committed from now on matters: a stream that starts
    // reads the past itself. (An event of a transaction still open at this
    // moment wakes nobody; its stream finds it at its next poll.)
    let mut cursor = loop {
        match ticketing.latest_event_id().await {
            Ok(id) => {
                recent.push(id, Vec::new());
                break id;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the event log; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let mut retry = HeldRetry::default();
    loop {
        // Registered before the query: a commit during it still wakes us.
        let woken = commits.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let read = match ticketing.events_after_held(cursor, None, BATCH).await {
            Ok((events, held)) => with_centers(&ticketing, events)
                .await
                .map(|events| (events, held)),
            Err(e) => Err(e),
        };
        let mut wait = POLL;
        match read {
            Ok((events, held)) => {
                let full = events.len() as i64 == BATCH;
                let delivered = !events.is_empty();
                let after = cursor;
                for (e, _) in &events {
                    cursor = e.id;
                    if let Some(lawyer) = &e.lawyer {
                        wakes.wake(lawyer);
                    }
                }
                if !events.is_empty() {
                    recent.push(after, events);
                }
                if full {
                    continue;
                }
                wait = retry.wait(held, delivered, POLL);
            }
            Err(e) => tracing::warn!(error = %e, "cannot read new events; retrying"),
        }
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_reaches_only_the_named_lawyers_streams() {
        let wakes = LawyerWakes::default();
        let a1 = wakes.subscribe("a");
        let a2 = wakes.subscribe("a");
        assert!(Arc::ptr_eq(&a1, &a2), "one lawyer's streams share a wake");
        let b = wakes.subscribe("b");
        let woken_a = a1.notified();
        let woken_b = b.notified();
        tokio::pin!(woken_a, woken_b);
        woken_a.as_mut().enable();
        woken_b.as_mut().enable();
        wakes.wake("a");
        wakes.wake("nobody");
        // A Notified that was notified completes on its first poll.
        assert!(is_ready_now(woken_a.as_mut()).await);
        assert!(!is_ready_now(woken_b.as_mut()).await);
    }

    #[test]
    fn a_held_read_is_retried_soon_then_less_often_up_to_the_poll() {
        let mut retry = HeldRetry::default();
        let poll = Duration::from_millis(200);
        let waits: Vec<u64> = (0..9)
            .map(|_| retry.wait(true, false, poll).as_millis() as u64)
            .collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 200, 200]);
        let ms = Duration::from_millis;
        // Nothing held: the usual poll, and the next hold starts short again.
        assert_eq!(retry.wait(false, false, poll), poll);
        assert_eq!(retry.wait(true, false, poll), ms(2));
        assert_eq!(retry.wait(true, false, poll), ms(4));
        // Events delivered while others are held: a new hold, short again.
        assert_eq!(retry.wait(true, true, poll), ms(2));
    }

    #[test]
    fn lawyers_whose_streams_ended_are_forgotten() {
        let wakes = LawyerWakes::default();
        drop(wakes.subscribe("gone"));
        let _kept = wakes.subscribe("kept");
        let names: Vec<String> = wakes.lock().keys().cloned().collect();
        assert_eq!(names, ["kept"]);
    }

    fn event(id: i64) -> CenteredEvent {
        let event = TicketEvent {
            id,
            ticket_number: TicketNumber::random(&mut rand::rng()),
            kind: crate::tickets::EventKind::Note,
            actor: "operator".into(),
            at: chrono::DateTime::UNIX_EPOCH,
            reason: None,
            from_state: None,
            to_state: None,
            changes: Vec::new(),
            note: None,
            lawyer: None,
        };
        (event, Some("default".into()))
    }

    fn ids(events: Option<Vec<CenteredEvent>>) -> Option<Vec<i64>> {
        events.map(|e| e.into_iter().map(|(e, _)| e.id).collect())
    }

    #[test]
    fn caught_up_streams_read_the_window_and_others_the_log() {
        let recent = RecentEvents::default();
        assert_eq!(ids(recent.after(0, 10)), None, "before the reader starts");
        recent.push(5, Vec::new());
        assert_eq!(
            ids(recent.after(5, 10)),
            Some(vec![]),
            "caught up, nothing new"
        );
        // PostgreSQL delivers in commit order: ids need not rise.
        recent.push(5, vec![event(7), event(6), event(9)]);
        assert_eq!(ids(recent.after(5, 10)), Some(vec![7, 6, 9]));
        assert_eq!(ids(recent.after(7, 10)), Some(vec![6, 9]));
        assert_eq!(ids(recent.after(6, 1)), Some(vec![9]));
        assert_eq!(ids(recent.after(9, 10)), Some(vec![]));
        assert_eq!(ids(recent.after(4, 10)), None, "behind the window");
        assert_eq!(
            ids(recent.after(8, 10)),
            None,
            "not an event the reader saw"
        );
        // A batch that does not follow the window starts a new one.
        recent.push(20, vec![event(21)]);
        assert_eq!(ids(recent.after(9, 10)), None);
        assert_eq!(ids(recent.after(20, 10)), Some(vec![21]));
    }

    #[test]
    fn the_window_keeps_the_latest_events() {
        let recent = RecentEvents::default();
        let count = i64::try_from(WINDOW).unwrap_or(i64::MAX) + 10;
        recent.push(0, (1..=count).map(event).collect());
        assert_eq!(ids(recent.after(0, 1)), None, "the oldest are gone");
        assert_eq!(ids(recent.after(10, 1)), Some(vec![11]));
        assert_eq!(ids(recent.after(count, 1)), Some(vec![]));
    }

    async fn is_ready_now<F: std::future::Future + Unpin>(f: F) -> bool {
        let mut f = f;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut f).poll(cx).is_ready())
        })
        .await
    }
}
