//! `cli_login`: the parameters of `cli-start`, the path back to them after sign-in, login
//! codes, the exchange body and the record KV keeps.

use std::collections::HashMap;

use edgeauth_core::cli_login::{
    client_name, validate_state, CliLoginRequest, ExchangeError, ExchangeRequest, LoopbackCode,
    PendingLogin, CLI_START_PATH, CODE_LEN, MAX_STATE_LEN, MIN_STATE_LEN,
};
use edgeauth_core::loopback::LoopbackRedirect;
use edgeauth_core::pkce::{s256_challenge, CHALLENGE_LEN};
use edgeauth_core::return_to::safe_return_to;
use edgeauth_core::TokenHash;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::strategies::{cases, form_pairs, json, object_with, over, text, Seeded};

fn verifier() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._~-]{43,128}"
}

fn state() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._~-]{16,64}"
}

fn redirect() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(vec!["127.0.0.1", "[::1]"]),
        1u16..=65535,
        "(/[a-zA-Z0-9._~!$'()*+,;:@-]{0,12}){1,3}(\\?[a-z]{1,4}=[a-zA-Z0-9%+]{0,6})?",
    )
        .prop_map(|(host, port, rest)| format!("http://{host}:{port}{rest}"))
}

/// A parameter: absent, anything, or a plausible value.
fn param(
    plausible: impl Strategy<Value = String> + 'static,
) -> impl Strategy<Value = Option<String>> {
    prop_oneof![1 => Just(None), 1 => text().prop_map(Some), 12 => plausible.prop_map(Some)]
}

fn params() -> impl Strategy<Value = HashMap<&'static str, String>> {
    (
        param(redirect()),
        param(state()),
        param(verifier().prop_map(|v| s256_challenge(&v))),
        param(
            proptest::sample::select(vec!["S256", "S256", "S256", "plain", "s256"])
                .prop_map(str::to_owned),
        ),
        param(prop_oneof!["[ -~]{1,30}", text()]),
    )
        .prop_map(|(redirect_uri, state, challenge, method, name)| {
            [
                ("redirect_uri", redirect_uri),
                ("state", state),
                ("code_challenge", challenge),
                ("code_challenge_method", method),
                ("name", name),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
        })
}

fn parse(p: &HashMap<&str, String>) -> Result<CliLoginRequest, String> {
    CliLoginRequest::from_params(|name| p.get(name).cloned())
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn an_accepted_cli_start_is_loopback_with_a_sound_state_challenge_and_name(p in params()) {
        let Ok(r) = parse(&p) else { return Ok(()) };
        prop_assert_eq!(LoopbackRedirect::parse(r.redirect.as_str()), Ok(r.redirect.clone()));
        prop_assert!(validate_state(&r.state).is_ok());
        prop_assert_eq!(r.code_challenge.len(), CHALLENGE_LEN);
        prop_assert!(r
            .code_challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        prop_assert_eq!(p.get("code_challenge_method").map(String::as_str), Some("S256"));
        prop_assert!((1..=100).contains(&r.name.chars().count()));
        prop_assert!(!r.name.chars().any(char::is_control));
    }

    #[test]
    fn the_return_path_is_safe_and_reads_back_as_the_same_request(
        p in params(),
        project in proptest::option::of(prop_oneof!["[a-z0-9-]{1,20}", text()]),
    ) {
        let Ok(r) = parse(&p) else { return Ok(()) };
        let Some(path) = r.return_path(project.as_deref()) else { return Ok(()) };
        prop_assert_eq!(safe_return_to(&path), Some(path.clone()));
        let query = path.strip_prefix(&format!("{CLI_START_PATH}?")).expect("the cli-start path");
        let pairs = form_pairs(query);
        let read: HashMap<&str, String> =
            pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        prop_assert_eq!(read.len(), pairs.len(), "a parameter is repeated in {}", path);
        prop_assert_eq!(parse(&read), Ok(r));
        prop_assert_eq!(read.get("project"), project.as_ref());
    }

    #[test]
    fn a_state_is_16_to_256_unreserved_characters(
        s in prop_oneof![text(), "[A-Za-z0-9._~-]{10,300}", over("aZ9-._~ /+=%", 20)],
    ) {
        let expected = (MIN_STATE_LEN..=MAX_STATE_LEN).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        prop_assert_eq!(validate_state(&s).is_ok(), expected);
    }

    #[test]
    fn a_client_name_is_the_trimmed_text_or_refused(s in prop_oneof![text(), "[ -~]{0,110}"]) {
        match client_name(Some(&s)) {
            Ok(name) => {
                prop_assert_eq!(name.as_str(), s.trim());
                prop_assert!((1..=100).contains(&name.chars().count()));
                prop_assert!(!name.chars().any(char::is_control));
            }
            Err(message) => prop_assert!(message.contains("`name`"), "{}", message),
        }
    }

    #[test]
    fn a_login_code_is_43_base64url_characters_and_never_printed(
        seed in any::<u64>(),
        presented in prop_oneof![text(), "[A-Za-z0-9_-]{41,45}", "[A-Za-z0-9_ +/=-]{43}"],
    ) {
        let code = LoopbackCode::generate(&mut Seeded::new(seed));
        prop_assert_eq!(LoopbackCode::parse(code.as_str()), Some(code.clone()));
        prop_assert_eq!(code.hash(), TokenHash::of(code.as_str()));
        let debug = format!("{code:?}");
        prop_assert!(!debug.contains(code.as_str()));
        let shaped = presented.len() == CODE_LEN
            && presented.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        prop_assert_eq!(LoopbackCode::parse(&presented).is_some(), shaped);
    }

    #[test]
    fn an_exchange_body_is_validated_and_its_secrets_never_printed(
        body in prop_oneof![
            json(),
            object_with(vec![
                ("code", "[A-Za-z0-9_-]{43}".prop_map(Value::from).boxed()),
                ("code_verifier", verifier().prop_map(Value::from).boxed()),
                ("redirect_uri", redirect().prop_map(Value::from).boxed()),
            ]),
        ],
    ) {
        match ExchangeRequest::from_json(&body) {
            Ok(r) => {
                prop_assert_eq!(Some(r.code.as_str()), body["code"].as_str());
                prop_assert_eq!(Some(r.code_verifier.as_str()), body["code_verifier"].as_str());
                prop_assert_eq!(Some(r.redirect_uri.as_str()), body["redirect_uri"].as_str());
                let debug = format!("{r:?}");
                prop_assert!(!debug.contains(r.code.as_str()));
                if !r.redirect_uri.contains(&r.code_verifier) {
                    prop_assert!(!debug.contains(&r.code_verifier), "{}", debug);
                }
            }
            Err(e) => {
                prop_assert!(!e.description().is_empty());
                prop_assert!(["invalid_request", "invalid_grant"].contains(&e.error_code()));
                prop_assert!(!e.burns_code());
                for secret in ["code", "code_verifier"] {
                    if let Some(s) = body[secret].as_str().filter(|s| s.len() >= 8) {
                        prop_assert!(!e.description().contains(s), "{:?} repeats {}", e, secret);
                    }
                }
            }
        }
    }

    #[test]
    fn a_pending_login_round_trips_through_kv(
        user_id in text(),
        project in text(),
        name in text(),
        redirect_uri in text(),
        code_challenge in text(),
        expires_at in any::<i64>(),
        junk in text(),
    ) {
        let pending = PendingLogin {
            user_id,
            project,
            name,
            redirect_uri,
            code_challenge,
            expires_at,
        };
        prop_assert_eq!(PendingLogin::from_json(&pending.to_json()), Ok(pending));
        // Whatever else KV hands back is read or refused, never a panic.
        let _ = PendingLogin::from_json(&junk);
    }

    #[test]
    fn only_the_right_verifier_and_redirect_before_expiry_redeem_a_code(
        redirect_uri in redirect(),
        other_redirect in redirect(),
        verifier in verifier(),
        other_verifier in verifier(),
        now_ms in 0i64..4_000_000_000_000,
        age_ms in -200_000i64..200_000,
        code_seed in any::<u64>(),
    ) {
        let pending = PendingLogin {
            user_id: "usr_x".into(),
            project: "default".into(),
            name: "edgeauth CLI".into(),
            redirect_uri: redirect_uri.clone(),
            code_challenge: s256_challenge(&verifier),
            expires_at: now_ms + 120_000,
        };
        let at = now_ms + 120_000 + age_ms;
        let exchange = |verifier: &str, redirect_uri: &str| {
            let code = LoopbackCode::generate(&mut Seeded::new(code_seed));
            ExchangeRequest::from_json(&json!({
                "code": code.as_str(), "code_verifier": verifier, "redirect_uri": redirect_uri,
            }))
            .unwrap()
        };
        let good = pending.check_exchange(&exchange(&verifier, &redirect_uri), at);
        if at >= pending.expires_at {
            let Err(ExchangeError::InvalidGrant { burns_code, .. }) = good else {
                return Err(TestCaseError::fail("an expired code was redeemed"));
            };
            prop_assert!(!burns_code);
        } else {
            prop_assert_eq!(good, Ok(()));
            if other_verifier != verifier {
                let e = pending
                    .check_exchange(&exchange(&other_verifier, &redirect_uri), at)
                    .unwrap_err();
                prop_assert!(e.burns_code());
            }
            if other_redirect != redirect_uri {
                let e = pending
                    .check_exchange(&exchange(&verifier, &other_redirect), at)
                    .unwrap_err();
                prop_assert!(e.burns_code());
            }
        }
    }
}
