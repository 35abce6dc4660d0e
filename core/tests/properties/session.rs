//! `session`: the signed sign-in cookie, cookie headers and session values.

use edgeauth_core::crypto::{KeyPurpose, RootSecret};
use edgeauth_core::return_to::safe_return_to;
use edgeauth_core::session::{
    cookie_value, csrf_token, csrf_token_matches, is_session_value, new_session_value, same_origin,
    session_value_is_ours, LoginState, LoginStateError, LOGIN_TTL_S,
};
use proptest::prelude::*;

use crate::strategies::{
    after, cases, replace_char, tag_key, text, Seeded, NASTY, OTHER_SECRET, SECRET,
};

fn cookie_key(secret: &str) -> edgeauth_core::crypto::DerivedKey {
    RootSecret::new(secret).unwrap().derive(KeyPurpose::Cookies)
}

fn now_s() -> impl Strategy<Value = i64> {
    0i64..95_000_000_000
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn a_sign_in_cookie_reads_back_until_it_expires(
        // Any path `return_to` accepts (at most 1024 bytes), and text: the cookie must hold
        // every return path the server can send a browser to.
        return_to in prop_oneof![
            "/[A-Za-z0-9._~!$&'()*+,;=:@/?#%-]{0,1023}",
            (1usize..=1024).prop_map(|n| format!("/{}", "%".repeat(n - 1))),
            text(),
        ],
        now in now_s(),
        elapsed in 0i64..=LOGIN_TTL_S + 10,
        seed in any::<u64>(),
    ) {
        let key = cookie_key(SECRET);
        let state = LoginState::new(return_to, now, &mut Seeded::new(seed));
        let cookie = state.encode(&key);
        let read = LoginState::decode(&cookie, &key, now + elapsed);
        if safe_return_to(&state.return_to).is_none() && cookie.len() > 4096 {
            // Only a return path the server would never use may be too long for the cookie.
            prop_assert_eq!(read, Err(LoginStateError::Malformed));
        } else if elapsed < LOGIN_TTL_S {
            prop_assert_eq!(read.as_ref(), Ok(&state));
            let read = read.unwrap();
            prop_assert_eq!(read.state(&key), state.state(&key));
            prop_assert!(read.state_matches(&key, &state.state(&key)));
            prop_assert_eq!(read.nonce(&key), state.nonce(&key));
            prop_assert_eq!(read.verifier(&key), state.verifier(&key));
        } else {
            prop_assert_eq!(read, Err(LoginStateError::Expired));
        }
        if cookie.len() <= 4096 {
            prop_assert_eq!(
                LoginState::decode(&cookie, &cookie_key(OTHER_SECRET), now),
                Err(LoginStateError::BadSignature)
            );
        }
        let debug = format!("{state:?}");
        prop_assert!(!debug.contains(&state.state(&key)) && !debug.contains(&state.verifier(&key)));
    }

    #[test]
    fn a_changed_sign_in_cookie_is_refused(
        return_to in "/[a-z]{0,20}",
        now in now_s(),
        seed in any::<u64>(),
        at in any::<usize>(),
        with in prop_oneof![proptest::char::range('-', 'z'), proptest::sample::select(NASTY)],
    ) {
        let key = cookie_key(SECRET);
        let cookie = LoginState::new(return_to, now, &mut Seeded::new(seed)).encode(&key);
        let Some(changed) = replace_char(&cookie, at, with) else { return Ok(()) };
        prop_assert!(LoginState::decode(&changed, &key, now).is_err(), "{} was accepted", changed);
    }

    #[test]
    fn any_cookie_value_is_read_or_refused_without_panicking(
        value in prop_oneof![text(), after("eyJ"), "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_=-]{0,50}"],
        now in any::<i64>(),
    ) {
        prop_assert!(LoginState::decode(&value, &cookie_key(SECRET), now).is_err());
    }

    #[test]
    fn the_first_cookie_of_a_name_is_found(
        pairs in proptest::collection::vec(("[a-z_]{1,6}", "[!-:<-~]{0,10}"), 0..6),
        name in "[a-z_]{1,6}",
        junk in text(),
    ) {
        let header = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let expected = pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.trim());
        prop_assert_eq!(cookie_value(&header, &name), expected);
        let _ = cookie_value(&junk, &name);
        let _ = same_origin(Some(&junk), "https://auth.example.test");
    }

    #[test]
    fn session_values_and_csrf_tokens_are_recognised(
        seed in any::<u64>(),
        hash in "[0-9a-f]{64}",
        other in text(),
    ) {
        let sessions = tag_key(SECRET, KeyPurpose::Sessions);
        let value = new_session_value(&sessions, &mut Seeded::new(seed));
        prop_assert!(is_session_value(&value));
        prop_assert!(session_value_is_ours(&sessions, &value));
        prop_assert!(!session_value_is_ours(&tag_key(OTHER_SECRET, KeyPurpose::Sessions), &value));
        prop_assert!(!session_value_is_ours(&sessions, &other));
        let key = cookie_key(SECRET);
        let token = csrf_token(&key, &hash);
        prop_assert!(csrf_token_matches(&key, &hash, &token));
        prop_assert!(!csrf_token_matches(&cookie_key(OTHER_SECRET), &hash, &token));
        if other != token {
            prop_assert!(!csrf_token_matches(&key, &hash, &other));
        }
    }
}
