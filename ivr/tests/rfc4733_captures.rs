//! The RFC 4733 receiver on sipp's own DTMF captures (Debian `sip-tester`,
//! /usr/share/sip-tester/dtmf_2833_*.pcap), replayed byte for byte as
//! `play_pcap_audio` does: duration 0 in the first packet, three identical
//! end packets with one sequence number, and a second press of the same key
//! made of the very same packets.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use hotline_ivr::media::dtmf::rfc4733::EventReceiver;
use hotline_ivr::media::rtp::RtpPacket;

const CAPTURES: &str = "/usr/share/sip-tester";

/// The UDP payloads of a classic little-endian pcap file of Ethernet/IPv4.
fn udp_payloads(path: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; the captures come with sipp: install it with `apt-get install -y sip-tester`",
            path.display()
        )
    });
    assert_eq!(&data[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let link = u32::from_le_bytes(data[20..24].try_into().unwrap());
    assert_eq!(link, 1, "Ethernet link type");
    let mut payloads = Vec::new();
    let mut offset = 24;
    while offset + 16 <= data.len() {
        let included =
            u32::from_le_bytes(data[offset + 8..offset + 12].try_into().unwrap()) as usize;
        let frame = &data[offset + 16..offset + 16 + included];
        offset += 16 + included;
        let ip = &frame[14..];
        let header = usize::from(ip[0] & 0x0f) * 4;
        assert_eq!(ip[9], 17, "UDP");
        payloads.push(ip[header + 8..].to_vec());
    }
    payloads
}

fn capture(key: &str) -> Vec<Vec<u8>> {
    udp_payloads(&Path::new(CAPTURES).join(format!("dtmf_2833_{key}.pcap")))
}

fn heard(receiver: &mut EventReceiver, packets: &[Vec<u8>]) -> String {
    packets
        .iter()
        .filter_map(|p| receiver.receive(&RtpPacket::parse(p).unwrap()))
        .map(|d| d.as_char())
        .collect()
}

#[test]
fn every_capture_is_one_digit() {
    for (key, expected) in [
        ("0", "0"),
        ("1", "1"),
        ("2", "2"),
        ("3", "3"),
        ("4", "4"),
        ("5", "5"),
        ("6", "6"),
        ("7", "7"),
        ("8", "8"),
        ("9", "9"),
        ("star", "*"),
        ("pound", "#"),
    ] {
        let mut receiver = EventReceiver::new();
        assert_eq!(
            heard(&mut receiver, &capture(key)),
            expected,
            "capture {key}"
        );
    }
}

#[test]
fn the_same_capture_replayed_is_a_second_digit() {
    let mut receiver = EventReceiver::new();
    let mut stream = capture("1");
    stream.extend(capture("1"));
    stream.extend(capture("pound"));
    assert_eq!(heard(&mut receiver, &stream), "11#");

    let mut receiver = EventReceiver::new();
    let mut stream = Vec::new();
    for key in ["5", "5", "5", "0", "star", "star"] {
        stream.extend(capture(key));
    }
    assert_eq!(heard(&mut receiver, &stream), "5550**");
}

#[test]
fn events_interleaved_with_audio_on_another_ssrc() {
    // Audio packets (PCMU, another SSRC) between the event packets: the call
    // hands only the telephone-event payload type to the receiver, and the
    // events' own SSRC differs from the audio's.
    let events = capture("7");
    let first_event = RtpPacket::parse(&events[0]).unwrap();
    let mut audio = Vec::new();
    RtpPacket {
        marker: false,
        payload_type: 0,
        sequence: 1,
        timestamp: 160,
        ssrc: first_event.ssrc ^ 0xffff,
        payload: &[0xff; 160],
    }
    .write(&mut audio);
    let mut receiver = EventReceiver::new();
    let mut digits = String::new();
    for packet in events.iter().flat_map(|e| [e.clone(), audio.clone()]) {
        let parsed = RtpPacket::parse(&packet).unwrap();
        if parsed.payload_type == first_event.payload_type {
            if let Some(d) = receiver.receive(&parsed) {
                digits.push(d.as_char());
            }
        }
    }
    assert_eq!(digits, "7");
}
