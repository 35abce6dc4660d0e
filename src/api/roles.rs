//! `GET/POST/DELETE /api/roles`: which teams administer and use the request's project. `GET`
//! for anyone with a role there; `POST` (set the project's own teams) and `DELETE` (back to
//! `ADMIN_TEAMS`/`MEMBER_TEAMS`) for the super token and the project's admins, each audited.
//! A change takes effect at once in this isolate and within `REVOCATION_BOUND_SECONDS`
//! everywhere else, like a revocation.

use edgeauth_core::api::ProjectRolesView;
use edgeauth_core::time::rfc3339;
use edgeauth_core::{ProjectName, TeamRoles};
use serde_json::json;
use worker::{Env, Request, Response};

use crate::api::audit;
use crate::auth::{cache, Caller};
use crate::error::ApiError;
use crate::settings::Settings;
use crate::store::ProjectRoles;
use crate::{database, http, now_ms};

/// The subject of the audit events of a project's roles.
const SUBJECT: &str = "roles";

/// `GET`: the project's role teams and where they come from.
pub async fn show(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    caller.require_principal()?;
    let stored = ProjectRoles::find(&database(env)?, &caller.project).await?;
    Ok(http::json(
        200,
        &view(&caller.project, &caller.settings, stored.as_ref()),
    ))
}

/// `POST {"admin_teams": [...], "member_teams": [...]}`: sets the project's own teams.
pub async fn set(mut req: Request, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let principal = caller.require_admin("changing the roles of a project")?;
    let body = http::body::json(&mut req).await?;
    let roles = TeamRoles::from_json(&body).map_err(ApiError::BadRequest)?;
    let now = now_ms();
    let db = database(env)?;
    ProjectRoles::set(
        &db,
        &caller.project,
        &roles,
        audit::project_change(
            caller,
            principal,
            now,
            "roles.set",
            SUBJECT,
            json!({"admin_teams": roles.admin_teams, "member_teams": roles.member_teams})
                .to_string(),
        ),
    )
    .await?;
    cache::forget_project_roles(&caller.project);
    let stored = ProjectRoles::find(&db, &caller.project).await?;
    Ok(http::json(
        200,
        &view(&caller.project, &caller.settings, stored.as_ref()),
    ))
}

/// `DELETE`: the project follows `ADMIN_TEAMS` and `MEMBER_TEAMS` again (200 either way).
pub async fn reset(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let principal = caller.require_admin("changing the roles of a project")?;
    ProjectRoles::remove(
        &database(env)?,
        &caller.project,
        audit::project_change(
            caller,
            principal,
            now_ms(),
            "roles.reset",
            SUBJECT,
            "{}".to_owned(),
        ),
    )
    .await?;
    cache::forget_project_roles(&caller.project);
    Ok(http::json(
        200,
        &view(&caller.project, &caller.settings, None),
    ))
}

fn view(
    project: &ProjectName,
    settings: &Settings,
    stored: Option<&ProjectRoles>,
) -> ProjectRolesView {
    let (roles, source) = match stored {
        Some(stored) => (stored.teams(), "project"),
        None => (settings.config.roles.clone(), "configuration"),
    };
    ProjectRolesView {
        project: project.to_string(),
        admin_teams: roles.admin_teams,
        member_teams: roles.member_teams,
        source: source.to_owned(),
        updated_at: stored.map(|s| rfc3339(s.updated_at)),
        updated_by: stored.map(|s| s.updated_by.clone()),
    }
}
