//! Per-node counts of the call flow — entered, completed (the flow ended the
//! call there), abandoned (the caller hung up there), invalid inputs and
//! timeouts — and the digits dropped as another report of a press already
//! taken, shared by every call, read by the admin API and the Prometheus
//! text endpoint. The same counts per day and center go to ticketing for
//! statistics and reports ([`FlowMetrics::daily`]).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;

use super::flow::FlowEvent;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeCounts {
    pub entered: u64,
    pub completed: u64,
    pub abandoned: u64,
    pub invalid: u64,
    pub timeouts: u64,
    /// Callers without a usable number who hung up here after choosing a
    /// service (no callback ticket could be made).
    pub unreachable: u64,
}

#[derive(Debug, Clone, Default)]
pub struct FlowMetrics {
    nodes: Arc<Mutex<BTreeMap<String, NodeCounts>>>,
    /// Duplicate digits dropped, by the source of the dropped copy.
    duplicates: Arc<Mutex<BTreeMap<&'static str, u64>>>,
    /// The same counts by (day in China Standard Time, center, node).
    daily: Arc<Mutex<BTreeMap<DayKey, NodeCounts>>>,
}

/// (day, center, node).
pub type DayKey = (NaiveDate, String, String);

impl NodeCounts {
    /// Counts `event` in its kind's count.
    fn bump(&mut self, event: &FlowEvent) {
        match event {
            FlowEvent::Entered(_) => self.entered += 1,
            FlowEvent::Completed(_) => self.completed += 1,
            FlowEvent::Abandoned(_) => self.abandoned += 1,
            FlowEvent::Invalid(_) => self.invalid += 1,
            FlowEvent::Timeout(_) => self.timeouts += 1,
            FlowEvent::Unreachable(_) => self.unreachable += 1,
        }
    }
}

fn node_of(event: &FlowEvent) -> &str {
    match event {
        FlowEvent::Entered(n)
        | FlowEvent::Completed(n)
        | FlowEvent::Abandoned(n)
        | FlowEvent::Invalid(n)
        | FlowEvent::Timeout(n)
        | FlowEvent::Unreachable(n) => n,
    }
}

impl FlowMetrics {
    /// A digit dropped as another report of a press already taken.
    pub fn duplicate_digit(&self, source: crate::media::dtmf::arbiter::DigitSource) {
        let mut counts = match self.duplicates.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        *counts.entry(source.as_str()).or_default() += 1;
    }

    pub fn record(&self, event: &FlowEvent) {
        let mut nodes = match self.nodes.lock() {
            Ok(n) => n,
            Err(poisoned) => poisoned.into_inner(),
        };
        nodes
            .entry(node_of(event).to_owned())
            .or_default()
            .bump(event);
    }

    /// Counts `event` of a call to `center` on `day` (China Standard
    /// Time), in the node totals and the day's.
    pub fn record_on(&self, day: NaiveDate, center: &str, event: &FlowEvent) {
        self.record(event);
        let mut daily = match self.daily.lock() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        };
        daily
            .entry((day, center.to_owned(), node_of(event).to_owned()))
            .or_default()
            .bump(event);
    }

    /// The counts per day, center and node since the start (days already
    /// sent and forgotten aside).
    pub fn daily(&self) -> Vec<(DayKey, NodeCounts)> {
        let daily = match self.daily.lock() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        };
        daily.iter().map(|(k, c)| (k.clone(), *c)).collect()
    }

    /// Forgets the days before `day`: ticketing has their final counts
    /// (no call counts towards a day once it is over).
    pub fn forget_days_before(&self, day: NaiveDate) {
        let mut daily = match self.daily.lock() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        };
        daily.retain(|(d, _, _), _| *d >= day);
    }

    /// Every node seen so far, by id.
    pub fn snapshot(&self) -> BTreeMap<String, NodeCounts> {
        match self.nodes.lock() {
            Ok(n) => n.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn prometheus(&self) -> String {
        let snapshot = self.snapshot();
        let mut out = String::new();
        type Series = (&'static str, &'static str, fn(&NodeCounts) -> u64);
        let series: [Series; 6] = [
            ("entered", "Calls that entered the menu node.", |c| {
                c.entered
            }),
            ("completed", "Calls the flow ended in the menu node.", |c| {
                c.completed
            }),
            (
                "abandoned",
                "Calls whose caller hung up in the menu node.",
                |c| c.abandoned,
            ),
            ("invalid_inputs", "Invalid inputs in the menu node.", |c| {
                c.invalid
            }),
            ("timeouts", "Timeouts in the menu node.", |c| c.timeouts),
            (
                "unreachable_hangups",
                "Callers without a usable number who hung up in the menu node after choosing a service.",
                |c| c.unreachable,
            ),
        ];
        for (name, help, get) in series {
            let _ = writeln!(out, "# HELP hotline_ivr_node_{name}_total {help}");
            let _ = writeln!(out, "# TYPE hotline_ivr_node_{name}_total counter");
            for (node, counts) in &snapshot {
                let node = node.replace('\\', "\\\\").replace('"', "\\\"");
                let _ = writeln!(
                    out,
                    "hotline_ivr_node_{name}_total{{node=\"{node}\"}} {}",
                    get(counts)
                );
            }
        }
        let duplicates = match self.duplicates.lock() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let _ = writeln!(
            out,
            "# HELP hotline_ivr_duplicate_digits_total Digits dropped as another report (RFC 4733, SIP INFO, in-band) of a press already taken."
        );
        let _ = writeln!(out, "# TYPE hotline_ivr_duplicate_digits_total counter");
        for source in ["rfc4733", "sip_info", "inband"] {
            let _ = writeln!(
                out,
                "hotline_ivr_duplicate_digits_total{{source=\"{source}\"}} {}",
                duplicates.get(source).copied().unwrap_or(0)
            );
        }
        out
    }
}
