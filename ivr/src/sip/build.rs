//! The messages the endpoint builds: every request starts from [`request`]
//! (Via with its branch, then Max-Forwards), the ACK and CANCEL RFC 3261
//! derives from an INVITE, the 400 for a request that did not parse, and
//! the addresses in Contact and Route values.

use std::net::{IpAddr, SocketAddr};

use super::endpoint::Transport;
use super::message::{param, Message, Method, StartLine};

/// What the Server and User-Agent headers say: nothing about the software.
pub const AGENT: &str = "ivr";

/// The methods we take, for Allow.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY";

/// Max-Forwards on every request we start (RFC 3261 §8.1.1.6).
pub const MAX_FORWARDS: &str = "70";

/// A request to `uri` carrying `via` and Max-Forwards; the caller adds the rest.
pub fn request(method: Method, uri: String, via: String) -> Message {
    let mut m = Message {
        start: StartLine::Request { method, uri },
        headers: Vec::new(),
        body: Vec::new(),
    };
    m.add_header("Via", via);
    m.add_header("Max-Forwards", MAX_FORWARDS);
    m
}

/// A Via for a request we send from `addr` with `branch`, asking for rport.
pub fn via(transport: Transport, addr: SocketAddr, branch: &str) -> String {
    format!(
        "SIP/2.0/{} {addr};branch={branch};rport",
        transport.via_name()
    )
}

/// The URI inside a Contact header value.
pub fn contact_uri(value: &str) -> String {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => value[a + 1..b].to_owned(),
        _ => value.split(';').next().unwrap_or(value).trim().to_owned(),
    }
}

/// The address of a route such as `<sip:10.0.0.1:5060;lr>` or
/// `<sip:[2001:db8::1];lr>` (port 5060 when none); `None` for a host name,
/// which this endpoint does not resolve.
pub fn route_address(route: &str) -> Option<SocketAddr> {
    let uri = contact_uri(route);
    let rest = uri
        .get(..4)
        .filter(|scheme| scheme.eq_ignore_ascii_case("sip:"))
        .and(uri.get(4..))?;
    let hostport = rest.split(';').next()?;
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => 5060,
        };
        if !after.is_empty() && !after.starts_with(':') {
            return None;
        }
        return routable(SocketAddr::new(host.parse().ok()?, port));
    }
    let (host, port) = match hostport.split_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (hostport, 5060),
    };
    routable(SocketAddr::new(host.parse::<IpAddr>().ok()?, port))
}

/// An address a request can be sent to: not 0.0.0.0 (a proxy listening
/// on every address records that), multicast or broadcast, nor port 0.
fn routable(addr: SocketAddr) -> Option<SocketAddr> {
    let ip = addr.ip();
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    (addr.port() != 0 && !ip.is_unspecified() && !ip.is_multicast() && !broadcast).then_some(addr)
}

/// The ACK for a failure answer to our INVITE: same branch, same Via (§17.1.1.3).
pub fn ack_for_failure(invite: &Message, resp: &Message) -> Message {
    let uri = match &invite.start {
        StartLine::Request { uri, .. } => uri.clone(),
        StartLine::Response { .. } => String::new(),
    };
    let mut ack = request(
        Method::Ack,
        uri,
        invite.header("Via").unwrap_or_default().to_owned(),
    );
    ack.add_header("From", invite.header("From").unwrap_or_default());
    ack.add_header("To", resp.header("To").unwrap_or_default());
    ack.add_header("Call-ID", invite.call_id());
    let cseq = invite.cseq().map(|(n, _)| n).unwrap_or(1);
    ack.add_header("CSeq", format!("{cseq} ACK"));
    ack
}

/// The CANCEL of our INVITE: same Via, From, To, Call-ID and CSeq number (§9.1).
pub fn cancel_for(invite: &Message) -> Message {
    let uri = match &invite.start {
        StartLine::Request { uri, .. } => uri.clone(),
        StartLine::Response { .. } => String::new(),
    };
    let mut cancel = request(
        Method::Cancel,
        uri,
        invite.header("Via").unwrap_or_default().to_owned(),
    );
    for name in ["From", "To", "Call-ID"] {
        if let Some(v) = invite.header(name) {
            cancel.add_header(name, v);
        }
    }
    let cseq = invite.cseq().map(|(n, _)| n).unwrap_or(1);
    cancel.add_header("CSeq", format!("{cseq} CANCEL"));
    cancel
}

/// A 400 for a request we could not parse, if it carries enough to address
/// the answer (RFC 3261 §8.2.6 needs Via, From, To, Call-ID, CSeq).
pub fn bad_request(data: &[u8], why: &str) -> Option<Vec<u8>> {
    let text =
        std::str::from_utf8(data.get(..data.len().min(super::message::MAX_MESSAGE))?).ok()?;
    let first = text.lines().next()?;
    // Never answer a response, and only answer what looks like a request.
    if first.starts_with("SIP/") || !first.ends_with("SIP/2.0") {
        return None;
    }
    let mut headers = Vec::new();
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        let value = text.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })?;
        headers.push((name.to_owned(), value));
    }
    // Without a branch the answer could not be matched to anything.
    param(&headers[0].1, "branch")?;
    let reason: String = why.chars().filter(|c| !c.is_control()).take(80).collect();
    let mut resp = Message {
        start: StartLine::Response {
            code: 400,
            reason: format!("Bad Request ({reason})"),
        },
        headers,
        body: Vec::new(),
    };
    resp.add_header("Server", AGENT);
    Some(resp.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::route_address;

    #[test]
    fn routes_name_their_proxy() {
        let at = |s: &str| route_address(s).map(|a| a.to_string());
        assert_eq!(
            at("<sip:10.0.0.1:5070;lr>").as_deref(),
            Some("10.0.0.1:5070")
        );
        assert_eq!(
            at("<sip:10.0.0.1;lr;ftag=x>").as_deref(),
            Some("10.0.0.1:5060")
        );
        assert_eq!(
            at("<sip:kamailio@127.0.0.9;lr>").as_deref(),
            Some("127.0.0.9:5060")
        );
        assert_eq!(
            at("<sip:[2001:db8::1]:5080;lr>").as_deref(),
            Some("[2001:db8::1]:5080")
        );
        assert_eq!(at("<sip:proxy.example.cn;lr>"), None);
        assert_eq!(at("<tel:12348>"), None);
        assert_eq!(at("<Sip:10.0.0.1;lr>").as_deref(), Some("10.0.0.1:5060"));
        // Nowhere a request could go.
        for nowhere in [
            "<sip:0.0.0.0;lr=on>",
            "<sip:10.0.0.1:0;lr>",
            "<sip:224.0.0.1;lr>",
            "<sip:255.255.255.255;lr>",
            "<sip:[2001:db8::1]junk;lr>",
        ] {
            assert_eq!(at(nowhere), None, "{nowhere}");
        }
    }
}
