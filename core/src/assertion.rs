//! The gateway's signed identity for the origin: a short-lived JWT, in the
//! [`HEADER`] request header of every proxied request, that says who called.
//!
//! It is a compact JWS signed with the deployment's current Ed25519 key
//! ([`crate::signing::KeyRing`]), header `{"alg":"EdDSA","typ":"edgeauth-assertion+jwt",
//! "kid":…}`, so the origin verifies it against the public JWKS with any standard JWT library
//! and shares no secret with edgeauth. The explicit `typ` (RFC 8725 §3.11) keeps it from being
//! confused with an access token signed by the same keys, and the `aud` (the route's origin)
//! keeps an assertion meant for one origin from being replayed to another.
//!
//! Claims: `iss` (edgeauth's `PUBLIC_URL`), `aud`, `sub` (the person's user id, the service
//! token's id, `super`; absent for a request with no credential), `iat`, `exp` ([`LIFETIME_S`]
//! later), `jti` (128 random bits), and edgeauth's own: `kind` (`super`, `service`, `user`,
//! `session`, `access`, `anonymous`), `name` (the token's or person's display name, when there
//! is one), `prj` (the project), `wsp` (the workspace patterns the credential covers; empty for
//! nobody), `tid` (the token's id, when it has one) and `rid` (the request's id, also sent as
//! [`REQUEST_ID_HEADER`]).

use core::fmt;

use chrono::{DateTime, Utc};
use jwt_compact::{alg::Ed25519, AlgorithmExt, Claims, Header, UntrustedToken};
use serde::{Deserialize, Serialize};

use crate::base62;
use crate::policy::{Credential, Principal, PrincipalKind};
use crate::project::ProjectName;
use crate::signing::{KeyRing, PeriodKey, ALGORITHM};
use crate::trust::CiIdentity;
use crate::Entropy;

/// The request header that carries the assertion to the origin.
pub const HEADER: &str = "Edgeauth-Assertion";
/// The request header that carries the request's id to the origin (also the `rid` claim).
pub const REQUEST_ID_HEADER: &str = "Edgeauth-Request-Id";
/// The JOSE header `typ` of an assertion.
pub const TOKEN_TYPE: &str = "edgeauth-assertion+jwt";
/// How long an assertion is valid: one minute. The origin checks it when the request arrives,
/// which is when edgeauth sent it; the minute is room for clocks, not for replay.
pub const LIFETIME_S: i64 = 60;
/// Allowance for clock differences when verifying, in seconds.
pub const CLOCK_SKEW_S: i64 = 30;
/// Base62 symbols of `jti`: 128 bits.
const JTI_CHARS: usize = 22;

/// Who called, as the origin is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `kind`: how the request authenticated.
    pub kind: String,
    /// `sub`: the person, the service token, or `super`; `None` for nobody.
    #[serde(rename = "sub", default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// `name`: the token's or person's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `prj`: the project of the request.
    #[serde(rename = "prj")]
    pub project: String,
    /// `wsp`: the workspace patterns the credential covers.
    #[serde(rename = "wsp")]
    pub workspaces: Vec<String>,
    /// `tid`: the token's id, for a credential that has one.
    #[serde(rename = "tid", default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// `rol`: the caller's standing in the project (`super`, `service`, `admin`, `member`);
    /// absent for nobody.
    #[serde(rename = "rol", default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `ci`: for a CI job's token, who the job is (platform, subject, repository, ref, run,
    /// workflow) as its ID token said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<CiIdentity>,
}

impl Identity {
    /// The identity of `principal` in `project`, or of nobody (a public read without a
    /// credential) when there is none.
    pub fn of(principal: Option<&Principal>, project: &ProjectName) -> Self {
        let Some(principal) = principal else {
            return Self {
                kind: PrincipalKind::Anonymous.as_str().to_owned(),
                subject: None,
                name: None,
                project: project.as_str().to_owned(),
                workspaces: Vec::new(),
                token_id: None,
                role: None,
                ci: None,
            };
        };
        let subject = match &principal.credential {
            Credential::Super => Some("super".to_owned()),
            Credential::Anonymous => None,
            Credential::Service { token_id, .. } => Some(token_id.as_str().to_owned()),
            Credential::Ci { identity, .. } => Some(identity.subject.clone()),
            _ => principal.person().map(|user| user.as_str().to_owned()),
        };
        let name = match &principal.credential {
            Credential::Super | Credential::Anonymous | Credential::Access { .. } => None,
            _ => Some(principal.name().to_owned()),
        };
        Self {
            kind: principal.kind().as_str().to_owned(),
            subject,
            name,
            project: principal.project.as_str().to_owned(),
            workspaces: principal.scope.to_strings(),
            token_id: principal.token_id().map(str::to_owned),
            role: Some(principal.role_name().to_owned()),
            ci: match &principal.credential {
                Credential::Ci { identity, .. } => Some(identity.clone()),
                _ => None,
            },
        }
    }
}

/// The claims of an assertion, as signed and as verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    /// `iss`: edgeauth's public URL.
    pub iss: String,
    /// `aud`: the origin the request was proxied to.
    pub aud: String,
    /// `jti`: this assertion's random id.
    pub jti: String,
    /// `rid`: the request's id.
    pub rid: String,
    /// Who called.
    #[serde(flatten)]
    pub identity: Identity,
}

/// What to sign: everything but `jti`, `iat` and `exp`.
#[derive(Debug, Clone)]
pub struct Assertion<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub request_id: &'a str,
    pub identity: Identity,
}

/// Signs `assertion` with `key` (the ring's current key) at `now_s`, valid for [`LIFETIME_S`].
pub fn sign(
    key: &PeriodKey,
    assertion: Assertion<'_>,
    now_s: i64,
    entropy: &mut dyn Entropy,
) -> String {
    let claims = AssertionClaims {
        iss: assertion.issuer.to_owned(),
        aud: assertion.audience.to_owned(),
        jti: base62::random(JTI_CHARS, entropy),
        rid: assertion.request_id.to_owned(),
        identity: assertion.identity,
    };
    let mut jwt = Claims::new(claims);
    jwt.issued_at = timestamp(now_s);
    jwt.expiration = timestamp(now_s.saturating_add(LIFETIME_S));
    let header = Header::empty()
        .with_token_type(TOKEN_TYPE)
        .with_key_id(key.kid());
    Ed25519
        .token(&header, &jwt, key.signing_key())
        .expect("strings and timestamps always serialise")
}

fn timestamp(unix_s: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(unix_s, 0)
}

/// Why an assertion was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssertionError {
    /// Not a compact JWS, or its header is not `EdDSA` with this `typ` and a `kid`.
    Malformed,
    /// Signed by no key this deployment publishes now, or the signature does not verify.
    BadSignature,
    /// For another issuer or another origin.
    WrongAudience,
    /// Expired, issued in the future, or valid longer than an assertion ever is.
    OutOfTime,
}

impl fmt::Display for AssertionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "not an edgeauth assertion",
            Self::BadSignature => "the assertion's signature does not verify under a published key",
            Self::WrongAudience => "the assertion is for another issuer or origin",
            Self::OutOfTime => "the assertion has expired or is not yet valid",
        })
    }
}

/// Verifies an assertion as an origin should (what the README's snippets do with a JWT
/// library): `EdDSA`, this `typ`, a published `kid`, the signature, `iss`, `aud`, and
/// `iat`/`exp` within [`CLOCK_SKEW_S`].
pub fn verify(
    token: &str,
    ring: &KeyRing,
    issuer: &str,
    audience: &str,
    now_s: i64,
) -> Result<AssertionClaims, AssertionError> {
    let untrusted = UntrustedToken::new(token).map_err(|_| AssertionError::Malformed)?;
    let header = untrusted.header();
    if untrusted.algorithm() != ALGORITHM || header.token_type.as_deref() != Some(TOKEN_TYPE) {
        return Err(AssertionError::Malformed);
    }
    let kid = header.key_id.as_deref().ok_or(AssertionError::Malformed)?;
    let key = ring
        .verifying(kid, now_s)
        .ok_or(AssertionError::BadSignature)?;
    let verified = Ed25519
        .validator::<AssertionClaims>(key.verifying_key())
        .validate(&untrusted)
        .map_err(|_| AssertionError::BadSignature)?;
    let claims = verified.claims();
    let (Some(iat), Some(exp)) = (claims.issued_at, claims.expiration) else {
        return Err(AssertionError::OutOfTime);
    };
    let (iat, exp) = (iat.timestamp(), exp.timestamp());
    if exp - iat > LIFETIME_S
        || iat > now_s + CLOCK_SKEW_S
        || now_s >= exp.saturating_add(CLOCK_SKEW_S)
    {
        return Err(AssertionError::OutOfTime);
    }
    if claims.custom.iss != issuer || claims.custom.aud != audience {
        return Err(AssertionError::WrongAudience);
    }
    Ok(claims.custom.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base62::tests::TestEntropy;
    use crate::crypto::{KeyPurpose, RootSecret};
    use crate::encoding::{base64url_decode, base64url_encode};
    use crate::ids::{TokenId, UserId};
    use crate::workspace::Scope;
    use serde_json::{json, Value};

    const NOW: i64 = 1_795_000_000;
    const ISS: &str = "https://auth.example.com";
    const AUD: &str = "https://api.example.com";

    fn ring() -> KeyRing {
        let secret = RootSecret::new("a test secret of at least thirty-two bytes").unwrap();
        KeyRing::new(secret.derive(KeyPurpose::SigningKeys), 86_400)
    }

    fn project() -> ProjectName {
        ProjectName::parse("acme").unwrap()
    }

    fn service_principal() -> Principal {
        Principal {
            credential: Credential::Service {
                token_id: TokenId::new("st_abc"),
                name: "CI".into(),
            },
            project: project(),
            scope: Scope::parse(&["production/*"]).unwrap(),
            expires_at_ms: None,
            login: None,
            role: None,
        }
    }

    fn signed(identity: Identity, now_s: i64) -> String {
        let ring = ring();
        sign(
            &ring.current(now_s),
            Assertion {
                issuer: ISS,
                audience: AUD,
                request_id: "req-1",
                identity,
            },
            now_s,
            &mut TestEntropy(7),
        )
    }

    fn parts(token: &str) -> (Value, Value) {
        let mut it = token.split('.');
        let header = base64url_decode(it.next().unwrap()).unwrap();
        let claims = base64url_decode(it.next().unwrap()).unwrap();
        (
            serde_json::from_slice(&header).unwrap(),
            serde_json::from_slice(&claims).unwrap(),
        )
    }

    #[test]
    fn an_assertion_says_who_called_and_verifies() {
        let identity = Identity::of(Some(&service_principal()), &project());
        let token = signed(identity.clone(), NOW);
        let (header, claims) = parts(&token);
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], TOKEN_TYPE);
        assert_eq!(header["kid"], ring().current(NOW).kid());
        assert_eq!(claims["iss"], ISS);
        assert_eq!(claims["aud"], AUD);
        assert_eq!(claims["sub"], "st_abc");
        assert_eq!(claims["kind"], "service");
        assert_eq!(claims["name"], "CI");
        assert_eq!(claims["prj"], "acme");
        assert_eq!(claims["wsp"], json!(["production/*"]));
        assert_eq!(claims["tid"], "st_abc");
        assert_eq!(claims["rid"], "req-1");
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            60
        );
        assert_eq!(claims["jti"].as_str().unwrap().len(), 22);
        let verified = verify(&token, &ring(), ISS, AUD, NOW + 59).unwrap();
        assert_eq!(verified.identity, identity);
    }

    #[test]
    fn nobody_has_no_subject_and_no_workspaces() {
        let token = signed(Identity::of(None, &project()), NOW);
        let (_, claims) = parts(&token);
        assert_eq!(claims["kind"], "anonymous");
        assert!(claims.get("sub").is_none());
        assert!(claims.get("tid").is_none());
        assert_eq!(claims["wsp"], json!([]));
    }

    #[test]
    fn a_person_is_their_user_id() {
        let principal = Principal {
            credential: Credential::User {
                token_id: TokenId::new("ut_1"),
                name: "laptop".into(),
                user_id: UserId::new("usr_42"),
            },
            project: project(),
            scope: Scope::all(),
            expires_at_ms: None,
            login: None,
            role: None,
        };
        let identity = Identity::of(Some(&principal), &project());
        assert_eq!(identity.subject.as_deref(), Some("usr_42"));
        assert_eq!(identity.kind, "user");
        assert_eq!(identity.token_id.as_deref(), Some("ut_1"));
        let superuser = Identity::of(Some(&Principal::super_token(project())), &project());
        assert_eq!(superuser.subject.as_deref(), Some("super"));
        assert_eq!(superuser.workspaces, ["*"]);
    }

    #[test]
    fn verification_refuses_what_an_origin_must_refuse() {
        let token = signed(Identity::of(Some(&service_principal()), &project()), NOW);
        let ring = ring();
        // Expired; from the future; another origin; another issuer.
        assert_eq!(
            verify(&token, &ring, ISS, AUD, NOW + 90),
            Err(AssertionError::OutOfTime)
        );
        assert_eq!(
            verify(&token, &ring, ISS, AUD, NOW - 31),
            Err(AssertionError::OutOfTime)
        );
        assert_eq!(
            verify(&token, &ring, ISS, "https://other.example.com", NOW),
            Err(AssertionError::WrongAudience)
        );
        assert_eq!(
            verify(&token, &ring, "https://evil.example.com", AUD, NOW),
            Err(AssertionError::WrongAudience)
        );
        // Altered claims: the signature no longer verifies.
        let (header, mut claims) = parts(&token);
        claims["wsp"] = json!(["*"]);
        let signature = token.rsplit('.').next().unwrap();
        let altered = format!(
            "{}.{}.{signature}",
            base64url_encode(header.to_string().as_bytes()),
            base64url_encode(claims.to_string().as_bytes())
        );
        assert_eq!(
            verify(&altered, &ring, ISS, AUD, NOW),
            Err(AssertionError::BadSignature)
        );
        // Signed under another SECRET: its kid is not published here.
        let other = RootSecret::new("another secret, also thirty-two bytes long").unwrap();
        let other = KeyRing::new(other.derive(KeyPurpose::SigningKeys), 86_400);
        let foreign = sign(
            &other.current(NOW),
            Assertion {
                issuer: ISS,
                audience: AUD,
                request_id: "r",
                identity: Identity::of(None, &project()),
            },
            NOW,
            &mut TestEntropy(1),
        );
        assert_eq!(
            verify(&foreign, &ring, ISS, AUD, NOW),
            Err(AssertionError::BadSignature)
        );
        // `alg: none`, HS256, and an access-token typ are not assertions.
        let none = format!(
            "{}.{}.",
            base64url_encode(br#"{"alg":"none","typ":"edgeauth-assertion+jwt"}"#),
            base64url_encode(claims.to_string().as_bytes())
        );
        assert_eq!(
            verify(&none, &ring, ISS, AUD, NOW),
            Err(AssertionError::Malformed)
        );
        let wrong_typ = format!(
            "{}.{}.{signature}",
            base64url_encode(
                json!({"alg": "EdDSA", "typ": "at+jwt", "kid": header["kid"]})
                    .to_string()
                    .as_bytes()
            ),
            base64url_encode(claims.to_string().as_bytes())
        );
        assert_eq!(
            verify(&wrong_typ, &ring, ISS, AUD, NOW),
            Err(AssertionError::Malformed)
        );
        assert_eq!(
            verify("garbage", &ring, ISS, AUD, NOW),
            Err(AssertionError::Malformed)
        );
    }
}
