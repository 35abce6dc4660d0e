-- Which request revoked a row: a random id per revoking request, so that the audit event in the
-- same batch is written only by the request whose revocation took effect, even when two
-- requests revoke the same row in the same millisecond (`revoked_at` alone cannot tell them
-- apart). Not a secret; never shown.
ALTER TABLE service_tokens ADD COLUMN revocation_id TEXT;
ALTER TABLE user_tokens ADD COLUMN revocation_id TEXT;
ALTER TABLE refresh_families ADD COLUMN revocation_id TEXT;
