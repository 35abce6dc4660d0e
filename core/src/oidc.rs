//! The OpenID Connect relying party's rules, without I/O: reading the provider's discovery
//! document and JWKS, splitting the ID token (a compact JWS), and writing the authorization
//! request and the token request.
//!
//! The Worker fetches, verifies the signature with Web Crypto and checks the claims with
//! [`crate::id_token`]; everything it decides about the bytes it fetched is decided here.

use core::fmt;

use serde_json::{Map, Value};

use crate::config::{is_loopback_host, is_port_number, OidcSettings};
use crate::encoding::{base64_encode, base64url_decode_strict, form_decode, percent_encode};
use crate::id_token::{Expectations, IdTokenAlg, DEFAULT_SKEW_S};
use crate::pkce::METHOD_S256;
use crate::secret::Secret;

/// Longest ID token accepted, in bytes; real ones are 1–2 KiB.
pub const MAX_ID_TOKEN_LEN: usize = 16 * 1024;
/// Longest endpoint URL accepted from a discovery document.
pub const MAX_ENDPOINT_LEN: usize = 2048;
/// Most keys read from a JWKS; the rest are ignored.
pub const MAX_JWKS_KEYS: usize = 64;
/// Smallest RSA modulus accepted, in bits (RFC 7518 §3.3: 2048 or larger).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits.
pub const MAX_RSA_BITS: usize = 8192;
/// Longest OAuth `error` code repeated in a message.
const MAX_ERROR_CODE_LEN: usize = 64;
/// Longest provider refresh token kept (stored sealed with the person; see
/// [`crate::sealed`]). A longer one is not kept: the person's teams are then read at sign-in only.
pub const MAX_REFRESH_TOKEN_LEN: usize = 4096;

pub use crate::config::DISCOVERY_PATH;

/// An answer from the identity provider that cannot be used: its discovery document, JWKS or
/// token response is malformed or unsafe. The Worker answers 502 `provider_unavailable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderProblem(pub String);

impl fmt::Display for ProviderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn problem(message: impl Into<String>) -> ProviderProblem {
    ProviderProblem(message.into())
}

// ---------------------------------------------------------------------------------------------
// Discovery

/// The endpoints edgeauth uses, from the provider's discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    /// Where the browser is sent to sign in.
    pub authorization_endpoint: String,
    /// Where the authorization code is exchanged for the ID token.
    pub token_endpoint: String,
    /// The provider's signing keys.
    pub jwks_uri: String,
    /// Where signing out of edgeauth sends the browser to end the provider's session too
    /// (OIDC RP-Initiated Logout 1.0), when the provider has a usable one on the issuer's own
    /// origin: the signed-in pages allow exactly that origin in their CSP `form-action`, which
    /// Chromium applies to the sign-out form's redirect.
    pub end_session_endpoint: Option<String>,
    /// The `prompt` that lets the person choose another account at the next sign-in:
    /// `select_account` when the provider lists it in `prompt_values_supported`, else `login`
    /// (OIDC Core §3.1.2.1; Google knows only the former, GitLab only the latter).
    pub choose_account_prompt: &'static str,
}

/// The discovery document's URL: the issuer, without a trailing `/`, followed by
/// `/.well-known/openid-configuration` (OIDC Discovery 1.0 §4).
pub fn discovery_url(issuer: &str) -> String {
    format!("{}{DISCOVERY_PATH}", issuer.trim_end_matches('/'))
}

/// Reads a discovery document (OIDC Discovery 1.0 §3) and checks it (§4.3):
///
/// - `issuer` equals the configured issuer exactly: no trailing-slash or case normalisation,
///   since the ID token's `iss` will be compared with the same string;
/// - `authorization_endpoint`, `token_endpoint` and `jwks_uri` are present, absolute, https (or
///   http on a loopback host, for local development), without user name or fragment;
/// - when `code_challenge_methods_supported` is listed, it includes `S256`, so PKCE is never
///   silently ignored (RFC 9700 §2.1.1).
pub fn parse_discovery(body: &[u8], issuer: &str) -> Result<ProviderMetadata, ProviderProblem> {
    let doc = read_discovery(body, issuer)?;
    let endpoint = |name: &'static str| endpoint_of(&doc, name);
    let metadata = ProviderMetadata {
        authorization_endpoint: endpoint("authorization_endpoint")?,
        token_endpoint: endpoint("token_endpoint")?,
        jwks_uri: endpoint("jwks_uri")?,
        // Optional: one the provider gets wrong, or elsewhere than the issuer's origin, is
        // ignored rather than failing every sign-in.
        end_session_endpoint: doc
            .get("end_session_endpoint")
            .and_then(Value::as_str)
            .filter(|url| endpoint_problem(url).is_none() && origin(url) == origin(issuer))
            .map(str::to_owned),
        choose_account_prompt: match doc.get("prompt_values_supported") {
            Some(Value::Array(values)) if values.iter().any(|v| v == SELECT_ACCOUNT) => {
                SELECT_ACCOUNT
            }
            _ => "login",
        },
    };
    if let Some(methods) = doc.get("code_challenge_methods_supported") {
        let has_s256 = methods
            .as_array()
            .is_some_and(|m| m.iter().any(|v| v.as_str() == Some(METHOD_S256)));
        if !has_s256 {
            return Err(problem(
                "the provider's discovery document lists `code_challenge_methods_supported` without `S256`; edgeauth needs PKCE with S256",
            ));
        }
    }
    Ok(metadata)
}

/// The `jwks_uri` of an issuer that only signs tokens (a CI platform: GitHub Actions publishes
/// no authorization or token endpoint): its discovery document, checked as
/// [`parse_discovery`] checks it, for `issuer` and `jwks_uri` only.
pub fn parse_key_discovery(body: &[u8], issuer: &str) -> Result<String, ProviderProblem> {
    let jwks_uri = endpoint_of(&read_discovery(body, issuer)?, "jwks_uri")?;
    if origin(&jwks_uri) != origin(issuer) {
        return Err(problem(format!(
            "the issuer's discovery document puts its keys (`jwks_uri`) at `{}`, outside the issuer's own origin; a CI platform's keys must be served by the issuer",
            printable(&jwks_uri, 200)
        )));
    }
    Ok(jwks_uri)
}

/// The scheme and authority of `url` (`https://host[:port]`), lower-cased, for comparing.
pub fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{authority}").to_ascii_lowercase()
}

/// A discovery document, as a JSON object whose `issuer` is `issuer` exactly.
fn read_discovery(
    body: &[u8],
    issuer: &str,
) -> Result<serde_json::Map<String, Value>, ProviderProblem> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|_| problem("the provider's discovery document is not JSON"))?;
    let Value::Object(doc) = doc else {
        return Err(problem(
            "the provider's discovery document is not a JSON object",
        ));
    };
    match doc.get("issuer").and_then(Value::as_str) {
        None => Err(problem("the provider's discovery document has no `issuer`")),
        Some(found) if found != issuer => Err(problem(format!(
            "the provider's discovery document names the issuer `{}`, not `{}`; they must match exactly (check a trailing `/`)",
            printable(found, 200),
            printable(issuer, 200)
        ))),
        Some(_) => Ok(doc),
    }
}

/// The endpoint `name` of a discovery document, checked ([`endpoint_problem`]).
fn endpoint_of(
    doc: &serde_json::Map<String, Value>,
    name: &'static str,
) -> Result<String, ProviderProblem> {
    let url = doc.get(name).and_then(Value::as_str).ok_or_else(|| {
        problem(format!(
            "the provider's discovery document has no `{name}` string"
        ))
    })?;
    match endpoint_problem(url) {
        None => Ok(url.to_owned()),
        Some(why) => Err(problem(format!(
            "the provider's discovery document has an unusable `{name}`: it {why}"
        ))),
    }
}

/// Why `url` is not a usable endpoint, if it is not: absolute `https://host[:port][/path][?query]`,
/// or `http://` on a loopback host; printable ASCII only (it ends up in a `Location` header); no
/// user name (`@` in the authority) and no fragment (RFC 6749 §3.1, §3.2).
fn endpoint_problem(url: &str) -> Option<&'static str> {
    if url.len() > MAX_ENDPOINT_LEN {
        return Some("is too long");
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) || url.contains('\\') {
        return Some("must be printable ASCII without spaces or backslashes");
    }
    if url.contains('#') {
        return Some("must not have a fragment (`#…`)");
    }
    let (secure, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Some("must be an absolute https URL");
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Some("must have a host and no user name");
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, tail)) => match tail.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Some("has a malformed host"),
            },
            None => return Some("has an unclosed `[` in its host"),
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Some("must have a host and no user name");
    }
    if port.is_some_and(|p| !is_port_number(p)) {
        return Some("has a port that is not a number");
    }
    if !secure && !is_loopback_host(host) {
        return Some("must use https (plain http is allowed only on a loopback host)");
    }
    None
}

// ---------------------------------------------------------------------------------------------
// The ID token as a compact JWS (RFC 7515 §7.1)

/// Why an ID token could not even be read as a signed JWT. Messages never repeat the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwsError {
    /// Longer than [`MAX_ID_TOKEN_LEN`].
    TooLong,
    /// Not exactly three non-empty dot-separated parts (a JWE has five).
    NotThreeParts,
    /// A part is not unpadded, canonical base64url; names the part.
    BadEncoding(&'static str),
    /// The header or payload is not a JSON object; names it.
    NotAnObject(&'static str),
    /// The header has no `alg` string.
    MissingAlg,
    /// The header's `kid` is present but not a string.
    BadKid,
    /// The header lists `crit` extensions, none of which edgeauth understands (RFC 7515 §4.1.11).
    CriticalExtension,
}

impl fmt::Display for JwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwsError::TooLong => write!(
                f,
                "the ID token is longer than {MAX_ID_TOKEN_LEN} bytes"
            ),
            JwsError::NotThreeParts => f.write_str(
                "the ID token is not a signed JWT: it must be three base64url parts separated by dots",
            ),
            JwsError::BadEncoding(part) => write!(
                f,
                "the ID token's {part} is not unpadded base64url"
            ),
            JwsError::NotAnObject(part) => write!(
                f,
                "the ID token's {part} is not a JSON object"
            ),
            JwsError::MissingAlg => f.write_str("the ID token's header has no `alg`"),
            JwsError::BadKid => f.write_str("the ID token's header has a `kid` that is not a string"),
            JwsError::CriticalExtension => f.write_str(
                "the ID token's header lists critical extensions (`crit`) that edgeauth does not support",
            ),
        }
    }
}

/// A compact JWS split into its parts; nothing about it is verified yet.
#[derive(Clone)]
pub struct CompactJws {
    header: Map<String, Value>,
    claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

impl fmt::Debug for CompactJws {
    // The claims and signature make up a credential; show only what selects the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompactJws")
            .field("alg", &self.alg())
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

impl CompactJws {
    /// The header's `alg`, unchecked: pass it to [`crate::id_token::check_header`].
    pub fn alg(&self) -> &str {
        self.header.get("alg").and_then(Value::as_str).unwrap_or("")
    }

    /// The header's `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The payload, a JSON object; its claims are trustworthy only after the signature verifies.
    pub fn claims(&self) -> &Value {
        &self.claims
    }

    /// The bytes the signature covers: `BASE64URL(header) "." BASE64URL(payload)` as received.
    pub fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    /// The decoded signature.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
}

/// Splits a compact JWS (RFC 7515 §7.1): at most [`MAX_ID_TOKEN_LEN`] bytes, exactly three
/// non-empty parts of unpadded, canonical base64url; header and payload are JSON objects; the
/// header has an `alg` string, a `kid` that is a string if present, and no `crit`. Header
/// members that point at keys (`jku`, `jwk`, `x5u`, `x5c`) are ignored: keys come only from
/// the provider's JWKS.
pub fn split_jws(token: &str) -> Result<CompactJws, JwsError> {
    if token.len() > MAX_ID_TOKEN_LEN {
        return Err(JwsError::TooLong);
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, payload_b64, signature_b64] = parts.as_slice() else {
        return Err(JwsError::NotThreeParts);
    };
    if parts.iter().any(|p| p.is_empty()) {
        return Err(JwsError::NotThreeParts);
    }
    let header = decode_part(header_b64, "header")?;
    let payload = decode_part(payload_b64, "payload")?;
    let signature = decode_part(signature_b64, "signature")?;
    let header = match serde_json::from_slice(&header) {
        Ok(Value::Object(map)) => map,
        _ => return Err(JwsError::NotAnObject("header")),
    };
    let claims = match serde_json::from_slice(&payload) {
        Ok(v @ Value::Object(_)) => v,
        _ => return Err(JwsError::NotAnObject("payload")),
    };
    if !header.get("alg").is_some_and(Value::is_string) {
        return Err(JwsError::MissingAlg);
    }
    if header.get("kid").is_some_and(|k| !k.is_string()) {
        return Err(JwsError::BadKid);
    }
    if header.contains_key("crit") {
        return Err(JwsError::CriticalExtension);
    }
    Ok(CompactJws {
        header,
        claims,
        signing_input: format!("{header_b64}.{payload_b64}"),
        signature,
    })
}

/// Strict base64url: no padding, and canonical (re-encoding gives the same text), so one
/// token has one spelling.
fn decode_part(part: &str, name: &'static str) -> Result<Vec<u8>, JwsError> {
    base64url_decode_strict(part).ok_or(JwsError::BadEncoding(name))
}

// ---------------------------------------------------------------------------------------------
// JWKS (RFC 7517 §5)

/// A public key from the provider's JWKS that can verify ID-token signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationKey {
    /// The key's `kid`, if it has one.
    pub kid: Option<String>,
    /// The one algorithm this key verifies.
    pub alg: IdTokenAlg,
    params: KeyParams,
}

#[derive(Clone, PartialEq, Eq)]
enum KeyParams {
    /// Base64url modulus and exponent, and the modulus length in bytes.
    Rsa { n: String, e: String, n_len: usize },
    /// Base64url coordinates on P-256.
    EcP256 { x: String, y: String },
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerificationKey {
    /// The public key as a minimal JWK for Web Crypto's `importKey("jwk", …)`: only the
    /// members that define the key, so no `use`, `key_ops` or `alg` of the provider's can make
    /// the import fail or widen what the key may do.
    pub fn import_jwk(&self) -> Value {
        match &self.params {
            KeyParams::Rsa { n, e, .. } => {
                serde_json::json!({ "kty": "RSA", "n": n, "e": e, "alg": "RS256" })
            }
            KeyParams::EcP256 { x, y } => {
                serde_json::json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y })
            }
        }
    }

    /// The length every valid signature by this key has: the modulus length for RS256, and 64
    /// bytes (`r || s`, RFC 7518 §3.4) for ES256, so a DER-encoded ECDSA signature is refused.
    pub fn signature_len(&self) -> usize {
        match &self.params {
            KeyParams::Rsa { n_len, .. } => *n_len,
            KeyParams::EcP256 { .. } => 64,
        }
    }
}

/// The provider's signature-verification keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwks {
    keys: Vec<VerificationKey>,
}

impl Jwks {
    /// The keys, in the provider's order.
    pub fn keys(&self) -> &[VerificationKey] {
        &self.keys
    }

    /// The key for a token signed with `alg` and carrying `kid`: the first key with that `kid`
    /// that verifies `alg`. Without a `kid`, the only key that verifies `alg`, if there is
    /// exactly one; several would leave the choice to guesswork, so none is chosen.
    pub fn select(&self, alg: IdTokenAlg, kid: Option<&str>) -> Option<&VerificationKey> {
        let mut compatible = self.keys.iter().filter(|k| k.alg == alg);
        match kid {
            Some(kid) => compatible.find(|k| k.kid.as_deref() == Some(kid)),
            None => match (compatible.next(), compatible.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            },
        }
    }
}

/// Reads a JWKS (`{"keys": [...]}`, RFC 7517 §5) and keeps the keys that can verify an ID
/// token: `use` absent or `sig`; `key_ops`, if present, including `verify`; `alg`, if present,
/// `RS256` or `ES256` to match the key type; `kty` `RSA` with `n` (2048 to 8192 bits) and `e`,
/// or `kty` `EC` with `crv` `P-256` and 32-byte `x` and `y`. Other keys are skipped, not
/// errors, since providers publish encryption keys and newer algorithms alongside; a JWKS
/// with no usable key at all is a problem.
pub fn parse_jwks(body: &[u8]) -> Result<Jwks, ProviderProblem> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|_| problem("the provider's JWKS is not JSON"))?;
    let entries = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| problem("the provider's JWKS has no `keys` array"))?;
    let keys: Vec<VerificationKey> = entries
        .iter()
        .take(MAX_JWKS_KEYS)
        .filter_map(verification_key)
        .collect();
    if keys.is_empty() {
        return Err(problem(
            "the provider's JWKS has no RS256 or ES256 signature-verification key",
        ));
    }
    Ok(Jwks { keys })
}

fn verification_key(jwk: &Value) -> Option<VerificationKey> {
    let jwk = jwk.as_object()?;
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    if jwk.get("use").is_some_and(|u| u.as_str() != Some("sig")) {
        return None;
    }
    if let Some(ops) = jwk.get("key_ops") {
        if !ops
            .as_array()?
            .iter()
            .any(|op| op.as_str() == Some("verify"))
        {
            return None;
        }
    }
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return None,
    };
    let (alg, params) = match member("kty")? {
        "RSA" => {
            let (n, e) = (member("n")?, member("e")?);
            let modulus = base64url_decode_strict(n)?;
            let modulus = &modulus[modulus.iter().take_while(|&&b| b == 0).count()..];
            let bits = modulus.len() * 8 - modulus.first()?.leading_zeros() as usize;
            let exponent = base64url_decode_strict(e)?;
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) || !(1..=8).contains(&exponent.len())
            {
                return None;
            }
            let params = KeyParams::Rsa {
                n: n.to_owned(),
                e: e.to_owned(),
                n_len: modulus.len(),
            };
            (IdTokenAlg::Rs256, params)
        }
        "EC" => {
            let (x, y) = (member("x")?, member("y")?);
            if member("crv")? != "P-256"
                || base64url_decode_strict(x)?.len() != 32
                || base64url_decode_strict(y)?.len() != 32
            {
                return None;
            }
            let params = KeyParams::EcP256 {
                x: x.to_owned(),
                y: y.to_owned(),
            };
            (IdTokenAlg::Es256, params)
        }
        _ => return None,
    };
    if jwk
        .get("alg")
        .is_some_and(|a| a.as_str() != Some(alg_name(alg)))
    {
        return None;
    }
    Some(VerificationKey { kid, alg, params })
}

/// The JWA name of an accepted algorithm (RFC 7518 §3.1).
pub fn alg_name(alg: IdTokenAlg) -> &'static str {
    match alg {
        IdTokenAlg::Rs256 => "RS256",
        IdTokenAlg::Es256 => "ES256",
    }
}

// ---------------------------------------------------------------------------------------------
// The authorization request (OIDC Core §3.1.2.1, RFC 7636 §4.3)

/// What the browser carries to the provider's authorization endpoint.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizationRequest<'a> {
    /// `OIDC_CLIENT_ID`.
    pub client_id: &'a str,
    /// This server's callback, `<origin>/api/auth/callback`.
    pub redirect_uri: &'a str,
    /// `OIDC_SCOPES`, sent space-separated.
    pub scopes: &'a [String],
    /// This sign-in's `state`.
    pub state: &'a str,
    /// This sign-in's `nonce`.
    pub nonce: &'a str,
    /// `BASE64URL(SHA256(code_verifier))`.
    pub code_challenge: &'a str,
    /// `prompt`, when the person asked to choose another account
    /// ([`ProviderMetadata::choose_account_prompt`]).
    pub prompt: Option<&'a str>,
}

/// The `prompt` (OIDC Core §3.1.2.1) that asks the provider to let the person choose the
/// account; `/api/auth/login` takes it too, for "Sign in with another account".
pub const SELECT_ACCOUNT: &str = "select_account";

/// The names of the parameters [`authorization_url`] always sets.
const AUTHORIZATION_PARAMS: [&str; 8] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

/// The URL the browser is redirected to: the authorization endpoint with `response_type=code`,
/// `client_id`, `redirect_uri`, `scope`, `state`, `nonce`, `code_challenge` and
/// `code_challenge_method=S256`, each percent-encoded. A query already on the endpoint is kept
/// (RFC 6749 §3.1), minus any of these parameters (however their names are escaped), since
/// each may appear only once; a fragment, which §3.1 forbids and discovery refuses, is dropped.
pub fn authorization_url(
    authorization_endpoint: &str,
    request: &AuthorizationRequest<'_>,
) -> String {
    let endpoint = authorization_endpoint
        .split_once('#')
        .map_or(authorization_endpoint, |(before, _)| before);
    let (base, existing) = endpoint.split_once('?').unwrap_or((endpoint, ""));
    let mut query: Vec<String> = existing
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            // As the provider's query parser reads the name: `%73tate` is `state` too.
            let name = form_decode(pair.split_once('=').map_or(*pair, |(name, _)| name));
            let ours = AUTHORIZATION_PARAMS.iter().any(|p| p.as_bytes() == name);
            !ours && (request.prompt.is_none() || name != b"prompt")
        })
        .map(str::to_owned)
        .collect();
    let scope = request.scopes.join(" ");
    let values = [
        "code",
        request.client_id,
        request.redirect_uri,
        &scope,
        request.state,
        request.nonce,
        request.code_challenge,
        METHOD_S256,
    ];
    query.extend(
        AUTHORIZATION_PARAMS
            .iter()
            .zip(values)
            .map(|(name, value)| format!("{name}={}", percent_encode(value))),
    );
    if let Some(prompt) = request.prompt {
        query.push(format!("prompt={}", percent_encode(prompt)));
    }
    format!("{base}?{}", query.join("&"))
}

/// Where signing out sends the browser (OIDC RP-Initiated Logout 1.0 §2): the provider's
/// `end_session_endpoint` with `client_id`, `post_logout_redirect_uri` (which the provider must
/// have registered for the client) and the session's ID token as `id_token_hint` when it is
/// at hand (several providers honour the redirect only with it, Okta requires it); a query
/// already on the endpoint is kept.
pub fn end_session_url(
    endpoint: &str,
    client_id: &str,
    post_logout_redirect_uri: &str,
    id_token_hint: Option<&str>,
) -> String {
    let separator = match endpoint.split_once('?') {
        None => "?",
        Some((_, "")) => "",
        Some(_) => "&",
    };
    let hint = id_token_hint
        .map(|token| format!("&id_token_hint={}", percent_encode(token)))
        .unwrap_or_default();
    format!(
        "{endpoint}{separator}client_id={}&post_logout_redirect_uri={}{hint}",
        percent_encode(client_id),
        percent_encode(post_logout_redirect_uri)
    )
}

// ---------------------------------------------------------------------------------------------
// The token request (RFC 6749 §4.1.3, §2.3.1; RFC 7636 §4.5)

/// The `application/x-www-form-urlencoded` body of the token request:
/// `grant_type=authorization_code`, `code`, `redirect_uri` and `code_verifier`. The client
/// authenticates in the `Authorization` header ([`client_secret_basic`]), so neither its id nor
/// its secret is in the body.
pub fn token_request_body(code: &str, redirect_uri: &str, code_verifier: &str) -> String {
    format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
        percent_encode(code),
        percent_encode(redirect_uri),
        percent_encode(code_verifier)
    )
}

/// The `Authorization` header value for `client_secret_basic` (RFC 6749 §2.3.1): the client id
/// and secret are each form-urlencoded first, then `id:secret` is base64-encoded (RFC 7617), so
/// a `:` or a non-ASCII character in either survives.
pub fn client_secret_basic(client_id: &str, client_secret: &str) -> String {
    let credentials = format!(
        "{}:{}",
        percent_encode(client_id),
        percent_encode(client_secret)
    );
    format!("Basic {}", base64_encode(credentials.as_bytes()))
}

/// Why the token endpoint's answer gave no ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenResponseError {
    /// An OAuth error response (RFC 6749 §5.2), e.g. `invalid_grant` for a used or expired
    /// code. Holds the `error` code, reduced to `[a-z0-9_.-]`, at most 64 characters.
    Rejected { error: String },
    /// Anything else: a server error, a non-JSON body, a success without `id_token`.
    Unusable(ProviderProblem),
}

/// What the token endpoint gave: the ID token, and a refresh token if the provider issues them
/// (with `offline_access`, for most), with which edgeauth asks again who the person is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAnswer {
    pub id_token: String,
    pub refresh_token: Option<Secret>,
}

/// What a refresh at the provider's token endpoint gave (OIDC Core §12.2): an ID token, which
/// the provider may leave out, and a new refresh token if it rotated the one used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshAnswer {
    pub id_token: Option<String>,
    pub refresh_token: Option<Secret>,
}

/// Reads the answer to a refresh as [`parse_token_response`] reads a code's, but an ID token
/// is not required.
pub fn parse_refresh_response(
    status: u16,
    body: &[u8],
) -> Result<RefreshAnswer, TokenResponseError> {
    match parse_token_response(status, body) {
        Ok(answer) => Ok(RefreshAnswer {
            id_token: Some(answer.id_token),
            refresh_token: answer.refresh_token,
        }),
        Err(TokenResponseError::Unusable(problem)) if (200..=299).contains(&status) => {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(json)) => Ok(RefreshAnswer {
                    id_token: None,
                    refresh_token: json
                        .get("refresh_token")
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty() && t.len() <= MAX_REFRESH_TOKEN_LEN)
                        .map(Secret::new),
                }),
                _ => Err(TokenResponseError::Unusable(problem)),
            }
        }
        Err(e) => Err(e),
    }
}

/// The body of a refresh at the provider's token endpoint (RFC 6749 §6), the client
/// authenticating in the `Authorization` header as for the code.
pub fn refresh_request_body(refresh_token: &str) -> String {
    format!(
        "grant_type=refresh_token&refresh_token={}",
        percent_encode(refresh_token)
    )
}

/// Reads the token endpoint's answer (RFC 6749 §5.1–5.2, OIDC Core §3.1.3.3, §12.2): a 2xx
/// JSON object with an `id_token` string gives it, with the `refresh_token` if there is one; a
/// 400 or 401 JSON object with an `error` string is a refusal; everything else is an unusable
/// answer. Only the `error` code is kept from a refusal: `error_description` is the provider's
/// free text and is not repeated.
pub fn parse_token_response(status: u16, body: &[u8]) -> Result<TokenAnswer, TokenResponseError> {
    let unusable = |message: String| TokenResponseError::Unusable(ProviderProblem(message));
    let json: Option<Map<String, Value>> = match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    match status {
        200..=299 => {
            let json = json.ok_or_else(|| {
                unusable("the provider's token response is not a JSON object".into())
            })?;
            let id_token = json
                .get("id_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    unusable("the provider's token response has no `id_token` (is the `openid` scope granted?)".into())
                })?;
            let refresh_token = json
                .get("refresh_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty() && t.len() <= MAX_REFRESH_TOKEN_LEN)
                .map(Secret::new);
            Ok(TokenAnswer {
                id_token,
                refresh_token,
            })
        }
        400 | 401 => {
            let error = json
                .as_ref()
                .and_then(|j| j.get("error"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    unusable(format!(
                        "the provider's token endpoint answered HTTP {status} without an OAuth error"
                    ))
                })?;
            Err(TokenResponseError::Rejected {
                error: error_code(error),
            })
        }
        _ => Err(unusable(format!(
            "the provider's token endpoint answered HTTP {status}"
        ))),
    }
}

fn error_code(error: &str) -> String {
    let safe = !error.is_empty()
        && error.len() <= MAX_ERROR_CODE_LEN
        && error.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        });
    if safe {
        error.to_owned()
    } else {
        "unrecognised_error".to_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// The ID token's expectations

/// What an ID token from a refresh must say ([`crate::id_token::check_refreshed_claims`]): as
/// at sign-in, without a nonce, and with no team restriction (the caller holds the teams
/// against `ALLOWED_TEAMS` after storing them, so that what the person may do follows them).
pub fn refresh_expectations(settings: &OidcSettings, now_s: i64) -> Expectations {
    Expectations {
        allowed_teams: None,
        ..expectations(settings, "", now_s)
    }
}

/// What this deployment's ID tokens must say, for one sign-in: `OIDC_ISSUER`, `OIDC_CLIENT_ID`,
/// the nonce of this sign-in, `OIDC_TEAMS_CLAIM` and `ALLOWED_TEAMS`, with the default skew.
pub fn expectations(settings: &OidcSettings, nonce: &str, now_s: i64) -> Expectations {
    Expectations {
        issuer: settings.issuer.clone(),
        client_id: settings.client_id.clone(),
        nonce: nonce.to_owned(),
        now_s,
        skew_s: DEFAULT_SKEW_S,
        teams_claim: settings.teams_claim.clone(),
        allowed_teams: Some(settings.allowed_teams.clone()),
    }
}

// ---------------------------------------------------------------------------------------------
// Messages

/// A provider-supplied string, made safe and short enough to put in a message.
fn printable(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::base64url_encode;
    use serde_json::json;

    const ISS: &str = "https://idp.example.test";

    fn discovery(patch: Value) -> Vec<u8> {
        let mut doc = json!({
            "issuer": ISS,
            "authorization_endpoint": "https://idp.example.test/auth",
            "token_endpoint": "https://idp.example.test/token",
            "jwks_uri": "https://keys.example.test/jwks",
            "response_types_supported": ["code"],
        });
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                doc.as_object_mut().unwrap().remove(k);
            } else {
                doc[k] = v.clone();
            }
        }
        serde_json::to_vec(&doc).unwrap()
    }

    fn discovery_err(patch: Value) -> String {
        parse_discovery(&discovery(patch), ISS).unwrap_err().0
    }

    #[test]
    fn discovery_url_appends_the_well_known_path() {
        assert_eq!(
            discovery_url("https://idp.example.test"),
            "https://idp.example.test/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://login.example.com/tenant/v2.0/"),
            "https://login.example.com/tenant/v2.0/.well-known/openid-configuration"
        );
    }

    #[test]
    fn a_good_discovery_document_gives_the_endpoints() {
        assert_eq!(
            parse_discovery(&discovery(json!({})), ISS),
            Ok(ProviderMetadata {
                authorization_endpoint: "https://idp.example.test/auth".into(),
                token_endpoint: "https://idp.example.test/token".into(),
                jwks_uri: "https://keys.example.test/jwks".into(),
                end_session_endpoint: None,
                choose_account_prompt: "login",
            })
        );
    }

    #[test]
    fn discovery_gives_the_sign_out_endpoint_and_the_prompt_to_choose_an_account() {
        let metadata = parse_discovery(
            &discovery(json!({
                "end_session_endpoint": "https://idp.example.test/session/end",
                "prompt_values_supported": ["none", "login", "select_account"],
            })),
            ISS,
        )
        .unwrap();
        assert_eq!(
            metadata.end_session_endpoint.as_deref(),
            Some("https://idp.example.test/session/end")
        );
        assert_eq!(metadata.choose_account_prompt, "select_account");
        // An unusable end-session endpoint is ignored; sign-in still works.
        let metadata = parse_discovery(
            &discovery(json!({
                "end_session_endpoint": "http://idp.example.test/logout",
                "prompt_values_supported": ["none", "login"],
            })),
            ISS,
        )
        .unwrap();
        assert_eq!(metadata.end_session_endpoint, None);
        assert_eq!(metadata.choose_account_prompt, "login");
        // Only on the issuer's origin, the one the account page's CSP lets the form reach.
        let elsewhere = parse_discovery(
            &discovery(json!({"end_session_endpoint": "https://logout.example.test/end"})),
            ISS,
        )
        .unwrap();
        assert_eq!(elsewhere.end_session_endpoint, None);
    }

    #[test]
    fn the_end_session_url_names_the_client_and_where_to_come_back() {
        assert_eq!(
            end_session_url(
                "https://idp.example.test/session/end",
                "edgeauth",
                "https://auth.example.com/account",
                None
            ),
            "https://idp.example.test/session/end?client_id=edgeauth&post_logout_redirect_uri=https%3A%2F%2Fauth.example.com%2Faccount"
        );
        assert!(end_session_url(
            "https://idp.example.test/logout?tenant=t",
            "c",
            "https://a/",
            None
        )
        .starts_with("https://idp.example.test/logout?tenant=t&client_id=c&"));
        assert!(
            end_session_url("https://i/end", "c", "https://a/", Some("h.p.s"))
                .ends_with("&id_token_hint=h.p.s")
        );
    }

    #[test]
    fn discovery_issuer_must_match_exactly() {
        for other in [
            format!("{ISS}/"),
            ISS.to_uppercase(),
            "https://evil.example.test".into(),
            format!("{ISS}.evil.test"),
            String::new(),
        ] {
            let e = discovery_err(json!({ "issuer": other }));
            assert!(e.contains("must match exactly"), "{other}: {e}");
        }
        // And the other way round: a configured trailing slash is not stripped here.
        assert!(parse_discovery(&discovery(json!({})), &format!("{ISS}/")).is_err());
        assert!(discovery_err(json!({ "issuer": null })).contains("no `issuer`"));
        assert!(discovery_err(json!({ "issuer": 7 })).contains("no `issuer`"));
    }

    #[test]
    fn a_signing_only_issuer_needs_its_issuer_and_keys() {
        let github = br#"{"issuer": "https://token.actions.githubusercontent.com",
            "jwks_uri": "https://token.actions.githubusercontent.com/.well-known/jwks"}"#;
        assert_eq!(
            parse_key_discovery(github, "https://token.actions.githubusercontent.com").unwrap(),
            "https://token.actions.githubusercontent.com/.well-known/jwks"
        );
        assert!(parse_key_discovery(github, "https://gitlab.com").is_err());
        assert!(
            parse_key_discovery(br#"{"issuer": "https://a.example"}"#, "https://a.example")
                .is_err()
        );
        let plain = br#"{"issuer": "https://a.example", "jwks_uri": "http://a.example/keys"}"#;
        assert!(parse_key_discovery(plain, "https://a.example").is_err());
        // The keys must be the issuer's own: a discovery document pointing elsewhere (another
        // host, another port, a look-alike) is refused, whatever the path.
        for elsewhere in [
            "https://keys.example/jwks",
            "https://a.example:8443/jwks",
            "https://a.example.evil/jwks",
            "https://a.exampl/jwks",
        ] {
            let doc =
                format!(r#"{{"issuer": "https://a.example/org/7", "jwks_uri": "{elsewhere}"}}"#);
            let err = parse_key_discovery(doc.as_bytes(), "https://a.example/org/7").unwrap_err();
            assert!(
                err.to_string().contains("outside the issuer's own origin"),
                "{elsewhere}"
            );
        }
        let circleci = br#"{"issuer": "https://A.example/org/7", "jwks_uri": "https://a.example/org/7/.well-known/jwks-pub.json"}"#;
        assert!(parse_key_discovery(circleci, "https://A.example/org/7").is_ok());
    }

    #[test]
    fn discovery_needs_all_three_endpoints() {
        for name in ["authorization_endpoint", "token_endpoint", "jwks_uri"] {
            let e = discovery_err(json!({ name: null }));
            assert!(e.contains(name), "{e}");
            let e = discovery_err(json!({ name: ["https://x.test"] }));
            assert!(e.contains(name), "{e}");
        }
    }

    #[test]
    fn endpoints_must_be_https_or_loopback_http() {
        for bad in [
            "http://idp.example.test/token",
            "http://127.0.0.1.evil.test/token",
            "http://[::2]/token",
            "ftp://idp.example.test/token",
            "//idp.example.test/token",
            "/token",
            "https://",
            "https:///token",
            "https://user:pw@idp.example.test/token",
            "https://idp.example.test/token#frag",
            "https://idp.example.test/to ken",
            "https://idp.example.test/token\n",
            "https://idp.example.test\\token",
            "https://idp.example.test:port/token",
            "https://idp.example.test:/token",
            "https://idp.example.test:+443/token",
            "https://[::1/token",
            "https://idp.exämple.test/token",
        ] {
            assert!(
                parse_discovery(&discovery(json!({ "token_endpoint": bad })), ISS).is_err(),
                "{bad:?}"
            );
        }
        for good in [
            "https://idp.example.test:8443/token?tenant=a",
            "https://idp.example.test",
            "http://127.0.0.1:8788/token",
            "http://localhost:8788/token",
            "http://[::1]:8788/token",
            "http://[::1]/token",
        ] {
            let m = parse_discovery(&discovery(json!({ "token_endpoint": good })), ISS);
            assert_eq!(m.unwrap().token_endpoint, good);
        }
        let e = discovery_err(json!({ "jwks_uri": "http://keys.example.test/jwks" }));
        assert!(e.contains("`jwks_uri`") && e.contains("https"), "{e}");
    }

    #[test]
    fn discovery_refuses_a_provider_without_s256() {
        let e = discovery_err(json!({ "code_challenge_methods_supported": ["plain"] }));
        assert!(e.contains("S256"), "{e}");
        assert!(
            discovery_err(json!({ "code_challenge_methods_supported": "S256" })).contains("S256")
        );
        assert!(parse_discovery(
            &discovery(json!({ "code_challenge_methods_supported": ["plain", "S256"] })),
            ISS
        )
        .is_ok());
    }

    #[test]
    fn discovery_must_be_a_json_object() {
        assert!(parse_discovery(b"<html>", ISS)
            .unwrap_err()
            .0
            .contains("not JSON"));
        assert!(parse_discovery(b"[]", ISS)
            .unwrap_err()
            .0
            .contains("not a JSON object"));
    }

    // --- JWS ---------------------------------------------------------------------------------

    fn b64(v: &Value) -> String {
        base64url_encode(&serde_json::to_vec(v).unwrap())
    }

    fn token(header: &Value, claims: &Value, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64(header),
            b64(claims),
            base64url_encode(signature)
        )
    }

    fn good_token() -> String {
        token(
            &json!({"alg": "RS256", "kid": "k1", "typ": "JWT"}),
            &json!({"iss": ISS, "sub": "ada"}),
            &[7u8; 256],
        )
    }

    #[test]
    fn a_compact_jws_splits_into_its_parts() {
        let t = good_token();
        let jws = split_jws(&t).unwrap();
        assert_eq!(jws.alg(), "RS256");
        assert_eq!(jws.kid(), Some("k1"));
        assert_eq!(jws.claims()["sub"], "ada");
        assert_eq!(jws.signature(), &[7u8; 256]);
        let dot = t.rfind('.').unwrap();
        assert_eq!(jws.signing_input(), &t.as_bytes()[..dot]);
        let debug = format!("{jws:?}");
        assert!(debug.contains("RS256") && !debug.contains("ada"), "{debug}");
    }

    #[test]
    fn a_jws_must_have_exactly_three_non_empty_parts() {
        let t = good_token();
        for bad in [
            String::new(),
            "abc".into(),
            t.rsplit_once('.').unwrap().0.to_owned(),
            format!("{t}.AAAA"),
            format!("{t}."),
            format!("{}.", t.rsplit_once('.').unwrap().0),
            format!(".{}", t.split_once('.').unwrap().1),
            format!("{0}.{0}.{0}.{0}.{0}", "eyJ9"),
        ] {
            assert_eq!(
                split_jws(&bad).unwrap_err(),
                JwsError::NotThreeParts,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_jws_must_be_unpadded_canonical_base64url() {
        let t = good_token();
        let (head, rest) = t.split_once('.').unwrap();
        assert_eq!(
            split_jws(&format!("{head}=.{rest}")).unwrap_err(),
            JwsError::BadEncoding("header")
        );
        let (signed, sig) = t.rsplit_once('.').unwrap();
        assert_eq!(
            split_jws(&format!("{signed}.{sig}==")).unwrap_err(),
            JwsError::BadEncoding("signature")
        );
        let std_alphabet = format!("{signed}.+/{}", &sig[2..]);
        assert_eq!(
            split_jws(&std_alphabet).unwrap_err(),
            JwsError::BadEncoding("signature")
        );
        // A lone trailing symbol, and non-zero trailing bits (a second spelling of the bytes).
        assert_eq!(
            split_jws(&format!("{signed}.AAAAA")).unwrap_err(),
            JwsError::BadEncoding("signature")
        );
        assert!(split_jws(&format!("{signed}.AA")).is_ok());
        assert_eq!(
            split_jws(&format!("{signed}.AB")).unwrap_err(),
            JwsError::BadEncoding("signature")
        );
    }

    #[test]
    fn header_and_payload_must_be_json_objects() {
        let sig = base64url_encode(&[1; 64]);
        let claims = b64(&json!({"sub": "a"}));
        for header in [json!(["RS256"]), json!("RS256"), json!(null), json!(1)] {
            let t = format!("{}.{claims}.{sig}", b64(&header));
            assert_eq!(
                split_jws(&t).unwrap_err(),
                JwsError::NotAnObject("header"),
                "{header}"
            );
        }
        let t = format!("{}.{claims}.{sig}", base64url_encode(b"{not json"));
        assert_eq!(split_jws(&t).unwrap_err(), JwsError::NotAnObject("header"));
        let header = b64(&json!({"alg": "RS256"}));
        for payload in [
            base64url_encode(b"[1]"),
            base64url_encode(b"\"s\""),
            base64url_encode(b"\xff"),
        ] {
            let t = format!("{header}.{payload}.{sig}");
            assert_eq!(split_jws(&t).unwrap_err(), JwsError::NotAnObject("payload"));
        }
    }

    #[test]
    fn the_header_needs_alg_a_string_kid_and_no_crit() {
        let claims = json!({"sub": "a"});
        let err = |header: Value| split_jws(&token(&header, &claims, &[1; 64])).unwrap_err();
        assert_eq!(err(json!({"kid": "k"})), JwsError::MissingAlg);
        assert_eq!(err(json!({"alg": null})), JwsError::MissingAlg);
        assert_eq!(err(json!({"alg": ["RS256"]})), JwsError::MissingAlg);
        assert_eq!(err(json!({"alg": "RS256", "kid": 5})), JwsError::BadKid);
        assert_eq!(
            err(json!({"alg": "RS256", "crit": ["b64"], "b64": false})),
            JwsError::CriticalExtension
        );
        // `alg: none` splits fine; check_header refuses it before any key lookup.
        let none = split_jws(&token(&json!({"alg": "none"}), &claims, &[1])).unwrap();
        assert_eq!(none.alg(), "none");
        assert!(crate::id_token::check_header(none.alg()).is_err());
        // No kid is allowed here; key selection decides.
        assert_eq!(
            split_jws(&token(&json!({"alg": "ES256"}), &claims, &[1; 64]))
                .unwrap()
                .kid(),
            None
        );
    }

    #[test]
    fn a_jws_is_size_capped() {
        let big = token(
            &json!({"alg": "RS256"}),
            &json!({"pad": "x".repeat(MAX_ID_TOKEN_LEN)}),
            &[1; 256],
        );
        assert_eq!(split_jws(&big).unwrap_err(), JwsError::TooLong);
    }

    #[test]
    fn jws_errors_never_repeat_the_token() {
        let t = good_token();
        let tampered = format!("{t}.x");
        let variants = [
            JwsError::TooLong,
            JwsError::NotThreeParts,
            JwsError::BadEncoding("header"),
            JwsError::NotAnObject("payload"),
            JwsError::MissingAlg,
            JwsError::BadKid,
            JwsError::CriticalExtension,
        ];
        let e = split_jws(&tampered).unwrap_err().to_string();
        assert!(!e.contains(&t[..20]));
        for v in variants {
            let m = v.to_string();
            assert!(m.starts_with("the ID token") && !m.contains("eyJ"), "{m}");
        }
    }

    // --- JWKS --------------------------------------------------------------------------------

    fn rsa_jwk(kid: &str) -> Value {
        let mut n = vec![0xc1u8; 256];
        n[255] = 0x01;
        json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
               "n": base64url_encode(&n), "e": "AQAB"})
    }

    fn ec_jwk(kid: &str) -> Value {
        json!({"kty": "EC", "kid": kid, "crv": "P-256",
               "x": base64url_encode(&[3; 32]), "y": base64url_encode(&[4; 32])})
    }

    fn jwks(keys: Vec<Value>) -> Result<Jwks, ProviderProblem> {
        parse_jwks(&serde_json::to_vec(&json!({ "keys": keys })).unwrap())
    }

    fn with(mut jwk: Value, patch: Value) -> Value {
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                jwk.as_object_mut().unwrap().remove(k);
            } else {
                jwk[k] = v.clone();
            }
        }
        jwk
    }

    fn kids(set: &Jwks) -> Vec<Option<&str>> {
        set.keys().iter().map(|k| k.kid.as_deref()).collect()
    }

    #[test]
    fn jwks_keeps_rsa_and_p256_signing_keys() {
        let set = jwks(vec![rsa_jwk("r1"), ec_jwk("e1")]).unwrap();
        assert_eq!(kids(&set), [Some("r1"), Some("e1")]);
        assert_eq!(set.keys()[0].alg, IdTokenAlg::Rs256);
        assert_eq!(set.keys()[0].signature_len(), 256);
        assert_eq!(set.keys()[1].alg, IdTokenAlg::Es256);
        assert_eq!(set.keys()[1].signature_len(), 64);
        let imported = set.keys()[0].import_jwk();
        assert_eq!(imported["kty"], "RSA");
        assert_eq!(imported["e"], "AQAB");
        assert!(imported.get("use").is_none() && imported.get("kid").is_none());
        assert_eq!(
            set.keys()[1].import_jwk(),
            json!({"kty": "EC", "crv": "P-256", "x": base64url_encode(&[3; 32]), "y": base64url_encode(&[4; 32])})
        );
    }

    #[test]
    fn jwks_skips_keys_that_cannot_verify_id_tokens() {
        let rsa = rsa_jwk("k");
        let ec = ec_jwk("k");
        for skipped in [
            with(rsa.clone(), json!({"use": "enc"})),
            with(rsa.clone(), json!({"use": 1})),
            with(rsa.clone(), json!({"key_ops": ["encrypt"]})),
            with(rsa.clone(), json!({"key_ops": "verify"})),
            with(rsa.clone(), json!({"alg": "PS256"})),
            with(rsa.clone(), json!({"alg": "ES256"})),
            with(rsa.clone(), json!({"kid": 3})),
            with(rsa.clone(), json!({"n": null})),
            with(rsa.clone(), json!({"e": null})),
            with(rsa.clone(), json!({"e": ""})),
            with(rsa.clone(), json!({"n": "not base64!"})),
            with(rsa.clone(), json!({"n": base64url_encode(&[0xff; 128])})), // 1024 bits
            with(rsa.clone(), json!({"n": base64url_encode(&[0x00; 300])})),
            with(rsa.clone(), json!({"n": base64url_encode(&[0xff; 1025])})), // 8200 bits
            with(ec.clone(), json!({"crv": "P-384"})),
            with(ec.clone(), json!({"crv": "secp256k1"})),
            with(ec.clone(), json!({"crv": null})),
            with(ec.clone(), json!({"x": base64url_encode(&[3; 31])})),
            with(ec.clone(), json!({"y": base64url_encode(&[4; 48])})),
            with(ec.clone(), json!({"alg": "ES384"})),
            json!({"kty": "oct", "k": "c2VjcmV0", "kid": "k"}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": base64url_encode(&[1; 32])}),
            json!("a string"),
        ] {
            let set = jwks(vec![skipped.clone(), ec_jwk("good")]).unwrap();
            assert_eq!(kids(&set), [Some("good")], "{skipped}");
        }
        // A leading zero byte of the modulus does not count towards its size.
        let mut n = vec![0u8];
        n.extend([0xc1; 256]);
        let padded = jwks(vec![with(rsa.clone(), json!({"n": base64url_encode(&n)}))]).unwrap();
        assert_eq!(padded.keys()[0].signature_len(), 256);
        // `use` and `alg` are optional; `key_ops` with verify is fine.
        let bare = with(
            rsa,
            json!({"use": null, "alg": null, "key_ops": ["verify"]}),
        );
        assert_eq!(jwks(vec![bare]).unwrap().keys().len(), 1);
    }

    #[test]
    fn jwks_without_any_usable_key_is_a_problem() {
        assert!(jwks(vec![]).unwrap_err().0.contains("no RS256 or ES256"));
        assert!(jwks(vec![with(ec_jwk("k"), json!({"crv": "P-521"}))]).is_err());
        assert!(parse_jwks(b"{}").unwrap_err().0.contains("`keys`"));
        assert!(parse_jwks(b"{\"keys\": {}}")
            .unwrap_err()
            .0
            .contains("`keys`"));
        assert!(parse_jwks(b"nope").unwrap_err().0.contains("not JSON"));
    }

    #[test]
    fn keys_are_selected_by_kid_and_algorithm() {
        let set = jwks(vec![rsa_jwk("r1"), rsa_jwk("r2"), ec_jwk("e1")]).unwrap();
        let kid = |alg, kid| set.select(alg, kid).and_then(|k| k.kid.as_deref());
        assert_eq!(kid(IdTokenAlg::Rs256, Some("r2")), Some("r2"));
        assert_eq!(kid(IdTokenAlg::Es256, Some("e1")), Some("e1"));
        // Unknown kid, or a known kid of the other key type.
        assert_eq!(kid(IdTokenAlg::Rs256, Some("r3")), None);
        assert_eq!(kid(IdTokenAlg::Rs256, Some("e1")), None);
        assert_eq!(kid(IdTokenAlg::Es256, Some("r1")), None);
        assert_eq!(kid(IdTokenAlg::Rs256, Some("")), None);
        // Without a kid: the only compatible key, else none.
        assert_eq!(kid(IdTokenAlg::Es256, None), Some("e1"));
        assert_eq!(kid(IdTokenAlg::Rs256, None), None);
        let one = jwks(vec![with(rsa_jwk("x"), json!({"kid": null}))]).unwrap();
        assert!(one.select(IdTokenAlg::Rs256, None).is_some());
        assert!(one.select(IdTokenAlg::Es256, None).is_none());
        // A token's kid never matches a key without one.
        assert!(one.select(IdTokenAlg::Rs256, Some("x")).is_none());
    }

    // --- requests ----------------------------------------------------------------------------

    fn request(scopes: &[String]) -> AuthorizationRequest<'_> {
        AuthorizationRequest {
            client_id: "edgeauth local",
            redirect_uri: "http://127.0.0.1:8787/api/auth/callback",
            scopes,
            state: "st+/=&",
            nonce: "n-0_~.",
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            prompt: None,
        }
    }

    fn scopes() -> Vec<String> {
        vec!["openid".into(), "email".into(), "groups".into()]
    }

    #[test]
    fn the_authorization_url_carries_every_parameter_encoded() {
        let scopes = scopes();
        assert_eq!(
            authorization_url("https://idp.example.test/auth", &request(&scopes)),
            "https://idp.example.test/auth?response_type=code&client_id=edgeauth%20local\
             &redirect_uri=http%3A%2F%2F127.0.0.1%3A8787%2Fapi%2Fauth%2Fcallback\
             &scope=openid%20email%20groups&state=st%2B%2F%3D%26&nonce=n-0_~.\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
        );
    }

    #[test]
    fn a_prompt_asked_for_replaces_the_endpoints_own() {
        let scopes = scopes();
        let request = AuthorizationRequest {
            prompt: Some("select_account"),
            ..request(&scopes)
        };
        let url = authorization_url("https://idp.example.test/auth?prompt=none&t=1", &request);
        assert!(
            url.starts_with("https://idp.example.test/auth?t=1&response_type=code&"),
            "{url}"
        );
        assert!(
            url.ends_with("&code_challenge_method=S256&prompt=select_account"),
            "{url}"
        );
        assert_eq!(url.matches("prompt=").count(), 1, "{url}");
    }

    #[test]
    fn the_authorization_url_keeps_the_endpoint_query() {
        let scopes = scopes();
        let url = authorization_url(
            "https://idp.example.test/auth?tenant=a%20b&prompt=login",
            &request(&scopes),
        );
        assert!(
            url.starts_with(
                "https://idp.example.test/auth?tenant=a%20b&prompt=login&response_type=code&"
            ),
            "{url}"
        );
        // Our parameters appear once each, with our values.
        let url = authorization_url(
            "https://idp.example.test/auth?client_id=evil&x=1&state=old&&",
            &request(&scopes),
        );
        assert!(
            url.starts_with("https://idp.example.test/auth?x=1&response_type=code&"),
            "{url}"
        );
        assert_eq!(url.matches("client_id=").count(), 1);
        assert_eq!(url.matches("state=").count(), 1);
        // Names are compared as the provider reads them, escapes decoded.
        let url = authorization_url(
            "https://idp.example.test/auth?%73tate=old&x=1&client%5Fid=evil&re%73ponse_type=token",
            &request(&scopes),
        );
        assert!(
            url.starts_with("https://idp.example.test/auth?x=1&response_type=code&"),
            "{url}"
        );
        let url = authorization_url("https://idp.example.test/auth?", &request(&scopes));
        assert!(
            url.starts_with("https://idp.example.test/auth?response_type=code&"),
            "{url}"
        );
        let url = authorization_url("https://idp.example.test/auth#f", &request(&scopes));
        assert!(
            !url.contains('#') && url.contains("/auth?response_type"),
            "{url}"
        );
    }

    #[test]
    fn the_token_request_body_is_form_encoded() {
        assert_eq!(
            token_request_body(
                "c0de+/=& é",
                "http://127.0.0.1:8787/api/auth/callback",
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
            ),
            "grant_type=authorization_code&code=c0de%2B%2F%3D%26%20%C3%A9\
             &redirect_uri=http%3A%2F%2F127.0.0.1%3A8787%2Fapi%2Fauth%2Fcallback\
             &code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
    }

    #[test]
    fn client_secret_basic_encodes_before_base64() {
        // RFC 6749 §2.3.1's example.
        assert_eq!(
            client_secret_basic("s6BhdRkqt3", "7Fjfp0ZBr1KtDRbnfVdmIw"),
            "Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3"
        );
        // `a:b` / `p%ss wörd` → `a%3Ab:p%25ss%20w%C3%B6rd`: the id's colon cannot split it.
        assert_eq!(
            client_secret_basic("a:b", "p%ss wörd"),
            format!("Basic {}", base64_encode(b"a%3Ab:p%25ss%20w%C3%B6rd"))
        );
    }

    #[test]
    fn a_token_response_gives_the_id_token_and_any_refresh_token() {
        let body = json!({"access_token": "at", "token_type": "Bearer", "id_token": "a.b.c", "expires_in": 600});
        assert_eq!(
            parse_token_response(200, &serde_json::to_vec(&body).unwrap()),
            Ok(TokenAnswer {
                id_token: "a.b.c".into(),
                refresh_token: None
            })
        );
        let with = |refresh: Value| {
            let body = json!({"id_token": "a.b.c", "refresh_token": refresh});
            parse_token_response(200, &serde_json::to_vec(&body).unwrap())
                .unwrap()
                .refresh_token
        };
        assert_eq!(with(json!("rt-1")), Some(Secret::new("rt-1")));
        // Not a usable one: none.
        assert_eq!(with(json!("")), None);
        assert_eq!(with(json!(5)), None);
        assert_eq!(with(json!("x".repeat(MAX_REFRESH_TOKEN_LEN + 1))), None);
        assert_eq!(
            refresh_request_body("a+b/c="),
            "grant_type=refresh_token&refresh_token=a%2Bb%2Fc%3D"
        );
    }

    #[test]
    fn a_refresh_answer_may_leave_the_id_token_out() {
        let parse = |v: Value| parse_refresh_response(200, &serde_json::to_vec(&v).unwrap());
        assert_eq!(
            parse(json!({"access_token": "at", "refresh_token": "rt-2"})),
            Ok(RefreshAnswer {
                id_token: None,
                refresh_token: Some(Secret::new("rt-2"))
            })
        );
        assert_eq!(
            parse(json!({"id_token": "a.b.c"})),
            Ok(RefreshAnswer {
                id_token: Some("a.b.c".into()),
                refresh_token: None
            })
        );
        assert!(parse_refresh_response(200, b"<html>").is_err());
        assert!(matches!(
            parse_refresh_response(400, br#"{"error": "invalid_grant"}"#),
            Err(TokenResponseError::Rejected { .. })
        ));
    }

    #[test]
    fn token_refusals_keep_only_a_safe_error_code() {
        let body = |v: Value| serde_json::to_vec(&v).unwrap();
        let rejected = |error: &str| TokenResponseError::Rejected {
            error: error.into(),
        };
        assert_eq!(
            parse_token_response(
                400,
                &body(json!({"error": "invalid_grant", "error_description": "code abc123 used"}))
            ),
            Err(rejected("invalid_grant"))
        );
        assert_eq!(
            parse_token_response(401, &body(json!({"error": "invalid_client"}))),
            Err(rejected("invalid_client"))
        );
        for hostile in ["<script>", "Invalid Grant", "", &"x".repeat(65), "a\nb"] {
            assert_eq!(
                parse_token_response(400, &body(json!({"error": hostile}))),
                Err(rejected("unrecognised_error")),
                "{hostile:?}"
            );
        }
    }

    #[test]
    fn unusable_token_responses_are_provider_problems() {
        let unusable = |status, body: &[u8]| match parse_token_response(status, body) {
            Err(TokenResponseError::Unusable(p)) => p.0,
            other => panic!("{other:?}"),
        };
        assert!(unusable(200, b"<html>").contains("not a JSON object"));
        assert!(unusable(200, b"{\"access_token\": \"at\"}").contains("no `id_token`"));
        assert!(unusable(200, b"{\"id_token\": 5}").contains("no `id_token`"));
        assert!(unusable(200, b"{\"id_token\": \"\"}").contains("no `id_token`"));
        assert!(unusable(400, b"bad request").contains("HTTP 400"));
        assert!(unusable(400, b"{\"error\": 1}").contains("HTTP 400"));
        assert!(unusable(500, b"{\"error\": \"server_error\"}").contains("HTTP 500"));
        assert!(unusable(302, b"").contains("HTTP 302"));
        assert!(unusable(403, b"{\"error\": \"access_denied\"}").contains("HTTP 403"));
    }

    #[test]
    fn expectations_carry_the_settings_and_the_team_restriction() {
        let settings = OidcSettings {
            issuer: ISS.into(),
            client_id: "edgeauth".into(),
            client_secret: "s3cret-s3cret-s3cret".into(),
            scopes: scopes(),
            teams_claim: "teams".into(),
            allowed_teams: vec!["eng".into()],
        };
        let e = expectations(&settings, "n1", 1_795_000_000);
        assert_eq!(
            (e.issuer.as_str(), e.client_id.as_str(), e.nonce.as_str()),
            (ISS, "edgeauth", "n1")
        );
        assert_eq!((e.now_s, e.skew_s), (1_795_000_000, DEFAULT_SKEW_S));
        assert_eq!(e.teams_claim, "teams");
        assert_eq!(e.allowed_teams, Some(vec!["eng".to_owned()]));
        let claims = json!({"iss": ISS, "aud": "edgeauth", "sub": "a", "nonce": "n1",
            "exp": 1_795_000_300, "iat": 1_795_000_000, "email": "a@example.test",
            "email_verified": true, "teams": ["ops"]});
        assert_eq!(
            crate::id_token::check_claims(&claims, &e),
            Err(crate::id_token::ClaimError::NotInAllowedTeam)
        );
    }

    #[test]
    fn provider_strings_in_messages_are_made_printable() {
        let e = discovery_err(json!({ "issuer": "https://x.test/\n\u{1b}[31m" }));
        assert!(!e.contains('\n') && !e.contains('\u{1b}'), "{e}");
        let long = discovery_err(json!({ "issuer": "y".repeat(500) }));
        assert!(long.len() < 450, "{}", long.len());
    }
}
