//! Duty-lawyer routing scenarios on the real store, on SQLite and on
//! PostgreSQL, with a manual clock: time moves only when the test says so,
//! and the scheduler runs only when the test calls it. Every scenario ends
//! with the reconciliation check clean.

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
use hotline_ticketing::limitation::Limitation;
use hotline_ticketing::routing::{Lawyer, OfferState, RosterError, RoutingPolicy};
use hotline_ticketing::store::CreateRequest;
use hotline_ticketing::tickets::lifecycle::Move;
use hotline_ticketing::tickets::{Assessed, EventKind, Flags, NewTicket};
use hotline_ticketing::{ManualClock, Store, Ticketing};

both_backends!(
    offer_then_acknowledge,
    offer_times_out_and_the_second_lawyer_acknowledges,
    all_decline_then_supervisors_then_a_repeated_round_then_a_late_ack,
    nobody_on_duty_escalates_at_once,
    a_shift_ending_during_an_offer_moves_to_someone_on_duty,
    a_lawyer_at_capacity_is_skipped,
    a_load_that_drifted_from_the_tickets_is_listed_by_the_check,
    a_load_follows_a_ticket_reassigned_to_another_centers_lawyer,
    a_normal_ticket_upgraded_by_reevaluation_is_offered,
    an_assigned_ticket_not_started_in_time_is_flagged,
    a_ticket_left_unowned_is_listed_by_the_check,
    normal_tickets_wait_in_the_queue_green_channel_first_and_are_pulled,
    a_swapped_shift_moves_the_duty,
    a_ticket_leaving_routing_withdraws_its_offer_and_is_never_offered_again,
    routing_left_on_a_ticket_that_left_it_is_listed_and_ended_by_the_scheduler,
    a_supervisor_reassigns_an_assigned_ticket,
    an_escalation_nobody_takes_for_too_long_fails_the_check,
    a_municipality_lawyer_gets_only_tickets_of_the_municipality,
    provisional_aid_is_followed_by_the_centres_acceptance,
    provisional_aid_ends_when_the_centre_rejects,
    an_urgent_application_acknowledged_is_owned_and_not_decided,
    an_overdue_decision_is_alerted_once_and_materials_restart_the_clock,
    an_assignment_overdue_after_acceptance_is_alerted_once,
    a_critical_application_pulled_after_escalation_is_provisional_aid,
    a_ticket_corrected_to_normal_stops_being_offered_and_can_be_routed_again,
    concurrent_critical_tickets_share_the_duty_as_one_after_another,
    tickets_written_together_are_routed_each_at_its_own_moment,
    who_may_see_a_ticket_follows_its_offers_and_its_lawyer,
);

// Two ticketing nodes on one database: an operator's rejection on one
// races the offer timeout the other's scheduler processes.
mod race {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_rejection_racing_an_offer_timeout_on_two_nodes() {
        let (store, db) = crate::support::sqlite().await;
        super::rejection_racing_an_offer_timeout_on_two_nodes(store.clone(), db.url()).await;
        db.finish(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_rejection_racing_an_offer_timeout_on_two_nodes() {
        let (store, db) = crate::support::postgres().await;
        super::rejection_racing_an_offer_timeout_on_two_nodes(store.clone(), db.url()).await;
        db.finish(store).await;
    }
}

/// 10:00 in Shanghai on Monday 2026-03-02.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap()
}

struct World {
    ticketing: Ticketing,
    clock: ManualClock,
    store: Store,
}

fn world(store: Store) -> World {
    let clock = ManualClock::new(t0());
    let policy = RoutingPolicy {
        ack_critical: Duration::minutes(5),
        ack_urgent: Duration::minutes(30),
        max_candidates: 3,
        repeat_every: Duration::minutes(10),
        start_within: Duration::hours(2),
        stuck_escalation: Duration::minutes(30),
        paging: Default::default(),
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

impl World {
    /// A lawyer on duty from an hour ago until `hours` hours from now.
    async fn lawyer(&self, id: &str, skills: &[&str], capacity: i64, hours: i64) {
        self.lawyer_in(id, skills, &[], capacity, hours).await;
    }

    /// [`World::lawyer`] covering these GB/T 2260 regions.
    async fn lawyer_in(
        &self,
        id: &str,
        skills: &[&str],
        regions: &[&str],
        capacity: i64,
        hours: i64,
    ) {
        self.store
            .put_lawyer(
                &Lawyer {
                    id: id.into(),
                    center: "default".into(),
                    name: format!("Lawyer {id}"),
                    phone: "13900000000".into(),
                    sip_uri: None,
                    skills: skills.iter().map(|s| s.to_string()).collect(),
                    regions: regions.iter().map(|s| s.to_string()).collect(),
                    languages: vec!["zh".into()],
                    capacity,
                    active: true,
                },
                t0(),
            )
            .await
            .unwrap();
        let now = self.ticketing.now();
        self.store
            .add_shift(id, now - Duration::hours(1), now + Duration::hours(hours))
            .await
            .unwrap()
            .unwrap();
    }

    /// A critical ticket (preservation needed) for a wages claim.
    async fn critical(&self, key: &str) -> TicketNumber {
        let (t, created) = self
            .ticketing
            .create(&new_ticket(key, true, None))
            .await
            .unwrap();
        assert!(created);
        assert_eq!(t.urgency, Some(Urgency::Critical));
        t.number
    }

    /// The centre accepts the application (an operator's decision).
    async fn accept(&self, n: &TicketNumber) {
        self.ticketing
            .transition(n, TicketState::Accepted, Move::default(), "operator")
            .await
            .unwrap();
    }

    fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    async fn tick(&self) -> usize {
        self.ticketing.run_routing().await.unwrap()
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

    async fn kinds(&self, number: &TicketNumber) -> Vec<EventKind> {
        self.store
            .history(number)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    async fn ack(&self, number: &TicketNumber, lawyer: &str) -> Result<(), RosterError> {
        self.store
            .acknowledge(
                number,
                lawyer,
                self.ticketing.routing_policy(),
                self.ticketing.now(),
            )
            .await
            .unwrap()
    }

    async fn decline(&self, number: &TicketNumber, lawyer: &str, reason: &str) {
        self.store
            .decline(
                number,
                lawyer,
                reason,
                self.ticketing.routing_policy(),
                self.ticketing.now(),
            )
            .await
            .unwrap()
            .unwrap();
    }

    async fn problems(&self) -> Vec<String> {
        self.store
            .check(
                self.ticketing.now(),
                Duration::zero(),
                self.ticketing.routing_policy().stuck_escalation,
            )
            .await
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    async fn assert_check_clean(&self) {
        let problems = self.problems().await;
        assert!(problems.is_empty(), "{problems:?}");
    }
}

fn new_ticket(key: &str, preservation: bool, event_date: Option<chrono::NaiveDate>) -> NewTicket {
    NewTicket {
        idempotency_key: key.to_owned(),
        proposed_number: None,
        kind: TicketKind::Application,
        matter: Some(Matter::LaborWages),
        caller_number: Some(PhoneNumber::parse("13812345678").unwrap()),
        callback_number: Some(PhoneNumber::parse("13812345678").unwrap()),
        event_date,
        document: None,
        chosen_rule: None,
        preservation,
        priority_group: PriorityGroup::MigrantWorker,
        language: Language::Zh,
        center: "default".to_owned(),
        region: Some(RegionCode::parse("110108").unwrap()),
        summary: String::new(),
        flags: Flags::default(),
        last_node: None,
        actor: "ivr".to_owned(),
    }
}

async fn offer_then_acknowledge(store: Store) {
    let w = world(store);
    w.lawyer("li", &["labor-wages"], 3, 8).await;
    w.lawyer("wang", &["family"], 3, 8).await;
    let n = w.critical("k1").await;
    // Offered at once, to the lawyer with the skill.
    assert_eq!(w.pending(&n).await.as_deref(), Some("li"));
    let offer = &w.store.offers(&n).await.unwrap()[0];
    assert_eq!(offer.ack_deadline, t0() + Duration::minutes(5));
    // Someone else cannot take it.
    assert!(matches!(
        w.ack(&n, "wang").await,
        Err(RosterError::NoOffer { .. })
    ));
    w.advance(Duration::minutes(2));
    w.ack(&n, "li").await.unwrap();
    // Aid given first (art. 44), not the centre's decision.
    let t = w.store.ticket(&n).await.unwrap();
    assert_eq!(t.state, TicketState::Provisional);
    assert_eq!(t.assigned_lawyer.as_deref(), Some("li"));
    let history = w.store.history(&n).await.unwrap();
    let provisional = history
        .iter()
        .find(|e| e.to_state == Some(TicketState::Provisional))
        .unwrap();
    assert_eq!(provisional.actor, "routing");
    assert!(provisional.reason.as_deref().unwrap().contains("art. 44"));
    assert!(history
        .iter()
        .all(|e| e.to_state != Some(TicketState::Accepted)));
    assert_eq!(
        w.kinds(&n).await,
        [
            EventKind::Created,
            EventKind::Offered,
            EventKind::OfferAcknowledged,
            EventKind::Transitioned,
        ]
    );
    // Nothing more happens at the old deadline.
    w.advance(Duration::minutes(10));
    assert_eq!(w.tick().await, 0);
    w.assert_check_clean().await;
}

async fn offer_times_out_and_the_second_lawyer_acknowledges(store: Store) {
    let w = world(store);
    w.lawyer("a", &["labor-wages"], 3, 8).await;
    w.lawyer("b", &["labor-wages"], 3, 8).await;
    let n = w.critical("k1").await;
    assert_eq!(w.pending(&n).await.as_deref(), Some("a"));
    // Half way to the deadline, a reminder; once.
    w.advance(Duration::minutes(3));
    assert_eq!(w.tick().await, 1);
    assert_eq!(w.kinds(&n).await.last(), Some(&EventKind::OfferReminder));
    assert_eq!(
        w.tick().await,
        0,
        "reminded once; the deadline is not due yet"
    );
    w.advance(Duration::minutes(2));
    assert_eq!(w.tick().await, 1);
    assert_eq!(w.pending(&n).await.as_deref(), Some("b"));
    assert_eq!(w.tick().await, 0, "each timeout is processed once");
    w.ack(&n, "b").await.unwrap();
    let offers = w.store.offers(&n).await.unwrap();
    let states: Vec<_> = offers
        .iter()
        .map(|o| (o.lawyer.as_str(), o.state.as_str()))
        .collect();
    assert_eq!(states, [("a", "expired"), ("b", "acknowledged")]);
    let kinds = w.kinds(&n).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == EventKind::OfferExpired)
            .count(),
        1
    );
    w.assert_check_clean().await;
}

async fn all_decline_then_supervisors_then_a_repeated_round_then_a_late_ack(store: Store) {
    let w = world(store);
    for id in ["a", "b", "c", "d"] {
        w.lawyer(id, &["labor-wages"], 3, 8).await;
    }
    let n = w.critical("k1").await;
    for (lawyer, reason) in [
        ("a", "conflict of interest"),
        ("b", "in court"),
        ("c", "on leave"),
    ] {
        assert_eq!(w.pending(&n).await.as_deref(), Some(lawyer));
        w.decline(&n, lawyer, reason).await;
    }
    // Three candidates missed: escalated, unowned, nobody has an offer.
    assert_eq!(w.pending(&n).await, None);
    assert_eq!(w.kinds(&n).await.last(), Some(&EventKind::Escalated));
    let history = w.store.history(&n).await.unwrap();
    let reasons: Vec<_> = history
        .iter()
        .filter(|e| e.kind == EventKind::OfferDeclined)
        .map(|e| e.reason.clone().unwrap())
        .collect();
    assert_eq!(reasons, ["conflict of interest", "in court", "on leave"]);
    w.assert_check_clean().await;
    // The next round, 10 minutes later: offered again.
    w.advance(Duration::minutes(10));
    assert_eq!(w.tick().await, 1);
    let again = w.pending(&n).await.expect("a new round of offers");
    // It times out too; the round goes on until someone takes it.
    w.advance(Duration::minutes(5));
    w.tick().await;
    let next = w.pending(&n).await.unwrap();
    assert_ne!(again, next);
    w.advance(Duration::minutes(1));
    w.ack(&n, &next).await.unwrap();
    assert_eq!(
        w.store.ticket(&n).await.unwrap().assigned_lawyer.as_deref(),
        Some(next.as_str())
    );
    w.assert_check_clean().await;
}

async fn nobody_on_duty_escalates_at_once(store: Store) {
    let w = world(store);
    let n = w.critical("k1").await;
    assert_eq!(w.pending(&n).await, None);
    let history = w.store.history(&n).await.unwrap();
    let escalation = history.last().unwrap();
    assert_eq!(escalation.kind, EventKind::Escalated);
    assert!(escalation
        .note
        .as_deref()
        .unwrap()
        .contains("no matching lawyer is on duty"));
    w.assert_check_clean().await;
    // Still nobody: the round repeats every 10 minutes, each once.
    w.advance(Duration::minutes(10));
    assert_eq!(w.tick().await, 1);
    assert_eq!(w.tick().await, 0);
    // A lawyer comes on duty: the next round offers to them.
    w.lawyer("late", &[], 3, 8).await;
    w.advance(Duration::minutes(10));
    assert_eq!(w.tick().await, 1);
    assert_eq!(w.pending(&n).await.as_deref(), Some("late"));
    w.assert_check_clean().await;
}

async fn a_shift_ending_during_an_offer_moves_to_someone_on_duty(store: Store) {
    let w = world(store);
    // `leaving` is on duty until t0, `staying` all day.
    w.lawyer("leaving", &["labor-wages"], 3, 0).await;
    let overlap = w
        .store
        .add_shift(
            "leaving",
            t0() - Duration::minutes(30),
            t0() + Duration::minutes(2),
        )
        .await
        .unwrap();
    assert!(
        matches!(overlap, Err(RosterError::Overlap { .. })),
        "{overlap:?}"
    );
    w.lawyer("staying", &["family"], 3, 8).await;
    // Two minutes before the end of the shift, a critical ticket comes in.
    w.clock.set(t0() - Duration::minutes(2));
    let n = w.critical("k1").await;
    assert_eq!(w.pending(&n).await.as_deref(), Some("leaving"));
    // The offer's deadline comes after the shift ended: the next offer goes
    // to who is on duty then.
    w.advance(Duration::minutes(5));
    w.tick().await;
    assert_eq!(w.pending(&n).await.as_deref(), Some("staying"));
    w.assert_check_clean().await;
}

async fn a_lawyer_at_capacity_is_skipped(store: Store) {
    let w = world(store);
    w.lawyer("busy", &["labor-wages"], 1, 8).await;
    w.lawyer("free", &["family"], 3, 8).await;
    let first = w.critical("k1").await;
    assert_eq!(w.pending(&first).await.as_deref(), Some("busy"));
    w.ack(&first, "busy").await.unwrap();
    // `busy` has one open ticket of one: the next goes to `free`.
    let second = w.critical("k2").await;
    assert_eq!(w.pending(&second).await.as_deref(), Some("free"));
    w.assert_check_clean().await;
}

async fn a_load_that_drifted_from_the_tickets_is_listed_by_the_check(store: Store) {
    let w = world(store);
    w.lawyer("busy", &["labor-wages"], 1, 8).await;
    w.lawyer("free", &["family"], 3, 8).await;
    let first = w.critical("k1").await;
    w.ack(&first, "busy").await.unwrap();
    w.assert_check_clean().await;
    // Break it by hand: the load routing reads says `busy` holds nothing.
    sqlx::query("UPDATE lawyer_load SET load = 0 WHERE lawyer_id = 'busy'")
        .execute(w.store.pool())
        .await
        .unwrap();
    assert_eq!(
        w.problems().await,
        ["lawyer busy: routing counts a load of 0, but they hold 1 \
          (open tickets and pending offers)"]
    );
    // Routing reads the kept load, not a count: `busy` looks free again.
    let second = w.critical("k2").await;
    assert_eq!(w.pending(&second).await.as_deref(), Some("busy"));
}

async fn a_load_follows_a_ticket_reassigned_to_another_centers_lawyer(store: Store) {
    let w = world(store);
    w.lawyer("li", &["labor-wages"], 3, 8).await;
    let mut chen = w.store.lawyers().await.unwrap().remove(0);
    chen.id = "chen".into();
    chen.center = "haidian".into();
    w.store.put_lawyer(&chen, t0()).await.unwrap();
    let n = w.critical("k1").await;
    w.ack(&n, "li").await.unwrap();
    w.accept(&n).await;
    let policy = w.ticketing.routing_policy().clone();
    w.store
        .reassign(
            &n,
            "chen",
            "closer to the caller",
            "supervisor:zhao",
            &policy,
            w.ticketing.now(),
        )
        .await
        .unwrap()
        .unwrap();
    let loads: Vec<(String, i64)> = sqlx::query_as(
        "SELECT lawyer_id, load FROM lawyer_load WHERE lawyer_id IN ('li', 'chen') \
         ORDER BY lawyer_id",
    )
    .fetch_all(w.store.pool())
    .await
    .unwrap();
    assert_eq!(loads, [("chen".to_owned(), 1), ("li".to_owned(), 0)]);
    w.assert_check_clean().await;
}

async fn a_normal_ticket_upgraded_by_reevaluation_is_offered(store: Store) {
    let w = world(store);
    w.lawyer("li", &["labor-wages"], 3, 8).await;
    // Employment ended 2025-04-20: the one-year deadline 2026-04-20 is 49
    // days away on 2026-03-02, normal; not offered.
    let event = chrono::NaiveDate::from_ymd_opt(2025, 4, 20).unwrap();
    let (t, _) = w
        .ticketing
        .create(&new_ticket("k1", false, Some(event)))
        .await
        .unwrap();
    assert_eq!(t.urgency, Some(Urgency::Normal));
    assert_eq!(w.pending(&t.number).await, None);
    w.assert_check_clean().await;
    // Three weeks later it is urgent: offered the moment it is upgraded.
    w.advance(Duration::days(21));
    w.lawyer("night", &["labor-wages"], 3, 8).await;
    let changed = w.ticketing.reevaluate().await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(
        w.store.ticket(&t.number).await.unwrap().urgency,
        Some(Urgency::Urgent)
    );
    assert_eq!(w.pending(&t.number).await.as_deref(), Some("night"));
    let offer = &w.store.offers(&t.number).await.unwrap()[0];
    assert_eq!(offer.ack_deadline - offer.offered_at, Duration::minutes(30));
    w.assert_check_clean().await;
}

async fn an_assigned_ticket_not_started_in_time_is_flagged(store: Store) {
    let w = world(store);
    w.lawyer("li", &["labor-wages"], 3, 8).await;
    let n = w.critical("k1").await;
    w.ack(&n, "li").await.unwrap();
    // The centre accepts; li, who gave aid first, is assigned.
    w.accept(&n).await;
    w.advance(Duration::hours(2));
    assert_eq!(w.tick().await, 1);
    assert_eq!(w.kinds(&n).await.last(), Some(&EventKind::StartOverdue));
    assert_eq!(w.tick().await, 0, "flagged once");
    w.assert_check_clean().await;
}

async fn a_ticket_left_unowned_is_listed_by_the_check(store: Store) {
    let w = world(store);
    w.lawyer("li", &["labor-wages"], 3, 8).await;
    let n = w.critical("k1").await;
    w.assert_check_clean().await;
    // Break it by hand: the pending offer and the routing row vanish.
    sqlx::query("DELETE FROM offers")
        .execute(w.store.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM routing")
        .execute(w.store.pool())
        .await
        .unwrap();
    let problems = w.problems().await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains(n.as_str()));
    // The scheduler's sweep routes it again.
    assert_eq!(w.tick().await, 1);
    assert_eq!(w.pending(&n).await.as_deref(), Some("li"));
    w.assert_check_clean().await;
}

async fn normal_tickets_wait_in_the_queue_green_channel_first_and_are_pulled(store: Store) {
    let w = world(store);
    w.lawyer("li", &["family"], 3, 8).await;
    let mut plain = new_ticket("plain", false, None);
    plain.matter = Some(Matter::Family);
    plain.priority_group = PriorityGroup::None;
    let (plain, _) = w.ticketing.create(&plain).await.unwrap();
    w.advance(Duration::minutes(1));
    let mut veteran = new_ticket("veteran", false, None);
    veteran.matter = Some(Matter::Family);
    veteran.priority_group = PriorityGroup::Military;
    let (veteran, _) = w.ticketing.create(&veteran).await.unwrap();
    assert_eq!(plain.urgency, Some(Urgency::Normal));
    // Normal tickets are not offered; they wait, the green channel first.
    assert_eq!(w.pending(&plain.number).await, None);
    assert_eq!(
        w.store.queue("default", 10).await.unwrap(),
        [veteran.number.clone(), plain.number.clone()]
    );
    w.store
        .pull(
            &veteran.number,
            "li",
            "lawyer:li",
            w.ticketing.routing_policy(),
            w.ticketing.now(),
        )
        .await
        .unwrap()
        .unwrap();
    // Pulling decides nothing: li owns the application.
    let t = w.store.ticket(&veteran.number).await.unwrap();
    assert_eq!(
        (t.state, t.assigned_lawyer.as_deref()),
        (TicketState::Application, Some("li"))
    );
    assert_eq!(
        w.kinds(&veteran.number).await.last(),
        Some(&EventKind::Owned)
    );
    let queue = w.store.queue("default", 10).await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0], plain.number);
    // An unknown lawyer cannot be given a ticket.
    let refused = w
        .store
        .pull(
            &plain.number,
            "nobody",
            "operator",
            w.ticketing.routing_policy(),
            w.ticketing.now(),
        )
        .await
        .unwrap();
    assert!(matches!(refused, Err(RosterError::UnknownLawyer(_))));
    w.assert_check_clean().await;
}

async fn a_swapped_shift_moves_the_duty(store: Store) {
    let w = world(store);
    w.lawyer("a", &["labor-wages"], 3, 8).await;
    w.lawyer("b", &["labor-wages"], 3, 0).await;
    let now = w.ticketing.now();
    // a's shift covers now; b's ended at now.
    let shifts = w.store.on_duty("default", now).await.unwrap();
    assert_eq!(
        shifts.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
    let tomorrow = w
        .store
        .add_shift(
            "a",
            now + Duration::days(1),
            now + Duration::days(1) + Duration::hours(8),
        )
        .await
        .unwrap()
        .unwrap();
    let swapped = w
        .store
        .reassign_shift(tomorrow.id, "b")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(swapped.lawyer, "b");
    let on_duty = w
        .store
        .on_duty("default", now + Duration::days(1) + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        on_duty.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
        ["b"]
    );
    // Swapping it back onto a shift b already has at that time is refused.
    let clash = w
        .store
        .add_shift(
            "a",
            now + Duration::days(1),
            now + Duration::days(1) + Duration::hours(2),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        w.store.reassign_shift(clash.id, "b").await.unwrap(),
        Err(RosterError::Overlap { .. })
    ));
}

/// PostgreSQL hands out identity values in insert order, not commit order:
/// here the event with the lower id commits last. A stream that resumes by
/// id alone would skip it; ours holds later events back until it is there.
mod pg_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streams_deliver_events_committed_out_of_order_once_in_order() {
        let (store, db) = crate::support::postgres().await;
        let w = super::world(store.clone());
        let n = w.critical("k1").await;
        let created = store.history(&n).await.unwrap().len();
        let seen = deliverable(&store, 0, created).await;
        let cursor = seen.last().unwrap().id;

        let insert = "INSERT INTO ticket_events (ticket_id, kind, actor, at, note) \
                      SELECT id, 'note', 'test', 0, $1 FROM tickets WHERE number = $2";
        let mut slow = store.pool().begin().await.unwrap();
        sqlx::query(insert)
            .bind("first, committed last")
            .bind(n.as_str())
            .execute(&mut *slow)
            .await
            .unwrap();
        let mut fast = store.pool().begin().await.unwrap();
        sqlx::query(insert)
            .bind("second, committed first")
            .bind(n.as_str())
            .execute(&mut *fast)
            .await
            .unwrap();
        fast.commit().await.unwrap();

        // The later id is committed, the earlier one not yet: nothing moves,
        // and the reader learns that committed events wait (the open
        // transaction's commit may wake no one), so it looks again soon.
        let (early, held) = store.events_after_held(cursor, None, 100).await.unwrap();
        assert!(early.is_empty(), "{early:?}");
        assert!(
            held,
            "an event committed behind an open transaction is reported held"
        );
        slow.commit().await.unwrap();
        let events = deliverable(&store, cursor, 2).await;
        let notes: Vec<_> = events.iter().map(|e| e.note.clone().unwrap()).collect();
        assert_eq!(notes, ["first, committed last", "second, committed first"]);
        // Resuming after the last one delivers nothing again, and nothing
        // is reported held (no committed event of this database waits).
        let last = events.last().unwrap().id;
        assert_eq!(
            store.events_after_held(last, None, 100).await.unwrap(),
            (Vec::new(), false)
        );
        db.finish(store).await;
    }

    /// A node frozen mid-transaction while it holds a center's routing lock
    /// (here: a transaction that took it and never ends) does not stop
    /// every create behind it: the create waits out the lock timeout its
    /// transaction begins with and fails, having written nothing, and the
    /// same create goes through once the lock is let go.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_create_behind_a_center_lock_that_is_never_let_go_fails_and_writes_nothing() {
        let (store, db) = crate::support::postgres().await;
        let w = super::world(store.clone());
        w.lawyer("li", &["labor-wages"], 3, 8).await;
        let frozen = holding_the_lock_of(&store, "default").await;

        // Bounded only so that a create with no lock timeout fails here
        // instead of hanging the suite.
        let refused = tokio::time::timeout(
            std::time::Duration::from_secs(120),
            w.ticketing.create(&super::new_ticket("k1", true, None)),
        )
        .await
        .expect("the create waited on the lock with no timeout")
        .unwrap_err();
        assert!(
            refused.is_lock_timeout() && refused.to_string().contains("lock timeout"),
            "expected a lock timeout, got: {refused}"
        );
        // A gRPC caller is told to retry, not that the store failed.
        let status = tonic::Status::from(refused);
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        let tickets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(tickets, 0);

        frozen.rollback().await.unwrap();
        let n = w.critical("k1").await;
        assert_eq!(w.pending(&n).await.as_deref(), Some("li"));
        db.finish(store).await;
    }

    /// Creates behind a frozen center: a batch that holds one of its
    /// tickets fails that center's creates (UNAVAILABLE, naming it) and
    /// writes the other centers' at once, instead of failing them all.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_with_a_frozen_centers_ticket_still_writes_the_others() {
        let (store, db) = crate::support::postgres().await;
        let w = super::world(store.clone());
        w.lawyer("li", &["labor-wages"], 3, 8).await;
        haidian_lawyer(&w, "chen").await;
        let frozen = holding_the_lock_of(&store, "haidian").await;
        let create = |key: &str, center: &str| {
            let mut new = super::new_ticket(key, true, None);
            new.center = center.into();
            let ticketing = w.ticketing.clone();
            tokio::spawn(async move { ticketing.create(&new).await })
        };
        // The first Haidian create holds the writer for a lock timeout, so
        // the two below queue behind it and are written as one batch.
        let first = create("h1", "haidian");
        until_a_lock_wait(&store, || !first.is_finished()).await;
        assert!(!first.is_finished(), "the first create never waited");
        let second = create("h2", "haidian");
        let default = create("d", "default");

        for refused in [first, second] {
            let refused = refused.await.unwrap().unwrap_err();
            assert!(
                refused.is_lock_timeout() && refused.to_string().contains("center haidian"),
                "{refused}"
            );
            let status = tonic::Status::from(refused);
            assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        }
        let (written, created) = default.await.unwrap().unwrap();
        assert!(created);
        assert_eq!(w.pending(&written.number).await.as_deref(), Some("li"));
        frozen.rollback().await.unwrap();
        db.finish(store).await;
    }

    /// A reassignment of another center's ticket between two lawyers of
    /// this center, while a routing transaction of this center changes the
    /// same two lawyers' loads in the other order (an offer to the new
    /// lawyer, then one to the old): neither fails with a deadlock, and
    /// both loads come out right.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reassignment_across_centers_beside_routing_of_the_lawyers_center_does_not_deadlock()
    {
        let (store, db) = crate::support::postgres().await;
        let w = super::world(store.clone());
        w.lawyer("li", &["labor-wages"], 3, 8).await;
        w.lawyer("wang", &["labor-wages"], 3, 8).await;
        haidian_lawyer(&w, "chen").await;
        // A Haidian ticket, taken by chen, then given to li of the default
        // center.
        let haidian = haidian_ticket("t", true);
        let (t, _) = w.ticketing.create(&haidian).await.unwrap();
        assert_eq!(w.pending(&t.number).await.as_deref(), Some("chen"));
        w.ack(&t.number, "chen").await.unwrap();
        w.accept(&t.number).await;
        let policy = w.ticketing.routing_policy().clone();
        let now = w.ticketing.now();
        store
            .reassign(&t.number, "li", "closer", "supervisor:zhao", &policy, now)
            .await
            .unwrap()
            .unwrap();
        let unoffered = two_unoffered_tickets(&w).await;

        // The reassignment from li to wang.
        let reassigned = beside_routing_that_offers_to_wang_then_li(&store, unoffered, || {
            let store = store.clone();
            let number = t.number.clone();
            tokio::spawn(async move {
                store
                    .reassign(
                        &number,
                        "wang",
                        "back home",
                        "supervisor:zhao",
                        &policy,
                        now,
                    )
                    .await
            })
        })
        .await;
        reassigned.unwrap().unwrap();
        assert_eq!(loads(&store).await, "chen 0, li 1, wang 2");
        db.finish(store).await;
    }

    /// The same interleaving for a move by hand: another center's
    /// application owned by li is given provisional aid by wang (li's load
    /// goes down, then wang's up, in one trigger) while routing of the
    /// lawyers' center offers to wang, then to li.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_move_naming_a_lawyer_of_another_center_beside_its_routing_does_not_deadlock() {
        let (store, db) = crate::support::postgres().await;
        let w = super::world(store.clone());
        w.lawyer("li", &["labor-wages"], 3, 8).await;
        w.lawyer("wang", &["labor-wages"], 3, 8).await;
        haidian_lawyer(&w, "chen").await;
        // An urgent Haidian application: chen takes the offer and owns it
        // (no decision), then a supervisor gives it to li.
        let haidian = haidian_ticket("t", false);
        let (t, _) = w.ticketing.create(&haidian).await.unwrap();
        assert_eq!(w.pending(&t.number).await.as_deref(), Some("chen"));
        w.ack(&t.number, "chen").await.unwrap();
        let policy = w.ticketing.routing_policy().clone();
        let now = w.ticketing.now();
        store
            .reassign(&t.number, "li", "closer", "supervisor:zhao", &policy, now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store.ticket(&t.number).await.unwrap().state,
            super::TicketState::Application
        );
        let unoffered = two_unoffered_tickets(&w).await;

        let moved = beside_routing_that_offers_to_wang_then_li(&store, unoffered, || {
            let store = store.clone();
            let number = t.number.clone();
            tokio::spawn(async move {
                let aid = super::Move {
                    lawyer: Some("wang".into()),
                    reason: Some("preservation cannot wait".into()),
                    ..super::Move::default()
                };
                store
                    .transition(
                        &number,
                        super::TicketState::Provisional,
                        &aid,
                        "supervisor:zhao",
                        now,
                    )
                    .await
            })
        })
        .await
        .unwrap();
        assert_eq!(moved.assigned_lawyer.as_deref(), Some("wang"));
        assert_eq!(loads(&store).await, "chen 0, li 1, wang 2");
        db.finish(store).await;
    }

    /// A node frozen while it holds one center's routing lock costs a
    /// scheduler pass one lock timeout on that center's timer: the pass
    /// goes on with the other centers' timers, and the frozen center's run
    /// in the first pass after the lock is let go.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scheduler_pass_behind_a_frozen_center_still_runs_the_other_centers_timers() {
        let (store, db) = crate::support::postgres().await;
        let w = super::world(store.clone());
        w.lawyer("li", &["labor-wages"], 3, 8).await;
        haidian_lawyer(&w, "chen").await;
        // Haidian's ticket first, so its timer is the first one due.
        let haidian = haidian_ticket("h", true);
        let (h, _) = w.ticketing.create(&haidian).await.unwrap();
        w.advance(chrono::Duration::seconds(1));
        let d = w.critical("d").await;
        assert_eq!(w.pending(&h.number).await.as_deref(), Some("chen"));
        assert_eq!(w.pending(&d).await.as_deref(), Some("li"));
        // Both offers run out.
        w.advance(chrono::Duration::minutes(6));
        let frozen = holding_the_lock_of(&store, "haidian").await;

        pass_beside_a_frozen_lock(&w).await;
        assert_eq!(offer_states(&w, &d).await, [super::OfferState::Expired]);
        assert_eq!(
            offer_states(&w, &h.number).await,
            [super::OfferState::Pending]
        );

        frozen.rollback().await.unwrap();
        w.tick().await;
        assert_eq!(
            offer_states(&w, &h.number).await,
            [super::OfferState::Expired]
        );
        db.finish(store).await;
    }

    /// The frozen lock may be of a lawyer's center, not the ticket's: a
    /// Haidian case given to li of the default center has its start timer
    /// due first while the default center is frozen. That ticket waits for
    /// the next pass, and Haidian's own timers still run in this one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timer_waiting_for_its_lawyers_frozen_center_does_not_stall_its_own_center() {
        let (store, db) = crate::support::postgres().await;
        let w = super::world(store.clone());
        w.lawyer("li", &["labor-wages"], 3, 8).await;
        haidian_lawyer(&w, "chen").await;
        let haidian = haidian_ticket("case", true);
        let (case, _) = w.ticketing.create(&haidian).await.unwrap();
        w.ack(&case.number, "chen").await.unwrap();
        w.accept(&case.number).await;
        let policy = w.ticketing.routing_policy().clone();
        store
            .reassign(
                &case.number,
                "li",
                "closer",
                "supervisor:zhao",
                &policy,
                w.ticketing.now(),
            )
            .await
            .unwrap()
            .unwrap();
        // Its bound for starting the case (two hours) falls due just before
        // the offer of a new Haidian ticket runs out.
        w.advance(chrono::Duration::minutes(116));
        let next = haidian_ticket("next", true);
        let (next, _) = w.ticketing.create(&next).await.unwrap();
        assert_eq!(w.pending(&next.number).await.as_deref(), Some("chen"));
        w.advance(chrono::Duration::minutes(6));
        let frozen = holding_the_lock_of(&store, "default").await;

        pass_beside_a_frozen_lock(&w).await;
        assert_eq!(
            offer_states(&w, &next.number).await,
            [super::OfferState::Expired]
        );
        let overdue =
            |kinds: Vec<super::EventKind>| kinds.contains(&super::EventKind::StartOverdue);
        assert!(!overdue(w.kinds(&case.number).await));

        frozen.rollback().await.unwrap();
        w.tick().await;
        assert!(overdue(w.kinds(&case.number).await));
        db.finish(store).await;
    }

    /// A transaction that holds `center`'s routing lock until it ends, as
    /// a node frozen mid-transaction would.
    async fn holding_the_lock_of(
        store: &super::Store,
        center: &str,
    ) -> sqlx::Transaction<'static, sqlx::Any> {
        let mut holder = store.pool().begin().await.unwrap();
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('hotline-routing:' || $1))")
            .bind(center)
            .execute(&mut *holder)
            .await
            .unwrap();
        holder
    }

    /// Returns once a session of this test's own database waits for a lock
    /// (each test has a database of its own), or `running` says the task
    /// expected to wait has ended; fails after 30 s of neither.
    async fn until_a_lock_wait(store: &super::Store, running: impl Fn() -> bool) {
        for _ in 0..3000 {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(store.pool())
            .await
            .unwrap();
            if waiting > 0 || !running() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("nothing waited for a lock in 30 s");
    }

    /// One scheduler pass while a lock is frozen: it must end, not fail.
    /// Bounded only so that a pass that waits with no timeout fails here.
    async fn pass_beside_a_frozen_lock(w: &super::World) {
        tokio::time::timeout(
            std::time::Duration::from_secs(120),
            w.ticketing.run_routing(),
        )
        .await
        .expect("the pass waited on the frozen lock with no timeout")
        .unwrap();
    }

    /// A ticket of the Haidian center ([`super::new_ticket`] otherwise).
    fn haidian_ticket(key: &str, preservation: bool) -> super::NewTicket {
        super::NewTicket {
            center: "haidian".into(),
            ..super::new_ticket(key, preservation, None)
        }
    }

    /// A lawyer of the Haidian center, on duty like the others (a lawyer
    /// of the default center exists already).
    async fn haidian_lawyer(w: &super::World, id: &str) {
        let mut lawyer = w.store.lawyers().await.unwrap().remove(0);
        lawyer.id = id.into();
        lawyer.center = "haidian".into();
        w.store.put_lawyer(&lawyer, super::t0()).await.unwrap();
        w.store
            .add_shift(
                id,
                super::t0() - chrono::Duration::hours(1),
                super::t0() + chrono::Duration::hours(8),
            )
            .await
            .unwrap()
            .unwrap();
    }

    /// Two tickets of the default center for a routing transaction to offer
    /// (each may hold one pending offer), their own offers withdrawn.
    async fn two_unoffered_tickets(w: &super::World) -> [i64; 2] {
        let mut ids = [0; 2];
        for (key, id) in ["u1", "u2"].into_iter().zip(&mut ids) {
            let (u, _) = w
                .ticketing
                .create(&super::new_ticket(key, false, None))
                .await
                .unwrap();
            *id = sqlx::query_scalar("SELECT id FROM tickets WHERE number = $1")
                .bind(u.number.as_str())
                .fetch_one(w.store.pool())
                .await
                .unwrap();
        }
        sqlx::query(
            "UPDATE offers SET state = 'withdrawn' WHERE state = 'pending' AND ticket_id IN ($1, $2)",
        )
        .bind(ids[0])
        .bind(ids[1])
        .execute(w.store.pool())
        .await
        .unwrap();
        ids
    }

    /// Routing of the default center as a node's transaction runs it, beside
    /// a move that changes li's load, then wang's (`start` spawns it): the
    /// center's lock and an offer to wang (wang's load row); then the move,
    /// and once it waits for a lock, an offer to li (li's row) and the
    /// commit. Had the move taken li's row and waited for wang's, the
    /// second offer would deadlock (40P01). Returns the move's result.
    async fn beside_routing_that_offers_to_wang_then_li<T: std::fmt::Debug>(
        store: &super::Store,
        tickets: [i64; 2],
        start: impl FnOnce() -> tokio::task::JoinHandle<T>,
    ) -> T {
        let offer = "INSERT INTO offers (ticket_id, lawyer_id, round, state, offered_at, \
                     ack_deadline) VALUES ($1, $2, 1, 'pending', 0, 0)";
        let mut routing = holding_the_lock_of(store, "default").await;
        sqlx::query(offer)
            .bind(tickets[0])
            .bind("wang")
            .execute(&mut *routing)
            .await
            .unwrap();
        let moving = start();
        // Any lock wait in this test's own database is the move's (an
        // advisory lock with the fix, a load row without it).
        until_a_lock_wait(store, || !moving.is_finished()).await;
        if moving.is_finished() {
            panic!("the move ended without waiting: {:?}", moving.await);
        }
        sqlx::query(offer)
            .bind(tickets[1])
            .bind("li")
            .execute(&mut *routing)
            .await
            .unwrap();
        routing.commit().await.unwrap();
        moving.await.unwrap()
    }

    /// chen's, li's and wang's loads, as "chen 0, li 1, wang 2".
    async fn loads(store: &super::Store) -> String {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT lawyer_id, load FROM lawyer_load WHERE lawyer_id IN ('chen', 'li', 'wang') \
             ORDER BY lawyer_id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let loads: Vec<String> = rows.iter().map(|(id, n)| format!("{id} {n}")).collect();
        loads.join(", ")
    }

    async fn offer_states(
        w: &super::World,
        number: &super::TicketNumber,
    ) -> Vec<super::OfferState> {
        w.store
            .offers(number)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.state)
            .collect()
    }

    /// The events after `cursor` once there are `count` of them. The
    /// snapshot's xmin is server-wide, so a transaction of another test on
    /// the same server can hold events back for a moment; waiting for it
    /// is what a stream does too.
    async fn deliverable(
        store: &hotline_ticketing::Store,
        cursor: i64,
        count: usize,
    ) -> Vec<hotline_ticketing::tickets::TicketEvent> {
        for _ in 0..500 {
            let events = store.events_after(cursor, None, 100).await.unwrap();
            if events.len() >= count {
                return events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("fewer than {count} events after {cursor} became deliverable in 5 s");
    }
}

/// Events of the ticket after its first `transitioned` event to `state`.
async fn kinds_after(w: &World, n: &TicketNumber, state: TicketState) -> Vec<EventKind> {
    let history = w.store.history(n).await.unwrap();
    let at = history
        .iter()
        .position(|e| e.to_state == Some(state))
        .unwrap_or_else(|| panic!("no move to {state} in {history:?}"));
    history[at + 1..].iter().map(|e| e.kind).collect()
}

async fn a_ticket_leaving_routing_withdraws_its_offer_and_is_never_offered_again(store: Store) {
    let w = world(store);
    // One lawyer with room for one ticket: a leftover pending offer would
    // keep them from every later ticket.
    w.lawyer("li", &["labor-wages"], 1, 8).await;
    w.lawyer("wang", &["family"], 1, 8).await;
    let moves: [(&str, TicketState, Move); 3] = [
        (
            "rejected",
            TicketState::Rejected,
            Move {
                reason: Some("not eligible".into()),
                ..Move::default()
            },
        ),
        (
            "closed",
            TicketState::Closed,
            Move {
                outcome: Some("withdrawn".into()),
                ..Move::default()
            },
        ),
        (
            "assigned",
            TicketState::Assigned,
            Move {
                lawyer: Some("wang".into()),
                ..Move::default()
            },
        ),
    ];
    for (key, to, mv) in moves {
        let n = w.critical(key).await;
        assert_eq!(w.pending(&n).await.as_deref(), Some("li"), "{key}");
        // An application is accepted before it can be closed or assigned.
        if to != TicketState::Rejected {
            w.ticketing
                .transition(&n, TicketState::Accepted, Move::default(), "operator")
                .await
                .unwrap();
        }
        w.advance(Duration::minutes(1));
        w.ticketing
            .transition(&n, to, mv, "operator")
            .await
            .unwrap();
        // Withdrawn in the same transaction, with the reason, on li's stream.
        assert_eq!(w.pending(&n).await, None, "{key}");
        let offers = w.store.offers(&n).await.unwrap();
        assert_eq!(offers.len(), 1);
        assert_eq!(offers[0].state, OfferState::Withdrawn, "{key}");
        let history = w.store.history(&n).await.unwrap();
        let withdrawn = history.last().unwrap();
        assert_eq!(withdrawn.kind, EventKind::OfferWithdrawn, "{key}");
        assert_eq!(withdrawn.lawyer.as_deref(), Some("li"));
        assert_eq!(withdrawn.actor, "operator");
        let reason = withdrawn.reason.as_deref().unwrap();
        match to {
            TicketState::Rejected => assert!(reason.contains("not eligible"), "{reason}"),
            TicketState::Closed => assert!(reason.contains("withdrawn"), "{reason}"),
            _ => assert!(reason.contains("assigned to wang"), "{reason}"),
        }
        // On PostgreSQL a stream sees an event once every older transaction
        // of the server has ended (other tests' too): poll for it.
        let mut tries = 0;
        while !w
            .store
            .events_after(0, Some("li"), 1000)
            .await
            .unwrap()
            .iter()
            .any(|e| e.ticket_number == n && e.kind == EventKind::OfferWithdrawn)
        {
            tries += 1;
            assert!(
                tries < 200,
                "{key}: the withdrawal never reached li's stream"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // li's capacity is free again and the ack is refused cleanly.
        assert!(w.store.pending_offers("li").await.unwrap().is_empty());
        assert!(matches!(
            w.ack(&n, "li").await,
            Err(RosterError::NoOffer { .. })
        ));
        // Rounds of reminders, timeouts and escalations would come now.
        for _ in 0..4 {
            w.advance(Duration::minutes(10));
            w.tick().await;
        }
        assert_eq!(
            kinds_after(&w, &n, to).await,
            [EventKind::OfferWithdrawn],
            "{key}: nothing may happen after the move but the withdrawal"
        );
        w.assert_check_clean().await;
    }
    // The assigned ticket is wang's, with the bound for starting it.
    let assigned = w.store.tickets_of("wang").await.unwrap();
    assert_eq!(assigned.len(), 1);
    // And li, free, gets the next ticket.
    let next = w.critical("after").await;
    assert_eq!(w.pending(&next).await.as_deref(), Some("li"));
}

async fn routing_left_on_a_ticket_that_left_it_is_listed_and_ended_by_the_scheduler(store: Store) {
    let w = world(store);
    w.lawyer("li", &["labor-wages"], 3, 8).await;
    let n = w.critical("k1").await;
    // A database written before moves ended routing: the ticket was
    // rejected and its offer left pending.
    sqlx::query("UPDATE tickets SET state = 'rejected', rejection_reason = 'not eligible'")
        .execute(w.store.pool())
        .await
        .unwrap();
    let problems = w.problems().await;
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().all(|p| p.contains(n.as_str())));
    assert!(
        problems[0].contains("a pending offer to li"),
        "{problems:?}"
    );
    assert!(problems[1].contains("open routing row"), "{problems:?}");
    // The reminder is due first: the scheduler withdraws instead.
    w.advance(Duration::minutes(3));
    assert_eq!(w.tick().await, 1);
    let kinds = w.kinds(&n).await;
    assert_eq!(kinds.last(), Some(&EventKind::OfferWithdrawn));
    assert!(!kinds.contains(&EventKind::OfferReminder));
    w.advance(Duration::minutes(30));
    assert_eq!(w.tick().await, 0);
    w.assert_check_clean().await;
}

async fn a_supervisor_reassigns_an_assigned_ticket(store: Store) {
    let w = world(store);
    w.lawyer("li", &["labor-wages"], 3, 8).await;
    w.lawyer("wang", &["family"], 3, 8).await;
    let n = w.critical("k1").await;
    w.ack(&n, "li").await.unwrap();
    w.accept(&n).await;
    let policy = w.ticketing.routing_policy().clone();
    let reassign = |to: &'static str, n: TicketNumber| {
        let w = &w;
        let policy = policy.clone();
        async move {
            w.store
                .reassign(
                    &n,
                    to,
                    "li is in court all week",
                    "supervisor:zhao",
                    &policy,
                    w.ticketing.now(),
                )
                .await
                .unwrap()
        }
    };
    assert!(matches!(
        reassign("li", n.clone()).await,
        Err(RosterError::AlreadyAssigned { .. })
    ));
    assert!(matches!(
        reassign("nobody", n.clone()).await,
        Err(RosterError::UnknownLawyer(_))
    ));
    w.advance(Duration::minutes(90));
    reassign("wang", n.clone()).await.unwrap();
    let t = w.store.ticket(&n).await.unwrap();
    assert_eq!(t.assigned_lawyer.as_deref(), Some("wang"));
    assert_eq!(t.state, TicketState::Assigned);
    let mut history = w.store.history(&n).await.unwrap();
    let assigned = history.pop().unwrap();
    assert_eq!(assigned.kind, EventKind::Assigned);
    assert_eq!(
        assigned.lawyer.as_deref(),
        Some("wang"),
        "wang's stream is told"
    );
    let event = history.pop().unwrap();
    assert_eq!(event.kind, EventKind::Reassigned);
    assert_eq!(event.actor, "supervisor:zhao");
    assert_eq!(event.reason.as_deref(), Some("li is in court all week"));
    assert_eq!(event.lawyer.as_deref(), Some("li"), "li's stream is told");
    assert_eq!(event.changes[0].old.as_deref(), Some("li"));
    assert_eq!(event.changes[0].new.as_deref(), Some("wang"));
    assert!(w.store.tickets_of("li").await.unwrap().is_empty());
    assert_eq!(
        w.store.tickets_of("wang").await.unwrap(),
        std::slice::from_ref(&n)
    );
    // wang gets the whole bound for starting: not flagged at li's deadline.
    w.advance(Duration::minutes(60));
    assert_eq!(w.tick().await, 0);
    w.advance(Duration::minutes(61));
    assert_eq!(w.tick().await, 1);
    assert_eq!(w.kinds(&n).await.last(), Some(&EventKind::StartOverdue));
    // A ticket that is not assigned cannot be reassigned.
    let rejected = w.critical("k2").await;
    w.ticketing
        .transition(
            &rejected,
            TicketState::Rejected,
            Move {
                reason: Some("duplicate".into()),
                ..Move::default()
            },
            "operator",
        )
        .await
        .unwrap();
    assert!(matches!(
        reassign("wang", rejected).await,
        Err(RosterError::NotReassignable { .. })
    ));
    w.assert_check_clean().await;
}

async fn an_escalation_nobody_takes_for_too_long_fails_the_check(store: Store) {
    let w = world(store);
    let n = w.critical("k1").await;
    assert_eq!(w.kinds(&n).await.last(), Some(&EventKind::Escalated));
    w.advance(Duration::minutes(29));
    w.tick().await;
    w.assert_check_clean().await;
    w.advance(Duration::minutes(2));
    w.tick().await;
    let problems = w.problems().await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains(n.as_str())
            && problems[0].contains("escalated and unowned since 2026-03-02T10:00:00+08:00"),
        "{problems:?}"
    );
    // Someone takes it: clean again.
    w.lawyer("li", &["labor-wages"], 3, 8).await;
    w.advance(Duration::minutes(10));
    w.tick().await;
    w.ack(&n, "li").await.unwrap();
    w.assert_check_clean().await;
}

async fn a_municipality_lawyer_gets_only_tickets_of_the_municipality(store: Store) {
    let w = world(store);
    // Same skill, same load: only the region tells them apart. The
    // Chongqing lawyer sorts first by id, so a loose match would win.
    w.lawyer_in("a-chongqing", &["labor-wages"], &["500000"], 3, 8)
        .await;
    w.lawyer_in("b-sichuan", &["labor-wages"], &["510000"], 3, 8)
        .await;
    for (key, region, lawyer) in [
        ("chengdu", "510100", "b-sichuan"),
        ("yuzhong", "500101", "a-chongqing"),
    ] {
        let mut ticket = new_ticket(key, true, None);
        ticket.region = Some(RegionCode::parse(region).unwrap());
        let (t, _) = w.ticketing.create(&ticket).await.unwrap();
        assert_eq!(
            w.pending(&t.number).await.as_deref(),
            Some(lawyer),
            "{region}"
        );
        w.ack(&t.number, lawyer).await.unwrap();
    }
    w.assert_check_clean().await;
}

async fn rejection_racing_an_offer_timeout_on_two_nodes(store: Store, url: String) {
    let w = world(store);
    w.lawyer("a", &["labor-wages"], 50, 8).await;
    w.lawyer("b", &["labor-wages"], 50, 8).await;
    // Node B: its own connections to the same database, the same clock.
    let other = Store::connect(&url).await.unwrap();
    let node_b = Ticketing::new(
        other.clone(),
        Arc::new(w.clock.clone()),
        Arc::new(Limitation::bundled().unwrap()),
    )
    .with_routing(w.ticketing.routing_policy().clone());
    for i in 0..8 {
        let n = w.critical(&format!("race-{i}")).await;
        // Exactly at the offer's deadline, node A's scheduler expires the
        // offer while an operator on node B rejects the ticket.
        w.advance(Duration::minutes(5));
        let reject = node_b.transition(
            &n,
            TicketState::Rejected,
            Move {
                reason: Some("not eligible".into()),
                ..Move::default()
            },
            "operator",
        );
        let (ticked, rejected) = tokio::join!(w.ticketing.run_routing(), reject);
        ticked.unwrap();
        rejected.unwrap();
        for _ in 0..3 {
            w.advance(Duration::minutes(10));
            w.ticketing.run_routing().await.unwrap();
            node_b.run_routing().await.unwrap();
        }
        let after = kinds_after(&w, &n, TicketState::Rejected).await;
        assert!(
            after.iter().all(|k| *k == EventKind::OfferWithdrawn),
            "round {i}: after the rejection: {after:?}"
        );
        assert_eq!(w.pending(&n).await, None);
        w.assert_check_clean().await;
    }
    other.close().await;
}

// --- Legal Aid Law arts. 43 and 44: what an acknowledgement means, and the
// decision and assignment clocks.

async fn provisional_aid_is_followed_by_the_centres_acceptance(store: Store) {
    let w = world(store);
    w.lawyer("li", &["labor-wages"], 3, 8).await;
    let n = w.critical("k1").await;
    w.ack(&n, "li").await.unwrap();
    let t = w.store.ticket(&n).await.unwrap();
    assert_eq!(t.state, TicketState::Provisional);
    // The decision is still due: the materials are awaited.
    assert!(t.awaits_materials());
    assert_eq!(
        w.store.tickets_of("li").await.unwrap(),
        std::slice::from_ref(&n)
    );
    w.assert_check_clean().await;
    w.advance(Duration::days(1));
    w.accept(&n).await;
    let t = w.store.ticket(&n).await.unwrap();
    assert_eq!(
        (t.state, t.assigned_lawyer.as_deref()),
        (TicketState::Assigned, Some("li")),
        "the lawyer who gave aid first stays"
    );
    let moves: Vec<_> = w
        .store
        .history(&n)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::Transitioned)
        .map(|e| (e.from_state, e.to_state))
        .collect();
    assert_eq!(
        moves,
        [
            (
                Some(TicketState::Application),
                Some(TicketState::Provisional)
            ),
            (Some(TicketState::Provisional), Some(TicketState::Accepted)),
            (Some(TicketState::Accepted), Some(TicketState::Assigned)),
        ]
    );
    // li stays: the history does not show it as a change of lawyer.
    let assigned = w
        .store
        .history(&n)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.to_state == Some(TicketState::Assigned))
        .unwrap();
    assert!(assigned.changes.is_empty(), "{:?}", assigned.changes);
    w.assert_check_clean().await;
}

async fn provisional_aid_ends_when_the_centre_rejects(store: Store) {
    let w = world(store);
    w.lawyer("li", &["labor-wages"], 3, 8).await;
    let n = w.critical("k1").await;
    w.ack(&n, "li").await.unwrap();
    // Rejecting needs a reason (art. 43).
    let no_reason = w
        .ticketing
        .transition(&n, TicketState::Rejected, Move::default(), "operator")
        .await;
    assert!(no_reason.is_err());
    let reason = "income above the local hardship line";
    w.ticketing
        .transition(
            &n,
            TicketState::Rejected,
            Move {
                reason: Some(reason.into()),
                ..Move::default()
            },
            "operator",
        )
        .await
        .unwrap();
    let t = w.store.ticket(&n).await.unwrap();
    assert_eq!(t.state, TicketState::Rejected);
    assert_eq!(t.rejection_reason.as_deref(), Some(reason));
    assert!(w.store.tickets_of("li").await.unwrap().is_empty());
    w.advance(Duration::hours(3));
    assert_eq!(w.tick().await, 0, "no timer left on it");
    w.assert_check_clean().await;
}

async fn an_urgent_application_acknowledged_is_owned_and_not_decided(store: Store) {
    let w = world(store);
    w.lawyer("li", &["labor-wages"], 3, 8).await;
    // Employment ended a year ago less 20 days: 20 days left, urgent.
    let ended = (t0() + Duration::hours(8)).date_naive() - Duration::days(345);
    let (t, _) = w
        .ticketing
        .create(&new_ticket("urgent", false, Some(ended)))
        .await
        .unwrap();
    assert_eq!(t.urgency, Some(Urgency::Urgent));
    assert_eq!(w.pending(&t.number).await.as_deref(), Some("li"));
    w.ack(&t.number, "li").await.unwrap();
    let owned = w.store.ticket(&t.number).await.unwrap();
    assert_eq!(
        (owned.state, owned.assigned_lawyer.as_deref()),
        (TicketState::Application, Some("li")),
        "an owner, and no decision"
    );
    let last = w.store.history(&t.number).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.kind, last.lawyer.as_deref()),
        (EventKind::Owned, Some("li"))
    );
    assert!(
        w.store
            .history(&t.number)
            .await
            .unwrap()
            .iter()
            .all(|e| e.kind != EventKind::Transitioned
                || e.to_state == Some(TicketState::Application))
    );
    assert!(w.store.queue("default", 10).await.unwrap().is_empty());
    w.advance(Duration::hours(3));
    assert_eq!(w.tick().await, 0, "nothing is due on an owned application");
    w.assert_check_clean().await;
    // A consultation's acknowledgement makes an owner too.
    let mut question = new_ticket("question", true, None);
    question.kind = TicketKind::Consultation;
    let (q, _) = w.ticketing.create(&question).await.unwrap();
    w.ack(&q.number, "li").await.unwrap();
    let q = w.store.ticket(&q.number).await.unwrap();
    assert_eq!(
        (q.state, q.assigned_lawyer.as_deref()),
        (TicketState::Consultation, Some("li"))
    );
}

async fn an_overdue_decision_is_alerted_once_and_materials_restart_the_clock(store: Store) {
    let w = world(store);
    // A family matter: no deadline, so a normal ticket nobody is offered.
    let mut family = new_ticket("normal", false, None);
    family.matter = Some(Matter::Family);
    let (t, _) = w.ticketing.create(&family).await.unwrap();
    assert_eq!(t.urgency, Some(Urgency::Normal));
    let n = t.number;
    // No clock until the application is complete.
    assert_eq!(t.decision_due, None);
    w.advance(Duration::days(30));
    w.tick().await;
    assert!(!w.kinds(&n).await.contains(&EventKind::DecisionOverdue));
    w.assert_check_clean().await;
    // Thirty days after the call (Monday 2026-03-02) the materials come in,
    // on 2026-04-01 (Wed); 7 days later is 04-08 (Wed), a working day.
    let marked = w
        .ticketing
        .materials_received(&n, Some("identity card, contract"), "operator")
        .await
        .unwrap();
    let due = marked.decision_due.unwrap();
    assert_eq!(due.to_string(), "2026-04-08");
    assert!(!marked.awaits_materials());
    assert_eq!(
        w.kinds(&n).await.last(),
        Some(&EventKind::MaterialsReceived)
    );
    // On the due day it is not overdue yet.
    w.advance(Duration::days(7));
    w.tick().await;
    assert!(!w.kinds(&n).await.contains(&EventKind::DecisionOverdue));
    w.assert_check_clean().await;
    // The next day it is: one alert, and the check fails.
    w.advance(Duration::days(1));
    w.tick().await;
    w.tick().await;
    w.advance(Duration::days(1));
    w.tick().await;
    let alerts = w
        .kinds(&n)
        .await
        .into_iter()
        .filter(|k| *k == EventKind::DecisionOverdue)
        .count();
    assert_eq!(alerts, 1, "alerted once");
    let problems = w.problems().await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("decision on the application was due 2026-04-08"));
    // Supplemented materials restart the clock from today (04-10, Fri):
    // 7 days later is 04-17 (Fri).
    let again = w
        .ticketing
        .materials_received(&n, Some("bank statements"), "lawyer:li")
        .await
        .unwrap();
    assert_eq!(again.decision_due.unwrap().to_string(), "2026-04-17");
    w.assert_check_clean().await;
    w.advance(Duration::days(8));
    w.tick().await;
    let alerts = w
        .kinds(&n)
        .await
        .into_iter()
        .filter(|k| *k == EventKind::DecisionOverdue)
        .count();
    assert_eq!(alerts, 2, "the restarted clock alerts once more");
    // A decision ends it.
    w.accept(&n).await;
    assert!(!w.problems().await.iter().any(|p| p.contains("decision")));
    // Materials belong to applications only.
    let done = w.ticketing.materials_received(&n, None, "operator").await;
    assert!(done.unwrap_err().to_string().contains("accepted"));
}

async fn an_assignment_overdue_after_acceptance_is_alerted_once(store: Store) {
    let w = world(store);
    // A family matter: no deadline, so a normal ticket nobody is offered.
    let mut family = new_ticket("normal", false, None);
    family.matter = Some(Matter::Family);
    let (t, _) = w.ticketing.create(&family).await.unwrap();
    assert_eq!(t.urgency, Some(Urgency::Normal));
    w.ticketing
        .materials_received(&t.number, None, "operator")
        .await
        .unwrap();
    // Accepted on Monday 2026-03-02: a lawyer is due by 03-05 (Thu).
    w.accept(&t.number).await;
    let accepted = w.store.ticket(&t.number).await.unwrap();
    assert_eq!(accepted.state, TicketState::Accepted);
    assert_eq!(accepted.assignment_due.unwrap().to_string(), "2026-03-05");
    w.advance(Duration::days(4));
    w.tick().await;
    w.tick().await;
    let kinds = w.kinds(&t.number).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == EventKind::AssignmentOverdue)
            .count(),
        1
    );
    let problems = w.problems().await;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("a lawyer was to be assigned by 2026-03-05")),
        "{problems:?}"
    );
}

async fn a_critical_application_pulled_after_escalation_is_provisional_aid(store: Store) {
    let w = world(store);
    // Nobody on duty: escalated at once, no offer pending.
    let n = w.critical("k1").await;
    assert_eq!(w.pending(&n).await, None);
    w.lawyer("li", &["labor-wages"], 3, 8).await;
    w.store
        .pull(
            &n,
            "li",
            "supervisor:zhao",
            w.ticketing.routing_policy(),
            w.ticketing.now(),
        )
        .await
        .unwrap()
        .unwrap();
    let t = w.store.ticket(&n).await.unwrap();
    assert_eq!(
        (t.state, t.assigned_lawyer.as_deref()),
        (TicketState::Provisional, Some("li")),
        "taken by hand, a critical application is aid given first as well"
    );
    w.advance(Duration::minutes(10));
    assert_eq!(w.tick().await, 0, "no new round for a ticket li has");
    w.assert_check_clean().await;
}

async fn a_ticket_corrected_to_normal_stops_being_offered_and_can_be_routed_again(store: Store) {
    let w = world(store);
    w.lawyer("li", &["labor-wages", "family"], 3, 8).await;
    let n = w.critical("k1").await;
    assert_eq!(w.pending(&n).await.as_deref(), Some("li"));
    // The operator learns it is a family matter with no preservation.
    let normal = hotline_ticketing::tickets::Correction {
        matter: Some(Matter::Family),
        preservation: Some(false),
        ..Default::default()
    };
    let t = w
        .ticketing
        .correct(
            &n,
            &normal,
            Some("divorce, nothing to preserve"),
            "operator",
        )
        .await
        .unwrap();
    assert_eq!(t.urgency, Some(Urgency::Normal));
    assert_eq!(w.pending(&n).await, None, "the offer is withdrawn");
    assert_eq!(w.kinds(&n).await.last(), Some(&EventKind::OfferWithdrawn));
    w.advance(Duration::minutes(30));
    assert_eq!(w.tick().await, 0, "not offered or escalated again");
    assert_eq!(
        w.store.queue("default", 10).await.unwrap(),
        std::slice::from_ref(&n)
    );
    w.assert_check_clean().await;
    // Corrected back: offered again.
    let critical = hotline_ticketing::tickets::Correction {
        preservation: Some(true),
        ..Default::default()
    };
    w.ticketing
        .correct(
            &n,
            &critical,
            Some("the spouse is moving the savings"),
            "operator",
        )
        .await
        .unwrap();
    assert_eq!(w.pending(&n).await.as_deref(), Some("li"));
    w.assert_check_clean().await;
}

/// Critical tickets created at once are written in shared transactions
/// (group commit); each still sees the offers made before it, so two
/// lawyers of capacity 3 get three each and the rest escalate, whatever the
/// batches were.
async fn concurrent_critical_tickets_share_the_duty_as_one_after_another(store: Store) {
    let w = world(store);
    w.lawyer("a", &["labor-wages"], 3, 8).await;
    w.lawyer("b", &["labor-wages"], 3, 8).await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let ticketing = w.ticketing.clone();
        tasks.push(tokio::spawn(async move {
            let (t, created) = ticketing
                .create(&new_ticket(&format!("burst-{i}"), true, None))
                .await
                .unwrap();
            assert!(created);
            t.number
        }));
    }
    let mut offered = std::collections::HashMap::<String, usize>::new();
    let mut escalated = 0;
    for task in tasks {
        let n = task.await.unwrap();
        let kinds = w.kinds(&n).await;
        match w.pending(&n).await {
            Some(lawyer) => {
                assert_eq!(kinds, [EventKind::Created, EventKind::Offered], "{n}");
                *offered.entry(lawyer).or_default() += 1;
            }
            None => {
                assert_eq!(kinds, [EventKind::Created, EventKind::Escalated], "{n}");
                escalated += 1;
            }
        }
    }
    assert_eq!(offered.get("a"), Some(&3), "{offered:?}");
    assert_eq!(offered.get("b"), Some(&3), "{offered:?}");
    assert_eq!(escalated, 4);
    w.assert_check_clean().await;
}

/// A batch written in one transaction: offers alternate as the load grows,
/// a shift that ends between two tickets' moments covers only the first,
/// a repeated key finds the ticket its first request made, and each paged
/// offer rings the lawyer once.
async fn tickets_written_together_are_routed_each_at_its_own_moment(store: Store) {
    let mut w = world(store);
    let mut policy = w.ticketing.routing_policy().clone();
    policy.paging.phones = true;
    w.ticketing = w.ticketing.clone().with_routing(policy.clone());
    let policy = Arc::new(policy);
    w.lawyer("a", &["labor-wages"], 5, 8).await;
    w.lawyer("b", &["labor-wages"], 5, 8).await;
    // `leaving` is the least loaded and first by name, but off duty one
    // second from now.
    w.store
        .put_lawyer(
            &Lawyer {
                id: "0-leaving".into(),
                center: "default".into(),
                name: "Leaving".into(),
                phone: "13900000001".into(),
                sip_uri: None,
                skills: vec!["labor-wages".into()],
                regions: vec![],
                languages: vec!["zh".into()],
                capacity: 5,
                active: true,
            },
            t0(),
        )
        .await
        .unwrap();
    w.store
        .add_shift(
            "0-leaving",
            t0() - Duration::hours(1),
            t0() + Duration::seconds(1),
        )
        .await
        .unwrap()
        .unwrap();
    let today = Ticketing::today(t0());
    let request = |key: &str, at: DateTime<Utc>| {
        let new = new_ticket(key, true, None);
        CreateRequest {
            assessed: Assessed {
                urgency: w.ticketing.limitation().assess_ticket(new.facts(), today),
                callback_due: None,
            },
            new,
            routing: Some(policy.clone()),
            now: at,
        }
    };
    let later = t0() + Duration::seconds(2);
    let outcomes = w
        .store
        .create_together(&[
            request("k1", t0()),
            request("k2", later),
            request("k1", later),
            request("k3", later),
            request("k4", later),
        ])
        .await
        .unwrap();
    let created: Vec<bool> = outcomes.iter().map(|(_, c)| *c).collect();
    assert_eq!(created, [true, true, false, true, true]);
    assert_eq!(outcomes[0].0.number, outcomes[2].0.number);
    let mut lawyers = Vec::new();
    for (t, _) in [&outcomes[0], &outcomes[1], &outcomes[3], &outcomes[4]] {
        lawyers.push(w.pending(&t.number).await.unwrap());
        assert_eq!(
            w.kinds(&t.number).await,
            [EventKind::Created, EventKind::Offered]
        );
    }
    assert_eq!(lawyers, ["0-leaving", "a", "b", "a"]);
    // One page per offer, due at once.
    let mut paged = Vec::new();
    while let Some(page) = w
        .store
        .claim_page("node-1", "token-1", 100, later)
        .await
        .unwrap()
    {
        assert_eq!(page.attempt, 1);
        assert!(page.target.starts_with("tel:1390000000"), "{}", page.target);
        paged.push(page.lawyer);
    }
    paged.sort();
    assert_eq!(paged, ["0-leaving", "a", "a", "b"]);
}

/// Who may see a ticket as its offers move: the lawyer with the pending
/// offer, then, once it is declined, the next one instead; the lawyer who
/// takes it; its center's supervisors and admins always; nobody else.
/// `may_see_given` (a lawyer's stream, with the offers already read) says
/// the same as `may_see` (its own read) at every step.
async fn who_may_see_a_ticket_follows_its_offers_and_its_lawyer(store: Store) {
    use hotline_ticketing::auth::{Principal, Role};
    let w = world(store);
    w.lawyer("li", &["labor-wages"], 3, 8).await;
    w.lawyer("wang", &["labor-wages"], 2, 8).await;
    let principal = |role: Role, lawyer: Option<&str>, center: Option<&str>| Principal {
        token_id: "t".into(),
        role,
        lawyer: lawyer.map(str::to_owned),
        center: center.map(str::to_owned),
        name: "n".into(),
    };
    let everyone = [
        ("li", principal(Role::Lawyer, Some("li"), None)),
        ("wang", principal(Role::Lawyer, Some("wang"), None)),
        ("chen", principal(Role::Lawyer, Some("chen"), None)),
        (
            "supervisor",
            principal(Role::Supervisor, None, Some("default")),
        ),
        (
            "haidian",
            principal(Role::Supervisor, None, Some("haidian")),
        ),
        ("admin", principal(Role::Admin, None, None)),
        ("ivr", principal(Role::Ivr, None, None)),
    ];
    let n = w.critical("k1").await;
    // Offered to li first (more room).
    assert_eq!(w.pending(&n).await.as_deref(), Some("li"));
    assert_eq!(
        who_sees(&w, &n, &everyone).await,
        ["li", "supervisor", "admin"]
    );
    w.decline(&n, "li", "in court all day").await;
    assert_eq!(w.pending(&n).await.as_deref(), Some("wang"));
    assert_eq!(
        who_sees(&w, &n, &everyone).await,
        ["wang", "supervisor", "admin"]
    );
    w.ack(&n, "wang").await.unwrap();
    assert_eq!(
        who_sees(&w, &n, &everyone).await,
        ["wang", "supervisor", "admin"]
    );
    w.assert_check_clean().await;
}

/// The names of `everyone` who may see ticket `n`, asserting that
/// `may_see` and `may_see_given` agree for each.
async fn who_sees<'a>(
    w: &World,
    n: &TicketNumber,
    everyone: &[(&'a str, hotline_ticketing::auth::Principal)],
) -> Vec<&'a str> {
    let ticket = w.store.ticket(n).await.unwrap();
    let offers = w.store.offers(n).await.unwrap();
    let mut seen = Vec::new();
    for (name, who) in everyone {
        let read = w.ticketing.may_see(who, &ticket).await.unwrap();
        let given = Ticketing::may_see_given(who, &ticket, &offers);
        assert_eq!(read, given, "{name}: may_see and may_see_given differ");
        if read {
            seen.push(*name);
        }
    }
    seen
}
