//! The IVR's side of the statistics: each IVR node reports every few
//! seconds its calls in progress ([`LiveIvrCalls`], kept in memory for the
//! console's board) and its call-flow counts per day, center and menu node
//! ([`MenuNodeDay`], stored). A period's [`IvrFigures`] add those up.
//!
//! Definitions: `calls` is the number of calls that ended in the flow
//! (every answered call ends in exactly one node: `completed` when the
//! flow ended it there, `abandoned` when the caller hung up there);
//! `entered` counts each time a call reached a node.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use hotline_proto::v1 as pb;

/// A node's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeCounts {
    pub entered: u64,
    pub completed: u64,
    pub abandoned: u64,
    pub invalid: u64,
    pub timeouts: u64,
}

impl NodeCounts {
    pub fn add(&mut self, other: &NodeCounts) {
        self.entered += other.entered;
        self.completed += other.completed;
        self.abandoned += other.abandoned;
        self.invalid += other.invalid;
        self.timeouts += other.timeouts;
    }
}

/// One row of an IVR node's report: a menu node's counts on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuNodeDay {
    pub day: NaiveDate,
    pub center: String,
    pub node: String,
    pub counts: NodeCounts,
}

/// A period's IVR figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IvrFigures {
    /// Calls that ended in the flow (completed + abandoned, all nodes).
    pub calls: u64,
    pub completed: u64,
    pub abandoned: u64,
    /// By menu node id.
    pub by_node: BTreeMap<String, NodeCounts>,
}

impl IvrFigures {
    /// Adds up `rows` (a node's counts, any number of rows per node).
    pub fn add_up<'a>(rows: impl IntoIterator<Item = (&'a str, NodeCounts)>) -> Self {
        let mut f = IvrFigures::default();
        for (node, counts) in rows {
            f.completed += counts.completed;
            f.abandoned += counts.abandoned;
            f.by_node.entry(node.to_owned()).or_default().add(&counts);
        }
        f.calls = f.completed + f.abandoned;
        f
    }
}

/// How long a node's last report stands for its calls: a node that stopped
/// reporting (stopped, cut off) drops off the board after this.
pub const REPORT_STANDS_FOR: Duration = Duration::seconds(10);

/// A call in progress, as the board lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveCall {
    pub ivr_node: String,
    pub call: pb::ActiveCall,
}

#[derive(Debug, Clone)]
struct NodeReport {
    at: DateTime<Utc>,
    in_progress: u32,
    calls: Vec<pb::ActiveCall>,
}

/// The IVR nodes' calls in progress, as last reported.
#[derive(Debug, Default)]
pub struct LiveIvrCalls {
    nodes: Mutex<HashMap<String, NodeReport>>,
}

impl LiveIvrCalls {
    /// `ivr_node`'s report received at `now`.
    pub fn update(
        &self,
        ivr_node: &str,
        in_progress: u32,
        calls: Vec<pb::ActiveCall>,
        now: DateTime<Utc>,
    ) {
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.retain(|_, r| now - r.at <= REPORT_STANDS_FOR);
        nodes.insert(
            ivr_node.to_owned(),
            NodeReport {
                at: now,
                in_progress,
                calls,
            },
        );
    }

    /// The calls of nodes that reported within [`REPORT_STANDS_FOR`] of
    /// `now`, of `centers` (all when `None`), and how many calls are in
    /// progress in all (the listed ones are at most 200 per node; the
    /// count is of every center: a report counts, it does not say where).
    pub fn calls(&self, centers: Option<&[String]>, now: DateTime<Utc>) -> (Vec<LiveCall>, u64) {
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        let mut list = Vec::new();
        let mut total = 0;
        let mut fresh: Vec<_> = nodes
            .iter()
            .filter(|(_, r)| now - r.at <= REPORT_STANDS_FOR)
            .collect();
        fresh.sort_by(|a, b| a.0.cmp(b.0));
        for (node, report) in fresh {
            total += u64::from(report.in_progress);
            for call in &report.calls {
                if centers.is_none_or(|cs| cs.contains(&call.center)) {
                    list.push(LiveCall {
                        ivr_node: node.clone(),
                        call: call.clone(),
                    });
                }
            }
        }
        (list, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str, center: &str) -> pb::ActiveCall {
        pb::ActiveCall {
            call_id: id.to_owned(),
            center: center.to_owned(),
            ..Default::default()
        }
    }

    #[test]
    fn calls_are_those_of_nodes_still_reporting_and_of_the_viewers_centers() {
        let live = LiveIvrCalls::default();
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        live.update(
            "ivr-1",
            2,
            vec![call("a", "haidian"), call("b", "chaoyang")],
            t0,
        );
        live.update(
            "ivr-2",
            1,
            vec![call("c", "haidian")],
            t0 + Duration::seconds(8),
        );
        let (all, total) = live.calls(None, t0 + Duration::seconds(9));
        assert_eq!((all.len(), total), (3, 3));
        let haidian = ["haidian".to_owned()];
        let (mine, _) = live.calls(Some(&haidian), t0 + Duration::seconds(9));
        let ids: Vec<_> = mine.iter().map(|c| c.call.call_id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        // ivr-1 went quiet: its calls leave the board.
        let (later, total) = live.calls(None, t0 + Duration::seconds(11));
        assert_eq!((later.len(), total), (1, 1));
        assert_eq!(later[0].ivr_node, "ivr-2");
    }

    #[test]
    fn calls_are_the_calls_that_ended_in_some_node() {
        let c = |entered, completed, abandoned| NodeCounts {
            entered,
            completed,
            abandoned,
            ..Default::default()
        };
        let f = IvrFigures::add_up([
            ("main", c(10, 1, 3)),
            ("matter", c(6, 0, 2)),
            ("main", c(5, 0, 1)),
            ("goodbye", c(4, 4, 0)),
        ]);
        assert_eq!((f.calls, f.completed, f.abandoned), (11, 5, 6));
        assert_eq!(f.by_node["main"], c(15, 1, 4));
    }
}
