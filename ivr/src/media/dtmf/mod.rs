//! DTMF: the ways to hear the keys of the [`Digit`] keypad in media —
//! in-band tones ([`inband`]) and RFC 4733 events ([`rfc4733`]) — and the
//! [`arbiter`] that makes one press one digit whichever ways it arrives.
//! SIP INFO bodies are SIP's own: `crate::sip::info`.

pub mod arbiter;
pub mod inband;
pub mod rfc4733;

pub use crate::keypad::{Digit, HIGH_HZ, LOW_HZ};
