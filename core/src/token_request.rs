//! Requests to create a token (`POST /api/service-tokens`, `POST /api/tokens`), validated:
//! the rules for a token's name, scope and lifetime, independent of HTTP and storage.

use serde_json::{Map, Value};

use crate::time::DAY_MS;
use crate::workspace::Scope;

/// Longest token name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest lifetime a client may ask for, in days (ten years).
pub const MAX_EXPIRES_IN_DAYS: i64 = 3650;
/// The lifetime, in days, a person's new token gets when they choose none: the same in the
/// CLI (`token create`, `service-token create`; `--no-expiry` asks for none) and on the account
/// page ("never" is a choice of its own, not the default), and what a CLI login's token gets
/// within the project's lifetime policy (`KindLimits::login_token_days`).
pub const DEFAULT_TOKEN_LIFETIME_DAYS: u32 = 90;

/// A validated `POST /api/service-tokens` body:
/// `{"name": "CI", "workspaces": ["production/*"], "expires_in_days": 90}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewServiceToken {
    /// 1 to 100 characters, no control characters, surrounding whitespace trimmed.
    pub name: String,
    /// The workspaces the token may act on.
    pub scope: Scope,
    /// Lifetime in days, 1 to 3650, or none (until revoked).
    pub expires_in_days: Option<i64>,
}

impl NewServiceToken {
    /// Validates a parsed JSON body, explaining the first problem in terms a client can fix.
    pub fn from_json(body: &Value) -> Result<Self, String> {
        let object = body
            .as_object()
            .ok_or("the body must be a JSON object like {\"name\": \"CI\", \"workspaces\": [\"production/*\"]}")?;
        reject_unknown_fields(object, &["name", "workspaces", "expires_in_days"])?;
        let name = token_name(object.get("name"))?;
        let scope = workspaces(object.get("workspaces"))?
            .ok_or("`workspaces` is required, e.g. [\"production/*\"]")?;
        let expires_in_days = expires_in_days(object.get("expires_in_days"))?;
        Ok(Self {
            name,
            scope,
            expires_in_days,
        })
    }

    /// When a token created at `now_ms` expires, if it does.
    pub fn expires_at_ms(&self, now_ms: i64) -> Option<i64> {
        self.expires_in_days.map(|days| now_ms + days * DAY_MS)
    }
}

/// A validated `POST /api/tokens` body: `{"name": "laptop", "workspaces": ["*"],
/// "expires_in_days": 30}`. A person's token covers every workspace unless narrowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUserToken {
    /// 1 to 100 characters, no control characters, surrounding whitespace trimmed.
    pub name: String,
    /// The workspaces the token may act on (`*` when not given).
    pub scope: Scope,
    /// Lifetime in days, 1 to 3650, or none (until revoked).
    pub expires_in_days: Option<i64>,
}

impl NewUserToken {
    /// Validates a parsed JSON body, explaining the first problem in terms a client can fix.
    pub fn from_json(body: &Value) -> Result<Self, String> {
        let object = body
            .as_object()
            .ok_or("the body must be a JSON object like {\"name\": \"laptop\"}")?;
        reject_unknown_fields(object, &["name", "workspaces", "expires_in_days"])?;
        Ok(Self {
            name: token_name(object.get("name"))?,
            scope: workspaces(object.get("workspaces"))?.unwrap_or_else(Scope::all),
            expires_in_days: expires_in_days(object.get("expires_in_days"))?,
        })
    }

    /// When a token created at `now_ms` expires, if it does.
    pub fn expires_at_ms(&self, now_ms: i64) -> Option<i64> {
        self.expires_in_days.map(|days| now_ms + days * DAY_MS)
    }
}

/// The optional `workspaces` field: an array of patterns.
fn workspaces(value: Option<&Value>) -> Result<Option<Scope>, String> {
    match value {
        None => Ok(None),
        Some(Value::Array(items)) => {
            let patterns = items
                .iter()
                .map(|v| v.as_str().ok_or("`workspaces` must be an array of strings"))
                .collect::<Result<Vec<_>, _>>()?;
            Scope::parse(&patterns).map(Some)
        }
        Some(_) => Err("`workspaces` must be an array of strings, e.g. [\"production/*\"]".into()),
    }
}

/// Refuses fields outside `known`, so a typo (`expires_in_day`) is not silently ignored.
pub fn reject_unknown_fields(object: &Map<String, Value>, known: &[&str]) -> Result<(), String> {
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(format!(
            "unknown field `{}`; expected {}",
            unknown.escape_default(),
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        None => Ok(()),
    }
}

/// A token name: a string of 1 to 100 characters without control characters.
pub fn token_name(value: Option<&Value>) -> Result<String, String> {
    let name = match value {
        Some(Value::String(s)) => s.trim(),
        Some(_) => return Err("`name` must be a string".into()),
        None => return Err("`name` is required, e.g. \"CI\"".into()),
    };
    if name.is_empty() {
        return Err("`name` cannot be empty".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("`name` is at most {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("`name` cannot contain control characters".into());
    }
    Ok(name.to_owned())
}

/// An optional lifetime: a whole number of days from 1 to 3650, or null/absent. JSON does not
/// tell `90` from `90.0` (RFC 8259 §6; JSON Schema's `integer` is any number with no
/// fractional part), so `90.0` is 90 days too.
pub fn expires_in_days(value: Option<&Value>) -> Result<Option<i64>, String> {
    let whole = |n: &serde_json::Number| {
        n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= MAX_EXPIRES_IN_DAYS as f64 + 1.0)
                .map(|f| f as i64)
        })
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match whole(n) {
            Some(days) if (1..=MAX_EXPIRES_IN_DAYS).contains(&days) => Ok(Some(days)),
            _ => Err(format!(
                "`expires_in_days` must be a whole number from 1 to {MAX_EXPIRES_IN_DAYS}, or omitted for no expiry"
            )),
        },
        Some(_) => Err("`expires_in_days` must be a number of days, e.g. 90".into()),
    }
}

/// The longest a rolled token's old secret may keep working: 30 days.
pub const MAX_ROLL_GRACE_S: i64 = 30 * 24 * 3600;

/// A validated `POST …/{id}/roll` body: `{"grace_seconds": 3600}`, or `{}` for none: how long
/// the old secret keeps working beside the new one (0: revoked at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollRequest {
    pub grace_s: i64,
}

impl RollRequest {
    /// Validates a parsed JSON body, explaining the first problem in terms a client can fix.
    pub fn from_json(body: &Value) -> Result<Self, String> {
        let object = body
            .as_object()
            .ok_or("the body must be a JSON object like {\"grace_seconds\": 3600}, or {}")?;
        reject_unknown_fields(object, &["grace_seconds"])?;
        let grace_s = match object.get("grace_seconds") {
            None | Some(Value::Null) => 0,
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() <= MAX_ROLL_GRACE_S as f64 + 1.0)
                        .map(|f| f as i64)
                })
                .filter(|s| (0..=MAX_ROLL_GRACE_S).contains(s))
                .ok_or(format!(
                    "`grace_seconds` must be a whole number of seconds from 0 (the old secret stops at once) to {MAX_ROLL_GRACE_S} (30 days)"
                ))?,
            Some(_) => return Err("`grace_seconds` must be a number of seconds, e.g. 3600".into()),
        };
        Ok(Self { grace_s })
    }

    /// Until when the old secret of a token expiring at `expires_at` (`None`: never) keeps
    /// working, rolled at `now_ms`: `None` when it stops at once; never past its own expiry.
    pub fn old_until(&self, now_ms: i64, expires_at: Option<i64>) -> Option<i64> {
        (self.grace_s > 0).then(|| {
            let grace_end = now_ms.saturating_add(self.grace_s * 1000);
            expires_at.map_or(grace_end, |at| at.min(grace_end))
        })
    }
}

/// A new token's expiry: what was asked (`None`: never), but never after its creator's
/// credential ends (`creator_ends`, Unix ms; `None` for a credential that does not end, the
/// super token). A token minted by a credential that expires in a day expires within a day,
/// whatever it asked for, so a short-lived credential cannot mint a lasting one.
pub fn capped_expiry(requested: Option<i64>, creator_ends: Option<i64>) -> Option<i64> {
    match (requested, creator_ends) {
        (Some(asked), Some(ends)) => Some(asked.min(ends)),
        (asked, None) => asked,
        (None, ends) => ends,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_default_lifetime_is_90_days_and_one_a_client_may_ask_for() {
        assert_eq!(DEFAULT_TOKEN_LIFETIME_DAYS, 90);
        assert!((1..=MAX_EXPIRES_IN_DAYS).contains(&i64::from(DEFAULT_TOKEN_LIFETIME_DAYS)));
    }

    #[test]
    fn a_roll_asks_for_a_grace_within_thirty_days_never_past_the_tokens_expiry() {
        let roll = |body: Value| RollRequest::from_json(&body);
        assert_eq!(roll(json!({})), Ok(RollRequest { grace_s: 0 }));
        assert_eq!(
            roll(json!({"grace_seconds": null})),
            Ok(RollRequest { grace_s: 0 })
        );
        assert_eq!(
            roll(json!({"grace_seconds": 3600.0})),
            Ok(RollRequest { grace_s: 3600 })
        );
        for bad in [
            json!({"grace_seconds": -1}),
            json!({"grace_seconds": 2_592_001}),
            json!({"grace_seconds": 1.5}),
            json!({"grace_seconds": "60"}),
            json!({"grace": 60}),
            json!([]),
        ] {
            assert!(roll(bad.clone()).is_err(), "{bad}");
        }
        let now = 1_000_000;
        assert_eq!(RollRequest { grace_s: 0 }.old_until(now, None), None);
        assert_eq!(
            RollRequest { grace_s: 0 }.old_until(now, Some(now + 5)),
            None
        );
        assert_eq!(
            RollRequest { grace_s: 60 }.old_until(now, None),
            Some(now + 60_000)
        );
        // Never beyond the token's own expiry.
        assert_eq!(
            RollRequest { grace_s: 60 }.old_until(now, Some(now + 5_000)),
            Some(now + 5_000)
        );
    }

    use super::*;

    #[test]
    fn a_token_never_outlives_its_creator() {
        assert_eq!(capped_expiry(None, None), None);
        assert_eq!(capped_expiry(Some(5), None), Some(5));
        assert_eq!(capped_expiry(None, Some(9)), Some(9));
        assert_eq!(capped_expiry(Some(5), Some(9)), Some(5));
        assert_eq!(capped_expiry(Some(12), Some(9)), Some(9));
    }
    use serde_json::json;

    #[test]
    fn a_valid_body_is_accepted() {
        let t = NewServiceToken::from_json(
            &json!({"name": "  CI  ", "workspaces": ["production/*"], "expires_in_days": 90}),
        )
        .unwrap();
        assert_eq!(t.name, "CI");
        assert_eq!(t.scope.to_strings(), ["production/*"]);
        assert_eq!(t.expires_at_ms(1000), Some(1000 + 90 * DAY_MS));
        let t = NewServiceToken::from_json(&json!({"name": "x", "workspaces": ["*"]})).unwrap();
        assert_eq!(t.expires_at_ms(1000), None);
        // 90.0 is the JSON number 90.
        let t = NewServiceToken::from_json(
            &json!({"name": "x", "workspaces": ["*"], "expires_in_days": 90.0}),
        )
        .unwrap();
        assert_eq!(t.expires_in_days, Some(90));
    }

    #[test]
    fn every_bad_body_is_refused_with_a_message() {
        let long = "n".repeat(101);
        for (body, says) in [
            (json!([]), "JSON object"),
            (json!({"workspaces": ["a"]}), "`name` is required"),
            (
                json!({"name": 5, "workspaces": ["a"]}),
                "`name` must be a string",
            ),
            (json!({"name": " ", "workspaces": ["a"]}), "cannot be empty"),
            (json!({"name": long, "workspaces": ["a"]}), "at most 100"),
            (json!({"name": "a\u{7}b", "workspaces": ["a"]}), "control"),
            (json!({"name": "x"}), "`workspaces` is required"),
            (json!({"name": "x", "workspaces": "a"}), "array of strings"),
            (json!({"name": "x", "workspaces": [1]}), "array of strings"),
            (json!({"name": "x", "workspaces": []}), "at least one"),
            (
                json!({"name": "x", "workspaces": ["a//b"]}),
                "empty segment",
            ),
            (
                json!({"name": "x", "workspaces": ["a"], "expires_in_days": "ten"}),
                "number of days",
            ),
            (
                json!({"name": "x", "workspaces": ["a"], "expires_in_days": 0}),
                "from 1 to 3650",
            ),
            (
                json!({"name": "x", "workspaces": ["a"], "expires_in_days": 3651}),
                "from 1 to 3650",
            ),
            (
                json!({"name": "x", "workspaces": ["a"], "expires_in_days": 1.5}),
                "whole number",
            ),
            (
                json!({"name": "x", "workspaces": ["a"], "expires_in_days": 3651.0}),
                "from 1 to 3650",
            ),
            (
                json!({"name": "x", "workspaces": ["a"], "expires_in_days": 1e300}),
                "from 1 to 3650",
            ),
            (
                json!({"name": "x", "workspaces": ["a"], "expires_in_day": 1}),
                "unknown field `expires_in_day`",
            ),
        ] {
            let err = NewServiceToken::from_json(&body).unwrap_err();
            assert!(err.contains(says), "{body}: {err}");
        }
    }

    #[test]
    fn a_user_token_covers_everything_unless_narrowed() {
        let t = NewUserToken::from_json(&json!({"name": "laptop"})).unwrap();
        assert_eq!(t.scope.to_strings(), ["*"]);
        assert_eq!(t.expires_at_ms(0), None);
        let t = NewUserToken::from_json(
            &json!({"name": "ci", "workspaces": ["staging"], "expires_in_days": 7}),
        )
        .unwrap();
        assert_eq!(t.scope.to_strings(), ["staging"]);
        assert_eq!(t.expires_at_ms(0), Some(7 * DAY_MS));
        for (body, says) in [
            (json!("x"), "JSON object"),
            (json!({}), "`name` is required"),
            (json!({"name": "x", "workspaces": "*"}), "array of strings"),
            (json!({"name": "x", "workspaces": [1]}), "array of strings"),
            (
                json!({"name": "x", "expires_in_days": 0}),
                "expires_in_days",
            ),
            (json!({"name": "x", "scopes": []}), "scopes"),
        ] {
            let err = NewUserToken::from_json(&body).unwrap_err();
            assert!(err.contains(says), "{body}: {err}");
        }
    }
}
