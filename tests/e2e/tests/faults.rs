//! Faults, end to end (docs/api.md, "When storage or the identity provider fails"): the
//! identity provider down, slow past the Worker's 10 s timeout, or answering garbage; D1
//! failing; KV unavailable. Each is answered with a clear 502 or 503 and `Retry-After`,
//! nothing is half-written, and the system recovers by itself when the fault ends.
//!
//! FAULTS is the fault-injection build of the Worker (src/faults.rs): `POST /__faults`
//! makes its D1 or KV calls fail, from now or after the first `n` operations of the requests
//! that follow. Its identity provider is its own and fails on `POST /__test/fault`. Everything
//! else is the real thing: workerd, local D1 and KV, the real provider, the real CLI.
//!
//! "Nothing half-written" is checked exhaustively: a write flow is sent again and again with
//! D1 failing after 0, 1, 2, … operations, until it lands. Every attempt that did not land
//! must be a 503 `storage_unavailable` with `Retry-After` that left every D1 table and every
//! KV key exactly as they were; the flow must then land on the first attempt that D1 lets
//! through, with no restart.
//!
//! Transient D1 failures (D1's "Network connection lost", before an operation ran or after it
//! committed) are retried once where repeating is safe (reads, the refresh rotation, a
//! family's revocation): the request succeeds with no 503, and a refresh whose rotation
//! committed but whose answer was lost still answers its successor. Anything else is a 503.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use edgeauth_e2e::cli::CliSandbox;
use edgeauth_e2e::credentials::{device_login, DEVICE_CODE_GRANT};
use edgeauth_e2e::loopback::{approve_on, browse, consent_form, post_consent, CliLogin};
use edgeauth_e2e::oidc::{self, Session, DEMO, SESSION_COOKIE};
use edgeauth_e2e::store::{self, Row};
use edgeauth_e2e::tokens;
use edgeauth_e2e::*;
use serde_json::{json, Value};

/// `Retry-After` of a storage failure (src/error.rs) and of a provider failure
/// (src/flows/oidc.rs).
const STORAGE_RETRY_AFTER: &str = "5";
const PROVIDER_RETRY_AFTER: &str = "10";
/// More D1 operations than any flow makes: a flow that has not landed by then never will.
const MOST_OPERATIONS: u32 = 12;

/// One fault at a time: the plan is the instance's, and the provider's mode is global.
static ONE_FAULT_AT_A_TIME: Mutex<()> = Mutex::new(());

fn faults() -> Instance {
    Instance::faults()
}

/// The turn of one test: the lock, and on drop (pass or fail) storage and provider healthy.
struct Turn(#[allow(dead_code)] MutexGuard<'static, ()>);

fn turn() -> Turn {
    let guard = ONE_FAULT_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    storage(json!({}));
    provider("off");
    Turn(guard)
}

impl Drop for Turn {
    fn drop(&mut self) {
        storage(json!({}));
        provider("off");
    }
}

/// Sets FAULTS' storage plan (`{"d1": MODE, "kv": MODE}`, src/faults.rs); the D1 and KV
/// operations the previous plan saw.
fn storage(plan: Value) -> Value {
    faults()
        .post("/__faults")
        .json(&plan)
        .send()
        .expect_json(200)
}

/// Sets how FAULTS' identity provider answers: `off`, `down`, `slow` or `garbage`.
fn provider(mode: &str) {
    faults()
        .identity_provider()
        .post("/__test/fault")
        .json(&json!({"mode": mode}))
        .send()
        .expect_json(200);
}

/// Every D1 row and KV key of FAULTS, but `last_used_at`: recording a use is not part of any
/// flow (it is written after the response, and may fail on its own).
#[derive(Debug, PartialEq)]
struct Stored {
    tables: BTreeMap<String, Vec<Row>>,
    kv: BTreeSet<String>,
}

fn stored() -> Stored {
    let persist = faults().persist_dir();
    let mut tables = store::all_rows(&persist);
    for rows in tables.values_mut() {
        for row in rows.iter_mut() {
            row.remove("last_used_at");
        }
    }
    Stored {
        tables,
        kv: store::kv_keys(&persist),
    }
}

/// What changed from `before` to `after`, table by table, for a failure message.
fn difference(before: &Stored, after: &Stored) -> String {
    let mut lines = Vec::new();
    for (table, rows) in &after.tables {
        let old = before.tables.get(table).cloned().unwrap_or_default();
        for row in rows.iter().filter(|r| !old.contains(r)) {
            lines.push(format!("+ {table}: {}", Value::Object(row.clone())));
        }
        for row in old.iter().filter(|r| !rows.contains(r)) {
            lines.push(format!("- {table}: {}", Value::Object(row.clone())));
        }
    }
    for key in after.kv.symmetric_difference(&before.kv) {
        lines.push(format!("± KV {key}"));
    }
    lines.join("\n")
}

/// The storage failure of the contract: 503 `storage_unavailable`, `Retry-After: 5`, a
/// message that says to try again (JSON, or a page for a browser).
fn expect_storage_unavailable(response: &Response) {
    if response
        .header("Content-Type")
        .is_some_and(|t| t.starts_with("text/html"))
    {
        response.expect_html_error(503, "storage_unavailable");
    } else {
        let message = response.expect_error(503, "storage_unavailable");
        assert!(message.contains("try again"), "{response}");
    }
    assert_eq!(
        response.header("Retry-After"),
        Some(STORAGE_RETRY_AFTER),
        "a storage failure says when to retry:\n{response}"
    );
}

/// Sends a write flow with D1 failing after 0, 1, 2, … operations until it lands (see the
/// module comment). `prepare` runs with storage healthy before each attempt (what a client
/// does before the step under test); `attempt` runs under the fault. Returns the response
/// that landed, and how many attempts failed before it.
fn lands_whole_or_not_at_all<P>(
    what: &str,
    mut prepare: impl FnMut() -> P,
    mut attempt: impl FnMut(&P) -> Response,
    landed: impl Fn(&Response) -> bool,
) -> (Response, u32) {
    for n in 0..MOST_OPERATIONS {
        let prepared = prepare();
        let before = stored();
        storage(json!({"d1": {"fail_after": n}}));
        let response = attempt(&prepared);
        let seen = storage(json!({}));
        if landed(&response) {
            assert!(
                n > 0,
                "{what} landed with D1 failing from its first operation: it never reached D1?"
            );
            return (response, n);
        }
        expect_storage_unavailable(&response);
        let after = stored();
        assert!(
            after == before,
            "{what}, D1 failing after {n} operations ({seen}): the 503 left a trace:\n{}\n{response}",
            difference(&before, &after)
        );
    }
    panic!("{what} did not land with D1 failing only after {MOST_OPERATIONS} operations");
}

/// A person signed in on FAULTS, with storage healthy.
fn signed_in() -> Session {
    oidc::sign_in(&faults(), DEMO)
}

// --- D1 --------------------------------------------------------------------------------------

#[test]
fn d1_down_is_a_503_to_retry_and_ends_by_itself() {
    let _turn = turn();
    let instance = faults();
    let project = unique("d1-down");
    let service = mint_service_token(&instance, &super_token(), &project, "ci", &["*"]);
    let session = signed_in();
    let login = device_login(&session, &project);

    storage(json!({"d1": "down"}));
    // Credentials that need a storage read are not refused as invalid (a CLI would forget its
    // login): the server says it failed, and when to try again.
    expect_storage_unavailable(&whoami(&instance, &service.token, &project));
    expect_storage_unavailable(&session.get("/api/users/me").send());
    expect_storage_unavailable(&session.get("/account").accept_html().send());
    expect_storage_unavailable(
        &instance
            .post("/api/service-tokens")
            .bearer(&super_token())
            .project(&project)
            .json(&service_token_body("during", &["*"]))
            .send(),
    );
    // What needs no storage goes on working: the super token, a signed access token, health.
    whoami(&instance, &super_token(), &project).expect_json(200);
    whoami(&instance, &login.access_token, &project).expect_json(200);
    instance.get("/healthz").send().expect_json(200);

    // The CLI says what happened and what to do, and exits 7 (server error).
    let cli = CliSandbox::new();
    let run = cli.run(
        &[
            "--server",
            instance.base_url(),
            "--token",
            &service.token,
            "whoami",
        ],
        &[("EDGEAUTH_PROJECT", project.as_str())],
    );
    run.expect_code(7);
    assert!(
        run.stderr.contains("try again in 5 s") && run.stderr.contains("nothing was changed"),
        "the CLI relays the message and the advice:\n{}",
        run.stderr
    );

    // D1 is back: everything works again, without a restart.
    storage(json!({}));
    let me = whoami(&instance, &service.token, &project).expect_json(200);
    assert_eq!(me["token_id"], service.id.as_str(), "{me}");
    session.me();
    cli.run(
        &[
            "--server",
            instance.base_url(),
            "--token",
            &service.token,
            "whoami",
        ],
        &[("EDGEAUTH_PROJECT", project.as_str())],
    )
    .expect_code(0);
}

#[test]
fn a_sign_in_lands_whole_or_not_at_all() {
    let _turn = turn();
    let instance = faults();
    let (response, failed) = lands_whole_or_not_at_all(
        "the sign-in callback",
        // The provider's code is good for one exchange: each attempt walks it again.
        || oidc::authorize_as(&instance, DEMO, None),
        |callback| callback.finish(),
        |r| r.status == 303,
    );
    let session = oidc::session_from(&instance, DEMO, &response);
    assert!(session.stored().is_some(), "the session is stored");
    assert_eq!(
        failed, 1,
        "a sign-in is one D1 batch: user, session and audit event"
    );
}

#[test]
fn token_writes_land_whole_or_not_at_all() {
    let _turn = turn();
    let instance = faults();
    let project = unique("token-writes");
    let super_token = super_token();

    let (created, _) = lands_whole_or_not_at_all(
        "creating a service token",
        || (),
        |()| {
            instance
                .post("/api/service-tokens")
                .bearer(&super_token)
                .project(&project)
                .json(&service_token_body("ci", &["production/*"]))
                .send()
        },
        |r| r.status == 201,
    );
    let id = created.json()["id"].as_str().expect("an id").to_owned();
    let token = created.json()["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    whoami(&instance, &token, &project).expect_json(200);

    // A service token creating another: verification reads, creation writes.
    lands_whole_or_not_at_all(
        "a service token creating a service token",
        || (),
        |()| {
            instance
                .post("/api/service-tokens")
                .bearer(&token)
                .project(&project)
                .json(&service_token_body("child", &["production/eu"]))
                .send()
        },
        |r| r.status == 201,
    );
    lands_whole_or_not_at_all(
        "revoking a service token",
        || (),
        |()| {
            instance
                .delete(&format!("/api/service-tokens/{id}"))
                .bearer(&super_token)
                .project(&project)
                .send()
        },
        |r| r.status == 204,
    );
    whoami(&instance, &token, &project).expect_invalid_token();

    let session = signed_in();
    let (created, _) = lands_whole_or_not_at_all(
        "creating a user token in a browser session",
        || (),
        |()| {
            session
                .write("POST", "/api/tokens")
                .project(&project)
                .json(&json!({"name": "laptop"}))
                .send()
        },
        |r| r.status == 201,
    );
    let user_token = oidc::UserToken::from_creation(&created);
    lands_whole_or_not_at_all(
        "revoking a user token",
        || (),
        |()| {
            session
                .write("DELETE", &format!("/api/tokens/{}", user_token.id))
                .project(&project)
                .send()
        },
        |r| r.status == 204,
    );
    whoami(&instance, &user_token.token, &project).expect_invalid_token();
    lands_whole_or_not_at_all(
        "signing out",
        || (),
        |()| session.write("POST", "/api/auth/logout").send(),
        |r| r.status == 204,
    );
    assert!(
        session.stored().is_none(),
        "signing out deleted the session"
    );
}

#[test]
fn a_device_login_lands_whole_or_not_at_all() {
    let _turn = turn();
    let instance = faults();
    let project = unique("device");
    let session = signed_in();

    let (authorization, _) = lands_whole_or_not_at_all(
        "asking for a device code",
        || (),
        |()| {
            instance
                .post("/api/auth/device/code")
                .project(&project)
                .json(&json!({"client_name": "faults"}))
                .send()
        },
        |r| r.status == 200,
    );
    let grant = authorization.json();
    let (device_code, user_code) = (
        grant["device_code"]
            .as_str()
            .expect("a device code")
            .to_owned(),
        grant["user_code"].as_str().expect("a user code").to_owned(),
    );
    lands_whole_or_not_at_all(
        "approving a device login",
        || (),
        |()| {
            session
                .write("POST", "/device")
                .accept_html()
                .form(&[
                    ("user_code", user_code.as_str()),
                    ("decision", "approve"),
                    ("csrf_token", session.csrf_token.as_str()),
                ])
                .send()
        },
        |r| r.status == 200,
    );
    let (tokens, _) = lands_whole_or_not_at_all(
        "the first poll after the approval",
        || (),
        |()| {
            instance
                .post("/api/auth/token")
                .form(&[
                    ("grant_type", DEVICE_CODE_GRANT),
                    ("device_code", device_code.as_str()),
                ])
                .send()
        },
        |r| r.status == 200,
    );
    let refresh_token = tokens.json()["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    // A refresh that failed leaves the refresh token unspent: the same one works next time.
    let (refreshed, _) = lands_whole_or_not_at_all(
        "a refresh",
        || (),
        |()| {
            instance
                .post("/api/auth/token")
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token.as_str()),
                ])
                .send()
        },
        |r| r.status == 200,
    );
    let refreshed = refreshed.json();
    let text = |key: &str| refreshed[key].as_str().expect("a token").to_owned();
    whoami(&instance, &text("access_token"), &project).expect_json(200);
    // Signing the device out (RFC 7009) revokes the family whole or not at all.
    let refresh_token = text("refresh_token");
    lands_whole_or_not_at_all(
        "revoking a device login",
        || (),
        |()| {
            instance
                .post("/api/auth/revoke")
                .form(&[("token", refresh_token.as_str())])
                .send()
        },
        |r| r.status == 200,
    );
    instance
        .post("/api/auth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
        ])
        .send()
        .expect_status(400);
}

#[test]
fn the_cli_keeps_its_device_login_through_an_outage() {
    let _turn = turn();
    let instance = faults();
    let session = signed_in();
    let login = device_login(&session, "default");
    // The CLI's stored device login (cli/README.md's format), its access token expired: the
    // next command refreshes first.
    let cli = CliSandbox::new();
    let path = cli.config_dir().join("credentials.json");
    let stored = |refresh: &str| {
        json!({"version": 1, "servers": {instance.base_url(): {
            "token": login.access_token, "kind": "access", "refresh_token": refresh,
            "expires_at": "2020-01-01T00:00:00Z", "project": "default"}}})
    };
    std::fs::create_dir_all(cli.config_dir()).expect("a config directory");
    std::fs::write(&path, stored(&login.refresh_token).to_string()).expect("write credentials");
    let args = ["--server", instance.base_url(), "whoami", "--json"];

    storage(json!({"d1": "down"}));
    let run = cli.run(&args, &[]);
    storage(json!({}));
    run.expect_code(7);
    assert!(
        run.stderr.contains("the login stays stored"),
        "the CLI says its login is kept:\n{}",
        run.stderr
    );
    let kept: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("credentials are kept"))
            .expect("JSON");
    assert_eq!(
        kept["servers"][instance.base_url()]["refresh_token"],
        login.refresh_token.as_str(),
        "the refresh token is kept as it was"
    );

    // Storage is back: the same command refreshes (the unspent refresh token) and answers.
    let me = cli.run(&args, &[]).expect_json();
    assert_eq!(me["kind"], "access", "{me}");
}

// --- transient D1 failures -------------------------------------------------------------------

/// A refresh grant of `refresh_token` on FAULTS.
fn refresh(refresh_token: &str) -> Response {
    faults()
        .post("/api/auth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
}

/// The refresh token of a 200 token response.
fn refreshed(response: &Response) -> String {
    response.expect_json(200)["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned()
}

/// The stored row of a refresh token (by its SHA-256) on FAULTS.
fn refresh_row(token: &str) -> Row {
    let hash = tokens::sha256_hex(token);
    store::table_rows(&faults().persist_dir(), "refresh_tokens")
        .into_iter()
        .find(|row| row["token_hash"] == hash.as_str())
        .expect("the refresh token is stored")
}

fn family_revoked(family: &Value) -> bool {
    store::table_rows(&faults().persist_dir(), "refresh_families")
        .into_iter()
        .find(|row| &row["id"] == family)
        .expect("the family is stored")["revoked_at"]
        .is_i64()
}

/// A read that fails transiently is retried once and answers; a read that fails so twice is
/// the 503; so is a non-transient failure, which is not retried.
#[test]
fn a_transient_d1_failure_of_a_read_is_retried_once() {
    let _turn = turn();
    let instance = faults();
    let project = unique("transient-read");
    let token = || mint_service_token(&instance, &super_token(), &project, "ci", &["*"]).token;

    // Each token is verified for the first time (no isolate has it cached): one D1 read.
    let first = token();
    storage(json!({"d1": {"transient_at": 1}}));
    let me = whoami(&instance, &first, &project).expect_json(200);
    let seen = storage(json!({}));
    assert_eq!(me["kind"], "service", "{me}");
    assert!(
        seen["d1_ops"].as_u64() >= Some(2),
        "the failed read and its retry: {seen}"
    );

    let second = token();
    storage(json!({"d1": "transient"}));
    let response = whoami(&instance, &second, &project);
    let seen = storage(json!({}));
    expect_storage_unavailable(&response);
    assert_eq!(seen["d1_ops"], 2, "retried once, not more: {seen}");

    let third = token();
    storage(json!({"d1": {"fail_after": 0}}));
    let response = whoami(&instance, &third, &project);
    let seen = storage(json!({}));
    expect_storage_unavailable(&response);
    assert_eq!(
        seen["d1_ops"], 1,
        "a failure that is not transient is not retried: {seen}"
    );
    whoami(&instance, &third, &project).expect_json(200);
}

/// The refresh rotation is safe to repeat, so a transient failure of it is retried: before
/// it ran, or after it committed with its answer lost. Either way the client gets its
/// successor with no 503, and the login lives on.
#[test]
fn a_refresh_survives_a_transient_failure_even_after_its_rotation_committed() {
    let _turn = turn();
    let session = signed_in();
    let login = device_login(&session, "default");
    let family = refresh_row(&login.refresh_token)["family_id"].clone();

    // Operation 1 reads the token, operation 2 is the rotation batch.
    storage(json!({"d1": {"transient_at": 2}}));
    let response = refresh(&login.refresh_token);
    let seen = storage(json!({}));
    let second = refreshed(&response);
    assert_eq!(
        seen["d1_ops"], 3,
        "the read, the failed batch, its retry: {seen}"
    );

    // The rotation commits, then D1's answer is lost: the Worker runs the batch again, which
    // finds the token spent for the same (derived) successor, unused, and answers it.
    storage(json!({"d1": {"lost_at": 2}}));
    let response = refresh(&second);
    let seen = storage(json!({}));
    let third = refreshed(&response);
    assert_eq!(
        seen["d1_ops"], 3,
        "the read, the lost batch, its retry: {seen}"
    );
    let spent = refresh_row(&second);
    assert_eq!(spent["replaced_by"], tokens::sha256_hex(&third).as_str());
    assert!(
        !family_revoked(&family),
        "the lost answer did not end the login"
    );

    // The successor is the one stored, and the login lives on.
    let fourth = refreshed(&refresh(&third));
    assert_ne!(fourth, third);
    assert!(!family_revoked(&family));
}

/// A transient failure of a write that is not safe to repeat (a token created: a second run
/// after a lost commit would store a second token) is not retried: a 503 that leaves nothing.
#[test]
fn a_transient_d1_failure_of_a_write_that_is_not_repeatable_is_a_503() {
    let _turn = turn();
    let instance = faults();
    let project = unique("transient-write");
    let before = stored();
    // Operation 1 reads the project's lifetime policy (a new project: not remembered yet);
    // operation 2 is the insert.
    storage(json!({"d1": {"transient_at": 2}}));
    let response = instance
        .post("/api/service-tokens")
        .bearer(&super_token())
        .project(&project)
        .json(&service_token_body("ci", &["*"]))
        .send();
    let seen = storage(json!({}));
    expect_storage_unavailable(&response);
    assert_eq!(
        seen["d1_ops"], 2,
        "the read, then the write, not retried: {seen}"
    );
    let after = stored();
    assert!(
        after == before,
        "the 503 left a trace:\n{}",
        difference(&before, &after)
    );
}

/// Forgeries never reach storage: with D1 down, a forged token of every kind is refused as
/// forged (not answered 503, which a storage read would have given), and the Worker counts no
/// D1 operation for a flood of them.
#[test]
fn forgeries_never_reach_storage() {
    let _turn = turn();
    let instance = faults();
    let project = unique("forged");
    // Real ones, for contrast: with D1 down they are answered 503.
    let service = mint_service_token(&instance, &super_token(), &project, "ci", &["*"]);
    let session = signed_in();
    storage(json!({"d1": "down"}));
    expect_storage_unavailable(&whoami(&instance, &service.token, &project));
    expect_storage_unavailable(&session.get("/api/users/me").send());
    storage(json!({"d1": "down"}));
    for filler in ['Q', 'z', '7'] {
        for prefix in ["eau_", "eas_"] {
            whoami(&instance, &tokens::forged_token(prefix, filler), &project)
                .expect_invalid_token();
        }
        // A cookie nobody issued: the request is anonymous, so whoami needs a credential.
        let cookie = format!("{}{}", filler.to_string().repeat(43), "A".repeat(22));
        instance
            .get("/api/auth/whoami")
            .cookie(SESSION_COOKIE, &cookie)
            .send()
            .expect_error(401, "unauthorized");
        let refresh = tokens::forged_token("ear_", filler);
        let refused = instance
            .post("/api/auth/token")
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
            ])
            .send()
            .expect_json(400);
        assert_eq!(refused["error"], "invalid_grant", "{refused}");
        instance
            .post("/api/auth/revoke")
            .form(&[("token", refresh.as_str())])
            .send()
            .expect_status(200);
    }
    let seen = storage(json!({}));
    assert_eq!(
        seen["d1_ops"], 0,
        "forged credentials were refused without a D1 operation: {seen}"
    );
}

// --- KV (and D1) in the CLI loopback login ---------------------------------------------------

#[test]
fn a_cli_login_lands_whole_or_not_at_all() {
    let _turn = turn();
    let instance = faults();
    let session = signed_in();

    // KV down: the approval is refused before anything is written, and says to retry.
    let login = CliLogin::new("kv-down");
    let page = browse(&instance, &session, &login.start_target(&[]));
    page.expect_status(200);
    let form = consent_form(&page);
    let before = stored();
    storage(json!({"kv": "down"}));
    expect_storage_unavailable(&post_consent(&instance, &session, &form, "approve"));
    storage(json!({}));
    assert_eq!(stored(), before, "a refused approval leaves nothing");

    // D1 failing after the code is put in KV: the code, never shown, is withdrawn with it.
    let (approved, failed) = lands_whole_or_not_at_all(
        "approving a CLI login",
        || (),
        |()| post_consent(&instance, &session, &form, "approve"),
        |r| r.status == 303,
    );
    assert!(failed >= 1, "the approval writes its audit event to D1");
    let code = url::Url::parse(approved.location())
        .expect("a loopback URL")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("the approval sends a code");
    let code_hash = edgeauth_e2e::tokens::sha256_hex(&code);
    let pending = store::table_rows(&instance.persist_dir(), "pending_codes");
    assert_eq!(
        pending
            .iter()
            .filter(|row| row["code_hash"] == code_hash.as_str())
            .count(),
        1,
        "the approval that landed has its D1 row (for an exchange where KV lags)"
    );

    // KV down at the exchange: refused, and the code still good once KV is back.
    storage(json!({"kv": "down"}));
    let refused = instance
        .post("/api/auth/cli-exchange")
        .json(&login.exchange_body(&code))
        .send();
    storage(json!({}));
    expect_storage_unavailable(&refused);
    let (minted, _) = lands_whole_or_not_at_all(
        "exchanging a CLI login code",
        || (),
        |()| {
            instance
                .post("/api/auth/cli-exchange")
                .json(&login.exchange_body(&code))
                .send()
        },
        |r| r.status == 201,
    );
    let token = minted.json()["token"].as_str().expect("a token").to_owned();
    let me = whoami(&instance, &token, "default").expect_json(200);
    assert_eq!(me["kind"], "user", "{me}");

    // Nothing failing any more: an approval goes straight through.
    approve_on(&instance, &session, &CliLogin::new("after-faults"));
}

// --- the identity provider -----------------------------------------------------------------

/// The provider failure of the contract: 502 `provider_unavailable`, `Retry-After: 10`.
fn expect_provider_unavailable(response: &Response, mode: &str) {
    let message = response.expect_error(502, "provider_unavailable");
    assert!(
        message.contains("try again"),
        "provider {mode}: the message says to try again:\n{response}"
    );
    assert_eq!(
        response.header("Retry-After"),
        Some(PROVIDER_RETRY_AFTER),
        "provider {mode}: {response}"
    );
}

#[test]
fn identity_provider_faults_are_502s_to_retry_and_end_by_themselves() {
    let _turn = turn();
    let instance = faults();
    for mode in ["down", "garbage", "slow"] {
        // Starting a sign-in needs the discovery document (cached per isolate: dropped first).
        storage(json!({"forget_provider": true}));
        provider(mode);
        let started = Instant::now();
        let response = instance.get("/api/auth/login").send();
        expect_provider_unavailable(&response, mode);
        if mode == "slow" {
            let waited = started.elapsed();
            assert!(
                (Duration::from_secs(9)..Duration::from_secs(14)).contains(&waited),
                "a slow provider is given up on after 10 s, not {waited:?}"
            );
        }
        provider("off");

        // The provider fails between its login page and the code exchange: no trace.
        let callback = oidc::authorize_as(&instance, DEMO, None);
        let before = stored();
        provider(mode);
        let response = callback.finish();
        provider("off");
        expect_provider_unavailable(&response, mode);
        assert!(
            response
                .set_cookies()
                .iter()
                .all(|c| c.name != SESSION_COOKIE || c.clears()),
            "provider {mode}: no session cookie:\n{response}"
        );
        let after = stored();
        assert!(
            after == before,
            "provider {mode}: the failed sign-in left a trace:\n{}",
            difference(&before, &after)
        );

        // The fault is over: signing in works again at once, nothing to reset.
        let session = signed_in();
        session.me();
    }
}
