//! `token_request`: the bodies that create service and user tokens.

use edgeauth_core::api::NewTokenBody;
use edgeauth_core::token_request::{
    NewServiceToken, NewUserToken, MAX_EXPIRES_IN_DAYS, MAX_NAME_CHARS,
};
use edgeauth_core::workspace::MAX_PATTERNS;
use edgeauth_core::{Scope, WorkspacePattern};
use proptest::prelude::*;
use serde_json::Value;

use crate::strategies::{cases, json, object_with, text};

fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop_oneof![
            Just("*".to_owned()),
            "[a-z0-9_.-]{1,10}(/[a-z0-9_.-]{1,10}){0,2}(/\\*)?",
        ],
        1 => "[a-z/*.]{1,10}",
        1 => text(),
    ]
}

fn body() -> impl Strategy<Value = Value> {
    let name = prop_oneof!["[ -~]{0,110}", text()].prop_map(Value::from);
    let workspaces = prop_oneof![
        4 => proptest::collection::vec(pattern(), 0..5),
        1 => proptest::collection::vec(pattern(), 28..40),
    ]
    .prop_map(Value::from);
    let days = prop_oneof![
        4 => (1i64..=3650).prop_map(Value::from),
        1 => (-10i64..4000).prop_map(Value::from),
                1 => any::<f64>().prop_map(Value::from),
    ];
    prop_oneof![
        1 => json(),
        6 => object_with(vec![
            ("name", name.boxed()),
            ("workspaces", workspaces.boxed()),
            ("expires_in_days", days.boxed()),
        ]),
    ]
}

/// What every accepted body must respect.
fn check(name: &str, scope: &Scope, days: Option<i64>, body: &Value) -> Result<(), TestCaseError> {
    prop_assert!((1..=MAX_NAME_CHARS).contains(&name.chars().count()));
    prop_assert_eq!(Some(name), body["name"].as_str().map(str::trim));
    prop_assert!(!name.chars().any(char::is_control));
    prop_assert!((1..=MAX_PATTERNS).contains(&scope.patterns().len()));
    prop_assert_eq!(Scope::parse(&scope.to_strings()), Ok(scope.clone()));
    if let Some(days) = days {
        prop_assert!((1..=MAX_EXPIRES_IN_DAYS).contains(&days));
        prop_assert_eq!(body["expires_in_days"].as_i64(), Some(days));
    } else {
        prop_assert!(body["expires_in_days"].is_null());
    }
    let known = ["name", "workspaces", "expires_in_days"];
    prop_assert!(body
        .as_object()
        .unwrap()
        .keys()
        .all(|k| known.contains(&k.as_str())));
    Ok(())
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn an_accepted_service_token_body_respects_every_limit(body in body()) {
        match NewServiceToken::from_json(&body) {
            Ok(t) => {
                check(&t.name, &t.scope, t.expires_in_days, &body)?;
                prop_assert!(body["workspaces"].is_array());
                prop_assert_eq!(t.expires_at_ms(0).is_some(), t.expires_in_days.is_some());
            }
            Err(message) => prop_assert!(!message.is_empty()),
        }
    }

    #[test]
    fn an_accepted_user_token_body_respects_every_limit(body in body()) {
        match NewUserToken::from_json(&body) {
            Ok(t) => {
                check(&t.name, &t.scope, t.expires_in_days, &body)?;
                if body.get("workspaces").is_none() {
                    prop_assert_eq!(t.scope, Scope::all());
                }
            }
            Err(message) => prop_assert!(!message.is_empty()),
        }
    }

    #[test]
    fn what_the_cli_sends_is_read_back_by_the_server(
        name in prop_oneof!["[a-zA-Z0-9 ._-]{1,100}", text()],
        workspaces in proptest::option::of(proptest::collection::vec(
            prop_oneof![Just("*".to_owned()), "[a-z0-9_.-]{1,10}(/[a-z0-9_.-]{1,10}){0,2}(/\\*)?"],
            1..5,
        )),
        expires_in_days in proptest::option::of(prop_oneof![1u32..=3650, any::<u32>()]),
    ) {
        let sent = NewTokenBody {
            name: name.clone(),
            workspaces: workspaces.clone(),
            expires_in_days,
        };
        let body = serde_json::to_value(&sent).unwrap();
        let name_ok = !name.trim().is_empty()
            && name.trim().chars().count() <= MAX_NAME_CHARS
            && !name.trim().chars().any(char::is_control);
        let scope = workspaces.as_deref().map(Scope::parse);
        let scope_ok = scope.as_ref().is_none_or(Result::is_ok);
        let days_ok = expires_in_days.is_none_or(|d| (1..=3650).contains(&d));
        let read = NewUserToken::from_json(&body);
        prop_assert_eq!(read.is_ok(), name_ok && scope_ok && days_ok, "{:?}", read);
        if let Ok(t) = read {
            prop_assert_eq!(t.name, name.trim());
            prop_assert_eq!(t.expires_in_days, expires_in_days.map(i64::from));
            let expected = scope.map_or_else(Scope::all, Result::unwrap);
            prop_assert_eq!(&t.scope, &expected);
            let reparses =
                |p: &WorkspacePattern| WorkspacePattern::parse(&p.to_string()).as_ref() == Ok(p);
            prop_assert!(t.scope.patterns().iter().all(reparses));
        }
    }
}
