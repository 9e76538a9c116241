-- Who may use the API, and what they were shown.
--
-- api_tokens: bearer tokens bound to a role. Only a SHA-256 of each
-- token's secret is kept; the token itself is shown once, when created.
-- Times are milliseconds since the Unix epoch, passed in by the service.
CREATE TABLE api_tokens (
    id            TEXT   PRIMARY KEY,
    secret_sha256 TEXT   NOT NULL,
    role          TEXT   NOT NULL CHECK (role IN ('ivr', 'lawyer', 'supervisor', 'admin')),
    lawyer_id     TEXT,
    center        TEXT,
    name          TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    created_by    TEXT   NOT NULL,
    expires_at    BIGINT,
    revoked_at    BIGINT,
    revoked_by    TEXT,
    CHECK ((role = 'lawyer') = (lawyer_id IS NOT NULL))
);

-- The audit log: every denial, and every read of personal data (a ticket's
-- full phone numbers, a recording). Append-only, like the tickets' history.
CREATE TABLE audit_log (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            BIGINT NOT NULL,
    actor         TEXT   NOT NULL,
    token_id      TEXT,
    action        TEXT   NOT NULL,
    outcome       TEXT   NOT NULL CHECK (outcome IN ('allowed', 'denied')),
    ticket_number TEXT,
    recording_id  BIGINT,
    center        TEXT,
    detail        TEXT
);
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_ticket ON audit_log (ticket_number, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION hotline_refuse_change('audit_log is append-only');
