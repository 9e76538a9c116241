//! Callbacks on the real store, SQLite and PostgreSQL, with the manual
//! clock: a new ticket's callback is due by its urgency within business
//! hours (the National Day holiday skipped), failed attempts move it to the
//! next half-day, and failures on three different half-days flag the
//! ticket for a supervisor.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hotline_domain::{Language, Matter, PhoneNumber, PriorityGroup, TicketKind, TicketNumber};
use hotline_ticketing::callbacks::{CallbackFilter, CallbackOutcome};
use hotline_ticketing::limitation::Limitation;
use hotline_ticketing::tickets::{EventKind, Flags, NewTicket};
use hotline_ticketing::{ManualClock, Store, Ticketing};

both_backends!(
    a_callback_is_due_by_urgency_and_three_failed_half_days_flag_it,
    no_callback_is_owed_without_a_number_and_an_answer_ends_it
);

/// An instant given as China Standard Time.
fn cst(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    hotline_domain::shanghai()
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// A consultation: critical with `preservation`, else a family matter
/// (no limitation period: normal).
fn ticket(key: &str, preservation: bool, caller: Option<&str>) -> NewTicket {
    NewTicket {
        idempotency_key: key.to_owned(),
        proposed_number: None,
        kind: TicketKind::Consultation,
        matter: Some(if preservation {
            Matter::LaborWages
        } else {
            Matter::Family
        }),
        caller_number: caller.map(|c| PhoneNumber::parse(c).unwrap()),
        callback_number: None,
        event_date: None,
        document: None,
        chosen_rule: None,
        preservation,
        priority_group: PriorityGroup::None,
        language: Language::Zh,
        center: "default".to_owned(),
        region: None,
        summary: "callback test".to_owned(),
        flags: Flags::default(),
        last_node: None,
        actor: "ivr:ivr-1".to_owned(),
    }
}

fn service(store: &Store, clock: &ManualClock) -> Ticketing {
    Ticketing::new(
        store.clone(),
        Arc::new(clock.clone()),
        Arc::new(Limitation::bundled().unwrap()),
    )
}

async fn due_now(t: &Ticketing) -> Vec<TicketNumber> {
    t.callbacks(&CallbackFilter {
        due_before: Some(t.now()),
        ..CallbackFilter::default()
    })
    .await
    .unwrap()
    .into_iter()
    .map(|c| c.ticket.number)
    .collect()
}

async fn a_callback_is_due_by_urgency_and_three_failed_half_days_flag_it(store: Store) {
    // Wednesday 30 September 2026, a quarter of an hour before closing; the
    // National Day holiday runs from 1 to 7 October.
    let clock = ManualClock::new(cst(2026, 9, 30, 17, 15));
    let t = service(&store, &clock);
    let (critical, _) = t
        .create(&ticket("cb-critical", true, Some("13812345678")))
        .await
        .unwrap();
    let (normal, _) = t
        .create(&ticket("cb-normal", false, Some("13812345679")))
        .await
        .unwrap();
    let all = t.callbacks(&CallbackFilter::default()).await.unwrap();
    let due_of = |n: &TicketNumber| all.iter().find(|c| c.ticket.number == *n).unwrap().due_at;
    // Critical: 30 minutes of business time, 15 today and 15 after the holiday.
    assert_eq!(due_of(&critical.number), Some(cst(2026, 10, 8, 9, 15)));
    // Normal: by the end of the second working day, today being the first.
    assert_eq!(due_of(&normal.number), Some(cst(2026, 10, 8, 17, 30)));
    // The one to call is the caller's number, in full.
    let c = all
        .iter()
        .find(|c| c.ticket.number == critical.number)
        .unwrap();
    assert_eq!(c.phone().unwrap().as_str(), "13812345678");
    assert!(
        due_now(&t).await.is_empty(),
        "nothing is due before 8 October"
    );

    clock.set(cst(2026, 10, 8, 9, 20));
    assert_eq!(due_now(&t).await, vec![critical.number.clone()]);

    // Morning: no answer, then busy in the same half-day.
    let c = t
        .record_callback(&critical.number, CallbackOutcome::NoAnswer, "", "lawyer:li")
        .await
        .unwrap();
    assert_eq!(
        c.due_at,
        Some(cst(2026, 10, 8, 17, 30)),
        "by the end of the afternoon"
    );
    clock.set(cst(2026, 10, 8, 11, 0));
    let c = t
        .record_callback(
            &critical.number,
            CallbackOutcome::Busy,
            "line busy",
            "lawyer:li",
        )
        .await
        .unwrap();
    assert!(!c.flagged, "two failures in one half-day count once");
    assert_eq!(c.due_at, Some(cst(2026, 10, 8, 17, 30)));
    // Afternoon: a message left.
    clock.set(cst(2026, 10, 8, 15, 0));
    let c = t
        .record_callback(
            &critical.number,
            CallbackOutcome::MessageLeft,
            "",
            "lawyer:li",
        )
        .await
        .unwrap();
    assert!(!c.flagged);
    assert_eq!(
        c.due_at,
        Some(cst(2026, 10, 9, 12, 0)),
        "by the end of the next morning"
    );
    // The next morning: a third half-day.
    clock.set(cst(2026, 10, 9, 9, 30));
    let c = t
        .record_callback(&critical.number, CallbackOutcome::NoAnswer, "", "lawyer:li")
        .await
        .unwrap();
    assert!(
        c.flagged,
        "failures on three different half-days flag the ticket"
    );
    assert_eq!(c.due_at, None);
    assert_eq!(c.attempts.len(), 4);
    assert_eq!(c.attempts[1].outcome, CallbackOutcome::Busy);
    assert_eq!(c.attempts[1].note, "line busy");
    // Flagged ones come first in every listing, due or not.
    assert_eq!(due_now(&t).await.first(), Some(&critical.number));
    let history = t.history(&critical.number).await.unwrap();
    let kinds: Vec<_> = history.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == EventKind::CallbackAttempt)
            .count(),
        4
    );
    let flagged: Vec<_> = history
        .iter()
        .filter(|e| e.kind == EventKind::CallbackFlagged)
        .collect();
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0].at, cst(2026, 10, 9, 9, 30));
    // A later failure does not flag it twice.
    clock.advance(Duration::hours(5));
    t.record_callback(&critical.number, CallbackOutcome::NoAnswer, "", "lawyer:li")
        .await
        .unwrap();
    let history = t.history(&critical.number).await.unwrap();
    assert_eq!(
        history
            .iter()
            .filter(|e| e.kind == EventKind::CallbackFlagged)
            .count(),
        1
    );
}

async fn no_callback_is_owed_without_a_number_and_an_answer_ends_it(store: Store) {
    let clock = ManualClock::new(cst(2026, 3, 2, 10, 0));
    let t = service(&store, &clock);
    let (anonymous, _) = t.create(&ticket("cb-anon", false, None)).await.unwrap();
    let (known, _) = t
        .create(&ticket("cb-known", false, Some("13812345670")))
        .await
        .unwrap();
    let listed: Vec<_> = t
        .callbacks(&CallbackFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.ticket.number)
        .collect();
    assert_eq!(listed, vec![known.number.clone()]);
    assert!(!listed.contains(&anonymous.number));
    let c = t
        .record_callback(
            &known.number,
            CallbackOutcome::Answered,
            "advice given",
            "lawyer:li",
        )
        .await
        .unwrap();
    assert_eq!((c.due_at, c.flagged), (None, false));
    assert!(t
        .callbacks(&CallbackFilter::default())
        .await
        .unwrap()
        .is_empty());
    // No number to call: nothing to record.
    let err = t
        .record_callback(&anonymous.number, CallbackOutcome::Busy, "", "lawyer:li")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no number to call"), "{err}");
    // A correction that makes a ticket critical moves its first callback.
    let (later, _) = t
        .create(&ticket("cb-later", false, Some("13812345671")))
        .await
        .unwrap();
    let before = t.callbacks(&CallbackFilter::default()).await.unwrap();
    let due = |list: &[hotline_ticketing::callbacks::Callback], n: &TicketNumber| {
        list.iter()
            .find(|c| c.ticket.number == *n)
            .and_then(|c| c.due_at)
    };
    assert_eq!(due(&before, &later.number), Some(cst(2026, 3, 3, 17, 30)));
    let correction = hotline_ticketing::tickets::Correction {
        preservation: Some(true),
        ..Default::default()
    };
    t.correct(
        &later.number,
        &correction,
        Some("evidence at risk"),
        "supervisor:zhao",
    )
    .await
    .unwrap();
    let after = t.callbacks(&CallbackFilter::default()).await.unwrap();
    assert_eq!(due(&after, &later.number), Some(cst(2026, 3, 2, 10, 30)));
    // A closed ticket's caller is not called back any more.
    let close = hotline_ticketing::tickets::lifecycle::Move {
        outcome: Some("advice-given".to_owned()),
        ..Default::default()
    };
    t.transition(
        &later.number,
        hotline_domain::TicketState::Closed,
        close,
        "supervisor:zhao",
    )
    .await
    .unwrap();
    let err = t
        .record_callback(&later.number, CallbackOutcome::NoAnswer, "", "lawyer:li")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no longer called back"), "{err}");
    // An unknown ticket is refused, not invented.
    let missing =
        TicketNumber::random(&mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7));
    assert!(t
        .record_callback(&missing, CallbackOutcome::Busy, "", "lawyer:li")
        .await
        .is_err());
}
