//! `POST /api/auth/introspect` (RFC 7662): for a resource server that receives edgeauth's
//! tokens directly, whether one is valid here now and what it may do. The caller is the
//! resource server, authenticated with a service token (of the project it asks about) or the
//! super token.
//!
//! Anything not valid (unknown, revoked, expired, forged, malformed, of another project, a
//! refresh token) is the same `{"active": false}`: no answer tells those apart.

use edgeauth_core::{Principal, PrincipalKind};
use serde_json::json;
use worker::{Context, Env, Request, Response};

use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::http::{self, body};

/// Introspects the form's (or JSON body's) `token`.
pub async fn introspect(
    mut req: Request,
    caller: &Caller,
    env: &Env,
    ctx: &Context,
) -> Result<Response, ApiError> {
    let principal = caller.require_principal()?;
    if !matches!(
        principal.kind(),
        PrincipalKind::Service | PrincipalKind::Super | PrincipalKind::Anonymous
    ) {
        return Err(ApiError::Forbidden(format!(
            "introspection is for resource servers: authenticate with a service token of the project (or the super token), not a {} credential",
            principal.kind().as_str()
        )));
    }
    let token = body::oauth(&mut req)
        .await
        .map_err(ApiError::oauth_body)?
        .param("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::OAuth {
            status: 400,
            error: "invalid_request",
            description: "give the token to introspect: `token=eas_…` (a form field)".into(),
        })?;
    let answer =
        match auth::verify_bearer(&token, &caller.settings, &caller.project, env, ctx).await {
            // A person with no role in the project is refused in it, so not active here.
            Ok(found) if found.outsider_problem().is_none() => active(&found, caller),
            Ok(_) => json!({"active": false}),
            // Storage that failed says nothing about the token: 503, so the resource server retries
            // rather than refuse a good token.
            Err(e @ ApiError::StorageUnavailable(_)) => return Err(e),
            Err(_) => json!({"active": false}),
        };
    Ok(http::json(200, &answer))
}

/// The RFC 7662 answer for a valid token, with edgeauth's own members.
fn active(found: &Principal, caller: &Caller) -> serde_json::Value {
    let identity = edgeauth_core::assertion::Identity::of(Some(found), &caller.project);
    json!({
        "active": true,
        "iss": caller.own_origin(),
        "sub": identity.subject,
        "kind": identity.kind,
        "name": identity.name,
        "project": identity.project,
        "workspaces": identity.workspaces,
        "scope": identity.workspaces.join(" "),
        "token_id": identity.token_id,
        "role": identity.role,
        "ci": identity.ci,
        "exp": found.expires_at_ms.map(|ms| ms.div_euclid(1000)),
    })
}
