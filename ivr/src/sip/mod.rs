//! SIP (RFC 3261), sans-I/O: bytes and `now` in, bytes to send and events
//! out. [`message`] parses and writes messages and frames them on TCP;
//! [`endpoint`] is the user agent — server and client transactions with
//! their retransmission timers, dialogs, per-source admission limits, and
//! the requests and responses it builds; [`info`] reads SIP INFO
//! `application/dtmf-relay` bodies. The tokio layer that owns the sockets
//! is `crate::service`.

pub mod endpoint;
pub mod info;
pub mod message;
