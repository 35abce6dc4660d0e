//! `loopback`: the CLI's redirect URI is always exactly loopback http with a port, whatever a
//! browser makes of it, and the code and state appended to it are read back unambiguously.

use std::net::{Ipv4Addr, Ipv6Addr};

use edgeauth_core::loopback::{LoopbackHost, LoopbackRedirect, MAX_REDIRECT_LEN};
use proptest::prelude::*;
use url::{Host, Url};

use crate::strategies::{after, cases, over, query_values, text};

/// Characters of a path or query, legal or not.
const URI_SOUP: &str = "ab/?&=;:@%2e5CcodestaError.-_~!$'()*+,#\\ <>\"`{}|^\t\u{a0}é";

fn host() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(vec![
        "127.0.0.1",
        "[::1]",
        "127.0.0.1",
        "[::1]",
        "localhost",
        "127.1",
        "127.0.0.01",
        "0x7f000001",
        "[::ffff:127.0.0.1]",
        "127.0.0.1.evil.test",
        "evil.test@127.0.0.1",
        "127.0.0.1@evil.test",
        "[::1]@evil.test",
        "",
    ])
}

fn port() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (1u32..=65535).prop_map(|p| p.to_string()),
        1 => (0u32..100_000).prop_map(|p| p.to_string()),
        1 => over("0123456789+-: %", 6),
    ]
}

fn path_and_query() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => concat!(
            "(/[a-zA-Z0-9._~!$&'()*+,;=:@-]{0,10}){1,4}",
            "(\\?([a-z_]{1,6}(=[a-zA-Z0-9%]{0,6})?&?){0,4})?",
        ),
        2 => over(URI_SOUP, 30).prop_map(|s| format!("/{s}")),
        1 => over(URI_SOUP, 30),
        2 => proptest::collection::vec((query_name(), "(=[a-z0-9%]{0,4})?"), 1..4)
            .prop_map(|pairs| {
                let query: Vec<String> =
                    pairs.into_iter().map(|(n, v)| format!("{n}{v}")).collect();
                format!("/cb?{}", query.join("&"))
            }),
    ]
}

/// Parameter names, the reserved ones among them, spelled as a client's parser might decode them.
fn query_name() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(vec![
        "code", "state", "error", "%63ode", "c%6Fde", "%73tate", "st%61te", "%65rror", "Code",
        "codex", "x", "", "co+de",
    ])
}

/// URIs that are nearly loopback redirects, and arbitrary text.
fn redirect_like() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (
            proptest::sample::select(vec![
                "http://", "http://", "HTTP://", "https://", "http:/", "//", "http:\\\\",
            ]),
            host(),
            proptest::sample::select(vec![":", ":", ":", "", "::"]),
            port(),
            path_and_query(),
        )
            .prop_map(|(scheme, host, colon, port, rest)| {
                format!("{scheme}{host}{colon}{port}{rest}")
            }),
        1 => after("http://127.0.0.1:"),
        1 => text(),
        1 => (MAX_REDIRECT_LEN - 22..MAX_REDIRECT_LEN - 18)
            .prop_map(|n| format!("http://127.0.0.1:80/{}", "a".repeat(n))),
    ]
}

/// A code or state value: anything, so that escaping is exercised.
fn value() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z0-9_-]{43}", text()]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn an_accepted_redirect_is_exactly_loopback_http_with_a_port(uri in redirect_like()) {
        let Ok(r) = LoopbackRedirect::parse(&uri) else { return Ok(()) };
        prop_assert_eq!(r.as_str(), uri.as_str());
        prop_assert_eq!(r.to_string(), uri.clone());
        prop_assert!(uri.len() <= MAX_REDIRECT_LEN);
        let host = match r.host() {
            LoopbackHost::V4 => "127.0.0.1",
            LoopbackHost::V6 => "[::1]",
        };
        prop_assert!(r.port() >= 1);
        let origin = format!("http://{host}:{}/", r.port());
        prop_assert!(uri.starts_with(&origin), "{} does not start with {}", uri, origin);
        // What a browser (WHATWG URL) makes of it: the same loopback host and port, no
        // credentials, no fragment.
        let url = Url::parse(&uri).map_err(|e| TestCaseError::fail(format!("{uri}: {e}")))?;
        prop_assert_eq!(url.scheme(), "http");
        let expected_host = match r.host() {
            LoopbackHost::V4 => Host::Ipv4(Ipv4Addr::LOCALHOST),
            LoopbackHost::V6 => Host::Ipv6(Ipv6Addr::LOCALHOST),
        };
        prop_assert_eq!(url.host(), Some(expected_host));
        prop_assert_eq!(url.port_or_known_default(), Some(r.port()));
        prop_assert_eq!(url.username(), "");
        prop_assert_eq!(url.password(), None);
        prop_assert_eq!(url.fragment(), None);
        prop_assert!(url.path().starts_with('/'));
    }

    #[test]
    fn well_formed_redirects_are_accepted_with_their_host_and_port(
        v6 in any::<bool>(),
        port in 1u16..=65535,
        rest in "(/[a-zA-Z0-9._~-]{0,10}){1,3}(\\?[a-z]{1,4}=[a-z0-9]{0,4})?",
    ) {
        let host = if v6 { "[::1]" } else { "127.0.0.1" };
        let uri = format!("http://{host}:{port}{rest}");
        let r = LoopbackRedirect::parse(&uri).map_err(TestCaseError::fail)?;
        prop_assert_eq!(r.port(), port);
        prop_assert_eq!(r.host(), if v6 { LoopbackHost::V6 } else { LoopbackHost::V4 });
    }

    #[test]
    fn the_port_is_a_canonical_number_from_1_to_65535(port in port()) {
        let accepted = LoopbackRedirect::parse(&format!("http://127.0.0.1:{port}/cb")).is_ok();
        let canonical = port.parse::<u16>().is_ok_and(|p| p >= 1 && p.to_string() == port);
        prop_assert_eq!(accepted, canonical, "port {:?}", port);
    }

    #[test]
    fn the_code_and_state_appended_are_the_only_ones_a_client_reads(
        uri in redirect_like(),
        code in value(),
        state in value(),
        error in value(),
    ) {
        let Ok(r) = LoopbackRedirect::parse(&uri) else { return Ok(()) };
        let with_code = r.with_code(&code, &state);
        prop_assert!(with_code.starts_with(r.as_str()));
        let url = Url::parse(&with_code)
            .map_err(|e| TestCaseError::fail(format!("{with_code}: {e}")))?;
        prop_assert_eq!(url.port_or_known_default(), Some(r.port()));
        prop_assert_eq!(url.fragment(), None);
        prop_assert_eq!(query_values(&url, "code"), vec![code]);
        prop_assert_eq!(query_values(&url, "state"), vec![state.clone()]);
        prop_assert!(query_values(&url, "error").is_empty(), "{}", with_code);

        let with_error = r.with_error(&error, &state);
        let url = Url::parse(&with_error)
            .map_err(|e| TestCaseError::fail(format!("{with_error}: {e}")))?;
        prop_assert_eq!(query_values(&url, "error"), vec![error]);
        prop_assert_eq!(query_values(&url, "state"), vec![state]);
        prop_assert!(query_values(&url, "code").is_empty(), "{}", with_error);
    }
}
