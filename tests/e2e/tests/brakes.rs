//! The brakes on the endpoints people and robots hammer (README "Rate limits"): per client
//! address, 429 with `Retry-After` over the limit wrangler.toml ships, in the endpoint's own
//! error format. On OPEN, the one instance of the fleet where these brakes are as shipped
//! (every test comes from 127.0.0.1, so the others raise them); each test here speaks for an
//! address of its own (`CF-Connecting-IP`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edgeauth_e2e::*;
use serde_json::json;

/// Waits, if need be, for a minute with `seconds` left in it: the local Rate Limiting binding
/// (miniflare's) counts in windows of the wall clock's minutes, and a flood that crossed one
/// would start counting again.
fn fresh_window(seconds: u64) {
    let into = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        % 60_000;
    if 60_000 - into < seconds * 1000 {
        std::thread::sleep(Duration::from_millis(60_000 - into + 200));
    }
}

/// Asserts a 429 with `Retry-After: 60` whose message says what was asked too often.
fn assert_braked(response: &Response, asked: &str, oauth: bool) {
    assert_eq!(response.status, 429, "{response}");
    assert_eq!(response.header("Retry-After"), Some("60"), "{response}");
    let body = response.json();
    let (code, message) = match oauth {
        true => (&body["error"], &body["error_description"]),
        false => (&body["error"], &body["message"]),
    };
    assert_eq!(code, "too_many_requests", "{response}");
    let message = message.as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("too many {asked} from this address")),
        "{message}"
    );
}

#[test]
fn sign_in_steps_are_braked_at_thirty_a_minute_per_address() {
    let open = Instance::open();
    fresh_window(15);
    let from = "198.51.100.101";
    for _ in 0..30 {
        let started = open
            .get("/api/auth/login")
            .header("CF-Connecting-IP", from)
            .send();
        assert_eq!(started.status, 302, "{started}");
    }
    // The 31st, and every sign-in step after it, from this address.
    let refused = open
        .get("/api/auth/login")
        .header("CF-Connecting-IP", from)
        .send();
    assert_braked(&refused, "sign-in requests", false);
    let callback = open
        .get("/api/auth/callback?code=c&state=s")
        .header("CF-Connecting-IP", from)
        .send();
    assert_braked(&callback, "sign-in requests", false);
    // A browser gets the page.
    open.get("/api/auth/cli-start")
        .header("CF-Connecting-IP", from)
        .accept_html()
        .send()
        .expect_html_error(429, "too_many_requests");
    // Another address is not braked.
    let other = open
        .get("/api/auth/login")
        .header("CF-Connecting-IP", "198.51.100.102")
        .send();
    assert_eq!(other.status, 302, "{other}");
}

#[test]
fn cli_exchanges_and_the_token_endpoint_are_braked_per_address_in_oauth_errors() {
    let open = Instance::open();
    fresh_window(20);
    let from = "198.51.100.103";
    for _ in 0..30 {
        let refused = open
            .post("/api/auth/cli-exchange")
            .header("CF-Connecting-IP", from)
            .json(&json!({}))
            .send();
        assert_eq!(refused.status, 400, "{refused}");
    }
    let braked = open
        .post("/api/auth/cli-exchange")
        .header("CF-Connecting-IP", from)
        .json(&json!({}))
        .send();
    assert_braked(&braked, "CLI login exchanges", true);

    // The token endpoint: 300 a minute, shared with /api/auth/revoke.
    let from = "198.51.100.104";
    let refresh = tokens::forged_token("ear_", 'Q');
    for _ in 0..299 {
        let refused = open
            .post("/api/auth/token")
            .header("CF-Connecting-IP", from)
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
            .send();
        assert_eq!(refused.status, 400, "{refused}");
    }
    let revoked = open
        .post("/api/auth/revoke")
        .header("CF-Connecting-IP", from)
        .form(&[("token", &refresh)])
        .send();
    assert_eq!(revoked.status, 200, "{revoked}");
    let braked = open
        .post("/api/auth/token")
        .header("CF-Connecting-IP", from)
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .send();
    assert_braked(&braked, "token requests", true);
    let braked = open
        .post("/api/auth/revoke")
        .header("CF-Connecting-IP", from)
        .form(&[("token", &refresh)])
        .send();
    assert_braked(&braked, "token requests", true);
}
