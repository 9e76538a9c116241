//! The State Council holiday calendar and working-day arithmetic.
//!
//! Each year's notice (国务院办公厅关于…部分节假日安排的通知) lists days off
//! and weekend days that are working days (调休上班). The calendar ships in
//! `domain/data/cn-holidays.toml` and can be replaced by a newer file without
//! a release. A date in a year the calendar lacks is judged by weekends only,
//! and every answer says whether the calendar covered it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::Deserialize;

/// The calendar shipped with this version.
pub const BUNDLED: &str = include_str!("../data/cn-holidays.toml");
const BUNDLED_NAME: &str = "domain/data/cn-holidays.toml (bundled)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolidayCalendar {
    years: BTreeSet<i32>,
    /// Days off, with the holiday's name.
    holidays: BTreeMap<NaiveDate, String>,
    /// Weekend days that are working days.
    workdays: BTreeSet<NaiveDate>,
}

/// A calendar file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct CalendarError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    holidays: Vec<HolidayFile>,
    #[serde(default)]
    workdays: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    sources: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayFile {
    name: String,
    from: String,
    to: String,
}

/// Whether a day is a working day, and whether the calendar knew its year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayKind {
    pub working: bool,
    /// False when the year is not in the calendar: weekends only.
    pub covered: bool,
}

impl HolidayCalendar {
    /// The calendar shipped with this version.
    pub fn bundled() -> Result<Self, CalendarError> {
        Self::parse(BUNDLED, BUNDLED_NAME)
    }

    /// Reads a calendar file; a malformed one is refused with file, line and reason.
    pub fn load(path: &Path) -> Result<Self, CalendarError> {
        let text = std::fs::read_to_string(path).map_err(|e| CalendarError {
            file: path.display().to_string(),
            line: 0,
            reason: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, file: &str) -> Result<Self, CalendarError> {
        let fail = |offset: Option<usize>, reason: String| CalendarError {
            file: file.to_owned(),
            line: offset.map_or(0, |o| line_of(text, o)),
            reason,
        };
        let table: BTreeMap<String, toml::Value> = toml::from_str(text)
            .map_err(|e| fail(e.span().map(|s| s.start), e.message().to_owned()))?;
        let mut calendar = HolidayCalendar {
            years: BTreeSet::new(),
            holidays: BTreeMap::new(),
            workdays: BTreeSet::new(),
        };
        for (key, value) in table {
            let at = find(text, &format!("[{key}]"));
            let year: i32 = key
                .parse()
                .ok()
                .filter(|y| (1990..=2200).contains(y))
                .ok_or_else(|| {
                    fail(
                        at,
                        format!("`{key}` is not a year (a table per year, e.g. [2026])"),
                    )
                })?;
            let parsed: YearFile = value
                .try_into()
                .map_err(|e: toml::de::Error| fail(at, format!("[{year}]: {}", e.message())))?;
            let date = |value: &str| -> Result<NaiveDate, CalendarError> {
                let here = find_after(text, value, at);
                let d = NaiveDate::parse_from_str(value, "%Y-%m-%d")
                    .map_err(|_| fail(here, format!("`{value}` is not a date as YYYY-MM-DD")))?;
                // A New Year holiday may begin in the last days of the year before.
                if !(year - 1..=year).contains(&d.year()) {
                    return Err(fail(here, format!("{value} is outside [{year}]")));
                }
                Ok(d)
            };
            for h in &parsed.holidays {
                let (from, to) = (date(&h.from)?, date(&h.to)?);
                let span = (to - from).num_days();
                if !(0..=14).contains(&span) {
                    return Err(fail(
                        find_after(text, &h.from, at),
                        format!(
                            "holiday `{}` runs from {from} to {to}; expected 1 to 15 days",
                            h.name
                        ),
                    ));
                }
                let mut d = from;
                while d <= to {
                    calendar.holidays.insert(d, h.name.clone());
                    d = d + Days::new(1);
                }
            }
            for w in &parsed.workdays {
                let d = date(w)?;
                if !is_weekend(d) {
                    return Err(fail(
                        find_after(text, w, at),
                        format!(
                            "make-up working day {d} is a {}, not a weekend day",
                            d.weekday()
                        ),
                    ));
                }
                if calendar.holidays.contains_key(&d) {
                    return Err(fail(
                        find_after(text, w, at),
                        format!("{d} is both a holiday and a working day"),
                    ));
                }
                calendar.workdays.insert(d);
            }
            calendar.years.insert(year);
        }
        if calendar.years.is_empty() {
            return Err(fail(None, "no year in the calendar".to_owned()));
        }
        Ok(calendar)
    }

    /// The years the calendar covers.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.iter().copied()
    }

    pub fn covers(&self, date: NaiveDate) -> bool {
        self.years.contains(&date.year())
    }

    /// The holiday a date belongs to, if it is a day off by notice.
    pub fn holiday(&self, date: NaiveDate) -> Option<&str> {
        self.holidays.get(&date).map(String::as_str)
    }

    pub fn day(&self, date: NaiveDate) -> DayKind {
        let covered = self.covers(date);
        let working = if self.holidays.contains_key(&date) {
            false
        } else if self.workdays.contains(&date) {
            true
        } else {
            !is_weekend(date)
        };
        DayKind { working, covered }
    }

    /// The first working day on or after `date`, and whether every day looked
    /// at was covered by the calendar. `None` only past the end of time.
    pub fn first_working_day_from(&self, date: NaiveDate) -> Option<(NaiveDate, bool)> {
        let mut d = date;
        let mut covered = true;
        // No holiday block is longer than 15 days plus a weekend.
        for _ in 0..40 {
            let kind = self.day(d);
            covered &= kind.covered;
            if kind.working {
                return Some((d, covered));
            }
            d = d.checked_add_days(Days::new(1))?;
        }
        None
    }
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Where a table header such as `[2026]` starts.
fn find(haystack: &str, header: &str) -> Option<usize> {
    haystack
        .match_indices(header)
        .map(|(i, _)| i)
        .find(|&i| i == 0 || haystack.as_bytes()[i - 1] == b'\n')
}

/// The first place `needle` appears after `start`, for pointing at a line.
fn find_after(haystack: &str, needle: &str, start: Option<usize>) -> Option<usize> {
    let from = start.unwrap_or(0);
    haystack
        .get(from..)?
        .find(&format!("\"{needle}\""))
        .map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_bundled_calendar_loads_with_its_years() {
        let cal = HolidayCalendar::bundled().unwrap();
        assert_eq!(cal.years().collect::<Vec<_>>(), vec![2024, 2025, 2026]);
        assert_eq!(cal.holiday(d("2025-01-28")), Some("Spring Festival"));
        assert!(!cal.day(d("2025-01-28")).working);
        // A make-up working Saturday.
        assert_eq!(
            cal.day(d("2026-02-28")),
            DayKind {
                working: true,
                covered: true
            }
        );
        // An ordinary Saturday.
        assert_eq!(
            cal.day(d("2026-03-07")),
            DayKind {
                working: false,
                covered: true
            }
        );
        // 2027 is not in the calendar: weekends only, and it says so.
        assert_eq!(
            cal.day(d("2027-10-01")),
            DayKind {
                working: true,
                covered: false
            }
        );
        assert_eq!(
            cal.first_working_day_from(d("2026-10-01")),
            Some((d("2026-10-08"), true))
        );
        assert_eq!(
            cal.first_working_day_from(d("2027-01-02")),
            Some((d("2027-01-04"), false))
        );
    }

    #[test]
    fn malformed_calendars_are_refused_with_file_line_and_reason() {
        let cases = [
            ("[2025]\nholidays = [ { name = \"X\", from = \"2025-13-01\", to = \"2025-13-02\" } ]\n", 2, "not a date"),
            ("[2025]\nholidays = []\nworkdays = [\n  \"2025-01-27\",\n]\n", 4, "not a weekend day"),
            ("[abc]\nholidays = []\n", 1, "not a year"),
            ("[2025]\nholidays = [ { name = \"X\", from = \"2025-02-10\", to = \"2025-01-01\" } ]\n", 2, "expected 1 to 15 days"),
            ("[2025]\nholidays = [\n", 2, "unclosed"),
            ("[2025]\nholidays = [ { name = \"X\", from = \"2023-01-01\", to = \"2023-01-01\" } ]\n", 2, "outside [2025]"),
            ("[2025]\nholiday = []\n", 1, "unknown field"),
        ];
        for (text, line, reason) in cases {
            let err = HolidayCalendar::parse(text, "cal.toml").unwrap_err();
            assert_eq!(err.file, "cal.toml");
            assert_eq!(err.line, line, "{err} for:\n{text}");
            assert!(err.reason.contains(reason), "{err}");
            assert!(
                err.to_string().starts_with(&format!("cal.toml:{line}: ")),
                "{err}"
            );
        }
    }
}
