//! `hotline.v1.RoutingService`: the roster, the lawyer's side of offers
//! (acknowledge, decline, start, close, their work), the streams, and the
//! reconciliation check. A lawyer acts as the lawyer their token names; a
//! `lawyer` field in the request, if given, must agree with it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use hotline_domain::{Matter, TicketNumber, TicketState};
use hotline_proto::v1 as pb;
use hotline_proto::v1::routing_service_server::RoutingService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::convert::{self, field_error, parse_number, Numbers};
use super::gate::{Gate, Method};
use super::wakes::{with_centers, LawyerWakes, RecentEvents};
use crate::auth::{Principal, Role};
use crate::routing::RosterError;
use crate::routing::{Lawyer, Offer};
use crate::service::Ticketing;
use crate::tickets::lifecycle::Move;
use crate::tickets::{EventKind, TicketEvent};

/// How often a stream looks for new events when nothing woke it.
const POLL: Duration = Duration::from_millis(100);
/// The same for a lawyer's stream, which the event reader wakes
/// ([`super::wakes`]); this only bounds a missed wake.
const LAWYER_POLL: Duration = Duration::from_secs(1);
/// Events sent per query; a stream that far behind catches up in batches.
const BATCH: i64 = 200;

#[derive(Clone)]
pub struct RoutingApi {
    ticketing: Ticketing,
    gate: Gate,
    /// The latest events, read once per commit for every supervisors'
    /// stream of this node.
    recent: Arc<RecentEvents>,
    /// Wakes each lawyer's streams when an event names the lawyer.
    lawyer_wakes: Arc<LawyerWakes>,
}

impl RoutingApi {
    pub fn new(
        ticketing: Ticketing,
        gate: Gate,
        recent: Arc<RecentEvents>,
        lawyer_wakes: Arc<LawyerWakes>,
    ) -> Self {
        Self {
            ticketing,
            gate,
            recent,
            lawyer_wakes,
        }
    }
}

/// The name a lawyer's stream gives an event, if it shows that kind.
fn offer_event_name(kind: EventKind) -> Option<&'static str> {
    match kind {
        EventKind::Offered => Some("offered"),
        EventKind::OfferExpired => Some("withdrawn"),
        EventKind::OfferReminder => Some("reminder"),
        EventKind::OfferAcknowledged => Some("acknowledged"),
        EventKind::OfferDeclined => Some("declined"),
        EventKind::OfferWithdrawn => Some("withdrawn"),
        EventKind::Reassigned => Some("reassigned"),
        EventKind::Assigned => Some("assigned"),
        _ => None,
    }
}

fn roster_error(e: RosterError) -> Status {
    match e {
        RosterError::UnknownLawyer(_) | RosterError::UnknownShift(_) => {
            Status::not_found(e.to_string())
        }
        _ => Status::failed_precondition(e.to_string()),
    }
}

fn required<'a>(field: &str, value: &'a str) -> Result<&'a str, Status> {
    let v = value.trim();
    if v.is_empty() {
        Err(field_error(field, "is required"))
    } else if v.len() > 200 {
        Err(field_error(field, "is at most 200 characters"))
    } else {
        Ok(v)
    }
}

/// RFC 3339, or a local time (`2026-03-02T08:00`) or date (midnight)
/// meaning Asia/Shanghai.
pub(crate) fn instant(field: &str, text: &str) -> Result<DateTime<Utc>, Status> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_time(chrono::NaiveTime::MIN));
    let times = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        .into_iter()
        .filter_map(|format| NaiveDateTime::parse_from_str(text, format).ok());
    for local in date.into_iter().chain(times) {
        if let Some(t) = local
            .and_local_timezone(hotline_domain::shanghai())
            .single()
        {
            return Ok(t.with_timezone(&Utc));
        }
    }
    Err(field_error(
        field,
        &format!("`{text}` is not RFC 3339 (2026-03-02T08:00:00+08:00) nor a local time or date"),
    ))
}

/// Offer times as people read them: Asia/Shanghai, to the second.
fn rfc3339(t: DateTime<Utc>) -> String {
    hotline_domain::shown_time(t)
}

/// Shift bounds in Asia/Shanghai, to the second unless the shift was set
/// finer: an exported roster must import to the same instants.
pub(crate) fn shift_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&hotline_domain::shanghai())
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

pub(crate) fn lawyer_to_pb(l: &Lawyer) -> pb::Lawyer {
    pb::Lawyer {
        id: l.id.clone(),
        center: l.center.clone(),
        name: l.name.clone(),
        phone: l.phone.clone(),
        sip_uri: l.sip_uri.clone(),
        skills: l.skills.clone(),
        regions: l.regions.clone(),
        languages: l.languages.clone(),
        capacity: l.capacity,
        active: l.active,
    }
}

fn offer_to_pb(o: &Offer) -> pb::Offer {
    pb::Offer {
        id: o.id,
        number: o.ticket.to_string(),
        lawyer: o.lawyer.clone(),
        round: o.round,
        state: o.state.to_string(),
        offered_at: rfc3339(o.offered_at),
        ack_deadline: rfc3339(o.ack_deadline),
        reason: o.reason.clone(),
    }
}

pub(crate) fn lawyer_from_pb(l: pb::Lawyer) -> Result<Lawyer, Status> {
    let id = required("id", &l.id)?.to_owned();
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
    {
        return Err(field_error("id", "letters, digits and - _ . @ only"));
    }
    let phone = hotline_domain::PhoneNumber::parse(&l.phone)
        .map_err(|e| field_error("phone", &e.to_string()))?;
    for skill in &l.skills {
        Matter::parse(skill).map_err(|e| field_error("skills", &e.to_string()))?;
    }
    for region in &l.regions {
        hotline_domain::RegionCode::parse(region)
            .map_err(|e| field_error("regions", &e.to_string()))?;
    }
    for language in &l.languages {
        hotline_domain::Language::parse(language)
            .map_err(|e| field_error("languages", &e.to_string()))?;
    }
    if !(1..=1000).contains(&l.capacity) {
        return Err(field_error("capacity", "must be 1 to 1000"));
    }
    // Only this plain form is ever dialled when the lawyer is paged.
    let sip_uri = match l
        .sip_uri
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(text) => Some(
            hotline_domain::SipUri::parse(text)
                .map_err(|e| field_error("sip_uri", &e.to_string()))?
                .to_string(),
        ),
        None => None,
    };
    let center = if l.center.trim().is_empty() {
        "default".to_owned()
    } else {
        required("center", &l.center)?.to_owned()
    };
    Ok(Lawyer {
        id,
        center,
        name: required("name", &l.name)?.to_owned(),
        phone: phone.as_str().to_owned(),
        sip_uri,
        skills: l.skills,
        regions: l.regions,
        languages: if l.languages.is_empty() {
            vec!["zh".into()]
        } else {
            l.languages
        },
        capacity: l.capacity,
        active: l.active,
    })
}

impl RoutingApi {
    async fn ticket_pb(&self, number: &hotline_domain::TicketNumber) -> Result<pb::Ticket, Status> {
        let t = self.ticketing.ticket(number).await?;
        Ok(convert::ticket_to_pb(
            &t,
            self.ticketing.now(),
            Numbers::Masked,
        ))
    }

    /// The lawyer `who` acts as: their token's. A `lawyer` field naming
    /// someone else is refused (and audited).
    async fn acting_lawyer(
        &self,
        who: &Principal,
        method: Method,
        named: &str,
    ) -> Result<String, Status> {
        let own = who.lawyer_id().unwrap_or_default();
        let named = named.trim();
        if named.is_empty() || named == own {
            Ok(own.to_owned())
        } else {
            let why = format!("the token is lawyer `{own}`'s, the request names `{named}`");
            Err(self.gate.deny(who, method, None, &why).await)
        }
    }

    /// The center a supervisor's request is about: the one asked for, which
    /// must be theirs when their token names one.
    async fn center_of(
        &self,
        who: &Principal,
        method: Method,
        asked: &str,
    ) -> Result<String, Status> {
        let asked = asked.trim();
        // A lawyer's queue is their own center's.
        if let Some(lawyer) = who.lawyer_id() {
            let lawyers = self.ticketing.lawyers().await?;
            let own = lawyers
                .iter()
                .find(|l| l.id == lawyer)
                .map_or_else(|| "default".to_owned(), |l| l.center.clone());
            if asked.is_empty() || asked == own {
                return Ok(own);
            }
            let why = format!("lawyer `{lawyer}` works for center `{own}`, not `{asked}`");
            return Err(self.gate.deny(who, method, None, &why).await);
        }
        match (&who.center, who.role) {
            (Some(own), Role::Supervisor) if asked.is_empty() || asked == own => Ok(own.clone()),
            (Some(own), Role::Supervisor) => {
                let why = format!("the token covers center `{own}`, not `{asked}`");
                Err(self.gate.deny(who, method, None, &why).await)
            }
            _ if asked.is_empty() => Ok("default".to_owned()),
            _ => Ok(asked.to_owned()),
        }
    }

    /// A supervisor of one center may change only its lawyers' shifts.
    async fn check_lawyer_center(
        &self,
        who: &Principal,
        method: Method,
        lawyer: &str,
    ) -> Result<(), Status> {
        let Some(own) = who.center.as_ref().filter(|_| who.role == Role::Supervisor) else {
            return Ok(());
        };
        let lawyers = self.ticketing.lawyers().await?;
        match lawyers.iter().find(|l| l.id == lawyer) {
            Some(l) if &l.center != own => {
                let why = format!("lawyer `{lawyer}` belongs to center `{}`", l.center);
                Err(self.gate.deny(who, method, None, &why).await)
            }
            _ => Ok(()),
        }
    }

    /// A lawyer's offer events as the stream sends them. A whole batch
    /// costs one read of its tickets and one of its offers, so a stream that
    /// fell behind catches up in a few queries, not several per event.
    async fn offer_events(
        &self,
        who: &Principal,
        events: &[TicketEvent],
    ) -> Result<Vec<pb::OfferEvent>, Status> {
        let lawyer = who.lawyer_id().unwrap_or_default();
        let named: Vec<(&TicketEvent, &str)> = events
            .iter()
            .filter_map(|e| offer_event_name(e.kind).map(|name| (e, name)))
            .collect();
        let mut numbers: Vec<TicketNumber> =
            named.iter().map(|(e, _)| e.ticket_number.clone()).collect();
        numbers.sort();
        numbers.dedup();
        let now = self.ticketing.now();
        let (read, offers) = self
            .ticketing
            .tickets_and_offers_to(lawyer, &numbers)
            .await?;
        // The numbers in full on an offer (the lawyer may call at once),
        // each such read in the audit log; masked once the ticket is gone
        // from them (withdrawn, declined, reassigned).
        let announced: Vec<&TicketNumber> = named
            .iter()
            .filter(|(e, _)| matches!(e.kind, EventKind::Offered | EventKind::Assigned))
            .map(|(e, _)| &e.ticket_number)
            .collect();
        // In full only while the ticket is still theirs: a replay of old
        // offers (declined, withdrawn, reassigned) shows them masked.
        let revealed: Vec<&crate::tickets::Ticket> = read
            .iter()
            .filter(|t| announced.contains(&&t.number))
            .filter(|t| Ticketing::may_see_given(who, t, &offers))
            .collect();
        let full: Vec<&TicketNumber> = revealed.iter().map(|t| &t.number).collect();
        self.gate.audit_read(who, &revealed, None).await?;
        let tickets: HashMap<TicketNumber, pb::Ticket> = read
            .iter()
            .map(|t| {
                let numbers = if full.contains(&&t.number) {
                    Numbers::Full
                } else {
                    Numbers::Masked
                };
                (t.number.clone(), convert::ticket_to_pb(t, now, numbers))
            })
            .collect();
        named
            .into_iter()
            .map(|(e, name)| {
                // The deadline of the offer the event announced: the latest
                // offer of that ticket to this lawyer made by then.
                let ack_deadline = matches!(e.kind, EventKind::Offered | EventKind::OfferReminder)
                    .then(|| {
                        offers
                            .iter()
                            .rfind(|o| o.ticket == e.ticket_number && o.offered_at <= e.at)
                            .map(|o| rfc3339(o.ack_deadline))
                    })
                    .flatten();
                let ticket = tickets.get(&e.ticket_number).cloned().ok_or_else(|| {
                    Status::internal(format!("event {} names a missing ticket", e.id))
                })?;
                let reason = match e.kind {
                    EventKind::OfferExpired => {
                        Some("the acknowledgement deadline passed".to_owned())
                    }
                    EventKind::OfferWithdrawn
                    | EventKind::OfferDeclined
                    | EventKind::Reassigned
                    | EventKind::Assigned => e.reason.clone(),
                    _ => None,
                };
                Ok(pb::OfferEvent {
                    event_id: e.id,
                    event: name.to_owned(),
                    ticket: Some(ticket),
                    ack_deadline,
                    reason,
                })
            })
            .collect()
    }

    async fn case_move(
        &self,
        request: Request<pb::CaseActionRequest>,
        method: Method,
        to: TicketState,
    ) -> Result<pb::Ticket, Status> {
        let who = self.gate.admit(&request, method).await?;
        let request = request.into_inner();
        let lawyer = &self.acting_lawyer(&who, method, &request.lawyer).await?;
        let number = parse_number("number", &request.number)?;
        self.gate.ticket(&who, method, &number).await?;
        let mv = Move {
            outcome: request.outcome.filter(|o| !o.trim().is_empty()),
            ..Move::default()
        };
        let t = self
            .ticketing
            .move_case(&number, lawyer, to, mv)
            .await?
            .map_err(roster_error)?;
        Ok(convert::ticket_to_pb(
            &t,
            self.ticketing.now(),
            Numbers::Masked,
        ))
    }
}

type Stream<T> = ReceiverStream<Result<T, Status>>;

#[tonic::async_trait]
impl RoutingService for RoutingApi {
    async fn put_lawyer(
        &self,
        request: Request<pb::Lawyer>,
    ) -> Result<Response<pb::Lawyer>, Status> {
        self.gate.admit(&request, Method::PutLawyer).await?;
        let lawyer = lawyer_from_pb(request.into_inner())?;
        self.ticketing.put_lawyer(&lawyer).await?;
        Ok(Response::new(lawyer_to_pb(&lawyer)))
    }

    async fn list_lawyers(
        &self,
        request: Request<pb::ListLawyersRequest>,
    ) -> Result<Response<pb::ListLawyersResponse>, Status> {
        let who = self.gate.admit(&request, Method::ListLawyers).await?;
        let lawyers = self.ticketing.lawyers().await?;
        Ok(Response::new(pb::ListLawyersResponse {
            lawyers: lawyers
                .iter()
                .filter(|l| who.oversees(&l.center))
                .map(lawyer_to_pb)
                .collect(),
        }))
    }

    async fn add_shift(
        &self,
        request: Request<pb::AddShiftRequest>,
    ) -> Result<Response<pb::Shift>, Status> {
        let who = self.gate.admit(&request, Method::AddShift).await?;
        let r = request.into_inner();
        let lawyer = required("lawyer", &r.lawyer)?;
        self.check_lawyer_center(&who, Method::AddShift, lawyer)
            .await?;
        let from = instant("from", &r.from)?;
        let to = instant("to", &r.to)?;
        if to <= from {
            return Err(field_error("to", "must be after `from`"));
        }
        if to - from > chrono::Duration::days(7) {
            return Err(field_error("to", "a shift is at most 7 days"));
        }
        let shift = self
            .ticketing
            .add_shift(lawyer, from, to)
            .await?
            .map_err(roster_error)?;
        Ok(Response::new(pb::Shift {
            id: shift.id,
            lawyer: shift.lawyer,
            from: shift_time(shift.starts_at),
            to: shift_time(shift.ends_at),
        }))
    }

    async fn list_shifts(
        &self,
        request: Request<pb::ListShiftsRequest>,
    ) -> Result<Response<pb::ListShiftsResponse>, Status> {
        self.gate.admit(&request, Method::ListShifts).await?;
        let after = match request.get_ref().after.as_str() {
            "" => None,
            text => Some(instant("after", text)?),
        };
        let shifts = self.ticketing.shifts(after).await?;
        Ok(Response::new(pb::ListShiftsResponse {
            shifts: shifts
                .into_iter()
                .map(|s| pb::Shift {
                    id: s.id,
                    lawyer: s.lawyer,
                    from: shift_time(s.starts_at),
                    to: shift_time(s.ends_at),
                })
                .collect(),
        }))
    }

    async fn swap_shift(
        &self,
        request: Request<pb::SwapShiftRequest>,
    ) -> Result<Response<pb::Shift>, Status> {
        let who = self.gate.admit(&request, Method::SwapShift).await?;
        let r = request.into_inner();
        let lawyer = required("to_lawyer", &r.to_lawyer)?;
        self.check_lawyer_center(&who, Method::SwapShift, lawyer)
            .await?;
        // The shift given away must be of the supervisor's center too.
        if let Some(from) = self.ticketing.shift_lawyer(r.shift).await? {
            self.check_lawyer_center(&who, Method::SwapShift, &from)
                .await?;
        }
        let shift = self
            .ticketing
            .swap_shift(r.shift, lawyer)
            .await?
            .map_err(roster_error)?;
        Ok(Response::new(pb::Shift {
            id: shift.id,
            lawyer: shift.lawyer,
            from: shift_time(shift.starts_at),
            to: shift_time(shift.ends_at),
        }))
    }

    async fn queue(
        &self,
        request: Request<pb::QueueRequest>,
    ) -> Result<Response<pb::ListTicketsResponse>, Status> {
        let who = self.gate.admit(&request, Method::Queue).await?;
        let r = request.into_inner();
        let center = self.center_of(&who, Method::Queue, &r.center).await?;
        let limit = i64::from(if r.limit == 0 { 50 } else { r.limit.min(500) });
        let now = self.ticketing.now();
        let tickets = self.ticketing.queue(&center, limit).await?;
        Ok(Response::new(pb::ListTicketsResponse {
            tickets: tickets
                .iter()
                .map(|t| convert::ticket_to_pb(t, now, Numbers::Masked))
                .collect(),
            next_page_token: String::new(),
        }))
    }

    async fn pull(
        &self,
        request: Request<pb::OfferActionRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let who = self.gate.admit(&request, Method::Pull).await?;
        let r = request.into_inner();
        let lawyer = &self.acting_lawyer(&who, Method::Pull, &r.lawyer).await?;
        let number = parse_number("number", &r.number)?;
        self.ticketing
            .pull(&number, lawyer)
            .await?
            .map_err(roster_error)?;
        Ok(Response::new(self.ticket_pb(&number).await?))
    }

    async fn reassign(
        &self,
        request: Request<pb::ReassignRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let who = self.gate.admit(&request, Method::Reassign).await?;
        let actor = who.actor();
        let r = request.into_inner();
        let number = parse_number("number", &r.number)?;
        self.gate.ticket(&who, Method::Reassign, &number).await?;
        let lawyer = required("to_lawyer", &r.to_lawyer)?;
        let reason = required("reason", &r.reason)?;
        self.ticketing
            .reassign(&number, lawyer, reason, &actor)
            .await?
            .map_err(roster_error)?;
        Ok(Response::new(self.ticket_pb(&number).await?))
    }

    async fn on_duty(
        &self,
        request: Request<pb::OnDutyRequest>,
    ) -> Result<Response<pb::ListLawyersResponse>, Status> {
        let who = self.gate.admit(&request, Method::OnDuty).await?;
        let r = request.into_inner();
        let at = if r.at.is_empty() {
            None
        } else {
            Some(instant("at", &r.at)?)
        };
        let center = self.center_of(&who, Method::OnDuty, &r.center).await?;
        let lawyers = self.ticketing.on_duty(&center, at).await?;
        Ok(Response::new(pb::ListLawyersResponse {
            lawyers: lawyers.iter().map(lawyer_to_pb).collect(),
        }))
    }

    async fn acknowledge(
        &self,
        request: Request<pb::OfferActionRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let who = self.gate.admit(&request, Method::Acknowledge).await?;
        let r = request.into_inner();
        let lawyer = &self
            .acting_lawyer(&who, Method::Acknowledge, &r.lawyer)
            .await?;
        let number = parse_number("number", &r.number)?;
        self.gate.ticket(&who, Method::Acknowledge, &number).await?;
        self.ticketing
            .acknowledge(&number, lawyer)
            .await?
            .map_err(roster_error)?;
        Ok(Response::new(self.ticket_pb(&number).await?))
    }

    async fn decline(
        &self,
        request: Request<pb::OfferActionRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        let who = self.gate.admit(&request, Method::Decline).await?;
        let r = request.into_inner();
        let lawyer = &self.acting_lawyer(&who, Method::Decline, &r.lawyer).await?;
        let number = parse_number("number", &r.number)?;
        self.gate.ticket(&who, Method::Decline, &number).await?;
        let reason = required("reason", r.reason.as_deref().unwrap_or_default())?;
        self.ticketing
            .decline(&number, lawyer, reason)
            .await?
            .map_err(roster_error)?;
        Ok(Response::new(self.ticket_pb(&number).await?))
    }

    async fn start_case(
        &self,
        request: Request<pb::CaseActionRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        Ok(Response::new(
            self.case_move(request, Method::StartCase, TicketState::InProgress)
                .await?,
        ))
    }

    async fn close_case(
        &self,
        request: Request<pb::CaseActionRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        Ok(Response::new(
            self.case_move(request, Method::CloseCase, TicketState::Closed)
                .await?,
        ))
    }

    async fn my_work(
        &self,
        request: Request<pb::MyWorkRequest>,
    ) -> Result<Response<pb::MyWorkResponse>, Status> {
        let who = self.gate.admit(&request, Method::MyWork).await?;
        let named = &request.get_ref().lawyer;
        let lawyer = if who.role == Role::Lawyer {
            self.acting_lawyer(&who, Method::MyWork, named).await?
        } else {
            let lawyer = required("lawyer", named)?;
            self.check_lawyer_center(&who, Method::MyWork, lawyer)
                .await?;
            lawyer.to_owned()
        };
        let (tickets, offers) = self.ticketing.work_of(&lawyer).await?;
        let now = self.ticketing.now();
        let callbacks = if who.role == Role::Lawyer {
            super::callbacks::visible(
                &self.ticketing,
                &self.gate,
                &who,
                Method::MyWork,
                None,
                None,
            )
            .await?
        } else {
            Vec::new()
        };
        // The lawyer's own cases carry the numbers to call; a supervisor
        // looking on sees them masked.
        let numbers = if who.role == Role::Lawyer {
            let shown: Vec<&crate::tickets::Ticket> = tickets.iter().collect();
            self.gate.audit_read(&who, &shown, None).await?;
            Numbers::Full
        } else {
            Numbers::Masked
        };
        Ok(Response::new(pb::MyWorkResponse {
            tickets: tickets
                .iter()
                .map(|t| convert::ticket_to_pb(t, now, numbers))
                .collect(),
            offers: offers.iter().map(offer_to_pb).collect(),
            callbacks: callbacks
                .iter()
                .map(super::callbacks::callback_to_pb)
                .collect(),
        }))
    }

    type WatchOffersStream = Stream<pb::OfferEvent>;

    async fn watch_offers(
        &self,
        request: Request<pb::WatchOffersRequest>,
    ) -> Result<Response<Self::WatchOffersStream>, Status> {
        let who = self.gate.admit(&request, Method::WatchOffers).await?;
        let slot = self.gate.open_stream(&who)?;
        let token = super::gate::bearer(&request);
        let r = request.into_inner();
        let lawyer = self
            .acting_lawyer(&who, Method::WatchOffers, &r.lawyer)
            .await?;
        if r.after_event_id < 0 {
            return Err(field_error("after_event_id", "must be 0 or an event id"));
        }
        let (tx, rx) = mpsc::channel(64);
        let api = self.clone();
        let wake = self.lawyer_wakes.subscribe(&lawyer);
        tokio::spawn(async move {
            let _slot = slot;
            let mut cursor = r.after_event_id;
            let mut checked = std::time::Instant::now();
            let mut retry = super::wakes::HeldRetry::default();
            loop {
                if checked.elapsed() >= super::gate::STREAM_RECHECK {
                    if let Err(status) = api.gate.still_valid(token.as_deref()).await {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                    checked = std::time::Instant::now();
                }
                // Registered before the query: a commit during it still wakes us.
                let woken = wake.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                let (events, held) = match api
                    .ticketing
                    .events_after_held(cursor, Some(&lawyer), BATCH)
                    .await
                {
                    Ok(read) => read,
                    Err(e) => {
                        let _ = tx.send(Err(Status::from(e))).await;
                        return;
                    }
                };
                let items = match api.offer_events(&who, &events).await {
                    Ok(items) => items,
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                };
                for item in items {
                    if tx.send(Ok(item)).await.is_err() {
                        return;
                    }
                }
                if let Some(last) = events.last() {
                    cursor = last.id;
                }
                // Less than a full batch: all there was to deliver, unless
                // some were held (then `retry` looks again soon). `woken`
                // was registered before the read, so the node's reader
                // waking us for anything it reads after is not missed, and
                // no second read is needed to learn that nothing is new.
                if (events.len() as i64) < BATCH {
                    if tx.is_closed() {
                        return;
                    }
                    let wait = retry.wait(held, !events.is_empty(), LAWYER_POLL);
                    tokio::select! {
                        () = woken => {}
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type WatchEventsStream = Stream<pb::TicketEvent>;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let who = self.gate.admit(&request, Method::WatchEvents).await?;
        let slot = self.gate.open_stream(&who)?;
        let token = super::gate::bearer(&request);
        let gate = self.gate.clone();
        let after = request.get_ref().after_event_id;
        if after < 0 {
            return Err(field_error("after_event_id", "must be 0 or an event id"));
        }
        let (tx, rx) = mpsc::channel(256);
        let ticketing = self.ticketing.clone();
        // A supervisor of one center follows that center's tickets.
        let center = who.center.clone().filter(|_| who.role == Role::Supervisor);
        let recent = self.recent.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut cursor = after;
            let mut checked = std::time::Instant::now();
            loop {
                if checked.elapsed() >= super::gate::STREAM_RECHECK {
                    if let Err(status) = gate.still_valid(token.as_deref()).await {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                    checked = std::time::Instant::now();
                }
                // Registered before reading: events arriving meanwhile still wake us.
                let woken = recent.arrived().notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                // Caught up: the node's reader has the events. Behind: read
                // the log until the window is reached.
                let events = match recent.after(cursor, BATCH as usize) {
                    Some(events) => events,
                    None => {
                        let read = match ticketing.events_after(cursor, None, BATCH).await {
                            Ok(events) => with_centers(&ticketing, events).await,
                            Err(e) => Err(e),
                        };
                        match read {
                            Ok(events) => events,
                            Err(e) => {
                                let _ = tx.send(Err(Status::from(e))).await;
                                return;
                            }
                        }
                    }
                };
                for (e, of_center) in &events {
                    cursor = e.id;
                    if center.is_some() && of_center != &center {
                        continue;
                    }
                    if tx.send(Ok(convert::event_to_pb(e))).await.is_err() {
                        return;
                    }
                }
                if events.is_empty() {
                    if tx.is_closed() {
                        return;
                    }
                    tokio::select! {
                        () = woken => {}
                        () = tokio::time::sleep(POLL) => {}
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type TakePagesStream = super::paging::PageStream;

    async fn take_pages(
        &self,
        request: Request<pb::TakePagesRequest>,
    ) -> Result<Response<Self::TakePagesStream>, Status> {
        super::paging::take_pages(&self.ticketing, &self.gate, request).await
    }

    async fn report_page(
        &self,
        request: Request<pb::PageReport>,
    ) -> Result<Response<pb::PageReceipt>, Status> {
        super::paging::report_page(&self.ticketing, &self.gate, request).await
    }

    type TakeBridgesStream = super::bridges::BridgeStream;

    async fn take_bridges(
        &self,
        request: Request<pb::TakeBridgesRequest>,
    ) -> Result<Response<Self::TakeBridgesStream>, Status> {
        super::bridges::take_bridges(&self.ticketing, &self.gate, request).await
    }

    async fn report_bridge(
        &self,
        request: Request<pb::BridgeReport>,
    ) -> Result<Response<pb::BridgeReceipt>, Status> {
        super::bridges::report_bridge(&self.ticketing, &self.gate, request).await
    }

    async fn check(
        &self,
        request: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        self.gate.admit(&request, Method::Check).await?;
        let grace = request.get_ref().grace_seconds;
        if !(0..=86_400).contains(&grace) {
            return Err(field_error("grace_seconds", "must be 0 to 86400"));
        }
        let problems = self
            .ticketing
            .check(chrono::Duration::seconds(grace))
            .await?;
        Ok(Response::new(pb::CheckResponse {
            problems: problems.iter().map(ToString::to_string).collect(),
        }))
    }
}
