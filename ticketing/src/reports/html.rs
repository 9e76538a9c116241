//! The printable HTML report: one self-contained page (its style inline, its
//! charts SVG), so the same document prints from the console, opens from a
//! file the CLI wrote, and turns into a PDF with the browser's print.

use maud::{html, Markup, DOCTYPE};

use super::chart;
use super::labels::{figure, value, Lang};
use super::Report;
use crate::quality::RUBRIC;
use crate::stats::Counts;

const STYLE: &str = "
body { font-family: 'Noto Sans CJK SC', 'WenQuanYi Micro Hei', sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
.meta { color: #555; margin-bottom: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 1em 2em; }
figure.chart { margin: 0; break-inside: avoid; }
figcaption { font-weight: bold; margin-bottom: 0.3em; }
@media print { body { margin: 0; } a { color: inherit; text-decoration: none; } }
";

/// The IVR's figures: calls, and per menu node the calls that entered,
/// ended there (completed), hung up there (abandoned), invalid inputs and
/// timeouts. Shared by the report and the console's statistics page.
pub fn ivr_table(report: &Report, lang: Lang) -> Markup {
    let t = |zh: &'static str, en: &'static str| lang.pick(zh, en);
    let ivr = &report.stats.ivr;
    html! {
        table id="ivr" {
            tr {
                th { (t("菜单节点", "Menu node")) }
                th { (t("进入", "Entered")) }
                th { (t("在此结束", "Completed")) }
                th { (t("在此挂断", "Abandoned")) }
                th { (t("无效按键", "Invalid")) }
                th { (t("超时", "Timeouts")) }
            }
            @for (node, c) in &ivr.by_node {
                tr data-node=(node) {
                    th { (node) }
                    td class="n" { (c.entered) }
                    td class="n" { (c.completed) }
                    td class="n" { (c.abandoned) }
                    td class="n" { (c.invalid) }
                    td class="n" { (c.timeouts) }
                }
            }
            tr data-node="" {
                th { (t("合计（来电）", "Total (calls)")) }
                td class="n" data-figure="ivr_calls" { (ivr.calls) }
                td class="n" { (ivr.completed) }
                td class="n" { (ivr.abandoned) }
                td {} td {}
            }
        }
    }
}

/// The report as one HTML document in `lang`.
pub fn page(report: &Report, lang: Lang) -> Markup {
    let t = |zh: &'static str, en: &'static str| lang.pick(zh, en);
    let center = report
        .center
        .clone()
        .unwrap_or_else(|| t("全部中心", "all centres").to_owned());
    let title = format!(
        "{} {} — {}",
        t(
            "12348 法律援助热线工作报告",
            "12348 legal-aid hotline report"
        ),
        center,
        format_args!("{} ~ {}", report.period.from, report.period.to)
    );
    let summary_label = |name: &'static str| figure(lang, name);
    let time_label = |name: &'static str| figure(lang, name);
    let section_label = |name: &'static str| figure(lang, name);
    let rows = |counts: &Counts| -> Vec<(String, f64)> {
        counts
            .iter()
            .map(|(k, n)| (value(lang, k), *n as f64))
            .collect()
    };
    let minutes = |d: Option<chrono::Duration>| -> String {
        d.map(|d| format!("{:.1}", d.num_seconds() as f64 / 60.0))
            .unwrap_or_else(|| "—".to_owned())
    };
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (STYLE) }
            }
            body {
                h1 { (title) }
                p class="meta" {
                    (t("生成时间", "Generated")) ": "
                    (report.generated_at.with_timezone(&hotline_domain::shanghai()).format("%Y-%m-%d %H:%M"))
                }
                h2 { (t("总体情况", "Summary")) }
                table id="summary" {
                    @for (name, n) in report.summary() {
                        tr { th { (summary_label(name)) } td class="n" data-figure=(name) { (n) } }
                    }
                }
                h2 { (t("响应时效（分钟）", "Response times (minutes)")) }
                table id="times" {
                    tr { th {} th { (t("件数", "Count")) } th { "p50" } th { "p90" } th { (t("最长", "Max")) } }
                    @for (name, s) in report.times() {
                        tr {
                            th { (time_label(name)) }
                            td class="n" { (s.count) }
                            td class="n" { (minutes(s.p50)) }
                            td class="n" { (minutes(s.p90)) }
                            td class="n" { (minutes(s.max)) }
                        }
                    }
                }
                div class="charts" {
                    @for (name, counts) in report.sections() {
                        (chart::bars(section_label(name), &rows(counts), ""))
                    }
                }
                h2 { (t("IVR 语音导航", "The IVR")) }
                (ivr_table(report, lang))
                (chart::bars(
                    t("各节点挂断数", "Callers who hung up, by menu node"),
                    &report.stats.ivr.by_node.iter().map(|(n, c)| (n.clone(), c.abandoned as f64)).collect::<Vec<_>>(),
                    "",
                ))
                h2 { (t("案件质量评估", "Quality review")) }
                @if report.scores.is_empty() {
                    p { (t("本期无评估记录。", "No reviews in this period.")) }
                } @else {
                    table id="quality" {
                        tr {
                            th { (t("律师", "Lawyer")) }
                            th { (t("评估件数", "Reviews")) }
                            @for (_, zh, en) in RUBRIC { th { (lang.pick(zh, en)) } }
                            th { (t("平均总分", "Mean total")) }
                        }
                        @for s in &report.scores {
                            tr {
                                td { (s.lawyer) }
                                td class="n" { (s.reviews) }
                                @for m in s.means { td class="n" { (format!("{m:.2}")) } }
                                td class="n" { (format!("{:.2}", s.mean_total)) }
                            }
                        }
                    }
                    (chart::bars(
                        t("平均总分（满分20）", "Mean total score (of 20)"),
                        &report.scores.iter().map(|s| (s.lawyer.clone(), s.mean_total)).collect::<Vec<_>>(),
                        "",
                    ))
                }
            }
        }
    }
}
