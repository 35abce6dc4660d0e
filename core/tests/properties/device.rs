//! `device`: user codes and their normalisation, device codes, the client name, and the
//! polling rule of the device flow.

use edgeauth_core::base62;
use edgeauth_core::device::{
    client_name, generate_user_code, normalize_user_code, DeviceCode, DevicePoll, DeviceStatus,
    PollDecision, DEVICE_CODE_CHARS, MAX_POLL_INTERVAL_S, MAX_USER_CODE_INPUT, USER_CODE_ALPHABET,
    USER_CODE_LETTERS,
};
use edgeauth_core::TokenHash;
use proptest::prelude::*;
use serde_json::Value;

use crate::strategies::{cases, json, over, text, Seeded};

fn is_canonical(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == USER_CODE_LETTERS + 1
        && b[4] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || USER_CODE_ALPHABET.contains(c))
}

/// A canonical user code.
fn user_code() -> impl Strategy<Value = String> {
    any::<u64>().prop_map(|seed| generate_user_code(&mut Seeded::new(seed)))
}

/// `code` as a person might type it: any case, spaces and dashes anywhere.
fn typed(code: String) -> impl Strategy<Value = String> {
    let letters: Vec<char> = code.chars().filter(|&c| c != '-').collect();
    (
        proptest::collection::vec(any::<bool>(), USER_CODE_LETTERS),
        proptest::collection::vec(over(" -", 3), USER_CODE_LETTERS + 1),
    )
        .prop_map(move |(lower, separators)| {
            let mut out = separators[0].clone();
            for (i, c) in letters.iter().enumerate() {
                out.push(if lower[i] { c.to_ascii_lowercase() } else { *c });
                out.push_str(&separators[i + 1]);
            }
            out
        })
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn normalisation_yields_a_canonical_code_or_nothing(
        input in prop_oneof![
            text(),
            over("BCDFGHJKLMNPQRSTVWXZbcdfaeiou01 -_", 20),
            "[BCDFGHJKLMNPQRSTVWXZbcdfghjklmnpqrstvwxz -]{8,12}",
            "[BCDFGHJKLMNPQRSTVWXZ]{4}-?[BCDFGHJKLMNPQRSTVWXZAEIOUY0-9]{4}",
        ],
    ) {
        let letters: Vec<u8> = input.bytes().filter(|&b| b != b' ' && b != b'-').collect();
        let expected = input.len() <= MAX_USER_CODE_INPUT
            && letters.len() == USER_CODE_LETTERS
            && letters.iter().all(|b| USER_CODE_ALPHABET.contains(&b.to_ascii_uppercase()));
        let normalized = normalize_user_code(&input);
        prop_assert_eq!(normalized.is_some(), expected, "{:?}", input);
        if let Some(code) = normalized {
            prop_assert!(is_canonical(&code), "{}", code);
            // Idempotent: the canonical form is its own normal form.
            prop_assert_eq!(normalize_user_code(&code), Some(code));
        }
    }

    #[test]
    fn every_way_of_typing_a_code_finds_it(
        code in user_code().prop_flat_map(|c| (Just(c.clone()), typed(c))),
    ) {
        let (code, typed) = code;
        prop_assert!(is_canonical(&code), "{}", code);
        let expected = (typed.len() <= MAX_USER_CODE_INPUT).then(|| code.clone());
        prop_assert_eq!(normalize_user_code(&typed), expected, "{:?}", typed);
    }

    #[test]
    fn a_device_code_is_43_base62_characters_and_never_printed(
        seed in any::<u64>(),
        presented in prop_oneof![text(), "[0-9A-Za-z]{40,46}", "[0-9A-Za-z_ -]{43}"],
    ) {
        let code = DeviceCode::generate(&mut Seeded::new(seed));
        prop_assert_eq!(DeviceCode::parse(code.as_str()), Some(code.clone()));
        prop_assert_eq!(code.hash(), TokenHash::of(code.as_str()));
        let debug = format!("{code:?}");
        prop_assert!(!debug.contains(code.as_str()));
        let parsed = DeviceCode::parse(&presented);
        prop_assert_eq!(
            parsed.is_some(),
            presented.len() == DEVICE_CODE_CHARS && base62::is_base62(&presented)
        );
        if let Some(p) = parsed {
            prop_assert_eq!(p.as_str(), presented.as_str());
        }
    }

    #[test]
    fn the_client_name_shown_for_approval_is_clean(value in prop_oneof![
        json(),
        text().prop_map(Value::String),
        "[ -~]{0,120}".prop_map(Value::String),
    ]) {
        match client_name(Some(&value)) {
            Ok(name) => {
                let count = name.chars().count();
                prop_assert!((1..=100).contains(&count));
                prop_assert_eq!(name.trim(), name.as_str());
                prop_assert!(!name.chars().any(char::is_control));
                prop_assert!(!name.chars().any(|c| matches!(c,
                    '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
                    | '\u{2060}'..='\u{2069}' | '\u{FEFF}')), "{:?}", name);
                if let Value::String(s) = &value {
                    prop_assert_eq!(name.as_str(), s.trim());
                }
            }
            Err(message) => prop_assert!(message.contains("`client_name`"), "{}", message),
        }
    }

    #[test]
    fn polling_never_yields_tokens_when_expired_or_too_soon(
        now_ms in any::<i64>(),
        last_poll_at_ms in proptest::option::of(any::<i64>()),
        interval_s in 0u32..=120,
        status in proptest::sample::select(vec![
            DeviceStatus::Pending,
            DeviceStatus::Approved,
            DeviceStatus::Denied,
        ]),
        expires_at_ms in any::<i64>(),
    ) {
        let poll = DevicePoll { now_ms, last_poll_at_ms, interval_s, status, expires_at_ms };
        let decision = poll.decide();
        let too_soon = last_poll_at_ms
            .is_some_and(|last| now_ms.saturating_sub(last) < i64::from(interval_s) * 1000);
        if now_ms >= expires_at_ms {
            prop_assert_eq!(decision, PollDecision::ExpiredToken);
        } else if too_soon {
            let PollDecision::SlowDown { new_interval_s } = decision else {
                return Err(TestCaseError::fail(format!("{decision:?} when polled too soon")));
            };
            prop_assert!(new_interval_s <= MAX_POLL_INTERVAL_S.max(interval_s));
            prop_assert!(new_interval_s > interval_s || new_interval_s == MAX_POLL_INTERVAL_S);
        } else {
            prop_assert_eq!(decision == PollDecision::Approved, status == DeviceStatus::Approved);
        }
    }
}
