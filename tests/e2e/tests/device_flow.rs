//! The device authorization grant (RFC 8628) and refresh-token rotation on MAIN, over raw HTTP:
//! the person's part is a signed-in session posting the `/device` form as the page does.

use edgeauth_e2e::oidc::{sign_in, Session, DEMO};
use edgeauth_e2e::*;
use serde_json::Value;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn device_code(main: &Instance) -> Value {
    let body = main
        .post("/api/auth/device/code")
        .json(&serde_json::json!({"client_name": "e2e device"}))
        .send()
        .expect_json(200);
    assert_eq!(body["interval"], 5, "{body}");
    assert_eq!(body["expires_in"], 900, "{body}");
    body
}

fn poll(main: &Instance, device_code: &str) -> Response {
    main.post("/api/auth/token")
        .form(&[("grant_type", DEVICE_GRANT), ("device_code", device_code)])
        .send()
}

fn refresh(main: &Instance, refresh_token: &str) -> Response {
    main.post("/api/auth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
}

fn oauth_error(response: &Response) -> String {
    assert_eq!(response.status, 400, "{response}");
    response.json()["error"].as_str().unwrap_or("").to_owned()
}

/// The `/device` entry form's post (Continue) of a signed-in person: the guess.
fn submit_code(session: &Session, user_code: &str) -> Response {
    session
        .write("POST", "/device")
        .form(&[("user_code", user_code)])
        .send()
}

/// The `/device` form post of a signed-in person: `decision` is `approve` or `deny`.
fn decide(session: &Session, user_code: &str, decision: &str) -> Response {
    session
        .write("POST", "/device")
        .form(&[("user_code", user_code), ("decision", decision)])
        .send()
}

#[test]
fn a_device_login_polls_is_approved_refreshes_and_dies_on_reuse() {
    let main = Instance::main();
    let grant = device_code(&main);
    let code = grant["device_code"].as_str().unwrap().to_owned();
    let user_code = grant["user_code"].as_str().unwrap().to_owned();
    assert!(
        grant["verification_uri_complete"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/device?user_code={user_code}")),
        "{grant}"
    );

    // Before approval: pending, then slow_down for polling faster than the interval.
    assert_eq!(oauth_error(&poll(&main, &code)), "authorization_pending");
    assert_eq!(oauth_error(&poll(&main, &code)), "slow_down");

    // The person approves at /device: the link only fills the form; its Continue (a POST,
    // the guess) shows what is granted.
    let session = sign_in(&main, DEMO);
    let link = session
        .get(&format!("/device?user_code={user_code}"))
        .send();
    link.expect_status(200);
    assert!(
        link.text().contains(&format!("value=\"{user_code}\""))
            && !link.text().contains("e2e device"),
        "the link fills the field and shows no grant:\n{link}"
    );
    let page = submit_code(&session, &user_code.to_lowercase());
    page.expect_status(200);
    assert!(
        page.text().contains("e2e device") && page.text().contains(DEMO.email),
        "the confirmation names the client and the person:\n{page}"
    );
    let approved = decide(&session, &user_code, "approve");
    assert!(approved.status < 400, "{approved}");

    // The next poll (after the interval) gets the tokens, once.
    std::thread::sleep(std::time::Duration::from_secs(11));
    let tokens = poll(&main, &code).expect_json(200);
    assert_eq!(tokens["token_type"], "Bearer");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert!(access.starts_with("eaa_") && first_refresh.starts_with("ear_"));
    assert_eq!(
        oauth_error(&poll(&main, &code)),
        "invalid_grant",
        "one grant, one family"
    );

    // The access token is a credential of the person, in its project only.
    let whoami = main
        .get("/api/auth/whoami")
        .bearer(&access)
        .send()
        .expect_json(200);
    assert_eq!(whoami["kind"], "access", "{whoami}");
    let me = main
        .get("/api/users/me")
        .bearer(&access)
        .send()
        .expect_json(200);
    assert_eq!(me["email"], DEMO.email);
    assert_eq!(me["authenticated_by"], "access_token");
    main.get("/api/auth/whoami")
        .bearer(&access)
        .project("elsewhere")
        .send()
        .expect_invalid_token();
    // A refresh token is not a bearer credential.
    main.get("/api/auth/whoami")
        .bearer(&first_refresh)
        .send()
        .expect_invalid_token();

    // Refresh rotates. The spent token presented again at once (a client whose answer was
    // lost) gets the same successor; once that successor was used, presenting the spent token
    // is reuse, which revokes the whole family.
    let rotated = refresh(&main, &first_refresh).expect_json(200);
    let second_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh);
    let replayed = refresh(&main, &first_refresh).expect_json(200);
    assert_eq!(
        replayed["refresh_token"],
        second_refresh.as_str(),
        "a replay within the window gets the same successor"
    );
    let third_refresh = refresh(&main, &second_refresh).expect_json(200)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        oauth_error(&refresh(&main, &first_refresh)),
        "invalid_grant"
    );
    assert_eq!(
        oauth_error(&refresh(&main, &third_refresh)),
        "invalid_grant",
        "after a reuse, the newest token of the family is dead too"
    );

    // Storage holds hashes only.
    for secret in [
        &code,
        &access,
        &first_refresh,
        &second_refresh,
        &third_refresh,
    ] {
        assert!(
            store::files_containing(&main.persist_dir(), secret.as_bytes()).is_empty(),
            "a device-flow secret is stored in plaintext"
        );
    }
}

#[test]
fn a_denied_grant_answers_access_denied_and_logout_revokes_a_family() {
    let main = Instance::main();
    let session = sign_in(&main, DEMO);

    let denied = device_code(&main);
    let response = decide(&session, denied["user_code"].as_str().unwrap(), "deny");
    assert!(response.status < 400, "{response}");
    assert_eq!(
        oauth_error(&poll(&main, denied["device_code"].as_str().unwrap())),
        "access_denied"
    );

    let grant = device_code(&main);
    let approved = decide(&session, grant["user_code"].as_str().unwrap(), "approve");
    assert!(approved.status < 400, "{approved}");
    let tokens = poll(&main, grant["device_code"].as_str().unwrap()).expect_json(200);
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    main.post("/api/auth/revoke")
        .form(&[("token", refresh_token)])
        .send()
        .expect_status(200);
    assert_eq!(oauth_error(&refresh(&main, refresh_token)), "invalid_grant");
    // Revoking an unknown token answers the same (RFC 7009 §2.2).
    main.post("/api/auth/revoke")
        .form(&[("token", "ear_unknown")])
        .send()
        .expect_status(200);

    assert_eq!(
        oauth_error(&poll(&main, "not-a-device-code")),
        "invalid_grant"
    );
    let unsupported = main
        .post("/api/auth/token")
        .form(&[("grant_type", "password")])
        .send();
    assert_eq!(oauth_error(&unsupported), "unsupported_grant_type");
}

// User-code guessing limits are in device_login.rs, with a person of their own: the limit
// counts per user, so spending DEMO's attempts here would lock the other tests out.

#[test]
fn tokens_created_with_a_device_login_never_outlive_it_and_end_with_it() {
    // A device login's access token lives minutes; what it stands for is the device login.
    // Tokens it creates expire with the login at the latest, and are revoked with it, so a
    // stolen access token cannot be turned into a lasting credential.
    let main = Instance::main();
    let session = sign_in(&main, DEMO);
    let grant = main
        .post("/api/auth/device/code")
        .header("CF-Connecting-IP", "198.51.100.77")
        .json(&serde_json::json!({"client_name": "e2e parent login"}))
        .send()
        .expect_json(200);
    let user_code = grant["user_code"].as_str().expect("a user code");
    submit_code(&session, user_code).expect_status(200);
    decide(&session, user_code, "approve").expect_status(200);
    let tokens =
        poll(&main, grant["device_code"].as_str().expect("a device code")).expect_json(200);
    let access = tokens["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    let refresh_token = tokens["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    let login_ends = now_ms() + 30 * 24 * 60 * 60 * 1000;

    let user_token = main
        .post("/api/tokens")
        .bearer(&access)
        .json(&serde_json::json!({"name": "from a device login"}))
        .send()
        .expect_json(201);
    let service_token = main
        .post("/api/service-tokens")
        .bearer(&access)
        .json(&serde_json::json!({"name": "ci from a device login", "workspaces": ["*"]}))
        .send()
        .expect_json(201);
    for created in [&user_token, &service_token] {
        // Asked for no expiry; given the login's.
        let expires_at = parse_timestamp_ms(&created["expires_at"]);
        assert!(
            expires_at <= login_ends + 60_000 && expires_at > now_ms(),
            "capped at the device login's end: {created}"
        );
        let token = created["token"].as_str().expect("the plaintext");
        whoami(&main, token, "default").expect_json(200);
    }

    // A token created by such a token comes from the same login: it ends with it too
    // (otherwise two hops would turn a stolen access token into a lasting credential).
    let grandchild = main
        .post("/api/tokens")
        .bearer(user_token["token"].as_str().expect("the plaintext"))
        .json(&serde_json::json!({"name": "second generation"}))
        .send()
        .expect_json(201);
    let grandchild_service = main
        .post("/api/service-tokens")
        .bearer(service_token["token"].as_str().expect("the plaintext"))
        .json(&serde_json::json!({"name": "second generation ci", "workspaces": ["*"]}))
        .send()
        .expect_json(201);
    for created in [&grandchild, &grandchild_service] {
        let expires_at = parse_timestamp_ms(&created["expires_at"]);
        assert!(expires_at <= login_ends + 60_000, "capped too: {created}");
    }

    main.post("/api/auth/revoke")
        .form(&[("token", refresh_token.as_str())])
        .send()
        .expect_status(200);
    for created in [
        &user_token,
        &service_token,
        &grandchild,
        &grandchild_service,
    ] {
        let token = created["token"].as_str().expect("the plaintext");
        whoami(&main, token, "default").expect_invalid_token();
    }
    // And the ended login's access token (if it has not lapsed yet) creates nothing more.
    main.post("/api/tokens")
        .bearer(&access)
        .json(&serde_json::json!({"name": "after the end"}))
        .send()
        .expect_invalid_token();
}
