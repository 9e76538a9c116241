//! SIP INFO `application/dtmf-relay` bodies: `Signal=5` and `Duration=160`
//! lines, as Cisco and most PBXs send them.

use crate::keypad::Digit;

/// The key in a dtmf-relay body, if it names one. Lines may end in CRLF or
/// LF, keys are case-insensitive, and spaces around `=` are allowed.
pub fn parse_dtmf_relay(body: &str) -> Option<Digit> {
    body.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("signal") {
            return None;
        }
        let value = value.trim();
        let mut chars = value.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Digit::from_char(c),
            // Some gateways send the RFC 4733 code for * and # (10, 11).
            _ => value.parse::<u8>().ok().and_then(Digit::from_event_code),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_gateways_send() {
        assert_eq!(
            parse_dtmf_relay("Signal=5\r\nDuration=160\r\n"),
            Some(Digit::D5)
        );
        assert_eq!(
            parse_dtmf_relay("signal = #\nduration=100"),
            Some(Digit::Pound)
        );
        assert_eq!(parse_dtmf_relay("Signal=*\r\n"), Some(Digit::Star));
        assert_eq!(parse_dtmf_relay("Signal=11\r\n"), Some(Digit::Pound));
        assert_eq!(parse_dtmf_relay("Signal=a\r\n"), Some(Digit::A));
        assert_eq!(parse_dtmf_relay("Duration=160\r\n"), None);
        assert_eq!(parse_dtmf_relay("Signal=\r\n"), None);
        assert_eq!(parse_dtmf_relay("Signal=xyz\r\n"), None);
        assert_eq!(parse_dtmf_relay(""), None);
    }
}
