//! The store suite: every test runs once on SQLite and once on PostgreSQL
//! (`sqlite::NAME` and `postgres::NAME` in the test output).

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support;

use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use hotline_domain::Urgency;
use hotline_domain::{
    Document, HardshipBasis, Language, Matter, PhoneNumber, PriorityGroup, RegionCode, TicketKind,
    TicketNumber, TicketState,
};
use hotline_ticketing::limitation::TicketUrgency;
use hotline_ticketing::store::StoreError;
use hotline_ticketing::tickets::lifecycle::{LifecycleError, Move};
use hotline_ticketing::tickets::{
    Assessed, Correction, EventKind, Flags, NewTicket, Ticket, TicketFilter,
};
use hotline_ticketing::Store;

both_backends!(
    create_and_read_back_every_field,
    same_idempotency_key_gives_one_ticket,
    fifty_concurrent_creates_give_fifty_random_numbers,
    concurrent_retries_of_one_key_give_one_ticket,
    proposed_number_is_used_when_free,
    taken_proposed_number_becomes_an_alias,
    lifecycle_writes_an_event_per_step,
    illegal_transition_is_refused_and_writes_nothing,
    missing_reason_is_refused_and_writes_nothing,
    corrections_are_events_with_old_and_new_values,
    notes_join_the_history,
    list_filters_and_pages_without_gaps_or_repeats,
    history_and_tickets_cannot_be_rewritten,
    unknown_number_is_not_found,
    reevaluation_writes_each_change_once,
    daily_runs_are_claimed_once_per_day,
    recordings_are_stored_once_per_key_and_read_back,
    concurrent_audit_lines_are_each_committed_before_their_caller_returns,
);

fn normal() -> TicketUrgency {
    TicketUrgency {
        urgency: Urgency::Normal,
        deadline: None,
        rule: None,
        warnings: Vec::new(),
    }
}

/// What the service would have assessed; the store keeps whatever it is given.
fn assessed() -> Assessed {
    Assessed {
        urgency: normal(),
        callback_due: None,
    }
}

/// A re-assessment that changes nothing.
fn same_urgency(_: &Ticket) -> TicketUrgency {
    normal()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 30, 0).unwrap()
}

fn new_ticket(key: &str) -> NewTicket {
    NewTicket {
        idempotency_key: key.to_owned(),
        proposed_number: None,
        kind: TicketKind::Application,
        matter: Some(Matter::LaborWages),
        caller_number: Some(PhoneNumber::parse("13812345678").unwrap()),
        callback_number: Some(PhoneNumber::parse("13987654321").unwrap()),
        event_date: Some(NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()),
        document: None,
        chosen_rule: None,
        preservation: false,
        priority_group: PriorityGroup::MigrantWorker,
        language: Language::Zh,
        center: "default".to_owned(),
        region: Some(RegionCode::parse("440300").unwrap()),
        summary: "欠薪三个月".to_owned(),
        flags: Flags {
            hardship_waived: true,
            ..Flags::default()
        },
        last_node: None,
        actor: "operator".to_owned(),
    }
}

async fn create_and_read_back_every_field(store: Store) {
    let mut new = new_ticket("k1");
    new.flags = Flags {
        hardship_waived: true,
        hardship_basis: Some(HardshipBasis::Art42MigrantWorkers),
        pledge_offered: true,
        advance_enforcement: true,
        home_visit: true,
        mediation_preferred: true,
    };
    new.document = Some(Document::ArbitralAward);
    new.chosen_rule = Some("labor-award-suit".into());
    new.preservation = true;
    new.language = Language::En;
    let (created, was_new) = store.create_ticket(&new, &assessed(), t0()).await.unwrap();
    assert!(was_new);
    let t = store.ticket(&created.number).await.unwrap();
    assert_eq!(t.number, created.number);
    assert_eq!(t.kind, TicketKind::Application);
    assert_eq!(t.state, TicketState::Application);
    assert_eq!(t.matter, Some(Matter::LaborWages));
    assert_eq!(t.caller_number.as_ref().unwrap().as_str(), "13812345678");
    assert_eq!(t.callback_number.as_ref().unwrap().as_str(), "13987654321");
    assert_eq!(t.event_date, NaiveDate::from_ymd_opt(2025, 12, 31));
    assert!(t.preservation);
    assert_eq!(t.priority_group, PriorityGroup::MigrantWorker);
    assert_eq!(t.flags, new.flags);
    assert_eq!(t.language, Language::En);
    assert_eq!(t.center, "default");
    assert_eq!(t.region.unwrap().as_str(), "440300");
    assert_eq!(t.summary, "欠薪三个月");
    assert!(t.recordings.is_empty());
    assert_eq!(t.urgency, Some(Urgency::Normal));
    assert_eq!(t.document, Some(Document::ArbitralAward));
    assert_eq!(t.chosen_rule.as_deref(), Some("labor-award-suit"));
    // The decision clock waits for the materials (art. 43).
    assert_eq!(t.decision_due, None);
    assert!(t.awaits_materials());
    assert_eq!(t.created_at, t0());
    let history = store.history(&t.number).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].kind, EventKind::Created);
    assert_eq!(history[0].actor, "operator");
    assert_eq!(history[0].at, t0());
    assert_eq!(history[0].to_state, Some(TicketState::Application));
}

async fn same_idempotency_key_gives_one_ticket(store: Store) {
    let (first, created_first) = store
        .create_ticket(&new_ticket("call-1"), &assessed(), t0())
        .await
        .unwrap();
    let mut retry = new_ticket("call-1");
    retry.summary = "a retry carries the same key".into();
    let (second, created_second) = store
        .create_ticket(&retry, &assessed(), t0() + Duration::seconds(5))
        .await
        .unwrap();
    assert!(created_first);
    assert!(!created_second);
    assert_eq!(first.number, second.number);
    assert_eq!(second.summary, "欠薪三个月", "the retry changes nothing");
    let (all, _) = store
        .list_tickets(&TicketFilter::default(), 100, None)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(store.history(&first.number).await.unwrap().len(), 1);
}

async fn fifty_concurrent_creates_give_fifty_random_numbers(store: Store) {
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_ticket(&new_ticket(&format!("key-{i}")), &assessed(), t0())
                .await
                .map(|(t, created)| (t.number, created))
        }));
    }
    let mut numbers = Vec::new();
    for task in tasks {
        let (number, created) = task.await.unwrap().unwrap();
        assert!(created);
        numbers.push(number);
    }
    let distinct: HashSet<_> = numbers.iter().collect();
    assert_eq!(distinct.len(), 50, "numbers must be distinct");
    for n in &numbers {
        assert!(
            TicketNumber::parse(n.as_str()).is_ok(),
            "{n} must carry a valid check digit"
        );
    }
    // Not sequential: no two numbers are neighbours once the check digit is dropped.
    let mut bodies: Vec<u64> = numbers
        .iter()
        .map(|n| n.as_str()[..9].parse().unwrap())
        .collect();
    bodies.sort_unstable();
    for pair in bodies.windows(2) {
        assert!(
            pair[1] - pair[0] > 1,
            "consecutive numbers {} and {}",
            pair[0],
            pair[1]
        );
    }
}

async fn concurrent_retries_of_one_key_give_one_ticket(store: Store) {
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_ticket(&new_ticket("same-call"), &assessed(), t0())
                .await
                .map(|(t, c)| (t.number, c))
        }));
    }
    let mut numbers = HashSet::new();
    let mut created = 0;
    for task in tasks {
        let (number, was_new) = task.await.unwrap().unwrap();
        numbers.insert(number);
        created += usize::from(was_new);
    }
    assert_eq!(numbers.len(), 1);
    assert_eq!(created, 1);
}

async fn proposed_number_is_used_when_free(store: Store) {
    let proposed = TicketNumber::parse("8000000003").unwrap();
    let mut new = new_ticket("ivr-node-1:call-a");
    new.proposed_number = Some(proposed.clone());
    let (t, _) = store.create_ticket(&new, &assessed(), t0()).await.unwrap();
    assert_eq!(t.number, proposed);
    assert!(t.aliases.is_empty());
}

async fn taken_proposed_number_becomes_an_alias(store: Store) {
    let proposed = TicketNumber::parse("8000000003").unwrap();
    let mut first = new_ticket("call-a");
    first.proposed_number = Some(proposed.clone());
    let (a, _) = store
        .create_ticket(&first, &assessed(), t0())
        .await
        .unwrap();
    let mut second = new_ticket("call-b");
    second.proposed_number = Some(proposed.clone());
    let (b, created) = store
        .create_ticket(&second, &assessed(), t0())
        .await
        .unwrap();
    assert!(created);
    assert_ne!(b.number, proposed, "a taken number is not reused");
    assert_eq!(b.aliases, vec![proposed.clone()]);
    // What create returns is what a read finds.
    assert_eq!(
        format!("{:?}", store.ticket(&b.number).await.unwrap()),
        format!("{b:?}")
    );
    // The number now finds both tickets; the one whose own number it is comes first.
    assert_eq!(store.ticket(&proposed).await.unwrap().number, a.number);
    let filter = TicketFilter {
        number: Some(proposed.clone()),
        ..TicketFilter::default()
    };
    let (found, _) = store.list_tickets(&filter, 10, None).await.unwrap();
    let found: HashSet<_> = found.into_iter().map(|t| t.number).collect();
    assert_eq!(found, HashSet::from([a.number.clone(), b.number.clone()]));
    let history = store.history(&b.number).await.unwrap();
    assert!(history[0].reason.as_deref().unwrap().contains("8000000003"));

    // An alias that no ticket has as its own number finds its ticket directly.
    let mut third = new_ticket("call-c");
    third.proposed_number = Some(b.number.clone());
    let (c, _) = store
        .create_ticket(&third, &assessed(), t0())
        .await
        .unwrap();
    assert_eq!(c.aliases, vec![b.number.clone()]);
    let mut fourth = new_ticket("call-d");
    fourth.proposed_number = Some(proposed.clone());
    let (d, _) = store
        .create_ticket(&fourth, &assessed(), t0())
        .await
        .unwrap();
    assert_eq!(d.aliases, vec![proposed]);
}

async fn lifecycle_writes_an_event_per_step(store: Store) {
    let (t, _) = store
        .create_ticket(&new_ticket("k"), &assessed(), t0())
        .await
        .unwrap();
    let steps = [
        (TicketState::Accepted, Move::default()),
        (
            TicketState::Assigned,
            Move {
                lawyer: Some("lawyer-7".into()),
                ..Move::default()
            },
        ),
        (TicketState::InProgress, Move::default()),
        (
            TicketState::Closed,
            Move {
                outcome: Some("settled".into()),
                reason: Some("employer paid in full".into()),
                ..Move::default()
            },
        ),
    ];
    for (i, (to, mv)) in steps.iter().enumerate() {
        let at = t0() + Duration::minutes(i as i64 + 1);
        let after = store
            .transition(&t.number, *to, mv, "lawyer:lawyer-7", at)
            .await
            .unwrap();
        assert_eq!(after.state, *to);
        assert_eq!(after.updated_at, at);
    }
    let closed = store.ticket(&t.number).await.unwrap();
    assert_eq!(closed.assigned_lawyer.as_deref(), Some("lawyer-7"));
    assert_eq!(closed.outcome.as_deref(), Some("settled"));
    let history = store.history(&t.number).await.unwrap();
    let moves: Vec<_> = history
        .iter()
        .map(|e| (e.kind, e.from_state, e.to_state))
        .collect();
    use TicketState::*;
    assert_eq!(
        moves,
        vec![
            (EventKind::Created, None, Some(Application)),
            (EventKind::Transitioned, Some(Application), Some(Accepted)),
            (EventKind::Transitioned, Some(Accepted), Some(Assigned)),
            (EventKind::Transitioned, Some(Assigned), Some(InProgress)),
            (EventKind::Transitioned, Some(InProgress), Some(Closed)),
        ]
    );
    assert_eq!(history[4].reason.as_deref(), Some("employer paid in full"));
    assert_eq!(history[4].actor, "lawyer:lawyer-7");
    assert_eq!(history[4].at, t0() + Duration::minutes(4));
}

async fn illegal_transition_is_refused_and_writes_nothing(store: Store) {
    let (t, _) = store
        .create_ticket(&new_ticket("k"), &assessed(), t0())
        .await
        .unwrap();
    let err = store
        .transition(
            &t.number,
            TicketState::InProgress,
            &Move::default(),
            "op",
            t0(),
        )
        .await
        .unwrap_err();
    match err {
        StoreError::Lifecycle(LifecycleError::Illegal { from, to, .. }) => {
            assert_eq!(from, TicketState::Application);
            assert_eq!(to, TicketState::InProgress);
        }
        other => panic!("expected an illegal transition, got {other:?}"),
    }
    assert_eq!(
        store.ticket(&t.number).await.unwrap().state,
        TicketState::Application
    );
    assert_eq!(store.history(&t.number).await.unwrap().len(), 1);
}

async fn missing_reason_is_refused_and_writes_nothing(store: Store) {
    let (t, _) = store
        .create_ticket(&new_ticket("k"), &assessed(), t0())
        .await
        .unwrap();
    let err = store
        .transition(
            &t.number,
            TicketState::Rejected,
            &Move::default(),
            "op",
            t0(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Lifecycle(LifecycleError::Missing(_, "reason"))
        ),
        "{err:?}"
    );
    assert_eq!(store.history(&t.number).await.unwrap().len(), 1);
    let rejected = store
        .transition(
            &t.number,
            TicketState::Rejected,
            &Move {
                reason: Some("income above the local threshold".into()),
                ..Move::default()
            },
            "op",
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        rejected.rejection_reason.as_deref(),
        Some("income above the local threshold")
    );
}

async fn corrections_are_events_with_old_and_new_values(store: Store) {
    let (t, _) = store
        .create_ticket(&new_ticket("k"), &assessed(), t0())
        .await
        .unwrap();
    let correction = Correction {
        matter: Some(Matter::LaborTermination),
        event_date: Some(None),
        callback_number: Some(PhoneNumber::parse("01065123456").unwrap()),
        preservation: Some(true),
        ..Correction::default()
    };
    let later = t0() + Duration::hours(2);
    let after = store
        .correct(
            &t.number,
            &correction,
            Some("caller called again"),
            "op",
            later,
            &same_urgency,
        )
        .await
        .unwrap();
    assert_eq!(after.matter, Some(Matter::LaborTermination));
    assert_eq!(after.event_date, None);
    assert_eq!(after.callback_number.unwrap().as_str(), "01065123456");
    assert!(after.preservation);
    assert_eq!(after.updated_at, later);
    let history = store.history(&t.number).await.unwrap();
    assert_eq!(history.len(), 2);
    let event = &history[1];
    assert_eq!(event.kind, EventKind::Corrected);
    assert_eq!(event.reason.as_deref(), Some("caller called again"));
    let fields: Vec<_> = event
        .changes
        .iter()
        .map(|c| (c.field.as_str(), c.old.as_deref(), c.new.as_deref()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("matter", Some("labor-wages"), Some("labor-termination")),
            ("event_date", Some("2025-12-31"), None),
            ("callback_number", Some("13987654321"), Some("01065123456")),
            ("preservation", Some("false"), Some("true")),
        ]
    );
    // Correcting to the same values changes nothing and writes no event.
    store
        .correct(&t.number, &correction, None, "op", later, &same_urgency)
        .await
        .unwrap();
    assert_eq!(store.history(&t.number).await.unwrap().len(), 2);
}

async fn notes_join_the_history(store: Store) {
    let (t, _) = store
        .create_ticket(&new_ticket("k"), &assessed(), t0())
        .await
        .unwrap();
    let event = store
        .add_note(
            &t.number,
            "called back, no answer",
            "lawyer:l1",
            t0() + Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(event.kind, EventKind::Note);
    assert_eq!(event.note.as_deref(), Some("called back, no answer"));
    assert_eq!(event.ticket_number, t.number);
    let history = store.history(&t.number).await.unwrap();
    assert_eq!(history.last(), Some(&event));
}

async fn recordings_are_stored_once_per_key_and_read_back(store: Store) {
    let (t, _) = store
        .create_ticket(&new_ticket("k"), &assessed(), t0())
        .await
        .unwrap();
    let audio: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let new = hotline_ticketing::store::NewRecording {
        idempotency_key: "ivr-1:call-1:message",
        content_type: "audio/wav",
        duration_ms: 4375,
        audio: &audio,
    };
    let first = store
        .add_recording(&t.number, &new, "ivr", t0())
        .await
        .unwrap();
    // The outbox retries after a lost answer: nothing new is stored.
    let again = store
        .add_recording(&t.number, &new, "ivr", t0())
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(first.size_bytes, 70_000);
    let read = store.ticket(&t.number).await.unwrap();
    assert_eq!(read.recordings, vec![first.clone()]);
    let (info, number, bytes) = store.recording_audio(first.id).await.unwrap();
    assert_eq!((info, number), (first.clone(), t.number.clone()));
    assert_eq!(bytes, audio);
    let history = store.history(&t.number).await.unwrap();
    let added: Vec<_> = history
        .iter()
        .filter(|e| e.kind == EventKind::RecordingAdded)
        .collect();
    assert_eq!(added.len(), 1);
    assert!(matches!(
        store.recording_audio(first.id + 1000).await,
        Err(StoreError::RecordingNotFound(_))
    ));
}

async fn list_filters_and_pages_without_gaps_or_repeats(store: Store) {
    let mut created = Vec::new();
    for i in 0..7 {
        let mut new = new_ticket(&format!("k{i}"));
        if i % 2 == 1 {
            new.matter = Some(Matter::Family);
            new.center = "shenzhen".into();
        }
        // Two tickets share each creation time, so the page cursor must break ties.
        let at = t0() + Duration::minutes(i / 2);
        created.push(store.create_ticket(&new, &assessed(), at).await.unwrap().0);
    }
    store
        .transition(
            &created[0].number,
            TicketState::Accepted,
            &Move::default(),
            "op",
            t0(),
        )
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = store
            .list_tickets(&TicketFilter::default(), 2, after)
            .await
            .unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.into_iter().map(|t| t.number));
        match next {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);
    assert_eq!(seen.last(), Some(&created[0].number), "newest first");

    let count = |filter: TicketFilter| {
        let store = store.clone();
        async move {
            store
                .list_tickets(&filter, 100, None)
                .await
                .unwrap()
                .0
                .len()
        }
    };
    assert_eq!(
        count(TicketFilter {
            matter: Some(Matter::Family),
            ..Default::default()
        })
        .await,
        3
    );
    assert_eq!(
        count(TicketFilter {
            center: Some("shenzhen".into()),
            ..Default::default()
        })
        .await,
        3
    );
    assert_eq!(
        count(TicketFilter {
            state: Some(TicketState::Accepted),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        count(TicketFilter {
            state: Some(TicketState::Closed),
            ..Default::default()
        })
        .await,
        0
    );
    let range = TicketFilter {
        created_from: Some(t0() + Duration::minutes(1)),
        created_to: Some(t0() + Duration::minutes(3)),
        ..Default::default()
    };
    assert_eq!(count(range).await, 4);
}

async fn history_and_tickets_cannot_be_rewritten(store: Store) {
    let (t, _) = store
        .create_ticket(&new_ticket("k"), &assessed(), t0())
        .await
        .unwrap();
    let update = sqlx::query("UPDATE ticket_events SET actor = 'someone else'")
        .execute(store.pool())
        .await;
    assert!(update.is_err(), "the history must refuse updates");
    let delete = sqlx::query("DELETE FROM ticket_events")
        .execute(store.pool())
        .await;
    assert!(delete.is_err(), "the history must refuse deletes");
    let delete = sqlx::query("DELETE FROM tickets")
        .execute(store.pool())
        .await;
    assert!(delete.is_err(), "tickets must refuse deletes");
    assert_eq!(store.history(&t.number).await.unwrap()[0].actor, "operator");
}

async fn unknown_number_is_not_found(store: Store) {
    let missing = TicketNumber::parse("1234567897").unwrap();
    assert!(matches!(
        store.ticket(&missing).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.history(&missing).await,
        Err(StoreError::NotFound(_))
    ));
}

/// SQLite must run with WAL and synchronous=FULL, so that a ticket whose
/// create returned OK survives a power loss.
#[tokio::test]
async fn sqlite_runs_with_wal_and_synchronous_full() {
    let (store, db) = support::sqlite().await;
    // Check several pooled connections, not just the first one.
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(store.pool().acquire().await.unwrap());
    }
    for conn in &mut conns {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL is 2");
    }
    drop(conns);
    db.finish(store).await;
}

async fn reevaluation_writes_each_change_once(store: Store) {
    let (open, _) = store
        .create_ticket(&new_ticket("open"), &assessed(), t0())
        .await
        .unwrap();
    let (closed, _) = store
        .create_ticket(&new_ticket("closed"), &assessed(), t0())
        .await
        .unwrap();
    store
        .transition(
            &closed.number,
            TicketState::Rejected,
            &Move {
                reason: Some("no".into()),
                ..Move::default()
            },
            "op",
            t0(),
        )
        .await
        .unwrap();
    let upgraded = |_: &Ticket| TicketUrgency {
        urgency: Urgency::Urgent,
        deadline: NaiveDate::from_ymd_opt(2026, 3, 31),
        rule: Some("labor-arbitration".into()),
        warnings: vec!["a warning".into()],
    };
    // Two runs at once (two nodes): each change is written once.
    let later = t0() + Duration::days(1);
    let (a, b) = tokio::join!(
        store.reevaluate(later, &upgraded),
        store.reevaluate(later, &upgraded)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let changed = a.len() + b.len();
    assert_eq!(changed, 1, "only the open ticket changes, once");
    let t = store.ticket(&open.number).await.unwrap();
    assert_eq!(t.urgency, Some(Urgency::Urgent));
    assert_eq!(t.deadline, NaiveDate::from_ymd_opt(2026, 3, 31));
    assert_eq!(t.limitation_rule.as_deref(), Some("labor-arbitration"));
    assert_eq!(t.limitation_warnings, vec!["a warning".to_owned()]);
    let history = store.history(&open.number).await.unwrap();
    let event = history.last().unwrap();
    assert_eq!(event.kind, EventKind::Reevaluated);
    assert_eq!(event.at, later);
    assert!(event.changes.iter().any(|c| c.field == "urgency"
        && c.old.as_deref() == Some("normal")
        && c.new.as_deref() == Some("urgent")));
    assert_eq!(store.reevaluate(later, &upgraded).await.unwrap().len(), 0);
    assert_eq!(
        store.history(&open.number).await.unwrap().len(),
        history.len()
    );
    // Final tickets are left alone.
    assert_eq!(
        store.ticket(&closed.number).await.unwrap().urgency,
        Some(Urgency::Normal)
    );
}

async fn daily_runs_are_claimed_once_per_day(store: Store) {
    let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let claims = futures_join(&store, day).await;
    assert_eq!(claims, 1, "one of four concurrent claims wins");
    assert!(!store.claim_daily_run("job", day).await.unwrap());
    assert!(store
        .claim_daily_run("job", day.succ_opt().unwrap())
        .await
        .unwrap());
    assert!(store.claim_daily_run("other-job", day).await.unwrap());
}

async fn futures_join(store: &Store, day: NaiveDate) -> usize {
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.claim_daily_run("job", day).await.unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    won
}

// Two ticketing nodes on one database, each with its own group-commit
// writers: the same calls retried on both make one ticket per key, and a
// batch that loses a key's race is written again ticket by ticket.
mod two_nodes {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_racing_creates_make_one_ticket_per_key() {
        let (store, db) = crate::support::sqlite().await;
        super::racing_creates_make_one_ticket_per_key(store.clone(), db.url()).await;
        db.finish(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_racing_creates_make_one_ticket_per_key() {
        let (store, db) = crate::support::postgres().await;
        super::racing_creates_make_one_ticket_per_key(store.clone(), db.url()).await;
        db.finish(store).await;
    }
}

async fn racing_creates_make_one_ticket_per_key(one: Store, url: String) {
    let other = Store::connect(&url).await.unwrap();
    let mut tasks = Vec::new();
    // 40 calls, each created twice on each node at once.
    for i in 0..160 {
        let store = if i % 2 == 0 {
            one.clone()
        } else {
            other.clone()
        };
        let key = format!("call-{}", i % 40);
        tasks.push(tokio::spawn(async move {
            let (t, created) = store
                .create_ticket(&new_ticket(&key), &assessed(), t0())
                .await
                .unwrap();
            (key, t.number, created)
        }));
    }
    let mut by_key = std::collections::HashMap::<String, HashSet<TicketNumber>>::new();
    let mut created = 0;
    for task in tasks {
        let (key, number, was_new) = task.await.unwrap();
        by_key.entry(key).or_default().insert(number);
        created += usize::from(was_new);
    }
    assert_eq!(created, 40, "one create per key reports `created`");
    assert!(
        by_key.values().all(|numbers| numbers.len() == 1),
        "{by_key:?}"
    );
    let (all, _) = one
        .list_tickets(&TicketFilter::default(), 100, None)
        .await
        .unwrap();
    assert_eq!(all.len(), 40);
    for t in &all {
        assert_eq!(
            one.history(&t.number).await.unwrap().len(),
            1,
            "{}",
            t.number
        );
    }
    other.close().await;
}

/// Streams reveal numbers concurrently: their audit lines share commits,
/// yet every line of every caller is there, with its own time, the moment
/// that caller's `audit` returns, and one caller's lines keep their order.
async fn concurrent_audit_lines_are_each_committed_before_their_caller_returns(store: Store) {
    use hotline_ticketing::auth::{AuditFilter, AuditOutcome, NewAudit};
    let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap();
    let line = |caller: usize, i: usize| NewAudit {
        actor: format!("lawyer:l{caller}"),
        token_id: Some(format!("tok{caller}")),
        action: "read_numbers".into(),
        outcome: AuditOutcome::Allowed,
        ticket: Some(format!("T{caller}-{i}")),
        recording: (i == 2).then_some(caller as i64),
        center: Some("default".into()),
        detail: (caller == 7).then(|| "why".to_owned()),
    };
    let tasks: Vec<_> = (0..40)
        .map(|caller| {
            let store = store.clone();
            tokio::spawn(async move {
                let at = t0 + Duration::seconds(caller as i64);
                let lines: Vec<NewAudit> = (0..3).map(|i| line(caller, i)).collect();
                store.audit(&lines, at).await.unwrap();
                // Committed: a read right after finds this caller's lines.
                let mine = store
                    .audit_log(&AuditFilter {
                        actor: Some(format!("lawyer:l{caller}")),
                        limit: 100,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                let tickets: Vec<_> = mine.iter().map(|e| e.ticket.clone().unwrap()).collect();
                assert_eq!(
                    tickets,
                    (0..3).map(|i| format!("T{caller}-{i}")).collect::<Vec<_>>()
                );
                for e in &mine {
                    assert_eq!(e.at, at);
                    assert_eq!(e.outcome, "allowed");
                    assert_eq!(e.action, "read_numbers");
                    assert_eq!(e.token_id.as_deref(), Some(format!("tok{caller}").as_str()));
                    assert_eq!(e.center.as_deref(), Some("default"));
                    assert_eq!(e.detail.as_deref(), (caller == 7).then_some("why"));
                }
                assert_eq!(mine[2].recording, Some(caller as i64));
                assert_eq!(mine[0].recording, None);
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let all = store
        .audit_log(&AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 120);
    // They shared transactions: on PostgreSQL each row names the
    // transaction that wrote it.
    if store.backend() == hotline_ticketing::store::Backend::Postgres {
        use sqlx::Row;
        let row = sqlx::query(
            "SELECT COUNT(DISTINCT CAST(CAST(xmin AS TEXT) AS BIGINT)) AS n FROM audit_log",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        let transactions: i64 = row.get("n");
        assert!(
            transactions < 40,
            "{transactions} transactions for 40 callers"
        );
    }
}
