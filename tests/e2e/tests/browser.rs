//! The person's part, in a real browser: Chromium driven by the node scripts in
//! `tests/e2e/browser/` (playwright-core), against the MAIN instance and the local identity
//! provider. Each script reports what the person saw as JSON lines; these tests assert on
//! them, and check from outside the browser, with the raw HTTP client, what the Worker did:
//! the token the page showed works as a bearer, the one revoked in the page is 401, a forged
//! cross-site form changed nothing.
//!
//! `EDGEAUTH_UPDATE_SCREENSHOTS=1` writes the documentation screenshots to `docs/screenshots/`
//! (otherwise they go to a scratch directory, so a test run never dirties the tree).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use edgeauth_e2e::screenshots::{page_sources_digest, sources_stamp, Screenshots};
use edgeauth_e2e::tokens::{checksum_is_valid, DISPLAY_PREFIX_CHARS, USER_TOKEN_LEN};
use edgeauth_e2e::*;
use serde_json::{json, Value};

/// Chromium start, a sign-in through the provider and a few pages on a busy 2-core machine.
const FIRST_PHASE_PATIENCE: Duration = Duration::from_secs(240);
const PHASE_PATIENCE: Duration = Duration::from_secs(120);
const DAY_MS: i64 = 86_400_000;

/// One Chromium at a time: three in parallel on a 2-core machine time each other out.
static ONE_BROWSER_AT_A_TIME: Mutex<()> = Mutex::new(());

// --- running the scripts ------------------------------------------------------------------

/// The local identity provider's base URL, which scripts/test exports beside the fleet.
fn idp_url() -> String {
    match std::env::var("EDGEAUTH_E2E_IDP") {
        Ok(url) if !url.is_empty() => url.trim_end_matches('/').to_owned(),
        _ => panic!(
            "EDGEAUTH_E2E_IDP is not set. The browser tests sign in through the local identity \
             provider (idp/server.mjs) that scripts/test starts beside the fleet, with the OIDC \
             settings on the MAIN instance; run scripts/test, or `scripts/test --fleet` and then \
             `source .state/e2e/env` in the shell that runs cargo test."
        ),
    }
}

/// A running browser script: its JSON lines, its stderr, and a way to send it commands.
struct Browser {
    script: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    artifacts: PathBuf,
    _turn: MutexGuard<'static, ()>,
}

impl Browser {
    /// Starts `tests/e2e/browser/<script>` against the MAIN instance with extra `env`.
    fn start(script: &str, env: &[(&str, &str)]) -> Browser {
        let main = Instance::main();
        let idp = idp_url();
        let turn = ONE_BROWSER_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let root = repo_root();
        let path = root.join("tests/e2e/browser").join(script);
        assert!(path.is_file(), "{} is missing", path.display());
        let artifacts = state_dir()
            .join("browser")
            .join(unique(script.trim_end_matches(".mjs")));
        let mut command = Command::new("node");
        command
            .arg(&path)
            .current_dir(&root)
            .env("EDGEAUTH_BROWSER_BASE", main.base_url())
            .env("EDGEAUTH_BROWSER_IDP", &idp)
            .env("EDGEAUTH_BROWSER_ARTIFACTS", &artifacts)
            .env_remove("EDGEAUTH_SCREENSHOTS_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run `node {}` ({e}): Node 20 must be on PATH, with playwright-core in \
                 node_modules (scripts/setup installs it)",
                path.display()
            )
        });

        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut child_stderr = child.stderr.take().expect("stderr is piped");
        let collected = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = child_stderr.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
                collected
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_str(&text);
            }
        });
        Browser {
            script: script.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            artifacts,
            _turn: turn,
        }
    }

    /// The next JSON line, which must be the phase `phase`.
    fn next(&mut self, phase: &str, patience: Duration) -> Value {
        let deadline = Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: no {phase:?} line within {patience:?}\n{}",
                    self.script,
                    self.stderr_tail()
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok();
                    panic!(
                        "{}: exited ({status:?}) before its {phase:?} line\n{}",
                        self.script,
                        self.stderr_tail()
                    )
                }
            };
            let Ok(value) = serde_json::from_str::<Value>(&line) else {
                eprintln!("{}: (not JSON) {line}", self.script);
                continue;
            };
            if value["phase"] == "error" {
                panic!(
                    "{}: the browser could not go on at step {}:\n{}\n\
                     (a screenshot of the page, if any, is in {})\n{}",
                    self.script,
                    value["step"],
                    pretty(&value),
                    self.artifacts.display(),
                    self.stderr_tail()
                );
            }
            assert_eq!(
                value["phase"],
                phase,
                "{}: unexpected line:\n{}",
                self.script,
                pretty(&value)
            );
            return value;
        }
    }

    /// Sends one command line to the script.
    fn send(&mut self, command: Value) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| {
                panic!(
                    "{}: cannot send {command}: {e}\n{}",
                    self.script,
                    self.stderr_tail()
                )
            });
    }

    /// Waits for the script to exit and fails unless it exited 0.
    fn finish(mut self) {
        self.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    assert!(
                        status.success(),
                        "{} exited with {status}\n{}",
                        self.script,
                        self.stderr_tail()
                    );
                    return;
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(100)),
                _ => panic!(
                    "{} did not exit after its last phase\n{}",
                    self.script,
                    self.stderr_tail()
                ),
            }
        }
    }

    fn stderr_tail(&self) -> String {
        let text = self
            .stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let start = text
            .char_indices()
            .rev()
            .nth(4000)
            .map_or(0, |(index, _)| index);
        format!("--- {} stderr (tail)\n{}", self.script, &text[start..])
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing stdin makes a waiting script give up and close Chromium; kill only the
        // node process we started, and only if it does not go by itself.
        self.stdin = None;
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

// --- reading observations -----------------------------------------------------------------

/// `value` with every user or refresh token cut to its display prefix, for failure messages.
fn redacted(value: &Value) -> Value {
    match value {
        Value::String(text) if text.starts_with("eau_") || text.starts_with("ear_") => {
            Value::String(format!(
                "{}…",
                &text[..DISPLAY_PREFIX_CHARS.min(text.len())]
            ))
        }
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), redacted(v))).collect())
        }
        other => other.clone(),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(&redacted(value)).expect("JSON")
}

fn text<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {}", redacted(value)))
}

fn array<'a>(value: &'a Value, what: &str) -> &'a Vec<Value> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{what}: expected an array, got {}", redacted(value)))
}

/// Fails unless the phase line reports no console error (CSP violations included), no
/// uncaught exception and no HTTP error, apart from those `expected` allows.
fn assert_clean_page(observed: &Value, what: &str, expected: impl Fn(&str, &Value) -> bool) {
    let mut unexpected = Vec::new();
    for kind in ["console_errors", "page_errors", "http_errors"] {
        for entry in array(&observed[kind], kind) {
            if is_favicon_miss(entry) {
                // Chromium asks for /favicon.ico by itself when a page names no icon; a 404
                // there is noise in the console, not the page's doing. Noted, not failed.
                eprintln!("{what}: note: {kind} {entry}");
                continue;
            }
            if !expected(kind, entry) {
                unexpected.push(json!({"kind": kind, "entry": entry}));
            }
        }
    }
    assert!(
        unexpected.is_empty(),
        "{what}: the page reported errors (a CSP violation, a script error, a failed request):\n{}",
        pretty(&Value::Array(unexpected))
    );
}

/// Chromium's own request for `/favicon.ico`, answered 404.
fn is_favicon_miss(entry: &Value) -> bool {
    let url = entry["source"]
        .as_str()
        .or(entry["url"].as_str())
        .unwrap_or("");
    let text = entry["text"].as_str();
    url.ends_with("/favicon.ico")
        && (entry["status"] == 404 || text.is_some_and(|t| t.contains("status of 404")))
}

fn nothing_expected(_: &str, _: &Value) -> bool {
    false
}

/// Whether an error entry is one of `status` answers to `url` (exact, or with a redacted query).
fn is_answer(kind: &str, entry: &Value, url: &str, status: u16) -> bool {
    let same_url = |value: &Value| {
        value
            .as_str()
            .is_some_and(|u| u == url || u.strip_suffix("?…") == Some(url))
    };
    match kind {
        "http_errors" => entry["status"] == status && same_url(&entry["url"]),
        // Chromium logs "Failed to load resource: … status of 401 (Unauthorized)".
        "console_errors" => {
            entry["text"]
                .as_str()
                .is_some_and(|t| t.contains(&format!("status of {status}")))
                && same_url(&entry["source"])
        }
        _ => false,
    }
}

/// Fails unless `token` is a well-formed user API token: `eau_`, 49 base62, valid checksum.
fn assert_user_token_shape(token: &str) {
    assert!(
        token.starts_with("eau_"),
        "user API tokens start with eau_: {}…",
        &token[..token.len().min(DISPLAY_PREFIX_CHARS)]
    );
    assert_eq!(
        token.len(),
        USER_TOKEN_LEN,
        "a user API token is {USER_TOKEN_LEN} characters"
    );
    assert!(
        token[4..].bytes().all(|b| b.is_ascii_alphanumeric()),
        "user API tokens are base62 after the prefix"
    );
    assert!(
        checksum_is_valid(token),
        "the last 6 characters must be the base62 CRC32 of the rest"
    );
}

/// The rows the page showed (`[{id, text, has_revoke}]`) whose text contains `needle`.
fn rows_containing<'a>(rows: &'a Value, needle: &str) -> Vec<&'a Value> {
    array(rows, "rows")
        .iter()
        .filter(|row| row["text"].as_str().is_some_and(|t| t.contains(needle)))
        .collect()
}

fn row_ids(rows: &Value) -> Vec<String> {
    array(rows, "rows")
        .iter()
        .map(|row| text(&row["id"], "row id").to_owned())
        .collect()
}

/// `GET /api/tokens` with a bearer credential: the listed tokens.
fn list_user_tokens(main: &Instance, credential: &str) -> Vec<Value> {
    let listing = main
        .get("/api/tokens")
        .bearer(credential)
        .send()
        .expect_json(200);
    array(&listing["tokens"], "GET /api/tokens tokens").clone()
}

fn listed_by_name<'a>(listing: &'a [Value], name: &str) -> Option<&'a Value> {
    listing.iter().find(|t| t["name"] == name)
}

/// The listed token whose display prefix is that of `token`.
fn listed_by_token<'a>(listing: &'a [Value], token: &str) -> Option<&'a Value> {
    listing
        .iter()
        .find(|t| t["prefix"] == token[..DISPLAY_PREFIX_CHARS])
}

// --- the tests ----------------------------------------------------------------------------

/// The screenshots in docs/screenshots/ show the pages as they are: they were taken from the
/// templates and assets of this commit, and the CLI's page of this commit (their digest is
/// kept beside them in `SOURCES`). `EDGEAUTH_UPDATE_SCREENSHOTS=1` takes them again (this
/// file's tests and cli_login's) and records the digest.
#[test]
fn the_documentation_screenshots_are_of_the_current_pages() {
    let stamp = sources_stamp();
    let digest = page_sources_digest();
    if matches!(Screenshots::choose(), Screenshots::Docs(_)) {
        std::fs::write(&stamp, format!("{digest}\n")).expect("write docs/screenshots/SOURCES");
        return;
    }
    let recorded = std::fs::read_to_string(&stamp).unwrap_or_default();
    assert_eq!(
        recorded.trim(),
        digest,
        "templates/, assets/, src/pages/ or cli/src/loopback.rs changed since docs/screenshots/ \
         were taken: take them all again on a fresh fleet (`scripts/test --fleet`, then before \
         any other test `source .state/e2e/env && EDGEAUTH_UPDATE_SCREENSHOTS=1 cargo test -p \
         edgeauth-e2e --test browser --test cli_login`: other tests' tokens and sessions would \
         fill the pages), and commit them with docs/screenshots/SOURCES"
    );
}

#[test]
fn a_person_signs_in_creates_copies_and_revokes_tokens_in_the_browser() {
    let main = Instance::main();
    let idp = idp_url();
    let screenshots = Screenshots::choose();
    // Plain names for the documentation screenshots; unique ones otherwise. The checks find
    // the tokens by their display prefix, so names may repeat across runs.
    let (first_name, second_name) = match screenshots {
        Screenshots::Docs(_) => ("laptop".to_owned(), "ci-nightly".to_owned()),
        Screenshots::Scratch(_) => (unique("laptop"), unique("ci-nightly")),
    };
    let names = format!("{first_name},{second_name}");
    let shots = screenshots.dir().to_string_lossy().into_owned();
    let mut browser = Browser::start(
        "account.mjs",
        &[
            ("EDGEAUTH_BROWSER_TOKEN_NAMES", names.as_str()),
            ("EDGEAUTH_SCREENSHOTS_DIR", shots.as_str()),
        ],
    );
    let created = browser.next("created", FIRST_PHASE_PATIENCE);
    let show = pretty(&created);

    // Signed out: a "Sign in" link to the login endpoint, coming back to /account.
    let sign_in = &created["sign_in"];
    assert_eq!(sign_in["signed_out_status"], 200, "{show}");
    assert_eq!(sign_in["signin"]["origin"], main.base_url(), "{show}");
    assert_eq!(sign_in["signin"]["path"], "/api/auth/login", "{show}");
    assert_eq!(sign_in["signin"]["return_to"], "/account", "{show}");
    assert_eq!(sign_in["signed_out_identity_present"], false, "{show}");
    assert_eq!(sign_in["signed_out_tokens_present"], false, "{show}");
    assert_eq!(
        sign_in["idp_login_origin"],
        idp.as_str(),
        "\"Sign in\" leads to the identity provider's login form: {show}"
    );
    assert_eq!(sign_in["landed_path"], "/account", "{show}");

    // Signed in: who they are, a session cookie as documented, sign-out as a CSRF-safe form.
    let identity = text(&created["identity_text"], "#identity");
    for expected in ["Demo User", "demo@example.test", "edgeauth-team"] {
        assert!(
            identity.contains(expected),
            "#identity shows {expected:?}: {identity:?}"
        );
    }
    let session = &created["cookies"]["edgeauth_session"];
    assert_eq!(session["http_only"], true, "{show}");
    assert_eq!(session["same_site"], "Lax", "{show}");
    assert_eq!(
        session["secure"], false,
        "not Secure on loopback http: {show}"
    );
    assert_eq!(session["path"], "/", "{show}");
    let lifetime = session["lifetime_days"].as_i64().unwrap_or(-1);
    assert!(
        (6..=7).contains(&lifetime),
        "a 7-day session cookie: {show}"
    );
    assert!(
        created["cookies"].get("edgeauth_login").is_none(),
        "the sign-in cookie is cleared after the callback: {show}"
    );
    assert_eq!(created["csrf_meta_present"], true, "{show}");
    let signout = &created["signout"];
    assert_eq!(signout["form_method"], "post", "{show}");
    assert_eq!(signout["form_action"], "/api/auth/logout", "{show}");
    assert_eq!(signout["form_has_csrf_token"], true, "{show}");
    let form = &created["form"];
    assert_eq!(
        form["token_name_labelled"], true,
        "#token-name has a label: {show}"
    );
    assert_eq!(
        form["token_expiry_labelled"], true,
        "#token-expiry has a label: {show}"
    );
    // The expiry choices: days, the CLI's 90 the default, and "never" (empty); a token made
    // with a session still never outlives it (the hint under the list says so).
    let expiry_values: Vec<&str> = array(&form["expiry_options"], "expiry options")
        .iter()
        .map(|o| text(&o["value"], "option value"))
        .map(|v| if v.is_empty() { "never" } else { v })
        .collect();
    assert_eq!(
        expiry_values,
        ["1", "7", "30", "90", "365", "never"],
        "{show}"
    );
    assert_eq!(form["expiry_default"], "90", "{show}");
    let account = array(&created["navigations"], "navigations")
        .iter()
        .rfind(|n| n["url"] == format!("{}/account", main.base_url()).as_str())
        .unwrap_or_else(|| panic!("no navigation to /account: {show}"));
    let csp = text(&account["content_security_policy"], "/account CSP");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "/account CSP has {directive}: {csp}"
        );
    }

    // The tokens the page showed once: well-formed, distinct, copied, listed by prefix only.
    let tokens = array(&created["tokens"], "tokens");
    assert_eq!(tokens.len(), 2, "{show}");
    let first = &tokens[0];
    let second = &tokens[1];
    let first_token = text(&first["token"], "first token").to_owned();
    let second_token = text(&second["token"], "second token").to_owned();
    assert_user_token_shape(&first_token);
    assert_user_token_shape(&second_token);
    assert_ne!(first_token, second_token);
    assert_eq!(
        first["clipboard"],
        json!({"matches": true, "error": null}),
        "#copy-token puts the new token on the clipboard: {show}"
    );
    for (token, name, rows) in [
        (&first_token, &first_name, &first["rows_after"]),
        (&second_token, &second_name, &second["rows_after"]),
    ] {
        let prefix = &token[..DISPLAY_PREFIX_CHARS];
        let matching = rows_containing(rows, prefix);
        assert_eq!(
            matching.len(),
            1,
            "right after creation, one row shows the prefix {prefix}: {show}"
        );
        assert!(
            text(&matching[0]["text"], "row").contains(name.as_str()),
            "{show}"
        );
        assert!(
            rows_containing(rows, token).is_empty(),
            "the table never shows a plaintext token: {show}"
        );
    }
    assert_eq!(
        first["name_field_after"], "",
        "the name field is cleared after creating: {show}"
    );

    // A reload shows the tokens no more, anywhere.
    let reloaded = &created["after_reload"];
    assert_eq!(reloaded["new_token_visible"], false, "{show}");
    assert_eq!(reloaded["plaintext_in_content"], false, "{show}");
    assert_eq!(reloaded["plaintext_in_storage"], false, "{show}");
    if let Some(shown) = reloaded["new_token_value_text"].as_str() {
        assert!(!shown.starts_with("eau_"), "{show}");
    }

    // Screenshots: the first screen on a desktop, the whole page on a phone, which does not
    // scroll sideways.
    screenshots.assert_taken("account");
    let scroll_width = created["phone"]["scroll_width"]
        .as_i64()
        .unwrap_or(i64::MAX);
    assert!(
        scroll_width <= 375,
        "at 375 px wide the page is {scroll_width} px wide (sideways scrolling): {show}"
    );
    assert_clean_page(
        &created,
        "/account, signing in and creating",
        nothing_expected,
    );

    // From outside the browser: the token the person saw is theirs and works as a bearer.
    let who = whoami(&main, &first_token, "default").expect_json(200);
    assert_eq!(who["kind"], "user", "{who}");
    assert_eq!(who["name"], first_name.as_str(), "{who}");
    let first_id = text(&who["token_id"], "whoami token_id").to_owned();
    assert!(first_id.starts_with("ut_"), "{who}");
    let me = main
        .get("/api/users/me")
        .bearer(&first_token)
        .send()
        .expect_json(200);
    assert_eq!(me["name"], "Demo User", "{me}");
    assert_eq!(me["email"], "demo@example.test", "{me}");
    assert_eq!(me["authenticated_by"], "user_token", "{me}");
    assert_eq!(me["token_id"], first_id.as_str(), "{me}");

    let listing = list_user_tokens(&main, &first_token);
    let listed_first = listed_by_token(&listing, &first_token)
        .unwrap_or_else(|| panic!("{first_name} is not listed: {listing:?}"));
    let listed_second = listed_by_token(&listing, &second_token)
        .unwrap_or_else(|| panic!("{second_name} is not listed: {listing:?}"));
    assert_eq!(listed_first["name"], first_name.as_str());
    assert_eq!(listed_second["name"], second_name.as_str());
    assert_eq!(listed_first["id"], first_id.as_str());
    let second_id = text(&listed_second["id"], "second id").to_owned();
    for listed in [listed_first, listed_second] {
        assert_eq!(listed["project"], "default", "{listed}");
    }
    // The workspaces chosen: all by default, the one typed for the second; the row shows them.
    assert_eq!(listed_first["workspaces"], json!(["*"]), "{listed_first}");
    assert_eq!(
        listed_second["workspaces"],
        json!(["docs/*"]),
        "{listed_second}"
    );
    let second_prefix = &second_token[..DISPLAY_PREFIX_CHARS];
    assert!(
        rows_containing(&second["rows_after"], second_prefix)
            .iter()
            .all(|row| text(&row["text"], "row").contains("docs/*")),
        "the row shows the workspaces: {show}"
    );
    // The expiry the person picked is the one stored, never past the session's end (7 days
    // after this sign-in, moments ago): "never" and the default 90 days are that end.
    for (listed, option) in [
        (listed_first, &first["expiry_option"]),
        (listed_second, &second["expiry_option"]),
    ] {
        let days: i64 = match text(option, "expiry option") {
            "" => 7,
            days => days
                .parse::<i64>()
                .expect("an expiry option is never or days")
                .min(7),
        };
        assert_near_ms(
            "expires_at",
            parse_timestamp_ms(&listed["expires_at"]),
            parse_timestamp_ms(&listed["created_at"]) + days * DAY_MS,
            5 * 60_000,
        );
    }
    // The page's rows are these tokens, by id, before and after the reload.
    for rows in [&second["rows_after"], &reloaded["rows"]] {
        let ids = row_ids(rows);
        assert!(
            ids.contains(&first_id) && ids.contains(&second_id),
            "the table lists {first_id} and {second_id}: {show}"
        );
    }
    for row in array(&reloaded["rows"], "rows") {
        assert_eq!(
            row["has_revoke"], true,
            "every row has a Revoke button: {show}"
        );
    }

    // Revoke, then think better of it: nothing happens.
    browser.send(json!({"do": "revoke", "token_id": first_id, "confirm": false}));
    let cancelled = browser.next("revoke", PHASE_PATIENCE);
    let show = pretty(&cancelled);
    let dialogs = array(&cancelled["dialogs"], "dialogs");
    assert_eq!(
        dialogs.len(),
        1,
        "Revoke asks for confirmation once: {show}"
    );
    assert_eq!(dialogs[0]["type"], "confirm", "{show}");
    assert_eq!(cancelled["row_present"], true, "{show}");
    assert_eq!(cancelled["row_present_after_reload"], true, "{show}");
    whoami(&main, &first_token, "default").expect_json(200);

    // Revoke and confirm: the row goes, and so does the token, everywhere.
    browser.send(json!({"do": "revoke", "token_id": first_id, "confirm": true}));
    let revoked = browser.next("revoke", PHASE_PATIENCE);
    let show = pretty(&revoked);
    let dialogs = array(&revoked["dialogs"], "dialogs");
    assert_eq!(dialogs.len(), 1, "{show}");
    assert_eq!(dialogs[0]["type"], "confirm", "{show}");
    assert_eq!(revoked["row_present"], false, "{show}");
    assert_eq!(revoked["row_present_after_reload"], false, "{show}");
    let ids = row_ids(&revoked["rows_after_reload"]);
    assert!(
        !ids.contains(&first_id) && ids.contains(&second_id),
        "{show}"
    );
    whoami(&main, &first_token, "default").expect_invalid_token();
    whoami(&main, &second_token, "default").expect_json(200);
    let listing = list_user_tokens(&main, &second_token);
    assert!(
        listed_by_token(&listing, &first_token).is_none(),
        "a revoked token is not listed: {listing:?}"
    );

    // Another login of the same person (a device login, from another browser's session),
    // signed out from its row on this page: it ends, with its refresh token.
    let elsewhere = oidc::sign_in(&main, oidc::DEMO);
    let device = credentials::device_login(&elsewhere, "default");
    let family = store::table_rows(&main.persist_dir(), "refresh_tokens")
        .into_iter()
        .find(|row| row["token_hash"] == tokens::sha256_hex(&device.refresh_token).as_str())
        .and_then(|row| row["family_id"].as_str().map(str::to_owned))
        .expect("the device login's refresh token is stored");
    browser.send(json!({"do": "end_login", "id": family}));
    let ended = browser.next("end_login", PHASE_PATIENCE);
    let show = pretty(&ended);
    assert_eq!(ended["listed_before"], true, "{show}");
    assert_eq!(ended["current_rows"], 1, "this browser is marked: {show}");
    assert_eq!(ended["current_has_button"], false, "{show}");
    assert_eq!(ended["status"], "Signed out.", "{show}");
    assert_eq!(ended["message"], "", "{show}");
    assert_eq!(ended["row_present_after_reload"], false, "{show}");
    let refused = main
        .post("/api/auth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &device.refresh_token),
        ])
        .send()
        .json();
    assert_eq!(refused["error"], "invalid_grant", "{refused}");
    elsewhere.me();

    // Sign out: the session ends, Back shows nothing private; API tokens live on.
    browser.send(json!({"do": "signout"}));
    let signed_out = browser.next("signout", PHASE_PATIENCE);
    let show = pretty(&signed_out);
    assert_eq!(
        signed_out["logout"]["origin_sent"],
        main.base_url(),
        "the sign-out form post must carry this origin in Origin (Chromium sends `Origin: null` \
         for a form post from a page served with `Referrer-Policy: no-referrer`): {show}"
    );
    assert_eq!(
        signed_out["logout"]["status"], 303,
        "the Sign out button posts a form: 303 to the provider's end-session endpoint: {show}"
    );
    let end_session = format!("{}/session/end?", main.identity_provider().base_url());
    assert!(
        signed_out["logout"]["location"]
            .as_str()
            .is_some_and(|l| l.starts_with(&end_session)),
        "{show}"
    );
    // Chromium followed it (the account page's CSP allows the provider in form-action), the
    // provider asked to confirm, and sent the browser back to /account.
    assert!(
        signed_out["provider"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with(&end_session)),
        "{show}"
    );
    assert_eq!(
        signed_out["provider"]["heading"], "Sign out of the local identity provider?",
        "{show}"
    );
    assert_eq!(signed_out["signin_visible"], true, "{show}");
    assert_eq!(signed_out["path"], "/account", "{show}");
    assert_eq!(signed_out["identity_present"], false, "{show}");
    assert_eq!(signed_out["tokens_present"], false, "{show}");
    assert!(
        signed_out["cookies"].get("edgeauth_session").is_none(),
        "the session cookie is cleared: {show}"
    );
    assert_eq!(signed_out["users_me_status"], 401, "{show}");
    assert_eq!(
        signed_out["back"]["identity_present"], false,
        "Back after signing out must not show the signed-in page: {show}"
    );
    let users_me = format!("{}/api/users/me", main.base_url());
    assert_clean_page(
        &signed_out,
        "/account, revoking and signing out",
        |kind, entry| {
            is_answer(kind, entry, &users_me, 401) // the scenario's own probe after signing out
        },
    );
    browser.send(json!({"do": "quit"}));
    browser.finish();

    // Signing out ended what the session made: the token made on the page stopped with it,
    // stored as revoked because its login ended.
    whoami(&main, &second_token, "default").expect_invalid_token();
    let row = store::table_rows(&main.persist_dir(), "user_tokens")
        .into_iter()
        .find(|r| r["id"] == second_id.as_str())
        .unwrap_or_else(|| panic!("{second_id} is stored"));
    assert_eq!(row["revocation_id"], "parent_ended", "{row:?}");
}

/// Every page of the Worker in a real browser, in the house style and without a script or
/// CSP error: home, an error, signed out, /account (project and workspaces chosen from
/// lists), the service-token page at work (create for chosen workspaces, roll, revoke), the
/// CLI consent page and the device pages (scope, lifetime, Approve / Deny). Screenshots of
/// each at desktop and phone width (docs/screenshots/ with `EDGEAUTH_UPDATE_SCREENSHOTS=1`).
#[test]
fn every_page_in_the_house_style_and_service_tokens_managed_on_their_page() {
    let main = Instance::main();
    let screenshots = Screenshots::choose();
    let project = match screenshots {
        Screenshots::Docs(_) => "acme".to_owned(),
        Screenshots::Scratch(_) => unique("pages"),
    };
    let shots = screenshots.dir().to_string_lossy().into_owned();
    let mut browser = Browser::start(
        "pages.mjs",
        &[
            ("EDGEAUTH_PAGES_PROJECT", project.as_str()),
            ("EDGEAUTH_SCREENSHOTS_DIR", shots.as_str()),
        ],
    );
    let seen = browser.next("pages", FIRST_PHASE_PATIENCE);
    browser.finish();
    let show = pretty(&seen);
    let has = |links: &Value, path: &str| {
        array(links, "links")
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.starts_with(path)))
    };

    // `/` is a home page with the ways in; an unknown path an error page with ways back and
    // no raw backticks; both pages in the house style, not JSON.
    let home = &seen["home"];
    assert_eq!(home["status"], 200, "{show}");
    assert!(text(&home["content_type"], "type").starts_with("text/html"));
    for path in [
        "/api/auth/login",
        "/account",
        "/device",
        "/openapi.json",
        "/healthz",
    ] {
        assert!(has(&home["links"], path), "home links {path}: {show}");
    }
    let error = &seen["error"];
    assert_eq!(error["status"], 404, "{show}");
    assert_eq!(error["heading"], "Not Found", "{show}");
    assert_eq!(error["code"], "not_found", "{show}");
    let message = text(&error["message"], "error message");
    assert!(!message.contains('`'), "no raw backticks: {message}");
    assert_eq!(error["message_code"], json!(["/no-such-page"]), "{show}");
    assert!(has(&error["links"], "/account") && has(&error["links"], "/"));

    // /account: projects and workspaces from lists, 90 days by default, a workspace column,
    // and the way to the service tokens for an admin.
    assert_eq!(
        seen["switched_to"],
        format!("/account?project={project}").as_str(),
        "the project is chosen on the page, not by editing the URL: {show}"
    );
    let account = &seen["account"];
    let projects: Vec<&str> = array(&account["projects"], "projects")
        .iter()
        .map(|p| text(&p["value"], "project"))
        .collect();
    assert!(
        projects.contains(&"default") && projects.contains(&project.as_str()),
        "{show}"
    );
    assert!(
        array(&account["projects"], "projects")
            .iter()
            .any(|p| p["value"] == project.as_str() && p["selected"] == true),
        "{show}"
    );
    assert_eq!(
        account["workspace_choices"][0],
        json!({"value": "*", "checked": true}),
        "{show}"
    );
    assert_eq!(account["expiry_default"], "90", "{show}");
    assert!(
        array(&account["columns"], "columns").contains(&json!("Workspaces")),
        "{show}"
    );
    assert_eq!(
        account["service_tokens_link"],
        format!("/account/service-tokens?project={project}").as_str(),
        "{show}"
    );

    // The service-token page: a token made for the workspaces typed, shown once, working;
    // rolled (the old secret stops, the new one works); revoked (401).
    let st = &seen["service_tokens"];
    assert_eq!(st["heading"], "Service tokens", "{show}");
    assert_eq!(
        st["all_ticked_after_typing"], false,
        "typing workspaces unticks All: {show}"
    );
    // A refusal's message on the page: its `code` spans as code, no raw backtick.
    let refusal = text(&st["refusal"]["text"], "refusal");
    assert!(!refusal.contains('`'), "{show}");
    assert!(
        array(&st["refusal"]["code_spans"], "code spans").contains(&json!("a/../b")),
        "{show}"
    );
    let created = text(&st["created"], "created").to_owned();
    let rolled = text(&st["rolled"], "rolled").to_owned();
    let shown = text(&st["shown"], "shown").to_owned();
    for token in [&created, &rolled, &shown] {
        assert!(token.starts_with("eas_"), "a service token: {show}");
    }
    let row = text(&st["created_row"], "created row");
    assert!(row.contains("deploy/*") && row.contains("docs"), "{show}");
    assert_eq!(st["rolled_row_present_for_old"], false, "{show}");
    whoami(&main, &created, &project).expect_error(401, "unauthorized");
    whoami(&main, &rolled, &project).expect_error(401, "unauthorized");
    let who = whoami(&main, &shown, &project).expect_json(200);
    assert_eq!(who["kind"], "service", "{who}");
    let listing = list_service_tokens(&main, &super_token(), &project);
    let listed = listing
        .iter()
        .find(|t| t["id"] == who["token_id"])
        .unwrap_or_else(|| panic!("the token shown is listed: {listing:?}"));
    assert_eq!(listed["workspaces"], json!(["production/*"]), "{listed}");
    for gone in [&st["created_id"], &st["rolled_id"]] {
        assert!(gone.is_string(), "{show}");
        assert!(
            !listing.iter().any(|t| t["id"] == *gone),
            "the created and rolled ones are gone: {listing:?}"
        );
    }
    assert_eq!(st["panel_visible_after_reload"], false, "{show}");
    let dialogs: Vec<&str> = array(&st["dialogs"], "dialogs")
        .iter()
        .map(|d| text(&d["answer"], "answer"))
        .collect();
    assert_eq!(
        dialogs,
        ["accept", "accept"],
        "roll and revoke ask first: {show}"
    );

    // The consent and device pages: the project, all workspaces (`*`), the lifetime, and
    // Approve / Deny; the result in the same words.
    let consent = &seen["consent"];
    assert_eq!(consent["status"], 200, "{show}");
    assert_eq!(consent["project"], project.as_str(), "{show}");
    assert_eq!(
        consent["workspaces"], "All workspaces of the project (*)",
        "{show}"
    );
    assert!(
        text(&consent["lifetime"], "lifetime").starts_with("90 days"),
        "{show}"
    );
    assert_eq!(consent["buttons"], json!(["Approve", "Deny"]), "{show}");
    for decision in ["approve", "deny"] {
        let device = &seen["device"][decision];
        assert!(
            text(&device["entry_preview"], "preview").contains("all its workspaces (*)"),
            "{show}"
        );
        assert_eq!(device["confirm"]["project"], project.as_str(), "{show}");
        assert_eq!(
            device["confirm"]["workspaces"], "All workspaces of the project (*)",
            "{show}"
        );
        assert_eq!(
            device["confirm"]["buttons"],
            json!(["Approve", "Deny"]),
            "{show}"
        );
    }
    assert_eq!(
        seen["device"]["approve"]["done"]["heading"],
        "Device approved"
    );
    assert_eq!(seen["device"]["deny"]["done"]["heading"], "Device denied");

    // Screenshots of every page, at both widths; none scrolls sideways on a phone.
    for name in [
        "home",
        "error",
        "signed-out",
        "service-tokens",
        "consent",
        "device-entry",
        "device-confirm",
        "device-done",
        "device-denied",
    ] {
        screenshots.assert_taken(name);
        let scroll = seen["phone_overflow"][name].as_i64().unwrap_or(i64::MAX);
        assert!(scroll <= 375, "{name} is {scroll} px wide on a phone");
    }
    // The unknown path's 404 and the refused pattern's 400 (and Chromium's console lines
    // about them) are the only failures, and nothing broke the CSP.
    let expected = |url: &str, status: &str| {
        (url.ends_with("/no-such-page") && status == "404")
            || (url.ends_with("/api/service-tokens") && status == "400")
    };
    assert_clean_page(&seen, "every page", |kind, entry| match kind {
        "http_errors" => expected(text(&entry["url"], "url"), &entry["status"].to_string()),
        "console_errors" => ["404", "400"].iter().any(|status| {
            text(&entry["text"], "text").contains(&format!("status of {status}"))
                && expected(text(&entry["source"], "source"), status)
        }),
        _ => false,
    });
}

#[test]
fn cross_site_forms_from_the_same_site_are_refused_and_change_nothing() {
    let main = Instance::main();
    let attack_name = unique("forged");
    let own_name = unique("own");
    let mut browser = Browser::start(
        "csrf.mjs",
        &[
            ("EDGEAUTH_BROWSER_ATTACK_NAME", attack_name.as_str()),
            ("EDGEAUTH_BROWSER_OWN_NAME", own_name.as_str()),
        ],
    );
    let seen = browser.next("attacked", FIRST_PHASE_PATIENCE);
    browser.finish();
    let show = pretty(&seen);

    let own_token = text(&seen["own_token"], "own token").to_owned();
    assert_user_token_shape(&own_token);
    assert_eq!(seen["csrf_meta_present"], true, "{show}");
    let before_errors = &seen["errors_before_attacks"];
    assert_clean_page(
        before_errors,
        "/account before the attacks",
        nothing_expected,
    );
    assert_eq!(seen["before"]["status"], 200, "{show}");

    let attacker = text(&seen["attacker_origin"], "attacker origin");
    assert!(
        attacker.starts_with("http://127.0.0.1:") && attacker != main.base_url(),
        "the attacker is on the same site (127.0.0.1), another origin: {show}"
    );
    let attacks = array(&seen["attacks"], "attacks");
    assert_eq!(attacks.len(), 6, "{show}");
    for attack in attacks {
        let id = text(&attack["id"], "attack id");
        let show_one = pretty(attack);
        assert_eq!(attack["status"], 403, "{id} must be refused: {show_one}");
        if attack["opaque"] == true {
            continue; // a no-cors fetch: the browser shows only the status
        }
        // The premise: the browser sent the session cookie (SameSite=Lax lets a same-site
        // post through) from a foreign origin. Without it the test would prove nothing.
        assert_eq!(
            attack["session_cookie_sent"], true,
            "{id}: the browser did not send the session cookie, so this attack tests nothing: {show_one}"
        );
        assert_eq!(attack["sec_fetch_site"], "same-site", "{id}: {show_one}");
        let expected_origin = if id.contains("no-referrer") {
            "null"
        } else {
            attacker
        };
        assert_eq!(attack["origin_sent"], expected_origin, "{id}: {show_one}");
        // The rule beyond SameSite stops it.
        assert_eq!(attack["error"], "csrf_rejected", "{id}: {show_one}");
        assert_eq!(
            attack["set_cookie"], false,
            "{id}: a refused request sets or clears no cookie: {show_one}"
        );
    }

    // Nothing changed: the same tokens, none by the attacker's name, the session still on.
    let after = &seen["after"];
    assert_eq!(after["status"], 200, "{show}");
    assert_eq!(after["ids"], seen["before"]["ids"], "{show}");
    assert!(
        !array(&after["names"], "names").contains(&json!(attack_name)),
        "{show}"
    );
    assert_eq!(
        after["users_me_status"], 200,
        "the session survived: {show}"
    );
    assert_eq!(after["identity_visible"], true, "{show}");

    // And from outside the browser, with the person's own token.
    let listing = list_user_tokens(&main, &own_token);
    assert!(
        listed_by_name(&listing, &attack_name).is_none(),
        "a forged request created a token: {listing:?}"
    );
    let own = listed_by_name(&listing, &own_name)
        .unwrap_or_else(|| panic!("{own_name} is not listed: {listing:?}"));
    let own_id = text(&own["id"], "own id");
    assert!(
        array(&after["ids"], "ids").contains(&json!(own_id)),
        "{show}"
    );

    // The only errors the page may report are the refusals themselves.
    let targets = [
        format!("{}/api/tokens", main.base_url()),
        format!("{}/api/auth/logout", main.base_url()),
    ];
    assert_clean_page(&seen, "the attacks", |kind, entry| {
        targets.iter().any(|t| is_answer(kind, entry, t, 403))
    });

    main.delete(&format!("/api/tokens/{own_id}"))
        .bearer(&own_token)
        .send()
        .expect_status(204);
}

#[test]
fn people_outside_the_team_or_unverified_see_the_error_page_and_get_no_session() {
    let main = Instance::main();
    let mut browser = Browser::start("refused.mjs", &[]);
    let seen = browser.next("refused", FIRST_PHASE_PATIENCE);
    browser.finish();
    let show = pretty(&seen);

    let people = array(&seen["people"], "people");
    assert_eq!(people.len(), 2, "{show}");
    for (person, code) in people
        .iter()
        .zip(["not_in_allowed_team", "email_not_verified"])
    {
        let user = text(&person["user"], "user");
        assert_eq!(person["error_code"], code, "{user}: {show}");
        let message = text(&person["error_message"], "#error-message");
        assert!(
            message.len() > 10,
            "{user}: #error-message says what happened: {show}"
        );
        let landed = &person["landed"];
        assert_eq!(landed["status"], 403, "{user}: {show}");
        assert_eq!(
            landed["url"],
            format!("{}/api/auth/callback?…", main.base_url()).as_str(),
            "{user}: {show}"
        );
        assert!(
            text(&landed["content_type"], "content type").starts_with("text/html"),
            "{user}: a browser gets an HTML error page: {show}"
        );
        assert!(
            person["cookies"].get("edgeauth_session").is_none(),
            "{user}: no session: {show}"
        );
        assert_eq!(person["users_me_status"], 401, "{user}: {show}");
        assert_eq!(
            person["account_after"]["signin_visible"], true,
            "{user}: {show}"
        );
        assert_eq!(
            person["account_after"]["identity_present"], false,
            "{user}: {show}"
        );
    }
    let callback = format!("{}/api/auth/callback", main.base_url());
    let users_me = format!("{}/api/users/me", main.base_url());
    assert_clean_page(&seen, "the refusals", |kind, entry| {
        is_answer(kind, entry, &callback, 403) || is_answer(kind, entry, &users_me, 401)
    });
}
