//! The reports a justice bureau asks of a 12348 centre, for any period: the
//! [`Report`] (statistics and quality-review scores) as CSV, one figure per
//! row, and as a printable HTML page with charts.
//!
//! The CSV's header is [`CSV_HEADER`]; each row is one figure:
//! `section,item,value`. Sections: `period` (`from`, `to`, `center`,
//! `generated_at`), `summary`, `time` (seconds), ticket counts by
//! `matter`, `urgency`, `priority_group`, `channel`, `state` and `region`
//! (each adds up to `summary,tickets`), `outcome` (closed and rejected
//! tickets only), `quality` (`<lawyer>:reviews`, `<lawyer>:<criterion>`
//! means, `<lawyer>:total`), `ivr` (`calls`, `completed`, `abandoned`) and
//! `ivr_node` (`<node>:entered`, `:completed`, `:abandoned`, `:invalid`,
//! `:timeouts`).
//!
//! A report is as of when it is made: the tickets created in the period,
//! with their state, outcome and events up to then; the quality scores of
//! reviews made in the period.

pub mod chart;
mod html;
pub mod labels;

use chrono::{DateTime, Utc};

use crate::quality::{LawyerScores, RUBRIC};
use crate::stats::{Counts, Period, Spread, Statistics};
pub use html::{ivr_table, page as html_page};
pub use labels::Lang;

/// A cell as a spreadsheet should read it: text that would start a
/// formula (`=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading
/// `'`, so a free-text outcome cannot run in the bureau's spreadsheet.
pub fn csv_cell(text: &str) -> std::borrow::Cow<'_, str> {
    match text.bytes().next() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

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
    /// Cells that would start a spreadsheet formula are quoted with `'`
    /// ([`csv_cell`]).
    pub fn to_csv(&self) -> Result<String, csv::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(CSV_HEADER)?;
        w.write_record(["period", "from", &self.period.from.to_string()])?;
        w.write_record(["period", "to", &self.period.to.to_string()])?;
        w.write_record([
            "period",
            "center",
            &csv_cell(self.center.as_deref().unwrap_or("all")),
        ])?;
        w.write_record([
            "period",
            "generated_at",
            &hotline_domain::shown_time(self.generated_at),
        ])?;
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
                w.write_record([section, &csv_cell(item), &n.to_string()])?;
            }
        }
        let ivr = &self.stats.ivr;
        for (name, n) in [
            ("calls", ivr.calls),
            ("completed", ivr.completed),
            ("abandoned", ivr.abandoned),
        ] {
            w.write_record(["ivr", name, &n.to_string()])?;
        }
        for (node, c) in &ivr.by_node {
            let node = csv_cell(node);
            for (name, n) in [
                ("entered", c.entered),
                ("completed", c.completed),
                ("abandoned", c.abandoned),
                ("invalid", c.invalid),
                ("timeouts", c.timeouts),
            ] {
                w.write_record(["ivr_node", &format!("{node}:{name}"), &n.to_string()])?;
            }
        }
        for s in &self.scores {
            let lawyer = csv_cell(&s.lawyer);
            w.write_record([
                "quality",
                &format!("{lawyer}:reviews"),
                &s.reviews.to_string(),
            ])?;
            for ((criterion, _, _), mean) in RUBRIC.iter().zip(s.means) {
                w.write_record([
                    "quality",
                    &format!("{lawyer}:{criterion}"),
                    &format!("{mean:.2}"),
                ])?;
            }
            w.write_record([
                "quality",
                &format!("{lawyer}:total"),
                &format!("{:.2}", s.mean_total),
            ])?;
        }
        let bytes = w.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn cells_that_would_run_as_formulas_are_quoted() {
        for formula in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-1+2",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(csv_cell(formula), format!("'{formula}"));
        }
        for plain in ["advice-given", "李律师", "", "2026-11-01"] {
            assert_eq!(csv_cell(plain), plain);
        }
    }
}
