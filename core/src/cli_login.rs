//! The CLI loopback login (RFC 8252, with PKCE between the CLI and the server, RFC 7636): the
//! parameters of `/api/auth/cli-start`, the single-use code and what KV keeps about it, and the
//! checks of `/api/auth/cli-exchange`. The Worker does the HTTP, KV and D1 around these rules.
//!
//! The code itself is never stored: KV holds a [`PendingLogin`] under the SHA-256 of the code
//! ([`kv_key`]), D1 holds the same under the same hash (read when KV has not caught up), and
//! single use is decided in D1 by the ledger of consumed code hashes.

use core::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crypto::TokenHash;
use crate::encoding::{base64url_encode, form_decode, percent_encode};
use crate::loopback::LoopbackRedirect;
use crate::pkce;
use crate::return_to::safe_return_to;
use crate::token_request::token_name;
use crate::Entropy;

/// The browser endpoint that starts a CLI login, and to which the consent form posts.
pub const CLI_START_PATH: &str = "/api/auth/cli-start";
/// How long a code is redeemable, in seconds: the KV TTL and the record's own expiry (KV's
/// TTL is enforced lazily, so the expiry is checked at exchange too).
pub const CODE_TTL_S: i64 = 120;
/// The prefix of a code's KV key; the rest is the hex SHA-256 of the code.
pub const KV_PREFIX: &str = "cli-code:";
/// The token name when the CLI sends no `name`.
pub const DEFAULT_CLIENT_NAME: &str = "edgeauth CLI";
/// Shortest accepted `state`, in characters (the CLI sends 256 bits: 43).
pub const MIN_STATE_LEN: usize = 16;
/// Longest accepted `state`, in characters.
pub const MAX_STATE_LEN: usize = 256;
/// Length of a code: 256 bits in unpadded base64url.
pub const CODE_LEN: usize = 43;

/// A validated `cli-start` request: where to send the code, the CLI's `state` and PKCE
/// challenge, and the name of the token the CLI asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliLoginRequest {
    /// The CLI's loopback listener (see [`LoopbackRedirect::parse`]).
    pub redirect: LoopbackRedirect,
    /// Echoed back to the CLI with the code, unchanged.
    pub state: String,
    /// `BASE64URL(SHA256(code_verifier))`; only `S256` is accepted.
    pub code_challenge: String,
    /// The name of the token to create, describing the machine (`edgeauth CLI on laptop`).
    pub name: String,
}

impl CliLoginRequest {
    /// Validates the parameters of `GET /api/auth/cli-start` (its query) or of the consent
    /// form (its body), given a lookup of one parameter by name, explaining the first problem.
    ///
    /// - `redirect_uri`: a loopback redirect (RFC 8252 §7.3, [`LoopbackRedirect::parse`]);
    /// - `state`: [`MIN_STATE_LEN`]..=[`MAX_STATE_LEN`] characters of `[A-Za-z0-9._~-]`;
    /// - `code_challenge` with `code_challenge_method=S256` (RFC 7636 §4.3; `plain` refused);
    /// - `name` (optional, default [`DEFAULT_CLIENT_NAME`]): see [`client_name`].
    pub fn from_params(param: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let redirect_uri = param("redirect_uri").ok_or(
            "`redirect_uri` is required: the CLI's loopback address, e.g. http://127.0.0.1:PORT/callback",
        )?;
        let redirect = LoopbackRedirect::parse(&redirect_uri)?;
        let state = param("state").ok_or("`state` is required")?;
        validate_state(&state)?;
        let code_challenge = param("code_challenge")
            .ok_or("`code_challenge` is required (PKCE, RFC 7636, method S256)")?;
        pkce::validate_challenge(&code_challenge, param("code_challenge_method").as_deref())?;
        let name = client_name(param("name").as_deref())?;
        Ok(Self {
            redirect,
            state,
            code_challenge,
            name,
        })
    }

    /// This request as a path on our origin, to come back to after signing in
    /// (`/api/auth/login?return_to=…`): every value percent-encoded, `project` kept when the
    /// request named one. `None` when it is longer than `return_to` allows (1024 bytes), which
    /// only an unusually long `redirect_uri`, `state` or `name` can cause.
    pub fn return_path(&self, project: Option<&str>) -> Option<String> {
        let mut path = format!(
            "{CLI_START_PATH}?redirect_uri={}&state={}&code_challenge={}&code_challenge_method={}&name={}",
            percent_encode(self.redirect.as_str()),
            percent_encode(&self.state),
            percent_encode(&self.code_challenge),
            pkce::METHOD_S256,
            percent_encode(&self.name),
        );
        if let Some(project) = project {
            path.push_str("&project=");
            path.push_str(&percent_encode(project));
        }
        safe_return_to(&path)
    }

    /// The request a sign-in was begun for, when its `return_to` is a [`return_path`]
    /// (`/api/auth/cli-start?…`), re-validated; `None` for any other path. A sign-in the
    /// server refuses can then answer the waiting CLI instead of leaving it to time out.
    ///
    /// [`return_path`]: CliLoginRequest::return_path
    pub fn from_return_path(path: &str) -> Option<Self> {
        let query = path.strip_prefix(CLI_START_PATH)?.strip_prefix('?')?;
        let pairs: Vec<(String, String)> = query
            .split('&')
            .filter_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                let text = |t: &str| String::from_utf8(form_decode(t)).ok();
                Some((text(name)?, text(value)?))
            })
            .collect();
        let param = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        Self::from_params(param).ok()
    }
}

/// Checks the CLI's `state`: [`MIN_STATE_LEN`]..=[`MAX_STATE_LEN`] characters of RFC 3986
/// unreserved characters, so it survives every URL it travels in unchanged.
pub fn validate_state(state: &str) -> Result<(), String> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if !(MIN_STATE_LEN..=MAX_STATE_LEN).contains(&state.len()) || !state.bytes().all(unreserved) {
        return Err(format!(
            "`state` must be {MIN_STATE_LEN} to {MAX_STATE_LEN} characters of letters, digits and `-`, `.`, `_`, `~`"
        ));
    }
    Ok(())
}

/// The token name a CLI asks for: absent means [`DEFAULT_CLIENT_NAME`]; otherwise the rule of
/// every token name (1 to 100 characters, trimmed, no control characters), and, since the
/// consent page shows it to a person, no invisible characters that reorder or hide text
/// (bidirectional overrides and isolates, zero-width characters, line separators).
pub fn client_name(name: Option<&str>) -> Result<String, String> {
    let Some(name) = name else {
        return Ok(DEFAULT_CLIENT_NAME.to_owned());
    };
    let name = token_name(Some(&Value::from(name)))?;
    let invisible = |c: char| {
        matches!(c,
            '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
    };
    if name.chars().any(invisible) {
        return Err(
            "`name` cannot contain invisible or text-direction characters (U+200B–U+200F, U+202A–U+202E, U+2066–U+2069, …)"
                .to_owned(),
        );
    }
    Ok(name)
}

/// A login code: 256 bits from the CSPRNG, unpadded base64url. The plaintext lives only in
/// the redirect to the CLI and in its exchange request; storage sees [`LoopbackCode::hash`].
#[derive(Clone, PartialEq, Eq)]
pub struct LoopbackCode(String);

impl LoopbackCode {
    /// A fresh code.
    pub fn generate(entropy: &mut dyn Entropy) -> Self {
        let mut bytes = [0u8; 32];
        entropy.fill(&mut bytes);
        Self(base64url_encode(&bytes))
    }

    /// A presented code, if it has the shape of one ([`CODE_LEN`] base64url characters), so
    /// that garbage never reaches KV.
    pub fn parse(presented: &str) -> Option<Self> {
        (presented.len() == CODE_LEN
            && presented
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| Self(presented.to_owned()))
    }

    /// The plaintext, for the redirect to the CLI.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The SHA-256 of the code: its KV key and its row in the consumed-code ledger.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for LoopbackCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LoopbackCode(<redacted>)")
    }
}

/// The KV key of a code: [`KV_PREFIX`] and the hex SHA-256 of the code.
pub fn kv_key(code_hash: &TokenHash) -> String {
    format!("{KV_PREFIX}{}", code_hash.as_hex())
}

/// What KV keeps about an approved login, under [`kv_key`], and D1 under the code's hash;
/// never the code itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The person who approved it; the token acts as them.
    pub user_id: String,
    /// The project the token will be valid in.
    pub project: String,
    /// The token's name.
    pub name: String,
    /// The redirect the code was sent to, exactly as given; the exchange must repeat it.
    pub redirect_uri: String,
    /// The PKCE challenge the exchange's verifier must answer.
    pub code_challenge: String,
    /// Unix milliseconds after which the code is refused.
    pub expires_at: i64,
}

impl PendingLogin {
    /// The record of `request`, approved by `user_id` in `project` at `now_ms`.
    pub fn new(request: &CliLoginRequest, user_id: &str, project: &str, now_ms: i64) -> Self {
        Self {
            user_id: user_id.to_owned(),
            project: project.to_owned(),
            name: request.name.clone(),
            redirect_uri: request.redirect.as_str().to_owned(),
            code_challenge: request.code_challenge.clone(),
            expires_at: now_ms + CODE_TTL_S * 1000,
        }
    }

    /// The JSON stored in KV.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a struct of strings and integers serialises")
    }

    /// Reads the JSON stored in KV.
    pub fn from_json(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| format!("malformed pending CLI login: {e}"))
    }

    /// Whether `exchange` may redeem this code at `now_ms` (RFC 6749 §4.1.3, RFC 7636 §4.6):
    /// not expired, the same `redirect_uri` (exact string), a verifier whose S256 challenge
    /// is the stored one (constant-time). Single use is decided afterwards, in D1.
    pub fn check_exchange(
        &self,
        exchange: &ExchangeRequest,
        now_ms: i64,
    ) -> Result<(), ExchangeError> {
        if now_ms >= self.expires_at {
            return Err(ExchangeError::InvalidGrant {
                description:
                    "the code expired (codes live 120 seconds); run `edgeauth login` again",
                burns_code: false,
            });
        }
        if exchange.redirect_uri != self.redirect_uri {
            return Err(ExchangeError::InvalidGrant {
                description: "`redirect_uri` is not the one the code was issued to; the code is no longer valid",
                burns_code: true,
            });
        }
        if !pkce::verify(&exchange.code_verifier, &self.code_challenge) {
            return Err(ExchangeError::InvalidGrant {
                description: "`code_verifier` does not match the code's `code_challenge`; the code is no longer valid",
                burns_code: true,
            });
        }
        Ok(())
    }
}

/// A validated `POST /api/auth/cli-exchange` body: `{"code", "code_verifier", "redirect_uri"}`.
/// Other fields are ignored, as RFC 6749 §3.2 asks of a token endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct ExchangeRequest {
    pub code: LoopbackCode,
    pub code_verifier: String,
    pub redirect_uri: String,
}

impl fmt::Debug for ExchangeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeRequest")
            .field("code", &self.code)
            .field("code_verifier", &"<redacted>")
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

impl ExchangeRequest {
    /// Validates the parsed body: each field present and a string (`invalid_request`), the
    /// verifier well-formed (RFC 7636 §4.1, `invalid_request`); a string that cannot be a code
    /// is an unknown code (`invalid_grant`).
    pub fn from_json(body: &Value) -> Result<Self, ExchangeError> {
        let object = body.as_object().ok_or_else(|| {
            ExchangeError::InvalidRequest(
                "the body must be a JSON object {\"code\", \"code_verifier\", \"redirect_uri\"}"
                    .to_owned(),
            )
        })?;
        let field = |name: &str| match object.get(name) {
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(ExchangeError::InvalidRequest(format!(
                "`{name}` must be a string"
            ))),
            None => Err(ExchangeError::InvalidRequest(format!(
                "`{name}` is required"
            ))),
        };
        let code = field("code")?;
        let code_verifier = field("code_verifier")?;
        let redirect_uri = field("redirect_uri")?;
        pkce::validate_verifier(code_verifier).map_err(ExchangeError::InvalidRequest)?;
        let code = LoopbackCode::parse(code).ok_or(ExchangeError::UNKNOWN_CODE)?;
        Ok(Self {
            code,
            code_verifier: code_verifier.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
        })
    }
}

/// Why an exchange was refused, as an RFC 6749 §5.2 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeError {
    /// `invalid_request`: a field is missing or mistyped.
    InvalidRequest(String),
    /// `invalid_grant`: unknown, expired or redeemed code, or a redirect or verifier that is
    /// not the code's. `burns_code` when a live code was presented by someone who could not
    /// complete it (RFC 6749 §4.1.2: a code may be revoked on misuse).
    InvalidGrant {
        description: &'static str,
        burns_code: bool,
    },
}

impl ExchangeError {
    /// No such code: never issued, expired and gone from KV, or garbage.
    pub const UNKNOWN_CODE: ExchangeError = ExchangeError::InvalidGrant {
        description: "the code is unknown or expired; run `edgeauth login` again",
        burns_code: false,
    };
    /// Another exchange redeemed the code first.
    pub const ALREADY_REDEEMED: ExchangeError = ExchangeError::InvalidGrant {
        description: "the code was already redeemed; run `edgeauth login` again",
        burns_code: false,
    };

    /// The RFC 6749 §5.2 `error` value.
    pub fn error_code(&self) -> &'static str {
        match self {
            ExchangeError::InvalidRequest(_) => "invalid_request",
            ExchangeError::InvalidGrant { .. } => "invalid_grant",
        }
    }

    /// The `error_description`.
    pub fn description(&self) -> &str {
        match self {
            ExchangeError::InvalidRequest(d) => d,
            ExchangeError::InvalidGrant { description, .. } => description,
        }
    }

    /// Whether the code must be marked consumed before answering.
    pub fn burns_code(&self) -> bool {
        matches!(
            self,
            ExchangeError::InvalidGrant {
                burns_code: true,
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::return_to::MAX_RETURN_TO_LEN;
    use serde_json::json;
    use std::collections::HashMap;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const STATE: &str = "Zm9vYmFyYmF6cXV4cXV1eHF1dXpxdXV6cXV1enF1dXo";
    const REDIRECT: &str = "http://127.0.0.1:53682/callback";

    use crate::test_entropy::Counter;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn good() -> HashMap<String, String> {
        params(&[
            ("redirect_uri", REDIRECT),
            ("state", STATE),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("name", "edgeauth CLI on laptop"),
        ])
    }

    fn parse(p: &HashMap<String, String>) -> Result<CliLoginRequest, String> {
        CliLoginRequest::from_params(|name| p.get(name).cloned())
    }

    fn without(key: &str) -> HashMap<String, String> {
        let mut p = good();
        p.remove(key);
        p
    }

    fn with(key: &str, value: &str) -> HashMap<String, String> {
        let mut p = good();
        p.insert(key.to_owned(), value.to_owned());
        p
    }

    #[test]
    fn accepts_a_cli_request() {
        let r = parse(&good()).unwrap();
        assert_eq!(r.redirect.as_str(), REDIRECT);
        assert_eq!(r.state, STATE);
        assert_eq!(r.code_challenge, CHALLENGE);
        assert_eq!(r.name, "edgeauth CLI on laptop");
        assert_eq!(
            parse(&without("name")).unwrap().name,
            DEFAULT_CLIENT_NAME,
            "name is optional"
        );
        assert_eq!(parse(&with("name", "  box  ")).unwrap().name, "box");
    }

    #[test]
    fn every_required_parameter_is_named_when_missing() {
        for key in ["redirect_uri", "state", "code_challenge"] {
            let err = parse(&without(key)).unwrap_err();
            assert!(err.contains(key), "{key}: {err}");
        }
        assert!(parse(&without("code_challenge_method"))
            .unwrap_err()
            .contains("S256"));
    }

    #[test]
    fn refuses_every_redirect_that_is_not_a_loopback_ip_literal() {
        for bad in [
            "http://localhost:1/cb",
            "http://127.0.0.1@evil.test/",
            "http://127.0.0.1.evil.test/",
            "https://127.0.0.1:1/",
            "javascript:alert(1)",
            "http://evil.test/",
            "http://127.0.0.1:8080/#x",
        ] {
            assert!(parse(&with("redirect_uri", bad)).is_err(), "{bad}");
        }
        assert!(parse(&with("redirect_uri", "http://[::1]:8080/cb")).is_ok());
    }

    #[test]
    fn state_is_16_to_256_unreserved_characters() {
        assert!(validate_state(&"a".repeat(15)).is_err());
        assert!(validate_state(&"a".repeat(16)).is_ok());
        assert!(validate_state(&"a".repeat(256)).is_ok());
        assert!(validate_state(&"a".repeat(257)).is_err());
        assert!(validate_state("").is_err());
        assert!(validate_state("abcdefghijklmno-._~").is_ok());
        for bad in ["&", "#", " ", "%", "/", "+", "=", "é", "\n"] {
            assert!(
                validate_state(&format!("abcdefghijklmnop{bad}")).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn plain_pkce_and_malformed_challenges_are_refused() {
        assert!(parse(&with("code_challenge_method", "plain")).is_err());
        assert!(parse(&with("code_challenge_method", "s256")).is_err());
        assert!(parse(&with("code_challenge", &CHALLENGE[..42])).is_err());
        assert!(parse(&with("code_challenge", VERIFIER.replace('-', "+").as_str())).is_err());
    }

    #[test]
    fn names_are_printable_and_at_most_100_characters() {
        assert_eq!(client_name(None).unwrap(), DEFAULT_CLIENT_NAME);
        assert_eq!(client_name(Some("laptop")).unwrap(), "laptop");
        assert_eq!(
            client_name(Some(&"é".repeat(100))).unwrap(),
            "é".repeat(100)
        );
        assert!(client_name(Some(&"x".repeat(101))).is_err());
        assert!(client_name(Some("")).is_err());
        assert!(client_name(Some("   ")).is_err());
        for bad in [
            "a\nb",
            "a\u{7}b",
            "a\u{0}b",
            "a\u{202E}b",
            "a\u{2066}b",
            "a\u{200B}b",
            "a\u{FEFF}b",
            "a\u{2028}b",
        ] {
            assert!(client_name(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_return_path_is_a_safe_return_to_that_parses_back_to_the_same_request() {
        let request = parse(&good()).unwrap();
        let path = request.return_path(Some("p1")).unwrap();
        assert!(path.starts_with(
            "/api/auth/cli-start?redirect_uri=http%3A%2F%2F127.0.0.1%3A53682%2Fcallback&state="
        ));
        assert!(path.ends_with("&name=edgeauth%20CLI%20on%20laptop&project=p1"));
        assert_eq!(safe_return_to(&path).as_deref(), Some(path.as_str()));
        // What a browser would send back: the query, decoded.
        let query: HashMap<String, String> = path
            .split_once('?')
            .unwrap()
            .1
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                (k.to_owned(), percent_decode(v))
            })
            .collect();
        assert_eq!(parse(&query).unwrap(), request);
        assert_eq!(query["project"], "p1");
        assert!(!request.return_path(None).unwrap().contains("project"));
        assert_eq!(CliLoginRequest::from_return_path(&path), Some(request));
    }

    #[test]
    fn only_a_valid_cli_start_return_path_names_a_waiting_cli() {
        let request = parse(&good()).unwrap();
        let path = request.return_path(None).unwrap();
        assert_eq!(CliLoginRequest::from_return_path(&path), Some(request));
        for other in [
            "/account",
            "/account?redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcallback",
            "/api/auth/cli-startle?x=1",
            "/api/auth/cli-start",
            // A redirect that is not a loopback, or a request missing its state.
            &path.replace("127.0.0.1", "evil.example"),
            &path.replace("state=", "stat="),
        ] {
            assert_eq!(CliLoginRequest::from_return_path(other), None, "{other}");
        }
    }

    #[test]
    fn a_typical_request_fits_return_to_and_an_oversized_one_is_refused() {
        let long_host = with(
            "name",
            "edgeauth CLI on a-rather-long-hostname.build-farm.eu-west-1.example.internal",
        );
        let path = parse(&long_host)
            .unwrap()
            .return_path(Some("my-project"))
            .unwrap();
        assert!(path.len() < MAX_RETURN_TO_LEN / 2, "{}", path.len());
        // 100 four-byte characters percent-encode to 1200 bytes: too long to come back to.
        let huge = with("name", &"\u{1F600}".repeat(100));
        assert_eq!(parse(&huge).unwrap().return_path(None), None);
    }

    fn percent_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn codes_are_256_bits_of_base64url_and_redact_themselves() {
        let code = LoopbackCode::generate(&mut Counter(0));
        assert_eq!(code.as_str().len(), CODE_LEN);
        assert_eq!(LoopbackCode::parse(code.as_str()), Some(code.clone()));
        assert_ne!(code, LoopbackCode::generate(&mut Counter(100)));
        assert_eq!(format!("{code:?}"), "LoopbackCode(<redacted>)");
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}=", "a".repeat(42)),
            &format!("{}+", "a".repeat(42)),
        ] {
            assert_eq!(LoopbackCode::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_kv_key_is_the_hash_never_the_code() {
        let code = LoopbackCode::generate(&mut Counter(7));
        let key = kv_key(&code.hash());
        assert_eq!(
            key,
            format!("cli-code:{}", crate::sha256_hex(code.as_str().as_bytes()))
        );
        assert!(!key.contains(code.as_str()));
        assert_eq!(key.len(), KV_PREFIX.len() + 64);
    }

    fn pending(now: i64) -> PendingLogin {
        PendingLogin::new(&parse(&good()).unwrap(), "usr_1", "default", now)
    }

    fn exchange(verifier: &str, redirect: &str) -> ExchangeRequest {
        ExchangeRequest {
            code: LoopbackCode::generate(&mut Counter(0)),
            code_verifier: verifier.to_owned(),
            redirect_uri: redirect.to_owned(),
        }
    }

    #[test]
    fn the_kv_record_has_the_documented_shape_and_no_code() {
        let record = pending(1_000);
        let stored: Value = serde_json::from_str(&record.to_json()).unwrap();
        assert_eq!(
            stored,
            json!({"user_id": "usr_1", "project": "default", "name": "edgeauth CLI on laptop",
                   "redirect_uri": REDIRECT, "code_challenge": CHALLENGE, "expires_at": 121_000})
        );
        assert_eq!(PendingLogin::from_json(&record.to_json()).unwrap(), record);
        assert!(PendingLogin::from_json("{}").is_err());
    }

    #[test]
    fn an_exchange_needs_the_same_redirect_the_right_verifier_and_time_left() {
        let record = pending(0);
        assert_eq!(
            record.check_exchange(&exchange(VERIFIER, REDIRECT), 119_999),
            Ok(())
        );
        let expired = record
            .check_exchange(&exchange(VERIFIER, REDIRECT), 120_000)
            .unwrap_err();
        assert_eq!(expired.error_code(), "invalid_grant");
        assert!(expired.description().contains("expired"));
        assert!(!expired.burns_code());

        let wrong_verifier = "eBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let err = record
            .check_exchange(&exchange(wrong_verifier, REDIRECT), 1)
            .unwrap_err();
        assert_eq!(err.error_code(), "invalid_grant");
        assert!(err.description().contains("code_verifier"));
        assert!(err.burns_code(), "a wrong verifier burns the code");
        // `plain`: the challenge itself as the verifier.
        assert!(record
            .check_exchange(&exchange(CHALLENGE, REDIRECT), 1)
            .is_err());

        for other in [
            "http://127.0.0.1:53682/callback/",
            "http://127.0.0.1:53683/callback",
            "http://[::1]:53682/callback",
            "HTTP://127.0.0.1:53682/callback",
            "http://127.0.0.1:53682/Callback",
        ] {
            let err = record
                .check_exchange(&exchange(VERIFIER, other), 1)
                .unwrap_err();
            assert!(err.description().contains("redirect_uri"), "{other}");
            assert!(err.burns_code());
        }
    }

    #[test]
    fn exchange_bodies_name_the_missing_or_mistyped_field() {
        let code = LoopbackCode::generate(&mut Counter(3));
        let body = json!({"code": code.as_str(), "code_verifier": VERIFIER, "redirect_uri": REDIRECT, "grant_type": "ignored"});
        let parsed = ExchangeRequest::from_json(&body).unwrap();
        assert_eq!(parsed.code, code);
        assert_eq!(parsed.redirect_uri, REDIRECT);
        assert!(!format!("{parsed:?}").contains(VERIFIER));
        assert!(!format!("{parsed:?}").contains(code.as_str()));

        for field in ["code", "code_verifier", "redirect_uri"] {
            let mut missing = body.clone();
            missing.as_object_mut().unwrap().remove(field);
            let err = ExchangeRequest::from_json(&missing).unwrap_err();
            assert_eq!(err.error_code(), "invalid_request");
            assert!(err.description().contains(field), "{field}");
            let mut mistyped = body.clone();
            mistyped[field] = json!(42);
            let err = ExchangeRequest::from_json(&mistyped).unwrap_err();
            assert_eq!(err.error_code(), "invalid_request");
            assert!(err.description().contains(field), "{field}");
        }
        assert_eq!(
            ExchangeRequest::from_json(&json!([]))
                .unwrap_err()
                .error_code(),
            "invalid_request"
        );
        let mut short_verifier = body.clone();
        short_verifier["code_verifier"] = json!("abc");
        assert_eq!(
            ExchangeRequest::from_json(&short_verifier)
                .unwrap_err()
                .error_code(),
            "invalid_request"
        );
        let mut garbage_code = body.clone();
        garbage_code["code"] = json!("not-a-code");
        assert_eq!(
            ExchangeRequest::from_json(&garbage_code).unwrap_err(),
            ExchangeError::UNKNOWN_CODE
        );
    }
}
