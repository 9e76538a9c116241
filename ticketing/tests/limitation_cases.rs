//! Worked limitation cases, each computed by hand first (the comment shows
//! the arithmetic), then checked against the calculator with the bundled
//! rules and holiday calendar. Weekdays were looked up independently.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use hotline_domain::{Document, Matter, Urgency};
use hotline_ticketing::limitation::{Limitation, Selection};

use Urgency::{Critical, Expired, Normal, Urgent};

/// (matter, rule id, or `doc:DOCUMENT[@MATTER]` for a document received
///  (its receipt date as the event date), event date or "" if unknown,
///  today, preservation, deadline or "", days left, urgency)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static str,
    Option<i64>,
    Urgency,
);

#[rustfmt::skip]
const CASES: &[Case] = &[
    // --- The anchor cases ---
    // 2024-09-30 + 1 year = 2025-09-30 (Tue, working); 09-25 -> 09-30 = 5.
    ("work-injury", "2024-09-30", "2025-09-25", false, "2025-09-30", Some(5), Critical),
    // 2022-01-31 + 3 years = 2025-01-31, inside Spring Festival 01-28..02-04 -> 02-05 (Wed); 16 days.
    ("housing-lease", "2022-01-31", "2025-01-20", false, "2025-02-05", Some(16), Urgent),
    // 2025-02-28 + 1 year = 2026-02-28, a Saturday but a make-up working day: stays; 8 days.
    ("labor-termination", "2025-02-28", "2026-02-20", false, "2026-02-28", Some(8), Urgent),
    // 2023-10-02 + 3 years = 2026-10-02, National Day 10-01..07 -> 10-08 (Thu); 10-09 is one day later.
    ("personal-injury", "2023-10-02", "2026-10-09", false, "2026-10-08", Some(-1), Expired),
    // An inheritance dispute, a family claim that runs (art. 188):
    // 2023-05-01 + 3 years = 2026-05-01, Labour Day 05-01..05 -> 05-06 (Wed); 04-25 -> 05-06 = 11.
    ("inheritance", "2023-05-01", "2026-04-25", false, "2026-05-06", Some(11), Urgent),
    // Divorce, custody, support: no limitation (art. 196), however old the facts; never expired.
    ("family", "2010-01-01", "2026-11-30", false, "", None, Normal),
    ("family", "1990-06-01", "2026-11-30", false, "", None, Normal),

    // --- Documents received: the phone's document question (receipt date = event date) ---
    // Judgment served 2026-11-21: + 15 days = 12-06 (Sun) -> 12-07 (Mon); 12-01 -> 12-07 = 6: critical.
    ("doc:judgment", "2026-11-21", "2026-12-01", false, "2026-12-07", Some(6), Critical),
    // The same judgment read on 11-25 (Wed): 12 days, urgent.
    ("doc:judgment@labor-termination", "2026-11-21", "2026-11-25", false, "2026-12-07", Some(12), Urgent),
    // Ruling served 2026-11-25: + 10 days = 12-05 (Sat) -> 12-07 (Mon); 11-30 -> 12-07 = 7: urgent.
    ("doc:ruling", "2026-11-25", "2026-11-30", false, "2026-12-07", Some(7), Urgent),
    // Labour award received 2026-11-21: + 15 days -> 12-07 (Mon); 6 days: critical.
    ("doc:arbitral-award@labor-wages", "2026-11-21", "2026-12-01", false, "2026-12-07", Some(6), Critical),
    // Land contract award received 2026-09-05: + 30 days = 10-05, National Day -> 10-08 (Thu); 09-30 -> 10-08 = 8.
    ("doc:arbitral-award@land-transfer", "2026-09-05", "2026-09-30", false, "2026-10-08", Some(8), Urgent),
    // Administrative decision received 2026-06-01: reconsideration 60 days = 07-31 (Fri), litigation
    // 6 months = 12-01; the earliest not passed decides: 07-20 -> 07-31 = 11.
    ("doc:administrative-decision@land-expropriation", "2026-06-01", "2026-07-20", false, "2026-07-31", Some(11), Urgent),
    // A work-injury recognition decision received 2026-01-15: review by reconsideration within 60 days
    // (regulation art. 55) = 03-16 (Mon); 03-10 -> 03-16 = 6.
    ("doc:administrative-decision@work-injury", "2026-01-15", "2026-03-10", false, "2026-03-16", Some(6), Critical),
    // A judgment in an administrative case (expropriation) served 2026-11-21: 15 days under
    // Administrative Litigation Law art. 85 = 12-06 (Sun) -> 12-07; 12-01 -> 12-07 = 6.
    ("doc:judgment@land-expropriation", "2026-11-21", "2026-12-01", false, "2026-12-07", Some(6), Critical),
    // A ruling in an administrative case served 2026-11-25: 10 days = 12-05 (Sat) -> 12-07; 11-30 -> = 7.
    ("doc:ruling@land-expropriation", "2026-11-25", "2026-11-30", false, "2026-12-07", Some(7), Urgent),
    // Reconsideration decision received 2026-11-20: 15 days to sue = 12-05 (Sat) -> 12-07; 11-30 -> 12-07 = 7.
    ("doc:reconsideration-decision", "2026-11-20", "2026-11-30", false, "2026-12-07", Some(7), Urgent),
    // A document whose receipt date is unknown: a 10-15 day period may be ending: critical.
    ("doc:judgment", "", "2026-12-01", false, "", None, Critical),
    ("doc:arbitral-award@labor-wages", "", "2026-12-01", false, "", None, Critical),
    ("doc:administrative-decision", "", "2026-12-01", false, "", None, Critical),

    // --- Rules added with the intake review ---
    // 2024-06-10 + 3 years = 2027-06-10 (Thu; 2027 not in the calendar, weekends only); 12-01 -> = 191.
    ("divorce-property", "2024-06-10", "2026-12-01", false, "2027-06-10", Some(191), Normal),
    // 18th birthday 2023-11-30 + 3 years = 2026-11-30 (Mon); 11-25 -> 11-30 = 5.
    ("minor-sexual-abuse", "2023-11-30", "2026-11-25", false, "2026-11-30", Some(5), Critical),
    // 2026-09-01 + 60 days = 10-31 (Sat) -> 11-02 (Mon); 10-20 -> 11-02 = 13.
    ("work-injury-review-reconsideration", "2026-09-01", "2026-10-20", false, "2026-11-02", Some(13), Urgent),
    // 2026-03-15 + 6 months = 09-15 (Tue); 09-10 -> 09-15 = 5.
    ("work-injury-review-litigation", "2026-03-15", "2026-09-10", false, "2026-09-15", Some(5), Critical),
    // 2025-06-19 + 1 year = 2026-06-19, Dragon Boat 06-19..21 -> 06-22 (Mon); 06-01 -> 06-22 = 21.
    ("work-injury-benefits", "2025-06-19", "2026-06-01", false, "2026-06-22", Some(21), Urgent),
    // 2026-02-10 + 15 days = 02-25 (Wed, after the Spring Festival); 02-12 -> 02-25 = 13.
    ("work-capacity-reassessment", "2026-02-10", "2026-02-12", false, "2026-02-25", Some(13), Urgent),
    // 2024-10-01 + 2 years = 2026-10-01, National Day -> 10-08 (Thu); 09-01 -> 10-08 = 37.
    ("land-contract-arbitration", "2024-10-01", "2026-09-01", false, "2026-10-08", Some(37), Normal),
    // 2026-09-05 + 30 days = 10-05, National Day -> 10-08; 09-30 -> 10-08 = 8.
    ("land-award-suit", "2026-09-05", "2026-09-30", false, "2026-10-08", Some(8), Urgent),
    // 2025-11-30 + 1 year = 2026-11-30 (Mon); 11-20 -> 11-30 = 10.
    ("admin-reconsideration-uninformed", "2025-11-30", "2026-11-20", false, "2026-11-30", Some(10), Urgent),
    // Land transfer: arbitration 2 years (2026-03-10, Tue) before the court's 3 years: 03-01 -> 03-10 = 9.
    ("land-transfer", "2024-03-10", "2026-03-01", false, "2026-03-10", Some(9), Urgent),
    // Arbitration passed (2025-12-01); a suit in court is still open until 2026-12-01 (Tue): 275 days.
    ("land-transfer", "2023-12-01", "2026-03-01", false, "2026-12-01", Some(275), Normal),
    // 2025-04-05 + 1 year = 2026-04-05, Qingming 04-04..06 -> 04-07 (Tue); 03-01 -> 04-07 = 37; preservation -> critical.
    ("labor-wages", "2025-04-05", "2026-03-01", true, "2026-04-07", Some(37), Critical),

    // --- Month ends and 29 February (no corresponding day -> last day of the month) ---
    // 2025-08-31 + 6 months = 2026-02-31 -> 02-28 (Sat, make-up working day); 02-01 -> 02-28 = 27.
    ("admin-litigation", "2025-08-31", "2026-02-01", false, "2026-02-28", Some(27), Urgent),
    // 2024-08-31 + 6 months = 2025-02-28 (Fri); 02-20 -> 02-28 = 8.
    ("admin-litigation", "2024-08-31", "2025-02-20", false, "2025-02-28", Some(8), Urgent),
    // 2024-02-29 + 1 year = 2025-02-28 (Fri, leap day has no match); 01-01 -> 02-28 = 58.
    ("labor-arbitration", "2024-02-29", "2025-01-01", false, "2025-02-28", Some(58), Normal),
    // 2024-02-29 + 3 years = 2027-02-28 (Sun; 2027 not in the calendar, weekends only) -> 03-01 (Mon); 93 days.
    ("general-civil", "2024-02-29", "2026-11-28", false, "2027-03-01", Some(93), Normal),
    // 2024-02-29 + 2 years = 2026-02-28 (make-up working Saturday); 1 day.
    ("state-compensation", "2024-02-29", "2026-02-27", false, "2026-02-28", Some(1), Critical),
    // 2023-02-28 + 2 years = 2025-02-28 (Fri); today is the last day: 0.
    ("state-compensation", "2023-02-28", "2025-02-28", false, "2025-02-28", Some(0), Critical),
    // 2022-02-28 + 4 years = 2026-02-28 (make-up working Saturday); 01-29 -> 02-28 = 30: normal.
    ("international-sale", "2022-02-28", "2026-01-29", false, "2026-02-28", Some(30), Normal),
    // 2025-03-31 + 6 months = 2025-09-31 -> 09-30 (Tue); 09-01 -> 09-30 = 29: urgent.
    ("admin-litigation", "2025-03-31", "2025-09-01", false, "2025-09-30", Some(29), Urgent),
    // 2025-05-31 + 6 months = 2025-11-30 (Sun) -> 12-01 (Mon); 11-24 -> 12-01 = 7: urgent.
    ("admin-litigation", "2025-05-31", "2025-11-24", false, "2025-12-01", Some(7), Urgent),
    // 2025-12-31 + 6 months = 2026-06-31 -> 06-30 (Tue); 06-24 -> 06-30 = 6: critical.
    ("admin-litigation", "2025-12-31", "2026-06-24", false, "2026-06-30", Some(6), Critical),

    // --- Day periods: the event day is not counted ---
    // 2025-01-15 + 60 days = 03-16 (16 left in Jan, 28 in Feb, 16 in Mar), a Sunday -> 03-17 (Mon); 7 days.
    ("admin-reconsideration", "2025-01-15", "2025-03-10", false, "2025-03-17", Some(7), Urgent),
    // 2025-01-20 + 15 days = 02-04, last day of Spring Festival -> 02-05 (Wed); 01-27 -> 02-05 = 9.
    ("appeal-judgment", "2025-01-20", "2025-01-27", false, "2025-02-05", Some(9), Urgent),
    // 2025-12-25 + 10 days = 2026-01-04, a Sunday but a make-up working day; 12-30 -> 01-04 = 5.
    ("appeal-ruling", "2025-12-25", "2025-12-30", false, "2026-01-04", Some(5), Critical),
    // 2026-09-16 + 15 days = 10-01, National Day -> 10-08; 09-20 -> 10-08 = 18.
    ("labor-award-suit", "2026-09-16", "2026-09-20", false, "2026-10-08", Some(18), Urgent),
    // 2024-12-20 + 15 days = 2025-01-04 (Sat), 01-05 (Sun) -> 01-06 (Mon); 12-30 -> 01-06 = 7.
    ("admin-litigation-after-reconsideration", "2024-12-20", "2024-12-30", false, "2025-01-06", Some(7), Urgent),
    // 2024-02-28 + 60 days = 04-28 (1 in Feb, 31 in Mar, 28 in Apr), a make-up working Sunday; 8 days.
    ("admin-reconsideration", "2024-02-28", "2024-04-20", false, "2024-04-28", Some(8), Urgent),
    // 2024-09-29 + 15 days = 10-14 (Mon); 10-08 -> 10-14 = 6.
    ("appeal-judgment", "2024-09-29", "2024-10-08", false, "2024-10-14", Some(6), Critical),

    // --- Every holiday block, 2024 ---
    // New Year 2024-01-01 (Mon) -> 01-02 (Tue); 12-20 -> 01-02 = 13.
    ("general-civil", "2021-01-01", "2023-12-20", false, "2024-01-02", Some(13), Urgent),
    // Spring Festival 02-10..17: 02-12 -> 02-18 (a make-up working Sunday); 02-01 -> 02-18 = 17.
    ("general-civil", "2021-02-12", "2024-02-01", false, "2024-02-18", Some(17), Urgent),
    // Qingming 04-04..06: 04-04 -> 04-07 (make-up working Sunday); 03-20 -> 04-07 = 18.
    ("labor-arbitration", "2023-04-04", "2024-03-20", false, "2024-04-07", Some(18), Urgent),
    // Labour Day 05-01..05: 05-03 -> 05-06 (Mon); 04-30 -> 05-06 = 6.
    ("work-injury-recognition", "2023-05-03", "2024-04-30", false, "2024-05-06", Some(6), Critical),
    // Dragon Boat 06-10 (Mon) -> 06-11 (Tue); 05-01 -> 06-11 = 41.
    ("general-civil", "2021-06-10", "2024-05-01", false, "2024-06-11", Some(41), Normal),
    // Mid-Autumn 09-15..17: 09-16 -> 09-18 (Wed); 09-01 -> 09-18 = 17.
    ("labor-arbitration", "2023-09-16", "2024-09-01", false, "2024-09-18", Some(17), Urgent),
    // National Day 10-01..07: 10-05 -> 10-08 (Tue); 09-30 -> 10-08 = 8.
    ("general-civil", "2021-10-05", "2024-09-30", false, "2024-10-08", Some(8), Urgent),

    // --- Every holiday block, 2025 ---
    // New Year 01-01 (Wed) -> 01-02 (Thu); 12-31 -> 01-02 = 2.
    ("labor-arbitration", "2024-01-01", "2024-12-31", false, "2025-01-02", Some(2), Critical),
    // Spring Festival 01-28..02-04: 01-28 -> 02-05; 01-10 -> 02-05 = 26.
    ("labor-arbitration", "2024-01-28", "2025-01-10", false, "2025-02-05", Some(26), Urgent),
    // Qingming 04-04..06: 04-05 -> 04-07 (Mon); 04-01 -> 04-07 = 6.
    ("general-civil", "2022-04-05", "2025-04-01", false, "2025-04-07", Some(6), Critical),
    // Labour Day 05-01..05: 05-01 -> 05-06 (Tue); 03-01 -> 05-06 = 66.
    ("general-civil", "2022-05-01", "2025-03-01", false, "2025-05-06", Some(66), Normal),
    // Dragon Boat 05-31..06-02: 05-31 -> 06-03 (Tue); 05-20 -> 06-03 = 14.
    ("labor-arbitration", "2024-05-31", "2025-05-20", false, "2025-06-03", Some(14), Urgent),
    // National Day and Mid-Autumn 10-01..08: 10-08 -> 10-09 (Thu); 09-28 -> 10-09 = 11.
    ("general-civil", "2022-10-08", "2025-09-28", false, "2025-10-09", Some(11), Urgent),

    // --- Every holiday block, 2026 ---
    // New Year 01-01..03: 01-02 -> 01-04 (make-up working Sunday); 12-29 -> 01-04 = 6.
    ("labor-arbitration", "2025-01-02", "2025-12-29", false, "2026-01-04", Some(6), Critical),
    // Spring Festival 02-15..23: 02-20 -> 02-24 (Tue); 02-10 -> 02-24 = 14.
    ("general-civil", "2023-02-20", "2026-02-10", false, "2026-02-24", Some(14), Urgent),
    // Qingming 04-04..06: 04-04 -> 04-07; 03-20 -> 04-07 = 18.
    ("labor-wages", "2025-04-04", "2026-03-20", false, "2026-04-07", Some(18), Urgent),
    // Labour Day 05-01..05: 04-24 + 10 days = 05-04 -> 05-06; 04-28 -> 05-06 = 8.
    ("appeal-ruling", "2026-04-24", "2026-04-28", false, "2026-05-06", Some(8), Urgent),
    // Dragon Boat 06-19..21: 06-19 -> 06-22 (Mon); 06-01 -> 06-22 = 21.
    ("general-civil", "2023-06-19", "2026-06-01", false, "2026-06-22", Some(21), Urgent),
    // Mid-Autumn 09-25..27: 09-26 -> 09-28 (Mon); 09-01 -> 09-28 = 27.
    ("labor-arbitration", "2025-09-26", "2026-09-01", false, "2026-09-28", Some(27), Urgent),

    // --- Make-up working days: a last day on one of them stays ---
    // 2024-02-04 (Sun): 01-20 + 15 days; 01-25 -> 02-04 = 10.
    ("appeal-judgment", "2024-01-20", "2024-01-25", false, "2024-02-04", Some(10), Urgent),
    // 2024-05-11 (Sat): today is the last day.
    ("general-civil", "2021-05-11", "2024-05-11", false, "2024-05-11", Some(0), Critical),
    // 2024-09-14 (Sat): 09-04 + 10 days; 4 days.
    ("appeal-ruling", "2024-09-04", "2024-09-10", false, "2024-09-14", Some(4), Critical),
    // 2024-09-29 (Sun): passed yesterday.
    ("labor-arbitration", "2023-09-29", "2024-09-30", false, "2024-09-29", Some(-1), Expired),
    // 2024-10-12 (Sat): 04-12 + 6 months; 09-12 -> 10-12 = 30: normal.
    ("admin-litigation", "2024-04-12", "2024-09-12", false, "2024-10-12", Some(30), Normal),
    // 2025-01-26 (Sun): 01-16 + 10 days; 6 days.
    ("appeal-ruling", "2025-01-16", "2025-01-20", false, "2025-01-26", Some(6), Critical),
    // 2025-02-08 (Sat): 01-24 + 15 days; 3 days.
    ("labor-award-suit", "2025-01-24", "2025-02-05", false, "2025-02-08", Some(3), Critical),
    // 2025-04-27 (Sun): 26 days.
    ("general-civil", "2022-04-27", "2025-04-01", false, "2025-04-27", Some(26), Urgent),
    // 2025-09-28 (Sun): 27 days.
    ("work-injury", "2024-09-28", "2025-09-01", false, "2025-09-28", Some(27), Urgent),
    // 2025-10-11 (Sat): 04-11 + 6 months; 2 days.
    ("admin-litigation", "2025-04-11", "2025-10-09", false, "2025-10-11", Some(2), Critical),
    // 2026-02-14 (Sat): 01-15 -> 02-14 = 30: normal.
    ("labor-arbitration", "2025-02-14", "2026-01-15", false, "2026-02-14", Some(30), Normal),
    // 2026-05-09 (Sat): passed yesterday.
    ("state-compensation", "2024-05-09", "2026-05-10", false, "2026-05-09", Some(-1), Expired),
    // 2026-09-20 (Sun): 09-05 + 15 days; 6 days.
    ("appeal-judgment", "2026-09-05", "2026-09-14", false, "2026-09-20", Some(6), Critical),
    // 2026-10-10 (Sat): 08-11 + 60 days (20 in Aug, 30 in Sep, 10 in Oct); 1 day.
    ("admin-reconsideration", "2026-08-11", "2026-10-09", false, "2026-10-10", Some(1), Critical),

    // --- An ordinary weekend ---
    // 2026-03-07 (Sat, no make-up) -> 03-09 (Mon); 03-01 -> 03-09 = 8.
    ("general-civil", "2023-03-07", "2026-03-01", false, "2026-03-09", Some(8), Urgent),

    // --- Unknown event date: no deadline; a year or less is urgent ---
    ("labor-wages", "", "2026-03-01", false, "", None, Urgent),
    ("family", "", "2026-03-01", false, "", None, Normal),
    ("land-expropriation", "", "2026-03-01", false, "", None, Urgent),
    ("family", "", "2026-03-01", true, "", None, Critical),

    // --- No limitation period (Civil Code art. 196) ---
    ("support-payments", "2020-01-01", "2026-03-01", false, "", None, Normal),
    ("support-payments", "2020-01-01", "2026-03-01", true, "", None, Critical),

    // --- Preservation overrides everything ---
    // 2020-01-01 + 3 years = 2023-01-01 (Sun; 2023 not in the calendar) -> 01-02; 01-02 -> 2026-01-01 = 1095 days ago.
    ("personal-injury", "2020-01-01", "2026-01-01", true, "2023-01-02", Some(-1095), Critical),
    // 2026-01-01 + 3 years = 2029-01-01 (Mon; not in the calendar); far away, still critical.
    ("general-civil", "2026-01-01", "2026-01-02", true, "2029-01-01", Some(1095), Critical),

    // --- Several rules: the earliest deadline not passed decides ---
    // Reconsideration: 01-10 + 60 days = 03-11 (Wed), 38 days; litigation: 07-10 (Fri), 159 days.
    ("land-expropriation", "2026-01-10", "2026-02-01", false, "2026-03-11", Some(38), Normal),
    // Reconsideration passed (03-11); litigation 07-10: 03-20 -> 07-10 = 112.
    ("land-expropriation", "2026-01-10", "2026-03-20", false, "2026-07-10", Some(112), Normal),
    // Both passed: reconsideration 2025-03-11, litigation 2025-07-10 (the later): 253 days ago.
    ("land-expropriation", "2025-01-10", "2026-03-20", false, "2025-07-10", Some(-253), Expired),
];

fn date(s: &str) -> Option<NaiveDate> {
    (!s.is_empty()).then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
}

fn selection(what: &str) -> Selection<'_> {
    if let Some(document) = what.strip_prefix("doc:") {
        let (document, matter) = match document.split_once('@') {
            Some((d, m)) => (d, Some(Matter::parse(m).unwrap())),
            None => (document, None),
        };
        return Selection::Document(Document::parse(document).unwrap(), matter);
    }
    match Matter::parse(what) {
        Ok(m) => Selection::Matter(m),
        Err(_) => Selection::Rule(what),
    }
}

#[test]
fn worked_cases() {
    assert!(CASES.len() >= 60, "{} cases", CASES.len());
    let limitation = Limitation::bundled().unwrap();
    let mut failures = Vec::new();
    for &(what, event, today, preservation, deadline, days_left, urgency) in CASES {
        let selection = selection(what);
        let got = limitation
            .assess(selection, date(event), date(today).unwrap(), preservation)
            .unwrap_or_else(|e| panic!("{what} {event}: {e}"));
        let expected = (date(deadline), days_left, urgency);
        let actual = (got.deadline, got.days_left, got.urgency);
        if expected != actual {
            failures.push(format!(
                "{what} event {event} today {today}: expected {expected:?}, got {actual:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_in_the_table_is_exercised() {
    let limitation = Limitation::bundled().unwrap();
    for rule in limitation.rules().rules() {
        let used = CASES.iter().any(|c| {
            let rules = match selection(c.0) {
                Selection::Rule(id) => vec![id.to_owned()],
                Selection::Matter(m) => limitation
                    .rules()
                    .for_matter(m)
                    .iter()
                    .map(|r| r.id.clone())
                    .collect(),
                Selection::Document(d, m) => limitation
                    .rules()
                    .for_document(d, m)
                    .unwrap_or_default()
                    .iter()
                    .map(|r| r.id.clone())
                    .collect(),
            };
            rules.contains(&rule.id)
        });
        assert!(used, "rule {} has no worked case", rule.id);
    }
}

#[test]
fn answers_carry_their_basis_and_warnings() {
    let limitation = Limitation::bundled().unwrap();
    let d = |s| date(s).unwrap();
    let a = limitation
        .assess(
            Selection::Matter(Matter::HousingLease),
            date("2022-01-31"),
            d("2025-01-20"),
            false,
        )
        .unwrap();
    assert_eq!(a.rule, "general-civil");
    assert_eq!(a.legal_basis, "Civil Code art. 188");
    assert!(
        a.warnings.iter().any(|w| w.contains("Spring Festival")),
        "{:?}",
        a.warnings
    );

    let a = limitation
        .assess(
            Selection::Rule("general-civil"),
            date("2024-02-29"),
            d("2026-11-28"),
            false,
        )
        .unwrap();
    assert!(
        a.warnings
            .iter()
            .any(|w| w.contains("no 2027") && w.contains("weekends only")),
        "{:?}",
        a.warnings
    );

    let a = limitation
        .assess(
            Selection::Matter(Matter::PersonalInjury),
            date("2023-10-02"),
            d("2026-10-09"),
            false,
        )
        .unwrap();
    assert!(
        a.warnings.iter().any(|w| w.contains("art. 194")),
        "{:?}",
        a.warnings
    );

    let a = limitation
        .assess(
            Selection::Matter(Matter::LaborWages),
            None,
            d("2026-03-01"),
            false,
        )
        .unwrap();
    assert!(
        a.warnings.iter().any(|w| w.contains("unknown")),
        "{:?}",
        a.warnings
    );
    assert!(
        a.warnings.iter().any(|w| w.contains("still employed")),
        "{:?}",
        a.warnings
    );

    let a = limitation
        .assess(
            Selection::Matter(Matter::LandExpropriation),
            date("2026-01-10"),
            d("2026-03-20"),
            false,
        )
        .unwrap();
    let candidates: Vec<_> = a
        .candidates
        .iter()
        .map(|c| (c.rule.as_str(), c.deadline))
        .collect();
    assert_eq!(
        candidates,
        [
            ("admin-reconsideration", date("2026-03-11")),
            ("admin-litigation", date("2026-07-10"))
        ]
    );
    assert_eq!(a.legal_basis, "Administrative Litigation Law art. 46");

    let a = limitation
        .assess(
            Selection::Rule("support-payments"),
            date("2020-01-01"),
            d("2026-03-01"),
            false,
        )
        .unwrap();
    assert!(
        a.warnings.iter().any(|w| w.contains("Civil Code art. 196")),
        "{:?}",
        a.warnings
    );
}

#[test]
fn impossible_inputs_are_errors_not_panics() {
    let limitation = Limitation::bundled().unwrap();
    let d = |s| date(s).unwrap();
    assert!(limitation
        .assess(
            Selection::Rule("no-such-rule"),
            date("2025-01-01"),
            d("2026-01-01"),
            false
        )
        .is_err());
    assert!(limitation
        .assess(
            Selection::Matter(Matter::Family),
            date("2026-02-01"),
            d("2026-01-01"),
            false
        )
        .is_err());
    assert!(limitation
        .assess(
            Selection::Matter(Matter::Family),
            date("1800-01-01"),
            d("2026-01-01"),
            false
        )
        .is_err());
}

#[test]
fn art_43_clocks() {
    let limitation = Limitation::bundled().unwrap();
    let d = |s| date(s).unwrap();
    // Applied 2026-03-02 (Mon): + 7 days = 03-09 (Mon).
    assert_eq!(limitation.decision_due(d("2026-03-02")), d("2026-03-09"));
    // Applied 2026-09-24: + 7 = 10-01, National Day -> 10-08.
    assert_eq!(limitation.decision_due(d("2026-09-24")), d("2026-10-08"));
    // Accepted 2026-03-05 (Thu): + 3 = 03-08 (Sun) -> 03-09 (Mon).
    assert_eq!(limitation.assignment_due(d("2026-03-05")), d("2026-03-09"));
    // Accepted 2026-02-11 (Wed): + 3 = 02-14, a make-up working Saturday.
    assert_eq!(limitation.assignment_due(d("2026-02-11")), d("2026-02-14"));
}

#[test]
fn family_claims_and_passed_periods_name_their_own_law() {
    let limitation = Limitation::bundled().unwrap();
    let assess = |what: &str, event: &str, today: &str| {
        limitation
            .assess(selection(what), date(event), date(today).unwrap(), false)
            .unwrap()
    };
    // Family: no deadline, never expired, and the claims that do run named.
    let a = assess("family", "2010-01-01", "2026-11-30");
    assert_eq!((a.deadline, a.urgency), (None, Normal));
    assert_eq!(a.legal_basis, "Civil Code art. 196");
    assert!(
        a.warnings
            .iter()
            .any(|w| w.contains("rule inheritance") && w.contains("rule divorce-property")),
        "{:?}",
        a.warnings
    );
    // A passed labour period: the labour law's own suspension rules.
    let a = assess("labor-termination", "2024-01-10", "2026-03-01");
    assert_eq!(a.urgency, Expired);
    assert!(
        a.warnings.iter().any(|w| w.contains(
            "Labour Dispute Mediation and Arbitration Law art. 27, paras. 2-3"
        )),
        "{:?}",
        a.warnings
    );
    assert!(!a.warnings.iter().any(|w| w.contains("Civil Code art. 194")));
    // A passed administrative litigation period: Administrative Litigation Law art. 48.
    let a = assess("admin-litigation", "2025-01-10", "2026-03-01");
    assert_eq!(a.urgency, Expired);
    assert!(a
        .warnings
        .iter()
        .any(|w| w.contains("Administrative Litigation Law art. 48")));
    // A passed civil period: Civil Code arts. 194-195.
    let a = assess("personal-injury", "2020-01-10", "2026-03-01");
    assert!(a.warnings.iter().any(|w| w.contains("art. 194")));
    // Every civil answer carries the 20-year outer limit of art. 188,
    // with the date it bites from.
    let a = assess("housing-lease", "2025-03-01", "2026-03-01");
    assert!(
        a.warnings
            .iter()
            .any(|w| w.contains("20 years after the harm") && w.contains("2008-03-01")),
        "{:?}",
        a.warnings
    );
    // Not on a labour answer.
    let a = assess("labor-termination", "2025-06-01", "2026-03-01");
    assert!(!a.warnings.iter().any(|w| w.contains("20 years")));
    // The expropriation answer says what happens when the agency never told
    // the caller of the right to reconsideration.
    let a = assess("land-expropriation", "2026-01-10", "2026-02-01");
    assert!(a
        .warnings
        .iter()
        .any(|w| w.contains("admin-reconsideration-uninformed")));
    assert!(a.legal_basis.contains("2023 revision"));
    // A document with no receipt date: critical, and why.
    let a = assess("doc:ruling", "", "2026-03-01");
    assert_eq!(a.urgency, Critical);
    assert!(a
        .warnings
        .iter()
        .any(|w| w.contains("receipt date is unknown")));
}
