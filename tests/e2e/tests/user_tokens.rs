//! User API tokens: minted by a signed-in person, shown once, listed without secrets, used as
//! bearers, bound to one project, never broader than their creator, expiring, revocable by
//! their owner only, stored as hashes; and refused to credentials that are not a person.
//!
//! Every test holds `oidc::shared()`, except the one that ages a token in D1 behind the
//! Worker's back, which holds `oidc::exclusive()`.

use std::thread::sleep;
use std::time::{Duration, Instant};

use edgeauth_e2e::oidc::{exclusive, shared, sign_in, Session, UserToken, DEMO, OUTSIDER};
use edgeauth_e2e::store::{self, files_containing};
use edgeauth_e2e::tokens::{
    assert_user_token_shape, change_char, forged_user_token, sha256_hex, DISPLAY_PREFIX_CHARS,
    ENTROPY_CHARS,
};
use edgeauth_e2e::*;
use serde_json::{json, Value};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const CLOCK_SLACK_MS: i64 = 5 * 60 * 1000;

fn demo() -> Session {
    sign_in(&Instance::main(), DEMO)
}

fn listed<'a>(listing: &'a [Value], id: &str) -> Option<&'a Value> {
    listing.iter().find(|t| t["id"] == id)
}

#[test]
fn creation_shows_the_plaintext_once_in_the_documented_shape() {
    let _writers = shared();
    let session = demo();
    let project = unique("utcreate");
    let name = unique("laptop");
    let response = session
        .write("POST", "/api/tokens")
        .project(&project)
        .json(&json!({"name": name, "expires_in_days": 3}))
        .send();
    let created = UserToken::from_creation(&response);
    assert!(
        response
            .header("Cache-Control")
            .unwrap_or("")
            .contains("no-store"),
        "token responses carry Cache-Control: no-store:\n{response}"
    );
    let body = &created.body;
    assert_user_token_shape(&created.token);
    assert!(created.id.starts_with("ut_"), "{body}");
    assert!(
        !created.token.contains(created.id.trim_start_matches("ut_")),
        "the id is not derived from the secret: {body}"
    );
    assert_eq!(body["name"], name.as_str());
    assert_eq!(body["project"], project.as_str());
    assert_eq!(body["workspaces"], json!(["*"]), "default scope: {body}");
    assert_eq!(body["prefix"], &created.token[..DISPLAY_PREFIX_CHARS]);
    assert_near_ms(
        "created_at",
        parse_timestamp_ms(&body["created_at"]),
        now_ms(),
        CLOCK_SLACK_MS,
    );
    assert_near_ms(
        "expires_at",
        parse_timestamp_ms(&body["expires_at"]),
        now_ms() + 3 * DAY_MS,
        CLOCK_SLACK_MS,
    );
    assert_eq!(body["last_used_at"], Value::Null);

    // The listing has it, in every project, never with its plaintext.
    let response = session.get("/api/tokens").send();
    let listing = response.expect_json(200);
    assert!(
        !response
            .text()
            .contains(&created.token[4..4 + ENTROPY_CHARS]),
        "the listing shows a plaintext:\n{response}"
    );
    assert!(
        !all_keys(&listing).iter().any(|k| k == "token"),
        "the listing has a token field:\n{response}"
    );
    let tokens = listing["tokens"].as_array().expect("tokens array");
    let entry = listed(tokens, &created.id).expect("the new token is listed");
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
        assert_eq!(entry[field], body[field], "listed {field}: {entry}");
    }
    assert_eq!(entry["expired"], false, "{entry}");
}

#[test]
fn the_listing_is_newest_first_across_projects() {
    let _writers = shared();
    let session = demo();
    let mut ids = Vec::new();
    for i in 0..3 {
        let project = unique(&format!("utorder{i}"));
        ids.push(
            session
                .create_token(&project, &json!({"name": format!("t{i}")}))
                .id,
        );
        sleep(Duration::from_millis(20));
    }
    let listing = session.list_tokens();
    let positions: Vec<usize> = ids
        .iter()
        .map(|id| {
            listing
                .iter()
                .position(|t| t["id"] == id.as_str())
                .expect("listed")
        })
        .collect();
    assert!(
        positions[0] > positions[1] && positions[1] > positions[2],
        "newest first: {positions:?}"
    );
}

#[test]
fn a_user_token_is_a_credential_of_its_person() {
    let _writers = shared();
    let session = demo();
    let project = unique("utuse");
    let name = unique("script");
    let created = session.create_token(
        &project,
        &json!({"name": name, "workspaces": ["production/*"]}),
    );

    let me = whoami(&Instance::main(), &created.token, &project).expect_json(200);
    assert_eq!(me["kind"], "user", "{me}");
    assert_eq!(me["name"], name.as_str(), "{me}");
    assert_eq!(me["token_id"], created.id.as_str(), "{me}");
    assert_eq!(me["project"], project.as_str(), "{me}");
    assert_eq!(me["workspaces"], json!(["production/*"]), "{me}");

    let person = Instance::main()
        .get("/api/users/me")
        .bearer(&created.token)
        .project(&project)
        .send()
        .expect_json(200);
    let by_cookie = session.me();
    assert_eq!(person["id"], by_cookie["id"], "{person}");
    assert_eq!(person["email"], DEMO.email, "{person}");
    assert_eq!(person["authenticated_by"], "user_token", "{person}");
    assert_eq!(person["token_id"], created.id.as_str(), "{person}");
    assert_eq!(person["project"], project.as_str(), "{person}");
}

#[test]
fn a_user_token_is_valid_only_in_its_project() {
    let _writers = shared();
    let session = demo();
    let project = unique("utalpha");
    let created = session.create_token(&project, &json!({"name": "bound"}));
    let main = Instance::main();
    let elsewhere = whoami(&main, &created.token, &unique("utbeta")).expect_invalid_token();
    // Another project's token is refused exactly as a revoked one (one refusal, RFC 6750).
    let gone = session.create_token(&project, &json!({"name": "gone"}));
    session
        .write("DELETE", &format!("/api/tokens/{}", gone.id))
        .project(&project)
        .send()
        .expect_status(204);
    let revoked = whoami(&main, &gone.token, &project).expect_invalid_token();
    assert_eq!(
        elsewhere, revoked,
        "another project's token reads as a revoked one"
    );
    // One that no server minted is refused by its tag, before any storage read.
    let forged = whoami(&main, &forged_user_token('x'), &project).expect_invalid_token();
    assert!(forged.contains("not issued by this server"), "{forged}");
    main.get("/api/auth/whoami")
        .bearer(&created.token)
        .send()
        .expect_invalid_token(); // the default project
    main.get(&format!("/api/auth/whoami?project={}", unique("utgamma")))
        .bearer(&created.token)
        .send()
        .expect_invalid_token();
    whoami(&main, &created.token, &project).expect_json(200);
    // Nor on another deployment.
    whoami(&Instance::open(), &created.token, &project).expect_invalid_token();
}

#[test]
fn a_token_is_never_broader_than_its_creator() {
    let _writers = shared();
    let session = demo();
    let project = unique("utnarrow");
    let parent = session.create_token(
        &project,
        &json!({"name": "parent", "workspaces": ["production/*"]}),
    );
    let main = Instance::main();
    let child = main
        .post("/api/tokens")
        .bearer(&parent.token)
        .project(&project)
        .json(&json!({"name": "child", "workspaces": ["production/eu"]}))
        .send();
    let child = UserToken::from_creation(&child);
    assert_eq!(child.body["workspaces"], json!(["production/eu"]));
    for broader in [json!(["*"]), json!(["staging/*"]), json!(["production"])] {
        main.post("/api/tokens")
            .bearer(&parent.token)
            .project(&project)
            .json(&json!({"name": "too-broad", "workspaces": broader}))
            .send()
            .expect_error(403, "forbidden");
    }
    // Omitted workspaces mean ["*"], which is broader too.
    main.post("/api/tokens")
        .bearer(&parent.token)
        .project(&project)
        .json(&json!({"name": "too-broad"}))
        .send()
        .expect_error(403, "forbidden");
    assert!(
        !session
            .list_tokens()
            .iter()
            .any(|t| t["name"] == "too-broad"),
        "a refused request created a token"
    );
}

#[test]
fn expiry_bounds_are_checked() {
    let _writers = shared();
    let session = demo();
    let project = unique("utbounds");
    // A token made with a session ends with it: a day is a day; more, or none, is the
    // session's end (7 days after the sign-in, at most).
    let session_ends = parse_timestamp_ms(&whoami_session_ends(&session));
    for (asked, expected) in [
        (json!(1), now_ms() + DAY_MS),
        (json!(3650), session_ends),
        (Value::Null, session_ends),
    ] {
        let mut body = json!({"name": format!("d{asked}")});
        if !asked.is_null() {
            body["expires_in_days"] = asked.clone();
        }
        let created = session.create_token(&project, &body);
        assert_near_ms(
            "expires_at",
            parse_timestamp_ms(&created.body["expires_at"]),
            expected,
            CLOCK_SLACK_MS,
        );
        let me = whoami(&Instance::main(), &created.token, &project).expect_json(200);
        assert_eq!(me["expires_at"], created.body["expires_at"], "{me}");
    }
    for bad in [json!(0), json!(3651), json!(-1), json!(1.5), json!("30")] {
        session
            .write("POST", "/api/tokens")
            .project(&project)
            .json(&json!({"name": "bad-expiry", "expires_in_days": bad}))
            .send()
            .expect_error(400, "bad_request");
    }
}

/// When `session` ends, as `whoami` with its cookie reports it.
fn whoami_session_ends(session: &Session) -> Value {
    session.get("/api/auth/whoami").send().expect_json(200)["expires_at"].clone()
}

#[test]
fn an_expired_token_is_refused_and_listed_as_expired() {
    // Alone: it writes to D1 behind the Worker's back (see edgeauth_e2e::store).
    let _alone = exclusive();
    let session = demo();
    let project = unique("utexpired");
    let created = session.create_token(&project, &json!({"name": "old", "expires_in_days": 1}));
    let main = Instance::main();
    whoami(&main, &created.token, &project).expect_json(200);
    let aged = store::set_integer(
        &main.persist_dir(),
        "user_tokens",
        "expires_at",
        now_ms() - 1000,
        "id",
        &created.id,
    );
    assert_eq!(aged, 1);
    // The instance remembers what it verified for at most the revocation bound.
    within_the_revocation_bound("an aged user token refused", || {
        whoami(&main, &created.token, &project).status == 401
    });
    whoami(&main, &created.token, &project).expect_invalid_token();
    let listing = session.list_tokens();
    let entry = listed(&listing, &created.id).expect("an expired token is still listed");
    assert_eq!(entry["expired"], true, "{entry}");
}

#[test]
fn revocation_takes_effect_at_once() {
    let _writers = shared();
    let session = demo();
    let project = unique("utrevoke");
    let created = session.create_token(&project, &json!({"name": "doomed"}));
    let main = Instance::main();
    whoami(&main, &created.token, &project).expect_json(200);

    let response = session
        .write("DELETE", &format!("/api/tokens/{}", created.id))
        .send();
    response.expect_status(204);
    whoami(&main, &created.token, &project).expect_invalid_token();
    assert!(listed(&session.list_tokens(), &created.id).is_none());
    let row = store::table_rows(&main.persist_dir(), "user_tokens")
        .into_iter()
        .find(|r| r["id"] == created.id.as_str())
        .expect("the row stays, marked revoked");
    assert!(!row["revoked_at"].is_null(), "{row:?}");

    session
        .write("DELETE", &format!("/api/tokens/{}", created.id))
        .send()
        .expect_error(404, "not_found");

    // A token can revoke itself (its owner's credential).
    let other = session.create_token(&project, &json!({"name": "self"}));
    main.delete(&format!("/api/tokens/{}", other.id))
        .bearer(&other.token)
        .project(&project)
        .send()
        .expect_status(204);
    whoami(&main, &other.token, &project).expect_invalid_token();
}

#[test]
fn another_persons_token_is_not_found() {
    let _writers = shared();
    let open = Instance::open();
    let owner = sign_in(&open, DEMO);
    let stranger = sign_in(&open, OUTSIDER);
    assert_ne!(owner.me()["id"], stranger.me()["id"]);
    let project = unique("utforeign");
    let created = owner.create_token(&project, &json!({"name": "mine"}));

    stranger
        .write("DELETE", &format!("/api/tokens/{}", created.id))
        .send()
        .expect_error(404, "not_found");
    let stranger_token = stranger.create_token(&project, &json!({"name": "theirs"}));
    open.delete(&format!("/api/tokens/{}", created.id))
        .bearer(&stranger_token.token)
        .project(&project)
        .send()
        .expect_error(404, "not_found");
    assert!(listed(&stranger.list_tokens(), &created.id).is_none());
    assert!(listed(&owner.list_tokens(), &stranger_token.id).is_none());
    whoami(&open, &created.token, &project).expect_json(200);

    for id in ["ut_doesnotexist", "ut_", "st_x", "nonsense"] {
        owner
            .write("DELETE", &format!("/api/tokens/{id}"))
            .send()
            .expect_error(404, "not_found");
    }
}

#[test]
fn credentials_that_are_not_a_person_get_403() {
    let _writers = shared();
    let main = Instance::main();
    let project = unique("utnonperson");
    let service = mint_service_token(&main, &super_token(), &project, "ci", &["*"]);
    for credential in [super_token(), service.token.clone()] {
        main.post("/api/tokens")
            .bearer(&credential)
            .project(&project)
            .json(&json!({"name": "nope"}))
            .send()
            .expect_error(403, "forbidden");
        main.get("/api/users/me")
            .bearer(&credential)
            .project(&project)
            .send()
            .expect_error(403, "forbidden");
        main.get("/api/tokens")
            .bearer(&credential)
            .project(&project)
            .send()
            .expect_error(403, "forbidden");
    }
    // Anonymous (auth disabled) is not a person either.
    Instance::noauth()
        .get("/api/users/me")
        .send()
        .expect_error(403, "forbidden");
    // And without any credential: 401.
    main.post("/api/tokens")
        .json(&json!({"name": "nope"}))
        .send()
        .expect_status(401);
    main.get("/api/users/me").send().expect_status(401);
    main.get("/api/tokens").send().expect_status(401);
}

#[test]
fn malformed_bodies_are_refused_with_the_documented_codes() {
    let _writers = shared();
    let session = demo();
    let project = unique("utbad");
    let post = |content_type: Option<&str>, body: Vec<u8>| {
        session
            .write("POST", "/api/tokens")
            .project(&project)
            .body(content_type, body)
            .send()
    };
    for body in [&b"{\"name\":"[..], b"not json", b"", b"\xff\xfe{}"] {
        post(Some("application/json"), body.to_vec()).expect_error(400, "invalid_json");
    }
    for body in [
        json!({}),
        json!({"name": ""}),
        json!({"name": 5}),
        json!({"name": "x", "workspaces": []}),
        json!({"name": "x", "workspaces": "*"}),
        json!({"name": "x", "workspaces": ["a//b"]}),
        json!({"name": "line\nbreak"}),
        json!({"name": "n".repeat(101)}),
        json!([]),
    ] {
        post(Some("application/json"), body.to_string().into_bytes())
            .expect_error(400, "bad_request");
    }
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        post(content_type, json!({"name": "x"}).to_string().into_bytes())
            .expect_error(415, "unsupported_media_type");
    }
    let mut big = json!({"name": "big"});
    big["padding"] = json!("p".repeat(17 * 1024));
    post(Some("application/json"), big.to_string().into_bytes())
        .expect_error(413, "payload_too_large");
    assert!(session
        .list_tokens()
        .iter()
        .all(|t| t["project"] != project.as_str()));
}

#[test]
fn forged_and_mistyped_user_tokens_are_401_without_a_server_error() {
    let _writers = shared();
    let main = Instance::main();
    let session = demo();
    let project = unique("utforged");
    let real = session
        .create_token(&project, &json!({"name": "real"}))
        .token;
    for presented in [
        forged_user_token('Q'),
        forged_user_token('0'),
        change_char(&real, 20),                  // checksum now wrong
        tokens::reseal(&change_char(&real, 20)), // checksum right, unknown
        format!("{real}x"),
        real[..real.len() - 1].to_owned(),
        real.replacen("eau_", "eas_", 1),
    ] {
        let response = whoami(&main, &presented, &project);
        response.assert_not_5xx();
        response.expect_invalid_token();
        let response = main
            .get("/api/users/me")
            .bearer(&presented)
            .project(&project)
            .send();
        response.expect_invalid_token();
    }
    whoami(&main, &real, &project).expect_json(200);
}

#[test]
fn last_used_at_is_recorded_after_use() {
    let _writers = shared();
    let session = demo();
    let project = unique("utlastused");
    let created = session.create_token(&project, &json!({"name": "used"}));
    let used_at = now_ms();
    whoami(&Instance::main(), &created.token, &project).expect_json(200);
    let deadline = Instant::now() + Duration::from_secs(6);
    let entry = loop {
        let listing = session.list_tokens();
        let entry = listed(&listing, &created.id).expect("listed").clone();
        if !entry["last_used_at"].is_null() || Instant::now() > deadline {
            break entry;
        }
        sleep(Duration::from_millis(250));
    };
    assert!(
        !entry["last_used_at"].is_null(),
        "last_used_at still null 6 s after a use: {entry}"
    );
    assert_near_ms(
        "last_used_at",
        parse_timestamp_ms(&entry["last_used_at"]),
        used_at,
        CLOCK_SLACK_MS,
    );
}

#[test]
fn storage_holds_only_hashes_of_user_tokens() {
    let _writers = shared();
    let main = Instance::main();
    let session = demo();
    let project = unique("uthash");
    let created = session.create_token(
        &project,
        &json!({"name": "hashed", "workspaces": ["a", "b/*"], "expires_in_days": 7}),
    );
    whoami(&main, &created.token, &project).expect_json(200);
    let row = store::table_rows(&main.persist_dir(), "user_tokens")
        .into_iter()
        .find(|r| r["id"] == created.id.as_str())
        .expect("a user_tokens row");
    assert_eq!(row["token_hash"], sha256_hex(&created.token).as_str());
    assert_eq!(
        row["display_prefix"],
        &created.token[..DISPLAY_PREFIX_CHARS]
    );
    assert_eq!(row["project"], project.as_str());
    assert_eq!(row["user_id"], session.me()["id"]);
    let stored: Value = serde_json::from_str(row["workspaces"].as_str().unwrap()).unwrap();
    assert_eq!(stored, json!(["a", "b/*"]));
    for needle in [&created.token[..], &created.token[4..4 + ENTROPY_CHARS]] {
        let found = files_containing(&state_dir(), needle.as_bytes());
        assert!(
            found.is_empty(),
            "a user token's plaintext is stored in {found:?}"
        );
    }
}

#[test]
fn a_narrow_token_manages_only_its_projects_tokens_within_its_workspaces() {
    // A user token is bound to one project and its workspaces; it must not list or revoke
    // its owner's broader tokens, nor any in another project. The browser session (the
    // account page) manages them all.
    let _writers = shared();
    let session = demo();
    let sandbox = unique("utsandbox");
    let prod = unique("utprod");
    let scratch = session.create_token(
        &sandbox,
        &json!({"name": "scratch", "workspaces": ["scratch"]}),
    );
    let sibling = session.create_token(
        &sandbox,
        &json!({"name": "sibling", "workspaces": ["scratch"]}),
    );
    let broad = session.create_token(&sandbox, &json!({"name": "broad"}));
    let elsewhere = session.create_token(&prod, &json!({"name": "prod-all"}));
    let main = Instance::main();

    let listing = main
        .get("/api/tokens")
        .bearer(&scratch.token)
        .project(&sandbox)
        .send()
        .expect_json(200);
    let ids: Vec<String> = listing["tokens"]
        .as_array()
        .expect("a tokens array")
        .iter()
        .map(|t| t["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        ids.contains(&scratch.id) && ids.contains(&sibling.id),
        "{listing}"
    );
    assert!(
        !ids.contains(&broad.id) && !ids.contains(&elsewhere.id),
        "a narrow token sees only its project's tokens within its workspaces: {listing}"
    );

    let revoke = |id: &str| {
        main.request("DELETE", &format!("/api/tokens/{id}"))
            .bearer(&scratch.token)
            .project(&sandbox)
            .send()
    };
    revoke(&elsewhere.id).expect_error(404, "not_found");
    revoke(&broad.id).expect_error(403, "forbidden");
    whoami(&main, &elsewhere.token, &prod).expect_json(200);
    whoami(&main, &broad.token, &sandbox).expect_json(200);
    revoke(&sibling.id).expect_status(204);
    whoami(&main, &sibling.token, &sandbox).expect_invalid_token();

    // The session sees every one of the person's live tokens, in every project.
    let all: Vec<String> = session
        .list_tokens()
        .iter()
        .map(|t| t["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    for token in [&scratch, &broad, &elsewhere] {
        assert!(all.contains(&token.id), "{} missing from {all:?}", token.id);
    }
}

#[test]
fn a_token_never_outlives_the_token_that_created_it() {
    let _writers = shared();
    let session = demo();
    let project = unique("utcap");
    let parent = session.create_token(
        &project,
        &json!({"name": "week", "expires_in_days": 7, "workspaces": ["*"]}),
    );
    let parent_ends = parse_timestamp_ms(&parent.body["expires_at"]);
    let main = Instance::main();
    for asked in [
        json!({"name": "forever"}),
        json!({"name": "month", "expires_in_days": 30}),
    ] {
        let child = main
            .post("/api/tokens")
            .bearer(&parent.token)
            .project(&project)
            .json(&asked)
            .send();
        let child = UserToken::from_creation(&child);
        assert_eq!(
            parse_timestamp_ms(&child.body["expires_at"]),
            parent_ends,
            "capped at its creator's expiry: {}",
            child.body
        );
    }
}

/// Tokens made with a browser session end with it (docs/api.md, "Where a token comes from"):
/// a stolen session cookie cannot leave a lasting credential behind. Signing out revokes
/// them, of both kinds, through any number of tokens; tokens of the CLI login and of the
/// super token are not touched.
#[test]
fn tokens_made_with_a_session_end_when_it_signs_out() {
    let _writers = shared();
    let main = Instance::main();
    let session = demo();
    let project = unique("utsession");
    let session_ends = parse_timestamp_ms(&whoami_session_ends(&session));

    let user = session.create_token(&project, &json!({"name": "from the browser"}));
    let service = session
        .write("POST", "/api/service-tokens")
        .project(&project)
        .json(&service_token_body("from the browser", &["*"]))
        .send()
        .expect_json(201);
    let service_token = service["token"].as_str().expect("a token").to_owned();
    // A token made by that token carries the session on, capped at its end.
    let grandchild = main
        .post("/api/tokens")
        .bearer(&user.token)
        .project(&project)
        .json(&json!({"name": "made by a session's token", "expires_in_days": 3650}))
        .send()
        .expect_json(201);
    let grandchild_token = grandchild["token"].as_str().expect("a token").to_owned();
    for created in [&user.body, &service, &grandchild] {
        assert_near_ms(
            "expires_at",
            parse_timestamp_ms(&created["expires_at"]),
            session_ends,
            1000,
        );
    }
    // Made otherwise: by the super token.
    let lasting = mint_service_token(&main, &super_token(), &project, "lasting", &["*"]);
    for token in [
        &user.token,
        &service_token,
        &grandchild_token,
        &lasting.token,
    ] {
        whoami(&main, token, &project).expect_json(200);
    }

    session
        .write("POST", "/api/auth/logout")
        .send()
        .expect_status(204);
    for token in [&user.token, &service_token, &grandchild_token] {
        whoami(&main, token, &project).expect_invalid_token();
    }
    whoami(&main, &lasting.token, &project).expect_json(200);
    // Stored as revoked because their login ended.
    for (table, id) in [
        ("user_tokens", user.id.as_str()),
        ("service_tokens", service["id"].as_str().expect("an id")),
        ("user_tokens", grandchild["id"].as_str().expect("an id")),
    ] {
        let row = store::table_rows(&main.persist_dir(), table)
            .into_iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} is stored"));
        assert!(row["revoked_at"].is_i64(), "{id}: {row:?}");
        assert_eq!(row["revocation_id"], "parent_ended", "{id}: {row:?}");
    }
    // The signed-out cookie makes nothing any more.
    session
        .write("POST", "/api/tokens")
        .project(&project)
        .json(&json!({"name": "after sign-out"}))
        .send()
        .expect_status(401);
}
