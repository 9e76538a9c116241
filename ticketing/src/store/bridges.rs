//! Click-to-call bridges in the database (table `bridges`): asked for by a
//! lawyer or supervisor, claimed by exactly one IVR node (a conditional
//! update, whichever ticketing node it asks), and closed by the node's
//! report, whose caller leg becomes a callback attempt in the lawyer's
//! name in the same transaction. The caller's number is read from the
//! ticket when a node claims the bridge and is stored nowhere else.

use chrono::{DateTime, Utc};
use hotline_domain::{PhoneNumber, TicketNumber, TicketState};

use super::callbacks::NextAfterFailures;
use super::offers::{list, ms, ROUTING_ACTOR};
use super::tickets::{insert_event, parse, EventDetail};
use super::{get, Store, StoreError};
use crate::callbacks::bridge::{
    BridgeError, LegOutcome, CLAIM_TIMEOUT, MAX_BRIDGING, MAX_WAITING_PER_LAWYER, UNCLAIMED_TIMEOUT,
};
use crate::callbacks::number_to_call;
use crate::paging::PagingPolicy;
use crate::tickets::lifecycle::LifecycleError;
use crate::tickets::EventKind;

/// A bridge an IVR node has claimed and must place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeJob {
    pub id: i64,
    pub number: TicketNumber,
    pub lawyer: String,
    /// `sip:…` from the roster, or `tel:PHONE` for the outbound trunk.
    pub lawyer_target: String,
    /// The number to call back, in full.
    pub caller: PhoneNumber,
    /// The lawyer's languages, the first the IVR speaks used on their leg.
    pub lawyer_languages: Vec<String>,
    /// The ticket's language: what the caller hears.
    pub caller_language: String,
}

/// A bridge's row, as far as giving it up needs.
struct Bridge {
    id: i64,
    ticket_id: i64,
    lawyer: String,
}

impl Bridge {
    /// From a row with `id`, `ticket_id` and `lawyer_id`.
    fn of(row: &sqlx::any::AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: get(row, "id")?,
            ticket_id: get(row, "ticket_id")?,
            lawyer: get(row, "lawyer_id")?,
        })
    }
}

/// How one leg of a bridge ended, and what the node says about it.
#[derive(Debug, Clone, Copy)]
pub struct BridgeLegs<'a> {
    pub lawyer: LegOutcome,
    /// `None` when the caller was not dialled.
    pub caller: Option<LegOutcome>,
    pub detail: Option<&'a str>,
    pub talk_seconds: i64,
}

impl Store {
    /// Asks for a click-to-call of `number`'s caller by `lawyer`, on behalf
    /// of `requested_by`. Refused for a closed or rejected ticket, one with
    /// no number the trunk can dial, a lawyer not on the roster or not
    /// active, or one with [`MAX_WAITING_PER_LAWYER`] bridges waiting.
    pub async fn request_bridge(
        &self,
        number: &TicketNumber,
        lawyer: &str,
        requested_by: &str,
        paging: &PagingPolicy,
        per_hour: u32,
        now: DateTime<Utc>,
    ) -> Result<i64, BridgeError> {
        let id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await.map_err(StoreError::from)?;
        let state = self.locked_state(&mut tx, id).await?;
        if matches!(state, TicketState::Closed | TicketState::Rejected) {
            return Err(StoreError::from(LifecycleError::CallbackOver(state)).into());
        }
        let row =
            sqlx::query("SELECT caller_number, callback_number, center FROM tickets WHERE id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await
                .map_err(StoreError::from)?;
        let phone = |column: &str| -> Result<Option<PhoneNumber>, StoreError> {
            let text: Option<String> = get(&row, column)?;
            Ok(text.and_then(|t| PhoneNumber::parse(&t).ok()))
        };
        let (caller, callback) = (phone("caller_number")?, phone("callback_number")?);
        let to_call = number_to_call(callback.as_ref(), caller.as_ref())
            .ok_or(StoreError::from(LifecycleError::NoNumberToCall))?;
        if !hotline_domain::phone::callable(to_call.as_str()) {
            return Err(BridgeError::NotCallable(to_call.masked()));
        }
        // Locked on PostgreSQL, so that two requests for one lawyer count
        // each other (SQLite holds the write lock already).
        let lawyer_sql = match self.backend {
            super::Backend::Postgres => {
                "SELECT phone, sip_uri, active, center FROM lawyers WHERE id = $1 FOR UPDATE"
            }
            super::Backend::Sqlite => {
                "SELECT phone, sip_uri, active, center FROM lawyers WHERE id = $1"
            }
        };
        let lawyer_row = sqlx::query(lawyer_sql)
            .bind(lawyer)
            .fetch_optional(&mut **tx)
            .await
            .map_err(StoreError::from)?
            .ok_or_else(|| BridgeError::UnknownLawyer(lawyer.to_owned()))?;
        if !super::tickets::read_flag(&lawyer_row, "active")? {
            return Err(BridgeError::Inactive(lawyer.to_owned()));
        }
        let center: String = get(&row, "center")?;
        if get::<String>(&lawyer_row, "center")? != center {
            return Err(BridgeError::OtherCenter {
                lawyer: lawyer.to_owned(),
                center,
            });
        }
        let target = paging
            .target(
                get::<Option<String>>(&lawyer_row, "sip_uri")?.as_deref(),
                &get::<String>(&lawyer_row, "phone")?,
            )
            .ok_or(BridgeError::NoTrunk)?;
        // In progress: waiting for a node (and not yet given up), or being
        // placed (and not yet taken back).
        const IN_PROGRESS: &str = "((state = 'pending' AND created_at > $2) \
             OR (state = 'dialling' AND claimed_at > $3))";
        let (waited, claimed) = (ms(now - UNCLAIMED_TIMEOUT), ms(now - CLAIM_TIMEOUT));
        let of_ticket_sql =
            format!("SELECT COUNT(*) AS n FROM bridges WHERE ticket_id = $1 AND {IN_PROGRESS}");
        let of_lawyer_sql =
            format!("SELECT COUNT(*) AS n FROM bridges WHERE lawyer_id = $1 AND {IN_PROGRESS}");
        let of_ticket: i64 = get(
            &sqlx::query(sqlx::AssertSqlSafe(of_ticket_sql.as_str()))
                .bind(id)
                .bind(waited)
                .bind(claimed)
                .fetch_one(&mut **tx)
                .await
                .map_err(StoreError::from)?,
            "n",
        )?;
        // One at a time per ticket: a second press rings nobody twice.
        if of_ticket > 0 {
            return Err(BridgeError::InProgress(number.to_string()));
        }
        let of_lawyer: i64 = get(
            &sqlx::query(sqlx::AssertSqlSafe(of_lawyer_sql.as_str()))
                .bind(lawyer)
                .bind(waited)
                .bind(claimed)
                .fetch_one(&mut **tx)
                .await
                .map_err(StoreError::from)?,
            "n",
        )?;
        if of_lawyer >= MAX_WAITING_PER_LAWYER {
            return Err(BridgeError::TooMany(lawyer.to_owned()));
        }
        let this_hour: i64 = get(
            &sqlx::query("SELECT COUNT(*) AS n FROM bridges WHERE created_at > $1")
                .bind(ms(now - chrono::Duration::hours(1)))
                .fetch_one(&mut **tx)
                .await
                .map_err(StoreError::from)?,
            "n",
        )?;
        if this_hour >= i64::from(per_hour) {
            return Err(BridgeError::HourlyCap(per_hour));
        }
        let bridge: i64 = get(
            &sqlx::query(
                "INSERT INTO bridges (ticket_id, lawyer_id, lawyer_target, requested_by, state, \
                 created_at) VALUES ($1, $2, $3, $4, 'pending', $5) RETURNING id",
            )
            .bind(id)
            .bind(lawyer)
            .bind(&target)
            .bind(requested_by)
            .bind(ms(now))
            .fetch_one(&mut **tx)
            .await
            .map_err(StoreError::from)?,
            "id",
        )?;
        let note = format!("click-to-call {bridge} asked for: lawyer {lawyer}, then the caller");
        insert_event(
            &mut tx,
            id,
            EventKind::Note,
            requested_by,
            now,
            EventDetail {
                note: Some(&note),
                lawyer: Some(lawyer),
                ..EventDetail::default()
            },
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.committed();
        Ok(bridge)
    }

    /// Claims the oldest waiting bridge for IVR node `node` (holding token
    /// `token`), unless the token already holds [`MAX_BRIDGING`] bridges
    /// not reported yet.
    pub async fn claim_bridge(
        &self,
        node: &str,
        token: &str,
        boot: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<BridgeJob>, StoreError> {
        // Most polls find nothing: a read, not a write lock, for them.
        let waiting = sqlx::query(
            "SELECT id FROM bridges WHERE state = 'pending' AND created_at > $1 LIMIT 1",
        )
        .bind(ms(now - UNCLAIMED_TIMEOUT))
        .fetch_optional(&self.pool)
        .await?;
        if waiting.is_none() {
            return Ok(None);
        }
        let mut tx = self.begin_write().await?;
        let held: i64 = get(
            &sqlx::query(
                "SELECT COUNT(*) AS n FROM bridges WHERE state = 'dialling' AND claimed_token = $1",
            )
            .bind(token)
            .fetch_one(&mut **tx)
            .await?,
            "n",
        )?;
        if held >= MAX_BRIDGING {
            tx.commit().await?;
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT b.id, b.ticket_id, b.lawyer_id, b.lawyer_target, t.number, t.state, \
             t.caller_number, t.callback_number, t.language, l.languages, l.active \
             FROM bridges b JOIN tickets t ON t.id = b.ticket_id \
             JOIN lawyers l ON l.id = b.lawyer_id \
             WHERE b.state = 'pending' AND b.created_at > $1 ORDER BY b.id LIMIT 1",
        )
        .bind(ms(now - UNCLAIMED_TIMEOUT))
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let id: i64 = get(&row, "id")?;
        let phone = |column: &str| -> Result<Option<PhoneNumber>, StoreError> {
            let text: Option<String> = get(&row, column)?;
            Ok(text.and_then(|t| PhoneNumber::parse(&t).ok()))
        };
        let (caller, callback) = (phone("caller_number")?, phone("callback_number")?);
        let to_call = number_to_call(callback.as_ref(), caller.as_ref())
            .filter(|n| hotline_domain::phone::callable(n.as_str()))
            .cloned();
        let state = parse(&get::<String>(&row, "state")?, TicketState::parse)?;
        // What changed since it was asked for: the ticket closed, its
        // number corrected away or anonymised, the lawyer made inactive.
        let gone = if matches!(state, TicketState::Closed | TicketState::Rejected) {
            Some(format!("the ticket is {}", state.as_str()))
        } else if to_call.is_none() {
            Some("the ticket has no number the trunk can dial any more".to_owned())
        } else if !super::tickets::read_flag(&row, "active")? {
            Some("the lawyer is no longer active".to_owned())
        } else {
            None
        };
        let (Some(to_call), None) = (to_call, &gone) else {
            let why = gone.unwrap_or_default();
            let bridge = Bridge::of(&row)?;
            Self::give_up_in(&mut tx, &bridge, "pending", &why, "not placed", now).await?;
            tx.commit().await?;
            self.committed();
            return Ok(None);
        };
        let claimed = sqlx::query(
            "UPDATE bridges SET state = 'dialling', node = $2, claimed_token = $3, \
             claimed_at = $4, claimed_boot = $5 WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(node)
        .bind(token)
        .bind(ms(now))
        .bind(boot)
        .execute(&mut **tx)
        .await?;
        tx.commit().await?;
        if claimed.rows_affected() != 1 {
            // Another ticketing node handed it out first.
            return Ok(None);
        }
        Ok(Some(BridgeJob {
            id,
            number: parse(&get::<String>(&row, "number")?, TicketNumber::parse)?,
            lawyer: get(&row, "lawyer_id")?,
            lawyer_target: get(&row, "lawyer_target")?,
            caller: to_call,
            lawyer_languages: list(&get::<String>(&row, "languages")?),
            caller_language: get(&row, "language")?,
        }))
    }

    /// Gives up the bridges an earlier run of IVR node `node` holds (it
    /// started again as run `boot`, and cannot report them): each ends
    /// `failed` with a note, and no longer blocks its ticket or lawyer.
    pub async fn release_earlier_runs(
        &self,
        node: &str,
        boot: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let rows = sqlx::query(
            "SELECT id, ticket_id, lawyer_id FROM bridges WHERE node = $1 \
             AND state = 'dialling' AND claimed_boot <> $2 ORDER BY id LIMIT 100",
        )
        .bind(node)
        .bind(boot)
        .fetch_all(&self.pool)
        .await?;
        let detail = format!("IVR node {node} started again before reporting it");
        let mut released = 0;
        for row in rows {
            let bridge = Bridge::of(&row)?;
            if self.give_up(&bridge, "dialling", &detail, now).await? {
                released += 1;
            }
        }
        if released > 0 {
            self.committed();
        }
        Ok(released)
    }

    /// Gives up bridges nobody took within [`UNCLAIMED_TIMEOUT`] and takes
    /// back claims not reported within [`CLAIM_TIMEOUT`]: each ends
    /// `failed` with a note on the ticket. No callback attempt is written:
    /// nobody knows whether the caller's phone rang.
    pub async fn expire_bridges(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let rows = sqlx::query(
            "SELECT id, ticket_id, lawyer_id, state, node FROM bridges \
             WHERE (state = 'pending' AND created_at <= $1) \
             OR (state = 'dialling' AND claimed_at <= $2) ORDER BY id LIMIT 100",
        )
        .bind(ms(now - UNCLAIMED_TIMEOUT))
        .bind(ms(now - CLAIM_TIMEOUT))
        .fetch_all(&self.pool)
        .await?;
        let mut expired = 0;
        for row in rows {
            let state: String = get(&row, "state")?;
            let detail = if state == "pending" {
                format!(
                    "no IVR node took the call within {} minutes (is an IVR node running, with a token of role ivr?)",
                    UNCLAIMED_TIMEOUT.num_minutes()
                )
            } else {
                format!(
                    "not reported by IVR node {}",
                    get::<Option<String>>(&row, "node")?.unwrap_or_default()
                )
            };
            if self
                .give_up(&Bridge::of(&row)?, &state, &detail, now)
                .await?
            {
                expired += 1;
            }
        }
        if expired > 0 {
            self.committed();
        }
        Ok(expired)
    }

    /// Ends `bridge` `failed` if it is still in `state`, with a note on its
    /// ticket (`what` happened: "failed", "not placed", and why), in its
    /// own transaction; whether it was.
    async fn give_up(
        &self,
        bridge: &Bridge,
        state: &str,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let given_up = Self::give_up_in(&mut tx, bridge, state, why, "failed", now).await?;
        tx.commit().await?;
        Ok(given_up)
    }

    /// [`Store::give_up`] in `tx`.
    async fn give_up_in(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        bridge: &Bridge,
        state: &str,
        why: &str,
        what: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let taken = sqlx::query(
            "UPDATE bridges SET state = 'failed', finished_at = $3, detail = $4 \
             WHERE id = $1 AND state = $2",
        )
        .bind(bridge.id)
        .bind(state)
        .bind(ms(now))
        .bind(why)
        .execute(&mut **tx)
        .await?;
        if taken.rows_affected() != 1 {
            return Ok(false);
        }
        let (id, lawyer) = (bridge.id, &bridge.lawyer);
        let note = format!("click-to-call {id} with lawyer {lawyer} {what}: {why}");
        insert_event(
            tx,
            bridge.ticket_id,
            EventKind::Note,
            ROUTING_ACTOR,
            now,
            EventDetail {
                note: Some(&note),
                lawyer: Some(lawyer),
                ..EventDetail::default()
            },
        )
        .await?;
        Ok(true)
    }

    /// Closes bridge `id`, placed by `node` under token `token`, with how
    /// its legs went. A caller leg that reached the caller's phone is a
    /// callback attempt in the lawyer's name (`next` decides what follows
    /// a failed one); otherwise a note by `reporter` (the IVR node's
    /// token) says what happened. `false` when no
    /// bridge of that id is being placed by that node and token.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_bridge(
        &self,
        id: i64,
        node: &str,
        token: &str,
        reporter: &str,
        legs: BridgeLegs<'_>,
        now: DateTime<Utc>,
        next: &NextAfterFailures<'_>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let taken = sqlx::query(
            "UPDATE bridges SET state = 'done', finished_at = $4, lawyer_leg = $5, \
             caller_leg = $6, detail = $7, talk_seconds = $8 \
             WHERE id = $1 AND state = 'dialling' AND node = $2 AND claimed_token = $3",
        )
        .bind(id)
        .bind(node)
        .bind(token)
        .bind(ms(now))
        .bind(legs.lawyer.as_str())
        .bind(legs.caller.map(LegOutcome::as_str))
        .bind(legs.detail)
        .bind(legs.talk_seconds)
        .execute(&mut **tx)
        .await?;
        if taken.rows_affected() != 1 {
            return Ok(false);
        }
        let row = sqlx::query("SELECT ticket_id, lawyer_id FROM bridges WHERE id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
        let ticket_id: i64 = get(&row, "ticket_id")?;
        let lawyer: String = get(&row, "lawyer_id")?;
        let detail = legs
            .detail
            .filter(|d| !d.is_empty())
            .map(|d| format!(" ({})", hotline_domain::phone::blank_numbers(d)))
            .unwrap_or_default();
        let actor = format!("lawyer:{lawyer}");
        let mut recorded = false;
        if let Some(outcome) = legs.caller.and_then(LegOutcome::attempt) {
            let mut note = format!("click-to-call {id} by IVR node {node}");
            if outcome == crate::callbacks::CallbackOutcome::Answered {
                note.push_str(&format!(", connected {} s", legs.talk_seconds));
            }
            note.push_str(&detail);
            // Refused (before writing anything) when the ticket was closed
            // or its number removed during the call: a note says it instead.
            match self
                .record_callback_in(&mut tx, ticket_id, outcome, &note, &actor, now, next)
                .await
            {
                Ok(_) => recorded = true,
                Err(StoreError::Lifecycle(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if !recorded {
            {
                let what = match legs.caller {
                    None if legs.lawyer == LegOutcome::Answered => {
                        format!("lawyer {lawyer} hung up before the caller was dialled")
                    }
                    None if legs.lawyer == LegOutcome::Failed => {
                        "not placed; the caller was not dialled".to_owned()
                    }
                    None => format!(
                        "lawyer {lawyer} was not reached ({}); the caller was not dialled",
                        legs.lawyer.as_str()
                    ),
                    Some(LegOutcome::Failed) => {
                        "the caller was not connected to the lawyer".to_owned()
                    }
                    Some(o) => format!("the caller's leg: {}", o.as_str()),
                };
                let note = format!("click-to-call {id} by IVR node {node}: {what}{detail}");
                insert_event(
                    &mut tx,
                    ticket_id,
                    EventKind::Note,
                    reporter,
                    now,
                    EventDetail {
                        note: Some(&note),
                        lawyer: Some(&lawyer),
                        ..EventDetail::default()
                    },
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.committed();
        Ok(true)
    }
}
