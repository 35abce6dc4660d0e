//! What a request presents: a bearer credential (`Authorization: Bearer`, else a `bearer.`
//! WebSocket subprotocol), else the session cookie. A bearer credential always wins.

use edgeauth_core::session::{self, CookieNames};
use edgeauth_core::token::{self, TokenKind};
use edgeauth_core::{bearer, TokenHash};
use worker::{Request, Url};

use crate::error::ApiError;
use crate::http::header;
use crate::settings::Settings;

/// The credential a request carries, not yet verified.
pub enum Presented {
    None,
    Bearer(String),
    /// The value of the session cookie (well-formed; whether it is known is for D1).
    SessionCookie(String),
}

impl Presented {
    /// What the audit trail keeps of it: its SHA-256 (hex), and the display prefix of an API
    /// token (a token this server stores; an access token's prefix says nothing).
    pub fn trace(&self) -> (Option<String>, Option<String>) {
        match self {
            Presented::None => (None, None),
            Presented::Bearer(token) => (
                Some(TokenHash::of(token).as_hex().to_owned()),
                matches!(
                    token::check_format(token),
                    Ok(TokenKind::Service | TokenKind::User)
                )
                .then(|| token[..token::DISPLAY_PREFIX_CHARS].to_owned()),
            ),
            Presented::SessionCookie(value) => {
                (Some(TokenHash::of(value).as_hex().to_owned()), None)
            }
        }
    }
}

/// Reads the request's credential; a malformed bearer credential is 401.
pub fn presented(req: &Request, settings: &Settings, url: &Url) -> Result<Presented, ApiError> {
    let invalid = |e: bearer::BearerError| ApiError::InvalidCredential(e.to_string());
    if let Some(value) = header(req, "Authorization") {
        return bearer::from_authorization(&value)
            .map(|t| Presented::Bearer(t.to_owned()))
            .map_err(invalid);
    }
    if let Some(result) =
        header(req, "Sec-WebSocket-Protocol").and_then(|v| bearer::from_websocket_protocols(&v))
    {
        return result.map(Presented::Bearer).map_err(invalid);
    }
    // Sessions exist only where people can sign in (OIDC and SECRET set).
    if settings.sign_in_problem().is_some() {
        return Ok(Presented::None);
    }
    let names = CookieNames::for_origin(&super::own_origin(&settings.config, url));
    let keys = settings.session_keys();
    // A value this server did not make (under SECRET or SECRET_PREVIOUS) is no session:
    // anonymous, with no storage read.
    Ok(header(req, "Cookie")
        .as_deref()
        .and_then(|c| session::cookie_value(c, names.session).map(str::to_owned))
        .filter(|v| {
            keys.iter()
                .any(|key| session::session_value_is_ours(key, v))
        })
        .map_or(Presented::None, Presented::SessionCookie))
}
