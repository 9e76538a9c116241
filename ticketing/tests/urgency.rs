//! Urgency through the gRPC API with an injected clock: computed at create,
//! upgraded by the daily re-evaluation as the deadline comes closer, and
//! recomputed when the facts are corrected.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use hotline_proto::v1 as pb;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;
use hotline_ticketing::limitation::Limitation;
use hotline_ticketing::{server, ManualClock, Ticketing};
use tokio::net::TcpListener;
use tonic::Code;

#[tokio::test]
async fn urgency_is_computed_upgraded_and_recomputed() {
    let (store, _db) = support::sqlite().await;
    // Noon in Shanghai on 2026-01-01.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 4, 0, 0).unwrap());
    let ticketing = Ticketing::new(
        store,
        Arc::new(clock.clone()),
        Arc::new(Limitation::bundled().unwrap()),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = ticketing.clone();
    tokio::spawn(async move { server::run(listener, served, std::future::pending()).await });
    let admin = support::token(&ticketing, hotline_ticketing::auth::Role::Admin, None).await;
    let mut api = TicketServiceClient::new(support::channel(addr, &admin).await);

    // Deadline 2026-02-28 (a make-up working Saturday): 58 days away, normal.
    let t = api
        .create_ticket(pb::CreateTicketRequest {
            idempotency_key: "k".into(),
            matter: Some("labor-termination".into()),
            event_date: Some("2025-02-28".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(t.urgency.as_deref(), Some("normal"));
    assert_eq!(t.deadline.as_deref(), Some("2026-02-28"));
    assert_eq!(t.days_left, Some(58));
    assert_eq!(t.limitation_rule.as_deref(), Some("labor-arbitration"));
    // Art. 43: the decision clock waits for the materials; then 7 days,
    // 2026-01-08 (Thu).
    assert_eq!(t.decision_due, None);
    assert!(t.materials_awaited);
    let marked = api
        .mark_materials_received(pb::MarkMaterialsReceivedRequest {
            number: t.number.clone(),
            note: Some("identity card, labour contract".into()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(marked.decision_due.as_deref(), Some("2026-01-08"));
    assert!(!marked.materials_awaited);

    // The start-up run of the server already happened; move to 2026-02-01.
    clock.advance(Duration::days(31));
    let changed = ticketing.reevaluate_daily().await.unwrap();
    assert_eq!(changed, Some(1));
    assert_eq!(
        ticketing.reevaluate_daily().await.unwrap(),
        None,
        "claimed once a day"
    );

    let number = t.number.clone();
    let t = api
        .get_ticket(pb::GetTicketRequest {
            number: number.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.urgency.as_deref(), Some("urgent"));
    assert_eq!(t.days_left, Some(27));
    let history = api
        .list_ticket_events(pb::ListTicketEventsRequest {
            number: number.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    // The upgrade, then (nobody being on duty here) routing's escalation.
    let last = history
        .iter()
        .rev()
        .find(|e| e.kind == "reevaluated")
        .unwrap();
    assert_eq!(history.last().unwrap().kind, "escalated");
    assert_eq!(last.actor, "limitation");
    assert!(last.changes.iter().any(|c| c.field == "urgency"
        && c.old_value.as_deref() == Some("normal")
        && c.new_value.as_deref() == Some("urgent")));

    // The caller remembers the date better: 2025-02-03, so 2026-02-03 (Tue), 2 days.
    let t = api
        .correct_ticket(pb::CorrectTicketRequest {
            number: number.clone(),
            event_date: Some("2025-02-03".into()),
            reason: Some("the dismissal letter is dated 3 February".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.urgency.as_deref(), Some("critical"));
    assert_eq!(t.deadline.as_deref(), Some("2026-02-03"));
    assert_eq!(t.days_left, Some(2));

    // Accepted on Sunday 2026-02-01: a lawyer is due by 02-04 (Wed).
    let t = api
        .transition_ticket(pb::TransitionTicketRequest {
            number: number.clone(),
            to: "accepted".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.assignment_due.as_deref(), Some("2026-02-04"));

    // An event date after today is a typo, refused by name.
    let status = api
        .correct_ticket(pb::CorrectTicketRequest {
            number,
            event_date: Some("2026-03-01".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("`event_date`"),
        "{}",
        status.message()
    );
}
