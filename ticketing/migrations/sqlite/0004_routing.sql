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
    capacity      INTEGER NOT NULL,
    active        INTEGER NOT NULL,
    last_offer_at INTEGER  NOT NULL DEFAULT 0,
    created_at    INTEGER  NOT NULL
);

CREATE TABLE shifts (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    lawyer_id TEXT   NOT NULL REFERENCES lawyers (id),
    starts_at INTEGER NOT NULL,
    ends_at   INTEGER NOT NULL
);
CREATE INDEX shifts_lawyer ON shifts (lawyer_id, starts_at);
CREATE INDEX shifts_time ON shifts (starts_at, ends_at);

CREATE TABLE offers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id    INTEGER NOT NULL REFERENCES tickets (id),
    lawyer_id    TEXT   NOT NULL REFERENCES lawyers (id),
    round        INTEGER NOT NULL,
    state        TEXT   NOT NULL,
    offered_at   INTEGER NOT NULL,
    ack_deadline INTEGER NOT NULL,
    decided_at   INTEGER,
    reason       TEXT,
    -- When the lawyer gets a reminder: half way to the deadline, once.
    remind_at    INTEGER
);
CREATE INDEX offers_ticket ON offers (ticket_id, id);
CREATE INDEX offers_lawyer ON offers (lawyer_id, state);
CREATE INDEX offers_remind ON offers (remind_at);
-- At most one offer waits for an answer per ticket.
CREATE UNIQUE INDEX offers_one_pending ON offers (ticket_id) WHERE state = 'pending';

CREATE TABLE routing (
    ticket_id  INTEGER PRIMARY KEY REFERENCES tickets (id),
    status     TEXT    NOT NULL,
    round      INTEGER NOT NULL,
    attempts   INTEGER NOT NULL,
    due_at     INTEGER,
    updated_at INTEGER NOT NULL
);
CREATE INDEX routing_due ON routing (due_at);
-- A lawyer's load: their open tickets.
CREATE INDEX tickets_assigned_lawyer ON tickets (assigned_lawyer, state);

-- The lawyer an offer event is about, so a lawyer's stream can find it.
ALTER TABLE ticket_events ADD COLUMN lawyer TEXT;
CREATE INDEX ticket_events_lawyer ON ticket_events (lawyer, id);
