-- The audit trail (GET /api/audit, src/store/audit.rs): every security event, with where it
-- came from, and what the person it concerns may read of it.
--
-- person            the person the event concerns (its actor, or the owner of what was acted
--                   on): who reads it as their own
-- credential_hash   SHA-256 (hex) of the credential the actor presented (an API token, an
--                   access token, the session cookie), so that a leaked token's actions can be
--                   found from the token alone; credential_prefix its display prefix, when it
--                   is an API token
-- ip, colo, user_agent, request_id
--                   the request: CF-Connecting-IP, the Cloudflare location, User-Agent (at most
--                   200 characters), CF-Ray (or an id of the Worker's own)
-- count, bucket     refusals are counted, not each stored: one row per kind of refusal and
--                   minute (bucket names both) whose count grows, with the first one's client
ALTER TABLE audit_events ADD COLUMN person TEXT;
ALTER TABLE audit_events ADD COLUMN credential_hash TEXT;
ALTER TABLE audit_events ADD COLUMN credential_prefix TEXT;
ALTER TABLE audit_events ADD COLUMN ip TEXT;
ALTER TABLE audit_events ADD COLUMN colo TEXT;
ALTER TABLE audit_events ADD COLUMN user_agent TEXT;
ALTER TABLE audit_events ADD COLUMN request_id TEXT;
ALTER TABLE audit_events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit_events ADD COLUMN bucket TEXT;

CREATE UNIQUE INDEX audit_events_by_bucket ON audit_events (bucket);
CREATE INDEX audit_events_by_project ON audit_events (project, id);
CREATE INDEX audit_events_by_person ON audit_events (person, id);
CREATE INDEX audit_events_by_credential ON audit_events (credential_hash, id);
