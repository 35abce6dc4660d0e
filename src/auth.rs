//! The one place a request becomes a principal: project selection, credential extraction,
//! and verification of every kind of credential.
//!
//! Order matters for cost: the super token is one hash comparison; every minted token's
//! prefix and checksum are checked offline, and a service token's per-project tag too,
//! before any storage read, so forged and mistyped tokens never reach D1.

use edgeauth_core::access_token;
use edgeauth_core::bearer;
use edgeauth_core::config::is_loopback_host;
use edgeauth_core::crypto::KeyPurpose;
use edgeauth_core::session;
use edgeauth_core::token::{self, TokenKind};
use edgeauth_core::{Config, Principal, PrincipalKind, ProjectName, TokenHash};
use worker::{Context, Env, Method, Request, Url};

use crate::error::ApiError;
use crate::http::{self, header};
use crate::{service_tokens, sessions, user_tokens};

/// What every handler gets: validated settings, the project, and who is asking.
pub struct Caller {
    pub config: Config,
    pub project: ProjectName,
    /// `None` when no credential was sent (and authentication is on).
    pub principal: Option<Principal>,
    /// The hash of the session cookie, when the session authenticated the request.
    pub session_hash: Option<TokenHash>,
}

impl Caller {
    /// The principal, or 401 when the request carried no credential.
    pub fn require_principal(&self) -> Result<&Principal, ApiError> {
        self.principal.as_ref().ok_or(ApiError::CredentialRequired)
    }
}

/// Authenticates a request: fails closed on an unsafe `AUTH_DISABLED`, picks the project,
/// and verifies the credential if one was presented (a bad one is always 401).
pub async fn authenticate(
    req: &Request,
    url: &Url,
    config: Config,
    env: &Env,
    ctx: &Context,
) -> Result<Caller, ApiError> {
    if let Some(problem) = unsafe_auth_disabled(&config, url) {
        return Err(ApiError::Misconfigured(vec![problem]));
    }
    let project = select_project(req, url, &config)?;
    let mut session_hash = None;
    let principal = if config.auth_disabled {
        Some(Principal::anonymous(project.clone()))
    } else if let Some(token) = credential(req)? {
        // A bearer credential always wins over a cookie, and needs no CSRF check: a browser
        // never attaches one on its own.
        Some(verify(&token, &config, &project, env, ctx).await?)
    } else if let Some((principal, hash)) =
        sessions::principal(req, &config, url, &project, env).await?
    {
        if !matches!(req.method(), Method::Get | Method::Head | Method::Options) {
            check_csrf(req, &config, url, &hash).await?;
        }
        session_hash = Some(hash);
        Some(principal)
    } else {
        None
    };
    Ok(Caller {
        config,
        project,
        principal,
        session_hash,
    })
}

/// The server's own origin: `PUBLIC_URL`, else the request's (`http://127.0.0.1:8787`).
pub fn own_origin(config: &Config, url: &Url) -> String {
    match &config.public_url {
        Some(public) => public.trim_end_matches('/').to_owned(),
        None => url.origin().ascii_serialization(),
    }
}

/// The first value of query parameter `name`.
pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A state-changing request that a session cookie authenticated must come from our own
/// origin and carry the session's CSRF token (header `X-CSRF-Token`, or the `csrf_token`
/// field of an HTML form). SameSite=Lax alone would let a sibling origin on the same site
/// (another port of 127.0.0.1, another subdomain) post with the cookie.
async fn check_csrf(
    req: &Request,
    config: &Config,
    url: &Url,
    session_hash: &TokenHash,
) -> Result<(), ApiError> {
    let csrf = |message: &str| ApiError::Refused {
        status: 403,
        code: "csrf_rejected",
        message: message.to_owned(),
    };
    if !session::same_origin(header(req, "Origin").as_deref(), &own_origin(config, url)) {
        return Err(csrf(
            "a request signed in by the session cookie must come from this server's own pages (its Origin header is missing or names another origin); scripts should send `Authorization: Bearer <token>` instead",
        ));
    }
    let presented = match header(req, "X-CSRF-Token") {
        Some(token) => token,
        None if http::is_form(req) => http::form_field(req, "csrf_token")
            .await?
            .unwrap_or_default(),
        None => String::new(),
    };
    let key = sessions::cookie_key(config)?;
    if !session::csrf_token_matches(&key, session_hash.as_hex(), presented.trim()) {
        return Err(csrf(
            "the CSRF token is missing or is not this session's: send the `X-CSRF-Token` header with the token from the page's `csrf-token` meta tag, or reload the page",
        ));
    }
    Ok(())
}

/// `AUTH_DISABLED=true` reached on a host that is not loopback: the deployment must fail
/// closed rather than run open.
pub fn unsafe_auth_disabled(config: &Config, url: &Url) -> Option<String> {
    (config.auth_disabled && !url.host_str().is_some_and(is_loopback_host)).then(|| {
        format!(
            "AUTH_DISABLED: authentication can be disabled only when the server is reached on a loopback host (127.0.0.1, ::1, localhost), not on `{}`; unset AUTH_DISABLED",
            url.host_str().unwrap_or("")
        )
    })
}

/// The project: `X-Project`, else `?project=`, else `DEFAULT_PROJECT`.
fn select_project(req: &Request, url: &Url, config: &Config) -> Result<ProjectName, ApiError> {
    let named = header(req, "X-Project").or_else(|| query_param(url, "project"));
    match named {
        Some(name) => ProjectName::parse(name.trim()).map_err(ApiError::BadRequest),
        None => Ok(config.default_project.clone()),
    }
}

/// The presented credential: `Authorization: Bearer`, else a `bearer.` WebSocket subprotocol.
fn credential(req: &Request) -> Result<Option<String>, ApiError> {
    let invalid = |e: bearer::BearerError| ApiError::InvalidCredential(e.to_string());
    if let Some(value) = header(req, "Authorization") {
        return bearer::from_authorization(&value)
            .map(|t| Some(t.to_owned()))
            .map_err(invalid);
    }
    match header(req, "Sec-WebSocket-Protocol").and_then(|v| bearer::from_websocket_protocols(&v)) {
        Some(result) => result.map(Some).map_err(invalid),
        None => Ok(None),
    }
}

/// An access token is verified by its signature alone: no storage read.
fn verify_access_token(
    token: &str,
    config: &Config,
    project: &ProjectName,
) -> Result<Principal, ApiError> {
    let key = config
        .secret
        .as_ref()
        .ok_or_else(|| {
            ApiError::InvalidCredential(
                "this server cannot verify access tokens: it has no SECRET".into(),
            )
        })?
        .derive(KeyPurpose::AccessTokens);
    let claims = access_token::verify(token, &key, crate::now_ms().div_euclid(1000))
        .and_then(|c| c.check_project(project).map(|()| c))
        .map_err(|e| ApiError::InvalidCredential(e.to_string()))?;
    Ok(Principal {
        kind: PrincipalKind::Access,
        name: claims.user_id.clone(),
        project: project.clone(),
        expires_at_ms: Some(claims.expires_at_ms()),
        scope: claims.scope,
        token_id: Some(claims.token_id),
        user_id: Some(claims.user_id),
    })
}

async fn verify(
    token: &str,
    config: &Config,
    project: &ProjectName,
    env: &Env,
    ctx: &Context,
) -> Result<Principal, ApiError> {
    let hash = TokenHash::of(token);
    if config
        .super_token_hash
        .as_ref()
        .is_some_and(|expected| hash.ct_eq(expected))
    {
        return Ok(Principal::super_token(project.clone()));
    }
    let kind =
        token::check_format(token).map_err(|e| ApiError::InvalidCredential(e.to_string()))?;
    match kind {
        TokenKind::Service => service_tokens::verify(token, &hash, config, project, env, ctx).await,
        TokenKind::User => user_tokens::verify(&hash, project, env, ctx).await,
        TokenKind::Access => verify_access_token(token, config, project),
        TokenKind::Refresh => Err(ApiError::InvalidCredential(
            "a refresh token is not a bearer credential; exchange it at POST /api/auth/token"
                .into(),
        )),
    }
}
