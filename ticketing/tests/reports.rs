//! Statistics, reports and quality review on the real store, on SQLite and
//! PostgreSQL: a seeded data set (tickets of several matters and groups,
//! offers acknowledged after random delays, some missed first, some cases
//! closed) whose counts and percentiles this test works out itself from
//! what it did, checked against the report, its CSV, and the quality
//! sample and scores.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hotline_domain::{
    Language, Matter, PhoneNumber, PriorityGroup, TicketKind, TicketNumber, TicketState,
};
use hotline_ticketing::limitation::Limitation;
use hotline_ticketing::quality::{NewReview, Scores};
use hotline_ticketing::reports::CSV_HEADER;
use hotline_ticketing::routing::Lawyer;
use hotline_ticketing::stats::ivr::{MenuNodeDay, NodeCounts};
use hotline_ticketing::stats::Period;
use hotline_ticketing::tickets::lifecycle::Move;
use hotline_ticketing::tickets::{Flags, NewTicket};
use hotline_ticketing::{ManualClock, Store, Ticketing};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

both_backends!(
    report_figures_match_a_seeded_data_set,
    ivr_figures_add_up_runs_and_a_repeated_report_adds_nothing
);

/// 10:00 in Shanghai on Monday 2026-03-02, the period's first day.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap()
}

fn new_ticket(i: usize, matter: Matter, group: PriorityGroup, critical: bool) -> NewTicket {
    NewTicket {
        idempotency_key: format!("seeded-{i}"),
        proposed_number: None,
        kind: TicketKind::Application,
        matter: Some(matter),
        caller_number: Some(PhoneNumber::parse("13812345678").unwrap()),
        callback_number: None,
        event_date: None,
        document: None,
        chosen_rule: None,
        preservation: critical,
        priority_group: group,
        language: Language::Zh,
        center: "default".to_owned(),
        region: None,
        summary: "seeded".to_owned(),
        flags: Flags::default(),
        // Even tickets come from the IVR, odd ones from the centre's staff.
        last_node: None,
        actor: if i.is_multiple_of(2) {
            "ivr:node-1".to_owned()
        } else {
            "supervisor:zhao".to_owned()
        },
    }
}

/// Nearest rank, as the README defines it: the value at ⌈p·n/100⌉.
fn nearest_rank(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len()) as f64 / 100.0).ceil() as usize;
    Some(sorted[rank.max(1) - 1])
}

#[derive(Default)]
struct Expected {
    tickets: u64,
    matter: BTreeMap<String, u64>,
    group: BTreeMap<String, u64>,
    urgency: BTreeMap<String, u64>,
    channel: BTreeMap<String, u64>,
    state: BTreeMap<String, u64>,
    outcome: BTreeMap<String, u64>,
    /// Seconds from creation to acknowledgement.
    acks: Vec<i64>,
    missed: u64,
    provisional: u64,
    migrant_wages: u64,
    home_visits: u64,
    pledges: u64,
    closed: Vec<(TicketNumber, String)>,
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    *map.entry(key.to_owned()).or_default() += 1;
}

async fn report_figures_match_a_seeded_data_set(store: Store) {
    let clock = ManualClock::new(t0() - Duration::days(2));
    let t = Ticketing::new(
        store.clone(),
        Arc::new(clock.clone()),
        Arc::new(Limitation::bundled().unwrap()),
    );
    // Before the period: counted nowhere.
    t.create(&new_ticket(999, Matter::Family, PriorityGroup::None, false))
        .await
        .unwrap();
    clock.set(t0());
    for id in ["li", "wang"] {
        t.put_lawyer(&Lawyer {
            id: id.into(),
            center: "default".into(),
            name: id.into(),
            phone: "13900000000".into(),
            sip_uri: None,
            skills: vec!["labor-wages".into(), "family".into(), "work-injury".into()],
            regions: vec![],
            languages: vec!["zh".into()],
            capacity: 1000,
            active: true,
        })
        .await
        .unwrap();
        t.add_shift(id, t0() - Duration::hours(1), t0() + Duration::days(30))
            .await
            .unwrap()
            .unwrap();
    }

    let mut rng = StdRng::seed_from_u64(12348);
    let mut e = Expected::default();
    let matters = [Matter::LaborWages, Matter::Family, Matter::WorkInjury];
    let groups = [
        PriorityGroup::MigrantWorker,
        PriorityGroup::None,
        PriorityGroup::Minor,
    ];
    for i in 0..30 {
        let matter = matters[rng.random_range(0..3)];
        let group = groups[rng.random_range(0..3)];
        let critical = rng.random_bool(0.5);
        let mut new = new_ticket(i, matter, group, critical);
        new.flags.home_visit = rng.random_bool(0.3);
        new.flags.pledge_offered = rng.random_bool(0.3);
        let (ticket, _) = t.create(&new).await.unwrap();
        let created = t.now();
        e.tickets += 1;
        bump(&mut e.matter, matter.as_str());
        bump(&mut e.group, group.as_str());
        bump(
            &mut e.channel,
            if i.is_multiple_of(2) {
                "phone"
            } else {
                "staff"
            },
        );
        e.home_visits += u64::from(new.flags.home_visit);
        e.pledges += u64::from(new.flags.pledge_offered);
        if group == PriorityGroup::MigrantWorker && matter == Matter::LaborWages {
            e.migrant_wages += 1;
        }
        // Urgency is the limitation table's answer (an unknown date makes
        // some matters urgent); the data set takes it as it comes.
        let urgency = ticket.urgency.map(|u| u.as_str()).unwrap_or("unassessed");
        bump(&mut e.urgency, urgency);
        if !matches!(urgency, "critical" | "urgent") {
            bump(&mut e.state, "application");
        } else {
            // Offered at once: taken after a while, or missed first.
            if rng.random_bool(0.25) {
                // Past the default time to acknowledge (5 min critical,
                // 30 urgent).
                let deadline = if urgency == "critical" { 5 } else { 30 };
                clock.advance(Duration::minutes(deadline) + Duration::seconds(1));
                t.run_routing().await.unwrap();
                e.missed += 1;
            }
            clock.advance(Duration::seconds(rng.random_range(10..240)));
            let offers = t.store().offers(&ticket.number).await.unwrap();
            let pending = offers
                .iter()
                .find(|o| o.state.as_str() == "pending")
                .expect("a pending offer");
            let lawyer = pending.lawyer.clone();
            t.acknowledge(&ticket.number, &lawyer)
                .await
                .unwrap()
                .unwrap();
            e.acks.push((t.now() - created).num_seconds());
            if urgency == "urgent" {
                // The lawyer owns it; the centre's decision is still to come.
                bump(&mut e.state, "application");
            } else if rng.random_bool(0.5) {
                let outcome = ["advice-given", "mediated"][rng.random_range(0..2)];
                clock.advance(Duration::minutes(30));
                t.move_case(
                    &ticket.number,
                    &lawyer,
                    TicketState::Closed,
                    Move {
                        outcome: Some(outcome.to_owned()),
                        ..Move::default()
                    },
                )
                .await
                .unwrap()
                .unwrap();
                bump(&mut e.outcome, outcome);
                bump(&mut e.state, "closed");
                e.closed.push((ticket.number.clone(), lawyer));
                e.provisional += 1;
            } else {
                // A critical application a lawyer took: aid given first.
                bump(&mut e.state, "provisional");
                e.provisional += 1;
            }
        }
        clock.advance(Duration::minutes(rng.random_range(30..300)));
    }
    let last_day = Ticketing::today(t.now());
    let period = Period::new(Ticketing::today(t0()), last_day).unwrap();
    let report = t.report(&period, Some("default")).await.unwrap();
    let s = &report.stats;

    assert_eq!(s.tickets, e.tickets);
    assert_eq!(s.by_matter, e.matter);
    assert_eq!(s.by_priority_group, e.group);
    assert_eq!(s.by_urgency, e.urgency);
    assert_eq!(s.by_channel, e.channel);
    assert_eq!(s.by_state, e.state);
    assert_eq!(s.by_outcome, e.outcome);
    assert_eq!(s.offers_missed, e.missed);
    assert_eq!(s.migrant_wage_cases, e.migrant_wages);
    assert_eq!(s.home_visits, e.home_visits);
    assert_eq!(s.pledges, e.pledges);
    let count = |u: &str| e.urgency.get(u).copied().unwrap_or(0);
    assert_eq!(s.urgent_cases, count("critical") + count("urgent"));
    // Every critical application a lawyer took got provisional aid first.
    assert_eq!(s.provisional_aid, e.provisional);
    let mut acks = e.acks.clone();
    acks.sort_unstable();
    let secs = |d: Option<Duration>| d.map(|d| d.num_seconds());
    assert!(acks.len() >= 5, "the seed gives a spread to measure");
    assert_eq!(s.to_acknowledgement.count, acks.len());
    assert_eq!(secs(s.to_acknowledgement.p50), nearest_rank(&acks, 50));
    assert_eq!(secs(s.to_acknowledgement.p90), nearest_rank(&acks, 90));
    assert_eq!(secs(s.to_acknowledgement.max), acks.last().copied());
    // Taking the offer is the assignment here.
    assert_eq!(s.to_assignment, s.to_acknowledgement);
    assert_eq!(s.urgent_to_acknowledgement, s.to_acknowledgement);

    // The CSV: the documented header, and every section adds up.
    let csv_text = report.to_csv().unwrap();
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(reader.headers().unwrap(), CSV_HEADER.as_slice());
    let rows: Vec<(String, String, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_owned(), r[1].to_owned(), r[2].to_owned())
        })
        .collect();
    let figure = |section: &str, item: &str| {
        rows.iter()
            .find(|(s, i, _)| s == section && i == item)
            .map(|(_, _, v)| v.clone())
    };
    assert_eq!(figure("summary", "tickets"), Some(e.tickets.to_string()));
    for section in [
        "matter",
        "urgency",
        "priority_group",
        "channel",
        "state",
        "region",
    ] {
        let total: u64 = rows
            .iter()
            .filter(|(s, _, _)| s == section)
            .map(|(_, _, v)| v.parse::<u64>().unwrap())
            .sum();
        assert_eq!(total, e.tickets, "section {section}");
    }
    assert_eq!(
        figure("time", "to_acknowledgement_p90_seconds"),
        nearest_rank(&acks, 90).map(|v| v.to_string())
    );
    assert_eq!(figure("period", "from"), Some(period.from.to_string()));

    // Quality review: the same seed draws the same sample, from the cases
    // each lawyer closed in the period, two each at most.
    let sample = t.quality_sample(&period, None, 2, 7).await.unwrap();
    assert_eq!(sample, t.quality_sample(&period, None, 2, 7).await.unwrap());
    for (number, lawyer) in &sample {
        assert!(e.closed.contains(&(number.clone(), lawyer.clone())));
    }
    for lawyer in ["li", "wang"] {
        let closed = e.closed.iter().filter(|(_, l)| l == lawyer).count();
        let drawn = sample.iter().filter(|(_, l)| l == lawyer).count();
        assert_eq!(drawn, closed.min(2), "{lawyer}");
    }
    // Scores round-trip into the report, per lawyer.
    let reviewed_at = t.now();
    let mut totals: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (number, lawyer) in &sample {
        let scores = Scores {
            accuracy: rng.random_range(1..=5),
            timeliness: rng.random_range(1..=5),
            communication: rng.random_range(1..=5),
            documentation: rng.random_range(1..=5),
        };
        let review = NewReview {
            reviewer: "supervisor:zhao".to_owned(),
            scores,
            comment: "checked the advice against the file".to_owned(),
        };
        t.review(number, &review).await.unwrap().unwrap();
        totals
            .entry(lawyer.clone())
            .or_default()
            .push(scores.total());
    }
    // An open case is not reviewed.
    let open = t
        .create(&new_ticket(
            1000,
            Matter::Family,
            PriorityGroup::None,
            false,
        ))
        .await
        .unwrap()
        .0;
    let refused = t
        .review(
            &open.number,
            &NewReview {
                reviewer: "supervisor:zhao".to_owned(),
                scores: Scores {
                    accuracy: 5,
                    timeliness: 5,
                    communication: 5,
                    documentation: 5,
                },
                comment: String::new(),
            },
        )
        .await
        .unwrap();
    assert!(refused.is_err());
    let period_with_reviews = Period::new(period.from, Ticketing::today(reviewed_at)).unwrap();
    let report = t
        .report(&period_with_reviews, Some("default"))
        .await
        .unwrap();
    assert_eq!(report.scores.len(), totals.len());
    let csv_text = report.to_csv().unwrap();
    for s in &report.scores {
        let mine = &totals[&s.lawyer];
        let mean = f64::from(mine.iter().sum::<u32>()) / mine.len() as f64;
        assert_eq!(s.reviews, mine.len());
        assert!(
            (s.mean_total - mean).abs() < 1e-9,
            "{}: {}",
            s.lawyer,
            s.mean_total
        );
        let row = format!("quality,{}:total,{mean:.2}", s.lawyer);
        assert!(csv_text.contains(&row), "{row} not in\n{csv_text}");
    }

    // 重点督办: marked once, with one event naming why; open major cases
    // are listed for the board.
    assert!(t
        .mark_major_case(&open.number, "媒体关注", "supervisor:zhao")
        .await
        .unwrap());
    assert!(!t
        .mark_major_case(&open.number, "again", "supervisor:zhao")
        .await
        .unwrap());
    assert!(t.ticket(&open.number).await.unwrap().major_case);
    let marks: Vec<_> = t
        .history(&open.number)
        .await
        .unwrap()
        .into_iter()
        .filter(|ev| ev.kind == hotline_ticketing::tickets::EventKind::MajorCase)
        .collect();
    assert_eq!(marks.len(), 1);
    assert_eq!(marks[0].reason.as_deref(), Some("媒体关注"));
    assert_eq!(
        t.major_cases(Some("default")).await.unwrap(),
        vec![open.number.clone()]
    );
    assert!(t.major_cases(Some("elsewhere")).await.unwrap().is_empty());
}

fn row(
    day: &str,
    center: &str,
    node: &str,
    entered: u64,
    completed: u64,
    abandoned: u64,
) -> MenuNodeDay {
    MenuNodeDay {
        day: day.parse().unwrap(),
        center: center.into(),
        node: node.into(),
        counts: NodeCounts {
            entered,
            completed,
            abandoned,
            invalid: 1,
            timeouts: 0,
        },
    }
}

fn csv_rows(csv: &str, section: &str) -> BTreeMap<String, String> {
    csv.lines()
        .filter_map(|l| {
            let mut cells = l.splitn(3, ',');
            if cells.next()? != section {
                return None;
            }
            Some((cells.next()?.to_owned(), cells.next()?.to_owned()))
        })
        .collect()
}

/// The IVR nodes' counts: two nodes, one restarted (a second run), one
/// report sent twice with grown counts; days outside the period and
/// another centre's rows are left out where they should be.
async fn ivr_figures_add_up_runs_and_a_repeated_report_adds_nothing(store: Store) {
    let clock = ManualClock::new(t0());
    let t = Ticketing::new(
        store.clone(),
        Arc::new(clock.clone()),
        Arc::new(Limitation::bundled().unwrap()),
    );
    let run_a = "a".repeat(32);
    let run_b = "b".repeat(32);
    // ivr-1's first run; its first report, then a later one with more.
    t.publish_ivr_figures(
        "ivr-1",
        &run_a,
        0,
        vec![],
        &[row("2026-03-02", "default", "main", 5, 0, 2)],
    )
    .await
    .unwrap();
    t.publish_ivr_figures(
        "ivr-1",
        &run_a,
        0,
        vec![],
        &[
            row("2026-03-02", "default", "main", 8, 0, 3),
            row("2026-03-02", "default", "goodbye", 4, 4, 0),
        ],
    )
    .await
    .unwrap();
    // ivr-1 restarted: its second run's counts add to the first's.
    t.publish_ivr_figures(
        "ivr-1",
        &run_b,
        0,
        vec![],
        &[row("2026-03-03", "default", "main", 2, 0, 1)],
    )
    .await
    .unwrap();
    // ivr-2: another centre, and a day after the period.
    t.publish_ivr_figures(
        "ivr-2",
        &run_a,
        0,
        vec![],
        &[
            row("2026-03-02", "haidian", "main", 7, 0, 7),
            row("2026-04-01", "default", "main", 100, 0, 100),
        ],
    )
    .await
    .unwrap();

    let march = Period::new("2026-03-01".parse().unwrap(), "2026-03-31".parse().unwrap()).unwrap();
    let report = t.report(&march, Some("default")).await.unwrap();
    let ivr = &report.stats.ivr;
    assert_eq!((ivr.calls, ivr.completed, ivr.abandoned), (8, 4, 4));
    assert_eq!(ivr.by_node["main"].entered, 10);
    assert_eq!(ivr.by_node["main"].invalid, 2);
    let csv = report.to_csv().unwrap();
    let totals = csv_rows(&csv, "ivr");
    assert_eq!(totals["calls"], "8");
    assert_eq!(totals["abandoned"], "4");
    let nodes = csv_rows(&csv, "ivr_node");
    assert_eq!(nodes["main:entered"], "10");
    assert_eq!(nodes["goodbye:completed"], "4");
    // Every centre: haidian's seven hang-ups count too.
    let all = t.report(&march, None).await.unwrap();
    assert_eq!(all.stats.ivr.calls, 15);
    assert_eq!(all.stats.ivr.by_node["main"].abandoned, 11);
    // One day.
    let day = Period::new("2026-03-03".parse().unwrap(), "2026-03-03".parse().unwrap()).unwrap();
    assert_eq!(t.report(&day, None).await.unwrap().stats.ivr.calls, 1);

    // The calls in progress: the board lists a node's last report while
    // it keeps reporting.
    let call = |id: &str, center: &str| hotline_proto::v1::ActiveCall {
        call_id: id.into(),
        center: center.into(),
        ..Default::default()
    };
    t.publish_ivr_figures(
        "ivr-1",
        &run_b,
        2,
        vec![call("c1", "default"), call("c2", "haidian")],
        &[],
    )
    .await
    .unwrap();
    let haidian = ["haidian".to_owned()];
    let (calls, total) = t.ivr_calls(Some(&haidian));
    assert_eq!((calls.len(), total), (1, 2));
    assert_eq!(calls[0].call.call_id, "c2");
    clock.advance(Duration::seconds(11));
    assert_eq!(
        t.ivr_calls(None).1,
        0,
        "a node silent for 11 s has no calls on the board"
    );
}
