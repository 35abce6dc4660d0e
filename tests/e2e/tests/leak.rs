//! Leak response (docs/api.md, "Leak reports"): whoever holds a leaked token revokes it with no
//! other credential, at `POST /api/credentials/revoke`; the answer never says what was found,
//! each revocation is audited for the owner, and each client address is braked.

use edgeauth_e2e::credentials::sign_in_with_teams;
use edgeauth_e2e::oidc::MEMBER_TEAM;
use edgeauth_e2e::store::table_rows;
use edgeauth_e2e::*;
use serde_json::{json, Value};

fn report(instance: &Instance, credentials: &[&str]) -> Response {
    instance
        .post("/api/credentials/revoke")
        .json(&json!({ "credentials": credentials }))
        .send()
}

#[test]
fn anyone_holding_a_leaked_token_revokes_it_and_learns_nothing_else() {
    let main = Instance::main();
    let project = unique("leak");
    let service = mint_service_token(&main, &super_token(), &project, "leaked", &["*"]);
    let kept = mint_service_token(&main, &super_token(), &project, "kept", &["*"]);
    let person = sign_in_with_teams(&main, &unique("leak-owner"), &[MEMBER_TEAM]);
    let user = person.create_token(&project, &json!({"name": "leaked too"}));
    // Nothing real in it: the same answer as for the real ones below.
    let nothing = report(&main, &["eas_not-a-token", "hello"]).expect_json(202);
    let found = report(&main, &[&service.token, &user.token, "eaa_x.y.z"]).expect_json(202);
    assert_eq!(
        found, nothing,
        "the answer says nothing about what was found"
    );
    // Revoked, both kinds; the other token goes on.
    assert_eq!(whoami(&main, &service.token, &project).status, 401);
    assert_eq!(whoami(&main, &user.token, &project).status, 401);
    assert_eq!(whoami(&main, &kept.token, &project).status, 200);
    // The owner can see why: audited with actor leak_report and the display prefix only.
    let events: Vec<Value> = table_rows(&main.persist_dir(), "audit_events")
        .into_iter()
        .filter(|row| row["actor"] == "leak_report" && row["project"] == project.as_str())
        .map(|row| Value::Object(row.into_iter().collect()))
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    for event in &events {
        let detail = event["detail"].as_str().unwrap();
        assert!(detail.contains("reported as leaked"), "{detail}");
        assert!(
            !detail.contains(&service.token) && !detail.contains(&user.token),
            "{detail}"
        );
    }
    // Reported again: nothing more to revoke, nothing more recorded, the same answer.
    assert_eq!(report(&main, &[&service.token]).expect_json(202), nothing);
    let again = table_rows(&main.persist_dir(), "audit_events")
        .into_iter()
        .filter(|row| row["actor"] == "leak_report" && row["project"] == project.as_str())
        .count();
    assert_eq!(again, 2);
    // Malformed reports say what to send.
    let message = main
        .post("/api/credentials/revoke")
        .json(&json!({"credentials": []}))
        .send()
        .expect_error(400, "bad_request");
    assert!(message.contains("`credentials`"), "{message}");
}

#[test]
fn each_client_address_may_send_ten_reports_a_minute() {
    // On PRIVATE, so that no other test's reports count against the same address.
    let private = Instance::private();
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(report(&private, &["hello"]).status);
    }
    assert_eq!(&statuses[..10], &[202; 10], "{statuses:?}");
    let refused = report(&private, &["hello"]);
    assert_eq!(refused.status, 429, "{refused}");
    assert_eq!(refused.header("Retry-After"), Some("60"));
}
