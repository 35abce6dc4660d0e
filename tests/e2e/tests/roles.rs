//! Roles (docs/api.md, "Roles"): who administers a project and who only uses it, from the
//! teams the identity provider lists. MAIN names `edgeauth-team` in `ADMIN_TEAMS` and lets
//! `edgeauth-members` sign in too (members); OPEN configures no roles (everyone a member, only
//! the super token administers). Each test makes people of its own, in teams it chooses
//! (`sign_in_with_teams`), and works in projects of its own, so that a project's own teams
//! set here touch no other test.

use base64::Engine;
use edgeauth_e2e::cli::{CliSandbox, EXIT_FORBIDDEN, EXIT_OK};
use edgeauth_e2e::credentials::{device_login, sign_in_with_teams, DEVICE_CODE_GRANT};
use edgeauth_e2e::oidc::{sign_in, IdpUser, Session, ADMIN_TEAM, MEMBER_TEAM};
use edgeauth_e2e::store::table_rows;
use edgeauth_e2e::*;
use serde_json::{json, Value};

fn person(instance: &Instance, teams: &[&str]) -> Session {
    sign_in_with_teams(instance, &unique("role"), teams)
}

/// The role whoami reports for `session` in `project`.
fn role_of(session: &Session, project: &str) -> String {
    session
        .get("/api/auth/whoami")
        .project(project)
        .send()
        .expect_json(200)["role"]
        .as_str()
        .expect("whoami has a role")
        .to_owned()
}

fn set_roles(instance: &Instance, credential: &str, project: &str, body: &Value) -> Value {
    instance
        .post("/api/roles")
        .bearer(credential)
        .project(project)
        .json(body)
        .send()
        .expect_json(200)
}

/// The audit events of `project` with `action`.
fn audit(instance: &Instance, project: &str, action: &str) -> Vec<Value> {
    table_rows(&instance.persist_dir(), "audit_events")
        .into_iter()
        .filter(|row| row["project"] == project && row["action"] == action)
        .map(|row| Value::Object(row.into_iter().collect()))
        .collect()
}

#[test]
fn members_use_a_project_and_only_admins_and_the_super_token_manage_its_service_tokens() {
    let main = Instance::main();
    let project = unique("roles");
    let admin = person(&main, &[ADMIN_TEAM]);
    let member = person(&main, &[MEMBER_TEAM]);
    assert_eq!(role_of(&admin, &project), "admin");
    assert_eq!(role_of(&member, &project), "member");
    assert_eq!(
        whoami(&main, &super_token(), &project).expect_json(200)["role"],
        "super"
    );
    assert_eq!(admin.me()["role"], "admin");
    assert_eq!(member.me()["role"], "member");

    // A member uses the project: their own tokens, which carry their role.
    let member_token = member.create_token(&project, &json!({"name": "laptop"}));
    let who = whoami(&main, &member_token.token, &project).expect_json(200);
    assert_eq!(
        (who["kind"].as_str(), who["role"].as_str()),
        (Some("user"), Some("member"))
    );
    let operators = mint_service_token(&main, &super_token(), &project, "CI", &["production/*"]);

    // …and manages none of the project's service tokens, by any credential of theirs.
    for attempt in [
        member
            .write("POST", "/api/service-tokens")
            .project(&project)
            .json(&service_token_body("mine", &["production/*"])),
        main.post("/api/service-tokens")
            .bearer(&member_token.token)
            .project(&project)
            .json(&service_token_body("mine", &["production/*"])),
        main.get("/api/service-tokens")
            .bearer(&member_token.token)
            .project(&project),
        main.delete(&format!("/api/service-tokens/{}", operators.id))
            .bearer(&member_token.token)
            .project(&project),
    ] {
        let message = attempt.send().expect_error(403, "forbidden");
        assert!(
            message.contains(&format!(
                "needs the admin role in project `{project}` (you are a member)"
            )),
            "{message}"
        );
    }
    whoami(&main, &operators.token, &project).expect_json(200);
    assert_eq!(
        listed_ids(&list_service_tokens(&main, &super_token(), &project)),
        [operators.id.as_str()],
        "the member created nothing"
    );

    // An admin manages them all, the operator's included.
    let admin_token = admin.create_token(&project, &json!({"name": "admin laptop"}));
    let made = mint_service_token(&main, &admin_token.token, &project, "deploy", &["staging"]);
    assert_eq!(
        listed_ids(&list_service_tokens(&main, &admin_token.token, &project)),
        [made.id.clone(), operators.id.clone()]
    );
    main.delete(&format!("/api/service-tokens/{}", operators.id))
        .bearer(&admin_token.token)
        .project(&project)
        .send()
        .expect_status(204);
    whoami(&main, &operators.token, &project).expect_invalid_token();

    // A member's own tokens are theirs alone: another person's is not found.
    main.delete(&format!("/api/tokens/{}", admin_token.id))
        .bearer(&member_token.token)
        .project(&project)
        .send()
        .expect_error(404, "not_found");
    whoami(&main, &admin_token.token, &project).expect_json(200);
}

#[test]
fn a_service_token_manages_only_the_tokens_it_created() {
    let main = Instance::main();
    let project = unique("robot");
    let ci = mint_service_token(&main, &super_token(), &project, "CI", &["production/*"]);
    let other = mint_service_token(&main, &super_token(), &project, "other", &["production/*"]);
    assert_eq!(
        whoami(&main, &ci.token, &project).expect_json(200)["role"],
        "service"
    );
    let child = mint_service_token(&main, &ci.token, &project, "child", &["production/eu"]);
    assert_eq!(
        listed_ids(&list_service_tokens(&main, &ci.token, &project)),
        [child.id.as_str()],
        "a service token lists only what it created"
    );
    let message = main
        .delete(&format!("/api/service-tokens/{}", other.id))
        .bearer(&ci.token)
        .project(&project)
        .send()
        .expect_error(404, "not_found");
    assert!(
        message.contains("that this service token created"),
        "{message}"
    );
    whoami(&main, &other.token, &project).expect_json(200);
    main.delete(&format!("/api/service-tokens/{}", child.id))
        .bearer(&ci.token)
        .project(&project)
        .send()
        .expect_status(204);
    let left = listed_ids(&list_service_tokens(&main, &super_token(), &project));
    assert_eq!(left, [other.id.clone(), ci.id.clone()]);
}

#[test]
fn with_no_roles_configured_everyone_is_a_member_and_only_the_super_token_administers() {
    let open = Instance::open();
    let project = unique("safe");
    let somebody = person(&open, &["any-team"]);
    assert_eq!(role_of(&somebody, &project), "member");
    let message = somebody
        .write("POST", "/api/service-tokens")
        .project(&project)
        .json(&service_token_body("mine", &["*"]))
        .send()
        .expect_error(403, "forbidden");
    assert!(message.contains("needs the admin role"), "{message}");
    let roles = somebody
        .get("/api/roles")
        .project(&project)
        .send()
        .expect_json(200);
    assert_eq!(
        roles,
        json!({"project": project, "admin_teams": [], "member_teams": [],
               "source": "configuration", "updated_at": null, "updated_by": null})
    );
    let message = somebody
        .write("POST", "/api/roles")
        .project(&project)
        .json(&json!({"admin_teams": ["any-team"], "member_teams": []}))
        .send()
        .expect_error(403, "forbidden");
    assert!(message.contains("needs the admin role"), "{message}");
    // The operator names the admins; from then on this person administers the project.
    let set = set_roles(
        &open,
        &super_token(),
        &project,
        &json!({"admin_teams": ["any-team"], "member_teams": []}),
    );
    assert_eq!(set["source"], "project");
    assert_eq!(set["updated_by"], "super");
    assert_eq!(role_of(&somebody, &project), "admin");
    let made = somebody
        .write("POST", "/api/service-tokens")
        .project(&project)
        .json(&service_token_body("mine", &["*"]))
        .send()
        .expect_json(201);
    assert_eq!(
        made["created_by"].as_str().map(|s| s.starts_with("user:")),
        Some(true)
    );
    // Another project still follows the configuration.
    assert_eq!(role_of(&somebody, &unique("other")), "member");
}

#[test]
fn a_projects_own_teams_override_the_configuration_and_people_without_a_role_are_refused() {
    let main = Instance::main();
    let project = unique("override");
    let elsewhere = unique("elsewhere");
    let admin = person(&main, &[ADMIN_TEAM]);
    let member = person(&main, &[MEMBER_TEAM]);
    let admin_token = admin.create_token(&project, &json!({"name": "admin laptop"}));
    let member_token = member.create_token(&project, &json!({"name": "laptop"}));

    // Bad bodies change nothing.
    for (body, says) in [
        (
            json!({"admin_teams": "ops", "member_teams": []}),
            "must be a list",
        ),
        (
            json!({"admin_teams": [""], "member_teams": []}),
            "cannot be empty",
        ),
        (json!({"admin_teams": []}), "`member_teams` is required"),
        (json!({"admin_teams": ["a,b"], "member_teams": []}), "comma"),
    ] {
        let message = main
            .post("/api/roles")
            .bearer(&admin_token.token)
            .project(&project)
            .json(&body)
            .send()
            .expect_error(400, "bad_request");
        assert!(message.contains(says), "{body}: {message}");
    }
    let message = main
        .post("/api/roles")
        .bearer(&member_token.token)
        .project(&project)
        .json(&json!({"admin_teams": [MEMBER_TEAM], "member_teams": []}))
        .send()
        .expect_error(403, "forbidden");
    assert!(message.contains("needs the admin role"), "{message}");
    assert!(audit(&main, &project, "roles.set").is_empty());

    // An admin hands the project to the members' team, and leaves it.
    let set = set_roles(
        &main,
        &admin_token.token,
        &project,
        &json!({"admin_teams": [MEMBER_TEAM], "member_teams": [MEMBER_TEAM, MEMBER_TEAM]}),
    );
    assert_eq!(set["admin_teams"], json!([MEMBER_TEAM]));
    assert_eq!(
        set["member_teams"],
        json!([MEMBER_TEAM]),
        "duplicates dropped"
    );
    let admin_id = admin.me()["id"].as_str().unwrap().to_owned();
    assert_eq!(set["updated_by"], format!("user:{admin_id}"));
    let events = audit(&main, &project, "roles.set");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor"], format!("user:{admin_id}"));

    // At once on the instance that changed it: the member administers, the admin has no role.
    assert_eq!(role_of(&member, &project), "admin");
    assert_eq!(role_of(&admin, &project), "none");
    let me = admin
        .get("/api/users/me")
        .project(&project)
        .send()
        .expect_json(200);
    assert_eq!(me["role"], "none", "{me}");
    for refused in [
        main.get("/api/roles")
            .bearer(&admin_token.token)
            .project(&project),
        main.post("/api/tokens")
            .bearer(&admin_token.token)
            .project(&project)
            .json(&json!({"name": "more"})),
        main.get("/api/auth/check?workspace=production&access=write")
            .bearer(&admin_token.token)
            .project(&project),
        admin.get("/api/tokens").project(&project),
    ] {
        let message = refused.send().expect_error(403, "forbidden");
        assert!(
            message.contains(&format!("none of the teams that use project `{project}`")),
            "{message}"
        );
    }
    // A resource server asking about the token hears it is not active here.
    let introspected = main
        .post("/api/auth/introspect")
        .bearer(&super_token())
        .project(&project)
        .form(&[("token", &admin_token.token)])
        .send()
        .expect_json(200);
    assert_eq!(introspected, json!({"active": false}));
    // Elsewhere nothing changed.
    assert_eq!(role_of(&admin, &elsewhere), "admin");
    assert_eq!(role_of(&member, &elsewhere), "member");

    // The member, now an admin, gives the project back to the configuration.
    let reset = main
        .delete("/api/roles")
        .bearer(&member_token.token)
        .project(&project)
        .send()
        .expect_json(200);
    assert_eq!(reset["source"], "configuration");
    assert_eq!(reset["admin_teams"], json!([ADMIN_TEAM]));
    assert_eq!(role_of(&admin, &project), "admin");
    assert_eq!(role_of(&member, &project), "member");
    assert_eq!(audit(&main, &project, "roles.reset").len(), 1);
    assert!(
        !table_rows(&main.persist_dir(), "project_roles")
            .iter()
            .any(|row| row["project"] == project.as_str()),
        "the project's row is gone"
    );
}

#[test]
fn a_role_change_reaches_another_instance_within_the_revocation_bound() {
    let main = Instance::main();
    let replica = Instance::from_env("REPLICA");
    let project = unique("spread");
    let admin = person(&main, &[ADMIN_TEAM]);
    // The same session, presented to another location that shares the D1.
    let on_replica = Session {
        instance: replica.clone(),
        ..admin.clone()
    };
    assert_eq!(role_on_replica(&on_replica, &project), "admin");
    set_roles(
        &main,
        &super_token(),
        &project,
        &json!({"admin_teams": ["nobody"], "member_teams": ["nobody"]}),
    );
    assert_eq!(
        role_of(&admin, &project),
        "none",
        "at once where it changed"
    );
    let took = within_the_revocation_bound("the role change on REPLICA", || {
        role_on_replica(&on_replica, &project) == "none"
    });
    eprintln!("REPLICA saw the role change after {took:?}");
}

/// [`role_of`] on REPLICA, which shares MAIN's SQLite file without waiting on its locks: a read
/// there while another test writes through MAIN may answer 503 `storage_unavailable` (see
/// scripts/test on REPLICA), so it is asked again, for up to 5 s.
fn role_on_replica(session: &Session, project: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let response = session.get("/api/auth/whoami").project(project).send();
        if response.status == 503 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(200));
            continue;
        }
        return response.expect_json(200)["role"]
            .as_str()
            .expect("whoami has a role")
            .to_owned();
    }
}

/// The claims of an access token (`eaa_` + a JWS), unverified.
fn claims(access_token: &str) -> Value {
    let payload = access_token
        .strip_prefix("eaa_")
        .and_then(|jws| jws.split('.').nth(1))
        .expect("an access token is eaa_ and a JWS");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

#[test]
fn a_device_login_ends_at_the_refresh_after_its_person_loses_their_role() {
    let main = Instance::main();
    let project = unique("device-role");
    let member = person(&main, &[MEMBER_TEAM]);
    let login = device_login(&member, &project);
    assert_eq!(claims(&login.access_token)["rol"], "member");
    assert_eq!(
        whoami(&main, &login.access_token, &project).expect_json(200)["role"],
        "member"
    );
    set_roles(
        &main,
        &super_token(),
        &project,
        &json!({"admin_teams": [], "member_teams": ["nobody"]}),
    );
    let refused = main
        .post("/api/auth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &login.refresh_token),
        ])
        .send();
    let body = refused.expect_json(400);
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains(&format!("project `{project}`")),
        "{description}"
    );
    let revoked: Vec<Value> = audit(&main, &project, "refresh_family.revoke");
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0]["actor"], "role_lost");
    // The login is over: the same refresh token is refused again, for good.
    main.post("/api/auth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &login.refresh_token),
        ])
        .send()
        .expect_json(400);

    // Nor can the person approve a new device login to the project.
    let grant = main
        .post("/api/auth/device/code")
        .project(&project)
        .json(&json!({"client_name": "edgeauth e2e"}))
        .send()
        .expect_json(200);
    let user_code = grant["user_code"].as_str().unwrap();
    member
        .write("POST", "/device")
        .accept_html()
        .form(&[
            ("user_code", user_code),
            ("decision", "approve"),
            ("csrf_token", &member.csrf_token),
        ])
        .send()
        .expect_html_error(403, "no_role");
    // The grant is denied, so the waiting device stops at once.
    main.post("/api/auth/token")
        .form(&[
            ("grant_type", DEVICE_CODE_GRANT),
            ("device_code", grant["device_code"].as_str().unwrap()),
        ])
        .send()
        .expect_json(400)["error"]
        .as_str()
        .map(|e| assert_eq!(e, "access_denied"))
        .expect("an OAuth error");
}

/// A person of the identity provider's own (`POST /__test/account`), now in `teams`.
fn set_provider_account(username: &str, teams: &[&str]) {
    Instance::idp()
        .post("/__test/account")
        .json(&json!({"username": username, "groups": teams}))
        .send()
        .expect_json(200);
}

/// The `users` row of the person whose provider subject is `subject`.
fn user_row(instance: &Instance, subject: &str) -> Value {
    let rows: Vec<Value> = table_rows(&instance.persist_dir(), "users")
        .into_iter()
        .filter(|row| row["subject"] == subject)
        .map(|row| Value::Object(row.into_iter().collect()))
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows[0].clone()
}

fn refresh(instance: &Instance, refresh_token: &str) -> edgeauth_e2e::http::Response {
    instance
        .post("/api/auth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
}

#[test]
fn a_team_change_at_the_provider_reaches_a_device_login_at_its_next_refresh() {
    // A real account at the provider, signed in for real: the provider issues a refresh token
    // with the code, which edgeauth keeps sealed and uses when the device login refreshes
    // after MAIN's revocation bound (10 s).
    let main = Instance::main();
    let username: &'static str = Box::leak(unique("mover").into_boxed_str());
    set_provider_account(username, &[ADMIN_TEAM]);
    let user = IdpUser {
        username,
        password: Box::leak(format!("{username}-password").into_boxed_str()),
        email: Box::leak(format!("{username}@example.test").into_boxed_str()),
        name: Box::leak(format!("Person {username}").into_boxed_str()),
        teams: &[ADMIN_TEAM],
    };
    let session = sign_in(&main, user);
    let project = unique("provider-teams");
    let login = device_login(&session, &project);
    assert_eq!(claims(&login.access_token)["rol"], "admin");
    let row = user_row(&main, username);
    let sealed = row["provider_refresh"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(sealed.starts_with("v1.") && sealed.len() > 60, "{row}");
    assert!(row["teams_checked_at"].as_i64().is_some(), "{row}");

    // Moved from the admins to the members at the provider: the next refresh after the bound
    // carries the member role, and the person's stored teams follow (so their session does).
    set_provider_account(username, &[MEMBER_TEAM]);
    std::thread::sleep(std::time::Duration::from_millis(10_500));
    let renewed = refresh(&main, &login.refresh_token).expect_json(200);
    let access = renewed["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["rol"], "member", "{renewed}");
    let row = user_row(&main, username);
    assert_eq!(row["teams"], json!([MEMBER_TEAM]).to_string(), "{row}");
    let rotated = row["provider_refresh"].as_str().unwrap_or_default();
    assert!(
        rotated.starts_with("v1.") && rotated != sealed,
        "the provider rotated its refresh token and the new one is kept: {row}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while role_of(&session, &project) != "member" {
        assert!(
            std::time::Instant::now() < deadline,
            "the session's role followed the provider within the bound"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }

    // Out of every team MAIN lets sign in: the next refresh after the bound ends the login.
    set_provider_account(username, &["other-team"]);
    std::thread::sleep(std::time::Duration::from_millis(10_500));
    let next = renewed["refresh_token"].as_str().unwrap();
    let body = refresh(&main, next).expect_json(400);
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains("no longer in any of the teams allowed"),
        "{description}"
    );
    let revoked = audit(&main, &project, "refresh_family.revoke");
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0]["actor"], "role_lost");
    assert!(
        revoked[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains(r#""reason":"provider""#)),
        "{revoked:?}"
    );
    refresh(&main, next).expect_json(400);
    // And everywhere else: out of ALLOWED_TEAMS, the person has no role in any project, so
    // their session is refused there too, within the bound.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while role_of(&session, &project) != "none" {
        assert!(
            std::time::Instant::now() < deadline,
            "the session lost its role within the bound"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

#[test]
fn the_cli_shows_and_changes_a_projects_roles() {
    let main = Instance::main();
    let project = unique("cli-roles");
    let cli = CliSandbox::new();
    let as_super = [
        ("EDGEAUTH_SERVER", main.base_url().to_owned()),
        ("EDGEAUTH_TOKEN", super_token()),
        ("EDGEAUTH_PROJECT", project.clone()),
    ];
    let env: Vec<(&str, &str)> = as_super.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let shown = cli.run(&["roles", "show"], &env);
    shown.expect_code(EXIT_OK);
    assert!(
        shown.stdout.contains("admins:  people in edgeauth-team"),
        "{shown}"
    );
    assert!(
        shown.stdout.contains("source:  the server's ADMIN_TEAMS"),
        "{shown}"
    );
    let set = cli
        .run(
            &[
                "roles",
                "set",
                "--admin-teams",
                "ops,sre",
                "--member-teams",
                "dev",
                "--json",
            ],
            &env,
        )
        .expect_json();
    assert_eq!(set["admin_teams"], json!(["ops", "sre"]));
    assert_eq!(set["member_teams"], json!(["dev"]));
    let shown = cli.run(&["roles", "show"], &env);
    assert!(shown.stdout.contains("set by super"), "{shown}");
    // A member may look but not change.
    let member = person(&main, &[MEMBER_TEAM, "dev"]);
    let token = member.create_token(&project, &json!({"name": "cli"}));
    let as_member = [
        ("EDGEAUTH_SERVER", main.base_url().to_owned()),
        ("EDGEAUTH_TOKEN", token.token.clone()),
        ("EDGEAUTH_PROJECT", project.clone()),
    ];
    let member_env: Vec<(&str, &str)> = as_member.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let who = cli.run(&["whoami"], &member_env);
    who.expect_code(EXIT_OK);
    assert!(who.stdout.contains("role: member"), "{who}");
    let refused = cli.run(&["roles", "reset"], &member_env);
    refused.expect_code(EXIT_FORBIDDEN);
    assert!(refused.stderr.contains("needs the admin role"), "{refused}");
    let reset = cli.run(&["roles", "reset", "--json"], &env).expect_json();
    assert_eq!(reset["source"], "configuration");
}
