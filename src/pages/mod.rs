//! The Worker's HTML pages: the home page, the account page and the signed-out page, the
//! service-token page, the HTML error page, the CLI consent page, the device pages, the response every page is
//! sent in, and the pages' script and stylesheet.
//!
//! Each page is an askama template under `templates/` (checked at compile time, every `{{ }}`
//! escaped), filled from a view struct by a plain function returning a `String`, so host unit
//! tests pin down escaping and the absence of inline script and style. Only [`page_response`],
//! [`cli_consent_response`] and [`asset`] touch `worker::Response`.
//!
//! Nothing here uses `crate::error`: `error` renders its HTML errors with this module.

mod account;
mod assets;
mod cli_consent;
mod device;
mod error;
mod home;
mod service_tokens;

use core::fmt;

use askama::Template;
use worker::Response;

use crate::http::set_header;

pub use account::{
    account_html, action_in_words, signed_out_html, AccountView, Activity, LoginLine,
};
pub use assets::asset;
pub use cli_consent::{cli_consent_html, cli_consent_response, CliConsentView};
pub use device::{
    device_confirm_html, device_done_html, device_entry_html, DeviceConfirmView, DeviceDoneView,
    DeviceEntryView,
};
pub use error::error_html;
pub use home::home_html;
pub use service_tokens::{service_tokens_html, ServiceTokensView};

/// The page's Content-Security-Policy: nothing but this origin's own script, style and
/// `fetch`, no framing, forms only to this origin (the sign-out post).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// [`CONTENT_SECURITY_POLICY`] with `form-action` widened to `source` too. Chromium applies
/// `form-action` to the redirects that follow a form post (see [`cli_consent_csp`]), so a form
/// whose answer redirects elsewhere needs the destination allowed.
pub fn form_action_csp(source: &str) -> String {
    CONTENT_SECURITY_POLICY.replace(
        "form-action 'self';",
        &format!("form-action 'self' {source};"),
    )
}

/// The headers every HTML page of the Worker carries, besides its `Content-Type`.
pub const PAGE_SECURITY_HEADERS: [(&str, &str); 4] = [
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
];

/// An HTML page with `status`, `text/html; charset=utf-8` and [`PAGE_SECURITY_HEADERS`].
pub fn page_response(status: u16, html: String) -> Response {
    let mut response = crate::http::fixed(status, html.into_bytes(), "text/html; charset=utf-8");
    for (name, value) in PAGE_SECURITY_HEADERS {
        set_header(&mut response, name, value);
    }
    response
}

/// A page's HTML. The templates show only `str`s, numbers and booleans, whose formatting into
/// a `String` cannot fail.
fn render(page: &impl Template) -> String {
    page.render().unwrap_or_else(|e| {
        worker::console_error!("a page did not render: {e}");
        String::new()
    })
}

/// The escaper of every `.html` template (configured in `askama.toml`): `&`, `<`, `>`, `"`
/// and `'` as the named entities `&amp;` `&lt;` `&gt;` `&quot;` and `&#39;`, which makes a
/// value safe in text and in double- or single-quoted attributes. askama's own `Html` writes
/// numeric ones (`&#38;`); the named ones keep the pages as they were, for the scripts and
/// tests that read them.
#[derive(Clone, Copy, Debug, Default)]
pub struct HtmlEscaper;

impl askama::filters::Escaper for HtmlEscaper {
    fn write_escaped_str<W: fmt::Write>(&self, mut dest: W, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            dest.write_str(&rest[..at])?;
            dest.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        dest.write_str(rest)
    }
}

/// A name or an email as a person gave it, or `None` when they gave nothing but whitespace.
fn given(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod html_checks;

#[cfg(test)]
mod tests {
    use askama::filters::Escaper;

    use super::*;

    fn escape(text: &str) -> String {
        let mut out = String::new();
        HtmlEscaper
            .write_escaped_str(&mut out, text)
            .expect("writing to a String");
        out
    }

    #[test]
    fn escape_covers_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape("plain café"), "plain café");
        assert_eq!(escape("é&é"), "é&amp;é");
        assert_eq!(escape(""), "");
        assert_eq!(escape(html_checks::HOSTILE), html_checks::HOSTILE_ESCAPED);
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
}
