//! GB/T 2260 administrative division codes (行政区划代码), e.g. 440300 Shenzhen.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionCode([u8; 6]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionCodeError {
    #[error("a region code is six digits (GB/T 2260), e.g. 440300")]
    Format,
    #[error("`{0}` is not a GB/T 2260 province-level prefix")]
    Province(String),
}

/// The province-level prefixes of GB/T 2260.
const PROVINCES: &[&str] = &[
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82",
];

impl RegionCode {
    pub fn parse(text: &str) -> Result<Self, RegionCodeError> {
        let bytes: [u8; 6] = text
            .as_bytes()
            .try_into()
            .map_err(|_| RegionCodeError::Format)?;
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Err(RegionCodeError::Format);
        }
        if !PROVINCES.contains(&&text[..2]) {
            return Err(RegionCodeError::Province(text[..2].to_owned()));
        }
        Ok(Self(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegionCode({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_codes_and_refuses_others() {
        assert_eq!(RegionCode::parse("440300").unwrap().as_str(), "440300");
        assert_eq!(RegionCode::parse("110101").unwrap().to_string(), "110101");
        assert_eq!(RegionCode::parse("44030"), Err(RegionCodeError::Format));
        assert_eq!(RegionCode::parse("44030x"), Err(RegionCodeError::Format));
        assert_eq!(
            RegionCode::parse("990000"),
            Err(RegionCodeError::Province("99".into()))
        );
        assert_eq!(RegionCode::parse("四四0300"), Err(RegionCodeError::Format));
    }
}
