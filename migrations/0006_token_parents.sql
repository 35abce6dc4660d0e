-- The device login (refresh-token family) a token was created with, through one of its access
-- tokens: the token never outlives the login and is revoked with it, so a stolen access token
-- (minutes) cannot be turned into a lasting credential.
ALTER TABLE service_tokens ADD COLUMN parent_family_id TEXT;
ALTER TABLE user_tokens ADD COLUMN parent_family_id TEXT;
CREATE INDEX service_tokens_by_parent_family ON service_tokens (parent_family_id)
    WHERE parent_family_id IS NOT NULL;
CREATE INDEX user_tokens_by_parent_family ON user_tokens (parent_family_id)
    WHERE parent_family_id IS NOT NULL;
