//! Checking the claims of an OpenID Connect ID token (OpenID Connect Core 1.0 §3.1.3.7).
//!
//! The Worker verifies the signature against the provider's JWKS; this module decides the
//! rest: which signing algorithms are acceptable at all, and whether the verified claims say
//! who signed in, for us, just now, in answer to our own request, with a verified email and a
//! team we allow.

use core::fmt;

use serde_json::Value;

use crate::crypto::constant_time_eq;

/// Default allowance for clock differences with the identity provider, in seconds.
pub const DEFAULT_SKEW_S: i64 = 60;
/// The claim that carries teams unless `OIDC_TEAMS_CLAIM` says otherwise.
pub const DEFAULT_TEAMS_CLAIM: &str = "groups";
/// Longest `sub` (OpenID Connect Core §2: at most 255 ASCII characters).
pub const MAX_SUBJECT_LEN: usize = 255;

/// The ID-token signing algorithms accepted (JWA, RFC 7518 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, the OIDC default (Core §15.1).
    Rs256,
    /// ECDSA with P-256 and SHA-256.
    Es256,
}

/// The allow-list of the JOSE header's `alg` (RFC 8725 §3.1): `RS256` or `ES256`, exactly.
///
/// `none` would accept an unsigned token, and `HS256` would be verified with a key the client
/// shares (or, under algorithm confusion, with a public key as the HMAC secret); every other
/// value is refused too, so the choice never lies with the token.
pub fn check_header(alg: &str) -> Result<IdTokenAlg, ClaimError> {
    match alg {
        "RS256" => Ok(IdTokenAlg::Rs256),
        "ES256" => Ok(IdTokenAlg::Es256),
        other => Err(ClaimError::DisallowedAlg(printable(other))),
    }
}

/// What the claims must match: our configuration and the state of this login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    /// `OIDC_ISSUER`, compared exactly (no trailing-slash normalisation).
    pub issuer: String,
    /// `OIDC_CLIENT_ID`.
    pub client_id: String,
    /// The nonce sent with this login's authorization request.
    pub nonce: String,
    /// Now, in Unix seconds, from the runtime clock.
    pub now_s: i64,
    /// Allowance for clock differences, in seconds.
    pub skew_s: i64,
    /// The claim that carries teams (`OIDC_TEAMS_CLAIM`).
    pub teams_claim: String,
    /// `ALLOWED_TEAMS`: when `Some` and non-empty, the user must be in one of them.
    pub allowed_teams: Option<Vec<String>>,
}

impl Expectations {
    /// Expectations with the default skew, teams claim and no team restriction.
    pub fn new(issuer: &str, client_id: &str, nonce: &str, now_s: i64) -> Self {
        Self {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            nonce: nonce.to_owned(),
            now_s,
            skew_s: DEFAULT_SKEW_S,
            teams_claim: DEFAULT_TEAMS_CLAIM.to_owned(),
            allowed_teams: None,
        }
    }
}

/// Who signed in, as the identity provider vouches. Users are keyed by (issuer, subject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `iss`: the provider that vouches.
    pub issuer: String,
    /// `sub`: the provider's stable id for the user.
    pub subject: String,
    /// `email`, verified by the provider.
    pub email: String,
    /// The `name` claim, if the provider sends one.
    pub name: Option<String>,
    /// The teams from the configured claim; empty when the claim is absent.
    pub teams: Vec<String>,
}

/// Why an ID token's claims were refused. Messages name the claim, never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimError {
    /// The header's `alg` is not on the allow-list (shown only if short and printable).
    DisallowedAlg(String),
    /// The payload is not a JSON object.
    NotAnObject,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` does not contain our client id.
    WrongAudience,
    /// `azp` is absent with several audiences, or is not our client id.
    WrongAuthorizedParty,
    /// `exp` has passed, beyond the skew.
    Expired,
    /// `nbf` is still ahead, beyond the skew.
    NotYetValid,
    /// `iat` is ahead, beyond the skew.
    IssuedInFuture,
    /// A required claim is absent or has the wrong type.
    Missing(&'static str),
    /// `nonce` is not this login's.
    NonceMismatch,
    /// `sub` is empty or longer than 255 bytes.
    BadSubject,
    /// A refresh's ID token names another person than the one who signed in.
    OtherSubject,
    /// `email_verified` is not the boolean `true`.
    EmailNotVerified,
    /// The teams claim (named here) is not an array of strings.
    MalformedTeams(String),
    /// `ALLOWED_TEAMS` is set and the user is in none of them.
    NotInAllowedTeam,
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimError::DisallowedAlg(alg) => write!(
                f,
                "the ID token is signed with `{alg}`; only RS256 and ES256 are accepted"
            ),
            ClaimError::NotAnObject => f.write_str("the ID token's claims are not a JSON object"),
            ClaimError::WrongIssuer => f.write_str(
                "the ID token was issued by a different issuer than OIDC_ISSUER (`iss` must match exactly)",
            ),
            ClaimError::WrongAudience => f.write_str(
                "the ID token is not meant for this client: `aud` does not contain OIDC_CLIENT_ID",
            ),
            ClaimError::WrongAuthorizedParty => f.write_str(
                "the ID token's `azp` is not OIDC_CLIENT_ID (required when `aud` has several values)",
            ),
            ClaimError::Expired => f.write_str("the ID token has expired (`exp`); sign in again"),
            ClaimError::NotYetValid => f.write_str(
                "the ID token is not valid yet (`nbf`); check the clocks of the server and the identity provider",
            ),
            ClaimError::IssuedInFuture => f.write_str(
                "the ID token was issued in the future (`iat`); check the clocks of the server and the identity provider",
            ),
            ClaimError::Missing(claim) => write!(
                f,
                "the ID token lacks the `{claim}` claim or it has the wrong type"
            ),
            ClaimError::NonceMismatch => f.write_str(
                "the ID token's `nonce` does not match this sign-in; start the sign-in again",
            ),
            ClaimError::BadSubject => {
                f.write_str("the ID token's `sub` must be 1 to 255 characters")
            }
            ClaimError::OtherSubject => f.write_str(
                "the identity provider's renewed ID token names another person (`sub`) than the one who signed in",
            ),
            ClaimError::EmailNotVerified => f.write_str(
                "Your identity provider has not verified your email address yet. Verify it there, then sign in again.",
            ),
            ClaimError::MalformedTeams(claim) => write!(
                f,
                "the ID token's `{claim}` claim must be an array of strings (check OIDC_TEAMS_CLAIM)"
            ),
            ClaimError::NotInAllowedTeam => {
                f.write_str("Your account is not in any of the teams allowed to sign in here. Ask the operator to add you to one of them.")
            }
        }
    }
}

/// Whether a person in `teams` may sign in where `ALLOWED_TEAMS` is `allowed`: anyone when it
/// is empty, else a member of one of its teams. The one rule for the sign-in, the renewal of
/// a provider login, a person's role (none outside these teams) and the approval of a device.
pub fn admitted(allowed: &[String], teams: &[String]) -> bool {
    allowed.is_empty() || teams.iter().any(|t| allowed.contains(t))
}

/// Checks signature-verified ID-token claims against `expected` (OpenID Connect Core
/// §3.1.3.7), in this order, and returns who signed in:
///
/// 1. `iss` equals the configured issuer exactly (item 2);
/// 2. `aud`, a string or an array of strings, contains our client id (item 3); when it has
///    several values, `azp` is required, and whenever `azp` is present it must be our client
///    id (items 4–5);
/// 3. `exp` is required and `now < exp + skew` (item 9); `nbf`, if present, is `≤ now + skew`
///    (RFC 7519 §4.1.5); `iat` is required and `≤ now + skew` (item 10);
/// 4. `nonce` equals this login's nonce, compared in constant time (item 11);
/// 5. `sub` is a non-empty string of at most 255 bytes (§2);
/// 6. `email` is a string and `email_verified` is the boolean `true`. The string `"true"` is
///    refused: the claim is a boolean (§5.1), and a provider that sends strings is
///    non-conforming in a way we would rather notice than paper over;
/// 7. teams come from the configured claim: an array of strings, absent or `null` meaning no
///    teams; when `allowed_teams` is non-empty, one of them must be among the user's teams.
pub fn check_claims(claims: &Value, expected: &Expectations) -> Result<Identity, ClaimError> {
    check(claims, expected, None)
}

/// Checks the claims of an ID token that came with a refresh at the provider's token endpoint
/// (OpenID Connect Core §12.2) as [`check_claims`] does, but for the nonce, which the provider
/// need not send again (`expected.nonce` is not used); `sub` must be the person's `subject`.
/// The teams are then the person's teams now, held against `ALLOWED_TEAMS` as at sign-in.
pub fn check_refreshed_claims(
    claims: &Value,
    expected: &Expectations,
    subject: &str,
) -> Result<Identity, ClaimError> {
    check(claims, expected, Some(subject))
}

/// [`check_claims`]; or, with `refreshed_subject`, [`check_refreshed_claims`].
fn check(
    claims: &Value,
    expected: &Expectations,
    refreshed_subject: Option<&str>,
) -> Result<Identity, ClaimError> {
    let claims = claims.as_object().ok_or(ClaimError::NotAnObject)?;
    let string = |name: &'static str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .ok_or(ClaimError::Missing(name))
    };
    let date = |name: &'static str| {
        claims
            .get(name)
            .map(|v| numeric_date(v).ok_or(ClaimError::Missing(name)))
    };

    let issuer = string("iss")?;
    if issuer != expected.issuer {
        return Err(ClaimError::WrongIssuer);
    }

    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(auds)) => auds
            .iter()
            .map(|a| a.as_str().ok_or(ClaimError::Missing("aud")))
            .collect::<Result<_, _>>()?,
        _ => return Err(ClaimError::Missing("aud")),
    };
    if !audiences.contains(&expected.client_id.as_str()) {
        return Err(ClaimError::WrongAudience);
    }
    match claims.get("azp") {
        None if audiences.len() > 1 => return Err(ClaimError::WrongAuthorizedParty),
        None => {}
        Some(azp) if azp.as_str() == Some(expected.client_id.as_str()) => {}
        Some(_) => return Err(ClaimError::WrongAuthorizedParty),
    }

    let now = expected.now_s;
    let skew = expected.skew_s;
    let exp = date("exp").unwrap_or(Err(ClaimError::Missing("exp")))?;
    if now >= exp.saturating_add(skew) {
        return Err(ClaimError::Expired);
    }
    if let Some(nbf) = date("nbf").transpose()? {
        if nbf > now.saturating_add(skew) {
            return Err(ClaimError::NotYetValid);
        }
    }
    let iat = date("iat").unwrap_or(Err(ClaimError::Missing("iat")))?;
    if iat > now.saturating_add(skew) {
        return Err(ClaimError::IssuedInFuture);
    }

    if refreshed_subject.is_none() {
        let nonce = string("nonce")?;
        if expected.nonce.is_empty()
            || !constant_time_eq(nonce.as_bytes(), expected.nonce.as_bytes())
        {
            return Err(ClaimError::NonceMismatch);
        }
    }

    let subject = string("sub")?;
    if subject.is_empty() || subject.len() > MAX_SUBJECT_LEN {
        return Err(ClaimError::BadSubject);
    }
    if refreshed_subject.is_some_and(|was| was != subject) {
        return Err(ClaimError::OtherSubject);
    }

    let email = string("email")?;
    if email.is_empty() {
        return Err(ClaimError::Missing("email"));
    }
    if claims.get("email_verified") != Some(&Value::Bool(true)) {
        return Err(ClaimError::EmailNotVerified);
    }

    let teams = match claims.get(expected.teams_claim.as_str()) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| t.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ClaimError::MalformedTeams(expected.teams_claim.clone()))?,
        Some(_) => return Err(ClaimError::MalformedTeams(expected.teams_claim.clone())),
    };
    if !admitted(
        expected.allowed_teams.as_deref().unwrap_or_default(),
        &teams,
    ) {
        return Err(ClaimError::NotInAllowedTeam);
    }

    Ok(Identity {
        issuer: issuer.to_owned(),
        subject: subject.to_owned(),
        email: email.to_owned(),
        name: claims
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned),
        teams,
    })
}

/// A JWT NumericDate (RFC 7519 §2): seconds, possibly fractional; fractions are dropped.
fn numeric_date(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && f.abs() < 1e15)
            .map(|f| f.floor() as i64)
    })
}

/// An attacker-chosen header value, made safe to put in a message.
fn printable(s: &str) -> String {
    if s.len() <= 16 && s.bytes().all(|b| b.is_ascii_graphic()) {
        s.to_owned()
    } else {
        "an unsupported algorithm".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_795_000_000;
    const ISS: &str = "https://idp.example.test";
    const CLIENT: &str = "edgeauth";
    const NONCE: &str = "n-0S6_WzA2Mj";

    fn expected() -> Expectations {
        Expectations::new(ISS, CLIENT, NONCE, NOW)
    }

    fn good() -> Value {
        json!({
            "iss": ISS,
            "aud": CLIENT,
            "sub": "user-123",
            "exp": NOW + 300,
            "iat": NOW - 10,
            "nonce": NONCE,
            "email": "ada@example.test",
            "email_verified": true,
            "name": "Ada",
            "groups": ["eng", "ops"],
        })
    }

    fn with(patch: Value) -> Value {
        let mut claims = good();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    #[test]
    fn a_refreshed_token_needs_no_nonce_but_the_same_person_and_an_allowed_team() {
        let mut refresh = Expectations::new(ISS, CLIENT, "", NOW);
        let no_nonce = with(json!({"nonce": null}));
        let identity = check_refreshed_claims(&no_nonce, &refresh, "user-123").unwrap();
        assert_eq!(identity.teams, ["eng", "ops"]);
        // A nonce, if sent again, is not held against an empty expectation.
        assert!(check_refreshed_claims(&good(), &refresh, "user-123").is_ok());
        // Sign-in still needs it.
        assert_eq!(
            check_claims(&no_nonce, &refresh).unwrap_err(),
            ClaimError::Missing("nonce")
        );
        assert_eq!(
            check_refreshed_claims(&no_nonce, &refresh, "user-456").unwrap_err(),
            ClaimError::OtherSubject
        );
        // Everything else is checked as at sign-in: the issuer, the audience, the times,
        // the email, and the teams against ALLOWED_TEAMS.
        for (patch, error) in [
            (
                json!({"iss": "https://other.test"}),
                ClaimError::WrongIssuer,
            ),
            (json!({"aud": "other"}), ClaimError::WrongAudience),
            (json!({"exp": NOW - 600}), ClaimError::Expired),
            (
                json!({"email_verified": false}),
                ClaimError::EmailNotVerified,
            ),
        ] {
            assert_eq!(
                check_refreshed_claims(&with(patch), &refresh, "user-123").unwrap_err(),
                error
            );
        }
        refresh.allowed_teams = Some(vec!["eng".into()]);
        assert!(check_refreshed_claims(&no_nonce, &refresh, "user-123").is_ok());
        let moved = with(json!({"nonce": null, "groups": ["ops"]}));
        assert_eq!(
            check_refreshed_claims(&moved, &refresh, "user-123").unwrap_err(),
            ClaimError::NotInAllowedTeam
        );
    }

    fn err(claims: Value) -> ClaimError {
        check_claims(&claims, &expected()).unwrap_err()
    }

    #[test]
    fn good_claims_give_the_identity() {
        let id = check_claims(&good(), &expected()).unwrap();
        assert_eq!(
            id,
            Identity {
                issuer: ISS.into(),
                subject: "user-123".into(),
                email: "ada@example.test".into(),
                name: Some("Ada".into()),
                teams: vec!["eng".into(), "ops".into()],
            }
        );
    }

    #[test]
    fn header_alg_is_allow_listed() {
        assert_eq!(check_header("RS256"), Ok(IdTokenAlg::Rs256));
        assert_eq!(check_header("ES256"), Ok(IdTokenAlg::Es256));
        for bad in [
            "none", "None", "HS256", "HS512", "RS512", "PS256", "EdDSA", "rs256", "",
        ] {
            let e = check_header(bad).unwrap_err();
            assert!(e.to_string().contains("RS256 and ES256"), "{bad}: {e}");
        }
        assert!(check_header("none")
            .unwrap_err()
            .to_string()
            .contains("`none`"));
        let long = check_header(&"X".repeat(100)).unwrap_err().to_string();
        assert!(!long.contains("XXXXXXXXXXXXXXXXX"), "{long}");
        assert!(!check_header("a\nb").unwrap_err().to_string().contains('\n'));
    }

    #[test]
    fn claims_must_be_an_object() {
        assert_eq!(
            check_claims(&json!([1]), &expected()),
            Err(ClaimError::NotAnObject)
        );
    }

    #[test]
    fn issuer_must_match_exactly() {
        assert_eq!(
            err(with(json!({"iss": "https://evil.test"}))),
            ClaimError::WrongIssuer
        );
        assert_eq!(
            err(with(json!({"iss": format!("{ISS}/")}))),
            ClaimError::WrongIssuer
        );
        assert_eq!(
            err(with(json!({"iss": ISS.to_uppercase()}))),
            ClaimError::WrongIssuer
        );
        assert_eq!(err(with(json!({"iss": null}))), ClaimError::Missing("iss"));
        assert_eq!(err(with(json!({"iss": 1}))), ClaimError::Missing("iss"));
    }

    #[test]
    fn audience_must_contain_the_client_id() {
        assert_eq!(
            err(with(json!({"aud": "other"}))),
            ClaimError::WrongAudience
        );
        assert_eq!(
            err(with(json!({"aud": ["other"]}))),
            ClaimError::WrongAudience
        );
        assert_eq!(err(with(json!({"aud": []}))), ClaimError::WrongAudience);
        assert_eq!(err(with(json!({"aud": null}))), ClaimError::Missing("aud"));
        assert_eq!(
            err(with(json!({"aud": [CLIENT, 5]}))),
            ClaimError::Missing("aud")
        );
        assert_eq!(
            err(with(json!({"aud": {"a": CLIENT}}))),
            ClaimError::Missing("aud")
        );
        assert!(check_claims(&with(json!({"aud": [CLIENT]})), &expected()).is_ok());
    }

    #[test]
    fn several_audiences_need_azp_to_be_the_client_id() {
        let two = json!([CLIENT, "other"]);
        assert_eq!(
            err(with(json!({"aud": two}))),
            ClaimError::WrongAuthorizedParty
        );
        assert_eq!(
            err(with(json!({"aud": two, "azp": "other"}))),
            ClaimError::WrongAuthorizedParty
        );
        assert!(check_claims(&with(json!({"aud": two, "azp": CLIENT})), &expected()).is_ok());
        // A present azp must be ours even with a single audience.
        assert_eq!(
            err(with(json!({"azp": "other"}))),
            ClaimError::WrongAuthorizedParty
        );
        assert_eq!(
            err(with(json!({"azp": 1}))),
            ClaimError::WrongAuthorizedParty
        );
        assert!(check_claims(&with(json!({"azp": CLIENT})), &expected()).is_ok());
    }

    #[test]
    fn exp_is_required_and_allows_the_skew() {
        assert_eq!(err(with(json!({"exp": null}))), ClaimError::Missing("exp"));
        assert_eq!(
            err(with(json!({"exp": "soon"}))),
            ClaimError::Missing("exp")
        );
        assert_eq!(err(with(json!({"exp": NOW - 60}))), ClaimError::Expired);
        assert_eq!(err(with(json!({"exp": NOW - 3600}))), ClaimError::Expired);
        assert!(check_claims(&with(json!({"exp": NOW - 59})), &expected()).is_ok());
        assert!(check_claims(&with(json!({"exp": (NOW + 10) as f64 + 0.5})), &expected()).is_ok());
        let strict = Expectations {
            skew_s: 0,
            ..expected()
        };
        assert_eq!(
            check_claims(&with(json!({"exp": NOW})), &strict),
            Err(ClaimError::Expired)
        );
    }

    #[test]
    fn nbf_if_present_must_have_passed_within_the_skew() {
        assert_eq!(err(with(json!({"nbf": NOW + 61}))), ClaimError::NotYetValid);
        assert!(check_claims(&with(json!({"nbf": NOW + 60})), &expected()).is_ok());
        assert!(check_claims(&with(json!({"nbf": NOW - 100})), &expected()).is_ok());
        assert_eq!(err(with(json!({"nbf": "now"}))), ClaimError::Missing("nbf"));
    }

    #[test]
    fn iat_is_required_and_not_in_the_future() {
        assert_eq!(err(with(json!({"iat": null}))), ClaimError::Missing("iat"));
        assert_eq!(
            err(with(json!({"iat": NOW + 61}))),
            ClaimError::IssuedInFuture
        );
        assert!(check_claims(&with(json!({"iat": NOW + 60})), &expected()).is_ok());
    }

    #[test]
    fn nonce_must_match() {
        assert_eq!(
            err(with(json!({"nonce": "other"}))),
            ClaimError::NonceMismatch
        );
        assert_eq!(
            err(with(json!({"nonce": format!("{NONCE}x")}))),
            ClaimError::NonceMismatch
        );
        assert_eq!(err(with(json!({"nonce": ""}))), ClaimError::NonceMismatch);
        assert_eq!(
            err(with(json!({"nonce": null}))),
            ClaimError::Missing("nonce")
        );
        // An empty expected nonce never matches, not even an empty claim.
        let unset = Expectations {
            nonce: String::new(),
            ..expected()
        };
        assert_eq!(
            check_claims(&with(json!({"nonce": ""})), &unset),
            Err(ClaimError::NonceMismatch)
        );
    }

    #[test]
    fn subject_is_required_and_bounded() {
        assert_eq!(err(with(json!({"sub": null}))), ClaimError::Missing("sub"));
        assert_eq!(err(with(json!({"sub": 42}))), ClaimError::Missing("sub"));
        assert_eq!(err(with(json!({"sub": ""}))), ClaimError::BadSubject);
        assert_eq!(
            err(with(json!({"sub": "s".repeat(256)}))),
            ClaimError::BadSubject
        );
        assert!(check_claims(&with(json!({"sub": "s".repeat(255)})), &expected()).is_ok());
    }

    #[test]
    fn email_is_required_and_must_be_verified_as_a_boolean() {
        assert_eq!(
            err(with(json!({"email": null}))),
            ClaimError::Missing("email")
        );
        assert_eq!(
            err(with(json!({"email": ""}))),
            ClaimError::Missing("email")
        );
        for bad in [json!(false), json!("true"), json!(1), json!(null)] {
            assert_eq!(
                err(with(json!({"email_verified": bad}))),
                ClaimError::EmailNotVerified,
                "{bad}"
            );
        }
    }

    #[test]
    fn name_is_optional() {
        let id = check_claims(&with(json!({"name": null})), &expected()).unwrap();
        assert_eq!(id.name, None);
    }

    #[test]
    fn teams_come_from_the_configured_claim() {
        let custom = Expectations {
            teams_claim: "https://example.test/teams".into(),
            ..expected()
        };
        let claims = with(json!({"https://example.test/teams": ["a"]}));
        assert_eq!(check_claims(&claims, &custom).unwrap().teams, vec!["a"]);
        // Absent or null means no teams.
        assert!(check_claims(&good(), &custom).unwrap().teams.is_empty());
        let none = check_claims(&with(json!({"groups": null})), &expected()).unwrap();
        assert!(none.teams.is_empty());
    }

    #[test]
    fn malformed_teams_are_refused() {
        for bad in [
            json!("eng"),
            json!([1]),
            json!(["eng", null]),
            json!({"eng": true}),
        ] {
            let e = err(with(json!({"groups": bad})));
            assert_eq!(e, ClaimError::MalformedTeams("groups".into()));
            assert!(e.to_string().contains("OIDC_TEAMS_CLAIM"));
        }
    }

    #[test]
    fn allowed_teams_require_membership_when_set() {
        let only = |teams: &[&str]| Expectations {
            allowed_teams: Some(teams.iter().map(|t| t.to_string()).collect()),
            ..expected()
        };
        assert!(check_claims(&good(), &only(&["ops", "sales"])).is_ok());
        assert_eq!(
            check_claims(&good(), &only(&["sales"])),
            Err(ClaimError::NotInAllowedTeam)
        );
        assert_eq!(
            check_claims(&with(json!({"groups": null})), &only(&["eng"])),
            Err(ClaimError::NotInAllowedTeam)
        );
        // Team names compare exactly.
        assert_eq!(
            check_claims(&good(), &only(&["ENG"])),
            Err(ClaimError::NotInAllowedTeam)
        );
        // Some(empty) is no restriction, like None.
        assert!(check_claims(&with(json!({"groups": null})), &only(&[])).is_ok());
        // The rule the device approval and the provider's renewal ask too.
        let eng = ["eng".to_owned()];
        assert!(admitted(&[], &[]));
        assert!(admitted(&eng, &["ops".to_owned(), "eng".to_owned()]));
        assert!(!admitted(&eng, &[]));
        assert!(!admitted(&eng, &["ENG".to_owned()]));
    }

    #[test]
    fn messages_name_the_problem_without_secrets() {
        let e = err(with(json!({"nonce": "attacker-nonce"})));
        assert!(!e.to_string().contains(NONCE) && !e.to_string().contains("attacker-nonce"));
        assert!(err(with(json!({"exp": null})))
            .to_string()
            .contains("`exp`"));
        // Shown to the person who tried to sign in: what happened and who can fix it.
        assert!(ClaimError::NotInAllowedTeam
            .to_string()
            .contains("not in any of the teams allowed"));
        assert!(ClaimError::EmailNotVerified
            .to_string()
            .contains("not verified your email"));
    }
}
