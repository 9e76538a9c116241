//! Quality review in the console: draw the period's sample (the same draw
//! as `hotline supervisor sample` for the same seed), open each ticket and
//! score it against the rubric; the scores go into the period's report.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::error::WebError;
use super::layout::{self, csrf, time};
use super::session::Viewer;
use super::ticket::{admitted, back_to, number};
use super::Console;
use crate::api::convert::text;
use crate::api::gate::Method;
use crate::quality::{NewReview, Review, Scores, RUBRIC};
use crate::service::Ticketing;
use crate::stats::Period;
use crate::tickets::Ticket;

#[derive(Deserialize, Default)]
pub struct SampleQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    per_lawyer: Option<String>,
    #[serde(default)]
    seed: Option<String>,
}

pub async fn page(
    State(console): State<Console>,
    viewer: Viewer,
    Query(q): Query<SampleQuery>,
) -> Result<Response, WebError> {
    console
        .gate
        .allow(&viewer.who, Method::QualitySample)
        .await?;
    let t = |zh: &'static str, en: &'static str| viewer.t(zh, en);
    let today = Ticketing::today(console.ticketing.now());
    let parse = |field: &str, v: &Option<String>, default: chrono::NaiveDate| match v
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        Some(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| WebError::bad_request(format!("{field}: `{s}` is not a date"))),
        None => Ok(default),
    };
    let from = parse("from", &q.from, today - chrono::Duration::days(30))?;
    let to = parse("to", &q.to, today)?;
    let period = Period::new(from, to).map_err(|e| WebError::bad_request(e.to_string()))?;
    let per_lawyer = match q
        .per_lawyer
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => 3,
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| WebError::bad_request(format!("per_lawyer: `{n}` is not 1 to 100")))?,
    };
    let seed = match q.seed.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => 1,
        Some(n) => n
            .parse::<u64>()
            .map_err(|_| WebError::bad_request(format!("seed: `{n}` is not a whole number")))?,
    };
    let center = viewer.who.center.as_deref();
    let drawn = console
        .ticketing
        .quality_sample(&period, center, per_lawyer, seed)
        .await?;
    let title = t("案件质量评估", "Quality review");
    Ok(layout::page(
        &viewer,
        "/quality",
        title,
        false,
        html! {
            h1 { (title) }
            form method="get" action="/quality" class="action" id="sample-form" {
                label { (t("结案自", "Closed from")) " " input type="date" name="from" value=(period.from); }
                label { (t("至", "to")) " " input type="date" name="to" value=(period.to); }
                label { (t("每位律师", "Per lawyer")) " " input type="number" name="per_lawyer" min="1" max="100" value=(per_lawyer); }
                label { (t("随机种子", "Seed")) " " input type="number" name="seed" min="0" value=(seed); }
                button type="submit" { (t("抽取", "Draw")) }
            }
            p class="muted" { (t("同一种子、同一期间总是抽到同样的工单；命令行：", "The same seed and period always draw the same tickets; from the command line: "))
                code { "hotline supervisor sample --from " (period.from) " --to " (period.to) " --per-lawyer " (per_lawyer) " --seed " (seed) } }
            section class="panel" id="sample" {
                h2 { (t("抽样", "Sample")) " (" (drawn.len()) ")" }
                table {
                    thead { tr { th { (t("律师", "Lawyer")) } th { (t("工单", "Ticket")) } } }
                    tbody { @for (n, lawyer) in &drawn {
                        tr { td { (lawyer) } td { a href={"/tickets/" (n)} { (n) } } }
                    } }
                }
            }
        },
    )
    .into_response())
}

/// The scoring form on a closed ticket's page.
pub fn review_form(viewer: &Viewer, tk: &Ticket, reviews: &[Review]) -> Markup {
    let t = |zh: &'static str, en: &'static str| viewer.t(zh, en);
    html! {
        h2 { (t("质量评估打分", "Score this case")) @if !reviews.is_empty() { " · " (t("已评", "reviewed")) " " (reviews.len()) } }
        form method="post" action={"/tickets/" (tk.number) "/review"} class="action" id="review-form" {
            (csrf(viewer))
            @for (name, zh, en) in RUBRIC {
                label { (viewer.lang.pick(zh, en)) " "
                    select name=(name) { @for v in (1..=5).rev() { option value=(v) { (v) } } }
                }
            }
            input name="comment" placeholder=(t("评语", "Comment")) maxlength="500" size="40";
            button type="submit" id="review" { (t("提交评分", "Submit scores")) }
        }
    }
}

pub fn review_table(viewer: &Viewer, reviews: &[Review]) -> Markup {
    html! {
        table {
            thead { tr { th { (viewer.t("评估人", "Reviewer")) } @for (_, zh, en) in RUBRIC { th { (viewer.lang.pick(zh, en)) } } th { (viewer.t("总分", "Total")) } th { (viewer.t("评语", "Comment")) } th {} } }
            tbody { @for r in reviews {
                tr { td { (r.reviewer) } @for v in r.scores.values() { td class="n" { (v) } } td class="n" { (r.scores.total()) } td { (r.comment) } td { (time(r.reviewed_at)) } }
            } }
        }
    }
}

#[derive(Deserialize)]
pub struct ReviewForm {
    csrf: String,
    accuracy: String,
    timeliness: String,
    communication: String,
    documentation: String,
    #[serde(default)]
    comment: String,
}

pub async fn review(
    State(console): State<Console>,
    viewer: Viewer,
    Path(n): Path<String>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let number = number(&n)?;
    // Reviewing is the centre's: those who may decide on its tickets.
    admitted(&console, &viewer, Method::TransitionTicket, &number).await?;
    let score = |field: &str, v: &str| {
        v.trim()
            .parse::<u8>()
            .map_err(|_| WebError::bad_request(format!("{field}: `{v}` is not a score of 1 to 5")))
    };
    let review = NewReview {
        reviewer: viewer.who.actor(),
        scores: Scores {
            accuracy: score("accuracy", &form.accuracy)?,
            timeliness: score("timeliness", &form.timeliness)?,
            communication: score("communication", &form.communication)?,
            documentation: score("documentation", &form.documentation)?,
        },
        comment: text("comment", &form.comment, false)?,
    };
    match console.ticketing.review(&number, &review).await? {
        Ok(_) => Ok(back_to(&number)),
        Err(why) => Err(WebError::bad_request(why)),
    }
}
