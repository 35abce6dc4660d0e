//! Proof Key for Code Exchange between the CLI and the server (RFC 7636), `S256` only.
//!
//! The CLI keeps a random `code_verifier`, sends `code_challenge =
//! BASE64URL(SHA256(code_verifier))` with the authorization request, and proves possession by
//! sending the verifier with the code exchange. A stolen loopback code is useless without it.

use sha2::{Digest, Sha256};

use crate::crypto::constant_time_eq;
use crate::encoding::base64url_encode;

/// Shortest `code_verifier` (RFC 7636 §4.1).
pub const MIN_VERIFIER_LEN: usize = 43;
/// Longest `code_verifier` (RFC 7636 §4.1).
pub const MAX_VERIFIER_LEN: usize = 128;
/// Length of an `S256` challenge: 32 bytes in unpadded base64url.
pub const CHALLENGE_LEN: usize = 43;
/// The only `code_challenge_method` accepted.
pub const METHOD_S256: &str = "S256";

/// Checks a `code_verifier`: 43 to 128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
pub fn validate_verifier(verifier: &str) -> Result<(), String> {
    if !(MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&verifier.len()) {
        return Err(format!(
            "code_verifier must be {MIN_VERIFIER_LEN} to {MAX_VERIFIER_LEN} characters long"
        ));
    }
    if !verifier.bytes().all(is_unreserved) {
        return Err(
            "code_verifier may only contain letters, digits and `-`, `.`, `_`, `~`".to_owned(),
        );
    }
    Ok(())
}

/// Checks a `code_challenge` and its `code_challenge_method` (RFC 7636 §4.2–4.3).
///
/// Only `S256` is accepted: `plain` sends the verifier itself and protects nothing against an
/// attacker who can read the authorization request (RFC 7636 §7.2). A missing method means
/// `plain` (§4.3), so it is refused too. The challenge must be exactly 43 base64url characters,
/// the unpadded encoding of a SHA-256 digest.
pub fn validate_challenge(challenge: &str, method: Option<&str>) -> Result<(), String> {
    match method {
        Some(METHOD_S256) => {}
        Some("plain") | None => {
            return Err(
                "code_challenge_method must be S256; `plain` (the default) is not accepted"
                    .to_owned(),
            )
        }
        Some(_) => return Err("code_challenge_method must be S256".to_owned()),
    }
    if challenge.len() != CHALLENGE_LEN || !challenge.bytes().all(is_base64url) {
        return Err(format!(
            "code_challenge must be {CHALLENGE_LEN} base64url characters: BASE64URL(SHA256(code_verifier)) without padding"
        ));
    }
    Ok(())
}

/// The `S256` challenge of `verifier`: BASE64URL-no-pad(SHA256(ASCII(verifier))) (RFC 7636 §4.2).
pub fn s256_challenge(verifier: &str) -> String {
    base64url_encode(&Sha256::digest(verifier.as_bytes()))
}

/// True when `verifier` is a valid verifier whose `S256` challenge is `challenge`
/// (RFC 7636 §4.6). The comparison is constant-time; both sides have the public length 43.
pub fn verify(verifier: &str, challenge: &str) -> bool {
    validate_verifier(verifier).is_ok()
        && constant_time_eq(s256_challenge(verifier).as_bytes(), challenge.as_bytes())
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const RFC_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(s256_challenge(RFC_VERIFIER), RFC_CHALLENGE);
        assert!(verify(RFC_VERIFIER, RFC_CHALLENGE));
        assert!(validate_verifier(RFC_VERIFIER).is_ok());
        assert!(validate_challenge(RFC_CHALLENGE, Some("S256")).is_ok());
    }

    #[test]
    fn verify_refuses_a_wrong_verifier_or_challenge() {
        let other = "eBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(!verify(other, RFC_CHALLENGE));
        assert!(!verify(
            RFC_VERIFIER,
            "F9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!verify(RFC_VERIFIER, ""));
        assert!(!verify(RFC_VERIFIER, &format!("{RFC_CHALLENGE}=")));
        // `plain`: the verifier presented as its own challenge never verifies.
        assert!(!verify(RFC_VERIFIER, RFC_VERIFIER));
    }

    #[test]
    fn verify_refuses_an_invalid_verifier_even_if_it_hashes_right() {
        let short = "abc";
        assert!(!verify(short, &s256_challenge(short)));
        let spaced = format!("{} ", &RFC_VERIFIER[..43]);
        assert!(!verify(&spaced, &s256_challenge(&spaced)));
    }

    #[test]
    fn verifier_length_bounds() {
        assert!(validate_verifier(&"a".repeat(42)).is_err());
        assert!(validate_verifier(&"a".repeat(43)).is_ok());
        assert!(validate_verifier(&"a".repeat(128)).is_ok());
        assert!(validate_verifier(&"a".repeat(129)).is_err());
        assert!(validate_verifier("").is_err());
    }

    #[test]
    fn verifier_alphabet_is_unreserved_only() {
        let base = "a".repeat(42);
        for ok in ['-', '.', '_', '~', 'Z', '9'] {
            assert!(validate_verifier(&format!("{base}{ok}")).is_ok(), "{ok}");
        }
        for bad in ['+', '/', '=', ' ', '%', '\n', '\0', 'é'] {
            assert!(
                validate_verifier(&format!("{base}{bad}")).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn challenge_method_must_be_s256() {
        let err = validate_challenge(RFC_CHALLENGE, Some("plain")).unwrap_err();
        assert!(err.contains("S256") && err.contains("plain"), "{err}");
        assert!(validate_challenge(RFC_CHALLENGE, None).is_err());
        assert!(validate_challenge(RFC_CHALLENGE, Some("s256")).is_err());
        assert!(validate_challenge(RFC_CHALLENGE, Some("S512")).is_err());
        assert!(validate_challenge(RFC_CHALLENGE, Some("")).is_err());
    }

    #[test]
    fn challenge_must_be_43_base64url_chars() {
        assert!(validate_challenge(&RFC_CHALLENGE[..42], Some("S256")).is_err());
        assert!(validate_challenge(&format!("{RFC_CHALLENGE}A"), Some("S256")).is_err());
        assert!(validate_challenge(&format!("{}=", &RFC_CHALLENGE[..42]), Some("S256")).is_err());
        let std_alphabet = RFC_CHALLENGE.replace('-', "+");
        assert!(validate_challenge(&std_alphabet, Some("S256")).is_err());
        assert!(validate_challenge("", Some("S256")).is_err());
    }
}
