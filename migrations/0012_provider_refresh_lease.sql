-- The turn to ask the identity provider for a person's teams (src/flows/provider_refresh.rs):
-- one refresh of the person holds it until it has asked (or for 60 s at most), so that two
-- refreshes never present the same provider refresh token, whatever REVOCATION_BOUND_SECONDS.
ALTER TABLE users ADD COLUMN teams_lease_until INTEGER;
