//! SIP (RFC 3261), sans-I/O: bytes and `now` in, bytes to send and events
//! out, along RFC 3261's own layers: [`message`] parses and writes
//! messages and frames them on TCP; `transaction` keeps the answers and
//! requests that are retransmitted and their timers; `dialog` is one call's
//! identity and state; `admission` decides whether a new call may start
//! (per-source rates, the call cap, draining); [`build`] makes every
//! request and response we send; [`endpoint`] is the user agent that ties
//! them together and is what the tokio layer (`crate::service`) drives.
//! [`info`] reads SIP INFO `application/dtmf-relay` bodies; [`trust`] says
//! which sources are the centre's own trunks and proxies.

pub(crate) mod admission;
pub mod build;
mod dialog;
pub mod endpoint;
pub mod info;
pub mod message;
mod transaction;
pub mod trust;
