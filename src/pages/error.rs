//! The HTML error page of the browser endpoints (sign-in, CLI consent, device pages).

use askama::Template;

use super::render;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    code: &'a str,
    message: &'a str,
}

/// The HTML error page of the browser endpoints: the status, the error code and the message
/// (the same ones the JSON body would carry), and a way back to `/account`.
pub fn error_html(status: u16, code: &str, message: &str) -> String {
    render(&ErrorPage {
        status,
        reason: reason_phrase(status),
        code,
        message,
    })
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
        assert!(html.contains("<h1>Bad Request</h1>"));
        assert!(error_html(599, "x", "y").contains("<h1>Error</h1>"));
        assert_no_inline_script_or_style(&html);
        assert!(!html.contains("<script"));
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
    }
}
