//! `GET /account`: the person's page (who they are, sign out, their API tokens), the signed-out
//! page, the consent page of the CLI login, the HTML error page of the browser endpoints, and
//! the page's script and stylesheet.
//!
//! The pages are rendered as plain strings so that host unit tests can pin down escaping and
//! the absence of inline script and style; only [`page_response`] and [`asset`] touch
//! `worker::Response`. The page carries no data beyond identity: `/account.js` fills the token
//! table from `GET /api/tokens` and keeps a new token's plaintext in the DOM only.

use worker::Response;

use crate::http;

/// The page's Content-Security-Policy: nothing but this origin's own script, style and
/// `fetch`, no framing, forms only to this origin (the sign-out post).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// The headers every HTML page of the Worker carries, besides its `Content-Type`.
pub const PAGE_SECURITY_HEADERS: [(&str, &str); 4] = [
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
];

/// What the signed-in page shows about its person, and what its script needs.
pub struct AccountView<'a> {
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub teams: &'a [String],
    pub user_id: &'a str,
    /// The project new tokens are bound to (from `?project=`, else the default).
    pub project: &'a str,
    /// The session's CSRF token, for the script's writes and the sign-out form.
    pub csrf_token: &'a str,
}

/// The page of a signed-in person: identity, sign out, the create form, the tokens table.
pub fn account_html(view: &AccountView) -> String {
    let csrf = escape(view.csrf_token);
    let project = escape(view.project);
    let user_id = escape(view.user_id);
    let name = view.name.map(str::trim).filter(|n| !n.is_empty());
    let email = view.email.map(str::trim).filter(|e| !e.is_empty());
    let (headline, subline) = match (name, email) {
        (Some(name), Some(email)) => (escape(name), Some(escape(email))),
        (Some(name), None) => (escape(name), None),
        (None, Some(email)) => (escape(email), None),
        (None, None) => ("Signed in".to_owned(), None),
    };
    let subline = subline
        .map(|email| format!("\n        <p class=\"who-email\">{email}</p>"))
        .unwrap_or_default();
    let teams = if view.teams.is_empty() {
        "<span class=\"muted\">none</span>".to_owned()
    } else {
        let items: String = view
            .teams
            .iter()
            .map(|team| format!("<li class=\"chip\">{}</li>", escape(team)))
            .collect();
        format!("<ul class=\"chips\">{items}</ul>")
    };
    let head = format!(
        "<meta name=\"csrf-token\" content=\"{csrf}\">\n\
         <meta name=\"edgeauth-project\" content=\"{project}\">\n\
         <script src=\"/account.js\" defer></script>"
    );
    let signout = format!(
        "<form class=\"signout\" method=\"post\" action=\"/api/auth/logout\">\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\n\
         <button type=\"submit\" id=\"signout\" class=\"button secondary\">Sign out</button>\n\
         </form>"
    );
    let body = format!(
        r#"<main id="main" class="wrap">
  <h1>Your account</h1>
  <section id="identity" class="card identity" aria-label="Signed in as">
    <div class="who">
      <p class="who-name">{headline}</p>{subline}
    </div>
    <dl class="facts">
      <div><dt>Teams</dt><dd>{teams}</dd></div>
      <div><dt>User ID</dt><dd><code>{user_id}</code></dd></div>
      <div><dt>New tokens go to project</dt><dd><code id="project">{project}</code></dd></div>
    </dl>
  </section>

  <div id="message" class="message" role="alert"></div>

  <section class="card" aria-labelledby="create-heading">
    <h2 id="create-heading">Create a token</h2>
    <p class="hint">A token acts as you in project <strong>{project}</strong>, for the CLI, scripts or CI. Add <code>?project=name</code> to this page's address to create one for another project.</p>
    <form id="create-form" class="create" novalidate>
      <fieldset id="create-fields" disabled>
        <legend class="visually-hidden">New token</legend>
        <div class="field field-name">
          <label for="token-name">Name</label>
          <input id="token-name" name="name" type="text" required maxlength="100" autocomplete="off" spellcheck="false" aria-describedby="token-name-hint">
          <p id="token-name-hint" class="hint">What will use it, e.g. “laptop” or “CI deploy”.</p>
        </div>
        <div class="field field-expiry">
          <label for="token-expiry">Expires</label>
          <select id="token-expiry" name="expires_in_days" aria-describedby="token-expiry-hint">
            <option value="">Never</option>
            <option value="7">In 7 days</option>
            <option value="30" selected>In 30 days</option>
            <option value="90">In 90 days</option>
            <option value="365">In 365 days</option>
          </select>
          <p id="token-expiry-hint" class="hint" aria-live="polite"></p>
        </div>
        <div class="field field-submit">
          <button id="create-token" type="submit" class="button primary">Create token</button>
        </div>
      </fieldset>
    </form>

    <section id="new-token" class="new-token" aria-labelledby="new-token-heading" tabindex="-1" hidden>
      <h3 id="new-token-heading">Your new token <span id="new-token-name"></span></h3>
      <p class="warning"><strong>Copy it now — it will not be shown again.</strong> Only its prefix is kept; if you lose it, revoke it and create another.</p>
      <code id="new-token-value" class="token-value" tabindex="0"></code>
      <div class="panel-actions">
        <button id="copy-token" type="button" class="button primary">Copy</button>
        <span id="copy-status" class="copy-status" role="status"></span>
        <button id="dismiss-token" type="button" class="button secondary">Done</button>
      </div>
    </section>
  </section>

  <section class="card" aria-labelledby="tokens-heading">
    <div class="section-head">
      <h2 id="tokens-heading" tabindex="-1">Your tokens</h2>
      <p id="status" class="status" role="status"></p>
    </div>
    <p class="hint">In every project. Revoking a token stops it working at once.</p>
    <div class="table-wrap">
      <table id="tokens" class="tokens">
        <caption class="visually-hidden">Your API tokens</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Prefix</th>
            <th scope="col">Project</th>
            <th scope="col">Created</th>
            <th scope="col">Last used</th>
            <th scope="col">Expires</th>
            <th scope="col"><span class="visually-hidden">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          <tr class="placeholder"><td colspan="7">Loading…</td></tr>
        </tbody>
      </table>
    </div>
    <noscript><p class="message">Creating and revoking tokens on this page needs JavaScript. The <code>edgeauth token</code> commands of the CLI do the same.</p></noscript>
  </section>
</main>"#
    );
    document("Your account", &head, &signout, &body)
}

/// The page of someone not signed in: a "Sign in" link to `login_href`.
pub fn signed_out_html(login_href: &str) -> String {
    let body = format!(
        r#"<main id="main" class="wrap narrow">
  <section class="card center">
    <h1>Sign in to edgeauth</h1>
    <p>Sign in to see your account and to create and revoke your API tokens.</p>
    <p><a id="signin" class="button primary large" href="{}">Sign in</a></p>
  </section>
</main>"#,
        escape(login_href)
    );
    document("Sign in", "", "", &body)
}

/// The HTML error page of the browser endpoints: the status, the error code and the message
/// (the same ones the JSON body would carry), and a way back to `/account`.
pub fn error_html(status: u16, code: &str, message: &str) -> String {
    let reason = reason_phrase(status);
    let body = format!(
        r#"<main id="main" class="wrap narrow">
  <section class="card error">
    <p class="eyebrow">Error {status}</p>
    <h1>{reason}</h1>
    <p id="error-message" class="error-message">{message}</p>
    <p class="muted">Error code: <code id="error-code">{code}</code></p>
    <p><a id="back" class="button primary" href="/account">Back to your account</a></p>
  </section>
</main>"#,
        message = escape(message),
        code = escape(code),
    );
    document(&format!("{status} {reason}"), "", "", &body)
}

/// An HTML page with `status`, `text/html; charset=utf-8` and [`PAGE_SECURITY_HEADERS`].
pub fn page_response(status: u16, html: String) -> Response {
    let mut response = Response::from_html(html)
        .unwrap_or_else(|_| Response::empty().expect("an empty response"))
        .with_status(status);
    http::set_header(&mut response, "Content-Type", "text/html; charset=utf-8");
    for (name, value) in PAGE_SECURITY_HEADERS {
        http::set_header(&mut response, name, value);
    }
    response
}

/// What the CLI consent page shows and carries back in its form.
pub struct CliConsentView<'a> {
    pub person_name: Option<&'a str>,
    pub person_email: Option<&'a str>,
    /// The project the token will be valid in (validated: `[a-z0-9-]`).
    pub project: &'a str,
    /// The name of the token the CLI asks for.
    pub client_name: &'a str,
    /// The CLI's loopback redirect, `state` and PKCE challenge, posted back unchanged.
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub code_challenge: &'a str,
    /// The loopback address the code will go to, for the person to see (`127.0.0.1:53682`).
    pub listener: &'a str,
    /// The session's CSRF token.
    pub csrf_token: &'a str,
}

/// The consent page of the CLI login: who asks (the token's name), for which project, acting
/// as whom, and one form posting the request back with `decision=approve` (`#approve`) or
/// `decision=deny` (`#deny`). It has no script.
pub fn cli_consent_html(view: &CliConsentView) -> String {
    let name = view.person_name.map(str::trim).filter(|n| !n.is_empty());
    let email = view.person_email.map(str::trim).filter(|e| !e.is_empty());
    let person = match (name, email) {
        (Some(name), Some(email)) => format!("{} ({})", escape(name), escape(email)),
        (Some(one), None) | (None, Some(one)) => escape(one),
        (None, None) => "you".to_owned(),
    };
    let project = escape(view.project);
    let hidden: String = [
        ("csrf_token", view.csrf_token),
        ("redirect_uri", view.redirect_uri),
        ("state", view.state),
        ("code_challenge", view.code_challenge),
        ("code_challenge_method", "S256"),
        ("name", view.client_name),
    ]
    .iter()
    .map(|(field, value)| {
        format!(
            "\n      <input type=\"hidden\" name=\"{field}\" value=\"{}\">",
            escape(value)
        )
    })
    .collect();
    let body = format!(
        r#"<main id="main" class="wrap narrow">
  <section class="card consent" aria-labelledby="consent-heading">
    <p class="eyebrow">Command-line sign-in</p>
    <h1 id="consent-heading">Sign in to the edgeauth CLI?</h1>
    <p>The edgeauth CLI asks for an API token named <strong id="client-name">{client_name}</strong>.</p>
    <dl class="facts">
      <div><dt>Acting as</dt><dd id="person">{person}</dd></div>
      <div><dt>In project</dt><dd><code id="project">{project}</code></dd></div>
      <div><dt>Sent to</dt><dd><code id="listener">{listener}</code> on this computer</dd></div>
    </dl>
    <p class="hint">Approve only if you just ran <code>edgeauth login</code> yourself. You can revoke the token at any time on your account page.</p>
    <form id="consent-form" method="post" action="/api/auth/cli-start?project={project}">{hidden}
      <div class="panel-actions">
        <button id="approve" type="submit" name="decision" value="approve" class="button primary">Approve</button>
        <button id="deny" type="submit" name="decision" value="deny" class="button secondary">Cancel</button>
      </div>
    </form>
  </section>
</main>"#,
        client_name = escape(view.client_name),
        listener = escape(view.listener),
    );
    document("Sign in to the edgeauth CLI", "", "", &body)
}

/// The consent page's Content-Security-Policy: [`CONTENT_SECURITY_POLICY`] with `form-action`
/// widened to the CLI's listener. Chromium applies `form-action` to the redirects that follow
/// a form post too (measured: Chromium 156 blocks our 303 to `http://127.0.0.1:PORT/…` under
/// `form-action 'self'`), so the listener must be allowed. An IPv4 listener is named exactly,
/// port included; CSP source expressions cannot name an IPv6 literal (Chromium ignores
/// `http://[::1]:*` as invalid), so for `[::1]` the scheme `http:` is allowed instead. Either
/// way the page's only form is ours, with a fixed same-origin action.
pub fn cli_consent_csp(listener_origin: Option<&str>) -> String {
    let extra = listener_origin.unwrap_or("http:");
    CONTENT_SECURITY_POLICY.replace(
        "form-action 'self';",
        &format!("form-action 'self' {extra};"),
    )
}

/// The consent page as a response: [`page_response`] with [`cli_consent_csp`].
pub fn cli_consent_response(html: String, listener_origin: Option<&str>) -> Response {
    let mut response = page_response(200, html);
    http::set_header(
        &mut response,
        "Content-Security-Policy",
        &cli_consent_csp(listener_origin),
    );
    response
}

/// `/account.js` and `/account.css`, with their content types; `None` for any other path.
pub fn asset(path: &str) -> Option<Response> {
    let (content_type, source) = asset_source(path)?;
    let mut response = Response::ok(source).ok()?;
    http::set_header(&mut response, "Content-Type", content_type);
    Some(response)
}

/// The content type and text of a static asset of the page, compiled into the Worker.
fn asset_source(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "/account.js" => Some((
            "text/javascript; charset=utf-8",
            include_str!("../assets/account.js"),
        )),
        "/account.css" => Some((
            "text/css; charset=utf-8",
            include_str!("../assets/account.css"),
        )),
        _ => None,
    }
}

/// The page frame shared by every page: head, stylesheet, top bar (with `topbar_end` on the
/// right, e.g. the sign-out form), then `body`.
fn document(title: &str, head_extra: &str, topbar_end: &str, body: &str) -> String {
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · edgeauth</title>
<link rel="stylesheet" href="/account.css">
{head_extra}
</head>
<body>
<a class="skip-link" href="#main">Skip to content</a>
<header class="topbar">
  <div class="wrap topbar-inner">
    <a class="brand" href="/account">edgeauth</a>
    {topbar_end}
  </div>
</header>
{body}
</body>
</html>
"##,
        title = escape(title),
    )
}

/// Escapes text for HTML content and for double- or single-quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The RFC 9110 reason phrase of the statuses the browser endpoints answer.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// The `/device` page where a person types the code their CLI shows: one field
/// (`#user-code`) and a button (`#submit-code`), a GET back to `/device`. `message`, when
/// set, says why the last code was refused; `typed` refills the field.
pub fn device_entry_html(message: Option<&str>, typed: &str) -> String {
    let (alert, invalid) = match message {
        Some(m) => (
            format!(
                "\n    <p id=\"device-message\" class=\"message\" role=\"alert\">{}</p>",
                escape(m)
            ),
            " aria-invalid=\"true\"",
        ),
        None => (String::new(), ""),
    };
    let body = format!(
        r#"<main id="main" class="wrap narrow">
  <section class="card device" aria-labelledby="device-heading">
    <h1 id="device-heading">Connect a device</h1>
    <p>Enter the code that <code>edgeauth login --device</code> shows in your terminal.</p>{alert}
    <form id="code-form" method="get" action="/device">
      <div class="field">
        <label for="user-code">Code</label>
        <input id="user-code" name="user_code" type="text" required maxlength="32" autocomplete="off" autocapitalize="characters" spellcheck="false" placeholder="XXXX-XXXX" value="{typed}" aria-describedby="user-code-hint"{invalid}>
        <p id="user-code-hint" class="hint">Eight letters, like BCDF-GHJK; case, spaces and dashes do not matter.</p>
      </div>
      <div class="panel-actions">
        <button id="submit-code" type="submit" class="button primary">Continue</button>
      </div>
    </form>
  </section>
</main>"#,
        typed = escape(typed),
    );
    document("Connect a device", "", "", &body)
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

/// The `/device` confirmation: who asks (the CLI's name), to act as whom, in which project,
/// for how long, and one form posting to `/device` with the code, the CSRF token and
/// `decision=approve` (`#approve`) or `decision=deny` (`#deny`). It has no script.
pub fn device_confirm_html(view: &DeviceConfirmView) -> String {
    let email = view.person_email.map(str::trim).filter(|e| !e.is_empty());
    let name = view.person_name.map(str::trim).filter(|n| !n.is_empty());
    let person = email.or(name).map_or_else(|| "you".to_owned(), escape);
    let user_code = escape(view.user_code);
    let body = format!(
        r#"<main id="main" class="wrap narrow">
  <section class="card device" aria-labelledby="device-heading">
    <h1 id="device-heading">Approve this device?</h1>
    <p id="grant-summary"><strong id="client-name">{client_name}</strong> asks to act as you, <strong id="person">{person}</strong>, in project <code id="project">{project}</code>.</p>
    <dl class="facts">
      <div><dt>Code</dt><dd><code id="confirm-code">{user_code}</code></dd></div>
      <div><dt>Access</dt><dd id="grant-terms">Access tokens that last {access} each, and a refresh token that keeps it signed in for up to {login}</dd></div>
    </dl>
    <p class="hint">Approve only if you started this login yourself and the code matches the one in your terminal. Anyone you approve can act as you in this project until the login ends.</p>
    <form id="decision-form" method="post" action="/device">
      <input type="hidden" name="csrf_token" value="{csrf}">
      <input type="hidden" name="user_code" value="{user_code}">
      <div class="panel-actions">
        <button id="approve" type="submit" name="decision" value="approve" class="button primary">Approve</button>
        <button id="deny" type="submit" name="decision" value="deny" class="button secondary">Deny</button>
      </div>
    </form>
  </section>
</main>"#,
        client_name = escape(view.client_name),
        project = escape(view.project),
        access = escape(view.access_lifetime),
        login = escape(view.login_lifetime),
        csrf = escape(view.csrf_token),
    );
    document("Approve this device?", "", "", &body)
}

/// The `/device` page after a decision: approved (return to the terminal) or denied.
pub fn device_done_html(approved: bool, client_name: &str) -> String {
    let client_name = escape(client_name);
    let (title, text) = if approved {
        (
            "Device approved",
            format!("<strong>{client_name}</strong> will be signed in as you in a few seconds. You can close this tab and return to your terminal."),
        )
    } else {
        (
            "Login denied",
            format!("<strong>{client_name}</strong> will not be signed in. If you did not start this login yourself, someone may have tried to get access with a code you were sent: denying it was right."),
        )
    };
    let body = format!(
        r#"<main id="main" class="wrap narrow">
  <section class="card center">
    <h1 id="device-result">{title}</h1>
    <p>{text}</p>
    <p><a class="button secondary" href="/account">Your account</a></p>
  </section>
</main>"#
    );
    document(title, "", "", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#"x"><script>alert(1)</script><img src=x onerror=alert(2) a='b&c"#;

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
            csrf_token: "c5rf-T0ken_value",
        }
    }

    /// The markup a page is made of: its tags (between `<` and `>`), without the text between
    /// them. Escaped input contains neither character, so it cannot add or cut a tag.
    fn tags(html: &str) -> Vec<&str> {
        html.split('<')
            .skip(1)
            .map(|rest| &rest[..rest.find('>').expect("every tag is closed")])
            .collect()
    }

    /// A tag's attribute names, read strictly: `name`, or `name="value"` where the value holds
    /// no `"`. A value that broke out of its quotes would leave a token this refuses.
    fn attribute_names(tag: &str) -> Vec<&str> {
        let mut rest = tag.trim_start_matches('/');
        let name_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = &rest[name_end..];
        let mut names = Vec::new();
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                return names;
            }
            let end = rest
                .find(|c: char| c == '=' || c.is_whitespace())
                .unwrap_or(rest.len());
            let name = &rest[..end];
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '-' || c == '_'),
                "a stray token {name:?} in <{tag}>"
            );
            names.push(name);
            rest = &rest[end..];
            if let Some(value) = rest.strip_prefix("=\"") {
                let close = value.find('"').expect("a quoted value is closed");
                rest = &value[close + 1..];
                assert!(
                    rest.is_empty() || rest.starts_with(char::is_whitespace),
                    "a value runs into the next token in <{tag}>"
                );
            }
        }
    }

    /// Hostile input stayed text: no tag, no attribute, no script came of it.
    fn assert_no_injection(html: &str) {
        assert!(!html.contains(HOSTILE), "hostile text appears unescaped");
        assert!(!html.contains("<script>alert"));
        assert!(!html.contains("<img"));
        for tag in tags(html) {
            if tag.starts_with('!') {
                continue; // <!doctype html>
            }
            for name in attribute_names(tag) {
                assert!(!name.starts_with("on"), "an event handler in <{tag}>");
            }
        }
    }

    #[test]
    fn escape_covers_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape("plain café"), "plain café");
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
        for id in [
            "signout",
            "identity",
            "token-name",
            "token-expiry",
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
    fn account_page_escapes_every_value() {
        let hostile_teams = teams(&[HOSTILE, "ok"]);
        let html = account_html(&AccountView {
            name: Some(HOSTILE),
            email: Some(HOSTILE),
            teams: &hostile_teams,
            user_id: HOSTILE,
            project: HOSTILE,
            csrf_token: HOSTILE,
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
            csrf_token: "x",
        });
        assert_eq!(tags(&html).len(), tags(&benign).len());
        let escaped = escape(HOSTILE);
        assert!(html.contains(&format!(r#"<meta name="csrf-token" content="{escaped}">"#)));
        assert!(html.contains(&format!(
            r#"<meta name="edgeauth-project" content="{escaped}">"#
        )));
        assert!(html.contains(&format!(r#"<li class="chip">{escaped}</li>"#)));
    }

    #[test]
    fn signed_out_page_links_to_sign_in() {
        let html = signed_out_html("/api/auth/login?return_to=/account&project=p1");
        assert!(html.contains(
            r#"<a id="signin" class="button primary large" href="/api/auth/login?return_to=/account&amp;project=p1">Sign in</a>"#
        ));
        assert!(!html.contains("csrf-token"));
        let html = signed_out_html(HOSTILE);
        assert_no_injection(&html);
    }

    #[test]
    fn error_page_shows_status_code_and_message_and_a_way_back() {
        let html = error_html(400, "invalid_state", "the sign-in expired; start again");
        assert!(html.contains("<title>400 Bad Request · edgeauth</title>"));
        assert!(html.contains(r#"<code id="error-code">invalid_state</code>"#));
        assert!(html.contains(
            r#"<p id="error-message" class="error-message">the sign-in expired; start again</p>"#
        ));
        assert!(html.contains(r#"href="/account""#));
        assert!(html.contains("<h1>Bad Request</h1>"));
        assert!(error_html(599, "x", "y").contains("<h1>Error</h1>"));
        let html = error_html(403, HOSTILE, HOSTILE);
        assert_no_injection(&html);
    }

    #[test]
    fn pages_have_no_inline_script_or_style() {
        let teams = teams(&["t"]);
        for html in [
            account_html(&view(&teams)),
            signed_out_html("/api/auth/login?return_to=/account"),
            error_html(500, "internal", "m"),
            cli_consent_html(&consent()),
        ] {
            assert!(html.starts_with("<!doctype html>"));
            assert!(html.contains(r#"<link rel="stylesheet" href="/account.css">"#));
            assert!(!html.contains("<style"));
            for tag in tags(&html) {
                assert!(!tag.contains(" style="), "inline style in <{tag}>");
                // By attribute name: an attribute value may well say "CLI on laptop".
                if !tag.starts_with('!') {
                    for name in attribute_names(tag) {
                        assert!(!name.starts_with("on"), "inline handler in <{tag}>");
                    }
                }
                assert!(!tag.contains("javascript:"), "script URL in <{tag}>");
            }
            // The only script is the external one, with nothing between its tags.
            for (i, _) in html.match_indices("<script") {
                assert!(html[i..].starts_with(r#"<script src="/account.js" defer></script>"#));
            }
        }
        assert!(account_html(&view(&teams)).contains("/account.js"));
    }

    fn consent<'a>() -> CliConsentView<'a> {
        CliConsentView {
            person_name: Some("Demo User"),
            person_email: Some("demo@example.test"),
            project: "default",
            client_name: "edgeauth CLI on laptop",
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
            r#"<button id="deny" type="submit" name="decision" value="deny" class="button secondary">Cancel</button>"#
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
            redirect_uri: HOSTILE,
            state: HOSTILE,
            code_challenge: HOSTILE,
            listener: HOSTILE,
            csrf_token: HOSTILE,
        });
        assert_no_injection(&html);
        assert_eq!(tags(&html).len(), tags(&cli_consent_html(&consent())).len());
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
        assert!(v4.contains("script-src 'self'") && v4.contains("frame-ancestors 'none'"));
        let v6 = cli_consent_csp(None);
        assert!(v6.contains("form-action 'self' http:;"), "{v6}");
    }

    #[test]
    fn security_headers_are_the_documented_ones() {
        assert_eq!(
            CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
        let names: Vec<&str> = PAGE_SECURITY_HEADERS.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "Content-Security-Policy",
                "X-Frame-Options",
                "Referrer-Policy",
                "Cache-Control"
            ]
        );
        assert!(PAGE_SECURITY_HEADERS.contains(&("X-Frame-Options", "DENY")));
        assert!(PAGE_SECURITY_HEADERS.contains(&("Referrer-Policy", "same-origin")));
        assert!(PAGE_SECURITY_HEADERS.contains(&("Cache-Control", "no-store")));
    }

    #[test]
    fn assets_are_served_with_their_types() {
        let (js_type, js) = asset_source("/account.js").expect("the script");
        assert_eq!(js_type, "text/javascript; charset=utf-8");
        assert!(js.contains("/api/tokens"));
        let (css_type, css) = asset_source("/account.css").expect("the stylesheet");
        assert_eq!(css_type, "text/css; charset=utf-8");
        assert!(css.contains("#tokens") || css.contains(".tokens"));
        assert!(asset_source("/account").is_none());
        assert!(asset_source("/account.js/").is_none());
        assert!(asset_source("/../account.js").is_none());
    }

    #[test]
    fn the_script_never_stores_the_plaintext() {
        let (_, js) = asset_source("/account.js").expect("the script");
        for forbidden in [
            "localStorage",
            "sessionStorage",
            "indexedDB",
            "document.cookie",
            "innerHTML",
            "eval(",
        ] {
            assert!(!js.contains(forbidden), "account.js uses {forbidden}");
        }
        assert!(js.contains("credentials: 'same-origin'"));
        assert!(js.contains("'X-CSRF-Token'"));
    }

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

    #[test]
    fn device_entry_page_has_the_code_field_and_says_why_a_code_failed() {
        let html = device_entry_html(None, "");
        assert!(html.contains(r#"<form id="code-form" method="get" action="/device">"#));
        assert!(html.contains(r#"<input id="user-code" name="user_code" type="text""#));
        assert!(html.contains(r#"<button id="submit-code" type="submit""#));
        assert!(!html.contains("device-message"));
        assert!(!html.contains("aria-invalid"));
        let html = device_entry_html(Some("That code is not valid or has expired."), "bcdf ghjk");
        assert!(html.contains(
            r#"<p id="device-message" class="message" role="alert">That code is not valid or has expired.</p>"#
        ));
        assert!(html.contains(r#"value="bcdf ghjk""#));
        assert!(html.contains(r#"aria-invalid="true""#));
        assert_no_injection(&device_entry_html(Some(HOSTILE), HOSTILE));
        assert_eq!(
            tags(&device_entry_html(Some(HOSTILE), HOSTILE)).len(),
            tags(&device_entry_html(Some("x"), "x")).len()
        );
    }

    #[test]
    fn device_confirmation_says_who_asks_as_whom_where_and_for_how_long() {
        let html = device_confirm_html(&device_view());
        assert!(html.contains(
            r#"<strong id="client-name">edgeauth CLI on laptop</strong> asks to act as you, <strong id="person">demo@example.test</strong>, in project <code id="project">default</code>."#
        ));
        assert!(html.contains("Access tokens that last 15 minutes each, and a refresh token that keeps it signed in for up to 30 days"));
        assert!(html.contains(r#"<code id="confirm-code">BCDF-GHJK</code>"#));
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
        for approved in [true, false] {
            let html = device_done_html(approved, HOSTILE);
            assert_no_injection(&html);
            assert_eq!(
                tags(&html).len(),
                tags(&device_done_html(approved, "x")).len()
            );
        }
    }

    #[test]
    fn device_pages_have_no_script_or_inline_style() {
        for html in [
            device_entry_html(Some("m"), "t"),
            device_confirm_html(&device_view()),
            device_done_html(true, "edgeauth CLI on laptop"),
            device_done_html(false, "edgeauth CLI on laptop"),
        ] {
            assert!(html.starts_with("<!doctype html>"));
            assert!(html.contains(r#"<link rel="stylesheet" href="/account.css">"#));
            assert!(!html.contains("<script") && !html.contains("<style"));
            for tag in tags(&html).into_iter().filter(|t| !t.starts_with('!')) {
                for name in attribute_names(tag) {
                    assert!(name != "style" && !name.starts_with("on"), "<{tag}>");
                }
                assert!(!tag.contains("javascript:"), "<{tag}>");
            }
        }
        assert!(
            device_done_html(true, "x").contains(r#"<h1 id="device-result">Device approved</h1>"#)
        );
        assert!(
            device_done_html(false, "x").contains(r#"<h1 id="device-result">Login denied</h1>"#)
        );
    }
}
