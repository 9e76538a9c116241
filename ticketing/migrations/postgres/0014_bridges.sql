-- Click-to-call bridges (回拨接通): an IVR node calls the lawyer, then the
-- caller through the outbound trunk, and connects the two. One row per
-- request. state: pending (asked for by requested_by, not yet taken),
-- dialling (claimed by IVR node `node` holding token `claimed_token`, in
-- the node's run `claimed_boot`, a conditional update: exactly one node
-- places it, and only that token reports it; a node that starts again
-- gives up what its earlier run held), then done (reported: lawyer_leg and caller_leg say how each
-- leg went) or failed (no node took it in time, or it was never
-- reported). lawyer_target is what is dialled for the lawyer: their
-- sip_uri or tel:PHONE; the caller's number is read from the ticket when a
-- node claims the bridge. Times are milliseconds since the Unix epoch,
-- passed in by the service.
CREATE TABLE bridges (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id   BIGINT NOT NULL REFERENCES tickets (id),
    lawyer_id   TEXT   NOT NULL REFERENCES lawyers (id),
    lawyer_target TEXT NOT NULL,
    requested_by TEXT  NOT NULL,
    state       TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    node        TEXT,
    claimed_token TEXT,
    claimed_boot TEXT,
    claimed_at  BIGINT,
    finished_at BIGINT,
    lawyer_leg  TEXT,
    caller_leg  TEXT,
    detail      TEXT,
    talk_seconds BIGINT
);
CREATE INDEX bridges_state ON bridges (state, created_at);
CREATE INDEX bridges_ticket ON bridges (ticket_id, state);
CREATE INDEX bridges_lawyer ON bridges (lawyer_id, state);
CREATE INDEX bridges_created ON bridges (created_at);
CREATE INDEX bridges_node ON bridges (node, state);
