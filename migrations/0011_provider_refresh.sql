-- What the identity provider says of a person can change after they sign in (a team removed).
-- When the provider issues refresh tokens, the latest one is kept with the person, encrypted
-- (AES-256-GCM under a key derived from SECRET, bound to the person's issuer and subject:
-- core/src/sealed.rs), and a device login's refresh asks the provider again for the person's
-- teams once they are older than REVOCATION_BOUND_SECONDS (teams_checked_at).
ALTER TABLE users ADD COLUMN provider_refresh TEXT;        -- sealed (v1.…), or NULL: none issued
ALTER TABLE users ADD COLUMN teams_checked_at INTEGER;      -- when the provider last gave the teams
