//! The CLI loopback login (RFC 8252, with PKCE between the CLI and the server):
//! `GET /api/auth/cli-start` (sign in first, then a consent page), `POST /api/auth/cli-start`
//! (the person's decision: a single-use code in KV and a 303 to the CLI's loopback listener),
//! and `POST /api/auth/cli-exchange` (the CLI trades the code and its PKCE verifier for a user
//! API token, exactly once).
//!
//! No step keeps state in memory, so any replica can serve any step: the request travels in
//! the URL and the consent form, and the approved code is stored under its SHA-256 twice: in
//! KV (120 s), which answers where the exchange lands, and in D1 with the approval's audit
//! event ([`PendingCode`]), which the exchange reads when KV misses. KV is eventually
//! consistent (no read-after-write even in one location, a minute or more to reach others, a
//! "not found" cached), so an exchange that lands where KV has not caught up still finds the
//! code. Its single use is decided in D1 ([`ConsumedCode::redeem_once`]), since KV has no
//! atomic read-and-delete, and whatever KV shows.

use edgeauth_core::api::{CliExchangeResponse, UserSummary};
use edgeauth_core::cli_login::{
    self, CliLoginRequest, ExchangeError, ExchangeRequest, LoopbackCode, PendingLogin,
};
use edgeauth_core::encoding::percent_encode;
use edgeauth_core::lifetime::Governed;
use edgeauth_core::loopback::{LoopbackHost, LoopbackRedirect};
use edgeauth_core::time::{rfc3339, spoken_duration};
use edgeauth_core::{session, ProjectName, Scope, UserId};
use serde_json::json;
use worker::{Context, Env, KvStore, Request, Response};

use crate::api::tokens;
use crate::auth::{lifetime, Caller};
use crate::error::ApiError;
use crate::http::{self, body, redirect};
use crate::pages;
use crate::store::{
    self, Actor, AuditEvent, ConsumedCode, NewToken, PendingCode, TokenOwner, UserRecord,
};
use crate::{database, now_ms, WebCrypto};

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

/// One KV operation begins. Only the fault-injection build ever refuses it (src/faults.rs).
fn kv_operation() -> Result<(), ApiError> {
    crate::faults::kv().map_err(|fault| ApiError::StorageUnavailable(format!("KV: {fault}")))
}

/// Both browser steps need people to be able to sign in here (authentication on, OIDC and
/// `SECRET` for the CSRF token).
fn require_sign_in(caller: &Caller) -> Result<(), ApiError> {
    match caller.settings.sign_in_problem() {
        Some(problem) => Err(ApiError::NotConfigured(problem)),
        None => Ok(()),
    }
}

fn invalid_login_request(problem: String) -> ApiError {
    ApiError::BadRequest(format!(
        "this CLI login request is not valid: {problem}. The edgeauth CLI makes this address itself: run `edgeauth login` again"
    ))
}

/// Sends the browser to sign in, then back to this request (as a `GET`).
fn sign_in_first(
    request: &CliLoginRequest,
    caller: &Caller,
    status: u16,
) -> Result<Response, ApiError> {
    let project = caller.query("project").map(|_| caller.project.as_str());
    let path = request.return_path(project).ok_or_else(|| {
        ApiError::BadRequest(
            "this CLI login request is too long to come back to after signing in (over 1024 bytes); give `edgeauth login` a shorter name".into(),
        )
    })?;
    Ok(redirect(
        status,
        &format!("/api/auth/login?return_to={}", percent_encode(&path)),
        &[],
    ))
}

/// A refusal of the signed-in person (no role in the project, not in an allowed team, …) sent
/// back to the waiting CLI as `error=access_denied` with its reason, so that the CLI says why
/// at once instead of waiting for a browser that is done; a failure of the server's own (5xx)
/// stays an error page.
pub fn refused_to_cli(
    request: &CliLoginRequest,
    refused: ApiError,
    cookies: &[String],
) -> Result<Response, ApiError> {
    match refused.refusal_message() {
        Some(reason) => Ok(redirect(
            303,
            &request.redirect.with_refusal(&reason, &request.state),
            cookies,
        )),
        None => Err(refused),
    }
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
pub async fn start(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    require_sign_in(caller)?;
    let request =
        CliLoginRequest::from_params(|name| caller.query(name)).map_err(invalid_login_request)?;
    let Some(session) = caller.browser_person("approving a CLI login")? else {
        return sign_in_first(&request, caller, 302);
    };
    if let Err(refused) = caller.require_principal() {
        return refused_to_cli(&request, refused, &[]);
    }
    let user_id = &session.user_id;
    let user = UserRecord::find(&database(env)?, user_id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("session of unknown user {user_id}")))?;
    let csrf = session::csrf_token(caller.settings.cookie_key()?, session.cookie_hash.as_hex());
    let (listener, listener_origin) = listener(&request.redirect);
    // What the exchange will grant: the project's default for user tokens, else 90 days,
    // within its max (`KindLimits::login_token_days`).
    let policy = lifetime::of_project(&caller.settings, &caller.project, env).await?;
    let token_days = policy.limits(Governed::UserTokens).login_token_days();
    let token_lifetime = spoken_duration(u32::try_from(token_days * 86_400).unwrap_or(u32::MAX));
    let html = pages::cli_consent_html(&pages::CliConsentView {
        person_name: user.name.as_deref(),
        person_email: user.email.as_deref(),
        project: caller.project.as_str(),
        client_name: &request.name,
        token_lifetime: &token_lifetime,
        redirect_uri: request.redirect.as_str(),
        state: &request.state,
        code_challenge: &request.code_challenge,
        listener: &listener,
        csrf_token: &csrf,
    });
    Ok(pages::cli_consent_response(
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
    caller: &Caller,
    env: &Env,
    ctx: &Context,
) -> Result<Response, ApiError> {
    require_sign_in(caller)?;
    let form = body::form(&mut req).await?;
    let request =
        CliLoginRequest::from_params(|name| form.get(name)).map_err(invalid_login_request)?;
    let Some(session) = caller.browser_person("approving a CLI login")? else {
        // The session ended while the page was open: sign in again, then consent again.
        return sign_in_first(&request, caller, 303);
    };
    // A person with no role in the project cannot log a CLI in to it.
    if let Err(refused) = caller.require_principal() {
        return refused_to_cli(&request, refused, &[]);
    }
    let user_id = session.user_id.as_str();
    let now = now_ms();
    let actor = Actor::User(session.user_id.clone());
    let project = caller.project.as_str();
    match form.get("decision").as_deref() {
        Some("approve") => {
            let code = LoopbackCode::generate(&mut WebCrypto);
            let hash = code.hash();
            let pending = PendingLogin::new(&request, user_id, project, now);
            let kv = codes(env)?;
            let key = cli_login::kv_key(&hash);
            kv_operation()?;
            kv.put(&key, pending.to_json())?
                .expiration_ttl(cli_login::CODE_TTL_S as u64)
                .execute()
                .await?;
            // The approval in D1 too, with its audit event (one batch): for an exchange
            // that lands where KV has not caught up.
            let audited = async {
                let audit = AuditEvent {
                    at: now,
                    project: Some(project),
                    actor,
                    action: "cli_login.approve",
                    subject: hash.as_hex(),
                    detail: json!({"name": pending.name, "redirect_uri": pending.redirect_uri,
                                   "expires_at": rfc3339(pending.expires_at)})
                    .to_string(),
                    person: None,
                    trace: &caller.trace,
                };
                PendingCode::approve(&database(env)?, &hash, &pending, audit, now)
                    .await
                    .map_err(ApiError::from)
            };
            if let Err(e) = audited.await {
                // No approval without its D1 row and audit event: the code, never shown, is
                // withdrawn.
                forget(&kv, &key).await;
                return Err(e);
            }
            Ok(redirect(
                303,
                &request.redirect.with_code(code.as_str(), &request.state),
                &[],
            ))
        }
        Some("deny") => {
            let denied = AuditEvent {
                at: now,
                project: Some(project),
                actor,
                action: "cli_login.deny",
                subject: user_id,
                detail: json!({"name": request.name, "redirect_uri": request.redirect.as_str()})
                    .to_string(),
                person: None,
                trace: &caller.trace,
            };
            // The person's answer goes back at once; the event is written after it.
            store::record_later(ctx, &database(env)?, &denied)?;
            Ok(redirect(
                303,
                &request.redirect.with_error("access_denied", &request.state),
                &[],
            ))
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

/// Deletes a code's KV entry, as a courtesy: D1 decides single use, and KV would expire it.
async fn forget(kv: &KvStore, key: &str) {
    let deleted = async {
        crate::faults::kv().map_err(str::to_owned)?;
        kv.delete(key).await.map_err(|e| e.to_string())
    };
    if let Err(e) = deleted.await {
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
pub async fn exchange(mut req: Request, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let body = body::json(&mut req).await.map_err(ApiError::oauth_body)?;
    let exchange = ExchangeRequest::from_json(&body).map_err(oauth)?;
    let hash = exchange.code.hash();
    let key = cli_login::kv_key(&hash);
    let kv = codes(env)?;
    kv_operation()?;
    let db = database(env)?;
    let now = now_ms();
    // KV first: where the approval was made, it answers without a trip to D1. A miss may mean
    // no more than that KV here has not caught up (or remembers an earlier miss): D1 has the
    // approval too.
    let pending = match kv.get(&key).text().await? {
        Some(stored) => PendingLogin::from_json(&stored).map_err(ApiError::Internal)?,
        None => PendingCode::find(&db, &hash, now)
            .await?
            .ok_or_else(|| oauth(ExchangeError::UNKNOWN_CODE))?,
    };
    if let Err(refusal) = pending.check_exchange(&exchange, now) {
        if refusal.burns_code() {
            let burned_for = UserId::new(pending.user_id.as_str());
            ConsumedCode::burn(
                &db,
                &hash,
                AuditEvent {
                    at: now,
                    project: Some(&pending.project),
                    actor: Actor::Anonymous,
                    action: "cli_login.burn",
                    subject: hash.as_hex(),
                    detail: json!({"reason": refusal.description()}).to_string(),
                    person: Some(&burned_for),
                    trace: &caller.trace,
                },
                now,
            )
            .await?;
        }
        forget(&kv, &key).await;
        return Err(oauth(refusal));
    }
    let user_id = UserId::new(pending.user_id.as_str());
    let user = UserRecord::find(&db, &user_id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("CLI login of unknown user {user_id}")))?;
    let project = ProjectName::parse(&pending.project)
        .map_err(|e| ApiError::Internal(format!("CLI login code: {e}")))?;
    // The login's token gets the project's default for user tokens, else 90 days within its
    // max (`KindLimits::login_token_days`).
    let policy = lifetime::of_project(&caller.settings, &project, env).await?;
    let days = policy.limits(Governed::UserTokens).login_token_days();
    let expires_at =
        tokens::policy_expiry(&policy, Governed::UserTokens, Some(days), &project, now).map_err(
            |e| {
                ApiError::Internal(format!(
                    "a lifetime policy refused its own login days: {e:?}"
                ))
            },
        )?;
    let (minted, record) = tokens::mint_user_token(
        caller.settings.user_token_key()?,
        NewToken {
            owner: TokenOwner::User {
                user_id: user_id.clone(),
                created_via: CREATED_VIA.to_owned(),
            },
            project,
            name: pending.name.clone(),
            scope: Scope::all(),
            expires_at,
            parent: None,
        },
        now,
    );
    let won = ConsumedCode::redeem_once(
        &db,
        &hash,
        &record,
        minted.hash(),
        tokens::creation_event(&record, Actor::User(user_id), &caller.trace),
        now,
    )
    .await?;
    forget(&kv, &key).await;
    if !won {
        return Err(oauth(ExchangeError::ALREADY_REDEEMED));
    }
    let tokens::View::User(view) = tokens::view(&record, &policy, now) else {
        return Err(ApiError::Internal(
            "a CLI login minted a token that is not a user token".into(),
        ));
    };
    let body = CliExchangeResponse {
        created: tokens::creation_body(view, &minted),
        user: Some(UserSummary {
            id: user.id,
            email: user.email,
            name: user.name,
        }),
    };
    Ok(http::json(201, &body))
}
