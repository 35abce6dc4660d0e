//! `secret_scanning`: GitHub's DER signatures read as `r || s` (canonical DER only, each
//! accepted signature the one encoding of its numbers), PEM keys, key documents and reports
//! that never panic.

use edgeauth_core::encoding::base64_encode;
use edgeauth_core::secret_scanning::{
    p1363_signature, parse_report, public_key_der, signature_from_header, ScanningKeys,
};
use proptest::prelude::*;
use serde_json::json;

use crate::strategies::{after, cases, json, object_with, text};

/// The DER of `r || s` (RFC 3279 §2.2.3), each number minimal and positive: the one encoding.
fn der_of(raw: &[u8; 64]) -> Vec<u8> {
    let integer = |n: &[u8]| {
        let n: Vec<u8> = n.iter().copied().skip_while(|b| *b == 0).collect();
        let mut out = vec![0x02];
        if n[0] & 0x80 != 0 {
            out.extend([n.len() as u8 + 1, 0]);
        } else {
            out.push(n.len() as u8);
        }
        out.extend(n);
        out
    };
    let content = [integer(&raw[..32]), integer(&raw[32..])].concat();
    [vec![0x30, content.len() as u8], content].concat()
}

/// 32-byte numbers that are not zero, often with leading zero bytes or a high bit set.
fn number() -> impl Strategy<Value = [u8; 32]> {
    (any::<[u8; 32]>(), 0usize..33, any::<bool>()).prop_map(|(mut n, zeros, high)| {
        let zeros = zeros.min(31);
        n[..zeros].fill(0);
        if n[zeros] == 0 {
            n[zeros] = 1;
        }
        if high && zeros == 0 {
            n[0] |= 0x80;
        }
        n
    })
}

/// Bytes that are often nearly a DER signature: one of [`der_of`] with a byte changed, cut
/// short or lengthened, or anything.
fn der_ish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (number(), number(), any::<usize>(), any::<u8>()).prop_map(|(r, s, at, b)| {
            let mut der = der_of(&[r, s].concat().try_into().unwrap());
            let at = at % der.len();
            der[at] = b;
            der
        }),
        (number(), number(), any::<usize>()).prop_map(|(r, s, cut)| {
            let der = der_of(&[r, s].concat().try_into().unwrap());
            der[..cut % der.len()].to_vec()
        }),
        (number(), number(), any::<u8>()).prop_map(|(r, s, extra)| {
            let mut der = der_of(&[r, s].concat().try_into().unwrap());
            der.push(extra);
            der
        }),
        proptest::collection::vec(any::<u8>(), 0..80),
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn der_signatures_round_trip_to_r_and_s(r in number(), s in number()) {
        let raw: [u8; 64] = [r, s].concat().try_into().unwrap();
        let der = der_of(&raw);
        prop_assert_eq!(p1363_signature(&der), Ok(raw));
        prop_assert_eq!(signature_from_header(&base64_encode(&der)), Ok(raw));
    }

    #[test]
    fn only_the_one_der_encoding_of_a_signature_is_accepted(der in der_ish()) {
        // No panic whatever the bytes; what is accepted is exactly the canonical encoding of
        // the numbers read, so no two byte strings are read as one signature.
        if let Ok(raw) = p1363_signature(&der) {
            prop_assert_eq!(der_of(&raw), der);
        }
    }

    #[test]
    fn signature_headers_never_panic(header in text()) {
        let _ = signature_from_header(&header);
    }

    #[test]
    fn pem_keys_never_panic_and_are_always_p256(pem in prop_oneof![
        text(),
        after("-----BEGIN PUBLIC KEY-----"),
        "[A-Za-z0-9+/=\n]{0,130}".prop_map(|b| format!("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE{b}\n-----END PUBLIC KEY-----")),
    ]) {
        if let Ok(der) = public_key_der(&pem) {
            prop_assert_eq!(der.len(), 91);
            prop_assert_eq!(&der[..4], &[0x30, 0x59, 0x30, 0x13]);
        }
    }

    #[test]
    fn key_documents_never_panic(document in prop_oneof![
        text(),
        json().prop_map(|v| v.to_string()),
        proptest::collection::vec(
            object_with(vec![
                ("key_identifier", text().prop_map(serde_json::Value::String).boxed()),
                ("key", after("-----BEGIN PUBLIC KEY-----").prop_map(serde_json::Value::String).boxed()),
                ("is_current", any::<bool>().prop_map(serde_json::Value::Bool).boxed()),
            ]),
            0..4,
        )
        .prop_map(|keys| json!({"public_keys": keys}).to_string()),
    ]) {
        if let Ok(keys) = ScanningKeys::parse(&document) {
            prop_assert!(!keys.keys().is_empty());
        }
    }

    #[test]
    fn reports_never_panic_and_keep_every_match(report in prop_oneof![
        text().prop_map(String::into_bytes),
        json().prop_map(|v| v.to_string().into_bytes()),
        proptest::collection::vec(
            object_with(vec![
                ("token", after("eas_").prop_map(serde_json::Value::String).boxed()),
                ("type", text().prop_map(serde_json::Value::String).boxed()),
                ("url", text().prop_map(serde_json::Value::String).boxed()),
                ("source", text().prop_map(serde_json::Value::String).boxed()),
            ]),
            0..5,
        )
        .prop_map(|matches| serde_json::Value::Array(matches).to_string().into_bytes()),
    ]) {
        if let Ok(matches) = parse_report(&report) {
            let parsed: serde_json::Value = serde_json::from_slice(&report).unwrap();
            prop_assert_eq!(matches.len(), parsed.as_array().unwrap().len());
        }
    }
}
