//! `GET/PUT/DELETE /api/lifetime-policy`: the project's lifetime policy
//! ([`edgeauth_core::lifetime`]): the longest and default lifetime of its service and user
//! tokens, and the expiry of tokens unused for some days. `GET` for anyone with a role there;
//! `PUT` (replace it) and `DELETE` (no policy) for the super token and the project's admins,
//! each audited. A change takes effect at once in this isolate and within
//! `REVOCATION_BOUND_SECONDS` everywhere else, like a revocation. It applies to tokens created
//! from then on; unused expiry applies to every token of the project at its next use.

use edgeauth_core::api::{KindLimitsView, LifetimePolicyView};
use edgeauth_core::lifetime::{KindLimits, LifetimePolicy};
use edgeauth_core::time::rfc3339;
use edgeauth_core::ProjectName;
use serde_json::json;
use worker::{Env, Request, Response};

use crate::api::audit;
use crate::auth::{cache, Caller};
use crate::error::ApiError;
use crate::store::ProjectLifetime;
use crate::{database, http, now_ms};

/// The subject of the audit events of a project's lifetime policy.
const SUBJECT: &str = "lifetime_policy";

/// What changing the policy is called in a refusal.
const DOING: &str = "changing the lifetime policy of a project";

/// `GET`: the project's policy, `null` for every limit not set.
pub async fn show(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    caller.require_principal()?;
    let stored = ProjectLifetime::find(&database(env)?, &caller.project).await?;
    Ok(http::json(200, &view(&caller.project, stored.as_ref())))
}

/// `PUT {"service_tokens": {"max_days", "default_days"}, "user_tokens": {…}, "unused_days"}`:
/// replaces the project's policy (a field left out is no limit).
pub async fn set(mut req: Request, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let principal = caller.require_admin(DOING)?;
    let body = http::body::json(&mut req).await?;
    let policy = LifetimePolicy::from_json(&body).map_err(ApiError::BadRequest)?;
    let db = database(env)?;
    ProjectLifetime::set(
        &db,
        &caller.project,
        &policy,
        audit::project_change(
            caller,
            principal,
            now_ms(),
            "lifetime_policy.set",
            SUBJECT,
            body_of(&policy).to_string(),
        ),
    )
    .await?;
    cache::forget_lifetime_policy(&caller.project);
    let stored = ProjectLifetime::find(&db, &caller.project).await?;
    Ok(http::json(200, &view(&caller.project, stored.as_ref())))
}

/// `DELETE`: the project has no policy any more (200 either way).
pub async fn reset(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let principal = caller.require_admin(DOING)?;
    ProjectLifetime::remove(
        &database(env)?,
        &caller.project,
        audit::project_change(
            caller,
            principal,
            now_ms(),
            "lifetime_policy.reset",
            SUBJECT,
            "{}".to_owned(),
        ),
    )
    .await?;
    cache::forget_lifetime_policy(&caller.project);
    Ok(http::json(200, &view(&caller.project, None)))
}

fn limits_view(limits: &KindLimits) -> KindLimitsView {
    KindLimitsView {
        max_days: limits.max_days,
        default_days: limits.default_days,
    }
}

/// The policy as the body of `PUT` would say it (what the audit event records).
fn body_of(policy: &LifetimePolicy) -> serde_json::Value {
    json!({
        "service_tokens": limits_view(&policy.service_tokens),
        "user_tokens": limits_view(&policy.user_tokens),
        "unused_days": policy.unused_days,
    })
}

fn view(project: &ProjectName, stored: Option<&ProjectLifetime>) -> LifetimePolicyView {
    let policy = stored.map(ProjectLifetime::policy).unwrap_or_default();
    LifetimePolicyView {
        project: project.to_string(),
        service_tokens: limits_view(&policy.service_tokens),
        user_tokens: limits_view(&policy.user_tokens),
        unused_days: policy.unused_days,
        updated_at: stored.map(|s| rfc3339(s.updated_at)),
        updated_by: stored.map(|s| s.updated_by.clone()),
    }
}
