//! How long personal data is kept (PIPL arts. 19 and 47): a closed ticket's
//! message recordings are removed, and its caller and callback numbers and
//! summary anonymised, once their time is up. Statistics stay: the ticket,
//! its matter, urgency, region, dates and history remain, without the
//! person in them.
//!
//! This module owns the policy and its arithmetic; the pass itself is a
//! store operation (`Store::remove_recordings_closed_before`,
//! `Store::anonymise_closed_before`), run daily by one ticketing node. The
//! IVR node's whole-call recordings are its own files and its own job.

use chrono::{DateTime, Duration, Months, Utc};
use hotline_domain::TicketNumber;

pub use hotline_domain::phone::blank_numbers;

/// The actor of every retention event.
pub const RETENTION_ACTOR: &str = "retention";

/// When a closed ticket's personal data goes. `None` keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Message recordings are removed this many days after the ticket
    /// closed (or was rejected).
    pub recordings_days_after_close: Option<u32>,
    /// Numbers and summary are anonymised this many years (calendar
    /// years, so leap days count) after the ticket closed.
    pub personal_data_years_after_close: Option<u32>,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            recordings_days_after_close: Some(180),
            personal_data_years_after_close: Some(3),
        }
    }
}

impl RetentionPolicy {
    /// Recordings of tickets closed at or before this instant are due.
    pub fn recordings_cutoff(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let days = self.recordings_days_after_close?;
        now.checked_sub_signed(Duration::days(i64::from(days)))
    }

    /// Tickets closed at or before this instant are due for anonymising.
    pub fn personal_data_cutoff(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let years = self.personal_data_years_after_close?;
        now.checked_sub_months(Months::new(years.checked_mul(12)?))
    }
}

/// What one retention pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Each removed recording, by its ticket and id.
    pub recordings_removed: Vec<(TicketNumber, i64)>,
    /// Tickets whose numbers and summary were anonymised.
    pub anonymised: Vec<TicketNumber>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn cutoffs_count_days_and_calendar_years_back_from_now() {
        let now = Utc
            .with_ymd_and_hms(2028, 3, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        let policy = RetentionPolicy::default();
        assert_eq!(
            policy.recordings_cutoff(now),
            Utc.with_ymd_and_hms(2027, 9, 3, 0, 0, 0).single()
        );
        // Three calendar years back from 2028-03-01 is 2025-03-01, across
        // the leap day of 2028: not 1095 days.
        assert_eq!(
            policy.personal_data_cutoff(now),
            Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).single()
        );
        let keep = RetentionPolicy {
            recordings_days_after_close: None,
            personal_data_years_after_close: None,
        };
        assert_eq!(keep.recordings_cutoff(now), None);
        assert_eq!(keep.personal_data_cutoff(now), None);
    }
}
