//! RFC 4733 telephone-events: one key press from a stream of event packets.
//!
//! A sender repeats an event's packets as the key is held and ends with
//! (usually three) end packets. Real senders differ, and the receiver must
//! take them all:
//! - a new event starts with the marker bit, a new RTP timestamp, or a
//!   non-end packet after end packets;
//! - repeated end packets, with the same or different sequence numbers, are
//!   the one event they end;
//! - a first packet may carry duration 0;
//! - events may come on their own SSRC, interleaved with audio;
//! - a capture replayed byte for byte (sipp's `play_pcap_audio`) sends the
//!   very same packets for a second press of the same key: the marker bit
//!   after end packets makes it a second digit.
//!
//! Sans-I/O: feed the event payloads of one call, get digits.

use super::Digit;
use crate::media::rtp::RtpPacket;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub code: u8,
    pub end: bool,
    pub volume: u8,
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the 4-byte event payload; extra bytes (redundancy) are ignored.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let b = payload.get(..4)?;
        Some(Self {
            code: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3f,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Current {
    ssrc: u32,
    timestamp: u32,
    code: u8,
    ended: bool,
}

/// Turns one call's telephone-event packets into digits.
#[derive(Debug, Default)]
pub struct EventReceiver {
    current: Option<Current>,
}

impl EventReceiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one packet of the negotiated telephone-event payload type.
    /// Returns the digit when the packet starts a new key press.
    pub fn receive(&mut self, packet: &RtpPacket<'_>) -> Option<Digit> {
        let event = TelephoneEvent::parse(packet.payload)?;
        let new_event = match self.current {
            None => true,
            Some(c) => {
                let retransmitted_start = packet.marker
                    && !c.ended
                    && c.timestamp == packet.timestamp
                    && c.code == event.code;
                (packet.marker && !retransmitted_start)
                    || c.timestamp != packet.timestamp
                    || c.ssrc != packet.ssrc
                    || (c.ended && !event.end)
                    // Same timestamp, a different key: a sender that reuses it.
                    || c.code != event.code
            }
        };
        if new_event {
            self.current = Some(Current {
                ssrc: packet.ssrc,
                timestamp: packet.timestamp,
                code: event.code,
                ended: event.end,
            });
            // Codes above 15 (flash, tones) are events, but not keys.
            return Digit::from_event_code(event.code);
        }
        if let Some(c) = &mut self.current {
            c.ended |= event.end;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(marker: bool, seq: u16, ts: u32, code: u8, end: bool, duration: u16) -> Vec<u8> {
        let payload = [
            code,
            if end { 0x8a } else { 0x0a },
            (duration >> 8) as u8,
            duration as u8,
        ];
        let mut bytes = Vec::new();
        RtpPacket {
            marker,
            payload_type: 101,
            sequence: seq,
            timestamp: ts,
            ssrc: 7,
            payload: &payload,
        }
        .write(&mut bytes);
        bytes
    }

    /// A key press as baresip sends it: 20 ms updates, three end packets
    /// with distinct sequence numbers.
    fn press(seq: u16, ts: u32, code: u8) -> Vec<Vec<u8>> {
        let mut packets = vec![packet(true, seq, ts, code, false, 160)];
        for i in 1..5 {
            packets.push(packet(false, seq + i, ts, code, false, 160 * (i + 1)));
        }
        for i in 5..8 {
            packets.push(packet(false, seq + i, ts, code, true, 800));
        }
        packets
    }

    fn run(receiver: &mut EventReceiver, packets: &[Vec<u8>]) -> String {
        packets
            .iter()
            .filter_map(|p| receiver.receive(&RtpPacket::parse(p).unwrap()))
            .map(|d| d.as_char())
            .collect()
    }

    #[test]
    fn one_press_is_one_digit() {
        let mut r = EventReceiver::new();
        assert_eq!(run(&mut r, &press(100, 8000, 5)), "5");
    }

    #[test]
    fn consecutive_presses_with_new_timestamps() {
        let mut r = EventReceiver::new();
        let mut all = press(100, 8000, 1);
        all.extend(press(108, 9600, 1));
        all.extend(press(116, 11200, 11));
        assert_eq!(run(&mut r, &all), "11#");
    }

    #[test]
    fn a_lost_marker_still_starts_a_new_event_on_a_new_timestamp() {
        let mut r = EventReceiver::new();
        let mut all = press(100, 8000, 2);
        let mut second = press(108, 9600, 2);
        second.remove(0);
        all.extend(second);
        assert_eq!(run(&mut r, &all), "22");
    }

    #[test]
    fn a_retransmitted_start_packet_is_not_a_second_press() {
        let mut r = EventReceiver::new();
        let mut all = vec![packet(true, 100, 8000, 3, false, 0)];
        all.push(packet(true, 100, 8000, 3, false, 0));
        all.push(packet(false, 101, 8000, 3, true, 320));
        all.push(packet(false, 101, 8000, 3, true, 320));
        assert_eq!(run(&mut r, &all), "3");
    }

    #[test]
    fn short_payloads_and_unknown_codes_are_ignored() {
        let mut r = EventReceiver::new();
        let mut bytes = Vec::new();
        RtpPacket {
            marker: true,
            payload_type: 101,
            sequence: 1,
            timestamp: 1,
            ssrc: 1,
            payload: &[1, 2],
        }
        .write(&mut bytes);
        assert_eq!(r.receive(&RtpPacket::parse(&bytes).unwrap()), None);
        assert_eq!(run(&mut r, &[packet(true, 2, 2, 16, false, 0)]), "");
    }
}
