//! Pages to duty lawyers on the real store, on SQLite and on PostgreSQL,
//! with a manual clock: a critical offer writes a page; one IVR node claims
//! it and no other; the outcome is a `paged` event; a key press acknowledges
//! or declines the offer exactly as the lawyer's own tools would; a page
//! that reached nobody is retried once within the deadline; pages of an
//! offer that ended are never handed out; and the hourly cap holds.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hotline_domain::{
    Language, Matter, PhoneNumber, PriorityGroup, RegionCode, TicketKind, TicketNumber,
};
use hotline_domain::{TicketState, Urgency};
use hotline_ticketing::auth::{Principal, Role};
use hotline_ticketing::limitation::Limitation;
use hotline_ticketing::paging::{PageOutcome, PagingPolicy};
use hotline_ticketing::routing::{Lawyer, OfferState, RosterError, RoutingPolicy};
use hotline_ticketing::store::PageFinish;
use hotline_ticketing::tickets::{EventKind, Flags, NewTicket};
use hotline_ticketing::{ManualClock, Store, Ticketing};

both_backends!(
    a_critical_offer_is_paged_once_and_key_1_acknowledges_it,
    key_2_declines_and_the_next_lawyer_is_paged,
    a_page_that_reached_nobody_is_retried_once_within_the_deadline,
    pages_of_an_ended_offer_are_not_dialled_and_the_hourly_cap_holds,
    a_claim_never_reported_is_taken_back_and_retried,
    a_node_holds_at_most_eight_unreported_pages,
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

fn world(store: Store, calls_per_hour: u32) -> World {
    let clock = ManualClock::new(t0());
    let policy = RoutingPolicy {
        ack_critical: Duration::minutes(5),
        paging: PagingPolicy {
            calls_per_hour,
            // The IVR nodes have a trunk: lawyers without SIP are paged on
            // their phones.
            phones: true,
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

impl World {
    async fn claim(
        &self,
        name: &str,
    ) -> Option<(
        hotline_ticketing::store::PageJob,
        hotline_ticketing::tickets::Ticket,
    )> {
        self.ticketing
            .claim_page(name, &node(name).token_id)
            .await
            .unwrap()
    }

    async fn finish(
        &self,
        id: i64,
        name: &str,
        outcome: PageOutcome,
        detail: Option<&str>,
    ) -> PageFinish {
        self.ticketing
            .finish_page(id, name, &node(name), outcome, detail, false)
            .await
            .unwrap()
    }

    async fn lawyer(&self, id: &str, sip_uri: Option<&str>) {
        self.store
            .put_lawyer(
                &Lawyer {
                    id: id.into(),
                    center: "default".into(),
                    name: format!("Lawyer {id}"),
                    phone: "13900000000".into(),
                    sip_uri: sip_uri.map(str::to_owned),
                    skills: vec!["labor-wages".into()],
                    regions: vec![],
                    languages: vec!["en".into(), "zh".into()],
                    capacity: 5,
                    active: true,
                },
                t0(),
            )
            .await
            .unwrap();
        let now = self.ticketing.now();
        self.store
            .add_shift(id, now - Duration::hours(1), now + Duration::hours(8))
            .await
            .unwrap()
            .unwrap();
    }

    async fn ticket(&self, key: &str, preservation: bool) -> TicketNumber {
        let (t, created) = self
            .ticketing
            .create(&new_ticket(key, preservation))
            .await
            .unwrap();
        assert!(created);
        t.number
    }

    async fn events(&self, number: &TicketNumber, kind: EventKind) -> Vec<String> {
        self.store
            .history(number)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.note.unwrap_or_default())
            .collect()
    }

    async fn pending(&self, number: &TicketNumber) -> Option<String> {
        self.store
            .offers(number)
            .await
            .unwrap()
            .into_iter()
            .find(|o| o.state == OfferState::Pending)
            .map(|o| o.lawyer)
    }
}

fn new_ticket(key: &str, preservation: bool) -> NewTicket {
    NewTicket {
        idempotency_key: key.to_owned(),
        proposed_number: None,
        kind: TicketKind::Application,
        matter: Some(Matter::LaborWages),
        caller_number: Some(PhoneNumber::parse("13812345678").unwrap()),
        callback_number: None,
        event_date: None,
        document: None,
        chosen_rule: None,
        preservation,
        priority_group: PriorityGroup::None,
        language: Language::Zh,
        center: "default".to_owned(),
        region: Some(RegionCode::parse("110108").unwrap()),
        summary: String::new(),
        flags: Flags::default(),
        last_node: None,
        actor: "ivr".to_owned(),
    }
}

async fn a_critical_offer_is_paged_once_and_key_1_acknowledges_it(store: Store) {
    let w = world(store, 120);
    w.lawyer("li", Some("sip:li@10.0.0.9:5062")).await;
    let number = w.ticket("k1", true).await;
    let (job, ticket) = w.claim("ivr-a").await.unwrap();
    assert_eq!(job.number, number);
    assert_eq!(job.lawyer, "li");
    assert_eq!(job.target, "sip:li@10.0.0.9:5062");
    assert_eq!(job.attempt, 1);
    assert_eq!(job.languages, ["en", "zh"]);
    assert_eq!(ticket.urgency, Some(Urgency::Critical));
    // The other node gets nothing: the page is ivr-a's.
    assert!(w.claim("ivr-b").await.is_none());
    assert_eq!(
        w.finish(job.id, "ivr-b", PageOutcome::Accepted, None).await,
        PageFinish::Unknown
    );
    // The node's name with another token (another node misnamed, or a
    // stolen name) is not the claimer either.
    let impostor = Principal {
        token_id: "other-token".into(),
        ..node("ivr-a")
    };
    let refused = w
        .ticketing
        .finish_page(
            job.id,
            "ivr-a",
            &impostor,
            PageOutcome::Accepted,
            None,
            false,
        )
        .await
        .unwrap();
    assert_eq!(refused, PageFinish::Unknown);
    assert_eq!(
        w.finish(job.id, "ivr-a", PageOutcome::Accepted, None).await,
        PageFinish::Recorded
    );
    // Reported once: a repeat is not taken.
    assert_eq!(
        w.finish(job.id, "ivr-a", PageOutcome::Accepted, None).await,
        PageFinish::Unknown
    );
    let t = w.ticketing.ticket(&number).await.unwrap();
    assert_eq!(t.assigned_lawyer.as_deref(), Some("li"));
    assert_eq!(t.state, TicketState::Provisional);
    let acked = w.events(&number, EventKind::OfferAcknowledged).await;
    assert_eq!(acked, ["lawyer li: by phone"]);
    let paged = w.events(&number, EventKind::Paged).await;
    assert_eq!(
        paged,
        ["page to lawyer li (sip:li@10.0.0.9:5062), attempt 1, by IVR node ivr-a: accepted"]
    );
    // The lawyer's own tools come second and change nothing.
    let again = w
        .store
        .acknowledge(
            &number,
            "li",
            w.ticketing.routing_policy(),
            w.ticketing.now(),
        )
        .await
        .unwrap();
    assert!(
        matches!(again, Err(RosterError::NoOffer { .. })),
        "{again:?}"
    );
    assert_eq!(
        w.events(&number, EventKind::OfferAcknowledged).await.len(),
        1
    );
}

async fn key_2_declines_and_the_next_lawyer_is_paged(store: Store) {
    let w = world(store, 120);
    w.lawyer("a", Some("sip:a@10.0.0.9")).await;
    // No SIP address: paged on the phone, through the IVR's trunk.
    w.lawyer("b", None).await;
    let number = w.ticket("k1", true).await;
    let (job, _) = w.claim("ivr-a").await.unwrap();
    assert_eq!(job.lawyer, "a");
    let finish = w
        .finish(job.id, "ivr-a", PageOutcome::Declined, Some("key pressed"))
        .await;
    assert_eq!(finish, PageFinish::Recorded);
    let declined = w
        .store
        .offers(&number)
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.lawyer == "a")
        .unwrap();
    assert_eq!(declined.state, OfferState::Declined);
    assert_eq!(declined.reason.as_deref(), Some("declined by phone"));
    assert_eq!(w.pending(&number).await.as_deref(), Some("b"));
    let (next, _) = w.claim("ivr-b").await.unwrap();
    assert_eq!(next.lawyer, "b");
    assert_eq!(next.target, "tel:13900000000");
    // A failed trunk call leaves the offer running; the history shows no number.
    w.finish(
        next.id,
        "ivr-b",
        PageOutcome::Failed,
        Some("no outbound trunk"),
    )
    .await;
    assert_eq!(w.pending(&number).await.as_deref(), Some("b"));
    let paged = w.events(&number, EventKind::Paged).await;
    assert!(
        paged[1].starts_with("page to lawyer b (phone, through the trunk), attempt 1"),
        "{paged:?}"
    );
    assert!(!paged[1].contains("13900000000"), "{paged:?}");
}

async fn a_page_that_reached_nobody_is_retried_once_within_the_deadline(store: Store) {
    let w = world(store, 120);
    w.lawyer("a", Some("sip:a@10.0.0.9")).await;
    let number = w.ticket("k1", true).await;
    let (first, _) = w.claim("ivr-a").await.unwrap();
    w.finish(first.id, "ivr-a", PageOutcome::NoAnswer, None)
        .await;
    // Due a minute later, not before.
    assert!(w.claim("ivr-a").await.is_none());
    w.clock.advance(Duration::seconds(59));
    assert!(w.claim("ivr-a").await.is_none());
    w.clock.advance(Duration::seconds(1));
    let (retry, _) = w.claim("ivr-b").await.unwrap();
    assert_eq!(retry.attempt, 2);
    w.finish(retry.id, "ivr-b", PageOutcome::Answered, None)
        .await;
    // One retry only; the offer runs to its deadline.
    w.clock.advance(Duration::minutes(2));
    assert!(w.claim("ivr-a").await.is_none());
    assert_eq!(w.pending(&number).await.as_deref(), Some("a"));
    let paged = w.events(&number, EventKind::Paged).await;
    assert_eq!(paged.len(), 2);
    assert!(
        paged[0].contains("no-answer; called again at 2026-03-02T10:01:00+08:00"),
        "{paged:?}"
    );
    assert!(
        paged[1].ends_with("by IVR node ivr-b: answered"),
        "{paged:?}"
    );
}

async fn pages_of_an_ended_offer_are_not_dialled_and_the_hourly_cap_holds(store: Store) {
    let w = world(store, 2);
    w.lawyer("a", Some("sip:a@10.0.0.9")).await;
    // Not paged: a normal ticket waits in the queue.
    w.ticket("normal", false).await;
    assert!(w.claim("ivr-a").await.is_none());
    // Acknowledged from the console before any IVR node took the page.
    let first = w.ticket("k1", true).await;
    w.store
        .acknowledge(&first, "a", w.ticketing.routing_policy(), w.ticketing.now())
        .await
        .unwrap()
        .unwrap();
    assert!(w.claim("ivr-a").await.is_none());
    // Two pages in an hour, then the third waits for the hour to pass.
    for key in ["k2", "k3", "k4"] {
        w.ticket(key, true).await;
    }
    assert!(w.claim("ivr-a").await.is_some());
    assert!(w.claim("ivr-b").await.is_some());
    assert!(w.claim("ivr-a").await.is_none());
    // The offers expire meanwhile (5 minutes): the waiting page is never
    // dialled, though the hour has passed.
    w.clock.advance(Duration::minutes(61));
    w.ticketing.run_routing().await.unwrap();
    assert!(w.claim("ivr-a").await.is_none());
    // The next round offers again, and those offers are paged.
    w.clock.advance(Duration::minutes(10));
    w.ticketing.run_routing().await.unwrap();
    let (job, _) = w.claim("ivr-a").await.unwrap();
    assert_eq!(w.pending(&job.number).await.as_deref(), Some("a"));
}

async fn a_claim_never_reported_is_taken_back_and_retried(store: Store) {
    let w = world(store, 120);
    w.lawyer("a", Some("sip:a@10.0.0.9")).await;
    let number = w.ticket("k1", true).await;
    let (job, _) = w.claim("ivr-a").await.unwrap();
    // The node dies with the page: after three minutes it is taken back.
    w.clock.advance(Duration::seconds(179));
    w.ticketing.run_routing().await.unwrap();
    assert!(w.events(&number, EventKind::Paged).await.is_empty());
    w.clock.advance(Duration::seconds(1));
    w.ticketing.run_routing().await.unwrap();
    let paged = w.events(&number, EventKind::Paged).await;
    assert_eq!(paged.len(), 1, "{paged:?}");
    assert!(
        paged[0].contains("failed (not reported by IVR node ivr-a); called again at"),
        "{paged:?}"
    );
    // Its late report changes nothing; the retry goes to whoever asks.
    assert_eq!(
        w.finish(job.id, "ivr-a", PageOutcome::Accepted, None).await,
        PageFinish::Unknown
    );
    assert_eq!(w.pending(&number).await.as_deref(), Some("a"));
    w.clock.advance(Duration::seconds(60));
    let (retry, _) = w.claim("ivr-b").await.unwrap();
    assert_eq!(retry.attempt, 2);
}

async fn a_node_holds_at_most_eight_unreported_pages(store: Store) {
    let w = world(store, 120);
    w.lawyer("a", Some("sip:a@10.0.0.9")).await;
    w.lawyer("b", Some("sip:b@10.0.0.9")).await;
    for i in 0..9 {
        w.ticket(&format!("k{i}"), true).await;
    }
    let mut held = Vec::new();
    while let Some((job, _)) = w.claim("ivr-a").await {
        held.push(job.id);
    }
    assert_eq!(held.len(), 8);
    // Another node takes the ninth.
    assert!(w.claim("ivr-b").await.is_some());
    // One reported, one more for ivr-a.
    w.finish(held[0], "ivr-a", PageOutcome::Busy, None).await;
    assert!(w.claim("ivr-a").await.is_none(), "the retry is not due yet");
}
