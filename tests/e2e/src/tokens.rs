//! The token formats of docs/api.md, written out independently of `edgeauth-core` so that the
//! suite checks the documented contract rather than the implementation against itself.

use sha2::{Digest, Sha256};

/// `0-9A-Za-z`, in value order.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const SERVICE_PREFIX: &str = "eas_";
pub const SERVICE_TOKEN_LEN: usize = 75;
pub const USER_PREFIX: &str = "eau_";
pub const USER_TOKEN_LEN: usize = 75;
pub const ENTROPY_CHARS: usize = 43;
pub const TAG_CHARS: usize = 22;
pub const CHECKSUM_CHARS: usize = 6;
pub const DISPLAY_PREFIX_CHARS: usize = 12;

/// `value` as exactly `width` base62 digits, most significant first.
pub fn base62_fixed(mut value: u64, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    assert_eq!(value, 0, "value does not fit in {width} base62 digits");
    String::from_utf8(digits).expect("ASCII")
}

/// The checksum of a token body: CRC32 (IEEE) in 6 base62 digits.
pub fn checksum(body: &str) -> String {
    base62_fixed(u64::from(crc32fast::hash(body.as_bytes())), CHECKSUM_CHARS)
}

/// Whether the last 6 characters of `token` are the checksum of the rest.
pub fn checksum_is_valid(token: &str) -> bool {
    token.len() > CHECKSUM_CHARS && token.is_char_boundary(token.len() - CHECKSUM_CHARS) && {
        let (body, sum) = token.split_at(token.len() - CHECKSUM_CHARS);
        checksum(body) == sum
    }
}

/// `token` with its last 6 characters replaced by a correct checksum of the rest: a token
/// that passes every offline check but the HMAC tag.
pub fn reseal(token: &str) -> String {
    let body = &token[..token.len() - CHECKSUM_CHARS];
    format!("{body}{}", checksum(body))
}

/// `token` with the ASCII character at `index` replaced by a different base62 character.
pub fn change_char(token: &str, index: usize) -> String {
    let mut bytes = token.as_bytes().to_vec();
    bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII")
}

/// Fails the test unless `token` is a well-formed service token: `eas_`, 71 base62
/// characters (entropy, tag, checksum), 75 in all, with a valid checksum.
pub fn assert_service_token_shape(token: &str) {
    assert!(
        token.starts_with(SERVICE_PREFIX),
        "service tokens start with eas_: {token:?}"
    );
    assert_eq!(
        token.len(),
        SERVICE_TOKEN_LEN,
        "service token length: {token:?}"
    );
    assert!(
        token[SERVICE_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric()),
        "service tokens are base62 after the prefix: {token:?}"
    );
    assert!(
        checksum_is_valid(token),
        "the last 6 characters must be the base62 CRC32 of the rest: {token:?}"
    );
}

/// Fails the test unless `token` is a well-formed user API token: `eau_`, 43 base62
/// characters of entropy, a 22-character tag and a 6-character checksum, 75 in all.
pub fn assert_user_token_shape(token: &str) {
    assert!(
        token.starts_with(USER_PREFIX),
        "user API tokens start with eau_: {token:?}"
    );
    assert_eq!(token.len(), USER_TOKEN_LEN, "user token length: {token:?}");
    assert!(
        token[USER_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric()),
        "user tokens are base62 after the prefix: {token:?}"
    );
    assert!(
        checksum_is_valid(token),
        "the last 6 characters must be the base62 CRC32 of the rest: {token:?}"
    );
}

/// A user API token that passes every check anyone can make offline (prefix, length,
/// alphabet, checksum) but that no server minted: its tag is not an HMAC under any server's
/// user-token key, so the server refuses it without a storage read.
pub fn forged_user_token(filler: char) -> String {
    forged_token(USER_PREFIX, filler)
}

/// A token of the kind `prefix` names (`eau_`, `ear_`, `eas_`) that passes every offline check
/// but that no server minted (see [`forged_user_token`]).
pub fn forged_token(prefix: &str, filler: char) -> String {
    reseal(&format!(
        "{prefix}{}{}",
        filler.to_string().repeat(ENTROPY_CHARS + TAG_CHARS),
        "0".repeat(CHECKSUM_CHARS)
    ))
}

/// Lower-case hex SHA-256, the only form in which a token is stored.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_base62_matches_the_documented_encoding() {
        assert_eq!(base62_fixed(0, 6), "000000");
        assert_eq!(base62_fixed(62, 2), "10");
        assert_eq!(base62_fixed(u64::from(u32::MAX), 6), "4gfFC3");
    }

    #[test]
    fn resealed_tokens_pass_the_checksum_and_changed_ones_do_not() {
        let body = format!("eas_{}", "a".repeat(ENTROPY_CHARS + TAG_CHARS));
        let token = reseal(&format!("{body}000000"));
        assert_eq!(token.len(), SERVICE_TOKEN_LEN);
        assert_service_token_shape(&token);
        assert!(!checksum_is_valid(&change_char(&token, 10)));
        assert!(checksum_is_valid(&reseal(&change_char(&token, 10))));
    }

    #[test]
    fn forged_user_tokens_pass_the_offline_checks() {
        assert_user_token_shape(&forged_user_token('Z'));
        assert_ne!(forged_user_token('Z'), forged_user_token('Y'));
    }
}
