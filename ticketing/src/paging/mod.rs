//! Voice paging of duty lawyers (呼叫值班律师): which offers an IVR node
//! calls the lawyer about, where that call may go, when a page that reached
//! nobody is tried again, and the outcomes a page ends with. Pure: the store
//! keeps the pages (`store/pages.rs`), IVR nodes take and dial them over
//! `RoutingService/TakePages`, and `ReportPage` brings the outcome back.

use chrono::{DateTime, Duration, Utc};
use hotline_domain::Urgency;

/// The paging settings (configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagingPolicy {
    /// Page urgent tickets' offers too (critical ones always are).
    pub urgent: bool,
    /// Further attempts after a page that reached nobody (no answer, busy,
    /// failed, or answered and hung up without a choice), each within the
    /// offer's deadline.
    pub retries: u32,
    /// How long after such a page the next attempt is due.
    pub retry_after: Duration,
    /// Pages handed to IVR nodes per hour, all nodes together: past it the
    /// rest wait (a bound on what a mistake or an attack can cost in calls).
    pub calls_per_hour: u32,
    /// Whether a lawyer without a SIP address is paged on their phone
    /// (the IVR nodes have an outbound trunk); otherwise they are not paged.
    pub phones: bool,
}

impl Default for PagingPolicy {
    fn default() -> Self {
        Self {
            urgent: false,
            retries: 1,
            retry_after: Duration::seconds(60),
            calls_per_hour: 120,
            phones: false,
        }
    }
}

impl PagingPolicy {
    /// Whether an offer of a ticket of this urgency is paged.
    pub fn pages(&self, urgency: Option<Urgency>) -> bool {
        match urgency {
            Some(Urgency::Critical) => true,
            Some(Urgency::Urgent) => self.urgent,
            _ => false,
        }
    }

    /// When attempt `attempt` (1 for the first) ended with `outcome`: when
    /// to dial again, if at all. Only a page that reached nobody is
    /// retried, and only when the retry falls before the offer's deadline.
    pub fn retry_at(
        &self,
        attempt: u32,
        outcome: PageOutcome,
        now: DateTime<Utc>,
        ack_deadline: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if outcome.decided() || attempt > self.retries {
            return None;
        }
        let at = now + self.retry_after;
        (at < ack_deadline).then_some(at)
    }
}

impl PagingPolicy {
    /// Where a page to this lawyer goes: their SIP address when the roster
    /// has one, else (with `phones`) their phone number (`tel:`), which an
    /// IVR node dials through its outbound trunk; else nowhere (not paged).
    /// Nothing else is ever dialled.
    pub fn target(&self, sip_uri: Option<&str>, phone: &str) -> Option<String> {
        match sip_uri.filter(|s| !s.is_empty()) {
            Some(uri) => Some(uri.to_owned()),
            None => self.phones.then(|| format!("tel:{phone}")),
        }
    }
}

/// How a page ended, as IVR nodes report it and events name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageOutcome {
    /// Picked up, but no choice was made (hung up, or no key).
    Answered,
    /// Key 1: the offer is acknowledged, as `hotline lawyer ack` would.
    Accepted,
    /// Key 2: the offer is declined ("declined by phone").
    Declined,
    NoAnswer,
    Busy,
    /// Not dialled or not connected (no route, no trunk, a SIP error).
    Failed,
}

impl PageOutcome {
    pub const ALL: [Self; 6] = [
        Self::Answered,
        Self::Accepted,
        Self::Declined,
        Self::NoAnswer,
        Self::Busy,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::NoAnswer => "no-answer",
            Self::Busy => "busy",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }

    /// The lawyer chose: the offer is decided, no retry.
    pub fn decided(self) -> bool {
        matches!(self, Self::Accepted | Self::Declined)
    }
}

/// The reason a decline by phone carries.
pub const DECLINED_BY_PHONE: &str = "declined by phone";

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_780_000_000 + secs, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn critical_offers_are_paged_urgent_ones_by_the_setting() {
        let policy = PagingPolicy::default();
        assert!(policy.pages(Some(Urgency::Critical)));
        assert!(!policy.pages(Some(Urgency::Urgent)));
        assert!(!policy.pages(Some(Urgency::Normal)));
        assert!(!policy.pages(None));
        let urgent_too = PagingPolicy {
            urgent: true,
            ..policy
        };
        assert!(urgent_too.pages(Some(Urgency::Urgent)));
        assert!(!urgent_too.pages(Some(Urgency::Expired)));
    }

    #[test]
    fn one_retry_within_the_deadline_for_a_page_that_reached_nobody() {
        let policy = PagingPolicy::default();
        let deadline = t(300);
        for outcome in [
            PageOutcome::Answered,
            PageOutcome::NoAnswer,
            PageOutcome::Busy,
            PageOutcome::Failed,
        ] {
            assert_eq!(policy.retry_at(1, outcome, t(30), deadline), Some(t(90)));
            // The retry was the last.
            assert_eq!(policy.retry_at(2, outcome, t(120), deadline), None);
        }
        // A choice is final.
        assert_eq!(
            policy.retry_at(1, PageOutcome::Accepted, t(30), deadline),
            None
        );
        assert_eq!(
            policy.retry_at(1, PageOutcome::Declined, t(30), deadline),
            None
        );
        // Too late for another call before the offer expires.
        assert_eq!(
            policy.retry_at(1, PageOutcome::Busy, t(240), deadline),
            None
        );
        let none = PagingPolicy {
            retries: 0,
            ..PagingPolicy::default()
        };
        assert_eq!(none.retry_at(1, PageOutcome::Busy, t(30), deadline), None);
    }

    #[test]
    fn a_page_goes_to_the_sip_address_else_the_phone_when_there_is_a_trunk() {
        let trunk = PagingPolicy {
            phones: true,
            ..PagingPolicy::default()
        };
        assert_eq!(
            trunk.target(Some("sip:li@10.0.0.9"), "13900000000"),
            Some("sip:li@10.0.0.9".to_owned())
        );
        assert_eq!(
            trunk.target(None, "13900000000"),
            Some("tel:13900000000".to_owned())
        );
        assert_eq!(
            trunk.target(Some(""), "13900000000"),
            Some("tel:13900000000".to_owned())
        );
        let no_trunk = PagingPolicy::default();
        assert_eq!(no_trunk.target(None, "13900000000"), None);
        assert_eq!(
            no_trunk.target(Some("sip:li@10.0.0.9"), "13900000000"),
            Some("sip:li@10.0.0.9".to_owned())
        );
    }

    #[test]
    fn outcomes_read_back_as_written() {
        for o in PageOutcome::ALL {
            assert_eq!(PageOutcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(PageOutcome::parse("ringing"), None);
    }
}
