//! Browser sign-in with the OIDC provider, and the sessions it creates:
//! `GET /api/auth/login`, `GET /api/auth/callback`, `POST /api/auth/logout`, and the session
//! cookie as a credential.
//!
//! The sign-in in flight lives in a signed cookie (no server-side state, so any replica can
//! finish it); the session lives in D1, keyed by the SHA-256 of the cookie's random value.

use edgeauth_core::audit as refusals;
use edgeauth_core::cli_login::CliLoginRequest;
use edgeauth_core::crypto::DerivedKey;
use edgeauth_core::oidc::{end_session_url, SELECT_ACCOUNT};
use edgeauth_core::pkce;
use edgeauth_core::return_to::{safe_return_to, DEFAULT_RETURN_TO};
use edgeauth_core::session::{self, CookieNames, LoginState, LoginStateError};
use edgeauth_core::{Login, SessionId, TokenHash, UserId};
use serde_json::json;
use worker::{Context, Env, Request, Response};

use super::{cli_login, oidc, provider_refresh};
use crate::api::audit;
use crate::auth::{cache, Caller};
use crate::error::ApiError;
use crate::http::{self, header, redirect};
use crate::store::{Actor, AuditEvent, NewSession, SessionRecord, UserRecord};
use crate::{database, now_ms, WebCrypto};

fn refused(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Refused {
        status,
        code,
        message: message.into(),
    }
}

/// `GET /api/auth/login?return_to=/path[&prompt=select_account]`: sends the browser to the
/// provider with PKCE, state and nonce, remembering them in the signed `edgeauth_login`
/// cookie. With `prompt=select_account`, the provider is asked to let the person choose the
/// account (its `select_account`, else `login`), as the signed-out page offers.
pub async fn login(caller: &Caller) -> Result<Response, ApiError> {
    let settings = caller.settings.oidc()?;
    let key = caller.settings.cookie_key()?;
    let return_to = match caller.query("return_to") {
        None => DEFAULT_RETURN_TO.to_owned(),
        Some(given) => safe_return_to(&given).ok_or_else(|| {
            ApiError::BadRequest(
                "`return_to` must be a path on this server, like `/account`; other origins, `//host`, backslashes and dot segments are refused".into(),
            )
        })?,
    };
    let choose_account = match caller.query("prompt").as_deref() {
        None => false,
        Some(SELECT_ACCOUNT) => true,
        Some(_) => {
            return Err(ApiError::BadRequest(format!(
                "`prompt` may only be `{SELECT_ACCOUNT}` (to choose another account than the one signed in at the identity provider), or absent"
            )))
        }
    };
    let provider = oidc::provider(settings).await?;
    let origin = caller.own_origin();
    let login = LoginState::new(return_to, now_ms() / 1000, &mut WebCrypto);
    let location = oidc::authorization_url(
        &provider.authorization_endpoint,
        &oidc::AuthorizationRequest {
            client_id: &settings.client_id,
            redirect_uri: &format!("{origin}/api/auth/callback"),
            scopes: &settings.scopes,
            state: &login.state(key),
            nonce: &login.nonce(key),
            code_challenge: &pkce::s256_challenge(&login.verifier(key)),
            prompt: choose_account.then_some(provider.choose_account_prompt),
        },
    );
    let names = CookieNames::for_origin(&origin);
    let cookie = names.set_cookie(
        names.login,
        &login.encode(key),
        session::COOKIE_PATH,
        session::LOGIN_TTL_S,
    );
    Ok(redirect(302, &location, &[cookie]))
}

/// `GET /api/auth/callback`: checks the sign-in cookie and `state`, exchanges the code,
/// verifies the ID token, enforces the team allow-list, upserts the user and starts a session.
/// Every refusal happens before anything is written, and is counted in the audit trail.
///
/// A sign-in begun by a CLI loopback login (its `return_to` is the CLI's request) that is
/// refused once its `state` is known to be this sign-in's (the person is not in an allowed
/// team, the provider said no, …) goes back to the waiting CLI as `error=access_denied` with
/// the reason, so that the CLI says why at once instead of waiting for a browser that is
/// done.
pub async fn callback(
    req: &Request,
    caller: &Caller,
    env: &Env,
    ctx: &Context,
) -> Result<Response, ApiError> {
    let names = CookieNames::for_origin(&caller.own_origin());
    let now = now_ms();
    let answer = match checked_login(req, caller, &names, now) {
        Ok((login, key)) => {
            let answer = finish(caller, env, &login, key, &names, now).await;
            let waiting_cli = CliLoginRequest::from_return_path(&login.return_to);
            match (answer, waiting_cli) {
                (Err(refused), Some(cli)) if refused.refusal_message().is_some() => {
                    audit::count_refusal(ctx, env, caller, refusals::SIGN_IN_REFUSE, &refused);
                    let clear = names.set_cookie(names.login, "", session::COOKIE_PATH, 0);
                    return cli_login::refused_to_cli(&cli, refused, &[clear]);
                }
                (answer, _) => answer,
            }
        }
        Err(refused) => Err(refused),
    };
    if let Err(refused) = &answer {
        audit::count_refusal(ctx, env, caller, refusals::SIGN_IN_REFUSE, refused);
    }
    answer
}

/// The sign-in cookie, checked (signed by a key of ours, unexpired) and matched against the
/// `state` the provider returned, with the key that signed it.
fn checked_login<'a>(
    req: &Request,
    caller: &'a Caller,
    names: &CookieNames,
    now: i64,
) -> Result<(LoginState, &'a DerivedKey), ApiError> {
    caller.settings.oidc()?;
    caller.settings.cookie_key()?;
    let (login, key) = header(req, "Cookie")
        .as_deref()
        .and_then(|cookies| session::cookie_value(cookies, names.login).map(str::to_owned))
        .ok_or_else(|| {
            refused(
                400,
                "login_expired",
                "this sign-in has no sign-in cookie (it was started in another browser, or the cookie was blocked); start again at /api/auth/login",
            )
        })
        .and_then(|value| {
            // Signed under SECRET, or under SECRET_PREVIOUS by a sign-in begun before a
            // rotation: the key that signed it checks the rest (state, nonce, verifier).
            let keys = caller.settings.cookie_keys();
            let mut refusal = None;
            for key in keys {
                match LoginState::decode(&value, key, now / 1000) {
                    Ok(login) => return Ok((login, key)),
                    Err(e) => {
                        refusal.get_or_insert(e);
                    }
                }
            }
            let e = refusal.unwrap_or(LoginStateError::Malformed);
            let hint = match e {
                LoginStateError::Expired => "",
                _ => " or was tampered with",
            };
            Err(refused(
                400,
                "login_expired",
                format!("{e}{hint}; start again at /api/auth/login"),
            ))
        })?;
    let state = caller.query("state").unwrap_or_default();
    if !login.state_matches(key, &state) {
        return Err(refused(
            400,
            "invalid_state",
            "the `state` returned by the identity provider is not this sign-in's (a forged or crossed response); start again at /api/auth/login",
        ));
    }
    Ok((login, key))
}

/// The rest of the callback once the sign-in is known to be this browser's: the provider's
/// answer, the code exchange, the ID token's checks, then the session.
async fn finish(
    caller: &Caller,
    env: &Env,
    login: &LoginState,
    key: &DerivedKey,
    names: &CookieNames,
    now: i64,
) -> Result<Response, ApiError> {
    let settings = caller.settings.oidc()?;
    let origin = caller.own_origin();
    if let Some(error) = caller.query("error") {
        let description = caller.query("error_description").unwrap_or_default();
        return Err(refused(
            400,
            "provider_error",
            format!(
                "the identity provider did not sign you in: {}{}{}; start again at /api/auth/login",
                printable(&error, 64),
                if description.is_empty() { "" } else { ": " },
                printable(&description, 200)
            ),
        ));
    }
    let code = caller
        .query("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest("the identity provider's answer has no `code`".into())
        })?;

    let provider = oidc::provider(settings).await?;
    let redirect_uri = format!("{origin}/api/auth/callback");
    let answer = oidc::exchange_code(
        settings,
        &provider,
        &code,
        &redirect_uri,
        &login.verifier(key),
    )
    .await?;
    let expected = oidc::expectations(settings, &login.nonce(key), now / 1000);
    let identity = oidc::verify_id_token(&provider, &answer.id_token, &expected).await?;
    // The provider's refresh token, if it issued one: kept sealed, to ask for the person's
    // teams again when a device login refreshes (`flows::provider_refresh`).
    let provider_refresh = match &answer.refresh_token {
        Some(token) => Some(
            provider_refresh::seal_for(
                caller.settings.provider_token_key()?,
                &identity.issuer,
                &identity.subject,
                token.expose(),
            )
            .await?,
        ),
        None => None,
    };

    let value = session::new_session_value(caller.settings.session_key()?, &mut WebCrypto);
    let session_hash = TokenHash::of(&value);
    // The ID token, sealed to this session, for the `id_token_hint` of signing out at the
    // provider; a cookie sent only to /api/auth/logout. Without it, sign-out works unhinted.
    let id_token = provider_refresh::seal_id_token(
        caller.settings.provider_token_key()?,
        session_hash.as_hex(),
        &answer.id_token,
    )
    .await
    .ok();
    let session_id = SessionId::generate(&mut WebCrypto);
    let detail = json!({"issuer": identity.issuer, "subject": identity.subject}).to_string();
    UserRecord {
        id: UserId::generate(&mut WebCrypto),
        issuer: identity.issuer,
        subject: identity.subject,
        email: Some(identity.email),
        name: identity.name,
        teams: identity.teams,
        created_at: now,
        last_login_at: now,
    }
    .sign_in(
        &database(env)?,
        &NewSession {
            hash: &session_hash,
            id: &session_id,
            created_at: now,
            expires_at: now + session::SESSION_TTL_S * 1000,
            trace: &caller.trace,
        },
        &detail,
        provider_refresh.as_deref(),
    )
    .await?;
    let mut cookies = vec![
        names.set_cookie(
            names.session,
            &value,
            session::COOKIE_PATH,
            session::SESSION_TTL_S,
        ),
        names.set_cookie(names.login, "", session::COOKIE_PATH, 0),
    ];
    if let Some(sealed) = id_token {
        cookies.push(names.set_cookie(
            names.id_token,
            &sealed,
            session::ID_TOKEN_PATH,
            session::SESSION_TTL_S,
        ));
    }
    Ok(redirect(303, &login.return_to, &cookies))
}

/// `POST /api/auth/logout`: deletes the session server-side and clears the cookie. The
/// pipeline has already refused it unless it passed the CSRF check.
///
/// A form post (the account page's Sign out) then goes on to the provider's
/// `end_session_endpoint`, when it has one, to end the person's session there too (OIDC
/// RP-Initiated Logout), so that the next sign-in may be another account; the provider sends
/// the browser back to `/account`. Without one (or with the provider unreachable), it lands on
/// `/account`, whose signed-out page offers to sign in with another account.
pub async fn logout(req: &Request, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let names = CookieNames::for_origin(&caller.own_origin());
    let mut id_token = None;
    if let Some(session) = caller.browser_session() {
        // The session's own ID token, if its cookie came along and opens for this session.
        let sealed = header(req, "Cookie")
            .and_then(|cookies| session::cookie_value(&cookies, names.id_token).map(str::to_owned));
        if let (Some(sealed), Ok(key)) = (sealed, caller.settings.provider_token_key()) {
            id_token = provider_refresh::open_id_token(key, session.cookie_hash.as_hex(), &sealed)
                .await
                .ok()
                .flatten();
        }
        let now = now_ms();
        // The session and what it made stop at once here; elsewhere within the bound.
        cache::forget_login(&Login::Session(session.session_id.clone()));
        SessionRecord::delete(
            &database(env)?,
            &session.cookie_hash,
            &session.session_id,
            AuditEvent {
                at: now,
                project: None,
                actor: Actor::User(session.user_id.clone()),
                action: "session.delete",
                subject: session.session_id.as_str(),
                detail: "{}".into(),
                person: None,
                trace: &caller.trace,
            },
            now,
        )
        .await?;
    }
    let clear = [
        names.set_cookie(names.session, "", session::COOKIE_PATH, 0),
        names.set_cookie(names.id_token, "", session::ID_TOKEN_PATH, 0),
    ];
    if http::is_form(req) {
        // On the issuer's own origin (discovery keeps no other), which the signed-in pages'
        // CSP lets the sign-out form reach (`flows::account`).
        let provider_sign_out = match caller.settings.oidc() {
            Ok(settings) => oidc::provider(settings).await.ok().and_then(|provider| {
                let endpoint = provider.end_session_endpoint?;
                let back = format!("{}/account", caller.own_origin());
                Some(end_session_url(
                    &endpoint,
                    &settings.client_id,
                    &back,
                    id_token.as_deref(),
                ))
            }),
            Err(_) => None,
        };
        let next = provider_sign_out.as_deref().unwrap_or("/account");
        Ok(redirect(303, next, &clear))
    } else {
        let mut response = http::no_content();
        for cookie in &clear {
            http::append_header(&mut response, "Set-Cookie", cookie);
        }
        Ok(response)
    }
}

/// At most `max` characters of provider text, printable ASCII only, for an error message.
fn printable(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(max)
        .collect()
}
