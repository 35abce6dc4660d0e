//! Access tokens: the short-lived bearer credential of the device flow.
//!
//! An access token is `eaa_` followed by a compact JWS (RFC 7515) signed with EdDSA (Ed25519)
//! under the deployment's current published key ([`crate::signing::KeyRing`]), made and checked
//! with `jwt-compact`. So any resource server can verify one offline against the JWKS at
//! `/.well-known/jwks.json` (strip the `eaa_`), and the Worker verifies one with no storage
//! read. It cannot be revoked: it lives at most [`MAX_LIFETIME_S`] (15 minutes), and revoking a
//! refresh family (logout, reuse of a spent refresh token) takes full effect within that bound.
//!
//! The header is `{"alg":"EdDSA","typ":"at+jwt","kid":…}` (RFC 9068 §2.1). The claims are `iss`
//! (edgeauth's origin), `sub` (the user, `usr_…`), `prj` (the project, RFC 8707's idea of an
//! audience), `scp` (workspace patterns), `fam` (the refresh family it came from), `rol` (the person's role in the project,
//! `admin` or `member`, as of issue), `iat`,
//! `exp` and `jti` (128 random bits). The signature alone proves integrity, so unlike the
//! opaque tokens there is no CRC.
//!
//! [`verify`] refuses, before trusting anything the token says: a wrong prefix, a token longer
//! than [`MAX_ACCESS_TOKEN_LEN`], anything that is not a three-part JWS, a header `alg` other than
//! `EdDSA` (so `none` and algorithm confusion are out, RFC 8725 §3.1), a `typ` other than
//! `at+jwt`, a `kid` that is not one of the keys published now, a signature that does not
//! verify, and then: an `exp` more than [`MAX_LIFETIME_S`] after `iat` (even though we signed it: defence in
//! depth against a minting bug), an `iat` in the future, an expired token, and missing or
//! mistyped claims. Time comparisons allow [`CLOCK_SKEW_S`] either way.

use core::fmt;

use chrono::{DateTime, Utc};
use jwt_compact::{alg::Ed25519, AlgorithmExt, Claims, Header, UntrustedToken, ValidationError};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::base62;
use crate::ids::UserId;
use crate::project::ProjectName;
use crate::role::Role;
use crate::signing::{KeyRing, ALGORITHM};
use crate::token::{is_jws_shape, TokenKind, MAX_ACCESS_TOKEN_LEN};
use crate::trust::{self, CiIdentity};
use crate::workspace::Scope;
use crate::Entropy;

/// The longest an access token may live, in seconds: 15 minutes (SPEC, Credentials).
pub const MAX_LIFETIME_S: u32 = 900;
/// The shortest lifetime [`mint`] will give; shorter requests are raised to it.
pub const MIN_LIFETIME_S: u32 = 1;
/// The lifetime given when nothing else is configured.
pub const DEFAULT_LIFETIME_S: u32 = MAX_LIFETIME_S;
/// Allowance for clock differences between Worker isolates, in seconds: a token is accepted
/// until `exp + 30 s`, and an `iat` up to 30 s ahead of the verifier's clock is not "future".
pub const CLOCK_SKEW_S: i64 = 30;
/// The JOSE header `typ` of an access token (RFC 9068 §2.1).
pub const TOKEN_TYPE: &str = "at+jwt";
/// Base62 symbols of `jti`: 22 symbols hold 128 bits.
pub const TOKEN_ID_CHARS: usize = 22;
/// Longest `sub`, `fam` or `jti` accepted.
const MAX_ID_LEN: usize = 64;

/// Whom an access token was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A person's device login.
    Person {
        /// `sub`: the user (`usr_…`).
        user_id: String,
        /// `fam`: the refresh family (device login) it was issued from.
        family_id: String,
        /// `rol`: the person's role in the project when the token was issued (approval and
        /// refresh re-read it, so a person who lost their role gets no further token).
        role: Role,
    },
    /// A CI job, through a trust policy (RFC 8693 token exchange).
    Ci {
        /// `pol`: the trust policy (`tp_…`) that matched.
        policy_id: String,
        /// `ci`: who the job is, as its ID token said; `sub` is its subject.
        identity: CiIdentity,
    },
}

impl Holder {
    /// The longest a token of this holder may live: [`MAX_LIFETIME_S`] for a person's
    /// (refresh makes more), [`trust::MAX_LIFETIME_S`] for a CI job's (it asks again).
    pub fn max_lifetime_s(&self) -> u32 {
        match self {
            Holder::Person { .. } => MAX_LIFETIME_S,
            Holder::Ci { .. } => trust::MAX_LIFETIME_S,
        }
    }
}

/// What an access token says, once verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// Whom it was issued to.
    pub holder: Holder,
    /// `prj`: the only project the token is valid in.
    pub project: ProjectName,
    /// `scp`: the workspaces it may act on.
    pub scope: Scope,
    /// `iat`, Unix seconds.
    pub issued_at_s: i64,
    /// `exp`, Unix seconds.
    pub expires_at_s: i64,
    /// `jti`: this token's random id, for audit.
    pub token_id: String,
}

impl AccessClaims {
    /// Refuses the token in any project but its own (SPEC: a token valid in one project is
    /// never valid in another).
    pub fn check_project(&self, project: &ProjectName) -> Result<(), AccessTokenError> {
        if &self.project == project {
            Ok(())
        } else {
            Err(AccessTokenError::WrongProject)
        }
    }

    /// `exp` in Unix milliseconds, as a principal's expiry.
    pub fn expires_at_ms(&self) -> i64 {
        self.expires_at_s.saturating_mul(1000)
    }
}

/// What a new access token is for: everything but `jti`, which [`mint`] draws.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    /// `iss`: edgeauth's own origin, for resource servers that verify the token themselves.
    pub issuer: String,
    /// Whom it is for.
    pub holder: Holder,
    /// The project the token will be valid in.
    pub project: ProjectName,
    /// The workspaces it may act on; never broader than the holder's own.
    pub scope: Scope,
    /// Now, Unix seconds, from the runtime clock; becomes `iat`.
    pub now_s: i64,
    /// Requested lifetime in seconds, clamped to [`MIN_LIFETIME_S`]`..=` the holder's
    /// [`Holder::max_lifetime_s`].
    pub lifetime_s: u32,
}

/// A freshly minted access token and the claims it carries. The token is shown once, in the
/// token response; it redacts itself in `Debug`.
pub struct MintedAccessToken {
    token: String,
    claims: AccessClaims,
}

impl MintedAccessToken {
    /// The token, for the token response only.
    pub fn plaintext(&self) -> &str {
        &self.token
    }

    /// What the token says.
    pub fn claims(&self) -> &AccessClaims {
        &self.claims
    }

    /// Seconds from issue to expiry: the token response's `expires_in` (RFC 6749 §5.1).
    pub fn expires_in_s(&self) -> i64 {
        self.claims.expires_at_s - self.claims.issued_at_s
    }
}

impl fmt::Debug for MintedAccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedAccessToken")
            .field("token", &"<redacted>")
            .field("claims", &self.claims)
            .finish()
    }
}

/// Why an access token was refused. Messages say what is wrong and never echo the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessTokenError {
    /// It does not start with `eaa_`.
    WrongPrefix,
    /// Longer than [`MAX_ACCESS_TOKEN_LEN`] (at mint: the grant's scope is too large for a token).
    TooLong,
    /// Not a compact JWS with a JSON header (three base64url parts).
    NotJws,
    /// The header's `alg` is not `EdDSA` (this includes `none`).
    DisallowedAlg,
    /// The header's `typ` is not `at+jwt`.
    WrongType,
    /// The signature does not verify under a key this server publishes now (forged, altered,
    /// another server's `SECRET`, or a key retired since).
    BadSignature,
    /// The claims are not a JSON object whose `iat` and `exp` (if present) are numbers.
    MalformedClaims,
    /// A claim is missing, of the wrong type or out of range; names the claim.
    BadClaim(&'static str),
    /// `exp` is more than [`MAX_LIFETIME_S`] after `iat`, or not after it.
    BadLifetime,
    /// `iat` is later than now (beyond the skew).
    IssuedInFuture,
    /// `exp` has passed (beyond the skew).
    Expired,
    /// Valid, but for another project.
    WrongProject,
}

impl fmt::Display for AccessTokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongPrefix => f.write_str("an access token starts with `eaa_`"),
            Self::TooLong => write!(
                f,
                "the access token is longer than {MAX_ACCESS_TOKEN_LEN} characters, the most this server issues or accepts"
            ),
            Self::NotJws => f.write_str(
                "the access token is not a signed token of three base64url parts; copy it again in full",
            ),
            Self::DisallowedAlg => f.write_str("the access token's signing algorithm must be EdDSA"),
            Self::WrongType => write!(f, "the access token's header type must be `{TOKEN_TYPE}`"),
            Self::BadSignature => f.write_str(
                "the access token's signature does not verify: it was altered or issued by another server",
            ),
            Self::MalformedClaims => f.write_str(
                "the access token's claims are not a JSON object with numeric `iat` and `exp`",
            ),
            Self::BadClaim(claim) => write!(
                f,
                "the access token's `{claim}` claim is missing or malformed"
            ),
            Self::BadLifetime => write!(
                f,
                "the access token's lifetime (`exp` - `iat`) is not 1 to {MAX_LIFETIME_S} seconds"
            ),
            Self::IssuedInFuture => f.write_str(
                "the access token was issued in the future; check the clocks",
            ),
            Self::Expired => f.write_str(
                "the access token has expired; refresh it at POST /api/auth/token",
            ),
            Self::WrongProject => f.write_str(
                "the access token was not issued for this project (check X-Project or ?project=)",
            ),
        }
    }
}

/// The claims as minted; `iat` and `exp` are jwt-compact's own fields. Verification reads
/// them back as a JSON map instead, so that an error can name the claim that is wrong.
#[derive(Serialize)]
struct WireClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    prj: &'a str,
    scp: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fam: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rol: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pol: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ci: Option<&'a CiIdentity>,
    jti: &'a str,
}

fn timestamp(unix_s: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(unix_s, 0)
}

/// Mints an access token for `grant`: `iat` = now, `exp` = now + the clamped lifetime, `jti`
/// 128 random bits. Refuses ([`AccessTokenError::TooLong`]) a grant whose token would exceed
/// [`MAX_ACCESS_TOKEN_LEN`], and ([`AccessTokenError::BadClaim`]) one that [`verify`] would refuse
/// (a user id that is not `usr_…`, a bad family id, a time out of range).
pub fn mint(
    keys: &KeyRing,
    grant: &AccessGrant,
    entropy: &mut dyn Entropy,
) -> Result<MintedAccessToken, AccessTokenError> {
    check_holder(&grant.holder)?;
    let lifetime_s = grant
        .lifetime_s
        .clamp(MIN_LIFETIME_S, grant.holder.max_lifetime_s());
    let claims = AccessClaims {
        holder: grant.holder.clone(),
        project: grant.project.clone(),
        scope: grant.scope.clone(),
        issued_at_s: grant.now_s,
        expires_at_s: grant.now_s.saturating_add(i64::from(lifetime_s)),
        token_id: base62::random(TOKEN_ID_CHARS, entropy),
    };
    let token = sign(keys, &grant.issuer, &claims)?;
    Ok(MintedAccessToken { token, claims })
}

fn sign(keys: &KeyRing, issuer: &str, claims: &AccessClaims) -> Result<String, AccessTokenError> {
    let (sub, fam, rol, pol, ci) = match &claims.holder {
        Holder::Person {
            user_id,
            family_id,
            role,
        } => (
            user_id.as_str(),
            Some(family_id.as_str()),
            Some(role.as_str()),
            None,
            None,
        ),
        Holder::Ci {
            policy_id,
            identity,
        } => (
            identity.subject.as_str(),
            None,
            None,
            Some(policy_id.as_str()),
            Some(identity),
        ),
    };
    let mut jwt = Claims::new(WireClaims {
        iss: issuer,
        sub,
        prj: claims.project.as_str(),
        scp: claims.scope.to_strings(),
        fam,
        rol,
        pol,
        ci,
        jti: &claims.token_id,
    });
    jwt.issued_at = Some(timestamp(claims.issued_at_s).ok_or(AccessTokenError::BadClaim("iat"))?);
    jwt.expiration = Some(timestamp(claims.expires_at_s).ok_or(AccessTokenError::BadClaim("exp"))?);
    let key = keys.current(claims.issued_at_s);
    let header = Header::empty()
        .with_token_type(TOKEN_TYPE)
        .with_key_id(key.kid());
    let jws = Ed25519
        .token(&header, &jwt, key.signing_key())
        .expect("plain strings and timestamps always serialise");
    let token = format!("{}{jws}", TokenKind::Access.prefix());
    if token.len() > MAX_ACCESS_TOKEN_LEN {
        return Err(AccessTokenError::TooLong);
    }
    Ok(token)
}

/// Verifies an access token under the keys `keys` publishes at `now_s` (Unix seconds, runtime clock) and returns
/// its claims. The checks and their order are in the module documentation; the caller then
/// checks the project with [`AccessClaims::check_project`].
pub fn verify(token: &str, keys: &KeyRing, now_s: i64) -> Result<AccessClaims, AccessTokenError> {
    let jws = token
        .strip_prefix(TokenKind::Access.prefix())
        .ok_or(AccessTokenError::WrongPrefix)?;
    if token.len() > MAX_ACCESS_TOKEN_LEN {
        return Err(AccessTokenError::TooLong);
    }
    if !is_jws_shape(jws) {
        return Err(AccessTokenError::NotJws);
    }
    // Bad base64, a header that is not JSON or lacks a string `alg`, a `cty` other than JSON:
    // none of it is a token we could have made.
    let untrusted = UntrustedToken::new(jws).map_err(|_| AccessTokenError::NotJws)?;
    // jwt-compact refuses another `alg` too; checking first gives the clearer error.
    if untrusted.algorithm() != ALGORITHM {
        return Err(AccessTokenError::DisallowedAlg);
    }
    if untrusted.header().token_type.as_deref() != Some(TOKEN_TYPE) {
        return Err(AccessTokenError::WrongType);
    }
    // Only the keys published now: an unknown or retired `kid` is as good as a bad signature.
    let key = untrusted
        .header()
        .key_id
        .as_deref()
        .and_then(|kid| keys.verifying(kid, now_s))
        .ok_or(AccessTokenError::BadSignature)?;
    let verified = Ed25519
        .validator::<Map<String, Value>>(key.verifying_key())
        .validate(&untrusted)
        .map_err(|e| match e {
            ValidationError::AlgorithmMismatch { .. } => AccessTokenError::DisallowedAlg,
            // jwt-compact parses the claims before it checks the signature, so a forgery with
            // unparsable claims lands here: refused all the same.
            ValidationError::MalformedClaims(_) => AccessTokenError::MalformedClaims,
            // Bad length, malformed or wrong signature; and anything jwt-compact adds later.
            _ => AccessTokenError::BadSignature,
        })?;
    let claims = verified.claims();
    let issued_at_s = claims
        .issued_at
        .ok_or(AccessTokenError::BadClaim("iat"))?
        .timestamp();
    let expires_at_s = claims
        .expiration
        .ok_or(AccessTokenError::BadClaim("exp"))?
        .timestamp();
    let custom = &claims.custom;
    let holder = holder(custom)?;
    let lifetime_s = expires_at_s.saturating_sub(issued_at_s);
    if lifetime_s <= 0 || lifetime_s > i64::from(holder.max_lifetime_s()) {
        return Err(AccessTokenError::BadLifetime);
    }
    if issued_at_s > now_s.saturating_add(CLOCK_SKEW_S) {
        return Err(AccessTokenError::IssuedInFuture);
    }
    if now_s >= expires_at_s.saturating_add(CLOCK_SKEW_S) {
        return Err(AccessTokenError::Expired);
    }
    let token_id = string_claim(custom, "jti")?;
    check_id("jti", token_id)?;
    let project = ProjectName::parse(string_claim(custom, "prj")?)
        .map_err(|_| AccessTokenError::BadClaim("prj"))?;
    let patterns = custom
        .get("scp")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_str).collect::<Option<Vec<&str>>>())
        .ok_or(AccessTokenError::BadClaim("scp"))?;
    let scope = Scope::parse(&patterns).map_err(|_| AccessTokenError::BadClaim("scp"))?;
    Ok(AccessClaims {
        holder,
        project,
        scope,
        issued_at_s,
        expires_at_s,
        token_id: token_id.to_owned(),
    })
}

/// The holder the claims name: a CI job's when there is a `pol` claim, else a person's.
fn holder(custom: &Map<String, Value>) -> Result<Holder, AccessTokenError> {
    let holder = if custom.contains_key("pol") {
        let identity: CiIdentity = custom
            .get("ci")
            .and_then(|ci| serde_json::from_value(ci.clone()).ok())
            .ok_or(AccessTokenError::BadClaim("ci"))?;
        if string_claim(custom, "sub")? != identity.subject {
            return Err(AccessTokenError::BadClaim("sub"));
        }
        Holder::Ci {
            policy_id: string_claim(custom, "pol")?.to_owned(),
            identity,
        }
    } else {
        // Tokens issued before roles existed (minutes old at most) carry none: the lesser role.
        let role = match custom.get("rol") {
            None => Role::Member,
            Some(value) => value
                .as_str()
                .and_then(Role::parse)
                .ok_or(AccessTokenError::BadClaim("rol"))?,
        };
        Holder::Person {
            user_id: string_claim(custom, "sub")?.to_owned(),
            family_id: string_claim(custom, "fam")?.to_owned(),
            role,
        }
    };
    check_holder(&holder)?;
    Ok(holder)
}

/// What [`verify`] refuses in a holder, and so [`mint`] will not make.
fn check_holder(holder: &Holder) -> Result<(), AccessTokenError> {
    match holder {
        Holder::Person {
            user_id, family_id, ..
        } => {
            check_user_id(user_id)?;
            check_id("fam", family_id)
        }
        Holder::Ci {
            policy_id,
            identity,
        } => {
            check_id("pol", policy_id)?;
            if identity.subject.is_empty()
                || identity.subject.chars().count() > trust::MAX_IDENTITY_LEN
            {
                return Err(AccessTokenError::BadClaim("sub"));
            }
            Ok(())
        }
    }
}

fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, AccessTokenError> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .ok_or(AccessTokenError::BadClaim(name))
}

fn check_user_id(sub: &str) -> Result<(), AccessTokenError> {
    match sub.strip_prefix(UserId::PREFIX) {
        Some(rest) if !rest.is_empty() && sub.len() <= MAX_ID_LEN && base62::is_base62(rest) => {
            Ok(())
        }
        _ => Err(AccessTokenError::BadClaim("sub")),
    }
}

fn check_id(claim: &'static str, id: &str) -> Result<(), AccessTokenError> {
    let valid = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(AccessTokenError::BadClaim(claim))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base62::tests::TestEntropy;
    use crate::crypto::{KeyPurpose, RootSecret};
    use crate::encoding::{base64url_decode, base64url_encode};
    use crate::token::{check_format, TokenError};
    use serde_json::json;

    const NOW: i64 = 1_795_000_000;

    fn key_of(secret: &str) -> KeyRing {
        let root = RootSecret::new(secret)
            .unwrap()
            .derive(KeyPurpose::SigningKeys);
        KeyRing::new(root, crate::signing::DEFAULT_PERIOD_S)
    }

    fn key() -> KeyRing {
        key_of(&"s".repeat(40))
    }

    fn person() -> Holder {
        Holder::Person {
            user_id: "usr_AbCdEfGhIjKlMnOpQrSt".into(),
            family_id: "fam_0123456789abcdefABCDEF".into(),
            role: Role::Admin,
        }
    }

    fn grant(lifetime_s: u32) -> AccessGrant {
        AccessGrant {
            issuer: "https://auth.example.com".into(),
            holder: person(),
            project: ProjectName::parse("alpha").unwrap(),
            scope: Scope::parse(&["production/*", "staging"]).unwrap(),
            now_s: NOW,
            lifetime_s,
        }
    }

    fn ci_identity() -> CiIdentity {
        CiIdentity {
            issuer: "https://token.actions.githubusercontent.com".into(),
            subject: "repo:octo-org/octo-repo:ref:refs/heads/main".into(),
            repository: Some("octo-org/octo-repo".into()),
            git_ref: Some("refs/heads/main".into()),
            run_id: Some("4242".into()),
            workflow: Some(
                "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main".into(),
            ),
        }
    }

    fn ci_grant(lifetime_s: u32) -> AccessGrant {
        AccessGrant {
            holder: Holder::Ci {
                policy_id: "tp_0123456789abcdefABCD".into(),
                identity: ci_identity(),
            },
            ..grant(lifetime_s)
        }
    }

    #[test]
    fn a_ci_token_carries_its_policy_and_job_and_lives_up_to_an_hour() {
        let minted = mint(&key(), &ci_grant(3600), &mut TestEntropy(3)).unwrap();
        assert!(minted.plaintext().len() <= MAX_ACCESS_TOKEN_LEN);
        let claims = verify(minted.plaintext(), &key(), NOW).unwrap();
        assert_eq!(claims, *minted.claims());
        assert_eq!(claims.expires_at_s - claims.issued_at_s, 3600);
        match &claims.holder {
            Holder::Ci {
                policy_id,
                identity,
            } => {
                assert_eq!(policy_id, "tp_0123456789abcdefABCD");
                assert_eq!(identity, &ci_identity());
            }
            other => panic!("{other:?}"),
        }
        let wire = payload(minted.plaintext());
        assert_eq!(wire["sub"], "repo:octo-org/octo-repo:ref:refs/heads/main");
        assert_eq!(wire["ci"]["repository"], "octo-org/octo-repo");
        assert!(wire.get("fam").is_none() && wire.get("rol").is_none());
        // Longer than an hour is clamped at mint, and refused when signed anyway.
        let clamped = mint(&key(), &ci_grant(100_000), &mut TestEntropy(4)).unwrap();
        assert_eq!(clamped.expires_in_s(), 3600);
        // A person's token may not live that long.
        let person_token = mint(&key(), &grant(3600), &mut TestEntropy(5)).unwrap();
        assert_eq!(person_token.expires_in_s(), i64::from(MAX_LIFETIME_S));
        let mut long = payload(minted.plaintext());
        long["exp"] = json!(NOW + 3601);
        let t = sign_raw(&key(), good_header(), long);
        assert_eq!(verify(&t, &key(), NOW), Err(AccessTokenError::BadLifetime));
        // A person's token claiming an hour is refused too.
        let t = sign_raw(
            &key(),
            good_header(),
            with(good_claims(), "exp", json!(NOW + 3600)),
        );
        assert_eq!(verify(&t, &key(), NOW), Err(AccessTokenError::BadLifetime));
        // A CI token whose `sub` disagrees with its identity, or without one, is refused.
        let mut lying = payload(minted.plaintext());
        lying["sub"] = json!("repo:other/repo:ref:refs/heads/main");
        let t = sign_raw(&key(), good_header(), lying);
        assert_eq!(
            verify(&t, &key(), NOW),
            Err(AccessTokenError::BadClaim("sub"))
        );
        let mut bare = payload(minted.plaintext());
        bare.as_object_mut().unwrap().remove("ci");
        let t = sign_raw(&key(), good_header(), bare);
        assert_eq!(
            verify(&t, &key(), NOW),
            Err(AccessTokenError::BadClaim("ci"))
        );
    }

    /// The claims of a token, unverified.
    fn payload(token: &str) -> Value {
        let part = token
            .strip_prefix("eaa_")
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap();
        serde_json::from_slice(&base64url_decode(part).unwrap()).unwrap()
    }

    fn minted(lifetime_s: u32) -> MintedAccessToken {
        mint(&key(), &grant(lifetime_s), &mut TestEntropy(7)).unwrap()
    }

    /// Signs arbitrary header and claims JSON with the ring's current Ed25519 key, bypassing
    /// `mint`'s rules: what a buggy or compromised minter could produce.
    fn sign_raw(key: &KeyRing, header: Value, claims: Value) -> String {
        use ed25519_dalek::Signer;
        let b64 = |v: &Value| base64url_encode(serde_json::to_vec(v).unwrap().as_slice());
        let signed = format!("{}.{}", b64(&header), b64(&claims));
        let sig = key.current(NOW).signing_key().sign(signed.as_bytes());
        format!("eaa_{signed}.{}", base64url_encode(&sig.to_bytes()))
    }

    fn good_header() -> Value {
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": key().current(NOW).kid()})
    }

    fn good_claims() -> Value {
        json!({
            "sub": "usr_AbCdEfGhIjKlMnOpQrSt", "prj": "alpha", "scp": ["production/*"],
            "fam": "fam_x", "jti": "j1", "iat": NOW, "exp": NOW + 600,
        })
    }

    fn with(mut claims: Value, name: &str, value: Value) -> Value {
        claims[name] = value;
        claims
    }

    fn without(mut claims: Value, name: &str) -> Value {
        claims.as_object_mut().unwrap().remove(name);
        claims
    }

    #[test]
    fn a_minted_token_verifies_and_keeps_project_scope_and_family() {
        let t = minted(300);
        assert!(t.plaintext().starts_with("eaa_eyJ"));
        assert!(t.plaintext().len() <= MAX_ACCESS_TOKEN_LEN);
        let claims = verify(t.plaintext(), &key(), NOW + 10).unwrap();
        assert_eq!(&claims, t.claims());
        assert_eq!(claims.holder, person());
        assert_eq!(claims.project.as_str(), "alpha");
        assert_eq!(claims.scope.to_strings(), ["production/*", "staging"]);
        assert_eq!((claims.issued_at_s, claims.expires_at_s), (NOW, NOW + 300));
        assert_eq!(claims.token_id.len(), TOKEN_ID_CHARS);
        assert_eq!(t.expires_in_s(), 300);
        assert_eq!(claims.expires_at_ms(), (NOW + 300) * 1000);
    }

    #[test]
    fn the_jose_header_is_eddsa_at_jwt_with_the_published_kid() {
        let t = minted(60);
        let mut parts = t.plaintext()[4..].split('.');
        let header = parts.next().unwrap();
        let header: Value = serde_json::from_slice(&base64url_decode(header).unwrap()).unwrap();
        assert_eq!(
            header,
            json!({"alg": "EdDSA", "typ": "at+jwt", "kid": key().current(NOW).kid()})
        );
        let claims: Value =
            serde_json::from_slice(&base64url_decode(parts.next().unwrap()).unwrap()).unwrap();
        assert_eq!(claims["iss"], "https://auth.example.com");
    }

    #[test]
    fn the_keys_stay_published_as_long_as_a_token_is_accepted() {
        assert!(
            crate::signing::MAX_SIGNED_AGE_S >= i64::from(MAX_LIFETIME_S) + CLOCK_SKEW_S,
            "a key would be retired while a token it signed is still accepted"
        );
    }

    #[test]
    fn a_token_stays_valid_across_a_key_rotation_until_it_expires() {
        // One-minute periods: the key that signed it is retired only once nothing it signed
        // can still be valid.
        let ring = KeyRing::new(
            RootSecret::new(&"s".repeat(40))
                .unwrap()
                .derive(KeyPurpose::SigningKeys),
            60,
        );
        let t = mint(&ring, &grant(900), &mut TestEntropy(2)).unwrap();
        for later in [0, 61, 300, 899, 900 + CLOCK_SKEW_S - 1] {
            assert!(verify(t.plaintext(), &ring, NOW + later).is_ok(), "{later}");
            assert_ne!(
                later > 60,
                ring.current(NOW + later).kid() == ring.current(NOW).kid()
            );
        }
        assert_eq!(
            verify(t.plaintext(), &ring, NOW + 900 + CLOCK_SKEW_S),
            Err(AccessTokenError::Expired)
        );
        // Once its period is over by more than a token's life, its key is retired.
        assert_eq!(
            verify(t.plaintext(), &ring, NOW + 900 + CLOCK_SKEW_S + 60),
            Err(AccessTokenError::BadSignature)
        );
    }

    #[test]
    fn each_token_gets_its_own_random_id() {
        let mut e = TestEntropy(3);
        let a = mint(&key(), &grant(60), &mut e).unwrap();
        let b = mint(&key(), &grant(60), &mut e).unwrap();
        assert_ne!(a.claims().token_id, b.claims().token_id);
        assert_ne!(a.plaintext(), b.plaintext());
    }

    #[test]
    fn mint_clamps_the_lifetime_to_one_second_through_fifteen_minutes() {
        assert_eq!(minted(0).expires_in_s(), 1);
        assert_eq!(minted(5).expires_in_s(), 5);
        assert_eq!(minted(900).expires_in_s(), 900);
        assert_eq!(minted(901).expires_in_s(), 900);
        assert_eq!(minted(u32::MAX).expires_in_s(), 900);
    }

    #[test]
    fn lifetime_900_is_accepted_and_901_refused_even_when_signed() {
        let ok = sign_raw(
            &key(),
            good_header(),
            with(good_claims(), "exp", json!(NOW + 900)),
        );
        assert!(verify(&ok, &key(), NOW).is_ok());
        let long = sign_raw(
            &key(),
            good_header(),
            with(good_claims(), "exp", json!(NOW + 901)),
        );
        assert_eq!(
            verify(&long, &key(), NOW),
            Err(AccessTokenError::BadLifetime)
        );
        let backwards = sign_raw(
            &key(),
            good_header(),
            with(good_claims(), "exp", json!(NOW)),
        );
        assert_eq!(
            verify(&backwards, &key(), NOW),
            Err(AccessTokenError::BadLifetime)
        );
        assert!(verify(minted(900).plaintext(), &key(), NOW).is_ok());
    }

    #[test]
    fn expiry_allows_the_documented_skew_and_no_more() {
        let t = minted(5);
        assert!(verify(t.plaintext(), &key(), NOW + 5).is_ok());
        assert!(verify(t.plaintext(), &key(), NOW + 5 + CLOCK_SKEW_S - 1).is_ok());
        assert_eq!(
            verify(t.plaintext(), &key(), NOW + 5 + CLOCK_SKEW_S),
            Err(AccessTokenError::Expired)
        );
        assert_eq!(
            verify(t.plaintext(), &key(), NOW + 10_000),
            Err(AccessTokenError::Expired)
        );
    }

    #[test]
    fn a_token_issued_in_the_future_is_refused_beyond_the_skew() {
        let t = minted(300);
        assert!(verify(t.plaintext(), &key(), NOW - CLOCK_SKEW_S).is_ok());
        assert_eq!(
            verify(t.plaintext(), &key(), NOW - CLOCK_SKEW_S - 1),
            Err(AccessTokenError::IssuedInFuture)
        );
    }

    #[test]
    fn a_token_signed_under_another_secret_is_refused() {
        let other = key_of(&"t".repeat(40));
        let t = mint(&other, &grant(300), &mut TestEntropy(1)).unwrap();
        assert_eq!(
            verify(t.plaintext(), &key(), NOW),
            Err(AccessTokenError::BadSignature)
        );
        // Nor does a key of another purpose from the same secret verify it.
        let cookies = RootSecret::new(&"s".repeat(40))
            .unwrap()
            .derive(KeyPurpose::Cookies);
        let cookies = KeyRing::new(cookies, crate::signing::DEFAULT_PERIOD_S);
        let t = mint(&cookies, &grant(300), &mut TestEntropy(1)).unwrap();
        assert_eq!(
            verify(t.plaintext(), &key(), NOW),
            Err(AccessTokenError::BadSignature)
        );
    }

    #[test]
    fn altered_claims_or_signature_are_refused() {
        let t = minted(300);
        let jws = &t.plaintext()[4..];
        let parts: Vec<&str> = jws.split('.').collect();
        // Widen the scope, keep the signature.
        let forged = with(good_claims(), "scp", json!(["*"]));
        let forged_claims = base64url_encode(&serde_json::to_vec(&forged).unwrap());
        let spliced = format!("eaa_{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert_eq!(
            verify(&spliced, &key(), NOW),
            Err(AccessTokenError::BadSignature)
        );
        // Flip one signature character.
        let mut sig = parts[2].to_owned();
        let c = if sig.starts_with('A') { "B" } else { "A" };
        sig.replace_range(0..1, c);
        let flipped = format!("eaa_{}.{}.{sig}", parts[0], parts[1]);
        assert_eq!(
            verify(&flipped, &key(), NOW),
            Err(AccessTokenError::BadSignature)
        );
        // A truncated signature (not 64 bytes, or not canonical base64url): refused.
        for cut in 1..=4 {
            let short = &t.plaintext()[..t.plaintext().len() - cut];
            assert!(
                matches!(
                    verify(short, &key(), NOW),
                    Err(AccessTokenError::BadSignature | AccessTokenError::NotJws)
                ),
                "{cut}"
            );
        }
        // A kid this server does not publish.
        let foreign = sign_raw(
            &key(),
            json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "not-ours"}),
            good_claims(),
        );
        assert_eq!(
            verify(&foreign, &key(), NOW),
            Err(AccessTokenError::BadSignature)
        );
        let no_kid = sign_raw(
            &key(),
            json!({"alg": "EdDSA", "typ": "at+jwt"}),
            good_claims(),
        );
        assert_eq!(
            verify(&no_kid, &key(), NOW),
            Err(AccessTokenError::BadSignature)
        );
    }

    #[test]
    fn only_eddsa_is_accepted_including_not_none() {
        for alg in [
            "none", "None", "HS256", "HS384", "HS512", "RS256", "ES256", "eddsa", "Ed25519", "",
        ] {
            let t = sign_raw(&key(), json!({"alg": alg, "typ": "at+jwt"}), good_claims());
            assert_eq!(
                verify(&t, &key(), NOW),
                Err(AccessTokenError::DisallowedAlg),
                "{alg}"
            );
        }
        // `alg: none` with an empty signature is not even a JWS shape we read.
        let unsigned = format!(
            "eaa_{}.{}.",
            base64url_encode(br#"{"alg":"none","typ":"at+jwt"}"#),
            base64url_encode(&serde_json::to_vec(&good_claims()).unwrap())
        );
        assert_eq!(
            verify(&unsigned, &key(), NOW),
            Err(AccessTokenError::NotJws)
        );
        let no_alg = sign_raw(&key(), json!({"typ": "at+jwt"}), good_claims());
        assert_eq!(verify(&no_alg, &key(), NOW), Err(AccessTokenError::NotJws));
    }

    #[test]
    fn the_header_type_must_be_at_jwt() {
        let kid = key().current(NOW).kid().to_owned();
        for header in [
            json!({"alg": "EdDSA", "kid": kid}),
            json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}),
            json!({"alg": "EdDSA", "typ": "edgeauth-assertion+jwt", "kid": kid}),
        ] {
            let t = sign_raw(&key(), header, good_claims());
            assert_eq!(verify(&t, &key(), NOW), Err(AccessTokenError::WrongType));
        }
        let t = sign_raw(&key(), good_header(), good_claims());
        assert!(verify(&t, &key(), NOW).is_ok());
    }

    #[test]
    fn a_wrong_prefix_or_a_non_jws_is_refused() {
        let t = minted(300);
        let jws = &t.plaintext()[4..];
        assert_eq!(verify(jws, &key(), NOW), Err(AccessTokenError::WrongPrefix));
        assert_eq!(
            verify(&format!("eau_{jws}"), &key(), NOW),
            Err(AccessTokenError::WrongPrefix)
        );
        for bad in [
            "eaa_".to_owned(),
            "eaa_abc".to_owned(),
            "eaa_eyJ.eyJ".to_owned(),
            format!("eaa_{jws}.x"),
            format!("eaa_{}", jws.replacen('.', "..", 1)),
            format!("eaa_{}", jws.replacen('e', "+", 1)),
            format!("eaa_ {jws}"),
            // Valid shape, but the header is not JSON.
            format!("eaa_eyJhbGc.{}", &jws[jws.find('.').unwrap() + 1..]),
        ] {
            assert_eq!(
                verify(&bad, &key(), NOW),
                Err(AccessTokenError::NotJws),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_oversized_token_is_refused_before_parsing_and_at_mint() {
        let huge = format!("eaa_eyJ{}.a.b", "a".repeat(MAX_ACCESS_TOKEN_LEN));
        assert_eq!(verify(&huge, &key(), NOW), Err(AccessTokenError::TooLong));
        let wide: Vec<String> = (0..10).map(|i| format!("{i}{}", "w".repeat(120))).collect();
        let g = AccessGrant {
            scope: Scope::parse(&wide).unwrap(),
            ..grant(60)
        };
        assert_eq!(
            mint(&key(), &g, &mut TestEntropy(1)).err(),
            Some(AccessTokenError::TooLong)
        );
        // A signed token over the cap is refused all the same.
        let signed_huge = sign_raw(
            &key(),
            good_header(),
            with(good_claims(), "scp", json!(wide)),
        );
        assert_eq!(
            verify(&signed_huge, &key(), NOW),
            Err(AccessTokenError::TooLong)
        );
    }

    #[test]
    fn a_typical_token_leaves_room_under_the_cap() {
        // `*` or a handful of patterns, as a device login grants, stay well under 1 KiB
        // (an Ed25519 signature and the `kid` take about 150 characters of it).
        let g = AccessGrant {
            scope: Scope::parse(&["production/*", "staging/*", "dev", "team-a/eu/*"]).unwrap(),
            ..grant(900)
        };
        let t = mint(&key(), &g, &mut TestEntropy(1)).unwrap();
        assert!(t.plaintext().len() < 600, "{}", t.plaintext().len());
    }

    #[test]
    fn missing_or_mistyped_claims_are_refused_even_when_signed() {
        use AccessTokenError::{BadClaim, MalformedClaims};
        let g = good_claims;
        let cases: Vec<(Value, AccessTokenError)> = vec![
            (without(g(), "sub"), BadClaim("sub")),
            (without(g(), "prj"), BadClaim("prj")),
            (without(g(), "scp"), BadClaim("scp")),
            (without(g(), "fam"), BadClaim("fam")),
            (without(g(), "jti"), BadClaim("jti")),
            (without(g(), "iat"), BadClaim("iat")),
            (without(g(), "exp"), BadClaim("exp")),
            (with(g(), "sub", json!(42)), BadClaim("sub")),
            (with(g(), "prj", json!(["alpha"])), BadClaim("prj")),
            (with(g(), "scp", json!("*")), BadClaim("scp")),
            (with(g(), "scp", json!(["*", 1])), BadClaim("scp")),
            (with(g(), "fam", json!(null)), BadClaim("fam")),
            (with(g(), "exp", json!("soon")), MalformedClaims),
            (with(g(), "iat", json!(true)), MalformedClaims),
            (with(g(), "iat", json!(null)), MalformedClaims),
            (with(g(), "exp", json!(-1e300)), MalformedClaims),
            (with(g(), "sub", json!("alice")), BadClaim("sub")),
            (with(g(), "sub", json!("usr_")), BadClaim("sub")),
            (with(g(), "sub", json!("usr_a-b")), BadClaim("sub")),
            (with(g(), "prj", json!("Alpha")), BadClaim("prj")),
            (with(g(), "scp", json!([])), BadClaim("scp")),
            (with(g(), "scp", json!(["a/**"])), BadClaim("scp")),
            (with(g(), "fam", json!("")), BadClaim("fam")),
            (with(g(), "jti", json!("a b")), BadClaim("jti")),
            (with(g(), "rol", json!("owner")), BadClaim("rol")),
            (with(g(), "rol", json!(1)), BadClaim("rol")),
            (json!(["not", "an", "object"]), MalformedClaims),
        ];
        for (claims, expected) in cases {
            let t = sign_raw(&key(), good_header(), claims.clone());
            assert_eq!(verify(&t, &key(), NOW), Err(expected), "{claims}");
        }
    }

    #[test]
    fn a_token_without_a_role_claim_is_a_members() {
        let t = sign_raw(&key(), good_header(), good_claims());
        assert!(matches!(
            verify(&t, &key(), NOW).unwrap().holder,
            Holder::Person {
                role: Role::Member,
                ..
            }
        ));
        let admin = sign_raw(
            &key(),
            good_header(),
            with(good_claims(), "rol", json!("admin")),
        );
        assert!(matches!(
            verify(&admin, &key(), NOW).unwrap().holder,
            Holder::Person {
                role: Role::Admin,
                ..
            }
        ));
    }

    #[test]
    fn mint_refuses_what_verify_would_refuse() {
        let bad_user = AccessGrant {
            holder: Holder::Person {
                user_id: "alice".into(),
                family_id: "fam_x".into(),
                role: Role::Member,
            },
            ..grant(60)
        };
        assert_eq!(
            mint(&key(), &bad_user, &mut TestEntropy(1)).err(),
            Some(AccessTokenError::BadClaim("sub"))
        );
        let bad_family = AccessGrant {
            holder: Holder::Person {
                user_id: "usr_x".into(),
                family_id: String::new(),
                role: Role::Member,
            },
            ..grant(60)
        };
        assert_eq!(
            mint(&key(), &bad_family, &mut TestEntropy(1)).err(),
            Some(AccessTokenError::BadClaim("fam"))
        );
        let out_of_range = AccessGrant {
            now_s: i64::MAX,
            ..grant(60)
        };
        assert!(mint(&key(), &out_of_range, &mut TestEntropy(1)).is_err());
    }

    #[test]
    fn the_token_is_valid_only_in_its_project() {
        let claims = verify(minted(60).plaintext(), &key(), NOW).unwrap();
        assert_eq!(
            claims.check_project(&ProjectName::parse("alpha").unwrap()),
            Ok(())
        );
        assert_eq!(
            claims.check_project(&ProjectName::parse("beta").unwrap()),
            Err(AccessTokenError::WrongProject)
        );
    }

    #[test]
    fn errors_and_debug_never_show_the_token() {
        let t = minted(60);
        assert!(!format!("{t:?}").contains(t.plaintext()));
        let sig = t.plaintext().rsplit('.').next().unwrap();
        assert!(!format!("{t:?}").contains(sig));
        let errors = [
            AccessTokenError::WrongPrefix,
            AccessTokenError::TooLong,
            AccessTokenError::NotJws,
            AccessTokenError::DisallowedAlg,
            AccessTokenError::WrongType,
            AccessTokenError::BadSignature,
            AccessTokenError::MalformedClaims,
            AccessTokenError::BadClaim("sub"),
            AccessTokenError::BadLifetime,
            AccessTokenError::IssuedInFuture,
            AccessTokenError::Expired,
            AccessTokenError::WrongProject,
        ];
        for e in errors {
            let message = e.to_string();
            assert!(!message.is_empty() && !message.contains("eyJ"), "{message}");
        }
    }

    #[test]
    fn check_format_recognises_access_tokens_cheaply() {
        let t = minted(60);
        assert_eq!(check_format(t.plaintext()), Ok(TokenKind::Access));
        // Shape only: a well-shaped forgery passes the offline check, and `verify` refuses it.
        let forged = format!("{}x", t.plaintext());
        assert_eq!(check_format(&forged), Ok(TokenKind::Access));
        assert!(matches!(
            verify(&forged, &key(), NOW),
            Err(AccessTokenError::BadSignature | AccessTokenError::NotJws)
        ));
        for bad in [
            "eaa_".to_owned(),
            "eaa_abc.def.ghi".to_owned(),
            "eaa_eyJ.abc".to_owned(),
            "eaa_eyJ.a.b.c".to_owned(),
            "eaa_eyJ..b".to_owned(),
            "eaa_eyJ.a=.b".to_owned(),
            format!("eaa_eyJ{}.a.b", "a".repeat(MAX_ACCESS_TOKEN_LEN)),
        ] {
            assert_eq!(
                check_format(&bad),
                Err(TokenError::Malformed(TokenKind::Access)),
                "{bad}"
            );
        }
    }
}
