//! The `edgeauth` CLI against the MAIN instance, run as a user would.

use std::net::TcpListener;
use std::path::Path;

use edgeauth_e2e::cli::*;
use edgeauth_e2e::store::files_containing;
use edgeauth_e2e::tokens::{assert_service_token_shape, SERVICE_TOKEN_LEN};
use edgeauth_e2e::*;

fn server() -> String {
    Instance::main().base_url().to_owned()
}

fn write_toml(dir: &Path, server: &str, project: &str, token: Option<&str>) {
    let mut text = format!("server = \"{server}\"\nproject = \"{project}\"\n");
    if let Some(token) = token {
        text.push_str(&format!("token = \"{token}\"\n"));
    }
    std::fs::write(dir.join("edgeauth.toml"), text).expect("write edgeauth.toml");
}

/// Every service token (`eas_` + 71 base62) in `text`.
fn service_tokens_in(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(at) = text[i..].find("eas_") {
        let start = i + at;
        let end = start + SERVICE_TOKEN_LEN;
        if end <= bytes.len()
            && bytes[start + 4..end].iter().all(u8::is_ascii_alphanumeric)
            && bytes.get(end).is_none_or(|b| !b.is_ascii_alphanumeric())
        {
            found.push(text[start..end].to_owned());
        }
        i = start + 4;
    }
    found
}

/// Mints a service token through the API (not the CLI), for tests that need one.
fn api_token(project: &str, name: &str, workspaces: &[&str]) -> ServiceToken {
    mint_service_token(&Instance::main(), &super_token(), project, name, workspaces)
}

#[test]
fn whoami_with_the_token_in_the_environment() {
    let cli = CliSandbox::new();
    let super_token = super_token();
    let env = [
        ("EDGEAUTH_SERVER", server()),
        ("EDGEAUTH_TOKEN", super_token.clone()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let me = cli.run(&["whoami", "--json"], &env).expect_json();
    assert_eq!(me["kind"], "super", "{me}");

    let human = cli.run(&["whoami"], &env);
    human.expect_code(EXIT_OK);
    assert!(human.stdout.contains("super"), "{human}");
    assert!(!human.stdout.contains(&super_token), "{human}");
}

#[test]
fn whoami_with_the_token_flag() {
    let cli = CliSandbox::new();
    let project = unique("cliflag");
    let token = api_token(&project, "flagged", &["production/*"]);
    let me = cli
        .run(
            &[
                "--server",
                &server(),
                "--project",
                &project,
                "--token",
                &token.token,
                "whoami",
                "--json",
            ],
            &[],
        )
        .expect_json();
    assert_eq!(me["kind"], "service", "{me}");
    assert_eq!(me["name"], "flagged", "{me}");
    assert_eq!(me["project"], project.as_str(), "{me}");
}

#[test]
fn edgeauth_toml_is_found_in_a_parent_directory() {
    let cli = CliSandbox::new();
    let project = unique("clitoml");
    let token = api_token(&project, "from-toml", &["*"]);
    write_toml(&cli.work_dir(), &server(), &project, Some(&token.token));
    let deep = cli.work_dir().join("a").join("b");
    std::fs::create_dir_all(&deep).unwrap();

    let me = cli.run_in(&deep, &["whoami", "--json"], &[]).expect_json();
    assert_eq!(me["kind"], "service", "{me}");
    assert_eq!(me["name"], "from-toml", "{me}");
    assert_eq!(me["project"], project.as_str(), "{me}");
}

#[test]
fn token_resolution_order_is_flag_then_env_then_toml() {
    let cli = CliSandbox::new();
    let project = unique("cliorder");
    let from_toml = api_token(&project, "toml-token", &["*"]);
    let from_env = api_token(&project, "env-token", &["*"]);
    write_toml(&cli.work_dir(), &server(), &project, Some(&from_toml.token));

    let me = cli.run(&["whoami", "--json"], &[]).expect_json();
    assert_eq!(me["name"], "toml-token", "toml alone: {me}");

    let env = [("EDGEAUTH_TOKEN", from_env.token.as_str())];
    let me = cli.run(&["whoami", "--json"], &env).expect_json();
    assert_eq!(me["name"], "env-token", "env beats toml: {me}");

    let me = cli
        .run(&["--token", &super_token(), "whoami", "--json"], &env)
        .expect_json();
    assert_eq!(me["kind"], "super", "flag beats env and toml: {me}");

    // Server and project follow the same order: a bad server in the toml is overridden.
    write_toml(
        &cli.work_dir(),
        "http://127.0.0.1:9",
        &project,
        Some(&from_toml.token),
    );
    let me = cli
        .run(&["whoami", "--json"], &[("EDGEAUTH_SERVER", &server())])
        .expect_json();
    assert_eq!(me["name"], "toml-token", "{me}");
}

#[test]
fn create_with_json_prints_the_token() {
    let cli = CliSandbox::new();
    let project = unique("clicreate");
    let name = unique("cli-json");
    let created = cli
        .run(
            &[
                "--server",
                &server(),
                "--project",
                &project,
                "--token",
                &super_token(),
                "service-token",
                "create",
                "--name",
                &name,
                "--workspaces",
                "production/*,staging/eu",
                "--json",
            ],
            &[],
        )
        .expect_json();
    let token = created["token"]
        .as_str()
        .expect("the JSON carries the token");
    assert_service_token_shape(token);
    assert_eq!(created["name"], name.as_str(), "{created}");
    assert_eq!(
        created["workspaces"],
        serde_json::json!(["production/*", "staging/eu"]),
        "{created}"
    );
    let me = whoami(&Instance::main(), token, &project).expect_json(200);
    assert_eq!(me["name"], name.as_str());
}

#[test]
fn human_create_prints_the_token_once_and_list_never_does() {
    let cli = CliSandbox::new();
    let project = unique("clihuman");
    let name = unique("cli-human");
    let env = [
        ("EDGEAUTH_SERVER", server()),
        ("EDGEAUTH_PROJECT", project.clone()),
        ("EDGEAUTH_TOKEN", super_token()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let run = cli.run(
        &[
            "service-token",
            "create",
            "--name",
            &name,
            "--workspaces",
            "production/*",
            "--expires-in-days",
            "30",
        ],
        &env,
    );
    run.expect_code(EXIT_OK);
    let printed = service_tokens_in(&run.stdout);
    assert_eq!(
        printed.len(),
        1,
        "the token is printed exactly once:\n{run}"
    );
    let token = &printed[0];
    assert!(
        run.stdout.lines().any(|line| line.trim() == token),
        "the token stands alone on a line of stdout, for copying and piping:\n{run}"
    );
    assert!(
        !run.stderr.contains(token.as_str()),
        "the token is not repeated on stderr:\n{run}"
    );
    let me = whoami(&Instance::main(), token, &project).expect_json(200);
    assert_eq!(me["name"], name.as_str());
    assert!(!me["expires_at"].is_null(), "{me}");

    let listed = cli.run(&["service-token", "list"], &env);
    listed.expect_code(EXIT_OK);
    assert!(
        listed.stdout.contains(&name),
        "list shows the name:\n{listed}"
    );
    assert!(
        listed.stdout.contains(&token[..12]),
        "list shows the display prefix:\n{listed}"
    );
    for output in [&listed.stdout, &listed.stderr] {
        assert!(
            !output.contains(&token[4..40]),
            "list shows a secret:\n{listed}"
        );
    }

    let listed = cli.run(&["service-token", "list", "--json"], &env);
    listed.expect_code(EXIT_OK);
    assert!(!listed.stdout.contains(&token[4..40]), "{listed}");
    assert!(
        service_tokens_in(&listed.stdout).is_empty(),
        "list --json shows a plaintext:\n{listed}"
    );

    // The CLI did not write the token (or the super token) anywhere on disk.
    for secret in [token.as_str(), super_token().as_str()] {
        let found = files_containing(cli.root(), secret.as_bytes());
        assert!(found.is_empty(), "a secret was written to {found:?}");
    }
}

#[test]
fn revoke_makes_the_token_fail_with_the_401_exit_code() {
    let cli = CliSandbox::new();
    let project = unique("clirevoke");
    let token = api_token(&project, "to-revoke", &["*"]);
    let base = [
        "--server".to_owned(),
        server(),
        "--project".to_owned(),
        project.clone(),
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter()
            .cloned()
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli.run(&args, &[])
    };

    run(with(&["--token", &token.token, "whoami"])).expect_code(EXIT_OK);
    run(with(&[
        "--token",
        &super_token(),
        "service-token",
        "revoke",
        &token.id,
    ]))
    .expect_code(EXIT_OK);
    let refused = run(with(&["--token", &token.token, "whoami"]));
    refused.expect_code(EXIT_UNAUTHORIZED);
    assert!(
        !refused.stderr.trim().is_empty(),
        "a 401 says what happened:\n{refused}"
    );
    whoami(&Instance::main(), &token.token, &project).expect_invalid_token();

    // Revoking again, or an id that never existed: 404.
    run(with(&[
        "--token",
        &super_token(),
        "service-token",
        "revoke",
        &token.id,
    ]))
    .expect_code(EXIT_NOT_FOUND);
    run(with(&[
        "--token",
        &super_token(),
        "service-token",
        "revoke",
        "st_doesnotexist",
    ]))
    .expect_code(EXIT_NOT_FOUND);
}

#[test]
fn a_leaked_token_is_revoked_by_its_plaintext_confirmed_by_the_audit_trail() {
    let cli = CliSandbox::new();
    let project = unique("clileak");
    let leaked = api_token(&project, "leaked", &["*"]);
    let bystander = api_token(&project, "bystander", &["*"]);
    let other = api_token(&project, "other", &["*"]);
    let env = [
        ("EDGEAUTH_SERVER", server()),
        ("EDGEAUTH_PROJECT", project.clone()),
        ("EDGEAUTH_TOKEN", super_token()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // The token itself: hashed here, found by its prefix, confirmed by the hash in the audit
    // trail (its creation event) — no "prefix alone" note.
    let revoked = cli.run(&["service-token", "revoke", &leaked.token], &env);
    revoked.expect_code(EXIT_OK);
    assert_eq!(
        revoked.stdout.trim(),
        format!("revoked {}", leaked.id),
        "{revoked}"
    );
    assert!(!revoked.stderr.contains("note:"), "{revoked}");
    assert!(
        !revoked.stdout.contains(&leaked.token) && !revoked.stderr.contains(&leaked.token),
        "the token is never repeated:\n{revoked}"
    );
    whoami(&Instance::main(), &leaked.token, &project).expect_invalid_token();
    whoami(&Instance::main(), &bystander.token, &project).expect_status(200);

    // Again: it is no longer live, so nothing starts with its prefix.
    let again = cli.run(&["service-token", "revoke", &leaked.token], &env);
    again.expect_code(EXIT_NOT_FOUND);
    assert!(
        again.stderr.contains("no live service token starts with"),
        "{again}"
    );

    // Several at once, a token and an id that does not exist: the one is revoked, the other
    // reported, and the exit code is the failure's.
    let several = cli.run(
        &[
            "--json",
            "service-token",
            "revoke",
            &other.token,
            "st_doesnotexist",
        ],
        &env,
    );
    several.expect_code(EXIT_NOT_FOUND);
    let answer: serde_json::Value =
        serde_json::from_str(several.stdout.trim()).unwrap_or_else(|e| panic!("{e}:\n{several}"));
    assert_eq!(
        answer["revoked"],
        serde_json::json!([other.id]),
        "{several}"
    );
    assert_eq!(
        answer["failed"][0]["argument"], "st_doesnotexist",
        "{several}"
    );
    whoami(&Instance::main(), &other.token, &project).expect_invalid_token();
    whoami(&Instance::main(), &bystander.token, &project).expect_status(200);
}

#[test]
fn exit_code_for_a_rejected_token_is_3() {
    let cli = CliSandbox::new();
    let forged = tokens::reseal(&format!("eas_{}", "x".repeat(SERVICE_TOKEN_LEN - 4)));
    let run = cli.run(&["--server", &server(), "--token", &forged, "whoami"], &[]);
    run.expect_code(EXIT_UNAUTHORIZED);
    assert!(
        !run.stdout.contains(&forged) && !run.stderr.contains(&forged),
        "{run}"
    );
}

#[test]
fn exit_code_for_a_scope_refusal_is_4() {
    let cli = CliSandbox::new();
    let project = unique("cliscope");
    let narrow = api_token(&project, "narrow", &["production/*"]);
    let run = cli.run(
        &[
            "--server",
            &server(),
            "--project",
            &project,
            "--token",
            &narrow.token,
            "service-token",
            "create",
            "--name",
            "wider",
            "--workspaces",
            "staging",
        ],
        &[],
    );
    run.expect_code(EXIT_FORBIDDEN);
    assert!(
        service_tokens_in(&run.stdout).is_empty(),
        "nothing was minted:\n{run}"
    );
}

#[test]
fn exit_code_for_an_unreachable_server_is_6() {
    let closed_port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.local_addr().unwrap().port()
    }; // dropped: nothing listens there now
    let cli = CliSandbox::new();
    let run = cli.run(
        &[
            "--server",
            &format!("http://127.0.0.1:{closed_port}"),
            "--token",
            &super_token(),
            "whoami",
        ],
        &[],
    );
    run.expect_code(EXIT_UNREACHABLE);
    assert!(!run.stderr.trim().is_empty(), "{run}");
}

#[test]
fn exit_code_without_a_configured_server_is_8() {
    let cli = CliSandbox::new();
    let mut dir = Some(cli.work_dir());
    while let Some(d) = dir {
        assert!(
            !d.join("edgeauth.toml").exists(),
            "an edgeauth.toml in {} would configure a server",
            d.display()
        );
        dir = d.parent().map(Path::to_path_buf);
    }
    let run = cli.run(&["--token", &super_token(), "whoami"], &[]);
    run.expect_code(EXIT_NO_SERVER);
    let advice = run.stderr.to_lowercase();
    assert!(
        advice.contains("server"),
        "the error says a server must be configured:\n{run}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let cli = CliSandbox::new();
    let env = [("EDGEAUTH_SERVER", server())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for args in [
        &["frobnicate"][..],
        &["service-token", "create", "--workspaces", "production/*"],
        &["service-token", "create", "--name", "x"],
        &["service-token", "revoke"],
        &[
            "service-token",
            "create",
            "--name",
            "x",
            "--workspaces",
            "*",
            "--expires-in-days",
            "ten",
        ],
        &["whoami", "--no-such-flag"],
    ] {
        cli.run(args, &env).expect_code(EXIT_USAGE);
    }
}
