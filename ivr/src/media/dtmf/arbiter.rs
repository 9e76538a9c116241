//! One press is one digit. A gateway may report the same key press several
//! ways at once — an RFC 4733 event, a SIP INFO, and the tones themselves
//! in the audio — and the menu must see it once. Sans-I/O: digits and
//! `now` in, a verdict out.
//!
//! The first source that delivers a digit becomes the call's source (for
//! logs). A digit from another source than the one that delivered the last
//! accepted digit, equal to it and within [`PRESS_WINDOW`], is that press
//! again and is dropped; anything else is a new press. A caller pressing
//! the same key twice quickly is two presses: both arrive from the same
//! source.

use std::time::{Duration, Instant};

use super::Digit;

/// How far apart the reports of one press may arrive: RFC 4733 and in-band
/// tones at the start of the tone, SIP INFO at its start or, from some
/// gateways, at its end (presses last 40–500 ms), plus network skew.
pub const PRESS_WINDOW: Duration = Duration::from_millis(600);

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A new press: give it to the menu.
    Press,
    /// Another report of the press just accepted: drop it.
    Duplicate,
}

#[derive(Debug, Clone, Copy)]
struct Accepted {
    digit: Digit,
    source: DigitSource,
    at: Instant,
}

/// The digits of one call, from every source.
#[derive(Debug, Clone, Default)]
pub struct DigitArbiter {
    primary: Option<DigitSource>,
    last: Option<Accepted>,
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
        if let Some(last) = self.last {
            let same_press = last.digit == digit
                && last.source != source
                && now.saturating_duration_since(last.at) <= PRESS_WINDOW;
            if same_press {
                return Verdict::Duplicate;
            }
        }
        self.last = Some(Accepted {
            digit,
            source,
            at: now,
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
    fn a_late_copy_or_another_key_is_a_new_press() {
        let t = Instant::now();
        let mut a = DigitArbiter::new();
        assert_eq!(a.judge(t, d('2'), SipInfo), Verdict::Press);
        assert_eq!(a.judge(t + ms(100), d('3'), Inband), Verdict::Press);
        assert_eq!(a.judge(t + ms(150), d('3'), SipInfo), Verdict::Duplicate);
        assert_eq!(a.judge(t + ms(900), d('3'), Inband), Verdict::Press);
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
