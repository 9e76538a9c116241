//! A duty lawyer's page: offers waiting for them with the time left
//! (acknowledge, decline with a reason), their cases (start, close with an
//! outcome), and their centre's queue (take one). A new offer arrives
//! without a reload, with a chime. Every action is the same one
//! `hotline lawyer …` takes, as the lawyer of the session's token.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Form;
use hotline_domain::{TicketNumber, TicketState};
use maud::html;
use serde::Deserialize;

use super::board::LiveQuery;
use super::error::WebError;
use super::layout::{self, csrf, span, time};
use super::session::Viewer;
use super::ticket::{admitted, back_to, number};
use super::Console;
use crate::api::convert::{code, text};
use crate::api::gate::Method;
use crate::auth::Role;
use crate::callbacks::{CallbackFilter, CallbackOutcome};
use crate::reports::labels::value;
use crate::service::Ticketing;
use crate::tickets::lifecycle::Move;

/// The lawyer's roster id, or 403 for other roles.
fn lawyer_of(viewer: &Viewer) -> Result<String, WebError> {
    viewer.who.lawyer_id().map(str::to_owned).ok_or_else(|| {
        WebError::Status(
            axum::http::StatusCode::FORBIDDEN,
            "this page is a duty lawyer's: log in with a lawyer's token".to_owned(),
        )
    })
}

pub async fn page(
    State(console): State<Console>,
    viewer: Viewer,
    Query(q): Query<LiveQuery>,
) -> Result<Response, WebError> {
    console.gate.allow(&viewer.who, Method::MyWork).await?;
    let me = lawyer_of(&viewer)?;
    let t = |zh: &'static str, en: &'static str| viewer.t(zh, en);
    let ticketing = &console.ticketing;
    let now = ticketing.now();
    let click_to_call = ticketing.click_to_call();
    let (cases, offers) = ticketing.work_of(&me).await?;
    let callbacks = ticketing
        .callbacks(&CallbackFilter {
            lawyer: Some(&me),
            ..CallbackFilter::default()
        })
        .await?;
    // Their own cases' numbers in full, to call back: the read is written
    // down when the page is opened (a refresh is the same view).
    if !q.fragment() && !cases.is_empty() {
        let mut all: Vec<&crate::tickets::Ticket> = cases.iter().collect();
        all.extend(
            callbacks
                .iter()
                .map(|c| &c.ticket)
                .filter(|t| !cases.iter().any(|k| k.number == t.number)),
        );
        console.gate.audit_read(&viewer.who, &all, None).await?;
    }
    let offered = ticketing
        .tickets_by_number(&offers.iter().map(|o| o.ticket.clone()).collect::<Vec<_>>())
        .await?;
    let center = ticketing
        .lawyers()
        .await?
        .into_iter()
        .find(|l| l.id == me)
        .map(|l| l.center);
    let queue = match &center {
        Some(c) => ticketing.queue(c, 20).await?,
        None => Vec::new(),
    };
    let live = html! {
        section class="panel" id="my-offers" {
            h2 { (t("待确认派单", "Offers waiting for you")) " (" (offers.len()) ")" }
            @if offers.is_empty() { p class="muted" { (t("无", "None")) } }
            @for o in &offers {
                @let tk = offered.iter().find(|tk| tk.number == o.ticket);
                div class="offer" data-ticket=(o.ticket) {
                    p {
                        a href={"/tickets/" (o.ticket)} { b { (o.ticket) } } " · "
                        @if let Some(tk) = tk {
                            span class={"badge " (tk.urgency.map(|u| u.as_str()).unwrap_or(""))} {
                                (value(viewer.lang, tk.urgency.map(|u| u.as_str()).unwrap_or("unassessed")))
                            } " "
                            (value(viewer.lang, tk.matter.map(|m| m.as_str()).unwrap_or("unknown")))
                            @if let Some(d) = Ticketing::days_left(tk, now) { " · " (t("剩余", "days left: ")) (d) (t(" 天", "")) }
                        }
                        " · " span data-deadline=(o.ack_deadline.timestamp_millis()) { (span(viewer.lang, o.ack_deadline - now)) }
                    }
                    form method="post" action={"/tickets/" (o.ticket) "/ack"} class="action" {
                        (csrf(&viewer))
                        button type="submit" class="ack" { (t("确认承办", "Acknowledge")) }
                    }
                    form method="post" action={"/tickets/" (o.ticket) "/decline"} class="action" {
                        (csrf(&viewer))
                        input name="reason" required placeholder=(t("拒绝理由", "Reason")) maxlength="200";
                        button type="submit" class="danger" { (t("拒绝", "Decline")) }
                    }
                }
            }
        }
        section class="panel" id="my-callbacks" {
            h2 { (t("我的回电", "My callbacks")) " (" (callbacks.len()) ")" }
            @if callbacks.is_empty() { p class="muted" { (t("无", "None")) } } @else {
                table class="cards" {
                    thead { tr { th { (t("编号", "Ticket")) } th { (t("应回电时间", "Due")) } th { (t("回电号码", "Number")) } th { (t("已尝试", "Attempts")) } th {} } }
                    tbody {
                        @for c in &callbacks {
                            tr data-ticket=(c.ticket.number) class=[c.flagged.then_some("overdue")] {
                                td { a href={"/tickets/" (c.ticket.number)} { (c.ticket.number) } " "
                                    span class={"badge " (c.ticket.urgency.map(|u| u.as_str()).unwrap_or(""))} {
                                        (value(viewer.lang, c.ticket.urgency.map(|u| u.as_str()).unwrap_or("unassessed")))
                                    }
                                }
                                td class="due" {
                                    @if c.flagged { b class="overdue" { (t("三次未接通，已转主管", "Flagged: not reached three times")) } }
                                    @else if let Some(due) = c.due_at {
                                        @if due <= now { b class="overdue" { (t("已逾期 ", "Overdue ")) (span(viewer.lang, now - due)) } }
                                        @else { (time(due)) }
                                    }
                                }
                                td class="phone" { (c.phone().map(|n| n.as_str().to_owned()).unwrap_or_default()) }
                                td class="n" { (c.attempts.len()) }
                                td {
                                    form method="post" action={"/tickets/" (c.ticket.number) "/callback"} class="action" {
                                        (csrf(&viewer))
                                        select name="outcome" {
                                            @for o in CallbackOutcome::ALL { option value=(o.as_str()) { (value(viewer.lang, o.as_str())) } }
                                        }
                                        input name="note" size="14" maxlength="4096" placeholder=(t("备注", "Note"));
                                        button type="submit" class="secondary" { (t("记录回电", "Record")) }
                                    }
                                    @if click_to_call && c.phone().is_some_and(|p| p.is_callable()) {
                                        form method="post" action={"/tickets/" (c.ticket.number) "/call"} class="action call" {
                                            (csrf(&viewer))
                                            button type="submit" class="call" title=(t("系统先呼叫您，再以中心号码呼叫来电人并接通，来电人不会看到您的号码", "The hotline calls you, then the caller with the centre's number, and connects you; the caller never sees your number")) { (t("接通来电人", "Call the caller")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section class="panel" id="my-cases" {
            h2 { (t("我的案件", "My cases")) " (" (cases.len()) ")" }
            @if cases.is_empty() { p class="muted" { (t("无", "None")) } } @else {
                table class="cards" {
                    thead { tr { th { (t("编号", "Ticket")) } th { (t("状态", "State")) } th { (t("事项", "Matter")) } th { (t("回电号码", "Callback")) } th {} } }
                    tbody {
                        @for tk in &cases {
                            tr data-ticket=(tk.number) {
                                td { a href={"/tickets/" (tk.number)} { (tk.number) } }
                                td class="state" { (value(viewer.lang, tk.state.as_str())) }
                                td { (value(viewer.lang, tk.matter.map(|m| m.as_str()).unwrap_or("unknown"))) }
                                td class="phone" { (tk.callback_number.as_ref().or(tk.caller_number.as_ref()).map(|n| n.as_str().to_owned()).unwrap_or_default()) }
                                td {
                                    @if tk.state.as_str() == "assigned" {
                                        form method="post" action={"/tickets/" (tk.number) "/start"} class="inline" {
                                            (csrf(&viewer)) button type="submit" { (t("开始办理", "Start")) }
                                        }
                                    }
                                    @if matches!(tk.state.as_str(), "assigned" | "in_progress" | "consultation" | "provisional") {
                                        form method="post" action={"/tickets/" (tk.number) "/close"} class="action" {
                                            (csrf(&viewer))
                                            input name="outcome" required size="14" maxlength="64" placeholder=(t("办理结果", "Outcome"));
                                            button type="submit" class="secondary" { (t("结案", "Close")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section class="panel" id="my-queue" {
            h2 { (t("中心队列", "Centre queue")) }
            @if queue.is_empty() { p class="muted" { (t("无", "None")) } } @else {
                table class="cards" {
                    tbody {
                        @for tk in &queue {
                            tr {
                                td { (tk.number) }
                                td { (value(viewer.lang, tk.matter.map(|m| m.as_str()).unwrap_or("unknown"))) }
                                td { (time(tk.created_at)) }
                                td { form method="post" action={"/tickets/" (tk.number) "/take"} class="inline" {
                                    (csrf(&viewer)) button type="submit" { (t("承接", "Take")) }
                                } }
                            }
                        }
                    }
                }
            }
        }
        p class="muted" { (t("更新于", "Updated")) " " (time(now)) }
    };
    if q.fragment() {
        return Ok(live.into_response());
    }
    let title = t("我的工作", "My work");
    Ok(layout::page(
        &viewer,
        "/my",
        title,
        true,
        html! {
            h1 { (title) }
            @if let Some(n) = q.calling.as_deref().and_then(|n| TicketNumber::parse(n).ok()) {
                p class="notice" id="calling" {
                    (t("热线正在呼叫您，接听后将接通工单 ", "The hotline is calling you now; once you answer, it calls the caller of ticket "))
                    (n) (t(" 的来电人。结果记入回电记录。", ". The outcome is recorded with the callbacks."))
                }
            }
            div id="live" { (live) }
        },
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn acknowledge(
    State(console): State<Console>,
    viewer: Viewer,
    Path(n): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let number = number(&n)?;
    let me = lawyer_of(&viewer)?;
    admitted(&console, &viewer, Method::Acknowledge, &number).await?;
    console.ticketing.acknowledge(&number, &me).await??;
    Ok(back_to(&number))
}

#[derive(Deserialize)]
pub struct DeclineForm {
    csrf: String,
    reason: String,
}

pub async fn decline(
    State(console): State<Console>,
    viewer: Viewer,
    Path(n): Path<String>,
    Form(form): Form<DeclineForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let number = number(&n)?;
    let me = lawyer_of(&viewer)?;
    admitted(&console, &viewer, Method::Decline, &number).await?;
    let reason = text("reason", &form.reason, true)?;
    console.ticketing.decline(&number, &me, &reason).await??;
    // The ticket is no longer theirs to see: back to their page.
    Ok(axum::response::Redirect::to("/my").into_response())
}

pub async fn take(
    State(console): State<Console>,
    viewer: Viewer,
    Path(n): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let number = number(&n)?;
    let me = lawyer_of(&viewer)?;
    // A queued ticket is not yet theirs: the role is checked, the queue's
    // own rules (their centre, nobody holds it) decide.
    console.gate.allow(&viewer.who, Method::Pull).await?;
    console.ticketing.pull(&number, &me).await??;
    Ok(back_to(&number))
}

pub async fn start(
    State(console): State<Console>,
    viewer: Viewer,
    Path(n): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let number = number(&n)?;
    let me = lawyer_of(&viewer)?;
    admitted(&console, &viewer, Method::StartCase, &number).await?;
    console
        .ticketing
        .move_case(&number, &me, TicketState::InProgress, Move::default())
        .await??;
    Ok(back_to(&number))
}

#[derive(Deserialize)]
pub struct CallbackForm {
    csrf: String,
    outcome: String,
    #[serde(default)]
    note: String,
}

/// The "call the caller" button: the IVR calls this lawyer, then the
/// caller, and connects them; the outcome is recorded as an attempt.
pub async fn call_back(
    State(console): State<Console>,
    viewer: Viewer,
    Path(n): Path<String>,
    Form(form): Form<super::session::CsrfForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let number = number(&n)?;
    let me = lawyer_of(&viewer)?;
    admitted(&console, &viewer, Method::CallBack, &number).await?;
    console
        .ticketing
        .request_bridge(&number, &me, &viewer.who.actor())
        .await
        .map_err(tonic::Status::from)?;
    Ok(axum::response::Redirect::to(&format!("/my?calling={number}")).into_response())
}

/// An attempt to call the caller back, by the ticket's lawyer or the
/// centre; the same as `hotline callbacks record`.
pub async fn record_callback(
    State(console): State<Console>,
    viewer: Viewer,
    Path(n): Path<String>,
    Form(form): Form<CallbackForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let number = number(&n)?;
    admitted(&console, &viewer, Method::RecordCallback, &number).await?;
    let outcome = CallbackOutcome::parse(form.outcome.trim())
        .map_err(|e| WebError::Status(axum::http::StatusCode::BAD_REQUEST, e))?;
    let note = text("note", &form.note, false)?;
    console
        .ticketing
        .record_callback(&number, outcome, &note, &viewer.who.actor())
        .await?;
    if viewer.who.role == Role::Lawyer {
        Ok(axum::response::Redirect::to("/my").into_response())
    } else {
        Ok(back_to(&number))
    }
}

#[derive(Deserialize)]
pub struct CloseForm {
    csrf: String,
    outcome: String,
}

pub async fn close(
    State(console): State<Console>,
    viewer: Viewer,
    Path(n): Path<String>,
    Form(form): Form<CloseForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let number = number(&n)?;
    let me = lawyer_of(&viewer)?;
    admitted(&console, &viewer, Method::CloseCase, &number).await?;
    let outcome = code("outcome", form.outcome.trim())?;
    let mv = Move {
        outcome: Some(outcome),
        ..Move::default()
    };
    console
        .ticketing
        .move_case(&number, &me, TicketState::Closed, mv)
        .await??;
    Ok(back_to(&number))
}
