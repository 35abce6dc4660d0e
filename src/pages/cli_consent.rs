//! The consent page of the CLI loopback login, and its Content-Security-Policy, which lets its
//! one form be redirected to the CLI's listener.

use askama::Template;
use worker::Response;

use super::{given, page_response, render};
use crate::http::set_header;

/// What the CLI consent page shows and carries back in its form.
pub struct CliConsentView<'a> {
    pub person_name: Option<&'a str>,
    pub person_email: Option<&'a str>,
    /// The project the token will be valid in (validated: `[a-z0-9-]`).
    pub project: &'a str,
    /// The name of the token the CLI asks for.
    pub client_name: &'a str,
    /// How long the token lasts, in words (`90 days`): what the server grants a CLI login
    /// under the project's lifetime policy (`KindLimits::login_token_days`).
    pub token_lifetime: &'a str,
    /// The CLI's loopback redirect, `state` and PKCE challenge, posted back unchanged.
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub code_challenge: &'a str,
    /// The loopback address the code will go to, for the person to see (`127.0.0.1:53682`).
    pub listener: &'a str,
    /// The session's CSRF token.
    pub csrf_token: &'a str,
}

#[derive(Template)]
#[template(path = "cli_consent.html")]
struct CliConsentPage<'a> {
    view: &'a CliConsentView<'a>,
    /// `Name (email)`, else whichever there is, else "you".
    person: String,
}

/// The consent page of the CLI login: who asks (the token's name), for which project and
/// workspaces (all: `*`), for how long, acting as whom, and one form posting the request back with `decision=approve` (`#approve`) or
/// `decision=deny` (`#deny`). It has no script.
pub fn cli_consent_html(view: &CliConsentView) -> String {
    let person = match (given(view.person_name), given(view.person_email)) {
        (Some(name), Some(email)) => format!("{name} ({email})"),
        (Some(one), None) | (None, Some(one)) => one.to_owned(),
        (None, None) => "you".to_owned(),
    };
    render(&CliConsentPage { view, person })
}

/// The consent page's Content-Security-Policy: [`CONTENT_SECURITY_POLICY`] with `form-action`
/// widened to the CLI's listener. Chromium applies `form-action` to the redirects that follow
/// a form post too (measured: Chromium 156 blocks our 303 to `http://127.0.0.1:PORT/…` under
/// `form-action 'self'`), so the listener must be allowed. An IPv4 listener is named exactly,
/// port included; CSP source expressions cannot name an IPv6 literal (Chromium ignores
/// `http://[::1]:*` as invalid), so for `[::1]` the scheme `http:` is allowed instead. Either
/// way the page's only form is ours, with a fixed same-origin action.
pub fn cli_consent_csp(listener_origin: Option<&str>) -> String {
    super::form_action_csp(listener_origin.unwrap_or("http:"))
}

/// The consent page as a response: [`page_response`] with [`cli_consent_csp`].
pub fn cli_consent_response(html: String, listener_origin: Option<&str>) -> Response {
    let mut response = page_response(200, html);
    set_header(
        &mut response,
        "Content-Security-Policy",
        &cli_consent_csp(listener_origin),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::html_checks::{
        assert_no_injection, assert_no_inline_script_or_style, tags, HOSTILE, HOSTILE_ESCAPED,
    };
    use crate::pages::CONTENT_SECURITY_POLICY;

    fn consent<'a>() -> CliConsentView<'a> {
        CliConsentView {
            person_name: Some("Demo User"),
            person_email: Some("demo@example.test"),
            project: "default",
            client_name: "edgeauth CLI on laptop",
            token_lifetime: "90 days",
            redirect_uri: "http://127.0.0.1:53682/callback?x=1&y=2",
            state: "st4te-value_0123456789",
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            listener: "127.0.0.1:53682",
            csrf_token: "c5rf-T0ken_value",
        }
    }

    #[test]
    fn consent_page_names_the_token_project_and_person_and_posts_everything_back() {
        let html = cli_consent_html(&consent());
        assert!(html.contains("Sign in to the edgeauth CLI?"));
        assert!(html.contains(r#"<strong id="client-name">edgeauth CLI on laptop</strong>"#));
        assert!(html.contains(r#"<dd id="person">Demo User (demo@example.test)</dd>"#));
        assert!(html.contains(r#"<code id="project">default</code>"#));
        assert!(html.contains(r#"<code id="listener">127.0.0.1:53682</code>"#));
        // The scope and the lifetime the token gets.
        assert!(html.contains(
            r#"<dd id="workspaces">All workspaces of the project (<code>*</code>)</dd>"#
        ));
        assert!(html.contains(r#"<dd id="lifetime">90 days, unless you revoke it sooner</dd>"#));
        assert!(html.contains(
            r#"<form id="consent-form" method="post" action="/api/auth/cli-start?project=default">"#
        ));
        for (field, value) in [
            ("csrf_token", "c5rf-T0ken_value"),
            (
                "redirect_uri",
                "http://127.0.0.1:53682/callback?x=1&amp;y=2",
            ),
            ("state", "st4te-value_0123456789"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
            ("name", "edgeauth CLI on laptop"),
        ] {
            assert!(
                html.contains(&format!(
                    r#"<input type="hidden" name="{field}" value="{value}">"#
                )),
                "{field}"
            );
        }
        assert!(html.contains(
            r#"<button id="approve" type="submit" name="decision" value="approve" class="button primary">Approve</button>"#
        ));
        assert!(html.contains(
            r#"<button id="deny" type="submit" name="decision" value="deny" class="button secondary">Deny</button>"#
        ));
        assert_eq!(html.matches("<form").count(), 1);
        assert!(!html.contains("<script"));
        // Nothing a page visitor could not see is in it: the code does not exist yet.
        assert!(!html.contains("code="));
    }

    #[test]
    fn consent_page_says_who_with_what_it_has() {
        let only_email = cli_consent_html(&CliConsentView {
            person_name: None,
            ..consent()
        });
        assert!(only_email.contains(r#"<dd id="person">demo@example.test</dd>"#));
        let nobody = cli_consent_html(&CliConsentView {
            person_name: Some(" "),
            person_email: None,
            ..consent()
        });
        assert!(nobody.contains(r#"<dd id="person">you</dd>"#));
    }

    #[test]
    fn consent_page_escapes_every_value() {
        let html = cli_consent_html(&CliConsentView {
            person_name: Some(HOSTILE),
            person_email: Some(HOSTILE),
            project: HOSTILE,
            client_name: HOSTILE,
            token_lifetime: HOSTILE,
            redirect_uri: HOSTILE,
            state: HOSTILE,
            code_challenge: HOSTILE,
            listener: HOSTILE,
            csrf_token: HOSTILE,
        });
        assert_no_injection(&html);
        assert_eq!(tags(&html).len(), tags(&cli_consent_html(&consent())).len());
        // Each value is where it belongs, as text.
        let escaped = HOSTILE_ESCAPED;
        for shown in [
            format!(r#"<strong id="client-name">{escaped}</strong>"#),
            format!(r#"<dd id="person">{escaped} ({escaped})</dd>"#),
            format!(r#"<code id="project">{escaped}</code>"#),
            format!(r#"<code id="listener">{escaped}</code>"#),
            format!(r#"<dd id="lifetime">{escaped}, unless you revoke it sooner</dd>"#),
            format!(r#"action="/api/auth/cli-start?project={escaped}">"#),
        ] {
            assert!(html.contains(&shown), "{shown}");
        }
        for field in [
            "csrf_token",
            "redirect_uri",
            "state",
            "code_challenge",
            "name",
        ] {
            let input = format!(r#"<input type="hidden" name="{field}" value="{escaped}">"#);
            assert!(html.contains(&input), "{input}");
        }
    }

    #[test]
    fn consent_page_has_no_script_or_inline_style() {
        let html = cli_consent_html(&consent());
        assert_no_inline_script_or_style(&html);
        assert!(!html.contains("<script"));
    }

    #[test]
    fn consent_csp_lets_the_form_reach_only_the_listener() {
        let v4 = cli_consent_csp(Some("http://127.0.0.1:53682"));
        assert_eq!(
            v4,
            CONTENT_SECURITY_POLICY.replace(
                "form-action 'self';",
                "form-action 'self' http://127.0.0.1:53682;"
            )
        );
        assert_eq!(
            v4,
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self'; form-action 'self' http://127.0.0.1:53682; \
             frame-ancestors 'none'; base-uri 'none'"
        );
        let v6 = cli_consent_csp(None);
        assert!(v6.contains("form-action 'self' http:;"), "{v6}");
    }
}
