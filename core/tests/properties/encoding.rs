//! `base62` and `encoding`: round trips, canonical decoding, alphabets.

use edgeauth_core::base62::{self, ALPHABET};
use edgeauth_core::encoding::{
    base64_decode, base64_encode, base64url_decode, base64url_decode_strict, base64url_encode,
    percent_encode,
};
use proptest::prelude::*;

use crate::strategies::{cases, form_pairs, over, text, Seeded};

fn base62_value(s: &str) -> u128 {
    s.bytes().fold(0u128, |acc, b| {
        acc * 62
            + ALPHABET
                .iter()
                .position(|&a| a == b)
                .expect("a base62 symbol") as u128
    })
}

/// Base64url with arbitrary padding and stray characters: what a client might paste.
fn base64ish() -> impl Strategy<Value = String> {
    prop_oneof![
        over(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
            64
        ),
        over("AQgw_-9z=", 12),
        over("AQgw_-9z=+/. \n%", 12),
        text(),
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn base62_fixed_width_round_trips_and_keeps_order(a in any::<u128>(), b in any::<u128>()) {
        let (ea, eb) = (base62::encode_fixed(a, 22), base62::encode_fixed(b, 22));
        prop_assert_eq!(ea.len(), 22);
        prop_assert!(base62::is_base62(&ea));
        prop_assert_eq!(base62_value(&ea), a);
        // The alphabet is in ASCII order, so fixed-width encodings sort like their values.
        prop_assert_eq!(ea.cmp(&eb), a.cmp(&b));
    }

    #[test]
    fn base62_checksum_width_holds_any_u32(v in any::<u32>()) {
        let e = base62::encode_fixed(u128::from(v), 6);
        prop_assert_eq!(e.len(), 6);
        prop_assert_eq!(base62_value(&e), u128::from(v));
    }

    #[test]
    fn base62_random_has_the_length_and_alphabet_asked_for(seed in any::<u64>(), n in 0usize..200) {
        let s = base62::random(n, &mut Seeded::new(seed));
        prop_assert_eq!(s.len(), n);
        prop_assert!(base62::is_base62(&s));
    }

    #[test]
    fn is_base62_is_membership_of_the_alphabet(s in text()) {
        prop_assert_eq!(base62::is_base62(&s), s.bytes().all(|b| ALPHABET.contains(&b)));
    }

    #[test]
    fn base64url_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let encoded = base64url_encode(&bytes);
        prop_assert_eq!(encoded.len(), (bytes.len() * 4).div_ceil(3));
        prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        prop_assert_eq!(base64url_decode(&encoded), Some(bytes.clone()));
        prop_assert_eq!(base64url_decode_strict(&encoded), Some(bytes.clone()));
        // Padded, the lenient decoder reads the same bytes; the strict one refuses it.
        let padded = format!("{encoded}{}", "=".repeat((4 - encoded.len() % 4) % 4));
        prop_assert_eq!(base64url_decode(&padded), Some(bytes.clone()));
        prop_assert_eq!(base64url_decode_strict(&padded).is_some(), padded == encoded);
    }

    #[test]
    fn base64url_decoding_is_canonical(s in base64ish()) {
        // One byte string, one spelling: whatever decodes re-encodes to the same text (less
        // trailing padding for the lenient decoder), so a changed character is never read alike.
        if let Some(bytes) = base64url_decode(&s) {
            prop_assert_eq!(base64url_encode(&bytes), s.trim_end_matches('='));
        }
        if let Some(bytes) = base64url_decode_strict(&s) {
            prop_assert_eq!(base64url_encode(&bytes), s);
        }
    }

    #[test]
    fn standard_base64_is_base64url_with_another_alphabet_and_padding(
        bytes in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let standard = base64_encode(&bytes);
        prop_assert_eq!(standard.len() % 4, 0);
        prop_assert!(standard.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)));
        let url_safe: String = standard
            .trim_end_matches('=')
            .chars()
            .map(|c| match c { '+' => '-', '/' => '_', c => c })
            .collect();
        prop_assert_eq!(base64url_decode_strict(&url_safe), Some(bytes));
    }

    #[test]
    fn standard_base64_decoding_is_canonical(
        s in prop_oneof![base64ish(), over("AQgw+/9z=", 12)],
        bytes in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        prop_assert_eq!(base64_decode(&base64_encode(&bytes)), Some(bytes));
        // One byte string, one spelling: padding required, no other alphabet, no stray bits.
        if let Some(decoded) = base64_decode(&s) {
            prop_assert_eq!(base64_encode(&decoded), s);
        }
    }

    #[test]
    fn percent_encoding_is_read_back_as_one_parameter_value(value in text()) {
        let encoded = percent_encode(&value);
        prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        // Escapes are `%XX` with upper-case hex.
        for escape in encoded.split('%').skip(1) {
            prop_assert!(escape.len() >= 2);
            prop_assert!(escape
                .bytes()
                .take(2)
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
        }
        // A value cannot escape its parameter: a form parser reads back exactly one pair.
        prop_assert_eq!(
            form_pairs(&format!("v={encoded}&w=1")),
            vec![("v".to_owned(), value.clone()), ("w".to_owned(), "1".to_owned())]
        );
        // Unreserved text is left alone, and only it.
        let unreserved = value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        prop_assert_eq!(encoded == value, unreserved);
    }
}
