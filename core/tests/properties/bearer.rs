//! `bearer`: the credential of an `Authorization` header or a `bearer.` WebSocket subprotocol.

use edgeauth_core::bearer::{
    from_authorization, from_websocket_protocols, BearerError, MAX_CREDENTIAL_LEN,
    WEBSOCKET_PROTOCOL_PREFIX,
};
use edgeauth_core::encoding::base64url_encode;
use proptest::prelude::*;

use crate::strategies::{after, cases, over, text};

/// Credentials: what clients send (printable ASCII), Unicode, and lengths around the limit.
fn credential() -> impl Strategy<Value = String> {
    prop_oneof![
        "[!-~]{1,80}",
        text(),
        (MAX_CREDENTIAL_LEN - 3..MAX_CREDENTIAL_LEN + 4).prop_map(|n| "t".repeat(n)),
        (MAX_CREDENTIAL_LEN - 3..MAX_CREDENTIAL_LEN + 4)
            .prop_map(|n| format!("é{}", "t".repeat(n - 2))),
    ]
}

fn acceptable(token: &str) -> bool {
    !token.is_empty() && !token.contains(|c: char| c.is_whitespace() || c.is_control())
}

/// The `Bearer` scheme in any case.
fn scheme() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), 6).prop_map(|upper| {
        "bearer"
            .chars()
            .zip(upper)
            .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn an_authorization_header_yields_one_clean_credential_or_an_error(
        value in prop_oneof![
            text(),
            after("Bearer "),
            after("bearer  "),
            over("Bearer \t\u{a0}x,=", 20),
        ],
    ) {
        if let Ok(token) = from_authorization(&value) {
            prop_assert!(acceptable(token), "{:?}", token);
            prop_assert!(token.len() <= MAX_CREDENTIAL_LEN);
            prop_assert!(value.contains(token));
            let (scheme, _) = value.split_once(' ').unwrap();
            prop_assert!(scheme.eq_ignore_ascii_case("bearer"));
        }
    }

    #[test]
    fn a_bearer_header_round_trips(
        scheme in scheme(),
        spaces in 1usize..4,
        trailing in 0usize..3,
        token in credential(),
    ) {
        // Spaces around the token belong to the header, not the token.
        let token = token.trim_matches(' ').to_owned();
        let header = format!("{scheme}{}{token}{}", " ".repeat(spaces), " ".repeat(trailing));
        let expected = if !acceptable(&token) {
            Err(BearerError::Malformed)
        } else if token.len() > MAX_CREDENTIAL_LEN {
            Err(BearerError::TooLong)
        } else {
            Ok(token.as_str())
        };
        prop_assert_eq!(from_authorization(&header), expected);
    }

    #[test]
    fn other_schemes_are_never_read_as_bearer(
        scheme in "[A-Za-z]{1,10}",
        token in "[!-~]{1,20}",
    ) {
        prop_assume!(!scheme.eq_ignore_ascii_case("bearer"));
        let header = format!("{scheme} {token}");
        prop_assert_eq!(from_authorization(&header), Err(BearerError::NotBearer));
    }

    #[test]
    fn a_websocket_protocol_list_yields_one_clean_credential_or_an_error(
        value in prop_oneof![
            text(),
            after("bearer."),
            after("chat, bearer."),
            over("bearer.ZWFzX3g=, \t-_", 40),
            ("[!-~]{1,60}", "(chat, )?", "(, chat)?").prop_map(|(t, before, after)| {
                format!("{before}bearer.{}{after}", base64url_encode(t.as_bytes()))
            }),
        ],
    ) {
        match from_websocket_protocols(&value) {
            None => prop_assert!(!value.contains(WEBSOCKET_PROTOCOL_PREFIX)),
            Some(Ok(token)) => {
                prop_assert!(acceptable(&token), "{:?}", token);
                prop_assert!(token.len() <= MAX_CREDENTIAL_LEN, "{} bytes", token.len());
            }
            Some(Err(_)) => {}
        }
    }

    #[test]
    fn both_carriers_accept_the_same_credentials(
        token in credential(),
        before in proptest::sample::select(vec!["", "chat, ", "a,b , ", "  "]),
        after in proptest::sample::select(vec!["", ", chat", " ,x"]),
        padded in any::<bool>(),
    ) {
        let mut encoded = base64url_encode(token.as_bytes());
        if padded {
            encoded.push_str(&"=".repeat((4 - encoded.len() % 4) % 4));
        }
        let protocols = format!("{before}{WEBSOCKET_PROTOCOL_PREFIX}{encoded}{after}");
        let from_header = from_authorization(&format!("Bearer {token}")).map(str::to_owned);
        let from_protocol = from_websocket_protocols(&protocols).expect("a bearer. protocol");
        // The same credential is read, or refused, whichever way a client sends it.
        prop_assume!(token.trim_matches(' ') == token, "a header cannot carry surrounding spaces");
        prop_assert_eq!(
            from_protocol.is_ok(),
            from_header.is_ok(),
            "{} bytes: {:?}",
            token.len(),
            from_protocol
        );
        if let Ok(t) = from_protocol {
            prop_assert_eq!(&t, &token);
        }
        if token.len() > MAX_CREDENTIAL_LEN && acceptable(&token) {
            let header = format!("Bearer {token}");
            prop_assert_eq!(from_authorization(&header), Err(BearerError::TooLong));
        }
    }
}
