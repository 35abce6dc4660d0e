//! Service tokens: create, list, use, narrow, revoke, expire, project isolation, bad input.

use std::thread::sleep;
use std::time::{Duration, Instant};

use edgeauth_e2e::credentials::sign_in_with_teams;
use edgeauth_e2e::oidc::ADMIN_TEAM;
use edgeauth_e2e::tokens::{assert_service_token_shape, DISPLAY_PREFIX_CHARS};
use edgeauth_e2e::*;
use serde_json::{json, Value};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const CLOCK_SLACK_MS: i64 = 5 * 60 * 1000;

#[test]
fn creation_returns_the_plaintext_once_in_the_documented_shape() {
    let main = Instance::main();
    let project = unique("create");
    let name = unique("CI deploy");
    let response = main
        .post("/api/service-tokens")
        .bearer(&super_token())
        .project(&project)
        .json(&service_token_body(&name, &["production/*", "staging/eu"]))
        .send();
    let created = response.expect_json(201);
    let cache_control = response.header("Cache-Control").unwrap_or("");
    assert!(
        cache_control.contains("no-store"),
        "token responses carry Cache-Control: no-store:\n{response}"
    );

    let token = created["token"].as_str().expect("token");
    assert_service_token_shape(token);
    let id = created["id"].as_str().expect("id");
    assert!(id.starts_with("st_"), "{created}");
    assert!(
        !id.contains(&token[4..]) && !token.contains(id.trim_start_matches("st_")),
        "the id is not derived from the secret: {created}"
    );
    assert_eq!(created["name"], name.as_str());
    assert_eq!(created["project"], project.as_str());
    assert_eq!(created["workspaces"], json!(["production/*", "staging/eu"]));
    assert_eq!(created["prefix"], &token[..DISPLAY_PREFIX_CHARS]);
    assert_near_ms(
        "created_at",
        parse_timestamp_ms(&created["created_at"]),
        now_ms(),
        CLOCK_SLACK_MS,
    );
    assert_eq!(created["expires_at"], Value::Null);
    assert_eq!(created["last_used_at"], Value::Null);

    // The listing shows the token, but never its plaintext.
    let response = main
        .get("/api/service-tokens")
        .bearer(&super_token())
        .project(&project)
        .send();
    let listing = response.expect_json(200);
    assert!(
        !response.text().contains(token),
        "listing shows a plaintext:\n{response}"
    );
    assert!(
        !all_keys(&listing).iter().any(|k| k == "token"),
        "listing has a token field:\n{response}"
    );
    let listed = strings_of_listing(&listing);
    let entry = listed
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("the new token is not listed:\n{response}"));
    for field in [
        "id",
        "name",
        "project",
        "workspaces",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
    ] {
        assert_eq!(
            entry[field], created[field],
            "listed {field} differs: {entry}"
        );
    }
    assert_eq!(entry["expired"], false, "{entry}");
}

fn strings_of_listing(listing: &Value) -> Vec<Value> {
    listing["service_tokens"]
        .as_array()
        .unwrap_or_else(|| panic!("no service_tokens array: {listing}"))
        .clone()
}

#[test]
fn a_service_token_identifies_itself() {
    let main = Instance::main();
    let project = unique("use");
    let name = unique("deployer");
    let token = mint_service_token(&main, &super_token(), &project, &name, &["production/*"]);
    let me = whoami(&main, &token.token, &project).expect_json(200);
    assert_eq!(me["kind"], "service", "{me}");
    assert_eq!(me["name"], name.as_str(), "{me}");
    assert_eq!(me["project"], project.as_str(), "{me}");
    assert_eq!(me["workspaces"], json!(["production/*"]), "{me}");
    assert_eq!(me["token_id"], token.id.as_str(), "{me}");
    assert_eq!(me["expires_at"], Value::Null, "{me}");
    assert_eq!(me["auth_disabled"], false, "{me}");
}

#[test]
fn tokens_without_a_project_live_in_the_default_project() {
    let main = Instance::main();
    let created = main
        .post("/api/service-tokens")
        .bearer(&super_token())
        .json(&service_token_body(&unique("default"), &["*"]))
        .send()
        .expect_json(201);
    assert_eq!(created["project"], "default", "{created}");
    let me = main
        .get("/api/auth/whoami")
        .bearer(created["token"].as_str().unwrap())
        .send()
        .expect_json(200);
    assert_eq!(me["project"], "default");
    assert_eq!(me["kind"], "service");
}

#[test]
fn the_listing_is_newest_first() {
    let main = Instance::main();
    let project = unique("order");
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(mint_service_token(&main, &super_token(), &project, &format!("t{i}"), &["*"]).id);
        sleep(Duration::from_millis(20));
    }
    let listing = list_service_tokens(&main, &super_token(), &project);
    ids.reverse();
    assert_eq!(listed_ids(&listing), ids, "newest first: {listing:?}");
    let created: Vec<i64> = listing
        .iter()
        .map(|t| parse_timestamp_ms(&t["created_at"]))
        .collect();
    assert!(
        created.windows(2).all(|w| w[0] >= w[1]),
        "created_at descending: {created:?}"
    );
}

#[test]
fn a_service_token_can_mint_only_narrower_tokens() {
    let main = Instance::main();
    let project = unique("narrow");
    let parent = mint_service_token(&main, &super_token(), &project, "parent", &["production/*"]);

    for allowed in [
        &["production/eu"][..],
        &["production/eu/*"],
        &["production/eu", "production/us/*"],
    ] {
        let child = mint_service_token(&main, &parent.token, &project, &unique("child"), allowed);
        let me = whoami(&main, &child.token, &project).expect_json(200);
        assert_eq!(me["workspaces"], json!(allowed), "{me}");
    }

    for broader in [
        &["staging"][..],
        &["*"],
        &["production"],
        &["production/eu", "staging"],
        &["productionx/*"],
        &["staging/*"],
    ] {
        let response = main
            .post("/api/service-tokens")
            .bearer(&parent.token)
            .project(&project)
            .json(&service_token_body(&unique("too-broad"), broader))
            .send();
        response.expect_error(403, "forbidden");
    }

    // Nothing was created by the refused requests.
    let names: Vec<String> = list_service_tokens(&main, &super_token(), &project)
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("too-broad")),
        "a refused request created a token: {names:?}"
    );
}

#[test]
fn revocation_takes_effect_at_once() {
    let main = Instance::main();
    let project = unique("revoke");
    let token = mint_service_token(&main, &super_token(), &project, "doomed", &["*"]);
    whoami(&main, &token.token, &project).expect_json(200);

    let response = main
        .delete(&format!("/api/service-tokens/{}", token.id))
        .bearer(&super_token())
        .project(&project)
        .send();
    response.expect_status(204);
    assert!(response.body.is_empty(), "204 has no body:\n{response}");

    whoami(&main, &token.token, &project).expect_invalid_token();
    assert!(
        !listed_ids(&list_service_tokens(&main, &super_token(), &project)).contains(&token.id),
        "revoked tokens are not listed"
    );

    main.delete(&format!("/api/service-tokens/{}", token.id))
        .bearer(&super_token())
        .project(&project)
        .send()
        .expect_error(404, "not_found");
}

#[test]
fn revoking_an_unknown_or_foreign_id_is_404() {
    let main = Instance::main();
    let project = unique("unknown");
    for id in ["st_doesnotexist", "st_", "nonsense", "00000000"] {
        main.delete(&format!("/api/service-tokens/{id}"))
            .bearer(&super_token())
            .project(&project)
            .send()
            .expect_error(404, "not_found");
    }

    // A token of another project is "unknown" here, and survives the attempt.
    let other = unique("other");
    let token = mint_service_token(&main, &super_token(), &other, "survivor", &["*"]);
    main.delete(&format!("/api/service-tokens/{}", token.id))
        .bearer(&super_token())
        .project(&project)
        .send()
        .expect_error(404, "not_found");
    whoami(&main, &token.token, &other).expect_json(200);
}

/// An admin manages every service token of the project, but only those their credential's
/// scope covers. (A service token manages only those it created: tests/roles.rs.)
#[test]
fn an_admin_sees_and_revokes_only_what_their_scope_covers() {
    let main = Instance::main();
    let project = unique("scope");
    let sup = super_token();
    let admin = sign_in_with_teams(&main, &unique("scope-admin"), &[ADMIN_TEAM]);
    let narrow = admin
        .create_token(
            &project,
            &json!({"name": "prod only", "workspaces": ["production/*"]}),
        )
        .token;
    let prod = mint_service_token(&main, &sup, &project, "prod", &["production/*"]);
    let staging = mint_service_token(&main, &sup, &project, "staging", &["staging/*"]);
    let eu = mint_service_token(&main, &sup, &project, "eu", &["production/eu"]);
    let everything = mint_service_token(&main, &sup, &project, "all", &["*"]);
    let mixed = mint_service_token(
        &main,
        &sup,
        &project,
        "mixed",
        &["production/us", "staging/us"],
    );

    let seen = listed_ids(&list_service_tokens(&main, &narrow, &project));
    assert!(
        seen.contains(&prod.id),
        "production/* covers itself: {seen:?}"
    );
    assert!(
        seen.contains(&eu.id),
        "production/* covers production/eu: {seen:?}"
    );
    for hidden in [&staging, &everything, &mixed] {
        assert!(
            !seen.contains(&hidden.id),
            "{} is outside production/*: {seen:?}",
            hidden.name
        );
    }

    for uncovered in [&staging, &everything, &mixed] {
        main.delete(&format!("/api/service-tokens/{}", uncovered.id))
            .bearer(&narrow)
            .project(&project)
            .send()
            .expect_error(403, "forbidden");
        whoami(&main, &uncovered.token, &project).expect_json(200);
    }

    main.delete(&format!("/api/service-tokens/{}", eu.id))
        .bearer(&narrow)
        .project(&project)
        .send()
        .expect_status(204);
    whoami(&main, &eu.token, &project).expect_invalid_token();
}

#[test]
fn a_token_is_valid_only_in_its_own_project() {
    let main = Instance::main();
    let alpha = unique("alpha");
    let beta = unique("beta");
    let token = mint_service_token(&main, &super_token(), &alpha, "alpha-ci", &["*"]);

    whoami(&main, &token.token, &beta).expect_invalid_token();
    main.get(&format!("/api/auth/whoami?project={beta}"))
        .bearer(&token.token)
        .send()
        .expect_invalid_token();
    main.get("/api/auth/whoami")
        .bearer(&token.token)
        .send()
        .expect_invalid_token(); // the default project

    let me = main
        .get(&format!("/api/auth/whoami?project={alpha}"))
        .bearer(&token.token)
        .send()
        .expect_json(200);
    assert_eq!(me["project"], alpha.as_str());
    whoami(&main, &token.token, &alpha).expect_json(200);

    // It cannot act in the other project either.
    main.post("/api/service-tokens")
        .bearer(&token.token)
        .project(&beta)
        .json(&service_token_body("escape", &["*"]))
        .send()
        .expect_invalid_token();

    whoami(&main, &token.token, "Bad_Name").expect_error(400, "bad_request");
}

#[test]
fn expiry_bounds_are_accepted() {
    let main = Instance::main();
    let project = unique("bounds");
    for days in [1_i64, 3650] {
        let token = mint_service_token_with(
            &main,
            &super_token(),
            &project,
            &json!({"name": format!("d{days}"), "workspaces": ["*"], "expires_in_days": days}),
        );
        assert_near_ms(
            "expires_at",
            parse_timestamp_ms(&token.body["expires_at"]),
            now_ms() + days * DAY_MS,
            CLOCK_SLACK_MS,
        );
    }
    let token = mint_service_token_with(
        &main,
        &super_token(),
        &project,
        &json!({"name": "null expiry", "workspaces": ["*"], "expires_in_days": null}),
    );
    assert_eq!(token.body["expires_at"], Value::Null);
}

#[test]
fn last_used_at_is_recorded_after_use() {
    let main = Instance::main();
    let project = unique("lastused");
    let token = mint_service_token(&main, &super_token(), &project, "used", &["*"]);
    let entry = |listing: &[Value]| {
        listing
            .iter()
            .find(|t| t["id"] == token.id.as_str())
            .cloned()
            .expect("listed")
    };
    let before = entry(&list_service_tokens(&main, &super_token(), &project));
    assert_eq!(before["last_used_at"], Value::Null, "{before}");

    let used_at = now_ms();
    whoami(&main, &token.token, &project).expect_json(200);

    // Written asynchronously after the response; give it a few seconds.
    let deadline = Instant::now() + Duration::from_secs(6);
    let after = loop {
        let current = entry(&list_service_tokens(&main, &super_token(), &project));
        if !current["last_used_at"].is_null() || Instant::now() > deadline {
            break current;
        }
        sleep(Duration::from_millis(250));
    };
    assert!(
        !after["last_used_at"].is_null(),
        "last_used_at still null 6 s after a use: {after}"
    );
    assert_near_ms(
        "last_used_at",
        parse_timestamp_ms(&after["last_used_at"]),
        used_at,
        CLOCK_SLACK_MS,
    );
    let stored = store::stored_service_token(&main.persist_dir(), &token.id).expect("stored");
    assert!(stored.last_used_at.is_some(), "{stored:?}");
}

// ---- Bad input ---------------------------------------------------------------------------

/// Sends a creation request with super and asserts a 4xx with the given status and code.
fn refuse_create(project: &str, content_type: Option<&str>, body: &[u8], status: u16, code: &str) {
    let response = Instance::main()
        .post("/api/service-tokens")
        .bearer(&super_token())
        .project(project)
        .body(content_type, body.to_vec())
        .send();
    response.assert_not_5xx();
    let shown = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    assert_eq!(
        response.status, status,
        "body {shown:?} should be {status}:\n{response}"
    );
    response.assert_error_body(code);
}

fn refuse_json(project: &str, body: Value) {
    refuse_create(
        project,
        Some("application/json"),
        body.to_string().as_bytes(),
        400,
        "bad_request",
    );
}

fn assert_nothing_created(project: &str) {
    let listing = list_service_tokens(&Instance::main(), &super_token(), project);
    assert!(
        listing.is_empty(),
        "refused requests created tokens: {listing:?}"
    );
}

#[test]
fn malformed_json_is_400_invalid_json() {
    let project = unique("badjson");
    for body in [
        &b"{\"name\":"[..],
        b"not json",
        b"",
        b"{\"name\": \"x\", \"workspaces\": [\"*\"]} trailing",
        b"\xff\xfe{}",
    ] {
        refuse_create(
            &project,
            Some("application/json"),
            body,
            400,
            "invalid_json",
        );
    }
    assert_nothing_created(&project);
}

#[test]
fn wrong_types_and_missing_fields_are_400() {
    let project = unique("badtypes");
    let cases = [
        json!({"name": 5, "workspaces": ["*"]}),
        json!({"name": null, "workspaces": ["*"]}),
        json!({"name": ["x"], "workspaces": ["*"]}),
        json!({"name": "x", "workspaces": "x"}),
        json!({"name": "x", "workspaces": "*"}),
        json!({"name": "x", "workspaces": [5]}),
        json!({"name": "x", "workspaces": null}),
        json!({"name": "x", "workspaces": ["*"], "expires_in_days": "ten"}),
        json!({"name": "x", "workspaces": ["*"], "expires_in_days": 0}),
        json!({"name": "x", "workspaces": ["*"], "expires_in_days": -1}),
        json!({"name": "x", "workspaces": ["*"], "expires_in_days": 3651}),
        json!({"name": "x", "workspaces": ["*"], "expires_in_days": 100000}),
        json!({"name": "x", "workspaces": ["*"], "expires_in_days": 1.5}),
        json!({"name": "x", "workspaces": ["*"], "expires_in_days": 1e300}),
        json!({}),
        json!({"name": "x"}),
        json!({"workspaces": ["*"]}),
        json!([]),
        json!("x"),
        json!(null),
    ];
    for body in cases {
        refuse_json(&project, body);
    }
    assert_nothing_created(&project);
}

#[test]
fn bad_names_are_400() {
    let project = unique("badnames");
    let long = "n".repeat(101);
    for name in [
        "",
        long.as_str(),
        "a\u{0}b",
        "line\nbreak",
        "tab\there",
        "del\u{7f}",
        "esc\u{1b}[31m",
    ] {
        refuse_json(&project, json!({"name": name, "workspaces": ["*"]}));
    }
    assert_nothing_created(&project);
}

#[test]
fn bad_workspace_patterns_are_400() {
    let project = unique("badpatterns");
    let too_long = format!("w/{}", "a".repeat(127));
    let bad = [
        "**",
        "a/*/b",
        "/x",
        "x/",
        "../x",
        "",
        "a//b",
        "*/x",
        "a*",
        "a/**",
        ".",
        "..",
        "a/./b",
        "a/..",
        "spa ce",
        "tab\tx",
        "ü",
        too_long.as_str(),
    ];
    for pattern in bad {
        refuse_json(&project, json!({"name": "x", "workspaces": [pattern]}));
        refuse_json(
            &project,
            json!({"name": "x", "workspaces": ["ok", pattern]}),
        );
    }
    refuse_json(&project, json!({"name": "x", "workspaces": []}));
    let many: Vec<String> = (0..33).map(|i| format!("w{i}")).collect();
    refuse_json(&project, json!({"name": "x", "workspaces": many}));
    assert_nothing_created(&project);
}

#[test]
fn limits_are_inclusive() {
    let main = Instance::main();
    let project = unique("limits");
    let longest_name = "n".repeat(100);
    let token = mint_service_token(&main, &super_token(), &project, &longest_name, &["*"]);
    assert_eq!(token.name, longest_name);

    let many: Vec<String> = (0..32).map(|i| format!("team-{i}/*")).collect();
    let many_refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let token = mint_service_token(&main, &super_token(), &project, "many", &many_refs);
    assert_eq!(strings(&token.body["workspaces"]), many);

    let longest_pattern = format!("w/{}", "a".repeat(126));
    assert_eq!(longest_pattern.len(), 128);
    mint_service_token(
        &main,
        &super_token(),
        &project,
        "long",
        &[longest_pattern.as_str()],
    );

    let unicode = "Déploiement 🚀 nightly";
    let token = mint_service_token(&main, &super_token(), &project, unicode, &["a_b.c-d/e"]);
    assert_eq!(token.name, unicode);
}

#[test]
fn json_with_a_charset_parameter_is_accepted() {
    let created = Instance::main()
        .post("/api/service-tokens")
        .bearer(&super_token())
        .project(&unique("charset"))
        .body(
            Some("application/json; charset=utf-8"),
            service_token_body("charset", &["*"]).to_string(),
        )
        .send()
        .expect_json(201);
    assert_service_token_shape(created["token"].as_str().unwrap());
}

#[test]
fn bodies_over_16_kib_are_413() {
    let project = unique("big");
    let mut body = service_token_body("big", &["*"]);
    body["padding"] = json!("p".repeat(17 * 1024));
    let bytes = body.to_string().into_bytes();
    refuse_create(
        &project,
        Some("application/json"),
        &bytes,
        413,
        "payload_too_large",
    );

    // Without a Content-Length the limit must hold as well.
    let response = Instance::main()
        .post("/api/service-tokens")
        .bearer(&super_token())
        .project(&project)
        .body(Some("application/json"), bytes)
        .chunked()
        .send();
    response.expect_error(413, "payload_too_large");
    assert_nothing_created(&project);
}

#[test]
fn non_json_content_types_are_415() {
    let project = unique("ctype");
    let body = service_token_body("x", &["*"]).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonx"),
    ] {
        refuse_create(
            &project,
            content_type,
            body.as_bytes(),
            415,
            "unsupported_media_type",
        );
    }
    assert_nothing_created(&project);
}

// ---- Without SECRET ----------------------------------------------------------------------

#[test]
fn service_tokens_without_secret_are_501_naming_secret() {
    let nosecret = Instance::nosecret();
    let responses = [
        nosecret
            .post("/api/service-tokens")
            .bearer(&super_token())
            .json(&service_token_body("ci", &["*"]))
            .send(),
        nosecret
            .get("/api/service-tokens")
            .bearer(&super_token())
            .send(),
        nosecret
            .delete("/api/service-tokens/st_abc")
            .bearer(&super_token())
            .send(),
    ];
    for response in responses {
        let message = response.expect_error(501, "not_configured");
        assert!(message.contains("SECRET"), "{response}");
    }

    // The super token works without SECRET.
    let me = nosecret
        .get("/api/auth/whoami")
        .bearer(&super_token())
        .send()
        .expect_json(200);
    assert_eq!(me["kind"], "super");
}

#[test]
fn a_service_token_presented_without_secret_is_refused_cleanly() {
    let main = Instance::main();
    let token = mint_service_token(
        &main,
        &super_token(),
        "default",
        &unique("elsewhere"),
        &["*"],
    );
    let response = Instance::nosecret()
        .get("/api/auth/whoami")
        .bearer(&token.token)
        .send();
    match response.status {
        401 => {
            response.expect_invalid_token();
        }
        501 => {
            let message = response.assert_error_body("not_configured");
            assert!(message.contains("SECRET"), "{response}");
        }
        _ => panic!("expected 401 or 501:\n{response}"),
    }
}

#[test]
fn a_service_token_never_outlives_the_token_that_created_it() {
    // A one-day token asking for a child that never expires gets one that ends with it.
    // Revoking the parent does not revoke the child: tokens are credentials of their own
    // (listed, and revocable, separately); only a login's tokens end with the login.
    let main = Instance::main();
    let project = unique("cap");
    let parent = mint_service_token_with(
        &main,
        &super_token(),
        &project,
        &json!({"name": "day", "workspaces": ["*"], "expires_in_days": 1}),
    );
    let parent_ends = parse_timestamp_ms(&parent.body["expires_at"]);
    for asked in [
        service_token_body("forever", &["*"]),
        json!({"name": "month", "workspaces": ["*"], "expires_in_days": 30}),
    ] {
        let child = mint_service_token_with(&main, &parent.token, &project, &asked);
        assert_eq!(
            parse_timestamp_ms(&child.body["expires_at"]),
            parent_ends,
            "capped at its creator's expiry: {}",
            child.body
        );
    }
    // The super token does not end: what it asks for is what it gets.
    let lasting = mint_service_token(&main, &super_token(), &project, "lasting", &["*"]);
    assert!(lasting.body["expires_at"].is_null(), "{}", lasting.body);
}
