//! Admission: whether a request may be served and a new call start. For
//! untrusted sources: token buckets of requests (every method) and of new
//! INVITEs per source address, and a cap on one source's calls at once;
//! for everyone: the cap on calls at once, and draining (new INVITEs and
//! OPTIONS get 503 so a load balancer takes the node out). Trusted trunks
//! and proxies carry many callers from one address: no per-source limits.

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
    /// The source already holds its share of calls (486).
    SourceFull,
}

/// Requests (any method) an untrusted source may send at once, then per
/// second: a caller needs a handful per call (INVITE, ACK, BYE, a few INFO
/// keys); a flood gets nothing back.
const REQUEST_BURST: f64 = 100.0;
const REQUESTS_PER_SECOND: f64 = 50.0;

#[derive(Debug)]
pub struct Admission {
    burst: f64,
    per_second: f64,
    max_calls: usize,
    /// Calls one untrusted source may hold at once.
    per_source: usize,
    draining: bool,
    /// Token buckets of new INVITEs per source address.
    buckets: HashMap<IpAddr, (f64, Instant)>,
    /// Token buckets of requests of any method per untrusted source.
    requests: HashMap<IpAddr, (f64, Instant)>,
}

impl Admission {
    pub fn new(burst: f64, per_second: f64, max_calls: usize, per_source: usize) -> Self {
        Self {
            burst,
            per_second,
            max_calls,
            per_source,
            draining: false,
            buckets: HashMap::new(),
            requests: HashMap::new(),
        }
    }

    /// Whether an untrusted source may send one more request now; a request
    /// over its budget is dropped unanswered.
    pub fn admit_request(&mut self, now: Instant, source: IpAddr) -> bool {
        take(
            &mut self.requests,
            now,
            source,
            REQUEST_BURST,
            REQUESTS_PER_SECOND,
        )
    }

    pub fn set_draining(&mut self, draining: bool) {
        self.draining = draining;
    }

    pub fn draining(&self) -> bool {
        self.draining
    }

    /// A new INVITE from `source` while `active` calls are up, `of_source`
    /// of them from that source. A trusted source (a trunk) has no
    /// per-source limits. A refused INVITE still spends its token, so a
    /// flood stays refused.
    pub fn admit_invite(
        &mut self,
        now: Instant,
        source: IpAddr,
        trusted: bool,
        active: usize,
        of_source: usize,
    ) -> Verdict {
        if !trusted && !take(&mut self.buckets, now, source, self.burst, self.per_second) {
            Verdict::RateLimited
        } else if self.draining || active >= self.max_calls {
            Verdict::Busy
        } else if !trusted && of_source >= self.per_source {
            Verdict::SourceFull
        } else {
            Verdict::Admit
        }
    }

    /// Forgets sources whose buckets have refilled: they need no memory.
    pub fn forget_refilled(&mut self, now: Instant) {
        let (burst, rate) = (self.burst, self.per_second);
        let full = |tokens: f64, last: Instant, burst: f64, rate: f64| {
            tokens + now.saturating_duration_since(last).as_secs_f64() * rate >= burst
        };
        self.buckets
            .retain(|_, (tokens, last)| !full(*tokens, *last, burst, rate));
        self.requests
            .retain(|_, (tokens, last)| !full(*tokens, *last, REQUEST_BURST, REQUESTS_PER_SECOND));
    }
}

/// The source a limit counts against: an IPv4 address (also when seen as
/// `::ffff:a.b.c.d`), or an IPv6 /64, which one subscriber holds whole:
/// counting each of its 2^64 addresses apart would count nothing.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// Spends one of `source`'s tokens in `buckets`, refilled at `rate` up to `burst`.
fn take(
    buckets: &mut HashMap<IpAddr, (f64, Instant)>,
    now: Instant,
    source: IpAddr,
    burst: f64,
    rate: f64,
) -> bool {
    let (tokens, last) = buckets.entry(source_key(source)).or_insert((burst, now));
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_source_gets_its_burst_then_its_rate_and_others_are_not_touched() {
        let t0 = Instant::now();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let mut adm = Admission::new(3.0, 2.0, 100, 100);
        for _ in 0..3 {
            assert_eq!(adm.admit_invite(t0, a, false, 0, 0), Verdict::Admit);
        }
        assert_eq!(adm.admit_invite(t0, a, false, 0, 0), Verdict::RateLimited);
        assert_eq!(adm.admit_invite(t0, b, false, 0, 0), Verdict::Admit);
        // A trusted trunk is not rate limited per source.
        for _ in 0..10 {
            assert_eq!(adm.admit_invite(t0, a, true, 0, 50), Verdict::Admit);
        }
        // Half a second refills one token at 2 per second.
        let later = t0 + Duration::from_millis(500);
        assert_eq!(adm.admit_invite(later, a, false, 0, 0), Verdict::Admit);
        assert_eq!(
            adm.admit_invite(later, a, false, 0, 0),
            Verdict::RateLimited
        );
        // Refilled sources are forgotten; the busy one is kept.
        adm.forget_refilled(later);
        assert!(adm.buckets.contains_key(&a) && !adm.buckets.contains_key(&b));
    }

    #[test]
    fn draining_or_a_full_node_is_busy() {
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let mut adm = Admission::new(10.0, 1.0, 2, 4);
        assert_eq!(adm.admit_invite(t0, a, false, 2, 0), Verdict::Busy);
        assert_eq!(adm.admit_invite(t0, a, true, 2, 0), Verdict::Busy);
        adm.set_draining(true);
        assert_eq!(adm.admit_invite(t0, a, false, 0, 0), Verdict::Busy);
        assert!(adm.draining());
    }

    #[test]
    fn one_untrusted_source_holds_at_most_its_share_of_calls() {
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let mut adm = Admission::new(100.0, 1.0, 500, 4);
        assert_eq!(adm.admit_invite(t0, a, false, 10, 3), Verdict::Admit);
        assert_eq!(adm.admit_invite(t0, a, false, 10, 4), Verdict::SourceFull);
        assert_eq!(adm.admit_invite(t0, a, true, 10, 40), Verdict::Admit);
    }

    #[test]
    fn an_ipv6_subscriber_is_one_source() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(source_key(a), source_key(b));
        assert_ne!(
            source_key(a),
            source_key("2001:db8:1:3::1".parse().unwrap())
        );
        assert_eq!(
            source_key("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn every_method_counts_against_an_untrusted_source() {
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let mut adm = Admission::new(10.0, 1.0, 500, 4);
        let admitted = (0..1000).filter(|_| adm.admit_request(t0, a)).count();
        assert_eq!(admitted, REQUEST_BURST as usize);
        assert!(adm.admit_request(t0, b), "another source is not touched");
        let later = t0 + Duration::from_secs(1);
        let admitted = (0..1000).filter(|_| adm.admit_request(later, a)).count();
        assert_eq!(admitted, REQUESTS_PER_SECOND as usize);
    }
}
