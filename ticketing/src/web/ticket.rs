//! A ticket's page: every field, the limitation answer with its legal
//! basis and warnings, the recordings (playable), the offers, the whole
//! history, and what the viewer may do with it — a supervisor reassigns,
//! decides an application, adds a note; the lawyer acknowledges, declines,
//! starts and closes (see [`super::lawyer`]); a reviewer scores a closed
//! case (see [`super::quality`]).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use hotline_domain::{Matter, PhoneNumber, TicketNumber, TicketState};
use maud::{html, Markup};
use serde::Deserialize;

use super::board::LiveQuery;
use super::error::WebError;
use super::layout::{self, csrf, span, time};
use super::session::Viewer;
use super::Console;
use crate::api::convert::{text, FieldError};
use crate::api::gate::Method;
use crate::auth::Role;
use crate::reports::labels::value;
use crate::service::Ticketing;
use crate::tickets::lifecycle::Move;
use crate::tickets::{Correction, Ticket};

impl From<FieldError> for WebError {
    fn from(e: FieldError) -> Self {
        WebError::bad_request(format!("{}: {}", e.field, e.message))
    }
}

/// The number in a path, or 404 (the same for every viewer).
pub fn number(text: &str) -> Result<TicketNumber, WebError> {
    TicketNumber::parse(text).map_err(|e| {
        WebError::Status(
            axum::http::StatusCode::NOT_FOUND,
            format!("`{text}` is not a ticket number: {e}"),
        )
    })
}

/// The ticket, if the viewer may call `method` on it.
pub async fn admitted(
    console: &Console,
    viewer: &Viewer,
    method: Method,
    number: &TicketNumber,
) -> Result<Ticket, WebError> {
    console.gate.allow(&viewer.who, method).await?;
    Ok(console.gate.ticket(&viewer.who, method, number).await?)
}

#[derive(Deserialize)]
pub struct FindQuery {
    #[serde(default)]
    number: String,
}

/// `/tickets?number=N`: the search box's way to a ticket's page.
pub async fn find(_viewer: Viewer, Query(q): Query<FindQuery>) -> Result<Response, WebError> {
    let n = number(q.number.trim())?;
    Ok(Redirect::to(&format!("/tickets/{n}")).into_response())
}

/// Back to the ticket's page after an action.
pub fn back_to(number: &TicketNumber) -> Response {
    Redirect::to(&format!("/tickets/{number}")).into_response()
}

pub async fn page(
    State(console): State<Console>,
    viewer: Viewer,
    Path(n): Path<String>,
    Query(q): Query<LiveQuery>,
) -> Result<Response, WebError> {
    let number = number(&n)?;
    let ticket = admitted(&console, &viewer, Method::GetTicket, &number).await?;
    let live = details(&console, &viewer, &ticket).await?;
    if q.fragment() {
        // A refresh of the page already opened (and audited) in this view.
        return Ok(live.into_response());
    }
    // Its numbers are shown in full: the read goes in the audit log first.
    console
        .gate
        .audit_read(&viewer.who, &[&ticket], None)
        .await?;
    let title = format!("{} {}", viewer.t("工单", "Ticket"), ticket.number);
    Ok(layout::page(
        &viewer,
        &format!("/tickets/{number}"),
        &title,
        true,
        html! {
            span hidden id="events-ticket" data-ticket=(ticket.number) {}
            h1 { (title) @if ticket.major_case { " " span class="badge critical" id="major" { (viewer.t("重点督办", "Major case")) } } }
            div id="live" { (live) }
        },
    )
    .into_response())
}

fn yes_no(viewer: &Viewer, v: bool) -> &'static str {
    if v {
        viewer.t("是", "yes")
    } else {
        viewer.t("否", "no")
    }
}

async fn details(console: &Console, viewer: &Viewer, tk: &Ticket) -> Result<Markup, WebError> {
    let t = |zh: &'static str, en: &'static str| viewer.t(zh, en);
    let ticketing = &console.ticketing;
    let now = ticketing.now();
    let history = ticketing.history(&tk.number).await?;
    let offers = ticketing.store().offers(&tk.number).await?;
    let reviews = ticketing.reviews_of(&tk.number).await?;
    let rule = tk
        .limitation_rule
        .as_deref()
        .and_then(|id| ticketing.limitation().rules().rule(id));
    let oversees = viewer.who.oversees(&tk.center);
    let me = viewer.who.lawyer_id();
    let my_offer = offers
        .iter()
        .find(|o| Some(o.lawyer.as_str()) == me && o.state.as_str() == "pending");
    let mine = me.is_some() && tk.assigned_lawyer.as_deref() == me;
    let lawyers = if oversees {
        ticketing.lawyers().await?
    } else {
        Vec::new()
    };
    let state = tk.state.as_str();
    let field = |label: &str, v: String| html! { dt { (label) } dd { (v) } };
    let opt = |v: Option<String>| v.unwrap_or_else(|| "—".to_owned());
    Ok(html! {
        div class="grid" {
            section class="panel" id="fields" {
                h2 { (t("登记信息", "Details")) }
                dl class="fields" {
                    (field(t("状态", "State"), value(viewer.lang, state)))
                    dt { (t("紧急程度", "Urgency")) }
                    dd id="urgency" { (value(viewer.lang, tk.urgency.map(|u| u.as_str()).unwrap_or("unassessed"))) }
                    (field(t("类型", "Kind"), value(viewer.lang, tk.kind.as_str())))
                    @if let Some(node) = &tk.last_node { (field(t("挂断时所在菜单", "Hung up in menu node"), node.clone())) }
                    (field(t("事项", "Matter"), value(viewer.lang, tk.matter.map(|m| m.as_str()).unwrap_or("unknown"))))
                    (field(t("优先群体", "Priority group"), value(viewer.lang, tk.priority_group.as_str())))
                    (field(t("中心", "Centre"), tk.center.clone()))
                    (field(t("地区", "Region"), opt(tk.region.as_ref().map(ToString::to_string))))
                    (field(t("来电号码", "Caller"), opt(tk.caller_number.as_ref().map(|n| n.as_str().to_owned()))))
                    (field(t("回电号码", "Callback"), opt(tk.callback_number.as_ref().map(|n| n.as_str().to_owned()))))
                    (field(t("语言", "Language"), tk.language.as_str().to_owned()))
                    (field(t("承办律师", "Lawyer"), opt(tk.assigned_lawyer.clone())))
                    (field(t("需保全", "Preservation"), yes_no(viewer, tk.preservation).to_owned()))
                    (field(t("先予执行", "Advance enforcement"), yes_no(viewer, tk.flags.advance_enforcement).to_owned()))
                    (field(t("免予经济困难审查", "Hardship waived"), yes_no(viewer, tk.flags.hardship_waived).to_owned()))
                    (field(t("承诺代替证明", "Pledge"), yes_no(viewer, tk.flags.pledge_offered).to_owned()))
                    (field(t("上门服务", "Home visit"), yes_no(viewer, tk.flags.home_visit).to_owned()))
                    (field(t("愿意调解", "Mediation preferred"), yes_no(viewer, tk.flags.mediation_preferred).to_owned()))
                    (field(t("审查决定期限", "Decision due (art. 43)"), opt(tk.decision_due.map(|d| d.to_string()))))
                    (field(t("指派期限", "Assignment due (art. 43)"), opt(tk.assignment_due.map(|d| d.to_string()))))
                    (field(t("办理结果", "Outcome"), opt(tk.outcome.clone())))
                    (field(t("不予援助理由", "Rejection reason"), opt(tk.rejection_reason.clone())))
                    (field(t("登记时间", "Created"), time(tk.created_at)))
                    (field(t("更新时间", "Updated"), time(tk.updated_at)))
                }
                h2 { (t("来电摘要", "Summary")) }
                p id="summary" { (tk.summary) }
            }
            section class="panel" id="limitation" {
                h2 { (t("诉讼时效", "Limitation")) }
                dl class="fields" {
                    (field(t("事件日期", "Event date"), opt(tk.event_date.map(|d| d.to_string()))))
                    (field(t("文书", "Document"), opt(tk.document.map(|d| d.as_str().to_owned()))))
                    (field(t("届满日", "Deadline"), opt(tk.deadline.map(|d| d.to_string()))))
                    (field(t("剩余天数", "Days left"), opt(Ticketing::days_left(tk, now).map(|d| d.to_string()))))
                    (field(t("适用规则", "Rule"), opt(tk.limitation_rule.clone())))
                    @if let Some(rule) = rule {
                        (field(t("法律依据", "Legal basis"), rule.legal_basis.clone()))
                        (field(t("起算", "Starts"), rule.starts.clone()))
                    }
                }
                @if !tk.limitation_warnings.is_empty() {
                    h2 { (t("提示", "Warnings")) }
                    ul id="warnings" { @for w in &tk.limitation_warnings { li { (w) } } }
                }
                h2 { (t("录音", "Recordings")) }
                @if tk.recordings.is_empty() { p class="muted" { (t("无", "None")) } }
                @for r in &tk.recordings {
                    div class="recording" {
                        audio controls preload="metadata" src={"/recordings/" (r.id)} data-recording=(r.id) {}
                        span class="muted" { " " (format!("{:.1}", r.duration_ms as f64 / 1000.0)) " s · " (time(r.created_at)) }
                    }
                }
            }
        }
        section class="panel" id="actions" {
            h2 { (t("操作", "Actions")) }
            @if let Some(o) = my_offer {
                p { (t("派单确认剩余：", "Time left to acknowledge: ")) span data-deadline=(o.ack_deadline.timestamp_millis()) { (span(viewer.lang, o.ack_deadline - now)) } }
                form method="post" action={"/tickets/" (tk.number) "/ack"} class="action" {
                    (csrf(viewer))
                    button type="submit" id="ack" { (t("确认承办", "Acknowledge")) }
                }
                form method="post" action={"/tickets/" (tk.number) "/decline"} class="action" {
                    (csrf(viewer))
                    input name="reason" required placeholder=(t("拒绝理由", "Reason")) maxlength="200";
                    button type="submit" class="danger" id="decline" { (t("拒绝", "Decline")) }
                }
            }
            @if mine && state == "assigned" {
                form method="post" action={"/tickets/" (tk.number) "/start"} class="action" {
                    (csrf(viewer))
                    button type="submit" id="start" { (t("开始办理", "Start")) }
                }
            }
            @if mine && matches!(state, "assigned" | "in_progress" | "consultation" | "provisional") {
                form method="post" action={"/tickets/" (tk.number) "/close"} class="action" {
                    (csrf(viewer))
                    input name="outcome" required placeholder=(t("办理结果（如 advice-given）", "Outcome (e.g. advice-given)")) maxlength="64";
                    button type="submit" id="close" { (t("结案", "Close")) }
                }
            }
            @if oversees {
                @if (tk.assigned_lawyer.is_some() && !matches!(state, "closed" | "rejected")) || state == "accepted" {
                    form method="post" action={"/tickets/" (tk.number) "/reassign"} class="action" {
                        (csrf(viewer))
                        label { (if tk.assigned_lawyer.is_some() { t("改派给", "Reassign to") } else { t("指派给", "Assign to") }) " "
                            select name="lawyer" id="reassign-lawyer" {
                                @for l in lawyers.iter().filter(|l| l.active && l.center == tk.center) {
                                    option value=(l.id) { (l.name) " (" (l.id) ")" }
                                }
                            }
                        }
                        input name="reason" required placeholder=(t("理由", "Reason")) maxlength="200";
                        button type="submit" id="reassign" { (t("改派", "Reassign")) }
                    }
                }
                @if !tk.major_case && !matches!(state, "closed" | "rejected") {
                    form method="post" action={"/tickets/" (tk.number) "/major"} class="action" {
                        (csrf(viewer))
                        input name="reason" required placeholder=(t("督办理由", "Why it needs oversight")) maxlength="200";
                        button type="submit" class="danger" id="mark-major" { (t("列为重点督办", "Mark a major case")) }
                    }
                }
                @if matches!(state, "application" | "provisional") {
                    form method="post" action={"/tickets/" (tk.number) "/decide"} class="action" {
                        (csrf(viewer))
                        input type="hidden" name="decision" value="accept";
                        input name="reason" placeholder=(t("说明（可选）", "Note (optional)")) maxlength="200";
                        button type="submit" id="accept" { (t("决定受理", "Accept")) }
                    }
                    form method="post" action={"/tickets/" (tk.number) "/decide"} class="action" {
                        (csrf(viewer))
                        input type="hidden" name="decision" value="reject";
                        input name="reason" required placeholder=(t("不予援助理由", "Reason for rejection")) maxlength="200";
                        button type="submit" class="danger" id="reject" { (t("不予援助", "Reject")) }
                    }
                }
            }
            @if (oversees || mine) && !matches!(state, "closed" | "rejected") {
                details id="correct" {
                    summary { (t("更正登记信息", "Correct the facts")) }
                    form method="post" action={"/tickets/" (tk.number) "/correct"} class="action" {
                        (csrf(viewer))
                        label { (t("事项", "Matter")) " "
                            select name="matter" {
                                @for m in Matter::ALL {
                                    option value=(m.as_str()) selected[tk.matter == Some(*m)] { (value(viewer.lang, m.as_str())) }
                                }
                            }
                        }
                        label { (t("事件日期", "Event date")) " " input type="date" name="event_date" value=(tk.event_date.map(|d| d.to_string()).unwrap_or_default()); }
                        label { (t("回电号码", "Callback")) " " input name="callback" size="14" value=(tk.callback_number.as_ref().map(|n| n.as_str().to_owned()).unwrap_or_default()); }
                        label { input type="checkbox" name="preservation" value="1" checked[tk.preservation]; " " (t("需保全", "Preservation")) }
                        label { input type="checkbox" name="advance_enforcement" value="1" checked[tk.flags.advance_enforcement]; " " (t("先予执行", "Advance enforcement")) }
                        input name="reason" required placeholder=(t("更正理由", "Reason")) maxlength="200";
                        button type="submit" id="correct-submit" { (t("更正", "Correct")) }
                    }
                }
            }
            @if oversees || mine || my_offer.is_some() {
                form method="post" action={"/tickets/" (tk.number) "/note"} class="action" {
                    (csrf(viewer))
                    textarea name="text" required rows="2" cols="50" placeholder=(t("备注", "Note")) {}
                    button type="submit" id="add-note" { (t("添加备注", "Add note")) }
                }
            }
            @if oversees && state == "closed" {
                (super::quality::review_form(viewer, tk, &reviews))
            }
        }
        div class="grid" {
            section class="panel" id="offers" {
                h2 { (t("派单记录", "Offers")) }
                @if offers.is_empty() { p class="muted" { (t("无", "None")) } } @else {
                    table {
                        thead { tr { th { (t("律师", "Lawyer")) } th { (t("轮次", "Round")) } th { (t("状态", "State")) } th { (t("派出", "Offered")) } th { (t("确认期限", "Deadline")) } } }
                        tbody { @for o in &offers {
                            tr { td { (o.lawyer) } td class="n" { (o.round) } td { (value(viewer.lang, if o.state.as_str() == "expired" { "offer_expired" } else { o.state.as_str() })) } td { (time(o.offered_at)) } td { (time(o.ack_deadline)) } }
                        } }
                    }
                }
            }
            section class="panel" id="history" {
                h2 { (t("处理记录", "History")) }
                ol class="history" {
                    @for e in &history {
                        li data-kind=(e.kind.as_str()) {
                            span class="muted" { (time(e.at)) } " "
                            b { (value(viewer.lang, e.kind.as_str())) } " · " (e.actor)
                            @if let (Some(from), Some(to)) = (e.from_state, e.to_state) { " · " (value(viewer.lang, from.as_str())) " → " (value(viewer.lang, to.as_str())) }
                            @if let Some(l) = &e.lawyer { " · " (t("律师", "lawyer")) " " (l) }
                            @if let Some(r) = &e.reason { " · " (r) }
                            @if let Some(n) = &e.note { " · " i { (n) } }
                            @for c in &e.changes { " · " (c.field) ": " (c.old.clone().unwrap_or_default()) " → " (c.new.clone().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
        @if viewer.who.role != Role::Lawyer && !reviews.is_empty() {
            section class="panel" id="reviews" {
                h2 { (t("质量评估", "Quality reviews")) }
                (super::quality::review_table(viewer, &reviews))
            }
        }
    })
}

#[derive(Deserialize)]
pub struct ReassignForm {
    csrf: String,
    lawyer: String,
    reason: String,
}

pub async fn reassign(
    State(console): State<Console>,
    viewer: Viewer,
    Path(n): Path<String>,
    Form(form): Form<ReassignForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let number = number(&n)?;
    let ticket = admitted(&console, &viewer, Method::Reassign, &number).await?;
    let reason = text("reason", &form.reason, true)?;
    let lawyer = form.lawyer.trim();
    if ticket.assigned_lawyer.is_none() && ticket.state == TicketState::Accepted {
        // Nobody holds it yet: the centre assigns the lawyer (art. 43).
        let mv = Move {
            reason: Some(reason),
            lawyer: Some(lawyer.to_owned()),
            ..Move::default()
        };
        console
            .ticketing
            .transition(&number, TicketState::Assigned, mv, &viewer.who.actor())
            .await?;
        return Ok(back_to(&number));
    }
    console
        .ticketing
        .reassign(&number, lawyer, &reason, &viewer.who.actor())
        .await??;
    Ok(back_to(&number))
}

#[derive(Deserialize)]
pub struct DecideForm {
    csrf: String,
    decision: String,
    #[serde(default)]
    reason: String,
}

pub async fn decide(
    State(console): State<Console>,
    viewer: Viewer,
    Path(n): Path<String>,
    Form(form): Form<DecideForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let number = number(&n)?;
    admitted(&console, &viewer, Method::TransitionTicket, &number).await?;
    let (to, required) = match form.decision.as_str() {
        "accept" => (TicketState::Accepted, false),
        "reject" => (TicketState::Rejected, true),
        other => {
            return Err(WebError::bad_request(format!(
                "decision: `{other}` is neither accept nor reject"
            )))
        }
    };
    let reason = Some(text("reason", &form.reason, required)?).filter(|r| !r.trim().is_empty());
    let mv = Move {
        reason,
        ..Move::default()
    };
    console
        .ticketing
        .transition(&number, to, mv, &viewer.who.actor())
        .await?;
    Ok(back_to(&number))
}

#[derive(Deserialize)]
pub struct CorrectForm {
    csrf: String,
    matter: String,
    #[serde(default)]
    event_date: String,
    #[serde(default)]
    callback: String,
    /// Checkboxes: present when ticked.
    #[serde(default)]
    preservation: Option<String>,
    #[serde(default)]
    advance_enforcement: Option<String>,
    reason: String,
}

/// Corrects what the caller said: only the fields that changed, with the
/// reason; urgency and routing follow, as with `hotline tickets correct`.
pub async fn correct(
    State(console): State<Console>,
    viewer: Viewer,
    Path(n): Path<String>,
    Form(form): Form<CorrectForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let number = number(&n)?;
    let ticket = admitted(&console, &viewer, Method::CorrectTicket, &number).await?;
    let reason = text("reason", &form.reason, true)?;
    let matter = Matter::parse(form.matter.trim())
        .map_err(|e| WebError::bad_request(format!("matter: {e}")))?;
    let event_date = match form.event_date.trim() {
        "" => None,
        d => Some(
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| WebError::bad_request(format!("event_date: `{d}` is not a date")))?,
        ),
    };
    crate::api::check_event_date(event_date, console.ticketing.now())?;
    let callback = match form.callback.trim() {
        "" => None,
        c => Some(
            PhoneNumber::parse(c).map_err(|e| WebError::bad_request(format!("callback: {e}")))?,
        ),
    };
    let preservation = form.preservation.is_some();
    let advance = form.advance_enforcement.is_some();
    let correction = Correction {
        matter: (ticket.matter != Some(matter)).then_some(matter),
        event_date: (ticket.event_date != event_date).then_some(event_date),
        callback_number: callback.filter(|c| ticket.callback_number.as_ref() != Some(c)),
        preservation: (ticket.preservation != preservation).then_some(preservation),
        advance_enforcement: (ticket.flags.advance_enforcement != advance).then_some(advance),
        ..Correction::default()
    };
    let changed = correction.matter.is_some()
        || correction.event_date.is_some()
        || correction.callback_number.is_some()
        || correction.preservation.is_some()
        || correction.advance_enforcement.is_some();
    if !changed {
        return Err(WebError::bad_request(
            "nothing changed: correct at least one field",
        ));
    }
    console
        .ticketing
        .correct(&number, &correction, Some(&reason), &viewer.who.actor())
        .await?;
    Ok(back_to(&number))
}

#[derive(Deserialize)]
pub struct MajorForm {
    csrf: String,
    reason: String,
}

/// 重点督办: from now on every event of the ticket alerts supervisors.
pub async fn mark_major(
    State(console): State<Console>,
    viewer: Viewer,
    Path(n): Path<String>,
    Form(form): Form<MajorForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let number = number(&n)?;
    // The centre's decision, like accepting or rejecting.
    admitted(&console, &viewer, Method::TransitionTicket, &number).await?;
    let reason = text("reason", &form.reason, true)?;
    console
        .ticketing
        .mark_major_case(&number, &reason, &viewer.who.actor())
        .await?;
    Ok(back_to(&number))
}

#[derive(Deserialize)]
pub struct NoteForm {
    csrf: String,
    text: String,
}

pub async fn note(
    State(console): State<Console>,
    viewer: Viewer,
    Path(n): Path<String>,
    Form(form): Form<NoteForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let number = number(&n)?;
    admitted(&console, &viewer, Method::AddNote, &number).await?;
    let note = text("text", &form.text, true)?;
    console
        .ticketing
        .add_note(&number, &note, &viewer.who.actor())
        .await?;
    Ok(back_to(&number))
}
