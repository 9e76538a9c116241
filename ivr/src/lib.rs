//! The telephony service of the hotline: answers SIP calls, plays prompts,
//! hears DTMF, records messages and runs the 12348 menus.
//!
//! Sans-I/O (input and `now` in, output out): [`media`] — G.711, RTP, SDP
//! offer/answer, the three DTMF detectors, the media session — [`sip`]
//! messages and the endpoint, and the [`menu`] call flow. The tokio layer
//! is [`service`]; [`tickets`] reaches ticketing through a durable outbox;
//! [`admin`] serves live calls, menu reloads and flow metrics; [`paging`]
//! calls duty lawyers about the offers ticketing pages them for; [`bridge`]
//! connects a lawyer to a caller (click-to-call).

pub mod admin;
pub mod bridge;
pub mod keypad;
pub mod media;
pub mod menu;
pub mod paging;
pub mod probe;
pub mod prompts;
pub mod service;
pub mod sip;
pub mod tickets;
