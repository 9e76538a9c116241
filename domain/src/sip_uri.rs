//! A lawyer's SIP address on the roster, checked when the roster is written
//! and again before an IVR node dials it: the IVR only ever calls addresses
//! of this plain form (`sip:user@host[:port]`), so a roster entry cannot
//! smuggle in parameters, headers or another scheme (toll fraud through a
//! crafted request-URI).

use std::fmt;

/// Longest SIP URI accepted; a real one is far shorter.
pub const MAX_LEN: usize = 200;

/// A checked `sip:user@host[:port]` (the user part optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    pub user: Option<String>,
    /// A host name, an IPv4 address, or an IPv6 address in brackets.
    pub host: String,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipUriError {
    #[error("must start with `sip:` (e.g. sip:li@10.0.0.9:5060)")]
    Scheme,
    #[error("is longer than {MAX_LEN} characters")]
    TooLong,
    #[error("the user part `{0}` may hold only letters, digits and - _ . ! ~ * ' ( ) + % &")]
    User(String),
    #[error("the host `{0}` is not a host name or an IP address")]
    Host(String),
    #[error("the port `{0}` is not a number from 1 to 65535")]
    Port(String),
    #[error("parameters and headers (`;` `?`) are not accepted")]
    Parameters,
}

impl SipUri {
    pub fn parse(text: &str) -> Result<SipUri, SipUriError> {
        if text.len() > MAX_LEN {
            return Err(SipUriError::TooLong);
        }
        let rest = text.strip_prefix("sip:").ok_or(SipUriError::Scheme)?;
        if rest.contains([';', '?']) {
            return Err(SipUriError::Parameters);
        }
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((user, hostport)) => (Some(user), hostport),
            None => (None, rest),
        };
        if let Some(user) = user {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.!~*'()+%&".contains(c);
            if user.is_empty() || !user.chars().all(allowed) {
                return Err(SipUriError::User(user.to_owned()));
            }
        }
        let (host, port) = split_port(hostport)?;
        if !valid_host(host) {
            return Err(SipUriError::Host(host.to_owned()));
        }
        Ok(SipUri {
            user: user.map(str::to_owned),
            host: host.to_owned(),
            port,
        })
    }

    /// `host:port` to resolve, with 5060 when the URI names no port.
    pub fn host_port(&self) -> String {
        format!("{}:{}", self.host, self.port.unwrap_or(5060))
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sip:")?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

fn split_port(hostport: &str) -> Result<(&str, Option<u16>), SipUriError> {
    // `[v6]:port` or `[v6]`: the colons inside the brackets are the address's.
    let (host, port) = if let Some(end) = hostport.find(']') {
        let (host, after) = hostport.split_at(end + 1);
        match after {
            "" => (host, None),
            // `[v6]5060` is no address: only `:` may follow the bracket
            // (read as a port it would show back as `[v6]:5060`).
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(SipUriError::Host(hostport.to_owned())),
            },
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(SipUriError::Port(p.to_owned())),
        },
    };
    Ok((host, port))
}

fn valid_host(host: &str) -> bool {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    // A dotted name of letters, digits and inner hyphens, not all digits
    // (`10.0.0` is a broken address, not a name).
    !host.is_empty()
        && host.len() <= 253
        && !host
            .split('.')
            .all(|l| l.bytes().all(|b| b.is_ascii_digit()))
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_addresses_are_accepted_and_shown_back_unchanged() {
        for text in [
            "sip:lawyer-7@10.0.0.9",
            "sip:lawyer-7@10.0.0.9:5062",
            "sip:8613900000000@trunk.example.cn",
            "sip:li@[2001:db8::1]:5060",
            "sip:pbx.example.cn",
        ] {
            let uri = SipUri::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(uri.to_string(), text);
        }
        let uri = SipUri::parse("sip:li@[2001:db8::1]").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(uri.host_port(), "[2001:db8::1]:5060");
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        let cases = [
            ("tel:+8613900000000", SipUriError::Scheme),
            ("sips:li@example.cn", SipUriError::Scheme),
            ("sip:li@example.cn;transport=tcp", SipUriError::Parameters),
            ("sip:li@example.cn?Subject=x", SipUriError::Parameters),
            ("sip:l i@example.cn", SipUriError::User("l i".into())),
            ("sip:@example.cn", SipUriError::User(String::new())),
            ("sip:li@", SipUriError::Host(String::new())),
            ("sip:li@10.0.0", SipUriError::Host("10.0.0".into())),
            ("sip:li@-bad.cn", SipUriError::Host("-bad.cn".into())),
            ("sip:li@[zz::1]", SipUriError::Host("[zz::1]".into())),
            (
                "sip:li@[2001:db8::1]5060",
                SipUriError::Host("[2001:db8::1]5060".into()),
            ),
            ("sip:li@example.cn:0", SipUriError::Port("0".into())),
            ("sip:li@example.cn:99999", SipUriError::Port("99999".into())),
            ("sip:li@example.cn:+5", SipUriError::Port("+5".into())),
        ];
        for (text, want) in cases {
            assert_eq!(SipUri::parse(text), Err(want), "{text}");
        }
        let long = format!("sip:{}@example.cn", "a".repeat(MAX_LEN));
        assert_eq!(SipUri::parse(&long), Err(SipUriError::TooLong));
    }
}
