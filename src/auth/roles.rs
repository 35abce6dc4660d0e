//! A person's role in a project ([`edgeauth_core::role`]): their teams (as of their last
//! sign-in, read with their credential) against the project's role teams, which are its own
//! override in D1 or else `ADMIN_TEAMS`/`MEMBER_TEAMS`. The project's teams are remembered by
//! the isolate for the revocation bound ([`cache::project_roles`]), so a warm credential
//! costs no read for its role either.

use edgeauth_core::id_token;
use edgeauth_core::{ProjectName, Role, TeamRoles};
use worker::Env;

use super::cache;
use crate::error::ApiError;
use crate::settings::Settings;
use crate::store::ProjectRoles;
use crate::{database, now_ms};

/// The role teams of `project`: its override, else the configuration's.
pub async fn of_project(
    settings: &Settings,
    project: &ProjectName,
    env: &Env,
) -> Result<TeamRoles, ApiError> {
    let now = now_ms();
    if let Some(roles) = cache::project_roles(project, now) {
        return Ok(roles);
    }
    let roles = ProjectRoles::find(&database(env)?, project)
        .await?
        .map_or_else(|| settings.config.roles.clone(), |stored| stored.teams());
    cache::remember_project_roles(project, &roles, settings.config.revocation_bound_s, now);
    Ok(roles)
}

/// The role in `project` of a person in `teams`: none at all, anywhere, for a person in none
/// of `ALLOWED_TEAMS` (set), who may not sign in here (they were in one at sign-in; the teams
/// have changed since, at the provider, or the setting has).
pub async fn role_of(
    teams: &[String],
    settings: &Settings,
    project: &ProjectName,
    env: &Env,
) -> Result<Option<Role>, ApiError> {
    let allowed = settings
        .config
        .oidc
        .as_ref()
        .map_or(&[][..], |oidc| oidc.allowed_teams.as_slice());
    if !id_token::admitted(allowed, teams) {
        return Ok(None);
    }
    Ok(of_project(settings, project, env).await?.role_of(teams))
}
