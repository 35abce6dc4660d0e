//! `POST/GET /api/trust-policies`, `DELETE /api/trust-policies/{id}`: which CI jobs may
//! exchange their platform's ID token for an access token of the request's project
//! (`flows::exchange`), managed by the super token and the project's admins. A policy grants
//! no more than its creator's scope covers, names an issuer of the operator's `TRUST_ISSUERS`,
//! and is deleted only by a credential that covers it. Creating or deleting one takes effect at once on
//! this instance and within `REVOCATION_BOUND_SECONDS` everywhere else.

use edgeauth_core::api::{TrustPolicyList, TrustPolicyView};
use edgeauth_core::ids::trust_policy_id;
use edgeauth_core::time::rfc3339;
use edgeauth_core::trust::{untrusted_issuer, NewTrustPolicy, MAX_POLICIES};
use serde_json::json;
use worker::{Env, Request, Response};

use crate::api::audit;
use crate::auth::{cache, Caller};
use crate::error::ApiError;
use crate::store::{Actor, AuditEvent, TrustPolicyRecord};
use crate::{database, http, now_ms, WebCrypto};

const MANAGING: &str = "managing the trust policies of a project";

/// `POST`: a new policy, no broader than its creator.
pub async fn create(mut req: Request, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let principal = caller.require_admin(MANAGING)?;
    let body = http::body::json(&mut req).await?;
    let new =
        NewTrustPolicy::from_json(&body, &caller.own_origin()).map_err(ApiError::BadRequest)?;
    if let Some(why) = untrusted_issuer(&new.issuer, &caller.config().trust_issuers) {
        return Err(ApiError::Forbidden(why));
    }
    if !principal.may_manage(&new.scope) {
        return Err(ApiError::Forbidden(format!(
            "your credential covers {}, which does not include all of {}; a trust policy cannot grant more than its creator holds",
            principal.scope.to_strings().join(", "),
            new.scope.to_strings().join(", ")
        )));
    }
    let now = now_ms();
    let actor = Actor::of(principal);
    let record = TrustPolicyRecord::new(
        trust_policy_id(&mut WebCrypto),
        caller.project.clone(),
        new,
        actor.to_string(),
        now,
    );
    let detail = json!({
        "name": record.name, "issuer": record.issuer, "audience": record.audience,
        "conditions": record.conditions, "workspaces": record.workspaces.to_strings(),
        "token_lifetime_seconds": record.lifetime_s,
    })
    .to_string();
    let stored = record
        .insert(
            &database(env)?,
            AuditEvent {
                at: now,
                project: Some(caller.project.as_str()),
                actor,
                action: "trust_policy.create",
                subject: &record.id,
                detail,
                person: None,
                trace: &caller.trace,
            },
        )
        .await?;
    if !stored {
        return Err(ApiError::BadRequest(format!(
            "project `{}` has {MAX_POLICIES} trust policies, the most it may have; delete one it no longer needs (`edgeauth trust delete`)",
            caller.project
        )));
    }
    cache::forget_trust_policies(&caller.project);
    Ok(http::json(201, &view(&record)))
}

/// `GET`: the project's policies, newest first.
pub async fn list(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    caller.require_admin(MANAGING)?;
    let policies = TrustPolicyRecord::list(&database(env)?, &caller.project).await?;
    Ok(http::json(
        200,
        &TrustPolicyList {
            trust_policies: policies.iter().map(view).collect(),
        },
    ))
}

/// `DELETE …/{id}`: no new exchange through it; the tokens it gave live out their minutes.
/// As with service tokens, the caller's credential must cover what the policy grants.
pub async fn delete(id: &str, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let principal = caller.require_admin(MANAGING)?;
    let db = database(env)?;
    let not_found = || {
        ApiError::NotFound(format!(
            "no trust policy `{}` in project `{}` (unknown, or deleted already)",
            id.escape_default(),
            caller.project
        ))
    };
    let policy = TrustPolicyRecord::find(&db, &caller.project, id)
        .await?
        .ok_or_else(not_found)?;
    if !principal.may_manage(&policy.workspaces) {
        return Err(ApiError::Forbidden(format!(
            "your credential covers {}, which does not include all of {}, the workspaces trust policy `{}` grants; delete it with a credential that covers them",
            principal.scope.to_strings().join(", "),
            policy.workspaces.to_strings().join(", "),
            policy.id
        )));
    }
    let now = now_ms();
    let deleted = TrustPolicyRecord::delete(
        &db,
        &caller.project,
        id,
        audit::project_change(
            caller,
            principal,
            now,
            "trust_policy.delete",
            id,
            "{}".to_owned(),
        ),
        now,
    )
    .await?;
    cache::forget_trust_policies(&caller.project);
    if deleted {
        Ok(http::no_content())
    } else {
        Err(not_found())
    }
}

fn view(record: &TrustPolicyRecord) -> TrustPolicyView {
    TrustPolicyView {
        id: record.id.clone(),
        name: record.name.clone(),
        project: record.project.to_string(),
        issuer: record.issuer.clone(),
        audience: record.audience.clone(),
        conditions: record.conditions.0.clone(),
        workspaces: record.workspaces.to_strings(),
        token_lifetime_seconds: record.lifetime_s,
        created_at: rfc3339(record.created_at),
        created_by: record.created_by.clone(),
    }
}
