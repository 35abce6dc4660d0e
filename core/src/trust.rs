//! Trust policies: CI with no stored secret. A CI job presents the ID token its platform signs
//! (GitHub Actions, GitLab, …) at the token endpoint (RFC 8693 token exchange); a project's
//! policy names the issuer, the audience it expects, conditions on the token's claims (which
//! repository, branch, environment) and what a matching job gets: an access token for the
//! policy's workspaces that lives minutes. Here are the rules: what a policy may say
//! ([`NewTrustPolicy::from_json`]), whether an ID token's claims satisfy it ([`Conditions::check`],
//! [`check_id_token_claims`]), and who the job is ([`CiIdentity`]). The Worker fetches the
//! issuer's keys and checks the signature.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::uri::url_problem;
use crate::workspace::Scope;

/// The CI issuers a policy may name when `TRUST_ISSUERS` is unset: GitHub Actions and
/// gitlab.com. A self-hosted GitLab, CircleCI or Buildkite is added by the operator.
pub const DEFAULT_ISSUERS: [&str; 2] = [
    "https://token.actions.githubusercontent.com",
    "https://gitlab.com",
];

/// The lifetime of the tokens a policy yields when it says none: 15 minutes.
pub const DEFAULT_LIFETIME_S: u32 = 900;
/// The longest lifetime a policy may give its tokens: one hour.
pub const MAX_LIFETIME_S: u32 = 3600;
/// The shortest.
pub const MIN_LIFETIME_S: u32 = 60;
/// Most live trust policies one project may have.
pub const MAX_POLICIES: u32 = 100;
/// Most claims one policy may set conditions on.
pub const MAX_CONDITIONS: usize = 16;
/// Most patterns one condition may list.
pub const MAX_PATTERNS: usize = 16;
/// Longest pattern, claim name, issuer or audience.
pub const MAX_TEXT_LEN: usize = 256;
/// Allowance for clock differences with the issuer, in seconds, on `exp`, `nbf` and `iat`.
pub const CLOCK_SKEW_S: i64 = 60;
/// The longest an ID token may claim to live (`exp` − `iat`) to be exchanged: CI platforms
/// issue them for minutes; one that lives longer is not one.
pub const MAX_ID_TOKEN_LIFETIME_S: i64 = 24 * 3600;

/// The claims a policy must pin, at least one of them, with patterns that are exact or have a
/// `/` before their first `*`: what names the repository or project (or the whole `sub`). Without one, any job on the
/// platform could ask for the audience and match.
pub const IDENTIFYING_CLAIMS: [&str; 9] = [
    "sub",
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "project_path",
    "project_id",
    "namespace_path",
    "namespace_id",
];

/// Claims the exchange checks itself, on which a policy sets no conditions.
const RESERVED_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];

/// Conditions on an ID token's claims: for every claim named, its value (a string, or a
/// number or boolean as its JSON text) must match one of the patterns. A pattern is exact
/// text in which `*` stands for any run of characters (none included).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Conditions(pub BTreeMap<String, Vec<String>>);

impl Conditions {
    /// `Ok` when every condition holds; else which claim failed, naming the value the token
    /// has (claims of an ID token are not secret; the token itself is never echoed) but not
    /// the policy's patterns: anyone with a signed ID token may ask, and a project's
    /// conditions are its own.
    pub fn check(&self, claims: &Map<String, Value>) -> Result<(), String> {
        for (claim, patterns) in &self.0 {
            let value = match claims.get(claim) {
                Some(Value::String(s)) => s.clone(),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
                Some(_) => {
                    return Err(format!(
                        "the ID token's `{claim}` claim is not a string, number or boolean"
                    ))
                }
                None => return Err(format!("the ID token has no `{claim}` claim")),
            };
            if !patterns.iter().any(|p| glob_matches(p, &value)) {
                return Err(format!(
                    "the ID token's `{claim}` is `{}`, which the policy does not allow",
                    value.escape_default(),
                ));
            }
        }
        Ok(())
    }
}

/// Why a policy may not name `issuer` on this server, if it may not: only the operator's
/// `TRUST_ISSUERS` (`issuers`) are trusted.
pub fn untrusted_issuer(issuer: &str, issuers: &[String]) -> Option<String> {
    if issuers.iter().any(|i| i == issuer) {
        return None;
    }
    Some(match issuers {
        [] => "this server trusts no CI issuer (its TRUST_ISSUERS is `none`); the operator lists the CI platforms to trust there".to_owned(),
        _ => format!(
            "this server does not trust the issuer `{}` (it trusts {}); the operator adds a CI platform to TRUST_ISSUERS",
            issuer.escape_default(),
            issuers.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
        ),
    })
}

/// Does `text` match `pattern`, where `*` stands for any run of characters?
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// A policy as asked for (`POST /api/trust-policies`), checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTrustPolicy {
    pub name: String,
    /// The CI platform's issuer (`iss`): https, or http on a loopback host.
    pub issuer: String,
    /// The `aud` the ID token must carry.
    pub audience: String,
    pub conditions: Conditions,
    /// What a matching job's token covers.
    pub scope: Scope,
    /// How long its tokens live.
    pub lifetime_s: u32,
}

impl NewTrustPolicy {
    /// Reads `{"name", "issuer", "audience"?, "conditions": {claim: pattern | [patterns]},
    /// "workspaces": [...], "token_lifetime_seconds"?}`; the audience defaults to
    /// `default_audience` (the server's own origin, which `edgeauth login --ci` asks for).
    /// Whether the server trusts the issuer is [`untrusted_issuer`]'s to say.
    pub fn from_json(body: &Value, default_audience: &str) -> Result<Self, String> {
        let object = body.as_object().ok_or(
            "the body must be a JSON object: {\"name\", \"issuer\", \"conditions\", \"workspaces\"}",
        )?;
        const FIELDS: [&str; 6] = [
            "name",
            "issuer",
            "audience",
            "conditions",
            "workspaces",
            "token_lifetime_seconds",
        ];
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(format!(
                "unknown field `{}`; the fields are {}",
                unknown.escape_default(),
                FIELDS.map(|f| format!("`{f}`")).join(", ")
            ));
        }
        let text = |field: &str, required: bool| -> Result<Option<String>, String> {
            match object.get(field) {
                None if !required => Ok(None),
                None => Err(format!("`{field}` is required")),
                Some(Value::Null) if required => Err(format!("`{field}` is required")),
                Some(Value::String(s)) => {
                    let s = s.trim();
                    if s.is_empty() || s.chars().count() > MAX_TEXT_LEN {
                        Err(format!("`{field}` must be 1 to {MAX_TEXT_LEN} characters"))
                    } else if s.chars().any(char::is_control) {
                        Err(format!("`{field}` has a control character"))
                    } else {
                        Ok(Some(s.to_owned()))
                    }
                }
                Some(_) => Err(format!("`{field}` must be a string")),
            }
        };
        let name = text("name", true)?.unwrap_or_default();
        if name.chars().count() > 100 {
            return Err("`name` must be 1 to 100 characters".into());
        }
        let issuer = text("issuer", true)?.unwrap_or_default();
        if let Some(problem) = url_problem(&issuer) {
            return Err(format!(
                "`issuer` {problem} (the CI platform's, e.g. https://token.actions.githubusercontent.com)"
            ));
        }
        let audience = text("audience", false)?.unwrap_or_else(|| default_audience.to_owned());
        let conditions = conditions(object.get("conditions"))?;
        let patterns = object
            .get("workspaces")
            .ok_or("`workspaces` is required: the workspace patterns a matching job may act on")?
            .as_array()
            .ok_or("`workspaces` must be a list of workspace patterns")?
            .iter()
            .map(|p| p.as_str().ok_or("`workspaces` must hold strings"))
            .collect::<Result<Vec<&str>, _>>()?;
        let scope = Scope::parse(&patterns).map_err(|e| format!("`workspaces`: {e}"))?;
        let lifetime_s = match object.get("token_lifetime_seconds") {
            None => DEFAULT_LIFETIME_S,
            // A whole number, written `900` or `900.0` (JSON does not tell them apart).
            Some(v) => v
                .as_u64()
                .or_else(|| {
                    v.as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX))
                        .map(|f| f as u64)
                })
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (MIN_LIFETIME_S..=MAX_LIFETIME_S).contains(n))
                .ok_or(format!(
                    "`token_lifetime_seconds` must be a whole number from {MIN_LIFETIME_S} to {MAX_LIFETIME_S} (one hour)"
                ))?,
        };
        Ok(NewTrustPolicy {
            name,
            issuer,
            audience,
            conditions,
            scope,
            lifetime_s,
        })
    }
}

fn conditions(value: Option<&Value>) -> Result<Conditions, String> {
    let object = value
        .ok_or("`conditions` is required: which repository (and branch, environment…) may use the policy, e.g. {\"repository\": \"octo-org/octo-repo\", \"ref\": \"refs/heads/main\"}")?
        .as_object()
        .ok_or("`conditions` must be an object of claim names to a pattern or a list of patterns")?;
    if object.is_empty() || object.len() > MAX_CONDITIONS {
        return Err(format!(
            "`conditions` must name 1 to {MAX_CONDITIONS} claims"
        ));
    }
    let mut out = BTreeMap::new();
    for (claim, value) in object {
        let valid_name = !claim.is_empty()
            && claim.len() <= 64
            && claim
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if !valid_name {
            return Err(format!(
                "`conditions`: `{}` is not a claim name (letters, digits, `_`, `-`, `.`, `:`; at most 64)",
                claim.escape_default()
            ));
        }
        if RESERVED_CLAIMS.contains(&claim.as_str()) {
            return Err(format!(
                "`conditions`: `{claim}` is checked by the exchange itself (issuer, audience, times, replay); set `issuer` or `audience` instead"
            ));
        }
        let patterns: Vec<String> = match value {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) if !items.is_empty() && items.len() <= MAX_PATTERNS => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(format!("`conditions.{claim}` must hold strings"))?,
            _ => {
                return Err(format!(
                "`conditions.{claim}` must be a pattern or a list of 1 to {MAX_PATTERNS} patterns"
            ))
            }
        };
        for pattern in &patterns {
            if pattern.is_empty()
                || pattern.chars().count() > MAX_TEXT_LEN
                || pattern.chars().any(char::is_control)
            {
                return Err(format!(
                    "`conditions.{claim}`: a pattern is 1 to {MAX_TEXT_LEN} characters, no control characters"
                ));
            }
            if pattern.chars().all(|c| c == '*') {
                return Err(format!(
                    "`conditions.{claim}`: `{pattern}` matches anything; leave the claim out instead"
                ));
            }
        }
        out.insert(claim.clone(), patterns);
    }
    let pinned = out.iter().any(|(claim, patterns)| {
        IDENTIFYING_CLAIMS.contains(&claim.as_str()) && patterns.iter().all(|p| pins(p))
    });
    if !pinned {
        return Err(format!(
            "`conditions` must pin who may use the policy: one of {} with patterns that are exact or have a `/` before their first `*`, e.g. `octo-org/*` (any job on the platform can ask for an ID token with your audience)",
            IDENTIFYING_CLAIMS.map(|c| format!("`{c}`")).join(", ")
        ));
    }
    Ok(Conditions(out))
}

/// Does `pattern` pin an owner: no `*` at all, or a `/` before its first `*` (`octo-org/*`,
/// `repo:octo-org/*`), so that `repo:*` or `octo-org*` (which also matches `octo-org-evil`)
/// do not count?
fn pins(pattern: &str) -> bool {
    match pattern.split_once('*') {
        None => true,
        Some((before, _)) => before.contains('/'),
    }
}

/// Checks an ID token's registered claims for the exchange: `iss` is `issuer`, `aud` is (or
/// contains) `audience`, `exp` has not passed, `nbf` and `iat` are not in the future (each
/// with [`CLOCK_SKEW_S`]), it lives at most [`MAX_ID_TOKEN_LIFETIME_S`], and it has a `sub`
/// and a `jti` (the replay check needs one). `now_s` is Unix seconds.
pub fn check_id_token_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    audience: &str,
    now_s: i64,
) -> Result<(), String> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err("the ID token's `iss` is not the policy's issuer".into());
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    };
    if !audience_ok {
        return Err(format!(
            "the ID token's `aud` is not `{}`, the audience the policy expects; request the ID token for that audience",
            audience.escape_default()
        ));
    }
    let time = |name: &'static str| -> Result<Option<i64>, String> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                .map(Some)
                .ok_or(format!("the ID token's `{name}` is not a number")),
        }
    };
    let exp = time("exp")?.ok_or("the ID token has no `exp`")?;
    if now_s >= exp.saturating_add(CLOCK_SKEW_S) {
        return Err("the ID token has expired; request a new one".into());
    }
    if let Some(nbf) = time("nbf")? {
        if nbf > now_s.saturating_add(CLOCK_SKEW_S) {
            return Err("the ID token is not valid yet (`nbf` is in the future)".into());
        }
    }
    let iat = time("iat")?.ok_or("the ID token has no `iat`")?;
    if iat > now_s.saturating_add(CLOCK_SKEW_S) {
        return Err("the ID token was issued in the future (`iat`); check the clocks".into());
    }
    if exp.saturating_sub(iat) > MAX_ID_TOKEN_LIFETIME_S {
        return Err(
            "the ID token lives longer than a CI platform's do (`exp` - `iat` over a day)".into(),
        );
    }
    for name in ["sub", "jti"] {
        let ok = claims
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty() && s.len() <= MAX_TEXT_LEN);
        if !ok {
            return Err(format!(
                "the ID token has no usable `{name}` (a string of 1 to {MAX_TEXT_LEN} bytes)"
            ));
        }
    }
    Ok(())
}

/// Who a CI job is, as its ID token says: what whoami, the audit trail, the gateway's
/// assertion and introspection show. Only short, non-secret claims, cut to
/// [`MAX_IDENTITY_LEN`] characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiIdentity {
    /// The platform (`iss`).
    pub issuer: String,
    /// Its subject (`sub`), e.g. `repo:octo-org/octo-repo:ref:refs/heads/main`.
    pub subject: String,
    /// `repository` (GitHub) or `project_path` (GitLab).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// `ref`.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// `run_id` (GitHub) or `pipeline_id` (GitLab).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// `workflow_ref` / `job_workflow_ref` (GitHub) or `ci_config_ref_uri` (GitLab).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

/// Longest text kept of an identity's claims.
pub const MAX_IDENTITY_LEN: usize = 128;

impl CiIdentity {
    /// The identity in `claims` (already checked by [`check_id_token_claims`]).
    pub fn from_claims(claims: &Map<String, Value>) -> Self {
        let first = |names: &[&str]| {
            names.iter().find_map(|n| match claims.get(*n) {
                Some(Value::String(s)) if !s.is_empty() => Some(cut(s)),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
        };
        CiIdentity {
            issuer: first(&["iss"]).unwrap_or_default(),
            subject: first(&["sub"]).unwrap_or_default(),
            repository: first(&["repository", "project_path"]),
            git_ref: first(&["ref"]),
            run_id: first(&["run_id", "pipeline_id"]),
            workflow: first(&["job_workflow_ref", "workflow_ref", "ci_config_ref_uri"]),
        }
    }

    /// A name for people: the repository, else the subject.
    pub fn name(&self) -> &str {
        self.repository.as_deref().unwrap_or(&self.subject)
    }
}

fn cut(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_IDENTITY_LEN)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AUD: &str = "https://auth.example.com";
    const GITHUB: &str = "https://token.actions.githubusercontent.com";
    const LOCAL: &str = "http://127.0.0.1:9999";

    fn issuers() -> Vec<String> {
        vec![GITHUB.to_owned(), LOCAL.to_owned()]
    }

    fn policy(conditions: Value) -> Result<NewTrustPolicy, String> {
        NewTrustPolicy::from_json(
            &json!({"name": "deploy", "issuer": GITHUB, "conditions": conditions,
                    "workspaces": ["production/*"]}),
            AUD,
        )
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn globs_match_runs_of_anything() {
        assert!(glob_matches("refs/heads/main", "refs/heads/main"));
        assert!(!glob_matches("refs/heads/main", "refs/heads/main2"));
        assert!(glob_matches("refs/tags/v*", "refs/tags/v1.2"));
        assert!(glob_matches("refs/tags/v*", "refs/tags/v"));
        assert!(!glob_matches("refs/tags/v*", "refs/heads/v1"));
        assert!(glob_matches("octo-org/*", "octo-org/a/b"));
        assert!(glob_matches(
            "*@refs/heads/main",
            "o/r/.github/w.yml@refs/heads/main"
        ));
        assert!(glob_matches("a*b*c", "aXbYc"));
        assert!(!glob_matches("a*b*c", "aXcYb"));
        assert!(!glob_matches("ab*ba", "aba"), "the ends may not overlap");
        assert!(glob_matches("*", ""));
    }

    #[test]
    fn a_policy_reads_with_defaults() {
        let p = policy(
            json!({"repository": "octo-org/octo-repo", "ref": ["refs/heads/main", "refs/tags/v*"]}),
        )
        .unwrap();
        assert_eq!(p.audience, AUD);
        assert_eq!(p.lifetime_s, DEFAULT_LIFETIME_S);
        assert_eq!(p.scope.to_strings(), ["production/*"]);
        assert_eq!(p.conditions.0["ref"], ["refs/heads/main", "refs/tags/v*"]);
        assert_eq!(p.conditions.0["repository"], ["octo-org/octo-repo"]);
    }

    #[test]
    fn a_policy_must_pin_who_may_use_it() {
        for conditions in [
            json!({"ref": "refs/heads/main"}),
            json!({"repository": "*/octo-repo"}),
            json!({"repository": ["octo-org/x", "*"]}),
            json!({"sub": "repo:*"}),
            json!({"repository": "octo-org*"}),
            json!({"repository_owner": "octo*"}),
            json!({}),
        ] {
            let e = policy(conditions.clone()).unwrap_err();
            assert!(
                e.contains("pin") || e.contains("1 to 16") || e.contains("matches anything"),
                "{conditions}: {e}"
            );
        }
        assert!(policy(json!({"sub": "repo:octo-org/octo-repo:environment:prod"})).is_ok());
        assert!(policy(json!({"repository": "octo-org/*"})).is_ok());
        assert!(policy(json!({"sub": "repo:octo-org/*"})).is_ok());
        assert!(policy(json!({"project_path": "group/project", "ref": "main"})).is_ok());
    }

    #[test]
    fn bad_policies_say_what_to_fix() {
        let base = json!({"name": "d", "issuer": GITHUB, "conditions": {"repository": "o/r"},
                          "workspaces": ["*"]});
        let with = |field: &str, value: Value| {
            let mut body = base.clone();
            body[field] = value;
            NewTrustPolicy::from_json(&body, AUD).unwrap_err()
        };
        assert!(with("issuer", json!("http://ci.example.com")).contains("`issuer`"));
        assert!(with("issuer", json!("not a url")).contains("`issuer`"));
        assert!(with("token_lifetime_seconds", json!(3601)).contains("one hour"));
        assert!(with("token_lifetime_seconds", json!(59)).contains("60"));
        assert!(with("token_lifetime_seconds", json!(null)).contains("whole number"));
        assert!(with("audience", json!(null)).contains("`audience` must be a string"));
        assert!(with("token_lifetime_seconds", json!(600.5)).contains("whole number"));
        let mut float = base.clone();
        float["token_lifetime_seconds"] = json!(600.0);
        assert_eq!(
            NewTrustPolicy::from_json(&float, AUD).unwrap().lifetime_s,
            600
        );
        assert!(with("workspaces", json!(["a/**"])).contains("`workspaces`"));
        assert!(with("conditions", json!({"aud": "x", "repository": "o/r"}))
            .contains("exchange itself"));
        assert!(with("conditions", json!({"repo sitory": "o/r"})).contains("not a claim name"));
        assert!(with("conditions", json!({"repository": 5})).contains("pattern"));
        assert!(with("owner", json!("x")).contains("unknown field `owner`"));
        let mut no_ws = base.clone();
        no_ws.as_object_mut().unwrap().remove("workspaces");
        assert!(NewTrustPolicy::from_json(&no_ws, AUD)
            .unwrap_err()
            .contains("`workspaces` is required"));
        // A loopback http issuer is fine (local development and tests).
        let mut local = base;
        local["issuer"] = json!(LOCAL);
        assert!(NewTrustPolicy::from_json(&local, AUD).is_ok());
    }

    #[test]
    fn only_the_operators_issuers_are_trusted() {
        assert_eq!(untrusted_issuer(GITHUB, &issuers()), None);
        assert_eq!(untrusted_issuer(LOCAL, &issuers()), None);
        let e = untrusted_issuer("https://gitlab.com", &issuers()).unwrap();
        assert!(e.contains("TRUST_ISSUERS") && e.contains(GITHUB), "{e}");
        // Exactly: no trailing-slash or case leniency.
        assert!(untrusted_issuer(&format!("{GITHUB}/"), &issuers()).is_some());
        let e = untrusted_issuer(GITHUB, &[]).unwrap();
        assert!(e.contains("`none`"), "{e}");
    }

    #[test]
    fn conditions_name_the_claim_that_failed() {
        let p =
            policy(json!({"repository": "octo-org/octo-repo", "ref": "refs/heads/main"})).unwrap();
        let good = claims(json!({"repository": "octo-org/octo-repo", "ref": "refs/heads/main"}));
        assert_eq!(p.conditions.check(&good), Ok(()));
        let e = p
            .conditions
            .check(&claims(
                json!({"repository": "octo-org/octo-repo", "ref": "refs/heads/dev"}),
            ))
            .unwrap_err();
        assert!(
            e.contains("`ref` is `refs/heads/dev`") && !e.contains("refs/heads/main"),
            "the refusal names the token's value, never the policy's pattern: {e}"
        );
        let e = p
            .conditions
            .check(&claims(json!({"ref": "refs/heads/main"})))
            .unwrap_err();
        assert!(e.contains("no `repository`"), "{e}");
        let e = p
            .conditions
            .check(&claims(
                json!({"repository": ["octo-org/octo-repo"], "ref": "refs/heads/main"}),
            ))
            .unwrap_err();
        assert!(e.contains("not a string"), "{e}");
        // Numbers compare as their text.
        let ids = policy(json!({"repository_id": "42"})).unwrap();
        assert_eq!(
            ids.conditions.check(&claims(json!({"repository_id": 42}))),
            Ok(())
        );
    }

    fn id_token(now: i64) -> Value {
        json!({"iss": GITHUB, "aud": AUD, "sub": "repo:o/r:ref:refs/heads/main", "jti": "j1",
               "iat": now - 10, "nbf": now - 10, "exp": now + 290})
    }

    #[test]
    fn registered_claims_are_checked_with_skew() {
        let now = 1_800_000_000;
        let ok = |v: Value| check_id_token_claims(&claims(v), GITHUB, AUD, now);
        assert_eq!(ok(id_token(now)), Ok(()));
        let mut many = id_token(now);
        many["aud"] = json!(["other", AUD]);
        assert_eq!(ok(many), Ok(()));
        let case = |name: &str, value: Value| {
            let mut t = id_token(now);
            if value.is_null() {
                t.as_object_mut().unwrap().remove(name);
            } else {
                t[name] = value;
            }
            ok(t).unwrap_err()
        };
        assert!(case("iss", json!("https://gitlab.com")).contains("`iss`"));
        assert!(case("aud", json!("https://other.example.com")).contains("`aud`"));
        assert!(case("aud", Value::Null).contains("`aud`"));
        assert!(case("exp", json!(now - 61)).contains("expired"));
        assert_eq!(
            ok({
                let mut t = id_token(now);
                t["exp"] = json!(now - 59);
                t
            }),
            Ok(()),
            "within the skew"
        );
        assert!(case("exp", Value::Null).contains("no `exp`"));
        assert!(case("nbf", json!(now + 61)).contains("not valid yet"));
        assert!(case("iat", json!(now + 61)).contains("future"));
        assert!(case("iat", json!(now - 2 * 86_400)).contains("longer"));
        assert!(case("jti", Value::Null).contains("`jti`"));
        assert!(case("sub", json!("")).contains("`sub`"));
        assert!(case("exp", json!("soon")).contains("not a number"));
    }

    #[test]
    fn the_identity_takes_github_and_gitlab_claims() {
        let github = CiIdentity::from_claims(&claims(json!({
            "iss": GITHUB, "sub": "repo:o/r:ref:refs/heads/main", "repository": "o/r",
            "ref": "refs/heads/main", "run_id": "123", "job_workflow_ref": "o/r/.github/workflows/d.yml@refs/heads/main"
        })));
        assert_eq!(github.name(), "o/r");
        assert_eq!(github.run_id.as_deref(), Some("123"));
        let gitlab = CiIdentity::from_claims(&claims(json!({
            "iss": "https://gitlab.com", "sub": "project_path:g/p:ref_type:branch:ref:main",
            "project_path": "g/p", "ref": "main", "pipeline_id": 77
        })));
        assert_eq!(gitlab.repository.as_deref(), Some("g/p"));
        assert_eq!(gitlab.run_id.as_deref(), Some("77"));
        let long = CiIdentity::from_claims(&claims(json!({"sub": "x".repeat(500)})));
        assert_eq!(long.subject.len(), MAX_IDENTITY_LEN);
        assert_eq!(long.name(), long.subject);
    }
}
