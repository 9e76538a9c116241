-- Each lawyer's load (open tickets assigned to them plus offers waiting for
-- their answer) and their latest offer, kept in one row per lawyer by
-- triggers, in the transaction that changes them. Routing counted these rows
-- on every decision; with a backlog of unanswered offers the count visited
-- hundreds of rows per lawyer per decision and slowed every create. SQLite
-- has one writer at a time, so the hot row 0005 avoided costs no waiting.
CREATE TABLE lawyer_load (
    -- No foreign key: a ticket may be assigned to a lawyer off the roster
    -- (named when the ticket is moved); routing reads only roster lawyers.
    lawyer_id     TEXT    PRIMARY KEY,
    load          INTEGER NOT NULL DEFAULT 0,
    last_offer_at INTEGER NOT NULL DEFAULT 0
);

-- Everyone who holds a ticket or has been offered one, on the roster or not.
INSERT INTO lawyer_load (lawyer_id, load, last_offer_at)
SELECT who, SUM(load), MAX(offered_at) FROM (
    SELECT assigned_lawyer AS who, 1 AS load, 0 AS offered_at FROM tickets
    WHERE assigned_lawyer IS NOT NULL AND state NOT IN ('rejected', 'closed')
    UNION ALL
    SELECT lawyer_id, CASE WHEN state = 'pending' THEN 1 ELSE 0 END, offered_at FROM offers
) held GROUP BY who;

-- An offer counts while it is pending.
CREATE TRIGGER offers_load_insert AFTER INSERT ON offers
BEGIN
    INSERT INTO lawyer_load (lawyer_id, load, last_offer_at)
        VALUES (NEW.lawyer_id, NEW.state = 'pending', NEW.offered_at)
        ON CONFLICT (lawyer_id) DO UPDATE
        SET load = load + excluded.load,
            last_offer_at = MAX(last_offer_at, excluded.last_offer_at);
END;

CREATE TRIGGER offers_load_update AFTER UPDATE OF state, lawyer_id ON offers
WHEN OLD.state IS NOT NEW.state OR OLD.lawyer_id IS NOT NEW.lawyer_id
BEGIN
    UPDATE lawyer_load SET load = load - 1
        WHERE lawyer_id = OLD.lawyer_id AND OLD.state = 'pending';
    INSERT INTO lawyer_load (lawyer_id, load, last_offer_at)
        SELECT NEW.lawyer_id, 1, NEW.offered_at WHERE NEW.state = 'pending'
        ON CONFLICT (lawyer_id) DO UPDATE
        SET load = load + 1, last_offer_at = MAX(last_offer_at, excluded.last_offer_at);
END;

CREATE TRIGGER offers_load_delete AFTER DELETE ON offers WHEN OLD.state = 'pending'
BEGIN
    UPDATE lawyer_load SET load = load - 1 WHERE lawyer_id = OLD.lawyer_id;
END;

-- A ticket counts for its assigned lawyer until it is rejected or closed.
-- Tickets are never deleted (0001).
CREATE TRIGGER tickets_load_insert AFTER INSERT ON tickets
WHEN NEW.assigned_lawyer IS NOT NULL AND NEW.state NOT IN ('rejected', 'closed')
BEGIN
    INSERT INTO lawyer_load (lawyer_id, load) VALUES (NEW.assigned_lawyer, 1)
        ON CONFLICT (lawyer_id) DO UPDATE SET load = load + 1;
END;

CREATE TRIGGER tickets_load_update AFTER UPDATE OF assigned_lawyer, state ON tickets
WHEN OLD.assigned_lawyer IS NOT NEW.assigned_lawyer
  OR (OLD.state IN ('rejected', 'closed')) IS NOT (NEW.state IN ('rejected', 'closed'))
BEGIN
    UPDATE lawyer_load SET load = load - 1
        WHERE lawyer_id = OLD.assigned_lawyer AND OLD.state NOT IN ('rejected', 'closed');
    INSERT INTO lawyer_load (lawyer_id, load)
        SELECT NEW.assigned_lawyer, 1
        WHERE NEW.assigned_lawyer IS NOT NULL AND NEW.state NOT IN ('rejected', 'closed')
        ON CONFLICT (lawyer_id) DO UPDATE SET load = load + 1;
END;

-- Only the latest-offer read used it, and every offer paid to keep it.
DROP INDEX offers_lawyer_offered;
