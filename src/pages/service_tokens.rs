//! `GET /account/service-tokens`: a project's service tokens, for a person who administers
//! the project, in a browser. The page carries no tokens: `/account.js` lists, creates,
//! rolls and revokes them through `/api/service-tokens` with the session and its CSRF token,
//! and keeps a new secret in the DOM only.

use askama::Template;
use edgeauth_core::lifetime::KindLimits;

use super::account::{expiry_choices, ProjectChoice, TokenForm};
use super::render;

/// What the service-token page shows, and what its script needs.
pub struct ServiceTokensView<'a> {
    /// The project whose service tokens the page manages.
    pub project: &'a str,
    /// The person's role in it; only `admin` manages service tokens.
    pub role: &'a str,
    /// The projects to choose from (as on `/account`).
    pub projects: &'a [String],
    /// The workspace patterns of the project's service tokens and the person's own tokens.
    pub workspaces: &'a [String],
    /// The session's CSRF token, for the script's writes and the sign-out form.
    pub csrf_token: &'a str,
    /// When this sign-in ends (RFC 3339): the latest a token made on the page lives.
    pub session_ends_at: &'a str,
    /// The project's lifetime policy for service tokens (none: no limits).
    pub lifetime: KindLimits,
}

#[derive(Template)]
#[template(path = "service_tokens.html")]
struct ServiceTokensPage<'a> {
    view: &'a ServiceTokensView<'a>,
    form: TokenForm<'a>,
    projects: ProjectChoice<'a>,
    /// Whether the person may manage the project's service tokens (the admin role).
    manages: bool,
}

/// The service-token page: the project (to switch), then, for an admin, the create form with
/// the token-once panel and the table of the project's service tokens; for anyone else, what
/// role they have and which one it takes.
pub fn service_tokens_html(view: &ServiceTokensView) -> String {
    render(&ServiceTokensPage {
        view,
        form: TokenForm {
            name_hint: "What will use it, e.g. “CI deploy” or “backup job”.",
            workspaces: view.workspaces,
            expiry_choices: expiry_choices(&view.lifetime),
        },
        projects: ProjectChoice {
            action: "/account/service-tokens",
            known: view.projects,
            current: view.project,
        },
        manages: view.role == "admin",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::html_checks::{
        assert_no_injection, assert_no_inline_script_or_style, tags, HOSTILE, HOSTILE_ESCAPED,
    };

    fn projects() -> Vec<String> {
        vec!["default".to_owned(), "p1".to_owned()]
    }

    fn view<'a>(role: &'a str, projects: &'a [String]) -> ServiceTokensView<'a> {
        ServiceTokensView {
            project: "p1",
            role,
            projects,
            workspaces: &[],
            csrf_token: "c5rf-T0ken_value",
            session_ends_at: "2026-12-11T10:00:00Z",
            lifetime: KindLimits::default(),
        }
    }

    #[test]
    fn an_admin_gets_the_form_the_panel_and_the_table() {
        let projects = projects();
        let html = service_tokens_html(&view("admin", &projects));
        assert!(html.contains(r#"<meta name="edgeauth-page" content="service-tokens">"#));
        assert!(html.contains(r#"<meta name="csrf-token" content="c5rf-T0ken_value">"#));
        assert!(html.contains(r#"<meta name="edgeauth-project" content="p1">"#));
        assert!(html.contains(r#"<option value="p1" selected>p1</option>"#));
        assert!(html.contains(r#"<option value="default">default</option>"#));
        assert!(html.contains(r#"action="/account/service-tokens""#));
        for id in [
            "create-form",
            "token-name",
            "token-expiry",
            "token-workspaces",
            "new-token",
            "new-token-value",
            "tokens",
            "message",
            "signout",
        ] {
            assert_eq!(html.matches(&format!(r#"id="{id}""#)).count(), 1, "#{id}");
        }
        assert!(html.contains(r#"<option value="90" selected>90 days (default)</option>"#));
        assert!(html.contains(r#"<option value="">Never</option>"#));
        assert!(html.contains("<th scope=\"col\">Workspaces</th>"));
        assert!(!html.contains(r#"id="not-admin""#));
    }

    #[test]
    fn anyone_else_is_told_which_role_it_takes() {
        let projects = projects();
        let html = service_tokens_html(&view("member", &projects));
        assert!(html.contains(r#"id="not-admin""#));
        assert!(html.contains("<strong>member</strong>"));
        assert!(!html.contains(r#"id="create-form""#));
        assert!(!html.contains(r#"id="tokens""#));
        assert_no_inline_script_or_style(&html);
    }

    #[test]
    fn service_token_page_escapes_every_value_and_has_no_inline_script() {
        let hostile = vec![HOSTILE.to_owned()];
        let html = service_tokens_html(&ServiceTokensView {
            project: HOSTILE,
            role: "admin",
            projects: &hostile,
            workspaces: &hostile,
            csrf_token: HOSTILE,
            session_ends_at: HOSTILE,
            lifetime: KindLimits::default(),
        });
        assert_no_injection(&html);
        assert_no_inline_script_or_style(&html);
        let benign = vec!["x".to_owned()];
        let plain = service_tokens_html(&ServiceTokensView {
            project: "x",
            role: "admin",
            projects: &benign,
            workspaces: &benign,
            csrf_token: "x",
            session_ends_at: "x",
            lifetime: KindLimits::default(),
        });
        assert_eq!(tags(&html).len(), tags(&plain).len());
        for shown in [
            format!(r#"<meta name="csrf-token" content="{HOSTILE_ESCAPED}">"#),
            format!(r#"<input type="checkbox" name="workspace" value="{HOSTILE_ESCAPED}">"#),
            format!(r#"<option value="{HOSTILE_ESCAPED}" selected>{HOSTILE_ESCAPED}</option>"#),
        ] {
            assert!(html.contains(&shown), "{shown}");
        }
    }
}
