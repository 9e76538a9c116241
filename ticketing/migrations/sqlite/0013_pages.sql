-- Voice pages (呼叫值班律师): an IVR node calls the lawyer an offer went
-- to. One row per call attempt, written with its offer (or with the
-- outcome of the attempt before it) in one transaction. state: pending
-- (due at due_at, not yet taken), dialling (claimed by IVR node `node`
-- holding token `claimed_token`: a conditional update, so exactly one node
-- dials it, and only that token reports it), then the outcome:
-- answered, accepted, declined, no-answer, busy, failed; or cancelled (the
-- offer ended before anyone dialled). target is what is dialled: the
-- lawyer's sip_uri, or tel:PHONE for the IVR's outbound trunk. Times are
-- milliseconds since the Unix epoch, passed in by the service.
CREATE TABLE pages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    offer_id    BIGINT NOT NULL REFERENCES offers (id),
    ticket_id   BIGINT NOT NULL REFERENCES tickets (id),
    lawyer_id   TEXT   NOT NULL REFERENCES lawyers (id),
    target      TEXT   NOT NULL,
    attempt     BIGINT NOT NULL,
    state       TEXT   NOT NULL,
    due_at      BIGINT NOT NULL,
    node        TEXT,
    claimed_token TEXT,
    claimed_at  BIGINT,
    finished_at BIGINT,
    detail      TEXT
);
CREATE INDEX pages_state_due ON pages (state, due_at);
CREATE INDEX pages_claimed ON pages (claimed_at);
