-- Recordings arrive from the IVR, possibly twice (a retried upload, or the
-- outbox delivering after a lost answer): the key makes the second a no-op.
ALTER TABLE recordings ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX recordings_idempotency_key ON recordings (idempotency_key);
