//! Retention on the real store, on SQLite and on PostgreSQL, with a manual
//! clock: a closed ticket's message recordings go 180 days after it closed
//! and its numbers and summary 3 years after, each removal written into
//! its history; open tickets keep everything; the history stays
//! append-only to everyone but the retention pass.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hotline_domain::TicketState;
use hotline_domain::{Language, Matter, PhoneNumber, PriorityGroup, TicketKind, TicketNumber};
use hotline_ticketing::limitation::Limitation;
use hotline_ticketing::tickets::lifecycle::Move;
use hotline_ticketing::tickets::{Correction, EventKind, Flags, NewRecording, NewTicket};
use hotline_ticketing::{ManualClock, Store, StoreError, Ticketing};

both_backends!(
    recordings_and_numbers_go_on_schedule_with_events,
    the_history_stays_append_only_outside_the_retention_pass,
);

/// 10:00 in Shanghai on Monday 2026-03-02.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap()
}

const CALLER: &str = "13812345678";
const CALLBACK: &str = "13987654321";
const CORRECTED: &str = "02161234567";
/// A number written into a note by hand.
const IN_A_NOTE: &str = "13700001111";

fn consultation(key: &str) -> NewTicket {
    NewTicket {
        idempotency_key: key.to_owned(),
        proposed_number: None,
        kind: TicketKind::Consultation,
        matter: Some(Matter::Family),
        caller_number: Some(PhoneNumber::parse(CALLER).unwrap()),
        callback_number: Some(PhoneNumber::parse(CALLBACK).unwrap()),
        event_date: None,
        document: None,
        chosen_rule: None,
        preservation: false,
        priority_group: PriorityGroup::None,
        language: Language::Zh,
        center: "default".to_owned(),
        region: None,
        summary: "divorce; husband threatens, call back evenings".to_owned(),
        flags: Flags::default(),
        last_node: None,
        actor: "ivr".to_owned(),
    }
}

/// A ticket with a corrected callback number (so its history holds
/// numbers) and one recording; returns its number and the recording's id.
async fn ticket_with_numbers(t: &Ticketing, key: &str) -> (TicketNumber, i64) {
    let (ticket, _) = t.create(&consultation(key)).await.unwrap();
    let correction = Correction {
        callback_number: Some(PhoneNumber::parse(CORRECTED).unwrap()),
        ..Correction::default()
    };
    t.correct(
        &ticket.number,
        &correction,
        Some("caller gave another"),
        "supervisor:zhao",
    )
    .await
    .unwrap();
    let audio = vec![7u8; 1600];
    let recording = t
        .add_recording(
            &ticket.number,
            &NewRecording {
                idempotency_key: &format!("{key}-rec"),
                content_type: "audio/wav",
                duration_ms: 100,
                audio: &audio,
            },
            "ivr",
        )
        .await
        .unwrap();
    t.add_note(
        &ticket.number,
        "her brother, 13700001111, will pass on messages",
        "supervisor:zhao",
    )
    .await
    .unwrap();
    (ticket.number, recording.id)
}

/// Every personal value the ticket and its history hold, in full, as one
/// text to search (a phone number's `Debug` is masked, so not that).
async fn everything_about(t: &Ticketing, number: &TicketNumber) -> String {
    let ticket = t.ticket(number).await.unwrap();
    let mut all = vec![ticket.summary.clone()];
    all.extend(ticket.outcome.clone());
    all.extend(ticket.caller_number.iter().map(|n| n.as_str().to_owned()));
    all.extend(ticket.callback_number.iter().map(|n| n.as_str().to_owned()));
    for event in t.history(number).await.unwrap() {
        all.extend(event.note.clone());
        all.extend(event.reason.clone());
        for change in event.changes {
            all.extend(change.old);
            all.extend(change.new);
        }
    }
    all.join(" | ")
}

async fn recordings_and_numbers_go_on_schedule_with_events(store: Store) {
    let clock = ManualClock::new(t0());
    let t = Ticketing::new(
        store.clone(),
        Arc::new(clock.clone()),
        Arc::new(Limitation::bundled().unwrap()),
    );
    let (closed, closed_recording) = ticket_with_numbers(&t, "closed").await;
    let (open, open_recording) = ticket_with_numbers(&t, "open").await;
    // Closed a day after it came in.
    clock.advance(Duration::days(1));
    let closed_at = t.now();
    t.transition(
        &closed,
        TicketState::Closed,
        Move {
            outcome: Some("advised by phone; her sister 13611112222 helps".to_owned()),
            ..Move::default()
        },
        "lawyer:li",
    )
    .await
    .unwrap();
    for number in [&closed, &open] {
        let all = everything_about(&t, number).await;
        for n in [CALLER, CALLBACK, CORRECTED, IN_A_NOTE, "husband threatens"] {
            assert!(all.contains(n), "{n} is kept while its time runs: {all}");
        }
    }

    // 180 days after closing, to the millisecond: everything is still there.
    clock.set(closed_at + Duration::days(180) - Duration::milliseconds(1));
    let report = t.apply_retention().await.unwrap();
    assert!(report.recordings_removed.is_empty(), "{report:?}");
    assert!(report.anonymised.is_empty(), "{report:?}");
    t.recording_audio(closed_recording).await.unwrap();

    // At 180 days the closed ticket's recording goes, with an event.
    clock.set(closed_at + Duration::days(180));
    let report = t.apply_retention().await.unwrap();
    assert_eq!(
        report.recordings_removed,
        vec![(closed.clone(), closed_recording)]
    );
    assert!(report.anonymised.is_empty());
    assert!(matches!(
        t.recording_audio(closed_recording).await,
        Err(StoreError::RecordingNotFound(_))
    ));
    let removal = t
        .history(&closed)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == EventKind::RecordingRemoved)
        .expect("a recording_removed event");
    assert_eq!(removal.actor, "retention");
    assert_eq!(removal.at, t.now());
    assert!(
        removal
            .note
            .as_deref()
            .unwrap_or_default()
            .contains(&format!("recording {closed_recording}")),
        "{removal:?}"
    );
    // The open ticket keeps its recording; a second pass finds nothing.
    t.recording_audio(open_recording).await.unwrap();
    assert_eq!(t.apply_retention().await.unwrap(), Default::default());

    // Three calendar years after closing (2029-03-03), not a day earlier:
    // numbers and summary go, in the ticket and in its history.
    let three_years = Utc.with_ymd_and_hms(2029, 3, 3, 2, 0, 0).unwrap();
    assert_eq!(
        three_years - closed_at,
        Duration::days(365 * 3 + 1),
        "across a leap day"
    );
    clock.set(three_years - Duration::days(1));
    assert!(t.apply_retention().await.unwrap().anonymised.is_empty());
    assert!(everything_about(&t, &closed).await.contains(CALLBACK));
    clock.set(three_years);
    let report = t.apply_retention().await.unwrap();
    assert_eq!(report.anonymised, vec![closed.clone()]);
    let ticket = t.ticket(&closed).await.unwrap();
    assert_eq!(ticket.caller_number, None);
    assert_eq!(ticket.callback_number, None);
    assert_eq!(ticket.summary, "");
    let all = everything_about(&t, &closed).await;
    for n in [CALLER, CALLBACK, CORRECTED, IN_A_NOTE, "husband threatens"] {
        assert!(!all.contains(n), "{n} is gone: {all}");
    }
    // The note keeps its words, not the number.
    assert!(
        all.contains("her brother, ***********, will pass on messages"),
        "{all}"
    );
    let history = t.history(&closed).await.unwrap();
    let kinds: Vec<EventKind> = history.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == EventKind::Anonymised)
            .count(),
        1,
        "{kinds:?}"
    );
    // What the history says about the case stays: who corrected which
    // field and why, who closed it with what outcome.
    let correction = history
        .iter()
        .find(|e| e.kind == EventKind::Corrected)
        .unwrap();
    assert_eq!(correction.actor, "supervisor:zhao");
    assert_eq!(correction.reason.as_deref(), Some("caller gave another"));
    assert!(correction
        .changes
        .iter()
        .any(|c| c.field == "callback_number"));
    assert_eq!(ticket.matter, Some(Matter::Family));
    assert_eq!(
        ticket.outcome.as_deref(),
        Some("advised by phone; her sister *********** helps")
    );

    // The open ticket keeps everything, and nothing is done twice.
    let all = everything_about(&t, &open).await;
    assert!(all.contains(CALLER) && all.contains(CORRECTED), "{all}");
    t.recording_audio(open_recording).await.unwrap();
    assert_eq!(t.apply_retention().await.unwrap(), Default::default());

    // The daily job runs once a day, whichever node asks.
    let other = Ticketing::new(
        store.clone(),
        Arc::new(clock.clone()),
        Arc::new(Limitation::bundled().unwrap()),
    );
    assert!(t.retention_daily().await.unwrap().is_some());
    assert!(other.retention_daily().await.unwrap().is_none());
    clock.advance(Duration::days(1));
    assert!(other.retention_daily().await.unwrap().is_some());
}

async fn the_history_stays_append_only_outside_the_retention_pass(store: Store) {
    let clock = ManualClock::new(t0());
    let t = Ticketing::new(
        store.clone(),
        Arc::new(clock.clone()),
        Arc::new(Limitation::bundled().unwrap()),
    );
    let (number, _) = ticket_with_numbers(&t, "k").await;
    let (other, _) = ticket_with_numbers(&t, "other").await;
    for sql in [
        "UPDATE ticket_events SET changes = NULL",
        "UPDATE ticket_events SET note = 'rewritten'",
        "DELETE FROM ticket_events",
    ] {
        let refused = sqlx::query(sql).execute(store.pool()).await;
        assert!(refused.is_err(), "`{sql}` is refused");
    }
    // A gate opened for one ticket lets through only the changes, reasons
    // and notes of that ticket's events; nothing is ever deleted.
    let id_of = |number: &TicketNumber| {
        let number = number.to_string();
        let pool = store.pool().clone();
        async move {
            let row = sqlx::query("SELECT id FROM tickets WHERE number = $1")
                .bind(number)
                .fetch_one(&pool)
                .await
                .unwrap();
            sqlx::Row::try_get::<i64, _>(&row, "id").unwrap()
        }
    };
    let gated = id_of(&number).await;
    let refused_inside = [
        format!("UPDATE ticket_events SET actor = 'someone else' WHERE ticket_id = {gated}"),
        format!("UPDATE ticket_events SET at = 0 WHERE ticket_id = {gated}"),
        format!(
            "UPDATE ticket_events SET note = 'rewritten' WHERE ticket_id = {}",
            id_of(&other).await
        ),
        format!("DELETE FROM ticket_events WHERE ticket_id = {gated}"),
    ];
    for sql in refused_inside {
        let mut tx = store.pool().begin().await.unwrap();
        sqlx::query("INSERT INTO retention_pass (ticket_id, started_at) VALUES ($1, 0)")
            .bind(gated)
            .execute(&mut *tx)
            .await
            .unwrap();
        let refused = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .execute(&mut *tx)
            .await;
        assert!(refused.is_err(), "`{sql}` is refused inside the gate");
        tx.rollback().await.unwrap();
    }
    for n in [&number, &other] {
        let all = everything_about(&t, n).await;
        assert!(
            all.contains(CORRECTED) && !all.contains("rewritten"),
            "{all}"
        );
    }
}
