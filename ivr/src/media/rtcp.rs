//! Minimal RTCP (RFC 3550 §6): a sender report with our SSRC, clocks and
//! counts, compounded with an SDES CNAME, every few seconds. Enough for
//! peers and monitoring to see a live stream; we do not act on reports.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds between 1900 (NTP) and 1970 (Unix).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// How often a sender report goes out.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// What a sender report says about our stream.
#[derive(Debug, Clone, Copy)]
pub struct SenderInfo {
    pub ssrc: u32,
    pub rtp_timestamp: u32,
    pub packets: u32,
    pub octets: u32,
}

/// An SR + SDES(CNAME) compound packet.
pub fn sender_report(info: SenderInfo, wall_clock: SystemTime, cname: &str) -> Vec<u8> {
    let since_epoch = wall_clock.duration_since(UNIX_EPOCH).unwrap_or_default();
    let ntp_seconds = (since_epoch.as_secs() + NTP_UNIX_OFFSET) as u32;
    let ntp_fraction = ((u64::from(since_epoch.subsec_nanos()) << 32) / 1_000_000_000) as u32;
    let mut out = Vec::with_capacity(64);
    // SR: V=2, no padding, no report blocks; length in 32-bit words minus one.
    out.extend_from_slice(&[0x80, 200, 0, 6]);
    out.extend_from_slice(&info.ssrc.to_be_bytes());
    out.extend_from_slice(&ntp_seconds.to_be_bytes());
    out.extend_from_slice(&ntp_fraction.to_be_bytes());
    out.extend_from_slice(&info.rtp_timestamp.to_be_bytes());
    out.extend_from_slice(&info.packets.to_be_bytes());
    out.extend_from_slice(&info.octets.to_be_bytes());
    // SDES with one chunk: SSRC, CNAME item, end, padded to a word.
    let cname = &cname.as_bytes()[..cname.len().min(255)];
    let mut chunk = Vec::with_capacity(8 + cname.len());
    chunk.extend_from_slice(&info.ssrc.to_be_bytes());
    chunk.push(1);
    chunk.push(cname.len() as u8);
    chunk.extend_from_slice(cname);
    chunk.push(0);
    while chunk.len() % 4 != 0 {
        chunk.push(0);
    }
    let words = (4 + chunk.len()) / 4 - 1;
    out.extend_from_slice(&[0x81, 202]);
    out.extend_from_slice(&(words as u16).to_be_bytes());
    out.extend_from_slice(&chunk);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_compound_packet() {
        let info = SenderInfo {
            ssrc: 0x1234_5678,
            rtp_timestamp: 160,
            packets: 10,
            octets: 1600,
        };
        let packet = sender_report(info, UNIX_EPOCH + Duration::from_secs(1), "ivr@hotline");
        // SR is 28 bytes; SDES header 4 + chunk (4 SSRC + 2 + 11 + 1 end = 18 → 20).
        assert_eq!(packet.len(), 28 + 24);
        assert_eq!(packet[1], 200);
        assert_eq!(u16::from_be_bytes([packet[2], packet[3]]), 6);
        assert_eq!(&packet[8..12], &(NTP_UNIX_OFFSET as u32 + 1).to_be_bytes());
        assert_eq!(packet[28], 0x81);
        assert_eq!(packet[29], 202);
        let sdes_words = u16::from_be_bytes([packet[30], packet[31]]) as usize;
        assert_eq!((sdes_words + 1) * 4, packet.len() - 28);
        assert_eq!(&packet[38..49], b"ivr@hotline");
    }
}
