//! Gateway mode, the Worker's half: a request to a configured route
//! ([`edgeauth_core::gateway`]) is authenticated like any other, allowed or refused by the
//! route's rule, and then forwarded to the origin with a signed assertion of who called
//! ([`edgeauth_core::assertion`]), minus everything a client could forge.
//!
//! Nothing is buffered: the request's body stream is handed to the origin's fetch, the
//! origin's response (its body, a `101 Switching Protocols` with its WebSocket, a stream of
//! server-sent events) is handed back as it is, and the origin's own errors pass through
//! unchanged. Only edgeauth's refusals (401, 403, 400) and the origin's silence (502, 504)
//! are answered by edgeauth, in its JSON error shape, naming the route.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use edgeauth_core::assertion::{self, Assertion, Identity};
use edgeauth_core::base62;
use edgeauth_core::gateway::{self, Decision, Matched, Origin, Route};
use futures_util::future::{select, Either};
use url::Position;
use worker::{AbortController, Context, Delay, Env, Fetch, Request, Response};

use crate::auth;
use crate::error::ApiError;
use crate::http::header;
use crate::settings::Settings;
use crate::{now_ms, WebCrypto};

/// Forwards `req`, which matched `route`, to the route's origin, or answers why not.
pub async fn forward(
    req: Request,
    route: &Route,
    matched: Matched,
    settings: Rc<Settings>,
    env: &Env,
    ctx: &Context,
) -> Result<Response, ApiError> {
    let url = req.url()?;
    if let Some(problem) = gateway::path_problem(url.path(), &matched) {
        return Err(ApiError::BadRequest(format!(
            "{problem}; send the path without encoding `.`, `\\` or `/`"
        )));
    }
    // As the client sent it: workers-rs reads a method it does not know as GET.
    let method = req.inner().method();
    let caller = auth::authenticate(&req, url.clone(), Rc::clone(&settings), env, ctx).await?;
    let preflight = header(&req, "Access-Control-Request-Method").is_some();
    let access = route.access(&method, caller.config().public_reads, preflight);
    let workspace_header = route.workspace_header().and_then(|name| header(&req, name));
    let workspace = route.workspace(&matched, workspace_header.as_deref());
    match gateway::decide(route, access, caller.principal.as_ref(), workspace) {
        Decision::Allow => {}
        Decision::CredentialRequired(message) => return Err(ApiError::CredentialRequired(message)),
        Decision::Forbidden(message) => return Err(ApiError::Forbidden(message)),
        Decision::BadRequest(message) => return Err(ApiError::BadRequest(message)),
    }

    let request_id = header(&req, "cf-ray").unwrap_or_else(new_request_id);
    let now_s = now_ms().div_euclid(1000);
    let signed = assertion::sign(
        &settings.signing_keys()?.current(now_s),
        Assertion {
            issuer: &caller.own_origin(),
            audience: &route.audience,
            request_id: &request_id,
            identity: Identity::of(caller.principal.as_ref(), &caller.project),
        },
        now_s,
        &mut WebCrypto,
    );
    let headers = forwarded_headers(&req, route, &signed, &request_id)?;
    let target = match route.target_url(&url[Position::BeforePath..Position::AfterQuery]) {
        Some(target) => target,
        // A Service Binding takes any URL; the callee sees the client's.
        None => url.to_string(),
    };
    let controller = AbortController::default();
    let init = web_sys::RequestInit::new();
    init.set_method(&method);
    init.set_headers(&headers.0);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    init.set_signal(Some(&controller.signal()));
    if let Some(body) = req.inner().body() {
        init.set_body(&body);
    }
    let outgoing = web_sys::Request::new_with_str_and_init(&target, &init)
        .map_err(|e| ApiError::Internal(format!("building the request to the origin: {e:?}")))?;
    send(Request::from(outgoing), route, controller, env).await
}

/// The request's headers as the origin gets them: the client's, less every forgeable identity
/// header, `Authorization` (unless the route forwards it), edgeauth's cookies and the
/// `bearer.` subprotocol; plus the assertion and the request id.
fn forwarded_headers(
    req: &Request,
    route: &Route,
    signed: &str,
    request_id: &str,
) -> Result<worker::Headers, ApiError> {
    let out = worker::Headers::new();
    for (name, value) in req.headers().entries() {
        let value = match name.as_str() {
            "host" => continue,
            "cookie" => match gateway::forwarded_cookie(&value) {
                Some(kept) => kept,
                None => continue,
            },
            "sec-websocket-protocol" => match gateway::forwarded_protocols(&value) {
                Some(kept) => kept,
                None => continue,
            },
            _ if gateway::strips_request_header(&name, route.forward_authorization) => continue,
            _ => value,
        };
        out.append(&name, &value)?;
    }
    out.set(assertion::HEADER, signed)?;
    out.set(assertion::REQUEST_ID_HEADER, request_id)?;
    Ok(out)
}

/// A request id when Cloudflare gave none (`cf-ray`): 128 random bits.
fn new_request_id() -> String {
    base62::random(22, &mut WebCrypto)
}

type Sent = Pin<Box<dyn Future<Output = worker::Result<Response>>>>;

/// Sends the request to the origin and waits for its response headers at most the route's
/// timeout: the response as it is, else 502 (unreachable) or 504 (no answer in time).
async fn send(
    outgoing: Request,
    route: &Route,
    controller: AbortController,
    env: &Env,
) -> Result<Response, ApiError> {
    let sent: Sent = match &route.origin {
        Origin::Url(_) => Box::pin(async move { Fetch::Request(outgoing).send().await }),
        Origin::Service(binding) => {
            let fetcher = env.service(binding).map_err(|e| {
                ApiError::Misconfigured(vec![format!(
                    "GATEWAY: route `{}` names the service binding `{binding}`, which the Worker does not have ({e})",
                    route.name
                )])
            })?;
            Box::pin(async move { fetcher.fetch_request(outgoing).await })
        }
    };
    let timeout = Box::pin(Delay::from(Duration::from_secs(u64::from(route.timeout_s))));
    match select(sent, timeout).await {
        Either::Left((Ok(response), _)) => Ok(response),
        Either::Left((Err(e), _)) => {
            worker::console_error!("gateway: route `{}`: the origin failed: {e}", route.name);
            Err(ApiError::Refused {
                status: 502,
                code: "origin_unreachable",
                message: format!(
                    "the API behind `{}` could not be reached; try again later, and tell its operator if it persists",
                    route.name
                ),
            }
            .retry_after(ORIGIN_RETRY_AFTER_S))
        }
        Either::Right(((), _)) => {
            controller.abort();
            Err(ApiError::Refused {
                status: 504,
                code: "origin_timeout",
                message: format!(
                    "the API behind `{}` did not answer within {} s; try again later",
                    route.name, route.timeout_s
                ),
            }
            .retry_after(ORIGIN_RETRY_AFTER_S))
        }
    }
}

/// How long a client waits before retrying after the origin failed (`Retry-After`).
const ORIGIN_RETRY_AFTER_S: u64 = 5;
