//! The media of a bridged call, as a sans-I/O state machine: an RTP
//! datagram from one leg and `now` in, the datagram for the other leg out.
//!
//! - Each leg goes on hearing one stream: what is relayed to it carries
//!   the SSRC the IVR used for its prompts, and sequence numbers and
//!   timestamps that continue from the prompts' (offset from the sender's,
//!   so gaps and reordering survive), with the marker bit where a new
//!   source begins.
//! - Audio payloads pass through as they came when both legs agreed on the
//!   same G.711 law, with the payload type mapped; when they did not, the
//!   payload is decoded and encoded in the other law.
//! - RFC 4733 events pass through with the payload type mapped to the
//!   other leg's telephone-event type; a leg that offered none gets none.
//! - Anything else (comfort noise, unknown payload types, malformed
//!   datagrams) is dropped and counted.
//! - When asked, both directions are mixed into one recording, each packet
//!   placed by when it arrived so that the two voices line up.
//! - It says when the bridge is over on its own: no packet from one leg
//!   for the RTP timeout (a phone gone without a BYE), or the longest call
//!   allowed.

use std::time::{Duration, Instant};

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

/// Where a leg's stream stands: the SSRC it hears us by, and the sequence
/// number and timestamp of the next packet
/// ([`crate::media::session::MediaSession::stream`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    pub ssrc: u32,
    pub sequence: u16,
    pub timestamp: u32,
}

/// Why the relay ended the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Nothing came from this side for the RTP timeout.
    Silent(Side),
    /// The longest call allowed.
    LongestCall,
}

/// What is relayed to one leg: its stream, and how the current source's
/// numbers map onto it.
#[derive(Debug)]
struct Outgoing {
    next: Stream,
    /// The source being relayed: its SSRC, and the offsets from its
    /// sequence numbers and timestamps to ours.
    source: Option<(u32, u16, u32)>,
    /// The source before it: its late packets are dropped, not replayed.
    previous: Option<u32>,
}

impl Outgoing {
    /// Our header for a packet of `packet`'s source: (marker, sequence,
    /// timestamp); `None` for a late packet of a source already replaced.
    /// Audio moves our clock on by `samples`; an event (`samples` 0) keeps
    /// its start time and takes only a sequence number.
    fn map(&mut self, packet: &RtpPacket<'_>, samples: u32) -> Option<(bool, u16, u32)> {
        let mut marker = packet.marker;
        let (seq_offset, ts_offset) = match self.source {
            Some((ssrc, s, t)) if ssrc == packet.ssrc => (s, t),
            _ if self.previous == Some(packet.ssrc) => return None,
            current => {
                // A new source goes on from where our stream stands.
                let offsets = (
                    self.next.sequence.wrapping_sub(packet.sequence),
                    self.next.timestamp.wrapping_sub(packet.timestamp),
                );
                self.previous = current.map(|(ssrc, _, _)| ssrc);
                self.source = Some((packet.ssrc, offsets.0, offsets.1));
                // A new voice begins (an event keeps its own marker: a
                // forced one could read as a new key press).
                marker |= samples > 0;
                offsets
            }
        };
        let sequence = packet.sequence.wrapping_add(seq_offset);
        let timestamp = packet.timestamp.wrapping_add(ts_offset);
        // Only a newer packet moves the stream on (a late one keeps its place).
        if sequence.wrapping_sub(self.next.sequence) < 0x8000 {
            self.next.sequence = sequence.wrapping_add(1);
            if samples > 0 {
                self.next.timestamp = timestamp.wrapping_add(samples);
            }
        }
        Some((marker, sequence, timestamp))
    }
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
    /// What goes to each leg.
    outgoing: [Outgoing; 2],
    counts: [RelayCounts; 2],
    mix: Option<Mix>,
    decoded: Vec<i16>,
    start: Instant,
    /// When each side was last heard from.
    heard: [Instant; 2],
    rtp_timeout: Duration,
    max_talk: Duration,
}

impl Relay {
    /// A relay from `now` between the legs, each with its format and where
    /// its stream stands; it ends the bridge after `rtp_timeout` without a
    /// packet from one side, or after `max_talk`.
    pub fn new(
        legs: [(LegFormat, Stream); 2],
        rtp_timeout: Duration,
        max_talk: Duration,
        now: Instant,
    ) -> Self {
        let [(lawyer, to_lawyer), (caller, to_caller)] = legs;
        let outgoing = |next| Outgoing {
            next,
            source: None,
            previous: None,
        };
        Self {
            formats: [lawyer, caller],
            outgoing: [outgoing(to_lawyer), outgoing(to_caller)],
            counts: [RelayCounts::default(); 2],
            mix: None,
            decoded: Vec::with_capacity(160),
            start: now,
            heard: [now, now],
            rtp_timeout,
            max_talk,
        }
    }

    /// Keeps a mix of both directions from the start, at most `max`
    /// samples (8 kHz) until [`Relay::take_recording`].
    pub fn record(mut self, max: usize) -> Self {
        self.mix = Some(Mix {
            start: self.start,
            samples: Vec::new(),
            cursors: [0, 0],
            max,
        });
        self
    }

    /// When [`Relay::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Instant {
        let quiet = self.heard[0].min(self.heard[1]) + self.rtp_timeout;
        quiet.min(self.start + self.max_talk)
    }

    /// Whether the bridge is over at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<End> {
        for side in [Side::Lawyer, Side::Caller] {
            if now.saturating_duration_since(self.heard[side.index()]) >= self.rtp_timeout {
                return Some(End::Silent(side));
            }
        }
        (now.saturating_duration_since(self.start) >= self.max_talk).then_some(End::LongestCall)
    }

    /// How long the bridge has been up at `now`.
    pub fn talk(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.start)
    }

    /// What came from `side` so far.
    pub fn counts(&self, side: Side) -> RelayCounts {
        self.counts[side.index()]
    }

    /// The datagram `datagram` from `from` (admitted as that leg's)
    /// becomes, for the other leg; or `None` when it is dropped. Any
    /// datagram counts as the side being heard.
    pub fn forward(&mut self, from: Side, datagram: &[u8], now: Instant) -> Option<Vec<u8>> {
        self.heard[from.index()] = now;
        let to = from.other().index();
        let source = self.formats[from.index()];
        let target = self.formats[to];
        let counts = &mut self.counts[from.index()];
        let Ok(packet) = RtpPacket::parse(datagram) else {
            counts.dropped += 1;
            return None;
        };
        let mut out = Vec::with_capacity(datagram.len());
        let ssrc = self.outgoing[to].next.ssrc;
        if source.telephone_event == Some(packet.payload_type) {
            let Some(event_type) = target.telephone_event else {
                counts.dropped += 1;
                return None;
            };
            counts.events += 1;
            // An event's timestamp is its start: it does not move the clock.
            let Some((marker, sequence, timestamp)) = self.outgoing[to].map(&packet, 0) else {
                counts.dropped += 1;
                return None;
            };
            RtpPacket {
                marker,
                payload_type: event_type,
                sequence,
                timestamp,
                ssrc,
                payload: packet.payload,
            }
            .write(&mut out);
            return Some(out);
        }
        if packet.payload_type != source.payload_type {
            counts.dropped += 1;
            return None;
        }
        let samples = u32::try_from(packet.payload.len()).unwrap_or(u32::MAX);
        let Some((marker, sequence, timestamp)) = self.outgoing[to].map(&packet, samples) else {
            counts.dropped += 1;
            return None;
        };
        counts.audio += 1;
        let needs_samples = self.mix.is_some() || source.codec != target.codec;
        if needs_samples {
            self.decoded.clear();
            source.codec.decode(packet.payload, &mut self.decoded);
        }
        if let Some(mix) = &mut self.mix {
            mix.add(from, now, &self.decoded);
        }
        let transcoded;
        let payload = if source.codec == target.codec {
            packet.payload
        } else {
            let mut encoded = Vec::with_capacity(self.decoded.len());
            target.codec.encode(&self.decoded, &mut encoded);
            transcoded = encoded;
            &transcoded
        };
        RtpPacket {
            marker,
            payload_type: target.payload_type,
            sequence,
            timestamp,
            ssrc,
            payload,
        }
        .write(&mut out);
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
    /// Where the IVR's prompt streams to each leg stand.
    const TO_LAWYER: Stream = Stream {
        ssrc: 0xaaaa_0001,
        sequence: 65_530,
        timestamp: 1_000,
    };
    const TO_CALLER: Stream = Stream {
        ssrc: 0xcccc_0002,
        sequence: 40,
        timestamp: 7_000,
    };
    const TIMEOUT: Duration = Duration::from_secs(30);
    const LONGEST: Duration = Duration::from_secs(7200);

    fn new_relay(lawyer: LegFormat, caller: LegFormat, t0: Instant) -> Relay {
        Relay::new(
            [(lawyer, TO_LAWYER), (caller, TO_CALLER)],
            TIMEOUT,
            LONGEST,
            t0,
        )
    }

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

    fn parsed(datagram: &[u8]) -> RtpPacket<'_> {
        RtpPacket::parse(datagram).unwrap_or_else(|e| panic!("{e}"))
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
    fn each_leg_hears_one_stream_going_on_from_the_prompts() {
        let t0 = Instant::now();
        let mut relay = new_relay(PCMU, PCMU, t0);
        let mut encoded = Vec::new();
        G711::Pcmu.encode(&tone(8000.0), &mut encoded);
        let first = relay
            .forward(Side::Lawyer, &packet(0, 7, &encoded), t0)
            .unwrap_or_default();
        let p = parsed(&first);
        // The caller's stream: its SSRC, the next number and time, and the
        // marker where the new source begins; the payload as it came.
        assert_eq!(
            (p.ssrc, p.sequence, p.timestamp, p.marker),
            (TO_CALLER.ssrc, 40, 7_000, true)
        );
        assert_eq!((p.payload_type, p.payload), (0, &encoded[..]));
        // The sender's gap of one packet stays a gap; no marker within it.
        let third = relay
            .forward(Side::Lawyer, &packet(0, 9, &encoded), t0)
            .unwrap_or_default();
        let p = parsed(&third);
        assert_eq!((p.sequence, p.timestamp, p.marker), (42, 7_320, false));
        // A late packet keeps its place and does not move the stream back.
        let late = relay
            .forward(Side::Lawyer, &packet(0, 8, &encoded), t0)
            .unwrap_or_default();
        assert_eq!(parsed(&late).sequence, 41);
        // The other way, sequence numbers wrap.
        let back = relay
            .forward(Side::Caller, &packet(0, 100, &encoded), t0)
            .unwrap_or_default();
        let p = parsed(&back);
        assert_eq!((p.ssrc, p.sequence), (TO_LAWYER.ssrc, 65_530));
        for n in 101..110u16 {
            relay.forward(Side::Caller, &packet(0, n, &encoded), t0);
        }
        let wrapped = relay
            .forward(Side::Caller, &packet(0, 110, &encoded), t0)
            .unwrap_or_default();
        assert_eq!(parsed(&wrapped).sequence, 4);
        assert_eq!(relay.counts(Side::Lawyer).audio, 3);
        assert_eq!(relay.counts(Side::Caller).audio, 11);
        // The lawyer's phone changes its SSRC (a re-INVITE, a transfer):
        // the new source goes on from the stream, marked, and a late packet
        // of the old one is dropped rather than replayed.
        let mut other = packet(0, 500, &encoded);
        other[8..12].copy_from_slice(&0x9999_0000u32.to_be_bytes());
        let p = relay.forward(Side::Lawyer, &other, t0).unwrap_or_default();
        let p = parsed(&p);
        assert_eq!((p.sequence, p.timestamp, p.marker), (43, 7_480, true));
        assert_eq!(
            relay.forward(Side::Lawyer, &packet(0, 10, &encoded), t0),
            None
        );
    }

    #[test]
    fn different_laws_are_transcoded_both_ways() {
        let t0 = Instant::now();
        let mut relay = new_relay(PCMU, PCMA_96, t0);
        let speech = tone(8000.0);
        let mut ulaw = Vec::new();
        G711::Pcmu.encode(&speech, &mut ulaw);
        let out = relay
            .forward(Side::Lawyer, &packet(0, 1, &ulaw), t0)
            .unwrap_or_default();
        let p = parsed(&out);
        assert_eq!(p.payload_type, 8);
        let mut heard = Vec::new();
        G711::Pcma.decode(p.payload, &mut heard);
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
        let mut relay = new_relay(PCMU, PCMA_96, t0);
        // Digit 5, end bit clear, volume 10, duration 160.
        let event = [5, 10, 0, 160];
        let out = relay
            .forward(Side::Lawyer, &packet(101, 3, &event), t0)
            .unwrap_or_default();
        let p = parsed(&out);
        assert_eq!((p.payload_type, p.payload), (96, &event[..]));
        assert_eq!(p.ssrc, TO_CALLER.ssrc);
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
        let mut relay = Relay::new(
            [(PCMU, TO_LAWYER), (plain, TO_CALLER)],
            TIMEOUT,
            LONGEST,
            t0,
        );
        assert_eq!(
            relay.forward(Side::Lawyer, &packet(101, 3, &event), t0),
            None
        );
    }

    #[test]
    fn a_side_gone_quiet_or_the_longest_call_ends_the_bridge() {
        let t0 = Instant::now();
        let mut relay = new_relay(PCMU, PCMU, t0);
        assert_eq!(relay.poll_timeout(), t0 + TIMEOUT);
        // Both keep talking (even comfort noise counts): nothing ends.
        let mut now = t0;
        while now < t0 + Duration::from_secs(100) {
            now += Duration::from_secs(10);
            relay.forward(Side::Lawyer, &packet(0, 1, &[0xff; 160]), now);
            relay.forward(Side::Caller, &packet(13, 1, &[40]), now);
            assert_eq!(relay.handle_timeout(now), None);
        }
        // Then the caller's phone goes silent without a BYE.
        let last = now;
        for _ in 0..3 {
            now += Duration::from_secs(10);
            relay.forward(Side::Lawyer, &packet(0, 1, &[0xff; 160]), now);
        }
        assert_eq!(relay.poll_timeout(), last + TIMEOUT);
        assert_eq!(relay.handle_timeout(now), Some(End::Silent(Side::Caller)));

        // Two who never stop are cut at the longest call.
        let mut relay = new_relay(PCMU, PCMU, t0);
        let mut now = t0;
        while now < t0 + LONGEST - Duration::from_secs(1) {
            now += Duration::from_secs(20);
            relay.forward(Side::Lawyer, &packet(0, 1, &[0xff; 160]), now);
            relay.forward(Side::Caller, &packet(0, 1, &[0xff; 160]), now);
        }
        assert_eq!(relay.poll_timeout(), t0 + LONGEST);
        assert_eq!(relay.handle_timeout(t0 + LONGEST), Some(End::LongestCall));
        assert_eq!(relay.talk(t0 + LONGEST), LONGEST);
    }

    #[test]
    fn the_recording_mixes_both_voices_by_arrival_time() {
        let t0 = Instant::now();
        let mut relay = new_relay(PCMU, PCMA_96, t0).record(8000);
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
        assert_eq!(relay.recorded(), 8000);
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
        // The next part goes on from where this one ended.
        relay.forward(
            Side::Caller,
            &packet(8, 3, &alaw),
            t0 + Duration::from_millis(1100),
        );
        assert!(relay.recorded() <= 1000, "{}", relay.recorded());
        assert!(relay.recorded() >= 160);
    }
}
