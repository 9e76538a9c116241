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

/// The three levels of GB/T 2260.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionLevel {
    Province,
    Prefecture,
    County,
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

    /// The level of the division the code names, read off its trailing
    /// zeros: `XX0000` a province, `XXXX00` a prefecture, anything else a
    /// county.
    pub fn level(&self) -> RegionLevel {
        match (&self.0[2..4], &self.0[4..6]) {
            (b"00", b"00") => RegionLevel::Province,
            (_, b"00") => RegionLevel::Prefecture,
            _ => RegionLevel::County,
        }
    }

    /// Whether a lawyer covering `self` covers a ticket from `other`: a
    /// province covers its prefectures and counties, a prefecture its
    /// counties, a county only itself. Never another province, whatever
    /// digits the two codes share.
    pub fn covers(&self, other: &RegionCode) -> bool {
        let prefix = match self.level() {
            RegionLevel::Province => 2,
            RegionLevel::Prefecture => 4,
            RegionLevel::County => 6,
        };
        self.0[..prefix] == other.0[..prefix]
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

    fn code(text: &str) -> RegionCode {
        RegionCode::parse(text).unwrap()
    }

    #[test]
    fn a_province_covers_its_own_divisions_and_never_a_neighbour() {
        // Chongqing (500000) shares the leading 5 with Sichuan, Guizhou,
        // Yunnan and Tibet.
        let chongqing = code("500000");
        assert!(chongqing.covers(&code("500101")));
        assert!(chongqing.covers(&code("500000")));
        for other in ["510100", "520102", "530000", "540102"] {
            assert!(!chongqing.covers(&code(other)), "{other}");
        }
        let chengdu = code("510100");
        assert_eq!(chengdu.level(), RegionLevel::Prefecture);
        assert!(chengdu.covers(&code("510104")));
        assert!(!chengdu.covers(&code("510000")));
        assert!(!chengdu.covers(&code("511000")));
        let county = code("510104");
        assert!(county.covers(&code("510104")));
        assert!(!county.covers(&code("510105")));
        assert!(!county.covers(&code("510100")));
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn any_code() -> impl Strategy<Value = RegionCode> {
            (
                prop::sample::select(PROVINCES),
                0u32..100,
                0u32..100,
                prop::bool::ANY,
                prop::bool::ANY,
            )
                .prop_map(|(p, m, c, zero_m, zero_c)| {
                    let m = if zero_m { 0 } else { m };
                    let c = if zero_c { 0 } else { c };
                    RegionCode::parse(&format!("{p}{m:02}{c:02}")).unwrap()
                })
        }

        proptest! {
            #[test]
            fn coverage_follows_the_levels(a in any_code(), b in any_code()) {
                let covers = a.covers(&b);
                // Never across provinces.
                if a.as_str()[..2] != b.as_str()[..2] {
                    prop_assert!(!covers);
                }
                // Every code covers itself.
                prop_assert!(a.covers(&a));
                // A narrower code never covers a wider one.
                let rank = |c: &RegionCode| match c.level() {
                    RegionLevel::Province => 0,
                    RegionLevel::Prefecture => 1,
                    RegionLevel::County => 2,
                };
                if rank(&b) < rank(&a) {
                    prop_assert!(!covers);
                }
                // Coverage is exactly the shared prefix of the level.
                let len = [2, 4, 6][rank(&a)];
                prop_assert_eq!(covers, a.as_str()[..len] == b.as_str()[..len]);
                // Two codes covering each other are the same code.
                if covers && b.covers(&a) {
                    prop_assert_eq!(a, b);
                }
            }
        }
    }
}
