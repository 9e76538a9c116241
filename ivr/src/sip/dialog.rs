//! Dialogs (RFC 3261 §12): one call's identity — Call-ID and tags — its
//! parties, where in-dialog requests go (the remote target, through the
//! route set a record-routing proxy asked for), our CSeq, and where the
//! call stands. The endpoint keeps them by key; requests and responses find
//! theirs by (Call-ID, our tag).

use std::net::{IpAddr, SocketAddr};

use super::endpoint::{Peer, Transport};
use super::message::Message;

/// Our handle on a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CallState {
    /// Inbound INVITE received, no final answer yet.
    Offered,
    /// Our 2xx sent; waiting for the ACK.
    Answered,
    Confirmed,
    /// Outbound INVITE sent.
    Calling,
    Ended,
}

#[derive(Debug)]
pub(super) struct Call {
    pub(super) call_id: String,
    pub(super) peer: Peer,
    pub(super) local: SocketAddr,
    pub(super) local_tag: String,
    pub(super) remote_tag: Option<String>,
    /// Our party as a header value, without the tag.
    pub(super) local_party: String,
    /// The other party as a header value, with its tag.
    pub(super) remote_party: String,
    /// Where in-dialog requests go (the peer's Contact URI).
    pub(super) remote_target: String,
    /// The proxies that asked to stay on the path (Record-Route), in the
    /// order our requests pass them: each request carries them as Route
    /// and goes to the first (RFC 3261 §12.1, §12.2.1.1, loose routing).
    pub(super) route_set: Vec<String>,
    pub(super) local_cseq: u32,
    pub(super) state: CallState,
    /// The INVITE being answered (initial or re-INVITE).
    pub(super) pending_invite: Option<Message>,
    /// A REFER we sent whose outcome is not known yet.
    pub(super) transferring: bool,
    /// For a call from an untrusted source: its address, counted against
    /// the per-source cap until the call ends.
    pub(super) counted: Option<std::net::IpAddr>,
    /// When the initial INVITE of a call from outside came, until the
    /// call's task first answers it (ringing, answer or refusal): how long
    /// that takes tells how far behind the node is.
    pub(super) offered_at: Option<std::time::Instant>,
}

impl Call {
    /// Where a request inside the dialog is sent: the first proxy of the
    /// route set when it names an address (UDP), else where the dialog's
    /// requests came from (a TCP connection stays the connection). A
    /// stranger's call follows its route only back to its own address: a
    /// forged INVITE cannot aim our BYE and its resends at someone else.
    pub(super) fn next_hop(&self) -> Peer {
        let first = self
            .route_set
            .first()
            .and_then(|route| super::build::route_address(route))
            .filter(|addr| self.counted.is_none() || addr.ip() == self.peer.addr.ip())
            .filter(|addr| addr.is_ipv4() == self.peer.addr.is_ipv4());
        match (self.peer.transport, first) {
            (Transport::Udp, Some(addr)) => Peer {
                addr,
                transport: Transport::Udp,
            },
            _ => self.peer,
        }
    }

    /// Our Contact for this dialog: the advertised address, or the one the
    /// call arrived on, with the transport it uses.
    pub(super) fn contact(&self, advertise: Option<IpAddr>) -> String {
        let addr = self.via_addr(advertise);
        let transport = match self.peer.transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        };
        format!("<sip:ivr@{addr}{transport}>")
    }

    /// The address our requests in this dialog name in Via.
    pub(super) fn via_addr(&self, advertise: Option<IpAddr>) -> SocketAddr {
        SocketAddr::new(advertise.unwrap_or(self.local.ip()), self.local.port())
    }
}
