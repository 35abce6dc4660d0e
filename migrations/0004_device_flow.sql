-- The device login (RFC 8628) and the refresh-token families it starts (RFC 6749 §6, with
-- rotation and reuse detection). Only SHA-256 hashes of device codes and refresh tokens are
-- stored. Times are Unix milliseconds.

-- A device authorization request, from `POST /api/auth/device/code` until its tokens are issued.
-- Rows are swept an hour after they expire (late polls still get `expired_token` until then).
CREATE TABLE device_grants (
    device_code_hash TEXT PRIMARY KEY,            -- hex SHA-256 of the device code (never the code)
    user_code        TEXT NOT NULL UNIQUE,        -- XXXX-XXXX, what the person types at /device
    project          TEXT NOT NULL,               -- the project the tokens will be valid in
    client_name      TEXT NOT NULL,               -- shown at /device, e.g. "edgeauth CLI on laptop"
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'approved', 'denied', 'consumed')),
    user_id          TEXT REFERENCES users (id),  -- who approved or denied it
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,            -- created_at + 900 s
    interval_s       INTEGER NOT NULL,            -- polling interval; grows by 5 s at each slow_down
    last_polled_at   INTEGER,
    approved_at      INTEGER,
    denied_at        INTEGER,
    family_id        TEXT                         -- the refresh family its tokens started (when consumed)
);

CREATE INDEX device_grants_by_expiry ON device_grants (expires_at);

-- A device login: the chain of refresh tokens that rotate from its first one. Revoking it
-- (reuse of a spent token) ends every token of the chain. expires_at is the absolute cap,
-- set once at approval; rotation never moves it.
CREATE TABLE refresh_families (
    id          TEXT PRIMARY KEY,                 -- fam_<base62>, also the `fam` claim of its access tokens
    user_id     TEXT NOT NULL REFERENCES users (id),
    project     TEXT NOT NULL,
    scope       TEXT NOT NULL,                    -- JSON array of workspace patterns
    client_name TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE INDEX refresh_families_by_user ON refresh_families (user_id);
CREATE INDEX refresh_families_by_expiry ON refresh_families (expires_at);

-- One refresh token of a family. A token is spent (used_at, replaced_by its successor's hash)
-- by exactly one refresh; presenting it again revokes the family.
CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,                 -- hex SHA-256 of the ear_ token
    family_id   TEXT NOT NULL REFERENCES refresh_families (id),
    created_at  INTEGER NOT NULL,
    used_at     INTEGER,
    replaced_by TEXT,                             -- hash of the successor
    revoked_at  INTEGER
);

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

-- Failed user-code lookups at /device, per subject (`session:<id>`, `user:<id>`): at most 5
-- per 10 minutes from the window's first failure (core::device::LookupFailures). Rows whose
-- window has ended are swept.
CREATE TABLE device_code_attempts (
    subject      TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    failures     INTEGER NOT NULL
);
