-- A project's own role teams, overriding ADMIN_TEAMS and MEMBER_TEAMS for that project. No row:
-- the project follows the configuration. Set and removed by the super token or an admin of the
-- project (POST/DELETE /api/roles), each change audited.
CREATE TABLE project_roles (
    project      TEXT PRIMARY KEY,
    admin_teams  TEXT NOT NULL,                   -- JSON array of team names
    member_teams TEXT NOT NULL,                   -- JSON array; empty: every signed-in person
    updated_at   INTEGER NOT NULL,
    updated_by   TEXT NOT NULL                    -- super, user:<id>
);
