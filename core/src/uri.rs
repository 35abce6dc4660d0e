//! Character classes of RFC 3986, shared by the redirect and return-path rules, and the checks
//! of the URLs the configuration names (a server, an identity provider, a gateway's origin).

/// True for a byte that may stand unescaped in a URI path or query (RFC 3986 §3.3, §3.4):
/// unreserved, sub-delims, `:`, `@`, `/` and `?`. `%` escapes are checked by the caller.
pub fn is_path_or_query_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'/'
                | b'?'
        )
}

/// What is wrong with `url` as a server's base URL (https, or http on a loopback host; a
/// host; no user name), if anything. A path is allowed.
pub fn url_problem(url: &str) -> Option<&'static str> {
    let (scheme, rest) = match url.split_once("://") {
        Some(parts) => parts,
        None => return Some("must be an absolute URL"),
    };
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty()
        || authority.contains(['@', '?', '#', ' ', '\\'])
        || url.contains(|c: char| c.is_whitespace() || c.is_control())
    {
        return Some("must be an absolute URL with a host and no user name, query or fragment");
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => return Some("has an unclosed `[` in its host"),
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if port.is_some_and(|p| !is_port_number(p)) {
        return Some("has a port that is not a number");
    }
    match scheme {
        "https" => None,
        "http" if is_loopback_host(host) => None,
        "http" => Some("must use https (plain http is allowed only on a loopback host)"),
        _ => Some("must be an https URL"),
    }
}

/// True when `port` is a URL port: decimal digits only, at most 65535. Not `u16::from_str`
/// alone, which also takes `+443`, a port no URL parser reads.
pub fn is_port_number(port: &str) -> bool {
    port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
}

/// True when `host` (from the request URL, without port) is a loopback name or address:
/// `localhost`, `::1` (bracketed or not) or an IPv4 address in `127.0.0.0/8` written as four
/// canonical decimal octets (as a URL parser serialises it). `AUTH_DISABLED` is honoured only
/// then, so a deployment can never run open by accident.
///
/// Anything else is not loopback, even when a lenient reading would make it so: `127.0.0.+1`
/// is a DNS name to a browser (a `+` is not a digit), whatever `u8::from_str` makes of it.
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host == "::1"
        || host == "[::1]"
        || host
            .parse::<core::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Decodes `%XX` escapes (RFC 3986 §2.1) in `s`: `None` for a `%` not followed by two hex
/// digits, or for bytes that are not UTF-8 once decoded. `+` stays `+` (that is a form rule,
/// not a URI one).
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = core::str::from_utf8(hex).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(
            percent_decode("production%2Feu").as_deref(),
            Some("production/eu")
        );
        assert_eq!(percent_decode("a%2fb+c").as_deref(), Some("a/b+c"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%+1"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }

    #[test]
    fn allows_rfc_3986_path_and_query_characters_only() {
        for b in b"aZ09-._~!$&'()*+,;=:@/?" {
            assert!(is_path_or_query_byte(*b), "{}", *b as char);
        }
        for b in b" \"<>\\^`{|}#%\r\n\t" {
            assert!(!is_path_or_query_byte(*b), "{}", *b as char);
        }
        assert!(!is_path_or_query_byte(0xc3));
    }
}
