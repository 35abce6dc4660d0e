//! `oidc`: the provider's discovery document, JWKS and token response, the ID token as a
//! compact JWS, and the requests edgeauth writes to the provider.

use std::net::Ipv6Addr;

use edgeauth_core::encoding::{base64url_decode, base64url_encode};
use edgeauth_core::id_token::IdTokenAlg;
use edgeauth_core::oidc::{
    authorization_url, client_secret_basic, discovery_url, parse_discovery, parse_jwks,
    parse_token_response, split_jws, AuthorizationRequest, TokenResponseError, DISCOVERY_PATH,
    MAX_ID_TOKEN_LEN,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use url::{Host, Url};

use crate::strategies::{cases, form_pairs, json, object_with, over, query_values, text};

const ISSUER: &str = "https://idp.example.test";

/// Endpoint URLs, good and bad: schemes, hosts (loopback and not), userinfo, ports, fragments.
fn endpoint() -> impl Strategy<Value = String> {
    let scheme = proptest::sample::select(vec![
        "https://", "https://", "http://", "HTTPS://", "ftp://", "",
    ]);
    let host = proptest::sample::select(vec![
        "idp.example.test",
        "idp.example.test",
        "127.0.0.1",
        "[::1]",
        "localhost",
        "127.0.0.+1",
        "127.1",
        "evil.test@127.0.0.1",
        "[::1",
        "",
        "[::1]x",
        "idp.example.test:",
    ]);
    let port = prop_oneof![
        Just(String::new()),
        (0u32..70_000).prop_map(|p| format!(":{p}")),
        over(":+-0a", 4)
    ];
    let rest = prop_oneof![
        Just(String::new()),
        "(/[a-z0-9._-]{0,8}){1,3}(\\?[a-z]{1,4}=[a-z0-9]{0,4})?",
        over("/?#@\\ %a\u{e9}", 8),
    ];
    prop_oneof![
                12 => proptest::sample::select(vec![
            "https://idp.example.test/authorize",
            "https://idp.example.test:8443/token?tenant=a",
            "https://idp.example.test",
            "http://127.0.0.1:8788/jwks",
            "http://[::1]:8788/token",
            "http://localhost/auth",
        ]).prop_map(str::to_owned),
        4 => (scheme, host, port, rest).prop_map(|(s, h, p, r)| format!("{s}{h}{p}{r}")),
        1 => text(),
    ]
}

/// A discovery document: mostly well formed, with any member replaced or missing.
fn discovery() -> impl Strategy<Value = Value> {
    (
        object_with(vec![
            (
                "authorization_endpoint",
                endpoint().prop_map(Value::from).boxed(),
            ),
            ("token_endpoint", endpoint().prop_map(Value::from).boxed()),
            ("jwks_uri", endpoint().prop_map(Value::from).boxed()),
        ]),
        prop_oneof![6 => Just(Some(json!(ISSUER))), 1 => json().prop_map(Some), 1 => Just(None)],
        proptest::option::weighted(
            0.3,
            prop_oneof![
                Just(json!(["S256"])),
                Just(json!(["plain"])),
                Just(json!("S256")),
                json(),
            ],
        ),
    )
        .prop_map(|(mut doc, issuer, methods)| {
            let object = doc.as_object_mut().unwrap();
            if let Some(issuer) = issuer {
                object.insert("issuer".into(), issuer);
            }
            if let Some(methods) = methods {
                object.insert("code_challenge_methods_supported".into(), methods);
            }
            doc
        })
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => *ip == Ipv6Addr::LOCALHOST,
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
    }
}

fn b64(v: &Value) -> String {
    base64url_encode(&serde_json::to_vec(v).unwrap())
}

fn jws_like() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        2 => json().prop_map(|v| b64(&v)),
        2 => Just(b64(&json!({"alg": "RS256", "kid": "k1"}))),
        1 => Just(b64(&json!({"alg": "ES256", "crit": ["b64"]}))),
        1 => over("eyJAZaz09-_=+/", 12),
        1 => proptest::collection::vec(any::<u8>(), 0..80).prop_map(|b| base64url_encode(&b)),
    ];
    let object = proptest::collection::vec((text(), json()), 0..4)
        .prop_map(|members| b64(&Value::Object(members.into_iter().collect())));
    let header = (
        proptest::sample::select(vec!["RS256", "ES256", "none"]),
        proptest::option::of(json()),
        proptest::option::of(json()),
    )
        .prop_map(|(alg, kid, crit)| {
            let mut h = json!({ "alg": alg });
            if let Some(kid) = kid {
                h["kid"] = kid;
            }
            if let Some(crit) = crit {
                h["crit"] = crit;
            }
            b64(&h)
        });
    let signature =
        proptest::collection::vec(any::<u8>(), 1..300).prop_map(|b| base64url_encode(&b));
    prop_oneof![
        6 => proptest::collection::vec(part, 1..6).prop_map(|p| p.join(".")),
        4 => (header, object, signature).prop_map(|(h, c, s)| format!("{h}.{c}.{s}")),
        1 => text(),
        1 => (MAX_ID_TOKEN_LEN - 60..MAX_ID_TOKEN_LEN + 2).prop_map(|n| {
            format!("{}.{}.{}", b64(&json!({"alg": "RS256"})), "e".repeat(n - 50), "sig")
        }),
    ]
}

/// A JWK: each member absent, plausible, or anything.
fn jwk() -> impl Strategy<Value = Value> {
    let big = |bytes: std::ops::Range<usize>| {
        proptest::collection::vec(any::<u8>(), bytes)
            .prop_map(|b| Value::from(base64url_encode(&b)))
    };
    // An RSA modulus: its top bit set, perhaps after a leading zero byte.
    let modulus = |bytes: std::ops::Range<usize>| {
        (proptest::collection::vec(any::<u8>(), bytes), any::<bool>()).prop_map(|(mut b, zero)| {
            b[0] |= 0x80;
            if zero {
                b.insert(0, 0);
            }
            Value::from(base64url_encode(&b))
        })
    };
    prop_oneof![
        1 => json(),
        4 => (
            proptest::sample::select(vec!["RSA", "RSA", "EC", "EC", "oct", "OKP"]),
            proptest::option::of(proptest::sample::select(vec!["sig", "sig", "enc"])),
            proptest::option::of(proptest::sample::select(vec!["RS256", "ES256", "HS256", "none"])),
            proptest::option::of(proptest::sample::select(vec!["k1", "k2"])),
            prop_oneof![
                4 => modulus(256..260),
                1 => modulus(1024..1026),
                1 => big(250..260),
                1 => big(0..3),
                1 => json(),
            ],
            prop_oneof![4 => Just(Value::from("AQAB")), 1 => big(0..10), 1 => json()],
            prop_oneof![4 => big(32..33), 1 => big(31..34), 1 => json()],
            proptest::sample::select(vec!["P-256", "P-384"]),
        ).prop_map(|(kty, use_, alg, kid, n, e, xy, crv)| {
            let mut k = Map::new();
            k.insert("kty".into(), kty.into());
            if let Some(u) = use_ { k.insert("use".into(), u.into()); }
            if let Some(a) = alg { k.insert("alg".into(), a.into()); }
            if let Some(i) = kid { k.insert("kid".into(), i.into()); }
            k.insert("n".into(), n);
            k.insert("e".into(), e);
            k.insert("x".into(), xy.clone());
            k.insert("y".into(), xy);
            k.insert("crv".into(), crv.into());
            Value::Object(k)
        }),
    ]
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn an_accepted_discovery_document_names_only_safe_endpoints(
        doc in prop_oneof![4 => discovery(), 1 => json()],
        raw in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let _ = parse_discovery(&raw, ISSUER);
        let body = serde_json::to_vec(&doc).unwrap();
        let Ok(meta) = parse_discovery(&body, ISSUER) else { return Ok(()) };
        prop_assert_eq!(&doc["issuer"], ISSUER);
        if let Some(methods) = doc.get("code_challenge_methods_supported") {
            prop_assert!(methods.as_array().is_some_and(|m| m.contains(&json!("S256"))));
        }
        for endpoint in [&meta.authorization_endpoint, &meta.token_endpoint, &meta.jwks_uri] {
            prop_assert!(endpoint.bytes().all(|b| b.is_ascii_graphic()) && !endpoint.contains('#'));
            // As any HTTP client reads it: https, or http to a loopback host; no credentials.
            let Ok(url) = Url::parse(endpoint) else { continue };
            prop_assert!(url.username().is_empty() && url.password().is_none(), "{}", endpoint);
            prop_assert_eq!(url.fragment(), None);
            match url.scheme() {
                "https" => {}
                "http" => prop_assert!(
                    url.host().is_some_and(|h| is_loopback(&h)),
                    "{} is not loopback",
                    endpoint
                ),
                other => prop_assert!(false, "{} has scheme {}", endpoint, other),
            }
        }
    }

    #[test]
    fn the_discovery_url_is_below_the_issuer(issuer in prop_oneof![
        "https://[a-z.]{1,12}(/[a-z]{1,6}){0,2}/?",
        text(),
    ]) {
        let url = discovery_url(&issuer);
        prop_assert!(url.starts_with(issuer.trim_end_matches('/')));
        prop_assert!(url.ends_with(DISCOVERY_PATH));
        let doubled = format!("/{DISCOVERY_PATH}");
        prop_assert!(!url.contains(&doubled));
    }

    #[test]
    fn a_split_jws_is_three_canonical_parts_with_an_alg(token in jws_like()) {
        let Ok(jws) = split_jws(&token) else { return Ok(()) };
        prop_assert!(token.len() <= MAX_ID_TOKEN_LEN);
        let parts: Vec<&str> = token.split('.').collect();
        prop_assert_eq!(parts.len(), 3);
        let signing_input = format!("{}.{}", parts[0], parts[1]);
        prop_assert_eq!(jws.signing_input(), signing_input.as_bytes());
        prop_assert_eq!(base64url_encode(jws.signature()), parts[2]);
        let header: Value = serde_json::from_slice(&base64url_decode(parts[0]).unwrap()).unwrap();
        prop_assert_eq!(&header["alg"], jws.alg());
        prop_assert!(header.get("crit").is_none());
        prop_assert!(jws.claims().is_object());
        if parts[2].len() >= 16 {
            let debug = format!("{jws:?}");
            prop_assert!(!debug.contains(parts[2]));
        }
    }

    #[test]
    fn a_jws_of_any_claims_splits_back_to_them(
        claims in proptest::collection::vec((text(), json()), 0..6),
        kid in proptest::option::of(text()),
        signature in proptest::collection::vec(any::<u8>(), 1..300),
    ) {
        let claims = Value::Object(claims.into_iter().collect());
        let mut header = json!({"alg": "RS256"});
        if let Some(kid) = &kid {
            header["kid"] = json!(kid);
        }
        let token = format!("{}.{}.{}", b64(&header), b64(&claims), base64url_encode(&signature));
        prop_assume!(token.len() <= MAX_ID_TOKEN_LEN);
        let jws = split_jws(&token).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Compared with the claims as JSON reads them back (a float may not survive exactly).
        let read_back: Value =
            serde_json::from_slice(&serde_json::to_vec(&claims).unwrap()).unwrap();
        prop_assert_eq!(jws.claims(), &read_back);
        prop_assert_eq!(jws.alg(), "RS256");
        prop_assert_eq!(jws.kid(), kid.as_deref());
        prop_assert_eq!(jws.signature(), signature.as_slice());
    }

    #[test]
    fn a_jwks_keeps_only_usable_verification_keys(
        keys in proptest::collection::vec(jwk(), 0..5),
        raw in proptest::collection::vec(any::<u8>(), 0..64),
        kid in proptest::option::of(proptest::sample::select(vec!["k1", "k2", "k3"])),
    ) {
        let _ = parse_jwks(&raw);
        let body = serde_json::to_vec(&json!({"keys": keys})).unwrap();
        let Ok(jwks) = parse_jwks(&body) else { return Ok(()) };
        prop_assert!(!jwks.keys().is_empty());
        for key in jwks.keys() {
            let jwk = key.import_jwk();
            match key.alg {
                IdTokenAlg::Rs256 => {
                    prop_assert_eq!(&jwk["kty"], "RSA");
                    let len = key.signature_len();
                    prop_assert!((256..=1024).contains(&len), "{}", len);
                }
                IdTokenAlg::Es256 => {
                    prop_assert_eq!(&jwk["kty"], "EC");
                    prop_assert_eq!(&jwk["crv"], "P-256");
                    prop_assert_eq!(key.signature_len(), 64);
                }
            }
            // The key was published for signatures with this algorithm, or said nothing.
            let published = keys.iter().find(|k| {
                k["kid"].as_str() == key.kid.as_deref() && k["kty"] == jwk["kty"]
            });
            prop_assert!(published.is_some());
        }
        for alg in [IdTokenAlg::Rs256, IdTokenAlg::Es256] {
            if let Some(selected) = jwks.select(alg, kid) {
                prop_assert_eq!(selected.alg, alg);
                if kid.is_some() {
                    prop_assert_eq!(selected.kid.as_deref(), kid);
                }
            }
        }
    }

    #[test]
    fn a_token_response_gives_an_id_token_or_a_safe_error(
        status in prop_oneof![Just(200u16), Just(400), Just(401), any::<u16>()],
        body in prop_oneof![
            json(),
            object_with(vec![
                ("id_token", prop_oneof![
                    "eyJ[A-Za-z0-9._-]{10,40}".prop_map(Value::from),
                    text().prop_map(Value::from),
                ].boxed()),
                ("error", prop_oneof![
                    Just(Value::from("invalid_grant")),
                    "[a-z_]{1,70}".prop_map(Value::from),
                    text().prop_map(Value::from),
                ].boxed()),
                (
                    "error_description",
                    Just(Value::from("secret-looking \u{2603} description")).boxed(),
                ),
            ]),
        ],
        raw in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let _ = parse_token_response(status, &raw);
        match parse_token_response(status, &serde_json::to_vec(&body).unwrap()) {
            Ok(id_token) => {
                prop_assert!((200..300).contains(&status));
                prop_assert_eq!(Some(id_token.id_token.as_str()), body["id_token"].as_str());
                prop_assert!(!id_token.id_token.is_empty());
            }
            Err(TokenResponseError::Rejected { error }) => {
                prop_assert!(status == 400 || status == 401);
                prop_assert!(!error.is_empty() && error.len() <= 64);
                let code_chars =
                    |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b);
                prop_assert!(error.bytes().all(code_chars), "{}", error);
            }
            Err(TokenResponseError::Unusable(problem)) => {
                prop_assert!(!problem.0.contains('\u{2603}'), "{}", problem);
            }
        }
    }

    #[test]
    fn the_authorization_url_carries_each_parameter_once_as_given(
        endpoint in prop_oneof![
            "https://idp\\.example\\.test(/[a-z]{1,6}){0,2}",
            "https://idp\\.example\\.test/auth\\?([a-z_%0-9]{1,14}=[a-z0-9]{0,3}&?){1,4}",
            (proptest::sample::select(vec![
                "state", "%73tate", "st%61te", "nonce", "client_id", "scope", "%63lient_id",
                "response_type", "re%73ponse_type", "redirect_uri", "keep", "code_challenge",
            ]), "[a-z0-9]{0,3}")
                .prop_map(|(n, v)| format!("https://idp.example.test/auth?{n}={v}&x=1")),
        ],
        fragment in proptest::option::of("[a-z]{0,4}"),
        client_id in text(),
        redirect_uri in text(),
        scopes in proptest::collection::vec("[!-~]{1,8}", 0..4),
        state in text(),
        nonce in text(),
        code_challenge in text(),
    ) {
        let endpoint = match fragment {
            Some(f) => format!("{endpoint}#{f}"),
            None => endpoint,
        };
        let request = AuthorizationRequest {
            client_id: &client_id,
            redirect_uri: &redirect_uri,
            scopes: &scopes,
            state: &state,
            nonce: &nonce,
            code_challenge: &code_challenge,
            prompt: None,
        };
        let built = authorization_url(&endpoint, &request);
        let url = Url::parse(&built).map_err(|e| TestCaseError::fail(format!("{built}: {e}")))?;
        prop_assert_eq!(url.fragment(), None);
        let scope = scopes.join(" ");
        for (name, value) in [
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", scope.as_str()),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", code_challenge.as_str()),
            ("code_challenge_method", "S256"),
        ] {
            prop_assert_eq!(
                query_values(&url, name),
                vec![value.to_owned()],
                "{} in {}",
                name,
                built
            );
        }
    }

    #[test]
    fn the_token_request_body_reads_back_as_four_parameters(
        code in text(),
        redirect_uri in text(),
        verifier in text(),
    ) {
        let body = edgeauth_core::oidc::token_request_body(&code, &redirect_uri, &verifier);
        prop_assert_eq!(form_pairs(&body), vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code),
            ("redirect_uri".to_owned(), redirect_uri),
            ("code_verifier".to_owned(), verifier),
        ]);
    }

    #[test]
    fn client_secret_basic_reads_back_as_the_id_and_secret(id in text(), secret in text()) {
        let header = client_secret_basic(&id, &secret);
        let encoded = header.strip_prefix("Basic ").expect("the Basic scheme");
        let url_safe: String = encoded.trim_end_matches('=').chars()
            .map(|c| match c { '+' => '-', '/' => '_', c => c }).collect();
        let decoded = String::from_utf8(base64url_decode(&url_safe).unwrap()).unwrap();
        // RFC 6749 §2.3.1: each form-urlencoded, so the first `:` separates them.
        let (i, s) = decoded.split_once(':').unwrap();
        let decode = |t: &str| form_pairs(&format!("v={t}")).remove(0).1;
        prop_assert_eq!(decode(i), id);
        prop_assert_eq!(decode(s), secret);
    }
}
