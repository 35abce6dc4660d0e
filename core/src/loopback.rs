//! The loopback redirect of the CLI login (RFC 8252 §7.3, §8.3).
//!
//! The CLI listens on a loopback IP literal and an ephemeral port, so the only redirect the
//! server will send a loopback code to is `http://127.0.0.1:PORT/…` or `http://[::1]:PORT/…`.
//! `localhost` is refused (RFC 8252 §8.3: it may resolve elsewhere, and a firewall may treat
//! it differently). The parser is written by hand and refuses anything unusual rather than
//! trying to understand it: userinfo, other hosts, fragments, backslashes, percent-encoding in
//! the authority, whitespace, control and non-ASCII characters, and an upper-case scheme.

use core::fmt;

use crate::encoding::{form_decode, percent_encode};

/// Longest accepted redirect URI, in bytes.
pub const MAX_REDIRECT_LEN: usize = 2048;
/// Longest `error_description` sent to the CLI ([`LoopbackRedirect::with_refusal`]).
pub const MAX_DESCRIPTION_LEN: usize = 300;

const SCHEME: &str = "http://";

/// Which loopback address the CLI listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopbackHost {
    /// `127.0.0.1`
    V4,
    /// `[::1]`
    V6,
}

/// A validated loopback redirect URI, kept exactly as given.
#[derive(Clone, PartialEq, Eq)]
pub struct LoopbackRedirect {
    uri: String,
    host: LoopbackHost,
    port: u16,
    has_query: bool,
}

impl LoopbackRedirect {
    /// Accepts `http://127.0.0.1:PORT/path[?query]` or `http://[::1]:PORT/path[?query]`
    /// (RFC 8252 §7.3), explaining what is wrong otherwise.
    ///
    /// The port is required (1–65535, no leading zeros) and the path must start with `/`. The
    /// path and query may hold RFC 3986 `pchar`s, `/`, `?` and well-formed `%XX` escapes; they
    /// are kept as given. A query that already has a `code`, `state` or `error` parameter (its
    /// name percent-decoded, as a query parser reads it) is refused, since the server appends
    /// its own and a CLI could read the wrong one.
    pub fn parse(uri: &str) -> Result<Self, String> {
        if uri.len() > MAX_REDIRECT_LEN {
            return Err(format!(
                "redirect_uri is longer than {MAX_REDIRECT_LEN} characters"
            ));
        }
        if uri.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(
                "redirect_uri must not contain whitespace, control or non-ASCII characters"
                    .to_owned(),
            );
        }
        if uri.contains('\\') {
            return Err("redirect_uri must not contain backslashes".to_owned());
        }
        if uri.contains('#') {
            return Err("redirect_uri must not contain a fragment (`#`)".to_owned());
        }
        let rest = uri.strip_prefix(SCHEME).ok_or_else(|| {
            "redirect_uri must start with `http://127.0.0.1:PORT/` or `http://[::1]:PORT/` (RFC 8252 loopback redirect)"
                .to_owned()
        })?;
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(authority_end);
        let (host, port) = parse_authority(authority)?;
        if !path_and_query.starts_with('/') {
            return Err(
                "redirect_uri needs a path after the port, e.g. `http://127.0.0.1:PORT/callback`"
                    .to_owned(),
            );
        }
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        check_uri_chars(path, "path")?;
        if let Some(query) = query {
            check_uri_chars(query, "query")?;
            // Names as the CLI's query parser reads them: `%63ode` is `code` too.
            let reserved = query
                .split('&')
                .map(|pair| pair.split_once('=').map_or(pair, |(name, _)| name))
                .any(|name| matches!(form_decode(name).as_slice(), b"code" | b"state" | b"error"));
            if reserved {
                return Err(
                    "redirect_uri must not already carry `code`, `state` or `error` query parameters"
                        .to_owned(),
                );
            }
        }
        Ok(Self {
            uri: uri.to_owned(),
            host,
            port,
            has_query: query.is_some(),
        })
    }

    /// The redirect URI exactly as given, for storing with the code and comparing at exchange.
    pub fn as_str(&self) -> &str {
        &self.uri
    }

    /// The loopback address.
    pub fn host(&self) -> LoopbackHost {
        self.host
    }

    /// The port the CLI listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URI to send the browser to: this redirect with `code` and `state` appended as
    /// percent-encoded query parameters (RFC 6749 §4.1.2), after `&` when there already is a
    /// query (`?` alone counts as an empty query) and after `?` otherwise.
    pub fn with_code(&self, code: &str, state: &str) -> String {
        self.with_params(&[("code", code), ("state", state)])
    }

    /// The URI that tells the CLI the person refused (RFC 6749 §4.1.2.1): `error` (e.g.
    /// `access_denied`) and `state` appended like [`LoopbackRedirect::with_code`] does.
    pub fn with_error(&self, error: &str, state: &str) -> String {
        self.with_params(&[("error", error), ("state", state)])
    }

    /// The URI that tells the CLI the server refused the person (not in an allowed team, say):
    /// `error=access_denied` with the reason as `error_description` (cut to
    /// [`MAX_DESCRIPTION_LEN`] characters of the set RFC 6749 §4.1.2.1 allows, printable ASCII
    /// but `"` and `\`), so that the CLI can say why at once instead of waiting.
    pub fn with_refusal(&self, description: &str, state: &str) -> String {
        let description: String = description
            .chars()
            .map(|c| match c {
                '"' => '\'',
                ' '..='~' if c != '\\' => c,
                _ => ' ',
            })
            .take(MAX_DESCRIPTION_LEN)
            .collect();
        self.with_params(&[
            ("error", "access_denied"),
            ("error_description", description.trim()),
            ("state", state),
        ])
    }

    fn with_params(&self, params: &[(&str, &str)]) -> String {
        let separator = match (self.has_query, self.uri.ends_with(['?', '&'])) {
            (false, _) => "?",
            (true, true) => "",
            (true, false) => "&",
        };
        let query: Vec<String> = params
            .iter()
            .map(|(name, value)| format!("{name}={}", percent_encode(value)))
            .collect();
        format!("{}{separator}{}", self.uri, query.join("&"))
    }
}

impl fmt::Debug for LoopbackRedirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LoopbackRedirect({})", self.uri)
    }
}

impl fmt::Display for LoopbackRedirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

fn parse_authority(authority: &str) -> Result<(LoopbackHost, u16), String> {
    if authority.contains('@') {
        return Err("redirect_uri must not contain userinfo (`user@`)".to_owned());
    }
    if authority.contains('%') {
        return Err("redirect_uri must not percent-encode the host or port".to_owned());
    }
    let (host, port) = if let Some(port) = authority.strip_prefix("127.0.0.1:") {
        (LoopbackHost::V4, port)
    } else if let Some(port) = authority.strip_prefix("[::1]:") {
        (LoopbackHost::V6, port)
    } else if authority == "127.0.0.1" || authority == "[::1]" {
        return Err("redirect_uri needs a port: `http://127.0.0.1:PORT/…`".to_owned());
    } else {
        return Err(format!(
            "redirect_uri host must be `127.0.0.1` or `[::1]` with a port, not `{authority}`; `localhost` is not accepted"
        ));
    };
    let port = parse_port(port).ok_or_else(|| {
        format!("redirect_uri port must be a number from 1 to 65535, not `{port}`")
    })?;
    Ok((host, port))
}

fn parse_port(port: &str) -> Option<u16> {
    if port.is_empty() || port.len() > 5 || port.starts_with('0') {
        return None;
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse::<u16>().ok().filter(|&p| p != 0)
}

/// Path and query may hold RFC 3986 `pchar`s, `/` and `?`, with `%` only as a `%XX` escape.
fn check_uri_chars(part: &str, what: &str) -> Result<(), String> {
    let bytes = part.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let escape_ok = bytes.len() > i + 2
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit();
            if !escape_ok {
                return Err(format!(
                    "redirect_uri {what} has a `%` that is not a `%XX` escape"
                ));
            }
            i += 3;
            continue;
        }
        let allowed = crate::uri::is_path_or_query_byte(b);
        if !allowed {
            return Err(format!(
                "redirect_uri {what} contains `{}`, which is not allowed",
                b as char
            ));
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(uri: &str) -> LoopbackRedirect {
        LoopbackRedirect::parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"))
    }

    fn refused(uri: &str) -> String {
        match LoopbackRedirect::parse(uri) {
            Ok(r) => panic!("{uri} was accepted as {r:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_refusal_carries_its_reason_as_printable_ascii_within_bounds() {
        let r = ok("http://127.0.0.1:53682/callback");
        assert_eq!(
            r.with_refusal("Your account is not in a team: ask \"ops\"\n", "s1"),
            "http://127.0.0.1:53682/callback?error=access_denied&error_description=Your%20account%20is%20not%20in%20a%20team%3A%20ask%20%27ops%27&state=s1"
        );
        let long = r.with_refusal(&"\\é".repeat(400), "s1");
        let description = long.split("error_description=").nth(1).unwrap();
        assert!(
            description.len() <= 3 * MAX_DESCRIPTION_LEN,
            "{description}"
        );
        assert!(!description.contains("%5C"), "no backslash: {description}");
    }

    #[test]
    fn accepts_ipv4_and_ipv6_loopback_with_a_port_and_path() {
        let r = ok("http://127.0.0.1:53682/callback");
        assert_eq!(r.host(), LoopbackHost::V4);
        assert_eq!(r.port(), 53682);
        assert_eq!(r.as_str(), "http://127.0.0.1:53682/callback");
        let r = ok("http://[::1]:8080/");
        assert_eq!(r.host(), LoopbackHost::V6);
        assert_eq!(r.port(), 8080);
        ok("http://127.0.0.1:1/");
        ok("http://127.0.0.1:65535/a/b/c");
        ok("http://127.0.0.1:9000/cb?session=abc&x=1");
        ok("http://127.0.0.1:9000/cb%20x");
    }

    #[test]
    fn keeps_path_and_query_as_given() {
        let uri = "http://127.0.0.1:9000/a/./b;x=1?q=%41&r=~";
        assert_eq!(ok(uri).as_str(), uri);
        assert_eq!(ok(uri).to_string(), uri);
    }

    #[test]
    fn requires_a_valid_port() {
        assert!(refused("http://127.0.0.1/").contains("port"));
        assert!(refused("http://[::1]/").contains("port"));
        for bad in [
            "http://127.0.0.1:/",
            "http://127.0.0.1:0/",
            "http://127.0.0.1:65536/",
            "http://127.0.0.1:99999/",
            "http://127.0.0.1:080/",
            "http://127.0.0.1:8080a/",
            "http://127.0.0.1:+80/",
            "http://127.0.0.1:-1/",
            "http://127.0.0.1:8080:9090/",
            "http://[::1]:abc/",
        ] {
            assert!(refused(bad).contains("port"), "{bad}");
        }
    }

    #[test]
    fn requires_a_path() {
        refused("http://127.0.0.1:8080");
        refused("http://127.0.0.1:8080?x=1");
        refused("http://[::1]:8080");
    }

    #[test]
    fn refuses_localhost_and_other_hosts() {
        assert!(refused("http://localhost:8080/").contains("localhost"));
        for bad in [
            "http://LOCALHOST:8080/",
            "http://localhost./",
            "http://evil.test:8080/",
            "http://127.0.0.2:8080/",
            "http://127.1:8080/",
            "http://0.0.0.0:8080/",
            "http://2130706433:8080/",
            "http://0x7f000001:8080/",
            "http://0177.0.0.1:8080/",
            "http://127.0.0.01:8080/",
            "http://[::ffff:127.0.0.1]:8080/",
            "http://[0:0:0:0:0:0:0:1]:8080/",
            "http://[::1%25lo0]:8080/",
            "http://::1:8080/",
            "http://[::1]8080/",
            "http://:8080/",
            "http:///127.0.0.1:8080/",
        ] {
            refused(bad);
        }
    }

    #[test]
    fn refuses_hosts_that_merely_start_with_loopback() {
        refused("http://127.0.0.1.evil.test/");
        refused("http://127.0.0.1.evil.test:8080/");
        refused("http://127.0.0.1:8080.evil.test/");
        refused("http://[::1].evil.test:8080/");
    }

    #[test]
    fn refuses_userinfo() {
        for bad in [
            "http://127.0.0.1@evil.test/",
            "http://evil.test@127.0.0.1/",
            "http://evil.test@127.0.0.1:8080/",
            "http://127.0.0.1:8080@evil.test/",
            "http://user:pass@127.0.0.1:8080/",
            "http://@127.0.0.1:8080/",
            "http://[::1]:8080@evil.test/",
        ] {
            assert!(refused(bad).contains("userinfo"), "{bad}");
        }
    }

    #[test]
    fn refuses_other_schemes() {
        for bad in [
            "https://127.0.0.1:8080/",
            "HTTP://127.0.0.1:8080/",
            "Http://127.0.0.1:8080/",
            "javascript:alert(1)",
            "javascript://127.0.0.1:8080/%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "file:///etc/passwd",
            "ftp://127.0.0.1:8080/",
            "//127.0.0.1:8080/",
            "127.0.0.1:8080/",
            "http:/127.0.0.1:8080/",
            "http:127.0.0.1:8080/",
            "",
        ] {
            refused(bad);
        }
    }

    #[test]
    fn refuses_fragments() {
        assert!(refused("http://127.0.0.1:8080/#frag").contains("fragment"));
        refused("http://127.0.0.1:8080/cb?x=1#");
        refused("http://127.0.0.1:8080#@evil.test/");
    }

    #[test]
    fn refuses_backslashes() {
        for bad in [
            "http://127.0.0.1:8080\\@evil.test/",
            "http://evil.test\\@127.0.0.1:8080/",
            "http:\\\\127.0.0.1:8080/",
            "http://127.0.0.1:8080/\\evil.test",
            "http://127.0.0.1:8080/cb?x=\\",
        ] {
            assert!(refused(bad).contains("backslash"), "{bad}");
        }
    }

    #[test]
    fn refuses_percent_encoding_in_the_authority() {
        for bad in [
            "http://127.0.0.1%3A8080/",
            "http://%31%32%37.0.0.1:8080/",
            "http://127.0.0.1:80%380/",
            "http://evil.test%40127.0.0.1:8080/",
            "http://127.0.0.1%2eevil.test:8080/",
            "http://[::1%5d:8080/",
        ] {
            refused(bad);
        }
    }

    #[test]
    fn refuses_malformed_escapes_in_path_and_query() {
        refused("http://127.0.0.1:8080/%");
        refused("http://127.0.0.1:8080/%4");
        refused("http://127.0.0.1:8080/%zz");
        refused("http://127.0.0.1:8080/cb?x=%g0");
    }

    #[test]
    fn refuses_whitespace_control_and_non_ascii() {
        for bad in [
            " http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/ ",
            "http://127.0.0.1:8080/a b",
            "http://127.0.0.1:8080/\t",
            "http://127.0.0.1:8080/\r\nLocation: https://evil.test",
            "http://127.0.0.1:8080/\0",
            "http://127.0.0.1:8080/\x7f",
            "http://127.0.0.1:8080/é",
            "http://127.0.0.1:8080/\u{202e}",
            "http://127.0.0.１:8080/",
        ] {
            refused(bad);
        }
    }

    #[test]
    fn refuses_unusual_characters_in_path_and_query() {
        for bad in [
            "http://127.0.0.1:8080/<script>",
            "http://127.0.0.1:8080/\"",
            "http://127.0.0.1:8080/`",
            "http://127.0.0.1:8080/{x}",
            "http://127.0.0.1:8080/a|b",
            "http://127.0.0.1:8080/a^b",
        ] {
            refused(bad);
        }
    }

    #[test]
    fn refuses_overlong_uris() {
        let prefix = "http://127.0.0.1:8080/";
        let at_limit = format!("{prefix}{}", "a".repeat(MAX_REDIRECT_LEN - prefix.len()));
        ok(&at_limit);
        let over = format!("{at_limit}a");
        assert!(refused(&over).contains("longer"));
    }

    #[test]
    fn refuses_queries_that_already_carry_code_state_or_error() {
        refused("http://127.0.0.1:8080/cb?code=x");
        refused("http://127.0.0.1:8080/cb?a=1&state=x");
        refused("http://127.0.0.1:8080/cb?state");
        refused("http://127.0.0.1:8080/cb?error=access_denied");
        // Escaped names mean the same to the CLI's query parser.
        refused("http://127.0.0.1:8080/cb?%63ode=x");
        refused("http://127.0.0.1:8080/cb?a=1&st%61te");
        refused("http://127.0.0.1:8080/cb?%65%72%72%6F%72=x");
        ok("http://127.0.0.1:8080/cb?%63odex=1&c%2Bde=2");
        ok("http://127.0.0.1:8080/cb?codex=1&my_state=2&errors=0");
    }

    #[test]
    fn appends_code_and_state_with_the_right_separator() {
        assert_eq!(
            ok("http://127.0.0.1:8080/cb").with_code("abc", "xyz"),
            "http://127.0.0.1:8080/cb?code=abc&state=xyz"
        );
        assert_eq!(
            ok("http://127.0.0.1:8080/cb?x=1").with_code("abc", "xyz"),
            "http://127.0.0.1:8080/cb?x=1&code=abc&state=xyz"
        );
        assert_eq!(
            ok("http://127.0.0.1:8080/cb?").with_code("abc", "xyz"),
            "http://127.0.0.1:8080/cb?code=abc&state=xyz"
        );
        assert_eq!(
            ok("http://127.0.0.1:8080/cb?x=1&").with_code("abc", "xyz"),
            "http://127.0.0.1:8080/cb?x=1&code=abc&state=xyz"
        );
        assert_eq!(
            ok("http://[::1]:8080/").with_code("abc", "xyz"),
            "http://[::1]:8080/?code=abc&state=xyz"
        );
    }

    #[test]
    fn appends_an_error_and_state() {
        assert_eq!(
            ok("http://127.0.0.1:8080/cb").with_error("access_denied", "xyz"),
            "http://127.0.0.1:8080/cb?error=access_denied&state=xyz"
        );
        assert_eq!(
            ok("http://[::1]:8080/cb?x=1").with_error("access_denied", "a&b"),
            "http://[::1]:8080/cb?x=1&error=access_denied&state=a%26b"
        );
    }

    #[test]
    fn percent_encodes_values_so_they_cannot_escape_their_parameter() {
        let url = ok("http://127.0.0.1:8080/cb").with_code("a&b=c#d", "s t/?%\u{e9}");
        assert_eq!(
            url,
            "http://127.0.0.1:8080/cb?code=a%26b%3Dc%23d&state=s%20t%2F%3F%25%C3%A9"
        );
        // The result is itself a redirect this parser accepts apart from the reserved names.
        assert!(!url.contains('#') && !url.contains(' '));
    }
}
