-- When a browser session was last used (src/store/logins.rs): written after the response, at
-- most every 5 minutes, when a Worker reads the session from D1 (not on every request), so
-- that a person sees which of their sessions are in use.
ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER;
