//! CI with no stored secret (docs/api.md, "Trust policies and the token exchange"): a project's
//! trust policy lets a CI job trade the ID token its platform signs for a short-lived access
//! token (RFC 8693 at `POST /api/auth/token`). The platform here is the local CI issuer
//! (tests/ci-issuer, started by scripts/test), which signs GitHub-Actions-shaped ID tokens on
//! request and answers as GitHub's runner does. Each test works in a project of its own.

use edgeauth_e2e::cli::{CliSandbox, EXIT_OK, EXIT_UNAUTHORIZED};
use edgeauth_e2e::credentials::sign_in_with_teams;
use edgeauth_e2e::oidc::{ADMIN_TEAM, MEMBER_TEAM};
use edgeauth_e2e::store::{settled, table_rows};
use edgeauth_e2e::*;
use serde_json::{json, Value};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

fn issuer() -> String {
    Instance::ci_issuer().base_url().to_owned()
}

/// An ID token from the CI issuer for MAIN's audience, with `spec` (claims, alg, key, kid,
/// tamper) as tests/ci-issuer documents.
fn id_token(spec: Value) -> String {
    let mut spec = spec;
    if spec.get("audience").is_none() {
        spec["audience"] = json!(Instance::main().base_url());
    }
    Instance::ci_issuer()
        .post("/__token")
        .json(&spec)
        .send()
        .expect_json(200)["token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

/// The exchange of `token` in `project`, as the CLI sends it.
fn exchange(project: &str, token: &str) -> edgeauth_e2e::http::Response {
    Instance::main()
        .post("/api/auth/token")
        .project(project)
        .form(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", token),
            ("subject_token_type", ID_TOKEN_TYPE),
        ])
        .send()
}

/// The `invalid_grant` description of a refused exchange.
fn refused(project: &str, token: &str) -> String {
    let response = exchange(project, token);
    let body = response.expect_json(400);
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let description = body["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        !description.contains(token),
        "the token is never echoed: {description}"
    );
    description
}

/// A policy for octo-org/octo-repo on main, granting `production/*`, created by the super token.
fn policy(project: &str, extra: Value) -> Value {
    let mut body = json!({
        "name": "deploy from main",
        "issuer": issuer(),
        "conditions": {"repository": "octo-org/octo-repo", "ref": ["refs/heads/main", "refs/tags/v*"]},
        "workspaces": ["production/*"],
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    Instance::main()
        .post("/api/trust-policies")
        .bearer(&super_token())
        .project(project)
        .json(&body)
        .send()
        .expect_json(201)
}

/// How many CI exchanges project `project` has recorded.
fn exchanges(project: &str) -> usize {
    table_rows(&Instance::main().persist_dir(), "audit_events")
        .into_iter()
        .filter(|row| row["project"] == project && row["action"] == "ci.exchange")
        .count()
}

#[test]
fn admins_manage_trust_policies_members_do_not_and_none_grants_more_than_its_creator() {
    let main = Instance::main();
    let project = unique("trust");
    let admin = sign_in_with_teams(&main, &unique("trust-admin"), &[ADMIN_TEAM]);
    let narrow = admin
        .create_token(
            &project,
            &json!({"name": "prod", "workspaces": ["production/*"]}),
        )
        .token;
    let member = sign_in_with_teams(&main, &unique("trust-member"), &[MEMBER_TEAM]);
    let member_token = member.create_token(&project, &json!({"name": "m"})).token;
    let body = json!({"name": "deploy", "issuer": issuer(),
                      "conditions": {"repository": "octo-org/octo-repo"},
                      "workspaces": ["production/eu"]});
    let post = |credential: &str, body: &Value| {
        main.post("/api/trust-policies")
            .bearer(credential)
            .project(&project)
            .json(body)
            .send()
    };
    let message = post(&member_token, &body).expect_error(403, "forbidden");
    assert!(message.contains("needs the admin role"), "{message}");
    let wide = json!({"name": "all", "issuer": issuer(),
                      "conditions": {"repository": "octo-org/octo-repo"}, "workspaces": ["*"]});
    let message = post(&narrow, &wide).expect_error(403, "forbidden");
    assert!(
        message.contains("cannot grant more than its creator"),
        "{message}"
    );
    for (bad, says) in [
        (
            json!({"name": "x", "issuer": issuer(), "conditions": {"ref": "refs/heads/main"}, "workspaces": ["*"]}),
            "pin",
        ),
        (
            json!({"name": "x", "issuer": "http://ci.example.com", "conditions": {"repository": "o/r"}, "workspaces": ["*"]}),
            "`issuer`",
        ),
        (
            json!({"name": "x", "issuer": issuer(), "conditions": {"repository": "o/r"}, "workspaces": ["*"], "token_lifetime_seconds": 7200}),
            "one hour",
        ),
    ] {
        let message = post(&super_token(), &bad).expect_error(400, "bad_request");
        assert!(message.contains(says), "{bad}: {message}");
    }
    // A real platform, but not one MAIN's TRUST_ISSUERS lists: the server refuses to trust it.
    let gitlab = json!({"name": "x", "issuer": "https://gitlab.com",
                        "conditions": {"project_path": "o/r"}, "workspaces": ["*"]});
    let message = post(&super_token(), &gitlab).expect_error(403, "forbidden");
    assert!(message.contains("TRUST_ISSUERS"), "{message}");
    // OPEN sets no TRUST_ISSUERS: GitHub Actions and gitlab.com, not the local issuer.
    let open = Instance::open();
    let on_open = |issuer: &str| {
        open.post("/api/trust-policies")
            .bearer(&super_token())
            .project(&project)
            .json(&json!({"name": "x", "issuer": issuer,
                          "conditions": {"repository": "o/r"}, "workspaces": ["*"]}))
            .send()
    };
    let message = on_open(&issuer()).expect_error(403, "forbidden");
    assert!(
        message.contains("https://token.actions.githubusercontent.com")
            && message.contains("https://gitlab.com"),
        "{message}"
    );
    on_open("https://gitlab.com").expect_json(201);
    // A policy is deleted only by a credential that covers it, as a service token is.
    let everywhere = post(&super_token(), &wide).expect_json(201);
    let everywhere_id = everywhere["id"].as_str().unwrap().to_owned();
    let message = main
        .delete(&format!("/api/trust-policies/{everywhere_id}"))
        .bearer(&narrow)
        .project(&project)
        .send()
        .expect_error(403, "forbidden");
    assert!(message.contains("does not include all of *"), "{message}");
    main.delete(&format!("/api/trust-policies/{everywhere_id}"))
        .bearer(&super_token())
        .project(&project)
        .send()
        .expect_status(204);
    let created = post(&narrow, &body).expect_json(201);
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("tp_"), "{created}");
    assert_eq!(
        created["audience"],
        main.base_url(),
        "the default audience is the server's origin"
    );
    assert_eq!(created["token_lifetime_seconds"], 900);
    assert_eq!(
        created["conditions"],
        json!({"repository": ["octo-org/octo-repo"]})
    );
    let admin_id = admin.me()["id"].as_str().unwrap().to_owned();
    assert_eq!(created["created_by"], format!("user:{admin_id}"));
    let listed = main
        .get("/api/trust-policies")
        .bearer(&super_token())
        .project(&project)
        .send()
        .expect_json(200);
    assert_eq!(listed["trust_policies"][0]["id"], id.as_str());
    main.get("/api/trust-policies")
        .bearer(&member_token)
        .project(&project)
        .send()
        .expect_error(403, "forbidden");
    main.delete(&format!("/api/trust-policies/{id}"))
        .bearer(&member_token)
        .project(&project)
        .send()
        .expect_error(403, "forbidden");
    main.delete(&format!("/api/trust-policies/{id}"))
        .bearer(&narrow)
        .project(&project)
        .send()
        .expect_status(204);
    main.delete(&format!("/api/trust-policies/{id}"))
        .bearer(&narrow)
        .project(&project)
        .send()
        .expect_error(404, "not_found");
    let actions: Vec<String> = table_rows(&main.persist_dir(), "audit_events")
        .into_iter()
        .filter(|row| row["subject"] == id.as_str())
        .map(|row| row["action"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(actions, ["trust_policy.create", "trust_policy.delete"]);
    // Deleted: the job it named is refused at once.
    let description = refused(&project, &id_token(json!({})));
    assert!(description.contains("no trust policy"), "{description}");
}

#[test]
fn a_matching_job_gets_a_scoped_short_lived_token_that_names_it() {
    let main = Instance::main();
    let project = unique("ci-job");
    let created = policy(&project, json!({}));
    let token = id_token(json!({}));
    let response = exchange(&project, &token);
    let body = response.expect_json(200);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "production/*");
    assert!(body.get("refresh_token").is_none());
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert!(access.starts_with("eaa_"));

    // whoami names the job and the policy's workspaces; it is nobody's person.
    let who = whoami(&main, &access, &project).expect_json(200);
    assert_eq!(who["kind"], "ci", "{who}");
    assert_eq!(who["role"], "ci");
    assert_eq!(who["name"], "octo-org/octo-repo");
    assert_eq!(who["workspaces"], json!(["production/*"]));
    assert_eq!(who["ci"]["repository"], "octo-org/octo-repo");
    assert_eq!(who["ci"]["ref"], "refs/heads/main");
    assert_eq!(who["ci"]["run_id"], "4242");
    assert_eq!(who["ci"]["issuer"], issuer());
    // It acts on its workspaces, and on nothing else, nor in another project.
    let check = |workspace: &str| {
        main.get(&format!(
            "/api/auth/check?workspace={workspace}&access=write"
        ))
        .bearer(&access)
        .project(&project)
        .send()
    };
    check("production/eu").expect_json(200);
    check("staging").expect_error(403, "forbidden");
    whoami(&main, &access, &unique("elsewhere")).expect_invalid_token();
    // Through the gateway, the origin's assertion says which job acted.
    let echo = main
        .post("/echo/ws/production%2Feu/deploy")
        .bearer(&access)
        .project(&project)
        .send()
        .expect_json(200);
    assert_eq!(echo["identity"]["kind"], "ci", "{echo}");
    assert_eq!(
        echo["identity"]["sub"],
        "repo:octo-org/octo-repo:ref:refs/heads/main"
    );
    assert_eq!(echo["identity"]["ci"]["run_id"], "4242");
    main.post("/echo/ws/staging/deploy")
        .bearer(&access)
        .project(&project)
        .send()
        .expect_error(403, "forbidden");
    // A CI token manages nothing lasting.
    main.post("/api/service-tokens")
        .bearer(&access)
        .project(&project)
        .json(&service_token_body("from ci", &["production/eu"]))
        .send()
        .expect_error(403, "forbidden");
    main.post("/api/tokens")
        .bearer(&access)
        .project(&project)
        .json(&json!({"name": "from ci"}))
        .send()
        .expect_error(403, "forbidden");
    // The exchange is audited, naming the policy and the job, never a token.
    // Recorded after the response.
    let events: Vec<_> = settled(
        || {
            table_rows(&main.persist_dir(), "audit_events")
                .into_iter()
                .filter(|row| row["project"] == project.as_str() && row["action"] == "ci.exchange")
                .collect::<Vec<_>>()
        },
        |events| !events.is_empty(),
    );
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["actor"],
        format!("trust_policy:{}", created["id"].as_str().unwrap())
    );
    let detail = events[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("octo-org/octo-repo")
            && !detail.contains(&access)
            && !detail.contains(&token)
    );
    // A policy may give up to an hour; a tag matches its alternative pattern.
    let project_2 = unique("ci-hour");
    policy(&project_2, json!({"token_lifetime_seconds": 3600}));
    let tagged = id_token(json!({"claims": {"ref": "refs/tags/v1.2.3"}}));
    assert_eq!(
        exchange(&project_2, &tagged).expect_json(200)["expires_in"],
        3600
    );
}

#[test]
fn every_forged_or_foreign_id_token_is_refused_and_nothing_is_minted() {
    let project = unique("ci-refused");
    policy(&project, json!({}));
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "wrong repository",
            json!({"claims": {"repository": "evil-org/octo-repo"}}),
            "`repository` is `evil-org/octo-repo`",
        ),
        (
            "wrong ref",
            json!({"claims": {"ref": "refs/heads/dev"}}),
            "`ref` is `refs/heads/dev`",
        ),
        (
            "wrong audience",
            json!({"audience": "https://other.example.com"}),
            "`aud`",
        ),
        (
            "expired",
            json!({"claims": {"iat": now_ms() / 1000 - 900, "nbf": now_ms() / 1000 - 900, "exp": now_ms() / 1000 - 600}}),
            "expired",
        ),
        (
            "not yet valid",
            json!({"claims": {"nbf": now_ms() / 1000 + 600}}),
            "not valid yet",
        ),
        ("no jti", json!({"claims": {"jti": null}}), "`jti`"),
        ("alg none", json!({"alg": "none"}), "not an ID token"),
        ("HS256", json!({"alg": "HS256"}), "RS256"),
        (
            "unknown key",
            json!({"key": "unpublished"}),
            "does not publish",
        ),
        (
            "tampered",
            json!({"tamper": true}),
            "signature does not verify",
        ),
        (
            "no policy for the issuer",
            json!({"claims": {"iss": "https://token.actions.githubusercontent.com"}}),
            "no trust policy",
        ),
        (
            "an issuer the server does not trust",
            json!({"claims": {"iss": "https://gitlab.com"}}),
            "does not accept ID tokens from the issuer `https://gitlab.com`",
        ),
    ];
    for (what, spec, says) in cases {
        let description = refused(&project, &id_token(spec));
        assert!(description.contains(says), "{what}: {description}");
        // Anyone with a signed ID token may ask: the refusal names the check and the token's
        // own claims, never the project's policies or their patterns.
        for private in [
            "deploy from main",
            "refs/heads/main",
            "refs/tags/v*",
            "octo-org/octo-repo",
            "tp_",
        ] {
            assert!(!description.contains(private), "{what}: {description}");
        }
    }
    assert_eq!(exchanges(&project), 0, "nothing was minted");
    // The same good token twice: the second is a replay.
    let token = id_token(json!({}));
    exchange(&project, &token).expect_json(200);
    let description = refused(&project, &token);
    assert!(description.contains("exchanged already"), "{description}");
    // Recorded after the response.
    assert_eq!(settled(|| exchanges(&project), |n| *n >= 1), 1);
    // ES256 is as good as RS256.
    exchange(&project, &id_token(json!({"alg": "ES256"}))).expect_json(200);
    // Malformed requests are invalid_request.
    let body = Instance::main()
        .post("/api/auth/token")
        .project(&project)
        .form(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", "x"),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
        ])
        .send()
        .expect_json(400);
    assert_eq!(body["error"], "invalid_request", "{body}");
}

#[test]
fn a_new_key_at_the_issuer_is_fetched_when_a_token_names_it() {
    let project = unique("ci-rotate");
    policy(&project, json!({}));
    exchange(&project, &id_token(json!({}))).expect_json(200);
    let kid = Instance::ci_issuer()
        .post("/__rotate")
        .json(&json!({}))
        .send()
        .expect_json(200)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    // The Worker fetches the JWKS again for an unknown key only when the copy it holds is
    // 10 s old (a flood of made-up keys cannot make it hammer the issuer): once that has
    // passed since the rotation, whatever copy it holds is either older or has the new key.
    std::thread::sleep(std::time::Duration::from_millis(10_500));
    let token = id_token(json!({"key": kid}));
    exchange(&project, &token).expect_json(200);
    assert!(!kid.is_empty());
}

#[test]
fn a_flood_of_made_up_keys_costs_the_issuer_one_jwks_fetch_per_ten_seconds() {
    let project = unique("ci-flood");
    policy(&project, json!({}));
    let fetches = || {
        Instance::ci_issuer()
            .get("/__stats")
            .send()
            .expect_json(200)["jwks_fetches"]
            .as_u64()
            .unwrap()
    };
    let tokens: Vec<String> = (0..20)
        .map(|i| id_token(json!({"key": "unpublished", "kid": format!("made-up-{i}")})))
        .collect();
    let before = fetches();
    let started = std::time::Instant::now();
    for token in &tokens {
        let description = refused(&project, token);
        assert!(description.contains("does not publish"), "{description}");
    }
    let windows = started.elapsed().as_secs() / 10 + 1;
    let fetched = fetches() - before;
    // Other tests' unknown keys share the same cooldown (one Worker, one issuer), so the
    // bound holds whoever asked.
    assert!(
        fetched <= windows,
        "20 unknown keys in {:?} made {fetched} JWKS fetches",
        started.elapsed()
    );
    assert_eq!(exchanges(&project), 0);
}

#[test]
fn login_ci_exchanges_the_jobs_id_token_with_github_actions_or_gitlab_variables() {
    let main = Instance::main();
    let project = unique("ci-cli");
    policy(&project, json!({}));
    let cli = CliSandbox::new();
    let actions_url = format!("{}/actions?api-version=2.0", issuer());
    let github = [
        ("EDGEAUTH_SERVER", main.base_url().to_owned()),
        ("EDGEAUTH_PROJECT", project.clone()),
        ("GITHUB_ACTIONS", "true".to_owned()),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", actions_url),
        (
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "ci-request-token".to_owned(),
        ),
    ];
    let env: Vec<(&str, &str)> = github.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = cli.run(&["login", "--ci"], &env);
    run.expect_code(EXIT_OK);
    let access = run.stdout.trim().to_owned();
    assert!(
        access.starts_with("eaa_") && !access.contains('\n'),
        "{run}"
    );
    assert!(run.stderr.contains("nothing was stored"), "{run}");
    assert!(
        std::fs::read_dir(cli.config_dir()).map_or(true, |mut d| d.next().is_none()),
        "login --ci writes nothing to disk"
    );
    // The job's later steps use it.
    let mut later = env.clone();
    later.push(("EDGEAUTH_TOKEN", &access));
    let who = cli.run(&["whoami", "--json"], &later).expect_json();
    assert_eq!(who["kind"], "ci", "{who}");
    assert_eq!(who["ci"]["repository"], "octo-org/octo-repo");

    // GitLab: the ID token in a variable the job's `id_tokens:` names.
    let gitlab_token = id_token(json!({}));
    let gitlab = [
        ("EDGEAUTH_SERVER", main.base_url().to_owned()),
        ("EDGEAUTH_PROJECT", project.clone()),
        ("EDGEAUTH_ID_TOKEN", gitlab_token.clone()),
    ];
    let env: Vec<(&str, &str)> = gitlab.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let json = cli.run(&["login", "--ci", "--json"], &env).expect_json();
    assert_eq!(json["expires_in"], 900);
    assert_eq!(json["scope"], "production/*");
    // The same ID token again is a replay: exit 3 with the server's reason.
    let again = cli.run(&["login", "--ci"], &env);
    again.expect_code(EXIT_UNAUTHORIZED);
    assert!(again.stderr.contains("exchanged already"), "{again}");
    assert!(
        !again.stderr.contains(&gitlab_token) && again.stdout.is_empty(),
        "{again}"
    );
}
