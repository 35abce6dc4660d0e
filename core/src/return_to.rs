//! Where to send the browser after sign-in: `return_to`, a same-origin path only.
//!
//! `GET /api/auth/login?return_to=…` carries the page to come back to through the identity
//! provider round trip. Anything that a browser could resolve to another origin would make the
//! login endpoint an open redirect, so only a plain absolute path is kept.

/// Where call sites send the browser when `return_to` is absent or refused.
pub const DEFAULT_RETURN_TO: &str = "/account";
/// Longest accepted `return_to`, in bytes.
pub const MAX_RETURN_TO_LEN: usize = 1024;

/// `input` if it is a safe same-origin absolute path, else `None`; call sites then use
/// [`DEFAULT_RETURN_TO`] (`safe_return_to(x).unwrap_or_else(|| DEFAULT_RETURN_TO.into())`).
///
/// The rule, with nothing decoded:
/// - it starts with exactly one `/`: not `//` (scheme-relative, another host) and not `/\`
///   (browsers read `\` as `/`); so no scheme (`https:`, `javascript:`) can come first;
/// - no backslash anywhere, no whitespace, control or non-ASCII characters (browsers strip tab
///   and newline from URLs, so `/\t/evil.test` would become `//evil.test`);
/// - only RFC 3986 URI characters (unreserved, sub-delims, `:@/?#%`), so nothing like `<`, `"`
///   or `` ` `` reaches a header or a page;
/// - no `.` or `..` path segment, literal or percent-encoded (`%2e`), which browsers resolve
///   and which could turn `/..//evil.test` into a `//` path;
/// - at most [`MAX_RETURN_TO_LEN`] bytes.
///
/// Percent-escapes are kept as they are: `/%2F%2Fevil.test` is accepted, because a browser
/// resolves it to the path `/%2F%2Fevil.test` on our origin (an encoded `/` is not a
/// delimiter), and we never decode `return_to` before redirecting.
pub fn safe_return_to(input: &str) -> Option<String> {
    if input.is_empty() || input.len() > MAX_RETURN_TO_LEN {
        return None;
    }
    let rest = input.strip_prefix('/')?;
    if rest.starts_with('/') || rest.starts_with('\\') {
        return None;
    }
    if !input.bytes().all(is_uri_char) {
        return None;
    }
    let path = input.split(['?', '#']).next().unwrap_or_default();
    if path.split('/').any(is_dot_segment) {
        return None;
    }
    Some(input.to_owned())
}

fn is_uri_char(b: u8) -> bool {
    crate::uri::is_path_or_query_byte(b) || matches!(b, b'#' | b'%')
}

/// `.` or `..`, also with any dot written `%2e` (WHATWG URL treats those as dots).
fn is_dot_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "." | ".." | "%2e" | "%2e." | ".%2e" | "%2e%2e"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_ordinary_paths_as_given() {
        for ok in [
            "/",
            "/account",
            "/device?user_code=BCDF-GHJK",
            "/account#tokens",
            "/a/b/c?x=1&y=%20z",
            "/a:b@c",
            "/javascript:alert(1)",
            "/.well-known/x",
            "/a/...",
        ] {
            assert_eq!(safe_return_to(ok).as_deref(), Some(ok), "{ok}");
        }
    }

    #[test]
    fn refuses_other_origins() {
        for bad in [
            "//evil.test",
            "//evil.test/path",
            "///evil.test",
            "/\\evil.test",
            "/\\/evil.test",
            "https://evil.test",
            "http://evil.test/",
            "javascript:alert(1)",
            "data:text/html,x",
            "evil.test",
            "account",
            "\\\\evil.test",
            "\\/evil.test",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad}");
        }
    }

    #[test]
    fn refuses_backslashes_anywhere() {
        assert_eq!(safe_return_to("/account\\x"), None);
        assert_eq!(safe_return_to("/a?next=\\\\evil.test"), None);
    }

    #[test]
    fn refuses_whitespace_control_and_non_ascii() {
        for bad in [
            "\t//evil.test",
            "/\t/evil.test",
            "/\n/evil.test",
            "/\r\nSet-Cookie: x=y",
            " /account",
            "/account ",
            "/a b",
            "/\0",
            "/\x7f",
            "/é",
            "/\u{2215}\u{2215}evil.test",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn refuses_characters_outside_uris() {
        for bad in ["/<script>", "/\"", "/`", "/{x}", "/a|b", "/a^b", "/[x]"] {
            assert_eq!(safe_return_to(bad), None, "{bad}");
        }
    }

    #[test]
    fn refuses_dot_segments_literal_or_encoded() {
        for bad in [
            "/..//evil.test",
            "/./",
            "/a/../b",
            "/a/.",
            "/%2e%2e//evil.test",
            "/%2E%2E/x",
            "/.%2e/x",
            "/%2e./x",
            "/%2e/x",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad}");
        }
        // Dots in the query or fragment are not path segments.
        assert!(safe_return_to("/a?x=/../").is_some());
        assert!(safe_return_to("/a#/..").is_some());
    }

    #[test]
    fn keeps_percent_escapes_literally() {
        // An encoded slash is not a delimiter: this is a path on our own origin.
        assert_eq!(
            safe_return_to("/%2F%2Fevil.test").as_deref(),
            Some("/%2F%2Fevil.test")
        );
        assert_eq!(
            safe_return_to("/%5Cevil.test").as_deref(),
            Some("/%5Cevil.test")
        );
    }

    #[test]
    fn refuses_empty_and_overlong() {
        assert_eq!(safe_return_to(""), None);
        let at_limit = format!("/{}", "a".repeat(MAX_RETURN_TO_LEN - 1));
        assert!(safe_return_to(&at_limit).is_some());
        assert_eq!(safe_return_to(&format!("{at_limit}a")), None);
    }

    #[test]
    fn the_default_is_itself_safe() {
        assert_eq!(
            safe_return_to(DEFAULT_RETURN_TO).as_deref(),
            Some("/account")
        );
    }
}
