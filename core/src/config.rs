//! The Worker's settings, read from vars and secrets, validated all at once.
//!
//! A missing or malformed setting becomes a [`ConfigProblem`] naming it; the Worker then fails
//! closed (every endpoint but `/healthz` answers 503 with the problems), never a panic or a
//! blank 500. Settings that are merely absent turn features off instead: without `SECRET`
//! service tokens answer 501, without a super token there is no super token.

use core::fmt;

use crate::crypto::{RootSecret, TokenHash};
use crate::project::ProjectName;

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
    /// `DEFAULT_PROJECT` (default `default`), used when a request names no project.
    pub default_project: ProjectName,
    /// `PUBLIC_READS` (default true): read endpoints need no credential.
    pub public_reads: bool,
}

impl Config {
    /// Reads every setting through `get` (which returns `None` for unset variables) and
    /// returns the config, or every problem found.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, Vec<ConfigProblem>> {
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
            (Some(token), None) => Some(TokenHash::of(&token)),
            (None, Some(hex)) => {
                let hash = TokenHash::from_hex(hex.trim());
                if hash.is_none() {
                    problem(
                        "SUPER_TOKEN_HASH",
                        "must be the 64 hex digits of the token's SHA-256 (`printf %s \"$TOKEN\" | sha256sum`)".into(),
                    );
                }
                hash
            }
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

        let default_project =
            ProjectName::parse(get("DEFAULT_PROJECT").as_deref().unwrap_or(DEFAULT_PROJECT))
                .unwrap_or_else(|e| {
                    problem("DEFAULT_PROJECT", e);
                    ProjectName::parse(DEFAULT_PROJECT).expect("the default is valid")
                });

        if problems.is_empty() {
            Ok(Config {
                auth_disabled,
                super_token_hash,
                secret,
                default_project,
                public_reads,
            })
        } else {
            Err(problems)
        }
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

/// True when `host` (from the request URL, without port) is a loopback name or address.
/// `AUTH_DISABLED` is honoured only then, so a deployment can never run open by accident.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host == "::1"
        || host.strip_prefix("127.").is_some_and(|rest| {
            let parts: Vec<&str> = rest.split('.').collect();
            parts.len() == 3 && parts.iter().all(|p| p.parse::<u8>().is_ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

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
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
