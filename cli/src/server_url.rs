//! The server's base URL, normalised: how the CLI names a server, and the key of the
//! credentials it stores for it.

use edgeauth_core::config::is_loopback_host;
use std::fmt;

/// A server base URL in its one normal form, which is also the key of stored credentials:
/// scheme and host lower-cased, the scheme's default port dropped, no trailing slash.
/// Only `http` and `https` are accepted; userinfo, query and fragment are rejected. A path is
/// kept (case and all) so a server mounted under a prefix works.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerUrl(String);

impl ServerUrl {
    pub fn parse(input: &str) -> Result<ServerUrl, String> {
        let input = input.trim();
        let (scheme, rest) = input.split_once("://").ok_or_else(|| {
            format!("`{input}` is not a URL; expected e.g. https://auth.example.com")
        })?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => "80",
            "https" => "443",
            _ => return Err(format!("`{input}` must start with http:// or https://")),
        };
        if rest.contains(['?', '#']) {
            return Err(format!("`{input}` must not have a query or fragment"));
        }
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("`{input}` contains whitespace"));
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(format!(
                "`{input}` must not contain a user name or password"
            ));
        }
        let authority = authority.to_ascii_lowercase();
        // The port is whatever follows the last ':' outside an IPv6 literal's brackets.
        let (host, port) = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => {
                (&authority[..i], Some(&authority[i + 1..]))
            }
            _ => (authority.as_str(), None),
        };
        if host.is_empty() || host == "[]" {
            return Err(format!("`{input}` has no host"));
        }
        let port = match port {
            Some(p) if p.parse::<u16>().map_or(true, |n| n == 0) => {
                return Err(format!("`{input}` has an invalid port"))
            }
            Some(p) if p == default_port => None,
            other => other,
        };
        let path = path.trim_end_matches('/');
        let mut url = format!("{scheme}://{host}");
        if let Some(port) = port {
            url.push(':');
            url.push_str(port);
        }
        url.push_str(path);
        Ok(ServerUrl(url))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key a login for this server is stored under: the normal form with a loopback host
    /// (`localhost`, `127.0.0.1`, `[::1]`) written `127.0.0.1`, so that the three name one
    /// server, as they do for the server's own loopback rule. The URL itself is kept as given
    /// for requests: a browser's cookies for `localhost` are not those for `127.0.0.1`.
    pub fn key(&self) -> String {
        let (scheme, rest) = self.0.split_once("://").expect("a parsed URL has a scheme");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = split_port(authority);
        let host = match host {
            "localhost" | "127.0.0.1" | "[::1]" => "127.0.0.1",
            other => other,
        };
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("{scheme}://{host}{port}{path}")
    }

    /// The URL of an API path such as `/api/auth/whoami`.
    pub fn join(&self, path: &str) -> String {
        debug_assert!(path.starts_with('/'));
        format!("{}{}", self.0, path)
    }

    /// Whether the host is this machine (`localhost`, `127.0.0.1`, `[::1]`, …).
    pub fn is_loopback(&self) -> bool {
        let rest = self.0.split_once("://").map_or("", |(_, rest)| rest);
        let authority = rest.split('/').next().unwrap_or_default();
        is_loopback_host(split_port(authority).0)
    }

    /// Whether bearer tokens sent to this server would cross the network in the clear: plain
    /// http to a host that is not loopback (the server's own rule, [`is_loopback_host`]).
    pub fn is_plain_http_off_loopback(&self) -> bool {
        let Some(rest) = self.0.strip_prefix("http://") else {
            return false;
        };
        let authority = rest.split('/').next().unwrap_or_default();
        !is_loopback_host(split_port(authority).0)
    }
}

/// `host[:port]` split at the port's ':' (the last one outside an IPv6 literal's brackets).
fn split_port(authority: &str) -> (&str, Option<&str>) {
    match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> String {
        ServerUrl::parse(s).unwrap().as_str().to_owned()
    }

    #[test]
    fn server_urls_are_normalised() {
        assert_eq!(url("https://Auth.Example.COM/"), "https://auth.example.com");
        assert_eq!(
            url("HTTPS://auth.example.com:443//"),
            "https://auth.example.com"
        );
        assert_eq!(url("http://127.0.0.1:8787/"), "http://127.0.0.1:8787");
        assert_eq!(url("http://localhost:80"), "http://localhost");
        assert_eq!(
            url("https://example.com:8443/Auth/"),
            "https://example.com:8443/Auth"
        );
        assert_eq!(url("http://[::1]:8787"), "http://[::1]:8787");
        assert_eq!(url("http://[::1]"), "http://[::1]");
        assert_eq!(url("  https://example.com  "), "https://example.com");
    }

    #[test]
    fn bad_server_urls_are_rejected() {
        for bad in [
            "example.com",
            "ftp://example.com",
            "https://",
            "https:///path",
            "https://user:pw@example.com",
            "https://example.com/?x=1",
            "https://example.com/#frag",
            "https://example.com:0",
            "https://example.com:99999",
            "https://example.com:abc",
            "https://exa mple.com",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn loopback_names_share_one_key() {
        let key = |s: &str| ServerUrl::parse(s).unwrap().key();
        for same in [
            "http://localhost:8787",
            "http://LOCALHOST:8787/",
            "http://127.0.0.1:8787",
            "http://[::1]:8787",
        ] {
            assert_eq!(key(same), "http://127.0.0.1:8787", "{same}");
        }
        assert_eq!(key("http://localhost"), "http://127.0.0.1");
        assert_eq!(key("https://localhost/edge"), "https://127.0.0.1/edge");
        // Other ports, other loopback addresses and other hosts stay apart.
        assert_eq!(key("http://localhost:8788"), "http://127.0.0.1:8788");
        assert_eq!(key("http://127.0.0.2:8787"), "http://127.0.0.2:8787");
        assert_eq!(key("https://auth.example.com"), "https://auth.example.com");
        assert_eq!(
            key("https://localhost.example.com"),
            "https://localhost.example.com"
        );
        // The URL requests go to is the one given.
        let url = ServerUrl::parse("http://localhost:8787").unwrap();
        assert_eq!(url.as_str(), "http://localhost:8787");
    }

    #[test]
    fn join_appends_api_paths() {
        let server = ServerUrl::parse("https://example.com/edge/").unwrap();
        assert_eq!(
            server.join("/api/auth/whoami"),
            "https://example.com/edge/api/auth/whoami"
        );
    }

    #[test]
    fn plain_http_is_flagged_only_off_loopback() {
        for (server, plain) in [
            ("http://auth.example.com", true),
            ("http://127.example.com", true),
            ("https://auth.example.com", false),
            ("http://127.0.0.1:8787", false),
            ("http://127.1.2.3", false),
            ("http://localhost:8787", false),
            ("http://[::1]:8787", false),
        ] {
            let url = ServerUrl::parse(server).unwrap();
            assert_eq!(url.is_plain_http_off_loopback(), plain, "{server}");
        }
    }
}
