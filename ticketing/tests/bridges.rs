//! Click-to-call bridges on the real store, on SQLite and on PostgreSQL,
//! with a manual clock: a bridge is claimed by one IVR node and reported
//! only by its token; the caller leg's outcome is a callback attempt in the
//! lawyer's name (an answered one ends the callback, a busy one makes the
//! next due); a lawyer not reached is a note, not an attempt; what cannot
//! be dialled is refused when asked for; and a bridge nobody takes, or
//! nobody reports, ends `failed` with a note.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hotline_domain::{Language, Matter, PhoneNumber, PriorityGroup, TicketKind, TicketNumber};
use hotline_ticketing::auth::{Principal, Role};
use hotline_ticketing::callbacks::bridge::{BridgeError, BridgePolicy, LegOutcome};
use hotline_ticketing::callbacks::{CallbackFilter, CallbackOutcome};
use hotline_ticketing::limitation::Limitation;
use hotline_ticketing::paging::PagingPolicy;
use hotline_ticketing::routing::{Lawyer, RoutingPolicy};
use hotline_ticketing::store::BridgeLegs;
use hotline_ticketing::tickets::{EventKind, Flags, NewTicket};
use hotline_ticketing::{ManualClock, Store, Ticketing};

both_backends!(
    a_bridge_is_placed_by_one_node_and_its_caller_leg_is_an_attempt,
    a_busy_caller_makes_the_next_attempt_due_and_a_missed_lawyer_is_a_note,
    what_cannot_be_dialled_is_refused_when_asked_for,
    a_bridge_nobody_takes_or_reports_fails_with_a_note,
    an_inactive_lawyer_or_the_hourly_cap_stops_a_bridge,
    one_at_a_time_per_ticket_and_a_restarted_node_gives_up_its_claims,
);

/// 10:00 in Shanghai on Monday 2026-03-02.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap()
}

struct World {
    ticketing: Ticketing,
    clock: ManualClock,
    store: Store,
}

/// With `trunk`, the IVR nodes have an outbound trunk to dial callers.
fn world(store: Store, trunk: bool) -> World {
    let clock = ManualClock::new(t0());
    let policy = RoutingPolicy {
        paging: PagingPolicy {
            phones: trunk,
            ..PagingPolicy::default()
        },
        ..RoutingPolicy::default()
    };
    let ticketing = Ticketing::new(
        store.clone(),
        Arc::new(clock.clone()),
        Arc::new(Limitation::bundled().unwrap()),
    )
    .with_routing(policy);
    World {
        ticketing,
        clock,
        store,
    }
}

/// An IVR node's token: its id is the node's name with `-token`.
fn node(name: &str) -> Principal {
    Principal {
        token_id: format!("{name}-token"),
        role: Role::Ivr,
        lawyer: None,
        center: None,
        name: name.to_owned(),
    }
}

fn answered(talk_seconds: i64) -> BridgeLegs<'static> {
    BridgeLegs {
        lawyer: LegOutcome::Answered,
        caller: Some(LegOutcome::Answered),
        detail: Some("the caller hung up"),
        talk_seconds,
    }
}

impl World {
    async fn lawyer(&self, id: &str, center: &str, active: bool) {
        self.store
            .put_lawyer(
                &Lawyer {
                    id: id.into(),
                    center: center.into(),
                    name: format!("Lawyer {id}"),
                    phone: "13900000000".into(),
                    sip_uri: Some(format!("sip:{id}@10.0.0.9:5062")),
                    skills: vec!["family".into()],
                    regions: vec![],
                    languages: vec!["en".into()],
                    capacity: 5,
                    active,
                },
                t0(),
            )
            .await
            .unwrap();
    }

    async fn ticketing_number(&self, key: &str) -> TicketNumber {
        self.ticket(key, Some("13812345678")).await
    }

    /// A consultation (family: normal, not routed) with `caller`'s number.
    async fn ticket(&self, key: &str, caller: Option<&str>) -> TicketNumber {
        let new = NewTicket {
            idempotency_key: key.to_owned(),
            proposed_number: None,
            kind: TicketKind::Consultation,
            matter: Some(Matter::Family),
            caller_number: caller.map(|c| PhoneNumber::parse(c).unwrap()),
            callback_number: None,
            event_date: None,
            document: None,
            chosen_rule: None,
            preservation: false,
            priority_group: PriorityGroup::None,
            language: Language::En,
            center: "default".to_owned(),
            region: None,
            summary: String::new(),
            flags: Flags::default(),
            last_node: None,
            actor: "ivr".to_owned(),
        };
        let (t, created) = self.ticketing.create(&new).await.unwrap();
        assert!(created);
        t.number
    }

    /// A bridge asked for by li, taken by ivr-a, reported with `legs`.
    async fn placed(&self, number: &TicketNumber, legs: BridgeLegs<'_>) {
        let id = self
            .ticketing
            .request_bridge(number, "li", "lawyer:li")
            .await
            .unwrap();
        self.ticketing
            .claim_bridge("ivr-a", "ivr-a-token", "run-1")
            .await
            .unwrap()
            .unwrap();
        let ivr = node("ivr-a");
        let finished = self.ticketing.finish_bridge(id, "ivr-a", &ivr, legs);
        assert!(finished.await.unwrap());
    }

    async fn notes(&self, number: &TicketNumber) -> Vec<String> {
        self.store
            .history(number)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == EventKind::Note)
            .map(|e| e.note.unwrap_or_default())
            .collect()
    }

    async fn due(&self, number: &TicketNumber) -> Option<DateTime<Utc>> {
        self.ticketing
            .callbacks(&CallbackFilter {
                number: Some(number),
                ..CallbackFilter::default()
            })
            .await
            .unwrap()
            .first()
            .and_then(|c| c.due_at)
    }
}

async fn a_bridge_is_placed_by_one_node_and_its_caller_leg_is_an_attempt(store: Store) {
    let w = world(store, true);
    w.lawyer("li", "default", true).await;
    let number = w.ticket("k1", Some("13812345678")).await;
    assert!(
        w.due(&number).await.is_some(),
        "a consultation is called back"
    );
    let id = w
        .ticketing
        .request_bridge(&number, "li", "supervisor:wang")
        .await
        .unwrap();
    assert!(w.notes(&number).await[0].contains("lawyer li, then the caller"));

    // One node takes it, with the caller's number in full; no other does.
    let job = w
        .ticketing
        .claim_bridge("ivr-a", "ivr-a-token", "run-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.id, id);
    assert_eq!(job.number, number);
    assert_eq!(job.caller.as_str(), "13812345678");
    assert_eq!(job.lawyer_target, "sip:li@10.0.0.9:5062");
    assert_eq!(job.caller_language, "en");
    assert!(w
        .ticketing
        .claim_bridge("ivr-b", "ivr-b-token", "run-1")
        .await
        .unwrap()
        .is_none());

    // Only the claiming node's token reports it, once.
    let impostor = w
        .ticketing
        .finish_bridge(id, "ivr-a", &node("ivr-b"), answered(42))
        .await;
    assert!(!impostor.unwrap());
    assert!(w
        .ticketing
        .finish_bridge(id, "ivr-a", &node("ivr-a"), answered(42))
        .await
        .unwrap());
    assert!(!w
        .ticketing
        .finish_bridge(id, "ivr-a", &node("ivr-a"), answered(42))
        .await
        .unwrap());

    let attempts = w.store.callback_attempts_of(&number).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, CallbackOutcome::Answered);
    assert_eq!(attempts[0].actor, "lawyer:li");
    assert!(
        attempts[0].note.contains("connected 42 s"),
        "{}",
        attempts[0].note
    );
    assert!(attempts[0].note.contains("ivr-a"), "{}", attempts[0].note);
    // The caller was reached: nothing more is due.
    assert_eq!(w.due(&number).await, None);
}

async fn a_busy_caller_makes_the_next_attempt_due_and_a_missed_lawyer_is_a_note(store: Store) {
    let w = world(store, true);
    w.lawyer("li", "default", true).await;
    let number = w.ticket("k1", Some("13812345678")).await;
    let first_due = w.due(&number).await.unwrap();
    let legs = |lawyer, caller, detail| BridgeLegs {
        lawyer,
        caller,
        detail: Some(detail),
        talk_seconds: 0,
    };

    // The lawyer did not answer: the caller was not dialled, no attempt.
    w.placed(&number, legs(LegOutcome::NoAnswer, None, "SIP 480"))
        .await;
    assert!(w
        .store
        .callback_attempts_of(&number)
        .await
        .unwrap()
        .is_empty());
    let notes = w.notes(&number).await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("lawyer li was not reached (no-answer)")),
        "{notes:?}"
    );
    assert_eq!(w.due(&number).await, Some(first_due));

    // The caller's line was busy: an attempt, and the next one is due.
    w.clock.advance(Duration::minutes(10));
    let busy = legs(LegOutcome::Answered, Some(LegOutcome::Busy), "SIP 486");
    w.placed(&number, busy).await;
    let attempts = w.store.callback_attempts_of(&number).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, CallbackOutcome::Busy);
    assert_eq!(attempts[0].actor, "lawyer:li");
    let next = w.due(&number).await.unwrap();
    assert!(next > w.ticketing.now(), "{next}");

    // A trunk failure before the phone rang is no attempt either.
    let failed = legs(LegOutcome::Answered, Some(LegOutcome::Failed), "SIP 503");
    w.placed(&number, failed).await;
    assert_eq!(
        w.store.callback_attempts_of(&number).await.unwrap().len(),
        1
    );
    assert!(w
        .notes(&number)
        .await
        .iter()
        .any(|n| n.contains("not connected to the lawyer (SIP 503)")));
}

async fn what_cannot_be_dialled_is_refused_when_asked_for(store: Store) {
    let w = world(store.clone(), true);
    w.lawyer("li", "default", true).await;
    w.lawyer("off", "default", false).await;
    w.lawyer("far", "elsewhere", true).await;
    let number = w.ticket("k1", Some("13812345678")).await;
    let asked = |lawyer: &'static str| {
        let (t, n) = (w.ticketing.clone(), number.clone());
        async move { t.request_bridge(&n, lawyer, "supervisor:wang").await }
    };
    assert!(matches!(
        asked("nobody").await,
        Err(BridgeError::UnknownLawyer(_))
    ));
    assert!(matches!(asked("off").await, Err(BridgeError::Inactive(_))));
    assert!(matches!(
        asked("far").await,
        Err(BridgeError::OtherCenter { .. })
    ));
    // One at a time per ticket; two per lawyer.
    asked("li").await.unwrap();
    assert!(matches!(asked("li").await, Err(BridgeError::InProgress(_))));
    for key in ["k3", "k4"] {
        let other = w.ticket(key, Some("13812345678")).await;
        let asked = w
            .ticketing
            .request_bridge(&other, "li", "supervisor:wang")
            .await;
        if key == "k3" {
            asked.unwrap();
        } else {
            assert!(matches!(asked, Err(BridgeError::TooMany(_))), "{asked:?}");
        }
    }
    // No number to call.
    let anonymous = w.ticket("k2", None).await;
    let refused = w
        .ticketing
        .request_bridge(&anonymous, "li", "supervisor:wang")
        .await;
    assert!(refused.unwrap_err().to_string().contains("number"));
    // Without a trunk nothing is asked for at all.
    let without = world(store, false);
    let refused = without
        .ticketing
        .request_bridge(&number, "li", "supervisor:wang")
        .await;
    assert!(matches!(refused, Err(BridgeError::NoTrunk)));
}

async fn a_bridge_nobody_takes_or_reports_fails_with_a_note(store: Store) {
    let w = world(store, true);
    w.lawyer("li", "default", true).await;
    let number = w.ticket("k1", Some("13812345678")).await;
    w.ticketing
        .request_bridge(&number, "li", "lawyer:li")
        .await
        .unwrap();
    // Nobody took it within two minutes: failed, and not handed out later.
    w.clock.advance(Duration::minutes(3));
    w.ticketing.run_routing().await.unwrap();
    assert!(w
        .ticketing
        .claim_bridge("ivr-a", "ivr-a-token", "run-1")
        .await
        .unwrap()
        .is_none());
    let notes = w.notes(&number).await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("no IVR node took the call")),
        "{notes:?}"
    );

    // Claimed and never reported: taken back after the longest call.
    let id = w
        .ticketing
        .request_bridge(&number, "li", "lawyer:li")
        .await
        .unwrap();
    w.ticketing
        .claim_bridge("ivr-a", "ivr-a-token", "run-1")
        .await
        .unwrap()
        .unwrap();
    w.clock.advance(Duration::minutes(140));
    w.ticketing.run_routing().await.unwrap();
    assert!(!w
        .notes(&number)
        .await
        .iter()
        .any(|n| n.contains("not reported")));
    w.clock.advance(Duration::minutes(11));
    w.ticketing.run_routing().await.unwrap();
    let notes = w.notes(&number).await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("not reported by IVR node ivr-a")),
        "{notes:?}"
    );
    // A report after that changes nothing.
    assert!(!w
        .ticketing
        .finish_bridge(id, "ivr-a", &node("ivr-a"), answered(5))
        .await
        .unwrap());
    assert!(w
        .store
        .callback_attempts_of(&number)
        .await
        .unwrap()
        .is_empty());
}

async fn an_inactive_lawyer_or_the_hourly_cap_stops_a_bridge(store: Store) {
    let mut w = world(store, true);
    w.ticketing = w.ticketing.clone().with_bridges(BridgePolicy {
        calls_per_hour: 3,
        record: true,
    });
    w.lawyer("li", "default", true).await;
    w.lawyer("zhao", "default", true).await;
    let number = w.ticketing_number("k1").await;
    // Asked for, then li is made inactive before a node takes it.
    w.ticketing
        .request_bridge(&number, "li", "supervisor:wang")
        .await
        .unwrap();
    w.lawyer("li", "default", false).await;
    assert!(w
        .ticketing
        .claim_bridge("ivr-a", "ivr-a-token", "run-1")
        .await
        .unwrap()
        .is_none());
    let notes = w.notes(&number).await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("not placed: the lawyer is no longer active")),
        "{notes:?}"
    );
    // Three in the hour (the one above counts), then refused until the
    // hour has passed.
    let others = [
        w.ticket("k2", Some("13812345678")).await,
        w.ticket("k3", Some("13812345678")).await,
        w.ticket("k4", Some("13812345678")).await,
    ];
    for other in &others[..2] {
        w.ticketing
            .request_bridge(other, "zhao", "supervisor:wang")
            .await
            .unwrap();
    }
    w.lawyer("chen", "default", true).await;
    let refused = w
        .ticketing
        .request_bridge(&others[2], "chen", "supervisor:wang")
        .await;
    assert!(
        matches!(refused, Err(BridgeError::HourlyCap(3))),
        "{refused:?}"
    );
    w.clock.advance(Duration::minutes(61));
    w.ticketing.run_routing().await.unwrap();
    let job = w
        .ticketing
        .request_bridge(&others[2], "chen", "supervisor:wang")
        .await;
    assert!(job.is_ok(), "{job:?}");
    assert!(w.ticketing.records_bridges());
}

async fn one_at_a_time_per_ticket_and_a_restarted_node_gives_up_its_claims(store: Store) {
    let w = world(store, true);
    w.lawyer("li", "default", true).await;
    let number = w.ticket("k1", Some("13812345678")).await;
    w.ticketing
        .request_bridge(&number, "li", "lawyer:li")
        .await
        .unwrap();
    w.ticketing
        .claim_bridge("ivr-a", "ivr-a-token", "run-1")
        .await
        .unwrap()
        .unwrap();
    // Being placed: a second press for the ticket is refused.
    let again = w.ticketing.request_bridge(&number, "li", "lawyer:li").await;
    assert!(
        matches!(again, Err(BridgeError::InProgress(_))),
        "{again:?}"
    );
    // The same run reconnecting keeps its claim; a new run gives it up.
    assert_eq!(
        w.ticketing
            .release_earlier_runs("ivr-a", "run-1")
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        w.ticketing
            .release_earlier_runs("ivr-b", "run-9")
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        w.ticketing
            .release_earlier_runs("ivr-a", "run-2")
            .await
            .unwrap(),
        1
    );
    let notes = w.notes(&number).await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("IVR node ivr-a started again before reporting it")),
        "{notes:?}"
    );
    assert!(w
        .store
        .callback_attempts_of(&number)
        .await
        .unwrap()
        .is_empty());
    // The ticket is free again.
    w.ticketing
        .request_bridge(&number, "li", "lawyer:li")
        .await
        .unwrap();
}
