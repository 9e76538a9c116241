-- Each lawyer's load (open tickets assigned to them plus offers waiting for
-- their answer) and their latest offer, kept in one row per lawyer by
-- triggers, in the transaction that changes them. Routing counted these rows
-- on every decision; with a backlog of unanswered offers the count visited
-- hundreds of rows per lawyer per decision and slowed every create.
--
-- 0005 took `last_offer_at` off the lawyer's row because concurrent tickets
-- queued on that hot row. They no longer can: routing decisions of a center
-- are serialised by its advisory lock (`lock_center`), and every change of a
-- load first takes the lock of the center of the ticket it comes from, as
-- routing does, after the ticket's row and before the load row. A
-- transaction works on the tickets of one center (a batch of several takes
-- them in sorted order), so it never holds a load row while it waits for a
-- center, even when a ticket's lawyer belongs to another center. A move of
-- a ticket between two lawyers (a reassignment) also takes their centers'
-- locks, sorted, before either row: a routing transaction of their center
-- may change the same two rows in the other order.

-- Nodes still running the previous version keep writing while this runs:
-- hold their writes until the counts below and the triggers are in place.
LOCK TABLE tickets, offers IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE lawyer_load (
    -- No foreign key: a ticket may be assigned to a lawyer off the roster
    -- (named when the ticket is moved); routing reads only roster lawyers.
    lawyer_id     TEXT   PRIMARY KEY,
    load          BIGINT NOT NULL DEFAULT 0,
    last_offer_at BIGINT NOT NULL DEFAULT 0
);

-- Everyone who holds a ticket or has been offered one, on the roster or not.
INSERT INTO lawyer_load (lawyer_id, load, last_offer_at)
SELECT who, SUM(load), MAX(offered_at) FROM (
    SELECT assigned_lawyer AS who, 1 AS load, 0 AS offered_at FROM tickets
    WHERE assigned_lawyer IS NOT NULL AND state NOT IN ('rejected', 'closed')
    UNION ALL
    SELECT lawyer_id, CASE WHEN state = 'pending' THEN 1 ELSE 0 END, offered_at FROM offers
) held GROUP BY who;

CREATE FUNCTION hotline_add_load(lawyer TEXT, center TEXT, delta BIGINT, offered BIGINT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('hotline-routing:' || center));
    INSERT INTO lawyer_load AS k (lawyer_id, load, last_offer_at)
        VALUES (lawyer, delta, offered)
        ON CONFLICT (lawyer_id) DO UPDATE
        SET load = k.load + EXCLUDED.load,
            last_offer_at = GREATEST(k.last_offer_at, EXCLUDED.last_offer_at);
END;
$$;

-- An offer counts while it is pending.
CREATE FUNCTION hotline_offer_load() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ticket_center TEXT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT t.center INTO ticket_center FROM tickets t WHERE t.id = NEW.ticket_id;
    ELSE
        SELECT t.center INTO ticket_center FROM tickets t WHERE t.id = OLD.ticket_id;
        IF OLD.state = 'pending' THEN
            PERFORM hotline_add_load(OLD.lawyer_id, ticket_center, -1, 0);
        END IF;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM hotline_add_load(NEW.lawyer_id, ticket_center,
            CASE WHEN NEW.state = 'pending' THEN 1 ELSE 0 END, NEW.offered_at);
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.state = 'pending' THEN
            PERFORM hotline_add_load(NEW.lawyer_id, ticket_center, 1, NEW.offered_at);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER offers_load_insert AFTER INSERT ON offers
    FOR EACH ROW EXECUTE FUNCTION hotline_offer_load();
CREATE TRIGGER offers_load_update AFTER UPDATE OF state, lawyer_id ON offers
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.lawyer_id IS DISTINCT FROM NEW.lawyer_id)
    EXECUTE FUNCTION hotline_offer_load();
CREATE TRIGGER offers_load_delete AFTER DELETE ON offers
    FOR EACH ROW EXECUTE FUNCTION hotline_offer_load();

-- A ticket counts for its assigned lawyer until it is rejected or closed.
-- Tickets are never deleted (0001) and never change center.
CREATE FUNCTION hotline_ticket_load() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.assigned_lawyer IS NOT NULL AND OLD.state NOT IN ('rejected', 'closed') THEN
            PERFORM hotline_add_load(OLD.assigned_lawyer, OLD.center, -1, 0);
        END IF;
    END IF;
    IF NEW.assigned_lawyer IS NOT NULL AND NEW.state NOT IN ('rejected', 'closed') THEN
        PERFORM hotline_add_load(NEW.assigned_lawyer, NEW.center, 1, 0);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER tickets_load_insert AFTER INSERT ON tickets
    FOR EACH ROW WHEN (NEW.assigned_lawyer IS NOT NULL)
    EXECUTE FUNCTION hotline_ticket_load();
CREATE TRIGGER tickets_load_update AFTER UPDATE OF assigned_lawyer, state ON tickets
    FOR EACH ROW
    WHEN (OLD.assigned_lawyer IS DISTINCT FROM NEW.assigned_lawyer
          OR (OLD.state IN ('rejected', 'closed')) IS DISTINCT FROM (NEW.state IN ('rejected', 'closed')))
    EXECUTE FUNCTION hotline_ticket_load();

-- Only the latest-offer read used it, and every offer paid to keep it.
DROP INDEX offers_lawyer_offered;
