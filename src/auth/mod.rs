//! The one place a request becomes a [`Caller`]: the `AUTH_DISABLED` guard, project
//! selection, credential extraction ([`credential`]), verification of every kind of
//! credential ([`verify`]) and, for a session cookie, the CSRF check ([`csrf`]).

pub mod cache;
mod credential;
mod csrf;
pub mod lifetime;
pub mod roles;
mod verify;

use std::rc::Rc;

use edgeauth_core::audit;
use edgeauth_core::config::auth_disabled_refusal;
use edgeauth_core::ids;
use edgeauth_core::{BrowserSession, Config, Principal, ProjectName, UserId};
use worker::{Context, Env, Request, Url};

use crate::error::ApiError;
use crate::http::{header, query_param};
use crate::settings::Settings;
use crate::store::Trace;
use crate::WebCrypto;

pub use credential::Presented;

/// What every handler gets: the settings, the request's URL and project, and who is asking.
pub struct Caller {
    pub settings: Rc<Settings>,
    pub url: Url,
    pub project: ProjectName,
    /// `None` when no credential was sent (and authentication is on).
    pub principal: Option<Principal>,
    /// Where the request came from, for the audit trail.
    pub trace: Trace,
}

impl Caller {
    pub fn config(&self) -> &Config {
        &self.settings.config
    }

    /// The principal, or 401 when the request carried no credential, or 403 for a person
    /// with no role in the request's project.
    pub fn require_principal(&self) -> Result<&Principal, ApiError> {
        let principal = self.any_principal()?;
        match principal.outsider_problem() {
            Some(problem) => Err(ApiError::Forbidden(problem)),
            None => Ok(principal),
        }
    }

    /// The principal, even a person with no role in the project (for the endpoints that say
    /// who the caller is); 401 without one.
    pub fn any_principal(&self) -> Result<&Principal, ApiError> {
        self.principal
            .as_ref()
            .ok_or_else(ApiError::credential_required)
    }

    /// The person behind the credential, with whatever role they have in the project (even
    /// none, for `/api/users/me` to say so): 401 without one, 403 for credentials that are
    /// not a person's (super, service, anonymous).
    pub fn person(&self) -> Result<(&Principal, &UserId), ApiError> {
        let principal = self.any_principal()?;
        let user_id = principal.person().ok_or_else(|| {
            ApiError::Forbidden(format!(
                "a {} credential is not a person; user API tokens and /api/users/me need a signed-in person (a browser session, a user API token, or `edgeauth login`)",
                principal.kind().as_str()
            ))
        })?;
        Ok((principal, user_id))
    }

    /// The caller, who must administer the project to do `doing` (e.g. "changing a
    /// project's roles"): 401 without a credential, 403 naming the role needed.
    pub fn require_admin(&self, doing: &str) -> Result<&Principal, ApiError> {
        let principal = self.require_principal()?;
        match principal.admin_problem(doing) {
            Some(problem) => Err(ApiError::Forbidden(problem)),
            None => Ok(principal),
        }
    }

    /// The browser session that authenticated the request, if that is what did.
    pub fn browser_session(&self) -> Option<&BrowserSession> {
        self.principal.as_ref()?.browser_session()
    }

    /// The person signed in in this browser, for a step only a person at a browser may take
    /// (`doing`, e.g. "approving a device"): `None` without a credential, 403 for a
    /// credential that is not a browser session.
    pub fn browser_person(&self, doing: &str) -> Result<Option<&BrowserSession>, ApiError> {
        match &self.principal {
            None => Ok(None),
            Some(principal) => principal.browser_session().map(Some).ok_or_else(|| {
                ApiError::Forbidden(format!(
                    "{doing} needs a person signed in in this browser, not a {} credential",
                    principal.kind().as_str()
                ))
            }),
        }
    }

    /// The server's own origin: `PUBLIC_URL`, else the request's (`http://127.0.0.1:8787`).
    pub fn own_origin(&self) -> String {
        own_origin(self.config(), &self.url)
    }

    /// The first value of query parameter `name`.
    pub fn query(&self, name: &str) -> Option<String> {
        query_param(&self.url, name)
    }
}

/// Authenticates a request: fails closed on an unsafe `AUTH_DISABLED`, picks the project,
/// and verifies the credential if one was presented (a bad one is always 401; an unknown or
/// expired session cookie makes the request anonymous).
pub async fn authenticate(
    req: &Request,
    url: Url,
    settings: Rc<Settings>,
    env: &Env,
    ctx: &Context,
) -> Result<Caller, ApiError> {
    let config = &settings.config;
    if let Some(problem) = unsafe_auth_disabled(config, req, &url) {
        return Err(ApiError::Misconfigured(vec![problem]));
    }
    let project = select_project(req, &url, config)?;
    let mut trace = trace(req);
    let principal = if config.auth_disabled {
        Some(Principal::anonymous(project.clone()))
    } else {
        match credential::presented(req, &settings, &url)? {
            Presented::None => None,
            presented => {
                (trace.credential_hash, trace.credential_prefix) = presented.trace();
                let principal = verify::verify(&presented, &settings, &project, env, ctx).await?;
                if let Some(session) = principal.as_ref().and_then(Principal::browser_session) {
                    // A bearer credential needs no CSRF check: a browser never attaches one
                    // on its own. A cookie does, on every state-changing request.
                    // The method as sent: workers-rs reads a method it does not know as GET.
                    let method = req.inner().method();
                    if !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") {
                        csrf::check(req, &settings, &url, &session.cookie_hash).await?;
                    }
                }
                principal
            }
        }
    };
    Ok(Caller {
        settings,
        url,
        project,
        principal,
        trace,
    })
}

/// Where a request came from (its credential aside): `CF-Connecting-IP`, the Cloudflare
/// location, the User-Agent (shortened), and `CF-Ray` as its id (or an id of our own, where
/// no Cloudflare edge stands in front, as under `wrangler dev`).
pub fn trace(req: &Request) -> Trace {
    Trace {
        ip: header(req, "CF-Connecting-IP"),
        colo: req.cf().map(|cf| cf.colo()).filter(|c| !c.is_empty()),
        user_agent: header(req, "User-Agent").map(|ua| audit::user_agent(&ua)),
        request_id: Some(header(req, "CF-Ray").map_or_else(
            || ids::request_id(&mut WebCrypto),
            |ray| audit::user_agent(&ray),
        )),
        credential_hash: None,
        credential_prefix: None,
    }
}

/// The principal of a bearer token presented in a body rather than a header (introspection),
/// verified as any bearer credential is: 401 (`InvalidCredential`) for anything not valid.
pub async fn verify_bearer(
    token: &str,
    settings: &Settings,
    project: &ProjectName,
    env: &Env,
    ctx: &Context,
) -> Result<Principal, ApiError> {
    verify::bearer(token, settings, project, env, ctx).await
}

/// For a request that is safe by method (`GET`) but answers a question about writing: when
/// the session cookie authenticated it, the same CSRF rules as a state-changing request
/// (our own Origin and the session's CSRF token); other credentials pass, since a browser
/// never attaches them on its own.
pub async fn require_csrf_for_cookie(req: &Request, caller: &Caller) -> Result<(), ApiError> {
    match caller.browser_session() {
        Some(session) => {
            csrf::check(req, &caller.settings, &caller.url, &session.cookie_hash).await
        }
        None => Ok(()),
    }
}

/// The server's own origin: `PUBLIC_URL`, else the request's (`http://127.0.0.1:8787`).
pub fn own_origin(config: &Config, url: &Url) -> String {
    match &config.public_url {
        Some(public) => public.trim_end_matches('/').to_owned(),
        None => url.origin().ascii_serialization(),
    }
}

/// `AUTH_DISABLED=true` on a request that does not both name a loopback host and come from a
/// loopback client (`core::config::auth_disabled_refusal`): the deployment must fail closed
/// rather than run open.
pub fn unsafe_auth_disabled(config: &Config, req: &Request, url: &Url) -> Option<String> {
    if !config.auth_disabled {
        return None;
    }
    auth_disabled_refusal(url.host_str(), header(req, "CF-Connecting-IP").as_deref())
}

/// The project: `X-Project`, else `?project=`, else `DEFAULT_PROJECT`.
fn select_project(req: &Request, url: &Url, config: &Config) -> Result<ProjectName, ApiError> {
    let named = header(req, "X-Project").or_else(|| query_param(url, "project"));
    match named {
        Some(name) => ProjectName::parse(name.trim()).map_err(ApiError::BadRequest),
        None => Ok(config.default_project.clone()),
    }
}
