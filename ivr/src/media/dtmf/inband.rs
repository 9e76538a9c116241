//! In-band DTMF detection (ITU-T Q.24) over 8 kHz linear samples.
//!
//! Every 5 ms the detector looks at the last 20 ms of audio. A look is a
//! valid tone pair when, for the strongest tone of each group:
//! - its frequency, measured from the phase advance between the two halves
//!   of the look, is within 2.5 % of nominal (Q.24: operate within 1.5 %,
//!   never beyond 3.5 %);
//! - its level is above the floor (Q.24 operates down to −25 dBm0 per tone);
//! - the two halves carry the same energy within 1.5 dB, so the tone fills
//!   the whole look (this is what measures duration);
//! - the twist is within 9 dB normal / 7 dB reverse (accept 8 / 4, reject 10);
//! - the pair carries at least 85 % of all the energy (speech and music
//!   spread theirs; a 15 dB SNR tone keeps about 97 %);
//! - no harmonic of either tone comes within 15 dB of it (instruments and
//!   voices have harmonics; keypads do not).
//!
//! A digit starts once valid looks of one key span 4 looks (a tone of
//! 35–40 ms; 23 ms never gets there), with at least 2 of them valid, and
//! ends after 8 consecutive looks without it (a gap of 40 ms ends a digit;
//! a 10 ms break does not). Between the valid looks, up to 3 looks in a row
//! may fail the other checks as long as they still carry that key (its row
//! and column above the level floor, or one of them at the tone's level).
//! That is for lossy networks: a gateway that conceals
//! a lost 20 ms frame by playing the previous one again breaks the tone's
//! phase at both ends of that frame; every look straddling a break fails
//! the phase-based checks though the tone is there, while the looks on
//! either side (and the one on the repeated frame itself) are clean. Speech
//! between two valid-looking moments does not keep its energy on one key's
//! two frequencies, so it breaks the run.
//!
//! Sans-I/O: push samples, get digits; no clock, no allocation per look.

use std::f64::consts::PI;

use super::{Digit, HIGH_HZ, LOW_HZ};

const RATE: f64 = 8000.0;
/// Samples between looks: 5 ms.
const HOP: usize = 40;
/// Samples in one look: 20 ms.
const LOOK: usize = 160;
const HALF: usize = LOOK / 2;

/// The span, in looks, that valid looks of one key must cover to make a
/// digit (first to last inclusive): 4 looks, 35 ms of tone.
const LOOKS_TO_START: u32 = 4;
/// Of which at least this many valid.
const MIN_VALID_LOOKS: u32 = 2;
/// Invalid looks tolerated in a row inside a digit's first span: a
/// concealed frame's phase break spoils 3.
const MAX_GAP_LOOKS: u32 = 3;
/// Consecutive looks without the digit that end it.
const LOOKS_TO_END: u32 = 8;

/// Largest frequency error accepted, as a fraction of nominal.
const MAX_FREQ_ERROR: f64 = 0.025;
/// Twist limits in dB: low group stronger (normal) / high group stronger (reverse).
const MAX_NORMAL_TWIST_DB: f64 = 9.0;
const MAX_REVERSE_TWIST_DB: f64 = 7.0;
/// Energy of the two halves of a look may differ by this much.
const MAX_HALF_IMBALANCE_DB: f64 = 1.5;
/// Share of all energy the tone pair must carry.
const MIN_PAIR_SHARE: f64 = 0.85;
/// A harmonic this close to its tone (dB below it) marks a voice or an
/// instrument; Q.23 keypads keep unwanted components 20 dB down.
const MAX_HARMONIC_DB: f64 = 15.0;
/// Level floor per tone, as mean power of a 16-bit sine: −35 dBm0, 10 dB
/// below the weakest level that must be detected. 0 dBm0 is 3.17 dB below a
/// full-scale sine (G.711).
fn min_tone_power() -> f64 {
    let amplitude = 32768.0 * 10f64.powf((-35.0 - 3.17) / 20.0);
    amplitude * amplitude / 2.0
}

/// A digit heard in the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectedDigit {
    pub digit: Digit,
    /// When the tone began, in milliseconds from the first sample pushed.
    pub start_ms: u64,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// No digit; possibly a candidate gathering valid looks.
    Idle { candidate: Option<Run> },
    /// A digit is on; `missing` counts looks without it.
    On {
        digit: Digit,
        missing: u32,
        other: Option<Run>,
    },
}

#[derive(Debug, Clone, Copy)]
struct Run {
    digit: Digit,
    /// Valid looks of the digit so far.
    looks: u32,
    start_sample: u64,
    /// Where the latest valid look started.
    last_sample: u64,
    /// Looks since the latest valid one (each still carrying the key).
    gap: u32,
    /// Mean power of the latest valid look.
    power: f64,
}

impl Run {
    fn extend_or_start(run: Option<Run>, digit: Digit, look_start: u64, power: f64) -> Run {
        match run {
            Some(r) if r.digit == digit => Run {
                looks: r.looks + 1,
                last_sample: look_start,
                gap: 0,
                power,
                ..r
            },
            _ => Run {
                digit,
                looks: 1,
                start_sample: look_start,
                last_sample: look_start,
                gap: 0,
                power,
            },
        }
    }

    /// The run after an invalid look, or `None` when the gap is too long.
    fn miss(self) -> Option<Run> {
        (self.gap < MAX_GAP_LOOKS).then_some(Run {
            gap: self.gap + 1,
            ..self
        })
    }

    /// Whether the run is a digit: enough valid looks over enough tone.
    fn is_digit(&self) -> bool {
        self.looks >= MIN_VALID_LOOKS
            && self.last_sample - self.start_sample >= u64::from(LOOKS_TO_START - 1) * HOP as u64
    }
}

/// Precomputed analysis windows and oscillators for the eight frequencies.
static TABLES: std::sync::LazyLock<Tables> = std::sync::LazyLock::new(Tables::new);

struct Tables {
    hann_look: [f64; LOOK],
    hann_half: [f64; HALF],
    hann_look_sum: f64,
    /// e^{-jωn} for the nominal frequencies (low 0–3, high 4–7), n in 0..LOOK.
    osc: Vec<[(f64, f64); LOOK]>,
}

impl Tables {
    fn new() -> Self {
        let hann =
            |n: usize, len: usize| 0.5 - 0.5 * (2.0 * PI * (n as f64 + 0.5) / len as f64).cos();
        let mut hann_look = [0.0; LOOK];
        for (n, w) in hann_look.iter_mut().enumerate() {
            *w = hann(n, LOOK);
        }
        let mut hann_half = [0.0; HALF];
        for (n, w) in hann_half.iter_mut().enumerate() {
            *w = hann(n, HALF);
        }
        let osc = LOW_HZ
            .iter()
            .chain(HIGH_HZ.iter())
            .map(|&f| {
                let mut table = [(0.0, 0.0); LOOK];
                let omega = 2.0 * PI * f / RATE;
                for (n, entry) in table.iter_mut().enumerate() {
                    let phase = omega * n as f64;
                    *entry = (phase.cos(), -phase.sin());
                }
                table
            })
            .collect();
        Self {
            hann_look_sum: hann_look.iter().sum(),
            hann_look,
            hann_half,
            osc,
        }
    }
}

pub struct InbandDetector {
    /// Windows and oscillators, the same for every call: computed once.
    tables: &'static Tables,
    /// The last LOOK samples, oldest first.
    look: [f64; LOOK],
    /// Samples of the hop being filled.
    hop: [f64; HOP],
    /// Samples pushed so far.
    samples: u64,
    /// Samples since the last look.
    since_look: usize,
    state: State,
    min_tone_power: f64,
}

impl Default for InbandDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDetector {
    pub fn new() -> Self {
        Self {
            tables: &TABLES,
            look: [0.0; LOOK],
            hop: [0.0; HOP],
            samples: 0,
            since_look: 0,
            state: State::Idle { candidate: None },
            min_tone_power: min_tone_power(),
        }
    }

    /// Feeds samples; returns the digits whose tones began in them (or earlier).
    pub fn push(&mut self, samples: &[i16]) -> Vec<DetectedDigit> {
        let mut found = Vec::new();
        for &s in samples {
            self.hop[self.since_look] = f64::from(s);
            self.samples += 1;
            self.since_look += 1;
            if self.since_look < HOP {
                continue;
            }
            // Slide the look by a whole hop at once, not by one sample per
            // sample: this runs for every sample of every call.
            self.since_look = 0;
            self.look.copy_within(HOP.., 0);
            self.look[LOOK - HOP..].copy_from_slice(&self.hop);
            if self.samples >= LOOK as u64 {
                let look_start = self.samples - LOOK as u64;
                let look = self.classify();
                let power = self.look.iter().map(|v| v * v).sum::<f64>() / LOOK as f64;
                if let Some(d) = self.step(look, look_start, power) {
                    found.push(d);
                }
            }
        }
        found
    }

    /// Advances the digit state machine by one look.
    fn step(&mut self, look: Look, look_start: u64, power: f64) -> Option<DetectedDigit> {
        let heard = match look {
            Look::Valid(d) => Some(d),
            Look::Other | Look::Quiet => None,
        };
        let detected = |run: Run| DetectedDigit {
            digit: run.digit,
            start_ms: run.start_sample / 8,
        };
        match (self.state, heard) {
            (State::Idle { candidate }, Some(d)) => {
                let run = Run::extend_or_start(candidate, d, look_start, power);
                if run.is_digit() {
                    self.state = State::On {
                        digit: d,
                        missing: 0,
                        other: None,
                    };
                    return Some(detected(run));
                }
                self.state = State::Idle {
                    candidate: Some(run),
                };
            }
            (State::Idle { candidate }, None) => {
                // A look that fails the checks but still carries the
                // candidate key's two frequencies does not break its run.
                let carried =
                    candidate.filter(|r| look == Look::Other && self.carries(r.digit, r.power));
                self.state = State::Idle {
                    candidate: carried.and_then(Run::miss),
                }
            }
            (State::On { digit, .. }, Some(d)) if d == digit => {
                self.state = State::On {
                    digit,
                    missing: 0,
                    other: None,
                };
            }
            (
                State::On {
                    digit,
                    missing,
                    other,
                },
                heard,
            ) => {
                // Another key held long enough is a new digit even without a gap.
                let other = heard.map(|d| Run::extend_or_start(other, d, look_start, power));
                if let Some(run) = other.filter(|r| r.looks >= LOOKS_TO_START) {
                    self.state = State::On {
                        digit: run.digit,
                        missing: 0,
                        other: None,
                    };
                    return Some(detected(run));
                }
                self.state = if missing + 1 >= LOOKS_TO_END {
                    State::Idle { candidate: other }
                } else {
                    State::On {
                        digit,
                        missing: missing + 1,
                        other,
                    }
                };
            }
        }
        None
    }

    /// Decides whether the current look holds a valid DTMF tone pair, or
    /// at least a key's energy on its row and column.
    fn classify(&self) -> Look {
        let x = &self.look;
        let total = x.iter().map(|v| v * v).sum::<f64>() / LOOK as f64;
        if total < 2.0 * self.min_tone_power {
            return Look::Quiet;
        }
        let power = |i: usize| self.power_nominal(i);
        let strongest = |range: std::ops::Range<usize>| {
            range
                .map(|i| (i, power(i)))
                .fold(
                    (0, f64::MIN),
                    |best, cur| if cur.1 > best.1 { cur } else { best },
                )
        };
        let (low, low_coarse) = strongest(0..4);
        let (high, high_coarse) = strongest(4..8);
        // Cheap early exit for speech and silence before the careful checks.
        if low_coarse < self.min_tone_power
            || high_coarse < self.min_tone_power
            || (low_coarse + high_coarse) < 0.5 * total
        {
            return Look::Other;
        }
        let key = Digit::from_position(low, high - 4);
        let near = Look::Other;
        let Some(low_tone) = self.measure(low, LOW_HZ[low]) else {
            return near;
        };
        let Some(high_tone) = self.measure(high, HIGH_HZ[high - 4]) else {
            return near;
        };
        if low_tone.power < self.min_tone_power || high_tone.power < self.min_tone_power {
            return near;
        }
        let twist = 10.0 * (low_tone.power / high_tone.power).log10();
        if twist > MAX_NORMAL_TWIST_DB || -twist > MAX_REVERSE_TWIST_DB {
            return near;
        }
        if (low_tone.power + high_tone.power) < MIN_PAIR_SHARE * total {
            return near;
        }
        // Keypads make clean sines; voices and instruments carry harmonics.
        // The low group's second harmonic sits next to the high group, so
        // only its third is checked.
        if !self.clean(low_tone, &[3.0]) || !self.clean(high_tone, &[2.0, 3.0]) {
            return near;
        }
        Look::Valid(key)
    }

    /// Whether the look still carries `digit`: its row and column each
    /// above the level floor, or one of them with the look's energy within
    /// 3 dB of the run's last valid look (the tone goes on at the same
    /// level). A look straddling a concealed frame's phase break can lose
    /// one tone's bin almost entirely (a jump near half a cycle cancels it
    /// within the look), never the other's and never the energy.
    fn carries(&self, digit: Digit, reference_power: f64) -> bool {
        let (low_hz, high_hz) = digit.frequencies();
        let (Some(row), Some(col)) = (
            LOW_HZ.iter().position(|&f| f == low_hz),
            HIGH_HZ.iter().position(|&f| f == high_hz),
        ) else {
            return false;
        };
        let total = self.look.iter().map(|v| v * v).sum::<f64>() / LOOK as f64;
        let low = self.power_nominal(row) >= self.min_tone_power;
        let high = self.power_nominal(4 + col) >= self.min_tone_power;
        let same_level = (10.0 * (total / reference_power).log10()).abs() <= 3.0;
        (low && high) || ((low || high) && same_level)
    }

    /// Mean power of a nominal-frequency component over the whole look.
    fn power_nominal(&self, index: usize) -> f64 {
        let osc = &self.tables.osc[index];
        let (mut re, mut im) = (0.0, 0.0);
        for ((x, w), (c, sn)) in self.look.iter().zip(&self.tables.hann_look).zip(osc) {
            re += x * w * c;
            im += x * w * sn;
        }
        2.0 * (re * re + im * im) / (self.tables.hann_look_sum * self.tables.hann_look_sum)
    }

    /// Measures one tone: its true frequency from the phase advance between
    /// the two halves, whether it fills the look, and its power there.
    fn measure(&self, index: usize, nominal: f64) -> Option<Tone> {
        let osc = &self.tables.osc[index];
        let half = |offset: usize| {
            let (mut re, mut im) = (0.0, 0.0);
            let samples = &self.look[offset..offset + HALF];
            let oscillator = &osc[offset..offset + HALF];
            for ((x, w), (c, sn)) in samples.iter().zip(&self.tables.hann_half).zip(oscillator) {
                re += x * w * c;
                im += x * w * sn;
            }
            (re, im)
        };
        let (r1, i1) = half(0);
        let (r2, i2) = half(HALF);
        let (e1, e2) = (r1 * r1 + i1 * i1, r2 * r2 + i2 * i2);
        if e1 <= 0.0 || e2 <= 0.0 {
            return None;
        }
        if (10.0 * (e1 / e2).log10()).abs() > MAX_HALF_IMBALANCE_DB {
            return None;
        }
        // arg(X2 · conj X1) = 2π δf · HALF / RATE.
        let advance = (i2 * r1 - r2 * i1).atan2(r2 * r1 + i2 * i1);
        let offset_hz = advance * RATE / (2.0 * PI * HALF as f64);
        if (offset_hz / nominal).abs() > MAX_FREQ_ERROR {
            return None;
        }
        let freq = nominal + offset_hz;
        Some(Tone {
            freq,
            power: self.power_at(freq),
        })
    }

    /// Whether the tone's harmonics (those below the band edge) stay
    /// `MAX_HARMONIC_DB` under it.
    fn clean(&self, tone: Tone, orders: &[f64]) -> bool {
        let limit = tone.power * 10f64.powf(-MAX_HARMONIC_DB / 10.0);
        orders
            .iter()
            .map(|k| k * tone.freq)
            .filter(|&h| h < 3800.0)
            .all(|h| self.power_at(h) < limit)
    }

    /// Mean power at an arbitrary frequency over the whole look.
    fn power_at(&self, freq: f64) -> f64 {
        let omega = 2.0 * PI * freq / RATE;
        let (step_re, step_im) = (omega.cos(), -omega.sin());
        let (mut osc_re, mut osc_im) = (1.0, 0.0);
        let (mut re, mut im) = (0.0, 0.0);
        for (x, w) in self.look.iter().zip(&self.tables.hann_look) {
            let v = x * w;
            re += v * osc_re;
            im += v * osc_im;
            let next_re = osc_re * step_re - osc_im * step_im;
            osc_im = osc_re * step_im + osc_im * step_re;
            osc_re = next_re;
        }
        2.0 * (re * re + im * im) / (self.tables.hann_look_sum * self.tables.hann_look_sum)
    }
}

/// What one look holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// A tone pair passing every check.
    Valid(Digit),
    /// Sound that is not a valid tone pair.
    Other,
    /// Too little energy for any tone.
    Quiet,
}

#[derive(Debug, Clone, Copy)]
struct Tone {
    freq: f64,
    power: f64,
}

/// Runs the detector over a whole recording.
pub fn detect(samples: &[i16]) -> Vec<DetectedDigit> {
    let mut detector = InbandDetector::new();
    let mut found = detector.push(samples);
    // Trailing silence lets a digit at the very end settle.
    found.extend(detector.push(&[0; LOOK]));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two sines at the given levels (dBm0), for quick unit checks; the
    /// acceptance grid uses sox as an independent generator.
    fn pair(low: f64, high: f64, level_dbm0: f64, ms: usize) -> Vec<i16> {
        let a = 32768.0 * 10f64.powf((level_dbm0 - 3.17) / 20.0);
        (0..ms * 8)
            .map(|n| {
                let t = n as f64 / RATE;
                (a * (2.0 * PI * low * t).sin() + a * (2.0 * PI * high * t).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn hears_every_key_once() {
        for d in Digit::ALL {
            let (low, high) = d.frequencies();
            let mut audio = vec![0i16; 400];
            audio.extend(pair(low, high, -10.0, 60));
            audio.extend(vec![0i16; 400]);
            let found = detect(&audio);
            assert_eq!(found.len(), 1, "{d}: {found:?}");
            assert_eq!(found[0].digit, d);
            assert!(
                (45..=55).contains(&found[0].start_ms),
                "{d} starts at {}",
                found[0].start_ms
            );
        }
    }

    #[test]
    fn silence_and_a_single_tone_give_nothing() {
        assert!(detect(&[0i16; 8000]).is_empty());
        let single: Vec<i16> = (0..8000)
            .map(|n| (8000.0 * (2.0 * PI * 697.0 * n as f64 / RATE).sin()) as i16)
            .collect();
        assert!(detect(&single).is_empty());
    }

    #[test]
    fn samples_may_arrive_in_any_chunks() {
        let (low, high) = Digit::D5.frequencies();
        let mut audio = pair(low, high, -10.0, 50);
        audio.extend(vec![0i16; 480]);
        audio.extend(pair(low, high, -10.0, 50));
        audio.extend(vec![0i16; 480]);
        let whole: Vec<_> = detect(&audio).into_iter().map(|d| d.digit).collect();
        let mut detector = InbandDetector::new();
        let mut chunked = Vec::new();
        for chunk in audio.chunks(33) {
            chunked.extend(detector.push(chunk).into_iter().map(|d| d.digit));
        }
        assert_eq!(whole, vec![Digit::D5, Digit::D5]);
        assert_eq!(chunked, whole);
    }
}
