-- A project's lifetime policy (edgeauth_core::lifetime): the longest and the default lifetime,
-- in days, of its service tokens and of its user API tokens, and the days after which a token
-- left unused is refused. Each NULL: no limit (no default). No row: no policy. Set and removed
-- by the super token or an admin of the project (PUT/DELETE /api/lifetime-policy), each change
-- audited.
CREATE TABLE project_lifetimes (
    project              TEXT PRIMARY KEY,
    service_max_days     INTEGER,
    service_default_days INTEGER,                 -- never above service_max_days
    user_max_days        INTEGER,
    user_default_days    INTEGER,                 -- never above user_max_days
    unused_days          INTEGER,
    updated_at           INTEGER NOT NULL,
    updated_by           TEXT NOT NULL            -- super, user:<id>
);
