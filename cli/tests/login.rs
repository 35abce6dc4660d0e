//! `edgeauth login` and `edgeauth logout`, driven as a user would: the binary runs against a
//! fake server that follows docs/api.md ("CLI loopback login"), and the test plays the browser:
//! it reads the URL from stderr and comes back to the CLI's loopback port, as the server's
//! redirect would make a real browser do.

mod common;

use common::{code, text, Sandbox, SecretService, Seen, Stub};
use edgeauth_core::pkce;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const LOGIN_SECRET: &str = "eau_LoginSecretTokenValueThatMustNeverBePrinted0123";
const CODE: &str = "the-one-time-code_0123456789abcdefghijklmnopq";
const CAPABILITIES: &str = r#"{"signed_in":false,"kind":null,"auth_disabled":false,
  "public_reads":true,"project":"default",
  "login_methods":{"oidc":true,"cli_loopback":true,"device":false},
  "service_tokens":true,"can_write":false}"#;

fn exchanged(id: &str, project: &str) -> String {
    format!(
        r#"{{"token":"{LOGIN_SECRET}","id":"{id}","name":"edgeauth CLI on testhost",
        "prefix":"eau_LoginSec","project":"{project}","expires_at":null,
        "user":{{"id":"usr_1","email":"demo@example.test","name":"Demo User"}}}}"#
    )
}

/// The fake server: capabilities, a cli-exchange that accepts [`CODE`], and token revocation.
fn server(exchange: impl Fn(&Seen) -> (u16, String) + Send + 'static) -> Stub {
    Stub::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/api/auth/capabilities") => (200, CAPABILITIES.into()),
        ("POST", "/api/auth/cli-exchange") => exchange(r),
        ("DELETE", path) if path.starts_with("/api/tokens/") => (204, String::new()),
        _ => (
            404,
            r#"{"error":"not_found","message":"no such route"}"#.into(),
        ),
    })
}

fn accepting_server() -> Stub {
    server(|r| {
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        if body["code"] == CODE {
            (201, exchanged("ut_login", "demo"))
        } else {
            (
                400,
                r#"{"error":"invalid_grant","error_description":"unknown or spent code"}"#.into(),
            )
        }
    })
}

/// A login in progress: the child, the URL it printed, the stderr lines so far.
struct Login {
    child: Child,
    url: String,
    stderr: mpsc::Receiver<String>,
}

impl Login {
    fn start(sb: &Sandbox, env: &[(&str, &str)], args: &[&str]) -> Login {
        let mut child = sb
            .command(&sb.work(), env, args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (lines, stderr) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { return };
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        let mut seen = Vec::new();
        let url = loop {
            let line = stderr
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no URL on stderr; so far: {seen:#?}"));
            let follows_the_prompt = seen
                .last()
                .is_some_and(|l: &String| l == "Open this URL in your browser:");
            if let Some(url) = line.strip_prefix("  http") {
                assert!(follows_the_prompt, "{seen:#?}");
                break format!("http{url}");
            }
            seen.push(line);
        };
        // Put back what was read, so that `finish` returns the whole stderr.
        let (again, rest) = mpsc::channel();
        for line in seen.into_iter().chain([format!("  {url}")]) {
            again.send(line).unwrap();
        }
        std::thread::spawn(move || {
            while let Ok(line) = stderr.recv() {
                if again.send(line).is_err() {
                    return;
                }
            }
        });
        Login {
            child,
            url,
            stderr: rest,
        }
    }

    fn param(&self, name: &str) -> String {
        param(&self.url, name).unwrap_or_else(|| panic!("no {name} in {}", self.url))
    }

    /// Plays the browser arriving at the redirect URI with `query`; returns the raw answer.
    fn browser_returns(&self, query: &str) -> String {
        browser_get(&format!("{}?{query}", self.param("redirect_uri")))
    }

    fn finish(mut self) -> (i32, String, String) {
        let mut stdout = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let status = self.child.wait().unwrap();
        let stderr: Vec<String> = self.stderr.iter().collect();
        (status.code().unwrap(), stdout, stderr.join("\n") + "\n")
    }
}

fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn browser_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn stored(sb: &Sandbox) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(sb.config_dir().join("credentials.json")).ok()?;
    Some(serde_json::from_str(&text).unwrap())
}

fn exchanges(stub: &Stub) -> Vec<Seen> {
    stub.requests()
        .into_iter()
        .filter(|r| r.path == "/api/auth/cli-exchange")
        .collect()
}

#[test]
fn login_stores_the_token_privately_and_prints_only_its_prefix() {
    let stub = accepting_server();
    let sb = Sandbox::new();
    let env = [("EDGEAUTH_SERVER", stub.url.as_str())];
    let login = Login::start(&sb, &env, &["login", "--no-browser", "--project", "demo"]);

    // The URL: the server's cli-start with every parameter of docs/api.md.
    let start = format!("{}/api/auth/cli-start?", stub.url);
    assert!(login.url.starts_with(&start), "{}", login.url);
    let redirect_uri = login.param("redirect_uri");
    let callback = edgeauth_core::loopback::LoopbackRedirect::parse(&redirect_uri).unwrap();
    assert!(
        redirect_uri.starts_with("http://127.0.0.1:"),
        "{redirect_uri}"
    );
    assert_eq!(login.param("code_challenge_method"), "S256");
    let challenge = login.param("code_challenge");
    assert!(pkce::validate_challenge(&challenge, Some("S256")).is_ok());
    let state = login.param("state");
    assert_eq!(state.len(), 43, "256 bits of base64url: {state}");
    assert!(login.param("name").starts_with("edgeauth CLI"));
    assert_eq!(login.param("project"), "demo");

    // Anything but the callback is ignored; the callback ends the wait.
    assert!(
        browser_get(&format!("http://127.0.0.1:{}/favicon.ico", callback.port()))
            .starts_with("HTTP/1.1 404 ")
    );
    let page = login.browser_returns(&format!("code={CODE}&state={state}"));
    let (status, stdout, stderr) = login.finish();

    assert_eq!(status, 0, "{stderr}");
    assert_eq!(
        stdout,
        format!(
            "Logged in to {} as demo@example.test (token eau_LoginSec…, project demo)\n",
            stub.url
        )
    );
    for shown in [&stdout, &stderr, &page] {
        assert!(!shown.contains(LOGIN_SECRET), "the token leaked: {shown}");
        assert!(!shown.contains(CODE), "the code leaked: {shown}");
    }
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("You are signed in to edgeauth"), "{page}");
    assert!(page.contains("close this tab"), "{page}");

    // The exchange: anonymous, with the verifier whose S256 is the challenge in the URL.
    let exchange = &exchanges(&stub)[0];
    assert_eq!(exchange.header("authorization"), None);
    let body: serde_json::Value = serde_json::from_str(&exchange.body).unwrap();
    assert_eq!(body["code"], CODE);
    assert_eq!(body["redirect_uri"], redirect_uri.as_str());
    let verifier = body["code_verifier"].as_str().unwrap();
    assert!(pkce::verify(verifier, &challenge), "PKCE does not verify");
    assert_eq!(
        stub.requests()[0].header("authorization"),
        None,
        "capabilities asked anonymously"
    );

    // Stored for this server, keyed by its normalised URL, with everything but secrets shown.
    let file = stored(&sb).unwrap();
    let entry = &file["servers"][stub.url.as_str()];
    assert_eq!(entry["token"], LOGIN_SECRET);
    assert_eq!(entry["kind"], "user");
    assert_eq!(entry["token_id"], "ut_login");
    assert_eq!(entry["prefix"], "eau_LoginSec");
    assert_eq!(entry["project"], "demo");
    assert_eq!(entry["user"]["email"], "demo@example.test");
    assert_eq!(entry["user"]["name"], "Demo User");
    assert!(entry["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(file["version"], 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&sb.config_dir()), 0o700);
        assert_eq!(mode(&sb.config_dir().join("credentials.json")), 0o600);
    }

    // The next command uses the stored login.
    let out = sb.run(&sb.work(), &env, &["token", "list"]);
    let last = stub.requests().pop().unwrap();
    assert_eq!(
        last.header("authorization"),
        Some(&*format!("Bearer {LOGIN_SECRET}"))
    );
    assert!(!text(&out.stderr).contains(LOGIN_SECRET));
}

#[test]
fn login_json_prints_the_summary_without_the_token() {
    let stub = accepting_server();
    let sb = Sandbox::new();
    let login = Login::start(
        &sb,
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["login", "--no-browser", "--json"],
    );
    assert_eq!(param(&login.url, "project"), None);
    login.browser_returns(&format!("state={}&code={CODE}", login.param("state")));
    let (status, stdout, stderr) = login.finish();
    assert_eq!(status, 0, "{stderr}");
    let printed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        printed,
        serde_json::json!({
            "server": stub.url,
            "user": {"id": "usr_1", "email": "demo@example.test", "name": "Demo User"},
            "token_id": "ut_login",
            "prefix": "eau_LoginSec",
            "project": "demo",
            "expires_at": null,
        })
    );
    assert!(!stdout.contains(LOGIN_SECRET) && !stderr.contains(LOGIN_SECRET));
}

#[cfg(unix)]
#[test]
fn edgeauth_browser_is_run_with_the_url() {
    use std::os::unix::fs::PermissionsExt;
    let stub = accepting_server();
    let sb = Sandbox::new();
    let seen = sb.root.path().join("browser-got");
    let script = sb.root.path().join("browser");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", seen.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = script.display().to_string();
    let login = Login::start(
        &sb,
        &[
            ("EDGEAUTH_SERVER", stub.url.as_str()),
            ("EDGEAUTH_BROWSER", &script),
        ],
        &["login"],
    );
    let mut opened = String::new();
    for _ in 0..200 {
        opened = std::fs::read_to_string(&seen).unwrap_or_default();
        if !opened.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(opened, login.url);
    login.browser_returns(&format!("code={CODE}&state={}", login.param("state")));
    let (status, _, stderr) = login.finish();
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stderr.starts_with("A browser should open to sign in to "),
        "{stderr}"
    );
}

#[test]
fn a_browser_that_cannot_start_leaves_the_url_to_open_by_hand() {
    let stub = accepting_server();
    let sb = Sandbox::new();
    let login = Login::start(
        &sb,
        &[
            ("EDGEAUTH_SERVER", stub.url.as_str()),
            ("EDGEAUTH_BROWSER", "/nonexistent/browser"),
        ],
        &["login"],
    );
    login.browser_returns(&format!("code={CODE}&state={}", login.param("state")));
    let (status, _, stderr) = login.finish();
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stderr.starts_with("warning: could not open a browser (/nonexistent/browser: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("or sign in from anywhere with `edgeauth login --device`"),
        "a browser that cannot start names the device login: {stderr}"
    );
}

#[test]
fn denying_in_the_browser_exits_10_and_stores_nothing() {
    let stub = accepting_server();
    let sb = Sandbox::new();
    let login = Login::start(
        &sb,
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["login", "--no-browser"],
    );
    let page = login.browser_returns(&format!(
        "error=access_denied&state={}",
        login.param("state")
    ));
    let (status, stdout, stderr) = login.finish();
    assert_eq!(status, 10, "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("error: login denied in the browser; nothing was stored\nhint: "),
        "{stderr}"
    );
    assert!(page.contains("Sign-in denied"), "{page}");
    assert!(exchanges(&stub).is_empty());
    assert!(stored(&sb).is_none());
}

#[test]
fn a_callback_with_the_wrong_state_ends_the_login_and_its_code_is_never_used() {
    let stub = accepting_server();
    let sb = Sandbox::new();
    let login = Login::start(
        &sb,
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["login", "--no-browser"],
    );
    let state = login.param("state");
    let forged = format!(
        "{}{}",
        &state[..42],
        if state.ends_with('A') { 'B' } else { 'A' }
    );
    let page = login.browser_returns(&format!("code={CODE}&state={forged}"));
    let (status, stdout, stderr) = login.finish();
    assert_eq!(status, 10, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("(wrong state)"), "{stderr}");
    assert!(page.starts_with("HTTP/1.1 400 "), "{page}");
    assert!(exchanges(&stub).is_empty(), "a forged code was exchanged");
    assert!(stored(&sb).is_none());
}

#[test]
fn a_refused_exchange_fails_the_login_and_tells_the_browser() {
    let stub = server(|_| {
        (
            400,
            r#"{"error":"invalid_grant","error_description":"the code was already redeemed"}"#
                .into(),
        )
    });
    let sb = Sandbox::new();
    let login = Login::start(
        &sb,
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["login", "--no-browser"],
    );
    let page = login.browser_returns(&format!("code={CODE}&state={}", login.param("state")));
    let (status, stdout, stderr) = login.finish();
    assert_eq!(status, 1, "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("error: the code was already redeemed\nhint: the server did not accept the sign-in code"),
        "{stderr}"
    );
    assert!(page.contains("Sign-in failed"), "{page}");
    assert!(page.contains("the code was already redeemed."), "{page}");
    assert!(stored(&sb).is_none());
}

#[test]
fn no_answer_from_the_browser_times_out_with_exit_9() {
    let stub = accepting_server();
    let sb = Sandbox::new();
    let started = std::time::Instant::now();
    let out = sb.run(
        &sb.work(),
        &[
            ("EDGEAUTH_SERVER", stub.url.as_str()),
            ("EDGEAUTH_LOGIN_TIMEOUT", "1"),
        ],
        &["login", "--no-browser"],
    );
    assert_eq!(code(&out), 9, "{}", text(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(10));
    let err = text(&out.stderr);
    assert!(
        err.contains("Waiting for the browser… (Ctrl-C to cancel)\n"),
        "off a terminal the wait is one plain line: {err}"
    );
    assert!(!err.contains('\x1b'), "no spinner off a terminal: {err:?}");
    assert!(
        err.contains("error: no answer from the browser within 1 s; nothing was stored\nhint: "),
        "{err}"
    );
    assert!(
        err.contains("or sign in from a browser anywhere with `edgeauth login --device`"),
        "the timeout names the device login: {err}"
    );
    assert!(stored(&sb).is_none());

    let out = sb.run(
        &sb.work(),
        &[
            ("EDGEAUTH_SERVER", stub.url.as_str()),
            ("EDGEAUTH_LOGIN_TIMEOUT", "soon"),
        ],
        &["login", "--no-browser"],
    );
    assert_eq!(code(&out), 8);
    assert!(text(&out.stderr).contains("EDGEAUTH_LOGIN_TIMEOUT"));
}

#[test]
fn a_server_without_cli_login_is_refused_before_any_browser() {
    let stub = Stub::start(|_| {
        (
            200,
            CAPABILITIES.replace(r#""cli_loopback":true"#, r#""cli_loopback":false"#),
        )
    });
    let sb = Sandbox::new();
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["login", "--no-browser"],
    );
    assert_eq!(code(&out), 7);
    let err = text(&out.stderr);
    assert!(
        err.contains("does not offer browser login for the CLI"),
        "{err}"
    );
    assert!(!err.contains("Open this URL"), "{err}");
}

/// A credentials file with a login for `server`.
fn write_login(sb: &Sandbox, server: &str, token: &str, id: &str) {
    std::fs::create_dir_all(sb.config_dir()).unwrap();
    std::fs::write(
        sb.config_dir().join("credentials.json"),
        serde_json::json!({"version": 1, "servers": {server: {
            "token": token, "kind": "user", "token_id": id, "prefix": &token[..12]}}})
        .to_string(),
    )
    .unwrap();
}

#[test]
fn logging_in_again_replaces_and_revokes_the_previous_login() {
    let stub = accepting_server();
    let sb = Sandbox::new();
    write_login(&sb, &stub.url, "eau_PreviousLoginToken", "ut_old");
    let login = Login::start(
        &sb,
        &[
            ("EDGEAUTH_SERVER", stub.url.as_str()),
            ("EDGEAUTH_TOKEN", "eau_FromTheEnvironment"),
        ],
        &["login", "--no-browser"],
    );
    login.browser_returns(&format!("code={CODE}&state={}", login.param("state")));
    let (status, _, stderr) = login.finish();
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stderr.contains("Revoked the token of the previous login (eau_Previous…)."),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: EDGEAUTH_TOKEN takes precedence over this login"),
        "{stderr}"
    );
    let revoke = stub
        .requests()
        .into_iter()
        .find(|r| r.method == "DELETE")
        .unwrap();
    assert_eq!(revoke.path, "/api/tokens/ut_old");
    assert_eq!(
        revoke.header("authorization"),
        Some("Bearer eau_PreviousLoginToken")
    );
    // Neither the capabilities check nor the exchange carried any token.
    for r in stub.requests().iter().filter(|r| r.method != "DELETE") {
        assert_eq!(r.header("authorization"), None, "{} {}", r.method, r.path);
    }
    assert_eq!(
        stored(&sb).unwrap()["servers"][&stub.url]["token_id"],
        "ut_login"
    );
}

#[test]
fn logout_revokes_with_the_stored_token_then_forgets_it() {
    let stub = accepting_server();
    let sb = Sandbox::new();
    write_login(&sb, &stub.url, "eau_AbCdEfGhStoredSecret", "ut_1");
    let env = [
        ("EDGEAUTH_SERVER", stub.url.as_str()),
        ("EDGEAUTH_TOKEN", "eau_FromTheEnvironment"),
    ];
    let out = sb.run(&sb.work(), &env, &["logout"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("Logged out of {} (token eau_AbCdEfGh… revoked)\n", stub.url)
    );
    assert_eq!(
        text(&out.stderr),
        format!(
            "note: logout acts on the login stored for {} only; the token from EDGEAUTH_TOKEN is not affected\n",
            stub.url
        )
    );
    let seen = &stub.requests()[0];
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("DELETE", "/api/tokens/ut_1")
    );
    assert_eq!(
        seen.header("authorization"),
        Some("Bearer eau_AbCdEfGhStoredSecret")
    );
    assert_eq!(stored(&sb).unwrap()["servers"], serde_json::json!({}));
    for shown in [&out.stdout, &out.stderr] {
        assert!(!text(shown).contains("StoredSecret"));
    }

    // Nothing left: logging out again says so and succeeds.
    let out = sb.run(&sb.work(), &env[..1], &["logout"]);
    assert_eq!(code(&out), 0);
    assert_eq!(
        text(&out.stdout),
        format!(
            "Not logged in to {}: there is no stored login to log out of\n",
            stub.url
        )
    );
    assert_eq!(stub.requests().len(), 1);
    let out = sb.run(&sb.work(), &env[..1], &["logout", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"server": stub.url, "logged_out": false})
    );
}

#[test]
fn logout_forgets_a_token_the_server_no_longer_knows() {
    let stub = Stub::start(|_| {
        (
            404,
            r#"{"error":"not_found","message":"no such token"}"#.into(),
        )
    });
    let sb = Sandbox::new();
    write_login(&sb, &stub.url, "eau_AbCdEfGhStoredSecret", "ut_1");
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["logout", "--json"],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"server": stub.url, "logged_out": true, "token_id": "ut_1",
            "prefix": "eau_AbCdEfGh", "revocation": "already_gone"})
    );
    assert_eq!(stored(&sb).unwrap()["servers"], serde_json::json!({}));
}

#[test]
fn logout_keeps_the_login_when_the_server_fails() {
    let stub = Stub::start(|_| (500, "oops".into()));
    let sb = Sandbox::new();
    write_login(&sb, &stub.url, "eau_AbCdEfGhStoredSecret", "ut_1");
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["logout"],
    );
    assert_eq!(code(&out), 7);
    let err = text(&out.stderr);
    assert!(
        err.contains("hint: the login is still stored: run `edgeauth logout` again"),
        "{err}"
    );
    assert_eq!(
        stored(&sb).unwrap()["servers"][&stub.url]["token_id"],
        "ut_1"
    );
}

#[test]
fn the_server_of_the_last_login_is_remembered_and_named() {
    let stub = Stub::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/api/auth/capabilities") => (200, CAPABILITIES.into()),
        ("POST", "/api/auth/cli-exchange") => (201, exchanged("ut_login", "demo")),
        ("DELETE", "/api/tokens/ut_login") => (204, String::new()),
        ("GET", "/api/tokens") if r.header("authorization").is_some() => {
            (200, r#"{"tokens":[]}"#.into())
        }
        _ => (
            401,
            r#"{"error":"unauthorized","message":"this endpoint needs a credential"}"#.into(),
        ),
    });
    let sb = Sandbox::new();
    let given = format!("{}/", stub.url);
    let login = Login::start(&sb, &[], &["login", "--no-browser", "--server", &given]);
    let state = login.param("state");
    login.browser_returns(&format!("code={CODE}&state={state}"));
    let (status, _, stderr) = login.finish();
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stderr.contains("The token does not expire; `edgeauth logout` revokes it."),
        "{stderr}"
    );
    assert_eq!(stored(&sb).unwrap()["default_server"], stub.url.as_str());

    // No --server, EDGEAUTH_SERVER or edgeauth.toml: the last login's server, with its token.
    let out = sb.run(&sb.work(), &[], &["token", "list"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let last = stub.requests().pop().unwrap();
    assert_eq!(last.path, "/api/tokens");
    assert_eq!(
        last.header("authorization"),
        Some(&*format!("Bearer {LOGIN_SECRET}"))
    );
    let out = sb.run(&sb.work(), &[], &["auth", "status"]);
    assert!(
        text(&out.stdout).contains(&format!("* {}", stub.url)),
        "{}",
        text(&out.stdout)
    );

    // logout too, and afterwards the server is still known: messages name it.
    let out = sb.run(&sb.work(), &[], &["logout"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("Logged out of {} (token eau_LoginSec… revoked)\n", stub.url)
    );
    let out = sb.run(&sb.work(), &[], &["token", "list"]);
    assert_eq!(code(&out), 3);
    assert!(
        text(&out.stderr).starts_with(&format!(
            "error: not logged in to {0}: run `edgeauth login --server {0}`\n",
            stub.url
        )),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn without_a_usable_keyring_the_login_goes_to_the_file_and_says_so() {
    let stub = accepting_server();
    let sb = Sandbox::new();
    // No D-Bus session (the environment is cleared): no Secret Service to talk to.
    let env = [
        ("EDGEAUTH_SERVER", stub.url.as_str()),
        ("EDGEAUTH_CREDENTIAL_STORE", "keyring"),
    ];
    let login = Login::start(&sb, &env, &["login", "--no-browser"]);
    let state = login.param("state");
    login.browser_returns(&format!("code={CODE}&state={state}"));
    let (status, stdout, stderr) = login.finish();
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.starts_with("Logged in to "), "{stdout}");
    let path = sb.config_dir().join("credentials.json");
    assert!(
        stderr.contains("instead\n")
            && stderr.contains("warning: the OS keyring cannot be used (")
            && stderr.contains(&format!(
                "the token is kept in {} (mode 0600)",
                path.display()
            )),
        "{stderr}"
    );
    let entry = &stored(&sb).unwrap()["servers"][stub.url.as_str()];
    assert_eq!(entry["token"], LOGIN_SECRET);
    assert!(entry.get("storage").is_none(), "{entry}");

    // --storage file asks for the file: no warning.
    let login = Login::start(&sb, &env, &["login", "--no-browser", "--storage", "file"]);
    let state = login.param("state");
    login.browser_returns(&format!("code={CODE}&state={state}"));
    let (status, _, stderr) = login.finish();
    assert_eq!(status, 0, "{stderr}");
    assert!(!stderr.contains("keyring"), "{stderr}");

    // A bad EDGEAUTH_CREDENTIAL_STORE is a configuration error.
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_CREDENTIAL_STORE", "vault")],
        &["auth", "status"],
    );
    assert_eq!(code(&out), 8);
    assert!(text(&out.stderr).contains("EDGEAUTH_CREDENTIAL_STORE must be"));
}

#[test]
fn a_login_in_the_secret_service_keeps_only_metadata_in_the_file() {
    let sb = Sandbox::new();
    let home = sb.root.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let Some(keyring) = SecretService::start(&home) else {
        return;
    };
    let stub = Stub::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/api/auth/capabilities") => (200, CAPABILITIES.into()),
        ("POST", "/api/auth/cli-exchange") => (201, exchanged("ut_login", "demo")),
        ("DELETE", "/api/tokens/ut_login") => (204, String::new()),
        _ => (200, r#"{"tokens":[]}"#.into()),
    });
    let home = home.display().to_string();
    let env = [
        ("EDGEAUTH_SERVER", stub.url.as_str()),
        ("EDGEAUTH_CREDENTIAL_STORE", "keyring"),
        ("DBUS_SESSION_BUS_ADDRESS", keyring.address.as_str()),
        ("HOME", home.as_str()),
    ];
    let login = Login::start(&sb, &env, &["login", "--no-browser"]);
    let state = login.param("state");
    login.browser_returns(&format!("code={CODE}&state={state}"));
    let (status, _, stderr) = login.finish();
    assert_eq!(status, 0, "{stderr}");
    assert!(
        stderr.contains("The token is kept in the OS keyring (service `edgeauth`)"),
        "{stderr}"
    );
    // The file has the login but not its token.
    let file = std::fs::read_to_string(sb.config_dir().join("credentials.json")).unwrap();
    assert!(!file.contains(LOGIN_SECRET), "{file}");
    let entry = &stored(&sb).unwrap()["servers"][stub.url.as_str()];
    assert_eq!(entry["storage"], "keyring");
    assert_eq!(entry["token_id"], "ut_login");
    assert!(entry.get("token").is_none(), "{entry}");

    // Commands read it from the keyring.
    let out = sb.run(&sb.work(), &env, &["auth", "token"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{LOGIN_SECRET}\n"));
    sb.run(&sb.work(), &env, &["token", "list"]);
    assert_eq!(
        stub.requests().pop().unwrap().header("authorization"),
        Some(&*format!("Bearer {LOGIN_SECRET}"))
    );
    let out = sb.run(&sb.work(), &env, &["auth", "status"]);
    assert!(
        text(&out.stdout).contains("OS keyring (service edgeauth)"),
        "{}",
        text(&out.stdout)
    );

    // Without the keyring's session the login cannot be read: exit 8, and it is kept.
    let out = sb.run(&sb.work(), &env[..2], &["auth", "token"]);
    assert_eq!(code(&out), 8, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is kept in the OS keyring, which cannot be read"),
        "{}",
        text(&out.stderr)
    );
    assert!(stored(&sb).unwrap()["servers"][stub.url.as_str()].is_object());
    let out = sb.run(&sb.work(), &env[..2], &["logout"]);
    assert_eq!(
        code(&out),
        8,
        "logout never forgets what it could not revoke"
    );
    assert!(stored(&sb).unwrap()["servers"][stub.url.as_str()].is_object());

    // logout revokes, forgets, and deletes the keyring's item.
    let out = sb.run(&sb.work(), &env, &["logout"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    std::fs::write(
        sb.config_dir().join("credentials.json"),
        format!(
            r#"{{"version":1,"servers":{{"{}":{{"kind":"user","storage":"keyring"}}}}}}"#,
            stub.url
        ),
    )
    .unwrap();
    let out = sb.run(&sb.work(), &env, &["auth", "token"]);
    assert_eq!(code(&out), 8);
    assert!(
        text(&out.stderr).contains("the OS keyring has no item for it"),
        "{}",
        text(&out.stderr)
    );
}

/// Makes `dir` refuse new entries (so a save, which writes a temporary file there, fails)
/// while its files stay readable and writable, until dropped; `None` where this cannot be
/// done (no `chattr`, or a file system without the immutable flag, as root).
#[cfg(unix)]
struct Frozen(std::path::PathBuf);

#[cfg(unix)]
impl Frozen {
    fn dir(dir: &std::path::Path) -> Option<Frozen> {
        use std::os::unix::fs::PermissionsExt;
        let chattr = std::process::Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .output();
        if !chattr.is_ok_and(|done| done.status.success()) {
            // Not root, or no chattr: a directory without write permission does it.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500)).unwrap();
        }
        let frozen = Frozen(dir.to_owned());
        let probe = dir.join("probe");
        if std::fs::write(&probe, "x").is_ok() {
            let _ = std::fs::remove_file(&probe);
            eprintln!("cannot make {} refuse new files here", dir.display());
            return None;
        }
        Some(frozen)
    }
}

#[cfg(unix)]
impl Drop for Frozen {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .output();
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o700));
    }
}

/// One keyring item per server: a new login's item replaces the old login's before the file is
/// written. When the file then cannot be written, the old item is put back, so the keyring
/// still holds the token the unchanged file describes (which can then still be revoked).
#[cfg(unix)]
#[test]
fn a_login_that_cannot_be_saved_leaves_the_keyring_as_the_file_describes() {
    const FIRST_SECRET: &str = "eau_FirstLoginSecretTokenValueThatStaysInTheKeyring01";
    let sb = Sandbox::new();
    let home = sb.root.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let Some(keyring) = SecretService::start(&home) else {
        return;
    };
    let exchanges = std::sync::atomic::AtomicUsize::new(0);
    let stub = server(move |_| {
        let first = exchanges.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        match first {
            true => (
                201,
                exchanged("ut_first", "demo").replace(LOGIN_SECRET, FIRST_SECRET),
            ),
            false => (201, exchanged("ut_login", "demo")),
        }
    });
    let home = home.display().to_string();
    let env = [
        ("EDGEAUTH_SERVER", stub.url.as_str()),
        ("EDGEAUTH_CREDENTIAL_STORE", "keyring"),
        ("DBUS_SESSION_BUS_ADDRESS", keyring.address.as_str()),
        ("HOME", home.as_str()),
    ];
    let log_in = || {
        let login = Login::start(&sb, &env, &["login", "--no-browser"]);
        let state = login.param("state");
        login.browser_returns(&format!("code={CODE}&state={state}"));
        login.finish()
    };
    let (status, _, stderr) = log_in();
    assert_eq!(status, 0, "{stderr}");
    assert!(stderr.contains("kept in the OS keyring"), "{stderr}");
    let before = std::fs::read_to_string(sb.config_dir().join("credentials.json")).unwrap();

    let Some(frozen) = Frozen::dir(&sb.config_dir()) else {
        return;
    };
    let (status, _, stderr) = log_in();
    drop(frozen);
    assert_ne!(status, 0, "{stderr}");
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(sb.config_dir().join("credentials.json")).unwrap(),
        before
    );
    // The file still describes the first login, and the keyring still holds its token.
    assert_eq!(
        stored(&sb).unwrap()["servers"][stub.url.as_str()]["token_id"],
        "ut_first"
    );
    let out = sb.run(&sb.work(), &env, &["auth", "token"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{FIRST_SECRET}\n"));
}
