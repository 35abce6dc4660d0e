-- The browser session a token was created with (by the session itself, or by a token created
-- with it, through however many tokens): the token never outlives the session and is revoked
-- when it ends, so a stolen session cookie cannot be turned into a lasting credential. (The
-- device-login counterpart is parent_family_id, 0006.)
ALTER TABLE service_tokens ADD COLUMN parent_session_id TEXT;
ALTER TABLE user_tokens ADD COLUMN parent_session_id TEXT;
CREATE INDEX service_tokens_by_parent_session ON service_tokens (parent_session_id)
    WHERE parent_session_id IS NOT NULL;
CREATE INDEX user_tokens_by_parent_session ON user_tokens (parent_session_id)
    WHERE parent_session_id IS NOT NULL;
