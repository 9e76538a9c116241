use chrono::{DateTime, TimeZone, Utc};
use hotline_domain::{HolidayCalendar, Urgency};

use super::*;

/// An instant given as China Standard Time.
fn cst(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    hotline_domain::shanghai()
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn calendar() -> HolidayCalendar {
    HolidayCalendar::bundled().unwrap()
}

fn due(urgency: Option<Urgency>, created: DateTime<Utc>) -> DateTime<Utc> {
    CallbackPolicy::default()
        .first_due(urgency, created, &calendar())
        .unwrap()
}

#[test]
fn a_critical_caller_is_called_within_thirty_minutes_of_business_time() {
    let critical = Some(Urgency::Critical);
    // Monday 2 March 2026, in the morning.
    assert_eq!(
        due(critical, cst(2026, 3, 2, 10, 0)),
        cst(2026, 3, 2, 10, 30)
    );
    // The lunch break does not count.
    assert_eq!(
        due(critical, cst(2026, 3, 2, 11, 50)),
        cst(2026, 3, 2, 13, 50)
    );
    // Before opening: from 09:00.
    assert_eq!(due(critical, cst(2026, 3, 2, 7, 0)), cst(2026, 3, 2, 9, 30));
    // Fifteen minutes before closing on 30 September: the National Day
    // holiday (1 to 7 October) is skipped, the rest on Thursday 8 October.
    assert_eq!(
        due(critical, cst(2026, 9, 30, 17, 15)),
        cst(2026, 10, 8, 9, 15)
    );
}

#[test]
fn an_urgent_caller_is_called_the_same_working_day() {
    let urgent = Some(Urgency::Urgent);
    assert_eq!(due(urgent, cst(2026, 3, 2, 10, 0)), cst(2026, 3, 2, 17, 30));
    // After closing: the next working day.
    assert_eq!(due(urgent, cst(2026, 3, 2, 18, 0)), cst(2026, 3, 3, 17, 30));
    // On a Saturday: Monday.
    assert_eq!(due(urgent, cst(2026, 3, 7, 11, 0)), cst(2026, 3, 9, 17, 30));
}

#[test]
fn a_normal_caller_is_called_within_two_working_days() {
    assert_eq!(due(None, cst(2026, 3, 2, 10, 0)), cst(2026, 3, 3, 17, 30));
    let normal = Some(Urgency::Normal);
    // Thursday 24 September, before the Mid-Autumn holiday (25 to 27):
    // the second working day is Monday 28.
    assert_eq!(
        due(normal, cst(2026, 9, 24, 10, 0)),
        cst(2026, 9, 28, 17, 30)
    );
    // Saturday 19 September: Sunday 20 is a make-up working day.
    assert_eq!(
        due(normal, cst(2026, 9, 19, 10, 0)),
        cst(2026, 9, 21, 17, 30)
    );
}

#[test]
fn after_a_failed_attempt_the_next_is_due_by_the_end_of_the_next_half_day() {
    let p = CallbackPolicy::default();
    let c = calendar();
    // Morning → that afternoon.
    assert_eq!(
        p.next_due(cst(2026, 3, 2, 10, 0), &c),
        Some(cst(2026, 3, 2, 17, 30))
    );
    // Afternoon → the next morning.
    assert_eq!(
        p.next_due(cst(2026, 3, 2, 14, 0), &c),
        Some(cst(2026, 3, 3, 12, 0))
    );
    // Friday afternoon → Monday morning.
    assert_eq!(
        p.next_due(cst(2026, 3, 6, 16, 0), &c),
        Some(cst(2026, 3, 9, 12, 0))
    );
    // Across the National Day holiday.
    assert_eq!(
        p.next_due(cst(2026, 9, 30, 15, 0), &c),
        Some(cst(2026, 10, 8, 12, 0))
    );
    // In the lunch break (afternoon half) → the next morning.
    assert_eq!(
        p.next_due(cst(2026, 3, 2, 12, 30), &c),
        Some(cst(2026, 3, 3, 12, 0))
    );
}

#[test]
fn one_span_across_noon_still_has_a_morning_and_an_afternoon() {
    let p = CallbackPolicy {
        hours: "08:30-17:30".parse().unwrap(),
        ..CallbackPolicy::default()
    };
    let c = calendar();
    assert_eq!(
        p.next_due(cst(2026, 3, 2, 10, 0), &c),
        Some(cst(2026, 3, 2, 17, 30))
    );
    assert_eq!(
        p.next_due(cst(2026, 3, 2, 14, 0), &c),
        Some(cst(2026, 3, 3, 12, 0))
    );
    // Before opening, the morning is that day's: next is the afternoon.
    assert_eq!(
        p.next_due(cst(2026, 3, 2, 7, 0), &c),
        Some(cst(2026, 3, 2, 17, 30))
    );
    // Afternoon-only hours: a morning failure waits for the afternoon.
    let p = CallbackPolicy {
        hours: "13:00-18:00".parse().unwrap(),
        ..CallbackPolicy::default()
    };
    assert_eq!(
        p.next_due(cst(2026, 3, 2, 10, 0), &c),
        Some(cst(2026, 3, 2, 18, 0))
    );
    assert_eq!(
        p.next_due(cst(2026, 3, 2, 14, 0), &c),
        Some(cst(2026, 3, 3, 18, 0))
    );
}

#[test]
fn an_expired_ticket_is_called_back_the_same_day_like_an_urgent_one() {
    assert_eq!(
        due(Some(Urgency::Expired), cst(2026, 3, 2, 10, 0)),
        cst(2026, 3, 2, 17, 30)
    );
}

#[test]
fn a_failure_never_makes_a_callback_more_pressing() {
    let p = CallbackPolicy::default();
    let c = calendar();
    let failed = [cst(2026, 3, 2, 10, 0)];
    // A normal ticket due on Tuesday evening stays due then.
    let step = p.after_failures(&failed, Some(cst(2026, 3, 3, 17, 30)), &c);
    assert_eq!(step.due, Some(cst(2026, 3, 3, 17, 30)));
    // An overdue one moves to the end of the next half-day.
    let step = p.after_failures(&failed, Some(cst(2026, 3, 2, 9, 30)), &c);
    assert_eq!(step.due, Some(cst(2026, 3, 2, 17, 30)));
    assert!(!step.flag);
}

#[test]
fn only_numbers_that_can_be_called_are_called_back() {
    let n = |s: &str| hotline_domain::PhoneNumber::parse(s).unwrap();
    assert_eq!(
        number_to_call(None, Some(&n("13812345678"))),
        Some(&n("13812345678"))
    );
    assert_eq!(
        number_to_call(None, Some(&n("01062345678"))),
        Some(&n("01062345678"))
    );
    // An extension or a trunk placeholder as caller ID: nobody to call.
    assert_eq!(number_to_call(None, Some(&n("1001"))), None);
    // A number the caller gave wins.
    assert_eq!(
        number_to_call(Some(&n("13987654321")), Some(&n("1001"))),
        Some(&n("13987654321"))
    );
}

#[test]
fn three_failures_on_different_half_days_call_for_a_supervisor() {
    let same_morning = [
        cst(2026, 3, 2, 9, 10),
        cst(2026, 3, 2, 10, 0),
        cst(2026, 3, 2, 11, 0),
    ];
    assert!(!needs_supervisor(&same_morning));
    let two_halves = [
        cst(2026, 3, 2, 9, 10),
        cst(2026, 3, 2, 14, 0),
        cst(2026, 3, 2, 17, 0),
    ];
    assert!(!needs_supervisor(&two_halves));
    let three_halves = [
        cst(2026, 3, 2, 9, 10),
        cst(2026, 3, 2, 14, 0),
        cst(2026, 3, 3, 9, 30),
    ];
    assert!(needs_supervisor(&three_halves));
}

#[test]
fn business_hours_read_and_refuse_with_the_reason() {
    let h: BusinessHours = "08:30-12:00, 14:00-18:00".parse().unwrap();
    assert_eq!(h.to_string(), "08:30-12:00,14:00-18:00");
    assert_eq!(
        BusinessHours::default().to_string(),
        "09:00-12:00,13:30-17:30"
    );
    for (bad, reason) in [
        ("", "no opening span"),
        ("09:00", "is not FROM-TO"),
        ("9h-12:00", "is not a time"),
        ("12:00-09:00", "ends before it starts"),
        ("09:00-12:00,11:00-13:00", "overlaps"),
    ] {
        let e = bad.parse::<BusinessHours>().unwrap_err().to_string();
        assert!(e.contains(reason), "{bad}: {e}");
    }
}

#[test]
fn outcomes_read_by_name() {
    for o in CallbackOutcome::ALL {
        assert_eq!(CallbackOutcome::parse(o.as_str()), Ok(o));
    }
    let e = CallbackOutcome::parse("voicemail").unwrap_err();
    assert!(e.contains("message-left"), "{e}");
    assert!(CallbackOutcome::Answered.reached());
    assert!(!CallbackOutcome::MessageLeft.reached());
}
