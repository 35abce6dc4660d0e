-- The CLI loopback login: every approved code, in D1 as well as in KV. KV keeps a pending code
-- under its SHA-256 for 120 s and answers the common case where the exchange lands, but KV
-- promises no read-after-write even in one location, reaches other locations 60 s or more
-- later, and caches a "not found": an exchange whose KV read misses reads the code's row here.
-- The row is inserted in the batch that records the approval's audit event (no approval
-- without it), deleted in the batch that redeems or burns the code (consumed_codes still
-- decides single use), and swept once expired by later approvals and redemptions. It holds
-- what the KV entry holds, never the code: the code's SHA-256, and the PKCE challenge (itself a
-- hash of the verifier that only the CLI holds). Times are Unix milliseconds.
CREATE TABLE pending_codes (
    code_hash      TEXT PRIMARY KEY,                    -- hex SHA-256 of the code (never the code)
    user_id        TEXT NOT NULL REFERENCES users (id), -- who approved; the token acts as them
    project        TEXT NOT NULL,                       -- the project the token will be valid in
    name           TEXT NOT NULL,                       -- the token's name
    redirect_uri   TEXT NOT NULL,                       -- the CLI's loopback redirect, exactly as given
    code_challenge TEXT NOT NULL,                       -- PKCE S256 challenge the verifier must answer
    expires_at     INTEGER NOT NULL                     -- the code is refused from then on
);

CREATE INDEX pending_codes_by_expiry ON pending_codes (expires_at);
