//! Ticket statements: create (idempotent), read, list, transition, note,
//! history, and the row and event helpers the other statement groups share.
//! Every change and its event commit in one transaction.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use hotline_domain::{
    Document, HardshipBasis, Language, Matter, PhoneNumber, PriorityGroup, RegionCode, TicketKind,
    TicketNumber, TicketState, Urgency,
};
use sqlx::any::AnyRow;
// Dynamic SQL here is built from constant fragments and `$n` placeholders,
// never from input: every value is bound.
use sqlx::{Any, AssertSqlSafe, Transaction};

use super::batch::CreateRequest;
use super::{get, placeholders, Backend, Store, StoreError};
use crate::routing::{seeks_lawyer, RoutingPolicy};
use crate::tickets::lifecycle::{self, Move};
use crate::tickets::{
    Assessed, Correction, EventKind, FieldChange, Flags, NewTicket, PageCursor, RecordingInfo,
    Ticket, TicketEvent, TicketFilter,
};

pub(super) const TICKET_COLUMNS: &str =
    "t.id, t.number, t.kind, t.state, t.matter, t.caller_number, \
     t.callback_number, t.event_date, t.preservation, t.priority_group, t.hardship_waived, \
     t.pledge_offered, t.home_visit, t.mediation_preferred, t.language, t.center, t.region, \
     t.summary, t.urgency, t.deadline, t.assigned_lawyer, t.outcome, t.rejection_reason, \
     t.limitation_rule, t.limitation_warnings, t.decision_due, t.assignment_due, \
     t.document, t.chosen_rule, t.advance_enforcement, t.hardship_basis, \
     t.materials_received_at, t.major_case, t.last_node, t.created_at, t.updated_at";

/// How many random numbers to try before giving up; with 900 million
/// numbers, needing more than one is already rare.
pub(super) const NUMBER_ATTEMPTS: u32 = 16;

impl Store {
    /// Creates a ticket, or returns the one an earlier call with the same
    /// idempotency key created (`false` in the second place).
    pub async fn create_ticket(
        &self,
        new: &NewTicket,
        assessed: &Assessed,
        now: DateTime<Utc>,
    ) -> Result<(Ticket, bool), StoreError> {
        self.create_and_route(new, assessed, None, now).await
    }

    /// [`Store::create_ticket`], and when `routing` is given and the ticket
    /// is urgent, its first offer (or escalation) in the same transaction.
    /// Creates arriving together share one transaction and one commit
    /// (group commit, see `batch`); each returns only after its commit.
    pub async fn create_and_route(
        &self,
        new: &NewTicket,
        assessed: &Assessed,
        routing: Option<Arc<RoutingPolicy>>,
        now: DateTime<Utc>,
    ) -> Result<(Ticket, bool), StoreError> {
        self.create_batched(Arc::new(CreateRequest {
            new: new.clone(),
            assessed: assessed.clone(),
            routing,
            now,
        }))
        .await
    }

    /// The ticket with this number; a ticket's own number wins over an alias.
    pub async fn ticket(&self, number: &TicketNumber) -> Result<Ticket, StoreError> {
        let id = self.ticket_id(number).await?;
        self.ticket_by_id(id).await
    }

    /// The tickets with these numbers (their own numbers, not aliases), in
    /// no particular order; numbers no ticket has are left out.
    pub async fn tickets_by_number(
        &self,
        numbers: &[TicketNumber],
    ) -> Result<Vec<Ticket>, StoreError> {
        Ok(self
            .hydrated_by_number(numbers)
            .await?
            .into_iter()
            .map(|(_, t)| t)
            .collect())
    }

    /// [`Store::tickets_by_number`] with each ticket's id.
    pub(super) async fn hydrated_by_number(
        &self,
        numbers: &[TicketNumber],
    ) -> Result<Vec<(i64, Ticket)>, StoreError> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = placeholders(1, numbers.len());
        let sql =
            format!("SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.number IN ({placeholders})");
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for number in numbers {
            query = query.bind(number.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        self.hydrate(rows).await
    }

    pub(super) async fn ticket_id(&self, number: &TicketNumber) -> Result<i64, StoreError> {
        let row: Option<AnyRow> = sqlx::query(
            "SELECT id FROM tickets WHERE number = $1 \
             UNION ALL SELECT ticket_id FROM ticket_aliases WHERE alias = $1",
        )
        .bind(number.as_str())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(get(&row, "id")?),
            None => Err(StoreError::NotFound(number.to_string())),
        }
    }

    pub(super) async fn ticket_by_id(&self, id: i64) -> Result<Ticket, StoreError> {
        let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        let mut tickets = self.hydrate(vec![row]).await?;
        tickets
            .pop()
            .map(|(_, t)| t)
            .ok_or_else(|| StoreError::Corrupt(format!("ticket id {id} vanished")))
    }

    /// Lists tickets newest first; returns the cursor of the next page, if any.
    pub async fn list_tickets(
        &self,
        filter: &TicketFilter,
        limit: u32,
        after: Option<PageCursor>,
    ) -> Result<(Vec<Ticket>, Option<PageCursor>), StoreError> {
        let mut w = Where::default();
        if let Some(state) = filter.state {
            w.add("t.state = ?", Bind::Text(state.as_str().into()));
        }
        if let Some(urgency) = filter.urgency {
            w.add("t.urgency = ?", Bind::Text(urgency.as_str().into()));
        }
        if let Some(matter) = filter.matter {
            w.add("t.matter = ?", Bind::Text(matter.as_str().into()));
        }
        if let Some(center) = &filter.center {
            w.add("t.center = ?", Bind::Text(center.clone()));
        }
        if let Some(from) = filter.created_from {
            w.add("t.created_at >= ?", Bind::Int(from.timestamp_millis()));
        }
        if let Some(to) = filter.created_to {
            w.add("t.created_at < ?", Bind::Int(to.timestamp_millis()));
        }
        if let Some(number) = &filter.number {
            w.add(
                "(t.number = ? OR t.id IN (SELECT ticket_id FROM ticket_aliases WHERE alias = ?))",
                Bind::Text(number.as_str().into()),
            );
        }
        if let Some(cursor) = after {
            // Keyset pagination: stable while new tickets arrive.
            let at = w.bind(Bind::Int(cursor.created_at_ms));
            let id = w.bind(Bind::Int(cursor.id));
            w.clauses.push(format!(
                "(t.created_at < {at} OR (t.created_at = {at} AND t.id < {id}))"
            ));
        }
        let Where { clauses, binds } = w;
        let where_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets t {where_sql} \
             ORDER BY t.created_at DESC, t.id DESC LIMIT {}",
            u64::from(limit) + 1
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for bind in binds {
            query = match bind {
                Bind::Text(s) => query.bind(s),
                Bind::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut tickets = self.hydrate(rows).await?;
        let next = if tickets.len() > limit as usize {
            tickets.truncate(limit as usize);
            tickets.last().map(|(id, t)| PageCursor {
                created_at_ms: t.created_at.timestamp_millis(),
                id: *id,
            })
        } else {
            None
        };
        Ok((tickets.into_iter().map(|(_, t)| t).collect(), next))
    }

    /// Moves a ticket to another state, with an event, or refuses the move.
    /// A move out of routing ends it in the same transaction (see
    /// [`Store::transition_routed`]); an assignment gets no start timer.
    pub async fn transition(
        &self,
        number: &TicketNumber,
        to: TicketState,
        mv: &Move,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Ticket, StoreError> {
        self.transition_routed(number, to, mv, actor, None, now)
            .await
    }

    /// [`Store::transition`] with the routing policy, so that an assignment
    /// by hand gets the bound for starting the case as its timer.
    pub async fn transition_routed(
        &self,
        number: &TicketNumber,
        to: TicketState,
        mv: &Move,
        actor: &str,
        policy: Option<&RoutingPolicy>,
        now: DateTime<Utc>,
    ) -> Result<Ticket, StoreError> {
        let id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await?;
        let from = self.locked_state(&mut tx, id).await?;
        // The move may change the loads of the ticket's lawyer, of the
        // lawyer it names, and of any lawyer whose offer it withdraws.
        let named = mv
            .lawyer
            .as_deref()
            .filter(|_| matches!(to, TicketState::Assigned | TicketState::Provisional));
        self.lock_load_centers(&mut tx, id, named).await?;
        self.transition_locked(&mut tx, id, from, to, mv, actor, now)
            .await?;
        let mut to = to;
        if to == TicketState::Accepted {
            // A lawyer already has it (provisional aid, or an owner who took
            // it before the decision): they stay, and the ticket moves on.
            let lawyer = assigned_lawyer(&mut tx, id).await?;
            if let Some(lawyer) = lawyer {
                let stays = Move {
                    reason: Some(format!("{lawyer} already has the case and stays on it")),
                    lawyer: Some(lawyer),
                    ..Move::default()
                };
                self.transition_locked(
                    &mut tx,
                    id,
                    TicketState::Accepted,
                    TicketState::Assigned,
                    &stays,
                    actor,
                    now,
                )
                .await?;
                to = TicketState::Assigned;
            }
        }
        if to == TicketState::Assigned {
            let due = policy.map(|p| now + p.start_within);
            self.own(&mut tx, id, due, now).await?;
        }
        tx.commit().await?;
        self.committed();
        self.ticket_by_id(id).await
    }

    /// The move itself, inside a transaction that holds the ticket's lock
    /// and the routing locks of [`Store::lock_load_centers`].
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn transition_locked(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: i64,
        from: TicketState,
        to: TicketState,
        mv: &Move,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        lifecycle::check(from, to, mv)?;
        // Each column changes only on the move that sets it.
        let only_on =
            |state: TicketState, value: Option<String>| (to == state).then_some(value).flatten();
        let gets_lawyer = matches!(to, TicketState::Assigned | TicketState::Provisional);
        // The history shows the lawyer the ticket had (its owner, or the one
        // who gave aid first), so "stays on it" is not read as a change.
        let lawyer_before = if gets_lawyer {
            assigned_lawyer(tx, id).await?
        } else {
            None
        };
        let updated = sqlx::query(
            "UPDATE tickets SET state = $1, updated_at = $2, \
             assigned_lawyer = COALESCE($3, assigned_lawyer), \
             outcome = COALESCE($4, outcome), \
             rejection_reason = COALESCE($5, rejection_reason), \
             assignment_due = COALESCE($6, assignment_due) \
             WHERE id = $7",
        )
        .bind(to.as_str())
        .bind(now.timestamp_millis())
        .bind(mv.lawyer.clone().filter(|_| gets_lawyer))
        .bind(only_on(TicketState::Closed, mv.outcome.clone()))
        .bind(only_on(TicketState::Rejected, mv.reason.clone()))
        .bind(only_on(
            TicketState::Accepted,
            mv.assignment_due.map(|d| d.to_string()),
        ))
        .bind(id)
        .execute(&mut **tx)
        .await?;
        expect_one_row(updated.rows_affected(), id)?;
        let mut changes = Vec::new();
        if let (true, Some(lawyer)) = (gets_lawyer, &mv.lawyer) {
            if lawyer_before.as_ref() != Some(lawyer) {
                changes.push(FieldChange {
                    field: "assigned_lawyer".into(),
                    old: lawyer_before,
                    new: Some(lawyer.clone()),
                });
            }
        }
        if let (TicketState::Closed, Some(outcome)) = (to, &mv.outcome) {
            changes.push(FieldChange {
                field: "outcome".into(),
                old: None,
                new: Some(outcome.clone()),
            });
        }
        insert_event(
            tx,
            id,
            EventKind::Transitioned,
            actor,
            now,
            EventDetail {
                reason: mv.reason.as_deref(),
                from_state: Some(from),
                to_state: Some(to),
                changes: &changes,
                note: None,
                // An assignment is about its lawyer: their stream shows it.
                lawyer: mv.lawyer.as_deref().filter(|_| gets_lawyer),
            },
        )
        .await?;
        // A ticket that stops seeking a lawyer stops being offered, in this
        // same transaction: no scheduler pass can see it half-moved.
        if !seeks_lawyer(to) {
            let why = match (to, &mv.lawyer) {
                (TicketState::Assigned, Some(lawyer)) => {
                    format!("the ticket was assigned to {lawyer} by {actor}")
                }
                (TicketState::Provisional, Some(lawyer)) => {
                    format!("{lawyer} provides aid first (art. 44)")
                }
                (TicketState::Rejected, _) => match &mv.reason {
                    Some(reason) => format!("the ticket was rejected: {reason}"),
                    None => "the ticket was rejected".to_owned(),
                },
                _ => match &mv.outcome {
                    Some(outcome) => format!("the ticket was closed: {outcome}"),
                    None => format!("the ticket is {to}"),
                },
            };
            self.end_routing(tx, id, to, &why, actor, now).await?;
        }
        Ok(())
    }

    /// Adds a note to the ticket's history.
    pub async fn add_note(
        &self,
        number: &TicketNumber,
        text: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<TicketEvent, StoreError> {
        let id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await?;
        self.locked_state(&mut tx, id).await?;
        let event_id = insert_event(
            &mut tx,
            id,
            EventKind::Note,
            actor,
            now,
            EventDetail {
                note: Some(text),
                ..EventDetail::default()
            },
        )
        .await?;
        tx.commit().await?;
        self.committed();
        let history = self.history(number).await?;
        history
            .into_iter()
            .find(|e| e.id == event_id)
            .ok_or_else(|| StoreError::Corrupt(format!("event {event_id} vanished")))
    }

    /// Marks a ticket a major case (重点督办); marking it again changes
    /// nothing and writes no event.
    pub async fn mark_major_case(
        &self,
        number: &TicketNumber,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await?;
        self.locked_state(&mut tx, id).await?;
        let marked = sqlx::query(
            "UPDATE tickets SET major_case = 1, updated_at = $2 WHERE id = $1 AND major_case = 0",
        )
        .bind(id)
        .bind(now.timestamp_millis())
        .execute(&mut **tx)
        .await?
        .rows_affected()
            == 1;
        if marked {
            insert_event(
                &mut tx,
                id,
                EventKind::MajorCase,
                actor,
                now,
                EventDetail {
                    reason: Some(reason),
                    ..EventDetail::default()
                },
            )
            .await?;
        }
        tx.commit().await?;
        if marked {
            self.committed();
        }
        Ok(marked)
    }

    /// The ticket's history, oldest first.
    pub async fn history(&self, number: &TicketNumber) -> Result<Vec<TicketEvent>, StoreError> {
        let id = self.ticket_id(number).await?;
        let rows = sqlx::query(
            "SELECT e.id, t.number, e.kind, e.actor, e.at, e.reason, e.from_state, e.to_state, \
             e.changes, e.note, e.lawyer FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id \
             WHERE e.ticket_id = $1 ORDER BY e.id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Locks the ticket's row for the rest of the transaction (PostgreSQL;
    /// SQLite already holds the database write lock) and returns its state.
    pub(super) async fn locked_state(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: i64,
    ) -> Result<TicketState, StoreError> {
        let sql = match self.backend {
            Backend::Postgres => "SELECT state FROM tickets WHERE id = $1 FOR UPDATE",
            Backend::Sqlite => "SELECT state FROM tickets WHERE id = $1",
        };
        let row = sqlx::query(sql).bind(id).fetch_one(&mut **tx).await?;
        parse(&get::<String>(&row, "state")?, TicketState::parse)
    }

    /// Turns ticket rows into tickets, with their aliases and recordings.
    pub(super) async fn hydrate(
        &self,
        rows: Vec<AnyRow>,
    ) -> Result<Vec<(i64, Ticket)>, StoreError> {
        let mut tickets = rows
            .iter()
            .map(|row| Ok((get::<i64>(row, "id")?, ticket_from_row(row)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        if tickets.is_empty() {
            return Ok(tickets);
        }
        // Aliases and recordings in one statement, one round trip: what a
        // read costs is its statements more than their rows.
        let list = placeholders(1, tickets.len());
        let sql = format!(
            "SELECT ticket_id, CAST(0 AS BIGINT) AS part, alias, CAST(NULL AS BIGINT) AS id, \
             CAST(NULL AS TEXT) AS content_type, CAST(NULL AS BIGINT) AS duration_ms, \
             CAST(NULL AS BIGINT) AS size_bytes, CAST(NULL AS BIGINT) AS created_at \
             FROM ticket_aliases WHERE ticket_id IN ({list}) \
             UNION ALL \
             SELECT ticket_id, CAST(1 AS BIGINT) AS part, NULL, id, content_type, duration_ms, \
             CAST(LENGTH(audio) AS BIGINT), created_at FROM recordings \
             WHERE ticket_id IN ({list}) ORDER BY part, alias, id"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for (id, _) in &tickets {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&self.pool).await? {
            let id: i64 = get(&row, "ticket_id")?;
            let Some((_, t)) = tickets.iter_mut().find(|(tid, _)| *tid == id) else {
                continue;
            };
            if get::<i64>(&row, "part")? == 0 {
                t.aliases
                    .push(parse(&get::<String>(&row, "alias")?, TicketNumber::parse)?);
            } else {
                t.recordings.push(recording_from_row(&row)?);
            }
        }
        Ok(tickets)
    }
}

pub(super) fn recording_from_row(row: &AnyRow) -> Result<RecordingInfo, StoreError> {
    Ok(RecordingInfo {
        id: get(row, "id")?,
        content_type: get(row, "content_type")?,
        size_bytes: get(row, "size_bytes")?,
        duration_ms: get(row, "duration_ms")?,
        created_at: millis(get(row, "created_at")?)?,
    })
}

pub(super) enum Bind {
    Text(String),
    Int(i64),
}

/// A WHERE clause built from optional filters, with numbered placeholders
/// (`$1`, `$2`, …), which both SQLite and PostgreSQL understand.
#[derive(Default)]
pub(super) struct Where {
    pub(super) clauses: Vec<String>,
    pub(super) binds: Vec<Bind>,
}

impl Where {
    /// Adds a condition; every `?` in it stands for `value`.
    pub(super) fn add(&mut self, condition: &str, value: Bind) {
        let placeholder = self.bind(value);
        self.clauses.push(condition.replace('?', &placeholder));
    }

    /// Adds a value and returns its placeholder.
    pub(super) fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }
}

/// An update that should have changed exactly one ticket; anything else
/// means the statement and its arguments disagree, and nothing may commit.
pub(super) fn expect_one_row(rows: u64, id: i64) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "update of ticket id {id} changed {rows} rows"
        )))
    }
}

pub(super) fn warnings_json(warnings: &[String]) -> Result<Option<String>, StoreError> {
    if warnings.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(warnings)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode warnings: {e}")))
}

/// Yes/no facts are stored as 0/1 on both backends.
pub(super) fn flag(value: bool) -> i16 {
    i16::from(value)
}

pub(super) fn read_flag(row: &AnyRow, column: &str) -> Result<bool, StoreError> {
    Ok(get::<i64>(row, column)? != 0)
}

pub(super) fn millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} out of range")))
}

pub(super) fn parse<T, E: std::fmt::Display>(
    text: &str,
    parser: impl Fn(&str) -> Result<T, E>,
) -> Result<T, StoreError> {
    parser(text).map_err(|e| StoreError::Corrupt(format!("`{text}`: {e}")))
}

fn parse_opt<T, E: std::fmt::Display>(
    text: Option<String>,
    parser: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, StoreError> {
    text.map(|t| parse(&t, &parser)).transpose()
}

pub(super) fn parse_date(text: &str) -> Result<NaiveDate, chrono::ParseError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
}

#[derive(Default)]
pub(super) struct EventDetail<'a> {
    pub(super) reason: Option<&'a str>,
    pub(super) from_state: Option<TicketState>,
    pub(super) to_state: Option<TicketState>,
    pub(super) changes: &'a [FieldChange],
    pub(super) note: Option<&'a str>,
    /// The lawyer an offer event is about.
    pub(super) lawyer: Option<&'a str>,
}

pub(super) async fn insert_event(
    tx: &mut Transaction<'static, Any>,
    ticket_id: i64,
    kind: EventKind,
    actor: &str,
    now: DateTime<Utc>,
    detail: EventDetail<'_>,
) -> Result<i64, StoreError> {
    let changes = if detail.changes.is_empty() {
        None
    } else {
        Some(
            serde_json::to_string(detail.changes)
                .map_err(|e| StoreError::Corrupt(format!("cannot encode changes: {e}")))?,
        )
    };
    let row = sqlx::query(
        "INSERT INTO ticket_events (ticket_id, kind, actor, at, reason, from_state, to_state, \
         changes, note, lawyer) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(ticket_id)
    .bind(kind.as_str())
    .bind(actor)
    .bind(now.timestamp_millis())
    .bind(detail.reason)
    .bind(detail.from_state.map(TicketState::as_str))
    .bind(detail.to_state.map(TicketState::as_str))
    .bind(changes)
    .bind(detail.note)
    .bind(detail.lawyer)
    .fetch_one(&mut **tx)
    .await?;
    get(&row, "id")
}

/// The lawyer a ticket has (assigned, provisional, or its owner), read in
/// the transaction that holds the ticket's lock.
pub(super) async fn assigned_lawyer(
    tx: &mut Transaction<'static, Any>,
    id: i64,
) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT assigned_lawyer FROM tickets WHERE id = $1")
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    get(&row, "assigned_lawyer")
}

pub(super) fn ticket_from_row(row: &AnyRow) -> Result<Ticket, StoreError> {
    Ok(Ticket {
        number: parse(&get::<String>(row, "number")?, TicketNumber::parse)?,
        aliases: Vec::new(),
        kind: parse(&get::<String>(row, "kind")?, TicketKind::parse)?,
        state: parse(&get::<String>(row, "state")?, TicketState::parse)?,
        matter: parse_opt(get(row, "matter")?, Matter::parse)?,
        urgency: parse_opt(get(row, "urgency")?, Urgency::parse)?,
        deadline: parse_opt(get(row, "deadline")?, parse_date)?,
        event_date: parse_opt(get(row, "event_date")?, parse_date)?,
        preservation: read_flag(row, "preservation")?,
        priority_group: parse(&get::<String>(row, "priority_group")?, PriorityGroup::parse)?,
        caller_number: parse_opt(get(row, "caller_number")?, PhoneNumber::parse)?,
        callback_number: parse_opt(get(row, "callback_number")?, PhoneNumber::parse)?,
        language: parse(&get::<String>(row, "language")?, Language::parse)?,
        center: get(row, "center")?,
        region: parse_opt(get(row, "region")?, RegionCode::parse)?,
        summary: get(row, "summary")?,
        last_node: get(row, "last_node")?,
        document: parse_opt(get(row, "document")?, Document::parse)?,
        chosen_rule: get(row, "chosen_rule")?,
        flags: Flags {
            hardship_waived: read_flag(row, "hardship_waived")?,
            hardship_basis: parse_opt(get(row, "hardship_basis")?, HardshipBasis::parse)?,
            advance_enforcement: read_flag(row, "advance_enforcement")?,
            pledge_offered: read_flag(row, "pledge_offered")?,
            home_visit: read_flag(row, "home_visit")?,
            mediation_preferred: read_flag(row, "mediation_preferred")?,
        },
        recordings: Vec::new(),
        assigned_lawyer: get(row, "assigned_lawyer")?,
        outcome: get(row, "outcome")?,
        rejection_reason: get(row, "rejection_reason")?,
        limitation_rule: get(row, "limitation_rule")?,
        limitation_warnings: match get::<Option<String>>(row, "limitation_warnings")? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("limitation warnings: {e}")))?,
            None => Vec::new(),
        },
        decision_due: parse_opt(get(row, "decision_due")?, parse_date)?,
        assignment_due: parse_opt(get(row, "assignment_due")?, parse_date)?,
        materials_received_at: get::<Option<i64>>(row, "materials_received_at")?
            .map(millis)
            .transpose()?,
        major_case: read_flag(row, "major_case")?,
        created_at: millis(get(row, "created_at")?)?,
        updated_at: millis(get(row, "updated_at")?)?,
    })
}

pub(super) fn event_from_row(row: &AnyRow) -> Result<TicketEvent, StoreError> {
    let kind: String = get(row, "kind")?;
    let changes: Option<String> = get(row, "changes")?;
    Ok(TicketEvent {
        id: get(row, "id")?,
        ticket_number: parse(&get::<String>(row, "number")?, TicketNumber::parse)?,
        kind: EventKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown event kind `{kind}`")))?,
        actor: get(row, "actor")?,
        at: millis(get(row, "at")?)?,
        reason: get(row, "reason")?,
        from_state: parse_opt(get(row, "from_state")?, TicketState::parse)?,
        to_state: parse_opt(get(row, "to_state")?, TicketState::parse)?,
        changes: match changes {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("event changes: {e}")))?,
            None => Vec::new(),
        },
        note: get(row, "note")?,
        lawyer: get(row, "lawyer")?,
    })
}

pub(super) fn apply(ticket: &mut Ticket, c: &Correction) {
    if let Some(m) = c.matter {
        ticket.matter = Some(m);
    }
    if let Some(d) = c.event_date {
        ticket.event_date = d;
    }
    if let Some(d) = c.document {
        ticket.document = d;
    }
    if let Some(r) = &c.chosen_rule {
        ticket.chosen_rule = r.clone();
    }
    if let Some(v) = c.advance_enforcement {
        ticket.flags.advance_enforcement = v;
    }
    if let Some(b) = c.hardship_basis {
        ticket.flags.hardship_basis = b;
    }
    if let Some(n) = &c.callback_number {
        ticket.callback_number = Some(n.clone());
    }
    if let Some(p) = c.preservation {
        ticket.preservation = p;
    }
    if let Some(g) = c.priority_group {
        ticket.priority_group = g;
    }
    if let Some(v) = c.hardship_waived {
        ticket.flags.hardship_waived = v;
    }
    if let Some(v) = c.pledge_offered {
        ticket.flags.pledge_offered = v;
    }
    if let Some(v) = c.home_visit {
        ticket.flags.home_visit = v;
    }
    if let Some(v) = c.mediation_preferred {
        ticket.flags.mediation_preferred = v;
    }
    if let Some(r) = c.region {
        ticket.region = Some(r);
    }
    if let Some(l) = c.language {
        ticket.language = l;
    }
}

/// The facts that differ between two versions of a ticket, as the history records them.
pub(super) fn diff(old: &Ticket, new: &Ticket) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let mut check = |field: &str, a: Option<String>, b: Option<String>| {
        if a != b {
            changes.push(FieldChange {
                field: field.to_owned(),
                old: a,
                new: b,
            });
        }
    };
    let text = |s: &str| Some(s.to_owned());
    let yes_no = |b: bool| Some(b.to_string());
    check(
        "matter",
        old.matter.map(|m| m.to_string()),
        new.matter.map(|m| m.to_string()),
    );
    check(
        "event_date",
        old.event_date.map(|d| d.to_string()),
        new.event_date.map(|d| d.to_string()),
    );
    check(
        "document",
        old.document.map(|d| d.to_string()),
        new.document.map(|d| d.to_string()),
    );
    check(
        "chosen_rule",
        old.chosen_rule.clone(),
        new.chosen_rule.clone(),
    );
    check(
        "advance_enforcement",
        yes_no(old.flags.advance_enforcement),
        yes_no(new.flags.advance_enforcement),
    );
    check(
        "hardship_basis",
        old.flags.hardship_basis.map(|b| b.to_string()),
        new.flags.hardship_basis.map(|b| b.to_string()),
    );
    check(
        "callback_number",
        old.callback_number.as_ref().map(|n| n.as_str().to_owned()),
        new.callback_number.as_ref().map(|n| n.as_str().to_owned()),
    );
    check(
        "preservation",
        yes_no(old.preservation),
        yes_no(new.preservation),
    );
    check(
        "priority_group",
        text(old.priority_group.as_str()),
        text(new.priority_group.as_str()),
    );
    check(
        "hardship_waived",
        yes_no(old.flags.hardship_waived),
        yes_no(new.flags.hardship_waived),
    );
    check(
        "pledge_offered",
        yes_no(old.flags.pledge_offered),
        yes_no(new.flags.pledge_offered),
    );
    check(
        "home_visit",
        yes_no(old.flags.home_visit),
        yes_no(new.flags.home_visit),
    );
    check(
        "mediation_preferred",
        yes_no(old.flags.mediation_preferred),
        yes_no(new.flags.mediation_preferred),
    );
    check(
        "region",
        old.region.map(|r| r.to_string()),
        new.region.map(|r| r.to_string()),
    );
    check(
        "language",
        text(old.language.as_str()),
        text(new.language.as_str()),
    );
    check(
        "urgency",
        old.urgency.map(|u| u.to_string()),
        new.urgency.map(|u| u.to_string()),
    );
    check(
        "deadline",
        old.deadline.map(|d| d.to_string()),
        new.deadline.map(|d| d.to_string()),
    );
    changes
}
