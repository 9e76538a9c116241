//! The printable HTML report: one self-contained page (its style inline, its
//! charts SVG), so the same document prints from the console, opens from a
//! file the CLI wrote, and turns into a PDF with the browser's print.

use maud::{html, Markup, DOCTYPE};

use super::chart;
use super::labels::{value, Lang};
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
    let summary_label = |name: &str| match name {
        "tickets" => t("登记总数", "Tickets"),
        "urgent_cases" => t("紧急/较急案件", "Critical and urgent"),
        "migrant_wage_cases" => t("农民工欠薪案件", "Migrant workers' wage cases"),
        "provisional_aid" => t("先行提供法律援助", "Provisional aid given"),
        "home_visits" => t("上门服务", "Home visits"),
        "pledges" => t("承诺代替证明", "Pledges instead of proof"),
        "offers_missed" => t("派单超时未确认", "Offers missed"),
        "decisions_overdue" => t("审查决定逾期", "Art. 43 decisions overdue"),
        "assignments_overdue" => t("指派逾期", "Art. 43 assignments overdue"),
        _ => "",
    };
    let time_label = |name: &str| match name {
        "to_acknowledgement" => t("登记至律师确认", "Creation to acknowledgement"),
        "to_assignment" => t("登记至指派", "Creation to assignment"),
        "urgent_to_acknowledgement" => t(
            "紧急/较急：登记至确认",
            "Critical and urgent: to acknowledgement",
        ),
        _ => "",
    };
    let section_label = |name: &str| match name {
        "matter" => t("按事项", "By matter"),
        "urgency" => t("按紧急程度", "By urgency"),
        "priority_group" => t("按优先群体", "By priority group"),
        "channel" => t("按渠道", "By channel"),
        "state" => t("按状态", "By state"),
        "outcome" => t("按办理结果", "By outcome"),
        "region" => t("按地区", "By region"),
        _ => "",
    };
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
