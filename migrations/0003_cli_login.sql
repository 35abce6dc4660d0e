-- The CLI loopback login: the ledger of redeemed login codes. KV holds a pending code under its
-- SHA-256 for 120 s, but KV has no atomic read-and-delete and is eventually consistent, so a
-- code's single use is decided here: the exchange inserts this row (INSERT OR IGNORE) and, in
-- the same batch, mints its token only if the row names that token. Rows older than an hour
-- are swept by later exchanges (their codes expired long before). Times are Unix milliseconds.
CREATE TABLE consumed_codes (
    code_hash   TEXT PRIMARY KEY,                 -- hex SHA-256 of the code (never the code)
    token_id    TEXT NOT NULL,                    -- the user token it was redeemed for, or 'burned'
    consumed_at INTEGER NOT NULL
);

CREATE INDEX consumed_codes_by_time ON consumed_codes (consumed_at);
