//! Browser sign-in through the local identity provider, walked without a browser: the
//! authorization request, the callback's checks in the documented order (each refusal with
//! its status and `error`, and no session stored), users keyed by (issuer, subject), the
//! session cookie, key rotation, and logout. The ID tokens a hostile provider could send are
//! made by the provider's test hooks (idp/README.md).
//!
//! Tests that count rows hold `oidc::exclusive()`; every other test that signs in holds
//! `oidc::shared()`, so that no sign-in lands between a count and its recount.

use edgeauth_e2e::http::SetCookie;
use edgeauth_e2e::loopback::{query_param, target_of};
use edgeauth_e2e::oidc::{
    self, authorize, authorize_as, begin, count, exclusive, rotate_key, session_from, shared,
    sign_in, tamper, user_row, AtTheProvider, Callback, ProviderBrowser, DEMO, LOGIN_COOKIE,
    MEMBER, OUTSIDER, SESSION_COOKIE, UNVERIFIED,
};
use edgeauth_e2e::store;
use edgeauth_e2e::tokens::{change_char, sha256_hex};
use edgeauth_e2e::*;
use serde_json::{json, Value};
use url::Url;

const SESSION_TTL_S: i64 = 7 * 24 * 60 * 60;
const LOGIN_TTL_S: i64 = 10 * 60;

fn now_s() -> i64 {
    now_ms() / 1000
}

/// `Location` as a path on `instance` (a redirect may be written relative or absolute).
fn local_location(instance: &Instance, response: &Response) -> String {
    let location = response.location();
    location
        .strip_prefix(instance.base_url())
        .unwrap_or(location)
        .to_owned()
}

/// `Max-Age` of a cookie, or the seconds until its `Expires`.
fn lifetime_s(cookie: &SetCookie) -> i64 {
    if let Some(age) = cookie.attribute("max-age") {
        return age
            .parse()
            .unwrap_or_else(|_| panic!("bad Max-Age: {}", cookie.raw));
    }
    let expires = cookie
        .attribute("expires")
        .unwrap_or_else(|| panic!("a persistent cookie has Max-Age or Expires: {}", cookie.raw));
    let at = time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc2822)
        .unwrap_or_else(|e| panic!("bad Expires ({e}): {}", cookie.raw));
    at.unix_timestamp() - now_s()
}

/// The documented attributes of a cookie on a loopback http origin.
fn assert_cookie_attributes(cookie: &SetCookie, path: &str, ttl_s: i64) {
    assert!(cookie.has_flag("httponly"), "HttpOnly: {}", cookie.raw);
    assert_eq!(
        cookie.attribute("samesite").map(str::to_ascii_lowercase),
        Some("lax".into()),
        "SameSite=Lax: {}",
        cookie.raw
    );
    assert_eq!(cookie.attribute("path"), Some(path), "{}", cookie.raw);
    assert!(
        !cookie.has_flag("secure"),
        "no Secure on a loopback http origin (the browser would drop the cookie): {}",
        cookie.raw
    );
    assert!(
        cookie.attribute("domain").is_none(),
        "host-only cookie, no Domain: {}",
        cookie.raw
    );
    let lifetime = lifetime_s(cookie);
    assert!(
        (ttl_s - 60..=ttl_s).contains(&lifetime),
        "lifetime {lifetime} s, documented {ttl_s} s: {}",
        cookie.raw
    );
}

fn assert_no_session_cookie(response: &Response) {
    let set = response
        .set_cookies()
        .into_iter()
        .any(|c| c.name == SESSION_COOKIE && !c.clears() && !c.value.is_empty());
    assert!(
        !set,
        "a refused sign-in sets no session cookie:\n{response}"
    );
}

fn base64url_len_of_256_bits(value: &str, what: &str) {
    assert!(
        value.len() >= 43
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{what} carries at least 256 bits (43 base64url characters): {value:?}"
    );
}

// ---- Success ----------------------------------------------------------------------------

#[test]
fn the_login_redirect_is_a_pkce_authorization_request_with_a_login_cookie() {
    let _writers = shared();
    let main = Instance::main();
    let start = begin(&main, Some("/account"));
    let param = |name: &str| {
        start
            .param(name)
            .unwrap_or_else(|| panic!("no {name} in {}", start.authorize_url))
    };
    let discovery = Instance::idp()
        .get("/.well-known/openid-configuration")
        .send()
        .expect_json(200);
    let endpoint = discovery["authorization_endpoint"].as_str().unwrap();
    assert!(
        start
            .authorize_url
            .as_str()
            .starts_with(&format!("{endpoint}?")),
        "goes to the discovered authorization_endpoint {endpoint}: {}",
        start.authorize_url
    );
    assert_eq!(param("response_type"), "code");
    assert_eq!(param("client_id"), oidc::CLIENT_ID);
    assert_eq!(
        param("redirect_uri"),
        format!("{}/api/auth/callback", main.base_url())
    );
    let scopes = param("scope");
    for scope in ["openid", "email", "groups"] {
        assert!(
            scopes.split(' ').any(|s| s == scope),
            "scope {scope}: {scopes}"
        );
    }
    assert_eq!(param("code_challenge_method"), "S256");
    let challenge = param("code_challenge");
    assert_eq!(challenge.len(), 43, "S256 challenge: {challenge}");
    base64url_len_of_256_bits(&param("state"), "state");
    base64url_len_of_256_bits(&param("nonce"), "nonce");
    assert_ne!(param("state"), param("nonce"));

    let cookie = start.response.expect_set_cookie(LOGIN_COOKIE);
    // Path=/ (not the callback's path), as the `__Host-` prefix it carries on https needs.
    assert_cookie_attributes(&cookie, "/", LOGIN_TTL_S);
    for secret in [param("state"), param("nonce")] {
        assert!(
            !cookie.value.contains(&secret),
            "the cookie holds a secret state and nonce are derived from, not them: {}",
            cookie.raw
        );
    }

    // Each sign-in is its own: fresh state, nonce, challenge and cookie.
    let again = begin(&main, Some("/account"));
    for name in ["state", "nonce", "code_challenge"] {
        assert_ne!(again.param(name), start.param(name), "{name} is fresh");
    }
    assert_ne!(again.login_cookie, start.login_cookie);
}

#[test]
fn signing_in_sets_a_session_and_returns_to_the_page() {
    let _writers = shared();
    let main = Instance::main();
    let return_to = "/api/users/me?from=e2e";
    let start = begin(&main, Some(return_to));
    let callback = authorize(&main, &start, AtTheProvider::SignIn(DEMO));
    assert_eq!(callback.state, start.param("state"), "state comes back");
    assert_eq!(
        callback.iss.as_deref(),
        Some(oidc::issuer().as_str()),
        "RFC 9207 iss"
    );
    let code = callback.code.clone().expect("a code");

    let response = callback.finish();
    response.expect_status(303);
    assert_eq!(local_location(&main, &response), return_to, "{response}");
    let cookie = response.expect_set_cookie(SESSION_COOKIE);
    assert_cookie_attributes(&cookie, "/", SESSION_TTL_S);
    base64url_len_of_256_bits(&cookie.value, "the session cookie");
    let cleared = response.expect_set_cookie(LOGIN_COOKIE);
    assert!(
        cleared.clears(),
        "edgeauth_login is cleared: {}",
        cleared.raw
    );
    assert_eq!(cleared.attribute("path"), Some("/"));
    assert!(
        !response.text().contains(&code),
        "the answer does not echo the code"
    );

    let session = session_from(&main, DEMO, &response);

    // D1 holds the hash of the cookie, never the cookie.
    let row = session
        .stored()
        .expect("a sessions row keyed by the SHA-256 of the cookie");
    assert_eq!(row["session_hash"], sha256_hex(&session.cookie).as_str());
    for table in ["sessions", "users"] {
        for stored in store::table_rows(&main.persist_dir(), table) {
            assert!(
                !stored
                    .values()
                    .any(|v| v.as_str().is_some_and(|s| s.contains(&session.cookie))),
                "{table} holds the cookie value: {stored:?}"
            );
        }
    }
    let expires_at = row["expires_at"].as_i64().expect("expires_at");
    assert_near_ms(
        "session expires_at",
        expires_at,
        now_ms() + SESSION_TTL_S * 1000,
        5 * 60 * 1000,
    );

    // The user, keyed by (issuer, subject), with what the ID token said.
    let user = user_row(&main, DEMO.username).expect("a users row for (issuer, demo)");
    assert_eq!(row["user_id"], user["id"]);
    assert_eq!(user["email"], DEMO.email);
    assert_eq!(user["name"], DEMO.name);
    let teams: Value = serde_json::from_str(user["teams"].as_str().expect("teams text")).unwrap();
    assert_eq!(teams, json!(DEMO.teams));

    // The cookie is a credential.
    let me = session.me();
    assert_eq!(me["id"], user["id"], "{me}");
    assert!(me["id"].as_str().unwrap().starts_with("usr_"), "{me}");
    assert_eq!(me["email"], DEMO.email, "{me}");
    assert_eq!(me["name"], DEMO.name, "{me}");
    assert_eq!(me["teams"], json!(DEMO.teams), "{me}");
    assert_eq!(me["issuer"], oidc::issuer().as_str(), "{me}");
    assert_eq!(me["authenticated_by"], "session", "{me}");
    assert_eq!(me["token_id"], Value::Null, "{me}");
    assert_eq!(me["project"], "default", "{me}");

    let whoami = session.get("/api/auth/whoami").send().expect_json(200);
    assert_eq!(whoami["kind"], "session", "{whoami}");
    assert_eq!(whoami["project"], "default", "{whoami}");
    let capabilities = session
        .get("/api/auth/capabilities")
        .send()
        .expect_json(200);
    assert_eq!(capabilities["signed_in"], true, "{capabilities}");
    assert_eq!(capabilities["kind"], "session", "{capabilities}");
}

#[test]
fn return_to_defaults_to_the_account_page() {
    let _writers = shared();
    let main = Instance::main();
    let callback = authorize_as(&main, DEMO, None);
    let response = callback.finish();
    response.expect_status(303);
    assert_eq!(local_location(&main, &response), "/account", "{response}");
}

#[test]
fn a_second_sign_in_reuses_the_user_and_starts_another_session() {
    let _writers = shared();
    let main = Instance::main();
    let first = sign_in(&main, DEMO);
    let second = sign_in(&main, DEMO);
    assert_ne!(
        first.cookie, second.cookie,
        "each sign-in has its own session"
    );
    assert_ne!(
        first.csrf_token, second.csrf_token,
        "and its own CSRF token"
    );
    assert_eq!(
        first.me()["id"],
        second.me()["id"],
        "one person, one user id"
    );
    let issuer = oidc::issuer();
    let rows: Vec<_> = store::table_rows(&main.persist_dir(), "users")
        .into_iter()
        .filter(|u| u["issuer"] == issuer.as_str() && u["subject"] == DEMO.username)
        .collect();
    assert_eq!(
        rows.len(),
        1,
        "exactly one user per (issuer, subject): {rows:?}"
    );
    assert!(first.stored().is_some() && second.stored().is_some());
}

#[test]
fn without_an_allow_list_an_outsider_may_sign_in() {
    let _writers = shared();
    let open = Instance::open();
    let session = sign_in(&open, OUTSIDER);
    let me = session.me();
    assert_eq!(me["email"], OUTSIDER.email, "{me}");
    assert_eq!(me["teams"], json!(OUTSIDER.teams), "{me}");
    assert!(user_row(&open, OUTSIDER.username).is_some());
}

#[test]
fn a_session_is_valid_only_on_the_instance_that_made_it() {
    let _writers = shared();
    let session = sign_in(&Instance::main(), DEMO);
    let open = Instance::open();
    // Another deployment (its own D1 and SECRET): the cookie is unknown there, so ignored.
    let response = open
        .get("/api/auth/whoami")
        .cookie(SESSION_COOKIE, &session.cookie)
        .send();
    response.expect_status(401);
    let capabilities = open
        .get("/api/auth/capabilities")
        .cookie(SESSION_COOKIE, &session.cookie)
        .send()
        .expect_json(200);
    assert_eq!(capabilities["signed_in"], false, "{capabilities}");
}

#[test]
fn a_bearer_credential_wins_over_the_session_cookie() {
    let _writers = shared();
    let main = Instance::main();
    let session = sign_in(&main, DEMO);
    let whoami = session
        .get("/api/auth/whoami")
        .bearer(&super_token())
        .send()
        .expect_json(200);
    assert_eq!(whoami["kind"], "super", "{whoami}");
    // An invalid bearer is refused even with a good cookie beside it.
    session
        .get("/api/auth/whoami")
        .bearer(&tokens::forged_user_token('Q'))
        .send()
        .expect_invalid_token();
}

#[test]
fn a_stale_session_cookie_is_ignored_not_refused() {
    // Alone: it writes to D1 behind the Worker's back (see edgeauth_e2e::store).
    let _alone = exclusive();
    let main = Instance::main();
    // A cookie nobody issued, and one that expired: both make the request anonymous.
    let unknown = format!("{}A", "x".repeat(64));
    let response = main
        .get("/api/auth/capabilities")
        .cookie(SESSION_COOKIE, &unknown)
        .send();
    assert_eq!(response.expect_json(200)["signed_in"], false);
    main.get("/api/auth/whoami")
        .cookie(SESSION_COOKIE, &unknown)
        .send()
        .expect_status(401);

    let session = sign_in(&main, DEMO);
    session.me();
    let aged = store::set_integer(
        &main.persist_dir(),
        "sessions",
        "expires_at",
        now_ms() - 1000,
        "session_hash",
        &session.hash(),
    );
    assert_eq!(aged, 1, "the session row was aged");
    // The instance remembers what it verified for at most the revocation bound.
    within_the_revocation_bound("an aged session anonymous", || {
        let capabilities = session
            .get("/api/auth/capabilities")
            .send()
            .expect_json(200);
        capabilities["signed_in"] == false
    });
    let capabilities = session
        .get("/api/auth/capabilities")
        .send()
        .expect_json(200);
    assert_eq!(
        capabilities["signed_in"], false,
        "an expired session is anonymous: {capabilities}"
    );
    session.get("/api/users/me").send().expect_status(401);
}

// ---- Key rotation -------------------------------------------------------------------------

#[test]
fn a_token_re_signed_by_the_provider_is_accepted_also_with_a_newly_published_key() {
    // Alone: it renames demo for a moment (the name is refreshed at every sign-in).
    let _alone = exclusive();
    let main = Instance::main();

    // The control for every tampering refusal below: a token rebuilt and re-signed by the
    // hooks with the provider's own key is accepted, and its claims are the ones used.
    let renamed = unique("Demo Renamed");
    let callback = authorize_as(&main, DEMO, None);
    tamper(
        callback.code.as_deref().unwrap(),
        json!({"claims": {"name": renamed}}),
    );
    let session = session_from(&main, DEMO, &callback.finish());
    assert_eq!(session.me()["name"], renamed.as_str());

    // The Worker holds the provider's keys from before the rotation now; a token signed with
    // a key published after it must make the Worker fetch the JWKS again. It does so for an
    // unknown key only when its copy is 10 s old (made-up keys cannot make it hammer the
    // provider): 10 s after the rotation, its copy is either older or has the new key.
    let kid = rotate_key();
    assert!(oidc::published_kids().contains(&kid));
    std::thread::sleep(std::time::Duration::from_millis(10_500));
    let rotated = unique("Demo Rotated");
    let callback = authorize_as(&main, DEMO, None);
    tamper(
        callback.code.as_deref().unwrap(),
        json!({"key": kid, "claims": {"name": rotated}}),
    );
    let session = session_from(&main, DEMO, &callback.finish());
    assert_eq!(
        session.me()["name"],
        rotated.as_str(),
        "the token signed with the new key is the one that signed in"
    );

    // Back to the provider's own claims.
    let session = sign_in(&main, DEMO);
    assert_eq!(session.me()["name"], DEMO.name);
}

// ---- Logout -------------------------------------------------------------------------------

#[test]
fn logout_deletes_the_session_server_side() {
    let _writers = shared();
    let main = Instance::main();
    let session = sign_in(&main, DEMO);
    let other = sign_in(&main, DEMO);
    assert!(session.stored().is_some());

    let response = session.write("POST", "/api/auth/logout").send();
    response.expect_status(204);
    let cleared = response.expect_set_cookie(SESSION_COOKIE);
    assert!(cleared.clears(), "the cookie is cleared: {}", cleared.raw);
    assert_eq!(cleared.attribute("path"), Some("/"));

    assert!(session.stored().is_none(), "the sessions row is deleted");
    session.get("/api/users/me").send().expect_status(401);
    let capabilities = session
        .get("/api/auth/capabilities")
        .send()
        .expect_json(200);
    assert_eq!(capabilities["signed_in"], false);
    // Only that session: the same person's other session lives on.
    assert_eq!(other.me()["email"], DEMO.email);

    // Idempotent: logging out again (the cookie is now unknown, so anonymous) is the same.
    session
        .write("POST", "/api/auth/logout")
        .send()
        .expect_status(204);
}

/// Signing out from the account page's form ends the session at the identity provider too
/// (OIDC RP-Initiated Logout): the provider's own session no longer signs the same person in
/// again, so the next sign-in can be another account. Before, "Sign in" after "Sign out"
/// silently signed the same person back in.
#[test]
fn signing_out_lets_another_account_sign_in_next() {
    let _writers = shared();
    let main = Instance::main();
    let idp = main.identity_provider();
    let mut browser = ProviderBrowser::default();
    let (callback, asked) =
        browser.authorize(&main, &begin(&main, None), AtTheProvider::SignIn(DEMO));
    assert!(asked, "the first sign-in shows the provider's login form");
    let signed_in = callback.finish();
    let demo = session_from(&main, DEMO, &signed_in);
    // The ID token, sealed, in a cookie only /api/auth/logout receives.
    let id_token_cookie = signed_in.expect_set_cookie("edgeauth_id_token");
    assert_eq!(id_token_cookie.attribute("path"), Some("/api/auth/logout"));
    assert!(
        !id_token_cookie.value.contains("eyJ"),
        "sealed, not the JWT itself: {}",
        id_token_cookie.raw
    );
    // While the provider's session lives, it signs DEMO in again without asking.
    let (callback, asked) =
        browser.authorize(&main, &begin(&main, None), AtTheProvider::SignIn(MEMBER));
    assert!(!asked, "the provider's session answers by itself");
    let again = session_from(&main, DEMO, &callback.finish());
    assert_eq!(again.me()["email"], DEMO.email);

    // The account page's Sign out: a form post, answered 303 to the provider's end-session
    // endpoint, naming the client and where to come back.
    let response = demo
        .write("POST", "/api/auth/logout")
        .cookie("edgeauth_id_token", &id_token_cookie.value)
        .form(&[("csrf_token", demo.csrf_token.as_str())])
        .send();
    response.expect_status(303);
    assert!(response.expect_set_cookie(SESSION_COOKIE).clears());
    let location = Url::parse(response.location()).expect("an absolute Location");
    assert_eq!(
        format!("{}://{}", location.scheme(), location.authority()),
        idp.base_url(),
        "{response}"
    );
    assert_eq!(
        query_param(&location, "client_id").as_deref(),
        Some(oidc::CLIENT_ID)
    );
    let back = format!("{}/account", main.base_url());
    assert_eq!(
        query_param(&location, "post_logout_redirect_uri").as_deref(),
        Some(back.as_str())
    );
    // The session's own ID token as `id_token_hint` (from its sealed cookie, which only
    // /api/auth/logout receives), issued to this client for DEMO.
    let hint = query_param(&location, "id_token_hint").expect("an id_token_hint");
    let claims = jwt_claims(&hint);
    assert_eq!(claims["aud"], oidc::CLIENT_ID, "{claims}");
    assert_eq!(claims["sub"], DEMO.username, "{claims}");
    let cleared = response.expect_set_cookie("edgeauth_id_token");
    assert!(cleared.clears(), "{}", cleared.raw);
    demo.get("/api/users/me").send().expect_status(401);
    // The account page's CSP lets its sign-out form go there (Chromium applies form-action
    // to the redirect).
    let page = again.get("/account").accept_html().send();
    let csp = page
        .header("Content-Security-Policy")
        .expect("a CSP")
        .to_owned();
    assert!(
        csp.contains(&format!("form-action 'self' {};", idp.base_url())),
        "{csp}"
    );

    // The provider asks to confirm; Yes ends its session and sends the browser back.
    let confirm = browser.send(idp.get(&target_of(&location)));
    confirm.expect_status(200);
    let page = confirm.text();
    let (action, mut fields) =
        oidc::hidden_form(&page).unwrap_or_else(|| panic!("no confirmation form:\n{page}"));
    fields.push(("logout".into(), "yes".into()));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let action = location.join(&action).expect("a form action");
    let done = browser.send(idp.post(&target_of(&action)).form(&fields));
    assert!(matches!(done.status, 302 | 303), "{done}");
    assert_eq!(done.location(), back, "{done}");

    // The next sign-in shows the provider's login form: another person signs in.
    let (callback, asked) =
        browser.authorize(&main, &begin(&main, None), AtTheProvider::SignIn(MEMBER));
    assert!(
        asked,
        "signed out at the provider, the person is asked who they are"
    );
    let member = session_from(&main, MEMBER, &callback.finish());
    assert_eq!(member.me()["email"], MEMBER.email);
}

/// `?prompt=select_account` asks the provider to let the person choose the account: its
/// `select_account` when it lists one, else `login` (the local provider lists `login`), so
/// even a live provider session shows the login form. Any other `prompt` is a 400.
#[test]
fn sign_in_with_another_account_asks_the_provider_to_choose() {
    let _writers = shared();
    let main = Instance::main();
    let mut browser = ProviderBrowser::default();
    let (callback, _) = browser.authorize(&main, &begin(&main, None), AtTheProvider::SignIn(DEMO));
    session_from(&main, DEMO, &callback.finish());

    let response = main
        .get("/api/auth/login?return_to=%2Faccount&prompt=select_account")
        .send();
    response.expect_status(302);
    let authorize_url = Url::parse(response.location()).expect("an absolute Location");
    assert_eq!(
        query_param(&authorize_url, "prompt").as_deref(),
        Some("login")
    );
    let start = oidc::LoginStart {
        authorize_url,
        login_cookie: response.expect_set_cookie(LOGIN_COOKIE).value,
        response,
    };
    let (callback, asked) = browser.authorize(&main, &start, AtTheProvider::SignIn(MEMBER));
    assert!(asked, "the provider asks again despite its session");
    let member = session_from(&main, MEMBER, &callback.finish());
    assert_eq!(member.me()["email"], MEMBER.email);

    main.get("/api/auth/login?prompt=none")
        .send()
        .expect_error(400, "bad_request");
}

// ---- Refusals -----------------------------------------------------------------------------

/// Runs `attempt` alone and asserts the documented refusal: the status and `error`, no
/// session cookie, no new row in `sessions` or `users`, and no user's sign-in recorded.
fn refused(instance: &Instance, attempt: impl FnOnce() -> Response, status: u16, code: &str) {
    let sessions = count(instance, "sessions");
    let users = count(instance, "users");
    let since = now_ms();
    let response = attempt();
    response.expect_error(status, code);
    assert_no_session_cookie(&response);
    assert_eq!(
        count(instance, "sessions"),
        sessions,
        "a refused sign-in stores no session"
    );
    assert_eq!(
        count(instance, "users"),
        users,
        "a refused sign-in stores no user"
    );
    let touched: Vec<_> = store::table_rows(&instance.persist_dir(), "users")
        .into_iter()
        .filter(|u| u["last_login_at"].as_i64().unwrap_or(0) >= since)
        .collect();
    assert!(
        touched.is_empty(),
        "a refused sign-in updates no user: {touched:?}"
    );
}

/// Demo signs in on MAIN; the provider issues the ID token `spec` describes for that code.
fn refused_id_token(spec: Value, status: u16, code: &str) {
    let _alone = exclusive();
    let main = Instance::main();
    let callback = authorize_as(&main, DEMO, None);
    tamper(callback.code.as_deref().expect("a code"), spec);
    refused(&main, || callback.finish(), status, code);
}

fn demo_callback(instance: &Instance) -> Callback {
    authorize_as(instance, DEMO, None)
}

#[test]
fn a_callback_without_the_login_cookie_is_login_expired() {
    let _alone = exclusive();
    let main = Instance::main();
    let callback = demo_callback(&main);
    refused(
        &main,
        || callback.finish_with(&callback.target, None),
        400,
        "login_expired",
    );
    // And the same as a page for a browser.
    let response = main.get(&callback.target).accept_html().send();
    response.expect_html_error(400, "login_expired");
    assert_no_session_cookie(&response);
}

#[test]
fn a_forged_login_cookie_is_login_expired() {
    let _alone = exclusive();
    let main = Instance::main();
    let callback = demo_callback(&main);
    let cookie = &callback.login_cookie;
    // Not the last character: in base64 it may carry only padding bits, so changing it can
    // leave the decoded bytes as they were.
    for forged in [
        change_char(cookie, 2),
        change_char(cookie, cookie.len() / 2),
        change_char(cookie, cookie.len() - 2),
        format!("{cookie}x"),
        "garbage".to_owned(),
        String::new(),
    ] {
        refused(
            &main,
            || callback.finish_with(&callback.target, Some(&forged)),
            400,
            "login_expired",
        );
    }
}

#[test]
fn a_login_cookie_of_another_instance_is_refused() {
    let _alone = exclusive();
    let main = Instance::main();
    let private = Instance::private(); // same provider and client, another SECRET
    let other = begin(&private, None);
    let callback = demo_callback(&main);
    refused(
        &main,
        || callback.finish_with(&callback.target, Some(&other.login_cookie)),
        400,
        "login_expired",
    );
}

#[test]
fn a_state_that_is_not_the_cookies_is_invalid_state() {
    let _alone = exclusive();
    let main = Instance::main();
    let callback = demo_callback(&main);
    let state = callback.state.clone().expect("state");
    for bad in [
        Some(change_char(&state, 5)),
        Some(String::new()),
        Some("x".to_owned()),
        None,
    ] {
        let target = callback.with_param("state", bad.as_deref());
        refused(
            &main,
            || callback.finish_with(&target, Some(&callback.login_cookie)),
            400,
            "invalid_state",
        );
    }
    // A crossed response: the callback of one sign-in with the cookie of another (the
    // login CSRF that state exists to stop).
    let other = begin(&main, None);
    refused(
        &main,
        || callback.finish_with(&callback.target, Some(&other.login_cookie)),
        400,
        "invalid_state",
    );
}

#[test]
fn a_provider_error_is_provider_error_after_the_state_check() {
    let _alone = exclusive();
    let main = Instance::main();
    let start = begin(&main, None);
    let callback = authorize(&main, &start, AtTheProvider::Cancel);
    assert_eq!(callback.error.as_deref(), Some("access_denied"));
    assert!(callback.code.is_none());
    refused(&main, || callback.finish(), 400, "provider_error");

    // The state is checked first: a forged error response is just a bad state.
    let forged = callback.with_param("state", Some("forged"));
    refused(
        &main,
        || callback.finish_with(&forged, Some(&callback.login_cookie)),
        400,
        "invalid_state",
    );
}

#[test]
fn a_callback_without_a_code_is_bad_request() {
    let _alone = exclusive();
    let main = Instance::main();
    let callback = demo_callback(&main);
    let target = callback.with_param("code", None);
    refused(
        &main,
        || callback.finish_with(&target, Some(&callback.login_cookie)),
        400,
        "bad_request",
    );
}

#[test]
fn a_replayed_code_is_code_rejected() {
    let _alone = exclusive();
    let main = Instance::main();
    let callback = demo_callback(&main);
    let first = callback.finish();
    session_from(&main, DEMO, &first);
    refused(&main, || callback.finish(), 400, "code_rejected");

    // A code the provider never issued, with a good cookie and state.
    let fresh = demo_callback(&main);
    let target = fresh.with_param("code", Some("not-a-code-the-provider-issued"));
    refused(
        &main,
        || fresh.finish_with(&target, Some(&fresh.login_cookie)),
        400,
        "code_rejected",
    );
}

#[test]
fn a_wrong_nonce_is_invalid_id_token() {
    refused_id_token(
        json!({"claims": {"nonce": "not-this-sign-ins-nonce"}}),
        400,
        "invalid_id_token",
    );
    refused_id_token(json!({"claims": {"nonce": null}}), 400, "invalid_id_token");
}

#[test]
fn a_wrong_audience_is_invalid_id_token() {
    refused_id_token(
        json!({"claims": {"aud": "another-client"}}),
        400,
        "invalid_id_token",
    );
    refused_id_token(
        json!({"claims": {"aud": ["another-client"]}}),
        400,
        "invalid_id_token",
    );
    // Several audiences, authorized party another client.
    refused_id_token(
        json!({"claims": {"aud": [oidc::CLIENT_ID, "another-client"], "azp": "another-client"}}),
        400,
        "invalid_id_token",
    );
}

#[test]
fn a_wrong_issuer_is_invalid_id_token() {
    let issuer = oidc::issuer();
    for iss in [
        json!("http://127.0.0.1:1"),
        json!(format!("{issuer}/")),
        json!(issuer.replace("127.0.0.1", "localhost")),
        Value::Null,
    ] {
        refused_id_token(json!({"claims": {"iss": iss}}), 400, "invalid_id_token");
    }
}

#[test]
fn an_expired_or_premature_token_is_invalid_id_token() {
    let now = now_s();
    refused_id_token(
        json!({"claims": {"iat": now - 7200, "exp": now - 3600}}),
        400,
        "invalid_id_token",
    );
    // Beyond the 60 s allowance, not within it.
    refused_id_token(
        json!({"claims": {"exp": now - 300}}),
        400,
        "invalid_id_token",
    );
    refused_id_token(
        json!({"claims": {"nbf": now + 3600}}),
        400,
        "invalid_id_token",
    );
    refused_id_token(
        json!({"claims": {"iat": now + 3600, "exp": now + 7200}}),
        400,
        "invalid_id_token",
    );
    refused_id_token(json!({"claims": {"exp": null}}), 400, "invalid_id_token");
}

#[test]
fn an_unsigned_token_is_invalid_id_token() {
    refused_id_token(json!({"alg": "none"}), 400, "invalid_id_token");
}

#[test]
fn a_token_signed_with_the_client_secret_is_invalid_id_token() {
    // HS256 keyed with the client secret: an algorithm outside the allow-list, which a
    // verifier that trusts the header's alg would accept.
    refused_id_token(json!({"alg": "HS256"}), 400, "invalid_id_token");
    let kid = oidc::published_kids().remove(0);
    refused_id_token(json!({"alg": "HS256", "kid": kid}), 400, "invalid_id_token");
}

#[test]
fn a_token_signed_with_an_unknown_key_is_invalid_id_token() {
    // Its kid is in no JWKS, even after the refetch an unknown kid causes.
    refused_id_token(json!({"key": "foreign"}), 400, "invalid_id_token");
}

#[test]
fn a_tampered_signature_is_invalid_id_token() {
    // Another person's subject under the provider's own signature.
    refused_id_token(
        json!({"claims": {"sub": "admin", "email": "admin@example.test"}, "keep_signature": true}),
        400,
        "invalid_id_token",
    );
    // A key nobody published, claiming the provider's kid.
    let kid = oidc::published_kids().remove(0);
    refused_id_token(
        json!({"key": "foreign", "kid": kid}),
        400,
        "invalid_id_token",
    );
}

#[test]
fn an_unverified_email_is_email_not_verified() {
    let alone = exclusive();
    let main = Instance::main();
    let callback = authorize_as(&main, UNVERIFIED, None);
    refused(&main, || callback.finish(), 403, "email_not_verified");
    assert!(user_row(&main, UNVERIFIED.username).is_none());
    drop(alone);

    // Only the boolean true counts.
    for verified in [json!("true"), json!(1), Value::Null] {
        refused_id_token(
            json!({"claims": {"email_verified": verified}}),
            403,
            "email_not_verified",
        );
    }
}

#[test]
fn a_user_outside_the_allowed_teams_is_refused() {
    let alone = exclusive();
    let main = Instance::main();
    let callback = authorize_as(&main, OUTSIDER, None);
    refused(&main, || callback.finish(), 403, "not_in_allowed_team");
    assert!(
        user_row(&main, OUTSIDER.username).is_none(),
        "no user row for a refused outsider"
    );
    drop(alone);

    refused_id_token(
        json!({"claims": {"groups": ["other-team"]}}),
        403,
        "not_in_allowed_team",
    );
    refused_id_token(
        json!({"claims": {"groups": []}}),
        403,
        "not_in_allowed_team",
    );
    refused_id_token(
        json!({"claims": {"groups": null}}),
        403,
        "not_in_allowed_team",
    );
    refused_id_token(
        json!({"claims": {"groups": ["EDGEAUTH-TEAM", "edgeauth-team-x"]}}),
        403,
        "not_in_allowed_team",
    );
}

#[test]
fn a_hostile_return_to_is_refused_before_anything_starts() {
    let main = Instance::main();
    for hostile in [
        "https://evil.test",
        "//evil.test",
        "/\\evil.test",
        "javascript:alert(1)",
        "/a/../b",
        "/a/%2e%2e/b",
        "/\t/evil.test",
        "/\n/evil.test",
        "evil.test",
        "",
        "http:/evil.test",
    ] {
        let target = format!("/api/auth/login?return_to={}", oidc::encode(hostile));
        let response = main.get(&target).send();
        response.expect_error(400, "bad_request");
        assert!(
            response.headers_named("Set-Cookie").is_empty(),
            "no cookie for a refused return_to {hostile:?}:\n{response}"
        );
        assert!(
            response.header("Location").is_none(),
            "no redirect for {hostile:?}:\n{response}"
        );
        main.get(&target)
            .accept_html()
            .send()
            .expect_html_error(400, "bad_request");
    }
}

#[test]
fn sign_in_without_oidc_settings_is_501_naming_them() {
    // HASHED has a SECRET but no OIDC_*.
    let response = Instance::hashed().get("/api/auth/login").send();
    let message = response.expect_error(501, "not_configured");
    assert!(message.contains("OIDC_ISSUER"), "{response}");
    assert!(
        response.headers_named("Set-Cookie").is_empty(),
        "{response}"
    );
}

#[test]
fn no_session_is_stored_for_refusals_and_the_code_stays_unspent_by_cookie_checks() {
    // A refusal before the exchange must not spend the code: the legitimate browser, with
    // its cookie, can still finish. (Proves the cookie and state checks come first.)
    let _alone = exclusive();
    let main = Instance::main();
    let callback = demo_callback(&main);
    refused(
        &main,
        || callback.finish_with(&callback.target, None),
        400,
        "login_expired",
    );
    let forged_state = callback.with_param("state", Some("forged"));
    refused(
        &main,
        || callback.finish_with(&forged_state, Some(&callback.login_cookie)),
        400,
        "invalid_state",
    );
    let response = callback.finish();
    session_from(&main, DEMO, &response);
}

/// The claims of a JWT, unverified (the test only reads what was sent).
fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}
