//! RTP packets (RFC 3550): parsing what arrives and building what we send.
//! Parsing never panics: anything that is not a well-formed RTP version 2
//! packet is an error the caller counts and drops.

/// A parsed RTP packet, borrowing its payload from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("shorter than an RTP header")]
    Short,
    #[error("RTP version {0}, expected 2")]
    Version(u8),
    #[error("header, extension or padding runs past the end of the datagram")]
    Truncated,
    #[error("payload type {0} is RTCP, not RTP")]
    Rtcp(u8),
}

const HEADER: usize = 12;

impl<'a> RtpPacket<'a> {
    pub fn parse(datagram: &'a [u8]) -> Result<Self, RtpError> {
        if datagram.len() < HEADER {
            return Err(RtpError::Short);
        }
        let version = datagram[0] >> 6;
        if version != 2 {
            return Err(RtpError::Version(version));
        }
        let padding = datagram[0] & 0x20 != 0;
        let extension = datagram[0] & 0x10 != 0;
        let csrc_count = usize::from(datagram[0] & 0x0f);
        let marker = datagram[1] & 0x80 != 0;
        let payload_type = datagram[1] & 0x7f;
        // RTCP shares the port: its packet types (192–223, 200–204 the
        // common ones) land on 64–95 with the marker bit, a range RTP
        // leaves alone where the two are multiplexed (RFC 5761 §4).
        if (64..=95).contains(&payload_type) {
            return Err(RtpError::Rtcp(payload_type));
        }
        let mut start = HEADER + 4 * csrc_count;
        if extension {
            let words = datagram
                .get(start + 2..start + 4)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .ok_or(RtpError::Truncated)?;
            start += 4 + 4 * words;
        }
        let mut end = datagram.len();
        if padding {
            let pad = usize::from(*datagram.last().ok_or(RtpError::Truncated)?);
            if pad == 0 {
                return Err(RtpError::Truncated);
            }
            end = end.checked_sub(pad).ok_or(RtpError::Truncated)?;
        }
        if start > end {
            return Err(RtpError::Truncated);
        }
        Ok(Self {
            marker,
            payload_type,
            sequence: u16::from_be_bytes([datagram[2], datagram[3]]),
            timestamp: u32::from_be_bytes([datagram[4], datagram[5], datagram[6], datagram[7]]),
            ssrc: u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]),
            payload: &datagram[start..end],
        })
    }

    /// Writes the packet (no CSRCs, extension or padding) into `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(0x80);
        out.push(u8::from(self.marker) << 7 | (self.payload_type & 0x7f));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(self.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_parses_back() {
        let packet = RtpPacket {
            marker: true,
            payload_type: 0,
            sequence: 65535,
            timestamp: 0xdead_beef,
            ssrc: 0x0102_0304,
            payload: &[1, 2, 3],
        };
        let mut bytes = Vec::new();
        packet.write(&mut bytes);
        assert_eq!(bytes.len(), 15);
        assert_eq!(RtpPacket::parse(&bytes), Ok(packet));
    }

    #[test]
    fn csrcs_extension_and_padding_are_skipped() {
        let mut bytes = vec![0x80 | 0x20 | 0x10 | 0x01, 8, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        bytes.extend_from_slice(&[9, 9, 9, 9]); // one CSRC
        bytes.extend_from_slice(&[0xbe, 0xde, 0, 1, 7, 7, 7, 7]); // extension, one word
        bytes.extend_from_slice(&[42, 43]); // payload
        bytes.extend_from_slice(&[0, 2]); // two bytes of padding; the last byte counts them
        let p = RtpPacket::parse(&bytes).unwrap();
        assert_eq!(p.payload, &[42, 43]);
        assert_eq!(p.payload_type, 8);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(RtpPacket::parse(&[]), Err(RtpError::Short));
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::Version(1)));
        assert_eq!(
            RtpPacket::parse(&[0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::Truncated)
        );
        assert_eq!(
            RtpPacket::parse(&[0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::Truncated)
        );
        assert_eq!(
            RtpPacket::parse(&[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200]),
            Err(RtpError::Truncated)
        );
        assert_eq!(
            RtpPacket::parse(&[0x80, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(RtpError::Rtcp(72))
        );
    }
}
