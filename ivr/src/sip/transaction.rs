//! Transactions (RFC 3261 §17): the answers we keep for retransmitted
//! requests and resend unprompted (a 2xx until its ACK, Timer G for a
//! failure), and the requests we resend until answered (Timers A and E),
//! each with the time it gives up (64·T1; 16·T1 for a 2xx to an untrusted
//! caller).
//!
//! Their timers live in a heap beside the tables, so a request costs
//! O(log n) however many transactions a flood has left open: no pass over
//! every transaction per packet or per wake-up. An entry can be stale (the
//! transaction ended, or its timer moved later: timers only ever move
//! later); a stale entry only wakes the endpoint once, for nothing.

use std::time::{Duration, Instant};

use super::dialog::CallKey;
use super::endpoint::Peer;
use super::message::{Message, Method};

/// A response we keep resending: a 2xx until the ACK, a non-2xx INVITE
/// answer until its ACK, or a non-INVITE answer to retransmitted requests.
#[derive(Debug)]
pub(super) struct Retransmit {
    pub(super) peer: Peer,
    pub(super) data: Vec<u8>,
    /// When to resend unprompted (`None`: only when the request repeats).
    pub(super) next: Option<Instant>,
    pub(super) interval: Duration,
    /// When to give up (and, for an unacknowledged 2xx, hang up).
    pub(super) until: Instant,
    pub(super) call: Option<CallKey>,
    pub(super) kind: RetransmitKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RetransmitKind {
    /// A 2xx to an INVITE; the ACK is a new transaction in the dialog.
    Ok2xx,
    /// A 3xx–6xx to an INVITE; its ACK shares the INVITE's branch.
    FinalError,
    /// A response to a non-INVITE request.
    NonInvite,
}

/// A transaction in the timer heap: a server transaction by (branch,
/// method), a client one by branch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum TimerKey {
    Server((String, String)),
    Client(String),
}

/// A request we sent and resend until it is answered.
#[derive(Debug)]
pub(super) struct ClientTx {
    pub(super) peer: Peer,
    pub(super) data: Vec<u8>,
    pub(super) method: Method,
    pub(super) call: CallKey,
    pub(super) next: Option<Instant>,
    pub(super) interval: Duration,
    pub(super) until: Instant,
    /// For an outbound INVITE: the request, to build ACKs from.
    pub(super) invite: Option<Message>,
}

impl Retransmit {
    /// When its timer next fires: a resend, or giving up.
    pub(super) fn wake(&self) -> Instant {
        self.next.map_or(self.until, |n| n.min(self.until))
    }

    /// The answer to send again now, if its timer is due; the interval
    /// doubles up to `t2` (Timer G, and the 2xx resent until its ACK).
    pub(super) fn due(&mut self, now: Instant, t2: Duration) -> Option<(Peer, Vec<u8>)> {
        let next = self.next.filter(|n| *n <= now)?;
        self.interval = (self.interval * 2).min(t2);
        self.next = Some(next + self.interval);
        Some((self.peer, self.data.clone()))
    }
}

impl ClientTx {
    /// When its timer next fires: a resend, or giving up.
    pub(super) fn wake(&self) -> Instant {
        self.next.map_or(self.until, |n| n.min(self.until))
    }

    /// The request to send again now, if its timer is due: an INVITE's
    /// interval doubles without bound (Timer A), others' up to `t2` (Timer E).
    pub(super) fn due(&mut self, now: Instant, t2: Duration) -> Option<(Peer, Vec<u8>)> {
        let next = self.next.filter(|n| *n <= now)?;
        self.interval = if self.method == Method::Invite {
            self.interval * 2
        } else {
            (self.interval * 2).min(t2)
        };
        self.next = Some(next + self.interval);
        Some((self.peer, self.data.clone()))
    }
}
