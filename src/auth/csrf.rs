//! CSRF beyond SameSite: a state-changing request that a session cookie authenticated must
//! come from our own origin and carry the session's CSRF token (header `X-CSRF-Token`, or the
//! `csrf_token` field of an HTML form). SameSite=Lax alone would let a sibling origin on the
//! same site (another port of 127.0.0.1, another subdomain) post with the cookie.

use edgeauth_core::session;
use edgeauth_core::TokenHash;
use worker::{Request, Url};

use crate::error::ApiError;
use crate::http::{self, header};
use crate::settings::Settings;

pub async fn check(
    req: &Request,
    settings: &Settings,
    url: &Url,
    session_hash: &TokenHash,
) -> Result<(), ApiError> {
    let csrf = |message: &str| ApiError::Refused {
        status: 403,
        code: "csrf_rejected",
        message: message.to_owned(),
    };
    let origin = super::own_origin(&settings.config, url);
    if !session::same_origin(header(req, "Origin").as_deref(), &origin) {
        return Err(csrf(
            "a request signed in by the session cookie must come from this server's own pages (its Origin header is missing or names another origin); scripts should send `Authorization: Bearer <token>` instead",
        ));
    }
    let presented = match header(req, "X-CSRF-Token") {
        Some(token) => token,
        None if http::is_form(req) => http::body::form_field(req, "csrf_token")
            .await?
            .unwrap_or_default(),
        None => String::new(),
    };
    settings.cookie_key()?;
    // A page rendered before SECRET was rotated carries a token under SECRET_PREVIOUS.
    let matches = settings
        .cookie_keys()
        .into_iter()
        .any(|key| session::csrf_token_matches(key, session_hash.as_hex(), presented.trim()));
    if !matches {
        return Err(csrf(
            "the CSRF token is missing or is not this session's: send the `X-CSRF-Token` header with the token from the page's `csrf-token` meta tag, or reload the page",
        ));
    }
    Ok(())
}
