//! D1 storage of a project's own role teams (`project_roles`), which override `ADMIN_TEAMS`
//! and `MEMBER_TEAMS` for that project ([`edgeauth_core::role`]).

use edgeauth_core::{ProjectName, TeamRoles};
use serde::Deserialize;

use super::{changes, columns, AuditEvent, Database, Statement, StoreError};

/// A project's stored role teams.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProjectRoles {
    #[serde(deserialize_with = "columns::json_text")]
    pub admin_teams: Vec<String>,
    #[serde(deserialize_with = "columns::json_text")]
    pub member_teams: Vec<String>,
    pub updated_at: i64,
    pub updated_by: String,
}

/// A project's stored role teams, with its name.
#[derive(Deserialize)]
struct NamedRoles {
    project: String,
    #[serde(deserialize_with = "columns::json_text")]
    admin_teams: Vec<String>,
    #[serde(deserialize_with = "columns::json_text")]
    member_teams: Vec<String>,
}

impl ProjectRoles {
    /// The teams, as the role rules read them.
    pub fn teams(&self) -> TeamRoles {
        TeamRoles {
            admin_teams: self.admin_teams.clone(),
            member_teams: self.member_teams.clone(),
        }
    }

    /// The override of `project`, if it has one.
    pub async fn find(
        db: &impl Database,
        project: &ProjectName,
    ) -> Result<Option<Self>, StoreError> {
        db.first(Statement::new(
            "SELECT admin_teams, member_teams, updated_at, updated_by FROM project_roles \
             WHERE project = ?1",
            vec![project.as_str().into()],
        ))
        .await
    }

    /// The projects whose stored role teams give a person in `teams` a role (at most 200,
    /// by name): for a person's list of projects to choose from. Projects that follow the
    /// configuration are not stored, so they are not listed.
    pub async fn granting(
        db: &impl Database,
        teams: &[String],
    ) -> Result<Vec<ProjectName>, StoreError> {
        let rows: Vec<NamedRoles> = db
            .all(Statement::new(
                "SELECT project, admin_teams, member_teams FROM project_roles \
                 ORDER BY project LIMIT 200",
                vec![],
            ))
            .await?;
        Ok(rows
            .into_iter()
            .filter(|row| {
                TeamRoles {
                    admin_teams: row.admin_teams.clone(),
                    member_teams: row.member_teams.clone(),
                }
                .role_of(teams)
                .is_some()
            })
            .filter_map(|row| ProjectName::parse(&row.project).ok())
            .collect())
    }

    /// Sets `project`'s override to `roles`, with its audit event, in one batch.
    pub async fn set(
        db: &impl Database,
        project: &ProjectName,
        roles: &TeamRoles,
        audit: AuditEvent<'_>,
    ) -> Result<(), StoreError> {
        let upsert = Statement::new(
            "INSERT INTO project_roles (project, admin_teams, member_teams, updated_at, updated_by) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (project) DO UPDATE SET \
             admin_teams = excluded.admin_teams, member_teams = excluded.member_teams, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            vec![
                project.as_str().into(),
                serde_json::Value::from(roles.admin_teams.clone())
                    .to_string()
                    .into(),
                serde_json::Value::from(roles.member_teams.clone())
                    .to_string()
                    .into(),
                audit.at.into(),
                audit.actor.to_string().into(),
            ],
        );
        db.batch(vec![upsert, audit.statement()]).await?;
        Ok(())
    }

    /// Removes `project`'s override (it follows the configuration again), with its audit
    /// event; false when it had none (and nothing was recorded).
    pub async fn remove(
        db: &impl Database,
        project: &ProjectName,
        audit: AuditEvent<'_>,
    ) -> Result<bool, StoreError> {
        // The event first, while the row it speaks of is still there to condition on.
        let audit = audit.statement_if(
            "EXISTS (SELECT 1 FROM project_roles WHERE project = ?7)",
            [project.as_str().into()],
        );
        let delete = Statement::new(
            "DELETE FROM project_roles WHERE project = ?1",
            vec![project.as_str().into()],
        );
        let outcomes = db.batch(vec![audit, delete]).await?;
        Ok(changes(&outcomes, 1) > 0)
    }
}
