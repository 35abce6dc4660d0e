-- Trust policies: which CI jobs may exchange their platform's ID token for an access token of a
-- project (RFC 8693 at POST /api/auth/token), and what that token covers. Managed by the super
-- token or an admin of the project (/api/trust-policies); deleting one stops new exchanges at
-- once (the tokens it gave live out their minutes).
CREATE TABLE trust_policies (
    id          TEXT PRIMARY KEY,                 -- tp_<base62>
    project     TEXT NOT NULL,
    name        TEXT NOT NULL,
    issuer      TEXT NOT NULL,                    -- the CI platform's `iss`, exact
    audience    TEXT NOT NULL,                    -- the `aud` its ID tokens must carry
    conditions  TEXT NOT NULL,                    -- JSON object: claim -> [patterns]
    workspaces  TEXT NOT NULL,                    -- JSON array of patterns granted
    lifetime_s  INTEGER NOT NULL,                 -- of the tokens it yields, 60..=3600
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,                    -- super, user:<id>
    deleted_at  INTEGER
);

CREATE INDEX trust_policies_by_issuer ON trust_policies (project, issuer) WHERE deleted_at IS NULL;

-- ID tokens already exchanged, by issuer and `jti`: a second presentation is refused. Kept
-- until the ID token has expired (and then swept), so the table holds minutes of exchanges.
CREATE TABLE exchanged_id_tokens (
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,                  -- the ID token's exp (+ skew), Unix ms
    PRIMARY KEY (issuer, jti)
);
