//! The duty roster in the database: lawyers (skills, regions, languages,
//! capacity) and their shifts, who is on duty at an instant, and shift
//! swaps. Refusals the caller can fix come back as `RosterError`.

use chrono::{DateTime, Utc};
// Dynamic SQL here is built from constant fragments and `$n` placeholders,
// never from input: every value is bound.

use super::offers::{lawyer_from_row, ms};
use super::tickets::millis;
use super::{get, Backend, Store, StoreError};
use crate::routing::{Lawyer, RosterError, Shift};

impl Store {
    /// Adds a lawyer, or updates the one with that id.
    pub async fn put_lawyer(&self, lawyer: &Lawyer, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO lawyers (id, center, name, phone, sip_uri, skills, regions, languages, \
             capacity, active, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO UPDATE SET center = $2, name = $3, phone = $4, sip_uri = $5, \
             skills = $6, regions = $7, languages = $8, capacity = $9, active = $10",
        )
        .bind(&lawyer.id)
        .bind(&lawyer.center)
        .bind(&lawyer.name)
        .bind(&lawyer.phone)
        .bind(&lawyer.sip_uri)
        .bind(lawyer.skills.join(","))
        .bind(lawyer.regions.join(","))
        .bind(lawyer.languages.join(","))
        .bind(lawyer.capacity)
        .bind(i64::from(lawyer.active))
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn lawyers(&self) -> Result<Vec<Lawyer>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, center, name, phone, sip_uri, skills, regions, languages, capacity, \
             active FROM lawyers ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(lawyer_from_row).collect()
    }

    /// Adds a shift; one that overlaps another shift of the lawyer is refused.
    pub async fn add_shift(
        &self,
        lawyer: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Result<Shift, RosterError>, StoreError> {
        let mut tx = self.begin_write().await?;
        let lock = match self.backend {
            Backend::Postgres => "SELECT id FROM lawyers WHERE id = $1 FOR UPDATE",
            Backend::Sqlite => "SELECT id FROM lawyers WHERE id = $1",
        };
        if sqlx::query(lock)
            .bind(lawyer)
            .fetch_optional(&mut **tx)
            .await?
            .is_none()
        {
            return Ok(Err(RosterError::UnknownLawyer(lawyer.to_owned())));
        }
        let overlap = sqlx::query(
            "SELECT starts_at, ends_at FROM shifts WHERE lawyer_id = $1 AND starts_at < $3 \
             AND ends_at > $2 LIMIT 1",
        )
        .bind(lawyer)
        .bind(ms(from))
        .bind(ms(to))
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(row) = overlap {
            return Ok(Err(RosterError::Overlap {
                lawyer: lawyer.to_owned(),
                from: hotline_domain::shown_time(from),
                to: hotline_domain::shown_time(to),
                other_from: hotline_domain::shown_time(millis(get(&row, "starts_at")?)?),
                other_to: hotline_domain::shown_time(millis(get(&row, "ends_at")?)?),
            }));
        }
        let row = sqlx::query(
            "INSERT INTO shifts (lawyer_id, starts_at, ends_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(lawyer)
        .bind(ms(from))
        .bind(ms(to))
        .fetch_one(&mut **tx)
        .await?;
        tx.commit().await?;
        self.committed();
        Ok(Ok(Shift {
            id: get(&row, "id")?,
            lawyer: lawyer.to_owned(),
            starts_at: from,
            ends_at: to,
        }))
    }

    /// The lawyer whose shift `id` is, if it exists.
    pub async fn shift_lawyer(&self, id: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT lawyer_id FROM shifts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| get(&r, "lawyer_id")).transpose()
    }

    /// Shifts not ended by `after`, by start.
    pub async fn shifts(&self, after: DateTime<Utc>) -> Result<Vec<Shift>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, lawyer_id, starts_at, ends_at FROM shifts WHERE ends_at > $1 \
             ORDER BY starts_at, id",
        )
        .bind(ms(after))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Shift {
                    id: get(r, "id")?,
                    lawyer: get(r, "lawyer_id")?,
                    starts_at: millis(get(r, "starts_at")?)?,
                    ends_at: millis(get(r, "ends_at")?)?,
                })
            })
            .collect()
    }

    /// Active lawyers of `center` with a shift covering `at`.
    pub async fn on_duty(
        &self,
        center: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Lawyer>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT l.id, l.center, l.name, l.phone, l.sip_uri, l.skills, l.regions, \
             l.languages, l.capacity, l.active FROM lawyers l JOIN shifts s ON s.lawyer_id = l.id \
             WHERE l.center = $1 AND l.active = 1 AND s.starts_at <= $2 AND s.ends_at > $2 \
             ORDER BY l.id",
        )
        .bind(center)
        .bind(ms(at))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(lawyer_from_row).collect()
    }

    /// Gives a shift to another lawyer (a swap), refused if it overlaps
    /// one of theirs.
    pub async fn reassign_shift(
        &self,
        shift: i64,
        lawyer: &str,
    ) -> Result<Result<Shift, RosterError>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(row) = sqlx::query("SELECT starts_at, ends_at FROM shifts WHERE id = $1")
            .bind(shift)
            .fetch_optional(&mut **tx)
            .await?
        else {
            return Ok(Err(RosterError::UnknownShift(shift)));
        };
        let (from, to) = (get::<i64>(&row, "starts_at")?, get::<i64>(&row, "ends_at")?);
        if sqlx::query("SELECT id FROM lawyers WHERE id = $1")
            .bind(lawyer)
            .fetch_optional(&mut **tx)
            .await?
            .is_none()
        {
            return Ok(Err(RosterError::UnknownLawyer(lawyer.to_owned())));
        }
        let overlap = sqlx::query(
            "SELECT starts_at, ends_at FROM shifts WHERE lawyer_id = $1 AND id <> $4 \
             AND starts_at < $3 AND ends_at > $2 LIMIT 1",
        )
        .bind(lawyer)
        .bind(from)
        .bind(to)
        .bind(shift)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(o) = overlap {
            return Ok(Err(RosterError::Overlap {
                lawyer: lawyer.to_owned(),
                from: hotline_domain::shown_time(millis(from)?),
                to: hotline_domain::shown_time(millis(to)?),
                other_from: hotline_domain::shown_time(millis(get(&o, "starts_at")?)?),
                other_to: hotline_domain::shown_time(millis(get(&o, "ends_at")?)?),
            }));
        }
        sqlx::query("UPDATE shifts SET lawyer_id = $2 WHERE id = $1")
            .bind(shift)
            .bind(lawyer)
            .execute(&mut **tx)
            .await?;
        tx.commit().await?;
        self.committed();
        Ok(Ok(Shift {
            id: shift,
            lawyer: lawyer.to_owned(),
            starts_at: millis(from)?,
            ends_at: millis(to)?,
        }))
    }
}
