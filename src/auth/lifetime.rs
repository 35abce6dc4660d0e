//! A project's lifetime policy ([`edgeauth_core::lifetime`]), as every request that mints or
//! verifies a stored token reads it: remembered by the isolate for the revocation bound
//! ([`cache::lifetime_policy`]), so a warm credential costs no read for it.

use edgeauth_core::lifetime::LifetimePolicy;
use edgeauth_core::ProjectName;
use worker::Env;

use super::cache;
use crate::error::ApiError;
use crate::settings::Settings;
use crate::store::ProjectLifetime;
use crate::{database, now_ms};

/// The lifetime policy of `project`: the default (limiting nothing) when it has none.
pub async fn of_project(
    settings: &Settings,
    project: &ProjectName,
    env: &Env,
) -> Result<LifetimePolicy, ApiError> {
    let now = now_ms();
    if let Some(policy) = cache::lifetime_policy(project, now) {
        return Ok(policy);
    }
    let policy = ProjectLifetime::find(&database(env)?, project)
        .await?
        .map(|stored| stored.policy())
        .unwrap_or_default();
    cache::remember_lifetime_policy(project, &policy, settings.config.revocation_bound_s, now);
    Ok(policy)
}
