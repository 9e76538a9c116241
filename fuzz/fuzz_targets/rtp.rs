#![no_main]
//! Any datagram: parse as RTP; what parses must write back to a packet
//! that parses to the same fields.

use hotline_ivr::media::rtp::RtpPacket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = RtpPacket::parse(data) {
        let mut out = Vec::new();
        p.write(&mut out);
        let back = RtpPacket::parse(&out).expect("our own packet parses");
        assert_eq!(back, p);
    }
});
