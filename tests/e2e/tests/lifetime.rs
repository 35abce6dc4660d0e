//! A project's lifetime policy (docs/api.md, "Lifetime policy"): the longest and default
//! lifetime of its service and user tokens, and the expiry of tokens left unused. Each test
//! works in a project of its own on MAIN, so a policy set here touches no other test.

use edgeauth_e2e::credentials::sign_in_with_teams;
use edgeauth_e2e::oidc::{exclusive, shared, sign_in, DEMO, MEMBER_TEAM};
use edgeauth_e2e::store::{set_integer, table_rows};
use edgeauth_e2e::*;
use serde_json::{json, Value};

const PATH: &str = "/api/lifetime-policy";
const DAY_MS: i64 = 86_400_000;
/// How far a creation's `expires_at` may be from what the test computed (a busy machine).
const SLACK_MS: i64 = 120_000;

fn put_policy(instance: &Instance, credential: &str, project: &str, body: &Value) -> Value {
    instance
        .request("PUT", PATH)
        .bearer(credential)
        .project(project)
        .json(body)
        .send()
        .expect_json(200)
}

fn expires_in_days(created: &Value, days: i64) {
    assert_near_ms(
        "expires_at",
        parse_timestamp_ms(&created["expires_at"]),
        now_ms() + days * DAY_MS,
        SLACK_MS,
    );
}

#[test]
fn a_policy_refuses_longer_tokens_gives_the_default_and_only_admins_set_it() {
    let _writers = shared();
    let main = Instance::main();
    let project = unique("lifetime");
    let super_token = super_token();

    // No policy: every limit null.
    let none = main
        .get(PATH)
        .bearer(&super_token)
        .project(&project)
        .send()
        .expect_json(200);
    for field in ["service_tokens", "user_tokens"] {
        assert_eq!(
            none[field],
            json!({"max_days": null, "default_days": null}),
            "{none}"
        );
    }
    assert_eq!(
        (&none["unused_days"], &none["updated_by"]),
        (&Value::Null, &Value::Null)
    );

    let set = put_policy(
        &main,
        &super_token,
        &project,
        &json!({"service_tokens": {"max_days": 90, "default_days": 30},
                "user_tokens": {"max_days": 30, "default_days": 2}}),
    );
    assert_eq!(set["service_tokens"]["max_days"], 90, "{set}");
    assert_eq!(set["user_tokens"]["default_days"], 2, "{set}");
    assert_eq!(set["unused_days"], Value::Null, "{set}");
    assert_eq!(set["updated_by"], "super", "{set}");

    // Service tokens: beyond the max is 400 naming it and the project; none asked for gets
    // the default; the max itself is fine.
    let refusal = main
        .post("/api/service-tokens")
        .bearer(&super_token)
        .project(&project)
        .json(&json!({"name": "long", "workspaces": ["*"], "expires_in_days": 91}))
        .send()
        .expect_error(400, "bad_request");
    assert!(
        refusal.contains("at most 90 days") && refusal.contains(&project),
        "{refusal}"
    );
    let defaulted = mint_service_token(&main, &super_token, &project, "default", &["*"]);
    expires_in_days(&defaulted.body, 30);
    let longest = mint_service_token_with(
        &main,
        &super_token,
        &project,
        &json!({"name": "max", "workspaces": ["*"], "expires_in_days": 90}),
    );
    expires_in_days(&longest.body, 90);

    // User tokens likewise, with their own limits.
    let person = sign_in(&main, DEMO);
    let refusal = person
        .write("POST", "/api/tokens")
        .project(&project)
        .json(&json!({"name": "long", "expires_in_days": 31}))
        .send()
        .expect_error(400, "bad_request");
    assert!(
        refusal.contains("at most 30 days") && refusal.contains(&project),
        "{refusal}"
    );
    let user = person.create_token(&project, &json!({"name": "default"}));
    expires_in_days(&user.body, 2);

    // A member reads the policy and cannot change it.
    let member = sign_in_with_teams(&main, &unique("lifetime-member"), &[MEMBER_TEAM]);
    let seen = member.get(PATH).project(&project).send().expect_json(200);
    assert_eq!(seen["service_tokens"], set["service_tokens"], "{seen}");
    member
        .write("PUT", PATH)
        .project(&project)
        .json(&json!({}))
        .send()
        .expect_error(403, "forbidden");
    member
        .write("DELETE", PATH)
        .project(&project)
        .send()
        .expect_error(403, "forbidden");
    main.request("PUT", PATH)
        .project(&project)
        .json(&json!({}))
        .send()
        .expect_error(401, "unauthorized");

    // Audited.
    let actions: Vec<String> = table_rows(&main.persist_dir(), "audit_events")
        .into_iter()
        .filter(|row| row["project"] == project.as_str() && row["subject"] == "lifetime_policy")
        .map(|row| row["action"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(actions, ["lifetime_policy.set"]);

    // Reset: no limits again, at once on this instance.
    let reset = main
        .delete(PATH)
        .bearer(&super_token)
        .project(&project)
        .send()
        .expect_json(200);
    assert_eq!(reset["service_tokens"]["max_days"], Value::Null, "{reset}");
    assert_eq!(reset["updated_at"], Value::Null, "{reset}");
    let free = mint_service_token_with(
        &main,
        &super_token,
        &project,
        &json!({"name": "long", "workspaces": ["*"], "expires_in_days": 91}),
    );
    expires_in_days(&free.body, 91);
    let forever = mint_service_token(&main, &super_token, &project, "forever", &["*"]);
    assert_eq!(forever.body["expires_at"], Value::Null, "{}", forever.body);
}

#[test]
fn a_token_unused_longer_than_the_policy_allows_is_refused_saying_why() {
    // Alone: it writes to D1 behind the Worker's back (see edgeauth_e2e::store). The tokens
    // it ages were never presented, so the instance remembers nothing of them and no use of
    // theirs is being written.
    let _alone = exclusive();
    let main = Instance::main();
    let persist = main.persist_dir();
    let project = unique("unused");
    let super_token = super_token();
    put_policy(&main, &super_token, &project, &json!({"unused_days": 30}));

    let idle = mint_service_token(&main, &super_token, &project, "idle", &["*"]);
    let used_long_ago = mint_service_token(&main, &super_token, &project, "long-ago", &["*"]);
    let used_lately = mint_service_token(&main, &super_token, &project, "lately", &["*"]);
    let person = sign_in(&main, DEMO);
    let idle_user = person.create_token(&project, &json!({"name": "idle"}));

    let now = now_ms();
    let age = |table: &str, column: &str, days: i64, id: &str| {
        let changed = set_integer(&persist, table, column, now - days * DAY_MS, "id", id);
        assert_eq!(changed, 1, "{table}.{column} of {id}");
    };
    // Never used: its creation counts. Used: its last use does.
    age("service_tokens", "created_at", 31, &idle.id);
    age("user_tokens", "created_at", 31, &idle_user.id);
    age("service_tokens", "created_at", 40, &used_long_ago.id);
    age("service_tokens", "last_used_at", 31, &used_long_ago.id);
    age("service_tokens", "created_at", 40, &used_lately.id);
    age("service_tokens", "last_used_at", 1, &used_lately.id);

    for (token, kind) in [
        (&idle.token, "service token"),
        (&used_long_ago.token, "service token"),
        (&idle_user.token, "user API token"),
    ] {
        let message = whoami(&main, token, &project).expect_invalid_token();
        assert!(
            message.contains(kind)
                && message.contains("not been used for 30 days")
                && message.contains(&project)
                && message.contains("create a new one"),
            "{message}"
        );
    }
    whoami(&main, &used_lately.token, &project).expect_json(200);

    // Listed as expired, since they no longer work; and not brought back by a roll.
    let listing = list_service_tokens(&main, &super_token, &project);
    let expired = |listing: &[Value], id: &str| {
        listing
            .iter()
            .find(|t| t["id"] == id)
            .unwrap_or_else(|| panic!("{id} is listed"))["expired"]
            .clone()
    };
    assert_eq!(expired(&listing, &idle.id), true);
    assert_eq!(expired(&listing, &used_long_ago.id), true);
    assert_eq!(expired(&listing, &used_lately.id), false);
    assert_eq!(expired(&person.list_tokens(), &idle_user.id), true);
    main.post(&format!("/api/service-tokens/{}/roll", idle.id))
        .bearer(&super_token)
        .project(&project)
        .json(&json!({}))
        .send()
        .expect_error(404, "not_found");

    // Without the policy they work again (nothing was written to them).
    main.delete(PATH)
        .bearer(&super_token)
        .project(&project)
        .send()
        .expect_json(200);
    whoami(&main, &idle.token, &project).expect_json(200);
    whoami(&main, &idle_user.token, &project).expect_json(200);
}

/// The account pages offer only lifetimes the project's policy accepts: its default selected,
/// nothing above its max, and no "Never" under a max (a person's default choice is never a 400).
#[test]
fn the_account_pages_offer_the_lifetimes_the_policy_accepts() {
    let _writers = shared();
    let main = Instance::main();
    let project = unique("lifetimepage");
    put_policy(
        &main,
        &super_token(),
        &project,
        &json!({"service_tokens": {"max_days": 45},
                "user_tokens": {"max_days": 30, "default_days": 14}}),
    );
    let demo = sign_in(&main, DEMO);
    let page = |path: &str| {
        let response = demo
            .get(&format!("{path}?project={project}"))
            .accept_html()
            .send();
        response.expect_status(200);
        response.text()
    };
    let account = page("/account");
    assert!(
        account.contains(r#"<option value="14" selected>14 days (default)</option>"#),
        "{account}"
    );
    assert!(
        account.contains(r#"<option value="30">30 days (the maximum)</option>"#),
        "{account}"
    );
    assert!(
        !account.contains(r#"<option value="90""#),
        "nothing above the max"
    );
    assert!(!account.contains(">Never</option>"), "no Never under a max");
    // DEMO administers every project on MAIN: the service-token page is theirs.
    let service = page("/account/service-tokens");
    assert!(
        service.contains(r#"<option value="45" selected>45 days (default)</option>"#),
        "{service}"
    );
    assert!(!service.contains(">Never</option>"));
}
