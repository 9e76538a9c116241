//! Statistics for any dates and centre, and the justice bureau's reports
//! (month, quarter, half-year, year or custom) as CSV and as a printable
//! page. The figures come from [`crate::stats`]; the documents from
//! [`crate::reports`], the same ones `hotline supervisor report` writes.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Months, NaiveDate};
use maud::html;
use serde::Deserialize;

use super::error::WebError;
use super::layout;
use super::session::Viewer;
use super::Console;
use crate::api::gate::Method;
use crate::reports::labels::{figure, value};
use crate::reports::{chart, html_page, Report};
use crate::service::Ticketing;
use crate::stats::Period;

#[derive(Deserialize, Default)]
pub struct RangeQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    center: Option<String>,
}

fn date(field: &str, text: &str) -> Result<NaiveDate, WebError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| WebError::bad_request(format!("{field}: `{text}` is not a date (YYYY-MM-DD)")))
}

/// The period and centre asked for; this month so far by default. A
/// supervisor of one centre sees that centre only.
async fn range(
    console: &Console,
    viewer: &Viewer,
    q: &RangeQuery,
) -> Result<(Period, Option<String>), WebError> {
    console.gate.allow(&viewer.who, Method::Report).await?;
    let today = Ticketing::today(console.ticketing.now());
    let month_start = today.with_day(1).unwrap_or(today);
    let from = match q.from.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => date("from", s)?,
        None => month_start,
    };
    let to = match q.to.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => date("to", s)?,
        None => today,
    };
    let period = Period::new(from, to).map_err(|e| WebError::bad_request(e.to_string()))?;
    let center = console
        .gate
        .center_for(&viewer.who, Method::Report, q.center.clone())
        .await?;
    Ok((period, center))
}

fn range_form(
    viewer: &Viewer,
    action: &str,
    period: &Period,
    center: Option<&str>,
) -> maud::Markup {
    let t = |zh: &'static str, en: &'static str| viewer.t(zh, en);
    html! {
        form method="get" action=(action) class="action" id="range" {
            label { (t("自", "From")) " " input type="date" name="from" value=(period.from); }
            label { (t("至", "to")) " " input type="date" name="to" value=(period.to); }
            @if viewer.who.center.is_none() {
                label { (t("中心", "Centre")) " " input name="center" value=(center.unwrap_or("")) placeholder=(t("全部", "all")) size="10"; }
            }
            button type="submit" { (t("查询", "Show")) }
        }
    }
}

pub async fn stats_page(
    State(console): State<Console>,
    viewer: Viewer,
    Query(q): Query<RangeQuery>,
) -> Result<Response, WebError> {
    let (period, center) = range(&console, &viewer, &q).await?;
    let report = console.ticketing.report(&period, center.as_deref()).await?;
    let t = |zh: &'static str, en: &'static str| viewer.t(zh, en);
    let title = t("统计", "Statistics");
    let minutes = |d: Option<chrono::Duration>| {
        d.map(|d| format!("{:.1}", d.num_seconds() as f64 / 60.0))
            .unwrap_or_else(|| "—".to_owned())
    };
    let rows = |counts: &crate::stats::Counts| -> Vec<(String, f64)> {
        counts
            .iter()
            .map(|(k, n)| (value(viewer.lang, k), *n as f64))
            .collect()
    };
    let s = &report.stats;
    Ok(layout::page(
        &viewer,
        "/stats",
        title,
        false,
        html! {
            h1 { (title) }
            (range_form(&viewer, "/stats", &period, center.as_deref()))
            div class="figures" id="figures" {
                @for (name, n) in report.summary() {
                    div class="figure" data-figure=(name) { b { (n) } (figure(viewer.lang, name)) }
                }
            }
            section class="panel" id="times" {
                h2 { (t("响应时效（分钟）", "Response times (minutes)")) }
                table {
                    tr { th {} th { (t("件数", "Count")) } th { "p50" } th { "p90" } th { (t("最长", "Max")) } }
                    @for (name, sp) in report.times() {
                        tr data-time=(name) { th { (figure(viewer.lang, name)) } td class="n" { (sp.count) } td class="n" { (minutes(sp.p50)) } td class="n" { (minutes(sp.p90)) } td class="n" { (minutes(sp.max)) } }
                    }
                }
            }
            div class="charts" {
                (chart::bars(t("按事项", "By matter"), &rows(&s.by_matter), ""))
                (chart::bars(t("按紧急程度", "By urgency"), &rows(&s.by_urgency), ""))
                (chart::bars(t("按优先群体", "By priority group"), &rows(&s.by_priority_group), ""))
                (chart::bars(t("按渠道", "By channel"), &rows(&s.by_channel), ""))
                (chart::bars(t("按状态", "By state"), &rows(&s.by_state), ""))
                (chart::bars(t("按办理结果", "By outcome"), &rows(&s.by_outcome), ""))
                (chart::bars(t("按地区", "By region"), &rows(&s.by_region), ""))
            }
            section class="panel" {
                h2 { (t("IVR 语音导航", "The IVR")) }
                (crate::reports::ivr_table(&report, viewer.lang))
            }
        },
    )
    .into_response())
}

/// Preset periods around `today`: (label, from, to).
fn presets(viewer: &Viewer, today: NaiveDate) -> Vec<(String, NaiveDate, NaiveDate)> {
    let t = |zh: &'static str, en: &'static str| viewer.t(zh, en).to_owned();
    let first = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1);
    let last_day = |d: NaiveDate, months: u32| {
        d.checked_add_months(Months::new(months))
            .and_then(|d| d.pred_opt())
    };
    let mut out = Vec::new();
    let (y, m) = (today.year(), today.month());
    if let Some(this) = first(y, m) {
        out.push((t("本月", "This month"), this, today));
        if let Some(prev) = this.checked_sub_months(Months::new(1)) {
            if let Some(end) = this.pred_opt() {
                out.push((t("上月", "Last month"), prev, end));
            }
        }
    }
    let q_start = first(y, (m - 1) / 3 * 3 + 1);
    if let Some(qs) = q_start {
        out.push((t("本季度", "This quarter"), qs, today));
        if let Some(prev) = qs.checked_sub_months(Months::new(3)) {
            if let Some(end) = last_day(prev, 3) {
                out.push((t("上季度", "Last quarter"), prev, end));
            }
        }
    }
    if let Some(h) = first(y, if m <= 6 { 1 } else { 7 }) {
        out.push((t("本半年", "This half-year"), h, today));
    }
    if let (Some(ys), Some(prev)) = (first(y, 1), first(y - 1, 1)) {
        out.push((t("本年", "This year"), ys, today));
        if let Some(end) = last_day(prev, 12) {
            out.push((t("上年", "Last year"), prev, end));
        }
    }
    out
}

pub async fn reports_page(
    State(console): State<Console>,
    viewer: Viewer,
    Query(q): Query<RangeQuery>,
) -> Result<Response, WebError> {
    let (period, center) = range(&console, &viewer, &q).await?;
    let t = |zh: &'static str, en: &'static str| viewer.t(zh, en);
    let title = t("报表", "Reports");
    let today = Ticketing::today(console.ticketing.now());
    let c = center.clone().unwrap_or_default();
    let link = |from: NaiveDate, to: NaiveDate, kind: &str| {
        format!("/reports/report.{kind}?from={from}&to={to}&center={c}")
    };
    Ok(layout::page(
        &viewer,
        "/reports",
        title,
        false,
        html! {
            h1 { (title) }
            section class="panel" {
                h2 { (t("常用期间", "Periods")) }
                table {
                    @for (label, from, to) in presets(&viewer, today) {
                        tr { th { (label) } td { (from) " ~ " (to) }
                             td { a href=(link(from, to, "html")) { (t("打印版", "Printable")) } }
                             td { a href=(link(from, to, "csv")) { "CSV" } } }
                    }
                }
            }
            section class="panel" {
                h2 { (t("自定义期间", "Custom period")) }
                (range_form(&viewer, "/reports", &period, center.as_deref()))
                p { a href=(link(period.from, period.to, "html")) id="report-html" { (t("打印版报表", "Printable report")) } " · "
                    a href=(link(period.from, period.to, "csv")) id="report-csv" { "CSV" } }
                p class="muted" { (t("命令行：", "From the command line: ")) code { "hotline supervisor report --from " (period.from) " --to " (period.to) " --format html" } }
            }
        },
    )
    .into_response())
}

async fn report(console: &Console, viewer: &Viewer, q: &RangeQuery) -> Result<Report, WebError> {
    let (period, center) = range(console, viewer, q).await?;
    Ok(console.ticketing.report(&period, center.as_deref()).await?)
}

fn file_name(report: &Report, kind: &str) -> String {
    format!(
        "attachment; filename=\"hotline-report-{}-{}.{kind}\"",
        report.period.from, report.period.to
    )
}

pub async fn csv(
    State(console): State<Console>,
    viewer: Viewer,
    Query(q): Query<RangeQuery>,
) -> Result<Response, WebError> {
    let report = report(&console, &viewer, &q).await?;
    let body = report.to_csv().map_err(|e| {
        WebError::Status(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write the CSV: {e}"),
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, file_name(&report, "csv")),
        ],
        body,
    )
        .into_response())
}

pub async fn html(
    State(console): State<Console>,
    viewer: Viewer,
    Query(q): Query<RangeQuery>,
) -> Result<Response, WebError> {
    let report = report(&console, &viewer, &q).await?;
    Ok(html_page(&report, viewer.lang).into_response())
}
