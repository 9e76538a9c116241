//! Admission: whether a request may be served and a new call start. For
//! untrusted sources: token buckets of requests (every method) and of new
//! INVITEs per source address, and a cap on one source's calls at once;
//! for everyone: the cap on calls at once, the cap the CPU carries (learnt
//! from how late the media runs), and draining (new INVITEs and OPTIONS get
//! 503 so a load balancer takes the node out). Trusted trunks and proxies
//! carry many callers from one address: no per-source limits.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Whether a new INVITE may become a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admit,
    /// The source sent too many INVITEs lately (503, retry soon).
    RateLimited,
    /// Draining, or every call slot is taken (503, retry later).
    Busy,
    /// The CPU carries no more calls now: the media of the calls up would
    /// fall behind (503, retry soon).
    Overloaded,
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
    cpu: CpuLimit,
    /// INVITEs refused as [`Verdict::Overloaded`] so far.
    overloaded: u64,
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
            cpu: CpuLimit::new(max_calls),
            overloaded: 0,
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
        } else if active >= self.cpu.limit {
            self.overloaded += 1;
            self.cpu.refused += 1;
            Verdict::Overloaded
        } else if !trusted && of_source >= self.per_source {
            Verdict::SourceFull
        } else {
            Verdict::Admit
        }
    }

    /// How late the media of the `active` calls runs now (the pacer's
    /// smoothed lateness): moves the cap the CPU carries.
    pub fn observe_load(&mut self, now: Instant, lateness: Duration, active: usize) {
        self.cpu.observe(now, lateness, active);
    }

    /// A call waited `took` from its INVITE to its first answer.
    pub fn observe_setup(&mut self, took: Duration) {
        self.cpu.setup(took);
    }

    /// The calls at once the CPU carries, as last learnt.
    pub fn cpu_limit(&self) -> usize {
        self.cpu.limit
    }

    /// INVITEs refused so far because the CPU carried no more calls.
    pub fn overload_refusals(&self) -> u64 {
        self.overloaded
    }

    /// How long calls waited for their first answer, on average, in the
    /// last step that answered any.
    pub fn setup_time(&self) -> Duration {
        self.cpu.last_setup
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

/// How late the media may run on average before new calls are refused: a
/// quarter of a packet's 20 ms, already heard as jitter by the callers.
pub const MEDIA_LATE: Duration = Duration::from_millis(5);
/// How long, on average, calls may wait for their first answer (ringing or
/// the answer) before new calls are refused. Measured on one core: about
/// 1.5 ms at 2,000 calls/s, 15 to 40 ms once the core is saturated, when
/// the signalling already queues (INVITEs and BYEs resent after 500 ms).
pub const SETUP_LATE: Duration = Duration::from_millis(10);
/// How often the CPU's cap moves.
const CPU_STEP: Duration = Duration::from_millis(100);
/// Steps in a row that must show a short CPU before the cap is cut (one
/// stall, a burst of INVITEs after a trunk fails over, passes without
/// turning calls away), and that must not before it grows again.
const LATE_STEPS: u32 = 2;
/// Set-ups a step needs before their mean may cut the cap: at night one
/// slow set-up alone says nothing about the CPU.
const SETUPS_TO_JUDGE: u32 = 5;
/// Calls the CPU's cap always leaves room for: a node whose media is late
/// for another reason still takes calls.
const CPU_FLOOR: usize = 10;

/// The calls at once this node's CPU carries, learnt as TCP learns a path's
/// capacity. Two signs say the CPU is short: the media runs late, or new
/// calls wait for their answer (their tasks queue behind the others). When
/// either lasts [`LATE_STEPS`] steps, the cap drops to just below the calls
/// up, so new INVITEs get 503 at once and the calls up keep the CPU (a node
/// that took every call would run all of them late and lose them: goodput
/// would collapse). When neither shows and there is demand (calls set up
/// on time, or calls refused), the cap grows by a twentieth a step, up to
/// `max_calls`: a cap wrongly cut is back in seconds, not as slowly as
/// minutes-long calls end.
#[derive(Debug)]
struct CpuLimit {
    limit: usize,
    ceiling: usize,
    next_step: Option<Instant>,
    /// Set-up times of the calls answered this step: total and count.
    setups: (Duration, u32),
    /// INVITEs refused by the cap this step.
    refused: u32,
    /// Steps in a row that showed a short CPU, and that did not.
    late_steps: u32,
    calm_steps: u32,
    /// The mean set-up time of the last step that had any.
    last_setup: Duration,
}

impl CpuLimit {
    fn new(ceiling: usize) -> Self {
        Self {
            limit: ceiling,
            ceiling,
            next_step: None,
            setups: (Duration::ZERO, 0),
            refused: 0,
            late_steps: 0,
            calm_steps: 0,
            last_setup: Duration::ZERO,
        }
    }

    fn setup(&mut self, took: Duration) {
        self.setups.0 += took;
        self.setups.1 += 1;
    }

    fn observe(&mut self, now: Instant, lateness: Duration, active: usize) {
        if self.next_step.is_some_and(|at| now < at) {
            return;
        }
        self.next_step = Some(now + CPU_STEP);
        let (total, count) = std::mem::take(&mut self.setups);
        let refused = std::mem::take(&mut self.refused);
        let setup = (count > 0).then(|| total / count);
        self.last_setup = setup.unwrap_or(self.last_setup);
        let setups_late = count >= SETUPS_TO_JUDGE && setup.is_some_and(|s| s >= SETUP_LATE);
        if lateness >= MEDIA_LATE || setups_late {
            self.late_steps += 1;
            self.calm_steps = 0;
        } else {
            self.late_steps = 0;
            self.calm_steps += 1;
        }
        let demand = match setup {
            Some(s) => s < SETUP_LATE / 2,
            None => refused > 0,
        };
        if self.late_steps >= LATE_STEPS {
            let below = active - active / 10;
            self.limit = below.min(self.limit).max(CPU_FLOOR.min(self.ceiling));
        } else if self.calm_steps >= LATE_STEPS
            && lateness < MEDIA_LATE / 2
            && demand
            && active + active / 10 >= self.limit
        {
            self.limit = (self.limit + (self.limit / 20).max(1)).min(self.ceiling);
        }
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

    /// Steps of 100 ms from `t0`, each observed with `lateness` and the
    /// set-ups given, `active` calls up.
    fn step(adm: &mut Admission, at: Instant, lateness: Duration, setups: &[u64], active: usize) {
        for ms in setups {
            adm.observe_setup(Duration::from_millis(*ms));
        }
        adm.observe_load(at, lateness, active);
    }

    #[test]
    fn late_media_caps_calls_below_those_up_and_the_cap_grows_back_on_time() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let late = MEDIA_LATE * 2;
        let on_time = Duration::from_micros(500);
        let mut adm = Admission::new(1e9, 1e9, 5_000, 4);
        // One late step alone (a stall) cuts nothing.
        step(&mut adm, t0, late, &[], 1_000);
        assert_eq!(adm.cpu_limit(), 5_000);
        // Late two steps in a row, 1,000 calls up: the cap falls to 900,
        // and the next INVITE is refused at once.
        step(&mut adm, at(100), late, &[], 1_000);
        assert_eq!(adm.cpu_limit(), 900);
        assert_eq!(
            adm.admit_invite(at(100), a, true, 1_000, 0),
            Verdict::Overloaded
        );
        assert_eq!(adm.overload_refusals(), 1);
        // Within a step nothing moves.
        step(&mut adm, at(150), on_time, &[2], 1_000);
        assert_eq!(adm.cpu_limit(), 900);
        // Still late while calls end: the cap follows them down, never
        // below the floor.
        step(&mut adm, at(200), late, &[], 800);
        assert_eq!(adm.cpu_limit(), 720);
        step(&mut adm, at(300), late, &[], 3);
        assert_eq!(adm.cpu_limit(), CPU_FLOOR);
        assert_eq!(adm.admit_invite(at(300), a, true, 3, 0), Verdict::Admit);
        // On time but far below the cap: no evidence it can carry more.
        step(&mut adm, at(400), on_time, &[2], 2);
        assert_eq!(adm.cpu_limit(), CPU_FLOOR);
        // At the cap, on time, no call set up and none refused: it holds.
        step(&mut adm, at(500), on_time, &[], CPU_FLOOR);
        assert_eq!(adm.cpu_limit(), CPU_FLOOR);
        // Between half of MEDIA_LATE and MEDIA_LATE: it holds.
        step(&mut adm, at(600), MEDIA_LATE / 2, &[2], CPU_FLOOR);
        assert_eq!(adm.cpu_limit(), CPU_FLOOR);
        // Long calls at the cap: none ends, so none is set up, but callers
        // are refused and the media is on time: it grows a step at a time,
        // back to max_calls in 13.4 s.
        let mut t = 700;
        while adm.cpu_limit() < 5_000 {
            let cap = adm.cpu_limit();
            assert_eq!(
                adm.admit_invite(at(t), a, true, cap, 0),
                Verdict::Overloaded
            );
            step(&mut adm, at(t), on_time, &[], cap);
            assert!(adm.cpu_limit() > cap && adm.cpu_limit() <= cap + cap / 20 + 1);
            t += 100;
        }
        assert_eq!((t - 700) / 100, 134);
        assert_eq!(adm.admit_invite(at(t), a, true, 4_999, 0), Verdict::Admit);
    }

    #[test]
    fn calls_waiting_for_their_answer_cap_calls_though_the_media_is_on_time() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let on_time = Duration::from_micros(500);
        let mut adm = Admission::new(1e9, 1e9, 5_000, 4);
        // One slow set-up among quick ones is the average's business; one
        // slow set-up alone (at night) is too few to judge by.
        step(
            &mut adm,
            t0,
            on_time,
            &[60, 2, 2, 2, 2, 2, 2, 2, 2, 2],
            4_000,
        );
        step(&mut adm, at(100), on_time, &[300], 4_000);
        step(&mut adm, at(200), on_time, &[300], 4_000);
        assert_eq!(adm.cpu_limit(), 5_000);
        // Two steps in a row whose calls waited 80 ms on average: cut
        // below those up.
        step(&mut adm, at(300), on_time, &[60, 100, 60, 100, 80], 4_000);
        assert_eq!(adm.cpu_limit(), 5_000);
        step(&mut adm, at(400), on_time, &[60, 100, 60, 100, 80], 4_000);
        assert_eq!(adm.cpu_limit(), 3_600);
        assert_eq!(
            adm.admit_invite(at(400), a, true, 3_600, 0),
            Verdict::Overloaded
        );
        // The next step is calm (no set-up, a refusal) but the one before
        // was not: nothing moves yet; a second calm step grows the cap.
        step(&mut adm, at(500), on_time, &[], 3_700);
        assert_eq!(adm.cpu_limit(), 3_600);
        assert_eq!(
            adm.admit_invite(at(500), a, true, 3_600, 0),
            Verdict::Overloaded
        );
        step(&mut adm, at(600), on_time, &[], 3_600);
        assert_eq!(adm.cpu_limit(), 3_780);
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
