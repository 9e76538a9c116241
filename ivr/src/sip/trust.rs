//! Which SIP sources are trusted: the trunks and proxies (SBCs, Kamailio)
//! a centre names by address or CIDR range in `sip_trusted`. Everyone else
//! is untrusted: media only to and from their signalling address, after
//! their ACK (`crate::media::session::MediaTrust`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Trusted sources; empty trusts nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedSources(Vec<IpNet>);

impl TrustedSources {
    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer seen on a dual-stack socket as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why `sip_trusted` cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an address or a CIDR range (e.g. 192.0.2.10 or 10.1.0.0/16)")]
pub struct BadSource(String);

impl FromStr for TrustedSources {
    type Err = BadSource;

    /// Addresses and CIDR ranges separated by commas or spaces; a bare
    /// address is that one host.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadSource(s.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl fmt::Display for TrustedSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&shown.join(","))
    }
}

impl Serialize for TrustedSources {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for TrustedSources {
    /// A string (`"10.0.0.0/8, 192.0.2.7"`) or a list of them.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::One(s) => s,
            Raw::Many(list) => list.join(","),
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_hosts_are_read_and_matched() {
        let t: TrustedSources = "10.1.0.0/16, 192.0.2.7 2001:db8::/32".parse().unwrap();
        assert!(t.contains("10.1.200.3".parse().unwrap()));
        assert!(!t.contains("10.2.0.1".parse().unwrap()));
        assert!(t.contains("192.0.2.7".parse().unwrap()));
        assert!(!t.contains("192.0.2.8".parse().unwrap()));
        assert!(t.contains("2001:db8::1".parse().unwrap()));
        assert!(t.contains("::ffff:192.0.2.7".parse().unwrap()));
        assert_eq!(t.to_string(), "10.1.0.0/16,192.0.2.7/32,2001:db8::/32");
        assert!(TrustedSources::default().is_empty());
        assert_eq!(
            "10.0.0.0/33".parse::<TrustedSources>(),
            Err(BadSource("10.0.0.0/33".into()))
        );
        assert!("example.com".parse::<TrustedSources>().is_err());
    }
}
