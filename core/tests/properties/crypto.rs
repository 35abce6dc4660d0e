//! `crypto` and `secret`: configured hashes, the root secret, and the types that hold secrets.

use edgeauth_core::crypto::{KeyPurpose, RootSecret, MIN_SECRET_BYTES};
use edgeauth_core::secret::Secret;
use edgeauth_core::TokenHash;
use proptest::prelude::*;

use crate::strategies::{cases, text};

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn a_configured_hash_is_64_hex_digits_kept_in_lower_case(
        hex in prop_oneof!["[0-9a-fA-F]{62,66}", "[0-9a-gA-G]{64}", text()],
    ) {
        let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        let parsed = TokenHash::from_hex(&hex);
        prop_assert_eq!(parsed.is_some(), valid);
        if let Some(h) = parsed {
            prop_assert_eq!(h.as_hex(), hex.to_ascii_lowercase());
            prop_assert_eq!(TokenHash::from_hex(h.as_hex()), Some(h.clone()));
            let shown = format!("{h:?}");
            prop_assert!(!shown.contains(h.as_hex()));
        }
    }

    #[test]
    fn a_token_hash_is_the_sha256_and_never_printed_whole(token in text()) {
        let h = TokenHash::of(&token);
        prop_assert_eq!(h.as_hex().len(), 64);
        prop_assert_eq!(TokenHash::from_hex(h.as_hex()), Some(h.clone()));
        prop_assert!(h.ct_eq(&TokenHash::of(&token)));
        let shown = format!("{h:?}");
        prop_assert!(!shown.contains(h.as_hex()));
    }

    #[test]
    fn the_root_secret_needs_32_bytes_and_never_prints(
        secret in prop_oneof!["[!-~]{28,40}", text()],
        project in "[a-z0-9-]{1,12}",
    ) {
        let root = RootSecret::new(&secret);
        prop_assert_eq!(root.is_some(), secret.len() >= MIN_SECRET_BYTES);
        if let Some(root) = root {
            let key = root.derive(KeyPurpose::ServiceTokens { project: &project });
            for shown in [format!("{root:?}"), format!("{key:?}")] {
                prop_assert!(!shown.contains(&secret) && shown.contains("redacted"), "{}", shown);
            }
        }
    }

    #[test]
    fn a_secret_never_prints_and_serialises_as_itself(value in text(), other in text()) {
        let s = Secret::new(value.clone());
        let shown = format!("{s:?} {:#?}", Some(&s));
        prop_assert!(shown.contains("redacted"));
        // Whatever the value, the same text is shown.
        let template = Secret::new("x");
        prop_assert_eq!(shown, format!("{template:?} {:#?}", Some(&template)));
        prop_assert_eq!(s == Secret::new(other.clone()), value == other);
        let json = serde_json::to_string(&s).unwrap();
        prop_assert_eq!(&json, &serde_json::to_string(&value).unwrap());
        let back: Secret = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back.expose(), value.as_str());
    }
}
