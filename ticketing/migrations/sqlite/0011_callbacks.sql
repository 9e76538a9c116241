-- Callbacks (回电): when the centre must call the caller back, and each
-- attempt with what came of it. callback_due_at is NULL when no callback
-- is owed (none was, the caller was reached, or the ticket was flagged);
-- callback_flagged marks a ticket whose caller was not reached on three
-- different half-days, for a supervisor. Times are milliseconds since the
-- Unix epoch, passed in by the service.
ALTER TABLE tickets ADD COLUMN callback_due_at BIGINT;
ALTER TABLE tickets ADD COLUMN callback_flagged INTEGER NOT NULL DEFAULT 0 CHECK (callback_flagged IN (0, 1));
CREATE INDEX tickets_callback_due ON tickets (callback_due_at);

CREATE TABLE callback_attempts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  BIGINT NOT NULL REFERENCES tickets (id),
    at         BIGINT NOT NULL,
    -- answered, no-answer, busy, wrong-number, message-left
    outcome    TEXT   NOT NULL,
    note       TEXT   NOT NULL,
    actor      TEXT   NOT NULL
);
CREATE INDEX callback_attempts_ticket ON callback_attempts (ticket_id, id);
