//! Media, sans-I/O: G.711 ([`codec`]), shared playable audio ([`clip`]), RTP and RTCP packets ([`rtp`],
//! [`rtcp`]), SDP offer/answer ([`sdp`]), DTMF from RTP events and in-band
//! tones ([`dtmf`]), telephone WAV files ([`wav`]), and one call's media
//! state machine — pacing, latching, jitter, playout, recording — in
//! [`session`]. Everything here takes samples, packets and `now`, returns
//! results, and never touches a socket or reads a clock.

pub mod clip;
pub mod codec;
pub mod dtmf;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod session;
pub mod wav;
