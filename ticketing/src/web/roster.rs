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
use crate::api::routing::{instant, lawyer_from_pb, lawyer_to_pb, shift_time};
use crate::routing::{roster_csv, Lawyer, Shift};
use hotline_proto::v1 as pb;

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
                span class="muted" { (t("导入（管理员）：下方表单或 hotline roster import 文件.csv", "Import (admin): the form below or hotline roster import FILE.csv")) } }
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
            @if viewer.who.role == crate::auth::Role::Admin {
                section class="panel" id="import" {
                    h2 { (t("导入值班表", "Import the roster")) }
                    form method="post" action="/roster/import" {
                        (csrf(&viewer))
                        p class="hint" { (t("粘贴 CSV（与导出格式相同）：", "Paste a CSV (the export's format):")) " " code { (roster_csv::HEADER.join(",")) } }
                        textarea name="csv" rows="6" cols="90" required {}
                        p { button type="submit" id="import-roster" { (t("导入", "Import")) } }
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

/// The roster as `hotline roster export` writes it, which `hotline roster
/// import` (and the form below) read back.
pub async fn export(State(console): State<Console>, viewer: Viewer) -> Result<Response, WebError> {
    let (lawyers, shifts) = roster(&console, &viewer).await?;
    let lawyers: Vec<_> = lawyers.iter().map(lawyer_to_pb).collect();
    let shifts: Vec<_> = shifts
        .iter()
        .map(|s| pb::Shift {
            id: s.id,
            lawyer: s.lawyer.clone(),
            from: shift_time(s.starts_at),
            to: shift_time(s.ends_at),
        })
        .collect();
    let mut body = Vec::new();
    roster_csv::write(&mut body, &lawyers, &shifts).map_err(|e| {
        WebError::Status(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write the CSV: {e}"),
        )
    })?;
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
pub struct ImportForm {
    csrf: String,
    csv: String,
}

/// An admin pastes a roster CSV: each row's lawyer is written (added or
/// replaced) and its shift added, as `hotline roster import` does; the
/// first bad row stops the import and is named, the rows before it stay.
pub async fn import(
    State(console): State<Console>,
    viewer: Viewer,
    Form(form): Form<ImportForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    console.gate.allow(&viewer.who, Method::PutLawyer).await?;
    let rows =
        roster_csv::read(form.csv.as_bytes()).map_err(|e| WebError::bad_request(e.to_string()))?;
    let (mut lawyers, mut shifts) = (0, 0);
    for row in rows {
        let (done_lawyers, done_shifts, line) = (lawyers, shifts, row.line);
        let at = move |why: String| {
            WebError::bad_request(format!(
                "line {line}: {why} ({done_lawyers} lawyers and {done_shifts} shifts before it were imported)"
            ))
        };
        let lawyer = lawyer_from_pb(row.lawyer).map_err(|s| at(s.message().to_owned()))?;
        console.ticketing.put_lawyer(&lawyer).await?;
        lawyers += 1;
        if let Some((from, to)) = row.shift {
            let from = instant("shift_from", &from).map_err(|s| at(s.message().to_owned()))?;
            let to = instant("shift_to", &to).map_err(|s| at(s.message().to_owned()))?;
            if to <= from || to - from > Duration::days(7) {
                return Err(at(
                    "a shift ends after it starts, and lasts at most 7 days".to_owned()
                ));
            }
            console
                .ticketing
                .add_shift(&lawyer.id, from, to)
                .await?
                .map_err(|e| at(e.to_string()))?;
            shifts += 1;
        }
    }
    tracing::info!(actor = %viewer.who.actor(), lawyers, shifts, "roster imported from the console");
    Ok(Redirect::to("/roster").into_response())
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
