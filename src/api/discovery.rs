//! What a resource server or an origin reads to trust edgeauth without sharing a secret:
//! `GET /.well-known/jwks.json` (the published signing keys, [`edgeauth_core::signing`]) and
//! `GET /.well-known/oauth-authorization-server` (RFC 8414 metadata). Both are public and
//! answered before authentication.

use std::rc::Rc;

use edgeauth_core::ConfigProblem;
use serde_json::json;
use worker::{Response, Url};

use crate::auth::own_origin;
use crate::error::ApiError;
use crate::settings::Settings;
use crate::{http, now_ms};

/// The JWKS: every key that may have signed an access token or assertion still valid, and the
/// next one, with `Cache-Control` short enough that a cached copy always has the next key.
pub fn jwks(settings: &Result<Rc<Settings>, Vec<ConfigProblem>>) -> Result<Response, ApiError> {
    let settings = settings.as_ref().map_err(|p| ApiError::from(p.clone()))?;
    let keys = settings.signing_keys()?;
    // Every ring's keys: SECRET's, and SECRET_PREVIOUS's while a rotation is under way (what
    // either signed verifies at a resource server, whichever is the current one).
    let now_s = now_ms().div_euclid(1000);
    let published: Vec<serde_json::Value> = settings
        .signing_rings()
        .iter()
        .flat_map(|ring| ring.published(now_s))
        .map(|key| key.jwk())
        .collect();
    let mut response = http::fixed(
        200,
        serde_json::json!({ "keys": published })
            .to_string()
            .into_bytes(),
        "application/json",
    );
    http::set_header(
        &mut response,
        "Cache-Control",
        &format!("public, max-age={}", keys.jwks_max_age_s()),
    );
    http::set_header(&mut response, "Access-Control-Allow-Origin", "*");
    Ok(response)
}

/// RFC 8414 authorization server metadata: the endpoints a client or resource server needs.
pub fn metadata(
    settings: &Result<Rc<Settings>, Vec<ConfigProblem>>,
    url: &Url,
) -> Result<Response, ApiError> {
    let settings = settings.as_ref().map_err(|p| ApiError::from(p.clone()))?;
    let issuer = own_origin(&settings.config, url);
    let at = |path: &str| format!("{issuer}{path}");
    Ok(http::json(
        200,
        &json!({
            "issuer": issuer,
            "token_endpoint": at("/api/auth/token"),
            "device_authorization_endpoint": at("/api/auth/device/code"),
            "revocation_endpoint": at("/api/auth/revoke"),
            "introspection_endpoint": at("/api/auth/introspect"),
            "jwks_uri": at("/.well-known/jwks.json"),
            "grant_types_supported": [
                "urn:ietf:params:oauth:grant-type:device_code",
                "refresh_token",
                // A CI job's ID token, through a trust policy; the policies' default audience,
                // which `edgeauth login --ci` asks its platform for, is `issuer`.
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ],
            // No authorization endpoint for other clients: people sign in to edgeauth itself.
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "code_challenge_methods_supported": ["S256"],
            "service_documentation": at("/openapi.json"),
        }),
    ))
}
