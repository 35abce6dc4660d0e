//! `edgeauth api` against MAIN and the gateway routes in front of the test origin, run as a
//! user would (the device login's refresh is covered in device_login.rs).

use std::io::Write;

use edgeauth_e2e::cli::*;
use edgeauth_e2e::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn env_with(token: Option<&str>) -> Vec<(String, String)> {
    let mut env = vec![(
        "EDGEAUTH_SERVER".to_owned(),
        Instance::main().base_url().to_owned(),
    )];
    if let Some(token) = token {
        env.push(("EDGEAUTH_TOKEN".to_owned(), token.to_owned()));
    }
    env
}

/// A new service token of project `default` covering `workspaces`.
fn service_token(workspaces: &[&str]) -> String {
    mint_service_token(
        &Instance::main(),
        &super_token(),
        "default",
        &unique("cli-api"),
        workspaces,
    )
    .token
}

fn run(cli: &CliSandbox, args: &[&str], token: Option<&str>) -> CliRun {
    let env = env_with(token);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = cli.run(args, &env);
    if let Some(token) = token {
        assert!(
            !run.stdout.contains(token) && !run.stderr.contains(token),
            "the CLI printed its token:\n{run}"
        );
    }
    run
}

#[test]
fn api_sends_the_resolved_credential_and_prints_the_answer() {
    let cli = CliSandbox::new();
    let token = service_token(&["production/*"]);
    // edgeauth's own endpoint.
    let me: Value = serde_json::from_str(
        run(&cli, &["api", "/api/auth/whoami"], Some(&token))
            .expect_code(EXIT_OK)
            .stdout
            .trim(),
    )
    .unwrap();
    assert_eq!(me["kind"], "service");
    // A gateway route: a JSON body, POST by default, the workspace covered.
    let echo = run(
        &cli,
        &[
            "api",
            "--json",
            "/echo/ws/production%2Feu/runs",
            "-d",
            r#"{"commit": "abc123"}"#,
        ],
        Some(&token),
    )
    .expect_json();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["headers"]["content-type"], "application/json");
    assert_eq!(echo["identity"]["kind"], "service");
    assert_eq!(
        echo["body_sha256"],
        hex::encode(Sha256::digest(br#"{"commit": "abc123"}"#))
    );
    // -X, -H, and -i.
    let included = run(
        &cli,
        &["api", "-i", "-X", "PATCH", "/echo/x", "-H", "X-Custom: yes"],
        Some(&token),
    );
    included.expect_code(EXIT_OK);
    let (head, body) = included
        .stdout
        .split_once("\n\n")
        .expect("headers, then the body");
    assert!(head.starts_with("HTTP/1.1 200"), "{included}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{included}"
    );
    let echo: Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(echo["method"], "PATCH");
    assert_eq!(echo["headers"]["x-custom"], "yes");
}

#[test]
fn api_reports_refusals_with_the_servers_message_and_exit_code() {
    let cli = CliSandbox::new();
    // No credential: edgeauth's 401 is printed, its message on stderr, exit 3.
    let refused = run(&cli, &["api", "-X", "POST", "/echo/x", "-d", "{}"], None);
    refused.expect_code(EXIT_UNAUTHORIZED);
    assert!(refused.stdout.contains("\"unauthorized\""), "{refused}");
    assert!(refused.stderr.contains("not logged in to "), "{refused}");
    assert!(
        refused.stderr.contains("run `edgeauth login --server "),
        "{refused}"
    );
    // Another workspace: 403, exit 4.
    let token = service_token(&["staging/*"]);
    run(
        &cli,
        &["api", "-X", "POST", "/echo/ws/production/x", "-d", "{}"],
        Some(&token),
    )
    .expect_code(EXIT_FORBIDDEN);
    // The origin's own error: printed as it is, exit by status (5xx: 7).
    let failed = run(&cli, &["api", "/status/503"], Some(&token));
    failed.expect_code(EXIT_SERVER_ERROR);
    assert!(failed.stdout.contains("\"origin\":\"status\""), "{failed}");
    assert!(
        failed.stdout.ends_with('\n'),
        "an error's body ends its line, so that the error that follows is not on it: {failed}"
    );
    // Usage errors: the credential is never set with -H; a URL of another host is refused.
    let usage = run(
        &cli,
        &["api", "/x", "-H", "Authorization: Bearer x"],
        Some(&token),
    );
    usage.expect_code(EXIT_USAGE);
    assert!(usage.stderr.contains("--token"), "{usage}");
    run(&cli, &["api", "https://evil.example.com/x"], Some(&token)).expect_code(EXIT_USAGE);
}

#[test]
fn api_streams_a_file_upload() {
    let cli = CliSandbox::new();
    let token = service_token(&["*"]);
    let path = cli.work_dir().join("blob.bin");
    let mut file = std::fs::File::create(&path).unwrap();
    let mut hasher = Sha256::new();
    let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i * 31 % 251) as u8).collect();
    for _ in 0..24 {
        file.write_all(&chunk).unwrap();
        hasher.update(&chunk);
    }
    drop(file);
    let at = format!("@{}", path.display());
    let echo = run(
        &cli,
        &["api", "--json", "-X", "PUT", "/echo/blob", "-d", &at],
        Some(&token),
    )
    .expect_json();
    assert_eq!(echo["body_bytes"], 24 * 1024 * 1024);
    assert_eq!(echo["body_sha256"], hex::encode(hasher.finalize()));
    assert_eq!(echo["headers"]["content-type"], "application/octet-stream");
    assert_eq!(
        echo["headers"]["content-length"], "25165824",
        "sent with its length"
    );
}
