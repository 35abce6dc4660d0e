//! `edgeauth login`, `whoami` and `logout` with the CLI loopback login of docs/api.md ("CLI
//! loopback login") and cli/README.md: the real CLI binary, a real Chromium doing the person's
//! part (tests/e2e/browser/cli_login.mjs), and the server's contract by raw HTTP: hostile
//! redirects, PKCE, single use under concurrency, burned codes, any replica finishing a login
//! (REPLICA is a second `wrangler dev` of MAIN on the same D1 and KV), and a login finishing
//! where KV has not caught up (LAGGING is another `wrangler dev` of MAIN on MAIN's D1 with a KV
//! of its own, empty: it never sees MAIN's codes, nor MAIN its). Each test checks what the
//! person sees and what is stored, and that no code, state, verifier or token is stored in
//! plaintext or written to a log.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use edgeauth_e2e::cli::*;
use edgeauth_e2e::loopback::*;
use edgeauth_e2e::oidc::{self, Session, DEMO, SESSION_COOKIE};
use edgeauth_e2e::screenshots::Screenshots;
use edgeauth_e2e::store::{self, files_containing, files_under, Row};
use edgeauth_e2e::tokens::{assert_user_token_shape, sha256_hex, DISPLAY_PREFIX_CHARS};
use edgeauth_e2e::*;
use serde_json::{json, Value};
use url::Url;

/// Chromium start, a sign-in at the provider and a few pages, on a busy 2-core machine.
const BROWSER_PATIENCE: Duration = Duration::from_secs(240);
/// How long `edgeauth login` waits for the browser in these tests (EDGEAUTH_LOGIN_TIMEOUT):
/// longer than the browser's patience, so that a slow browser fails as such, not as exit 9.
const LOGIN_TIMEOUT_S: &str = "300";
const CLI_PATIENCE: Duration = Duration::from_secs(60);
/// The page the CLI's listener shows after a login that worked (cli/README.md).
const SIGNED_IN_HEADING: &str = "You are signed in to edgeauth";

/// One Chromium at a time: several in parallel on a 2-core machine time each other out.
static ONE_BROWSER_AT_A_TIME: Mutex<()> = Mutex::new(());

fn browser_turn() -> MutexGuard<'static, ()> {
    ONE_BROWSER_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn replica() -> Instance {
    Instance::from_env("REPLICA")
}

/// MAIN's settings and D1, but a KV of its own that never sees MAIN's writes: another
/// location whose KV has not caught up (scripts/test). Its D1 is read through MAIN's files.
fn lagging() -> Instance {
    Instance::from_env("LAGGING")
}

/// Lets the instances finish what they do after answering (`last_used_at`, written in
/// `waitUntil`) before the next request goes to the other one. MAIN, REPLICA and LAGGING open
/// one SQLite file from several workerd processes, which do not wait on each other's locks:
/// writes at the same moment fail with SQLITE_BUSY (a 503) there, where D1 itself would
/// serialise them.
fn settle() {
    thread::sleep(Duration::from_millis(500));
}

fn approve(session: &Session, login: &CliLogin) -> String {
    approve_on(&session.instance, session, login)
}

/// `POST /api/auth/cli-exchange` with `body`, no credential.
fn exchange(instance: &Instance, body: &Value) -> Response {
    instance.post("/api/auth/cli-exchange").json(body).send()
}

/// Fails unless the response is the RFC 6749 §5.2 error `code` with status 400 and no token.
fn expect_oauth_error(response: &Response, code: &str) {
    response.expect_status(400);
    let body = response.expect_json(400);
    assert_eq!(body["error"], code, "wrong error:\n{response}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.trim().is_empty()),
        "error_description says what is wrong:\n{response}"
    );
    let object = body.as_object().expect("an object");
    assert!(
        object
            .keys()
            .all(|k| ["error", "error_description", "error_uri"].contains(&k.as_str())),
        "an RFC 6749 §5.2 body has only error, error_description (and error_uri):\n{response}"
    );
    assert!(!all_keys(&body).iter().any(|k| k == "token"), "{response}");
}

/// Checks the documented 201 of a successful exchange for `login`; returns the body.
fn expect_minted(response: &Response, login: &CliLogin, project: &str) -> Value {
    let body = response.expect_json(201);
    assert_eq!(
        response.header("Cache-Control"),
        Some("no-store"),
        "token responses are not cached:\n{response}"
    );
    let token = body["token"].as_str().expect("the 201 carries the token");
    assert_user_token_shape(token);
    assert_eq!(body["prefix"], &token[..DISPLAY_PREFIX_CHARS], "{body}");
    assert!(
        body["id"].as_str().is_some_and(|id| id.starts_with("ut_")),
        "{body}"
    );
    assert_eq!(body["name"], login.name.as_str(), "{body}");
    assert_eq!(body["project"], project, "{body}");
    assert_eq!(body["created_via"], "cli-login", "{body}");
    assert_eq!(body["workspaces"], json!(["*"]), "{body}");
    // A login's token is not for ever: 90 days (the project has no lifetime policy).
    let expires_in = parse_timestamp_ms(&body["expires_at"]) - now_ms();
    let days_90: i64 = 90 * 24 * 3600 * 1000;
    assert!(
        (days_90 - 3_600_000..=days_90).contains(&expires_in),
        "the login's token expires in 90 days: {body}"
    );
    assert_eq!(body["user"]["email"], DEMO.email, "{body}");
    assert_eq!(body["user"]["name"], DEMO.name, "{body}");
    assert!(
        body["user"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("usr_")),
        "{body}"
    );
    body
}

/// `GET /api/auth/whoami` with `token` on `instance`: must be this user token.
fn assert_token_works(instance: &Instance, token: &str, token_id: &str) {
    let me = instance
        .get("/api/auth/whoami")
        .bearer(token)
        .send()
        .expect_json(200);
    assert_eq!(me["kind"], "user", "on {}: {me}", instance.name());
    assert_eq!(me["token_id"], token_id, "on {}: {me}", instance.name());
}

// --- what is stored -------------------------------------------------------------------------

fn rows_where(instance: &Instance, table: &str, column: &str, value: &str) -> Vec<Row> {
    store::table_rows(&instance.persist_dir(), table)
        .into_iter()
        .filter(|row| row[column] == value)
        .collect()
}

fn kv_dir(instance: &Instance) -> PathBuf {
    instance.persist_dir().join("v3").join("kv")
}

/// The KV key of a pending code (docs/api.md): `cli-code:<hex SHA-256 of the code>`.
fn kv_key(code: &str) -> String {
    format!("cli-code:{}", sha256_hex(code))
}

/// Whether the KV of `instance` holds the pending code `code`.
fn kv_holds(instance: &Instance, code: &str) -> bool {
    store::kv_keys(&instance.persist_dir()).contains(&kv_key(code))
}

/// The rows of D1's `pending_codes` for `code` (docs/api.md: the approval in D1, keyed by the
/// code's SHA-256), read through MAIN's files (LAGGING's D1 is MAIN's).
fn pending_rows(code: &str) -> Vec<Row> {
    rows_where(
        &Instance::main(),
        "pending_codes",
        "code_hash",
        &sha256_hex(code),
    )
}

/// Checks the stored user token of a CLI login: hashed, `created_via` `cli-login`, its code
/// consumed for it; no column holds the plaintext.
fn assert_stored_token(instance: &Instance, token: &str, token_id: &str, code: Option<&str>) {
    let rows = rows_where(instance, "user_tokens", "id", token_id);
    assert_eq!(
        rows.len(),
        1,
        "one user_tokens row for {token_id}: {rows:?}"
    );
    let row = &rows[0];
    assert_eq!(row["created_via"], "cli-login", "{row:?}");
    assert_eq!(row["token_hash"], sha256_hex(token).as_str(), "{row:?}");
    assert_eq!(
        row["display_prefix"],
        &token[..DISPLAY_PREFIX_CHARS],
        "{row:?}"
    );
    assert_eq!(row["revoked_at"], Value::Null, "{row:?}");
    for value in row.values() {
        let text = value.as_str().unwrap_or("");
        assert!(
            !text.contains(&token[4..]),
            "a user_tokens column holds the token's plaintext: {row:?}"
        );
    }
    let consumed = rows_where(instance, "consumed_codes", "token_id", token_id);
    assert_eq!(
        consumed.len(),
        1,
        "the code of a CLI login is consumed for exactly its token: {consumed:?}"
    );
    if let Some(code) = code {
        assert_eq!(consumed[0]["code_hash"], sha256_hex(code).as_str());
    }
}

/// Where a secret must never be: every instance's D1 and KV (persist directories) and every log
/// of the run (wrangler's, the migrations', the identity provider's).
fn stores_and_logs() -> Vec<PathBuf> {
    let state = state_dir();
    let mut places: Vec<PathBuf> = [
        Instance::main(),
        Instance::hashed(),
        Instance::noauth(),
        Instance::nosecret(),
        Instance::private(),
        Instance::open(),
        replica(),
        lagging(),
    ]
    .iter()
    .map(Instance::persist_dir)
    .collect();
    places.extend(
        files_under(&state)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "log")),
    );
    assert!(
        places.iter().any(|p| p.ends_with("replica/wrangler.log")),
        "no replica/wrangler.log under {}: is the suite run by scripts/test?",
        state.display()
    );
    places
}

/// Fails if any of `secrets` (what, value) is in any D1, KV or log of the run, or in `extra`
/// places.
fn assert_never_stored(secrets: &[(String, String)], extra: &[PathBuf]) {
    // wrangler writes its request log when a request ends: give it a moment.
    thread::sleep(Duration::from_millis(500));
    let mut places = stores_and_logs();
    places.extend(extra.iter().cloned());
    for (what, secret) in secrets {
        assert!(
            secret.len() >= 16,
            "{what} is too short to search for: {secret:?}"
        );
        for place in &places {
            let found = files_containing(place, secret.as_bytes());
            assert!(found.is_empty(), "{what} is written to {found:?}");
        }
    }
}

/// A user token and its secret part (without the `eau_` prefix and the checksum).
fn token_secrets(token: &str) -> Vec<(String, String)> {
    vec![
        ("a user token".into(), token.to_owned()),
        (
            "a user token's secret part".into(),
            token[4..token.len() - 6].to_owned(),
        ),
    ]
}

// --- the browser --------------------------------------------------------------------------

/// tests/e2e/browser/cli_login.mjs run by the test, reporting JSON lines.
struct Driver {
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    artifacts: PathBuf,
}

/// The environment of the browser script (lib.mjs's settings), against MAIN.
fn driver_env(artifacts: &Path) -> Vec<(String, String)> {
    vec![
        (
            "EDGEAUTH_BROWSER_BASE".into(),
            Instance::main().base_url().to_owned(),
        ),
        (
            "EDGEAUTH_BROWSER_IDP".into(),
            require_env("EDGEAUTH_E2E_IDP"),
        ),
        (
            "EDGEAUTH_BROWSER_ARTIFACTS".into(),
            artifacts.display().to_string(),
        ),
        ("EDGEAUTH_BROWSER_USER".into(), DEMO.username.into()),
        ("EDGEAUTH_BROWSER_PASSWORD".into(), DEMO.password.into()),
    ]
}

fn driver_script() -> PathBuf {
    let path = repo_root().join("tests/e2e/browser/cli_login.mjs");
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

fn artifacts_dir() -> PathBuf {
    state_dir().join("browser").join(unique("cli-login"))
}

impl Driver {
    /// Opens `url` in Chromium as DEMO, with the script's extra settings `env`.
    fn start(url: &str, env: &[(&str, &str)]) -> Driver {
        let artifacts = artifacts_dir();
        let mut command = Command::new("node");
        command
            .arg(driver_script())
            .arg(url)
            .current_dir(repo_root())
            .env_remove("EDGEAUTH_SCREENSHOTS_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in driver_env(&artifacts) {
            command.env(k, v);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot run node ({e}): Node must be on PATH with playwright-core installed")
        });
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
        let collected = Arc::clone(&stderr);
        let mut child_stderr = child.stderr.take().expect("piped");
        thread::spawn(move || {
            let mut text = String::new();
            let _ = child_stderr.read_to_string(&mut text);
            collected
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_str(&text);
        });
        Driver {
            child,
            lines,
            stderr,
            artifacts,
        }
    }

    /// The next JSON line, which must be phase `phase`.
    fn next(&mut self, phase: &str) -> Value {
        let deadline = Instant::now() + BROWSER_PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("cli_login.mjs: no {phase:?} line within {BROWSER_PATIENCE:?}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok();
                    thread::sleep(Duration::from_millis(200));
                    panic!(
                        "cli_login.mjs exited ({status:?}) before its {phase:?} line\n{}",
                        self.stderr.lock().unwrap_or_else(|p| p.into_inner())
                    )
                }
            };
            if let Some(value) = phase_line(&line, phase, &self.artifacts) {
                return value;
            }
        }
    }

    /// Waits for the script to exit 0.
    fn finish(mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for node") {
                assert!(status.success(), "cli_login.mjs exited with {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "cli_login.mjs did not exit after its last phase"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A line of the script: `Some` if it is phase `phase`; `None` for a line that is not JSON;
/// fails on an error line or another phase.
fn phase_line(line: &str, phase: &str, artifacts: &Path) -> Option<Value> {
    let Ok(value) = serde_json::from_str::<Value>(line) else {
        eprintln!("cli_login.mjs: (not JSON) {line}");
        return None;
    };
    if value["phase"] == "error" {
        panic!(
            "cli_login.mjs could not go on at step {}:\n{}\n(a screenshot, if any, is in {})",
            value["step"],
            serde_json::to_string_pretty(&value).unwrap_or_default(),
            artifacts.display()
        );
    }
    assert_eq!(value["phase"], phase, "unexpected line: {value}");
    Some(value)
}

/// Fails unless the phase reports no console error (CSP violations are among them), script
/// error or HTTP error, apart from Chromium's own /favicon.ico miss.
fn assert_clean_page(observed: &Value, what: &str) {
    let mut unexpected = Vec::new();
    for kind in ["console_errors", "page_errors", "http_errors"] {
        for entry in observed[kind].as_array().expect("an array of errors") {
            let url = entry["source"]
                .as_str()
                .or(entry["url"].as_str())
                .unwrap_or("");
            if url.ends_with("/favicon.ico") {
                continue;
            }
            unexpected.push(json!({"kind": kind, "entry": entry}));
        }
    }
    assert!(
        unexpected.is_empty(),
        "{what}: the page reported errors: {}",
        Value::Array(unexpected)
    );
}

/// What the consent page must show: the person, the project, the token name the CLI asked
/// for, and the listener; `#approve` and `#deny` in a form posting to our origin.
fn assert_consent_page(consent: &Value, start_url: &Url, project: &str) {
    let main = Instance::main();
    assert_eq!(consent["origin"], main.base_url(), "{consent}");
    assert_eq!(consent["path"], "/api/auth/cli-start", "{consent}");
    assert_eq!(consent["response"]["status"], 200, "{consent}");
    let person = consent["person"].as_str().unwrap_or("");
    assert!(
        person.contains(DEMO.name) && person.contains(DEMO.email),
        "the consent page names the person: {consent}"
    );
    assert_eq!(consent["project"], project, "{consent}");
    let name = query_param(start_url, "name").expect("the URL names the token");
    assert_eq!(consent["client_name"], name.as_str(), "{consent}");
    let redirect = Url::parse(&query_param(start_url, "redirect_uri").expect("a redirect_uri"))
        .expect("the redirect_uri parses");
    let listener = format!("127.0.0.1:{}", redirect.port().expect("a port"));
    assert_eq!(consent["listener"], listener.as_str(), "{consent}");
    let ids: Vec<&str> = consent["buttons"]
        .as_array()
        .expect("buttons")
        .iter()
        .filter_map(|b| b["id"].as_str())
        .collect();
    assert_eq!(ids, ["approve", "deny"], "{consent}");
    assert_eq!(
        consent["forms"],
        json!([{"method": "post", "action_path": "/api/auth/cli-start", "action_origin": main.base_url()}]),
        "{consent}"
    );
    let csp = consent["response"]["content_security_policy"]
        .as_str()
        .unwrap_or("");
    assert!(
        csp.contains(&format!("form-action 'self' http://{listener};")),
        "the consent page lets its form reach exactly the CLI's listener: {csp}"
    );
    assert_clean_page(consent, "the consent page");
}

// --- the CLI ----------------------------------------------------------------------------------

/// The environment of a CLI run against MAIN, storing its login in `config_dir`.
fn login_env(config_dir: &Path) -> Vec<(String, String)> {
    vec![
        (
            "EDGEAUTH_SERVER".into(),
            Instance::main().base_url().to_owned(),
        ),
        (
            "EDGEAUTH_CONFIG_DIR".into(),
            config_dir.display().to_string(),
        ),
        ("EDGEAUTH_LOGIN_TIMEOUT".into(), LOGIN_TIMEOUT_S.into()),
    ]
}

fn borrowed(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The URL `edgeauth login` printed, checked against the documented form.
fn check_start_url(url: &str, project: Option<&str>) -> Url {
    let main = Instance::main();
    let parsed = Url::parse(url).unwrap_or_else(|e| panic!("not a URL ({e}): {url}"));
    assert_eq!(
        format!("{}://{}", parsed.scheme(), parsed.authority()),
        main.base_url(),
        "{url}"
    );
    assert_eq!(parsed.path(), "/api/auth/cli-start", "{url}");
    let param = |name: &str| query_param(&parsed, name);
    let redirect = param("redirect_uri").expect("redirect_uri");
    let redirect = Url::parse(&redirect).expect("redirect_uri parses");
    assert_eq!(redirect.scheme(), "http");
    assert_eq!(redirect.host_str(), Some("127.0.0.1"), "{url}");
    assert!(redirect.port().is_some(), "{url}");
    assert_eq!(redirect.path(), "/callback", "{url}");
    for secret in ["state", "code_challenge"] {
        let value = param(secret).unwrap_or_else(|| panic!("{secret} in {url}"));
        assert_eq!(value.len(), 43, "{secret} is 256 bits, base64url");
    }
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert!(
        param("name").is_some_and(|n| n.starts_with("edgeauth CLI on ")),
        "{url}"
    );
    assert_eq!(param("project").as_deref(), project, "{url}");
    parsed
}

/// The stored login for MAIN in `config_dir` (cli/README.md's format).
fn stored_login(config_dir: &Path) -> Option<Value> {
    stored_login_for(config_dir, &Instance::main())
}

/// The login stored in `config_dir` for `server`, if any.
fn stored_login_for(config_dir: &Path, server: &Instance) -> Option<Value> {
    let path = config_dir.join("credentials.json");
    let text = std::fs::read_to_string(&path).ok()?;
    let file: Value = serde_json::from_str(&text).expect("credentials.json is JSON");
    assert_eq!(file["version"], 1, "{}", redact_tokens(&file));
    let entry = &file["servers"][server.base_url()];
    (!entry.is_null()).then(|| entry.clone())
}

/// `value` with every user token cut to its display prefix, for messages.
fn redact_tokens(value: &Value) -> Value {
    match value {
        Value::String(s) if s.starts_with("eau_") && s.len() > DISPLAY_PREFIX_CHARS => {
            Value::String(format!("{}…", &s[..DISPLAY_PREFIX_CHARS]))
        }
        Value::Array(items) => Value::Array(items.iter().map(redact_tokens).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), redact_tokens(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Checks the human summary of a login: exactly
/// `Logged in to SERVER as EMAIL (token eau_XXXXXXXX…, project P)`; returns the prefix.
fn assert_login_summary(run: &CliRun, project: &str) -> String {
    let main = Instance::main();
    let line = run.stdout.trim_end_matches('\n');
    assert!(!line.contains('\n'), "one line on stdout:\n{run}");
    let head = format!("Logged in to {} as {} (token ", main.base_url(), DEMO.email);
    let tail = format!("…, project {project})");
    assert!(
        line.starts_with(&head) && line.ends_with(&tail),
        "expected `{head}eau_XXXXXXXX{tail}`:\n{run}"
    );
    let prefix = &line[head.len()..line.len() - tail.len()];
    assert!(
        prefix.len() == DISPLAY_PREFIX_CHARS
            && prefix.starts_with("eau_")
            && prefix[4..].bytes().all(|b| b.is_ascii_alphanumeric()),
        "the summary shows the token's 12-character prefix, not {prefix:?}:\n{run}"
    );
    prefix.to_owned()
}

/// Fails if the run printed the token or its secret part anywhere.
fn assert_run_hides(run: &CliRun, token: &str) {
    for (what, secret) in token_secrets(token) {
        assert!(
            !run.stdout.contains(&secret) && !run.stderr.contains(&secret),
            "the CLI printed {what}:\nedgeauth {:?} -> exit {}",
            run.args,
            run.code
        );
    }
}

/// A raw HTTP GET to the CLI's listener, as the browser makes it after the redirect: returns
/// the status and the page.
fn visit_loopback(location: &Url) -> (u16, String) {
    let authority = format!(
        "{}:{}",
        location.host_str().expect("a host"),
        location.port().expect("a port")
    );
    let mut stream = TcpStream::connect(&authority).expect("connect to the CLI's listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("set a timeout");
    write!(
        stream,
        "GET {} HTTP/1.1\r\nHost: {authority}\r\nAccept: text/html\r\nConnection: close\r\n\r\n",
        target_of(location)
    )
    .expect("send the request");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the CLI's listener answered {answer:?}"));
    (status, answer)
}

/// What a login finished by raw HTTP gave: the CLI run, the page the listener answered, and
/// the code and state that went through the "browser".
struct RawLogin {
    run: CliRun,
    page: (u16, String),
    code: String,
    state: String,
}

/// `edgeauth login --no-browser` with the person's part done by raw HTTP in the browser of
/// `session` (which must be on MAIN): the URL from stderr, the consent page, `#approve`, and the
/// browser's request to the listener.
fn login_by_raw_http(cli: &CliSandbox, env: &[(&str, &str)], session: &Session) -> RawLogin {
    login_by_raw_http_on(cli, env, session, &Instance::main())
}

/// [`login_by_raw_http`] with the browser's requests sent to `browser` (the path and query of
/// the URL the CLI printed, whichever server that names), as when the browser and the CLI
/// reach different locations.
fn login_by_raw_http_on(
    cli: &CliSandbox,
    env: &[(&str, &str)],
    session: &Session,
    browser: &Instance,
) -> RawLogin {
    let mut login = cli.spawn(&["login", "--no-browser"], env);
    let url = login.login_url(CLI_PATIENCE);
    let url = Url::parse(&url).expect("the login URL parses");
    let page = browse(browser, session, &target_of(&url));
    page.expect_status(200);
    let form = consent_form(&page);
    let response = post_consent(browser, session, &form, "approve");
    let state = query_param(&url, "state").expect("a state");
    let redirect_uri = query_param(&url, "redirect_uri").expect("a redirect_uri");
    let location = expect_loopback_redirect(&response, &redirect_uri, &state);
    let code = query_param(&location, "code").expect("a code");
    let page = visit_loopback(&location);
    let run = login.wait(CLI_PATIENCE);
    RawLogin {
        run,
        page,
        code,
        state,
    }
}

/// Mints a service token in the default project through the API.
fn service_token(name: &str) -> ServiceToken {
    mint_service_token(
        &Instance::main(),
        &super_token(),
        "default",
        &unique(name),
        &["*"],
    )
}

// === the tests ==============================================================================

/// The whole login as a person does it: the real CLI, the URL it prints, Chromium through the
/// provider's sign-in and the consent page, the CLI's page in the browser; then the summary,
/// the credentials file, the token at work, and what D1 and KV hold. A second login through
/// `EDGEAUTH_BROWSER` replaces the first and revokes its token.
#[test]
fn the_cli_logs_in_through_a_real_browser() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let cli = CliSandbox::new();
    // A directory that does not exist yet: the CLI creates it 0700.
    let config_dir = cli.root().join("fresh").join("edgeauth");
    let env = login_env(&config_dir);
    let env = borrowed(&env);
    let screenshots = Screenshots::choose();
    let shots = screenshots.dir().to_string_lossy().into_owned();

    let (url, consent, landed, run) = {
        let _turn = browser_turn();
        let mut login = cli.spawn(&["login", "--no-browser"], &env);
        let url = login.login_url(CLI_PATIENCE);
        let start_url = check_start_url(&url, None);
        let mut driver = Driver::start(
            &url,
            &[
                ("EDGEAUTH_CLI_LOGIN_REPORT_SECRETS", "1"),
                ("EDGEAUTH_SCREENSHOTS_DIR", shots.as_str()),
                ("EDGEAUTH_SCREENSHOTS_NAME", "cli-signed-in"),
            ],
        );
        let consent = driver.next("consent");
        let landed = driver.next("landed");
        driver.finish();
        (start_url, consent, landed, login.wait(CLI_PATIENCE))
    };

    // What went through the browser, kept out of the messages below.
    let mut landed = landed;
    let through_browser = landed["secrets"].take();
    let code = through_browser["code"]
        .as_str()
        .expect("the browser brought a code to the CLI")
        .to_owned();
    assert_eq!(
        through_browser["state"].as_str(),
        query_param(&url, "state").as_deref(),
        "the browser brought the CLI its own state"
    );

    // The person's view: signed in at the provider first, then the consent page, then the
    // CLI's own page on the loopback.
    assert_eq!(consent["signed_in_at_provider"], true, "{consent}");
    assert_consent_page(&consent, &url, "default");
    let redirect = Url::parse(&query_param(&url, "redirect_uri").unwrap()).unwrap();
    assert_eq!(landed["origin"], landed["loopback_origin"], "{landed}");
    assert_eq!(
        landed["origin"],
        format!("http://127.0.0.1:{}", redirect.port().unwrap()),
        "{landed}"
    );
    assert_eq!(landed["path"], "/callback", "{landed}");
    assert_eq!(landed["query_keys"], json!(["code", "state"]), "{landed}");
    assert_eq!(landed["status"], 200, "{landed}");
    assert_eq!(landed["heading"], SIGNED_IN_HEADING, "{landed}");
    assert_clean_page(&landed, "the CLI's page");
    screenshots.assert_taken("cli-signed-in");
    assert!(
        landed["phone_width"].as_i64().unwrap_or(i64::MAX) <= 375,
        "the CLI's page does not scroll sideways on a phone: {landed}"
    );

    // The terminal's view.
    run.expect_code(EXIT_OK);
    let prefix = assert_login_summary(&run, "default");
    assert!(
        run.stderr
            .lines()
            .any(|l| l == "Waiting for the browser… (Ctrl-C to cancel)"),
        "off a terminal, the waiting text is a plain line:\n{run}"
    );
    assert!(
        !run.stderr.contains("A browser should open") && !run.stderr.contains("warning:"),
        "--no-browser starts no browser:\n{run}"
    );

    // The credentials file: 0600 in a 0700 directory, the token for MAIN.
    assert_eq!(mode(&config_dir), 0o700, "the config directory");
    let file = config_dir.join("credentials.json");
    assert_eq!(mode(&file), 0o600, "credentials.json");
    let stored = stored_login(&config_dir).expect("a stored login for MAIN");
    let token = stored["token"].as_str().expect("a token").to_owned();
    assert_user_token_shape(&token);
    assert_eq!(stored["kind"], "user", "{}", redact_tokens(&stored));
    assert_eq!(
        stored["prefix"],
        prefix.as_str(),
        "{}",
        redact_tokens(&stored)
    );
    assert_eq!(&token[..DISPLAY_PREFIX_CHARS], prefix);
    assert_eq!(stored["project"], "default");
    assert_eq!(stored["user"]["email"], DEMO.email);
    assert_eq!(
        stored["name"].as_str(),
        query_param(&url, "name").as_deref(),
        "{}",
        redact_tokens(&stored)
    );
    let token_id = stored["token_id"].as_str().expect("a token id").to_owned();
    assert_run_hides(&run, &token);

    // The token works: through the CLI, which says where it came from, and raw.
    let who = cli.run(&["whoami"], &env);
    who.expect_code(EXIT_OK);
    let lines: Vec<&str> = who.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{who}");
    assert!(
        lines[0].starts_with(&format!(
            "user token \"{}\" ({token_id}) in project default",
            stored["name"].as_str().unwrap()
        )),
        "{who}"
    );
    assert_eq!(
        lines[1],
        format!("person: {} <{}>", DEMO.name, DEMO.email),
        "{who}"
    );
    assert_eq!(
        lines[2],
        format!("credential: the login stored in {}", file.display()),
        "{who}"
    );
    assert_run_hides(&who, &token);
    let who = cli.run(&["whoami", "--json"], &env).expect_json();
    assert_eq!(who["kind"], "user", "{who}");
    assert_eq!(who["token_id"], token_id.as_str(), "{who}");
    assert_eq!(who["credential_source"]["from"], "login", "{who}");
    assert_token_works(&main, &token, &token_id);

    // D1 has a hash and the consumed code; KV no plaintext; nothing anywhere in a log.
    assert_stored_token(&main, &token, &token_id, Some(&code));
    let approvals: Vec<Row> = store::table_rows(&main.persist_dir(), "audit_events")
        .into_iter()
        .filter(|r| r["action"] == "cli_login.approve")
        .collect();
    let consumed = &rows_where(&main, "consumed_codes", "token_id", &token_id)[0];
    assert!(
        approvals
            .iter()
            .any(|r| r["subject"] == consumed["code_hash"]),
        "the approval is audited under the code's hash"
    );
    let mut secrets = token_secrets(&token);
    secrets.push((
        "a CLI login state".into(),
        query_param(&url, "state").unwrap(),
    ));
    secrets.push(("a CLI login code".into(), code.clone()));
    // (D1 and KV are among the places searched.)
    assert_never_stored(&secrets, &[]);

    // Again, with EDGEAUTH_BROWSER: the CLI starts the "browser" (a wrapper handing the URL to
    // the Chromium script); the new login replaces the stored one and revokes its token.
    let wrapper_dir = tempfile::tempdir().expect("a scratch directory");
    let out = wrapper_dir.path().join("browser.out");
    let pid_file = wrapper_dir.path().join("browser.pid");
    let wrapper = wrapper_dir.path().join("open-browser");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho $$ > '{}'\nexec node '{}' \"$1\" > '{}' 2>&1\n",
            pid_file.display(),
            driver_script().display(),
            out.display()
        ),
    )
    .expect("write the wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let artifacts = artifacts_dir();
    let mut browser_env = driver_env(&artifacts);
    browser_env.push(("EDGEAUTH_BROWSER".into(), wrapper.display().to_string()));
    browser_env.extend(login_env(&config_dir));
    let browser_env = borrowed(&browser_env);
    let (second, landed) = {
        let _turn = browser_turn();
        let mut login = cli.spawn(&["login"], &browser_env);
        let opened = login.wait_for_line(CLI_PATIENCE, |l| l.starts_with("A browser should"));
        assert_eq!(
            opened,
            format!(
                "A browser should open to sign in to {}; if it does not:",
                main.base_url()
            )
        );
        let url = login.login_url(CLI_PATIENCE);
        check_start_url(&url, None);
        let landed = wait_for_phase_in_file(&out, "landed", &artifacts);
        let second = login.wait(CLI_PATIENCE);
        end_wrapped_browser(&pid_file);
        (second, landed)
    };
    assert_eq!(landed["heading"], SIGNED_IN_HEADING, "{landed}");
    second.expect_code(EXIT_OK);
    assert_login_summary(&second, "default");
    let replaced = stored_login(&config_dir).expect("a stored login");
    let new_token = replaced["token"].as_str().expect("a token").to_owned();
    assert_ne!(new_token, token, "the second login stored a new token");
    assert!(
        second.stderr.contains(&format!(
            "Revoked the token of the previous login ({prefix}…)."
        )),
        "the replaced login's token is revoked, and said so:\n{second}"
    );
    assert_run_hides(&second, &new_token);
    assert_run_hides(&second, &token);
    main.get("/api/auth/whoami")
        .bearer(&token)
        .send()
        .expect_invalid_token();
    assert_token_works(&main, &new_token, replaced["token_id"].as_str().unwrap());
}

/// Reads the browser script's output file until it has phase `phase` (earlier phases are
/// skipped).
fn wait_for_phase_in_file(path: &Path, phase: &str, artifacts: &Path) -> Value {
    let deadline = Instant::now() + BROWSER_PATIENCE;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for line in text.lines().filter(|l| l.starts_with('{')) {
            let value: Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(_) => continue,
            };
            if value["phase"] == "error" || value["phase"] == phase {
                return phase_line(line, phase, artifacts).expect("a JSON line");
            }
        }
        assert!(
            Instant::now() < deadline,
            "the browser started by the CLI reported no {phase:?} within {BROWSER_PATIENCE:?}:\n{text}"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// Waits for the browser script the CLI started (through the wrapper, which wrote its PID) to
/// exit; ends it by that PID if it does not.
fn end_wrapped_browser(pid_file: &Path) {
    let Ok(pid) = std::fs::read_to_string(pid_file) else {
        return;
    };
    let pid = pid.trim().to_owned();
    let alive = || Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(&pid);
    let deadline = Instant::now() + Duration::from_secs(60);
    while alive() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(200));
    }
    if alive() {
        let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
        panic!("the browser script the CLI started (pid {pid}) did not exit");
    }
}

fn is_zombie(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// With a session already in the browser, the CLI's URL shows the consent page (no silent
/// re-authorization); Deny sends the CLI `access_denied`: exit 10, "denied", nothing
/// stored anywhere.
#[test]
fn with_a_session_the_person_is_asked_and_deny_stores_nothing() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let cli = CliSandbox::new();
    let project = unique("clideny");
    let mut env = login_env(&cli.config_dir());
    env.push(("EDGEAUTH_PROJECT".into(), project.clone()));
    let env = borrowed(&env);
    let screenshots = Screenshots::choose();
    let shots = screenshots.dir().to_string_lossy().into_owned();

    let (url, signed_in, consent, landed, run) = {
        let _turn = browser_turn();
        let mut login = cli.spawn(&["login", "--no-browser"], &env);
        let url = login.login_url(CLI_PATIENCE);
        let start_url = check_start_url(&url, Some(&project));
        let mut driver = Driver::start(
            &url,
            &[
                ("EDGEAUTH_CLI_LOGIN_SIGN_IN_FIRST", "1"),
                ("EDGEAUTH_CLI_LOGIN_DECISION", "deny"),
                ("EDGEAUTH_SCREENSHOTS_DIR", shots.as_str()),
                ("EDGEAUTH_SCREENSHOTS_NAME", "cli-denied"),
            ],
        );
        let signed_in = driver.next("signed_in");
        let consent = driver.next("consent");
        let landed = driver.next("landed");
        driver.finish();
        (
            start_url,
            signed_in,
            consent,
            landed,
            login.wait(CLI_PATIENCE),
        )
    };

    assert_eq!(signed_in["landed_path"], "/account", "{signed_in}");
    // Signed in already: no trip to the provider, and the URL stops at the consent page
    // rather than going on to the loopback by itself.
    assert_eq!(consent["signed_in_at_provider"], false, "{consent}");
    let navigations = consent["navigations"].as_array().expect("navigations");
    assert_eq!(
        navigations.len(),
        1,
        "opening the URL is one page, the consent page: {consent}"
    );
    assert_consent_page(&consent, &url, &project);

    assert_eq!(landed["path"], "/callback", "{landed}");
    assert_eq!(landed["query_keys"], json!(["error", "state"]), "{landed}");
    assert_eq!(landed["heading"], "Sign-in denied", "{landed}");
    screenshots.assert_taken("cli-denied");

    run.expect_code(EXIT_LOGIN_REFUSED);
    assert!(
        run.stderr.contains("login denied in the browser"),
        "the CLI says the login was denied:\n{run}"
    );
    assert!(run.stdout.is_empty(), "{run}");
    assert!(
        !cli.config_dir().join("credentials.json").exists(),
        "a denied login stores no credentials"
    );
    let tokens = rows_where(&main, "user_tokens", "project", &project);
    assert!(
        tokens.is_empty(),
        "a denied login mints no token: {tokens:?}"
    );
    // Recorded after the response.
    let events: Vec<String> = store::settled(
        || {
            rows_where(&main, "audit_events", "project", &project)
                .iter()
                .map(|r| r["action"].as_str().unwrap_or("").to_owned())
                .collect()
        },
        |events: &Vec<String>| !events.is_empty(),
    );
    assert_eq!(events, ["cli_login.deny"], "only the refusal is recorded");
    let state = query_param(&url, "state").unwrap();
    assert_never_stored(&[("a CLI login state".into(), state)], &[]);
}

/// A person the server refuses (OUTSIDER is in no team of MAIN's `ALLOWED_TEAMS`) is told so by
/// the waiting CLI at once: the callback sends the browser to the CLI's listener with
/// `error=access_denied` and the reason, the CLI shows it in the browser and the terminal and
/// exits 10 (before this, the browser showed a 403 and the CLI waited out its timeout).
#[test]
fn a_refused_sign_in_reaches_the_waiting_cli_at_once() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let cli = CliSandbox::new();
    let env = login_env(&cli.config_dir());
    let env = borrowed(&env);
    let mut login = cli.spawn(&["login", "--no-browser"], &env);
    let url = check_start_url(&login.login_url(CLI_PATIENCE), None);
    let state = query_param(&url, "state").expect("a state");
    let redirect_uri = query_param(&url, "redirect_uri").expect("a redirect_uri");

    // A signed-out browser is sent to sign in first, and comes back to the CLI's request.
    let start = main.get(&target_of(&url)).send();
    start.expect_status(302);
    let sign_in = Url::parse(&format!("{}{}", main.base_url(), start.location())).unwrap();
    let return_to = query_param(&sign_in, "return_to").expect("a return_to");
    let callback = oidc::authorize_as(&main, oidc::OUTSIDER, Some(&return_to));
    let answered = Instant::now();
    let response = callback.finish();
    response.expect_status(303);
    let location = Url::parse(response.location()).expect("an absolute Location");
    assert!(
        location.as_str().starts_with(&redirect_uri),
        "the refusal goes to the CLI's listener:\n{response}"
    );
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&location, "state"), Some(state));
    assert_eq!(query_param(&location, "code"), None);
    let reason = query_param(&location, "error_description").expect("the reason");
    assert!(
        reason.contains("not in any of the teams allowed"),
        "{reason}"
    );
    // The sign-in cookie is spent.
    assert_eq!(response.expect_set_cookie(oidc::LOGIN_COOKIE).value, "");

    let (status, page) = visit_loopback(&location);
    let run = login.wait(CLI_PATIENCE);
    assert!(
        answered.elapsed() < Duration::from_secs(20),
        "the CLI stopped at once, not at its timeout:\n{run}"
    );
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("Sign-in refused"), "{page}");
    assert!(page.contains("not in any of the teams allowed"), "{page}");
    run.expect_code(EXIT_LOGIN_REFUSED);
    assert!(
        run.stderr.contains(
            "error: the server refused the sign-in: Your account is not in any of the teams allowed to sign in here"
        ),
        "the CLI says why:\n{run}"
    );
    assert!(
        run.stderr.contains(&format!(
            "hint: to use another account, choose it at {}/api/auth/login?prompt=select_account first",
            Instance::main().base_url()
        )),
        "and what to do:\n{run}"
    );
    assert!(run.stdout.is_empty(), "{run}");
    assert!(
        !cli.config_dir().join("credentials.json").exists(),
        "a refused login stores no credentials"
    );
}

/// Any replica can finish a login: approved on MAIN, exchanged on REPLICA (and the other way
/// round); the token works on both.
#[test]
fn any_replica_can_finish_a_login() {
    // Alone in this binary, and one instance at a time (see `settle`).
    let _writers = oidc::exclusive();
    let main = Instance::main();
    let replica = replica();
    let session = oidc::sign_in(&main, DEMO);

    let login = CliLogin::new("replica");
    let code = approve(&session, &login);
    settle();
    let response = exchange(&replica, &login.exchange_body(&code));
    let body = expect_minted(&response, &login, "default");
    let token = body["token"].as_str().unwrap();
    let token_id = body["id"].as_str().unwrap();
    settle();
    assert_token_works(&main, token, token_id);
    settle();
    assert_token_works(&replica, token, token_id);
    assert_stored_token(&main, token, token_id, Some(&code));
    // The code is spent everywhere.
    for instance in [&main, &replica] {
        settle();
        expect_oauth_error(
            &exchange(instance, &login.exchange_body(&code)),
            "invalid_grant",
        );
    }

    // The other way round: the browser steps on REPLICA (the same session: one D1), the
    // exchange on MAIN.
    let login2 = CliLogin::new("replica-back");
    settle();
    let code2 = approve_on(&replica, &session, &login2);
    settle();
    let body2 = expect_minted(
        &exchange(&main, &login2.exchange_body(&code2)),
        &login2,
        "default",
    );
    let token2 = body2["token"].as_str().unwrap();
    settle();
    assert_token_works(&replica, token2, body2["id"].as_str().unwrap());
    settle();
    assert_token_works(&main, token2, body2["id"].as_str().unwrap());

    let mut secrets = login.secrets();
    secrets.extend(login2.secrets());
    secrets.push(("a CLI login code".into(), code));
    secrets.push(("a CLI login code".into(), code2));
    secrets.extend(token_secrets(token));
    secrets.extend(token_secrets(token2));
    assert_never_stored(&secrets, &[]);
}

// --- a KV that lags (LAGGING: MAIN's D1, a KV of its own) -----------------------------------
//
// Cloudflare's KV promises no read-after-write, even in one location; other locations may see
// a write 60 s or more later, and a "not found" is cached too. LAGGING is such a location for
// every code approved on MAIN (and MAIN for LAGGING's): its KV never sees them. The approval
// is in D1 as well (`pending_codes`, by the code's SHA-256), which an exchange reads when KV
// misses; single use stays decided by D1's ledger, whatever KV shows.

/// Approved on MAIN, exchanged where KV has not caught up: 201 once; asked again on either
/// instance (MAIN's KV still holding the code), `invalid_grant`. The other way round too: spent
/// on MAIN, where KV has it, then presented where KV lags: `invalid_grant`.
#[test]
fn a_login_approved_on_main_finishes_once_where_kv_lags() {
    // Alone in this binary, and one instance at a time (see `settle`).
    let _writers = oidc::exclusive();
    let main = Instance::main();
    let lagging = lagging();
    let session = oidc::sign_in(&main, DEMO);

    let login = CliLogin::new("lagging");
    let code = approve(&session, &login);
    assert!(kv_holds(&main, &code), "MAIN's KV holds the pending code");
    assert!(
        !kv_holds(&lagging, &code),
        "LAGGING's KV has not seen the code (the premise of this test)"
    );
    settle();
    let response = exchange(&lagging, &login.exchange_body(&code));
    let body = expect_minted(&response, &login, "default");
    let token = body["token"].as_str().unwrap();
    let token_id = body["id"].as_str().unwrap();
    settle();
    assert_token_works(&main, token, token_id);
    settle();
    assert_token_works(&lagging, token, token_id);
    assert_stored_token(&main, token, token_id, Some(&code));
    assert!(
        pending_rows(&code).is_empty(),
        "the redemption consumed the code's pending row"
    );
    // LAGGING deleted the code from its own KV only: MAIN's still shows it, as a location that
    // has not seen the deletion yet would. D1's ledger refuses it there as well.
    assert!(kv_holds(&main, &code), "MAIN's KV still shows the code");
    for instance in [&lagging, &main] {
        settle();
        expect_oauth_error(
            &exchange(instance, &login.exchange_body(&code)),
            "invalid_grant",
        );
    }
    assert_eq!(
        rows_where(&main, "user_tokens", "name", &login.name).len(),
        1,
        "one code, one token"
    );

    // The other way round: spent on MAIN, where KV has it, then presented on LAGGING.
    let login2 = CliLogin::new("lagging-replay");
    settle();
    let code2 = approve(&session, &login2);
    settle();
    let body2 = expect_minted(
        &exchange(&main, &login2.exchange_body(&code2)),
        &login2,
        "default",
    );
    assert!(pending_rows(&code2).is_empty(), "consumed on MAIN too");
    settle();
    expect_oauth_error(
        &exchange(&lagging, &login2.exchange_body(&code2)),
        "invalid_grant",
    );
    assert_eq!(
        rows_where(&main, "user_tokens", "name", &login2.name).len(),
        1,
        "one code, one token"
    );

    let mut secrets = login.secrets();
    secrets.extend(login2.secrets());
    secrets.push(("a CLI login code".into(), code));
    secrets.push(("a CLI login code".into(), code2));
    secrets.extend(token_secrets(token));
    secrets.extend(token_secrets(body2["token"].as_str().unwrap()));
    assert_never_stored(&secrets, &[]);
}

/// Approved where KV lags (LAGGING's KV has the code, MAIN's never will), exchanged on MAIN:
/// 201; then presented to LAGGING, whose KV still shows it: `invalid_grant`.
#[test]
fn a_login_approved_where_kv_lags_finishes_on_main() {
    let _writers = oidc::exclusive();
    let main = Instance::main();
    let lagging = lagging();
    // Signed in on MAIN: the session is in D1, which LAGGING shares.
    let session = oidc::sign_in(&main, DEMO);

    let login = CliLogin::new("lagging-approves");
    settle();
    let code = approve_on(&lagging, &session, &login);
    assert!(kv_holds(&lagging, &code), "LAGGING's KV holds the code");
    assert!(!kv_holds(&main, &code), "MAIN's KV has not seen it");
    settle();
    let body = expect_minted(
        &exchange(&main, &login.exchange_body(&code)),
        &login,
        "default",
    );
    let token = body["token"].as_str().unwrap();
    let token_id = body["id"].as_str().unwrap();
    assert_stored_token(&main, token, token_id, Some(&code));
    settle();
    assert_token_works(&lagging, token, token_id);
    assert!(
        kv_holds(&lagging, &code),
        "LAGGING's KV still shows the code"
    );
    for instance in [&lagging, &main] {
        settle();
        expect_oauth_error(
            &exchange(instance, &login.exchange_body(&code)),
            "invalid_grant",
        );
    }
    assert_eq!(
        rows_where(&main, "user_tokens", "name", &login.name).len(),
        1
    );

    let mut secrets = login.secrets();
    secrets.push(("a CLI login code".into(), code));
    secrets.extend(token_secrets(token));
    assert_never_stored(&secrets, &[]);
}

/// An exchange whose KV read misses and that then fails (D1 busy: a 503 to retry) has spent
/// nothing; the retry, whose KV read misses again (a cached "not found"), lands; a third is
/// `invalid_grant`.
#[test]
fn a_kv_miss_then_a_retry_finishes_the_login() {
    let _writers = oidc::exclusive();
    let main = Instance::main();
    let lagging = lagging();
    let session = oidc::sign_in(&main, DEMO);

    let login = CliLogin::new("lagging-retry");
    let code = approve(&session, &login);
    settle();
    let refused = {
        let _lock = store::hold_write_lock(&main.persist_dir());
        exchange(&lagging, &login.exchange_body(&code))
    };
    assert_eq!(
        refused.status, 503,
        "D1 refusing writes is a 503 to retry:\n{refused}"
    );
    assert_eq!(refused.header("Retry-After"), Some("5"), "{refused}");
    assert!(
        rows_where(&main, "consumed_codes", "code_hash", &sha256_hex(&code)).is_empty(),
        "a failed exchange spends nothing"
    );
    assert!(!kv_holds(&lagging, &code), "LAGGING's KV still misses");
    let body = expect_minted(
        &exchange(&lagging, &login.exchange_body(&code)),
        &login,
        "default",
    );
    let token = body["token"].as_str().unwrap();
    assert_stored_token(&main, token, body["id"].as_str().unwrap(), Some(&code));
    expect_oauth_error(
        &exchange(&lagging, &login.exchange_body(&code)),
        "invalid_grant",
    );

    let mut secrets = login.secrets();
    secrets.push(("a CLI login code".into(), code));
    secrets.extend(token_secrets(token));
    assert_never_stored(&secrets, &[]);
}

/// A code presented where KV lags with the wrong verifier, or the wrong redirect, is burned
/// for every instance: MAIN, whose KV still shows it, refuses the right verifier.
#[test]
fn a_code_burned_where_kv_lags_is_burned_everywhere() {
    let _writers = oidc::exclusive();
    let main = Instance::main();
    let lagging = lagging();
    let session = oidc::sign_in(&main, DEMO);
    let mut secrets = Vec::new();

    let login = CliLogin::new("lagging-wrongverifier");
    let code = approve(&session, &login);
    let mut wrong = login.exchange_body(&code);
    wrong["code_verifier"] = json!(random_b64url(32));
    settle();
    expect_oauth_error(&exchange(&lagging, &wrong), "invalid_grant");
    settle();
    let burned = rows_where(&main, "consumed_codes", "code_hash", &sha256_hex(&code));
    assert_eq!(burned.len(), 1, "{burned:?}");
    assert_eq!(burned[0]["token_id"], "burned", "{burned:?}");
    assert!(kv_holds(&main, &code), "MAIN's KV still shows the code");
    for instance in [&main, &lagging] {
        expect_oauth_error(
            &exchange(instance, &login.exchange_body(&code)),
            "invalid_grant",
        );
        settle();
    }
    assert!(rows_where(&main, "user_tokens", "name", &login.name).is_empty());
    secrets.extend(login.secrets());
    secrets.push(("a burned code".into(), code));

    let login = CliLogin::new("lagging-wrongredirect");
    let code = approve(&session, &login);
    let mut wrong = login.exchange_body(&code);
    wrong["redirect_uri"] = json!(CliLogin::new("other").redirect_uri);
    settle();
    expect_oauth_error(&exchange(&lagging, &wrong), "invalid_grant");
    settle();
    for instance in [&lagging, &main] {
        expect_oauth_error(
            &exchange(instance, &login.exchange_body(&code)),
            "invalid_grant",
        );
        settle();
    }
    assert!(rows_where(&main, "user_tokens", "name", &login.name).is_empty());
    secrets.extend(login.secrets());
    secrets.push(("a burned code".into(), code));
    assert_never_stored(&secrets, &[]);
}

/// 20 concurrent exchanges of the code of `login`, racer `i` on `on(i)`; each retries a 503
/// (D1 busy: MAIN and LAGGING share one SQLite file without waiting on each other's locks),
/// as a client does, until it gets an answer. Checks that exactly one minted a token (one
/// ledger row, one token, one creation audited) and every other was `invalid_grant`; returns
/// the token.
fn race_exchanges(
    main: &Instance,
    login: &CliLogin,
    code: &str,
    on: fn(usize) -> Instance,
) -> String {
    const RACERS: usize = 20;
    let body = login.exchange_body(code);
    let barrier = Arc::new(Barrier::new(RACERS));
    let handles: Vec<_> = (0..RACERS)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let body = body.clone();
            thread::spawn(move || {
                let instance = on(i);
                barrier.wait();
                let mut busy = 0;
                loop {
                    let response = exchange(&instance, &body);
                    if response.status != 503 || busy == 30 {
                        return (instance.name().to_owned(), busy, response);
                    }
                    busy += 1;
                    thread::sleep(Duration::from_millis(100 + 37 * i as u64));
                }
            })
        })
        .collect();
    let results: Vec<(String, u32, Response)> = handles
        .into_iter()
        .map(|h| h.join().expect("a racer"))
        .collect();
    let summary: Vec<String> = results
        .iter()
        .map(|(name, busy, r)| format!("{name}: {} after {busy} × 503", r.status))
        .collect();
    let winners: Vec<&Response> = results
        .iter()
        .filter(|(_, _, r)| r.status == 201)
        .map(|(_, _, r)| r)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one 201: {summary:?}");
    for (_, _, response) in &results {
        if response.status != 201 {
            expect_oauth_error(response, "invalid_grant");
        }
    }
    let minted = expect_minted(winners[0], login, "default");
    let token = minted["token"].as_str().unwrap();
    let token_id = minted["id"].as_str().unwrap();
    let consumed = rows_where(main, "consumed_codes", "code_hash", &sha256_hex(code));
    assert_eq!(consumed.len(), 1, "{consumed:?}");
    assert_eq!(consumed[0]["token_id"], token_id, "{consumed:?}");
    assert_eq!(
        rows_where(main, "user_tokens", "name", &login.name).len(),
        1,
        "one code, one token: {summary:?}"
    );
    assert_stored_token(main, token, token_id, Some(code));
    let created: Vec<Row> = rows_where(main, "audit_events", "subject", token_id)
        .into_iter()
        .filter(|r| r["action"] == "user_token.create")
        .collect();
    assert_eq!(created.len(), 1, "one creation audited: {created:?}");
    assert!(pending_rows(code).is_empty(), "the pending row is consumed");
    token.to_owned()
}

/// 20 concurrent exchanges of one code approved on MAIN, all on LAGGING (every KV read
/// misses: D1 alone answers and decides), then of another code, half on MAIN (KV shows the
/// code) and half on LAGGING: each time exactly one token.
#[test]
fn concurrent_exchanges_where_kv_lags_mint_exactly_one_token() {
    let _writers = oidc::exclusive();
    let main = Instance::main();
    let session = oidc::sign_in(&main, DEMO);
    let mut secrets = Vec::new();
    for (name, on) in [
        ("lagging-race", (|_| lagging()) as fn(usize) -> Instance),
        ("lagging-race-both", |i| {
            if i % 2 == 0 {
                Instance::main()
            } else {
                lagging()
            }
        }),
    ] {
        let login = CliLogin::new(name);
        let code = approve(&session, &login);
        settle();
        let token = race_exchanges(&main, &login, &code, on);
        settle();
        secrets.extend(login.secrets());
        secrets.push(("a CLI login code".into(), code));
        secrets.extend(token_secrets(&token));
    }
    assert_never_stored(&secrets, &[]);
}

/// `edgeauth login` against LAGGING while the person's browser reaches MAIN: the CLI's
/// exchange lands where KV has not seen the code, and the CLI is logged in.
#[test]
fn the_cli_logs_in_when_its_browser_reaches_another_location() {
    let _writers = oidc::exclusive();
    let main = Instance::main();
    let lagging = lagging();
    let session = oidc::sign_in(&main, DEMO);
    let cli = CliSandbox::new();
    let mut env = login_env(&cli.config_dir());
    env.retain(|(k, _)| k != "EDGEAUTH_SERVER");
    env.push(("EDGEAUTH_SERVER".into(), lagging.base_url().to_owned()));
    let env = borrowed(&env);
    let login = login_by_raw_http_on(&cli, &env, &session, &main);
    assert!(
        !kv_holds(&lagging, &login.code),
        "LAGGING's KV missed the code"
    );
    login.run.expect_code(EXIT_OK);
    assert!(
        login.run.stdout.starts_with(&format!(
            "Logged in to {} as {}",
            lagging.base_url(),
            DEMO.email
        )),
        "{}",
        login.run
    );
    let stored = stored_login_for(&cli.config_dir(), &lagging).expect("a stored login");
    let token = stored["token"].as_str().unwrap().to_owned();
    let token_id = stored["token_id"].as_str().unwrap().to_owned();
    assert_stored_token(&main, &token, &token_id, Some(&login.code));
    settle();
    let me = cli.run(&["whoami", "--json"], &env).expect_json();
    assert_eq!(me["kind"], "user", "{me}");
    assert_eq!(me["token_id"], token_id.as_str(), "{me}");

    let mut secrets = token_secrets(&token);
    secrets.push(("a CLI login code".into(), login.code.clone()));
    secrets.push(("a CLI login state".into(), login.state.clone()));
    assert_never_stored(&secrets, &[]);
}

/// 20 concurrent exchanges of one code: exactly one token, 19 `invalid_grant`; D1 has one
/// consumed row and one token for it.
#[test]
fn concurrent_exchanges_of_one_code_mint_exactly_one_token() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let session = oidc::sign_in(&main, DEMO);
    let login = CliLogin::new("race");
    let code = approve(&session, &login);
    assert!(
        !files_containing(&kv_dir(&main), kv_key(&code).as_bytes()).is_empty(),
        "the pending code is in KV under cli-code:<sha256>"
    );
    let body = login.exchange_body(&code);

    const RACERS: usize = 20;
    let barrier = Arc::new(Barrier::new(RACERS));
    let handles: Vec<_> = (0..RACERS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let body = body.clone();
            thread::spawn(move || {
                let main = Instance::main();
                barrier.wait();
                let response = exchange(&main, &body);
                (response.status, response.text(), response)
            })
        })
        .collect();
    let results: Vec<(u16, String, Response)> = handles
        .into_iter()
        .map(|h| h.join().expect("a racer"))
        .collect();
    let winners: Vec<&Response> = results
        .iter()
        .filter(|(s, _, _)| *s == 201)
        .map(|(_, _, r)| r)
        .collect();
    let statuses: Vec<u16> = results.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(winners.len(), 1, "exactly one 201: {statuses:?}");
    for (status, _, response) in &results {
        if *status != 201 {
            expect_oauth_error(response, "invalid_grant");
        }
    }
    let minted = expect_minted(winners[0], &login, "default");
    let token = minted["token"].as_str().unwrap();
    let token_id = minted["id"].as_str().unwrap();

    let consumed = rows_where(&main, "consumed_codes", "code_hash", &sha256_hex(&code));
    assert_eq!(consumed.len(), 1, "{consumed:?}");
    assert_eq!(consumed[0]["token_id"], token_id, "{consumed:?}");
    let tokens = rows_where(&main, "user_tokens", "name", &login.name);
    assert_eq!(
        tokens.len(),
        1,
        "one code, one token: {}",
        json!(tokens.iter().map(|r| &r["id"]).collect::<Vec<_>>())
    );
    assert_stored_token(&main, token, token_id, Some(&code));
    let created: Vec<Row> = rows_where(&main, "audit_events", "subject", token_id)
        .into_iter()
        .filter(|r| r["action"] == "user_token.create")
        .collect();
    assert_eq!(created.len(), 1, "one creation audited: {created:?}");
    assert_token_works(&main, token, token_id);

    let mut secrets = login.secrets();
    secrets.push(("a CLI login code".into(), code));
    secrets.extend(token_secrets(token));
    assert_never_stored(&secrets, &[]);
}

/// Redirect URIs that are not exactly `http://127.0.0.1:PORT/…` or `http://[::1]:PORT/…`, a
/// plain PKCE challenge and a short state: 400, never a redirect, signed in or not, on GET and
/// on the consent form's POST.
#[test]
fn hostile_login_requests_are_refused_without_a_redirect() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let session = oidc::sign_in(&main, DEMO);
    let login = CliLogin::new("hostile");

    // The controls: a good request is sent to sign in, or shown the consent page.
    for redirect in [login.redirect_uri.as_str(), "http://[::1]:1234/cb"] {
        let target = login.start_target(&[("redirect_uri", Some(redirect))]);
        let anonymous = main.get(&target).accept_html().send();
        anonymous.expect_status(302);
        assert!(
            anonymous
                .location()
                .starts_with("/api/auth/login?return_to="),
            "{anonymous}"
        );
        browse(&main, &session, &target).expect_status(200);
    }

    let challenge = login.challenge();
    let hostile: Vec<(String, Overrides)> = [
        "http://localhost:1234/cb",
        "http://evil.test/cb",
        "http://127.0.0.1@evil.test/cb",
        "http://127.0.0.1.evil.test/cb",
        "https://127.0.0.1:1234/cb",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:/cb",
        "http://user@127.0.0.1:1234/cb",
        "http://127.0.0.1:1234/cb#x",
        "http://127.0.0.1:1234/cb?code=x",
        "//127.0.0.1:1234/cb",
    ]
    .into_iter()
    .map(|uri| {
        (
            format!("redirect_uri={uri}"),
            vec![("redirect_uri", Some(uri))],
        )
    })
    .chain([
        (
            "code_challenge_method=plain".to_owned(),
            vec![
                ("code_challenge_method", Some("plain")),
                ("code_challenge", Some(challenge.as_str())),
            ],
        ),
        (
            "no code_challenge".to_owned(),
            vec![("code_challenge", None)],
        ),
        ("a short state".to_owned(), vec![("state", Some("abc"))]),
        ("no state".to_owned(), vec![("state", None)]),
    ])
    .collect();

    let assert_refused = |what: &str, response: &Response| {
        response.expect_html_error(400, "bad_request");
        assert!(
            response.header("Location").is_none(),
            "{what}: a refusal never redirects:\n{response}"
        );
        let text = response.text().to_ascii_lowercase();
        assert!(
            !text.contains("http-equiv=\"refresh\"") && !text.contains("evil.test/cb\">"),
            "{what}: the error page sends the browser nowhere:\n{response}"
        );
    };
    let csrf = session.csrf_token.clone();
    for (what, overrides) in &hostile {
        let target = login.start_target(overrides);
        assert_refused(what, &main.get(&target).accept_html().send());
        assert_refused(what, &browse(&main, &session, &target));
        // The consent form's POST re-validates everything.
        let query = Url::parse(&format!("{}{target}", main.base_url())).unwrap();
        let mut fields: Vec<(String, String)> = query.query_pairs().into_owned().collect();
        fields.push(("csrf_token".into(), csrf.clone()));
        fields.push(("decision".into(), "approve".into()));
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let posted = main
            .post("/api/auth/cli-start")
            .cookie(SESSION_COOKIE, &session.cookie)
            .origin(main.base_url())
            .accept_html()
            .form(&fields)
            .send();
        assert_refused(&format!("POST with {what}"), &posted);
    }
}

/// PKCE and the bound redirect: a wrong verifier is `invalid_grant` and burns the code, so the
/// right one fails afterwards; so does a wrong redirect_uri; a replayed code is `invalid_grant`
/// and leaves the first token working; a malformed verifier is `invalid_request` and burns
/// nothing.
#[test]
fn exchange_checks_verifier_redirect_and_single_use() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let session = oidc::sign_in(&main, DEMO);
    let mut secrets = Vec::new();

    // A wrong verifier (well-formed) burns the code.
    let login = CliLogin::new("wrongverifier");
    let code = approve(&session, &login);
    let mut wrong = login.exchange_body(&code);
    wrong["code_verifier"] = json!(random_b64url(32));
    expect_oauth_error(&exchange(&main, &wrong), "invalid_grant");
    expect_oauth_error(
        &exchange(&main, &login.exchange_body(&code)),
        "invalid_grant",
    );
    let burned = rows_where(&main, "consumed_codes", "code_hash", &sha256_hex(&code));
    assert_eq!(burned.len(), 1, "{burned:?}");
    assert_eq!(burned[0]["token_id"], "burned", "{burned:?}");
    assert!(rows_where(&main, "user_tokens", "name", &login.name).is_empty());
    secrets.extend(login.secrets());
    secrets.push(("a burned code".into(), code));

    // A wrong redirect_uri burns it too.
    let login = CliLogin::new("wrongredirect");
    let code = approve(&session, &login);
    let other = CliLogin::new("other");
    let mut wrong = login.exchange_body(&code);
    wrong["redirect_uri"] = json!(other.redirect_uri);
    expect_oauth_error(&exchange(&main, &wrong), "invalid_grant");
    expect_oauth_error(
        &exchange(&main, &login.exchange_body(&code)),
        "invalid_grant",
    );
    assert!(rows_where(&main, "user_tokens", "name", &login.name).is_empty());
    secrets.extend(login.secrets());
    secrets.push(("a burned code".into(), code));

    // A malformed verifier (too short for RFC 7636) is invalid_request and burns nothing.
    let login = CliLogin::new("malformed");
    let code = approve(&session, &login);
    let mut malformed = login.exchange_body(&code);
    malformed["code_verifier"] = json!("short");
    expect_oauth_error(&exchange(&main, &malformed), "invalid_request");
    let mut missing = login.exchange_body(&code);
    missing.as_object_mut().unwrap().remove("code_verifier");
    expect_oauth_error(&exchange(&main, &missing), "invalid_request");
    let body = expect_minted(
        &exchange(&main, &login.exchange_body(&code)),
        &login,
        "default",
    );
    let token = body["token"].as_str().unwrap().to_owned();
    let token_id = body["id"].as_str().unwrap().to_owned();

    // A replay of a redeemed code: invalid_grant; the token it minted still works.
    expect_oauth_error(
        &exchange(&main, &login.exchange_body(&code)),
        "invalid_grant",
    );
    assert_token_works(&main, &token, &token_id);
    assert_eq!(
        rows_where(&main, "user_tokens", "name", &login.name).len(),
        1
    );
    secrets.extend(login.secrets());
    secrets.push(("a redeemed code".into(), code));
    secrets.extend(token_secrets(&token));

    // A code nobody issued.
    let login = CliLogin::new("unknown");
    expect_oauth_error(
        &exchange(&main, &login.exchange_body(&random_b64url(32))),
        "invalid_grant",
    );
    assert_never_stored(&secrets, &[]);
}

/// `--token` over `EDGEAUTH_TOKEN` over edgeauth.toml over the stored login, each a different
/// valid credential; whoami says which one it used. (tests/cli.rs checks the first three
/// levels without a stored login.)
#[test]
fn token_resolution_order_ends_with_the_stored_login() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let session = oidc::sign_in(&main, DEMO);
    let cli = CliSandbox::new();
    let env = login_env(&cli.config_dir());
    let env_ref = borrowed(&env);
    let login = login_by_raw_http(&cli, &env_ref, &session);
    login.run.expect_code(EXIT_OK);
    let stored = stored_login(&cli.config_dir()).expect("a stored login");
    let stored_id = stored["token_id"].as_str().unwrap().to_owned();

    let from_env = service_token("order-env");
    let from_toml = service_token("order-toml");
    std::fs::write(
        cli.work_dir().join("edgeauth.toml"),
        format!("token = \"{}\"\n", from_toml.token),
    )
    .unwrap();
    let toml_path = cli.work_dir().join("edgeauth.toml");
    let file = cli.config_dir().join("credentials.json");

    let whoami = |flag: bool, with_env: bool| -> (Value, CliRun) {
        let mut args = vec![];
        let super_token = super_token();
        if flag {
            args.extend(["--token", super_token.as_str()]);
        }
        let mut env = env_ref.clone();
        if with_env {
            env.push(("EDGEAUTH_TOKEN", from_env.token.as_str()));
        }
        let mut json_args = args.clone();
        json_args.extend(["whoami", "--json"]);
        let json = cli.run(&json_args, &env).expect_json();
        args.push("whoami");
        let human = cli.run(&args, &env);
        human.expect_code(EXIT_OK);
        (json, human)
    };
    let last_line = |run: &CliRun| run.stdout.lines().last().unwrap_or("").to_owned();

    let (me, human) = whoami(true, true);
    assert_eq!(me["kind"], "super", "{me}");
    assert_eq!(
        me["credential_source"],
        json!({"from": "flag", "path": null})
    );
    assert_eq!(last_line(&human), "credential: --token", "{human}");

    let (me, human) = whoami(false, true);
    assert_eq!(me["token_id"], from_env.id.as_str(), "{me}");
    assert_eq!(
        me["credential_source"],
        json!({"from": "env", "path": null})
    );
    assert_eq!(last_line(&human), "credential: EDGEAUTH_TOKEN", "{human}");

    let (me, human) = whoami(false, false);
    assert_eq!(me["token_id"], from_toml.id.as_str(), "{me}");
    assert_eq!(
        me["credential_source"],
        json!({"from": "edgeauth.toml", "path": toml_path.display().to_string()})
    );
    assert_eq!(
        last_line(&human),
        format!("credential: `token` in {}", toml_path.display()),
        "{human}"
    );

    std::fs::remove_file(&toml_path).unwrap();
    let (me, human) = whoami(false, false);
    assert_eq!(me["kind"], "user", "{me}");
    assert_eq!(me["token_id"], stored_id.as_str(), "{me}");
    assert_eq!(
        me["credential_source"],
        json!({"from": "login", "path": file.display().to_string()})
    );
    assert_eq!(me["person"]["email"], DEMO.email, "{me}");
    assert_eq!(
        last_line(&human),
        format!("credential: the login stored in {}", file.display()),
        "{human}"
    );
}

/// `edgeauth logout` revokes the stored token on the server and forgets it; a second logout
/// has nothing to do and says so, exit 0.
#[test]
fn logout_revokes_on_the_server_then_forgets() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let session = oidc::sign_in(&main, DEMO);
    let cli = CliSandbox::new();
    let env = login_env(&cli.config_dir());
    let env = borrowed(&env);
    let login = login_by_raw_http(&cli, &env, &session);
    login.run.expect_code(EXIT_OK);
    let prefix = assert_login_summary(&login.run, "default");
    assert_eq!(login.page.0, 200, "{}", login.page.1);
    assert!(
        login.page.1.contains(SIGNED_IN_HEADING),
        "the listener tells the browser: {}",
        login.page.1
    );
    let stored = stored_login(&cli.config_dir()).expect("a stored login");
    let token = stored["token"].as_str().unwrap().to_owned();
    let token_id = stored["token_id"].as_str().unwrap().to_owned();
    assert_stored_token(&main, &token, &token_id, Some(&login.code));
    assert_token_works(&main, &token, &token_id);

    let out = cli.run(&["logout"], &env);
    out.expect_code(EXIT_OK);
    assert_eq!(
        out.stdout,
        format!(
            "Logged out of {} (token {prefix}… revoked)\n",
            main.base_url()
        ),
        "{out}"
    );
    assert_run_hides(&out, &token);
    main.get("/api/auth/whoami")
        .bearer(&token)
        .send()
        .expect_invalid_token();
    let row = &rows_where(&main, "user_tokens", "id", &token_id)[0];
    assert!(row["revoked_at"].is_i64(), "revoked in D1: {row:?}");
    assert!(
        stored_login(&cli.config_dir()).is_none(),
        "the entry for the server is gone"
    );
    let who = cli.run(&["whoami"], &env);
    who.expect_code(EXIT_UNAUTHORIZED);
    assert!(
        who.stderr.contains("edgeauth login"),
        "without the stored login there is no credential, and the hint says how to get one:\n{who}"
    );

    let again = cli.run(&["logout"], &env);
    again.expect_code(EXIT_OK);
    assert_eq!(
        again.stdout,
        format!(
            "Not logged in to {}: there is no stored login to log out of\n",
            main.base_url()
        ),
        "{again}"
    );
    let again = cli.run(&["logout", "--json"], &env).expect_json();
    assert_eq!(
        again,
        json!({"server": main.base_url(), "logged_out": false})
    );

    let mut secrets = token_secrets(&token);
    secrets.push(("a CLI login code".into(), login.code.clone()));
    secrets.push(("a CLI login state".into(), login.state.clone()));
    assert_never_stored(&secrets, &[cli.root().to_path_buf()]);
}

/// A whole login's secrets, including what passes only between the CLI and the browser, are
/// in no D1, KV or log of any instance, nor in the CLI's directories apart from the token in
/// credentials.json; and while a code is pending, KV holds its hash, not the code.
#[test]
fn login_secrets_are_never_stored_or_logged() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let session = oidc::sign_in(&main, DEMO);

    // A pending code: in KV under its hash only.
    let pending = CliLogin::new("pending");
    let code = approve(&session, &pending);
    let kv = kv_dir(&main);
    assert!(
        !files_containing(&kv, kv_key(&code).as_bytes()).is_empty(),
        "KV holds the pending code under cli-code:<sha256>"
    );
    assert!(
        !files_containing(&kv, pending.challenge().as_bytes()).is_empty(),
        "KV holds the pending code's challenge"
    );
    // And D1, for an exchange where KV has not caught up: under its hash as well.
    let rows = pending_rows(&code);
    assert_eq!(rows.len(), 1, "D1 holds the pending code by its SHA-256");
    assert_eq!(rows[0]["code_challenge"], pending.challenge().as_str());
    assert_eq!(rows[0]["redirect_uri"], pending.redirect_uri.as_str());
    let mut secrets = pending.secrets();
    secrets.push(("a pending code".into(), code));

    // A login by the CLI, finished.
    let cli = CliSandbox::new();
    let env = login_env(&cli.config_dir());
    let login = login_by_raw_http(&cli, &borrowed(&env), &session);
    login.run.expect_code(EXIT_OK);
    let token = stored_login(&cli.config_dir()).expect("a stored login")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(("a CLI login code".into(), login.code.clone()));
    secrets.push(("a CLI login state".into(), login.state.clone()));
    secrets.extend(token_secrets(&token));
    assert_never_stored(&secrets, &[]);
    // The CLI keeps the token in credentials.json only, and the code and state nowhere.
    let credentials = cli.config_dir().join("credentials.json");
    assert!(
        edgeauth_e2e::http::contains(
            &std::fs::read(&credentials).expect("credentials.json"),
            token.as_bytes()
        ),
        "the search finds the token where it belongs"
    );
    for file in files_under(cli.root()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        for (what, secret) in &secrets {
            if file == credentials && token.contains(secret.as_str()) {
                continue; // the one place the token belongs
            }
            assert!(
                !edgeauth_e2e::http::contains(&bytes, secret.as_bytes()),
                "{what} is written to {}",
                file.display()
            );
        }
    }
}

/// No answer within `EDGEAUTH_LOGIN_TIMEOUT`: exit 9; a timeout that is not 1..=86400 seconds:
/// exit 8 before anything starts; an answer with another login's state: exit 10, and the code
/// it carried is never exchanged. Nothing is stored in any case.
#[test]
fn a_login_that_gets_no_valid_answer_stores_nothing() {
    let _writers = oidc::shared();
    let main = Instance::main();
    let cli = CliSandbox::new();
    let credentials = cli.config_dir().join("credentials.json");
    let base = login_env(&cli.config_dir());

    for bad in ["0", "86401", "ten"] {
        let mut env = base.clone();
        env.retain(|(k, _)| k != "EDGEAUTH_LOGIN_TIMEOUT");
        env.push(("EDGEAUTH_LOGIN_TIMEOUT".into(), bad.into()));
        let run = cli.run(&["login", "--no-browser"], &borrowed(&env));
        run.expect_code(EXIT_NO_SERVER);
        assert!(run.stderr.contains("EDGEAUTH_LOGIN_TIMEOUT"), "{run}");
        assert!(!run.stderr.contains(OPEN_THIS_URL), "{run}");
    }

    let mut env = base.clone();
    env.retain(|(k, _)| k != "EDGEAUTH_LOGIN_TIMEOUT");
    env.push(("EDGEAUTH_LOGIN_TIMEOUT".into(), "1".into()));
    let started = Instant::now();
    let mut login = cli.spawn(&["login", "--no-browser"], &borrowed(&env));
    login.login_url(CLI_PATIENCE);
    let run = login.wait(CLI_PATIENCE);
    run.expect_code(EXIT_LOGIN_TIMED_OUT);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the timeout is seconds"
    );
    assert!(run.stderr.contains("nothing was stored"), "{run}");
    assert!(!credentials.exists(), "a timed-out login stores nothing");

    // A real code, approved for a login this CLI did not start, brought to its listener.
    let session = oidc::sign_in(&main, DEMO);
    let mut login = cli.spawn(&["login", "--no-browser"], &borrowed(&base));
    let url = Url::parse(&login.login_url(CLI_PATIENCE)).expect("the URL parses");
    let foreign = CliLogin::new("foreign");
    let code = approve(&session, &foreign);
    let mut location = Url::parse(&query_param(&url, "redirect_uri").unwrap()).unwrap();
    location
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &foreign.state);
    let (status, page) = visit_loopback(&location);
    let run = login.wait(CLI_PATIENCE);
    run.expect_code(EXIT_LOGIN_REFUSED);
    assert!(run.stderr.contains("wrong state"), "{run}");
    assert!(
        status >= 400 && !page.contains(SIGNED_IN_HEADING),
        "the browser is told it did not work: {status}"
    );
    assert!(!credentials.exists(), "a refused answer stores nothing");
    let consumed = rows_where(&main, "consumed_codes", "code_hash", &sha256_hex(&code));
    assert!(
        consumed.is_empty(),
        "the CLI exchanged (or tried to) a code from an answer with the wrong state: {consumed:?}"
    );
    // Still redeemable by the login it belongs to.
    let body = expect_minted(
        &exchange(&main, &foreign.exchange_body(&code)),
        &foreign,
        "default",
    );

    // This login's state with a code the server never issued: the exchange is refused
    // (invalid_grant), exit 1, and the browser is told.
    let mut login = cli.spawn(&["login", "--no-browser"], &borrowed(&base));
    let url = Url::parse(&login.login_url(CLI_PATIENCE)).expect("the URL parses");
    let mut location = Url::parse(&query_param(&url, "redirect_uri").unwrap()).unwrap();
    location
        .query_pairs_mut()
        .append_pair("code", &random_b64url(32))
        .append_pair("state", &query_param(&url, "state").unwrap());
    let (status, page) = visit_loopback(&location);
    let run = login.wait(CLI_PATIENCE);
    run.expect_code(EXIT_FAILURE);
    assert!(
        run.stderr.contains("error: ") && run.stderr.contains("edgeauth login"),
        "the server's refusal, and what to do: {run}"
    );
    assert!(
        status >= 400 && page.contains("Sign-in failed"),
        "the browser is told it did not work: {status}"
    );
    assert!(!credentials.exists(), "a refused exchange stores nothing");

    let mut secrets = foreign.secrets();
    secrets.push(("a CLI login code".into(), code));
    secrets.extend(token_secrets(body["token"].as_str().unwrap()));
    assert_never_stored(&secrets, &[cli.root().to_path_buf()]);
}
