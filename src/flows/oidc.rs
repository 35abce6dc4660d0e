//! The OpenID Connect relying party's I/O: discovery, the JWKS, the code exchange and the
//! ID-token signature (Web Crypto), for the sign-in provider and for the CI platforms that
//! trust policies name (their ID tokens are verified the same way: [`verified_jws`]). The rules are `edgeauth_core::oidc` and
//! `edgeauth_core::id_token`; this module fetches, caches per isolate and maps failures to
//! the error codes of the sign-in endpoints.
//!
//! Outbound requests time out after [`FETCH_TIMEOUT`], never follow redirects (a token request
//! carries the client secret), and read at most [`MAX_ANSWER_BYTES`] before parsing.

use std::cell::RefCell;
use std::time::Duration;

use edgeauth_core::config::OidcSettings;
use edgeauth_core::id_token::{self, ClaimError, Expectations, IdTokenAlg, Identity};
use edgeauth_core::oidc::{
    self as rules, CompactJws, Jwks, RefreshAnswer, TokenAnswer, TokenResponseError,
    VerificationKey,
};
use futures_util::future::{select, Either};
use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::CryptoKey;
use worker::{
    AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
    Response, ResponseBody,
};

pub use edgeauth_core::oidc::{
    authorization_url, expectations, AuthorizationRequest, ProviderMetadata,
};

use crate::error::ApiError;
use crate::http::body::{self, BodyError};
use crate::now_ms;
use crate::web_crypto::{self, js_object, js_text, subtle_crypto};

/// How long discovery documents and JWKS are reused within an isolate.
const CACHE_TTL_MS: i64 = 10 * 60 * 1000;
/// Longest wait for the provider, per request, body included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The least time between two fetches of one JWKS prompted by an unknown `kid`.
pub const REFETCH_COOLDOWN_MS: i64 = 10 * 1000;
/// How long a person waits before signing in again after the provider failed.
const PROVIDER_RETRY_AFTER_S: u64 = 10;
/// Largest answer read from the provider.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A fetched document, for the isolate's lifetime or [`CACHE_TTL_MS`], whichever ends first.
struct Cached<T> {
    /// The URL or issuer it came from, so a changed setting never reuses it.
    source: String,
    fetched_ms: i64,
    value: T,
}

impl<T> Cached<T> {
    fn fresh_for(&self, source: &str, now_ms: i64) -> Option<&T> {
        (self.source == source && now_ms - self.fetched_ms < CACHE_TTL_MS).then_some(&self.value)
    }
}

/// Most issuers (the sign-in provider and CI platforms) whose documents an isolate keeps.
const MAX_CACHED: usize = 16;

thread_local! {
    /// The sign-in provider's endpoints, by issuer.
    static PROVIDER: RefCell<Vec<Cached<ProviderMetadata>>> = const { RefCell::new(Vec::new()) };
    /// The JWKS of each issuer, by its URL.
    static JWKS: RefCell<Vec<Cached<Jwks>>> = const { RefCell::new(Vec::new()) };
    /// The `jwks_uri` of each signing-only issuer (CI platforms), by issuer.
    static KEY_LOCATIONS: RefCell<Vec<Cached<String>>> = const { RefCell::new(Vec::new()) };
}

/// What `cache` holds for `source`, if fresh.
fn cached<T: Clone>(cache: &RefCell<Vec<Cached<T>>>, source: &str, now_ms: i64) -> Option<T> {
    cached_since(cache, source, now_ms).map(|(value, _)| value)
}

/// What `cache` holds for `source`, if fresh, with when it was fetched.
fn cached_since<T: Clone>(
    cache: &RefCell<Vec<Cached<T>>>,
    source: &str,
    now_ms: i64,
) -> Option<(T, i64)> {
    cache.borrow().iter().find_map(|c| {
        c.fresh_for(source, now_ms)
            .map(|value| (value.clone(), c.fetched_ms))
    })
}

/// Keeps `value` for `source` in `cache`, dropping the oldest entry beyond [`MAX_CACHED`].
fn keep<T>(cache: &RefCell<Vec<Cached<T>>>, source: &str, now_ms: i64, value: T) {
    let mut entries = cache.borrow_mut();
    entries.retain(|c| c.source != source);
    if entries.len() >= MAX_CACHED {
        entries.remove(0);
    }
    entries.push(Cached {
        source: source.to_owned(),
        fetched_ms: now_ms,
        value,
    });
}

/// The provider's endpoints, from its discovery document (OIDC Discovery 1.0 §4), fetched at
/// most every 10 minutes per isolate. A failed fetch is not cached.
pub async fn provider(settings: &OidcSettings) -> Result<ProviderMetadata, ApiError> {
    if crate::faults::provider_forgotten() {
        PROVIDER.with(|cell| cell.borrow_mut().clear());
        JWKS.with(|cell| cell.borrow_mut().clear());
    }
    let now = now_ms();
    if let Some(metadata) = PROVIDER.with(|cell| cached(cell, &settings.issuer, now)) {
        return Ok(metadata);
    }
    let url = rules::discovery_url(&settings.issuer);
    let (status, body) = fetch("discovery document", &url, Method::Get, None, None).await?;
    if status != 200 {
        return Err(unavailable(format!(
            "the identity provider's discovery document at {url} answered HTTP {status}; check OIDC_ISSUER, or try again later"
        )));
    }
    let metadata = rules::parse_discovery(&body, &settings.issuer).map_err(|p| {
        unavailable(format!(
            "{p}; try again later, and if it persists the operator must check OIDC_ISSUER and the provider"
        ))
    })?;
    PROVIDER.with(|cell| keep(cell, &settings.issuer, now, metadata.clone()));
    Ok(metadata)
}

/// Exchanges an authorization code for the ID token (and the provider's refresh token, if it
/// issues one) at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.5), authenticating with
/// `client_secret_basic`.
pub async fn exchange_code(
    settings: &OidcSettings,
    provider: &ProviderMetadata,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<TokenAnswer, ApiError> {
    let body = rules::token_request_body(code, redirect_uri, verifier);
    let authorization = rules::client_secret_basic(&settings.client_id, &settings.client_secret);
    let (status, answer) = fetch(
        "token endpoint",
        &provider.token_endpoint,
        Method::Post,
        Some(&authorization),
        Some(body),
    )
    .await?;
    rules::parse_token_response(status, &answer).map_err(|e| match e {
        TokenResponseError::Rejected { error } => code_rejected(&error),
        TokenResponseError::Unusable(p) => unavailable(format!("{p}; try again later")),
    })
}

/// How a refresh at the provider went ([`refresh_at_provider`]).
pub enum ProviderRefresh {
    /// A new ID token, unless the provider left it out, and perhaps a rotated refresh token:
    /// the person, as the provider sees them now, still to be checked
    /// ([`verify_refreshed_id_token`]).
    Renewed(RefreshAnswer),
    /// The provider refused the refresh token (`invalid_grant`): the person's grant there has
    /// ended (signed out, removed, or the token rotated by someone else).
    Refused,
    /// The provider could not be asked (down, slow, garbage).
    Unavailable(ApiError),
}

/// Asks the provider again who the person is (RFC 6749 §6, OIDC Core §12): a refresh with the
/// provider's `refresh_token` at its token endpoint, as the client.
pub async fn refresh_at_provider(
    settings: &OidcSettings,
    provider: &ProviderMetadata,
    refresh_token: &str,
) -> ProviderRefresh {
    let authorization = rules::client_secret_basic(&settings.client_id, &settings.client_secret);
    let answer = fetch(
        "token endpoint",
        &provider.token_endpoint,
        Method::Post,
        Some(&authorization),
        Some(rules::refresh_request_body(refresh_token)),
    )
    .await;
    match answer.map(|(status, body)| rules::parse_refresh_response(status, &body)) {
        Ok(Ok(answer)) => ProviderRefresh::Renewed(answer),
        Ok(Err(TokenResponseError::Rejected { error })) if error == "invalid_grant" => {
            ProviderRefresh::Refused
        }
        // Anything else (`invalid_client` after OIDC_CLIENT_SECRET changed, …) is the
        // deployment's or the provider's trouble, not the person's: it ends nobody's login.
        Ok(Err(TokenResponseError::Rejected { error })) => {
            worker::console_error!(
                "oidc: the provider refused a refresh with `{error}`; check OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and that the client may use the refresh_token grant"
            );
            ProviderRefresh::Unavailable(unavailable(format!(
                "the identity provider refused to renew a sign-in with `{error}`"
            )))
        }
        Ok(Err(TokenResponseError::Unusable(p))) => {
            ProviderRefresh::Unavailable(unavailable(format!("{p}; try again later")))
        }
        Err(e) => ProviderRefresh::Unavailable(e),
    }
}

/// Verifies the ID token of a refresh at the provider ([`verify_id_token`]'s signature rules,
/// [`id_token::check_refreshed_claims`]' claim rules) and returns the person as they are now:
/// `Ok(Err(why))` when its claims refuse the person; `Err` when it cannot be verified now (its
/// key unknown or unfetchable, a bad signature: it came from the provider over TLS, so that is
/// the provider's trouble, not a reason to end anyone's login).
pub async fn verify_refreshed_id_token(
    settings: &OidcSettings,
    provider: &ProviderMetadata,
    id_token: &str,
    subject: &str,
    now_s: i64,
) -> Result<Result<Identity, String>, ApiError> {
    let jws = verified_jws(&provider.jwks_uri, id_token).await?;
    let expected = rules::refresh_expectations(settings, now_s);
    Ok(
        id_token::check_refreshed_claims(jws.claims(), &expected, subject)
            .map_err(|e| e.to_string()),
    )
}

/// Verifies an ID token from the token endpoint and returns who signed in: the header's `alg`
/// is allow-listed before any key is looked up, the key comes from the provider's JWKS (fetched
/// again at most once when the `kid` is unknown, for key rotation), Web Crypto checks the
/// signature, and `edgeauth_core::id_token::check_claims` checks the claims.
pub async fn verify_id_token(
    provider: &ProviderMetadata,
    id_token: &str,
    expected: &Expectations,
) -> Result<Identity, ApiError> {
    let jws = verified_jws(&provider.jwks_uri, id_token).await?;
    id_token::check_claims(jws.claims(), expected).map_err(claim_error)
}

/// A JWS whose signature verifies under a key of the JWKS at `jwks_uri`: its `alg` allow-listed
/// (RS256, ES256; so `none` and HS256 are out) before any key is looked up, the key chosen by
/// `kid` (the JWKS fetched again at most once when it is unknown, for key rotation), the
/// signature checked by Web Crypto. Its claims are then the caller's to check. A refusal is
/// 400 `invalid_id_token`; a JWKS that cannot be fetched, 502 `provider_unavailable`.
pub async fn verified_jws(jwks_uri: &str, token: &str) -> Result<CompactJws, ApiError> {
    let jws = rules::split_jws(token).map_err(|e| invalid_id_token(e.to_string()))?;
    let alg = id_token::check_header(jws.alg()).map_err(claim_error)?;
    let key = verification_key(jwks_uri, alg, jws.kid()).await?;
    if jws.signature().len() != key.signature_len()
        || !signature_verifies(&key, jws.signing_input(), jws.signature()).await?
    {
        return Err(invalid_id_token(
            "the ID token's signature does not verify with the identity provider's key; sign in again, and report it if it persists".into(),
        ));
    }
    Ok(jws)
}

/// The `jwks_uri` of a signing-only issuer (a CI platform), from its discovery document,
/// fetched at most every 10 minutes per isolate.
pub async fn key_location(issuer: &str) -> Result<String, ApiError> {
    let now = now_ms();
    if let Some(url) = KEY_LOCATIONS.with(|cell| cached(cell, issuer, now)) {
        return Ok(url);
    }
    let url = rules::discovery_url(issuer);
    let (status, body) = fetch("discovery document", &url, Method::Get, None, None).await?;
    if status != 200 {
        return Err(unavailable(format!(
            "the issuer's discovery document at {url} answered HTTP {status}; try again later"
        )));
    }
    let jwks_uri = rules::parse_key_discovery(&body, issuer)
        .map_err(|p| unavailable(format!("{p}; try again later")))?;
    KEY_LOCATIONS.with(|cell| keep(cell, issuer, now, jwks_uri.clone()));
    Ok(jwks_uri)
}

/// The key for `alg` and `kid`: from the cached JWKS, else from a fresh one. A fresh one is
/// fetched at most once per call and, for a `kid` the cached set lacks, only when that set is
/// [`REFETCH_COOLDOWN_MS`] old: a flood of tokens naming made-up keys costs the issuer one
/// request per isolate per cooldown, and a key published since is still found within it.
async fn verification_key(
    jwks_uri: &str,
    alg: IdTokenAlg,
    kid: Option<&str>,
) -> Result<VerificationKey, ApiError> {
    let now = now_ms();
    let jwks = match JWKS.with(|cell| cached_since(cell, jwks_uri, now)) {
        Some((jwks, _)) if jwks.select(alg, kid).is_some() => jwks,
        Some((jwks, fetched_ms)) if now - fetched_ms < REFETCH_COOLDOWN_MS => jwks,
        _ => fetch_jwks(jwks_uri, now).await?,
    };
    jwks.select(alg, kid).cloned().ok_or_else(|| {
        invalid_id_token(format!(
            "the ID token is signed with a key the identity provider does not publish (no {} key {}); sign in again",
            rules::alg_name(alg),
            match kid {
                Some(_) => "with its `kid`",
                None => "can be chosen without a `kid`",
            }
        ))
    })
}

async fn fetch_jwks(url: &str, now: i64) -> Result<Jwks, ApiError> {
    let (status, body) = fetch("JWKS", url, Method::Get, None, None).await?;
    if status != 200 {
        return Err(unavailable(format!(
            "the identity provider's keys (JWKS) at {url} answered HTTP {status}; try again later"
        )));
    }
    let jwks =
        rules::parse_jwks(&body).map_err(|p| unavailable(format!("{p}; try again later")))?;
    JWKS.with(|cell| keep(cell, url, now, jwks.clone()));
    Ok(jwks)
}

// ---------------------------------------------------------------------------------------------
// Web Crypto

/// Verifies `signature` over `signing_input` with Web Crypto: RSASSA-PKCS1-v1_5 with SHA-256
/// for RS256, ECDSA P-256 with SHA-256 for ES256 (whose JWS signature, `r || s`, is the format
/// Web Crypto takes).
async fn signature_verifies(
    key: &VerificationKey,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<bool, ApiError> {
    let subtle = subtle_crypto()?;
    let (import_params, verify_params) = match key.alg {
        IdTokenAlg::Rs256 => (
            js_object(&[("name", "RSASSA-PKCS1-v1_5"), ("hash", "SHA-256")])?,
            js_object(&[("name", "RSASSA-PKCS1-v1_5")])?,
        ),
        IdTokenAlg::Es256 => (
            js_object(&[("name", "ECDSA"), ("namedCurve", "P-256")])?,
            js_object(&[("name", "ECDSA"), ("hash", "SHA-256")])?,
        ),
    };
    let jwk: Object = js_sys::JSON::parse(&key.import_jwk().to_string())
        .map_err(|e| web_crypto::failed("parsing the key as a JS object", &e))?
        .unchecked_into();
    let usages = Array::of1(&JsValue::from_str("verify"));
    let import = subtle
        .import_key_with_object("jwk", &jwk, &import_params, false, &usages)
        .map_err(|e| web_crypto::failed("importKey", &e))?;
    let crypto_key: CryptoKey = JsFuture::from(import)
        .await
        .map_err(|e| {
            worker::console_error!("oidc: importKey refused a JWKS key: {}", js_text(&e));
            unavailable(
                "the identity provider publishes a signing key that Web Crypto cannot import; try again later".into(),
            )
        })?
        .unchecked_into();
    let signature = Uint8Array::from(signature);
    let data = Uint8Array::from(signing_input);
    let verified = subtle
        .verify_with_object_and_buffer_source_and_buffer_source(
            &verify_params,
            &crypto_key,
            &signature,
            &data,
        )
        .map_err(|e| web_crypto::failed("verify", &e))?;
    let verified = JsFuture::from(verified)
        .await
        .map_err(|e| web_crypto::failed("verify", &e))?;
    Ok(verified.as_bool() == Some(true))
}

// ---------------------------------------------------------------------------------------------
// Outbound HTTP

/// Sends one request to the provider (`Accept: application/json`; for a POST, a form body and
/// the `Authorization` value) and returns the status and at most [`MAX_ANSWER_BYTES`] of body.
/// Network failures, timeouts, redirects and oversized answers are 502 `provider_unavailable`.
async fn fetch(
    what: &'static str,
    url: &str,
    method: Method,
    authorization: Option<&str>,
    form: Option<String>,
) -> Result<(u16, Vec<u8>), ApiError> {
    let headers = Headers::new();
    headers.set("Accept", "application/json")?;
    if let Some(value) = authorization {
        headers.set("Authorization", value)?;
    }
    if form.is_some() {
        headers.set("Content-Type", "application/x-www-form-urlencoded")?;
    }
    let mut init = RequestInit::new();
    init.with_method(method)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(form.map(|f| JsValue::from_str(&f)));
    let request = Request::new_with_init(url, &init)?;

    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async {
        let mut response = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(|e| format!("the request failed: {e}"))?;
        let status = response.status_code();
        if (300..400).contains(&status) {
            return Err(format!(
                "it answered a redirect (HTTP {status}), which is not followed"
            ));
        }
        let body = read_bounded(&mut response).await?;
        Ok((status, body))
    };
    let timeout = Delay::from(FETCH_TIMEOUT);
    futures_util::pin_mut!(exchange);
    let outcome = match select(exchange, timeout).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(((), _)) => {
            controller.abort();
            Err(format!("no answer within {} s", FETCH_TIMEOUT.as_secs()))
        }
    };
    outcome.map_err(|why| {
        worker::console_error!("oidc: {what} at {url}: {why}");
        unavailable(format!(
            "the identity provider's {what} could not be used: {why}; try again later"
        ))
    })
}

/// The body, refused beyond [`MAX_ANSWER_BYTES`] without reading the rest.
async fn read_bounded(response: &mut Response) -> Result<Vec<u8>, String> {
    let too_large = || format!("its answer is larger than {MAX_ANSWER_BYTES} bytes");
    let declared = response
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    let stream = match response.body() {
        ResponseBody::Empty => None,
        ResponseBody::Body(bytes) if bytes.len() > MAX_ANSWER_BYTES => return Err(too_large()),
        ResponseBody::Body(bytes) => return Ok(bytes.clone()),
        ResponseBody::Stream(_) => Some(
            response
                .stream()
                .map_err(|e| format!("its answer could not be read: {e}"))?,
        ),
    };
    body::read_bounded(declared, stream, MAX_ANSWER_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge(_) => too_large(),
            other => format!("its answer could not be read: {other:?}"),
        })
}

// ---------------------------------------------------------------------------------------------
// Errors, as docs/api.md names them for GET /api/auth/callback

/// The provider failed (down, slow past [`FETCH_TIMEOUT`], or answering garbage): a 502 the
/// person may retry after [`PROVIDER_RETRY_AFTER_S`]. Nothing was stored.
fn unavailable(message: String) -> ApiError {
    ApiError::Refused {
        status: 502,
        code: "provider_unavailable",
        message,
    }
    .retry_after(PROVIDER_RETRY_AFTER_S)
}

fn invalid_id_token(message: String) -> ApiError {
    ApiError::Refused {
        status: 400,
        code: "invalid_id_token",
        message,
    }
}

fn code_rejected(error: &str) -> ApiError {
    let advice = match error {
        "invalid_grant" => {
            "the code has expired, was used already, or does not match this sign-in; sign in again"
        }
        "invalid_client" | "unauthorized_client" => {
            "the provider does not accept this server's OIDC_CLIENT_ID or OIDC_CLIENT_SECRET; the operator must fix them"
        }
        _ => "sign in again, and report it if it persists",
    };
    ApiError::Refused {
        status: 400,
        code: "code_rejected",
        message: format!("the identity provider refused the sign-in code (`{error}`): {advice}"),
    }
}

fn claim_error(e: ClaimError) -> ApiError {
    let (status, code) = match e {
        ClaimError::EmailNotVerified => (403, "email_not_verified"),
        ClaimError::NotInAllowedTeam => (403, "not_in_allowed_team"),
        _ => (400, "invalid_id_token"),
    };
    ApiError::Refused {
        status,
        code,
        message: e.to_string(),
    }
}
