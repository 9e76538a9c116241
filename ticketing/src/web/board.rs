//! The live board (supervisors): what needs a person now — critical and
//! urgent tickets nobody holds, escalations, offers running out, art. 43
//! dates due — then the queue, the lawyers on duty with their load, the
//! tickets by urgency and state, and the calls in the IVR. It refreshes
//! itself: [`events`] tells the page when something it shows changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use hotline_domain::{TicketNumber, Urgency};
use maud::{html, Markup};
use serde::Deserialize;
use tokio_stream::wrappers::ReceiverStream;

use super::error::WebError;
use super::layout::{self, span, time};
use super::session::{cookie, Viewer, SESSION_COOKIE};
use super::Console;
use crate::api::gate::Method;
use crate::auth::{Principal, Role};
use crate::callbacks::CallbackFilter;
use crate::reports::labels::value;
use crate::service::Ticketing;
use crate::tickets::Ticket;

/// How often a stream with nothing to say looks at the IVR's calls and
/// (every [`crate::api::gate::STREAM_RECHECK`]) at its session.
const IDLE_CHECK: Duration = Duration::from_secs(2);

#[derive(Deserialize, Default)]
pub struct EventsQuery {
    #[serde(default)]
    ticket: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct LiveQuery {
    #[serde(default)]
    pub fragment: Option<String>,
    /// The ticket whose caller a click-to-call was just asked for.
    #[serde(default)]
    pub calling: Option<String>,
}

impl LiveQuery {
    pub fn fragment(&self) -> bool {
        self.fragment.as_deref() == Some("1")
    }
}

/// `/`: the board for supervisors; a lawyer's home is their own page.
pub async fn page(
    State(console): State<Console>,
    viewer: Viewer,
    Query(q): Query<LiveQuery>,
) -> Result<Response, WebError> {
    if viewer.who.role == Role::Lawyer {
        return Ok(Redirect::to("/my").into_response());
    }
    console.gate.allow(&viewer.who, Method::WatchEvents).await?;
    let live = board(&console, &viewer).await?;
    if q.fragment() {
        return Ok(live.into_response());
    }
    let title = viewer.t("实时看板", "Live board");
    let center = viewer
        .who
        .center
        .clone()
        .unwrap_or_else(|| viewer.t("全部中心", "all centres").to_owned());
    Ok(layout::page(
        &viewer,
        "/",
        title,
        true,
        html! {
            h1 { (title) " — " (center) }
            div id="live" { (live) }
        },
    )
    .into_response())
}

/// Whether a ticket is critical or urgent.
fn pressing(t: &Ticket) -> bool {
    matches!(t.urgency, Some(Urgency::Critical | Urgency::Urgent))
}

fn urgency_badge(viewer: &Viewer, t: &Ticket) -> Markup {
    let u = t.urgency.map(|u| u.as_str()).unwrap_or("unassessed");
    html! { span class={"badge " (u)} { (value(viewer.lang, u)) } }
}

/// The board's live part.
async fn board(console: &Console, viewer: &Viewer) -> Result<Markup, WebError> {
    let t = |zh: &'static str, en: &'static str| viewer.t(zh, en);
    let ticketing = &console.ticketing;
    let center = viewer.who.center.as_deref();
    let now = ticketing.now();
    let today = Ticketing::today(now);
    let open = ticketing.open_tickets(center).await?;
    let offers = ticketing.open_offers(center).await?;
    let escalated: HashMap<TicketNumber, _> =
        ticketing.escalated(center).await?.into_iter().collect();
    let offered: BTreeSet<&TicketNumber> = offers.iter().map(|o| &o.ticket).collect();

    // Critical and urgent tickets nobody holds or is being offered, and
    // every escalation: oldest first.
    let attention: Vec<&Ticket> = open
        .iter()
        .filter(|tk| {
            escalated.contains_key(&tk.number)
                || (pressing(tk) && tk.assigned_lawyer.is_none() && !offered.contains(&tk.number))
        })
        .collect();
    let undecided = |tk: &&Ticket| {
        matches!(tk.state.as_str(), "application" | "provisional")
            && tk.decision_due.is_some_and(|d| d <= today)
    };
    let decisions: Vec<&Ticket> = open.iter().filter(undecided).collect();
    let assignments: Vec<&Ticket> = open
        .iter()
        .filter(|tk| {
            tk.state.as_str() == "accepted"
                && tk.assigned_lawyer.is_none()
                && tk.assignment_due.is_some_and(|d| d <= today)
        })
        .collect();

    // Tickets by urgency and state.
    let mut matrix: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut states = BTreeSet::new();
    for tk in &open {
        let u = tk.urgency.map(|u| u.as_str()).unwrap_or("unassessed");
        states.insert(tk.state.as_str());
        *matrix.entry((u, tk.state.as_str())).or_default() += 1;
    }
    let urgencies = ["critical", "urgent", "expired", "normal", "unassessed"];

    // Lawyers on duty in each centre shown, with their load.
    let centers: BTreeSet<String> = match center {
        Some(c) => [c.to_owned()].into(),
        None => {
            let lawyers = ticketing.lawyers().await?;
            lawyers.into_iter().map(|l| l.center).collect()
        }
    };
    let mut on_duty = Vec::new();
    for c in &centers {
        on_duty.extend(ticketing.on_duty(c, Some(now)).await?);
    }
    let mut held: HashMap<&str, usize> = HashMap::new();
    for tk in &open {
        if let Some(l) = &tk.assigned_lawyer {
            *held.entry(l.as_str()).or_default() += 1;
        }
    }
    let mut queue = Vec::new();
    for c in &centers {
        queue.extend(ticketing.queue(c, 50).await?);
    }
    // The IVR nodes' calls (a centre's supervisor sees their centre's).
    let only_center = center.map(|c| [c.to_owned()]);
    let (calls, in_progress) = ticketing.ivr_calls(only_center.as_ref().map(|c| c.as_slice()));
    let calls_count = if center.is_some() {
        calls.len() as u64
    } else {
        in_progress
    };
    let major: Vec<&Ticket> = open.iter().filter(|tk| tk.major_case).collect();
    // Callbacks flagged (three failed half-days) or past due.
    let callbacks = ticketing
        .callbacks(&CallbackFilter {
            center,
            due_before: Some(now),
            ..CallbackFilter::default()
        })
        .await?;

    let ticket_link = |n: &TicketNumber| html! { a href={"/tickets/" (n)} class="ticket" { (n) } };
    Ok(html! {
        div class="figures" {
            div class="figure" id="fig-open" { b { (open.len()) } (t("未结工单", "Open tickets")) }
            div class="figure" id="fig-attention" {
                b class=[(!attention.is_empty()).then_some("overdue")] { (attention.len()) }
                (t("待处理紧急", "Need a lawyer now"))
            }
            div class="figure" id="fig-offers" { b { (offers.len()) } (t("派单待确认", "Offers pending")) }
            div class="figure" id="fig-calls" {
                b { (calls_count) }
                (t("IVR 通话中", "Calls in the IVR"))
            }
        }
        @if !major.is_empty() {
            section class="panel major" id="major-cases" {
                h2 { (t("重点督办案件", "Major cases")) " (" (major.len()) ")" }
                table class="cards" {
                    thead { tr { th { (t("编号", "Ticket")) } th { (t("紧急程度", "Urgency")) } th { (t("状态", "State")) } th { (t("承办律师", "Lawyer")) } th { (t("最近更新", "Last change")) } } }
                    tbody {
                        @for tk in &major {
                            tr data-ticket=(tk.number) {
                                td { (ticket_link(&tk.number)) }
                                td { (urgency_badge(viewer, tk)) }
                                td { (value(viewer.lang, tk.state.as_str())) }
                                td { (tk.assigned_lawyer.clone().unwrap_or_else(|| "—".to_owned())) }
                                td data-since=(tk.updated_at.timestamp_millis()) { (span(viewer.lang, now - tk.updated_at)) }
                            }
                        }
                    }
                }
            }
        }
        section class="panel" id="callbacks" {
            h2 { (t("回电：逾期或三次未接通", "Callbacks overdue or flagged")) " (" (callbacks.len()) ")" }
            @if callbacks.is_empty() { p class="muted" { (t("无", "None")) } } @else {
                table class="cards" {
                    thead { tr { th { (t("编号", "Ticket")) } th { (t("紧急程度", "Urgency")) } th { (t("承办律师", "Lawyer")) } th { (t("已尝试", "Attempts")) } th { (t("应回电时间", "Due")) } } }
                    tbody {
                        @for c in &callbacks {
                            tr data-ticket=(c.ticket.number) {
                                td { (ticket_link(&c.ticket.number)) }
                                td { (urgency_badge(viewer, &c.ticket)) }
                                td { (c.ticket.assigned_lawyer.clone().unwrap_or_else(|| "—".to_owned())) }
                                td class="n" { (c.attempts.len()) }
                                td {
                                    @if c.flagged { b class="overdue" { (t("三次未接通", "Flagged")) } }
                                    @else if let Some(due) = c.due_at { b class="overdue" { (t("逾期 ", "Overdue ")) (span(viewer.lang, now - due)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        div class="grid" {
            section class="panel" id="attention" {
                h2 { (t("紧急/较急：无人承办或已升级", "Critical and urgent: unowned or escalated")) }
                @if attention.is_empty() { p class="muted" { (t("无", "None")) } } @else {
                    table class="cards" {
                        thead { tr { th { (t("编号", "Ticket")) } th { (t("紧急程度", "Urgency")) } th { (t("事项", "Matter")) } th { (t("剩余天数", "Days left")) } th { (t("已等待", "Waiting")) } } }
                        tbody {
                            @for tk in &attention {
                                @let since = escalated.get(&tk.number).copied().unwrap_or(tk.created_at);
                                tr class=(tk.urgency.map(|u| u.as_str()).unwrap_or("")) data-ticket=(tk.number) {
                                    td { (ticket_link(&tk.number)) @if escalated.contains_key(&tk.number) { " " span class="badge escalated" { (t("已升级", "escalated")) } } }
                                    td { (urgency_badge(viewer, tk)) }
                                    td { (value(viewer.lang, tk.matter.map(|m| m.as_str()).unwrap_or("unknown"))) }
                                    td class="n" { (Ticketing::days_left(tk, now).map_or_else(|| "—".to_owned(), |d| d.to_string())) }
                                    td data-since=(since.timestamp_millis()) { (span(viewer.lang, now - since)) }
                                }
                            }
                        }
                    }
                }
            }
            section class="panel" id="offers" {
                h2 { (t("派单待确认", "Offers pending")) }
                @if offers.is_empty() { p class="muted" { (t("无", "None")) } } @else {
                    table class="cards" {
                        thead { tr { th { (t("编号", "Ticket")) } th { (t("律师", "Lawyer")) } th { (t("第几轮", "Round")) } th { (t("剩余时间", "Time left")) } } }
                        tbody {
                            @for o in &offers {
                                tr data-ticket=(o.ticket) {
                                    td { (ticket_link(&o.ticket)) }
                                    td { (o.lawyer) }
                                    td class="n" { (o.round) }
                                    td data-deadline=(o.ack_deadline.timestamp_millis()) { (span(viewer.lang, o.ack_deadline - now)) }
                                }
                            }
                        }
                    }
                }
            }
            section class="panel" id="art43" {
                h2 { (t("法律援助法第43条：今日到期与逾期", "Art. 43: due today and overdue")) }
                @if decisions.is_empty() && assignments.is_empty() { p class="muted" { (t("无", "None")) } } @else {
                    table class="cards" {
                        thead { tr { th { (t("编号", "Ticket")) } th { (t("事项", "What")) } th { (t("期限", "Due")) } } }
                        tbody {
                            @for tk in &decisions {
                                @let due = tk.decision_due.unwrap_or(today);
                                tr { td { (ticket_link(&tk.number)) } td { (t("审查决定", "Decision")) }
                                     td class=[(due < today).then_some("overdue")] { (due) } }
                            }
                            @for tk in &assignments {
                                @let due = tk.assignment_due.unwrap_or(today);
                                tr { td { (ticket_link(&tk.number)) } td { (t("指派律师", "Assignment")) }
                                     td class=[(due < today).then_some("overdue")] { (due) } }
                            }
                        }
                    }
                }
            }
            section class="panel" id="on-duty" {
                h2 { (t("值班律师及负荷", "Lawyers on duty and their load")) }
                @if on_duty.is_empty() { p class="overdue" { (t("当前无人值班！", "Nobody is on duty!")) } } @else {
                    table {
                        thead { tr { th { (t("律师", "Lawyer")) } th { (t("中心", "Centre")) } th { (t("在办/上限", "Held / capacity")) } th { (t("待确认派单", "Offers")) } } }
                        tbody {
                            @for l in &on_duty {
                                tr data-lawyer=(l.id) {
                                    td { (l.name) " (" (l.id) ")" }
                                    td { (l.center) }
                                    td class="n" { (held.get(l.id.as_str()).copied().unwrap_or(0)) " / " (l.capacity) }
                                    td class="n" { (offers.iter().filter(|o| o.lawyer == l.id).count()) }
                                }
                            }
                        }
                    }
                }
            }
            section class="panel" id="queue" {
                h2 { (t("一般队列", "Normal queue")) }
                @if queue.is_empty() { p class="muted" { (t("无", "None")) } } @else {
                    table class="cards" {
                        thead { tr { th { (t("编号", "Ticket")) } th { (t("事项", "Matter")) } th { (t("登记时间", "Created")) } } }
                        tbody {
                            @for tk in &queue {
                                tr { td { (ticket_link(&tk.number)) } td { (value(viewer.lang, tk.matter.map(|m| m.as_str()).unwrap_or("unknown"))) } td { (time(tk.created_at)) } }
                            }
                        }
                    }
                }
            }
            section class="panel" id="matrix" {
                h2 { (t("按紧急程度与状态", "By urgency and state")) }
                table {
                    thead { tr { th {} @for s in &states { th { (value(viewer.lang, s)) } } } }
                    tbody {
                        @for u in urgencies {
                            @if states.iter().any(|s| matrix.contains_key(&(u, *s))) {
                                tr class=(u) {
                                    th { (value(viewer.lang, u)) }
                                    @for s in &states { td class="n" { (matrix.get(&(u, *s)).copied().unwrap_or(0)) } }
                                }
                            }
                        }
                    }
                }
            }
            section class="panel" id="calls" {
                h2 { (t("IVR 当前通话", "Calls in the IVR now")) }
                @if calls.is_empty() { p class="muted" { (t("无", "None")) } } @else {
                    table class="cards" {
                        thead { tr { th { (t("来电", "Caller")) } th { (t("状态", "State")) } th { (t("菜单位置", "Menu node")) } th { (t("时长", "Duration")) } th { (t("IVR 节点", "IVR node")) } } }
                        tbody {
                            @for c in &calls {
                                tr { td { (c.call.caller) } td { (c.call.state) } td { (c.call.position) } td class="n" { (c.call.duration_seconds) " s" } td { (c.ivr_node) } }
                            }
                        }
                    }
                }
            }
        }
        p class="muted" { (t("更新于", "Updated")) " " (time(now)) }
    })
}

/// Whether `event` (with its ticket's center) changes what `who` sees,
/// and whether it is a new offer to them.
fn concerns(
    who: &Principal,
    event: &crate::tickets::TicketEvent,
    center: Option<&str>,
) -> (bool, bool) {
    match who.lawyer_id() {
        Some(me) => {
            let mine = event.lawyer.as_deref() == Some(me);
            let offer = mine && event.kind == crate::tickets::EventKind::Offered;
            (mine, offer)
        }
        None => (center.is_none_or(|c| who.oversees(c)), false),
    }
}

/// `/events`: server-sent events telling an open page to refresh its live
/// part (`refresh`), that a new offer arrived (`offer`), or that the
/// session ended (`end`).
pub async fn events(
    State(console): State<Console>,
    headers: HeaderMap,
    viewer: Viewer,
    Query(q): Query<EventsQuery>,
) -> Result<Response, WebError> {
    let slot = console.gate.open_stream(&viewer.who)?;
    let session = cookie(&headers, SESSION_COOKIE)
        .unwrap_or_default()
        .to_owned();
    // A ticket's page refreshes on that ticket's events only.
    let only = q
        .ticket
        .as_deref()
        .and_then(|n| TicketNumber::parse(n).ok());
    // Where this stream starts is fixed before the page hears it is open,
    // so nothing committed after that is missed.
    let recent = console.recent.clone();
    let mut cursor = match recent.cursor() {
        Some(c) => c,
        None => console.ticketing.latest_event_id().await?,
    };
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    // A (re)connected page may have missed events while it was away.
    let _ = tx.try_send(Ok(Event::default().event("refresh").data("refresh")));
    tokio::spawn(async move {
        let _slot = slot;
        let mut calls_seen = String::new();
        let mut last_check = tokio::time::Instant::now();
        loop {
            let arrived = recent.arrived().notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let (mut refresh, mut offer) = (false, false);
            let mut alert = false;
            match recent.after(cursor, 4096) {
                Some(batch) => {
                    let mut seen = Vec::new();
                    for (event, center) in &batch {
                        let (r, o) = concerns(&viewer.who, event, center.as_deref());
                        let r = r && only.as_ref().is_none_or(|n| *n == event.ticket_number);
                        refresh |= r;
                        offer |= o;
                        cursor = event.id;
                        if r {
                            seen.push(event.ticket_number.clone());
                        }
                    }
                    // Any event of a major case (重点督办) alerts supervisors.
                    if !seen.is_empty() && viewer.who.role != Role::Lawyer {
                        let center = viewer.who.center.as_deref();
                        if let Ok(major) = console.ticketing.major_cases(center).await {
                            alert = seen.iter().any(|n| major.contains(n));
                        }
                    }
                }
                None => {
                    // The reader moved on without us: start again from now.
                    refresh = true;
                    cursor = recent
                        .cursor()
                        .unwrap_or(console.ticketing.latest_event_id().await.unwrap_or(cursor));
                }
            }
            if viewer.who.role != Role::Lawyer && only.is_none() {
                let center = viewer.who.center.as_ref().map(|c| [c.clone()]);
                let (calls, _) = console
                    .ticketing
                    .ivr_calls(center.as_ref().map(|c| c.as_slice()));
                let seen = calls
                    .iter()
                    .map(|c| format!("{}:{}:{}", c.call.call_id, c.call.state, c.call.position))
                    .collect::<Vec<_>>()
                    .join(",");
                if seen != calls_seen {
                    calls_seen = seen;
                    refresh = true;
                }
            }
            let message = if alert {
                Some("alert")
            } else if offer {
                Some("offer")
            } else if refresh {
                Some("refresh")
            } else {
                None
            };
            if let Some(name) = message {
                if tx
                    .send(Ok(Event::default().event(name).data(name)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            // A revoked token or an ended session ends the stream.
            if last_check.elapsed() >= crate::api::gate::STREAM_RECHECK {
                last_check = tokio::time::Instant::now();
                if console.ticketing.session(&session).await.is_err() {
                    let _ = tx.send(Ok(Event::default().event("end").data("end"))).await;
                    return;
                }
            }
            tokio::select! {
                () = &mut arrived => {}
                () = tokio::time::sleep(IDLE_CHECK) => {}
                () = tx.closed() => return,
            }
        }
    });
    let stream: ReceiverStream<Result<Event, Infallible>> = ReceiverStream::new(rx);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
