//! A project's lifetime policy (`PUT /api/lifetime-policy`): the longest and the default
//! lifetime of its service tokens and of its people's user API tokens, and an optional expiry
//! of tokens left unused for a number of days. Every limit is optional; a project without a
//! policy limits nothing (a token lives as long as asked, or until revoked).
//!
//! The rules, independent of HTTP and storage: what a body may say ([`LifetimePolicy::from_json`]),
//! which expiry a new token gets under it ([`KindLimits::expiry_days`]), and whether a token has
//! gone unused too long ([`LifetimePolicy::unused_too_long`]).

use serde_json::{Map, Value};

use crate::api::{KindLimitsView, LifetimePolicyView};
use crate::time::DAY_MS;
use crate::token_request::{
    reject_unknown_fields, DEFAULT_TOKEN_LIFETIME_DAYS, MAX_EXPIRES_IN_DAYS,
};

/// The longest any limit of a policy may be, in days (as the longest lifetime a token may ask
/// for: ten years).
pub const MAX_POLICY_DAYS: i64 = MAX_EXPIRES_IN_DAYS;

/// The two kinds of stored token a policy governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Governed {
    /// `/api/service-tokens`.
    ServiceTokens,
    /// `/api/tokens`, and the tokens a CLI login mints.
    UserTokens,
}

impl Governed {
    fn noun(self) -> &'static str {
        match self {
            Governed::ServiceTokens => "a service token",
            Governed::UserTokens => "a user API token",
        }
    }
}

/// The limits on one kind of token: each `None` when not set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindLimits {
    /// No token of the kind lives longer than this many days (asking for more is refused; a
    /// token asked for without an expiry gets `default_days`, else this).
    pub max_days: Option<i64>,
    /// The lifetime of a token asked for without one; never above `max_days`.
    pub default_days: Option<i64>,
}

impl KindLimits {
    /// The lifetime in days of a new token of `kind` in `project` that asked for
    /// `requested` (`None`: no expiry asked for), or why it is refused: a request beyond
    /// `max_days` is refused (naming the max and the project), never shortened in silence;
    /// a request without a lifetime gets the default, else the max, so that no token outlives
    /// the max. `Ok(None)`: no expiry.
    pub fn expiry_days(
        &self,
        kind: Governed,
        requested: Option<i64>,
        project: &str,
    ) -> Result<Option<i64>, String> {
        match (requested, self.max_days) {
            (Some(asked), Some(max)) if asked > max => Err(format!(
                "{} in project `{project}` lives at most {max} days (the project's lifetime policy); ask for `expires_in_days` of {max} or fewer, or omit it for {}",
                kind.noun(),
                match self.default_days {
                    Some(default) => format!("the project's default of {default} days"),
                    None => format!("{max} days"),
                },
            )),
            (Some(asked), _) => Ok(Some(asked)),
            (None, max) => Ok(self.default_days.or(max)),
        }
    }

    /// The lifetime in days of the token a login mints for a person's tool (the CLI's
    /// loopback login, which asks for none): the project's default for the kind, else
    /// [`DEFAULT_TOKEN_LIFETIME_DAYS`], never above the project's max. Never "no expiry": a
    /// login's token is one the person did not choose the lifetime of.
    pub fn login_token_days(&self) -> i64 {
        let default = self
            .default_days
            .unwrap_or(i64::from(DEFAULT_TOKEN_LIFETIME_DAYS));
        self.max_days.map_or(default, |max| default.min(max))
    }

    /// The limits as a body gives them: an object with `max_days` and `default_days` (each
    /// optional, a whole number of days from 1 to 3650 or null), or null/absent for none. A
    /// default above the max is lowered to the max (what is stored is shown in the answer):
    /// a body can say nothing a token could outlive the max by.
    fn from_json(field: &str, value: Option<&Value>) -> Result<Self, String> {
        let object = match value {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Object(object)) => object,
            Some(_) => {
                return Err(format!(
                    "`{field}` must be an object like {{\"max_days\": 90, \"default_days\": 30}}, or null for no limits"
                ))
            }
        };
        reject_unknown_fields(object, &["max_days", "default_days"])
            .map_err(|e| format!("`{field}`: {e}"))?;
        let max_days = days(object, field, "max_days")?;
        let default_days = days(object, field, "default_days")?;
        Ok(Self {
            max_days,
            default_days: match (default_days, max_days) {
                (Some(default), Some(max)) => Some(default.min(max)),
                (default, _) => default,
            },
        })
    }
}

/// One optional number of days of a policy body: whole, from 1 to 3650, or null/absent. As
/// for `expires_in_days`, `90.0` is the JSON number 90.
fn days(object: &Map<String, Value>, within: &str, field: &str) -> Result<Option<i64>, String> {
    let name = if within.is_empty() {
        format!("`{field}`")
    } else {
        format!("`{within}.{field}`")
    };
    let whole = |n: &serde_json::Number| {
        n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= MAX_POLICY_DAYS as f64 + 1.0)
                .map(|f| f as i64)
        })
    };
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match whole(n) {
            Some(days) if (1..=MAX_POLICY_DAYS).contains(&days) => Ok(Some(days)),
            _ => Err(format!(
                "{name} must be a whole number of days from 1 to {MAX_POLICY_DAYS}, or null for no limit"
            )),
        },
        Some(_) => Err(format!("{name} must be a number of days, e.g. 90, or null")),
    }
}

/// A project's lifetime policy. The default value limits nothing: a project without one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifetimePolicy {
    pub service_tokens: KindLimits,
    pub user_tokens: KindLimits,
    /// A service or user token not used for this many days (since its last use, else its
    /// creation) is refused, and listed as expired.
    pub unused_days: Option<i64>,
}

impl LifetimePolicy {
    /// The body of `PUT /api/lifetime-policy`, which replaces the whole policy:
    /// `{"service_tokens": {"max_days": 90, "default_days": 30}, "user_tokens": {"max_days":
    /// 365, "default_days": null}, "unused_days": 90}`. Every field is optional (absent or
    /// null: no limit); unknown fields are refused. Explains the first problem in terms a
    /// client can fix.
    pub fn from_json(body: &Value) -> Result<Self, String> {
        let object = body.as_object().ok_or(
            "the body must be a JSON object like {\"service_tokens\": {\"max_days\": 90, \"default_days\": 30}, \"user_tokens\": {\"max_days\": 365}, \"unused_days\": 90}",
        )?;
        reject_unknown_fields(object, &["service_tokens", "user_tokens", "unused_days"])?;
        Ok(Self {
            service_tokens: KindLimits::from_json("service_tokens", object.get("service_tokens"))?,
            user_tokens: KindLimits::from_json("user_tokens", object.get("user_tokens"))?,
            unused_days: days(object, "", "unused_days")?,
        })
    }

    /// The limits on `kind`.
    pub fn limits(&self, kind: Governed) -> &KindLimits {
        match kind {
            Governed::ServiceTokens => &self.service_tokens,
            Governed::UserTokens => &self.user_tokens,
        }
    }

    /// Whether a token created at `created_at` and last used at `last_used_at` (Unix ms;
    /// kept to within a few minutes) has gone unused for `unused_days` or more at `now_ms`.
    /// Nothing is written: lifting or lengthening the policy makes such a token valid again.
    pub fn unused_too_long(&self, created_at: i64, last_used_at: Option<i64>, now_ms: i64) -> bool {
        self.unused_days.is_some_and(|days| {
            now_ms.saturating_sub(last_used_at.unwrap_or(created_at)) >= days * DAY_MS
        })
    }

    /// The refusal of a token that [`LifetimePolicy::unused_too_long`]: why, and what to do.
    pub fn unused_refusal(&self, kind: Governed, project: &str) -> String {
        let days = self.unused_days.unwrap_or_default();
        match kind {
            Governed::ServiceTokens => format!(
                "this service token has not been used for {days} days or more, and project `{project}`'s lifetime policy expires tokens unused that long; create a new one"
            ),
            Governed::UserTokens => format!(
                "this user API token has not been used for {days} days or more, and project `{project}`'s lifetime policy expires tokens unused that long; create a new one at /account or with `edgeauth token create`"
            ),
        }
    }
}

impl From<&KindLimitsView> for KindLimits {
    fn from(view: &KindLimitsView) -> Self {
        Self {
            max_days: view.max_days,
            default_days: view.default_days,
        }
    }
}

impl From<&LifetimePolicyView> for LifetimePolicy {
    /// The policy as the server shows it (`GET /api/lifetime-policy`), for a client that
    /// applies its rules before asking (the CLI's default token lifetime,
    /// [`KindLimits::login_token_days`]).
    fn from(view: &LifetimePolicyView) -> Self {
        Self {
            service_tokens: (&view.service_tokens).into(),
            user_tokens: (&view.user_tokens).into(),
            unused_days: view.unused_days,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_policy_view_gives_the_rules_back() {
        let view: LifetimePolicyView = serde_json::from_value(json!({
            "project": "default",
            "service_tokens": {"max_days": 30, "default_days": null},
            "user_tokens": {"max_days": null, "default_days": 7},
            "unused_days": 60,
            "updated_at": "2026-12-05T08:00:00Z",
            "updated_by": "super"
        }))
        .unwrap();
        let policy = LifetimePolicy::from(&view);
        assert_eq!(
            policy.limits(Governed::ServiceTokens).login_token_days(),
            30
        );
        assert_eq!(policy.limits(Governed::UserTokens).login_token_days(), 7);
        assert_eq!(policy.unused_days, Some(60));
        let none: LifetimePolicyView =
            serde_json::from_value(json!({"project": "default"})).unwrap();
        assert_eq!(LifetimePolicy::from(&none), LifetimePolicy::default());
    }

    #[test]
    fn a_login_token_lives_the_default_days_within_the_projects_policy() {
        let limits = |max_days, default_days| KindLimits {
            max_days,
            default_days,
        };
        assert_eq!(limits(None, None).login_token_days(), 90);
        assert_eq!(
            limits(None, None).login_token_days(),
            i64::from(DEFAULT_TOKEN_LIFETIME_DAYS)
        );
        assert_eq!(limits(None, Some(7)).login_token_days(), 7);
        assert_eq!(limits(Some(30), None).login_token_days(), 30);
        assert_eq!(limits(Some(365), None).login_token_days(), 90);
        assert_eq!(limits(Some(365), Some(180)).login_token_days(), 180);
    }

    #[test]
    fn a_policy_body_is_read_with_every_field_optional() {
        let policy = LifetimePolicy::from_json(&json!({
            "service_tokens": {"max_days": 90, "default_days": 30},
            "user_tokens": {"max_days": 365.0, "default_days": null},
            "unused_days": 90
        }))
        .unwrap();
        assert_eq!(
            policy,
            LifetimePolicy {
                service_tokens: KindLimits {
                    max_days: Some(90),
                    default_days: Some(30)
                },
                user_tokens: KindLimits {
                    max_days: Some(365),
                    default_days: None
                },
                unused_days: Some(90),
            }
        );
        assert_eq!(
            LifetimePolicy::from_json(&json!({})).unwrap(),
            LifetimePolicy::default()
        );
        assert_eq!(
            LifetimePolicy::from_json(&json!({"service_tokens": null, "user_tokens": {}})).unwrap(),
            LifetimePolicy::default()
        );
    }

    #[test]
    fn a_default_above_the_max_is_lowered_to_it() {
        let policy = LifetimePolicy::from_json(
            &json!({"user_tokens": {"max_days": 30, "default_days": 90}}),
        )
        .unwrap();
        assert_eq!(
            policy.user_tokens,
            KindLimits {
                max_days: Some(30),
                default_days: Some(30)
            }
        );
        // A default with no max is kept as it is.
        let policy =
            LifetimePolicy::from_json(&json!({"user_tokens": {"default_days": 90}})).unwrap();
        assert_eq!(policy.user_tokens.default_days, Some(90));
    }

    #[test]
    fn every_bad_body_is_refused_with_a_message() {
        for (body, says) in [
            (json!([]), "JSON object"),
            (json!({"unused": 3}), "unknown field `unused`"),
            (
                json!({"unused_days": 0}),
                "`unused_days` must be a whole number of days from 1 to 3650",
            ),
            (json!({"unused_days": 3651}), "from 1 to 3650"),
            (json!({"unused_days": 1.5}), "whole number"),
            (json!({"unused_days": "9"}), "number of days"),
            (
                json!({"service_tokens": 5}),
                "`service_tokens` must be an object",
            ),
            (
                json!({"service_tokens": []}),
                "`service_tokens` must be an object",
            ),
            (
                json!({"user_tokens": {"max": 5}}),
                "`user_tokens`: unknown field `max`",
            ),
            (
                json!({"user_tokens": {"max_days": -1}}),
                "`user_tokens.max_days` must be a whole number",
            ),
            (
                json!({"service_tokens": {"default_days": 1e300}}),
                "`service_tokens.default_days` must be a whole number",
            ),
        ] {
            let err = LifetimePolicy::from_json(&body).unwrap_err();
            assert!(err.contains(says), "{body}: {err}");
        }
    }

    #[test]
    fn a_token_never_outlives_the_max_and_asking_beyond_it_is_refused() {
        let kind = Governed::ServiceTokens;
        let limits = KindLimits {
            max_days: Some(90),
            default_days: Some(30),
        };
        assert_eq!(limits.expiry_days(kind, Some(90), "p"), Ok(Some(90)));
        assert_eq!(limits.expiry_days(kind, Some(7), "p"), Ok(Some(7)));
        // No expiry asked for: the default.
        assert_eq!(limits.expiry_days(kind, None, "p"), Ok(Some(30)));
        let refusal = limits.expiry_days(kind, Some(91), "ci").unwrap_err();
        assert!(refusal.contains("at most 90 days"), "{refusal}");
        assert!(refusal.contains("project `ci`"), "{refusal}");
        assert!(refusal.contains("default of 30 days"), "{refusal}");
        // A max without a default: a token asked for without an expiry gets the max.
        let max_only = KindLimits {
            max_days: Some(90),
            default_days: None,
        };
        assert_eq!(max_only.expiry_days(kind, None, "p"), Ok(Some(90)));
        // A default without a max: any lifetime, the default when none is asked.
        let default_only = KindLimits {
            max_days: None,
            default_days: Some(30),
        };
        assert_eq!(default_only.expiry_days(kind, None, "p"), Ok(Some(30)));
        assert_eq!(
            default_only.expiry_days(kind, Some(3650), "p"),
            Ok(Some(3650))
        );
        // No limits: what was asked, or no expiry.
        let none = KindLimits::default();
        assert_eq!(none.expiry_days(kind, None, "p"), Ok(None));
        assert_eq!(none.expiry_days(kind, Some(5), "p"), Ok(Some(5)));
        let user = limits
            .expiry_days(Governed::UserTokens, Some(100), "p")
            .unwrap_err();
        assert!(user.starts_with("a user API token"), "{user}");
    }

    #[test]
    fn a_token_unused_for_the_policys_days_is_too_old() {
        let now = 1_000 * DAY_MS;
        let policy = LifetimePolicy {
            unused_days: Some(90),
            ..LifetimePolicy::default()
        };
        // Last used counts; never used, its creation does.
        assert!(!policy.unused_too_long(now - 200 * DAY_MS, Some(now - 89 * DAY_MS), now));
        assert!(policy.unused_too_long(now - 200 * DAY_MS, Some(now - 90 * DAY_MS), now));
        assert!(!policy.unused_too_long(now - 89 * DAY_MS, None, now));
        assert!(policy.unused_too_long(now - 91 * DAY_MS, None, now));
        // Without `unused_days`, never.
        assert!(!LifetimePolicy::default().unused_too_long(0, None, now));
        let message = policy.unused_refusal(Governed::ServiceTokens, "ci");
        assert!(message.contains("not been used for 90 days"), "{message}");
        assert!(message.contains("project `ci`"), "{message}");
        assert!(message.contains("create a new one"), "{message}");
    }
}
