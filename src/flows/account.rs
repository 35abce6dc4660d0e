//! `GET /account`: where a signed-in person lands: who they are, sign out, their tokens
//! (the page's script drives `/api/tokens`).

use edgeauth_core::session;
use edgeauth_core::time::rfc3339;
use worker::{Env, Response};

use crate::auth::Caller;
use crate::database;
use crate::error::ApiError;
use crate::pages;
use crate::store::UserRecord;

/// The signed-in person's page, or a page with a "Sign in" link. Only a browser session
/// shows the account: a bearer credential is not a browser.
pub async fn page(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    caller.settings.oidc()?;
    let key = caller.settings.cookie_key()?;
    let signed_in = match caller.browser_session() {
        Some(session) => UserRecord::find(&database(env)?, &session.user_id)
            .await?
            .map(|user| (session, user)),
        None => None,
    };
    let Some((session, user)) = signed_in else {
        let return_to = match caller.query("project") {
            // Already validated as a project name by the pipeline: [a-z0-9-] only.
            Some(_) => format!("%2Faccount%3Fproject%3D{}", caller.project),
            None => "%2Faccount".to_owned(),
        };
        return Ok(pages::page_response(
            200,
            pages::signed_out_html(&format!("/api/auth/login?return_to={return_to}")),
        ));
    };
    let csrf = session::csrf_token(key, session.cookie_hash.as_hex());
    // A session principal always carries its end.
    let session_ends_at = caller
        .principal
        .as_ref()
        .and_then(|p| p.expires_at_ms)
        .map(rfc3339)
        .unwrap_or_default();
    let role = caller.principal.as_ref().map_or("none", |p| p.role_name());
    Ok(pages::page_response(
        200,
        pages::account_html(&pages::AccountView {
            name: user.name.as_deref(),
            email: user.email.as_deref(),
            teams: &user.teams,
            user_id: user.id.as_str(),
            project: caller.project.as_str(),
            role,
            csrf_token: &csrf,
            session_ends_at: &session_ends_at,
        }),
    ))
}
