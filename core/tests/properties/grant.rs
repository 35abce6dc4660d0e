//! `grant`: the token endpoint's form or JSON request.

use edgeauth_core::grant::{
    TokenGrant, DEVICE_CODE_GRANT_TYPE, REFRESH_TOKEN_GRANT_TYPE, SUBJECT_TOKEN_TYPES,
    TOKEN_EXCHANGE_GRANT_TYPE,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::strategies::{cases, json, object_with, text};

/// Marks secret values, so a message that repeats one is caught whatever else it says.
const MARK: char = '\u{2603}';

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(vec![
            "grant_type",
            "device_code",
            "refresh_token",
            "subject_token",
            "subject_token_type",
            "client_id",
            "scope",
        ])
            .prop_map(str::to_owned),
        1 => text(),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(vec![
            DEVICE_CODE_GRANT_TYPE,
            REFRESH_TOKEN_GRANT_TYPE,
            TOKEN_EXCHANGE_GRANT_TYPE,
            SUBJECT_TOKEN_TYPES[0],
            SUBJECT_TOKEN_TYPES[1],
            "",
            "password",
        ])
            .prop_map(str::to_owned),
        2 => "[A-Za-z0-9_]{1,50}",
        1 => text().prop_map(|t| t.replace(MARK, "")),
    ]
}

fn secret() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z0-9_]{1,50}", text()].prop_map(|s| format!("{MARK}{s}"))
}

fn grant() -> impl Strategy<Value = TokenGrant> {
    prop_oneof![
        secret().prop_map(|device_code| TokenGrant::DeviceCode { device_code }),
        secret().prop_map(|refresh_token| TokenGrant::RefreshToken { refresh_token }),
        secret().prop_map(|subject_token| TokenGrant::TokenExchange { subject_token }),
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    let any_pairs =
        || proptest::collection::vec((name(), prop_oneof![3 => value(), 1 => secret()]), 0..6);
    // A grant's own form with parameters added, repeated or emptied around it.
    let near_grant = (grant(), any_pairs(), any::<usize>()).prop_map(|(grant, mut pairs, at)| {
        let own: Vec<(String, String)> = grant
            .form_pairs()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let at = at % (pairs.len() + 1);
        pairs.splice(at..at, own);
        pairs
    });
    prop_oneof![any_pairs(), near_grant]
}

fn secret_of(grant: &TokenGrant) -> &str {
    match grant {
        TokenGrant::DeviceCode { device_code } => device_code,
        TokenGrant::RefreshToken { refresh_token } => refresh_token,
        TokenGrant::TokenExchange { subject_token } => subject_token,
    }
}

/// The only non-empty value of `name`, if it has exactly one.
fn only(pairs: &[(String, String)], name: &str) -> Option<String> {
    let values: Vec<&String> = pairs
        .iter()
        .filter(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v)
        .collect();
    (values.len() == 1).then(|| values[0].clone())
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn a_form_yields_a_grant_only_when_unambiguous(pairs in pairs()) {
        match TokenGrant::from_pairs(&pairs) {
            Ok(grant) => {
                let (grant_type, field) = match &grant {
                    TokenGrant::DeviceCode { .. } => (DEVICE_CODE_GRANT_TYPE, "device_code"),
                    TokenGrant::RefreshToken { .. } => (REFRESH_TOKEN_GRANT_TYPE, "refresh_token"),
                    TokenGrant::TokenExchange { .. } => (TOKEN_EXCHANGE_GRANT_TYPE, "subject_token"),
                };
                prop_assert_eq!(only(&pairs, "grant_type"), Some(grant_type.to_owned()));
                prop_assert_eq!(only(&pairs, field), Some(secret_of(&grant).to_owned()));
                let debug = format!("{grant:?}");
                prop_assert!(
                    !debug.contains(MARK) && !debug.contains(secret_of(&grant)),
                    "{}",
                    debug
                );
            }
            Err(e) => {
                prop_assert!(["invalid_request", "unsupported_grant_type"].contains(&e.error));
                prop_assert!(!e.description.is_empty());
                // A presented device code or refresh token is never repeated.
                let grant_types: Vec<&String> =
                    pairs.iter().filter(|(k, _)| k == "grant_type").map(|(_, v)| v).collect();
                for (k, v) in &pairs {
                    let secret = k == "device_code" || k == "refresh_token" || k == "subject_token";
                    if secret && v.contains(MARK) && !grant_types.contains(&v) {
                        prop_assert!(!e.description.contains(v.as_str()), "{}", e.description);
                    }
                }
            }
        }
    }

    #[test]
    fn a_grant_reads_back_from_its_own_form_among_other_parameters(
        grant in grant(),
        before in proptest::collection::vec(("client_id|scope|x", value()), 0..3),
        after in proptest::collection::vec(("client_id|scope", value()), 0..3),
    ) {
        let form: Vec<(String, String)> = before
            .into_iter()
            .chain(grant.form_pairs().iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
            .chain(after)
            .collect();
        prop_assert_eq!(TokenGrant::from_pairs(&form), Ok(grant));
    }

    #[test]
    fn a_json_object_of_strings_means_what_the_same_form_means(pairs in pairs()) {
        let mut unique: Vec<(String, String)> = Vec::new();
        for (k, v) in pairs {
            if !unique.iter().any(|(u, _)| *u == k) {
                unique.push((k, v));
            }
        }
        let object: Map<String, Value> = unique
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        prop_assert_eq!(
            TokenGrant::from_json(&Value::Object(object)),
            TokenGrant::from_pairs(&unique)
        );
    }

    #[test]
    fn any_json_body_is_read_or_refused_without_repeating_a_secret(
        body in prop_oneof![
            json(),
            object_with(vec![
                ("grant_type", value().prop_map(Value::from).boxed()),
                ("device_code", secret().prop_map(Value::from).boxed()),
                ("refresh_token", secret().prop_map(Value::from).boxed()),
            ]),
        ],
    ) {
        if let Err(e) = TokenGrant::from_json(&body) {
            prop_assert!(!e.description.is_empty());
        }
    }
}
