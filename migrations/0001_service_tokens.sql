-- Service tokens: workspace-scoped tokens of one project. Only the SHA-256 of a token and its
-- first 12 characters are stored; the plaintext exists only in the creation response.
-- Times are Unix milliseconds.
CREATE TABLE service_tokens (
    id             TEXT PRIMARY KEY,              -- public id, st_<base62>
    project        TEXT NOT NULL,
    name           TEXT NOT NULL,
    workspaces     TEXT NOT NULL,                 -- JSON array of patterns
    token_hash     TEXT NOT NULL UNIQUE,          -- hex SHA-256 of the token
    display_prefix TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    created_by     TEXT NOT NULL,                 -- who minted it: super, anonymous, service:<id>, user:<id>
    expires_at     INTEGER,
    last_used_at   INTEGER,                       -- approximate: written at most every few minutes
    revoked_at     INTEGER
);

CREATE INDEX service_tokens_by_project ON service_tokens (project, created_at DESC);

-- What happened to credentials, and who did it. Never holds a secret.
CREATE TABLE audit_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    project  TEXT,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,                       -- e.g. service_token.create, service_token.revoke
    subject  TEXT NOT NULL,                       -- the id acted on
    detail   TEXT                                 -- JSON, no secrets
);

CREATE INDEX audit_events_by_subject ON audit_events (subject, at);
