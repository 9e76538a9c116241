//! Ticket numbers (登记编号, the registration number a caller hears): 10
//! digits, the last a Luhn check digit.
//!
//! A caller keys the number in on a phone, so a typo must be caught before any
//! lookup: the Luhn digit catches every single-digit error and almost every
//! swap of two neighbouring digits. Numbers are random, so one number reveals
//! nothing about the others.

use std::fmt;

use rand::{Rng, RngExt};

/// Number of digits in a ticket number, check digit included.
pub const TICKET_NUMBER_LEN: usize = 10;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketNumberError {
    #[error("a ticket number has {TICKET_NUMBER_LEN} digits, this one has {0}")]
    Length(usize),
    #[error("a ticket number has only digits")]
    NotDigits,
    #[error("the check digit does not match; please check the number")]
    CheckDigit,
}

impl TicketNumber {
    /// Parses a number as keyed in or typed, checking length, digits and the check digit.
    pub fn parse(text: &str) -> Result<Self, TicketNumberError> {
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TicketNumberError::NotDigits);
        }
        if text.len() != TICKET_NUMBER_LEN {
            return Err(TicketNumberError::Length(text.len()));
        }
        let (body, check) = text.split_at(TICKET_NUMBER_LEN - 1);
        if luhn_check_digit(body) != check.as_bytes()[0] - b'0' {
            return Err(TicketNumberError::CheckDigit);
        }
        Ok(Self(text.to_owned()))
    }

    /// A fresh random number. The first digit is never 0, so the number
    /// always reads back as ten digits, even where leading zeros are dropped.
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let mut body = String::with_capacity(TICKET_NUMBER_LEN);
        body.push(char::from(b'0' + rng.random_range(1..=9u8)));
        for _ in 1..TICKET_NUMBER_LEN - 1 {
            body.push(char::from(b'0' + rng.random_range(0..=9u8)));
        }
        let check = luhn_check_digit(&body);
        body.push(char::from(b'0' + check));
        Self(body)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits one by one, for reading the number out.
    pub fn digits(&self) -> impl Iterator<Item = u8> + '_ {
        self.0.bytes().map(|b| b - b'0')
    }
}

/// The Luhn check digit for a string of ASCII digits.
fn luhn_check_digit(body: &str) -> u8 {
    // Walking from the right, every first, third, … digit is doubled, because
    // the check digit will take the rightmost place.
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TicketNumber({})", self.0)
    }
}

impl std::str::FromStr for TicketNumber {
    type Err = TicketNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn known_luhn_values() {
        // 79927398713 is the textbook Luhn example: body 7992739871, check 3.
        assert_eq!(luhn_check_digit("7992739871"), 3);
        assert_eq!(luhn_check_digit("123456789"), 7);
        assert!(TicketNumber::parse("1234567897").is_ok());
    }

    #[test]
    fn every_single_digit_typo_is_caught() {
        let number = TicketNumber::parse("1234567897").unwrap();
        for pos in 0..TICKET_NUMBER_LEN {
            for d in b'0'..=b'9' {
                let mut typo = number.as_str().as_bytes().to_vec();
                if typo[pos] == d {
                    continue;
                }
                typo[pos] = d;
                let typo = String::from_utf8(typo).unwrap();
                assert_eq!(
                    TicketNumber::parse(&typo),
                    Err(TicketNumberError::CheckDigit),
                    "{typo}"
                );
            }
        }
    }

    #[test]
    fn malformed_numbers_are_refused_with_the_reason() {
        assert_eq!(
            TicketNumber::parse("123"),
            Err(TicketNumberError::Length(3))
        );
        assert_eq!(TicketNumber::parse(""), Err(TicketNumberError::Length(0)));
        assert_eq!(
            TicketNumber::parse("12345a7897"),
            Err(TicketNumberError::NotDigits)
        );
        assert_eq!(
            TicketNumber::parse("١٢٣٤٥٦٧٨٩٧"),
            Err(TicketNumberError::NotDigits)
        );
        assert_eq!(
            TicketNumber::parse("1234567890"),
            Err(TicketNumberError::CheckDigit)
        );
    }

    #[test]
    fn random_numbers_are_valid_and_ten_digits() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..10_000 {
            let n = TicketNumber::random(&mut rng);
            assert_eq!(n.as_str().len(), 10);
            assert_ne!(n.as_str().as_bytes()[0], b'0');
            assert_eq!(TicketNumber::parse(n.as_str()), Ok(n.clone()));
        }
    }
}
