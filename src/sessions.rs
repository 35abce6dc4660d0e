//! Browser sign-in with the OIDC provider, and the sessions it creates:
//! `GET /api/auth/login`, `GET /api/auth/callback`, `POST /api/auth/logout`, and the session
//! cookie as a credential.
//!
//! The sign-in in flight lives in a signed cookie (no server-side state, so any replica can
//! finish it); the session lives in D1, keyed by the SHA-256 of the cookie's random value.

use edgeauth_core::crypto::{DerivedKey, KeyPurpose};
use edgeauth_core::pkce;
use edgeauth_core::return_to::{safe_return_to, DEFAULT_RETURN_TO};
use edgeauth_core::session::{self, CookieNames, LoginState, LoginStateError};
use edgeauth_core::{base62, Config, Principal, PrincipalKind, ProjectName, Scope, TokenHash};
use serde_json::json;
use worker::{Env, Request, Response, Url};

use crate::auth::{own_origin, query_param, Caller};
use crate::db::{AuditEvent, SessionRecord, UserRecord};
use crate::error::ApiError;
use crate::http::{self, header};
use crate::{database, now_ms, oidc, pages, WebCrypto};

/// The key that signs sign-in cookies and derives CSRF tokens; needs `SECRET`.
pub fn cookie_key(config: &Config) -> Result<DerivedKey, ApiError> {
    let secret = config.secret.as_ref().ok_or_else(|| {
        ApiError::NotConfigured(
            "sign-in needs the SECRET setting (at least 32 bytes, e.g. `openssl rand -hex 32`), which signs its cookies; the operator has not set it".into(),
        )
    })?;
    Ok(secret.derive(KeyPurpose::Cookies))
}

pub(crate) fn oidc_settings(
    config: &Config,
) -> Result<&edgeauth_core::config::OidcSettings, ApiError> {
    config.oidc.as_ref().ok_or_else(|| {
        ApiError::NotConfigured(
            "sign-in is not configured on this server: the operator must set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET".into(),
        )
    })
}

fn refused(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Refused {
        status,
        code,
        message: message.into(),
    }
}

/// A 302/303 to `location` with the given `Set-Cookie` headers.
pub(crate) fn redirect(
    status: u16,
    location: &str,
    cookies: &[String],
) -> Result<Response, ApiError> {
    let mut response = Response::empty()?.with_status(status);
    http::set_header(&mut response, "Location", location);
    for cookie in cookies {
        response.headers_mut().append("Set-Cookie", cookie)?;
    }
    Ok(response)
}

/// `GET /api/auth/login?return_to=/path`: sends the browser to the provider with PKCE,
/// state and nonce, remembering them in the signed `edgeauth_login` cookie.
pub async fn login(url: &Url, caller: &Caller) -> Result<Response, ApiError> {
    let config = &caller.config;
    let settings = oidc_settings(config)?;
    let key = cookie_key(config)?;
    let return_to = match query_param(url, "return_to") {
        None => DEFAULT_RETURN_TO.to_owned(),
        Some(given) => safe_return_to(&given).ok_or_else(|| {
            ApiError::BadRequest(
                "`return_to` must be a path on this server, like `/account`; other origins, `//host`, backslashes and dot segments are refused".into(),
            )
        })?,
    };
    let provider = oidc::provider(settings).await?;
    let origin = own_origin(config, url);
    let login = LoginState::new(return_to, now_ms() / 1000, &mut WebCrypto);
    let location = oidc::authorization_url(
        &provider.authorization_endpoint,
        &oidc::AuthorizationRequest {
            client_id: &settings.client_id,
            redirect_uri: &format!("{origin}/api/auth/callback"),
            scopes: &settings.scopes,
            state: &login.state(&key),
            nonce: &login.nonce(&key),
            code_challenge: &pkce::s256_challenge(&login.verifier(&key)),
        },
    );
    let names = CookieNames::for_origin(&origin);
    let cookie = names.set_cookie(
        names.login,
        &login.encode(&key),
        "/api/auth/callback",
        session::LOGIN_TTL_S,
    );
    redirect(302, &location, &[cookie])
}

/// `GET /api/auth/callback`: checks the sign-in cookie and `state`, exchanges the code,
/// verifies the ID token, enforces the team allow-list, upserts the user and starts a session.
/// Every refusal happens before anything is written.
pub async fn callback(
    req: &Request,
    url: &Url,
    caller: &Caller,
    env: &Env,
) -> Result<Response, ApiError> {
    let config = &caller.config;
    let settings = oidc_settings(config)?;
    let key = cookie_key(config)?;
    let origin = own_origin(config, url);
    let names = CookieNames::for_origin(&origin);
    let now = now_ms();

    let login = header(req, "Cookie")
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
            LoginState::decode(&value, &key, now / 1000).map_err(|e| {
                let hint = match e {
                    LoginStateError::Expired => "",
                    _ => " or was tampered with",
                };
                refused(
                    400,
                    "login_expired",
                    format!("{e}{hint}; start again at /api/auth/login"),
                )
            })
        })?;
    let state = query_param(url, "state").unwrap_or_default();
    if !login.state_matches(&key, &state) {
        return Err(refused(
            400,
            "invalid_state",
            "the `state` returned by the identity provider is not this sign-in's (a forged or crossed response); start again at /api/auth/login",
        ));
    }
    if let Some(error) = query_param(url, "error") {
        let description = query_param(url, "error_description").unwrap_or_default();
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
    let code = query_param(url, "code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest("the identity provider's answer has no `code`".into())
        })?;

    let provider = oidc::provider(settings).await?;
    let redirect_uri = format!("{origin}/api/auth/callback");
    let id_token = oidc::exchange_code(
        settings,
        &provider,
        &code,
        &redirect_uri,
        &login.verifier(&key),
    )
    .await?;
    let expected = oidc::expectations(settings, &login.nonce(&key), now / 1000);
    let identity = oidc::verify_id_token(&provider, &id_token, &expected).await?;

    let db = database(env)?;
    let user = UserRecord {
        id: format!("usr_{}", base62::random(20, &mut WebCrypto)),
        issuer: identity.issuer,
        subject: identity.subject,
        email: Some(identity.email),
        name: identity.name,
        teams: serde_json::to_string(&identity.teams)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        created_at: now,
        last_login_at: now,
    }
    .upsert(&db)
    .await?;
    let value = session::new_session_value(&mut WebCrypto);
    let session_id = format!("ses_{}", base62::random(20, &mut WebCrypto));
    let actor = format!("user:{}", user.id);
    SessionRecord::create(
        &db,
        &TokenHash::of(&value),
        &session_id,
        &user.id,
        now,
        now + session::SESSION_TTL_S * 1000,
        AuditEvent {
            at: now,
            project: None,
            actor: &actor,
            action: "session.create",
            subject: &session_id,
            detail: json!({"issuer": user.issuer, "subject": user.subject}).to_string(),
        },
    )
    .await?;
    redirect(
        303,
        &login.return_to,
        &[
            names.set_cookie(names.session, &value, "/", session::SESSION_TTL_S),
            names.set_cookie(names.login, "", "/api/auth/callback", 0),
        ],
    )
}

/// `POST /api/auth/logout`: deletes the session server-side and clears the cookie. The
/// pipeline has already refused it unless it passed the CSRF check.
pub async fn logout(
    req: &Request,
    url: &Url,
    caller: &Caller,
    env: &Env,
) -> Result<Response, ApiError> {
    let origin = own_origin(&caller.config, url);
    let names = CookieNames::for_origin(&origin);
    if let (Some(hash), Some(principal)) = (&caller.session_hash, &caller.principal) {
        let actor = format!("user:{}", principal.user_id.as_deref().unwrap_or(""));
        let subject = principal.token_id.clone().unwrap_or_default();
        SessionRecord::delete(
            &database(env)?,
            hash,
            AuditEvent {
                at: now_ms(),
                project: None,
                actor: &actor,
                action: "session.delete",
                subject: &subject,
                detail: "{}".into(),
            },
        )
        .await?;
    }
    let clear = names.set_cookie(names.session, "", "/", 0);
    if http::is_form(req) {
        redirect(303, "/account", &[clear])
    } else {
        let mut response = http::no_content();
        response.headers_mut().append("Set-Cookie", &clear)?;
        Ok(response)
    }
}

/// The principal of a session cookie, or `None` when the cookie is absent, unknown or
/// expired (a stale cookie makes the request anonymous rather than failing it).
pub async fn principal(
    req: &Request,
    config: &Config,
    url: &Url,
    project: &ProjectName,
    env: &Env,
) -> Result<Option<(Principal, TokenHash)>, ApiError> {
    if config.secret.is_none() || config.oidc.is_none() {
        return Ok(None);
    }
    let names = CookieNames::for_origin(&own_origin(config, url));
    let Some(value) = header(req, "Cookie")
        .as_deref()
        .and_then(|c| session::cookie_value(c, names.session).map(str::to_owned))
        .filter(|v| session::is_session_value(v))
    else {
        return Ok(None);
    };
    let hash = TokenHash::of(&value);
    let Some(record) = SessionRecord::find_by_hash(&database(env)?, &hash).await? else {
        return Ok(None);
    };
    if record.expires_at <= now_ms() {
        return Ok(None);
    }
    let name = record
        .user_name
        .or(record.user_email)
        .unwrap_or_else(|| record.user_id.clone());
    Ok(Some((
        Principal {
            kind: PrincipalKind::Session,
            name,
            project: project.clone(),
            scope: Scope::all(),
            token_id: Some(record.id),
            expires_at_ms: Some(record.expires_at),
            user_id: Some(record.user_id),
        },
        hash,
    )))
}

/// At most `max` characters of provider text, printable ASCII only, for an error message.
fn printable(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(max)
        .collect()
}

/// `GET /account`: the signed-in person's page (identity, sign out, tokens), or a page
/// with a "Sign in" link. Only a browser session shows the account: a bearer credential is
/// not a browser.
pub async fn account(url: &Url, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let config = &caller.config;
    oidc_settings(config)?;
    let key = cookie_key(config)?;
    let session = caller.session_hash.as_ref().zip(
        caller
            .principal
            .as_ref()
            .filter(|p| p.kind == PrincipalKind::Session)
            .and_then(|p| p.user_id.as_deref()),
    );
    let user = match session {
        Some((_, user_id)) => UserRecord::find(&database(env)?, user_id).await?,
        None => None,
    };
    let (Some((hash, _)), Some(user)) = (session, user) else {
        let return_to = match query_param(url, "project") {
            // Already validated as a project name by the pipeline: [a-z0-9-] only.
            Some(_) => format!("%2Faccount%3Fproject%3D{}", caller.project),
            None => "%2Faccount".to_owned(),
        };
        return Ok(pages::page_response(
            200,
            pages::signed_out_html(&format!("/api/auth/login?return_to={return_to}")),
        ));
    };
    let teams = user.team_list();
    let csrf = session::csrf_token(&key, hash.as_hex());
    Ok(pages::page_response(
        200,
        pages::account_html(&pages::AccountView {
            name: user.name.as_deref(),
            email: user.email.as_deref(),
            teams: &teams,
            user_id: &user.id,
            project: caller.project.as_str(),
            csrf_token: &csrf,
        }),
    ))
}
