-- Tickets, their numbers and aliases, their append-only history, recordings.
-- Times are milliseconds since the Unix epoch (UTC), written by the service
-- from its clock; dates are 'YYYY-MM-DD' (Asia/Shanghai calendar dates).
-- Yes/no facts are 0/1 integers, the same on both backends.

CREATE TABLE tickets (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    number              TEXT    NOT NULL UNIQUE,
    idempotency_key     TEXT    NOT NULL UNIQUE,
    kind                TEXT    NOT NULL,
    state               TEXT    NOT NULL,
    matter              TEXT,
    caller_number       TEXT,
    callback_number     TEXT,
    event_date          TEXT,
    preservation        INTEGER NOT NULL CHECK (preservation IN (0, 1)),
    priority_group      TEXT    NOT NULL,
    hardship_waived     INTEGER NOT NULL CHECK (hardship_waived IN (0, 1)),
    pledge_accepted     INTEGER NOT NULL CHECK (pledge_accepted IN (0, 1)),
    home_visit          INTEGER NOT NULL CHECK (home_visit IN (0, 1)),
    mediation_preferred INTEGER NOT NULL CHECK (mediation_preferred IN (0, 1)),
    language            TEXT    NOT NULL,
    center              TEXT    NOT NULL,
    region              TEXT,
    summary             TEXT    NOT NULL,
    urgency             TEXT,
    deadline            TEXT,
    assigned_lawyer     TEXT,
    outcome             TEXT,
    rejection_reason    TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

CREATE INDEX tickets_created ON tickets (created_at DESC, id DESC);
CREATE INDEX tickets_state ON tickets (state, created_at DESC);
CREATE INDEX tickets_urgency ON tickets (urgency, created_at DESC);
CREATE INDEX tickets_center ON tickets (center, created_at DESC);

-- Other numbers that find a ticket: a number the IVR proposed (and the caller
-- heard) that was already another ticket's number. Such a number then finds
-- both tickets, so an alias is not unique.
CREATE TABLE ticket_aliases (
    alias     TEXT    NOT NULL,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    PRIMARY KEY (alias, ticket_id)
);

CREATE INDEX ticket_aliases_ticket ON ticket_aliases (ticket_id);

CREATE TABLE ticket_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  INTEGER NOT NULL REFERENCES tickets (id),
    kind       TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    reason     TEXT,
    from_state TEXT,
    to_state   TEXT,
    changes    TEXT,
    note       TEXT
);

CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);

-- The history is append-only: the database itself refuses to rewrite it.
CREATE TRIGGER ticket_events_no_update BEFORE UPDATE ON ticket_events
BEGIN
    SELECT RAISE(ABORT, 'ticket_events is append-only');
END;

CREATE TRIGGER ticket_events_no_delete BEFORE DELETE ON ticket_events
BEGIN
    SELECT RAISE(ABORT, 'ticket_events is append-only');
END;

-- Tickets are never deleted by the service; retention is a separate job.
CREATE TRIGGER tickets_no_delete BEFORE DELETE ON tickets
BEGIN
    SELECT RAISE(ABORT, 'tickets are never deleted by the service');
END;

CREATE TABLE recordings (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id    INTEGER NOT NULL REFERENCES tickets (id),
    content_type TEXT    NOT NULL,
    duration_ms  INTEGER NOT NULL,
    audio        BLOB    NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE INDEX recordings_ticket ON recordings (ticket_id, id);
