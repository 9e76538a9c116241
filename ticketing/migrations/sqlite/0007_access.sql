-- Who may use the API, and what they were shown.
--
-- api_tokens: bearer tokens bound to a role. Only a SHA-256 of each
-- token's secret is kept; the token itself is shown once, when created.
-- Times are milliseconds since the Unix epoch, passed in by the service.
CREATE TABLE api_tokens (
    id            TEXT    PRIMARY KEY,
    secret_sha256 TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('ivr', 'lawyer', 'supervisor', 'admin')),
    lawyer_id     TEXT,
    center        TEXT,
    name          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    created_by    TEXT    NOT NULL,
    expires_at    INTEGER,
    revoked_at    INTEGER,
    revoked_by    TEXT,
    CHECK ((role = 'lawyer') = (lawyer_id IS NOT NULL))
);

-- The audit log: every denial, and every read of personal data (a ticket's
-- full phone numbers, a recording). Append-only, like the tickets' history.
CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    actor         TEXT    NOT NULL,
    token_id      TEXT,
    action        TEXT    NOT NULL,
    outcome       TEXT    NOT NULL CHECK (outcome IN ('allowed', 'denied')),
    ticket_number TEXT,
    recording_id  INTEGER,
    center        TEXT,
    detail        TEXT
);
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_ticket ON audit_log (ticket_number, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
