//! The telephony service of the hotline: answers SIP calls, plays prompts,
//! hears DTMF, records messages and runs the 12348 menus.
//!
//! Built so far, all sans-I/O (input and `now` in, output out): [`media`] —
//! G.711, RTP packets, SDP offer/answer and the three DTMF detectors — and
//! [`sip`] messages. Transactions, dialogs, the tokio driver and the menus
//! come next (see the telephony and call-flow issues).

pub mod admin;
pub mod media;
pub mod menu;
pub mod service;
pub mod sip;
pub mod tickets;
