//! `GET /account`: the page of a signed-in person (who they are, sign out, their API tokens)
//! and the page of someone not signed in. The page carries no data beyond identity:
//! `/account.js` fills the token table from `GET /api/tokens` and keeps a new token's
//! plaintext in the DOM only.

use askama::Template;
use edgeauth_core::lifetime::KindLimits;
use edgeauth_core::oidc::SELECT_ACCOUNT;
use edgeauth_core::token_request::DEFAULT_TOKEN_LIFETIME_DAYS;

use super::{given, render};

/// The lifetimes a page offers for a new token, in days, besides "never".
const EXPIRY_DAYS: [u32; 5] = [1, 7, 30, DEFAULT_TOKEN_LIFETIME_DAYS, 365];

/// One choice of the "Expires" list: `days` empty for "never".
pub struct ExpiryChoice {
    pub days: String,
    pub label: String,
    pub selected: bool,
}

/// The "Expires" choices under the project's lifetime policy for the kind (`limits`): the
/// default it gives a token whose creator chooses none, selected (`KindLimits::login_token_days`:
/// the project's default, else [`DEFAULT_TOKEN_LIFETIME_DAYS`], within its max; the CLI's
/// default too), [`EXPIRY_DAYS`] up to the max, the max itself, and "Never" only without a max:
/// every choice is one the server accepts.
pub fn expiry_choices(limits: &KindLimits) -> Vec<ExpiryChoice> {
    let default = limits.login_token_days();
    let max = limits.max_days;
    let mut days: Vec<i64> = EXPIRY_DAYS
        .iter()
        .map(|&d| i64::from(d))
        .chain([default])
        .chain(max)
        .filter(|&d| max.is_none_or(|max| d <= max))
        .collect();
    days.sort_unstable();
    days.dedup();
    let mut choices: Vec<ExpiryChoice> = days
        .into_iter()
        .map(|d| ExpiryChoice {
            days: d.to_string(),
            label: {
                let unit = if d == 1 { "day" } else { "days" };
                let note = if d == default {
                    " (default)"
                } else if Some(d) == max {
                    " (the maximum)"
                } else {
                    ""
                };
                format!("{d} {unit}{note}")
            },
            selected: d == default,
        })
        .collect();
    if max.is_none() {
        choices.push(ExpiryChoice {
            days: String::new(),
            label: "Never".to_owned(),
            selected: false,
        });
    }
    choices
}

/// The create form of a token page (`templates/token_form.html`).
pub struct TokenForm<'a> {
    /// Under the name field: what a token of this kind is for.
    pub name_hint: &'static str,
    /// Workspace patterns the person has used, to tick (`*` is always offered first).
    pub workspaces: &'a [String],
    pub expiry_choices: Vec<ExpiryChoice>,
}

/// The project chooser of a page (`templates/project_choice.html`).
pub struct ProjectChoice<'a> {
    /// The page the choice reloads, with `?project=`.
    pub action: &'static str,
    /// The projects the server knows for this person, the current one among them.
    pub known: &'a [String],
    pub current: &'a str,
}

/// What the signed-in page shows about its person, and what its script needs.
pub struct AccountView<'a> {
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub teams: &'a [String],
    pub user_id: &'a str,
    /// The project new tokens are bound to (from `?project=`, else the default).
    pub project: &'a str,
    /// The person's role in it: `admin`, `member` or `none`.
    pub role: &'a str,
    /// The projects to choose from: the default one, this one, those of the person's tokens
    /// and those where they have a role.
    pub projects: &'a [String],
    /// The workspace patterns of the person's tokens, to choose from for a new one.
    pub workspaces: &'a [String],
    /// The session's CSRF token, for the script's writes and the sign-out form.
    pub csrf_token: &'a str,
    /// When this sign-in ends (RFC 3339): the latest a token made on the page lives.
    pub session_ends_at: &'a str,
    /// The person's latest events, newest first.
    pub activity: &'a [Activity],
    /// Their live browser sessions and device logins.
    pub logins: &'a [LoginLine],
    /// The project's lifetime policy for user tokens (none: no limits).
    pub lifetime: KindLimits,
}

/// One line of "Where you're signed in".
pub struct LoginLine {
    /// `ses_…` or `fam_…`.
    pub id: String,
    /// "Browser", or the device login's client name and project.
    pub what: String,
    /// The client's address, location and browser or tool, at sign-in.
    pub from: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, or empty when unknown.
    pub last_seen_at: String,
    /// This browser's own session.
    pub current: bool,
}

/// One line of "Recent activity".
pub struct Activity {
    /// RFC 3339.
    pub at: String,
    /// What happened, in words.
    pub what: String,
    /// Who did it: "You", the server, or a leak report.
    pub by: String,
    /// The client's address, location and browser or tool.
    pub from: String,
    pub count: i64,
}

/// An action of the audit trail in words, for a person reading their own.
pub fn action_in_words(action: &str) -> &str {
    match action {
        "session.create" => "Signed in",
        "session.delete" => "Signed out",
        "user_token.create" => "API token created",
        "user_token.roll" => "API token rolled",
        "user_token.revoke" => "API token revoked",
        "service_token.create" => "Service token created",
        "service_token.roll" => "Service token rolled",
        "service_token.revoke" => "Service token revoked",
        "cli_login.approve" => "CLI login approved",
        "cli_login.deny" => "CLI login denied",
        "cli_login.burn" => "CLI login code withdrawn (misused)",
        "device.approve" => "Device login approved",
        "device.deny" => "Device login denied",
        "refresh_family.create" => "Device login started",
        "refresh_token.rotate" => "Device login refreshed",
        "refresh_family.revoke" => "Device login ended",
        "roles.set" => "Project roles changed",
        "roles.reset" => "Project roles reset",
        "trust_policy.create" => "Trust policy created",
        "trust_policy.delete" => "Trust policy deleted",
        other => other,
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    view: &'a AccountView<'a>,
    form: TokenForm<'a>,
    projects: ProjectChoice<'a>,
    /// The name, else the email, else "Signed in".
    headline: &'a str,
    /// The email under the name, when there are both.
    subline: Option<&'a str>,
}

/// The page of a signed-in person: identity, sign out, the create form, the tokens table.
pub fn account_html(view: &AccountView) -> String {
    let (headline, subline) = match (given(view.name), given(view.email)) {
        (Some(name), email) => (name, email),
        (None, Some(email)) => (email, None),
        (None, None) => ("Signed in", None),
    };
    render(&AccountPage {
        view,
        form: TokenForm {
            name_hint: "What will use it, e.g. “laptop” or “CI deploy”.",
            workspaces: view.workspaces,
            expiry_choices: expiry_choices(&view.lifetime),
        },
        projects: ProjectChoice {
            action: "/account",
            known: view.projects,
            current: view.project,
        },
        headline,
        subline,
    })
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOutPage<'a> {
    login_href: &'a str,
    other_account_href: &'a str,
}

/// The page of someone not signed in: a "Sign in" link to `login_href` (a sign-in URL with a
/// query), and "Sign in with another account", the same with `prompt=select_account`.
pub fn signed_out_html(login_href: &str) -> String {
    render(&SignedOutPage {
        login_href,
        other_account_href: &format!("{login_href}&prompt={SELECT_ACCOUNT}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::html_checks::{
        assert_no_injection, assert_no_inline_script_or_style, tags, HOSTILE, HOSTILE_ESCAPED,
    };

    fn teams(names: &[&str]) -> Vec<String> {
        names.iter().map(|t| (*t).to_owned()).collect()
    }

    fn view<'a>(teams: &'a [String]) -> AccountView<'a> {
        AccountView {
            name: Some("Demo User"),
            email: Some("demo@example.test"),
            teams,
            user_id: "usr_123",
            project: "default",
            role: "member",
            projects: &[],
            workspaces: &[],
            csrf_token: "c5rf-T0ken_value",
            session_ends_at: "2026-12-11T10:00:00Z",
            activity: &[],
            logins: &[],
            lifetime: KindLimits::default(),
        }
    }

    fn activity(text: &str, count: i64) -> Activity {
        Activity {
            at: text.to_owned(),
            what: text.to_owned(),
            by: text.to_owned(),
            from: text.to_owned(),
            count,
        }
    }

    fn login(text: &str, current: bool) -> LoginLine {
        LoginLine {
            id: text.to_owned(),
            what: text.to_owned(),
            from: text.to_owned(),
            created_at: text.to_owned(),
            last_seen_at: text.to_owned(),
            current,
        }
    }

    #[test]
    fn logins_are_listed_and_only_the_others_may_be_signed_out_here() {
        let lines = [
            LoginLine {
                id: "ses_here".into(),
                what: "Browser".into(),
                last_seen_at: String::new(),
                ..login("x", true)
            },
            LoginLine {
                id: "fam_cli".into(),
                what: "edgeauth CLI on laptop (project default)".into(),
                ..login("2026-12-05T10:00:00Z", false)
            },
        ];
        let html = account_html(&AccountView {
            logins: &lines,
            ..view(&[])
        });
        assert!(html.contains("Where you're signed in"));
        assert!(html.contains(r#"<tr data-login="ses_here">"#));
        assert!(html
            .contains(r#"<td class="name">Browser <span class="chip">This browser</span></td>"#));
        assert!(html.contains(r#"<span class="muted">—</span>"#));
        // Only another login has its button; with two, "everywhere else" is offered.
        assert_eq!(
            html.matches(r#"class="button secondary small end-login""#)
                .count(),
            1
        );
        assert!(html.contains(r#"data-login="fam_cli">Sign out</button>"#));
        assert!(html.contains(r#"id="end-other-logins""#));
        let alone = account_html(&AccountView {
            logins: &lines[..1],
            ..view(&[])
        });
        assert!(!alone.contains(r#"id="end-other-logins""#));
    }

    #[test]
    fn recent_activity_lists_events_or_says_there_are_none() {
        let html = account_html(&view(&[]));
        assert!(html.contains(r#"<h2 id="activity-heading">Recent activity</h2>"#));
        assert!(html.contains("Nothing yet."));
        let lines = [
            Activity {
                at: "2026-12-05T10:00:00Z".into(),
                what: action_in_words("session.create").into(),
                by: "You".into(),
                from: "203.0.113.7 · AMS · Firefox".into(),
                count: 1,
            },
            Activity {
                what: action_in_words("user_token.revoke").into(),
                by: "A leak report".into(),
                count: 3,
                ..activity("x", 1)
            },
        ];
        let html = account_html(&AccountView {
            activity: &lines,
            ..view(&[])
        });
        assert!(!html.contains("Nothing yet."));
        assert!(html.contains(
            r#"<td><time datetime="2026-12-05T10:00:00Z">2026-12-05T10:00:00Z</time></td>"#
        ));
        assert!(html.contains("<td>Signed in</td>"));
        assert!(html.contains("<td>203.0.113.7 · AMS · Firefox</td>"));
        assert!(html.contains("<td>API token revoked (3×)</td>"));
        assert!(html.contains("<td>A leak report</td>"));
        assert_eq!(action_in_words("made.up"), "made.up");
    }

    #[test]
    fn account_page_shows_the_person_and_carries_csrf_and_project() {
        let teams = teams(&["edgeauth-team", "ops"]);
        let html = account_html(&view(&teams));
        assert!(html.contains(r#"<meta name="csrf-token" content="c5rf-T0ken_value">"#));
        assert!(html.contains(r#"<meta name="edgeauth-project" content="default">"#));
        assert!(
            html.contains(r#"<input type="hidden" name="csrf_token" value="c5rf-T0ken_value">"#)
        );
        assert!(html.contains(r#"<form class="signout" method="post" action="/api/auth/logout">"#));
        assert!(html.contains("Demo User"));
        assert!(html.contains("demo@example.test"));
        assert!(html.contains(r#"<li class="chip">edgeauth-team</li><li class="chip">ops</li>"#));
        assert!(html.contains("usr_123"));
        assert!(html.contains(r#"<span id="role">member</span>"#));
        // When the sign-in ends, for the script and for the person: tokens made here end then.
        assert!(
            html.contains(r#"<meta name="edgeauth-session-ends" content="2026-12-11T10:00:00Z">"#)
        );
        assert!(html.contains("Tokens made here end when you sign out of this browser"));
        assert!(
            html.contains("<code>edgeauth login</code>, then <code>edgeauth token create</code>")
        );
        // The CLI's default lifetime is the default here too; "never" is a choice of its own,
        // which the session still caps (the hint says so).
        assert!(html.contains(r#"<option value="90" selected>90 days (default)</option>"#));
        assert!(html.contains(r#"<option value="">Never</option>"#));
        assert_eq!(html.matches(" selected>").count(), 1, "one default");
        for id in [
            "signout",
            "identity",
            "token-name",
            "token-expiry",
            "token-workspaces",
            "token-other-workspaces",
            "project-choice",
            "create-token",
            "new-token",
            "new-token-value",
            "copy-token",
            "tokens",
            "message",
        ] {
            assert_eq!(
                html.matches(&format!(r#"id="{id}""#)).count(),
                1,
                "exactly one #{id}"
            );
        }
        assert!(html.contains(r#"id="message" class="message" role="alert""#));
        // The plaintext panel starts hidden and empty: a reload never shows a token again.
        assert!(
            html.contains(r#"<code id="new-token-value" class="token-value" tabindex="0"></code>"#)
        );
        assert!(html.contains(r#"tabindex="-1" hidden>"#));
    }

    #[test]
    fn projects_and_workspaces_are_chosen_from_lists() {
        let projects = teams(&["default", "p1"]);
        let workspaces = teams(&["docs", "production/*"]);
        let html = account_html(&AccountView {
            project: "p1",
            role: "admin",
            projects: &projects,
            workspaces: &workspaces,
            ..view(&[])
        });
        // The project: a GET of this page, from the list or typed.
        assert!(html.contains(r#"<form id="project-form" method="get" action="/account">"#));
        assert!(html.contains(r#"<option value="default">default</option>"#));
        assert!(html.contains(r#"<option value="p1" selected>p1</option>"#));
        assert!(html.contains(r#"<input id="other-project" name="project" type="text""#));
        // A `pattern` is a `v`-flag regular expression: a literal `-` in a class is escaped.
        assert!(html.contains(r#"pattern="[a-z0-9\-]+""#));
        assert!(!html.contains("?project=name"), "no URL editing asked for");
        // The workspaces: all (ticked), the known ones, and free entry.
        assert!(html.contains(
            r#"<input type="checkbox" name="workspace" value="*" checked> <span>All workspaces <code>*</code></span>"#
        ));
        for workspace in ["docs", "production/*"] {
            assert!(html.contains(&format!(
                r#"<input type="checkbox" name="workspace" value="{workspace}"> <code>{workspace}</code>"#
            )));
        }
        assert!(html.contains(r#"<th scope="col">Workspaces</th>"#));
        // An admin is pointed at the project's service tokens; a member is not.
        assert!(html.contains(r#"href="/account/service-tokens?project=p1">Service tokens</a>"#));
        assert!(!account_html(&view(&[])).contains("/account/service-tokens"));
    }

    #[test]
    fn account_page_without_name_or_email_still_says_who() {
        let html = account_html(&AccountView {
            name: None,
            email: Some("only@example.test"),
            ..view(&[])
        });
        assert!(html.contains(r#"<p class="who-name">only@example.test</p>"#));
        assert!(html.contains(r#"<span class="muted">none</span>"#));
        let html = account_html(&AccountView {
            name: Some("  "),
            email: None,
            ..view(&[])
        });
        assert!(html.contains(r#"<p class="who-name">Signed in</p>"#));
    }

    #[test]
    fn the_expiry_choices_are_those_the_projects_policy_accepts() {
        let offered = |max_days, default_days| {
            expiry_choices(&KindLimits {
                max_days,
                default_days,
            })
            .into_iter()
            .map(|c| (c.days, c.selected))
            .collect::<Vec<_>>()
        };
        let days = |list: &[(&str, bool)]| {
            list.iter()
                .map(|(d, s)| ((*d).to_owned(), *s))
                .collect::<Vec<_>>()
        };
        // No policy: the CLI's default selected, and "never".
        assert_eq!(
            offered(None, None),
            days(&[
                ("1", false),
                ("7", false),
                ("30", false),
                ("90", true),
                ("365", false),
                ("", false)
            ])
        );
        // A max of 45: nothing above it, the max itself the default, no "never".
        assert_eq!(
            offered(Some(45), None),
            days(&[("1", false), ("7", false), ("30", false), ("45", true)])
        );
        // The project's own default, offered and selected.
        assert_eq!(
            offered(None, Some(14)),
            days(&[
                ("1", false),
                ("7", false),
                ("14", true),
                ("30", false),
                ("90", false),
                ("365", false),
                ("", false)
            ])
        );
        let labels: Vec<String> = expiry_choices(&KindLimits {
            max_days: Some(180),
            default_days: Some(30),
        })
        .into_iter()
        .map(|c| c.label)
        .collect();
        assert_eq!(
            labels,
            [
                "1 day",
                "7 days",
                "30 days (default)",
                "90 days",
                "180 days (the maximum)"
            ]
        );
        let one_day_default = expiry_choices(&KindLimits {
            max_days: Some(1),
            default_days: Some(1),
        });
        assert_eq!(one_day_default.len(), 1);
        assert_eq!(one_day_default[0].label, "1 day (default)");
        assert!(one_day_default[0].selected);
    }

    #[test]
    fn account_page_escapes_every_value() {
        let hostile_teams = teams(&[HOSTILE, "ok"]);
        let html = account_html(&AccountView {
            name: Some(HOSTILE),
            email: Some(HOSTILE),
            teams: &hostile_teams,
            user_id: HOSTILE,
            project: HOSTILE,
            role: HOSTILE,
            projects: &hostile_teams,
            workspaces: &hostile_teams,
            csrf_token: HOSTILE,
            session_ends_at: HOSTILE,
            activity: &[activity(HOSTILE, 2)],
            logins: &[login(HOSTILE, false)],
            lifetime: KindLimits::default(),
        });
        assert_no_injection(&html);
        // Same number of tags as with benign values: nothing was added.
        let benign_teams = teams(&["x", "ok"]);
        let benign = account_html(&AccountView {
            name: Some("x"),
            email: Some("x"),
            teams: &benign_teams,
            user_id: "x",
            project: "x",
            role: "x",
            projects: &benign_teams,
            workspaces: &benign_teams,
            csrf_token: "x",
            session_ends_at: "x",
            activity: &[activity("x", 2)],
            logins: &[login("x", false)],
            lifetime: KindLimits::default(),
        });
        assert_eq!(tags(&html).len(), tags(&benign).len());
        // Each value is where it belongs, as text.
        let escaped = HOSTILE_ESCAPED;
        for shown in [
            format!(r#"<meta name="csrf-token" content="{escaped}">"#),
            format!(r#"<meta name="edgeauth-project" content="{escaped}">"#),
            format!(r#"<input type="hidden" name="csrf_token" value="{escaped}">"#),
            format!(r#"<p class="who-name">{escaped}</p>"#),
            format!(r#"<p class="who-email">{escaped}</p>"#),
            format!(r#"<li class="chip">{escaped}</li>"#),
            format!(r#"<dd><code>{escaped}</code></dd>"#),
            format!(r#"<code id="project">{escaped}</code>"#),
            format!(r#"<meta name="edgeauth-session-ends" content="{escaped}">"#),
            format!(r#"<time datetime="{escaped}">{escaped}</time>"#),
        ] {
            assert!(html.contains(&shown), "{shown}");
        }
    }

    #[test]
    fn signed_out_page_links_to_sign_in() {
        let html = signed_out_html("/api/auth/login?return_to=/account&project=p1");
        assert!(html.contains(
            r#"<a id="signin" class="button primary large" href="/api/auth/login?return_to=/account&amp;project=p1">Sign in</a>"#
        ));
        assert!(html.contains(
            r#"<a id="signin-other" href="/api/auth/login?return_to=/account&amp;project=p1&amp;prompt=select_account">Sign in with another account</a>"#
        ));
        assert!(!html.contains("csrf-token"));
        let html = signed_out_html(HOSTILE);
        assert_no_injection(&html);
        assert!(html.contains(&format!(r#"href="{HOSTILE_ESCAPED}">Sign in</a>"#)));
    }

    #[test]
    fn account_pages_have_no_inline_script_or_style() {
        let teams = teams(&["t"]);
        let html = account_html(&view(&teams));
        assert_no_inline_script_or_style(&html);
        assert!(html.contains(r#"<script src="/account.js" defer></script>"#));
        assert_no_inline_script_or_style(&signed_out_html("/api/auth/login?return_to=/account"));
    }
}
