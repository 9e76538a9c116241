//! Callers' recordings, stored in the database so any ticketing node can
//! serve them; an upload is idempotent by its key.

use chrono::{DateTime, Utc};
use hotline_domain::TicketNumber;
// Dynamic SQL here is built from constant fragments and `$n` placeholders,
// never from input: every value is bound.

use super::tickets::{insert_event, parse, recording_from_row, EventDetail};
use super::{get, Store, StoreError};
use crate::tickets::NewRecording;
use crate::tickets::{EventKind, RecordingInfo};

impl Store {
    /// Attaches a recording to a ticket, with a `recording_added` event, in
    /// one transaction. A second call with the same key returns the first
    /// recording and stores nothing.
    pub async fn add_recording(
        &self,
        number: &TicketNumber,
        recording: &NewRecording<'_>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<RecordingInfo, StoreError> {
        if let Some(existing) = self.recording_by_key(recording.idempotency_key).await? {
            return Ok(existing);
        }
        let id = self.ticket_id(number).await?;
        let mut tx = self.begin_write().await?;
        self.locked_state(&mut tx, id).await?;
        let inserted = sqlx::query(
            "INSERT INTO recordings (ticket_id, content_type, duration_ms, audio, created_at, \
             idempotency_key) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(id)
        .bind(recording.content_type)
        .bind(recording.duration_ms)
        .bind(recording.audio)
        .bind(now.timestamp_millis())
        .bind(recording.idempotency_key)
        .fetch_one(&mut **tx)
        .await;
        let recording_id: i64 = match inserted {
            Ok(row) => get(&row, "id")?,
            // A concurrent upload with the same key won the race.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                drop(tx);
                return self
                    .recording_by_key(recording.idempotency_key)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("recording vanished".into()));
            }
            Err(e) => return Err(e.into()),
        };
        let note = format!(
            "recording {recording_id}: {} ms, {} bytes",
            recording.duration_ms,
            recording.audio.len()
        );
        insert_event(
            &mut tx,
            id,
            EventKind::RecordingAdded,
            actor,
            now,
            EventDetail {
                note: Some(&note),
                ..EventDetail::default()
            },
        )
        .await?;
        tx.commit().await?;
        self.committed();
        self.recording_by_key(recording.idempotency_key)
            .await?
            .ok_or_else(|| StoreError::Corrupt("recording vanished".into()))
    }

    pub(super) async fn recording_by_key(
        &self,
        key: &str,
    ) -> Result<Option<RecordingInfo>, StoreError> {
        let row = sqlx::query(
            "SELECT id, content_type, duration_ms, CAST(LENGTH(audio) AS BIGINT) AS size_bytes, created_at \
             FROM recordings WHERE idempotency_key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| recording_from_row(&row)).transpose()
    }

    /// One recording's audio, with the number of the ticket it belongs to.
    pub async fn recording_audio(
        &self,
        recording_id: i64,
    ) -> Result<(RecordingInfo, TicketNumber, Vec<u8>), StoreError> {
        let row = sqlx::query(
            "SELECT r.id, r.content_type, r.duration_ms, CAST(LENGTH(r.audio) AS BIGINT) AS size_bytes, \
             r.created_at, r.audio, t.number FROM recordings r JOIN tickets t ON t.id = r.ticket_id \
             WHERE r.id = $1",
        )
        .bind(recording_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::RecordingNotFound(recording_id))?;
        let number = parse(&get::<String>(&row, "number")?, TicketNumber::parse)?;
        Ok((recording_from_row(&row)?, number, get(&row, "audio")?))
    }
}
