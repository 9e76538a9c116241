-- The web console.
--
-- web_sessions: a browser's login. The cookie carries a random session id;
-- only its SHA-256 is kept here. A session stands for the token it was
-- opened with, and ends with it (revoked, expired), at expires_at, or at
-- logout. Times are milliseconds since the Unix epoch, passed in by the
-- service.
CREATE TABLE web_sessions (
    id_sha256  TEXT   PRIMARY KEY,
    token_id   TEXT   NOT NULL REFERENCES api_tokens (id),
    csrf       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

-- Quality review (案件质量评估): a reviewer's scores of one closed ticket
-- against the rubric (1 to 5 each), with a comment. The lawyer is the one
-- the ticket was assigned to when it was reviewed.
CREATE TABLE quality_reviews (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id     BIGINT  NOT NULL REFERENCES tickets (id),
    lawyer_id     TEXT    NOT NULL,
    reviewer      TEXT    NOT NULL,
    accuracy      INTEGER NOT NULL CHECK (accuracy BETWEEN 1 AND 5),
    timeliness    INTEGER NOT NULL CHECK (timeliness BETWEEN 1 AND 5),
    communication INTEGER NOT NULL CHECK (communication BETWEEN 1 AND 5),
    documentation INTEGER NOT NULL CHECK (documentation BETWEEN 1 AND 5),
    comment       TEXT    NOT NULL,
    reviewed_at   BIGINT  NOT NULL
);
CREATE INDEX quality_reviews_ticket ON quality_reviews (ticket_id, id);
CREATE INDEX quality_reviews_at ON quality_reviews (reviewed_at);

-- 重点督办: a major case, whose every later event alerts supervisors.
ALTER TABLE tickets ADD COLUMN major_case SMALLINT NOT NULL DEFAULT 0 CHECK (major_case IN (0, 1));
