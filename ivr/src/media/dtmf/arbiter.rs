//! One press is one digit. A gateway may report the same key press several
//! ways at once — an RFC 4733 event, a SIP INFO, and the tones themselves
//! in the audio — and the menu must see it once. Sans-I/O: digits and
//! `now` in, a verdict out.
//!
//! The arbiter remembers the presses it accepted in the last
//! [`PRESS_WINDOW`] and which sources reported each. A report from a source
//! is that source's account of the earliest remembered press it has not
//! reported yet: if that press (or, when the source missed one, a later
//! one) has the same key, the report is a copy and is dropped; otherwise
//! it is a new press. One source alone never has a report dropped, so a
//! caller pressing the same key twice quickly gets two digits; a source
//! that lags behind another, or misses a press, is matched up press by
//! press.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Digit;

/// How far apart the reports of one press may arrive: RFC 4733 and in-band
/// tones at the start of the tone, SIP INFO at its start or, from some
/// gateways, at its end (a long press lasts most of a second), plus
/// network skew.
pub const PRESS_WINDOW: Duration = Duration::from_millis(1000);

/// Where a digit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigitSource {
    Rfc4733,
    SipInfo,
    Inband,
}

impl DigitSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rfc4733 => "rfc4733",
            Self::SipInfo => "sip_info",
            Self::Inband => "inband",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::Rfc4733 => 1,
            Self::SipInfo => 2,
            Self::Inband => 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A new press: give it to the menu.
    Press,
    /// Another report of a press already given: drop it.
    Duplicate,
}

#[derive(Debug, Clone, Copy)]
struct Press {
    digit: Digit,
    at: Instant,
    /// The sources that reported it, as bits.
    reported: u8,
}

/// The digits of one call, from every source.
#[derive(Debug, Clone, Default)]
pub struct DigitArbiter {
    primary: Option<DigitSource>,
    recent: VecDeque<Press>,
}

impl DigitArbiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The source that delivered the call's first digit.
    pub fn primary(&self) -> Option<DigitSource> {
        self.primary
    }

    pub fn judge(&mut self, now: Instant, digit: Digit, source: DigitSource) -> Verdict {
        self.primary.get_or_insert(source);
        while self
            .recent
            .front()
            .is_some_and(|p| now.saturating_duration_since(p.at) > PRESS_WINDOW)
        {
            self.recent.pop_front();
        }
        let bit = source.bit();
        // The presses this source has not reported yet, oldest first; the
        // first with this key is the one it is reporting (it missed any
        // before it).
        let matched = self
            .recent
            .iter()
            .position(|p| p.reported & bit == 0 && p.digit == digit);
        if let Some(index) = matched {
            for press in self.recent.iter_mut().take(index + 1) {
                press.reported |= bit;
            }
            return Verdict::Duplicate;
        }
        // A new press. Older presses this source has not reported stay
        // open to it: it may yet report them late.
        self.recent.push_back(Press {
            digit,
            at: now,
            reported: bit,
        });
        Verdict::Press
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DigitSource::*;

    fn d(c: char) -> Digit {
        Digit::from_char(c).unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn each_press_reported_three_ways_counts_once() {
        let t = Instant::now();
        let mut a = DigitArbiter::new();
        // "1 1 #", each press as INFO, then RFC 4733, then in-band 40 ms later.
        let mut pressed = String::new();
        for (i, key) in "11#".chars().enumerate() {
            let start = t + ms(700 * i as u64);
            for (offset, source) in [(0, SipInfo), (5, Rfc4733), (40, Inband)] {
                if a.judge(start + ms(offset), d(key), source) == Verdict::Press {
                    pressed.push(key);
                }
            }
        }
        assert_eq!(pressed, "11#");
        assert_eq!(a.primary(), Some(SipInfo));
    }

    #[test]
    fn quick_repeats_from_one_source_are_all_presses() {
        let t = Instant::now();
        let mut a = DigitArbiter::new();
        for i in 0..4 {
            assert_eq!(a.judge(t + ms(120 * i), d('5'), Rfc4733), Verdict::Press);
        }
    }

    #[test]
    fn a_copy_older_than_the_window_is_a_new_press() {
        let t = Instant::now();
        let mut a = DigitArbiter::new();
        assert_eq!(a.judge(t, d('3'), SipInfo), Verdict::Press);
        assert_eq!(a.judge(t + ms(1500), d('3'), Inband), Verdict::Press);
    }

    /// Keys as a string: each report of (offset ms, key, source) judged.
    fn run(reports: &[(u64, char, DigitSource)]) -> String {
        let t = Instant::now();
        let mut a = DigitArbiter::new();
        reports
            .iter()
            .filter(|(at, k, s)| a.judge(t + ms(*at), d(*k), *s) == Verdict::Press)
            .map(|(_, k, _)| *k)
            .collect()
    }

    #[test]
    fn a_source_that_misses_a_press_does_not_swallow_the_next() {
        // In-band hears the first 1 before INFO, misses the second.
        assert_eq!(
            run(&[(40, '1', Inband), (60, '1', SipInfo), (350, '1', SipInfo)]),
            "11"
        );
    }

    #[test]
    fn a_late_report_of_an_earlier_press_is_still_a_copy() {
        // In-band hears 3 and misses 5; INFO reports 5 before its 3.
        assert_eq!(
            run(&[(200, '3', Inband), (210, '5', SipInfo), (300, '3', SipInfo)]),
            "35"
        );
    }

    #[test]
    fn a_lagging_source_is_matched_press_by_press() {
        // In-band runs a whole press behind INFO.
        assert_eq!(
            run(&[
                (0, '1', SipInfo),
                (150, '1', SipInfo),
                (190, '1', Inband),
                (300, '#', SipInfo),
                (340, '1', Inband),
                (450, '#', Inband),
            ]),
            "11#"
        );
        // INFO sent at the end of long presses, after the tones.
        assert_eq!(
            run(&[
                (0, '4', Inband),
                (800, '4', SipInfo),
                (900, '2', Inband),
                (1700, '2', SipInfo),
            ]),
            "42"
        );
    }

    #[test]
    fn the_faster_source_wins_whichever_it_is() {
        let t = Instant::now();
        let mut a = DigitArbiter::new();
        assert_eq!(a.judge(t, d('7'), Inband), Verdict::Press);
        assert_eq!(a.judge(t + ms(30), d('7'), Rfc4733), Verdict::Duplicate);
        assert_eq!(a.judge(t + ms(300), d('7'), SipInfo), Verdict::Duplicate);
    }
}
