-- Retention (PIPL): recordings removed and personal data anonymised on
-- schedule. The retention job is the one path past the append-only rule
-- of ticket_events: inside its own transaction it writes a row naming the
-- ticket into retention_pass, rewrites what it must, and deletes the row
-- before it commits, so no other writer ever sees it. Even then only that
-- ticket's events, and only their `changes`, `reason` and `note` (the
-- numbers and words in them) may change; deleting an event stays refused.
CREATE TABLE retention_pass (
    ticket_id  INTEGER NOT NULL,
    started_at INTEGER NOT NULL
);

-- When the ticket's personal data was anonymised; NULL while it is kept.
ALTER TABLE tickets ADD COLUMN anonymised_at INTEGER;

DROP TRIGGER ticket_events_no_update;

CREATE TRIGGER ticket_events_no_update BEFORE UPDATE ON ticket_events
WHEN NOT EXISTS (SELECT 1 FROM retention_pass WHERE ticket_id = OLD.ticket_id)
    OR NEW.id IS NOT OLD.id
    OR NEW.ticket_id IS NOT OLD.ticket_id
    OR NEW.kind IS NOT OLD.kind
    OR NEW.actor IS NOT OLD.actor
    OR NEW.at IS NOT OLD.at
    OR NEW.from_state IS NOT OLD.from_state
    OR NEW.to_state IS NOT OLD.to_state
    OR NEW.lawyer IS NOT OLD.lawyer
BEGIN
    SELECT RAISE(ABORT, 'ticket_events is append-only');
END;
