-- Streams only need to hear that something was committed, not which event:
-- they read what is new themselves. One notification per statement, with
-- one payload, which PostgreSQL folds into one per transaction; a batch of
-- tickets written together (group commit) sent hundreds before.
DROP TRIGGER ticket_events_notify ON ticket_events;
DROP FUNCTION hotline_notify_event();
CREATE FUNCTION hotline_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hotline_events', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER ticket_events_notify AFTER INSERT ON ticket_events
    FOR EACH STATEMENT EXECUTE FUNCTION hotline_notify_events();
