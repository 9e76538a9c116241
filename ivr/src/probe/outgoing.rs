//! What the test caller sends, one RTP packet per 20 ms: silence, a WAV it
//! talks, or keys as RFC 4733 telephone events on the same SSRC (as a
//! phone sends them: a marked first packet, the duration growing by a
//! packet each time, three end packets, a short gap before the next key).
//! Sans-I/O: the driver asks for the next packet on its 20 ms clock.

use std::collections::VecDeque;

use crate::keypad::Digit;
use crate::media::codec::G711;
use crate::media::rtp::RtpPacket;

use super::recognise::PACKET;

/// Packets a key is held for (100 ms), then its end is sent three times.
const KEY_PACKETS: u16 = 5;
const END_COPIES: usize = 3;
/// Silence between two keys of a group (80 ms).
const GAP_PACKETS: usize = 4;
/// The volume field of our events (-10 dBm0, as phones send).
const VOLUME: u8 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Frame {
    Audio(Vec<i16>),
    /// One packet of an event: the key, the event's duration so far, and
    /// whether it is an end packet; `first` marks the event's first.
    Event {
        code: u8,
        duration: u16,
        end: bool,
        first: bool,
    },
}

/// The caller's outgoing stream.
#[derive(Debug)]
pub struct Outgoing {
    codec: G711,
    payload_type: u8,
    event_type: Option<u8>,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    /// The timestamp of the event being sent (all its packets carry it).
    event_start: u32,
    first_packet: bool,
    queue: VecDeque<Frame>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("`{0}` is not a phone key (0-9, *, #, A-D)")]
    NotAKey(char),
    #[error("the IVR did not agree to telephone events (RFC 4733); keys cannot be sent")]
    NoEvents,
}

impl Outgoing {
    pub fn new(codec: G711, payload_type: u8, event_type: Option<u8>, seed: u64) -> Self {
        // Values a receiver must not be able to guess; from the seed, so a
        // run can be replayed.
        let mix = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Self {
            codec,
            payload_type,
            event_type,
            ssrc: (mix >> 32) as u32,
            sequence: (mix >> 16) as u16,
            timestamp: mix as u32,
            event_start: 0,
            first_packet: true,
            queue: VecDeque::new(),
        }
    }

    /// Queues a group of keys (`20250301#`), one after the other.
    pub fn keys(&mut self, group: &str) -> Result<(), KeyError> {
        if self.event_type.is_none() {
            return Err(KeyError::NoEvents);
        }
        let codes: Vec<u8> = group
            .chars()
            .map(|c| {
                Digit::from_char(c)
                    .map(Digit::event_code)
                    .ok_or(KeyError::NotAKey(c))
            })
            .collect::<Result<_, _>>()?;
        for (i, code) in codes.into_iter().enumerate() {
            if i > 0 {
                for _ in 0..GAP_PACKETS {
                    self.queue.push_back(Frame::Audio(vec![0; PACKET]));
                }
            }
            for n in 1..=KEY_PACKETS {
                self.queue.push_back(Frame::Event {
                    code,
                    duration: n * PACKET as u16,
                    end: false,
                    first: n == 1,
                });
            }
            for _ in 0..END_COPIES {
                self.queue.push_back(Frame::Event {
                    code,
                    duration: KEY_PACKETS * PACKET as u16,
                    end: true,
                    first: false,
                });
            }
        }
        Ok(())
    }

    /// Queues speech (8 kHz linear), after whatever is queued.
    pub fn say(&mut self, samples: &[i16]) {
        for chunk in samples.chunks(PACKET) {
            let mut frame = chunk.to_vec();
            frame.resize(PACKET, 0);
            self.queue.push_back(Frame::Audio(frame));
        }
    }

    /// Whether keys or speech are still queued.
    pub fn busy(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The packet for the next 20 ms (silence when nothing is queued).
    pub fn next_packet(&mut self) -> Vec<u8> {
        let frame = self
            .queue
            .pop_front()
            .unwrap_or_else(|| Frame::Audio(vec![0; PACKET]));
        let mut payload = Vec::with_capacity(PACKET);
        let (payload_type, timestamp, marker) = match frame {
            Frame::Audio(samples) => {
                self.codec.encode(&samples, &mut payload);
                (self.payload_type, self.timestamp, self.first_packet)
            }
            Frame::Event {
                code,
                duration,
                end,
                first,
            } => {
                if first {
                    self.event_start = self.timestamp;
                }
                payload.push(code);
                payload.push(if end { 0x80 } else { 0 } | VOLUME);
                payload.extend_from_slice(&duration.to_be_bytes());
                (self.event_type.unwrap_or(101), self.event_start, first)
            }
        };
        let mut out = Vec::with_capacity(12 + payload.len());
        RtpPacket {
            marker,
            payload_type,
            sequence: self.sequence,
            timestamp,
            ssrc: self.ssrc,
            payload: &payload,
        }
        .write(&mut out);
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(PACKET as u32);
        self.first_packet = false;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::dtmf::rfc4733::EventReceiver;

    #[test]
    fn a_key_group_is_received_as_those_keys_in_order() {
        let mut out = Outgoing::new(G711::Pcmu, 0, Some(101), 7);
        out.keys("20#").unwrap_or_else(|e| panic!("{e}"));
        let mut receiver = EventReceiver::new();
        let mut keys = String::new();
        while out.busy() {
            let packet = out.next_packet();
            let parsed = RtpPacket::parse(&packet).unwrap_or_else(|e| panic!("{e:?}"));
            if parsed.payload_type == 101 {
                if let Some(digit) = receiver.receive(&parsed) {
                    keys.push(digit.as_char());
                }
            }
        }
        assert_eq!(keys, "20#");
        // Silence after.
        let silence = out.next_packet();
        assert_eq!(RtpPacket::parse(&silence).map(|p| p.payload_type), Ok(0));
    }

    #[test]
    fn keys_need_telephone_events_and_real_keys() {
        let mut out = Outgoing::new(G711::Pcma, 8, None, 1);
        assert_eq!(out.keys("1"), Err(KeyError::NoEvents));
        let mut out = Outgoing::new(G711::Pcma, 8, Some(96), 1);
        assert_eq!(out.keys("1x"), Err(KeyError::NotAKey('x')));
    }
}
