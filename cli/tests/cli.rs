//! The `edgeauth` binary driven as a user would, against a canned HTTP server on loopback.
//! Each run gets a cleared environment, its own working and config directories.

mod common;

use common::{code, text, Sandbox, Seen, Stub};
use std::net::TcpListener;

const SECRET: &str = "eas_TopSecretTokenValue";

const WHOAMI: &str = r#"{"kind":"service","name":"CI","project":"demo","workspaces":["production/*"],
  "token_id":"st_abc","expires_at":null,"auth_disabled":false}"#;

#[test]
fn without_a_server_it_says_how_to_set_one() {
    let sb = Sandbox::new();
    let out = sb.run(&sb.work(), &[], &["whoami"]);
    assert_eq!(code(&out), 8);
    let err = text(&out.stderr);
    assert!(err.starts_with("error: no server given\nhint: "), "{err}");
    assert!(err.contains("EDGEAUTH_SERVER"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn whoami_uses_the_toml_above_the_working_directory_and_the_env_token() {
    let stub = Stub::start(|_| (200, WHOAMI.into()));
    let sb = Sandbox::new();
    std::fs::write(
        sb.work().join("edgeauth.toml"),
        format!("server = \"{}/\"\nproject = \"demo\"\n", stub.url),
    )
    .unwrap();
    let out = sb.run(
        &sb.work().join("sub"),
        &[("EDGEAUTH_TOKEN", SECRET)],
        &["whoami"],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "service token \"CI\" (st_abc) in project demo; workspaces: production/*; expires never\n\
         credential: EDGEAUTH_TOKEN\n"
    );
    assert_eq!(
        stub.requests().len(),
        1,
        "no /api/users/me for a service token"
    );
    let seen = &stub.requests()[0];
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("GET", "/api/auth/whoami")
    );
    assert_eq!(
        seen.header("authorization"),
        Some(&*format!("Bearer {SECRET}"))
    );
    assert_eq!(seen.header("x-project"), Some("demo"));
    assert_eq!(seen.header("accept"), Some("application/json"));
    assert!(seen
        .header("user-agent")
        .unwrap()
        .starts_with("edgeauth-cli/"));
}

#[test]
fn whoami_json_prints_the_server_json() {
    let stub = Stub::start(|_| (200, WHOAMI.into()));
    let sb = Sandbox::new();
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", &stub.url)],
        &["whoami", "--json"],
    );
    assert_eq!(code(&out), 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["token_id"], "st_abc");
    assert_eq!(v["credential_source"], serde_json::Value::Null);
    assert!(v.get("person").is_none(), "{v}");
    assert!(stub.requests()[0].header("authorization").is_none());
    assert!(stub.requests()[0].header("x-project").is_none());
}

#[test]
fn token_order_is_flag_then_env_then_toml_then_the_stored_login() {
    let stub = Stub::start(|_| (200, WHOAMI.into()));
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.config_dir()).unwrap();
    let credentials = sb.config_dir().join("credentials.json");
    std::fs::write(
        &credentials,
        format!(
            r#"{{"version":1,"servers":{{"{}":{{"token":"eau_stored","kind":"user"}}}}}}"#,
            stub.url.to_uppercase().replace("HTTP://", "http://")
        ),
    )
    .unwrap();
    let server = format!("{}/", stub.url);
    let toml = sb.work().join("edgeauth.toml");
    let credential_line = |out: &std::process::Output| {
        assert_eq!(code(out), 0, "{}", text(&out.stderr));
        text(&out.stdout).lines().last().unwrap().to_owned()
    };

    let out = sb.run(&sb.work(), &[], &["--server", &server, "whoami"]);
    assert_eq!(
        credential_line(&out),
        format!("credential: the login stored in {}", credentials.display())
    );
    std::fs::write(&toml, "token = \"eau_toml\"\n").unwrap();
    let out = sb.run(&sb.work(), &[], &["--server", &server, "whoami"]);
    assert_eq!(
        credential_line(&out),
        format!("credential: `token` in {}", toml.display())
    );
    let env = [("EDGEAUTH_TOKEN", "eau_env")];
    let out = sb.run(&sb.work(), &env, &["--server", &server, "whoami"]);
    assert_eq!(credential_line(&out), "credential: EDGEAUTH_TOKEN");
    let out = sb.run(
        &sb.work(),
        &env,
        &["whoami", "--server", &server, "--token", "eas_flag"],
    );
    assert_eq!(credential_line(&out), "credential: --token");
    let out = sb.run(
        &sb.work(),
        &env,
        &[
            "whoami", "--server", &server, "--token", "eas_flag", "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["credential_source"],
        serde_json::json!({"from": "flag", "path": null})
    );

    let sent: Vec<_> = stub
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(
        sent,
        [
            "Bearer eau_stored",
            "Bearer eau_toml",
            "Bearer eau_env",
            "Bearer eas_flag",
            "Bearer eas_flag"
        ]
    );
}

#[test]
fn create_prints_the_token_alone_on_stdout_and_the_summary_on_stderr() {
    let stub = Stub::start(|_| {
        (
            201,
            format!(
                r#"{{"id":"st_new","name":"CI","project":"default","workspaces":["production/*","staging"],
                "prefix":"eas_TopSecre","created_at":"2026-11-24T10:00:00Z","expires_at":"2027-02-22T10:00:00Z",
                "last_used_at":null,"token":"{SECRET}"}}"#
            ),
        )
    });
    let sb = Sandbox::new();
    let out = sb.run(
        &sb.work(),
        &[
            ("EDGEAUTH_SERVER", &stub.url),
            ("EDGEAUTH_TOKEN", "eas_creator"),
        ],
        &[
            "service-token",
            "create",
            "--name",
            "CI",
            "--workspaces",
            "production/*, staging",
            "--expires-in-days",
            "90",
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{SECRET}\n"));
    let err = text(&out.stderr);
    assert!(!err.contains(SECRET), "{err}");
    assert!(err.contains("will not be shown again"), "{err}");
    assert!(
        err.contains("st_new") && err.contains("2027-02-22 10:00"),
        "{err}"
    );

    let seen = &stub.requests()[0];
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/api/service-tokens")
    );
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"name": "CI", "workspaces": ["production/*", "staging"], "expires_in_days": 90})
    );
}

#[test]
fn list_prints_a_table_and_empty_lists_say_so_on_stderr() {
    let stub = Stub::start(|r| {
        let body = if r.header("x-project") == Some("empty") {
            r#"{"service_tokens":[]}"#
        } else {
            r#"{"service_tokens":[{"id":"st_1","name":"CI","project":"default","workspaces":["*"],
               "prefix":"eas_AbCdEfGh","created_at":"2026-11-24T10:00:00Z","expires_at":null,
               "last_used_at":null,"expired":false}]}"#
        };
        (200, body.into())
    });
    let sb = Sandbox::new();
    let env = [("EDGEAUTH_SERVER", stub.url.as_str())];
    let out = sb.run(&sb.work(), &env, &["service-token", "list"]);
    assert_eq!(code(&out), 0);
    assert_eq!(
        text(&out.stdout),
        "ID    NAME  PREFIX        WORKSPACES  CREATED           LAST USED  EXPIRES\n\
         st_1  CI    eas_AbCdEfGh  *           2026-11-24 10:00  never      never\n"
    );

    let out = sb.run(
        &sb.work(),
        &env,
        &["service-token", "list", "--project", "empty"],
    );
    assert_eq!(code(&out), 0);
    assert!(out.stdout.is_empty());
    assert_eq!(text(&out.stderr), "no service tokens\n");
}

#[test]
fn revoke_prints_the_id_and_maps_404_to_exit_5() {
    let stub = Stub::start(|r| match r.path.as_str() {
        "/api/service-tokens/st_1" => (204, String::new()),
        _ => (
            404,
            r#"{"error":"not_found","message":"no service token with that id"}"#.into(),
        ),
    });
    let sb = Sandbox::new();
    let env = [("EDGEAUTH_SERVER", stub.url.as_str())];
    let out = sb.run(&sb.work(), &env, &["service-token", "revoke", "st_1"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "revoked st_1\n");
    assert_eq!(stub.requests()[0].method, "DELETE");

    let out = sb.run(
        &sb.work(),
        &env,
        &["service-token", "revoke", "st_2", "--json"],
    );
    assert_eq!(code(&out), 5);
    // With --json the error is JSON on stderr, one line.
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(
        err,
        serde_json::json!({"error": {
            "code": "not_found",
            "message": "no service token with that id",
            "hint": "st_2 is unknown, already revoked or in another project (--project); see the ids with `edgeauth service-token list`",
            "exit_code": 5,
            "server_code": "not_found"
        }})
    );
    assert!(out.stdout.is_empty());

    let out = sb.run(
        &sb.work(),
        &env,
        &["service-token", "revoke", "st_1", "--json"],
    );
    assert_eq!(text(&out.stdout), "{\n  \"revoked\": \"st_1\"\n}\n");
}

const USER_SECRET: &str = "eau_TopSecretUserTokenValue";

#[test]
fn token_create_sends_only_what_was_given_and_prints_the_token_alone() {
    let stub = Stub::start(|r| {
        // The GET of the lifetime policy has no body (and gets an answer that is no policy).
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        let workspaces = body
            .get("workspaces")
            .cloned()
            .unwrap_or(serde_json::json!(["*"]));
        (
            201,
            format!(
                r#"{{"id":"ut_new","name":"laptop","project":"demo","workspaces":{workspaces},
                "prefix":"eau_TopSecre","created_at":"2026-11-24T10:00:00Z","expires_at":null,
                "last_used_at":null,"token":"{USER_SECRET}"}}"#
            ),
        )
    });
    let sb = Sandbox::new();
    let env = [
        ("EDGEAUTH_SERVER", stub.url.as_str()),
        ("EDGEAUTH_PROJECT", "demo"),
        ("EDGEAUTH_TOKEN", "eau_creator"),
    ];
    let out = sb.run(&sb.work(), &env, &["token", "create", "--name", "laptop"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{USER_SECRET}\n"));
    assert_eq!(
        text(&out.stderr),
        "created user token \"laptop\" (ut_new) in project demo\n\
         ID      NAME    PREFIX        WORKSPACES  EXPIRES\n\
         ut_new  laptop  eau_TopSecre  *           never\n\
         The token is printed below (stdout) and will not be shown again: store it now.\n"
    );
    // The stub has no lifetime policy to give (its answer is no policy view): 90 days.
    let posts = || -> Vec<Seen> {
        stub.requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect()
    };
    let seen = &posts()[0];
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/api/tokens")
    );
    assert_eq!(seen.header("x-project"), Some("demo"));
    assert_eq!(seen.header("authorization"), Some("Bearer eau_creator"));
    // No --expires-in-days: the 90-day default is asked for.
    assert_eq!(seen.body, r#"{"name":"laptop","expires_in_days":90}"#);
    // --no-expiry asks for none (the server's lifetime policy, else never).
    let out = sb.run(
        &sb.work(),
        &env,
        &["token", "create", "--name", "laptop", "--no-expiry"],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(posts()[1].body, r#"{"name":"laptop"}"#);

    let out = sb.run(
        &sb.work(),
        &env,
        &[
            "token",
            "create",
            "--name",
            "laptop",
            "--workspaces",
            "staging,production/*",
            "--expires-in-days",
            "30",
            "--json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["token"], USER_SECRET);
    assert_eq!(
        printed["workspaces"],
        serde_json::json!(["staging", "production/*"])
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let body: serde_json::Value = serde_json::from_str(&posts()[2].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"name": "laptop", "workspaces": ["staging", "production/*"], "expires_in_days": 30})
    );
    // The policy is asked for only when no lifetime is given: once, before the first create.
    let gets: Vec<_> = stub
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.path)
        .collect();
    assert_eq!(gets, ["/api/lifetime-policy"]);
}

/// A lifetime policy the fake server gives: 200 with this body, or another status.
type Policy = std::sync::Arc<std::sync::Mutex<(u16, String)>>;

fn policy_server(policy: Policy) -> Stub {
    Stub::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/api/lifetime-policy") => policy.lock().unwrap().clone(),
        ("POST", path) => {
            let (id, token) = match path {
                "/api/service-tokens" => ("st_new", SECRET),
                _ => ("ut_new", USER_SECRET),
            };
            (
                201,
                format!(
                    r#"{{"id":"{id}","name":"n","project":"default","workspaces":["*"],
                    "prefix":"eas_TopSecre","created_at":"2026-11-24T10:00:00Z","expires_at":null,
                    "last_used_at":null,"token":"{token}"}}"#
                ),
            )
        }
        _ => (
            404,
            r#"{"error":"not_found","message":"no such route"}"#.into(),
        ),
    })
}

fn view(service: &str, user: &str) -> String {
    format!(
        r#"{{"project":"default","service_tokens":{service},"user_tokens":{user},
        "unused_days":null,"updated_at":"2026-12-05T08:00:00Z","updated_by":"super"}}"#
    )
}

#[test]
fn create_without_a_lifetime_asks_for_the_projects_default_within_its_max() {
    let no_limits = r#"{"max_days":null,"default_days":null}"#;
    let policy: Policy = Default::default();
    let stub = policy_server(policy.clone());
    let sb = Sandbox::new();
    let env = [
        ("EDGEAUTH_SERVER", stub.url.as_str()),
        ("EDGEAUTH_TOKEN", "eau_creator"),
    ];
    let asked = |answer: (u16, String), args: &[&str]| -> serde_json::Value {
        *policy.lock().unwrap() = answer;
        let before = stub.requests().len();
        let out = sb.run(&sb.work(), &env, args);
        assert_eq!(code(&out), 0, "{args:?}: {}", text(&out.stderr));
        let seen = stub.requests()[before..].to_vec();
        assert_eq!(
            seen.iter()
                .map(|r| (r.method.as_str(), r.path.as_str()))
                .collect::<Vec<_>>()[..1],
            [("GET", "/api/lifetime-policy")]
        );
        let body: serde_json::Value = serde_json::from_str(&seen[1].body).unwrap();
        body["expires_in_days"].clone()
    };
    let service = [
        "service-token",
        "create",
        "--name",
        "n",
        "--workspaces",
        "*",
    ];
    let user = ["token", "create", "--name", "n"];

    // A max of 30 days: 30 is asked, not the 90 the server would refuse.
    let max_30 = view(r#"{"max_days":30,"default_days":null}"#, no_limits);
    assert_eq!(asked((200, max_30.clone()), &service), 30);
    // Each kind by its own limits: the user tokens' are none here.
    assert_eq!(asked((200, max_30), &user), 90);
    // A default of 7 days: 7.
    let default_7 = view(no_limits, r#"{"max_days":null,"default_days":7}"#);
    assert_eq!(asked((200, default_7.clone()), &user), 7);
    assert_eq!(asked((200, default_7), &service), 90);
    // No policy: 90.
    assert_eq!(asked((200, view(no_limits, no_limits)), &service), 90);
    // A policy that cannot be read (no role in the project, an older server): 90.
    let forbidden = r#"{"error":"forbidden","message":"needs a role in project `default`"}"#;
    assert_eq!(asked((403, forbidden.into()), &service), 90);
    let missing = r#"{"error":"not_found","message":"no such route"}"#;
    assert_eq!(asked((404, missing.into()), &user), 90);

    // --no-expiry reads no policy and asks for no lifetime: the server applies the policy.
    let before = stub.requests().len();
    let out = sb.run(
        &sb.work(),
        &env,
        &[
            "service-token",
            "create",
            "--name",
            "n",
            "--workspaces",
            "*",
            "--no-expiry",
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let seen = stub.requests()[before..].to_vec();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].body.as_str()),
        ("POST", r#"{"name":"n","workspaces":["*"]}"#)
    );
}

#[test]
fn token_list_shows_every_project_and_empty_lists_say_so_on_stderr() {
    let stub = Stub::start(|r| {
        let body = if r.header("authorization") == Some("Bearer eau_empty") {
            r#"{"tokens":[]}"#
        } else {
            r#"{"tokens":[
              {"id":"ut_2","name":"ci","project":"demo","workspaces":["staging"],"prefix":"eau_AbCdEfGh",
               "created_at":"2026-11-24T10:00:00Z","expires_at":"2026-12-24T10:00:00Z",
               "last_used_at":"2026-11-25T08:00:00Z","expired":false},
              {"id":"ut_1","name":"laptop","project":"default","workspaces":["*"],"prefix":"eau_ZyXwVuTs",
               "created_at":"2026-01-01T00:00:00Z","expires_at":"2026-02-01T00:00:00Z",
               "last_used_at":null,"expired":true}]}"#
        };
        (200, body.into())
    });
    let sb = Sandbox::new();
    let out = sb.run(
        &sb.work(),
        &[
            ("EDGEAUTH_SERVER", &stub.url),
            ("EDGEAUTH_TOKEN", "eau_mine"),
        ],
        &["token", "list"],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "\
ID    NAME    PREFIX        PROJECT  WORKSPACES  CREATED           LAST USED         EXPIRES
ut_2  ci      eau_AbCdEfGh  demo     staging     2026-11-24 10:00  2026-11-25 08:00  2026-12-24 10:00
ut_1  laptop  eau_ZyXwVuTs  default  *           2026-01-01 00:00  never             2026-02-01 00:00 (expired)
"
    );
    assert!(out.stderr.is_empty());
    let seen = &stub.requests()[0];
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("GET", "/api/tokens")
    );

    let out = sb.run(
        &sb.work(),
        &[
            ("EDGEAUTH_SERVER", &stub.url),
            ("EDGEAUTH_TOKEN", "eau_empty"),
        ],
        &["token", "list"],
    );
    assert_eq!(code(&out), 0);
    assert!(out.stdout.is_empty());
    assert_eq!(text(&out.stderr), "no user tokens\n");

    let out = sb.run(
        &sb.work(),
        &[
            ("EDGEAUTH_SERVER", &stub.url),
            ("EDGEAUTH_TOKEN", "eau_empty"),
        ],
        &["token", "list", "--json"],
    );
    assert_eq!(text(&out.stdout), "{\n  \"tokens\": []\n}\n");
}

#[test]
fn token_revoke_prints_the_id_and_an_unknown_id_exits_5() {
    let stub = Stub::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("DELETE", "/api/tokens/ut_1") => (204, String::new()),
        _ => (
            404,
            r#"{"error":"not_found","message":"no such token"}"#.into(),
        ),
    });
    let sb = Sandbox::new();
    let env = [("EDGEAUTH_SERVER", stub.url.as_str())];
    let out = sb.run(&sb.work(), &env, &["token", "revoke", "ut_1"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "revoked ut_1\n");

    let out = sb.run(&sb.work(), &env, &["token", "revoke", "ut_1", "--json"]);
    assert_eq!(text(&out.stdout), "{\n  \"revoked\": \"ut_1\"\n}\n");

    let out = sb.run(&sb.work(), &env, &["token", "revoke", "ut_other"]);
    assert_eq!(code(&out), 5);
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        "error: no such token\n\
         hint: ut_other is unknown, already revoked or not yours; see the ids with `edgeauth token list`\n"
    );

    let out = sb.run(&sb.work(), &env, &["token", "revoke", USER_SECRET]);
    assert_eq!(code(&out), 2);
    assert!(!text(&out.stderr).contains(USER_SECRET));
    assert_eq!(stub.requests().len(), 3, "a pasted secret is never sent");
}

#[test]
fn token_commands_with_a_service_or_super_token_exit_4_and_say_to_sign_in() {
    let stub = Stub::start(|_| {
        (
            403,
            r#"{"error":"forbidden","message":"user tokens belong to a person; a service token is not one"}"#
                .into(),
        )
    });
    let sb = Sandbox::new();
    let env = [
        ("EDGEAUTH_SERVER", stub.url.as_str()),
        ("EDGEAUTH_TOKEN", SECRET),
    ];
    for args in [
        &["token", "list"][..],
        &["token", "create", "--name", "x"],
        &["token", "revoke", "ut_1"],
    ] {
        let out = sb.run(&sb.work(), &env, args);
        assert_eq!(code(&out), 4, "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with(
                "error: user tokens belong to a person; a service token is not one\nhint: user tokens belong to a person: sign in with `edgeauth login`"
            ),
            "{err}"
        );
        assert!(!err.contains(SECRET), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn whoami_describes_a_user_token_and_the_person_behind_it() {
    let stub = Stub::start(|r| match r.path.as_str() {
        "/api/auth/whoami" => (
            200,
            r#"{"kind":"user","name":"laptop","project":"default","workspaces":["*"],
                "token_id":"ut_abc","expires_at":"2026-12-01T08:30:00Z","auth_disabled":false}"#
                .into(),
        ),
        "/api/users/me" => (
            200,
            r#"{"id":"usr_1","email":"demo@example.test","name":"Demo User","teams":["t"],
                "issuer":"http://127.0.0.1:8788","authenticated_by":"user_token",
                "token_id":"ut_abc","project":"default"}"#
                .into(),
        ),
        _ => (404, r#"{"error":"not_found","message":"no route"}"#.into()),
    });
    let sb = Sandbox::new();
    let env = [
        ("EDGEAUTH_SERVER", stub.url.as_str()),
        ("EDGEAUTH_TOKEN", "eau_laptop"),
    ];
    let out = sb.run(&sb.work(), &env, &["whoami"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "user token \"laptop\" (ut_abc) in project default; workspaces: *; expires 2026-12-01 08:30 UTC\n\
         person: Demo User <demo@example.test>\n\
         credential: EDGEAUTH_TOKEN\n"
    );
    let seen = stub.requests();
    assert_eq!(seen[1].path, "/api/users/me");
    assert_eq!(seen[1].header("authorization"), Some("Bearer eau_laptop"));

    let out = sb.run(&sb.work(), &env, &["whoami", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "user");
    assert_eq!(v["person"]["email"], "demo@example.test");
    assert_eq!(v["credential_source"]["from"], "env");
}

#[test]
fn whoami_still_answers_when_the_person_cannot_be_read() {
    let stub = Stub::start(|r| match r.path.as_str() {
        "/api/auth/whoami" => (
            200,
            r#"{"kind":"access","name":"demo@example.test","workspaces":["*"]}"#.into(),
        ),
        _ => (500, "oops".into()),
    });
    let sb = Sandbox::new();
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", &stub.url), ("EDGEAUTH_TOKEN", "eaa_x")],
        &["whoami"],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().count(),
        2,
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).starts_with("warning: could not ask the server who the person is"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_rejected_token_exits_3_without_printing_it() {
    let stub = Stub::start(|_| {
        (
            401,
            r#"{"error":"unauthorized","message":"the token is not valid"}"#.into(),
        )
    });
    let sb = Sandbox::new();
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", &stub.url), ("EDGEAUTH_TOKEN", SECRET)],
        &["service-token", "list"],
    );
    assert_eq!(code(&out), 3);
    let err = text(&out.stderr);
    assert!(!err.contains(SECRET), "{err}");
    assert_eq!(
        err,
        format!(
            "error: the token is not valid\nhint: the token from EDGEAUTH_TOKEN was not accepted by {0}: check it (--token, EDGEAUTH_TOKEN, edgeauth.toml), or run `edgeauth login --server {0}`\n",
            stub.url
        )
    );
}

#[test]
fn statuses_map_to_their_exit_codes() {
    let stub = Stub::start(|r| match r.header("x-project") {
        Some("forbidden") => (403, r#"{"error":"forbidden","message":"scope"}"#.into()),
        Some("secretless") => (
            501,
            r#"{"error":"not_configured","message":"service tokens need SECRET"}"#.into(),
        ),
        Some("broken") => (500, "oops".into()),
        _ => (
            400,
            r#"{"error":"bad_request","message":"name is empty"}"#.into(),
        ),
    });
    let sb = Sandbox::new();
    let env = [("EDGEAUTH_SERVER", stub.url.as_str())];
    for (project, expected) in [
        ("forbidden", 4),
        ("secretless", 7),
        ("broken", 7),
        ("bad", 1),
    ] {
        let out = sb.run(
            &sb.work(),
            &env,
            &["--project", project, "service-token", "list"],
        );
        assert_eq!(code(&out), expected, "{project}: {}", text(&out.stderr));
    }
}

#[test]
fn an_unreachable_server_exits_6() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sb = Sandbox::new();
    let server = format!("http://127.0.0.1:{port}");
    let out = sb.run(&sb.work(), &[("EDGEAUTH_SERVER", &server)], &["whoami"]);
    assert_eq!(code(&out), 6);
    assert!(text(&out.stderr).starts_with(&format!("error: cannot reach {server}: is it running?")));
}

#[test]
fn configuration_and_usage_errors() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.work().join("edgeauth.toml"),
        "server = \"http://127.0.0.1:1\"\nprojet = \"x\"\n",
    )
    .unwrap();
    let out = sb.run(&sb.work().join("sub"), &[], &["whoami"]);
    assert_eq!(code(&out), 8);
    assert!(
        text(&out.stderr).contains("edgeauth.toml"),
        "{}",
        text(&out.stderr)
    );

    let out = sb.run(
        sb.root.path(),
        &[],
        &["service-token", "create", "--name", "x"],
    );
    assert_eq!(code(&out), 2);

    let out = sb.run(
        sb.root.path(),
        &[("EDGEAUTH_SERVER", "http://127.0.0.1:1")],
        &["service-token", "revoke", SECRET],
    );
    assert_eq!(code(&out), 2);
    assert!(!text(&out.stderr).contains(SECRET));
}

#[test]
fn help_documents_the_exit_codes() {
    let sb = Sandbox::new();
    let out = sb.run(&sb.work(), &[], &["--help"]);
    assert_eq!(code(&out), 0);
    let help = text(&out.stdout);
    for line in [
        "3  authentication required",
        "8  local configuration error",
        "9  login: no answer from the browser in time",
        "10 login: denied in the browser",
        "EDGEAUTH_CONFIG_DIR",
    ] {
        assert!(help.contains(line), "{line}");
    }
    let out = sb.run(&sb.work(), &[], &["service-token", "create", "--help"]);
    assert!(text(&out.stdout).contains("TOKEN=$(edgeauth service-token create"));
    let out = sb.run(&sb.work(), &[], &["token", "create", "--help"]);
    assert!(text(&out.stdout).contains("TOKEN=$(edgeauth token create"));
    let out = sb.run(&sb.work(), &[], &["token", "--help"]);
    assert!(text(&out.stdout).contains("belong to a person"));
    let out = sb.run(&sb.work(), &[], &["login", "--help"]);
    for line in [
        "EDGEAUTH_BROWSER",
        "EDGEAUTH_LOGIN_TIMEOUT",
        "Open this URL in your browser:",
        "Exit 9",
        "Exit 10",
    ] {
        assert!(text(&out.stdout).contains(line), "{line}");
    }
}

/// A plain-http server on a loopback port that answers whatever comes with `answer` (bytes,
/// perhaps nothing) and hangs up.
fn plain_http_server(answer: &'static [u8]) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(answer);
        }
    });
    addr
}

#[test]
fn https_against_an_http_server_says_to_try_http() {
    for answer in [
        &b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"[..],
        &b""[..],
    ] {
        let addr = plain_http_server(answer);
        let sb = Sandbox::new();
        let server = format!("https://{addr}");
        let out = sb.run(
            &sb.work(),
            &[("EDGEAUTH_SERVER", server.as_str())],
            &["whoami"],
        );
        let err = text(&out.stderr);
        assert_eq!(code(&out), 6, "{err}");
        let said = if answer.is_empty() {
            "the connection closed before an answer (a TLS handshake that failed, or a server that hung up)"
        } else {
            "the TLS handshake failed"
        };
        assert!(
            err.contains(&format!("cannot reach {server}: {said}")),
            "{err}"
        );
        assert!(
            err.contains("a local server usually speaks http://, not https://"),
            "{err}"
        );
        assert!(!err.contains("unexpected end of file\n"), "{err}");
    }
}

/// The README's exit-code table and `edgeauth --help` list the same codes: every status the
/// CLI can exit with (0 and `ExitStatus`'s 1 to 10), each with a line of its own.
#[test]
fn the_readme_and_help_list_the_same_exit_codes() {
    let codes = |lines: Vec<u8>| {
        let mut lines = lines;
        lines.sort_unstable();
        lines
    };
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .unwrap();
    let table = readme
        .split("| exit code | meaning |")
        .nth(1)
        .expect("README.md has the exit-code table");
    let in_readme = codes(
        table
            .lines()
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .filter_map(|line| line.split('|').nth(1)?.trim().parse().ok())
            .collect(),
    );
    let sb = Sandbox::new();
    let help = text(&sb.run(&sb.work(), &[], &["--help"]).stdout);
    let listed = help
        .split("Exit codes:")
        .nth(1)
        .expect("--help lists the exit codes");
    let in_help = codes(
        listed
            .lines()
            .filter_map(|line| {
                let line = line.strip_prefix("  ")?;
                line.split_whitespace().next()?.parse().ok()
            })
            .collect(),
    );
    let all: Vec<u8> = (0..=10).collect();
    assert_eq!(in_readme, all, "README.md's exit-code table");
    assert_eq!(in_help, all, "edgeauth --help");
}

/// A 403's hint follows what the server says is missing: a role, or a scope wide enough.
#[test]
fn a_refusal_is_explained_by_what_is_missing() {
    let sb = Sandbox::new();
    for (message, hint) in [
        (
            "managing service tokens needs the admin role in project `default` (you are a member); admins are …",
            "hint: it takes a project admin (or the super token): see who you are with `edgeauth whoami`",
        ),
        (
            "your account is in none of the teams that use project `roles-x`, so it has no role there; ask an admin",
            "hint: see who you are with `edgeauth whoami`; an admin of the project (or the operator) can add one of your teams",
        ),
        (
            "your credential covers staging/*, which does not include all of production/*; a new token cannot be broader than its creator",
            "hint: the credential's workspaces do not cover this request",
        ),
        (
            "this service credential covers staging/*, not the workspace `roles-admin`; use a token whose workspaces include it",
            "hint: the credential's workspaces do not cover this request",
        ),
        (
            "a service credential is not a person; user API tokens and /api/users/me need a signed-in person",
            "hint: see what the credential is with `edgeauth whoami`",
        ),
    ] {
        let body = serde_json::json!({"error": "forbidden", "message": message}).to_string();
        let stub = Stub::start(move |_| (403, body.clone()));
        let out = sb.run(
            &sb.work(),
            &[("EDGEAUTH_SERVER", stub.url.as_str()), ("EDGEAUTH_TOKEN", "eas_x")],
            &["service-token", "list"],
        );
        let err = text(&out.stderr);
        assert_eq!(code(&out), 4, "{err}");
        assert!(err.contains(hint), "{message}:\n{err}");
    }
}

/// A reader that stops reading (`edgeauth … | head -1`) ends the CLI quietly: nothing on
/// stderr (not `error: cannot write output: Broken pipe`), and exit 1, as a closed pipe stops
/// any program: the command may not have finished, so it does not claim success.
#[test]
fn a_closed_output_ends_the_cli_quietly() {
    use std::process::Stdio;
    let sb = Sandbox::new();
    let mut child = sb
        .command(&sb.work(), &[], &["completion", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The completion script is far larger than a pipe holds: the write meets the closed pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}

/// A host name that does not resolve (`.invalid` never does, RFC 6761) is said to be one, not
/// "is it running?".
#[test]
fn a_host_that_does_not_resolve_is_named_as_such() {
    let sb = Sandbox::new();
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", "https://edgeauth.invalid")],
        &["whoami"],
    );
    let err = text(&out.stderr);
    assert_eq!(code(&out), 6, "{err}");
    assert!(
        err.starts_with(
            "error: cannot reach https://edgeauth.invalid: its host name does not resolve"
        ),
        "{err}"
    );
}
