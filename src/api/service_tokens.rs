//! Service tokens: workspace-scoped tokens of one project, for CI and workers.
//! `POST /api/service-tokens`, `GET /api/service-tokens`, `DELETE /api/service-tokens/{id}`.

use edgeauth_core::base62;
use edgeauth_core::time::rfc3339;
use edgeauth_core::token;
use edgeauth_core::token_request::NewServiceToken;
use serde_json::{json, Value};
use worker::{Env, Request, Response};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::store::{AuditEvent, ServiceTokenRecord};
use crate::{database, http, now_ms, WebCrypto};

fn view(record: &ServiceTokenRecord, now: i64) -> Result<Value, ApiError> {
    Ok(json!({
        "id": record.id,
        "name": record.name,
        "project": record.project,
        "workspaces": record.scope()?.to_strings(),
        "prefix": record.display_prefix,
        "created_at": rfc3339(record.created_at),
        "created_by": record.created_by,
        "expires_at": record.expires_at.map(rfc3339),
        "last_used_at": record.last_used_at.map(rfc3339),
        "expired": record.is_expired(now),
    }))
}

/// `POST /api/service-tokens`: mints a token no broader than its creator.
pub async fn create(mut req: Request, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let principal = caller.require_principal()?;
    let key = caller.settings.service_token_key(&caller.project)?;
    let body = http::body::json(&mut req).await?;
    let new = NewServiceToken::from_json(&body).map_err(ApiError::BadRequest)?;
    if !principal.may_manage(&new.scope) {
        return Err(ApiError::Forbidden(format!(
            "your credential covers {}, which does not include all of {}; a new token cannot be broader than its creator",
            principal.scope.to_strings().join(", "),
            new.scope.to_strings().join(", ")
        )));
    }
    let now = now_ms();
    let minted = token::mint_service(&key, &mut WebCrypto);
    let record = ServiceTokenRecord {
        id: format!("st_{}", base62::random(20, &mut WebCrypto)),
        project: caller.project.as_str().to_owned(),
        name: new.name.clone(),
        workspaces: serde_json::to_string(&new.scope.to_strings())
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        display_prefix: minted.display_prefix().to_owned(),
        created_at: now,
        created_by: principal.actor(),
        expires_at: new.expires_at_ms(now),
        last_used_at: None,
        revoked_at: None,
    };
    let db = database(env)?;
    let actor = principal.actor();
    record
        .insert(
            &db,
            minted.hash(),
            AuditEvent {
                at: now,
                project: Some(&record.project),
                actor: &actor,
                action: "service_token.create",
                subject: &record.id,
                detail: json!({"name": record.name, "workspaces": new.scope.to_strings(),
                               "prefix": record.display_prefix})
                .to_string(),
            },
        )
        .await?;
    let mut body = view(&record, now)?;
    body["token"] = Value::from(minted.plaintext());
    Ok(http::json(201, &body))
}

/// `GET /api/service-tokens`: the project's live tokens the caller's scope covers.
pub async fn list(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let principal = caller.require_principal()?;
    caller.settings.service_token_key(&caller.project)?;
    let now = now_ms();
    let mut tokens = Vec::new();
    for record in ServiceTokenRecord::list_active(&database(env)?, caller.project.as_str()).await? {
        if principal.may_manage(&record.scope()?) {
            tokens.push(view(&record, now)?);
        }
    }
    Ok(http::json(200, &json!({ "service_tokens": tokens })))
}

/// `DELETE /api/service-tokens/{id}`: revokes at once; the next verification anywhere fails.
pub async fn revoke(id: &str, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let principal = caller.require_principal()?;
    caller.settings.service_token_key(&caller.project)?;
    let not_found = || {
        ApiError::NotFound(format!(
            "no live service token `{}` in project `{}`",
            id.escape_default(),
            caller.project
        ))
    };
    let db = database(env)?;
    let record = ServiceTokenRecord::find(&db, caller.project.as_str(), id)
        .await?
        .filter(|r| r.revoked_at.is_none())
        .ok_or_else(not_found)?;
    if !principal.may_manage(&record.scope()?) {
        return Err(ApiError::Forbidden(format!(
            "your credential does not cover the workspaces of `{}` ({})",
            record.id,
            record.scope()?.to_strings().join(", ")
        )));
    }
    let now = now_ms();
    let actor = principal.actor();
    let revoked = record
        .revoke(
            &db,
            now,
            AuditEvent {
                at: now,
                project: Some(&record.project),
                actor: &actor,
                action: "service_token.revoke",
                subject: &record.id,
                detail: json!({"prefix": record.display_prefix}).to_string(),
            },
        )
        .await?;
    if revoked {
        Ok(http::no_content())
    } else {
        Err(not_found())
    }
}
