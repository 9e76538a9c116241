//! Which lawyer streams to wake. One reader of the event log per process
//! looks at each commit's new events and wakes only the `WatchOffers`
//! streams of the lawyers they name: a commit costs one query here and one
//! in the stream it concerns, not one in every connected lawyer's stream.
//! The streams still read their own events from the gap-safe log; a wake
//! only says when to look.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::service::Ticketing;

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

/// Reads the event log after every commit (`commits`) and wakes the
/// streams of the lawyers named in new events. Runs until the server stops it.
pub async fn run(ticketing: Ticketing, commits: Arc<Notify>, wakes: Arc<LawyerWakes>) {
    // Only what is committed from now on matters: a stream that starts
    // reads the past itself. (An event of a transaction still open at this
    // moment wakes nobody; its stream finds it at its next poll.)
    let mut cursor = loop {
        match ticketing.latest_event_id().await {
            Ok(id) => break id,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the event log; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    loop {
        // Registered before the query: a commit during it still wakes us.
        let woken = commits.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        match ticketing.events_after(cursor, None, BATCH).await {
            Ok(events) => {
                for e in &events {
                    cursor = e.id;
                    if let Some(lawyer) = &e.lawyer {
                        wakes.wake(lawyer);
                    }
                }
                if events.len() as i64 == BATCH {
                    continue;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read new events; retrying"),
        }
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(POLL) => {}
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
    fn lawyers_whose_streams_ended_are_forgotten() {
        let wakes = LawyerWakes::default();
        drop(wakes.subscribe("gone"));
        let _kept = wakes.subscribe("kept");
        let names: Vec<String> = wakes.lock().keys().cloned().collect();
        assert_eq!(names, ["kept"]);
    }

    async fn is_ready_now<F: std::future::Future + Unpin>(f: F) -> bool {
        let mut f = f;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut f).poll(cx).is_ready())
        })
        .await
    }
}
