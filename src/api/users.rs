//! `GET /api/users/me`: the signed-in person and how they authenticated.

use edgeauth_core::api::Me;
use edgeauth_core::{PrincipalKind, TokenId};
use worker::{Env, Response};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::store::UserRecord;
use crate::{database, http};

/// `GET /api/users/me`: the signed-in person and how they authenticated.
pub async fn me(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let (principal, user_id) = caller.person()?;
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
        &Me {
            id: user.id,
            email: user.email,
            name: user.name,
            teams: user.teams,
            issuer: user.issuer,
            authenticated_by: authenticated_by.to_owned(),
            // A session's id is not a token's: only tokens are named here.
            token_id: principal
                .browser_session()
                .is_none()
                .then(|| principal.token_id().map(TokenId::new))
                .flatten(),
            role: principal.role_name().to_owned(),
            project: caller.project.to_string(),
        },
    ))
}
