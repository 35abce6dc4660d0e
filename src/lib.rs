//! edgeauth's Worker: each request is matched in the route table ([`router`]), authenticated
//! in one place ([`auth`]), answered by an API handler ([`api`]) or a sign-in flow
//! ([`flows`]), with storage in [`store`], pages in `pages`, and every outcome turned into a
//! response by the one error type ([`error`]). The rules live in `edgeauth-core`.

mod api;
mod auth;
mod error;
mod faults;
mod flows;
mod http;
mod pages;
mod router;
mod settings;
mod stats;
mod store;

use edgeauth_core::Entropy;
use worker::{event, Context, D1Database, Env, Request, Response};

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

async fn handle(req: Request, env: &Env, ctx: &Context) -> Result<Response, ApiError> {
    stats::request(now_ms());
    #[cfg(feature = "fault-injection")]
    if req.path() == "/__faults" {
        return Ok(faults::control(req).await);
    }
    let matched = router::find(&req.inner().method(), &req.path())?;
    let url = req.url()?;
    let settings = Settings::of(env);
    let endpoint = match matched.target {
        Target::Static(which) => return router::answer_static(which, &settings, &req, &url),
        Target::Endpoint(endpoint) => endpoint,
    };
    let caller = auth::authenticate(&req, url, settings?, env, ctx).await?;
    router::dispatch(endpoint, matched.id, req, &caller, env).await
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let auth_disabled = Settings::of(&env).is_ok_and(|s| s.config.auth_disabled);
    let html_errors = router::errors_of(&req.path()) == Errors::PageForBrowsers
        && http::header(&req, "Accept").is_some_and(|accept| accept.contains("text/html"));
    let mut response = handle(req, &env, &ctx).await.unwrap_or_else(|e| {
        if html_errors {
            e.into_html_response()
        } else {
            e.into_response()
        }
    });
    // Answers about credentials are never cached by browsers or proxies.
    http::set_header(&mut response, "Cache-Control", "no-store");
    http::set_header(&mut response, "X-Content-Type-Options", "nosniff");
    if auth_disabled {
        http::set_header(&mut response, "X-Edgeauth-Auth", "disabled");
    }
    Ok(response)
}
