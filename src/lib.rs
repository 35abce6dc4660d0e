//! edgeauth's Worker: each request is matched in the route table ([`router`]), authenticated
//! in one place ([`auth`]), answered by an API handler ([`api`]) or a sign-in flow
//! ([`flows`]), with storage in [`store`], pages in `pages`, and every outcome turned into a
//! response by the one error type ([`error`]). The rules live in `edgeauth-core`.

mod api;
mod auth;
mod error;
mod faults;
mod flows;
mod gateway;
mod http;
mod pages;
mod router;
mod settings;
mod stats;
mod store;
mod web_crypto;

use std::rc::Rc;

use edgeauth_core::Entropy;
use worker::{event, Context, D1Database, Env, Request, Response, ScheduleContext, ScheduledEvent};

use crate::error::ApiError;
use crate::router::{Errors, Target};
use crate::settings::Settings;

/// The CSPRNG of the runtime (Web Crypto `getRandomValues`, through `getrandom`).
pub struct WebCrypto;

impl Entropy for WebCrypto {
    fn fill(&mut self, buf: &mut [u8]) {
        getrandom::fill(buf).expect("the runtime's CSPRNG is available");
    }
}

/// Now, in Unix milliseconds, from the runtime clock (`SystemTime` panics on wasm32).
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// The D1 binding `DB`.
pub fn database(env: &Env) -> Result<D1Database, ApiError> {
    env.d1("DB").map_err(|e| {
        ApiError::Misconfigured(vec![format!(
            "DB: the D1 binding is missing from the Worker's configuration ({e})"
        )])
    })
}

/// What the Worker answers: its own response, or the origin's, which passes as it is.
enum Answer {
    Own(Response),
    Proxied(Response),
}

async fn handle(req: Request, env: &Env, ctx: &Context) -> Result<Answer, ApiError> {
    stats::request(now_ms());
    #[cfg(feature = "fault-injection")]
    if req.path() == "/__faults" {
        return Ok(Answer::Own(faults::control(req).await));
    }
    let matched = match router::find(&req.inner().method(), &req.path()) {
        Ok(matched) => matched,
        // edgeauth's own paths answer first; any other may be a gateway route.
        Err(ApiError::NotFound(message)) => return proxy(req, env, ctx, message).await,
        Err(e) => return Err(e),
    };
    if let Some(brake) = matched.brake {
        router::brake(&req, env, brake).await?;
    }
    let url = req.url()?;
    let settings = Settings::of(env);
    if let Err(problems) = &settings {
        api::audit::count_config_problem(ctx, env, &req, problems);
    }
    let endpoint = match matched.target {
        Target::Static(which) => {
            return router::answer_static(which, &settings, &req, &url, env).map(Answer::Own)
        }
        Target::Endpoint(endpoint) => endpoint,
    };
    let caller = auth::authenticate(&req, url, settings?, env, ctx).await?;
    router::dispatch(endpoint, matched.id, req, &caller, env, ctx)
        .await
        .map(Answer::Own)
}

/// A path edgeauth does not answer itself: forwarded when a gateway route matches it, else
/// 404 (`not_found` says why). With `GATEWAY` set but the settings unusable, 503 naming them.
async fn proxy(
    req: Request,
    env: &Env,
    ctx: &Context,
    not_found: String,
) -> Result<Answer, ApiError> {
    let settings = match Settings::of(env) {
        Ok(settings) => settings,
        Err(problems) if env.var("GATEWAY").is_ok() => return Err(problems.into()),
        Err(_) => return Err(ApiError::NotFound(not_found)),
    };
    let path = req.path();
    let Some((route, matched)) = settings.config.gateway.as_ref().and_then(|g| g.find(&path))
    else {
        return Err(ApiError::NotFound(not_found));
    };
    let route = route.clone();
    gateway::forward(req, &route, matched, Rc::clone(&settings), env, ctx)
        .await
        .map(Answer::Proxied)
}

/// The Cron Trigger (`[triggers] crons` in wrangler.toml): the retention
/// (`store::retention`), which deletes what has ended, audit events older than
/// `AUDIT_RETENTION_DAYS` included. What it did is logged; a failure is logged and the next
/// run tries again (every sweep is safe to repeat).
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let outcome = async {
        let settings = Settings::of(&env).map_err(ApiError::from)?;
        let retention_ms =
            i64::from(settings.config.audit_retention_days) * edgeauth_core::time::DAY_MS;
        let db = database(&env)?;
        Ok::<_, ApiError>(store::retention::sweep(&db, now_ms(), retention_ms).await?)
    }
    .await;
    match outcome {
        Ok(swept) => worker::console_log!("retention: deleted {:?}", swept.0),
        Err(e) => worker::console_error!("retention failed, the next run tries again: {e:?}"),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let auth_disabled = Settings::of(&env).is_ok_and(|s| s.config.auth_disabled);
    let accept = http::header(&req, "Accept");
    let navigation = http::navigates_as_browser(accept.as_deref())
        && matches!(req.inner().method().as_str(), "GET" | "HEAD");
    // A browser page's errors are pages whenever the browser asks for HTML (its forms post
    // too); any other path's only when a person opens it in a browser. API clients get JSON.
    let html_errors = match router::errors_of(&req.path()) {
        Errors::PageForBrowsers => accept.is_some_and(|accept| accept.contains("text/html")),
        Errors::Json => navigation,
    };
    let home = navigation && req.path() == "/";
    let answer = handle(req, &env, &ctx).await;
    // An error (and `/`) is a page or JSON by `Accept`: caches must keep the two apart.
    let negotiated = answer.is_err();
    let mut response = match answer {
        // The origin's answer is the origin's: its headers, caching and body, untouched.
        Ok(Answer::Proxied(response)) => return Ok(response),
        Ok(Answer::Own(response)) => response,
        // `/`, when no gateway route takes it: the home page for a person, 404 for a client.
        Err(ApiError::NotFound(_)) if home => pages::page_response(200, pages::home_html()),
        Err(e) if html_errors => e.into_html_response(),
        Err(e) => e.into_response(),
    };
    if negotiated {
        http::append_header(&mut response, "Vary", "Accept");
    }
    // Answers about credentials are never cached by browsers or proxies (the JWKS, which is
    // public and meant to be cached, says so itself).
    if !response.headers().has("Cache-Control").unwrap_or(false) {
        http::set_header(&mut response, "Cache-Control", "no-store");
    }
    http::set_header(&mut response, "X-Content-Type-Options", "nosniff");
    if auth_disabled {
        http::set_header(&mut response, "X-Edgeauth-Auth", "disabled");
    }
    Ok(response)
}
