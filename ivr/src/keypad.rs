//! The telephone keypad: the sixteen DTMF keys, their characters, RFC 4733
//! event codes and tone pairs. Shared by SIP (INFO bodies), media (RTP
//! events, in-band tones) and the menu, so none of them imports another.

use std::fmt;

/// One DTMF key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Digit {
    D0,
    D1,
    D2,
    D3,
    D4,
    D5,
    D6,
    D7,
    D8,
    D9,
    Star,
    Pound,
    A,
    B,
    C,
    D,
}

/// The keypad: rows by low-group frequency, columns by high-group frequency.
pub const LOW_HZ: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
pub const HIGH_HZ: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYPAD: [[Digit; 4]; 4] = [
    [Digit::D1, Digit::D2, Digit::D3, Digit::A],
    [Digit::D4, Digit::D5, Digit::D6, Digit::B],
    [Digit::D7, Digit::D8, Digit::D9, Digit::C],
    [Digit::Star, Digit::D0, Digit::Pound, Digit::D],
];

impl Digit {
    pub const ALL: [Digit; 16] = [
        Digit::D0,
        Digit::D1,
        Digit::D2,
        Digit::D3,
        Digit::D4,
        Digit::D5,
        Digit::D6,
        Digit::D7,
        Digit::D8,
        Digit::D9,
        Digit::Star,
        Digit::Pound,
        Digit::A,
        Digit::B,
        Digit::C,
        Digit::D,
    ];

    pub fn from_char(c: char) -> Option<Self> {
        Some(match c.to_ascii_uppercase() {
            '0' => Digit::D0,
            '1' => Digit::D1,
            '2' => Digit::D2,
            '3' => Digit::D3,
            '4' => Digit::D4,
            '5' => Digit::D5,
            '6' => Digit::D6,
            '7' => Digit::D7,
            '8' => Digit::D8,
            '9' => Digit::D9,
            '*' => Digit::Star,
            '#' => Digit::Pound,
            'A' => Digit::A,
            'B' => Digit::B,
            'C' => Digit::C,
            'D' => Digit::D,
            _ => return None,
        })
    }

    pub fn as_char(self) -> char {
        match self {
            Digit::D0 => '0',
            Digit::D1 => '1',
            Digit::D2 => '2',
            Digit::D3 => '3',
            Digit::D4 => '4',
            Digit::D5 => '5',
            Digit::D6 => '6',
            Digit::D7 => '7',
            Digit::D8 => '8',
            Digit::D9 => '9',
            Digit::Star => '*',
            Digit::Pound => '#',
            Digit::A => 'A',
            Digit::B => 'B',
            Digit::C => 'C',
            Digit::D => 'D',
        }
    }

    /// RFC 4733 event code: 0–9, then * 10, # 11, A–D 12–15.
    pub fn event_code(self) -> u8 {
        match self {
            Digit::Star => 10,
            Digit::Pound => 11,
            Digit::A => 12,
            Digit::B => 13,
            Digit::C => 14,
            Digit::D => 15,
            d => d.as_char() as u8 - b'0',
        }
    }

    pub fn from_event_code(code: u8) -> Option<Self> {
        Digit::ALL.iter().copied().find(|d| d.event_code() == code)
    }

    /// The (low, high) frequencies of the key's tone pair.
    pub fn frequencies(self) -> (f64, f64) {
        for (row, keys) in KEYPAD.iter().enumerate() {
            if let Some(col) = keys.iter().position(|&k| k == self) {
                return (LOW_HZ[row], HIGH_HZ[col]);
            }
        }
        unreachable!("every digit is on the keypad")
    }

    pub(crate) fn from_position(row: usize, col: usize) -> Digit {
        KEYPAD[row][col]
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_round_trip_through_chars_codes_and_the_keypad() {
        for d in Digit::ALL {
            assert_eq!(Digit::from_char(d.as_char()), Some(d));
            assert_eq!(Digit::from_event_code(d.event_code()), Some(d));
            let (low, high) = d.frequencies();
            let row = LOW_HZ.iter().position(|&f| f == low).unwrap();
            let col = HIGH_HZ.iter().position(|&f| f == high).unwrap();
            assert_eq!(Digit::from_position(row, col), d);
        }
        assert_eq!(Digit::Pound.event_code(), 11);
        assert_eq!(Digit::from_char('x'), None);
        assert_eq!(Digit::from_event_code(16), None);
    }
}
