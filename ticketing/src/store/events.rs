//! The event log as streams read it: every ticket event after a cursor,
//! all of them or those concerning one lawyer. On PostgreSQL a reader sees
//! only events of transactions older than every running one, so an event
//! committed out of order is never skipped.

// Dynamic SQL here is built from constant fragments and `$n` placeholders,
// never from input: every value is bound.
use sqlx::AssertSqlSafe;

use super::tickets::event_from_row;
use super::{get, Backend, Store, StoreError};
use crate::tickets::TicketEvent;

impl Store {
    /// The id of the newest event, 0 when there is none.
    pub async fn latest_event_id(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS id FROM ticket_events")
            .fetch_one(&self.pool)
            .await?;
        get(&row, "id")
    }

    /// Events after the event `after` (0: from the start), at most `limit`,
    /// in the order streams deliver them; only `lawyer`'s offer events when
    /// given. Gap-safe on PostgreSQL: only events of transactions older than
    /// every running one are returned, in (transaction, id) order, so an
    /// event committed later never sorts before one already delivered.
    pub async fn events_after(
        &self,
        after: i64,
        lawyer: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TicketEvent>, StoreError> {
        Ok(self.events_after_held(after, lawyer, limit).await?.0)
    }

    /// [`Store::events_after`], and whether committed events wait behind a
    /// transaction still running (PostgreSQL only): they are not returned
    /// yet, and that transaction's commit may wake no reader (an audit
    /// line, say, writes no event), so a reader told so looks again soon.
    pub async fn events_after_held(
        &self,
        after: i64,
        lawyer: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<TicketEvent>, bool), StoreError> {
        let columns = "e.id, t.number, e.kind, e.actor, e.at, e.reason, e.from_state, \
             e.to_state, e.changes, e.note, e.lawyer";
        let filter = if lawyer.is_some() {
            "AND e.lawyer = $4"
        } else {
            "AND $4 = $4"
        };
        match self.backend {
            Backend::Sqlite => {
                let sql = format!(
                    "SELECT {columns} FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id \
                     WHERE e.id > $1 AND $2 = $2 {filter} ORDER BY e.id LIMIT $3"
                );
                let rows = sqlx::query(AssertSqlSafe(sql.as_str()))
                    .bind(after)
                    .bind(0_i64)
                    .bind(limit)
                    .bind(lawyer.unwrap_or_default())
                    .fetch_all(&self.pool)
                    .await?;
                let events = rows.iter().map(event_from_row).collect::<Result<_, _>>()?;
                Ok((events, false))
            }
            Backend::Postgres => {
                // One statement: the events of transactions older than the
                // horizon (the oldest transaction still running) and at most
                // one held behind it, so that the reader learns of held
                // events without fetching them all for as long as a
                // transaction stays open. The horizon and the cursor's
                // transaction are sub-selects the planner runs once and
                // uses as bounds of the (txid, id) index scan; in (txid,
                // id) order the held event comes last.
                let horizon = "(SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint)";
                let from = format!(
                    "FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id \
                     WHERE (e.txid, e.id) > \
                     (COALESCE((SELECT c.txid FROM ticket_events c WHERE c.id = $1), 0), $1) \
                     {filter}"
                );
                let sql = format!(
                    "SELECT * FROM (\
                     (SELECT {columns}, e.txid, {horizon} AS horizon {from} \
                     AND e.txid < {horizon} AND $2 = $2 ORDER BY e.txid, e.id LIMIT $3) \
                     UNION ALL \
                     (SELECT {columns}, e.txid, {horizon} AS horizon {from} \
                     AND e.txid >= {horizon} ORDER BY e.txid, e.id LIMIT 1)) r \
                     ORDER BY r.txid, r.id"
                );
                let rows = sqlx::query(AssertSqlSafe(sql.as_str()))
                    .bind(after)
                    .bind(0_i64)
                    .bind(limit)
                    .bind(lawyer.unwrap_or_default())
                    .fetch_all(&self.pool)
                    .await?;
                let mut events = Vec::with_capacity(rows.len());
                for row in &rows {
                    let txid: i64 = get(row, "txid")?;
                    let horizon: i64 = get(row, "horizon")?;
                    if txid >= horizon {
                        return Ok((events, true));
                    }
                    events.push(event_from_row(row)?);
                }
                Ok((events, false))
            }
        }
    }
}
