//! The Worker's settings, read from vars and secrets, validated all at once.
//!
//! A missing or malformed setting becomes a [`ConfigProblem`] naming it; the Worker then fails
//! closed (every endpoint but `/healthz` answers 503 with the problems), never a panic or a
//! blank 500. Settings that are merely absent turn features off instead: without `SECRET`
//! service tokens answer 501, without a super token there is no super token.

use core::fmt;

use crate::access_token;
use crate::crypto::{RootSecret, TokenHash};
use crate::gateway::Gateway;
use crate::project::ProjectName;
use crate::refresh::{self, RefreshFamilyPolicy};
use crate::role::TeamRoles;
use crate::secret_scanning::ScanningKeys;
use crate::signing;
use crate::trust;

/// The path of the discovery document below the issuer (OIDC Discovery 1.0 §4).
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub use crate::uri::{is_loopback_host, is_port_number, url_problem};

/// The project used when neither the request nor `DEFAULT_PROJECT` names one.
pub const DEFAULT_PROJECT: &str = "default";

/// Shortest accepted `SUPER_TOKEN`: 16 characters.
pub const MIN_SUPER_TOKEN_LEN: usize = 16;

/// A setting that is present but unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The variable's name, e.g. `SECRET`.
    pub setting: &'static str,
    /// What is wrong and how to fix it; never the value itself.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.message)
    }
}

/// The validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `AUTH_DISABLED=true`: anonymous full access, honoured only on a loopback host.
    pub auth_disabled: bool,
    /// The SHA-256 of the super token, from `SUPER_TOKEN` or `SUPER_TOKEN_HASH`.
    pub super_token_hash: Option<TokenHash>,
    /// `SECRET`, the root of every derived key.
    pub secret: Option<RootSecret>,
    /// `SECRET_PREVIOUS`: another root whose derived keys still verify (never sign or tag
    /// anything new), for rotating `SECRET` without downtime.
    pub secret_previous: Option<RootSecret>,
    /// `DEFAULT_PROJECT` (default `default`), used when a request names no project.
    pub default_project: ProjectName,
    /// `PUBLIC_READS` (default true): read endpoints need no credential.
    pub public_reads: bool,
    /// The identity provider, when `OIDC_ISSUER` is set.
    pub oidc: Option<OidcSettings>,
    /// `PUBLIC_URL`: the Worker's own origin, for redirects (`https://auth.example.com`).
    pub public_url: Option<String>,
    /// `ACCESS_TOKEN_TTL_SECONDS` (default 900, 1 to 900): how long a device-flow access token
    /// lives; nothing can revoke one sooner.
    pub access_token_ttl_s: u32,
    /// `REFRESH_FAMILY_MAX_AGE_SECONDS` (default 30 days, 1 s to 365 days): how long a device
    /// login lasts from its approval, however often its refresh token rotates.
    pub refresh_family: RefreshFamilyPolicy,
    /// `REVOCATION_BOUND_SECONDS` (default 10, 0 to 60): how long an isolate may go on
    /// accepting a verified credential without reading storage again, so the longest a revoked
    /// token or ended session keeps working in another isolate. 0 turns the cache off.
    pub revocation_bound_s: u32,
    /// `SIGNING_KEY_PERIOD_SECONDS` (default one day, 60 s to 30 days): how often the published
    /// Ed25519 key that signs access tokens and gateway assertions rotates
    /// ([`crate::signing`]).
    pub signing_key_period_s: u32,
    /// `GATEWAY`: the routes proxied to an origin, when set ([`crate::gateway`]).
    pub gateway: Option<Gateway>,
    /// `ADMIN_TEAMS` and `MEMBER_TEAMS` (comma-separated): the teams that administer and use
    /// every project without an override of its own ([`crate::role`]). Neither set: every
    /// signed-in person is a member, and only the super token administers.
    pub roles: TeamRoles,
    /// `TRUST_ISSUERS` (comma-separated; default GitHub Actions' and gitlab.com's issuers;
    /// `none` for no exchange at all): the CI platforms whose ID tokens a trust policy may
    /// accept ([`crate::trust`]). An issuer taken off the list stops every policy naming it.
    pub trust_issuers: Vec<String>,
    /// `AUDIT_RETENTION_DAYS` (default 365, 1 to 3650): how long the scheduled retention keeps
    /// audit events.
    pub audit_retention_days: u32,
    /// `SECRET_SCANNING_KEYS`: GitHub's secret-scanning public keys, the JSON it publishes
    /// ([`crate::secret_scanning`]); unset, the partner endpoint is off (501).
    pub secret_scanning_keys: Option<ScanningKeys>,
}

/// The default of `AUDIT_RETENTION_DAYS`.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 365;

/// The default of `REVOCATION_BOUND_SECONDS`.
pub const DEFAULT_REVOCATION_BOUND_S: u32 = 10;
/// The largest `REVOCATION_BOUND_SECONDS`.
pub const MAX_REVOCATION_BOUND_S: u32 = 60;

/// How to reach and trust the OIDC identity provider.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// `OIDC_ISSUER`: https, or http on a loopback host (local development).
    pub issuer: String,
    /// `OIDC_CLIENT_ID`.
    pub client_id: String,
    /// `OIDC_CLIENT_SECRET`; never printed.
    pub client_secret: String,
    /// `OIDC_SCOPES` (default `openid email profile`); must include `openid`.
    pub scopes: Vec<String>,
    /// `OIDC_TEAMS_CLAIM` (default `groups`): the ID-token claim that lists teams.
    pub teams_claim: String,
    /// `ALLOWED_TEAMS` (comma-separated): when non-empty, only members may sign in.
    pub allowed_teams: Vec<String>,
}

impl fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("teams_claim", &self.teams_claim)
            .field("allowed_teams", &self.allowed_teams)
            .finish()
    }
}

impl Config {
    /// Reads every setting through `get` (which returns `None` for unset variables) and
    /// returns the config, or every problem found.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, Vec<ConfigProblem>> {
        // Only the super token tells "set but empty" from unset: an empty token is a mistake
        // (an unset shell variable piped into `wrangler secret put`), never "no super token".
        let super_token_set_empty = get("SUPER_TOKEN").is_some_and(|t| t.trim().is_empty());
        let get = |name: &str| get(name).filter(|v| !v.is_empty());
        let mut problems = Vec::new();
        let mut problem = |setting: &'static str, message: String| {
            problems.push(ConfigProblem { setting, message })
        };

        let auth_disabled = match parse_bool(get("AUTH_DISABLED"), false) {
            Ok(b) => b,
            Err(()) => {
                problem("AUTH_DISABLED", "must be `true` or `false`".into());
                false
            }
        };
        let public_reads = match parse_bool(get("PUBLIC_READS"), true) {
            Ok(b) => b,
            Err(()) => {
                problem("PUBLIC_READS", "must be `true` or `false`".into());
                true
            }
        };

        let super_token_hash = match (get("SUPER_TOKEN"), get("SUPER_TOKEN_HASH")) {
            _ if super_token_set_empty => {
                problem(
                    "SUPER_TOKEN",
                    "is set but empty: set a token of at least 16 characters (`openssl rand -hex 32`), or remove SUPER_TOKEN".into(),
                );
                None
            }
            (Some(_), Some(_)) => {
                problem(
                    "SUPER_TOKEN_HASH",
                    "set either SUPER_TOKEN or SUPER_TOKEN_HASH, not both".into(),
                );
                None
            }
            (Some(token), None) if token.len() < MIN_SUPER_TOKEN_LEN => {
                problem(
                    "SUPER_TOKEN",
                    format!("must be at least {MIN_SUPER_TOKEN_LEN} characters; generate one with `openssl rand -hex 32`"),
                );
                None
            }
            // A bearer token is read with surrounding whitespace trimmed: this one could never match.
            (Some(token), None) if token.trim() != token => {
                problem(
                    "SUPER_TOKEN",
                    "has leading or trailing whitespace (a newline from `echo`?), which no request can carry: store it with `printf %s`".into(),
                );
                None
            }
            (Some(token), None) => Some(TokenHash::of(&token)),
            (None, Some(hex)) => match TokenHash::from_hex(hex.trim()) {
                None => {
                    problem(
                        "SUPER_TOKEN_HASH",
                        "must be the 64 hex digits of the token's SHA-256 (`printf %s \"$TOKEN\" | sha256sum`)".into(),
                    );
                    None
                }
                Some(hash) if hash.ct_eq(&TokenHash::of("")) => {
                    problem(
                        "SUPER_TOKEN_HASH",
                        "is the SHA-256 of the empty string: no token can match it (was $TOKEN unset when it was hashed?); hash a real token, `printf %s \"$TOKEN\" | sha256sum`".into(),
                    );
                    None
                }
                Some(hash) => Some(hash),
            },
            (None, None) => None,
        };

        let secret = get("SECRET").and_then(|s| {
            let secret = RootSecret::new(&s);
            if secret.is_none() {
                problem(
                    "SECRET",
                    format!(
                        "must be at least {} bytes; generate one with `openssl rand -hex 32`",
                        crate::crypto::MIN_SECRET_BYTES
                    ),
                );
            }
            secret
        });
        let secret_previous = get("SECRET_PREVIOUS").and_then(|previous| {
            let root = RootSecret::new(&previous);
            if root.is_none() {
                problem(
                    "SECRET_PREVIOUS",
                    format!(
                        "must be at least {} bytes, like SECRET: the other secret still accepted while SECRET is rotated",
                        crate::crypto::MIN_SECRET_BYTES
                    ),
                );
            } else if get("SECRET").is_none() {
                problem(
                    "SECRET_PREVIOUS",
                    "is set without SECRET: new credentials are made under SECRET, so set it (the new secret) too".into(),
                );
            } else if get("SECRET").as_deref() == Some(previous.as_str()) {
                // Harmless (a rotation's step may pass through it): nothing more to accept.
                return None;
            }
            root
        });

        let default_project =
            ProjectName::parse(get("DEFAULT_PROJECT").as_deref().unwrap_or(DEFAULT_PROJECT))
                .unwrap_or_else(|e| {
                    problem("DEFAULT_PROJECT", e);
                    ProjectName::parse(DEFAULT_PROJECT).expect("the default is valid")
                });

        let public_url = get("PUBLIC_URL").and_then(|url| {
            let url = url.trim().trim_end_matches('/').to_owned();
            match origin_problem(&url) {
                None => Some(url),
                Some(why) => {
                    problem(
                        "PUBLIC_URL",
                        format!("{why}, e.g. `https://auth.example.com`"),
                    );
                    None
                }
            }
        });

        let oidc = get("OIDC_ISSUER").and_then(|issuer| {
            // Kept verbatim: `iss` must equal it exactly (OIDC Core §3.1.3.7), and some
            // providers' issuers end in `/` (Auth0).
            let issuer = issuer.trim().to_owned();
            let mut valid = true;
            let mut problem = |setting, message| {
                valid = false;
                problem(setting, message);
            };
            if let Some(why) = url_problem(&issuer) {
                problem(
                    "OIDC_ISSUER",
                    format!("{why}, e.g. `https://accounts.example.com`"),
                );
            } else if issuer.trim_end_matches('/').ends_with(DISCOVERY_PATH) {
                // edgeauth appends the discovery path itself (crate::oidc::discovery_url).
                problem(
                    "OIDC_ISSUER",
                    format!("is the discovery document's URL, not the issuer: set it without `{DISCOVERY_PATH}`"),
                );
            }
            let client_id = get("OIDC_CLIENT_ID").unwrap_or_default();
            if client_id.is_empty() {
                problem(
                    "OIDC_CLIENT_ID",
                    "is required when OIDC_ISSUER is set".into(),
                );
            }
            let client_secret = get("OIDC_CLIENT_SECRET").unwrap_or_default();
            if client_secret.is_empty() {
                problem(
                    "OIDC_CLIENT_SECRET",
                    "is required when OIDC_ISSUER is set".into(),
                );
            }
            let scopes: Vec<String> = get("OIDC_SCOPES")
                .unwrap_or_else(|| "openid email profile".into())
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            if !scopes.iter().any(|s| s == "openid") {
                problem("OIDC_SCOPES", "must include `openid`".into());
            }
            let teams_claim = get("OIDC_TEAMS_CLAIM").unwrap_or_else(|| "groups".into());
            let allowed_teams = get("ALLOWED_TEAMS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
            valid.then_some(OidcSettings {
                issuer,
                client_id,
                client_secret,
                scopes,
                teams_claim: teams_claim.trim().to_owned(),
                allowed_teams,
            })
        });

        let access_token_ttl_s = parse_seconds(
            get("ACCESS_TOKEN_TTL_SECONDS"),
            access_token::DEFAULT_LIFETIME_S,
            access_token::MIN_LIFETIME_S..=access_token::MAX_LIFETIME_S,
        )
        .unwrap_or_else(|()| {
            problem(
                "ACCESS_TOKEN_TTL_SECONDS",
                format!(
                    "must be a whole number of seconds from {} to {} (15 minutes), e.g. `900`; access tokens cannot be revoked, so they may not live longer",
                    access_token::MIN_LIFETIME_S,
                    access_token::MAX_LIFETIME_S
                ),
            );
            access_token::DEFAULT_LIFETIME_S
        });
        let refresh_family = parse_seconds(
            get("REFRESH_FAMILY_MAX_AGE_SECONDS"),
            refresh::DEFAULT_FAMILY_MAX_AGE_S,
            1..=refresh::MAX_FAMILY_MAX_AGE_S,
        )
        .and_then(|s| RefreshFamilyPolicy::new(s).map_err(|_| ()))
        .unwrap_or_else(|()| {
            problem(
                "REFRESH_FAMILY_MAX_AGE_SECONDS",
                format!(
                    "must be a whole number of seconds from 1 to {} (365 days), e.g. `2592000` for 30 days",
                    refresh::MAX_FAMILY_MAX_AGE_S
                ),
            );
            RefreshFamilyPolicy::default()
        });

        let revocation_bound_s = parse_seconds(
            get("REVOCATION_BOUND_SECONDS"),
            DEFAULT_REVOCATION_BOUND_S,
            0..=MAX_REVOCATION_BOUND_S,
        )
        .unwrap_or_else(|()| {
            problem(
                "REVOCATION_BOUND_SECONDS",
                format!(
                    "must be a whole number of seconds from 0 (no cache) to {MAX_REVOCATION_BOUND_S}, e.g. `10`: the longest a revoked token may keep working elsewhere"
                ),
            );
            DEFAULT_REVOCATION_BOUND_S
        });

        let signing_key_period_s = parse_seconds(
            get("SIGNING_KEY_PERIOD_SECONDS"),
            signing::DEFAULT_PERIOD_S,
            signing::MIN_PERIOD_S..=signing::MAX_PERIOD_S,
        )
        .unwrap_or_else(|()| {
            problem(
                "SIGNING_KEY_PERIOD_SECONDS",
                format!(
                    "must be a whole number of seconds from {} to {} (30 days), e.g. `86400`: how often the published signing key rotates",
                    signing::MIN_PERIOD_S,
                    signing::MAX_PERIOD_S
                ),
            );
            signing::DEFAULT_PERIOD_S
        });

        let mut teams = |setting: &'static str| {
            TeamRoles::parse_list(&get(setting).unwrap_or_default()).unwrap_or_else(|e| {
                problem(
                    setting,
                    format!("{e}; give team names separated by commas, e.g. `platform,ops`"),
                );
                Vec::new()
            })
        };
        let roles = TeamRoles {
            admin_teams: teams("ADMIN_TEAMS"),
            member_teams: teams("MEMBER_TEAMS"),
        };

        let audit_retention_days = match get("AUDIT_RETENTION_DAYS") {
            None => DEFAULT_AUDIT_RETENTION_DAYS,
            Some(days) => match days.trim().parse::<u32>() {
                Ok(days) if (1..=3650).contains(&days) => days,
                _ => {
                    problem(
                        "AUDIT_RETENTION_DAYS",
                        "must be a whole number of days from 1 to 3650, e.g. `365`: how long audit events are kept".into(),
                    );
                    DEFAULT_AUDIT_RETENTION_DAYS
                }
            },
        };

        let trust_issuers = match get("TRUST_ISSUERS") {
            None => trust::DEFAULT_ISSUERS.map(str::to_owned).to_vec(),
            Some(list) if list.trim() == "none" => Vec::new(),
            Some(list) => {
                let issuers: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|i| !i.is_empty())
                    .map(str::to_owned)
                    .collect();
                for issuer in &issuers {
                    if let Some(why) = url_problem(issuer) {
                        problem(
                            "TRUST_ISSUERS",
                            format!(
                                "`{}` {why}; list CI issuers separated by commas, e.g. `https://token.actions.githubusercontent.com,https://gitlab.example.com`, or `none`",
                                issuer.escape_default()
                            ),
                        );
                    } else if issuer.len() > trust::MAX_TEXT_LEN {
                        problem(
                            "TRUST_ISSUERS",
                            format!(
                                "an issuer is longer than {} characters",
                                trust::MAX_TEXT_LEN
                            ),
                        );
                    }
                }
                issuers
            }
        };

        let gateway = get("GATEWAY").and_then(|json| match Gateway::parse(&json) {
            Ok(gateway) => Some(gateway),
            Err(found) => {
                for message in found {
                    problem("GATEWAY", message);
                }
                None
            }
        });
        if gateway.is_some() && secret.is_none() {
            problem(
                "SECRET",
                "is required with GATEWAY: the assertions to the origin are signed with keys derived from it".into(),
            );
        }

        let secret_scanning_keys =
            get("SECRET_SCANNING_KEYS").and_then(|json| match ScanningKeys::parse(&json) {
                Ok(keys) => Some(keys),
                Err(found) => {
                    for message in found {
                        problem("SECRET_SCANNING_KEYS", message);
                    }
                    None
                }
            });

        if problems.is_empty() {
            Ok(Config {
                secret_scanning_keys,
                signing_key_period_s,
                gateway,
                roles,
                trust_issuers,
                audit_retention_days,
                auth_disabled,
                super_token_hash,
                secret,
                secret_previous,
                default_project,
                public_reads,
                oidc,
                public_url,
                access_token_ttl_s,
                refresh_family,
                revocation_bound_s,
            })
        } else {
            Err(problems)
        }
    }
}

/// Why `url` is not a bare origin (`https://host[:port]`, or `http://` on loopback), if it is not.
fn origin_problem(url: &str) -> Option<&'static str> {
    url_problem(url).or_else(|| {
        let rest = url.split_once("://").map_or("", |(_, rest)| rest);
        rest.contains('/')
            .then_some("must be an origin without a path")
    })
}

/// A whole number of seconds within `range`, or `default` when unset.
fn parse_seconds(
    value: Option<String>,
    default: u32,
    range: core::ops::RangeInclusive<u32>,
) -> Result<u32, ()> {
    match value {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u32>() {
            Ok(s) if range.contains(&s) => Ok(s),
            _ => Err(()),
        },
    }
}

fn parse_bool(value: Option<String>, default: bool) -> Result<bool, ()> {
    match value
        .as_deref()
        .map(str::trim)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(_) => Err(()),
    }
}

/// True when `address` (the client's, from `CF-Connecting-IP`) is a loopback IP address.
pub fn is_loopback_address(address: &str) -> bool {
    let address = address.trim();
    address != "localhost" && is_loopback_host(address)
}

/// Why `AUTH_DISABLED=true` must not be honoured for this request, if it must not: the
/// request must name a loopback host *and* come from a loopback client address.
///
/// A Worker cannot see the address its server is bound to, so it asks the two things it can:
/// the `Host` (which a client chooses, so it is not enough on its own: a dev server bound to
/// `0.0.0.0`, or behind a tunnel that rewrites `Host`, would answer a stranger) and the client
/// address `CF-Connecting-IP`. On Cloudflare the edge sets that header to the real client,
/// which is never a loopback address, so a deployment can never run open whatever `Host` it is
/// sent; under `wrangler dev` it is the connecting socket's address (a client's own value is
/// passed through, which is why the dev server must also be bound to loopback, as
/// `scripts/dev` does). Without the header the answer is no.
pub fn auth_disabled_refusal(host: Option<&str>, client_address: Option<&str>) -> Option<String> {
    let host = host.unwrap_or("");
    if !is_loopback_host(host) {
        return Some(format!(
            "AUTH_DISABLED: authentication can be disabled only when the server is reached on a loopback host (127.0.0.1, ::1, localhost), not on `{}`; unset AUTH_DISABLED",
            host.escape_default()
        ));
    }
    match client_address {
        Some(address) if is_loopback_address(address) => None,
        Some(address) => Some(format!(
            "AUTH_DISABLED: authentication can be disabled only for clients on this machine, not for `{}`; bind the dev server to 127.0.0.1 or unset AUTH_DISABLED",
            address.chars().take(64).collect::<String>().escape_default()
        )),
        None => Some(
            "AUTH_DISABLED: the request carries no client address (CF-Connecting-IP), so it cannot be known to come from this machine; unset AUTH_DISABLED".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn auth_disabled_needs_a_loopback_host_and_a_loopback_client() {
        assert_eq!(
            auth_disabled_refusal(Some("127.0.0.1"), Some("127.0.0.1")),
            None
        );
        assert_eq!(auth_disabled_refusal(Some("localhost"), Some("::1")), None);
        assert_eq!(
            auth_disabled_refusal(Some("[::1]"), Some("127.0.0.5")),
            None
        );
        for (host, client) in [
            (Some("api.example.com"), Some("127.0.0.1")),
            (Some("127.0.0.1.example.com"), Some("127.0.0.1")),
            (None, Some("127.0.0.1")),
            (Some("localhost"), Some("203.0.113.9")),
            (Some("localhost"), Some("192.168.1.20")),
            (Some("localhost"), Some("localhost")),
            (Some("localhost"), Some("")),
            (Some("localhost"), None),
        ] {
            let refusal = auth_disabled_refusal(host, client);
            assert!(
                refusal
                    .as_deref()
                    .is_some_and(|m| m.starts_with("AUTH_DISABLED")),
                "{host:?} from {client:?}: {refusal:?}"
            );
        }
    }

    fn config(vars: &[(&str, &str)]) -> Result<Config, Vec<ConfigProblem>> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    fn settings(problems: Vec<ConfigProblem>) -> Vec<&'static str> {
        problems.into_iter().map(|p| p.setting).collect()
    }

    #[test]
    fn empty_config_is_valid_and_closed() {
        let c = config(&[]).unwrap();
        assert!(!c.auth_disabled && c.public_reads);
        assert!(c.super_token_hash.is_none() && c.secret.is_none());
        assert_eq!(c.default_project.as_str(), "default");
    }

    #[test]
    fn super_token_is_kept_only_as_its_hash() {
        let token = "a-super-token-of-some-length";
        let plain = config(&[("SUPER_TOKEN", token)]).unwrap();
        let hashed = config(&[(
            "SUPER_TOKEN_HASH",
            &crate::sha256_hex(token.as_bytes()).to_uppercase(),
        )])
        .unwrap();
        let expected = TokenHash::of(token);
        assert!(plain.super_token_hash.unwrap().ct_eq(&expected));
        assert!(hashed.super_token_hash.unwrap().ct_eq(&expected));
    }

    #[test]
    fn every_bad_setting_is_named() {
        let problems = config(&[
            ("SUPER_TOKEN_HASH", "not-hex"),
            ("SECRET", "short"),
            ("AUTH_DISABLED", "maybe"),
            ("PUBLIC_READS", "sure"),
            ("DEFAULT_PROJECT", "Bad_Name"),
        ])
        .unwrap_err();
        assert_eq!(
            settings(problems.clone()),
            [
                "AUTH_DISABLED",
                "PUBLIC_READS",
                "SUPER_TOKEN_HASH",
                "SECRET",
                "DEFAULT_PROJECT"
            ]
        );
        for p in problems {
            assert!(!p.message.contains("not-hex") && !p.message.contains("short"));
        }
    }

    #[test]
    fn super_token_and_hash_together_or_too_short_are_problems() {
        let both = config(&[
            ("SUPER_TOKEN", &"x".repeat(20)),
            ("SUPER_TOKEN_HASH", &"a".repeat(64)),
        ]);
        assert_eq!(settings(both.unwrap_err()), ["SUPER_TOKEN_HASH"]);
        assert_eq!(
            settings(config(&[("SUPER_TOKEN", "short")]).unwrap_err()),
            ["SUPER_TOKEN"]
        );
    }

    #[test]
    fn a_super_token_no_request_can_match_is_refused_by_name() {
        let empty_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let problems = config(&[("SUPER_TOKEN_HASH", empty_hash)]).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].setting, "SUPER_TOKEN_HASH");
        assert!(
            problems[0]
                .message
                .starts_with("is the SHA-256 of the empty string: "),
            "{}",
            problems[0]
        );
        // Upper-case hex (as some tools print it) is the same hash.
        let upper = config(&[("SUPER_TOKEN_HASH", &empty_hash.to_uppercase())]);
        assert_eq!(settings(upper.unwrap_err()), ["SUPER_TOKEN_HASH"]);

        for empty in ["", "  ", "\n"] {
            let problems = config(&[("SUPER_TOKEN", empty)]).unwrap_err();
            assert_eq!(settings(problems.clone()), ["SUPER_TOKEN"], "{empty:?}");
            assert!(problems[0].message.starts_with("is set but empty"));
        }
        // A token `echo` piped into `wrangler secret put`: its newline can never be sent.
        let token = "a-super-token-of-some-length";
        let problems = config(&[("SUPER_TOKEN", &format!("{token}\n"))]).unwrap_err();
        assert_eq!(settings(problems.clone()), ["SUPER_TOKEN"]);
        assert!(problems[0].message.contains("whitespace"));
        assert!(config(&[("SUPER_TOKEN", token)]).is_ok());
    }

    #[test]
    fn roles_default_to_members_only_and_name_their_teams() {
        let none = config(&[]).unwrap().roles;
        assert!(none.admin_teams.is_empty() && none.member_teams.is_empty());
        let c = config(&[("ADMIN_TEAMS", "ops, sre"), ("MEMBER_TEAMS", "dev")]).unwrap();
        assert_eq!(c.roles.admin_teams, ["ops", "sre"]);
        assert_eq!(c.roles.member_teams, ["dev"]);
        let bad = config(&[("ADMIN_TEAMS", "ops,\u{1}x"), ("MEMBER_TEAMS", "dev")]).unwrap_err();
        assert_eq!(settings(bad), ["ADMIN_TEAMS"]);
    }

    #[test]
    fn a_previous_secret_needs_a_secret_beside_it() {
        let a = "a".repeat(32);
        let b = "b".repeat(32);
        let both = config(&[("SECRET", &b), ("SECRET_PREVIOUS", &a)]).unwrap();
        assert!(both.secret.is_some() && both.secret_previous.is_some());
        assert!(config(&[("SECRET", &b)]).unwrap().secret_previous.is_none());
        // The same as SECRET: nothing more to accept, and no problem.
        let same = config(&[("SECRET", &b), ("SECRET_PREVIOUS", &b)]).unwrap();
        assert!(same.secret.is_some() && same.secret_previous.is_none());
        for bad in [
            vec![("SECRET_PREVIOUS", a.as_str())],
            vec![("SECRET", b.as_str()), ("SECRET_PREVIOUS", "short")],
        ] {
            let problems = config(&bad).unwrap_err();
            assert_eq!(settings(problems.clone()), ["SECRET_PREVIOUS"], "{bad:?}");
            assert!(problems
                .iter()
                .all(|p| !p.message.contains(&a) && !p.message.contains(&b)));
        }
    }

    #[test]
    fn audit_retention_is_a_year_unless_set_to_days_within_ten_years() {
        assert_eq!(config(&[]).unwrap().audit_retention_days, 365);
        assert_eq!(
            config(&[("AUDIT_RETENTION_DAYS", "30")])
                .unwrap()
                .audit_retention_days,
            30
        );
        for bad in ["0", "3651", "-1", "a year", "1.5"] {
            let problems = config(&[("AUDIT_RETENTION_DAYS", bad)]).unwrap_err();
            assert_eq!(settings(problems), ["AUDIT_RETENTION_DAYS"], "{bad}");
        }
    }

    #[test]
    fn secret_scanning_keys_are_githubs_document_or_a_named_problem() {
        assert!(config(&[]).unwrap().secret_scanning_keys.is_none());
        // Empty is unset, as for every setting.
        assert!(config(&[("SECRET_SCANNING_KEYS", "")])
            .unwrap()
            .secret_scanning_keys
            .is_none());
        let pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC2T5pHcXZ+1ZRpqkbA+jsQ29bF+u\nW4Xn/16c2nMVLGsP95sJllhkjcSMp7mxKk/0rAqmB5zKjVwdP/eZZOqLAg==\n-----END PUBLIC KEY-----\n";
        let document = serde_json::json!({"public_keys": [
            {"key_identifier": "bcb5", "key": pem, "is_current": true}
        ]})
        .to_string();
        let keys = config(&[("SECRET_SCANNING_KEYS", &document)])
            .unwrap()
            .secret_scanning_keys
            .unwrap();
        assert!(keys.find("bcb5").is_some());
        for bad in [
            "none",
            "{\"public_keys\": []}",
            &document.replace("MFkw", "MFkx"),
        ] {
            let problems = config(&[("SECRET_SCANNING_KEYS", bad)]).unwrap_err();
            assert_eq!(
                settings(problems.clone()),
                ["SECRET_SCANNING_KEYS"],
                "{bad}"
            );
            assert!(problems[0].message.contains("key"), "{}", problems[0]);
        }
    }

    #[test]
    fn trust_issuers_default_to_github_and_gitlab_and_can_be_none() {
        assert_eq!(
            config(&[]).unwrap().trust_issuers,
            [
                "https://token.actions.githubusercontent.com",
                "https://gitlab.com"
            ]
        );
        assert!(config(&[("TRUST_ISSUERS", "none")])
            .unwrap()
            .trust_issuers
            .is_empty());
        let own = config(&[(
            "TRUST_ISSUERS",
            " https://gitlab.example.com , http://127.0.0.1:9000,",
        )])
        .unwrap();
        assert_eq!(
            own.trust_issuers,
            ["https://gitlab.example.com", "http://127.0.0.1:9000"]
        );
        for bad in [
            "http://ci.example.com",
            "gitlab.com",
            "https://a.example,ftp://b",
        ] {
            let problems = config(&[("TRUST_ISSUERS", bad)]).unwrap_err();
            assert_eq!(settings(problems), ["TRUST_ISSUERS"], "{bad}");
        }
    }

    #[test]
    fn oidc_settings_need_id_and_secret_and_a_safe_issuer() {
        let c = config(&[
            ("OIDC_ISSUER", "http://127.0.0.1:8788/"),
            ("OIDC_CLIENT_ID", "edgeauth-local"),
            ("OIDC_CLIENT_SECRET", "s3cret"),
            ("OIDC_SCOPES", "openid email profile groups"),
            ("ALLOWED_TEAMS", "edgeauth-team, other ,"),
        ])
        .unwrap();
        let oidc = c.oidc.unwrap();
        assert_eq!(oidc.issuer, "http://127.0.0.1:8788/", "kept verbatim");
        assert_eq!(oidc.teams_claim, "groups");
        assert_eq!(oidc.allowed_teams, ["edgeauth-team", "other"]);
        assert_eq!(oidc.scopes.len(), 4);
        assert!(!format!("{oidc:?}").contains("s3cret"));
        assert!(config(&[]).unwrap().oidc.is_none());

        let problems = config(&[
            ("OIDC_ISSUER", "http://idp.example.com"),
            ("OIDC_SCOPES", "email"),
        ])
        .unwrap_err();
        assert_eq!(
            settings(problems),
            [
                "OIDC_ISSUER",
                "OIDC_CLIENT_ID",
                "OIDC_CLIENT_SECRET",
                "OIDC_SCOPES"
            ]
        );
        for bad in [
            "idp.example.com",
            "https://user@idp.example.com",
            "ftp://idp.example.com",
            "https://",
        ] {
            let problems = config(&[
                ("OIDC_ISSUER", bad),
                ("OIDC_CLIENT_ID", "x"),
                ("OIDC_CLIENT_SECRET", "y"),
            ]);
            assert_eq!(settings(problems.unwrap_err()), ["OIDC_ISSUER"], "{bad}");
        }
        for discovery in [
            "https://idp.example.com/.well-known/openid-configuration",
            "https://login.example.com/tenant/v2.0/.well-known/openid-configuration/",
        ] {
            let problems = config(&[
                ("OIDC_ISSUER", discovery),
                ("OIDC_CLIENT_ID", "x"),
                ("OIDC_CLIENT_SECRET", "y"),
            ])
            .unwrap_err();
            assert_eq!(settings(problems.clone()), ["OIDC_ISSUER"], "{discovery}");
            assert!(problems[0].message.contains("discovery document"));
        }
        let with_path = config(&[
            ("OIDC_ISSUER", "https://login.example.com/tenant/v2.0"),
            ("OIDC_CLIENT_ID", "x"),
            ("OIDC_CLIENT_SECRET", "y"),
        ]);
        assert!(with_path.unwrap().oidc.is_some());
    }

    #[test]
    fn public_url_is_an_origin() {
        assert_eq!(
            config(&[("PUBLIC_URL", "https://auth.example.com/")])
                .unwrap()
                .public_url
                .as_deref(),
            Some("https://auth.example.com")
        );
        assert!(config(&[("PUBLIC_URL", "http://127.0.0.1:8787")]).is_ok());
        assert!(config(&[("PUBLIC_URL", "http://[::1]:8787")]).is_ok());
        for bad in [
            "https://auth.example.com/app",
            "http://auth.example.com",
            "auth.example.com",
            "https://auth.example.com:+443",
            "https://auth.example.com:65536",
            "https://auth.example.com:",
        ] {
            assert_eq!(
                settings(config(&[("PUBLIC_URL", bad)]).unwrap_err()),
                ["PUBLIC_URL"],
                "{bad}"
            );
        }
    }

    #[test]
    fn device_flow_lifetimes_default_to_15_minutes_and_30_days() {
        let c = config(&[]).unwrap();
        assert_eq!(c.access_token_ttl_s, 900);
        assert_eq!(c.refresh_family.max_age_s(), 30 * 86_400);
        let short = config(&[
            ("ACCESS_TOKEN_TTL_SECONDS", " 5 "),
            ("REFRESH_FAMILY_MAX_AGE_SECONDS", "60"),
        ])
        .unwrap();
        assert_eq!(short.access_token_ttl_s, 5);
        assert_eq!(short.refresh_family.max_age_s(), 60);
        let edges = config(&[
            ("ACCESS_TOKEN_TTL_SECONDS", "900"),
            ("REFRESH_FAMILY_MAX_AGE_SECONDS", "31536000"),
        ])
        .unwrap();
        assert_eq!(edges.access_token_ttl_s, 900);
        assert_eq!(edges.refresh_family.max_age_s(), 365 * 86_400);
        let minimal = config(&[
            ("ACCESS_TOKEN_TTL_SECONDS", "1"),
            ("REFRESH_FAMILY_MAX_AGE_SECONDS", "1"),
        ])
        .unwrap();
        assert_eq!(minimal.access_token_ttl_s, 1);
        assert_eq!(minimal.refresh_family.max_age_s(), 1);
    }

    #[test]
    fn device_flow_lifetimes_out_of_range_are_named() {
        for (ttl, family) in [
            ("0", "0"),
            ("901", "31536001"),
            ("-5", "-1"),
            ("15m", "30d"),
            ("1.5", "1e6"),
            ("99999999999", "99999999999"),
        ] {
            let problems = config(&[
                ("ACCESS_TOKEN_TTL_SECONDS", ttl),
                ("REFRESH_FAMILY_MAX_AGE_SECONDS", family),
            ])
            .unwrap_err();
            assert_eq!(
                settings(problems.clone()),
                ["ACCESS_TOKEN_TTL_SECONDS", "REFRESH_FAMILY_MAX_AGE_SECONDS"],
                "{ttl} {family}"
            );
            for p in problems {
                // The value is never echoed (only the allowed range is).
                for value in ["15m", "30d", "1e6", "99999999999"] {
                    assert!(!p.message.contains(value), "{p}");
                }
                assert!(p.message.contains("whole number of seconds"), "{p}");
            }
        }
        // Empty means unset, like every other setting.
        assert_eq!(
            config(&[("ACCESS_TOKEN_TTL_SECONDS", "")])
                .unwrap()
                .access_token_ttl_s,
            900
        );
    }

    #[test]
    fn the_revocation_bound_defaults_to_10_s_and_is_at_most_a_minute() {
        assert_eq!(config(&[]).unwrap().revocation_bound_s, 10);
        for (value, expected) in [("0", 0), (" 60 ", 60), ("1", 1), ("", 10)] {
            assert_eq!(
                config(&[("REVOCATION_BOUND_SECONDS", value)])
                    .unwrap()
                    .revocation_bound_s,
                expected,
                "{value:?}"
            );
        }
        for bad in ["61", "-1", "10s", "1.5", "99999999999"] {
            let problems = config(&[("REVOCATION_BOUND_SECONDS", bad)]).unwrap_err();
            assert_eq!(
                settings(problems.clone()),
                ["REVOCATION_BOUND_SECONDS"],
                "{bad}"
            );
            assert!(!problems[0].message.contains(bad), "{}", problems[0]);
        }
    }

    #[test]
    fn the_signing_key_period_defaults_to_a_day_and_is_bounded() {
        assert_eq!(config(&[]).unwrap().signing_key_period_s, 86_400);
        assert_eq!(
            config(&[("SIGNING_KEY_PERIOD_SECONDS", "60")])
                .unwrap()
                .signing_key_period_s,
            60
        );
        for bad in ["59", "0", "2592001", "1d"] {
            let problems = config(&[("SIGNING_KEY_PERIOD_SECONDS", bad)]).unwrap_err();
            assert_eq!(settings(problems), ["SIGNING_KEY_PERIOD_SECONDS"], "{bad}");
        }
    }

    #[test]
    fn a_gateway_needs_valid_routes_and_a_secret() {
        let routes = r#"{"routes": [{"path": "/v1/*", "origin": "https://api.example.com"}]}"#;
        let secret = ("SECRET", "0123456789abcdef0123456789abcdef");
        let url = ("PUBLIC_URL", "https://auth.example.com");
        let ok = config(&[("GATEWAY", routes), secret, url]).unwrap();
        assert_eq!(ok.gateway.unwrap().routes().len(), 1);
        assert!(config(&[secret, url]).unwrap().gateway.is_none());
        // Without PUBLIC_URL the assertions' `iss` is the request's origin.
        assert!(config(&[("GATEWAY", routes), secret]).is_ok());
        assert_eq!(
            settings(config(&[("GATEWAY", routes), url]).unwrap_err()),
            ["SECRET"]
        );
        // Every bad route is reported under GATEWAY, by route.
        let bad = r#"{"routes": [{"path": "/a/*", "origin": "ftp://x"}, {"path": "b", "origin": "https://b.example"}]}"#;
        let problems = config(&[("GATEWAY", bad), secret, url]).unwrap_err();
        assert_eq!(settings(problems.clone()), ["GATEWAY", "GATEWAY"]);
        assert!(
            problems[0].message.starts_with("route 1"),
            "{}",
            problems[0]
        );
        assert!(
            problems[1].message.starts_with("route 2"),
            "{}",
            problems[1]
        );
    }

    #[test]
    fn booleans_accept_common_spellings() {
        assert!(config(&[("AUTH_DISABLED", "TRUE")]).unwrap().auth_disabled);
        assert!(!config(&[("PUBLIC_READS", "false")]).unwrap().public_reads);
        assert!(config(&[("PUBLIC_READS", "")]).unwrap().public_reads);
    }

    #[test]
    fn loopback_hosts_are_recognised_exactly() {
        for ok in [
            "127.0.0.1",
            "localhost",
            "LOCALHOST",
            "[::1]",
            "::1",
            "127.1.2.3",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "api.example.com",
            "127.0.0.1.evil.test",
            "localhost.evil.test",
            "10.0.0.1",
            "127.0.0.256",
            "0.0.0.0",
            "",
            // A DNS name to a browser (`+` is no digit), a non-canonical address, or no host.
            "127.0.0.+1",
            "127.+0.+0.+1",
            "127.0.0.01",
            "127.0.0. 1",
            "[[::1]]",
            "[::1",
            "[localhost]",
            "[127.0.0.1]",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
