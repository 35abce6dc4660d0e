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

#[cfg(test)]
mod tests {
    use super::*;

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
