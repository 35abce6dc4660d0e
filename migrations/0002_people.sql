-- People: users created from OIDC identity, their browser sessions and their API tokens.
-- Only SHA-256 hashes of session cookies and tokens are stored. Times are Unix milliseconds.

-- A person, keyed by who vouched for them (issuer) and their id there (subject); never by email.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,               -- public id, usr_<base62>
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    email         TEXT,
    name          TEXT,
    teams         TEXT NOT NULL DEFAULT '[]',     -- JSON array, refreshed at every sign-in
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER NOT NULL,
    UNIQUE (issuer, subject)
);

-- A browser session: the cookie holds a random value, this table its hash.
CREATE TABLE sessions (
    session_hash TEXT PRIMARY KEY,                -- hex SHA-256 of the cookie value
    id           TEXT NOT NULL UNIQUE,            -- public id for the audit log, ses_<base62>
    user_id      TEXT NOT NULL REFERENCES users (id),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);

CREATE INDEX sessions_by_user ON sessions (user_id);

-- A person's API tokens, each valid in one project.
CREATE TABLE user_tokens (
    id             TEXT PRIMARY KEY,              -- public id, ut_<base62>
    user_id        TEXT NOT NULL REFERENCES users (id),
    project        TEXT NOT NULL,
    name           TEXT NOT NULL,
    workspaces     TEXT NOT NULL,                 -- JSON array of patterns
    token_hash     TEXT NOT NULL UNIQUE,          -- hex SHA-256 of the token
    display_prefix TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    created_via    TEXT NOT NULL,                 -- session, user, access (the credential that minted it), cli-login
    expires_at     INTEGER,
    last_used_at   INTEGER,                       -- approximate: written at most every few minutes
    revoked_at     INTEGER
);

CREATE INDEX user_tokens_by_user ON user_tokens (user_id, created_at DESC);
