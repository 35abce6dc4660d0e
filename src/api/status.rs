//! `GET /healthz`, `GET /api/auth/capabilities`, `GET /api/auth/whoami`, `GET /api/auth/check`,
//! `GET /api/auth/stats`.

use std::rc::Rc;

use edgeauth_core::api::{Capabilities, LoginMethods, Whoami};
use edgeauth_core::time::rfc3339;
use edgeauth_core::{ConfigProblem, Credential, PrincipalKind, TokenId, WorkspaceName};
use serde_json::json;
use worker::{Request, Response, Url};

use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::http;
use crate::settings::Settings;

/// Liveness and configuration problems, by setting name; never a value.
pub fn healthz(
    settings: &Result<Rc<Settings>, Vec<ConfigProblem>>,
    req: &Request,
    url: &Url,
    env: &worker::Env,
) -> Response {
    let problems: Vec<String> = match settings {
        Ok(settings) => auth::unsafe_auth_disabled(&settings.config, req, url)
            .into_iter()
            .chain(missing_service_bindings(settings, env))
            .collect(),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    };
    if problems.is_empty() {
        http::json(200, &json!({"status": "ok", "problems": []}))
    } else {
        http::json(
            503,
            &json!({"status": "misconfigured", "problems": problems}),
        )
    }
}

/// A gateway route's Service Binding that the Worker does not have, by route.
fn missing_service_bindings(settings: &Settings, env: &worker::Env) -> Vec<String> {
    let Some(gateway) = &settings.config.gateway else {
        return Vec::new();
    };
    gateway
        .routes()
        .iter()
        .filter_map(|route| match &route.origin {
            edgeauth_core::gateway::Origin::Service(binding) if env.service(binding).is_err() => {
                Some(format!(
                    "GATEWAY: route `{}` names the service binding `{binding}`, which is not in the Worker's configuration (add it under [[services]] in wrangler.toml)",
                    route.name
                ))
            }
            _ => None,
        })
        .collect()
}

/// What this server offers and what the caller can do; anyone may ask.
pub fn capabilities(caller: &Caller) -> Response {
    let principal = caller.principal.as_ref();
    // Both CLI logins sign the person in through OIDC first; `SECRET` signs their cookies and
    // the device login's access tokens.
    let config = caller.config();
    let oidc = config.oidc.is_some() && caller.settings.has_secret();
    http::json(
        200,
        &Capabilities {
            signed_in: principal.is_some_and(|p| p.kind() != PrincipalKind::Anonymous),
            kind: principal.map(|p| p.kind().as_str().to_owned()),
            auth_disabled: config.auth_disabled,
            public_reads: config.public_reads,
            project: caller.project.to_string(),
            login_methods: LoginMethods {
                oidc,
                cli_loopback: oidc,
                device: oidc && !config.auth_disabled,
            },
            service_tokens: caller.settings.has_secret(),
            can_write: principal.is_some(),
        },
    )
}

/// Who the credential is: kind, name, project, workspaces, expiry, and role in the project
/// (even `none`: this is where a person finds out).
pub fn whoami(caller: &Caller) -> Result<Response, ApiError> {
    let p = caller.any_principal()?;
    Ok(http::json(
        200,
        &Whoami {
            kind: p.kind().as_str().to_owned(),
            name: p.name().to_owned(),
            project: p.project.to_string(),
            workspaces: p.scope.to_strings(),
            token_id: p.token_id().map(TokenId::new),
            expires_at: p.expires_at_ms.map(rfc3339),
            auth_disabled: caller.config().auth_disabled,
            role: p.role_name().to_owned(),
            ci: match &p.credential {
                Credential::Ci { identity, .. } => Some(identity.clone()),
                _ => None,
            },
        },
    ))
}

/// `GET /api/auth/check?workspace=W&access=read|write`: may the caller act on workspace W?
/// For an API behind edgeauth. Reads are public when `PUBLIC_READS`, else need any valid
/// credential; writes need a credential whose scope covers W and, when that credential is the
/// session cookie, the CSRF rules (an API that forwards a browser's cookies here must not be
/// told "yes" for a request another site made). 200 when allowed, else 401/403.
pub async fn check(req: &Request, caller: &Caller) -> Result<Response, ApiError> {
    let workspace = caller.query("workspace").ok_or_else(|| {
        ApiError::BadRequest("give the workspace to check: `?workspace=production/eu`".into())
    })?;
    let workspace = WorkspaceName::parse(&workspace).map_err(ApiError::BadRequest)?;
    let access = caller.query("access").unwrap_or_else(|| "read".into());
    let principal = caller.principal.as_ref();
    match access.as_str() {
        "read" if !caller.config().public_reads => {
            caller.require_principal()?;
        }
        "read" => {}
        "write" => {
            let p = caller.require_principal()?;
            auth::require_csrf_for_cookie(req, caller).await?;
            if !p.scope.allows(&workspace) {
                return Err(ApiError::Forbidden(format!(
                    "your credential covers {}, not the workspace `{}`",
                    p.scope.to_strings().join(", "),
                    workspace.as_str()
                )));
            }
        }
        _ => {
            return Err(ApiError::BadRequest(
                "`access` must be `read` or `write`".into(),
            ))
        }
    }
    Ok(http::json(
        200,
        &json!({
            "allowed": true,
            "workspace": workspace.as_str(),
            "access": access,
            "project": caller.project.as_str(),
            "kind": principal.map(|p| p.kind().as_str()),
            "role": principal.map(|p| p.role_name()),
        }),
    ))
}

/// `GET /api/auth/stats`: what this isolate has done since it started (requests, D1 reads and
/// writes, verification cache hits and misses) and what its cache holds; for the operator
/// (the super token, or anyone with authentication disabled). Counts are per isolate: each
/// Cloudflare location runs its own.
pub fn stats(caller: &Caller) -> Result<Response, ApiError> {
    let p = caller.require_principal()?;
    if !matches!(p.kind(), PrincipalKind::Super | PrincipalKind::Anonymous) {
        return Err(ApiError::Forbidden(
            "the server's counts are for its operator: use the super token".into(),
        ));
    }
    let (tokens, sessions) = auth::cache::sizes();
    Ok(http::json(
        200,
        &json!({
            "isolate": crate::stats::snapshot(),
            "cache": {
                "tokens": tokens,
                "sessions": sessions,
                "capacity": auth::cache::CAPACITY,
                "revocation_bound_seconds": caller.config().revocation_bound_s,
            },
        }),
    ))
}
