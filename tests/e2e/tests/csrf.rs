//! CSRF protection of cookie-authenticated writes, beyond SameSite: a state-changing request
//! that rides on the session cookie needs the server's own `Origin` *and* the session's CSRF
//! token; otherwise 403 `csrf_rejected` and nothing changes. Bearer credentials need neither
//! (a page on another origin cannot make a browser attach them).
//!
//! Another port on 127.0.0.1 is the same *site* as the instance, so SameSite=Lax cookies would
//! ride along on its requests: only the Origin and token checks stop it.

use edgeauth_e2e::oidc::{shared, sign_in, Session, UserToken, DEMO, SESSION_COOKIE};
use edgeauth_e2e::store;
use edgeauth_e2e::*;
use serde_json::json;

/// An origin on the same site (127.0.0.1) but another port.
const SAME_SITE_OTHER_ORIGIN: &str = "http://127.0.0.1:1";

fn demo() -> Session {
    sign_in(&Instance::main(), DEMO)
}

/// `POST /api/tokens` with the session cookie and exactly the given `Origin` and
/// `X-CSRF-Token` (absent when `None`).
fn create_with(
    session: &Session,
    origin: Option<&str>,
    csrf: Option<&str>,
    name: &str,
) -> Response {
    let mut request = session
        .instance
        .post("/api/tokens")
        .cookie(SESSION_COOKIE, &session.cookie)
        .json(&json!({ "name": name }));
    if let Some(origin) = origin {
        request = request.origin(origin);
    }
    if let Some(csrf) = csrf {
        request = request.header("X-CSRF-Token", csrf);
    }
    request.send()
}

fn assert_no_token_named(session: &Session, name: &str) {
    assert!(
        !session.list_tokens().iter().any(|t| t["name"] == name),
        "a refused request created the token {name}"
    );
    let stored = store::table_rows(&session.instance.persist_dir(), "user_tokens");
    assert!(
        !stored.iter().any(|r| r["name"] == name),
        "a refused request stored the token {name}"
    );
}

#[test]
fn the_csrf_token_is_per_session_and_of_the_documented_form() {
    let _writers = shared();
    let one = demo();
    let two = demo();
    for session in [&one, &two] {
        // base64url of 16 bytes.
        let unpadded = session.csrf_token.trim_end_matches('=');
        assert_eq!(unpadded.len(), 22, "{}", session.csrf_token);
        assert!(
            unpadded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{}",
            session.csrf_token
        );
    }
    assert_ne!(one.csrf_token, two.csrf_token);
}

#[test]
fn a_cookie_authenticated_write_needs_the_servers_origin_and_the_csrf_token() {
    let _writers = shared();
    let session = demo();
    let other_session = demo();
    let own_origin = session.instance.base_url().to_owned();
    let open_origin = Instance::open().base_url().to_owned();
    let token = session.csrf_token.clone();
    let with_slash = format!("{own_origin}/");
    let localhost = own_origin.replace("127.0.0.1", "localhost");
    let https = own_origin.replace("http:", "https:");
    let changed = tokens::change_char(&token, 3);
    let cases: Vec<(&str, Option<&str>, Option<&str>)> = vec![
        ("no Origin", None, Some(&token)),
        (
            "a same-site foreign Origin",
            Some(SAME_SITE_OTHER_ORIGIN),
            Some(&token),
        ),
        (
            "another instance's Origin",
            Some(&open_origin),
            Some(&token),
        ),
        ("Origin null", Some("null"), Some(&token)),
        ("the origin with a path", Some(&with_slash), Some(&token)),
        ("localhost for 127.0.0.1", Some(&localhost), Some(&token)),
        ("https for http", Some(&https), Some(&token)),
        ("no X-CSRF-Token", Some(&own_origin), None),
        ("an empty X-CSRF-Token", Some(&own_origin), Some("")),
        (
            "another session's token",
            Some(&own_origin),
            Some(&other_session.csrf_token),
        ),
        ("a changed token", Some(&own_origin), Some(&changed)),
        ("the token's prefix", Some(&own_origin), Some(&token[..21])),
        ("neither", None, None),
    ];
    for (what, origin, csrf) in cases {
        let name = unique("csrf-refused");
        let response = create_with(&session, origin, csrf, &name);
        assert_eq!(response.status, 403, "{what}: expected 403:\n{response}");
        response.assert_error_body("csrf_rejected");
        assert_no_token_named(&session, &name);
    }

    let name = unique("csrf-ok");
    let response = create_with(&session, Some(&own_origin), Some(&token), &name);
    UserToken::from_creation(&response);
    assert!(session
        .list_tokens()
        .iter()
        .any(|t| t["name"] == name.as_str()));
}

#[test]
fn revoking_and_logging_out_are_protected_too() {
    let _writers = shared();
    let session = demo();
    let project = unique("csrfrevoke");
    let created = session.create_token(&project, &json!({"name": "keep"}));
    let main = Instance::main();

    let response = main
        .delete(&format!("/api/tokens/{}", created.id))
        .cookie(SESSION_COOKIE, &session.cookie)
        .origin(SAME_SITE_OTHER_ORIGIN)
        .header("X-CSRF-Token", &session.csrf_token)
        .send();
    response.expect_error(403, "csrf_rejected");
    let response = main
        .delete(&format!("/api/tokens/{}", created.id))
        .cookie(SESSION_COOKIE, &session.cookie)
        .origin(main.base_url())
        .send();
    response.expect_error(403, "csrf_rejected");
    whoami(&main, &created.token, &project).expect_json(200);

    // Logout by a cross-origin form: refused, the session lives on.
    let response = main
        .post("/api/auth/logout")
        .cookie(SESSION_COOKIE, &session.cookie)
        .origin(SAME_SITE_OTHER_ORIGIN)
        .form(&[("csrf_token", &session.csrf_token)])
        .send();
    response.expect_error(403, "csrf_rejected");
    let response = main
        .post("/api/auth/logout")
        .cookie(SESSION_COOKIE, &session.cookie)
        .origin(main.base_url())
        .form(&[("csrf_token", "wrong")])
        .send();
    response.expect_error(403, "csrf_rejected");
    let response = main
        .post("/api/auth/logout")
        .cookie(SESSION_COOKIE, &session.cookie)
        .origin(main.base_url())
        .send();
    response.expect_error(403, "csrf_rejected");
    assert!(session.stored().is_some(), "the session survives");
    session.me();
}

#[test]
fn logout_by_form_post_with_the_csrf_field_signs_out_here_and_at_the_provider() {
    let _writers = shared();
    let session = demo();
    let main = Instance::main();
    let response = main
        .post("/api/auth/logout")
        .cookie(SESSION_COOKIE, &session.cookie)
        .origin(main.base_url())
        .form(&[("csrf_token", &session.csrf_token)])
        .send();
    response.expect_status(303);
    // On to the provider's end-session endpoint, which sends the browser back to /account.
    let location = response.location();
    let idp = main.identity_provider();
    assert!(
        location.starts_with(&format!("{}/session/end?", idp.base_url())),
        "{response}"
    );
    let back = edgeauth_e2e::oidc::encode(&format!("{}/account", main.base_url()));
    assert!(
        location.ends_with(&format!("post_logout_redirect_uri={back}")),
        "{response}"
    );
    let cleared = response.expect_set_cookie(SESSION_COOKIE);
    assert!(cleared.clears(), "{}", cleared.raw);
    assert!(session.stored().is_none(), "the session is deleted");
    session.get("/api/users/me").send().expect_status(401);
}

#[test]
fn the_csrf_field_is_only_for_form_posts() {
    // A JSON body cannot smuggle the token as a field: JSON requests use the header.
    let _writers = shared();
    let session = demo();
    let name = unique("csrf-field");
    let response = session
        .instance
        .post("/api/tokens")
        .cookie(SESSION_COOKIE, &session.cookie)
        .origin(session.instance.base_url())
        .json(&json!({"name": name, "csrf_token": session.csrf_token}))
        .send();
    response.expect_error(403, "csrf_rejected");
    assert_no_token_named(&session, &name);
}

#[test]
fn bearer_credentials_need_no_csrf_token() {
    let _writers = shared();
    let session = demo();
    let project = unique("csrfbearer");
    let main = Instance::main();
    let created = session.create_token(&project, &json!({"name": "bearer"}));

    // No Origin, no token; then a foreign Origin: a bearer is not ambient, so no CSRF.
    let child = main
        .post("/api/tokens")
        .bearer(&created.token)
        .project(&project)
        .json(&json!({"name": "child"}))
        .send();
    UserToken::from_creation(&child);
    let child = main
        .post("/api/tokens")
        .bearer(&created.token)
        .project(&project)
        .origin(SAME_SITE_OTHER_ORIGIN)
        .json(&json!({"name": "child-2"}))
        .send();
    let child = UserToken::from_creation(&child);
    main.delete(&format!("/api/tokens/{}", child.id))
        .bearer(&created.token)
        .project(&project)
        .send()
        .expect_status(204);

    // The bearer wins over a cookie beside it: no CSRF check either.
    let response = main
        .post("/api/tokens")
        .bearer(&created.token)
        .cookie(SESSION_COOKIE, &session.cookie)
        .project(&project)
        .json(&json!({"name": "child-3"}))
        .send();
    UserToken::from_creation(&response);

    // Super and service tokens neither.
    mint_service_token(&main, &super_token(), &project, "svc", &["*"]);
}

#[test]
fn reads_with_the_cookie_need_no_csrf_token() {
    let _writers = shared();
    let session = demo();
    session.get("/api/tokens").send().expect_json(200);
    session.get("/api/users/me").send().expect_json(200);
    session
        .get("/api/auth/whoami")
        .origin(SAME_SITE_OTHER_ORIGIN)
        .send()
        .expect_json(200);
}

#[test]
fn a_write_check_answered_for_the_session_cookie_needs_the_csrf_rules_too() {
    // `GET /api/auth/check?access=write` is safe by method, but an API that forwards a
    // browser's cookies to it must not hear "yes" for a request another site made.
    let _writers = shared();
    let session = demo();
    let own_origin = session.instance.base_url().to_owned();
    let check = |origin: Option<&str>, csrf: Option<&str>| {
        let mut request = session
            .instance
            .get("/api/auth/check?workspace=production/eu&access=write")
            .cookie(SESSION_COOKIE, &session.cookie);
        if let Some(origin) = origin {
            request = request.origin(origin);
        }
        if let Some(csrf) = csrf {
            request = request.header("X-CSRF-Token", csrf);
        }
        request.send()
    };
    for (origin, csrf) in [
        (None, None),
        (
            Some(SAME_SITE_OTHER_ORIGIN),
            Some(session.csrf_token.as_str()),
        ),
        (Some(own_origin.as_str()), None),
        (Some(own_origin.as_str()), Some("not-the-token")),
    ] {
        let response = check(origin, csrf);
        response.expect_error(403, "csrf_rejected");
    }
    let allowed = check(Some(&own_origin), Some(&session.csrf_token)).expect_json(200);
    assert_eq!(allowed["allowed"], true, "{allowed}");
    assert_eq!(allowed["kind"], "session", "{allowed}");
    // A read check needs no CSRF token (it answers what anyone may read), and a bearer
    // credential needs none for a write check.
    session
        .instance
        .get("/api/auth/check?workspace=production/eu&access=read")
        .cookie(SESSION_COOKIE, &session.cookie)
        .send()
        .expect_json(200);
    session
        .instance
        .get("/api/auth/check?workspace=production/eu&access=write")
        .bearer(&super_token())
        .origin(SAME_SITE_OTHER_ORIGIN)
        .send()
        .expect_json(200);
}
