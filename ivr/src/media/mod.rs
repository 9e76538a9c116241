//! Media: codecs, DTMF detection and, later, RTP sessions and recording.
//! Everything here is sans-I/O: it takes samples or packets and returns
//! results, and never touches a socket or a clock.

pub mod codec;
pub mod dtmf;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod session;
pub mod wav;
