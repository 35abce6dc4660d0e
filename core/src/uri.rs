//! Character classes of RFC 3986, shared by the redirect and return-path rules.

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
