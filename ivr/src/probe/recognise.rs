//! Which prompts a caller heard, from the decoded audio alone: each prompt
//! file is matched against the received samples by normalised correlation,
//! so it works whatever the codec on the way (µ-law, A-law, or a trunk
//! transcoding one into the other changes samples by a few quantisation
//! steps, not their shape). Sans-I/O: samples in, [`Recognised`] events out.
//!
//! Where a prompt can start: at a packet boundary (a prompt played after
//! silence, or after a key cut the previous one short: the IVR starts the
//! new audio with a new packet), or exactly where the previous prompt ended
//! (prompts queued back to back). A start is found on a short key window
//! after the prompt's leading silence, then confirmed block by block to
//! its end or to where it was cut; of prompts that share a beginning, the
//! one confirmed longest wins.

use std::sync::Arc;

/// Samples per 20 ms packet at 8 kHz.
pub const PACKET: usize = 160;
/// The window that finds a start: 100 ms after the leading silence.
const KEY: usize = 800;
/// Blocks confirmed one after the other: 100 ms each.
const BLOCK: usize = 800;
/// A quick look at the first 20 ms of the key window before the rest.
const GLANCE: usize = PACKET;
const GLANCE_MIN: f64 = 0.75;
/// Correlation a key window must reach; a block, a little less.
const MATCH_MIN: f64 = 0.9;
const BLOCK_MIN: f64 = 0.8;
/// A reference block quieter than this (RMS 300, about -40 dBFS) is a
/// pause: what is heard there need only not be speech (RMS under 600), so
/// line noise and A-law's coarse steps near zero do not count as a cut.
const PAUSE: i64 = 300 * 300;
const SPEECH: i64 = 600 * 600;

/// One prompt file to look for.
#[derive(Debug, Clone)]
pub struct Reference {
    /// `zh/welcome`, `en/digit-7`.
    pub name: String,
    /// Other prompts with the very same audio (`en/beep` for `zh/beep`).
    pub aliases: Vec<String>,
    samples: Vec<i16>,
    /// Where its leading silence ends.
    lead: usize,
}

/// Every prompt that can be heard, deduplicated: prompts with the very same
/// audio are one, under the name a reader expects (`digit-0` over
/// `count-0`).
#[derive(Debug, Clone, Default)]
pub struct References {
    refs: Vec<Reference>,
}

impl References {
    pub fn new(prompts: impl IntoIterator<Item = (String, Vec<i16>)>) -> Self {
        let mut all: Vec<(String, Vec<i16>)> = prompts
            .into_iter()
            .filter(|(_, s)| s.iter().any(|x| x.unsigned_abs() > 500))
            .collect();
        // Preferred names first, so a duplicate keeps that one.
        all.sort_by_key(|(name, _)| (!name.contains("/digit-"), name.clone()));
        let mut refs: Vec<Reference> = Vec::new();
        for (name, samples) in all {
            if let Some(same) = refs.iter_mut().find(|r| r.samples == samples) {
                same.aliases.push(name);
                continue;
            }
            let lead = samples
                .iter()
                .position(|x| x.unsigned_abs() > 500)
                .unwrap_or(0);
            refs.push(Reference {
                name,
                aliases: Vec::new(),
                samples,
                lead,
            });
        }
        Self { refs }
    }

    pub fn len(&self) -> usize {
        self.refs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    /// Whether a prompt of this name (`welcome` in any language, or
    /// `en/welcome`) is among the references.
    pub fn knows(&self, name: &str) -> bool {
        self.refs.iter().any(|r| {
            std::iter::once(&r.name)
                .chain(&r.aliases)
                .any(|n| names_match(n, name))
        })
    }
}

/// Whether the prompt `full` (`zh/welcome`) is what `wanted` names
/// (`zh/welcome`, or `welcome` in any language).
pub fn names_match(full: &str, wanted: &str) -> bool {
    full == wanted || full.split_once('/').is_some_and(|(_, bare)| bare == wanted)
}

/// A prompt heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    pub name: String,
    /// The other names of the same audio.
    pub also: Vec<String>,
    /// Sample index in the received audio where it started.
    pub start: usize,
    /// Samples of it confirmed (its whole length when `complete`).
    pub length: usize,
    /// Heard to its end (not cut short by a key or a hang-up).
    pub complete: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recognised {
    /// Some prompt started at this sample (which one is known later).
    Began(usize),
    /// The prompt that began at `start` is this one: every other prompt
    /// with the same beginning has stopped matching. A driver keys now.
    Identified {
        name: String,
        start: usize,
    },
    Heard(Heard),
}

#[derive(Debug, Clone)]
struct Candidate {
    reference: usize,
    /// Where in the heard audio this reference would have started.
    start: usize,
    /// Samples of the reference confirmed so far.
    confirmed: usize,
    /// Stopped matching (cut short, or another prompt with the same start).
    stopped: bool,
}

/// The streaming recogniser of one call.
#[derive(Debug)]
pub struct Recogniser {
    refs: Arc<References>,
    audio: Vec<i16>,
    /// The next packet boundary to look at for a start.
    scan: usize,
    /// Where the last prompt heard to its end stopped: the next may start
    /// exactly there.
    follow: Option<usize>,
    /// The candidates being confirmed (a start, or the two a prompt after
    /// another can have).
    current: Option<Vec<Candidate>>,
    /// Whether the current start has been identified.
    identified: bool,
    /// The language of the last prompt heard (`zh`), to name audio that
    /// two languages share.
    language: Option<String>,
}

impl Recogniser {
    pub fn new(refs: Arc<References>) -> Self {
        Self {
            refs,
            audio: Vec::new(),
            scan: 0,
            follow: None,
            current: None,
            identified: false,
            language: None,
        }
    }

    /// Everything received so far, decoded.
    pub fn audio(&self) -> &[i16] {
        &self.audio
    }

    /// Takes the next received samples; returns what they made known.
    pub fn push(&mut self, samples: &[i16]) -> Vec<Recognised> {
        self.audio.extend_from_slice(samples);
        let mut out = Vec::new();
        self.run(false, &mut out);
        out
    }

    /// The call ended: decides whatever was still being confirmed.
    pub fn finish(&mut self) -> Vec<Recognised> {
        let mut out = Vec::new();
        self.run(true, &mut out);
        out
    }

    fn run(&mut self, ended: bool, out: &mut Vec<Recognised>) {
        loop {
            if self.current.is_some() {
                if !self.confirm(ended, out) {
                    return;
                }
                continue;
            }
            // A prompt right after the last one, first: exactly where it
            // ended (queued back to back), or at the next packet (played
            // after it, the rest of its last packet silence). Both at once,
            // so prompts that begin alike are told apart by what follows.
            if let Some(at) = self.follow {
                let boundary = at.div_ceil(PACKET) * PACKET;
                let exact = self.starts_at(at, ended);
                let next = if boundary == at {
                    Some(Vec::new())
                } else {
                    self.starts_at(boundary, ended)
                };
                let (Some(mut found), Some(more)) = (exact, next) else {
                    return;
                };
                found.extend(more);
                self.follow = None;
                if let Some(first) = found.iter().map(|c| c.start).min() {
                    out.push(Recognised::Began(first));
                    self.current = Some(found);
                    continue;
                }
            }
            match self.starts_at(self.scan, ended) {
                Some(found) if !found.is_empty() => {
                    out.push(Recognised::Began(self.scan));
                    self.current = Some(found);
                }
                Some(_) => self.scan += PACKET,
                None => return,
            }
        }
    }

    /// The references whose key window matches audio starting at `at`;
    /// `None` while more audio is needed to tell.
    fn starts_at(&self, at: usize, ended: bool) -> Option<Vec<Candidate>> {
        if at >= self.audio.len() {
            return None;
        }
        let mut found = Vec::new();
        let mut waiting = false;
        for (i, r) in self.refs.refs.iter().enumerate() {
            let key_len = KEY.min(r.samples.len() - r.lead);
            let from = at + r.lead;
            if from + key_len > self.audio.len() {
                // Not yet heard that far (or never will be).
                waiting |= !ended;
                continue;
            }
            let heard = &self.audio[from..from + key_len];
            let want = &r.samples[r.lead..r.lead + key_len];
            let glance = GLANCE.min(key_len);
            if correlation(&heard[..glance], &want[..glance]) < GLANCE_MIN {
                continue;
            }
            if correlation(heard, want) >= MATCH_MIN {
                found.push(Candidate {
                    reference: i,
                    start: at,
                    confirmed: r.lead + key_len,
                    stopped: false,
                });
            }
        }
        if waiting && found.is_empty() {
            return None;
        }
        Some(found)
    }

    /// Confirms the current candidates block by block; true once decided.
    fn confirm(&mut self, ended: bool, out: &mut Vec<Recognised>) -> bool {
        let Some(mut candidates) = self.current.take() else {
            return true;
        };
        let mut pending = false;
        for c in candidates.iter_mut().filter(|c| !c.stopped) {
            let r = &self.refs.refs[c.reference];
            while c.confirmed < r.samples.len() {
                let len = BLOCK.min(r.samples.len() - c.confirmed);
                let from = c.start + c.confirmed;
                if from + len > self.audio.len() {
                    if ended {
                        c.stopped = true;
                    } else {
                        pending = true;
                    }
                    break;
                }
                let heard = &self.audio[from..from + len];
                let want = &r.samples[c.confirmed..c.confirmed + len];
                if !block_matches(heard, want) {
                    c.stopped = true;
                    break;
                }
                c.confirmed += len;
            }
        }
        let alive: Vec<&Candidate> = candidates.iter().filter(|c| !c.stopped).collect();
        if pending {
            if let [only] = alive.as_slice() {
                if !self.identified {
                    self.identified = true;
                    out.push(Recognised::Identified {
                        name: self.refs.refs[only.reference].name.clone(),
                        start: only.start,
                    });
                }
            }
            self.current = Some(candidates);
            return false;
        }
        // Decided: the one confirmed longest (a whole prompt over a prefix),
        // but a prompt heard to its end over one that went on matching less
        // than a block further (the block straddling the next prompt).
        let refs = &self.refs.refs;
        let whole = |c: &&Candidate| c.confirmed >= refs[c.reference].samples.len();
        let longest = candidates
            .iter()
            .max_by_key(|c| (c.confirmed, std::cmp::Reverse(c.reference)));
        let longest_whole = candidates
            .iter()
            .filter(whole)
            .max_by_key(|c| (c.confirmed, std::cmp::Reverse(c.reference)));
        let best = match (longest, longest_whole) {
            (Some(l), Some(w)) if l.confirmed < w.confirmed + BLOCK => Some(w),
            (l, _) => l,
        };
        if let Some(best) = best {
            let start = best.start;
            let r = &refs[best.reference];
            let complete = best.confirmed >= r.samples.len();
            // Audio two languages share is named in the call's language.
            let names: Vec<&String> = std::iter::once(&r.name).chain(&r.aliases).collect();
            let name = self
                .language
                .as_deref()
                .and_then(|lang| {
                    names
                        .iter()
                        .find(|n| n.split_once('/').is_some_and(|(l, _)| l == lang))
                })
                .copied()
                .unwrap_or(&r.name)
                .clone();
            let also: Vec<String> = names.into_iter().filter(|n| **n != name).cloned().collect();
            if !self.identified {
                out.push(Recognised::Identified {
                    name: name.clone(),
                    start,
                });
            }
            self.identified = false;
            self.language = name.split_once('/').map(|(l, _)| l.to_owned());
            out.push(Recognised::Heard(Heard {
                name,
                also,
                start,
                length: best.confirmed,
                complete,
            }));
            let end = start + best.confirmed;
            self.follow = complete.then_some(end);
            // Scanning goes on after what was heard; a prompt cut short may
            // have been cut anywhere in its last confirmed block (the block
            // still correlated with the new audio at its end), so from there.
            let resume = if complete {
                end
            } else {
                end.saturating_sub(BLOCK)
            };
            self.scan = (resume.div_ceil(PACKET) * PACKET).max(start + PACKET);
        }
        true
    }
}

/// Whether a block of heard audio is the reference's: a pause where it
/// pauses, its shape where it speaks.
fn block_matches(heard: &[i16], want: &[i16]) -> bool {
    if mean_square(want) < PAUSE {
        return mean_square(heard) < SPEECH;
    }
    correlation(heard, want) >= BLOCK_MIN
}

fn mean_square(x: &[i16]) -> i64 {
    if x.is_empty() {
        return 0;
    }
    x.iter().map(|&s| i64::from(s) * i64::from(s)).sum::<i64>() / x.len() as i64
}

/// Normalised correlation of two equally long slices; 0 when either is
/// silent.
pub fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0i64, 0i64, 0i64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (i64::from(x), i64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0 || bb == 0 {
        return 0.0;
    }
    ab as f64 / ((aa as f64).sqrt() * (bb as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::G711;

    /// A made-up prompt: a tone sweep with a leading silence, different
    /// per seed.
    fn tone(seed: u32, ms: usize) -> Vec<i16> {
        let n = ms * 8;
        let mut out = vec![0i16; 200];
        for i in 0..n {
            let t = i as f64 / 8000.0;
            let f = 300.0 + 97.0 * f64::from(seed) + 400.0 * t;
            out.push((8000.0 * (2.0 * std::f64::consts::PI * f * t).sin()) as i16);
        }
        out
    }

    fn refs() -> Arc<References> {
        Arc::new(References::new([
            ("zh/welcome".to_owned(), tone(1, 900)),
            ("zh/main-menu".to_owned(), tone(2, 700)),
            ("zh/digit-1".to_owned(), tone(3, 300)),
            ("zh/digit-2".to_owned(), tone(4, 300)),
            // The same audio under another name: one reference.
            ("zh/count-1".to_owned(), tone(3, 300)),
        ]))
    }

    /// What a caller receives: `parts` back to back after `gap` packets of
    /// silence, through µ-law and then A-law (a transcoding trunk).
    fn received(parts: &[Vec<i16>], gap: usize) -> Vec<i16> {
        let mut linear = vec![0i16; gap * PACKET];
        for p in parts {
            linear.extend_from_slice(p);
        }
        // The IVR's packets: whole packets only, the last padded.
        linear.resize(linear.len().div_ceil(PACKET) * PACKET, 0);
        let mulaw = G711::Pcmu.round_trip(&linear);
        G711::Pcma.round_trip(&mulaw)
    }

    fn heard(events: &[Recognised]) -> Vec<(String, bool)> {
        events
            .iter()
            .filter_map(|e| match e {
                Recognised::Heard(h) => Some((h.name.clone(), h.complete)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn prompts_back_to_back_are_told_apart_through_transcoding() {
        let refs = refs();
        assert_eq!(refs.len(), 4);
        let audio = received(&[tone(1, 900), tone(3, 300), tone(4, 300), tone(3, 300)], 7);
        let mut r = Recogniser::new(refs);
        let mut events = Vec::new();
        // Arriving packet by packet.
        for packet in audio.chunks(PACKET) {
            events.extend(r.push(packet));
        }
        events.extend(r.finish());
        assert_eq!(
            heard(&events),
            [
                ("zh/welcome".to_owned(), true),
                ("zh/digit-1".to_owned(), true),
                ("zh/digit-2".to_owned(), true),
                ("zh/digit-1".to_owned(), true),
            ]
        );
        assert_eq!(events[0], Recognised::Began(7 * PACKET));
    }

    #[test]
    fn a_prompt_cut_by_a_key_is_heard_in_part_and_the_next_one_found() {
        let refs = refs();
        let mut cut = tone(1, 900);
        cut.truncate(4000);
        // Cut mid-packet; the next prompt starts with the next packet.
        cut.resize(cut.len().div_ceil(PACKET) * PACKET, 0);
        let audio = received(&[cut, tone(2, 700)], 3);
        let mut r = Recogniser::new(refs);
        let mut events = r.push(&audio);
        events.extend(r.finish());
        assert_eq!(
            heard(&events),
            [
                ("zh/welcome".to_owned(), false),
                ("zh/main-menu".to_owned(), true)
            ]
        );
    }

    #[test]
    fn a_prompt_cut_late_in_a_block_does_not_hide_the_next_one() {
        // Cut 1440 samples in (the key window ends at 1000 with the lead,
        // the next block would end at 1800): the block straddling the cut
        // is mostly the old prompt.
        for cut_at in [1280, 1440, 1600] {
            let mut cut = tone(1, 900);
            cut.truncate(cut_at);
            let audio = received(&[cut, tone(2, 700)], 0);
            let mut r = Recogniser::new(refs());
            let mut events = r.push(&audio);
            events.extend(r.finish());
            assert_eq!(
                heard(&events),
                [
                    ("zh/welcome".to_owned(), false),
                    ("zh/main-menu".to_owned(), true)
                ],
                "cut at {cut_at}"
            );
        }
    }

    /// Every prompt the binary ships, alone after a little silence, through
    /// a µ-law to A-law transcoding trunk, with and without line noise:
    /// heard to its end under its own name (or one with the same audio).
    #[test]
    fn every_embedded_prompt_is_heard_whole_through_transcoding_and_noise() {
        let prompts = crate::prompts::Prompts::embedded().unwrap_or_default();
        let all: Vec<(String, Vec<i16>)> = prompts
            .all()
            .map(|(l, n, a)| (format!("{l}/{n}"), a.samples().to_vec()))
            .collect();
        assert!(all.len() > 200, "{}", all.len());
        let refs = Arc::new(References::new(all.clone()));
        let mut seed = 12345u32;
        let mut noise = move || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            // Uniform in ±52: RMS about 30 (-61 dBFS).
            ((seed >> 16) % 105) as i16 - 52
        };
        let mut failures = Vec::new();
        for (name, samples) in &all {
            if !samples.iter().any(|x| x.unsigned_abs() > 500) {
                continue;
            }
            for noisy in [false, true] {
                let mut audio = received(std::slice::from_ref(samples), 3);
                if noisy {
                    for s in &mut audio {
                        *s = s.saturating_add(noise());
                    }
                }
                let mut r = Recogniser::new(refs.clone());
                let mut events = r.push(&audio);
                events.extend(r.finish());
                let ok = events.iter().any(|e| match e {
                    Recognised::Heard(h) => {
                        h.complete && (h.name == *name || h.also.contains(name))
                    }
                    _ => false,
                });
                if !ok {
                    failures.push(format!("{name} (noise: {noisy}): {:?}", heard(&events)));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// A prompt played after another (not queued with it) starts at the
    /// next packet; another prompt that begins with the same words but
    /// with more silence before them lines up with it at the exact end of
    /// the first, and must not be taken for it.
    #[test]
    fn a_prompt_beginning_like_another_is_told_apart_after_a_prompt() {
        let first = tone(1, 900);
        let gap = first.len().div_ceil(PACKET) * PACKET - first.len();
        let second = tone(2, 700);
        let mut alike = vec![0i16; 200 + gap];
        alike.extend_from_slice(&second[200..1800]);
        alike.extend_from_slice(&tone(5, 500)[200..]);
        let refs = Arc::new(References::new([
            ("zh/first".to_owned(), first.clone()),
            ("zh/second".to_owned(), second.clone()),
            ("zh/alike".to_owned(), alike),
        ]));
        let audio = received(&[first, vec![0; gap], second], 2);
        let mut r = Recogniser::new(refs);
        let mut events = r.push(&audio);
        events.extend(r.finish());
        assert_eq!(
            heard(&events),
            [
                ("zh/first".to_owned(), true),
                ("zh/second".to_owned(), true)
            ]
        );
    }

    #[test]
    fn a_replaced_recording_is_not_taken_for_the_prompt() {
        let refs = refs();
        // Same length, other audio: not the welcome the files hold.
        let audio = received(&[tone(9, 900)], 2);
        let mut r = Recogniser::new(refs);
        let mut events = r.push(&audio);
        events.extend(r.finish());
        assert!(heard(&events).is_empty(), "{events:?}");
    }
}
