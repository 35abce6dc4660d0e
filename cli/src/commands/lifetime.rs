//! `edgeauth lifetime show|set|reset`: how long the project's tokens may live, and when unused
//! ones expire (`GET`, `PUT`, `DELETE /api/lifetime-policy`).

use super::{Context, Io};
use crate::args::SetLifetime;
use crate::client::ApiResponse;
use crate::error::CliError;
use crate::output::{self, sanitize};
use edgeauth_core::api::{KindLimitsView, LifetimePolicyView};
use edgeauth_core::lifetime::{Governed, LifetimePolicy};
use edgeauth_core::token_request::DEFAULT_TOKEN_LIFETIME_DAYS;
use serde_json::json;

const PATH: &str = "/api/lifetime-policy";

/// Prints the project's policy.
pub fn show(ctx: &Context, io: &mut Io<'_>) -> Result<(), CliError> {
    print(ctx, io, &ctx.client.get(PATH)?)
}

/// The lifetime a new token of `kind` gets when none is asked for: the project's default for
/// the kind, else [`DEFAULT_TOKEN_LIFETIME_DAYS`], within its max
/// ([`edgeauth_core::lifetime::KindLimits::login_token_days`], the rule the server applies to
/// a login's token). A policy that cannot be read (a credential without a role in the project,
/// a server without policies) gives [`DEFAULT_TOKEN_LIFETIME_DAYS`]: the create that follows
/// meets the same server, which has the last word.
pub fn default_token_days(ctx: &Context, kind: Governed) -> u32 {
    let policy = ctx
        .client
        .get(PATH)
        .and_then(|response| response.parse::<LifetimePolicyView>());
    match policy {
        Ok(view) => {
            let days = LifetimePolicy::from(&view).limits(kind).login_token_days();
            u32::try_from(days).unwrap_or(DEFAULT_TOKEN_LIFETIME_DAYS)
        }
        Err(_) => DEFAULT_TOKEN_LIFETIME_DAYS,
    }
}

/// Replaces the project's policy (a limit not given is none), then prints it.
pub fn set(ctx: &Context, io: &mut Io<'_>, args: &SetLifetime) -> Result<(), CliError> {
    print(ctx, io, &ctx.client.put_json(PATH, &body(args))?)
}

/// Removes the project's policy, then prints it (no limits).
pub fn reset(ctx: &Context, io: &mut Io<'_>) -> Result<(), CliError> {
    print(ctx, io, &ctx.client.delete(PATH)?)
}

/// The `PUT` body of `lifetime set`.
fn body(args: &SetLifetime) -> serde_json::Value {
    json!({
        "service_tokens": {
            "max_days": args.service_max_days,
            "default_days": args.service_default_days,
        },
        "user_tokens": {
            "max_days": args.user_max_days,
            "default_days": args.user_default_days,
        },
        "unused_days": args.unused_days,
    })
}

/// The server's JSON with `--json`; else one line per kind of token and for unused expiry.
fn print(ctx: &Context, io: &mut Io<'_>, response: &ApiResponse) -> Result<(), CliError> {
    if ctx.json {
        write!(io.out, "{}", output::json(&response.json()?))?;
        return Ok(());
    }
    let policy: LifetimePolicyView = response.parse()?;
    write!(io.out, "{}", describe(&policy))?;
    Ok(())
}

fn days(n: i64) -> String {
    if n == 1 {
        "1 day".to_owned()
    } else {
        format!("{n} days")
    }
}

fn limits(limits: &KindLimitsView) -> String {
    match (limits.max_days, limits.default_days) {
        (None, None) => "no limit, no default".to_owned(),
        (Some(max), None) => format!("at most {} (default: the max)", days(max)),
        (None, Some(default)) => format!("no limit (default {})", days(default)),
        (Some(max), Some(default)) => format!("at most {} (default {})", days(max), days(default)),
    }
}

/// `project: …`, `service tokens: …`, `user tokens: …`, `unused: …`, `set: …` lines.
pub fn describe(policy: &LifetimePolicyView) -> String {
    let unused = match policy.unused_days {
        Some(n) => format!("tokens unused for {} stop working", days(n)),
        None => "never expire".to_owned(),
    };
    let set = match (&policy.updated_by, &policy.updated_at) {
        (Some(by), at) => format!("by {} at {} UTC", sanitize(by), output::time(at.as_deref())),
        (None, _) => "(no policy)".to_owned(),
    };
    format!(
        "project:        {}\nservice tokens: {}\nuser tokens:    {}\nunused tokens:  {unused}\nset:            {set}\n",
        sanitize(&policy.project),
        limits(&policy.service_tokens),
        limits(&policy.user_tokens),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_reads_as_sentences() {
        let set = LifetimePolicyView {
            project: "default".into(),
            service_tokens: KindLimitsView {
                max_days: Some(90),
                default_days: Some(30),
            },
            user_tokens: KindLimitsView {
                max_days: Some(365),
                default_days: None,
            },
            unused_days: Some(1),
            updated_at: Some("2026-12-05T08:00:00Z".into()),
            updated_by: Some("user:usr_1".into()),
        };
        let text = describe(&set);
        assert!(
            text.contains("service tokens: at most 90 days (default 30 days)"),
            "{text}"
        );
        assert!(
            text.contains("user tokens:    at most 365 days (default: the max)"),
            "{text}"
        );
        assert!(
            text.contains("unused tokens:  tokens unused for 1 day stop working"),
            "{text}"
        );
        assert!(
            text.contains("set:            by user:usr_1 at 2026-12-05 08:00"),
            "{text}"
        );
        let none = describe(&LifetimePolicyView {
            project: "default".into(),
            service_tokens: KindLimitsView::default(),
            user_tokens: KindLimitsView::default(),
            unused_days: None,
            updated_at: None,
            updated_by: None,
        });
        assert!(
            none.contains("service tokens: no limit, no default"),
            "{none}"
        );
        assert!(none.contains("unused tokens:  never expire"), "{none}");
        assert!(none.contains("set:            (no policy)"), "{none}");
    }

    #[test]
    fn set_sends_every_limit_null_when_not_given() {
        let args = SetLifetime {
            service_max_days: Some(90),
            service_default_days: None,
            user_max_days: None,
            user_default_days: Some(7),
            unused_days: None,
        };
        assert_eq!(
            body(&args),
            json!({
                "service_tokens": {"max_days": 90, "default_days": null},
                "user_tokens": {"max_days": null, "default_days": 7},
                "unused_days": null
            })
        );
    }
}
