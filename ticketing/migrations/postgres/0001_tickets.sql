-- Tickets, their numbers and aliases, their append-only history, recordings.
-- Times are milliseconds since the Unix epoch (UTC), written by the service
-- from its clock (never now() in SQL); dates are 'YYYY-MM-DD' text
-- (Asia/Shanghai calendar dates). Yes/no facts are 0/1 smallints, the same
-- on both backends.

CREATE TABLE tickets (
    id                  BIGINT   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number              TEXT     NOT NULL UNIQUE,
    idempotency_key     TEXT     NOT NULL UNIQUE,
    kind                TEXT     NOT NULL,
    state               TEXT     NOT NULL,
    matter              TEXT,
    caller_number       TEXT,
    callback_number     TEXT,
    event_date          TEXT,
    preservation        SMALLINT NOT NULL CHECK (preservation IN (0, 1)),
    priority_group      TEXT     NOT NULL,
    hardship_waived     SMALLINT NOT NULL CHECK (hardship_waived IN (0, 1)),
    pledge_accepted     SMALLINT NOT NULL CHECK (pledge_accepted IN (0, 1)),
    home_visit          SMALLINT NOT NULL CHECK (home_visit IN (0, 1)),
    mediation_preferred SMALLINT NOT NULL CHECK (mediation_preferred IN (0, 1)),
    language            TEXT     NOT NULL,
    center              TEXT     NOT NULL,
    region              TEXT,
    summary             TEXT     NOT NULL,
    urgency             TEXT,
    deadline            TEXT,
    assigned_lawyer     TEXT,
    outcome             TEXT,
    rejection_reason    TEXT,
    created_at          BIGINT   NOT NULL,
    updated_at          BIGINT   NOT NULL
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
    ticket_id BIGINT  NOT NULL REFERENCES tickets (id),
    PRIMARY KEY (alias, ticket_id)
);

CREATE INDEX ticket_aliases_ticket ON ticket_aliases (ticket_id);

CREATE TABLE ticket_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id  BIGINT NOT NULL REFERENCES tickets (id),
    kind       TEXT   NOT NULL,
    actor      TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    reason     TEXT,
    from_state TEXT,
    to_state   TEXT,
    changes    TEXT,
    note       TEXT
);

CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);

-- The history is append-only and tickets are never deleted by the service:
-- the database itself refuses.
CREATE FUNCTION hotline_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is refused: %', TG_OP, TG_TABLE_NAME, TG_ARGV[0];
END;
$$;

CREATE TRIGGER ticket_events_append_only BEFORE UPDATE OR DELETE ON ticket_events
    FOR EACH ROW EXECUTE FUNCTION hotline_refuse_change('ticket_events is append-only');

CREATE TRIGGER tickets_no_delete BEFORE DELETE ON tickets
    FOR EACH ROW EXECUTE FUNCTION hotline_refuse_change('tickets are never deleted by the service');

CREATE TABLE recordings (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id    BIGINT NOT NULL REFERENCES tickets (id),
    content_type TEXT   NOT NULL,
    duration_ms  BIGINT NOT NULL,
    audio        BYTEA  NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE INDEX recordings_ticket ON recordings (ticket_id, id);
