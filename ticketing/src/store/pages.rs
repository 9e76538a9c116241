//! Pages in the database (table `pages`): one row per call to the lawyer
//! an offer went to, written in the offer's transaction; claimed by exactly
//! one IVR node (a conditional update, whichever ticketing node it asks);
//! and closed by its outcome, which writes a `paged` event and, for a key
//! the lawyer pressed, their acknowledgement or decline, in one
//! transaction. Which offers are paged and when a page is retried is
//! [`crate::paging::PagingPolicy`]'s to say.

use chrono::{DateTime, Duration, Utc};
use hotline_domain::phone::blank_numbers;
use hotline_domain::TicketNumber;

use super::offers::ROUTING_ACTOR;
use super::offers::{list, ms};
use super::tickets::{insert_event, millis, parse, EventDetail};
use super::{get, Store, StoreError};
use crate::paging::{PageOutcome, PagingPolicy, DECLINED_BY_PHONE};
use crate::routing::{RosterError, RoutingPolicy};
use crate::tickets::EventKind;

/// Pages one IVR token may hold claimed and unreported at once: what a node
/// dials at once (its pager's slots), so a busy or rogue node cannot hoard
/// the pages other nodes could dial.
pub const MAX_DIALLING: i64 = 8;

/// A claim not reported within this is taken back (`failed`): longer than a
/// page call can last (ringing, the message twice, the key).
pub const CLAIM_TIMEOUT: Duration = Duration::minutes(3);

/// Says that the hourly cap holds pages back, at most once a minute.
fn cap_reached(dialled: i64, per_hour: u32, now: DateTime<Utc>) {
    static LAST: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let minute = now.timestamp() / 60;
    if LAST.swap(minute, std::sync::atomic::Ordering::Relaxed) != minute {
        tracing::warn!(dialled, per_hour, "page_calls_per_hour reached: pages wait");
    }
}

/// A page an IVR node has claimed and must dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageJob {
    pub id: i64,
    pub number: TicketNumber,
    pub lawyer: String,
    /// `sip:…` from the roster, or `tel:PHONE` for the outbound trunk.
    pub target: String,
    pub attempt: i64,
    pub ack_deadline: DateTime<Utc>,
    /// The lawyer's languages, the first spoken on the call.
    pub languages: Vec<String>,
}

/// What reporting a page's outcome did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageFinish {
    /// Written; for `accepted` and `declined`, the offer was decided.
    Recorded,
    /// The lawyer chose, but the offer was no longer theirs to decide
    /// (acknowledged elsewhere first, expired, withdrawn): the outcome is
    /// written, the ticket unchanged.
    OfferGone,
    /// No page of that id is being dialled by that node.
    Unknown,
}

impl Store {
    /// Writes attempt `attempt` of a page for `offer_id`, due at `due`,
    /// when the lawyer can be reached ([`PagingPolicy::target`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn schedule_page(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        policy: &PagingPolicy,
        ticket_id: i64,
        offer_id: i64,
        lawyer: &str,
        attempt: i64,
        due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT phone, sip_uri FROM lawyers WHERE id = $1")
            .bind(lawyer)
            .fetch_one(&mut **tx)
            .await?;
        let Some(target) = policy.target(
            get::<Option<String>>(&row, "sip_uri")?.as_deref(),
            &get::<String>(&row, "phone")?,
        ) else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO pages (offer_id, ticket_id, lawyer_id, target, attempt, state, due_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
        )
        .bind(offer_id)
        .bind(ticket_id)
        .bind(lawyer)
        .bind(&target)
        .bind(attempt)
        .bind(ms(due))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Claims the next due page for IVR node `node` (holding token
    /// `token`), unless `per_hour` pages were already handed out in the last
    /// hour or the token already holds [`MAX_DIALLING`] pages not reported
    /// yet (a node takes only what it can dial). Pages whose offer has
    /// ended are cancelled on the way.
    pub async fn claim_page(
        &self,
        node: &str,
        token: &str,
        per_hour: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<PageJob>, StoreError> {
        // Most polls find nothing: a read, not a write lock, for them.
        let due =
            sqlx::query("SELECT id FROM pages WHERE state = 'pending' AND due_at <= $1 LIMIT 1")
                .bind(ms(now))
                .fetch_optional(&self.pool)
                .await?;
        if due.is_none() {
            return Ok(None);
        }
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE pages SET state = 'cancelled', finished_at = $1 WHERE state = 'pending' \
             AND EXISTS (SELECT 1 FROM offers o WHERE o.id = pages.offer_id \
             AND (o.state <> 'pending' OR o.ack_deadline <= $1))",
        )
        .bind(ms(now))
        .execute(&mut **tx)
        .await?;
        let dialled: i64 = get(
            &sqlx::query("SELECT COUNT(*) AS n FROM pages WHERE claimed_at > $1")
                .bind(ms(now - Duration::hours(1)))
                .fetch_one(&mut **tx)
                .await?,
            "n",
        )?;
        if dialled >= i64::from(per_hour) {
            tx.commit().await?;
            cap_reached(dialled, per_hour, now);
            return Ok(None);
        }
        let held: i64 = get(
            &sqlx::query(
                "SELECT COUNT(*) AS n FROM pages WHERE state = 'dialling' AND claimed_token = $1",
            )
            .bind(token)
            .fetch_one(&mut **tx)
            .await?,
            "n",
        )?;
        if held >= MAX_DIALLING {
            tx.commit().await?;
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT p.id, p.lawyer_id, p.target, p.attempt, t.number, o.ack_deadline, l.languages \
             FROM pages p JOIN offers o ON o.id = p.offer_id JOIN tickets t ON t.id = p.ticket_id \
             JOIN lawyers l ON l.id = p.lawyer_id \
             WHERE p.state = 'pending' AND p.due_at <= $1 \
             AND o.state = 'pending' AND o.ack_deadline > $1 ORDER BY p.due_at, p.id LIMIT 1",
        )
        .bind(ms(now))
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let id: i64 = get(&row, "id")?;
        let claimed = sqlx::query(
            "UPDATE pages SET state = 'dialling', node = $2, claimed_token = $3, claimed_at = $4 \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(node)
        .bind(token)
        .bind(ms(now))
        .execute(&mut **tx)
        .await?;
        tx.commit().await?;
        if claimed.rows_affected() != 1 {
            // Another ticketing node handed it out first.
            return Ok(None);
        }
        Ok(Some(PageJob {
            id,
            number: parse(&get::<String>(&row, "number")?, TicketNumber::parse)?,
            lawyer: get(&row, "lawyer_id")?,
            target: get(&row, "target")?,
            attempt: get(&row, "attempt")?,
            ack_deadline: millis(get(&row, "ack_deadline")?)?,
            languages: list(&get::<String>(&row, "languages")?),
        }))
    }

    /// Pages claimed longer than [`CLAIM_TIMEOUT`] ago and never reported
    /// (the IVR node died, or could not reach ticketing): each ends
    /// `failed` with its event, and is retried if the offer still has time.
    pub async fn expire_page_claims(
        &self,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let rows = sqlx::query(
            "SELECT id, node, claimed_token FROM pages \
             WHERE state = 'dialling' AND claimed_at <= $1 ORDER BY id LIMIT 100",
        )
        .bind(ms(now - CLAIM_TIMEOUT))
        .fetch_all(&self.pool)
        .await?;
        let mut expired = 0;
        for row in rows {
            let node = get::<Option<String>>(&row, "node")?.unwrap_or_default();
            let token = get::<Option<String>>(&row, "claimed_token")?.unwrap_or_default();
            let detail = format!("not reported by IVR node {node}");
            let finish = self
                .finish_page(
                    get(&row, "id")?,
                    &node,
                    &token,
                    ROUTING_ACTOR,
                    PageOutcome::Failed,
                    Some(&detail),
                    false,
                    policy,
                    now,
                )
                .await?;
            if finish == PageFinish::Recorded {
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// Closes page `id`, dialled by `node` under token `token`, with its
    /// outcome (the event's actor is `actor`, the token's): `accepted`
    /// acknowledges the offer as the lawyer, `declined` declines it (the
    /// next candidate is asked), anything else leaves the offer running and
    /// schedules a retry if the policy allows one before its deadline.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_page(
        &self,
        id: i64,
        node: &str,
        token: &str,
        actor: &str,
        outcome: PageOutcome,
        detail: Option<&str>,
        permanent: bool,
        policy: &RoutingPolicy,
        now: DateTime<Utc>,
    ) -> Result<PageFinish, StoreError> {
        let mut tx = self.begin_write().await?;
        // Taken by exactly one report: the node and token that claimed it,
        // while it is being dialled. A repeat, a report after the claim was
        // taken back, or anyone else's changes nothing.
        let taken = sqlx::query(
            "UPDATE pages SET state = $4, finished_at = $5, detail = $6 \
             WHERE id = $1 AND state = 'dialling' AND node = $2 AND claimed_token = $3",
        )
        .bind(id)
        .bind(node)
        .bind(token)
        .bind(outcome.as_str())
        .bind(ms(now))
        .bind(detail)
        .execute(&mut **tx)
        .await?;
        if taken.rows_affected() != 1 {
            return Ok(PageFinish::Unknown);
        }
        let row = sqlx::query(
            "SELECT p.ticket_id, p.offer_id, p.lawyer_id, p.target, p.attempt, \
             o.state AS offer_state, o.ack_deadline \
             FROM pages p JOIN offers o ON o.id = p.offer_id WHERE p.id = $1",
        )
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
        let ticket_id: i64 = get(&row, "ticket_id")?;
        let lawyer: String = get(&row, "lawyer_id")?;
        let attempt: i64 = get(&row, "attempt")?;
        let target: String = get(&row, "target")?;
        let mut finish = PageFinish::Recorded;
        let decided = match outcome {
            PageOutcome::Accepted => Some(
                self.acknowledge_in(&mut tx, ticket_id, &lawyer, Some("by phone"), policy, now)
                    .await?,
            ),
            PageOutcome::Declined => Some(
                self.decline_in(&mut tx, ticket_id, &lawyer, DECLINED_BY_PHONE, policy, now)
                    .await?,
            ),
            _ => None,
        };
        if let Some(Err(RosterError::NoOffer { .. })) = decided {
            finish = PageFinish::OfferGone;
        } else if let Some(Err(e)) = decided {
            return Err(StoreError::Corrupt(e.to_string()));
        }
        // Phone numbers stay out of histories: a trunk call is shown only
        // as such, and digits in a SIP address or a detail are blanked.
        let dialled = if target.starts_with("tel:") {
            "phone, through the trunk".to_owned()
        } else {
            blank_numbers(&target)
        };
        let mut note = format!(
            "page to lawyer {lawyer} ({dialled}), attempt {attempt}, by IVR node {node}: {}",
            outcome.as_str()
        );
        if let Some(detail) = detail.filter(|d| !d.is_empty()) {
            note.push_str(&format!(" ({})", blank_numbers(detail)));
        }
        if finish == PageFinish::OfferGone {
            note.push_str("; the offer was no longer open");
        }
        let ack_deadline = millis(get(&row, "ack_deadline")?)?;
        let offer_open = get::<String>(&row, "offer_state")? == "pending";
        let attempt_no = u32::try_from(attempt).unwrap_or(u32::MAX);
        // A failure that cannot be helped by calling again is not retried.
        if offer_open && !permanent {
            if let Some(at) = policy
                .paging
                .retry_at(attempt_no, outcome, now, ack_deadline)
            {
                self.schedule_page(
                    &mut tx,
                    &policy.paging,
                    ticket_id,
                    get(&row, "offer_id")?,
                    &lawyer,
                    attempt + 1,
                    at,
                )
                .await?;
                note.push_str(&format!(
                    "; called again at {}",
                    hotline_domain::shown_time(at)
                ));
            }
        }
        insert_event(
            &mut tx,
            ticket_id,
            EventKind::Paged,
            actor,
            now,
            EventDetail {
                note: Some(&note),
                lawyer: Some(&lawyer),
                ..EventDetail::default()
            },
        )
        .await?;
        tx.commit().await?;
        self.committed();
        Ok(finish)
    }
}
