//! The IVR's own identity for a call. The SIP Call-ID is chosen by the
//! caller's side: two callers may send the same one (a broken gateway, or
//! someone replaying an INVITE), and its characters and length are the
//! peer's. So the idempotency key of the caller's ticket, the recording's
//! file name, the live-call board and the logs use this id instead: random,
//! fixed length, lower-case hex, safe in a key, a file name and a log line.
//! The Call-ID stays a field of the call, shown shortened.

use rand::{Rng, SeedableRng};

/// 128 random bits as 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallRef(String);

/// Keeps the call's id apart from the other values drawn from its seed
/// (RTP port, SDP id, ticket number), which use the seed as it is.
const SALT: u64 = 0x6361_6c6c_2d72_6566;

impl CallRef {
    /// The id of the call whose values are drawn from `seed` (random in
    /// service, fixed in a replayed test).
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ SALT);
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        debug_assert_eq!(text.len(), hotline_domain::limits::CALL_REF_LEN);
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CallRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_length_hex_distinct_per_seed_and_replayable() {
        let a = CallRef::from_seed(1);
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, CallRef::from_seed(1));
        assert_ne!(a, CallRef::from_seed(2));
    }
}
