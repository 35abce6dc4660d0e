//! The verification cache's promise (docs/api.md, "Revocation"): a verified token or session
//! is remembered by the isolate for at most `REVOCATION_BOUND_SECONDS` (the default, 10 s,
//! on the fleet) and never past its expiry; revoking a token, signing out or ending a device
//! login stops it at once on the instance that did it, and everywhere else within the bound.
//! "Everywhere else" is REPLICA: a second `wrangler dev` on MAIN's D1, as another Cloudflare
//! location would be. Each test measures when REPLICA stops, and fails if it never does or
//! does so later than the bound (or at once, which would mean no cache at all).
//!
//! The tests of this binary hold one lock: they read the isolate's counts
//! (`GET /api/auth/stats`), which another test's requests would move.

use std::sync::{Mutex, MutexGuard};
use std::thread::sleep;
use std::time::{Duration, Instant};

use edgeauth_e2e::credentials::device_login;
use edgeauth_e2e::oidc::{self, DEMO, SESSION_COOKIE};
use edgeauth_e2e::*;
use serde_json::{json, Value};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn replica() -> Instance {
    Instance::from_env("REPLICA")
}

/// Lets an instance finish what it writes after answering (`last_used_at`, in `waitUntil`)
/// before the other writes: two workerd processes on one SQLite file do not wait on each
/// other's locks (see scripts/test on REPLICA).
fn settle() {
    sleep(Duration::from_millis(500));
}

/// The isolate's counts on `instance`.
fn counts(instance: &Instance) -> Value {
    instance
        .get("/api/auth/stats")
        .bearer(&super_token())
        .send()
        .expect_json(200)["isolate"]
        .clone()
}

fn count(counts: &Value, name: &str) -> u64 {
    counts[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} in {counts}"))
}

#[test]
fn a_warm_token_costs_no_storage_read_until_the_bound() {
    let _alone = alone();
    let main = Instance::main();
    let project = unique("warm");
    let token = mint_service_token(&main, &super_token(), &project, "warm", &["*"]);
    whoami(&main, &token.token, &project).expect_json(200);
    let before = counts(&main);
    for _ in 0..50 {
        whoami(&main, &token.token, &project).expect_json(200);
    }
    let after = counts(&main);
    assert_eq!(
        count(&after, "d1_reads"),
        count(&before, "d1_reads"),
        "50 uses of a remembered token read nothing: {before} → {after}"
    );
    assert!(
        count(&after, "cache_hits") >= count(&before, "cache_hits") + 50,
        "{before} → {after}"
    );
    // Past the bound it is read again, once, with its project's lifetime policy (remembered
    // per project, for all its tokens, for the same bound).
    sleep(REVOCATION_BOUND + Duration::from_millis(500));
    let before = counts(&main);
    for _ in 0..5 {
        whoami(&main, &token.token, &project).expect_json(200);
    }
    let after = counts(&main);
    assert_eq!(
        count(&after, "d1_reads") - count(&before, "d1_reads"),
        2,
        "one read per token and one per project per bound: {before} → {after}"
    );
}

#[test]
fn a_revoked_token_stops_at_once_here_and_within_the_bound_elsewhere() {
    let _alone = alone();
    let main = Instance::main();
    let project = unique("revoked");
    let token = mint_service_token(&main, &super_token(), &project, "ci", &["*"]);
    whoami(&main, &token.token, &project).expect_json(200);
    settle();
    whoami(&replica(), &token.token, &project).expect_json(200);
    settle();

    main.delete(&format!("/api/service-tokens/{}", token.id))
        .bearer(&super_token())
        .project(&project)
        .send()
        .expect_status(204);
    let revoked_at = Instant::now();
    whoami(&main, &token.token, &project).expect_invalid_token();
    // REPLICA remembers it: the bound is real, not zero.
    whoami(&replica(), &token.token, &project).expect_json(200);
    let took = within_the_revocation_bound("a revoked service token refused by REPLICA", || {
        whoami(&replica(), &token.token, &project).status == 401
    });
    whoami(&replica(), &token.token, &project).expect_invalid_token();
    eprintln!(
        "revocation observed by REPLICA {took:?} after the check ({:?} after the revocation)",
        revoked_at.elapsed()
    );
}

#[test]
fn signing_out_ends_the_session_at_once_here_and_within_the_bound_elsewhere() {
    let _alone = alone();
    let _writers = oidc::shared();
    let main = Instance::main();
    let session = oidc::sign_in(&main, DEMO);
    session.me();
    settle();
    let on_replica = || {
        replica()
            .get("/api/users/me")
            .cookie(SESSION_COOKIE, &session.cookie)
            .send()
    };
    on_replica().expect_json(200);
    settle();

    session
        .write("POST", "/api/auth/logout")
        .send()
        .expect_status(204);
    session.get("/api/users/me").send().expect_status(401);
    on_replica().expect_json(200);
    within_the_revocation_bound("an ended session refused by REPLICA", || {
        on_replica().status == 401
    });
    on_replica().expect_status(401);
}

#[test]
fn a_device_logins_tokens_end_with_it_within_the_bound() {
    let _alone = alone();
    let _writers = oidc::shared();
    let main = Instance::main();
    let project = unique("family");
    let session = oidc::sign_in(&main, DEMO);
    let login = device_login(&session, &project);
    // A token created with the login's access token: it ends with the login.
    let child = main
        .post("/api/tokens")
        .bearer(&login.access_token)
        .project(&project)
        .json(&json!({"name": "from the device"}))
        .send()
        .expect_json(201);
    let child = child["token"].as_str().expect("a token").to_owned();
    whoami(&main, &child, &project).expect_json(200);
    settle();
    whoami(&replica(), &child, &project).expect_json(200);
    settle();

    main.post("/api/auth/revoke")
        .form(&[("token", login.refresh_token.as_str())])
        .send()
        .expect_status(200);
    whoami(&main, &child, &project).expect_invalid_token();
    whoami(&replica(), &child, &project).expect_json(200);
    within_the_revocation_bound("a device login's token refused by REPLICA", || {
        whoami(&replica(), &child, &project).status == 401
    });
}

#[test]
fn a_remembered_token_still_expires_at_its_expiry() {
    let _alone = alone();
    let main = Instance::main();
    let project = unique("expiring");
    let token = mint_service_token(&main, &super_token(), &project, "short", &["*"]);
    // Three seconds left, set before the Worker first reads it (see edgeauth_e2e::store).
    let expires_at = now_ms() + 3_000;
    store::set_service_token_expires_at(&main.persist_dir(), &token.id, expires_at);
    whoami(&main, &token.token, &project).expect_json(200);
    let before = counts(&main);
    whoami(&main, &token.token, &project).expect_json(200);
    assert_eq!(
        count(&counts(&main), "d1_reads"),
        count(&before, "d1_reads"),
        "the second use was answered from memory"
    );
    let wait = expires_at - now_ms() + 300;
    if wait > 0 {
        sleep(Duration::from_millis(wait as u64));
    }
    whoami(&main, &token.token, &project).expect_invalid_token();
}
