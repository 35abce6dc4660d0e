//! The CLI loopback login (RFC 8252, with PKCE between the CLI and the server):
//! `GET /api/auth/cli-start` (sign in first, then a consent page), `POST /api/auth/cli-start`
//! (the person's decision: a single-use code in KV and a 303 to the CLI's loopback listener),
//! and `POST /api/auth/cli-exchange` (the CLI trades the code and its PKCE verifier for a user
//! API token, exactly once).
//!
//! No step keeps state in memory, so any replica can serve any step: the request travels in
//! the URL and the consent form, the approved code in KV (under its SHA-256, 120 s), and its
//! single use is decided in D1 ([`ConsumedCode::redeem_once`]), since KV has no atomic
//! read-and-delete and is eventually consistent.

use edgeauth_core::cli_login::{
    self, CliLoginRequest, ExchangeError, ExchangeRequest, LoopbackCode, PendingLogin,
};
use edgeauth_core::encoding::percent_encode;
use edgeauth_core::loopback::{LoopbackHost, LoopbackRedirect};
use edgeauth_core::time::rfc3339;
use edgeauth_core::{session, PrincipalKind, Scope, TokenHash};
use serde_json::json;
use worker::{Env, KvStore, Request, Response, Url};

use crate::auth::{query_param, Caller};
use crate::db::{AuditEvent, ConsumedCode, UserRecord};
use crate::error::ApiError;
use crate::sessions::{cookie_key, oidc_settings, redirect};
use crate::{account, database, http, now_ms, user_tokens, WebCrypto};

/// `created_via` of the tokens this flow mints.
const CREATED_VIA: &str = "cli-login";

/// The KV namespace of pending codes.
fn codes(env: &Env) -> Result<KvStore, ApiError> {
    env.kv("CODES").map_err(|e| {
        ApiError::Misconfigured(vec![format!(
            "CODES: the KV binding for CLI login codes is missing from the Worker's configuration ({e})"
        )])
    })
}

/// Both browser steps need sign-in configured (OIDC, and `SECRET` for the CSRF token) and
/// authentication on: with `AUTH_DISABLED` nobody can sign in, and the CLI needs no token.
fn require_sign_in(caller: &Caller) -> Result<(), ApiError> {
    if caller.config.auth_disabled {
        return Err(ApiError::NotConfigured(
            "authentication is disabled on this server (AUTH_DISABLED=true), so there is nothing to log in to; use the CLI without `edgeauth login`".into(),
        ));
    }
    oidc_settings(&caller.config)?;
    cookie_key(&caller.config)?;
    Ok(())
}

fn invalid_login_request(problem: String) -> ApiError {
    ApiError::BadRequest(format!(
        "this CLI login request is not valid: {problem}. The edgeauth CLI makes this address itself: run `edgeauth login` again"
    ))
}

/// The signed-in person of a browser session: `None` without a credential; 403 for a
/// credential that is not a browser session (only a person at a browser may approve).
fn session_user(caller: &Caller) -> Result<Option<(&str, &TokenHash)>, ApiError> {
    let Some(principal) = &caller.principal else {
        return Ok(None);
    };
    match (
        principal.kind,
        principal.user_id.as_deref(),
        &caller.session_hash,
    ) {
        (PrincipalKind::Session, Some(user_id), Some(hash)) => Ok(Some((user_id, hash))),
        _ => Err(ApiError::Forbidden(format!(
            "approving a CLI login needs a person signed in in this browser, not a {} credential",
            principal.kind.as_str()
        ))),
    }
}

/// Sends the browser to sign in, then back to this request (as a `GET`).
fn sign_in_first(
    request: &CliLoginRequest,
    url: &Url,
    caller: &Caller,
    status: u16,
) -> Result<Response, ApiError> {
    let project = query_param(url, "project").map(|_| caller.project.as_str());
    let path = request.return_path(project).ok_or_else(|| {
        ApiError::BadRequest(
            "this CLI login request is too long to come back to after signing in (over 1024 bytes); give `edgeauth login` a shorter name".into(),
        )
    })?;
    redirect(
        status,
        &format!("/api/auth/login?return_to={}", percent_encode(&path)),
        &[],
    )
}

/// The listener as the person reads it (`127.0.0.1:53682`), and the origin the consent page's
/// CSP must let the form's redirect reach (none can name an IPv6 literal).
fn listener(redirect: &LoopbackRedirect) -> (String, Option<String>) {
    match redirect.host() {
        LoopbackHost::V4 => {
            let authority = format!("127.0.0.1:{}", redirect.port());
            let origin = format!("http://{authority}");
            (authority, Some(origin))
        }
        LoopbackHost::V6 => (format!("[::1]:{}", redirect.port()), None),
    }
}

/// `GET /api/auth/cli-start`: validates the CLI's request, then sends a signed-out browser to
/// sign in first, and shows a signed-in person the consent page (never approving silently).
pub async fn start(url: &Url, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    require_sign_in(caller)?;
    let request = CliLoginRequest::from_params(|name| query_param(url, name))
        .map_err(invalid_login_request)?;
    let Some((user_id, session_hash)) = session_user(caller)? else {
        return sign_in_first(&request, url, caller, 302);
    };
    let user = UserRecord::find(&database(env)?, user_id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("session of unknown user {user_id}")))?;
    let csrf = session::csrf_token(&cookie_key(&caller.config)?, session_hash.as_hex());
    let (listener, listener_origin) = listener(&request.redirect);
    let html = account::cli_consent_html(&account::CliConsentView {
        person_name: user.name.as_deref(),
        person_email: user.email.as_deref(),
        project: caller.project.as_str(),
        client_name: &request.name,
        redirect_uri: request.redirect.as_str(),
        state: &request.state,
        code_challenge: &request.code_challenge,
        listener: &listener,
        csrf_token: &csrf,
    });
    Ok(account::cli_consent_response(
        html,
        listener_origin.as_deref(),
    ))
}

/// `POST /api/auth/cli-start`: the consent form. The pipeline has already refused it unless
/// it passed the CSRF check (Origin and the session's token). Re-validates every parameter,
/// then answers 303 to the loopback with `code` and `state` (approve) or with
/// `error=access_denied` and `state` (deny).
pub async fn decide(
    mut req: Request,
    url: &Url,
    caller: &Caller,
    env: &Env,
) -> Result<Response, ApiError> {
    require_sign_in(caller)?;
    let form = http::read_form(&mut req).await?;
    let request =
        CliLoginRequest::from_params(|name| form.get(name)).map_err(invalid_login_request)?;
    let Some((user_id, _)) = session_user(caller)? else {
        // The session ended while the page was open: sign in again, then consent again.
        return sign_in_first(&request, url, caller, 303);
    };
    let now = now_ms();
    let actor = format!("user:{user_id}");
    let project = caller.project.as_str();
    match form.get("decision").as_deref() {
        Some("approve") => {
            let code = LoopbackCode::generate(&mut WebCrypto);
            let hash = code.hash();
            let pending = PendingLogin::new(&request, user_id, project, now);
            codes(env)?
                .put(&cli_login::kv_key(&hash), pending.to_json())?
                .expiration_ttl(cli_login::CODE_TTL_S as u64)
                .execute()
                .await?;
            AuditEvent {
                at: now,
                project: Some(project),
                actor: &actor,
                action: "cli_login.approve",
                subject: hash.as_hex(),
                detail: json!({"name": pending.name, "redirect_uri": pending.redirect_uri,
                               "expires_at": rfc3339(pending.expires_at)})
                .to_string(),
            }
            .statement(&database(env)?)?
            .run()
            .await?;
            redirect(
                303,
                &request.redirect.with_code(code.as_str(), &request.state),
                &[],
            )
        }
        Some("deny") => {
            AuditEvent {
                at: now,
                project: Some(project),
                actor: &actor,
                action: "cli_login.deny",
                subject: user_id,
                detail: json!({"name": request.name, "redirect_uri": request.redirect.as_str()})
                    .to_string(),
            }
            .statement(&database(env)?)?
            .run()
            .await?;
            redirect(
                303,
                &request.redirect.with_error("access_denied", &request.state),
                &[],
            )
        }
        _ => Err(ApiError::BadRequest(
            "`decision` must be `approve` or `deny`".into(),
        )),
    }
}

fn oauth(error: ExchangeError) -> ApiError {
    ApiError::OAuth {
        status: 400,
        error: error.error_code(),
        description: error.description().to_owned(),
    }
}

/// A body that could not be read, as an RFC 6749 §5.2 `invalid_request` (its status kept).
fn unreadable_body(e: ApiError) -> ApiError {
    let (status, description) = match e {
        ApiError::PayloadTooLarge => (
            413,
            format!("the body is larger than {} bytes", http::MAX_BODY_BYTES),
        ),
        ApiError::UnsupportedMediaType => (
            415,
            "send the body as JSON with `Content-Type: application/json`".to_owned(),
        ),
        ApiError::InvalidJson(m) => (400, m),
        other => return other,
    };
    ApiError::OAuth {
        status,
        error: "invalid_request",
        description,
    }
}

/// Deletes a code's KV entry, as a courtesy: D1 decides single use, and KV would expire it.
async fn forget(kv: &KvStore, key: &str) {
    if let Err(e) = kv.delete(key).await {
        worker::console_error!("could not delete a CLI login code from KV: {e}");
    }
}

/// `POST /api/auth/cli-exchange`: `{"code", "code_verifier", "redirect_uri"}` for a new user
/// API token, 201 once per code; every refusal is an RFC 6749 §5.2 body.
///
/// Expiry, redirect and verifier are checked before anything is written. A live code presented
/// with the wrong redirect or verifier is burned (RFC 6749 §4.1.2 allows revoking a misused
/// code): whoever sent it has the code but not what the CLI that asked for it holds, so the
/// code has leaked, and nobody may redeem it any more; the person runs `edgeauth login` again.
pub async fn exchange(mut req: Request, env: &Env) -> Result<Response, ApiError> {
    let body = http::read_json(&mut req).await.map_err(unreadable_body)?;
    let exchange = ExchangeRequest::from_json(&body).map_err(oauth)?;
    let hash = exchange.code.hash();
    let key = cli_login::kv_key(&hash);
    let kv = codes(env)?;
    let Some(stored) = kv.get(&key).text().await? else {
        return Err(oauth(ExchangeError::UNKNOWN_CODE));
    };
    let pending = PendingLogin::from_json(&stored).map_err(ApiError::Internal)?;
    let db = database(env)?;
    let now = now_ms();
    if let Err(refusal) = pending.check_exchange(&exchange, now) {
        if refusal.burns_code() {
            ConsumedCode::burn(
                &db,
                &hash,
                AuditEvent {
                    at: now,
                    project: Some(&pending.project),
                    actor: "anonymous",
                    action: "cli_login.burn",
                    subject: hash.as_hex(),
                    detail: json!({"reason": refusal.description()}).to_string(),
                },
                now,
            )
            .await?;
        }
        forget(&kv, &key).await;
        return Err(oauth(refusal));
    }
    let user = UserRecord::find(&db, &pending.user_id)
        .await?
        .ok_or_else(|| {
            ApiError::Internal(format!("CLI login of unknown user {}", pending.user_id))
        })?;
    let (minted, record) = user_tokens::mint(
        &pending.user_id,
        &pending.project,
        &pending.name,
        &Scope::all(),
        CREATED_VIA,
        None,
        now,
    )?;
    let actor = format!("user:{}", pending.user_id);
    let won = ConsumedCode::redeem_once(
        &db,
        &hash,
        &record,
        minted.hash(),
        user_tokens::creation_event(&record, &actor)?,
        now,
    )
    .await?;
    forget(&kv, &key).await;
    if !won {
        return Err(oauth(ExchangeError::ALREADY_REDEEMED));
    }
    let mut body = user_tokens::creation_body(&record, &minted, now)?;
    body["user"] = json!({"id": user.id, "email": user.email, "name": user.name});
    Ok(http::json(201, &body))
}
