//! Rolling a token (docs/api.md, "Rolling a token"): `POST /api/service-tokens/{id}/roll` and
//! `POST /api/tokens/{id}/roll` give a token a new secret (a new token with the same name,
//! workspaces and expiry), and end the old secret at once or after a grace the caller chooses,
//! never past its own expiry. Who may roll a token is who may revoke it.

use std::thread::sleep;
use std::time::Duration;

use edgeauth_e2e::cli::{CliSandbox, EXIT_OK};
use edgeauth_e2e::credentials::sign_in_with_teams;
use edgeauth_e2e::oidc::{shared, ADMIN_TEAM, MEMBER_TEAM};
use edgeauth_e2e::store::table_rows;
use edgeauth_e2e::*;
use serde_json::{json, Value};

fn roll(credential: &str, project: &str, path: &str, body: &Value) -> Response {
    Instance::main()
        .post(path)
        .bearer(credential)
        .project(project)
        .json(body)
        .send()
}

fn listed(project: &str) -> Vec<Value> {
    Instance::main()
        .get("/api/service-tokens")
        .bearer(&super_token())
        .project(project)
        .send()
        .expect_json(200)["service_tokens"]
        .as_array()
        .expect("a list")
        .clone()
}

fn works(token: &str, project: &str) -> bool {
    match whoami(&Instance::main(), token, project).status {
        200 => true,
        401 => false,
        other => panic!("whoami answered {other}"),
    }
}

#[test]
fn a_rolled_service_token_has_a_new_secret_and_the_old_one_lives_out_its_grace() {
    let project = unique("roll");
    let old = mint_service_token(
        &Instance::main(),
        &super_token(),
        &project,
        "deploy",
        &["production/*"],
    );
    let rolled = roll(
        &super_token(),
        &project,
        &format!("/api/service-tokens/{}/roll", old.id),
        &json!({"grace_seconds": 2}),
    )
    .expect_json(201);
    let new_token = rolled["token"].as_str().unwrap().to_owned();
    let new_id = rolled["id"].as_str().unwrap().to_owned();
    assert!(
        new_token.starts_with("eas_") && new_id != old.id,
        "{rolled}"
    );
    assert_eq!(rolled["name"], "deploy");
    assert_eq!(rolled["workspaces"], json!(["production/*"]));
    assert_eq!(rolled["rolled"]["id"], old.id.as_str());
    assert_eq!(rolled["rolled"]["revoked"], false);
    assert!(rolled["rolled"]["expires_at"].is_string(), "{rolled}");
    // Both work during the grace; both are listed, the old one with its new expiry.
    assert!(works(&new_token, &project) && works(&old.token, &project));
    let listing = listed(&project);
    let old_listed = listing.iter().find(|t| t["id"] == old.id.as_str()).unwrap();
    assert_eq!(old_listed["expires_at"], rolled["rolled"]["expires_at"]);
    // After it, only the new one.
    sleep(Duration::from_millis(2_500));
    assert!(!works(&old.token, &project), "the old secret stopped");
    assert!(works(&new_token, &project));
    // A grace of 0 (the default) revokes at once; the newest works, the rolled one not.
    let again = roll(
        &super_token(),
        &project,
        &format!("/api/service-tokens/{new_id}/roll"),
        &json!({}),
    )
    .expect_json(201);
    assert_eq!(again["rolled"]["revoked"], true);
    assert!(again["rolled"]["expires_at"].is_null());
    assert!(!works(&new_token, &project));
    assert!(works(again["token"].as_str().unwrap(), &project));
    // A revoked token cannot be rolled.
    roll(
        &super_token(),
        &project,
        &format!("/api/service-tokens/{new_id}/roll"),
        &json!({}),
    )
    .expect_error(404, "not_found");
    // Audited, with the successor named; no secret in the detail.
    let rolls: Vec<_> = table_rows(&Instance::main().persist_dir(), "audit_events")
        .into_iter()
        .filter(|row| row["project"] == project.as_str() && row["action"] == "service_token.roll")
        .collect();
    assert_eq!(rolls.len(), 2, "{rolls:?}");
    let detail = rolls[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&new_id) && !detail.contains(&new_token),
        "{detail}"
    );
}

#[test]
fn the_grace_never_outlasts_the_token_and_bad_graces_are_400() {
    let project = unique("roll-expiry");
    let main = Instance::main();
    let token = mint_service_token_with(
        &main,
        &super_token(),
        &project,
        &json!({"name": "short", "workspaces": ["*"], "expires_in_days": 1}),
    );
    let expires_at = listed(&project)[0]["expires_at"].clone();
    let path = format!("/api/service-tokens/{}/roll", token.id);
    for bad in [
        json!({"grace_seconds": -1}),
        json!({"grace_seconds": 2_592_001}),
        json!({"grace_seconds": "60"}),
        json!({"grace": 60}),
    ] {
        let message = roll(&super_token(), &project, &path, &bad).expect_error(400, "bad_request");
        assert!(message.contains("grace"), "{bad}: {message}");
    }
    let rolled = roll(
        &super_token(),
        &project,
        &path,
        &json!({"grace_seconds": 2_592_000}),
    )
    .expect_json(201);
    assert_eq!(
        rolled["rolled"]["expires_at"], expires_at,
        "30 days asked, but the token expires in one"
    );
    assert_eq!(
        rolled["expires_at"], expires_at,
        "the new one keeps the expiry"
    );
}

#[test]
fn who_may_revoke_a_token_may_roll_it_and_no_one_else() {
    let _writers = shared();
    let main = Instance::main();
    let project = unique("roll-who");
    let operators = mint_service_token(&main, &super_token(), &project, "ci", &["*"]);
    let narrow = mint_service_token(&main, &super_token(), &project, "narrow", &["staging/*"]);
    let member = sign_in_with_teams(&main, &unique("roll-member"), &[MEMBER_TEAM]);
    let member_token = member.create_token(&project, &json!({"name": "m"}));
    let path = format!("/api/service-tokens/{}/roll", operators.id);
    roll(&member_token.token, &project, &path, &json!({})).expect_error(403, "forbidden");
    // A service token manages only the tokens it created: the operator's is not found.
    roll(&narrow.token, &project, &path, &json!({})).expect_error(404, "not_found");
    assert!(works(&operators.token, &project), "nothing was rolled");
    // A person rolls their own user token, with a session or the token itself.
    let rolled = member
        .write("POST", &format!("/api/tokens/{}/roll", member_token.id))
        .project(&project)
        .json(&json!({"grace_seconds": 60}))
        .send()
        .expect_json(201);
    let new_user_token = rolled["token"].as_str().unwrap();
    assert!(new_user_token.starts_with("eau_"), "{rolled}");
    assert!(works(new_user_token, &project) && works(&member_token.token, &project));
    let by_itself = roll(
        &member_token.token,
        &project,
        &format!("/api/tokens/{}/roll", rolled["id"].as_str().unwrap()),
        &json!({}),
    )
    .expect_json(201);
    assert!(!works(new_user_token, &project));
    assert!(works(by_itself["token"].as_str().unwrap(), &project));
    // Rolled with a session, a token that never expires becomes one that ends with the
    // session: a stolen cookie cannot turn a token into a lasting one.
    let admin = sign_in_with_teams(&main, &unique("roll-admin"), &[ADMIN_TEAM]);
    let lasting = mint_service_token(&main, &super_token(), &project, "lasting", &["*"]);
    let rolled = admin
        .write("POST", &format!("/api/service-tokens/{}/roll", lasting.id))
        .project(&project)
        .json(&json!({}))
        .send()
        .expect_json(201);
    assert!(
        rolled["expires_at"].is_string(),
        "capped by the session: {rolled}"
    );
    // Another person's token is not found.
    let other = sign_in_with_teams(&main, &unique("roll-other"), &[MEMBER_TEAM]);
    other
        .write("POST", &format!("/api/tokens/{}/roll", member_token.id))
        .project(&project)
        .json(&json!({}))
        .send()
        .expect_error(404, "not_found");
}

#[test]
fn the_cli_rolls_a_service_token_and_prints_only_the_new_secret() {
    let main = Instance::main();
    let project = unique("roll-cli");
    let old = mint_service_token(&main, &super_token(), &project, "ci", &["*"]);
    let cli = CliSandbox::new();
    let super_token = super_token();
    let env = [
        ("EDGEAUTH_SERVER", main.base_url()),
        ("EDGEAUTH_TOKEN", super_token.as_str()),
        ("EDGEAUTH_PROJECT", project.as_str()),
    ];
    let run = cli.run(
        &["service-token", "roll", &old.id, "--grace-seconds", "600"],
        &env,
    );
    run.expect_code(EXIT_OK);
    let new_token = run.stdout.trim();
    assert!(
        new_token.starts_with("eas_") && !new_token.contains('\n'),
        "{run}"
    );
    assert!(run.stderr.contains("its old secret works until"), "{run}");
    assert!(works(new_token, &project) && works(&old.token, &project));
    // A pasted secret is refused before anything is sent.
    let run = cli.run(&["service-token", "roll", new_token], &env);
    assert_eq!(run.code, 2, "{run}");
    assert!(!run.stderr.contains(new_token), "{run}");
}
