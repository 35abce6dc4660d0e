//! HTTP translations shared by every handler: responses, headers, query parameters, and the
//! one bounded body reader ([`body`]). Nothing here knows the API's errors.

pub mod body;

use serde::Serialize;
use worker::{Request, Response, ResponseBuilder, Url};

pub use body::{is_form, MAX_BODY_BYTES};

/// A response with `status` and a body of `content_type`. Built without a fallible step, so
/// no answer can panic.
pub fn fixed(status: u16, body: Vec<u8>, content_type: &str) -> Response {
    let mut response = ResponseBuilder::new().with_status(status).fixed(body);
    set_header(&mut response, "Content-Type", content_type);
    response
}

/// A JSON response with `status`. Serialising a `serde_json::Value` or a plain struct cannot
/// fail, so this returns a `Response` rather than a `Result`.
pub fn json<T: Serialize>(status: u16, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    fixed(status, bytes, "application/json")
}

/// An empty response with `status`.
pub fn empty(status: u16) -> Response {
    ResponseBuilder::new().with_status(status).empty()
}

/// 204 No Content.
pub fn no_content() -> Response {
    empty(204)
}

/// A 302/303 to `location` with the given `Set-Cookie` headers.
pub fn redirect(status: u16, location: &str, cookies: &[String]) -> Response {
    let mut response = empty(status);
    set_header(&mut response, "Location", location);
    for cookie in cookies {
        append_header(&mut response, "Set-Cookie", cookie);
    }
    response
}

/// Sets a header on a response we built (its headers are mutable, so this cannot fail for
/// valid ASCII names and values, which are all this Worker writes).
pub fn set_header(response: &mut Response, name: &str, value: &str) {
    if let Err(e) = response.headers_mut().set(name, value) {
        worker::console_error!("could not set header {name}: {e}");
    }
}

/// Adds a header (another `Set-Cookie`, say) to a response we built.
pub fn append_header(response: &mut Response, name: &str, value: &str) {
    if let Err(e) = response.headers_mut().append(name, value) {
        worker::console_error!("could not add header {name}: {e}");
    }
}

/// A request header, or `None` when absent.
pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// Whether an `Accept` header is a browser's navigation: its first media range is
/// `text/html` (or `application/xhtml+xml`), as browsers send when a person opens a page.
/// API clients (`application/json`, `*/*`, none) and a page's own `fetch` calls are not.
pub fn navigates_as_browser(accept: Option<&str>) -> bool {
    let Some(first) = accept.and_then(|a| a.split(',').next()) else {
        return false;
    };
    let media_type = first.split(';').next().unwrap_or_default().trim();
    media_type.eq_ignore_ascii_case("text/html")
        || media_type.eq_ignore_ascii_case("application/xhtml+xml")
}

/// The first value of query parameter `name`.
pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Whether the client's address (`CF-Connecting-IP`) has gone over the Rate Limiting binding
/// `binding` (`[[ratelimits]]` in wrangler.toml; counted by each Cloudflare location on its
/// own, never in isolate memory). A missing or failing binding is logged and counts as not
/// over: the brake is a brake, what must hold exactly is counted in D1.
pub async fn over_limit(req: &Request, env: &worker::Env, binding: &str) -> bool {
    let key = edgeauth_core::rate_limit::client_key(header(req, "CF-Connecting-IP").as_deref());
    let outcome = match env.rate_limiter(binding) {
        Ok(limiter) => limiter.limit(key).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(outcome) => !outcome.success,
        Err(e) => {
            worker::console_error!("the {binding} rate limiter is unavailable ({e}); not braking");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_browser_navigation_prefers_html() {
        for browser in [
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "text/html",
            "Text/HTML; q=1",
            "application/xhtml+xml,text/html",
        ] {
            assert!(navigates_as_browser(Some(browser)), "{browser}");
        }
        for client in [
            None,
            Some(""),
            Some("*/*"),
            Some("application/json"),
            Some("application/json, text/html"),
            Some("text/plain"),
            Some("text/htmlx"),
        ] {
            assert!(!navigates_as_browser(client), "{client:?}");
        }
    }
}
