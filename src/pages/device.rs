//! The `/device` pages of the device login (RFC 8628): entering the code, confirming the
//! grant it names, and the result of the decision. None has a script.

use askama::Template;

use super::{given, render};

/// What the `/device` entry page shows, and what its form posts.
pub struct DeviceEntryView<'a> {
    /// Why the last code was refused, when it was.
    pub message: Option<&'a str>,
    /// What fills the field: the code last typed, or the one the link carried.
    pub typed: &'a str,
    /// The session's CSRF token.
    pub csrf_token: &'a str,
    /// How long each access token of a device login lasts, in words (`15 minutes`).
    pub access_lifetime: &'a str,
    /// How long a device login lasts at most, in words (`30 days`).
    pub login_lifetime: &'a str,
}

#[derive(Template)]
#[template(path = "device_entry.html")]
struct DeviceEntryPage<'a> {
    view: &'a DeviceEntryView<'a>,
}

/// The `/device` page where a person types (or checks) the code their CLI shows: one field
/// (`#user-code`) and a button (`#submit-code`), a POST to `/device` with the session's CSRF
/// token and no `decision`, which is the guess the server counts. `message`, when set, says
/// why the last code was refused; `typed` fills the field, and a field filled by the link
/// asks the person to check it against their terminal.
pub fn device_entry_html(view: &DeviceEntryView) -> String {
    render(&DeviceEntryPage { view })
}

/// What the `/device` confirmation shows about a pending grant, and what its form posts.
pub struct DeviceConfirmView<'a> {
    /// The grant's user code, canonical (`BCDF-GHJK`).
    pub user_code: &'a str,
    /// The name the CLI gave itself (`edgeauth CLI on laptop`).
    pub client_name: &'a str,
    pub person_email: Option<&'a str>,
    pub person_name: Option<&'a str>,
    /// The project the tokens will be valid in.
    pub project: &'a str,
    /// How long each access token lasts, in words (`15 minutes`).
    pub access_lifetime: &'a str,
    /// How long the login lasts at most, in words (`30 days`).
    pub login_lifetime: &'a str,
    /// The session's CSRF token.
    pub csrf_token: &'a str,
}

#[derive(Template)]
#[template(path = "device_confirm.html")]
struct DeviceConfirmPage<'a> {
    view: &'a DeviceConfirmView<'a>,
    /// The email, else the name, else "you".
    person: &'a str,
}

/// The `/device` confirmation: who asks (the CLI's name), to act as whom, in which project,
/// for how long, and one form posting to `/device` with the code, the CSRF token and
/// `decision=approve` (`#approve`) or `decision=deny` (`#deny`). It has no script.
pub fn device_confirm_html(view: &DeviceConfirmView) -> String {
    let person = given(view.person_email)
        .or(given(view.person_name))
        .unwrap_or("you");
    render(&DeviceConfirmPage { view, person })
}

/// What the `/device` page after a decision shows.
pub struct DeviceDoneView<'a> {
    /// Approve or Deny was pressed.
    pub approved: bool,
    pub client_name: &'a str,
    /// The project the login acts in.
    pub project: &'a str,
    /// How long the login lasts at most, in words (`30 days`).
    pub login_lifetime: &'a str,
}

#[derive(Template)]
#[template(path = "device_done.html")]
struct DeviceDonePage<'a> {
    approved: bool,
    client_name: &'a str,
    project: &'a str,
    login_lifetime: &'a str,
}

/// The `/device` page after a decision: approved (what was granted; return to the terminal)
/// or denied, in the buttons' words.
pub fn device_done_html(view: &DeviceDoneView) -> String {
    render(&DeviceDonePage {
        approved: view.approved,
        client_name: view.client_name,
        project: view.project,
        login_lifetime: view.login_lifetime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::html_checks::{
        assert_no_injection, assert_no_inline_script_or_style, tags, HOSTILE, HOSTILE_ESCAPED,
    };

    fn device_view<'a>() -> DeviceConfirmView<'a> {
        DeviceConfirmView {
            user_code: "BCDF-GHJK",
            client_name: "edgeauth CLI on laptop",
            person_email: Some("demo@example.test"),
            person_name: Some("Demo User"),
            project: "default",
            access_lifetime: "15 minutes",
            login_lifetime: "30 days",
            csrf_token: "c5rf-T0ken_value",
        }
    }

    fn entry(message: Option<&'static str>, typed: &'static str) -> String {
        device_entry_html(&DeviceEntryView {
            message,
            typed,
            csrf_token: "c5rf-T0ken_value",
            access_lifetime: "15 minutes",
            login_lifetime: "30 days",
        })
    }

    #[test]
    fn device_entry_page_posts_the_code_with_the_csrf_token_and_says_why_a_code_failed() {
        let html = entry(None, "");
        // A POST with the session's CSRF token: a link from another site cannot submit it.
        assert!(html.contains(r#"<form id="code-form" method="post" action="/device">"#));
        assert!(
            html.contains(r#"<input type="hidden" name="csrf_token" value="c5rf-T0ken_value">"#)
        );
        assert!(html.contains(r#"<input id="user-code" name="user_code" type="text""#));
        assert!(html.contains(r#"<button id="submit-code" type="submit""#));
        assert!(
            !html.contains("name=\"decision\""),
            "the entry form decides nothing"
        );
        assert_eq!(html.matches("<form").count(), 1);
        assert!(!html.contains("device-message"));
        assert!(!html.contains("aria-invalid"));
        assert!(!html.contains("id=\"check-code\""));
        // What approving will grant, before any code is looked up.
        assert!(html.contains("in all its workspaces (<code>*</code>), with access tokens that last 15 minutes each, signed in for up to 30 days."));
        let html = entry(Some("That code is not valid or has expired."), "bcdf ghjk");
        assert!(html.contains(
            r#"<p id="device-message" class="message" role="alert">That code is not valid or has expired.</p>"#
        ));
        assert!(html.contains(r#"value="bcdf ghjk""#));
        assert!(html.contains(r#"aria-invalid="true""#));
        // Filled by the link: the person is asked to check it before continuing.
        let html = entry(None, "BCDF-GHJK");
        assert!(html.contains(r#"value="BCDF-GHJK""#));
        assert!(html.contains(r#"<p id="check-code" class="hint">"#));
        assert!(!html.contains("aria-invalid"));
    }

    #[test]
    fn device_entry_page_escapes_the_typed_code_the_message_and_the_token() {
        let html = device_entry_html(&DeviceEntryView {
            message: Some(HOSTILE),
            typed: HOSTILE,
            csrf_token: HOSTILE,
            access_lifetime: HOSTILE,
            login_lifetime: HOSTILE,
        });
        assert_no_injection(&html);
        assert_eq!(tags(&html).len(), tags(&entry(Some("x"), "x")).len());
        assert!(html.contains(&format!(
            r#"<p id="device-message" class="message" role="alert">{HOSTILE_ESCAPED}</p>"#
        )));
        assert!(html.contains(&format!(
            r#"placeholder="XXXX-XXXX" value="{HOSTILE_ESCAPED}""#
        )));
        assert!(html.contains(&format!(
            r#"<input type="hidden" name="csrf_token" value="{HOSTILE_ESCAPED}">"#
        )));
    }

    #[test]
    fn device_confirmation_says_who_asks_as_whom_where_and_for_how_long() {
        let html = device_confirm_html(&device_view());
        assert!(html.contains(
            r#"<strong id="client-name">edgeauth CLI on laptop</strong> asks to act as you, <strong id="person">demo@example.test</strong>, in project <code id="project">default</code>."#
        ));
        assert!(html.contains("Access tokens that last 15 minutes each, and a refresh token that keeps it signed in for up to 30 days"));
        assert!(html.contains(r#"<code id="confirm-code">BCDF-GHJK</code>"#));
        assert!(html.contains(
            r#"<dd id="workspaces">All workspaces of the project (<code>*</code>)</dd>"#
        ));
        assert!(html.contains(r#"<form id="decision-form" method="post" action="/device">"#));
        assert!(
            html.contains(r#"<input type="hidden" name="csrf_token" value="c5rf-T0ken_value">"#)
        );
        assert!(html.contains(r#"<input type="hidden" name="user_code" value="BCDF-GHJK">"#));
        assert!(html.contains(
            r#"<button id="approve" type="submit" name="decision" value="approve" class="button primary">Approve</button>"#
        ));
        assert!(html.contains(
            r#"<button id="deny" type="submit" name="decision" value="deny" class="button secondary">Deny</button>"#
        ));
        assert_eq!(html.matches("<form").count(), 1);
        assert!(!html.contains("<script"));
        // Without an email, the name; without either, "you".
        let named = device_confirm_html(&DeviceConfirmView {
            person_email: None,
            ..device_view()
        });
        assert!(named.contains(r#"<strong id="person">Demo User</strong>"#));
        let nobody = device_confirm_html(&DeviceConfirmView {
            person_email: Some(" "),
            person_name: None,
            ..device_view()
        });
        assert!(nobody.contains(r#"<strong id="person">you</strong>"#));
    }

    #[test]
    fn device_pages_escape_every_value() {
        let html = device_confirm_html(&DeviceConfirmView {
            user_code: HOSTILE,
            client_name: HOSTILE,
            person_email: Some(HOSTILE),
            person_name: Some(HOSTILE),
            project: HOSTILE,
            access_lifetime: HOSTILE,
            login_lifetime: HOSTILE,
            csrf_token: HOSTILE,
        });
        assert_no_injection(&html);
        assert_eq!(
            tags(&html).len(),
            tags(&device_confirm_html(&device_view())).len()
        );
        // Each value is where it belongs, as text.
        let escaped = HOSTILE_ESCAPED;
        for shown in [
            format!(r#"<strong id="client-name">{escaped}</strong>"#),
            format!(r#"<strong id="person">{escaped}</strong>"#),
            format!(r#"<code id="project">{escaped}</code>"#),
            format!(r#"<code id="confirm-code">{escaped}</code>"#),
            format!(r#"last {escaped} each"#),
            format!(r#"for up to {escaped}</dd>"#),
            format!(r#"<input type="hidden" name="csrf_token" value="{escaped}">"#),
            format!(r#"<input type="hidden" name="user_code" value="{escaped}">"#),
        ] {
            assert!(html.contains(&shown), "{shown}");
        }
        for approved in [true, false] {
            let html = device_done_html(&DeviceDoneView {
                approved,
                client_name: HOSTILE,
                project: HOSTILE,
                login_lifetime: HOSTILE,
            });
            assert_no_injection(&html);
            assert_eq!(tags(&html).len(), tags(&done(approved)).len());
            assert!(html.contains(&format!("<p><strong>{escaped}</strong> will ")));
        }
    }

    #[test]
    fn device_pages_have_no_script_or_inline_style() {
        for html in [
            entry(Some("m"), "t"),
            entry(None, "BCDF-GHJK"),
            device_confirm_html(&device_view()),
            done(true),
            done(false),
        ] {
            assert_no_inline_script_or_style(&html);
            assert!(!html.contains("<script"));
        }
    }

    fn done(approved: bool) -> String {
        device_done_html(&DeviceDoneView {
            approved,
            client_name: "edgeauth CLI on laptop",
            project: "default",
            login_lifetime: "30 days",
        })
    }

    #[test]
    fn the_result_says_what_was_granted_in_the_buttons_words() {
        let approved = done(true);
        assert!(approved.contains(r#"<h1 id="device-result">Device approved</h1>"#));
        assert!(approved.contains(
            r#"in project <code id="project">default</code>, for all its workspaces (<code>*</code>), for up to 30 days."#
        ));
        let denied = done(false);
        assert!(denied.contains(r#"<h1 id="device-result">Device denied</h1>"#));
        assert!(denied.contains("<title>Device denied · edgeauth</title>"));
        // One wording: the confirmation's buttons are Approve and Deny, as the CLI consent's.
        let confirm = device_confirm_html(&device_view());
        assert!(confirm.contains(">Approve</button>") && confirm.contains(">Deny</button>"));
        assert!(!confirm.contains("Cancel"));
    }
}
