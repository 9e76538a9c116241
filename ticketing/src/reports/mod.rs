//! The reports a justice bureau asks of a 12348 centre, for any period: the
//! [`Report`] (statistics and quality-review scores) as CSV, one figure per
//! row, and as a printable HTML page with charts.
//!
//! The CSV's header is [`CSV_HEADER`]; each row is one figure:
//! `section,item,value`. Sections: `period`, `summary`, `time` (seconds),
//! `matter`, `urgency`, `priority_group`, `channel`, `state`, `outcome`,
//! `region` (ticket counts; each adds up to `summary,tickets`), and
//! `quality` (`<lawyer>:reviews`, `<lawyer>:<criterion>` means, `<lawyer>:total`).

pub mod chart;
mod html;
pub mod labels;

use chrono::{DateTime, Utc};

use crate::quality::{LawyerScores, RUBRIC};
use crate::stats::{Counts, Period, Spread, Statistics};
pub use html::page as html_page;
pub use labels::Lang;

/// The CSV report's header.
pub const CSV_HEADER: [&str; 3] = ["section", "item", "value"];

/// A period's figures for one centre (or all).
#[derive(Debug, Clone)]
pub struct Report {
    pub period: Period,
    pub center: Option<String>,
    pub stats: Statistics,
    pub scores: Vec<LawyerScores>,
    pub generated_at: DateTime<Utc>,
}

/// The report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Html,
}

impl Report {
    /// The summary figures, (name, value), in the order reports show them.
    pub fn summary(&self) -> Vec<(&'static str, u64)> {
        let s = &self.stats;
        vec![
            ("tickets", s.tickets),
            ("urgent_cases", s.urgent_cases),
            ("migrant_wage_cases", s.migrant_wage_cases),
            ("provisional_aid", s.provisional_aid),
            ("home_visits", s.home_visits),
            ("pledges", s.pledges),
            ("offers_missed", s.offers_missed),
            ("decisions_overdue", s.decisions_overdue),
            ("assignments_overdue", s.assignments_overdue),
        ]
    }

    /// The counts sections, (section, counts).
    pub fn sections(&self) -> Vec<(&'static str, &Counts)> {
        let s = &self.stats;
        vec![
            ("matter", &s.by_matter),
            ("urgency", &s.by_urgency),
            ("priority_group", &s.by_priority_group),
            ("channel", &s.by_channel),
            ("state", &s.by_state),
            ("outcome", &s.by_outcome),
            ("region", &s.by_region),
        ]
    }

    /// The time figures, (name, spread).
    pub fn times(&self) -> Vec<(&'static str, &Spread)> {
        let s = &self.stats;
        vec![
            ("to_acknowledgement", &s.to_acknowledgement),
            ("to_assignment", &s.to_assignment),
            ("urgent_to_acknowledgement", &s.urgent_to_acknowledgement),
        ]
    }

    /// The report as CSV ([`CSV_HEADER`], then one figure per row).
    pub fn to_csv(&self) -> Result<String, csv::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(CSV_HEADER)?;
        w.write_record(["period", "from", &self.period.from.to_string()])?;
        w.write_record(["period", "to", &self.period.to.to_string()])?;
        w.write_record(["period", "center", self.center.as_deref().unwrap_or("all")])?;
        for (name, value) in self.summary() {
            w.write_record(["summary", name, &value.to_string()])?;
        }
        for (name, spread) in self.times() {
            w.write_record(["time", &format!("{name}_count"), &spread.count.to_string()])?;
            for (p, v) in [
                ("p50", spread.p50),
                ("p90", spread.p90),
                ("max", spread.max),
            ] {
                let text = v.map(|d| d.num_seconds().to_string()).unwrap_or_default();
                w.write_record(["time", &format!("{name}_{p}_seconds"), &text])?;
            }
        }
        for (section, counts) in self.sections() {
            for (item, n) in counts {
                w.write_record([section, item, &n.to_string()])?;
            }
        }
        for s in &self.scores {
            w.write_record([
                "quality",
                &format!("{}:reviews", s.lawyer),
                &s.reviews.to_string(),
            ])?;
            for ((criterion, _, _), mean) in RUBRIC.iter().zip(s.means) {
                w.write_record([
                    "quality",
                    &format!("{}:{criterion}", s.lawyer),
                    &format!("{mean:.2}"),
                ])?;
            }
            w.write_record([
                "quality",
                &format!("{}:total", s.lawyer),
                &format!("{:.2}", s.mean_total),
            ])?;
        }
        let bytes = w.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}
