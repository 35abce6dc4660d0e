//! Presented credentials that are not valid: forged, mistyped, truncated, foreign, odd
//! headers. Every one is a 401 with `error="invalid_token"` (never a 5xx, never silently
//! anonymous), and no answer echoes what was presented (checked on every response by the
//! client in `edgeauth_e2e::http`).

use edgeauth_e2e::tokens::{
    assert_service_token_shape, change_char, checksum_is_valid, forged_token, reseal,
    CHECKSUM_CHARS, ENTROPY_CHARS, SERVICE_TOKEN_LEN, TAG_CHARS,
};
use edgeauth_e2e::*;

/// Presents `authorization` (a raw `Authorization` header value) to the endpoints that must
/// refuse it, and checks each answer is the contract's 401 for an invalid token.
fn assert_refused_everywhere(instance: &Instance, project: &str, authorization: &[u8], what: &str) {
    assert_refused(instance, project, authorization, what, true);
}

/// Like [`assert_refused_everywhere`]; with `invalid_token` false, any 401 `unauthorized`
/// will do (an empty credential may count as a missing one, whose challenge has no error=).
fn assert_refused(
    instance: &Instance,
    project: &str,
    authorization: &[u8],
    what: &str,
    invalid_token: bool,
) {
    let requests = [
        instance.get("/api/auth/whoami"),
        instance.get("/api/auth/capabilities"),
        instance.get("/api/service-tokens"),
        instance
            .post("/api/service-tokens")
            .json(&service_token_body("forged", &["*"])),
    ];
    for request in requests {
        let response = request
            .project(project)
            .header("Authorization", authorization)
            .send();
        response.assert_not_5xx();
        assert_eq!(response.status, 401, "{what} must be refused:\n{response}");
        if invalid_token {
            response.expect_invalid_token();
        } else {
            response.expect_error(401, "unauthorized");
        }
    }
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

#[test]
fn mistyped_and_forged_service_tokens_are_401() {
    let main = Instance::main();
    let project = unique("forged");
    let real = mint_service_token(&main, &super_token(), &project, "real", &["*"]).token;
    assert_service_token_shape(&real);
    whoami(&main, &real, &project).expect_json(200);

    let entropy_at = 4 + ENTROPY_CHARS / 2;
    let tag_at = 4 + ENTROPY_CHARS + TAG_CHARS / 2;
    let checksum_at = SERVICE_TOKEN_LEN - CHECKSUM_CHARS / 2;
    let forged_entropy = reseal(&change_char(&real, entropy_at));
    let forged_tag = reseal(&change_char(&real, tag_at));
    assert!(checksum_is_valid(&forged_entropy) && checksum_is_valid(&forged_tag));

    let cases: Vec<(&str, String)> = vec![
        (
            "one entropy character changed",
            change_char(&real, entropy_at),
        ),
        ("one tag character changed", change_char(&real, tag_at)),
        (
            "one checksum character changed",
            change_char(&real, checksum_at),
        ),
        ("truncated by one", real[..real.len() - 1].to_owned()),
        ("truncated to the display prefix", real[..12].to_owned()),
        ("truncated to half", real[..real.len() / 2].to_owned()),
        ("one extra character", format!("{real}a")),
        ("a space inside", format!("{} {}", &real[..30], &real[30..])),
        ("wrong prefix", real.replacen("eas_", "eax_", 1)),
        (
            "wrong prefix, resealed",
            reseal(&real.replacen("eas_", "eax_", 1)),
        ),
        (
            "user-token prefix, resealed",
            reseal(&real.replacen("eas_", "eau_", 1)),
        ),
        ("upper-case prefix", real.replacen("eas_", "EAS_", 1)),
        ("lower-cased", real.to_lowercase()),
        ("new entropy with a valid checksum", forged_entropy),
        ("new tag with a valid checksum", forged_tag),
        (
            "punctuation in the body",
            reseal(&format!("{}-{}", &real[..20], &real[21..])),
        ),
        (
            "a well-formed user token nobody issued",
            forged_token("eau_", 'Q'),
        ),
        (
            "a well-formed refresh token used as a bearer",
            forged_token("ear_", 'R'),
        ),
        ("a 10 KB token", format!("eas_{}", "a".repeat(10 * 1024))),
        ("a 10 KB opaque string", "z".repeat(10 * 1024)),
    ];
    for (what, token) in &cases {
        assert_refused_everywhere(&main, &project, &bearer(token), what);
    }

    // None of that disturbed the real token.
    whoami(&main, &real, &project).expect_json(200);
}

#[test]
fn a_token_from_another_deployment_is_401() {
    // HASHED has a different SECRET: its tokens' tags do not verify on MAIN, and back.
    let main = Instance::main();
    let hashed = Instance::hashed();
    let project = unique("foreign");
    let from_hashed = mint_service_token(&hashed, &super_token(), &project, "h", &["*"]).token;
    let from_main = mint_service_token(&main, &super_token(), &project, "m", &["*"]).token;
    assert_refused_everywhere(
        &main,
        &project,
        &bearer(&from_hashed),
        "HASHED's token on MAIN",
    );
    assert_refused_everywhere(
        &hashed,
        &project,
        &bearer(&from_main),
        "MAIN's token on HASHED",
    );
    whoami(&hashed, &from_hashed, &project).expect_json(200);
}

#[test]
fn malformed_authorization_headers_are_401() {
    let main = Instance::main();
    let project = unique("headers");
    let super_b64 = base64_standard(&format!("super:{}", super_token()));
    for (what, header) in [
        ("an empty bearer", &b"Bearer "[..]),
        ("a bare scheme", b"Bearer"),
        ("only spaces", b"Bearer    "),
    ] {
        assert_refused(&main, &project, header, what, false);
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a Basic credential",
            format!("Basic {super_b64}").into_bytes(),
        ),
        (
            "the super token without a scheme",
            super_token().into_bytes(),
        ),
        (
            "a Token scheme",
            format!("Token {}", super_token()).into_bytes(),
        ),
        (
            "non-ASCII bytes",
            b"Bearer \xc3\xa9\xff\xfe\x80garbage\xe2\x82\xac".to_vec(),
        ),
        (
            "non-ASCII token text",
            "Bearer eas_ünïcödé-🚀".as_bytes().to_vec(),
        ),
    ];
    for (what, header) in &cases {
        assert_refused_everywhere(&main, &project, header, what);
    }
}

#[test]
fn two_authorization_headers_are_not_silently_merged() {
    // One valid and one invalid credential: the server must not pick the valid one.
    let response = Instance::main()
        .get("/api/auth/whoami")
        .header("Authorization", "Bearer not-a-valid-token-at-all")
        .bearer(&super_token())
        .send();
    response.assert_not_5xx();
    assert!(
        response.status == 401 || response.status == 400,
        "conflicting credentials must be refused:\n{response}"
    );
}

#[test]
fn the_bearer_scheme_is_case_insensitive_and_spacing_tolerant() {
    // RFC 7235 §2.1: the auth-scheme is case-insensitive, and `1*SP` separates it from the
    // credentials (RFC 6750 §2.1 likewise), so these are all the super token.
    let main = Instance::main();
    for prefix in ["bearer ", "BEARER ", "BeArEr ", "Bearer  "] {
        let me = main
            .get("/api/auth/whoami")
            .header("Authorization", format!("{prefix}{}", super_token()))
            .send()
            .expect_json(200);
        assert_eq!(me["kind"], "super", "{prefix:?}: {me}");
    }
}

fn base64_standard(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
