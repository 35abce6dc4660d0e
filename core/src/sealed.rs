//! Values kept encrypted at rest: the identity provider's refresh token of a person, with which
//! edgeauth asks the provider again who the person is (their teams) when a device login
//! refreshes. AES-256-GCM under a key derived from `SECRET` ([`KeyPurpose::ProviderTokens`]),
//! a fresh 96-bit IV per value, and associated data that binds the value to the person, so a
//! value copied to another person's row does not decrypt. The Worker encrypts with Web Crypto;
//! here is the stored form: `v1.` then the IV and the ciphertext (tag included), base64url.
//!
//! [`KeyPurpose::ProviderTokens`]: crate::crypto::KeyPurpose::ProviderTokens

use crate::encoding::{base64url_decode_strict, base64url_encode};
use crate::Entropy;

/// Length of the AES-GCM IV.
pub const IV_LEN: usize = 12;
/// Length of the AES-GCM tag at the end of the ciphertext.
pub const TAG_LEN: usize = 16;
const VERSION: &str = "v1.";

/// An encrypted value: its IV and its ciphertext with the tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub iv: [u8; IV_LEN],
    pub ciphertext: Vec<u8>,
}

impl Sealed {
    /// A fresh IV, for one encryption.
    pub fn fresh_iv(rng: &mut impl Entropy) -> [u8; IV_LEN] {
        let mut iv = [0; IV_LEN];
        rng.fill(&mut iv);
        iv
    }

    /// The stored form.
    pub fn encode(&self) -> String {
        let mut bytes = self.iv.to_vec();
        bytes.extend_from_slice(&self.ciphertext);
        format!("{VERSION}{}", base64url_encode(&bytes))
    }

    /// Reads the stored form: `None` for another version or a value too short to hold an IV
    /// and a tag.
    pub fn decode(text: &str) -> Option<Sealed> {
        let bytes = base64url_decode_strict(text.strip_prefix(VERSION)?)?;
        if bytes.len() < IV_LEN + TAG_LEN {
            return None;
        }
        let (iv, ciphertext) = bytes.split_at(IV_LEN);
        Some(Sealed {
            iv: iv.try_into().ok()?,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

/// The associated data of a person's provider refresh token: who they are at the provider
/// (`iss`, `sub`), the issuer's length first so that no two pairs read the same.
pub fn provider_token_context(issuer: &str, subject: &str) -> Vec<u8> {
    format!(
        "edgeauth/v1/provider-refresh-token/{}/{issuer}{subject}",
        issuer.len()
    )
    .into_bytes()
}

/// The associated data of a session's sealed ID token (its cookie, the `id_token_hint` of
/// signing out at the provider): the session it belongs to, by the hex SHA-256 of its cookie,
/// so that it opens only beside that session's cookie.
pub fn id_token_context(session_hash_hex: &str) -> Vec<u8> {
    format!("edgeauth/v1/id-token-hint/{session_hash_hex}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_entropy::Counter;

    #[test]
    fn the_stored_form_round_trips_and_refuses_what_it_did_not_write() {
        let sealed = Sealed {
            iv: Sealed::fresh_iv(&mut Counter(7)),
            ciphertext: vec![9; TAG_LEN + 5],
        };
        let text = sealed.encode();
        assert!(text.starts_with("v1."), "{text}");
        assert_eq!(Sealed::decode(&text), Some(sealed.clone()));
        assert_eq!(Sealed::decode(&text.replacen("v1.", "v2.", 1)), None);
        assert_eq!(Sealed::decode("v1."), None);
        assert_eq!(Sealed::decode("v1.!!!"), None);
        let short = Sealed {
            iv: [0; IV_LEN],
            ciphertext: vec![0; TAG_LEN - 1],
        };
        assert_eq!(Sealed::decode(&short.encode()), None);
        // Two values never share an IV when the entropy is real; here, a new stream differs.
        assert_ne!(
            Sealed::fresh_iv(&mut Counter(1)),
            Sealed::fresh_iv(&mut Counter(2))
        );
        assert_ne!(
            provider_token_context("https://a", "b"),
            provider_token_context("https://ab", "")
        );
    }
}
