-- Retention (PIPL): recordings removed and personal data anonymised on
-- schedule. The retention job is the one path past the append-only rule
-- of ticket_events: inside its own transaction it writes a row naming the
-- ticket into retention_pass, rewrites what it must, and deletes the row
-- before it commits, so no other transaction ever sees it. Even then only
-- that ticket's events, and only their `changes`, `reason` and `note` (the
-- numbers and words in them) may change; deleting an event stays refused.
CREATE TABLE retention_pass (
    ticket_id  BIGINT NOT NULL,
    started_at BIGINT NOT NULL
);

-- When the ticket's personal data was anonymised; NULL while it is kept.
ALTER TABLE tickets ADD COLUMN anonymised_at BIGINT;

DROP TRIGGER ticket_events_append_only ON ticket_events;

CREATE FUNCTION hotline_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND EXISTS (SELECT 1 FROM retention_pass WHERE ticket_id = OLD.ticket_id)
        AND NEW.id = OLD.id
        AND NEW.ticket_id = OLD.ticket_id
        AND NEW.kind = OLD.kind
        AND NEW.actor = OLD.actor
        AND NEW.at = OLD.at
        AND NEW.from_state IS NOT DISTINCT FROM OLD.from_state
        AND NEW.to_state IS NOT DISTINCT FROM OLD.to_state
        AND NEW.lawyer IS NOT DISTINCT FROM OLD.lawyer
        AND NEW.txid = OLD.txid
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% on ticket_events is refused: ticket_events is append-only', TG_OP;
END;
$$;

CREATE TRIGGER ticket_events_append_only BEFORE UPDATE OR DELETE ON ticket_events
    FOR EACH ROW EXECUTE FUNCTION hotline_events_append_only();
