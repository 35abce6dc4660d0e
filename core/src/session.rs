//! Browser sign-in state: the signed sign-in cookie, session cookies, CSRF tokens and the
//! origin check. Everything a browser holds is either random (the session value, whose hash
//! D1 keeps) or signed with the cookie key derived from `SECRET`.

use std::fmt;

use serde_json::{json, Value};

use crate::crypto::{constant_time_eq, DerivedKey};
use crate::encoding::{base64url_decode, base64url_encode};
use crate::Entropy;

/// How long a sign-in may take between `/api/auth/login` and the callback, in seconds.
pub const LOGIN_TTL_S: i64 = 10 * 60;
/// How long a browser session lasts, in seconds (absolute, not sliding).
pub const SESSION_TTL_S: i64 = 7 * 24 * 60 * 60;
/// Longest sign-in cookie accepted, in bytes (the return path is at most 2048).
const MAX_LOGIN_COOKIE: usize = 4096;

/// The state of one sign-in in flight, kept by the browser in a signed cookie so that any
/// replica can finish it. `state`, `nonce` and the PKCE verifier are derived from a random
/// secret with the cookie key, so the cookie itself never holds them and nobody without the
/// key can compute them.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginState {
    secret: [u8; 32],
    /// The same-origin path to land on afterwards (already checked by `return_to`).
    pub return_to: String,
    /// Unix seconds after which the cookie is refused.
    pub expires_at_s: i64,
}

/// Why a sign-in cookie was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStateError {
    /// Not two base64url parts, or not the expected JSON.
    Malformed,
    /// The HMAC does not match: forged, or signed with another `SECRET`.
    BadSignature,
    /// Older than [`LOGIN_TTL_S`].
    Expired,
}

impl fmt::Display for LoginStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LoginStateError::Malformed => "the sign-in cookie is malformed",
            LoginStateError::BadSignature => "the sign-in cookie was not issued by this server",
            LoginStateError::Expired => "the sign-in took longer than 10 minutes",
        })
    }
}

impl LoginState {
    /// A new sign-in that lands on `return_to`, started at `now_s`.
    pub fn new(return_to: String, now_s: i64, entropy: &mut dyn Entropy) -> Self {
        let mut secret = [0u8; 32];
        entropy.fill(&mut secret);
        Self {
            secret,
            return_to,
            expires_at_s: now_s + LOGIN_TTL_S,
        }
    }

    /// The cookie value: `base64url(json).base64url(HMAC(key, "login:" + first part))`.
    pub fn encode(&self, key: &DerivedKey) -> String {
        let payload = json!({
            "s": base64url_encode(&self.secret),
            "r": self.return_to,
            "e": self.expires_at_s,
        });
        let body = base64url_encode(payload.to_string().as_bytes());
        let tag = key.sign(format!("login:{body}").as_bytes());
        format!("{body}.{}", base64url_encode(&tag))
    }

    /// Reads a cookie value back, checking its signature before anything else, then expiry.
    pub fn decode(value: &str, key: &DerivedKey, now_s: i64) -> Result<Self, LoginStateError> {
        if value.len() > MAX_LOGIN_COOKIE {
            return Err(LoginStateError::Malformed);
        }
        let (body, tag) = value.split_once('.').ok_or(LoginStateError::Malformed)?;
        let tag = base64url_decode(tag).ok_or(LoginStateError::Malformed)?;
        let expected = key.sign(format!("login:{body}").as_bytes());
        if !constant_time_eq(&tag, &expected) {
            return Err(LoginStateError::BadSignature);
        }
        let payload: Value = base64url_decode(body)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(LoginStateError::Malformed)?;
        let secret: [u8; 32] = payload["s"]
            .as_str()
            .and_then(base64url_decode)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(LoginStateError::Malformed)?;
        let return_to = payload["r"]
            .as_str()
            .ok_or(LoginStateError::Malformed)?
            .to_owned();
        let expires_at_s = payload["e"].as_i64().ok_or(LoginStateError::Malformed)?;
        if now_s >= expires_at_s {
            return Err(LoginStateError::Expired);
        }
        Ok(Self {
            secret,
            return_to,
            expires_at_s,
        })
    }

    fn derive(&self, key: &DerivedKey, label: &str) -> String {
        let mut message = format!("login-{label}:").into_bytes();
        message.extend_from_slice(&self.secret);
        base64url_encode(&key.sign(&message))
    }

    /// The OAuth `state` (256 bits, base64url).
    pub fn state(&self, key: &DerivedKey) -> String {
        self.derive(key, "state")
    }

    /// The OIDC `nonce` (256 bits, base64url).
    pub fn nonce(&self, key: &DerivedKey) -> String {
        self.derive(key, "nonce")
    }

    /// The PKCE code verifier (43 base64url characters, RFC 7636 §4.1).
    pub fn verifier(&self, key: &DerivedKey) -> String {
        self.derive(key, "pkce")
    }

    /// Whether a `state` that came back from the provider is this sign-in's (constant time).
    pub fn state_matches(&self, key: &DerivedKey, presented: &str) -> bool {
        constant_time_eq(presented.as_bytes(), self.state(key).as_bytes())
    }
}

impl fmt::Debug for LoginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginState")
            .field("secret", &"<redacted>")
            .field("return_to", &self.return_to)
            .field("expires_at_s", &self.expires_at_s)
            .finish()
    }
}

/// Characters of a session cookie value: 256 random bits and a 128-bit tag, base64url.
const SESSION_VALUE_CHARS: usize = 43 + 22;

/// A new session cookie value: 256 random bits, then the tag that proves this server made it
/// (`HMAC(sessions key, random part)[..16]`), base64url. D1 keeps only its SHA-256.
pub fn new_session_value(key: &DerivedKey, entropy: &mut dyn Entropy) -> String {
    let mut bytes = [0u8; 32];
    entropy.fill(&mut bytes);
    let random = base64url_encode(&bytes);
    let tag = session_tag(key, &random);
    random + &tag
}

/// Whether a cookie value has the shape of one we issue (65 base64url characters): the check
/// made before anything else looks at it.
pub fn is_session_value(value: &str) -> bool {
    value.len() == SESSION_VALUE_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether this server made the cookie value: its shape and, in constant time, its tag. A
/// forged or guessed value is refused here, before any storage read.
pub fn session_value_is_ours(key: &DerivedKey, value: &str) -> bool {
    is_session_value(value) && {
        let (random, tag) = value.split_at(43);
        constant_time_eq(tag.as_bytes(), session_tag(key, random).as_bytes())
    }
}

fn session_tag(key: &DerivedKey, random: &str) -> String {
    base64url_encode(&key.sign(random.as_bytes())[..16])
}

/// The CSRF token of a session: `base64url(HMAC(cookie key, "csrf:" + session hash)[..16])`.
/// Bound to the session, so it changes at every sign-in and is useless to anyone else.
pub fn csrf_token(key: &DerivedKey, session_hash_hex: &str) -> String {
    base64url_encode(&key.sign(format!("csrf:{session_hash_hex}").as_bytes())[..16])
}

/// Whether a presented CSRF token is the session's (constant time).
pub fn csrf_token_matches(key: &DerivedKey, session_hash_hex: &str, presented: &str) -> bool {
    constant_time_eq(
        presented.as_bytes(),
        csrf_token(key, session_hash_hex).as_bytes(),
    )
}

/// The path of the session and sign-in cookies: `/`, as `__Host-` requires.
pub const COOKIE_PATH: &str = "/";

/// The only path the ID-token cookie is sent to, so that it weighs on no other request
/// (`__Host-` needs `Path=/`, so on https it is `__Secure-` instead).
pub const ID_TOKEN_PATH: &str = "/api/auth/logout";

/// The names of the cookies. On https origins the session and sign-in cookies carry the
/// `__Host-` prefix, which browsers accept only with `Secure`, `Path=/` and no `Domain`, so a
/// sibling subdomain cannot plant one (a planted sign-in cookie would be login CSRF). Both are
/// therefore set on [`COOKIE_PATH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieNames {
    /// The session cookie.
    pub session: &'static str,
    /// The sign-in-in-flight cookie.
    pub login: &'static str,
    /// The session's ID token, sealed, sent only to `/api/auth/logout` ([`ID_TOKEN_PATH`]):
    /// the `id_token_hint` of signing out at the provider.
    pub id_token: &'static str,
    /// Whether cookies get `Secure`.
    pub secure: bool,
}

impl CookieNames {
    /// The names for an origin: prefixed and `Secure` on https, plain on http (loopback).
    pub fn for_origin(origin: &str) -> Self {
        if origin.starts_with("https://") {
            Self {
                session: "__Host-edgeauth_session",
                login: "__Host-edgeauth_login",
                id_token: "__Secure-edgeauth_id_token",
                secure: true,
            }
        } else {
            Self {
                session: "edgeauth_session",
                login: "edgeauth_login",
                id_token: "edgeauth_id_token",
                secure: false,
            }
        }
    }

    /// A `Set-Cookie` value: HttpOnly, SameSite=Lax, `Secure` when the origin is https.
    /// `max_age_s` 0 deletes the cookie.
    pub fn set_cookie(&self, name: &str, value: &str, path: &str, max_age_s: i64) -> String {
        format!(
            "{name}={value}; Path={path}; Max-Age={max_age_s}; HttpOnly; SameSite=Lax{}",
            if self.secure { "; Secure" } else { "" }
        )
    }
}

/// The value of cookie `name` in a `Cookie` header, if present (the first one wins).
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then(|| v.trim())
    })
}

/// Whether an `Origin` header names exactly `own_origin` (scheme, host and port; RFC 6454
/// serialisation, ASCII case-insensitive). A missing or `null` origin is not ours.
pub fn same_origin(origin_header: Option<&str>, own_origin: &str) -> bool {
    origin_header.is_some_and(|o| o.eq_ignore_ascii_case(own_origin.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{KeyPurpose, RootSecret};

    use crate::test_entropy::Counter;

    fn key(secret: &str) -> DerivedKey {
        RootSecret::new(secret).unwrap().derive(KeyPurpose::Cookies)
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn login_state_round_trips_and_derives_stable_values() {
        let k = key(SECRET);
        let state = LoginState::new("/account?x=1".into(), 1000, &mut Counter(0));
        let cookie = state.encode(&k);
        let back = LoginState::decode(&cookie, &k, 1001).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.return_to, "/account?x=1");
        assert_eq!(back.expires_at_s, 1000 + LOGIN_TTL_S);
        assert_eq!(back.state(&k), state.state(&k));
        assert_eq!(state.state(&k).len(), 43);
        assert_eq!(state.verifier(&k).len(), 43);
        crate::pkce::validate_verifier(&state.verifier(&k)).unwrap();
        let values = [state.state(&k), state.nonce(&k), state.verifier(&k)];
        assert!(values[0] != values[1] && values[1] != values[2] && values[0] != values[2]);
        assert!(state.state_matches(&k, &values[0]));
        assert!(!state.state_matches(&k, &values[1]));
        assert!(!state.state_matches(&k, ""));
    }

    #[test]
    fn the_cookie_never_contains_state_nonce_or_verifier() {
        let k = key(SECRET);
        let state = LoginState::new("/account".into(), 0, &mut Counter(7));
        let cookie = state.encode(&k);
        for derived in [state.state(&k), state.nonce(&k), state.verifier(&k)] {
            assert!(!cookie.contains(&derived));
        }
    }

    #[test]
    fn a_forged_or_foreign_cookie_is_refused() {
        let k = key(SECRET);
        let cookie = LoginState::new("/account".into(), 0, &mut Counter(0)).encode(&k);
        let other = key("another-secret-of-at-least-32-bytes!!");
        assert_eq!(
            LoginState::decode(&cookie, &other, 1),
            Err(LoginStateError::BadSignature)
        );
        // Change the return path inside the payload: the signature no longer matches.
        let (body, tag) = cookie.split_once('.').unwrap();
        let json = String::from_utf8(base64url_decode(body).unwrap()).unwrap();
        let evil = base64url_encode(json.replace("/account", "//evil.test").as_bytes());
        assert_eq!(
            LoginState::decode(&format!("{evil}.{tag}"), &k, 1),
            Err(LoginStateError::BadSignature)
        );
        for junk in ["", ".", "abc", "a.b", &"x".repeat(5000)] {
            assert!(LoginState::decode(junk, &k, 1).is_err(), "{junk}");
        }
    }

    #[test]
    fn a_cookie_expires_after_ten_minutes() {
        let k = key(SECRET);
        let cookie = LoginState::new("/".into(), 100, &mut Counter(0)).encode(&k);
        assert!(LoginState::decode(&cookie, &k, 100 + LOGIN_TTL_S - 1).is_ok());
        assert_eq!(
            LoginState::decode(&cookie, &k, 100 + LOGIN_TTL_S),
            Err(LoginStateError::Expired)
        );
    }

    #[test]
    fn debug_redacts_the_secret() {
        let state = LoginState::new("/".into(), 0, &mut Counter(0));
        let shown = format!("{state:?}");
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains("secret: ["));
    }

    #[test]
    fn session_values_are_43_base64url_chars() {
        let key = RootSecret::new(&"s".repeat(32))
            .unwrap()
            .derive(KeyPurpose::Sessions);
        let other = RootSecret::new(&"t".repeat(32))
            .unwrap()
            .derive(KeyPurpose::Sessions);
        let value = new_session_value(&key, &mut Counter(0));
        assert!(is_session_value(&value) && session_value_is_ours(&key, &value));
        assert!(
            !session_value_is_ours(&other, &value),
            "another deployment's"
        );
        let mut forged = value.clone();
        forged.replace_range(50..51, if &value[50..51] == "A" { "B" } else { "A" });
        assert!(is_session_value(&forged) && !session_value_is_ours(&key, &forged));
        assert!(!is_session_value(&value[1..]));
        assert!(!is_session_value(&format!("{}=", &value[1..])));
        assert!(!is_session_value(""));
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session_and_key() {
        let k = key(SECRET);
        let token = csrf_token(&k, "aa");
        assert_eq!(token.len(), 22);
        assert!(csrf_token_matches(&k, "aa", &token));
        assert!(!csrf_token_matches(&k, "ab", &token));
        assert!(!csrf_token_matches(
            &key("z".repeat(32).as_str()),
            "aa",
            &token
        ));
        assert!(!csrf_token_matches(&k, "aa", ""));
    }

    #[test]
    fn cookie_names_and_attributes_follow_the_origin() {
        let local = CookieNames::for_origin("http://127.0.0.1:8787");
        assert_eq!(local.session, "edgeauth_session");
        assert_eq!(
            local.set_cookie(local.session, "v", "/", 60),
            "edgeauth_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"
        );
        let public = CookieNames::for_origin("https://auth.example.com");
        assert_eq!(public.session, "__Host-edgeauth_session");
        assert_eq!(public.login, "__Host-edgeauth_login");
        assert!(public
            .set_cookie(public.login, "v", COOKIE_PATH, 60)
            .starts_with("__Host-edgeauth_login=v; Path=/;"));
        assert!(public
            .set_cookie(public.session, "v", "/", 60)
            .ends_with("; HttpOnly; SameSite=Lax; Secure"));
    }

    #[test]
    fn cookie_values_are_found_by_exact_name() {
        let header = "a=1; edgeauth_session_x=no; edgeauth_session=yes; b=2";
        assert_eq!(cookie_value(header, "edgeauth_session"), Some("yes"));
        assert_eq!(cookie_value(header, "b"), Some("2"));
        assert_eq!(cookie_value(header, "c"), None);
        assert_eq!(cookie_value("", "a"), None);
    }

    #[test]
    fn only_the_exact_origin_is_the_same_origin() {
        let own = "http://127.0.0.1:8787";
        assert!(same_origin(Some("http://127.0.0.1:8787"), own));
        assert!(same_origin(Some("HTTP://127.0.0.1:8787"), own));
        for other in [
            "http://127.0.0.1:1",
            "http://localhost:8787",
            "https://127.0.0.1:8787",
            "http://127.0.0.1:8787.evil.test",
            "http://127.0.0.1:8787/",
            "http://127.0.0.1:8787/api",
            "null",
            "",
        ] {
            assert!(!same_origin(Some(other), own), "{other}");
        }
        assert!(!same_origin(None, own));
    }
}
