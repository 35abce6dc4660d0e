//! Expiry of service tokens, enforced: the one test that writes to an instance's D1 directly
//! (to age a token without waiting days). It is alone in this test binary on purpose: cargo
//! runs test binaries one after another, so no other test's Worker write can collide with
//! this write's lock (workerd's local D1 answers SQLITE_BUSY instead of waiting).

use std::thread::sleep;
use std::time::{Duration, Instant};

use edgeauth_e2e::*;
use serde_json::{json, Value};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const CLOCK_SLACK_MS: i64 = 5 * 60 * 1000;

#[test]
fn expiry_is_reported_and_enforced() {
    let main = Instance::main();
    let project = unique("expiry");
    let token = mint_service_token_with(
        &main,
        &super_token(),
        &project,
        &json!({"name": "week", "workspaces": ["*"], "expires_in_days": 7}),
    );
    let expires_at = parse_timestamp_ms(&token.body["expires_at"]);
    assert_near_ms(
        "expires_at",
        expires_at,
        now_ms() + 7 * DAY_MS,
        CLOCK_SLACK_MS,
    );

    let stored = store::stored_service_token(&main.persist_dir(), &token.id)
        .expect("the token is stored in D1");
    assert_near_ms(
        "stored expires_at",
        stored.expires_at.expect("stored expiry"),
        expires_at,
        1000,
    );

    let me = whoami(&main, &token.token, &project).expect_json(200);
    assert_eq!(parse_timestamp_ms(&me["expires_at"]), expires_at, "{me}");
    // That use is recorded after the response; let the write land before this test's own.
    let deadline = Instant::now() + Duration::from_secs(6);
    while listed(&main, &project, &token.id)["last_used_at"].is_null() && Instant::now() < deadline
    {
        sleep(Duration::from_millis(200));
    }

    // Age the token in storage, as another isolate's change would reach it: the server
    // remembers what it verified for at most REVOCATION_BOUND_SECONDS, so it refuses the token
    // within that bound.
    store::set_service_token_expires_at(&main.persist_dir(), &token.id, now_ms() - 60_000);
    within_the_revocation_bound("a token aged in storage refused", || {
        whoami(&main, &token.token, &project).status == 401
    });
    let message = whoami(&main, &token.token, &project).expect_invalid_token();
    assert!(
        message.to_lowercase().contains("expire"),
        "the refusal says the token expired: {message}"
    );
    let response = main
        .get("/api/auth/capabilities")
        .bearer(&token.token)
        .project(&project)
        .send();
    response.expect_invalid_token();

    let entry = listed(&main, &project, &token.id);
    assert_eq!(
        entry["expired"], true,
        "expired tokens are listed as such: {entry}"
    );

    // One refusal for every stored reason (RFC 6750 invalid_token): an expired token reads
    // exactly as a revoked one, so a holder of someone else's token learns nothing more.
    let revoked = mint_service_token(&main, &super_token(), &project, "revoked", &["*"]);
    main.request("DELETE", &format!("/api/service-tokens/{}", revoked.id))
        .bearer(&super_token())
        .project(&project)
        .send()
        .expect_status(204);
    let revoked_message = whoami(&main, &revoked.token, &project).expect_invalid_token();
    assert_eq!(
        revoked_message, message,
        "expired and revoked tokens are refused alike"
    );
}

fn listed(main: &Instance, project: &str, id: &str) -> Value {
    list_service_tokens(main, &super_token(), project)
        .into_iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not listed"))
}
