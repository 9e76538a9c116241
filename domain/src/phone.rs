//! Phone numbers: validated at the edge, masked whenever printed.
//!
//! A caller's number is personal information. `Display` and `Debug` both
//! print the masked form (`138****5678`), so a number that slips into a log
//! line is masked by construction; the full digits come only from
//! [`PhoneNumber::as_str`], for the lawyer who must call back.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("a phone number has only digits, with an optional leading +")]
    NotDigits,
    #[error("a phone number has 3 to 20 digits, this one has {0}")]
    Length(usize),
}

/// [`PhoneNumber::is_callable`] on bare digits (a keyed-in number).
pub fn callable(digits: &str) -> bool {
    let b = digits.as_bytes();
    if b.len() < 2 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mobile = b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]);
    let landline = (10..=12).contains(&b.len()) && b[0] == b'0' && b[1] != b'0';
    mobile || landline
}

impl PhoneNumber {
    /// Accepts what telephone networks deliver: digits, an optional leading
    /// `+`, with spaces and dashes ignored.
    pub fn parse(text: &str) -> Result<Self, PhoneNumberError> {
        let trimmed = text.trim();
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => ("+", rest),
            None => ("", trimmed),
        };
        let mut digits = String::with_capacity(rest.len() + 1);
        digits.push_str(plus);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' => {}
                _ => return Err(PhoneNumberError::NotDigits),
            }
        }
        let count = digits.len() - plus.len();
        if !(3..=20).contains(&count) {
            return Err(PhoneNumberError::Length(count));
        }
        Ok(Self(digits))
    }

    /// Whether the centre can call this number back: a mainland mobile
    /// (11 digits, 13x to 19x) or a landline with its area code (10 to 12
    /// digits from 0). Extensions, short codes and trunk placeholders are
    /// numbers too, but nobody can be reached at them.
    pub fn is_callable(&self) -> bool {
        callable(&self.0)
    }

    /// The full number. Use only where the reader may see it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with its middle hidden: `13812345678` → `138****5678`.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }

    /// The last four digits, as the IVR reads them back ("the number ending in 5678").
    pub fn last_four(&self) -> &str {
        &self.0[self.0.len().saturating_sub(4)..]
    }
}

/// Masks any digit string: keeps the first three and last four digits of a
/// long number, and only the last two of a short one.
pub fn mask(number: &str) -> String {
    let n = number.chars().count();
    if n >= 9 {
        let head: String = number.chars().take(3).collect();
        let tail: String = number.chars().skip(n - 4).collect();
        format!("{head}****{tail}")
    } else {
        let keep = n.min(2);
        let tail: String = number.chars().skip(n - keep).collect();
        format!("{}{tail}", "*".repeat(n - keep))
    }
}

/// What a caller keyed, fit for a log line or the live-call board: every
/// run of five or more digits (a phone number, a date, a ticket number
/// being looked up) masked as [`mask`] masks numbers; menu choices stay.
pub fn mask_keys(keys: &str) -> String {
    let mut out = String::with_capacity(keys.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 5 {
            out.push_str(&mask(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in keys.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Free text (a note, a reason, an outcome, a Call-ID) with every number
/// that could be a phone number blanked: each run of at least seven digits, counting
/// across single spaces, dashes and dots between them (`138 1234 5678`,
/// `021-6123-4567`), has every digit replaced by `*`: a local number has
/// eight digits, so a written date goes too. Shorter figures (an amount, a
/// time, a room) stay.
pub fn blank_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = chars.clone();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // The run: digits, with single separators between digit groups.
        let start = i;
        let mut end = i;
        let mut digits = 0;
        let mut j = i;
        while j < chars.len() {
            if chars[j].is_ascii_digit() {
                digits += 1;
                end = j + 1;
                j += 1;
            } else if matches!(chars[j], ' ' | '-' | '.')
                && chars.get(j + 1).is_some_and(char::is_ascii_digit)
            {
                j += 1;
            } else {
                break;
            }
        }
        if digits >= 7 {
            for c in &mut out[start..end] {
                if c.is_ascii_digit() {
                    *c = '*';
                }
            }
        }
        i = end.max(i + 1);
    }
    out.into_iter().collect()
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_free_text_are_blanked_and_other_figures_stay() {
        assert_eq!(
            blank_numbers("call 13812345678 or 021-6123-4567, not after 18.30"),
            "call *********** or ***-****-****, not after 18.30"
        );
        assert_eq!(
            blank_numbers("mobile 138 1234 5678."),
            "mobile *** **** ****."
        );
        // A written date looks like a local number (8 digits) and goes too:
        // after anonymisation, better one figure too many blanked.
        assert_eq!(
            blank_numbers("owed 12000 yuan since 2025-03-01, room 301"),
            "owed 12000 yuan since ****-**-**, room 301"
        );
        assert_eq!(blank_numbers("家属电话13987654321"), "家属电话***********");
        assert_eq!(blank_numbers(""), "");
    }

    #[test]
    fn masks_like_the_design_says() {
        let n = PhoneNumber::parse("13812345678").unwrap();
        assert_eq!(n.masked(), "138****5678");
        assert_eq!(n.to_string(), "138****5678");
        assert_eq!(format!("{n:?}"), "PhoneNumber(138****5678)");
        assert_eq!(n.as_str(), "13812345678");
        assert_eq!(n.last_four(), "5678");
        assert_eq!(mask("12345"), "***45");
        assert_eq!(mask("+8613812345678"), "+86****5678");
        assert_eq!(mask_keys("12#"), "12#");
        assert_eq!(mask_keys("1213812345678#1"), "121****5678#1");
        assert_eq!(mask_keys("9*20261101#"), "9*******01#");
        assert_eq!(mask_keys(""), "");
    }

    #[test]
    fn parses_what_networks_send_and_refuses_the_rest() {
        assert_eq!(
            PhoneNumber::parse(" 010-6512 3456 ").unwrap().as_str(),
            "01065123456"
        );
        assert_eq!(
            PhoneNumber::parse("+8613812345678").unwrap().as_str(),
            "+8613812345678"
        );
        assert_eq!(PhoneNumber::parse("12"), Err(PhoneNumberError::Length(2)));
        assert_eq!(
            PhoneNumber::parse("anonymous"),
            Err(PhoneNumberError::NotDigits)
        );
        assert_eq!(PhoneNumber::parse("+"), Err(PhoneNumberError::Length(0)));
        assert_eq!(
            PhoneNumber::parse("1".repeat(21).as_str()),
            Err(PhoneNumberError::Length(21))
        );
    }
}
