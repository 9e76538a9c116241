//! Properties of the limitation calculator over arbitrary inputs.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Datelike, NaiveDate};
use hotline_domain::{Matter, Urgency};
use hotline_ticketing::limitation::{classify, last_day, Limitation, Selection, Thresholds};
use proptest::prelude::*;

fn any_date(from: i32, to: i32) -> impl Strategy<Value = NaiveDate> {
    let lo = NaiveDate::from_ymd_opt(from, 1, 1)
        .unwrap()
        .num_days_from_ce();
    let hi = NaiveDate::from_ymd_opt(to, 12, 31)
        .unwrap()
        .num_days_from_ce();
    (lo..=hi).prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).unwrap())
}

fn severity(u: Urgency) -> u8 {
    match u {
        Urgency::Expired => 4,
        Urgency::Critical => 3,
        Urgency::Urgent => 2,
        Urgency::Normal => 1,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A deadline is never before the plain calendar arithmetic, and within
    /// a loaded year it never falls on a day off.
    #[test]
    fn deadlines_are_never_early_nor_on_days_off(
        rule in 0usize..12,
        event in any_date(2019, 2026),
        extra in 0i64..4000,
    ) {
        let limitation = Limitation::bundled().unwrap();
        let rule = limitation.rules().rules()[rule].clone();
        let today = event + chrono::Duration::days(extra);
        let a = limitation.assess(Selection::Rule(&rule.id), Some(event), today, false).unwrap();
        if let Some(deadline) = a.deadline {
            let plain = last_day(rule.period, event).unwrap();
            prop_assert!(deadline >= plain);
            prop_assert!((deadline - plain).num_days() <= 15);
            let day = limitation.calendar().day(deadline);
            if day.covered {
                prop_assert!(day.working, "{} falls on a day off", deadline);
            }
            prop_assert_eq!(a.days_left, Some((deadline - today).num_days()));
        }
    }

    /// Fewer days left never means less urgency; preservation is always critical.
    #[test]
    fn urgency_is_monotone_in_days_left(a in -400i64..400, b in -400i64..400, short: bool) {
        let t = Thresholds::default();
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let u_lo = classify(false, Some(lo), short, true, t);
        let u_hi = classify(false, Some(hi), short, true, t);
        prop_assert!(severity(u_lo) >= severity(u_hi), "{} days: {:?}, {} days: {:?}", lo, u_lo, hi, u_hi);
        prop_assert_eq!(u_lo == Urgency::Expired, lo < 0);
        prop_assert_eq!(classify(true, Some(lo), short, true, t), Urgency::Critical);
    }

    /// No input panics: any date, any matter, any rule id.
    #[test]
    fn no_input_panics(
        event in proptest::option::of(any::<i32>()),
        today in any::<i32>(),
        matter in 0usize..10,
        rule in ".{0,40}",
        preservation: bool,
    ) {
        let limitation = Limitation::bundled().unwrap();
        let to_date = |n: i32| NaiveDate::from_num_days_from_ce_opt(n).unwrap_or(NaiveDate::MAX);
        let event = event.map(to_date);
        let today = to_date(today);
        let _ = limitation.assess(Selection::Matter(Matter::ALL[matter]), event, today, preservation);
        let _ = limitation.assess(Selection::Rule(&rule), event, today, preservation);
        let _ = limitation.decision_due(today);
        let _ = limitation.assignment_due(today);
    }
}
