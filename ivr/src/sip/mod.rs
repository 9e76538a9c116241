//! SIP (RFC 3261): messages now; transactions, dialogs and the transport
//! driver come next. Protocol logic here is sans-I/O: bytes and `now` in,
//! bytes to send and events out.

pub mod endpoint;
pub mod message;
