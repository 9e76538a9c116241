//! The roster: the centre's lawyers, their shifts of the coming week, who
//! is on duty now and next, a shift given to another lawyer (a swap), and
//! the roster as the CSV `hotline roster import` reads.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::Duration;
use maud::html;
use serde::Deserialize;

use super::error::WebError;
use super::layout::{self, csrf, time};
use super::session::Viewer;
use super::Console;
use crate::api::gate::Method;
use crate::reports::csv_cell;
use crate::routing::{Lawyer, Shift};

/// The lawyers and coming shifts the viewer's centre has.
async fn roster(console: &Console, viewer: &Viewer) -> Result<(Vec<Lawyer>, Vec<Shift>), WebError> {
    console.gate.allow(&viewer.who, Method::ListLawyers).await?;
    let lawyers: Vec<Lawyer> = console
        .ticketing
        .lawyers()
        .await?
        .into_iter()
        .filter(|l| viewer.who.oversees(&l.center))
        .collect();
    let shifts = console
        .ticketing
        .shifts(None)
        .await?
        .into_iter()
        .filter(|s| lawyers.iter().any(|l| l.id == s.lawyer))
        .collect();
    Ok((lawyers, shifts))
}

pub async fn page(State(console): State<Console>, viewer: Viewer) -> Result<Response, WebError> {
    let (lawyers, shifts) = roster(&console, &viewer).await?;
    let t = |zh: &'static str, en: &'static str| viewer.t(zh, en);
    let now = console.ticketing.now();
    let week = now + Duration::days(7);
    let on_now: Vec<&Shift> = shifts
        .iter()
        .filter(|s| s.starts_at <= now && now < s.ends_at)
        .collect();
    let next: Vec<&Shift> = {
        let mut coming: Vec<&Shift> = shifts.iter().filter(|s| s.starts_at > now).collect();
        coming.sort_by_key(|s| s.starts_at);
        let first = coming.first().map(|s| s.starts_at);
        coming
            .into_iter()
            .filter(|s| Some(s.starts_at) == first)
            .collect()
    };
    let name = |id: &str| {
        lawyers
            .iter()
            .find(|l| l.id == id)
            .map_or_else(|| id.to_owned(), |l| format!("{} ({id})", l.name))
    };
    let title = t("值班表", "Roster");
    Ok(layout::page(
        &viewer,
        "/roster",
        title,
        false,
        html! {
            h1 { (title) }
            p { a href="/roster.csv" id="roster-csv" { (t("导出 CSV", "Export CSV")) } " · "
                span class="muted" { (t("导入：hotline roster import 文件.csv（管理员）", "Import: hotline roster import FILE.csv (admin)")) } }
            div class="grid" {
                section class="panel" id="duty-now" {
                    h2 { (t("正在值班", "On duty now")) }
                    @if on_now.is_empty() { p class="overdue" { (t("当前无人值班！", "Nobody is on duty!")) } }
                    ul { @for s in &on_now { li { (name(&s.lawyer)) " · " (t("至", "until")) " " (time(s.ends_at)) } } }
                    h2 { (t("下一班", "Next")) }
                    ul { @for s in &next { li { (name(&s.lawyer)) " · " (time(s.starts_at)) " – " (time(s.ends_at)) } } }
                }
                section class="panel" id="swap" {
                    h2 { (t("换班", "Swap a shift")) }
                    form method="post" action="/roster/swap" class="action" {
                        (csrf(&viewer))
                        select name="shift" {
                            @for s in shifts.iter().filter(|s| s.ends_at > now && s.starts_at < week) {
                                option value=(s.id) { "#" (s.id) " " (name(&s.lawyer)) " " (time(s.starts_at)) }
                            }
                        }
                        (t("交给", "to"))
                        select name="lawyer" {
                            @for l in lawyers.iter().filter(|l| l.active) { option value=(l.id) { (l.name) " (" (l.id) ")" } }
                        }
                        button type="submit" { (t("换班", "Swap")) }
                    }
                }
            }
            section class="panel" id="shifts" {
                h2 { (t("未来七天班次", "Shifts in the coming week")) }
                table {
                    thead { tr { th { "#" } th { (t("律师", "Lawyer")) } th { (t("开始", "From")) } th { (t("结束", "To")) } } }
                    tbody { @for s in shifts.iter().filter(|s| s.starts_at < week) {
                        tr { td { (s.id) } td { (name(&s.lawyer)) } td { (time(s.starts_at)) } td { (time(s.ends_at)) } }
                    } }
                }
            }
            section class="panel" id="lawyers" {
                h2 { (t("律师", "Lawyers")) " (" (lawyers.len()) ")" }
                table class="cards" {
                    thead { tr { th { "ID" } th { (t("姓名", "Name")) } th { (t("中心", "Centre")) } th { (t("擅长", "Skills")) } th { (t("上限", "Capacity")) } th { (t("在岗", "Active")) } } }
                    tbody { @for l in &lawyers {
                        tr { td { (l.id) } td { (l.name) } td { (l.center) } td { (l.skills.join(", ")) } td class="n" { (l.capacity) } td { (if l.active { "✓" } else { "—" }) } }
                    } }
                }
            }
        },
    )
    .into_response())
}

/// The roster as `hotline roster export` writes it (times in China
/// Standard Time), which `hotline roster import` reads back.
pub async fn export(State(console): State<Console>, viewer: Viewer) -> Result<Response, WebError> {
    let (lawyers, shifts) = roster(&console, &viewer).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| {
        WebError::Status(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write the CSV: {e}"),
        )
    };
    w.write_record([
        "id",
        "name",
        "phone",
        "sip_uri",
        "skills",
        "regions",
        "languages",
        "capacity",
        "center",
        "shift_from",
        "shift_to",
    ])
    .map_err(fail)?;
    for l in &lawyers {
        let theirs: Vec<&Shift> = shifts.iter().filter(|s| s.lawyer == l.id).collect();
        let times: Vec<(String, String)> = if theirs.is_empty() {
            vec![(String::new(), String::new())]
        } else {
            theirs
                .iter()
                .map(|s| {
                    (
                        hotline_domain::shown_time(s.starts_at),
                        hotline_domain::shown_time(s.ends_at),
                    )
                })
                .collect()
        };
        for (from, to) in times {
            w.write_record([
                l.id.clone(),
                csv_cell(&l.name).into_owned(),
                l.phone.clone(),
                l.sip_uri.clone().unwrap_or_default(),
                l.skills.join(";"),
                l.regions.join(";"),
                l.languages.join(";"),
                l.capacity.to_string(),
                l.center.clone(),
                from,
                to,
            ])
            .map_err(fail)?;
        }
    }
    let body = w.into_inner().map_err(|e| fail(e.into_error().into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"roster.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct SwapForm {
    csrf: String,
    shift: String,
    lawyer: String,
}

pub async fn swap(
    State(console): State<Console>,
    viewer: Viewer,
    Form(form): Form<SwapForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    console.gate.allow(&viewer.who, Method::SwapShift).await?;
    let shift: i64 =
        form.shift.trim().parse().map_err(|_| {
            WebError::bad_request(format!("shift: `{}` is not a shift id", form.shift))
        })?;
    // A supervisor of one centre gives away only that centre's shifts, to
    // that centre's lawyers.
    let lawyers = console.ticketing.lawyers().await?;
    let center_of = |id: &str| {
        lawyers
            .iter()
            .find(|l| l.id == id)
            .map(|l| l.center.clone())
    };
    let from = console
        .ticketing
        .shift_lawyer(shift)
        .await?
        .ok_or_else(|| {
            WebError::Status(
                axum::http::StatusCode::NOT_FOUND,
                format!("there is no shift {shift}"),
            )
        })?;
    if center_of(&form.lawyer).is_none() {
        return Err(WebError::Status(
            axum::http::StatusCode::NOT_FOUND,
            format!("lawyer `{}` is not on the roster", form.lawyer),
        ));
    }
    let allowed = |id: Option<&str>| {
        id.and_then(center_of)
            .is_some_and(|c| viewer.who.oversees(&c))
    };
    if !allowed(Some(&from)) || !allowed(Some(&form.lawyer)) {
        let why = "the shift or the lawyer is not of the token's centre";
        return Err(console
            .gate
            .deny(&viewer.who, Method::SwapShift, None, why)
            .await
            .into());
    }
    console.ticketing.swap_shift(shift, &form.lawyer).await??;
    Ok(Redirect::to("/roster").into_response())
}
