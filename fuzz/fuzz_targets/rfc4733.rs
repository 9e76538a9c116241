#![no_main]
//! A stream of datagrams (split on 0xFF 0x00) through the RTP parser and the
//! telephone-event receiver: never a panic, at most one digit per packet.

use hotline_ivr::media::dtmf::rfc4733::EventReceiver;
use hotline_ivr::media::rtp::RtpPacket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut receiver = EventReceiver::new();
    for datagram in data.split(|&b| b == 0xff) {
        if let Ok(p) = RtpPacket::parse(datagram) {
            let _ = receiver.receive(&p);
        }
    }
});
