//! The HTML error page: the same status, error code and message a JSON client gets, as a
//! page in the house style, with the message's `code` spans as `<code>` and the paths a
//! browser can open as links.

use askama::Template;

use super::render;

/// One piece of an error message as the page shows it.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    /// What the message wrote between backticks.
    Code(&'a str),
    /// A path a browser can open (`/api/auth/login`), in text or between backticks.
    Link(&'a str),
}

/// The paths a person's browser can open, which a message naming them links to.
const BROWSER_PATHS: [&str; 6] = [
    "/api/auth/login",
    "/account/service-tokens",
    "/account",
    "/device",
    "/healthz",
    "/openapi.json",
];

/// A path a browser can open, or `None`.
fn browser_path(word: &str) -> Option<&str> {
    BROWSER_PATHS.iter().copied().find(|p| *p == word)
}

/// An error message cut into text, `code` spans and links. A backtick without its pair stays
/// text; markup in the message stays text too (the template escapes every piece).
pub fn pieces(message: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = message;
    while let Some(open) = rest.find('`') {
        let Some(len) = rest[open + 1..].find('`') else {
            break;
        };
        text_pieces(&rest[..open], &mut out);
        let code = &rest[open + 1..open + 1 + len];
        out.push(browser_path(code).map_or(Piece::Code(code), Piece::Link));
        rest = &rest[open + 1 + len + 1..];
    }
    text_pieces(rest, &mut out);
    out
}

/// Text, with each known path in it (a whole word, maybe followed by punctuation) a link.
fn text_pieces<'a>(text: &'a str, out: &mut Vec<Piece<'a>>) {
    let mut start = 0;
    for (at, c) in text.char_indices() {
        let word_start = at == 0 || text[..at].ends_with(char::is_whitespace);
        if c != '/' || !word_start {
            continue;
        }
        let end = text[at..]
            .find(char::is_whitespace)
            .map_or(text.len(), |n| at + n);
        let word = text[at..end].trim_end_matches(['.', ',', ';', ':', ')']);
        if let Some(path) = browser_path(word) {
            if start < at {
                out.push(Piece::Text(&text[start..at]));
            }
            out.push(Piece::Link(path));
            start = at + path.len();
        }
    }
    if start < text.len() {
        out.push(Piece::Text(&text[start..]));
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    code: &'a str,
    pieces: Vec<Piece<'a>>,
}

/// The HTML error page: the status, the error code and the message (the same ones the JSON
/// body would carry), and the ways on: home, the account page, the API reference.
pub fn error_html(status: u16, code: &str, message: &str) -> String {
    render(&ErrorPage {
        status,
        reason: reason_phrase(status),
        code,
        pieces: pieces(message),
    })
}

/// The RFC 9110 reason phrase of the statuses the Worker answers.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::html_checks::{
        assert_no_injection, assert_no_inline_script_or_style, tags, HOSTILE, HOSTILE_ESCAPED,
    };

    #[test]
    fn error_page_shows_status_code_and_message_and_a_way_back() {
        let html = error_html(400, "invalid_state", "the sign-in expired; start again");
        assert!(html.contains("<title>400 Bad Request · edgeauth</title>"));
        assert!(html.contains(r#"<code id="error-code">invalid_state</code>"#));
        assert!(html.contains(
            r#"<p id="error-message" class="error-message">the sign-in expired; start again</p>"#
        ));
        assert!(html.contains(r#"href="/account""#));
        assert!(html.contains(r#"href="/""#));
        assert!(html.contains("<h1>Bad Request</h1>"));
        assert!(error_html(599, "x", "y").contains("<h1>Error</h1>"));
        assert_no_inline_script_or_style(&html);
        assert!(!html.contains("<script"));
    }

    #[test]
    fn messages_show_code_spans_as_code_and_paths_as_links() {
        let html = error_html(
            400,
            "invalid_state",
            "the `state` is not this sign-in's; start again at /api/auth/login",
        );
        assert!(!html.contains('`'), "no raw backticks: {html}");
        assert!(html.contains(
            r#"the <code>state</code> is not this sign-in&#39;s; start again at <a href="/api/auth/login">/api/auth/login</a></p>"#
        ));
        assert_eq!(
            pieces("see `/account`, or /device. And /api/tokens"),
            [
                Piece::Text("see "),
                Piece::Link("/account"),
                Piece::Text(", or "),
                Piece::Link("/device"),
                Piece::Text(". And /api/tokens"),
            ]
        );
        // An unpaired backtick is text; a path inside a word is not a link.
        assert_eq!(pieces("a ` b"), [Piece::Text("a ` b")]);
        assert_eq!(pieces("x/account"), [Piece::Text("x/account")]);
        assert_eq!(
            pieces("/accounts"),
            [Piece::Text("/accounts")],
            "only whole paths"
        );
        assert_eq!(pieces(""), []);
    }

    #[test]
    fn error_page_escapes_its_code_and_message() {
        let html = error_html(403, HOSTILE, HOSTILE);
        assert_no_injection(&html);
        assert!(html.contains(&format!(
            r#"<p id="error-message" class="error-message">{HOSTILE_ESCAPED}</p>"#
        )));
        assert!(html.contains(&format!(
            r#"<code id="error-code">{HOSTILE_ESCAPED}</code>"#
        )));
        assert_eq!(tags(&html).len(), tags(&error_html(403, "x", "y")).len());
        // Markup inside a code span stays text too.
        let html = error_html(400, "x", &format!("`{HOSTILE}` and /account"));
        assert_no_injection(&html);
        assert!(html.contains(&format!("<code>{HOSTILE_ESCAPED}</code>")));
    }
}
