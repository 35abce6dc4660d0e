//! Rotating `SECRET` without downtime (README, "Rotating SECRET"): the runbook walked on
//! PRIVATE's own state. PRIVATE signs with its secret A; ROT_NEXT is the first step (A still signs,
//! the next secret B is accepted too); ROT_SWAPPED the second (B signs, A is accepted);
//! ROT_DONE the last (B alone). Each is another `wrangler dev` on PRIVATE's D1 and KV with those
//! settings (scripts/test, `fleet_stage`), like every isolate of a deployment at that moment.
//! Credentials of every kind made before, during and after are used at each stage: nothing
//! fails until A is removed, and then only what A made.

use edgeauth_e2e::credentials::device_login;
use edgeauth_e2e::oidc::{sign_in, Session, DEMO};
use edgeauth_e2e::*;
use serde_json::{json, Value};

/// One credential of each kind that SECRET's keys make, made on one stage.
struct Made {
    service: String,
    user: String,
    session: Session,
    access: String,
    refresh: String,
}

fn make(on: &Instance, project: &str) -> Made {
    let service = mint_service_token(on, &super_token(), project, "rotation", &["*"]).token;
    let session = sign_in(on, DEMO);
    let user = session
        .create_token(project, &json!({"name": "rotation"}))
        .token;
    let login = device_login(&session, project);
    Made {
        service,
        user,
        session,
        access: login.access_token,
        refresh: login.refresh_token,
    }
}

/// `made`'s session, presented to `stage`.
fn session_on(stage: &Instance, made: &Made) -> Session {
    Session {
        instance: stage.clone(),
        ..made.session.clone()
    }
}

/// Every credential of `made` works on `stage`: bearer tokens at whoami, the session cookie at
/// /api/users/me, and the CSRF token of the page it was made on, on a write.
fn all_work(stage: &Instance, made: &Made, project: &str, when: &str) {
    for (kind, credential) in [
        ("service", &made.service),
        ("user", &made.user),
        ("access", &made.access),
    ] {
        let response = whoami(stage, credential, project);
        assert_eq!(response.status, 200, "{when}: the {kind} token: {response}");
    }
    let session = session_on(stage, made);
    session.me();
    session
        .write("POST", "/api/tokens")
        .project(project)
        .json(&json!({"name": "written"}))
        .send()
        .expect_json(201);
}

/// Every credential of `made` is refused on `stage`.
fn none_work(stage: &Instance, made: &Made, project: &str, when: &str) {
    for (kind, credential) in [
        ("service", &made.service),
        ("user", &made.user),
        ("access", &made.access),
    ] {
        let response = whoami(stage, credential, project);
        assert_eq!(response.status, 401, "{when}: the {kind} token: {response}");
    }
    session_on(stage, made)
        .get("/api/users/me")
        .send()
        .expect_error(401, "unauthorized");
    let body = refresh(stage, &made.refresh).expect_json(400);
    assert_eq!(body["error"], "invalid_grant", "{when}: {body}");
}

fn refresh(stage: &Instance, refresh_token: &str) -> Response {
    stage
        .post("/api/auth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
}

fn kids(stage: &Instance) -> Vec<String> {
    let jwks: Value = stage.get("/.well-known/jwks.json").send().expect_json(200);
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("a kid").to_owned())
        .collect()
}

#[test]
fn secret_rotation_walks_through_its_stages_with_no_failed_request_until_the_old_one_goes() {
    let main = Instance::private();
    let next = Instance::from_env("ROT_NEXT");
    let swapped = Instance::from_env("ROT_SWAPPED");
    let done = Instance::from_env("ROT_DONE");
    let project = unique("rotation");

    // Before: made under A.
    let before = make(&main, &project);

    // Step 1, B accepted too: the JWKS publishes B's keys beside A's before B signs
    // anything, so a resource server has them in time; A's credentials go on working.
    let (a_kids, b_kids) = (kids(&main), kids(&done));
    let published = kids(&next);
    for kid in a_kids.iter().chain(&b_kids) {
        assert!(published.contains(kid), "{kid} is published at step 1");
    }
    all_work(&next, &before, &project, "step 1, made before");

    // Step 2, B signs and A is accepted: everything made before works; what is made now is
    // under B, and works at step 1 too (isolates still on step 1 while step 2 rolls out).
    all_work(&swapped, &before, &project, "step 2, made before");
    let during = make(&swapped, &project);
    all_work(&swapped, &during, &project, "step 2, made at step 2");
    all_work(&next, &during, &project, "step 1, made at step 2");
    // A device login made before refreshes here, and comes back under B.
    let renewed = refresh(&swapped, &before.refresh).expect_json(200);
    let renewed_access = renewed["access_token"].as_str().unwrap().to_owned();
    let renewed_refresh = renewed["refresh_token"].as_str().unwrap().to_owned();

    // Step 3, B alone: what B made works; what only A made is refused, and says so.
    all_work(&done, &during, &project, "step 3, made at step 2");
    whoami(&done, &renewed_access, &project).expect_json(200);
    refresh(&done, &renewed_refresh).expect_json(200);
    none_work(&done, &before, &project, "step 3, made before");
    assert!(
        kids(&done).iter().all(|kid| !a_kids.contains(kid)),
        "A's keys are no longer published"
    );
}
