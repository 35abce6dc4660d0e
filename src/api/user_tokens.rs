//! A person's own API tokens and who they are: `GET/POST /api/tokens`,
//! `DELETE /api/tokens/{id}`, `GET /api/users/me`.

use edgeauth_core::time::rfc3339;
use edgeauth_core::token::{self, MintedToken, TokenKind};
use edgeauth_core::token_request::NewUserToken;
use edgeauth_core::{base62, PrincipalKind, Scope};
use serde_json::{json, Value};
use worker::{Env, Request, Response};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::store::{AuditEvent, UserRecord, UserTokenRecord};
use crate::{database, http, now_ms, WebCrypto};

fn view(record: &UserTokenRecord, now: i64) -> Result<Value, ApiError> {
    Ok(json!({
        "id": record.id,
        "name": record.name,
        "project": record.project,
        "workspaces": record.scope()?.to_strings(),
        "prefix": record.display_prefix,
        "created_at": rfc3339(record.created_at),
        "created_via": record.created_via,
        "expires_at": record.expires_at.map(rfc3339),
        "last_used_at": record.last_used_at.map(rfc3339),
        "expired": record.is_expired(now),
    }))
}

/// `POST /api/tokens`: mints a token for the caller, in the request's project, no broader
/// than the caller.
pub async fn create(mut req: Request, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let (principal, user_id) = caller.person()?;
    let user_id = user_id.as_str();
    let body = http::body::json(&mut req).await?;
    let new = NewUserToken::from_json(&body).map_err(ApiError::BadRequest)?;
    if !principal.may_manage(&new.scope) {
        return Err(ApiError::Forbidden(format!(
            "your credential covers {}, which does not include all of {}; a new token cannot be broader than its creator",
            principal.scope.to_strings().join(", "),
            new.scope.to_strings().join(", ")
        )));
    }
    let now = now_ms();
    let (minted, record) = mint(
        user_id,
        caller.project.as_str(),
        &new.name,
        &new.scope,
        principal.kind().as_str(),
        new.expires_at_ms(now),
        now,
    )?;
    let actor = format!("user:{user_id}");
    record
        .insert(
            &database(env)?,
            minted.hash(),
            creation_event(&record, &actor)?,
        )
        .await?;
    Ok(http::json(201, &creation_body(&record, &minted, now)?))
}

/// A new token for `user_id`, valid in `project`, not yet stored: the secret (shown once)
/// and the record D1 keeps. Every way of creating a user token (`POST /api/tokens`, the CLI
/// login) mints through here.
pub(crate) fn mint(
    user_id: &str,
    project: &str,
    name: &str,
    scope: &Scope,
    created_via: &str,
    expires_at: Option<i64>,
    now: i64,
) -> Result<(MintedToken, UserTokenRecord), ApiError> {
    let minted = token::mint_opaque(TokenKind::User, &mut WebCrypto);
    let record = UserTokenRecord {
        id: format!("ut_{}", base62::random(20, &mut WebCrypto)),
        user_id: user_id.to_owned(),
        project: project.to_owned(),
        name: name.to_owned(),
        workspaces: serde_json::to_string(&scope.to_strings())
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        display_prefix: minted.display_prefix().to_owned(),
        created_at: now,
        created_via: created_via.to_owned(),
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    Ok((minted, record))
}

/// The `user_token.create` audit event of a token `actor` just minted.
pub(crate) fn creation_event<'a>(
    record: &'a UserTokenRecord,
    actor: &'a str,
) -> Result<AuditEvent<'a>, ApiError> {
    Ok(AuditEvent {
        at: record.created_at,
        project: Some(&record.project),
        actor,
        action: "user_token.create",
        subject: &record.id,
        detail: json!({"name": record.name, "workspaces": record.scope()?.to_strings(),
                       "prefix": record.display_prefix, "via": record.created_via})
        .to_string(),
    })
}

/// The creation response: the token's listing fields and, this once, its plaintext.
pub(crate) fn creation_body(
    record: &UserTokenRecord,
    minted: &MintedToken,
    now: i64,
) -> Result<Value, ApiError> {
    let mut body = view(record, now)?;
    body["token"] = Value::from(minted.plaintext());
    Ok(body)
}

/// `GET /api/tokens`: the caller's live tokens, in every project.
pub async fn list(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let (_, user_id) = caller.person()?;
    let user_id = user_id.as_str();
    let now = now_ms();
    let tokens = UserTokenRecord::list_active(&database(env)?, user_id)
        .await?
        .iter()
        .map(|record| view(record, now))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(http::json(200, &json!({ "tokens": tokens })))
}

/// `DELETE /api/tokens/{id}`: revokes one of the caller's tokens; anyone else's is 404, as
/// if it did not exist.
pub async fn revoke(id: &str, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let (_, user_id) = caller.person()?;
    let user_id = user_id.as_str();
    let not_found = || {
        ApiError::NotFound(format!(
            "you have no live API token `{}` (unknown, already revoked, or not yours)",
            id.escape_default()
        ))
    };
    let db = database(env)?;
    let record = UserTokenRecord::find_owned(&db, user_id, id)
        .await?
        .filter(|r| r.revoked_at.is_none())
        .ok_or_else(not_found)?;
    let now = now_ms();
    let actor = format!("user:{user_id}");
    let revoked = record
        .revoke(
            &db,
            now,
            AuditEvent {
                at: now,
                project: Some(&record.project),
                actor: &actor,
                action: "user_token.revoke",
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

/// `GET /api/users/me`: the signed-in person and how they authenticated.
pub async fn me(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let (principal, user_id) = caller.person()?;
    let user_id = user_id.as_str();
    let user = UserRecord::find(&database(env)?, user_id)
        .await?
        .ok_or_else(|| {
            ApiError::InvalidCredential("the user of this credential no longer exists".into())
        })?;
    let authenticated_by = match principal.kind() {
        PrincipalKind::Session => "session",
        PrincipalKind::Access => "access_token",
        _ => "user_token",
    };
    Ok(http::json(
        200,
        &json!({
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "teams": user.team_list(),
            "issuer": user.issuer,
            "authenticated_by": authenticated_by,
            "token_id": principal.browser_session().is_none().then(|| principal.token_id()).flatten(),
            "project": caller.project.as_str(),
        }),
    ))
}
