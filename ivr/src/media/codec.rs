//! G.711 µ-law (PCMU) and A-law (PCMA), through `audio-codec-algorithms`
//! rather than hand-written tables.

use audio_codec_algorithms::{decode_alaw, decode_ulaw, encode_alaw, encode_ulaw};

/// The two G.711 laws, with their static RTP payload types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum G711 {
    /// µ-law, RTP payload type 0.
    Pcmu,
    /// A-law, RTP payload type 8.
    Pcma,
}

impl G711 {
    pub fn payload_type(self) -> u8 {
        match self {
            G711::Pcmu => 0,
            G711::Pcma => 8,
        }
    }

    /// The byte a zero sample encodes to: what silence is sent as.
    pub fn silence(self) -> u8 {
        match self {
            G711::Pcmu => encode_ulaw(0),
            G711::Pcma => encode_alaw(0),
        }
    }

    pub fn encode(self, samples: &[i16], out: &mut Vec<u8>) {
        out.extend(samples.iter().map(|&s| match self {
            G711::Pcmu => encode_ulaw(s),
            G711::Pcma => encode_alaw(s),
        }));
    }

    pub fn decode(self, payload: &[u8], out: &mut Vec<i16>) {
        out.extend(payload.iter().map(|&b| match self {
            G711::Pcmu => decode_ulaw(b),
            G711::Pcma => decode_alaw(b),
        }));
    }

    /// Encodes and decodes again, as a call through a G.711 network would.
    pub fn round_trip(self, samples: &[i16]) -> Vec<i16> {
        let mut encoded = Vec::with_capacity(samples.len());
        self.encode(samples, &mut encoded);
        let mut decoded = Vec::with_capacity(samples.len());
        self.decode(&encoded, &mut decoded);
        decoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_the_signal_within_quantisation_error() {
        let tone: Vec<i16> = (0..800)
            .map(|n| {
                (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * n as f64 / 8000.0).sin()) as i16
            })
            .collect();
        for law in [G711::Pcmu, G711::Pcma] {
            let back = law.round_trip(&tone);
            for (a, b) in tone.iter().zip(&back) {
                // Companding keeps about 8 bits of precision relative to the level.
                assert!(
                    (i32::from(*a) - i32::from(*b)).abs() <= 8000 / 16 + 16,
                    "{law:?}: {a} vs {b}"
                );
            }
        }
        assert_eq!(G711::Pcmu.payload_type(), 0);
        assert_eq!(G711::Pcma.payload_type(), 8);
    }
}
