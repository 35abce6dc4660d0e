//! The two text encodings edgeauth writes and reads, each written once: percent-encoding of
//! URI query and form values (RFC 3986 §2.1) and base64 (RFC 4648). The server's rules, the
//! OIDC client and the CLI all encode through here, so what one side writes the other reads.

/// Percent-encodes every byte but RFC 3986's unreserved characters (`A-Za-z0-9-._~`), a space
/// as `%20`: the result means the same to a URI query parser and to an
/// `application/x-www-form-urlencoded` parser, which a `+` for a space would not, and no value
/// can escape its parameter (`&`, `=`, `#` are encoded).
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query parameter's name or value as a URL parser reads it (WHATWG URL,
/// `application/x-www-form-urlencoded` parsing): `+` is a space, `%XX` is that byte, and a `%`
/// not followed by two hex digits stays as it is. Bytes, not text, since an escape may encode
/// any byte; for telling which parameter a query written by someone else really sets.
pub(crate) fn form_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)).map(|(hi, lo)| (hi * 16 + lo) as u8),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    out
}

const BASE64URL_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Encodes `bytes` as unpadded base64url (RFC 4648 §5); the inverse of [`base64url_decode`].
pub fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
        // 1 byte → 2 symbols, 2 → 3, 3 → 4.
        for i in 0..=chunk.len() {
            out.push(BASE64URL_ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Decodes unpadded (or padded) base64url; `None` on any other character.
pub fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    let input = input.trim_end_matches('=');
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for b in input.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A lone trailing symbol (6 bits) cannot end a valid encoding, and the unused low bits of
    // the last symbol must be zero (RFC 4648 §3.5): one byte string has one encoding, so a
    // changed last character of a signed value is refused rather than decoded alike.
    (input.len() % 4 != 1 && acc == 0).then_some(out)
}

/// Decodes base64url that is unpadded and canonical (re-encoding gives the same text), so one
/// value has one spelling: what a JWS part must be (RFC 7515 §2, §7.1).
pub fn base64url_decode_strict(text: &str) -> Option<Vec<u8>> {
    if text.contains('=') {
        return None;
    }
    base64url_decode(text).filter(|bytes| base64url_encode(bytes) == text)
}

/// Encodes `bytes` as base64 with the standard alphabet and padding (RFC 4648 §4), as HTTP
/// Basic authentication takes it (RFC 7617).
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out: String = base64url_encode(bytes)
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

/// Decodes base64 with the standard alphabet and padding (RFC 4648 §4), canonical only (the
/// text is what [`base64_encode`] writes for the bytes): what PEM bodies and GitHub's signature
/// headers are. `None` on any other character, missing or extra padding, or non-zero unused bits.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    if text.contains(['-', '_']) {
        return None;
    }
    let url_alphabet: String = text
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    base64url_decode(&url_alphabet).filter(|bytes| base64_encode(bytes) == text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode("AZaz09-._~"), "AZaz09-._~");
        assert_eq!(percent_encode(" +&=%/?#:"), "%20%2B%26%3D%25%2F%3F%23%3A");
        assert_eq!(percent_encode("+"), "%2B");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn form_decoding_reads_a_query_as_a_url_parser_does() {
        assert_eq!(form_decode("code"), b"code");
        assert_eq!(form_decode("%63ode"), b"code");
        assert_eq!(form_decode("st%61te"), b"state");
        assert_eq!(form_decode("a+b%2Bc"), b"a b+c");
        assert_eq!(form_decode("%C3%A9%ff"), [0xc3, 0xa9, 0xff]);
        // A `%` that is not an escape is kept, as is what follows it.
        assert_eq!(form_decode("%"), b"%");
        assert_eq!(form_decode("%4"), b"%4");
        assert_eq!(form_decode("%zz%41"), b"%zzA");
        assert_eq!(form_decode("%%41"), b"%A");
    }

    #[test]
    fn base64url_encodes_rfc_4648_vectors_without_padding() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64url_encode(plain.as_bytes()), encoded);
        }
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn base64url_decodes_standard_vectors() {
        assert_eq!(base64url_decode("").unwrap(), b"");
        assert_eq!(base64url_decode("Zg").unwrap(), b"f");
        assert_eq!(base64url_decode("Zm8").unwrap(), b"fo");
        assert_eq!(base64url_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64url_decode("Zm9vYg==").unwrap(), b"foob");
        assert_eq!(base64url_decode("-_8").unwrap(), [0xfb, 0xff]);
        assert!(base64url_decode("Zm9vY").is_none());
        assert!(base64url_decode("Zm+v").is_none());
    }

    #[test]
    fn base64url_decoding_is_canonical() {
        assert_eq!(base64url_decode("QQ"), Some(b"A".to_vec()));
        assert_eq!(base64url_decode("QR"), None, "non-zero unused bits");
        assert_eq!(base64url_decode("QUI"), Some(b"AB".to_vec()));
        assert_eq!(base64url_decode("QUJ"), None);
        assert_eq!(base64url_decode("QUJD"), Some(b"ABC".to_vec()));
    }

    #[test]
    fn base64url_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        for n in 0..bytes.len() {
            let enc = base64url_encode(&bytes[..n]);
            assert_eq!(base64url_decode(&enc).unwrap(), &bytes[..n]);
            assert_eq!(base64url_decode_strict(&enc).unwrap(), &bytes[..n]);
        }
    }

    #[test]
    fn strict_base64url_refuses_padding() {
        assert_eq!(base64url_decode_strict("Zm9vYg"), Some(b"foob".to_vec()));
        assert_eq!(base64url_decode_strict("Zm9vYg=="), None);
        assert_eq!(base64url_decode_strict("Zm9v="), None);
        assert_eq!(base64url_decode_strict("QR"), None);
        assert_eq!(base64url_decode_strict("Zm+v"), None);
    }

    #[test]
    fn base64_uses_the_standard_alphabet_with_padding() {
        assert_eq!(
            base64_encode(b"a%3Ab:p%25ss%20w%C3%B6rd"),
            "YSUzQWI6cCUyNXNzJTIwdyVDMyVCNnJk"
        );
        for (plain, encoded) in [
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("\u{fb}\u{ff}", "w7vDvw=="),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
        }
        assert_eq!(base64_encode(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn standard_base64_decodes_only_its_canonical_padded_form() {
        for (plain, encoded) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (&[0xfb, 0xff], "+/8="),
        ] {
            assert_eq!(base64_decode(encoded).as_deref(), Some(plain), "{encoded}");
        }
        for bad in [
            "Zg", "Zg=", "Zg===", "Zm8", "-_8=", "+/8", "Zh==", "Zm9v\n", " Zm9v", "Zm=v", "Z",
        ] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
        let bytes: Vec<u8> = (0..=255).collect();
        for n in 0..bytes.len() {
            assert_eq!(
                base64_decode(&base64_encode(&bytes[..n])).unwrap(),
                &bytes[..n]
            );
        }
    }
}
