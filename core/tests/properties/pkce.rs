//! `pkce`: verifiers and challenges (RFC 7636), S256 only.

use edgeauth_core::pkce::{
    s256_challenge, validate_challenge, validate_verifier, verify, CHALLENGE_LEN, MAX_VERIFIER_LEN,
    MIN_VERIFIER_LEN,
};
use proptest::prelude::*;

use crate::strategies::{cases, over, text};

fn unreserved(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

fn base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn a_verifier_is_43_to_128_unreserved_characters(v in prop_oneof![
        text(),
        "[A-Za-z0-9._~-]{40,130}",
        over("aZ9-._~+/= ", 50),
    ]) {
        let expected = (MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&v.len()) && unreserved(&v);
        prop_assert_eq!(validate_verifier(&v).is_ok(), expected);
    }

    #[test]
    fn a_challenge_is_43_base64url_characters_with_method_s256(
        c in prop_oneof![text(), "[A-Za-z0-9_-]{41,45}", "[A-Za-z0-9_+/=-]{43}"],
        method in proptest::option::of(prop_oneof![
            Just("S256".to_owned()),
            Just("plain".to_owned()),
            Just("s256".to_owned()),
            text(),
        ]),
    ) {
        let expected =
            method.as_deref() == Some("S256") && c.len() == CHALLENGE_LEN && base64url(&c);
        prop_assert_eq!(validate_challenge(&c, method.as_deref()).is_ok(), expected);
    }

    #[test]
    fn only_the_verifier_of_a_challenge_verifies(
        v in "[A-Za-z0-9._~-]{43,128}",
        other in prop_oneof!["[A-Za-z0-9._~-]{43,128}", text()],
        at in any::<usize>(),
    ) {
        let challenge = s256_challenge(&v);
        prop_assert!(validate_challenge(&challenge, Some("S256")).is_ok());
        prop_assert!(verify(&v, &challenge));
        if other != v {
            prop_assert!(!verify(&other, &challenge));
        }
        // `plain` never verifies: the verifier is not its own challenge.
        prop_assert!(!verify(&v, &v));
        // Nor does a challenge with one character changed.
        let i = at % challenge.len();
        let c = if &challenge[i..=i] == "A" { "B" } else { "A" };
        let mut changed = challenge.clone();
        changed.replace_range(i..=i, c);
        prop_assert!(!verify(&v, &changed));
    }
}
