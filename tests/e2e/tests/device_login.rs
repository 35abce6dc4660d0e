//! The device login (RFC 8628) and its refresh tokens (docs/api.md "Device login (RFC 8628)
//! and refresh tokens", `POST /api/auth/revoke`; cli/README.md `login --device`, staying
//! signed in, `logout`), end to end on MAIN, which scripts/test runs with
//! `ACCESS_TOKEN_TTL_SECONDS=5` so that access tokens expire (5 s + 30 s of skew) within a test
//! and every CLI command refreshes.
//!
//! The real CLI with a real browser (tests/e2e/browser/device.mjs) for the person's part; the
//! raw HTTP client for the protocol (polls, refusals, revocation, races, limits); D1 snapshots
//! for what is stored. People other than `demo` are made by signing in as `demo` with the provider's
//! test hook rewriting `sub` and `email`, so that a test that locks a person out (rate limit)
//! or edits their teams in D1 touches no one else.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use edgeauth_e2e::cli::*;
use edgeauth_e2e::credentials::device_login;
use edgeauth_e2e::oidc::{self, Session, DEMO, SESSION_COOKIE};
use edgeauth_e2e::store::{self, files_containing};
use edgeauth_e2e::tokens::{checksum_is_valid, sha256_hex};
use edgeauth_e2e::*;
use rusqlite::OpenFlags;
use serde_json::{json, Value};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// MAIN's `ACCESS_TOKEN_TTL_SECONDS` (scripts/test).
const ACCESS_TTL_S: i64 = 5;
/// The verifier's allowance for clock skew (docs/api.md "What revocation cannot reach").
const SKEW_S: i64 = 30;
const USER_CODE_ALPHABET: &str = "BCDFGHJKLMNPQRSTVWXZ";
const BROWSER_PATIENCE: Duration = Duration::from_secs(240);
/// A device login: the CLI polls every 5 s, then asks /api/users/me.
const LOGIN_PATIENCE: Duration = Duration::from_secs(90);
const LINE_PATIENCE: Duration = Duration::from_secs(60);

/// Device codes one client address may ask for per 60 s (wrangler.toml's
/// `DEVICE_CODE_LIMITER`).
const DEVICE_CODES_PER_ADDRESS: usize = 60;
/// Live pending device grants a project may hold (docs/api.md, `MAX_PENDING_GRANTS`).
const MAX_PENDING_GRANTS: usize = 1000;
/// How long after its spend a refresh token may be presented again for the same successor
/// (docs/api.md, "Refresh"; `core::refresh::REPLAY_WINDOW_S`).
const REPLAY_WINDOW_MS: i64 = 30_000;

/// One Chromium at a time on a small machine.
static ONE_BROWSER_AT_A_TIME: Mutex<()> = Mutex::new(());

// --- the protocol, raw ----------------------------------------------------------------------

/// A client address no other request of these tests uses (198.18.0.0/15, set aside for
/// benchmarks), for `CF-Connecting-IP`: the device-code brake counts per address, so each
/// test is its own client and no test spends another's allowance.
fn fresh_client_address() -> String {
    let seed = sha256_hex(&unique("client"));
    let b = seed.as_bytes();
    format!("198.{}.{}.{}", 18 + b[0] % 2, b[1], b[2])
}

/// `POST /api/auth/device/code` from `address` (JSON `client_name`, optional `X-Project`).
fn ask_device_code(
    instance: &Instance,
    project: Option<&str>,
    client_name: &str,
    address: &str,
) -> Response {
    let mut request = instance
        .post("/api/auth/device/code")
        .header("CF-Connecting-IP", address)
        .json(&json!({ "client_name": client_name }));
    if let Some(project) = project {
        request = request.project(project);
    }
    request.send()
}

/// `POST /api/auth/device/code` from a client of its own, asserting a 200.
fn device_code(instance: &Instance, project: Option<&str>, client_name: &str) -> Value {
    let response = ask_device_code(instance, project, client_name, &fresh_client_address());
    let body = response.expect_json(200);
    assert_eq!(
        response.header("cache-control"),
        Some("no-store"),
        "{response}"
    );
    body
}

fn field(body: &Value, key: &str) -> String {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {body}"))
        .to_owned()
}

/// `POST /api/auth/token` with form `fields`, no credential.
fn token_request(instance: &Instance, fields: &[(&str, &str)]) -> Response {
    instance.post("/api/auth/token").form(fields).send()
}

fn poll(instance: &Instance, device_code: &str) -> Response {
    token_request(
        instance,
        &[("grant_type", DEVICE_GRANT), ("device_code", device_code)],
    )
}

fn refresh(instance: &Instance, refresh_token: &str) -> Response {
    token_request(
        instance,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
}

/// A 400 with the RFC 6749 §5.2 body `{"error": code, …}`; returns `error_description`.
fn expect_oauth_error(response: &Response, code: &str) -> String {
    assert_eq!(
        response.status, 400,
        "expected 400 {code}, got:\n{response}"
    );
    let body = response.json();
    assert_eq!(body["error"], code, "expected error {code}:\n{response}");
    body["error_description"].as_str().unwrap_or("").to_owned()
}

/// A 200 token response; returns `(access_token, refresh_token)`.
fn expect_tokens(response: &Response) -> (String, String) {
    let body = response.expect_json(200);
    assert_eq!(
        response.header("cache-control"),
        Some("no-store"),
        "{response}"
    );
    assert_eq!(response.header("pragma"), Some("no-cache"), "{response}");
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(
        body["expires_in"], ACCESS_TTL_S,
        "MAIN's ACCESS_TOKEN_TTL_SECONDS: {body}"
    );
    assert_eq!(body["scope"], "*", "{body}");
    let access = field(&body, "access_token");
    let refresh = field(&body, "refresh_token");
    assert!(access.starts_with("eaa_"), "an access token is eaa_…");
    assert_refresh_shape(&refresh);
    (access, refresh)
}

fn assert_refresh_shape(token: &str) {
    assert!(token.starts_with("ear_"), "a refresh token is ear_…");
    assert_eq!(token.len(), 75, "a refresh token has 75 characters");
    assert!(checksum_is_valid(token), "a refresh token's checksum holds");
}

/// A person other than everyone else: `demo` at the provider, with the ID token's `sub`,
/// `email` and name rewritten by the test hook. Signs in on `instance`; returns the session and
/// the subject.
fn fresh_person(instance: &Instance, label: &str) -> (Session, String) {
    let subject = unique(label);
    let session = sign_in_as_subject(instance, &subject);
    (session, subject)
}

fn sign_in_as_subject(instance: &Instance, subject: &str) -> Session {
    let callback = oidc::authorize_as(instance, DEMO, None);
    let code = callback.code.clone().expect("the provider sent a code");
    oidc::tamper(
        &code,
        json!({"claims": {
            "sub": subject,
            "email": format!("{subject}@example.test"),
            "name": format!("Person {subject}"),
            "preferred_username": subject,
        }}),
    );
    let response = callback.finish();
    oidc::session_from(instance, DEMO, &response)
}

/// `GET /device?user_code=…` as the browser of `session`: the link the CLI shows, or one any
/// page can make the browser open.
fn open_device_link(session: &Session, user_code: &str) -> Response {
    session
        .get(&format!("/device?user_code={}", oidc::encode(user_code)))
        .accept_html()
        .send()
}

/// `POST /device` as the entry form does (Continue): cookie, Origin, `csrf_token`,
/// `user_code`, no `decision`. This is the guess the server counts.
fn submit_code(session: &Session, user_code: &str) -> Response {
    session
        .instance
        .post("/device")
        .cookie(SESSION_COOKIE, &session.cookie)
        .origin(session.instance.base_url())
        .accept_html()
        .form(&[
            ("csrf_token", &session.csrf_token),
            ("user_code", user_code),
        ])
        .send()
}

/// Asserts that `response` is the entry page, 200, with `typed` in the field, the session's
/// CSRF token in the form, nothing said about the code and no decision offered: what a
/// `GET /device?user_code=…` answers, whatever the code.
fn assert_entry_page_filled(response: &Response, session: &Session, typed: &str) {
    assert_eq!(response.status, 200, "the entry page:\n{response}");
    let html = response.text();
    assert!(
        html.contains(r#"<form id="code-form" method="post" action="/device">"#),
        "the entry form posts:\n{response}"
    );
    assert!(
        html.contains(&format!("value=\"{typed}\"")),
        "the field holds the code of the link:\n{response}"
    );
    assert!(
        html.contains(&format!(
            r#"name="csrf_token" value="{}""#,
            session.csrf_token
        )),
        "the form carries the session's csrf_token:\n{response}"
    );
    assert!(
        !html.contains("device-message") && !html.contains(r#"id="approve""#),
        "a GET looks nothing up (no verdict, no confirmation):\n{response}"
    );
}

/// The rows of `device_code_attempts` that count against the session or the person.
fn attempt_rows(session: &Session, user_id: &str) -> Vec<store::Row> {
    let session_id = session.stored().expect("the session is stored")["id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    let subjects = [format!("session:{session_id}"), format!("user:{user_id}")];
    store::table_rows(&session.instance.persist_dir(), "device_code_attempts")
        .into_iter()
        .filter(|row| subjects.iter().any(|s| row["subject"] == s.as_str()))
        .collect()
}

/// `POST /device` as the confirmation form does: cookie, Origin, `csrf_token`, `user_code`,
/// `decision`.
fn decide(session: &Session, user_code: &str, decision: &str) -> Response {
    session
        .instance
        .post("/device")
        .cookie(SESSION_COOKIE, &session.cookie)
        .origin(session.instance.base_url())
        .accept_html()
        .form(&[
            ("csrf_token", &session.csrf_token),
            ("user_code", user_code),
            ("decision", decision),
        ])
        .send()
}

/// The link for `user_code` opens the entry page with it filled, Continue shows the
/// confirmation, then `decision` is posted; asserts the documented 200 result page.
fn confirm_and_decide(session: &Session, user_code: &str, decision: &str) {
    assert_entry_page_filled(&open_device_link(session, user_code), session, user_code);
    let page = submit_code(session, user_code);
    page.expect_status(200);
    let html = page.text();
    assert!(html.contains(user_code), "the page shows the code:\n{page}");
    assert!(
        html.contains(&format!("value=\"{}\"", session.csrf_token)),
        "the form carries the session's csrf_token:\n{page}"
    );
    let response = decide(session, user_code, decision);
    response.expect_status(200);
    let expected = if decision == "approve" {
        "Device approved"
    } else {
        "Device denied"
    };
    assert!(
        response.text().contains(expected),
        "the result page says {expected:?}:\n{response}"
    );
}

fn grant_row(instance: &Instance, device_code: &str) -> store::Row {
    let hash = sha256_hex(device_code);
    store::table_rows(&instance.persist_dir(), "device_grants")
        .into_iter()
        .find(|row| row["device_code_hash"] == hash.as_str())
        .unwrap_or_else(|| panic!("no device_grants row with the device code's SHA-256"))
}

fn refresh_token_row(instance: &Instance, token: &str) -> Option<store::Row> {
    let hash = sha256_hex(token);
    store::table_rows(&instance.persist_dir(), "refresh_tokens")
        .into_iter()
        .find(|row| row["token_hash"] == hash.as_str())
}

fn family_row(instance: &Instance, id: &str) -> store::Row {
    store::table_rows(&instance.persist_dir(), "refresh_families")
        .into_iter()
        .find(|row| row["id"] == id)
        .unwrap_or_else(|| panic!("no refresh_families row {id}"))
}

/// A user code of the right shape that is (almost surely) nobody's.
fn random_user_code() -> String {
    let letters: Vec<char> = USER_CODE_ALPHABET.chars().collect();
    let seed = sha256_hex(&unique("guess"));
    let picked: String = seed
        .as_bytes()
        .chunks(2)
        .take(8)
        .map(|pair| letters[(pair[0] as usize * 7 + pair[1] as usize) % letters.len()])
        .collect();
    format!("{}-{}", &picked[..4], &picked[4..])
}

/// Sets a person's stored `teams` directly in D1 (as if their last sign-in had brought them).
/// Only for a person this test made: no other test signs them in.
fn set_teams(instance: &Instance, user_id: &str, teams: &Value) {
    let text = teams.to_string();
    let updated: usize = store::d1_databases(&instance.persist_dir())
        .iter()
        .map(|path| {
            store::with_connection(path, OpenFlags::SQLITE_OPEN_READ_WRITE, |db| {
                db.execute(
                    "UPDATE users SET teams = ?1 WHERE id = ?2",
                    rusqlite::params![text, user_id],
                )
            })
        })
        .sum();
    assert_eq!(updated, 1, "expected to update the users row {user_id}");
}

// --- the CLI --------------------------------------------------------------------------------

/// The CLI's config directory: one it creates itself (the sandbox's own is made by the
/// test, with the test's umask), so that its mode is the CLI's doing.
fn config_dir(cli: &CliSandbox) -> PathBuf {
    cli.config_dir().join("edgeauth")
}

fn cli_env(cli: &CliSandbox, instance: &Instance) -> Vec<(&'static str, String)> {
    vec![
        ("EDGEAUTH_SERVER", instance.base_url().to_owned()),
        ("EDGEAUTH_CONFIG_DIR", config_dir(cli).display().to_string()),
        ("EDGEAUTH_LOGIN_TIMEOUT", "300".to_owned()),
    ]
}

fn run_cli(cli: &CliSandbox, instance: &Instance, args: &[&str]) -> CliRun {
    let env = cli_env(cli, instance);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    cli.run(args, &env)
}

/// A device login the CLI started: its process and what it printed.
struct CliDeviceLogin {
    process: CliProcess,
    user_code: String,
    complete_url: String,
}

/// Starts `edgeauth login --device --no-browser` and reads the code and the URL from stderr:
/// `To sign in, open VERIFICATION_URI and enter the code XXXX-XXXX`, then
/// `or open this URL, which carries the code:` and `  <verification_uri_complete>`.
fn start_cli_device_login(cli: &CliSandbox, instance: &Instance) -> CliDeviceLogin {
    let env = cli_env(cli, instance);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut process = cli.spawn(&["login", "--device", "--no-browser"], &env);
    let line = process.wait_for_line(LINE_PATIENCE, |l| l.starts_with("To sign in, open "));
    let verification_uri = format!("{}/device", instance.base_url());
    let prefix = format!("To sign in, open {verification_uri} and enter the code ");
    let user_code = line
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("expected {prefix:?} and the code, got {line:?}"))
        .to_owned();
    assert_user_code_shape(&user_code);
    process.wait_for_line(LINE_PATIENCE, |l| {
        l == "or open this URL, which carries the code:"
    });
    let next = process
        .next_line(LINE_PATIENCE)
        .unwrap_or_else(|| panic!("the CLI exited before printing the URL"));
    let complete_url = next
        .strip_prefix("  ")
        .unwrap_or_else(|| panic!("the URL line is two spaces and the URL, not {next:?}"))
        .to_owned();
    assert_eq!(
        complete_url,
        format!("{verification_uri}?user_code={user_code}"),
        "verification_uri_complete carries the code"
    );
    CliDeviceLogin {
        process,
        user_code,
        complete_url,
    }
}

fn assert_user_code_shape(code: &str) {
    let (a, b) = code
        .split_once('-')
        .unwrap_or_else(|| panic!("a user code is XXXX-XXXX, not {code:?}"));
    assert!(
        a.len() == 4
            && b.len() == 4
            && a.chars()
                .chain(b.chars())
                .all(|c| USER_CODE_ALPHABET.contains(c)),
        "a user code is 8 letters of {USER_CODE_ALPHABET} as XXXX-XXXX, not {code:?}"
    );
}

fn credentials_path(cli: &CliSandbox) -> PathBuf {
    config_dir(cli).join("credentials.json")
}

/// The stored login for `instance` (cli/README.md's format), if any.
fn stored_login(cli: &CliSandbox, instance: &Instance) -> Option<Value> {
    let text = std::fs::read_to_string(credentials_path(cli)).ok()?;
    let file: Value = serde_json::from_str(&text).expect("credentials.json is JSON");
    let entry = &file["servers"][instance.base_url()];
    (!entry.is_null()).then(|| entry.clone())
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn assert_no_token_in_output(run: &CliRun) {
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains("eaa_") && !text.contains("ear_"),
            "the CLI printed a token:\n{run}"
        );
    }
}

/// The login summary of cli/README.md.
fn assert_logged_in(run: &CliRun, instance: &Instance, email: &str, project: &str) {
    run.expect_code(EXIT_OK);
    let expected = format!(
        "Logged in to {} as {email} (device login, project {project}; stays signed in by refreshing)",
        instance.base_url()
    );
    assert!(
        run.stdout.lines().any(|l| l == expected) || run.stderr.lines().any(|l| l == expected),
        "expected the line {expected:?}:\n{run}"
    );
    assert_no_token_in_output(run);
}

// --- the browser ----------------------------------------------------------------------------

/// Runs tests/e2e/browser/device.mjs on `url` to its end; returns its JSON lines by phase.
fn browser_device(instance: &Instance, url: &str, decision: &str) -> Vec<Value> {
    let _turn = ONE_BROWSER_AT_A_TIME
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let script = repo_root().join("tests/e2e/browser/device.mjs");
    let artifacts = state_dir().join("browser").join(unique("device"));
    let mut child = Command::new("node")
        .arg(&script)
        .current_dir(repo_root())
        .env("EDGEAUTH_BROWSER_BASE", instance.base_url())
        .env("EDGEAUTH_BROWSER_IDP", Instance::idp().base_url())
        .env("EDGEAUTH_BROWSER_ARTIFACTS", &artifacts)
        .env("EDGEAUTH_DEVICE_URL", url)
        .env("EDGEAUTH_DEVICE_DECISION", decision)
        .env_remove("EDGEAUTH_SCREENSHOTS_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node {} ({e})", script.display()));
    let (sender, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut child_stderr = child.stderr.take().expect("piped");
    let collected = Arc::clone(&stderr);
    thread::spawn(move || {
        let mut text = String::new();
        let _ = child_stderr.read_to_string(&mut text);
        collected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_str(&text);
    });
    let deadline = Instant::now() + BROWSER_PATIENCE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    eprintln!("device.mjs: (not JSON) {line}");
                    continue;
                };
                if value["phase"] == "error" {
                    let _ = child.wait();
                    panic!(
                        "device.mjs could not go on:\n{value:#}\n(screenshot, if any, in {})\n{}",
                        artifacts.display(),
                        stderr.lock().unwrap_or_else(|p| p.into_inner())
                    );
                }
                seen.push(value);
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("device.mjs did not finish within {BROWSER_PATIENCE:?}");
            }
        }
    }
    let status = child.wait().expect("wait for node");
    assert!(
        status.success(),
        "device.mjs exited with {status}:\n{}",
        stderr.lock().unwrap_or_else(|p| p.into_inner())
    );
    seen
}

fn phase<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["phase"] == name)
        .unwrap_or_else(|| panic!("no {name:?} phase in {lines:#?}"))
}

// --- 1 and 5: the real CLI, a real browser, refresh, reuse, expiry ---------------------------

#[test]
fn cli_device_login_with_browser_refreshes_and_dies_on_reuse() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let cli = CliSandbox::new();

    let mut login = start_cli_device_login(&cli, &main);
    let user_code = login.user_code.clone();
    let grant_before = store::table_rows(&main.persist_dir(), "device_grants")
        .into_iter()
        .find(|row| row["user_code"] == user_code.as_str())
        .expect("the grant is stored with its user code");
    assert_eq!(grant_before["status"], "pending");
    assert!(login.process.is_running(), "the CLI waits for the approval");

    // The person, in a browser without a session: signs in at the provider, lands back on
    // the confirmation, approves.
    let seen = browser_device(&main, &login.complete_url, "approve");
    // The link lands on the entry page with the code filled; the person checks it and
    // presses Continue (opening the link looked nothing up).
    let entry = phase(&seen, "entry");
    assert_eq!(entry["signed_in_at_provider"], true, "{entry:#}");
    assert_eq!(entry["path"], "/device", "{entry:#}");
    assert_eq!(
        entry["query_user_code"],
        user_code.as_str(),
        "the code kept through sign-in"
    );
    assert_eq!(entry["field_value"], user_code.as_str(), "{entry:#}");
    assert!(
        entry["check_hint"]
            .as_str()
            .is_some_and(|t| t.contains("your terminal shows")),
        "the person is asked to check the code: {entry:#}"
    );
    assert!(entry["message"].is_null(), "{entry:#}");
    assert_eq!(
        entry["forms"],
        json!([{"method": "post", "action_path": "/device", "action_origin": main.base_url()}]),
        "{entry:#}"
    );
    assert_eq!(entry["hidden_fields"], json!(["csrf_token"]), "{entry:#}");
    assert_eq!(entry["response"]["status"], 200, "{entry:#}");
    let confirm = phase(&seen, "confirm");
    assert_eq!(confirm["status"], 200, "{confirm:#}");
    assert_eq!(confirm["path"], "/device", "{confirm:#}");
    assert_eq!(confirm["code"], user_code.as_str(), "{confirm:#}");
    assert_eq!(confirm["person"], DEMO.email, "{confirm:#}");
    assert_eq!(confirm["project"], "default", "{confirm:#}");
    let client_name = confirm["client_name"].as_str().unwrap_or_default();
    assert!(
        client_name.starts_with("edgeauth CLI on "),
        "the confirmation names the CLI: {confirm:#}"
    );
    let summary = confirm["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("asks to act as you") && summary.contains(DEMO.email),
        "{confirm:#}"
    );
    assert!(
        confirm["terms"]
            .as_str()
            .is_some_and(|t| t.contains("30 days")),
        "the terms say how long the login lasts: {confirm:#}"
    );
    assert_eq!(
        confirm["hidden_fields"],
        json!(["csrf_token", "user_code"]),
        "{confirm:#}"
    );
    assert_eq!(
        confirm["response"]["x_frame_options"], "DENY",
        "the /device page's headers: {confirm:#}"
    );
    assert_eq!(confirm["console_errors"], json!([]), "{confirm:#}");
    let done = phase(&seen, "done");
    assert_eq!(done["status"], 200, "{done:#}");
    assert_eq!(done["heading"], "Device approved", "{done:#}");

    let run = login.process.wait(LOGIN_PATIENCE);
    let logged_in_at = now_ms();
    assert_logged_in(&run, &main, DEMO.email, "default");

    // The credentials file: 0600 in a 0700 directory, kind access, both tokens.
    let path = credentials_path(&cli);
    assert_eq!(mode(&path), 0o600, "credentials.json");
    assert_eq!(mode(&config_dir(&cli)), 0o700, "the config directory");
    let entry = stored_login(&cli, &main).expect("the login is stored for MAIN");
    assert_eq!(entry["kind"], "access", "kind access: {}", redact(&entry));
    let access0 = field(&entry, "token");
    let refresh0 = field(&entry, "refresh_token");
    assert!(access0.starts_with("eaa_"), "{}", redact(&entry));
    assert_refresh_shape(&refresh0);
    assert_eq!(entry["project"], "default", "{}", redact(&entry));
    assert!(entry["expires_at"].is_string(), "{}", redact(&entry));

    // 5: the access token, raw: kind access, the person, only in its project.
    let who = whoami(&main, &access0, "default").expect_json(200);
    assert_eq!(who["kind"], "access", "{who}");
    let me = main
        .get("/api/users/me")
        .bearer(&access0)
        .project("default")
        .send()
        .expect_json(200);
    assert_eq!(me["authenticated_by"], "access_token", "{me}");
    assert_eq!(me["email"], DEMO.email, "{me}");
    let elsewhere = whoami(&main, &access0, &unique("elsewhere"));
    assert_eq!(
        elsewhere.status, 401,
        "an access token is valid only in its grant's project:\n{elsewhere}"
    );

    // `edgeauth whoami`: with a 5 s access token, every command refreshes first (60 s
    // ahead); the stored refresh token changes and the command succeeds.
    let run = run_cli(&cli, &main, &["whoami", "--json"]);
    let out = run.expect_json();
    assert_no_token_in_output(&run);
    assert_eq!(out["kind"], "access", "{run}");
    assert_eq!(out["credential_source"]["login_method"], "device", "{run}");
    assert_eq!(
        out["credential_source"]["refreshes_automatically"], true,
        "{run}"
    );
    let entry1 = stored_login(&cli, &main).expect("still logged in");
    let refresh1 = field(&entry1, "refresh_token");
    let access1 = field(&entry1, "token");
    assert_ne!(refresh1, refresh0, "the refresh token rotated");
    assert_ne!(access1, access0, "a new access token");
    assert_eq!(mode(&path), 0o600, "credentials.json after the refresh");
    let spent = refresh_token_row(&main, &refresh0).expect("the first refresh token's hash");
    assert!(
        spent["used_at"].is_i64(),
        "the first refresh token is spent: {spent:?}"
    );
    assert_eq!(spent["replaced_by"], sha256_hex(&refresh1).as_str());

    let run = run_cli(&cli, &main, &["whoami"]);
    run.expect_code(EXIT_OK);
    assert_no_token_in_output(&run);
    assert!(
        run.stdout.contains("refreshes automatically") && run.stdout.contains("device login"),
        "the credential line says it is a device login:\n{run}"
    );
    let refresh2 = field(
        &stored_login(&cli, &main).expect("still logged in"),
        "refresh_token",
    );
    assert_ne!(refresh2, refresh1, "the refresh token rotated again");

    // 5: the first access token lapses at exp + 30 s of skew, ~35 s after it was issued.
    let valid_for_ms = (ACCESS_TTL_S + SKEW_S) * 1000;
    let still = whoami(&main, &access0, "default");
    if now_ms() < logged_in_at + valid_for_ms - 3000 {
        assert_eq!(
            still.status, 200,
            "before exp + skew the access token works:\n{still}"
        );
    }
    let wake = logged_in_at + valid_for_ms + 2000;
    let wait = (wake - now_ms()).max(0) as u64;
    thread::sleep(Duration::from_millis(wait));
    let expired = whoami(&main, &access0, "default");
    assert_eq!(
        expired.status,
        401,
        "{} s after issue, past exp + skew, the access token is refused:\n{expired}",
        ACCESS_TTL_S + SKEW_S + 2
    );

    // `edgeauth api` refreshes the device login on its own as every command does, and sends
    // the fresh access token: through the gateway, the origin learns the person.
    let run = run_cli(&cli, &main, &["api", "--json", "/echo/from-the-cli"]);
    let echo = run.expect_json();
    assert_no_token_in_output(&run);
    assert_eq!(echo["identity"]["kind"], "access", "{run}");
    assert_eq!(echo["identity"]["sub"], me["id"], "{run}");
    let refresh3 = field(
        &stored_login(&cli, &main).expect("still logged in"),
        "refresh_token",
    );
    assert_ne!(refresh3, refresh2, "`api` refreshed before sending");

    // Reuse: the spent first refresh token, replayed, is refused and revokes the family.
    let description = expect_oauth_error(&refresh(&main, &refresh0), "invalid_grant");
    assert!(
        description.contains("already used"),
        "the description says it was reused: {description}"
    );
    let family_id = spent["family_id"].as_str().expect("a family").to_owned();
    let family = family_row(&main, &family_id);
    assert!(
        family["revoked_at"].is_i64(),
        "the family is revoked: {family:?}"
    );

    // The CLI's current refresh token is dead too: its next command is exit 3, log in again,
    // and the stored login is forgotten.
    let run = run_cli(&cli, &main, &["whoami"]);
    run.expect_code(EXIT_UNAUTHORIZED);
    assert!(
        run.stderr.contains("login --device") && run.stderr.contains("again"),
        "the CLI says to log in again:\n{run}"
    );
    assert_no_token_in_output(&run);
    assert!(
        stored_login(&cli, &main).is_none(),
        "the refused login is forgotten"
    );
    expect_oauth_error(&refresh(&main, &refresh2), "invalid_grant");
}

fn redact(entry: &Value) -> Value {
    let mut copy = entry.clone();
    for key in ["token", "refresh_token"] {
        if let Some(s) = copy[key].as_str() {
            copy[key] = json!(format!("{}…", &s[..s.len().min(12)]));
        }
    }
    copy
}

// --- 2: polling -----------------------------------------------------------------------------

#[test]
fn polling_answers_pending_slow_down_denied_and_refusals() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let name = format!("device polls {}", unique("c"));
    let grant = device_code(&main, None, &name);
    let code = field(&grant, "device_code");
    let user_code = field(&grant, "user_code");
    assert_eq!(code.len(), 43, "43 base62 characters: {grant}");
    assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()), "base62");
    assert_user_code_shape(&user_code);
    let verification = format!("{}/device", main.base_url());
    assert_eq!(grant["verification_uri"], verification.as_str(), "{grant}");
    assert_eq!(
        grant["verification_uri_complete"],
        format!("{verification}?user_code={user_code}").as_str(),
        "{grant}"
    );
    assert_eq!(grant["expires_in"], 900, "{grant}");
    assert_eq!(grant["interval"], 5, "{grant}");

    expect_oauth_error(&poll(&main, &code), "authorization_pending");
    let description = expect_oauth_error(&poll(&main, &code), "slow_down");
    assert!(
        description.contains("10"),
        "slow_down says the new interval (10 s): {description}"
    );
    let slowed_at = Instant::now();
    let row = grant_row(&main, &code);
    assert_eq!(row["interval_s"], 10, "the interval grew by 5 s: {row:?}");
    assert_eq!(row["client_name"], name.as_str());
    assert_eq!(row["project"], "default");

    // The person denies it (the confirmation form's post, as a browser sends it).
    let session = oidc::sign_in(&main, DEMO);
    confirm_and_decide(&session, &user_code, "deny");
    let row = grant_row(&main, &code);
    assert_eq!(row["status"], "denied", "{row:?}");
    // A decided grant is no longer offered at /device.
    let again = submit_code(&session, &user_code);
    again.expect_status(400);
    assert!(again.text().contains("device-message"), "{again}");

    // Polled again only after the grown interval, so that slow_down does not come first.
    thread::sleep(
        Duration::from_secs(10).saturating_sub(slowed_at.elapsed()) + Duration::from_millis(500),
    );
    expect_oauth_error(&poll(&main, &code), "access_denied");

    // An unknown (well-shaped) device code, a malformed one, other grant types.
    let unknown: String = sha256_hex(&unique("unknown"))
        .chars()
        .chain("ABCDEFGHIJKLMNOPQRSTUVWXYZ".chars())
        .take(43)
        .collect();
    expect_oauth_error(&poll(&main, &unknown), "invalid_grant");
    expect_oauth_error(&poll(&main, "not-a-device-code"), "invalid_grant");
    expect_oauth_error(
        &token_request(&main, &[("grant_type", "password"), ("username", "demo")]),
        "unsupported_grant_type",
    );
    expect_oauth_error(
        &token_request(&main, &[("grant_type", "client_credentials")]),
        "unsupported_grant_type",
    );
    expect_oauth_error(
        &token_request(&main, &[("device_code", &code)]),
        "invalid_request",
    );
    expect_oauth_error(
        &token_request(&main, &[("grant_type", DEVICE_GRANT)]),
        "invalid_request",
    );
}

// --- 3: the team allow-list at approval -------------------------------------------------------

#[test]
fn approval_needs_an_allowed_team_as_stored() {
    // It writes to D1 behind the Worker's back (workerd does not wait on SQLite locks).
    let _writers = oidc::exclusive();
    let main = Instance::main();
    let (session, subject) = fresh_person(&main, "teamless");
    let user = oidc::user_row(&main, &subject).expect("the person is stored");
    let user_id = user["id"].as_str().expect("an id").to_owned();
    let grant = device_code(&main, None, "edgeauth CLI on team-test");
    let code = field(&grant, "device_code");
    let user_code = field(&grant, "user_code");

    // Their teams, as stored at their last sign-in, no longer meet ALLOWED_TEAMS.
    set_teams(&main, &user_id, &json!(["other-team"]));
    let page = submit_code(&session, &user_code);
    page.expect_status(200);
    let response = decide(&session, &user_code, "approve");
    assert_eq!(
        response.status, 403,
        "approving needs a team in ALLOWED_TEAMS:\n{response}"
    );
    assert!(
        response.text().contains("not_in_allowed_team"),
        "the page names not_in_allowed_team:\n{response}"
    );
    assert!(
        response
            .text()
            .contains("The device that asked was told no"),
        "the page says the device was told:\n{response}"
    );
    // Denied as the person's Deny would deny it: the waiting device stops at once instead of
    // polling until the code expires, and the audit trail says why.
    let row = grant_row(&main, &code);
    assert_eq!(row["status"], "denied", "the grant is denied: {row:?}");
    expect_oauth_error(&poll(&main, &code), "access_denied");
    let denied = store::table_rows(&main.persist_dir(), "audit_events")
        .into_iter()
        .find(|e| e["action"] == "device.deny" && e["actor"] == format!("user:{user_id}"))
        .unwrap_or_else(|| panic!("a device.deny event by {user_id}"));
    let detail: Value = serde_json::from_str(denied["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["refused"], "not_in_allowed_team", "{detail}");
}

// --- 4: user-code guessing --------------------------------------------------------------------

#[test]
fn guessing_user_codes_is_rate_limited() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let (session, subject) = fresh_person(&main, "guesser");
    let grant = device_code(&main, None, "edgeauth CLI on guess-test");
    let user_code = field(&grant, "user_code");
    let code = field(&grant, "device_code");

    for attempt in 1..=5 {
        let guess = random_user_code();
        let response = submit_code(&session, &guess);
        assert_eq!(
            response.status, 400,
            "wrong code {attempt} of 5 is the \"not valid\" page:\n{response}"
        );
        let html = response.text();
        assert!(
            html.contains("device-message"),
            "the entry form again with #device-message:\n{response}"
        );
        assert!(
            html.contains(&format!(
                r#"name="csrf_token" value="{}""#,
                session.csrf_token
            )),
            "the entry form again posts with the csrf_token:\n{response}"
        );
    }
    // The sixth guess, of a valid code, is refused without being looked up.
    let response = submit_code(&session, &user_code);
    assert_eq!(response.status, 429, "the 6th guess is 429:\n{response}");
    let retry: i64 = response
        .header("retry-after")
        .unwrap_or_else(|| panic!("429 without Retry-After:\n{response}"))
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is whole seconds:\n{response}"));
    assert!(
        (1..=600).contains(&retry),
        "Retry-After is the rest of the 10-minute window, got {retry}"
    );
    assert!(response.text().contains("too_many_attempts"), "{response}");
    // The confirmation's post looks the code up under the same limit.
    let response = decide(&session, &user_code, "approve");
    assert_eq!(
        response.status, 429,
        "POST /device with a decision is limited too:\n{response}"
    );
    assert_eq!(grant_row(&main, &code)["status"], "pending");
    // Opening a link is not a guess, so it is not refused either: the field is filled.
    assert_entry_page_filled(
        &open_device_link(&session, &user_code),
        &session,
        &user_code,
    );

    // The limit is the person's too: another session of theirs is refused at once.
    let second = sign_in_as_subject(&main, &subject);
    let response = submit_code(&second, &user_code);
    assert_eq!(
        response.status, 429,
        "a new session of the same person is limited:\n{response}"
    );
    // Someone else is not.
    let (other, _) = fresh_person(&main, "bystander");
    submit_code(&other, &user_code).expect_status(200);
}

#[test]
fn opening_device_links_never_counts_as_a_guess() {
    // Issue 10, finding 4: a page on another site made a signed-in browser open
    // /device?user_code=WRONG six times (links, images, frames: GETs that carry the cookie),
    // and the person could not approve a device for 10 minutes in any session.
    let _writers = oidc::shared();
    let main = Instance::main();
    let (session, subject) = fresh_person(&main, "linked");
    let user_id = oidc::user_row(&main, &subject).expect("the person is stored")["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let grant = device_code(&main, None, "edgeauth CLI on link-test");
    let user_code = field(&grant, "user_code");
    let code = field(&grant, "device_code");

    for _ in 0..6 {
        let wrong = random_user_code();
        assert_entry_page_filled(&open_device_link(&session, &wrong), &session, &wrong);
    }
    // A valid code in the link is not looked up either: the person confirms it first
    // (RFC 8628 §3.3.1).
    let link = open_device_link(&session, &user_code);
    assert_entry_page_filled(&link, &session, &user_code);
    assert!(
        link.text().contains(r#"id="check-code""#),
        "the person is asked to check the code against their terminal:\n{link}"
    );
    assert!(
        attempt_rows(&session, &user_id).is_empty(),
        "opening links counted as guesses"
    );

    // Another site cannot submit the guess for them: the form's post needs this origin and
    // the session's CSRF token; refused, it counts nothing.
    let wrong = random_user_code();
    for (origin, token) in [
        ("http://attacker.example", session.csrf_token.as_str()),
        (main.base_url(), ""),
    ] {
        let forged = main
            .post("/device")
            .cookie(SESSION_COOKIE, &session.cookie)
            .origin(origin)
            .accept_html()
            .form(&[("csrf_token", token), ("user_code", &wrong)])
            .send();
        forged.expect_html_error(403, "csrf_rejected");
    }
    assert!(attempt_rows(&session, &user_id).is_empty());

    // The person's own Continue with the valid code still works, and so does approving.
    let page = submit_code(&session, &user_code);
    page.expect_status(200);
    assert!(
        page.text().contains(r#"id="approve""#),
        "the confirmation:\n{page}"
    );
    let approved = decide(&session, &user_code, "approve");
    approved.expect_status(200);
    assert!(approved.text().contains("Device approved"), "{approved}");
    assert_eq!(grant_row(&main, &code)["status"], "approved");
    assert!(
        attempt_rows(&session, &user_id).is_empty(),
        "valid lookups count nothing"
    );
}

// --- 6: logout after a device login ------------------------------------------------------------

#[test]
fn logout_revokes_the_device_login() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let cli = CliSandbox::new();
    let session = oidc::sign_in(&main, DEMO);
    let login = start_cli_device_login(&cli, &main);
    confirm_and_decide(&session, &login.user_code, "approve");
    let run = login.process.wait(LOGIN_PATIENCE);
    assert_logged_in(&run, &main, DEMO.email, "default");
    let entry = stored_login(&cli, &main).expect("stored");
    let refresh_token = field(&entry, "refresh_token");
    let family_id = refresh_token_row(&main, &refresh_token).expect("stored hash")["family_id"]
        .as_str()
        .expect("a family")
        .to_owned();

    let run = run_cli(&cli, &main, &["logout"]);
    run.expect_code(EXIT_OK);
    assert_no_token_in_output(&run);
    let expected = format!("Logged out of {} (device login revoked)", main.base_url());
    assert!(
        run.stdout.contains(&expected) || run.stderr.contains(&expected),
        "expected {expected:?}:\n{run}"
    );
    assert!(stored_login(&cli, &main).is_none(), "the entry is gone");
    // It revoked without refreshing: the token it held is the family's latest, unspent.
    let row = refresh_token_row(&main, &refresh_token).expect("stored hash");
    assert!(
        row["used_at"].is_null(),
        "logout never refreshes first: {row:?}"
    );
    assert!(family_row(&main, &family_id)["revoked_at"].is_i64());
    let description = expect_oauth_error(&refresh(&main, &refresh_token), "invalid_grant");
    assert!(description.contains("revoked"), "{description}");

    // Logging out again: nothing stored, exit 0.
    run_cli(&cli, &main, &["logout"]).expect_code(EXIT_OK);
    // The revocation endpoint answers 200 {} for a token it does not know, 400 without one.
    let response = main
        .post("/api/auth/revoke")
        .form(&[("token", &refresh_token)])
        .send();
    assert_eq!(response.expect_json(200), json!({}));
    expect_oauth_error(
        &main.post("/api/auth/revoke").form(&[("other", "x")]).send(),
        "invalid_request",
    );
}

#[test]
fn logout_all_signs_the_person_out_everywhere() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let cli = CliSandbox::new();
    let (here, subject) = fresh_person(&main, "logout-all");
    let elsewhere = sign_in_as_subject(&main, &subject);
    let login = start_cli_device_login(&cli, &main);
    confirm_and_decide(&here, &login.user_code, "approve");
    login.process.wait(LOGIN_PATIENCE).expect_code(EXIT_OK);
    let listed = here.get("/api/sessions").send().expect_json(200);
    assert_eq!(
        listed["sessions"].as_array().map(Vec::len),
        Some(3),
        "{listed}"
    );

    let run = run_cli(&cli, &main, &["logout", "--all"]);
    run.expect_code(EXIT_OK);
    assert_no_token_in_output(&run);
    let expected = format!(
        "Signed out everywhere on {}: 3 browser session(s) and device login(s) ended",
        main.base_url()
    );
    assert!(
        run.stdout.contains(&expected),
        "expected {expected:?}:\n{run}"
    );
    assert!(stored_login(&cli, &main).is_none(), "the entry is gone");
    // Both browsers are signed out: their cookies make a request anonymous.
    for session in [&here, &elsewhere] {
        session
            .get("/api/users/me")
            .send()
            .expect_error(401, "unauthorized");
    }
    // Nothing stored: --all has nothing to act with, and says so as plain logout does.
    run_cli(&cli, &main, &["logout", "--all"]).expect_code(EXIT_OK);
}

// --- 7: a grant is exchanged once -------------------------------------------------------------

#[test]
fn concurrent_polls_after_approval_get_the_tokens_once() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let grant = device_code(&main, None, "edgeauth CLI on race-test");
    let code = field(&grant, "device_code");
    let session = oidc::sign_in(&main, DEMO);
    confirm_and_decide(&session, &field(&grant, "user_code"), "approve");
    assert_eq!(grant_row(&main, &code)["status"], "approved");

    let barrier = Arc::new(Barrier::new(2));
    let answers: Vec<Response> = (0..2)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let main = main.clone();
            let code = code.clone();
            thread::spawn(move || {
                barrier.wait();
                poll(&main, &code)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("poll thread"))
        .collect();
    let ok: Vec<&Response> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        ok.len(),
        1,
        "exactly one of two concurrent polls gets the tokens:\n{}\n{}",
        answers[0],
        answers[1]
    );
    let other = answers.iter().find(|r| r.status != 200).expect("the other");
    expect_oauth_error(other, "invalid_grant");
    let (_, refresh_token) = expect_tokens(ok[0]);
    let row = grant_row(&main, &code);
    assert_eq!(row["status"], "consumed", "{row:?}");
    let family_id = row["family_id"].as_str().expect("a family").to_owned();
    let families: Vec<_> = store::table_rows(&main.persist_dir(), "refresh_families")
        .into_iter()
        .filter(|f| f["id"] == family_id.as_str())
        .collect();
    assert_eq!(families.len(), 1, "one grant starts one family");
    let tokens: Vec<_> = store::table_rows(&main.persist_dir(), "refresh_tokens")
        .into_iter()
        .filter(|t| t["family_id"] == family_id.as_str())
        .collect();
    assert_eq!(tokens.len(), 1, "with one refresh token: {tokens:?}");
    assert_eq!(tokens[0]["token_hash"], sha256_hex(&refresh_token).as_str());
    // And a later poll is refused.
    thread::sleep(Duration::from_millis(5500));
    expect_oauth_error(&poll(&main, &code), "invalid_grant");
}

// --- 8: hygiene -------------------------------------------------------------------------------

#[test]
fn device_codes_and_tokens_are_stored_only_as_hashes() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let grant = device_code(&main, None, "edgeauth CLI on hygiene-test");
    let code = field(&grant, "device_code");
    let user_code = field(&grant, "user_code");
    let session = oidc::sign_in(&main, DEMO);
    confirm_and_decide(&session, &user_code, "approve");
    let (access0, refresh0) = expect_tokens(&poll(&main, &code));
    let (access1, refresh1) = expect_tokens(&refresh(&main, &refresh0));
    // Used, so that whatever a request logs or stores about an access token happens.
    whoami(&main, &access1, "default").expect_json(200);

    let row = grant_row(&main, &code);
    assert_eq!(
        row["user_code"],
        user_code.as_str(),
        "user codes may be stored"
    );
    assert!(refresh_token_row(&main, &refresh0).is_some());
    assert!(refresh_token_row(&main, &refresh1).is_some());
    // Give waitUntil writes and logs a moment to land.
    thread::sleep(Duration::from_millis(500));
    let state = state_dir();
    for (what, secret) in [
        ("device code", &code),
        ("access token", &access0),
        ("access token", &access1),
        ("refresh token", &refresh0),
        ("refresh token", &refresh1),
    ] {
        let found = files_containing(&state, secret.as_bytes());
        assert!(
            found.is_empty(),
            "a {what}'s plaintext is in {found:?} (D1, KV or logs)"
        );
        // The part that is secret on its own: a refresh token's entropy, an access token's
        // signature (its header is the same in every token).
        let part = if secret.starts_with("ear_") {
            &secret[4..4 + 43]
        } else if secret.starts_with("eaa_") {
            &secret[secret.len() - 40..]
        } else {
            continue;
        };
        let found = files_containing(&state, part.as_bytes());
        assert!(found.is_empty(), "part of a {what} is in {found:?}");
    }
}

// --- 9: asking for device codes ---------------------------------------------------------------

/// A 429 or 503 refusal of `POST /api/auth/device/code`: an RFC 6749 §5.2 body with `error`,
/// `Retry-After` in whole seconds and `Cache-Control: no-store`; returns
/// `(error_description, retry_after)`.
fn expect_device_code_refusal(response: &Response, status: u16, error: &str) -> (String, i64) {
    assert_eq!(
        response.status, status,
        "expected {status} {error}:\n{response}"
    );
    let body = response.json();
    assert_eq!(body["error"], error, "{response}");
    let description = body["error_description"]
        .as_str()
        .unwrap_or_else(|| panic!("an error_description:\n{response}"))
        .to_owned();
    let retry = response
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After:\n{response}"))
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is whole seconds:\n{response}"));
    assert_eq!(
        response.header("cache-control"),
        Some("no-store"),
        "{response}"
    );
    (description, retry)
}

fn grants_named(instance: &Instance, client_name: &str) -> usize {
    store::table_rows(&instance.persist_dir(), "device_grants")
        .into_iter()
        .filter(|row| row["client_name"] == client_name)
        .count()
}

#[test]
fn a_burst_of_device_code_requests_from_one_address_is_braked() {
    // Issue 10, finding 5: anyone could store 400 grants in 1.8 s. The Rate Limiting binding
    // (under wrangler dev: miniflare's, one count per process, in fixed 60 s windows) brakes
    // each client address; an IPv6 client is its /64.
    let _writers = oidc::shared();
    let main = Instance::main();
    let name = format!("edgeauth CLI on {}", unique("burst"));
    let seed = sha256_hex(&unique("prefix"));
    let prefix = format!("2001:db8:{}:{}", &seed[..4], &seed[4..8]);
    let address = format!("{prefix}::1");
    let window = || now_ms() / 60_000;

    // The first requests are answered; within two windows' allowance one is refused.
    let mut granted = 0;
    let mut refused = None;
    for _ in 0..=2 * DEVICE_CODES_PER_ADDRESS {
        let response = ask_device_code(&main, None, &name, &address);
        if response.status == 200 {
            granted += 1;
        } else {
            refused = Some((response, window()));
            break;
        }
    }
    let (refused, refused_in) =
        refused.unwrap_or_else(|| panic!("{granted} device codes for one address, none refused"));
    assert!(
        granted >= DEVICE_CODES_PER_ADDRESS,
        "the first {DEVICE_CODES_PER_ADDRESS} requests of an address are answered, got {granted}"
    );
    let (description, retry) = expect_device_code_refusal(&refused, 429, "too_many_requests");
    assert_eq!(retry, 60, "Retry-After is the binding's period: {refused}");
    assert!(
        description.contains("this address") && description.contains("1 minute"),
        "{description}"
    );
    assert_eq!(
        grants_named(&main, &name),
        granted,
        "a refused request stores nothing"
    );

    // Another address of the same /64 is the same client (unless the window just ended).
    let neighbour = ask_device_code(&main, None, &name, &format!("{prefix}:ffff:ffff:ffff:2"));
    if window() == refused_in {
        expect_device_code_refusal(&neighbour, 429, "too_many_requests");
    }
    // A client at another address still gets codes, on IPv4 and in another /64.
    for other in [
        fresh_client_address(),
        format!("2001:db8:{}:{}::1", &seed[8..12], &seed[12..16]),
    ] {
        ask_device_code(&main, None, &name, &other).expect_json(200);
    }
}

#[test]
fn a_project_holds_at_most_1000_pending_device_logins() {
    // The brake counts per address and per location, so a flood from many addresses passes
    // it; the cap in D1 is exact. The flood is written straight into D1 (999 grants, as if
    // from 999 addresses), so this test holds every D1 writer off meanwhile.
    let _writers = oidc::exclusive();
    let main = Instance::main();
    let project = unique("cap");
    let now = now_ms();
    let first_expiry = now + 120_000;
    let stored: usize = store::d1_databases(&main.persist_dir())
        .iter()
        .map(|path| {
            store::with_connection(path, OpenFlags::SQLITE_OPEN_READ_WRITE, |db| {
                let tx = db.unchecked_transaction()?;
                let mut inserted = 0;
                for i in 0..MAX_PENDING_GRANTS - 1 {
                    // Not a user code anyone could type (digits), unique to this test.
                    let user_code = format!("{project}-{i}");
                    let expires_at = if i == 0 { first_expiry } else { now + 600_000 };
                    inserted += tx.execute(
                        "INSERT INTO device_grants (device_code_hash, user_code, project, \
                         client_name, status, created_at, expires_at, interval_s) \
                         VALUES (?1, ?2, ?3, 'flood', 'pending', ?4, ?5, 5)",
                        rusqlite::params![
                            sha256_hex(&user_code),
                            user_code,
                            project,
                            now,
                            expires_at
                        ],
                    )?;
                }
                tx.commit()?;
                Ok(inserted)
            })
        })
        .sum();
    assert_eq!(stored, MAX_PENDING_GRANTS - 1, "one D1 database for MAIN");

    // The 1000th place is taken by a real request; the next is refused, whatever its address.
    let last = device_code(&main, Some(&project), "edgeauth CLI on cap-test");
    let response = ask_device_code(
        &main,
        Some(&project),
        "edgeauth CLI on cap-test",
        &fresh_client_address(),
    );
    let (description, retry) =
        expect_device_code_refusal(&response, 503, "temporarily_unavailable");
    let until_first_expiry = (first_expiry - now_ms()) / 1000;
    assert!(
        (until_first_expiry..=until_first_expiry + 2).contains(&retry),
        "Retry-After is the time until the first pending grant expires (~{until_first_expiry} s), got {retry}"
    );
    assert!(
        description.contains("1000") && description.contains("try again in 2 minutes"),
        "{description}"
    );
    let pending = store::table_rows(&main.persist_dir(), "device_grants")
        .into_iter()
        .filter(|row| row["project"] == project.as_str())
        .count();
    assert_eq!(pending, MAX_PENDING_GRANTS, "nothing stored past the cap");

    // Other projects are not affected.
    device_code(&main, None, "edgeauth CLI on cap-test elsewhere");
    // A decided grant frees its place.
    let session = oidc::sign_in(&main, DEMO);
    confirm_and_decide(&session, &field(&last, "user_code"), "deny");
    device_code(&main, Some(&project), "edgeauth CLI on cap-test");
}

// --- 9: a refresh whose answer was lost -------------------------------------------------------

/// A device login of a person of their own on MAIN: `(access token, refresh token, family)`.
fn fresh_device_login(main: &Instance, label: &str) -> (String, String, String) {
    let (session, _) = fresh_person(main, label);
    let login = device_login(&session, "default");
    let family = refresh_token_row(main, &login.refresh_token)
        .expect("the first refresh token is stored")["family_id"]
        .as_str()
        .expect("a family")
        .to_owned();
    (login.access_token, login.refresh_token, family)
}

fn family_revoked(main: &Instance, family: &str) -> bool {
    family_row(main, family)["revoked_at"].is_i64()
}

/// The spent token presented again within the window (its first answer lost): the same
/// successor, a working access token, and the login lives on.
#[test]
fn a_refresh_presented_again_within_the_window_gets_the_same_successor() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let (_, first, family) = fresh_device_login(&main, "replay");

    let (_, successor) = expect_tokens(&refresh(&main, &first));
    assert_ne!(successor, first, "the refresh token rotated");
    let (access, again) = expect_tokens(&refresh(&main, &first));
    assert_eq!(
        again, successor,
        "the same refresh token presented again moments later gets the same successor"
    );
    assert_eq!(
        whoami(&main, &access, "default").expect_json(200)["kind"],
        "access",
        "the access token of the replayed answer works"
    );
    let spent = refresh_token_row(&main, &first).expect("the spent token's row");
    assert!(spent["used_at"].is_i64(), "{spent:?}");
    assert_eq!(spent["replaced_by"], sha256_hex(&successor).as_str());
    let rows = store::table_rows(&main.persist_dir(), "refresh_tokens")
        .into_iter()
        .filter(|row| row["family_id"] == family.as_str())
        .count();
    assert_eq!(rows, 2, "one successor, stored once");
    assert!(!family_revoked(&main, &family), "the login is not revoked");

    // The login lives on: the successor refreshes.
    let (_, next) = expect_tokens(&refresh(&main, &successor));
    assert_ne!(next, successor);
    assert!(!family_revoked(&main, &family));
}

/// Identical refreshes at once (a client retrying before its first answer came): every one
/// gets the same successor, and none revokes the login.
#[test]
fn identical_refreshes_at_once_all_get_the_same_successor() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let (_, first, family) = fresh_device_login(&main, "replay-race");
    const AT_ONCE: usize = 4;
    let barrier = Arc::new(Barrier::new(AT_ONCE));
    let answers: Vec<Response> = (0..AT_ONCE)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let main = main.clone();
            let first = first.clone();
            thread::spawn(move || {
                barrier.wait();
                refresh(&main, &first)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("refresh thread"))
        .collect();
    let successors: Vec<String> = answers.iter().map(|r| expect_tokens(r).1).collect();
    assert!(
        successors.iter().all(|s| *s == successors[0]),
        "every one of {AT_ONCE} identical refreshes at once gets the same successor"
    );
    assert!(!family_revoked(&main, &family), "none revoked the login");
    expect_tokens(&refresh(&main, &successors[0]));
    assert!(!family_revoked(&main, &family));
}

/// Once the successor was used, the chain has moved on: the spent token presented again is
/// reuse even within the window, and the whole login is revoked.
#[test]
fn a_refresh_presented_again_after_its_successor_was_used_revokes_the_login() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let (_, first, family) = fresh_device_login(&main, "replay-moved-on");
    let (_, successor) = expect_tokens(&refresh(&main, &first));
    // Still answerable: its successor is unused.
    assert_eq!(expect_tokens(&refresh(&main, &first)).1, successor);
    let (_, next) = expect_tokens(&refresh(&main, &successor));

    let description = expect_oauth_error(&refresh(&main, &first), "invalid_grant");
    assert!(
        description.contains("already used"),
        "the description says it was reused: {description}"
    );
    assert!(family_revoked(&main, &family), "the login is revoked");
    expect_oauth_error(&refresh(&main, &next), "invalid_grant");
    expect_oauth_error(&refresh(&main, &successor), "invalid_grant");
}

/// After the window, the spent token presented again is reuse, even with its successor
/// unused: the whole login is revoked.
#[test]
fn a_refresh_presented_again_after_the_window_revokes_the_login() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let (_, first, family) = fresh_device_login(&main, "replay-late");
    let (_, successor) = expect_tokens(&refresh(&main, &first));
    assert_eq!(expect_tokens(&refresh(&main, &first)).1, successor);
    let spent_at = refresh_token_row(&main, &first).expect("the spent token's row")["used_at"]
        .as_i64()
        .expect("spent");

    // The Worker's clock is this machine's; wait out the window and a second more.
    let wait = (spent_at + REPLAY_WINDOW_MS + 1000 - now_ms()).max(0);
    thread::sleep(Duration::from_millis(wait as u64));
    let description = expect_oauth_error(&refresh(&main, &first), "invalid_grant");
    assert!(
        description.contains("already used"),
        "the description says it was reused: {description}"
    );
    assert!(family_revoked(&main, &family), "the login is revoked");
    expect_oauth_error(&refresh(&main, &successor), "invalid_grant");
}
