//! Group commit for new tickets. Creates that arrive together wait in one
//! queue; the process's create writer takes everything waiting (up to [`MAX_BATCH`]) and writes
//! it — each ticket, its `created` event and its first offer — in one
//! transaction, so one commit (one fsync) serves them all, and it answers
//! each caller only after that commit. Under light load a batch is a single
//! ticket and nothing waits for company; under heavy load the commits per
//! second stay few while the tickets per second grow.
//!
//! A batch is written with a handful of statements whatever its size: its
//! BEGIN, one read of the keys already used and the numbers already
//! taken, one multi-row INSERT each for tickets, events, routing rows,
//! offers and pages, and one roster read per center (with the phones a
//! page needs). Statements, not fsyncs, were
//! what a create cost (sqlx runs each one through a round trip, in-process
//! for SQLite too), so writing a ticket alone is the same code with a batch
//! of one.
//!
//! Should anything in a batch fail (a unique key raced by another node, a
//! random number that collided, a lost connection), the batch is rolled
//! back and each of its tickets is written alone, with the retries a single
//! create has: one bad ticket costs the others only time, and each caller
//! gets its own answer.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use hotline_domain::{
    Document, HardshipBasis, Matter, PhoneNumber, RegionCode, TicketNumber, TicketState,
};
// Dynamic SQL here is built from constant fragments and `$n` placeholders,
// never from input: every value is bound.
use sqlx::{Any, AssertSqlSafe, Transaction};
use tokio::sync::{mpsc, oneshot};
use tracing::{warn, Instrument};

use super::offers::{
    escalation_note, ms, offer_event_note, offer_note, RosterShift, ROUTING_ACTOR,
};
use super::tickets::{flag, ticket_from_row, warnings_json, NUMBER_ATTEMPTS, TICKET_COLUMNS};
use super::{get, placeholders, Store, StoreError};
use crate::paging::PagingPolicy;
use crate::routing::policy::{self, Candidate, Need, Step};
use crate::routing::{seeks_lawyer, RoutingPolicy};
use crate::tickets::{Assessed, EventKind, NewTicket, Ticket};

/// The most tickets one transaction writes: enough to absorb a burst, few
/// enough that the first caller of a batch does not wait long for the last.
pub(super) const MAX_BATCH: usize = 256;

/// Creates waiting for a writer; past this, callers wait to enqueue.
const QUEUE: usize = 4096;

// `shape_ranges` halves row counts from MAX_BATCH down to 1.
const _: () = assert!(MAX_BATCH.is_power_of_two());

/// One create, as the caller asked for it.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub new: NewTicket,
    pub assessed: Assessed,
    /// Route the ticket (its first offer) when it is urgent.
    pub routing: Option<Arc<RoutingPolicy>>,
    pub now: DateTime<Utc>,
}

struct Job {
    request: Arc<CreateRequest>,
    /// What the batch wrote for this request; an existing ticket is read by
    /// the caller, not by the writer the next batch waits on.
    reply: oneshot::Sender<Result<Created, StoreError>>,
}

/// The queue to this process's create writer, started by the first create
/// (in its runtime).
#[derive(Default)]
pub(super) struct CreateQueue(OnceLock<mpsc::Sender<Job>>);

impl Store {
    /// Creates these tickets in one transaction, exactly as a batch of
    /// concurrent creates is written: each ticket what it would be written
    /// alone, routed one after the other (the `created` events of the batch
    /// come before its offer events). The outcomes in order; nothing is
    /// written if any fails.
    pub async fn create_together(
        &self,
        requests: &[CreateRequest],
    ) -> Result<Vec<(Ticket, bool)>, StoreError> {
        let requests: Vec<&CreateRequest> = requests.iter().collect();
        let mut tx = self.begin_write().await?;
        let created = self.create_all(&mut tx, &requests).await?;
        tx.commit().await?;
        self.committed();
        let mut outcomes = Vec::with_capacity(created.len());
        for created in created {
            outcomes.push(self.created(created).await?);
        }
        Ok(outcomes)
    }

    pub(super) async fn create_batched(
        &self,
        request: Arc<CreateRequest>,
    ) -> Result<(Ticket, bool), StoreError> {
        let queue = self.creates.0.get_or_init(|| self.start_writer());
        let (reply, answer) = oneshot::channel();
        let job = Job {
            request: request.clone(),
            reply,
        };
        if queue.send(job).await.is_err() {
            // The writer is gone with the runtime that started it.
            tracing::warn!("the create writer is gone; writing the ticket alone");
            return self.created(self.create_alone(&request).await?).await;
        }
        match answer.await {
            Ok(created) => self.created(created?).await,
            // The writer ended without answering (its runtime is shutting
            // down): written alone, the idempotency key finds the ticket
            // should the batch have committed.
            Err(_) => {
                tracing::warn!("the create writer ended; writing the ticket alone");
                self.created(self.create_alone(&request).await?).await
            }
        }
    }

    /// One writer per process, on either backend: SQLite writes one
    /// transaction at a time anyway, and on PostgreSQL the routing of a
    /// center is serialised too (`lock_centers`); measured, two or four
    /// writers were no faster than one (bench `create_rate`).
    fn start_writer(&self) -> mpsc::Sender<Job> {
        let (sender, receiver) = mpsc::channel(QUEUE);
        // The writer's copy has a queue of its own (never started): it must
        // not keep the callers' queue open, so the writer ends when the last
        // `Store` of the callers is dropped.
        let store = Store {
            creates: Arc::default(),
            audits: Arc::default(),
            ..self.clone()
        };
        tokio::spawn(async move { store.write_batches(receiver).await });
        sender
    }

    async fn write_batches(self, mut receiver: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        // Everything waiting, up to MAX_BATCH: while one batch is written
        // the next gathers.
        while receiver.recv_many(&mut jobs, MAX_BATCH).await > 0 {
            let span = tracing::debug_span!("create_batch", tickets = jobs.len());
            self.write_batch(&mut jobs).instrument(span).await;
        }
    }

    async fn write_batch(&self, jobs: &mut Vec<Job>) {
        // A caller that gave up before its turn (its deadline passed) is
        // not written: as when a lone create's transaction was dropped, it
        // retries with the same key.
        jobs.retain(|job| !job.reply.is_closed());
        // A center whose routing lock another node holds past the lock
        // timeout fails its own tickets; the rest of the batch is written
        // without them, at once.
        while let Some(busy) = self.write_batch_once(jobs).await {
            let failed = StoreError::CenterBusy(busy.clone());
            let (stuck, rest): (Vec<Job>, Vec<Job>) = jobs
                .drain(..)
                .partition(|job| job.request.new.center == busy);
            tracing::warn!(
                center = %busy,
                failed = stuck.len(),
                written_without_them = rest.len(),
                "a center's routing lock was held past the lock timeout; its creates failed"
            );
            let none_stuck = stuck.is_empty();
            for job in stuck {
                let _ = job.reply.send(Err(again(&failed)));
            }
            jobs.extend(rest);
            if none_stuck {
                // Not a center of this batch's tickets: nothing to leave out.
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(again(&failed)));
                }
            }
        }
    }

    /// Writes `jobs` as one batch and answers each, or returns the center
    /// whose routing lock timed out, its jobs unanswered.
    async fn write_batch_once(&self, jobs: &mut Vec<Job>) -> Option<String> {
        if jobs.is_empty() {
            return None;
        }
        let started = std::time::Instant::now();
        match self.try_batch(jobs).await {
            Ok(created) => {
                // The span carries the batch's size.
                tracing::debug!(
                    elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                    "batch of creates committed"
                );
                for (job, created) in jobs.drain(..).zip(created) {
                    // A caller that went away lost only the answer: its
                    // ticket is committed, and its retry finds it by key.
                    let _ = job.reply.send(Ok(created));
                }
            }
            Err(StoreError::CenterBusy(busy)) => return Some(busy),
            // The database itself is out of reach: writing each ticket
            // alone would make the last caller wait out every timeout.
            Err(StoreError::Database(e)) if unreachable(&e) => {
                tracing::warn!(error = %e, tickets = jobs.len(), "batch of creates failed");
                let e = StoreError::Database(e);
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(again(&e)));
                }
            }
            Err(e) => {
                if jobs.len() > 1 {
                    tracing::debug!(error = %e, "batch rolled back; writing its tickets one by one");
                }
                let mut down: Option<StoreError> = None;
                for job in jobs.drain(..) {
                    let outcome = match &down {
                        Some(e) => Err(again(e)),
                        None => self.create_alone(&job.request).await,
                    };
                    // Out of reach now: the rest fail at once, not one
                    // timeout after another.
                    if let Err(e @ StoreError::Database(db)) = &outcome {
                        if unreachable(db) && down.is_none() {
                            down = Some(again(e));
                        }
                    }
                    let _ = job.reply.send(outcome);
                }
            }
        }
        None
    }

    async fn try_batch(&self, jobs: &[Job]) -> Result<Vec<Created>, StoreError> {
        let requests: Vec<&CreateRequest> = jobs.iter().map(|j| &*j.request).collect();
        let mut tx = self.begin_write().await?;
        let created = self.create_all(&mut tx, &requests).await?;
        tx.commit().await?;
        self.committed();
        Ok(created)
    }

    /// One create in a transaction of its own, retried when a unique
    /// constraint fired: two creates raced on one key (the next attempt
    /// sees the winner) or a random number collided (it draws another).
    pub(super) async fn create_alone(
        &self,
        request: &CreateRequest,
    ) -> Result<Created, StoreError> {
        for attempt in 0..NUMBER_ATTEMPTS {
            let outcome = async {
                let mut tx = self.begin_write().await?;
                let mut created = self.create_all(&mut tx, &[request]).await?;
                tx.commit().await?;
                self.committed();
                created
                    .pop()
                    .ok_or_else(|| StoreError::Corrupt("a create wrote nothing".into()))
            }
            .await;
            match outcome {
                Ok(created) => return Ok(created),
                Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                    tracing::debug!(attempt, "create retried after a unique violation");
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::NumbersExhausted(NUMBER_ATTEMPTS))
    }

    /// The caller's answer for a committed [`Created`].
    async fn created(&self, created: Created) -> Result<(Ticket, bool), StoreError> {
        match created {
            Created::New(ticket) => Ok((*ticket, true)),
            Created::Existing(id) => Ok((self.ticket_by_id(id).await?, false)),
        }
    }

    /// Writes the tickets of `requests` in the caller's transaction: each
    /// ticket's row, its `created` event, and for an urgent ticket with a
    /// routing policy its first offer (or escalation), exactly as routing a
    /// stored ticket would, in the order of `requests`. Returns one
    /// [`Created`] per request, in order.
    async fn create_all(
        &self,
        tx: &mut Transaction<'static, Any>,
        requests: &[&CreateRequest],
    ) -> Result<Vec<Created>, StoreError> {
        // 1. Keys an earlier create used, and which of the numbers drawn
        //    (or proposed) are taken, in one read; within the batch, the
        //    first request of a key creates and the others find its ticket.
        let drawn: Vec<TicketNumber> = requests
            .iter()
            .map(|r| match &r.new.proposed_number {
                Some(proposed) => proposed.clone(),
                None => TicketNumber::random(&mut rand::rng()),
            })
            .collect();
        let (mut known, taken) = used_keys_and_numbers(tx, requests, &drawn).await?;
        let mut fresh: Vec<&CreateRequest> = Vec::with_capacity(requests.len());
        let mut fresh_drawn = Vec::with_capacity(requests.len());
        let mut batch_keys = HashSet::new();
        for (request, number) in requests.iter().zip(drawn) {
            let key = request.new.idempotency_key.as_str();
            if !known.contains_key(key) && batch_keys.insert(key) {
                fresh.push(*request);
                fresh_drawn.push(number);
            }
        }
        let mut tickets = Vec::with_capacity(fresh.len());
        if !fresh.is_empty() {
            // 2. Numbers, 3. rows, 4. events, 5. routing.
            let numbers = free_numbers(tx, &fresh, fresh_drawn, taken).await?;
            tickets = insert_tickets(tx, &fresh, &numbers).await?;
            let aliases: Vec<(i64, &TicketNumber)> = tickets
                .iter()
                .zip(&numbers)
                .filter_map(|((id, _), (_, alias))| alias.as_ref().map(|a| (*id, a)))
                .collect();
            insert_aliases(tx, &aliases).await?;
            let mut events = Vec::with_capacity(fresh.len() * 2);
            for (((id, ticket), request), (_, alias)) in
                tickets.iter_mut().zip(&fresh).zip(&numbers)
            {
                events.push(NewEvent {
                    ticket_id: *id,
                    kind: EventKind::Created,
                    actor: request.new.actor.clone(),
                    at: request.now,
                    reason: alias
                        .as_ref()
                        .map(|a| format!("proposed number {a} was taken; kept as an alias")),
                    to_state: Some(request.new.kind.initial_state()),
                    note: None,
                    lawyer: None,
                });
                ticket.aliases.extend(alias.clone());
            }
            insert_events(tx, &events).await?;
            self.route_new(tx, &tickets, &fresh).await?;
        }
        // 6. Each request's outcome, in order.
        let mut made: HashMap<&str, (i64, Ticket)> = fresh
            .iter()
            .map(|r| r.new.idempotency_key.as_str())
            .zip(tickets)
            .collect();
        let mut outcomes = Vec::with_capacity(requests.len());
        for request in requests {
            let key = request.new.idempotency_key.as_str();
            if let Some((id, ticket)) = made.remove(key) {
                known.insert(key.to_owned(), id);
                outcomes.push(Created::New(Box::new(ticket)));
            } else {
                let id = *known.get(key).ok_or_else(|| {
                    StoreError::Corrupt(format!("no ticket for idempotency key {key}"))
                })?;
                outcomes.push(Created::Existing(id));
            }
        }
        Ok(outcomes)
    }

    /// The first offer (or escalation) of each new ticket that routing
    /// takes: the same decision [`Store::route`] makes for a stored ticket
    /// (policy::rank and policy::next_step over the on-duty candidates), one
    /// ticket after the other, each seeing the offers made before it.
    async fn route_new(
        &self,
        tx: &mut Transaction<'static, Any>,
        tickets: &[(i64, Ticket)],
        requests: &[&CreateRequest],
    ) -> Result<(), StoreError> {
        let routed: Vec<(i64, &Ticket, &CreateRequest, &RoutingPolicy)> = tickets
            .iter()
            .zip(requests)
            .filter_map(|((id, ticket), request)| {
                let policy = request.routing.as_deref()?;
                (seeks_lawyer(ticket.state) && RoutingPolicy::routes(ticket.urgency))
                    .then_some((*id, ticket, *request, policy))
            })
            .collect();
        if routed.is_empty() {
            return Ok(());
        }
        // The roster once per center, for the whole span of the batch.
        let from = routed.iter().map(|r| r.2.now).min().unwrap_or_default();
        let to = routed.iter().map(|r| r.2.now).max().unwrap_or_default();
        // Every center's routing lock before any offer changes a load.
        let mut centers: Vec<&str> = routed.iter().map(|r| r.1.center.as_str()).collect();
        centers.sort_unstable();
        centers.dedup();
        self.lock_centers(tx, &centers).await?;
        let mut rosters: HashMap<&str, Vec<RosterShift>> = HashMap::new();
        for center in centers {
            let roster = self.candidates_between(tx, center, from, to).await?;
            rosters.insert(center, roster);
        }
        let mut routing_rows = Vec::with_capacity(routed.len());
        let mut offers = Vec::new();
        let mut events = Vec::new();
        for (id, ticket, request, policy) in &routed {
            let now = request.now;
            let roster = rosters.get_mut(ticket.center.as_str()).ok_or_else(|| {
                StoreError::Corrupt(format!("no roster read for center {}", ticket.center))
            })?;
            let on_duty = on_duty(roster, ms(now));
            let need = Need {
                matter: ticket.matter.map(|m| m.as_str().to_owned()),
                region: ticket.region.as_ref().map(|r| r.as_str().to_owned()),
                language: ticket.language.as_str().to_owned(),
            };
            let ranked = policy::rank(&need, &on_duty, &[]);
            match policy::next_step(policy, ticket.urgency, 0, ranked.first().copied(), now) {
                Step::Offer {
                    lawyer,
                    ack_deadline,
                } => {
                    // What the roster query would now say of this lawyer.
                    for shift in roster.iter_mut() {
                        let candidate = &mut shift.candidate;
                        if candidate.lawyer == lawyer {
                            candidate.load += 1;
                            candidate.last_offer_at = candidate.last_offer_at.max(ms(now));
                        }
                    }
                    routing_rows.push((*id, "offering", 1, ms(ack_deadline), ms(now)));
                    events.push(NewEvent {
                        ticket_id: *id,
                        kind: EventKind::Offered,
                        actor: ROUTING_ACTOR.to_owned(),
                        at: now,
                        reason: None,
                        to_state: None,
                        note: Some(offer_event_note(&lawyer, Some(&offer_note(ack_deadline)))),
                        lawyer: Some(lawyer.clone()),
                    });
                    tracing::info!(ticket = %ticket.number, %lawyer, round = 1, "offered");
                    offers.push(NewOffer {
                        ticket_id: *id,
                        lawyer,
                        offered_at: now,
                        ack_deadline,
                        paged: policy
                            .paging
                            .pages(ticket.urgency)
                            .then_some(&policy.paging),
                    });
                }
                Step::Escalate { next_round, why } => {
                    routing_rows.push((*id, "escalated", 0, ms(next_round), ms(now)));
                    events.push(NewEvent {
                        ticket_id: *id,
                        kind: EventKind::Escalated,
                        actor: ROUTING_ACTOR.to_owned(),
                        at: now,
                        reason: None,
                        to_state: None,
                        note: Some(escalation_note(why, next_round)),
                        lawyer: None,
                    });
                    tracing::warn!(ticket = %ticket.number, round = 1, why, "escalated");
                }
            }
        }
        insert_routing(tx, &routing_rows).await?;
        let offer_ids = insert_offers(tx, &offers).await?;
        // Every offer went to a lawyer of its ticket's roster.
        let phones: HashMap<&str, (&str, Option<&str>)> = rosters
            .values()
            .flatten()
            .map(|shift| {
                (
                    shift.candidate.lawyer.as_str(),
                    (shift.phone.as_str(), shift.sip_uri.as_deref()),
                )
            })
            .collect();
        insert_first_pages(tx, &offers, &offer_ids, &phones).await?;
        insert_events(tx, &events).await
    }
}

/// A page for each first offer whose urgency rings the lawyer's phone,
/// due at once (attempt 1), as `schedule_page` makes one; `phones` has
/// each offered lawyer's phone and SIP URI, from the roster.
async fn insert_first_pages(
    tx: &mut Transaction<'static, Any>,
    offers: &[NewOffer<'_>],
    offer_ids: &[i64],
    phones: &HashMap<&str, (&str, Option<&str>)>,
) -> Result<(), StoreError> {
    let mut rows = Vec::new();
    for (offer, offer_id) in offers.iter().zip(offer_ids) {
        let (Some(paging), Some((phone, sip_uri))) =
            (offer.paged, phones.get(offer.lawyer.as_str()))
        else {
            continue;
        };
        if let Some(target) = paging.target(*sip_uri, phone) {
            rows.push((*offer_id, offer, target));
        }
    }
    for part in shapes(&rows, |(_, o, target)| {
        40 + text(Some(&o.lawyer)) + text(Some(target))
    }) {
        let sql = format!(
            "INSERT INTO pages (offer_id, ticket_id, lawyer_id, target, attempt, state, due_at) \
             VALUES {}",
            values(part.len(), 5, "{}, {}, {}, {}, 1, 'pending', {}")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for (offer_id, offer, target) in part {
            query = query
                .bind(*offer_id)
                .bind(offer.ticket_id)
                .bind(offer.lawyer.as_str())
                .bind(target.as_str())
                .bind(ms(offer.offered_at));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// What writing the tickets of a batch came to, per request.
pub(super) enum Created {
    /// A new ticket, whole as its row was inserted (no read after commit).
    New(Box<Ticket>),
    /// An earlier create with the same idempotency key made this one; it
    /// is read once the transaction has committed.
    Existing(i64),
}

struct NewEvent {
    ticket_id: i64,
    kind: EventKind,
    actor: String,
    at: DateTime<Utc>,
    reason: Option<String>,
    to_state: Option<TicketState>,
    note: Option<String>,
    lawyer: Option<String>,
}

struct NewOffer<'a> {
    ticket_id: i64,
    lawyer: String,
    offered_at: DateTime<Utc>,
    ack_deadline: DateTime<Utc>,
    /// The paging settings when this offer rings the lawyer's phone.
    paged: Option<&'a PagingPolicy>,
}

/// About the most bytes of values one statement sends. sqlx leaves Nagle's
/// algorithm on, and writes a message over 16 KiB as a full buffer and a
/// tail: the tail then waits for the server's delayed ACK, some 40 ms
/// (measured: a 32-ticket INSERT took 45 ms, 8 ms with quick ACKs). Kept
/// under this, a statement goes in one write.
const STATEMENT_BYTES: usize = 8 * 1024;

/// The rows of `sizes` (each row's value bytes, roughly) cut into ranges
/// whose lengths are powers of two, largest first, at most [`MAX_BATCH`]
/// rows and [`STATEMENT_BYTES`] (a row larger than that goes alone): a
/// statement over a range has one of nine shapes, so each connection's
/// prepared-statement cache holds them all, where a shape per batch size
/// would have the database parse and plan nearly every statement afresh.
fn shape_ranges(sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < sizes.len() {
        let left = sizes.len() - start;
        let mut len = (1usize << left.ilog2()).min(MAX_BATCH);
        while len > 1 && sizes[start..start + len].iter().sum::<usize>() > STATEMENT_BYTES {
            len /= 2;
        }
        ranges.push(start..start + len);
        start += len;
    }
    ranges
}

/// `items` cut as [`shape_ranges`] cuts them, `size` giving each one's bytes.
pub(super) fn shapes<T>(items: &[T], size: impl Fn(&T) -> usize) -> impl Iterator<Item = &[T]> {
    let sizes: Vec<usize> = items.iter().map(size).collect();
    shape_ranges(&sizes).into_iter().map(|r| &items[r])
}

/// Bytes a bound text value takes, with its length word.
pub(super) fn text(value: Option<&str>) -> usize {
    4 + value.map_or(0, str::len)
}

/// `rows` groups of `row` (a template with `{}` where each of its `per_row`
/// placeholders goes), numbered `$1, $2, …` across the groups.
pub(super) fn values(rows: usize, per_row: usize, row: &str) -> String {
    let mut out = String::with_capacity(rows * (row.len() + per_row * 4 + 4));
    let mut n = 0;
    for i in 0..rows {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('(');
        let mut parts = row.split("{}");
        if let Some(first) = parts.next() {
            out.push_str(first);
        }
        for part in parts {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
            out.push_str(part);
        }
        out.push(')');
    }
    out
}

/// Which candidates of a center's roster are on duty at `now_ms`: those
/// with a shift covering it, each once, in lawyer order.
fn on_duty(roster: &[RosterShift], now_ms: i64) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for RosterShift {
        candidate,
        starts_at,
        ends_at,
        ..
    } in roster
    {
        let covered = *starts_at <= now_ms && *ends_at > now_ms;
        if covered && out.last().is_none_or(|c| c.lawyer != candidate.lawyer) {
            out.push(candidate.clone());
        }
    }
    out
}

/// The ids of the tickets already created under the batch's keys, and
/// which of `drawn` (one number per request) are a ticket's number or an
/// alias already: one statement (per shape), one round trip.
async fn used_keys_and_numbers(
    tx: &mut Transaction<'static, Any>,
    requests: &[&CreateRequest],
    drawn: &[TicketNumber],
) -> Result<(HashMap<String, i64>, HashSet<String>), StoreError> {
    let mut known = HashMap::new();
    let mut taken = HashSet::new();
    let pairs: Vec<(&str, &str)> = requests
        .iter()
        .zip(drawn)
        .map(|(r, n)| (r.new.idempotency_key.as_str(), n.as_str()))
        .collect();
    for part in shapes(&pairs, |(key, number)| {
        text(Some(key)) + 2 * text(Some(number))
    }) {
        let keys = placeholders(1, part.len());
        let numbers = placeholders(part.len() + 1, part.len());
        let sql = format!(
            "SELECT id, idempotency_key AS value FROM tickets WHERE idempotency_key IN ({keys}) \
             UNION ALL SELECT CAST(NULL AS BIGINT), number FROM tickets WHERE number IN ({numbers}) \
             UNION ALL SELECT CAST(NULL AS BIGINT), alias FROM ticket_aliases \
             WHERE alias IN ({numbers})"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for (key, _) in part {
            query = query.bind(*key);
        }
        for (_, number) in part {
            query = query.bind(*number);
        }
        for row in query.fetch_all(&mut **tx).await? {
            let value: String = get(&row, "value")?;
            match get::<Option<i64>>(&row, "id")? {
                Some(id) => {
                    known.insert(value, id);
                }
                None => {
                    taken.insert(value);
                }
            }
        }
    }
    Ok((known, taken))
}

/// A free number for each request, and the alias it keeps when the number
/// it proposed was taken, starting from `drawn` (one number per request)
/// of which `taken` are taken. Random numbers come from the OS-seeded
/// CSPRNG; the UNIQUE constraint still guards a race with another node.
async fn free_numbers(
    tx: &mut Transaction<'static, Any>,
    requests: &[&CreateRequest],
    drawn: Vec<TicketNumber>,
    mut taken: HashSet<String>,
) -> Result<Vec<(TicketNumber, Option<TicketNumber>)>, StoreError> {
    let mut chosen: Vec<(TicketNumber, Option<TicketNumber>)> =
        drawn.into_iter().map(|n| (n, None)).collect();
    for attempt in 0..NUMBER_ATTEMPTS {
        let mut again = Vec::new();
        let mut seen = HashSet::new();
        for (i, (number, alias)) in chosen.iter_mut().enumerate() {
            // Two requests of one batch may draw (or propose) one number.
            let clash = !seen.insert(number.clone());
            if !(clash || taken.contains(number.as_str())) {
                continue;
            }
            let proposed = requests[i].new.proposed_number.as_ref();
            if alias.is_none() && proposed == Some(&*number) {
                warn!(proposed = %number, "proposed ticket number is taken; assigning another");
                *alias = Some(number.clone());
            }
            *number = TicketNumber::random(&mut rand::rng());
            again.push(i);
        }
        if again.is_empty() {
            return Ok(chosen);
        }
        if attempt + 1 < NUMBER_ATTEMPTS {
            taken = taken_numbers(tx, again.iter().map(|&i| &chosen[i].0)).await?;
        }
    }
    Err(StoreError::NumbersExhausted(NUMBER_ATTEMPTS))
}

/// Which of `numbers` are a ticket's number or an alias already.
async fn taken_numbers<'a>(
    tx: &mut Transaction<'static, Any>,
    numbers: impl Iterator<Item = &'a TicketNumber>,
) -> Result<HashSet<String>, StoreError> {
    let numbers: Vec<&str> = numbers.map(TicketNumber::as_str).collect();
    let mut taken = HashSet::new();
    for part in shapes(&numbers, |n| 2 * text(Some(n))) {
        let list = placeholders(1, part.len());
        let sql = format!(
            "SELECT number FROM tickets WHERE number IN ({list}) \
             UNION ALL SELECT alias FROM ticket_aliases WHERE alias IN ({list})"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for number in part {
            query = query.bind(*number);
        }
        for row in query.fetch_all(&mut **tx).await? {
            taken.insert(get::<String>(&row, "number")?);
        }
    }
    Ok(taken)
}

/// Roughly the bytes of a ticket row's values: 30 values with their length
/// words, the fixed ones short, the free texts as long as they are.
fn ticket_bytes(request: &CreateRequest) -> usize {
    let new = &request.new;
    30 * 12
        + text(Some(&new.idempotency_key))
        + text(Some(&new.summary))
        + text(Some(&new.center))
        + text(new.last_node.as_deref())
        + text(new.chosen_rule.as_deref())
        + request
            .assessed
            .urgency
            .warnings
            .iter()
            .map(|w| text(Some(w)))
            .sum::<usize>()
}

/// The ticket rows, one multi-row INSERT that returns them whole (SQLite's
/// RETURNING takes no table alias, hence the columns without their `t.`);
/// in the order of `requests`, with their ids.
async fn insert_tickets(
    tx: &mut Transaction<'static, Any>,
    requests: &[&CreateRequest],
    numbers: &[(TicketNumber, Option<TicketNumber>)],
) -> Result<Vec<(i64, Ticket)>, StoreError> {
    // RETURNING promises no order: the rows are put back in the batch's.
    let mut by_key: HashMap<String, (i64, Ticket)> = HashMap::new();
    // Rows go in key order: two nodes' batches that share keys (an IVR
    // retried on the other node) then wait on each other in one order and
    // cannot deadlock.
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by(|a, b| {
        requests[*a]
            .new
            .idempotency_key
            .cmp(&requests[*b].new.idempotency_key)
    });
    let sizes: Vec<usize> = order.iter().map(|&i| ticket_bytes(requests[i])).collect();
    for range in shape_ranges(&sizes) {
        let sql = format!(
            "INSERT INTO tickets (number, idempotency_key, kind, state, matter, caller_number, \
         callback_number, event_date, preservation, priority_group, hardship_waived, \
         pledge_offered, home_visit, mediation_preferred, language, center, region, \
         summary, urgency, deadline, limitation_rule, limitation_warnings, document, \
         chosen_rule, advance_enforcement, hardship_basis, created_at, updated_at, \
         callback_due_at, last_node) VALUES {} RETURNING {}, idempotency_key",
            values(range.len(), 30, &["{}"; 30].join(", ")),
            TICKET_COLUMNS.replace("t.", "")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for (request, (number, _)) in order[range].iter().map(|&i| (requests[i], &numbers[i])) {
            let (new, assessed) = (&request.new, &request.assessed);
            let at = request.now.timestamp_millis();
            query = query
                .bind(number.as_str())
                .bind(new.idempotency_key.as_str())
                .bind(new.kind.as_str())
                .bind(new.kind.initial_state().as_str())
                .bind(new.matter.map(Matter::as_str))
                .bind(new.caller_number.as_ref().map(PhoneNumber::as_str))
                .bind(new.callback_number.as_ref().map(PhoneNumber::as_str))
                .bind(new.event_date.map(|d| d.to_string()))
                .bind(flag(new.preservation))
                .bind(new.priority_group.as_str())
                .bind(flag(new.flags.hardship_waived))
                .bind(flag(new.flags.pledge_offered))
                .bind(flag(new.flags.home_visit))
                .bind(flag(new.flags.mediation_preferred))
                .bind(new.language.as_str())
                .bind(new.center.as_str())
                .bind(new.region.as_ref().map(RegionCode::as_str))
                .bind(new.summary.as_str())
                .bind(assessed.urgency.urgency.as_str())
                .bind(assessed.urgency.deadline.map(|d| d.to_string()))
                .bind(assessed.urgency.rule.as_deref())
                .bind(warnings_json(&assessed.urgency.warnings)?)
                .bind(new.document.map(Document::as_str))
                .bind(new.chosen_rule.as_deref())
                .bind(flag(new.flags.advance_enforcement))
                .bind(new.flags.hardship_basis.map(HardshipBasis::as_str))
                .bind(at)
                .bind(at)
                .bind(assessed.callback_due.map(|t| t.timestamp_millis()))
                .bind(new.last_node.as_deref());
        }
        for row in query.fetch_all(&mut **tx).await? {
            by_key.insert(
                get(&row, "idempotency_key")?,
                (get(&row, "id")?, ticket_from_row(&row)?),
            );
        }
    }
    requests
        .iter()
        .map(|r| {
            by_key
                .remove(&r.new.idempotency_key)
                .ok_or_else(|| StoreError::Corrupt("an inserted ticket was not returned".into()))
        })
        .collect()
}

async fn insert_aliases(
    tx: &mut Transaction<'static, Any>,
    aliases: &[(i64, &TicketNumber)],
) -> Result<(), StoreError> {
    for part in shapes(aliases, |(_, a)| 8 + text(Some(a.as_str()))) {
        let sql = format!(
            "INSERT INTO ticket_aliases (alias, ticket_id) VALUES {}",
            values(part.len(), 2, "{}, {}")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for (id, alias) in part {
            query = query.bind(alias.as_str()).bind(*id);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Events in the order given (ids ascend in VALUES order on both backends,
/// which is the order streams deliver them in).
async fn insert_events(
    tx: &mut Transaction<'static, Any>,
    events: &[NewEvent],
) -> Result<(), StoreError> {
    for part in shapes(events, |e| {
        48 + text(Some(&e.actor))
            + text(e.reason.as_deref())
            + text(e.note.as_deref())
            + text(e.lawyer.as_deref())
    }) {
        let sql = format!(
            "INSERT INTO ticket_events (ticket_id, kind, actor, at, reason, from_state, to_state, \
         changes, note, lawyer) VALUES {}",
            values(part.len(), 8, "{}, {}, {}, {}, {}, NULL, {}, NULL, {}, {}")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for e in part {
            query = query
                .bind(e.ticket_id)
                .bind(e.kind.as_str())
                .bind(e.actor.as_str())
                .bind(e.at.timestamp_millis())
                .bind(e.reason.as_deref())
                .bind(e.to_state.map(TicketState::as_str))
                .bind(e.note.as_deref())
                .bind(e.lawyer.as_deref());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Routing rows as routing leaves them after a ticket's first step:
/// `(ticket, status, attempts, due_at, updated_at)`, round 1.
async fn insert_routing(
    tx: &mut Transaction<'static, Any>,
    rows: &[(i64, &str, i64, i64, i64)],
) -> Result<(), StoreError> {
    for part in shapes(rows, |_| 64) {
        let sql = format!(
        "INSERT INTO routing (ticket_id, status, round, attempts, due_at, updated_at) VALUES {}",
        values(part.len(), 5, "{}, {}, 1, {}, {}, {}")
    );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for (id, status, attempts, due, at) in part {
            query = query
                .bind(*id)
                .bind(*status)
                .bind(*attempts)
                .bind(*due)
                .bind(*at);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Pending first-round offers, reminded halfway to their deadline; their
/// ids in the order given.
async fn insert_offers(
    tx: &mut Transaction<'static, Any>,
    offers: &[NewOffer<'_>],
) -> Result<Vec<i64>, StoreError> {
    // One first offer per ticket: the ticket finds its offer's id.
    let mut by_ticket = HashMap::new();
    for part in shapes(offers, |o| 48 + text(Some(&o.lawyer))) {
        let sql = format!(
            "INSERT INTO offers (ticket_id, lawyer_id, round, state, offered_at, ack_deadline, \
         remind_at) VALUES {} RETURNING id, ticket_id",
            values(part.len(), 5, "{}, {}, 1, 'pending', {}, {}, {}")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for o in part {
            query = query
                .bind(o.ticket_id)
                .bind(o.lawyer.as_str())
                .bind(ms(o.offered_at))
                .bind(ms(o.ack_deadline))
                .bind(ms(o.offered_at + (o.ack_deadline - o.offered_at) / 2));
        }
        for row in query.fetch_all(&mut **tx).await? {
            by_ticket.insert(get::<i64>(&row, "ticket_id")?, get::<i64>(&row, "id")?);
        }
    }
    offers
        .iter()
        .map(|o| {
            by_ticket
                .get(&o.ticket_id)
                .copied()
                .ok_or_else(|| StoreError::Corrupt("an inserted offer was not returned".into()))
        })
        .collect()
}

/// Errors of the database rather than of a ticket: no ticket of the batch
/// would fare better alone. The connection's own failures, and the server's
/// SQLSTATEs for a lock not granted in time (55P03), a broken connection
/// (class 08), a server shutting down or starting (57P01-57P03), and a
/// read-only server (25006: a standby after a failover).
pub(super) fn unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || matches!(&*code, "55P03" | "57P01" | "57P02" | "57P03" | "25006")
        }),
        _ => false,
    }
}

/// The same failure for each caller of the batch (sqlx errors are not
/// `Clone`), keeping what callers act on: the pool's own kinds (busy →
/// UNAVAILABLE) and a lock timeout (another node holds a lock: retry).
pub(super) fn again(e: &StoreError) -> StoreError {
    if let StoreError::CenterBusy(center) = e {
        return StoreError::CenterBusy(center.clone());
    }
    if e.is_lock_timeout() {
        return StoreError::LockTimeout;
    }
    match e {
        StoreError::Database(sqlx::Error::PoolTimedOut) => {
            StoreError::Database(sqlx::Error::PoolTimedOut)
        }
        StoreError::Database(sqlx::Error::PoolClosed) => {
            StoreError::Database(sqlx::Error::PoolClosed)
        }
        other => StoreError::Database(sqlx::Error::Io(std::io::Error::other(other.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use super::{shape_ranges, values, MAX_BATCH, STATEMENT_BYTES};

    #[test]
    fn ranges_cover_every_index_once_in_few_shapes() {
        let mut shapes = std::collections::HashSet::new();
        for n in 0..=3 * MAX_BATCH {
            let ranges = shape_ranges(&vec![10; n]);
            let covered: Vec<usize> = ranges.iter().flat_map(|r| r.clone()).collect();
            assert_eq!(covered, (0..n).collect::<Vec<_>>(), "n = {n}");
            for r in &ranges {
                assert!(r.len().is_power_of_two() && r.len() <= MAX_BATCH);
                shapes.insert(r.len());
            }
        }
        assert_eq!(shapes.len(), 9, "{shapes:?}");
        assert_eq!(shape_ranges(&[10; 37]), [0..32, 32..36, 36..37]);
    }

    #[test]
    fn a_statement_stays_within_its_bytes() {
        // 1 KiB rows: eight to a statement; a row too big goes alone.
        let ranges = shape_ranges(&[1024; 20]);
        assert_eq!(ranges, [0..8, 8..16, 16..20]);
        let ranges = shape_ranges(&[10, STATEMENT_BYTES * 2, 10, 10]);
        assert_eq!(ranges, [0..1, 1..2, 2..4]);
    }

    #[test]
    fn values_number_the_placeholders_across_rows() {
        assert_eq!(values(1, 2, "{}, 1, {}"), "($1, 1, $2)");
        assert_eq!(
            values(3, 2, "{}, 'x', {}"),
            "($1, 'x', $2), ($3, 'x', $4), ($5, 'x', $6)"
        );
    }
}
