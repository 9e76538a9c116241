//! Admission: whether a new call may start. Per-source token buckets of
//! new INVITEs, the cap on calls at once, and draining (new INVITEs and
//! OPTIONS get 503 so a load balancer takes the node out). Where the
//! security rules for untrusted sources will live.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// Whether a new INVITE may become a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admit,
    /// The source sent too many INVITEs lately (503, retry soon).
    RateLimited,
    /// Draining, or every call slot is taken (503, retry later).
    Busy,
}

#[derive(Debug)]
pub struct Admission {
    burst: f64,
    per_second: f64,
    max_calls: usize,
    draining: bool,
    /// Token buckets of new INVITEs per source address.
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

impl Admission {
    pub fn new(burst: f64, per_second: f64, max_calls: usize) -> Self {
        Self {
            burst,
            per_second,
            max_calls,
            draining: false,
            buckets: HashMap::new(),
        }
    }

    pub fn set_draining(&mut self, draining: bool) {
        self.draining = draining;
    }

    pub fn draining(&self) -> bool {
        self.draining
    }

    /// A new INVITE from `source` while `active` calls are up. A refused
    /// INVITE still spends its token, so a flood stays refused.
    pub fn admit_invite(&mut self, now: Instant, source: IpAddr, active: usize) -> Verdict {
        if !self.take_token(now, source) {
            Verdict::RateLimited
        } else if self.draining || active >= self.max_calls {
            Verdict::Busy
        } else {
            Verdict::Admit
        }
    }

    /// Spends one of the source's INVITE tokens, refilled at the configured rate.
    fn take_token(&mut self, now: Instant, source: IpAddr) -> bool {
        let (burst, rate) = (self.burst, self.per_second);
        let (tokens, last) = self.buckets.entry(source).or_insert((burst, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets sources whose bucket has refilled: they need no memory.
    pub fn forget_refilled(&mut self, now: Instant) {
        let (burst, rate) = (self.burst, self.per_second);
        self.buckets.retain(|_, (tokens, last)| {
            *tokens + now.saturating_duration_since(*last).as_secs_f64() * rate < burst
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_source_gets_its_burst_then_its_rate_and_others_are_not_touched() {
        let t0 = Instant::now();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let mut adm = Admission::new(3.0, 2.0, 100);
        for _ in 0..3 {
            assert_eq!(adm.admit_invite(t0, a, 0), Verdict::Admit);
        }
        assert_eq!(adm.admit_invite(t0, a, 0), Verdict::RateLimited);
        assert_eq!(adm.admit_invite(t0, b, 0), Verdict::Admit);
        // Half a second refills one token at 2 per second.
        let later = t0 + Duration::from_millis(500);
        assert_eq!(adm.admit_invite(later, a, 0), Verdict::Admit);
        assert_eq!(adm.admit_invite(later, a, 0), Verdict::RateLimited);
        // Refilled sources are forgotten; the busy one is kept.
        adm.forget_refilled(later);
        assert!(adm.buckets.contains_key(&a) && !adm.buckets.contains_key(&b));
    }

    #[test]
    fn draining_or_a_full_node_is_busy() {
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let mut adm = Admission::new(10.0, 1.0, 2);
        assert_eq!(adm.admit_invite(t0, a, 2), Verdict::Busy);
        adm.set_draining(true);
        assert_eq!(adm.admit_invite(t0, a, 0), Verdict::Busy);
        assert!(adm.draining());
    }
}
