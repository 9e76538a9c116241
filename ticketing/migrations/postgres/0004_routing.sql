-- Duty-lawyer routing: the roster (lawyers and their shifts), offers with
-- acknowledgement deadlines, and one routing row per routed ticket whose
-- due_at is its durable timer (an offer's deadline, the next escalation
-- round, or the bound for starting an assigned case). Times are
-- milliseconds since the Unix epoch, always passed in by the service.

CREATE TABLE lawyers (
    id            TEXT    PRIMARY KEY,
    center        TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    phone         TEXT    NOT NULL,
    sip_uri       TEXT,
    skills        TEXT    NOT NULL,
    regions       TEXT    NOT NULL,
    languages     TEXT    NOT NULL,
    capacity      BIGINT NOT NULL,
    active        BIGINT NOT NULL,
    last_offer_at BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE shifts (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lawyer_id TEXT   NOT NULL REFERENCES lawyers (id),
    starts_at BIGINT NOT NULL,
    ends_at   BIGINT NOT NULL
);
CREATE INDEX shifts_lawyer ON shifts (lawyer_id, starts_at);
CREATE INDEX shifts_time ON shifts (starts_at, ends_at);

CREATE TABLE offers (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id    BIGINT NOT NULL REFERENCES tickets (id),
    lawyer_id    TEXT   NOT NULL REFERENCES lawyers (id),
    round        BIGINT NOT NULL,
    state        TEXT   NOT NULL,
    offered_at   BIGINT NOT NULL,
    ack_deadline BIGINT NOT NULL,
    decided_at   BIGINT,
    reason       TEXT,
    -- When the lawyer gets a reminder: half way to the deadline, once.
    remind_at    BIGINT
);
CREATE INDEX offers_ticket ON offers (ticket_id, id);
CREATE INDEX offers_lawyer ON offers (lawyer_id, state);
CREATE INDEX offers_remind ON offers (remind_at);
-- At most one offer waits for an answer per ticket.
CREATE UNIQUE INDEX offers_one_pending ON offers (ticket_id) WHERE state = 'pending';

CREATE TABLE routing (
    ticket_id  BIGINT PRIMARY KEY REFERENCES tickets (id),
    status     TEXT    NOT NULL,
    round      BIGINT NOT NULL,
    attempts   BIGINT NOT NULL,
    due_at     BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX routing_due ON routing (due_at);
-- A lawyer's load: their open tickets.
CREATE INDEX tickets_assigned_lawyer ON tickets (assigned_lawyer, state);

-- The lawyer an offer event is about, so a lawyer's stream can find it.
ALTER TABLE ticket_events ADD COLUMN lawyer TEXT;
CREATE INDEX ticket_events_lawyer ON ticket_events (lawyer, id);

-- Streams resume after the last event a client saw. Identity values are
-- handed out in insert order, not commit order, so a reader that only
-- remembered the highest id could skip an event committed later with a
-- lower id. Each event records its transaction id; readers deliver only
-- events of transactions older than every transaction still running
-- (pg_snapshot_xmin), in (txid, id) order, so nothing committed later can
-- sort before what was already delivered.
ALTER TABLE ticket_events ADD COLUMN txid BIGINT NOT NULL
    DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX ticket_events_txid ON ticket_events (txid, id);

-- Every node's streams hear of new events at commit.
CREATE FUNCTION hotline_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hotline_events', NEW.id::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER ticket_events_notify AFTER INSERT ON ticket_events
    FOR EACH ROW EXECUTE FUNCTION hotline_notify_event();
