//! The audit trail (docs/api.md, "Audit trail"): every security event with where it came
//! from, read at `GET /api/audit` by the person it concerns, the project's admins and the
//! operator, and with `edgeauth audit`; refusals counted one row per kind and minute.

use std::time::{Duration, Instant};

use edgeauth_e2e::cli::*;
use edgeauth_e2e::credentials::{device_login, sign_in_with_teams};
use edgeauth_e2e::oidc::{UserToken, ADMIN_TEAM, MEMBER_TEAM};
use edgeauth_e2e::store::table_rows;
use edgeauth_e2e::tokens::sha256_hex;
use edgeauth_e2e::*;
use serde_json::{json, Value};

/// The events of a page.
fn events(page: &Value) -> Vec<Value> {
    page["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {page}"))
        .clone()
}

/// The first event of `action` on `subject` in a page.
fn find<'a>(events: &'a [Value], action: &str, subject: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["action"] == action && e["subject"] == subject)
        .unwrap_or_else(|| panic!("no {action} of {subject} in {events:#?}"))
}

#[test]
fn a_person_reads_their_own_events_with_where_each_came_from() {
    let main = Instance::main();
    let project = unique("audit-own");
    let person = sign_in_with_teams(&main, &unique("audit-own"), &[MEMBER_TEAM]);
    let user_id = person.me()["id"].as_str().unwrap().to_owned();
    // Made with the session, from one address and browser…
    let created = person
        .write("POST", "/api/tokens")
        .project(&project)
        .header("CF-Connecting-IP", "198.51.100.23")
        .header("User-Agent", "AuditBrowser/1.0")
        .json(&json!({"name": "audited"}))
        .send();
    let token = UserToken::from_creation(&created);
    // …revoked with the token itself, from another.
    main.delete(&format!("/api/tokens/{}", token.id))
        .bearer(&token.token)
        .project(&project)
        .header("CF-Connecting-IP", "203.0.113.9")
        .header("User-Agent", "audit-script/2")
        .send()
        .expect_status(204);
    // A device login and one refresh of it.
    let device = device_login(&person, &project);
    main.post("/api/auth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &device.refresh_token),
        ])
        .send()
        .expect_json(200);

    let page = person.get("/api/audit").send().expect_json(200);
    let own = events(&page);
    assert!(
        own.iter().all(|e| e["person"] == user_id.as_str()),
        "only the person's own: {own:#?}"
    );
    let signed_in = own
        .iter()
        .find(|e| e["action"] == "session.create")
        .unwrap_or_else(|| panic!("no sign-in in {own:#?}"));
    assert_eq!(signed_in["actor"], format!("user:{user_id}"));
    assert!(signed_in.get("project").is_none(), "{signed_in}");

    let creation = find(&own, "user_token.create", &token.id);
    assert_eq!(creation["project"], project.as_str());
    assert_eq!(creation["ip"], "198.51.100.23");
    assert_eq!(creation["user_agent"], "AuditBrowser/1.0");
    // Made with the session: the cookie's hash (the session's key in D1), no prefix.
    assert_eq!(creation["credential_hash"], person.hash());
    assert!(creation.get("credential_prefix").is_none(), "{creation}");
    assert!(creation["request_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));

    let revocation = find(&own, "user_token.revoke", &token.id);
    assert_eq!(revocation["actor"], format!("user:{user_id}"));
    assert_eq!(revocation["ip"], "203.0.113.9");
    assert_eq!(revocation["user_agent"], "audit-script/2");
    assert_eq!(revocation["credential_hash"], sha256_hex(&token.token));
    assert_eq!(revocation["credential_prefix"], &token.token[..12]);
    assert_ne!(revocation["request_id"], creation["request_id"]);

    let refreshed = own
        .iter()
        .find(|e| e["action"] == "refresh_token.rotate")
        .unwrap_or_else(|| panic!("no refresh in {own:#?}"));
    assert_eq!(
        refreshed["credential_hash"],
        sha256_hex(&device.refresh_token)
    );
    assert_eq!(refreshed["detail"]["role"], "member");
    assert!(own.iter().any(|e| e["action"] == "device.approve"));
    assert!(own.iter().any(|e| e["action"] == "refresh_family.create"));

    // The token's hash finds what it did and what was done to it, and nothing else.
    let by_hash = person
        .get(&format!(
            "/api/audit?token_hash={}",
            sha256_hex(&token.token)
        ))
        .send()
        .expect_json(200);
    let mut actions: Vec<String> = events(&by_hash)
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    actions.sort();
    assert_eq!(actions, ["user_token.create", "user_token.revoke"]);
    // Newest first, in pages.
    let first = person.get("/api/audit?limit=2").send().expect_json(200);
    assert_eq!(events(&first).len(), 2);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = person
        .get(&format!("/api/audit?limit=2&cursor={cursor}"))
        .send()
        .expect_json(200);
    let ids = |page: &Value| -> Vec<i64> {
        events(page)
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect()
    };
    let (a, b) = (ids(&first), ids(&second));
    assert!(a[0] > a[1] && a[1] > b[0], "{a:?} then {b:?}");

    // Nothing secret in what a person reads.
    let text = page.to_string();
    for secret in [&token.token, &person.cookie, &device.refresh_token] {
        assert!(!text.contains(secret.as_str()), "a secret in {text}");
    }
    // Another person's events are not theirs to read.
    let refused = person
        .get("/api/audit?person=usr_someone_else")
        .send()
        .expect_error(403, "forbidden");
    assert!(refused.contains("your own events"), "{refused}");
}

#[test]
fn the_projects_trail_is_for_its_admins_full_scope_service_tokens_and_the_operator() {
    let main = Instance::main();
    let project = unique("audit-project");
    let full = mint_service_token(&main, &super_token(), &project, "full", &["*"]);
    let narrow = mint_service_token(&main, &super_token(), &project, "narrow", &["a/*"]);
    let member = sign_in_with_teams(&main, &unique("audit-member"), &[MEMBER_TEAM]);
    let admin = sign_in_with_teams(&main, &unique("audit-admin"), &[ADMIN_TEAM]);
    let read = |request: Request<'_>| -> Vec<Value> {
        events(&request.project(&project).send().expect_json(200))
    };

    // The operator: the project's events and the deployment's own (sign-ins), no other
    // project's.
    let operator = read(main.get("/api/audit?limit=200").bearer(&super_token()));
    let created = find(&operator, "service_token.create", &full.id);
    assert_eq!(created["actor"], "super");
    assert_eq!(created["credential_hash"], sha256_hex(&super_token()));
    assert!(operator.iter().any(|e| e["action"] == "session.create"));
    assert!(operator
        .iter()
        .all(|e| e.get("project").is_none() || e["project"] == project.as_str()));
    // A service token covering every workspace, and an admin: the project's only.
    for reader in [
        read(main.get("/api/audit").bearer(&full.token)),
        read(admin.get("/api/audit")),
    ] {
        find(&reader, "service_token.create", &narrow.id);
        assert!(
            reader.iter().all(|e| e["project"] == project.as_str()),
            "{reader:#?}"
        );
    }
    // Filters: one action, one actor.
    let filtered = read(
        main.get("/api/audit?action=service_token.create&actor=super")
            .bearer(&full.token),
    );
    assert_eq!(filtered.len(), 2, "{filtered:#?}");
    // A narrower service token reads nothing; a member reads only their own.
    let refused = main
        .get("/api/audit")
        .bearer(&narrow.token)
        .project(&project)
        .send()
        .expect_error(403, "forbidden");
    assert!(refused.contains("covers every workspace"), "{refused}");
    let own = read(member.get("/api/audit"));
    assert!(
        !own.iter().any(|e| e["action"] == "service_token.create"),
        "{own:#?}"
    );
    // `person=me` needs a person.
    main.get("/api/audit?person=me")
        .bearer(&super_token())
        .send()
        .expect_error(403, "forbidden");
    // Bad filters say what to send.
    for (query, says) in [
        ("limit=0", "`limit`"),
        ("token_hash=eas_abc", "never send the token itself"),
        ("since=yesterday", "`since`"),
        ("colour=red", "unknown query parameter `colour`"),
    ] {
        let message = main
            .get(&format!("/api/audit?{query}"))
            .bearer(&super_token())
            .send()
            .expect_error(400, "bad_request");
        assert!(message.contains(says), "{query}: {message}");
    }
    // `edgeauth audit`, as the operator would run it.
    let cli = CliSandbox::new();
    let env = [
        ("EDGEAUTH_SERVER", main.base_url()),
        ("EDGEAUTH_TOKEN", full.token.as_str()),
        ("EDGEAUTH_PROJECT", project.as_str()),
    ];
    let table = cli.run(
        &["audit", "--action", "service_token", "--since", "1h"],
        &env,
    );
    table.expect_code(EXIT_OK);
    assert!(table.stdout.starts_with("TIME"), "{table}");
    assert_eq!(
        table.stdout.matches("service_token.create").count(),
        2,
        "{table}"
    );
    assert!(!table.stdout.contains(&full.token), "{table}");
    let json = cli
        .run(&["audit", "--json", "--limit", "1"], &env)
        .expect_json();
    assert_eq!(json["events"].as_array().map(Vec::len), Some(1));
    assert!(json["next_cursor"].is_string(), "{json}");
}

/// The sum of `count` and the number of rows of `action` with reason `reason`.
fn refusals(instance: &Instance, action: &str, reason: &str) -> (i64, usize) {
    let rows: Vec<_> = table_rows(&instance.persist_dir(), "audit_events")
        .into_iter()
        .filter(|row| row["action"] == action && row["subject"] == reason)
        .collect();
    let count = rows
        .iter()
        .map(|row| row["count"].as_i64().unwrap_or(0))
        .sum();
    (count, rows.len())
}

#[test]
fn refusals_are_counted_in_a_row_per_kind_and_minute_not_stored_one_by_one() {
    // On PRIVATE, where fewer tests sign in.
    let private = Instance::private();
    let (count_before, rows_before) = refusals(&private, "sign_in.refuse", "login_expired");
    let forge = |i: usize| {
        private
            .get(&format!("/api/auth/callback?code=x&state=forged-{i}"))
            .header("CF-Connecting-IP", "192.0.2.66")
            .send()
            .expect_error(400, "login_expired");
    };
    // The isolate writes the first at once and counts the rest; the first one 10 s later
    // writes all it counted. So 30 refusals cost two writes, and lose no count.
    let flood = 31;
    let started = Instant::now();
    for i in 0..flood - 1 {
        forge(i);
    }
    // Written at once: the first of the 30 (none, if this kind was written in the last 10 s);
    // the rest are held, not each written (which would count 30 here).
    std::thread::sleep(Duration::from_secs(2));
    let (count_held, _) = refusals(&private, "sign_in.refuse", "login_expired");
    assert!(
        count_held - count_before <= 1,
        "{} refusals written one by one",
        count_held - count_before
    );
    std::thread::sleep(
        Duration::from_secs(10).saturating_sub(started.elapsed()) + Duration::from_millis(500),
    );
    forge(flood - 1);
    // Written after the responses (waitUntil): wait for the count to arrive.
    let deadline = Instant::now() + Duration::from_secs(20);
    let flood = flood as i64;
    let (count, rows) = loop {
        let (count, rows) = refusals(&private, "sign_in.refuse", "login_expired");
        if count - count_before >= flood || Instant::now() > deadline {
            break (count, rows);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        count - count_before >= flood,
        "counted {}",
        count - count_before
    );
    // One row per minute (two if the flood crossed a minute, three with another test's).
    assert!(
        rows - rows_before <= 2,
        "{} rows for {flood} refusals",
        rows - rows_before
    );
    // Readable by the operator, as a count.
    let page = private
        .get("/api/audit?action=sign_in.refuse")
        .bearer(&super_token())
        .send()
        .expect_json(200);
    let counted = events(&page);
    let latest = counted.first().unwrap_or_else(|| panic!("none in {page}"));
    assert!(latest["count"].as_i64().unwrap() > 1, "{latest}");
    assert_eq!(latest["detail"]["reason"], "login_expired");
}
