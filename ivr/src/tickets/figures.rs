//! The IVR node's report to ticketing every [`INTERVAL`]: its calls in
//! progress, for the console's board, and its call-flow counts per day,
//! center and menu node since it started, for statistics and reports.
//!
//! The counts are totals of this run of the node (`boot`, drawn at start),
//! so ticketing replaces what it had for the run: a message sent twice
//! adds nothing, and one lost is made good by the next. Once ticketing has
//! a day that is over, the node forgets it.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use hotline_proto::v1 as pb;
use tracing::{info, warn};

use super::TicketsClient;
use crate::admin::CallBoard;
use crate::menu::metrics::FlowMetrics;

/// How often the node reports.
pub const INTERVAL: Duration = Duration::from_secs(2);
/// The calls listed in one report; the count covers them all.
pub const MAX_CALLS_LISTED: usize = 200;

/// Counts ticketing already has, by (day, center, node).
pub type Sent =
    std::collections::HashMap<crate::menu::metrics::DayKey, crate::menu::metrics::NodeCounts>;

/// One report: `calls` as the board lists them, and the rows of `metrics`'
/// days that differ from `sent` (ticketing keeps the others: an idle node
/// writes nothing to the database).
pub fn report(
    node_id: &str,
    boot: &str,
    mut calls: Vec<pb::ActiveCall>,
    metrics: &FlowMetrics,
    sent: &Sent,
) -> pb::IvrFigures {
    let calls_in_progress = u32::try_from(calls.len()).unwrap_or(u32::MAX);
    // The longest-running first: those are the ones a supervisor looks for.
    calls.sort_by_key(|c| std::cmp::Reverse(c.duration_seconds));
    calls.truncate(MAX_CALLS_LISTED);
    // Ticketing takes at most 64 bytes a field: a long menu node id is cut,
    // never the reason a report is refused.
    for c in &mut calls {
        for field in [
            &mut c.position,
            &mut c.called,
            &mut c.center,
            &mut c.sip_call_id,
        ] {
            cut(field);
        }
    }
    let nodes = metrics
        .daily()
        .into_iter()
        .filter(|(key, c)| sent.get(key) != Some(c))
        .map(|((day, mut center, mut node), c)| pb::MenuNodeDay {
            date: day.format("%Y-%m-%d").to_string(),
            center: {
                cut(&mut center);
                center
            },
            node: {
                cut(&mut node);
                node
            },
            entered: c.entered,
            completed: c.completed,
            abandoned: c.abandoned,
            invalid: c.invalid,
            timeouts: c.timeouts,
        })
        .collect();
    pb::IvrFigures {
        ivr_node: node_id.to_owned(),
        boot: boot.to_owned(),
        calls,
        calls_in_progress,
        nodes,
    }
}

/// Cuts `s` to at most 64 bytes, on a character boundary.
fn cut(s: &mut String) {
    if s.len() > 64 {
        let mut end = 64;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

fn today() -> NaiveDate {
    Utc::now()
        .with_timezone(&hotline_domain::shanghai())
        .date_naive()
}

/// Reports every [`INTERVAL`] until `shutdown`, then once more, so the
/// last calls' counts arrive.
pub async fn run(
    tickets: TicketsClient,
    node_id: String,
    boot: String,
    board: CallBoard,
    metrics: FlowMetrics,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut failing = false;
    let mut sent = Sent::new();
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            () = &mut shutdown => true,
            _ = tick.tick() => false,
        };
        // The day is read before the counts: a count made after midnight
        // belongs to a day this pass does not forget.
        let day = today();
        let snapshot = metrics.daily();
        let figures = report(&node_id, &boot, board.list(), &metrics, &sent);
        match tickets.publish_figures(figures).await {
            Ok(()) => {
                // What this report carried is what ticketing has (counts
                // made since the snapshot go in the next one).
                sent = snapshot.into_iter().collect();
                if failing {
                    info!("call figures reach ticketing again");
                    failing = false;
                }
                if let Some(yesterday) = day.pred_opt() {
                    metrics.forget_days_before(yesterday);
                    sent.retain(|(d, _, _), _| *d >= yesterday);
                }
            }
            // Ticketing being down is the outbox's warning to give; this
            // says once that the board and the figures lag behind.
            Err(status) if !failing => {
                warn!(error = %status.message(), "call figures not sent; they are kept and sent again");
                failing = true;
            }
            Err(_) => {}
        }
        if last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::menu::FlowEvent;

    fn call(id: &str, seconds: u32) -> pb::ActiveCall {
        pb::ActiveCall {
            call_id: id.to_owned(),
            duration_seconds: seconds,
            ..Default::default()
        }
    }

    #[test]
    fn a_report_counts_every_call_and_lists_the_longest() {
        let metrics = FlowMetrics::default();
        let calls: Vec<_> = (0..300).map(|i| call(&format!("c{i}"), i)).collect();
        let r = report("ivr-1", "b", calls, &metrics, &Sent::new());
        assert_eq!(r.calls_in_progress, 300);
        assert_eq!(r.calls.len(), MAX_CALLS_LISTED);
        assert_eq!(r.calls[0].duration_seconds, 299);
    }

    #[test]
    fn counts_go_by_day_center_and_node_and_old_days_are_forgotten() {
        let metrics = FlowMetrics::default();
        let d1 = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default();
        let d2 = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default();
        metrics.record_on(d1, "haidian", &FlowEvent::Entered("main".into()));
        metrics.record_on(d1, "haidian", &FlowEvent::Abandoned("main".into()));
        metrics.record_on(d2, "haidian", &FlowEvent::Entered("main".into()));
        metrics.record_on(d2, "default", &FlowEvent::Entered("main".into()));
        let r = report("ivr-1", "b", Vec::new(), &metrics, &Sent::new());
        let rows: Vec<_> = r
            .nodes
            .iter()
            .map(|n| (n.date.as_str(), n.center.as_str(), n.entered, n.abandoned))
            .collect();
        assert_eq!(
            rows,
            [
                ("2026-03-01", "haidian", 1, 1),
                ("2026-03-02", "default", 1, 0),
                ("2026-03-02", "haidian", 1, 0)
            ]
        );
        // Rows ticketing has are not sent again until they change.
        let sent: Sent = metrics.daily().into_iter().collect();
        assert!(report("ivr-1", "b", Vec::new(), &metrics, &sent)
            .nodes
            .is_empty());
        metrics.record_on(d2, "default", &FlowEvent::Abandoned("main".into()));
        let again = report("ivr-1", "b", Vec::new(), &metrics, &sent);
        assert_eq!(again.nodes.len(), 1);
        assert_eq!((again.nodes[0].entered, again.nodes[0].abandoned), (1, 1));
        metrics.forget_days_before(d2);
        assert_eq!(
            report("ivr-1", "b", Vec::new(), &metrics, &Sent::new())
                .nodes
                .len(),
            2
        );
        // The node totals (Prometheus) keep everything.
        assert_eq!(metrics.snapshot()["main"].entered, 3);
    }
}
