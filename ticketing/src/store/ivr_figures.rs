//! The IVR nodes' call-flow counts per day, center and menu node (table
//! `ivr_figures`): each report of a node's run replaces that run's rows,
//! and a period's figures add up every run.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::AssertSqlSafe;

use super::offers::ms;
use super::{get, Store, StoreError};
use crate::stats::ivr::{MenuNodeDay, NodeCounts};
use crate::stats::Period;

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Keeps `rows` as the counts of `ivr_node`'s run `boot`, replacing
    /// what an earlier report of the run said, in one transaction.
    pub async fn put_ivr_figures(
        &self,
        ivr_node: &str,
        boot: &str,
        rows: &[MenuNodeDay],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for row in rows {
            sqlx::query(
                "INSERT INTO ivr_figures (ivr_node, boot, day, center, node, entered, completed, \
                 abandoned, invalid, timeouts, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (ivr_node, boot, day, center, node) DO UPDATE SET \
                 entered = excluded.entered, completed = excluded.completed, \
                 abandoned = excluded.abandoned, invalid = excluded.invalid, \
                 timeouts = excluded.timeouts, updated_at = excluded.updated_at",
            )
            .bind(ivr_node)
            .bind(boot)
            .bind(row.day.format("%Y-%m-%d").to_string())
            .bind(&row.center)
            .bind(&row.node)
            .bind(count(row.counts.entered))
            .bind(count(row.counts.completed))
            .bind(count(row.counts.abandoned))
            .bind(count(row.counts.invalid))
            .bind(count(row.counts.timeouts))
            .bind(ms(now))
            .execute(&mut **tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The counts of `period`'s days (of `center`, when given), added up
    /// over nodes and runs, by menu node.
    pub async fn ivr_figures(
        &self,
        period: &Period,
        center: Option<&str>,
    ) -> Result<Vec<(String, NodeCounts)>, StoreError> {
        let center_sql = if center.is_some() {
            " AND center = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT node, CAST(SUM(entered) AS BIGINT) AS entered, \
             CAST(SUM(completed) AS BIGINT) AS completed, \
             CAST(SUM(abandoned) AS BIGINT) AS abandoned, \
             CAST(SUM(invalid) AS BIGINT) AS invalid, \
             CAST(SUM(timeouts) AS BIGINT) AS timeouts \
             FROM ivr_figures WHERE day >= $1 AND day <= $2{center_sql} \
             GROUP BY node ORDER BY node"
        );
        let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(day(period.from))
            .bind(day(period.to));
        if let Some(c) = center {
            query = query.bind(c);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            // (SUM of BIGINT is NUMERIC on PostgreSQL: hence the CASTs.)
            let n = |column: &str| -> Result<u64, StoreError> {
                let v: i64 = get(row, column)?;
                Ok(u64::try_from(v).unwrap_or(0))
            };
            out.push((
                get(row, "node")?,
                NodeCounts {
                    entered: n("entered")?,
                    completed: n("completed")?,
                    abandoned: n("abandoned")?,
                    invalid: n("invalid")?,
                    timeouts: n("timeouts")?,
                },
            ));
        }
        Ok(out)
    }
}
