//! The telephony service of the hotline: answers SIP calls, plays prompts,
//! hears DTMF, records messages and runs the 12348 menus.
//!
//! Built so far: [`media`] — G.711 and the DTMF detectors, as sans-I/O state
//! machines (samples or packets in, digits out). SIP, RTP transport and the
//! menus come next (see the telephony and call-flow issues).

pub mod media;
