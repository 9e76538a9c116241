//! The media of a bridged call, as a sans-I/O state machine: an RTP
//! datagram from one leg and `now` in, the datagram for the other leg out.
//!
//! - Audio passes through as it came (sequence, timestamp and SSRC kept, so
//!   each receiver sees one continuous stream) when both legs agreed on the
//!   same G.711 law, with only the payload type mapped; when they did not,
//!   the payload is decoded and encoded in the other law.
//! - RFC 4733 events pass through with the payload type mapped to the
//!   other leg's telephone-event type; a leg that offered none gets none.
//! - Anything else (comfort noise, unknown payload types, malformed
//!   datagrams) is dropped and counted.
//! - When asked, both directions are mixed into one recording, each packet
//!   placed by when it arrived so that the two voices line up.

use std::time::Instant;

use crate::media::codec::G711;
use crate::media::rtp::RtpPacket;

/// What a leg agreed on in its SDP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegFormat {
    pub codec: G711,
    /// The payload type the leg uses for its codec.
    pub payload_type: u8,
    /// The leg's telephone-event payload type, if it has one.
    pub telephone_event: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Lawyer,
    Caller,
}

impl Side {
    pub fn other(self) -> Self {
        match self {
            Side::Lawyer => Side::Caller,
            Side::Caller => Side::Lawyer,
        }
    }

    fn index(self) -> usize {
        match self {
            Side::Lawyer => 0,
            Side::Caller => 1,
        }
    }
}

/// What one direction carried (counted by the side it came from).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayCounts {
    /// Audio packets passed on (transcoded or not).
    pub audio: u64,
    /// RFC 4733 event packets passed on.
    pub events: u64,
    /// Datagrams dropped: not RTP, another payload type, or an event for a
    /// leg without telephone-event.
    pub dropped: u64,
}

/// Samples per second of G.711.
const RATE: u64 = 8000;
/// A leg's audio is placed where its arrival time says once it lags its
/// own cursor by more than this (a gap in sending, e.g. silence
/// suppression); within it, packets follow each other (jitter).
const SLACK: usize = 800;

/// Both directions mixed into one track, up to `max` samples.
#[derive(Debug)]
struct Mix {
    start: Instant,
    samples: Vec<i16>,
    cursors: [usize; 2],
    max: usize,
}

impl Mix {
    fn add(&mut self, side: Side, now: Instant, audio: &[i16]) {
        let elapsed = now.saturating_duration_since(self.start);
        let due =
            usize::try_from(elapsed.as_millis() * u128::from(RATE) / 1000).unwrap_or(usize::MAX);
        let cursor = &mut self.cursors[side.index()];
        if due > *cursor + SLACK {
            *cursor = due;
        }
        let at = *cursor;
        let end = (at + audio.len()).min(self.max);
        if end > self.samples.len() {
            self.samples.resize(end, 0);
        }
        for (slot, s) in self.samples[at.min(end)..end].iter_mut().zip(audio) {
            *slot = slot.saturating_add(*s);
        }
        *cursor = at + audio.len();
    }
}

/// The relay between a bridged call's two legs.
#[derive(Debug)]
pub struct Relay {
    formats: [LegFormat; 2],
    counts: [RelayCounts; 2],
    mix: Option<Mix>,
    decoded: Vec<i16>,
}

impl Relay {
    /// A relay between the legs; with `record`, a mix of both directions
    /// is kept from `now`, at most `record` samples (8 kHz).
    pub fn new(lawyer: LegFormat, caller: LegFormat, record: Option<usize>, now: Instant) -> Self {
        Self {
            formats: [lawyer, caller],
            counts: [RelayCounts::default(); 2],
            mix: record.map(|max| Mix {
                start: now,
                samples: Vec::new(),
                cursors: [0, 0],
                max,
            }),
            decoded: Vec::with_capacity(160),
        }
    }

    /// What came from `side` so far.
    pub fn counts(&self, side: Side) -> RelayCounts {
        self.counts[side.index()]
    }

    /// The datagram `datagram` from `from` becomes, for the other leg; or
    /// `None` when it is dropped.
    pub fn forward(&mut self, from: Side, datagram: &[u8], now: Instant) -> Option<Vec<u8>> {
        let source = self.formats[from.index()];
        let target = self.formats[from.other().index()];
        let counts = &mut self.counts[from.index()];
        let Ok(packet) = RtpPacket::parse(datagram) else {
            counts.dropped += 1;
            return None;
        };
        let mut out = Vec::with_capacity(datagram.len());
        if source.telephone_event == Some(packet.payload_type) {
            let Some(event_type) = target.telephone_event else {
                counts.dropped += 1;
                return None;
            };
            counts.events += 1;
            RtpPacket {
                payload_type: event_type,
                ..packet
            }
            .write(&mut out);
            return Some(out);
        }
        if packet.payload_type != source.payload_type {
            counts.dropped += 1;
            return None;
        }
        counts.audio += 1;
        let needs_samples = self.mix.is_some() || source.codec != target.codec;
        if needs_samples {
            self.decoded.clear();
            source.codec.decode(packet.payload, &mut self.decoded);
        }
        if let Some(mix) = &mut self.mix {
            mix.add(from, now, &self.decoded);
        }
        if source.codec == target.codec {
            RtpPacket {
                payload_type: target.payload_type,
                ..packet
            }
            .write(&mut out);
        } else {
            let mut payload = Vec::with_capacity(self.decoded.len());
            target.codec.encode(&self.decoded, &mut payload);
            RtpPacket {
                payload_type: target.payload_type,
                payload: &payload,
                ..packet
            }
            .write(&mut out);
        }
        Some(out)
    }

    /// Samples recorded and not yet taken.
    pub fn recorded(&self) -> usize {
        self.mix.as_ref().map_or(0, |m| m.samples.len())
    }

    /// The recording so far (both voices mixed); the next part goes on
    /// from where it ends.
    pub fn take_recording(&mut self) -> Vec<i16> {
        let Some(mix) = &mut self.mix else {
            return Vec::new();
        };
        let samples = std::mem::take(&mut mix.samples);
        let taken = samples.len();
        mix.start += std::time::Duration::from_micros(taken as u64 * 1_000_000 / RATE);
        for cursor in &mut mix.cursors {
            *cursor = cursor.saturating_sub(taken);
        }
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const PCMU: LegFormat = LegFormat {
        codec: G711::Pcmu,
        payload_type: 0,
        telephone_event: Some(101),
    };
    const PCMA_96: LegFormat = LegFormat {
        codec: G711::Pcma,
        payload_type: 8,
        telephone_event: Some(96),
    };

    fn packet(payload_type: u8, sequence: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        RtpPacket {
            marker: false,
            payload_type,
            sequence,
            timestamp: u32::from(sequence) * 160,
            ssrc: 0x1234_5678,
            payload,
        }
        .write(&mut out);
        out
    }

    fn tone(amplitude: f64) -> Vec<i16> {
        (0..160)
            .map(|n| {
                (amplitude * (2.0 * std::f64::consts::PI * 440.0 * f64::from(n) / 8000.0).sin())
                    as i16
            })
            .collect()
    }

    #[test]
    fn same_law_passes_through_with_the_payload_type_mapped() {
        let t0 = Instant::now();
        let remapped = LegFormat {
            payload_type: 0,
            ..PCMU
        };
        let mut relay = Relay::new(PCMU, remapped, None, t0);
        let mut encoded = Vec::new();
        G711::Pcmu.encode(&tone(8000.0), &mut encoded);
        let sent = packet(0, 7, &encoded);
        let out = relay.forward(Side::Lawyer, &sent, t0).unwrap_or_default();
        assert_eq!(out, sent, "nothing to change: forwarded as it came");
        assert_eq!(relay.counts(Side::Lawyer).audio, 1);
        assert_eq!(relay.counts(Side::Caller), RelayCounts::default());
    }

    #[test]
    fn different_laws_are_transcoded_both_ways() {
        let t0 = Instant::now();
        let mut relay = Relay::new(PCMU, PCMA_96, None, t0);
        let speech = tone(8000.0);
        let mut ulaw = Vec::new();
        G711::Pcmu.encode(&speech, &mut ulaw);
        let out = relay
            .forward(Side::Lawyer, &packet(0, 1, &ulaw), t0)
            .unwrap_or_default();
        let parsed = RtpPacket::parse(&out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.payload_type, 8);
        assert_eq!((parsed.sequence, parsed.ssrc), (1, 0x1234_5678));
        let mut heard = Vec::new();
        G711::Pcma.decode(parsed.payload, &mut heard);
        for (a, b) in speech.iter().zip(&heard) {
            assert!((i32::from(*a) - i32::from(*b)).abs() < 600, "{a} vs {b}");
        }
        // And back: A-law from the caller reaches the lawyer as µ-law.
        let mut alaw = Vec::new();
        G711::Pcma.encode(&speech, &mut alaw);
        let back = relay
            .forward(Side::Caller, &packet(8, 2, &alaw), t0)
            .unwrap_or_default();
        assert_eq!(RtpPacket::parse(&back).map(|p| p.payload_type), Ok(0));
        assert_eq!(relay.counts(Side::Caller).audio, 1);
    }

    #[test]
    fn keys_pass_through_with_the_event_type_mapped_and_nothing_else_does() {
        let t0 = Instant::now();
        let mut relay = Relay::new(PCMU, PCMA_96, None, t0);
        // Digit 5, end bit clear, volume 10, duration 160.
        let event = [5, 10, 0, 160];
        let out = relay
            .forward(Side::Lawyer, &packet(101, 3, &event), t0)
            .unwrap_or_default();
        let parsed = RtpPacket::parse(&out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((parsed.payload_type, parsed.payload), (96, &event[..]));
        assert_eq!(relay.counts(Side::Lawyer).events, 1);
        // Comfort noise, a stray payload type, garbage: dropped.
        assert_eq!(relay.forward(Side::Lawyer, &packet(13, 4, &[40]), t0), None);
        assert_eq!(
            relay.forward(Side::Lawyer, &packet(8, 5, &[0; 160]), t0),
            None
        );
        assert_eq!(relay.forward(Side::Lawyer, b"\x00junk", t0), None);
        assert_eq!(relay.counts(Side::Lawyer).dropped, 3);
        // A leg that offered no telephone-event gets no events.
        let plain = LegFormat {
            telephone_event: None,
            ..PCMA_96
        };
        let mut relay = Relay::new(PCMU, plain, None, t0);
        assert_eq!(
            relay.forward(Side::Lawyer, &packet(101, 3, &event), t0),
            None
        );
    }

    #[test]
    fn the_recording_mixes_both_voices_by_arrival_time() {
        let t0 = Instant::now();
        let mut relay = Relay::new(PCMU, PCMA_96, Some(8000), t0);
        let mut ulaw = Vec::new();
        G711::Pcmu.encode(&tone(4000.0), &mut ulaw);
        let mut alaw = Vec::new();
        G711::Pcma.encode(&tone(4000.0), &mut alaw);
        // The lawyer speaks at once; the caller half a second later.
        relay.forward(Side::Lawyer, &packet(0, 1, &ulaw), t0);
        relay.forward(
            Side::Caller,
            &packet(8, 1, &alaw),
            t0 + Duration::from_millis(500),
        );
        // Both at 0.52 s: the caller's next packet, and the lawyer again
        // after a pause; the same instant, mixed.
        let at = t0 + Duration::from_millis(520);
        relay.forward(Side::Lawyer, &packet(0, 2, &ulaw), at);
        relay.forward(Side::Caller, &packet(8, 2, &alaw), at);
        // Past the bound: cut, not grown.
        relay.forward(
            Side::Lawyer,
            &packet(0, 3, &ulaw),
            t0 + Duration::from_secs(5),
        );
        let mix = relay.take_recording();
        assert_eq!(mix.len(), 8000);
        let loud = |range: std::ops::Range<usize>| {
            mix[range]
                .iter()
                .map(|s| i32::from(*s).abs())
                .max()
                .unwrap_or(0)
        };
        assert!(loud(0..160) > 3000, "the lawyer at 0 s");
        assert_eq!(loud(200..4000), 0, "silence in between");
        assert!(loud(4000..4160) > 3000, "the caller at 0.5 s");
        assert!(loud(4160..4320) > 6000, "both at 0.52 s, added");
        assert!(relay.take_recording().is_empty());
    }
}
