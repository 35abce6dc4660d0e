//! Hashing, constant-time comparison and key derivation from the root secret.

use core::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Entropy;

type HmacSha256 = Hmac<Sha256>;

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Compares two secrets (or hashes of secrets) in time independent of where they differ.
///
/// Only the length can leak, and every caller compares values of a fixed, public length.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The SHA-256 of a token, as stored in D1 and KV in place of the token itself.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// Hashes a presented or freshly minted token.
    pub fn of(token: &str) -> Self {
        Self(sha256_hex(token.as_bytes()))
    }

    /// Accepts a stored or configured hash: exactly 64 hex digits (normalised to lower case).
    pub fn from_hex(hex: &str) -> Option<Self> {
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(hex.to_ascii_lowercase()))
    }

    /// The lower-case hex form.
    pub fn as_hex(&self) -> &str {
        &self.0
    }

    /// Constant-time equality, for comparing a presented token's hash with a configured one.
    pub fn ct_eq(&self, other: &TokenHash) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.0[..8])
    }
}

/// The minimum length of `SECRET`, in bytes: 256 bits.
pub const MIN_SECRET_BYTES: usize = 32;

/// `SECRET`, the root key every other key is derived from. Never printed.
#[derive(Clone)]
pub struct RootSecret(Vec<u8>);

/// A 256-bit key derived from the root secret for one purpose. Never printed.
#[derive(Clone)]
pub struct DerivedKey([u8; 32]);

/// What a derived key is for; each purpose has its own label, so keys never cross purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose<'a> {
    /// Signs the tags of one project's service tokens.
    ServiceTokens { project: &'a str },
    /// Signs cookies.
    Cookies,
    /// Signs the tags of user API tokens.
    UserTokens,
    /// Signs the tags of refresh tokens.
    RefreshTokens,
    /// Signs the tags of session cookie values.
    Sessions,
    /// Derives a spent refresh token's successor from it
    /// ([`crate::refresh::successor`]), so that a replay can be answered with the same one.
    RefreshSuccessors,
    /// Derives the Ed25519 signing key of each period ([`crate::signing::KeyRing`]), whose
    /// public halves are published as the JWKS.
    SigningKeys,
    /// Encrypts the identity provider's refresh tokens kept with a person
    /// ([`crate::sealed`]).
    ProviderTokens,
}

impl RootSecret {
    /// Accepts `SECRET` when it has at least [`MIN_SECRET_BYTES`] bytes.
    pub fn new(secret: &str) -> Option<Self> {
        (secret.len() >= MIN_SECRET_BYTES).then(|| Self(secret.as_bytes().to_vec()))
    }

    /// Derives the key for `purpose`: HMAC-SHA256(SECRET, label), with a distinct label per
    /// purpose (and per project for service tokens), so one key never serves two uses.
    pub fn derive(&self, purpose: KeyPurpose<'_>) -> DerivedKey {
        let label = match purpose {
            KeyPurpose::ServiceTokens { project } => {
                format!("edgeauth/v1/service-tokens/project/{project}")
            }
            KeyPurpose::Cookies => "edgeauth/v1/cookies".to_owned(),
            KeyPurpose::UserTokens => "edgeauth/v1/user-tokens".to_owned(),
            KeyPurpose::RefreshTokens => "edgeauth/v1/refresh-tokens".to_owned(),
            KeyPurpose::Sessions => "edgeauth/v1/sessions".to_owned(),
            KeyPurpose::RefreshSuccessors => "edgeauth/v1/refresh-successors".to_owned(),
            KeyPurpose::SigningKeys => "edgeauth/v1/signing-keys".to_owned(),
            KeyPurpose::ProviderTokens => "edgeauth/v1/provider-refresh-tokens".to_owned(),
        };
        DerivedKey(hmac_sha256(&self.0, label.as_bytes()))
    }
}

impl DerivedKey {
    /// HMAC-SHA256 of `message` under this key.
    pub fn sign(&self, message: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.0, message)
    }

    /// The raw key bytes, for handing to a signature library.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A deterministic [`Entropy`]: the bytes of HMAC-SHA256 in counter mode, keyed by
/// HMAC-SHA256(`key`, `message`). The same key and message always give the same stream, and
/// without the key the stream cannot be told from random: what a value derived from a secret
/// and a public input (a spent refresh token's successor) needs.
pub struct DerivedEntropy {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl DerivedEntropy {
    /// The stream for `message` under `key`.
    pub fn new(key: &DerivedKey, message: &[u8]) -> Self {
        Self {
            seed: key.sign(message),
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }
}

impl Entropy for DerivedEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            if self.used == self.block.len() {
                self.block = hmac_sha256(&self.seed, &self.counter.to_be_bytes());
                self.counter += 1;
                self.used = 0;
            }
            *b = self.block[self.used];
            self.used += 1;
        }
    }
}

impl fmt::Debug for DerivedEntropy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivedEntropy(<redacted>)")
    }
}

impl fmt::Debug for RootSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootSecret(<redacted>)")
    }
}

impl fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivedKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn constant_time_eq_compares_contents_and_length() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sama"));
        assert!(!constant_time_eq(b"same", b"same!"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn token_hash_accepts_only_64_hex_digits() {
        let h = TokenHash::of("tok");
        assert_eq!(TokenHash::from_hex(h.as_hex()), Some(h.clone()));
        assert_eq!(
            TokenHash::from_hex(&h.as_hex().to_uppercase()).map(|x| x.ct_eq(&h)),
            Some(true)
        );
        assert!(TokenHash::from_hex("abc").is_none());
        assert!(TokenHash::from_hex(&"g".repeat(64)).is_none());
        assert!(!format!("{h:?}").contains(h.as_hex()));
    }

    #[test]
    fn secret_must_have_32_bytes() {
        assert!(RootSecret::new(&"x".repeat(31)).is_none());
        assert!(RootSecret::new(&"x".repeat(32)).is_some());
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_project_and_secret() {
        let s = RootSecret::new(&"k".repeat(32)).unwrap();
        let t = RootSecret::new(&"K".repeat(32)).unwrap();
        let a = s.derive(KeyPurpose::ServiceTokens { project: "a" });
        let b = s.derive(KeyPurpose::ServiceTokens { project: "b" });
        let a_again = s.derive(KeyPurpose::ServiceTokens { project: "a" });
        let signing = s.derive(KeyPurpose::SigningKeys);
        let cookies = s.derive(KeyPurpose::Cookies);
        let other = t.derive(KeyPurpose::ServiceTokens { project: "a" });
        assert_eq!(a.as_bytes(), a_again.as_bytes());
        let singles = [
            KeyPurpose::SigningKeys,
            KeyPurpose::Cookies,
            KeyPurpose::UserTokens,
            KeyPurpose::RefreshTokens,
            KeyPurpose::Sessions,
            KeyPurpose::RefreshSuccessors,
        ]
        .map(|purpose| s.derive(purpose));
        for k in [&b, &signing, &cookies, &other].into_iter().chain(&singles) {
            assert_ne!(a.as_bytes(), k.as_bytes());
        }
        for (i, k) in singles.iter().enumerate() {
            for other in &singles[i + 1..] {
                assert_ne!(k.as_bytes(), other.as_bytes());
            }
        }
    }

    #[test]
    fn derived_entropy_is_a_deterministic_stream_per_key_and_message() {
        let s = RootSecret::new(&"k".repeat(32)).unwrap();
        let key = s.derive(KeyPurpose::RefreshSuccessors);
        let other_key = s.derive(KeyPurpose::RefreshTokens);
        let draw = |key: &DerivedKey, message: &[u8], chunks: &[usize]| {
            let mut e = DerivedEntropy::new(key, message);
            let mut out = Vec::new();
            for &n in chunks {
                let mut buf = vec![0u8; n];
                e.fill(&mut buf);
                out.extend(buf);
            }
            out
        };
        let a = draw(&key, b"ear_spent", &[100]);
        // The same stream however it is drawn, across block boundaries.
        assert_eq!(a, draw(&key, b"ear_spent", &[1, 31, 32, 5, 31]));
        // Block 0 is HMAC(seed, 0u64 big-endian), seed = HMAC(key, message).
        let seed = key.sign(b"ear_spent");
        assert_eq!(a[..32], hmac_sha256(&seed, &0u64.to_be_bytes()));
        assert_eq!(a[32..64], hmac_sha256(&seed, &1u64.to_be_bytes()));
        assert_ne!(a, draw(&key, b"ear_spenT", &[100]));
        assert_ne!(a, draw(&other_key, b"ear_spent", &[100]));
        assert_ne!(a[..32], a[32..64]);
        assert_eq!(
            format!("{:?}", DerivedEntropy::new(&key, b"x")),
            "DerivedEntropy(<redacted>)"
        );
    }

    #[test]
    fn secrets_redact_themselves_in_debug() {
        let s = RootSecret::new("super-secret-value-that-is-long-enough").unwrap();
        let k = s.derive(KeyPurpose::Cookies);
        assert_eq!(format!("{s:?}"), "RootSecret(<redacted>)");
        assert_eq!(format!("{k:?}"), "DerivedKey(<redacted>)");
    }
}
