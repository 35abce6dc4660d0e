//! `edgeauth login --device` and the life of a device login (refresh, 401 retry, the lock,
//! logout), driven as a user would: the binary runs against a fake server that follows the
//! device-flow contract (RFC 8628 polling, rotating refresh tokens whose reuse revokes the
//! whole login, RFC 7009 revocation). The fake's interval is 1 s; the CLI follows the server's.

mod common;

use common::{code, text, Sandbox, Seen, Stub};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEVICE_CODE: &str = "dc_DeviceCodeThatMustNeverBePrinted0123456789";
const USER_CODE: &str = "BCDF-GHJK";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn access(n: usize) -> String {
    format!("eaa_AccessTokenNumber{n}.SecretPayload.Signature")
}

fn refresh(n: usize) -> String {
    format!("ear_RefreshTokenNumber{n}MustNeverBePrintedAnywhere")
}

/// The fake server's state.
struct Fake {
    /// Answers to the device-code polls, in order; `ok` issues tokens. Past the end: pending.
    script: Vec<&'static str>,
    device_capability: bool,
    interval: u64,
    expires_in: i64,
    /// When each device-code poll arrived.
    poll_times: Vec<Instant>,
    code_issued: Option<Instant>,
    /// Tokens issued so far (pair n is access(n) + refresh(n)).
    issued: usize,
    live_refresh: Option<String>,
    spent_refresh: HashSet<String>,
    valid_access: HashSet<String>,
    /// How long a refresh takes (to widen the window for the concurrency test).
    refresh_delay: Duration,
    family_revoked: bool,
    revoke_status: u16,
    /// false: every access token is refused (401), even a new one.
    accept_access: bool,
}

impl Fake {
    fn new(script: Vec<&'static str>) -> Fake {
        Fake {
            script,
            device_capability: true,
            interval: 1,
            expires_in: 900,
            poll_times: vec![],
            code_issued: None,
            issued: 0,
            live_refresh: None,
            spent_refresh: HashSet::new(),
            valid_access: HashSet::new(),
            refresh_delay: Duration::ZERO,
            family_revoked: false,
            revoke_status: 200,
            accept_access: true,
        }
    }

    /// A login that already exists on the server: pair `n` is live.
    fn with_live_pair(mut self, n: usize) -> Fake {
        self.issued = n;
        self.live_refresh = Some(refresh(n));
        self.valid_access.insert(access(n));
        self
    }

    fn issue(&mut self) -> String {
        self.issued += 1;
        let n = self.issued;
        self.live_refresh = Some(refresh(n));
        self.valid_access.insert(access(n));
        format!(
            r#"{{"access_token":"{}","token_type":"Bearer","expires_in":{},"refresh_token":"{}","scope":"*"}}"#,
            access(n),
            self.expires_in,
            refresh(n)
        )
    }
}

fn oauth_error(error: &str) -> (u16, String) {
    (
        400,
        format!(r#"{{"error":"{error}","error_description":"the server says {error}"}}"#),
    )
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect()
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
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn serve(fake: Fake) -> (Stub, Arc<Mutex<Fake>>) {
    let state = Arc::new(Mutex::new(fake));
    let shared = state.clone();
    let stub = Stub::start(move |r: &Seen| {
        let bearer = r
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::to_owned);
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/api/auth/capabilities") => {
                let device = shared.lock().unwrap().device_capability;
                (
                    200,
                    format!(
                        r#"{{"signed_in":false,"auth_disabled":false,"login_methods":{{"oidc":true,"cli_loopback":true,"device":{device}}}}}"#
                    ),
                )
            }
            ("POST", "/api/auth/device/code") => {
                let mut s = shared.lock().unwrap();
                s.code_issued = Some(Instant::now());
                (
                    200,
                    format!(
                        r#"{{"device_code":"{DEVICE_CODE}","user_code":"{USER_CODE}","verification_uri":"http://verify.test/device","verification_uri_complete":"http://verify.test/device?user_code={USER_CODE}","expires_in":900,"interval":{}}}"#,
                        s.interval
                    ),
                )
            }
            ("POST", "/api/auth/token") => {
                let f = form(&r.body);
                match f.get("grant_type").map(String::as_str) {
                    Some(DEVICE_GRANT) => {
                        let mut s = shared.lock().unwrap();
                        if f.get("device_code").map(String::as_str) != Some(DEVICE_CODE) {
                            return oauth_error("invalid_grant");
                        }
                        s.poll_times.push(Instant::now());
                        let i = s.poll_times.len() - 1;
                        match s.script.get(i).copied().unwrap_or("authorization_pending") {
                            "ok" => (200, s.issue()),
                            error => oauth_error(error),
                        }
                    }
                    Some("refresh_token") => {
                        let delay = shared.lock().unwrap().refresh_delay;
                        std::thread::sleep(delay);
                        let mut s = shared.lock().unwrap();
                        let presented = f.get("refresh_token").cloned().unwrap_or_default();
                        if s.family_revoked {
                            oauth_error("invalid_grant")
                        } else if s.live_refresh.as_deref() == Some(presented.as_str()) {
                            s.spent_refresh.insert(presented);
                            (200, s.issue())
                        } else if s.spent_refresh.contains(&presented) {
                            // Reuse: the whole login is revoked.
                            s.family_revoked = true;
                            s.live_refresh = None;
                            s.valid_access.clear();
                            oauth_error("invalid_grant")
                        } else {
                            oauth_error("invalid_grant")
                        }
                    }
                    _ => oauth_error("unsupported_grant_type"),
                }
            }
            ("POST", "/api/auth/revoke") => {
                let mut s = shared.lock().unwrap();
                let f = form(&r.body);
                if s.live_refresh.is_some() && f.get("token") == s.live_refresh.as_ref() {
                    s.family_revoked = true;
                    s.live_refresh = None;
                    s.valid_access.clear();
                }
                (s.revoke_status, "{}".into())
            }
            ("GET", path) => {
                let s = shared.lock().unwrap();
                if !s.accept_access || !bearer.is_some_and(|b| s.valid_access.contains(&b)) {
                    return (
                        401,
                        r#"{"error":"unauthorized","message":"the access token is expired or invalid"}"#
                            .into(),
                    );
                }
                match path {
                    "/api/users/me" => (
                        200,
                        r#"{"id":"usr_1","email":"demo@example.test","name":"Demo User","project":"demo","authenticated_by":"access_token"}"#.into(),
                    ),
                    "/api/auth/whoami" => (
                        200,
                        r#"{"kind":"access","name":"demo@example.test","project":"demo","workspaces":["*"],"token_id":null,"expires_at":"2030-01-01T00:00:00Z","auth_disabled":false}"#.into(),
                    ),
                    "/api/tokens" => (200, r#"{"tokens":[]}"#.into()),
                    _ => (404, r#"{"error":"not_found","message":"no such route"}"#.into()),
                }
            }
            _ => (
                404,
                r#"{"error":"not_found","message":"no such route"}"#.into(),
            ),
        }
    });
    (stub, state)
}

fn stored(sb: &Sandbox) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(sb.config_dir().join("credentials.json")).ok()?;
    Some(serde_json::from_str(&text).unwrap())
}

fn rfc3339_in(secs: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    edgeauth_core::time::rfc3339((now + secs) * 1000)
}

/// A stored device login for `server` with pair `n`, its access token expiring in `secs`.
fn write_device_login(sb: &Sandbox, server: &str, n: usize, secs: i64) {
    std::fs::create_dir_all(sb.config_dir()).unwrap();
    std::fs::write(
        sb.config_dir().join("credentials.json"),
        serde_json::json!({"version": 1, "servers": {server: {
            "token": access(n), "kind": "access", "refresh_token": refresh(n),
            "expires_at": rfc3339_in(secs), "project": "demo",
            "user": {"id": "usr_1", "email": "demo@example.test", "name": "Demo User"},
            "created_at": "2026-11-24T10:00:00Z"}}})
        .to_string(),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let private = |p: std::path::PathBuf, mode| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        private(sb.config_dir(), 0o700);
        private(sb.config_dir().join("credentials.json"), 0o600);
    }
}

fn refresh_grants(stub: &Stub) -> Vec<String> {
    stub.requests()
        .into_iter()
        .filter(|r| r.path == "/api/auth/token")
        .filter_map(|r| {
            let f = form(&r.body);
            (f.get("grant_type").map(String::as_str) == Some("refresh_token"))
                .then(|| f["refresh_token"].clone())
        })
        .collect()
}

fn assert_no_secret(shown: &str) {
    for secret in ["eaa_", "ear_", DEVICE_CODE] {
        assert!(!shown.contains(secret), "a secret leaked: {shown}");
    }
}

/// Over SSH, `edgeauth login` (no browser named, no `--no-browser`) signs in with a device code:
/// a browser opened here could never bring the person back to this machine's 127.0.0.1.
#[test]
fn login_over_ssh_signs_in_with_a_device_code() {
    let (stub, _state) = serve(Fake::new(vec!["ok"]));
    let sb = Sandbox::new();
    let out = sb.run(
        &sb.work(),
        &[
            ("EDGEAUTH_SERVER", stub.url.as_str()),
            ("SSH_CONNECTION", "203.0.113.9 51022 10.0.0.2 22"),
            ("DISPLAY", ":0"),
        ],
        &["login"],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(code(&out), 0, "{stderr}");
    assert!(
        stderr.starts_with(
            "No browser can open here (this is an SSH session): signing in with a device code instead"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("`edgeauth login --no-browser` keeps the browser login"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "To sign in, open http://verify.test/device and enter the code {USER_CODE}\n"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("could not open a browser"),
        "nothing is opened: {stderr}"
    );
    assert!(stdout.contains("(device login, project"), "{stdout}");
    assert_eq!(
        stored(&sb).unwrap()["servers"][stub.url.as_str()]["kind"],
        "access"
    );
}

/// `login --device` where no browser can open (no display): the code and URL are the way; no
/// browser is tried, so no "A browser should open" and no failed-browser warning. (Only where
/// an empty environment means no display: Linux and the BSDs.)
#[cfg(all(unix, not(target_os = "macos")))]
#[test]
fn device_login_without_a_display_opens_nothing() {
    let (stub, _state) = serve(Fake::new(vec!["ok"]));
    let sb = Sandbox::new();
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["login", "--device"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 0, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "To sign in, open http://verify.test/device and enter the code {USER_CODE}\n"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("A browser should open") && !stderr.contains("warning:"),
        "no browser was tried: {stderr}"
    );
}

/// Without a display and without device login on the server, the browser login goes on: the
/// URL is printed, with a warning that says why nothing opened.
#[cfg(all(unix, not(target_os = "macos")))]
#[test]
fn login_without_a_display_or_device_login_prints_the_url() {
    let mut fake = Fake::new(vec![]);
    fake.device_capability = false;
    let (stub, _state) = serve(fake);
    let sb = Sandbox::new();
    let out = sb.run(
        &sb.work(),
        &[
            ("EDGEAUTH_SERVER", stub.url.as_str()),
            ("EDGEAUTH_LOGIN_TIMEOUT", "1"),
        ],
        &["login"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 9, "it waited for the browser: {stderr}");
    assert!(
        stderr.starts_with(&format!(
            "warning: no browser can open here (there is no display: DISPLAY and WAYLAND_DISPLAY are unset) and {} offers no device login",
            stub.url
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("Open this URL in your browser:"),
        "{stderr}"
    );
    assert!(!stderr.contains("could not open a browser"), "{stderr}");
}

#[test]
fn device_login_polls_at_the_servers_pace_and_stores_the_login() {
    let (stub, state) = serve(Fake::new(vec![
        "authorization_pending",
        "slow_down",
        "authorization_pending",
        "ok",
    ]));
    let sb = Sandbox::new();
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["login", "--device", "--no-browser", "--project", "demo"],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(code(&out), 0, "{stderr}");
    assert_eq!(
        stdout,
        format!(
            "Logged in to {} as demo@example.test (device login, project demo; stays signed in by refreshing)\n",
            stub.url
        )
    );
    assert!(
        stderr.starts_with(&format!(
            "To sign in, open http://verify.test/device and enter the code {USER_CODE}\n"
        )),
        "{stderr}"
    );
    let url_line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("  http"))
        .unwrap();
    assert_eq!(
        format!("http{url_line}"),
        format!("http://verify.test/device?user_code={USER_CODE}")
    );
    assert!(
        stderr.contains("Waiting for approval in the browser"),
        "{stderr}"
    );
    assert!(!stderr.contains('\x1b'), "no spinner off a terminal");
    assert_no_secret(&stdout);
    assert_no_secret(&stderr);

    // The pace: the interval (1 s) before each poll, 1 + 5 s after slow_down, never faster.
    let s = state.lock().unwrap();
    let mut times = vec![s.code_issued.unwrap()];
    times.extend(&s.poll_times);
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps.len(), 4, "{gaps:?}");
    for (gap, at_least) in gaps.iter().zip([1, 1, 6, 6]) {
        assert!(*gap >= Duration::from_secs(at_least), "{gaps:?}");
        assert!(*gap < Duration::from_secs(at_least + 3), "{gaps:?}");
    }
    drop(s);

    // The requests: device/code anonymous, with the project and the client name.
    let requests = stub.requests();
    let code_request = requests
        .iter()
        .find(|r| r.path == "/api/auth/device/code")
        .unwrap();
    assert_eq!(code_request.header("authorization"), None);
    assert_eq!(code_request.header("x-project"), Some("demo"));
    let body: serde_json::Value = serde_json::from_str(&code_request.body).unwrap();
    assert!(body["client_name"]
        .as_str()
        .unwrap()
        .starts_with("edgeauth CLI"));
    for poll in requests.iter().filter(|r| r.path == "/api/auth/token") {
        assert_eq!(poll.header("authorization"), None);
        assert_eq!(
            poll.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(form(&poll.body)["grant_type"], DEVICE_GRANT);
    }
    let me = requests.iter().find(|r| r.path == "/api/users/me").unwrap();
    assert_eq!(
        me.header("authorization"),
        Some(&*format!("Bearer {}", access(1)))
    );

    // Stored: kind access, both tokens, expiry ~ now + 900 s, the person and the project.
    let file = stored(&sb).unwrap();
    let entry = &file["servers"][stub.url.as_str()];
    assert_eq!(entry["kind"], "access");
    assert_eq!(entry["token"], access(1));
    assert_eq!(entry["refresh_token"], refresh(1));
    assert_eq!(entry["project"], "demo");
    assert_eq!(entry["user"]["email"], "demo@example.test");
    assert!(entry["created_at"].as_str().unwrap().ends_with('Z'));
    let expires = entry["expires_at"].as_str().unwrap();
    assert!(
        expires >= rfc3339_in(890).as_str() && expires <= rfc3339_in(901).as_str(),
        "{expires}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&sb.config_dir()), 0o700);
        assert_eq!(mode(&sb.config_dir().join("credentials.json")), 0o600);
        assert_eq!(mode(&sb.config_dir().join("credentials.json.lock")), 0o600);
    }

    // whoami names the device login and does not refresh a fresh token.
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["whoami"],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let credential = stdout.lines().last().unwrap();
    assert!(
        credential.contains("(device login, access token expires in 89")
            && credential.ends_with("s, refreshes automatically)"),
        "{stdout}"
    );
    assert!(refresh_grants(&stub).is_empty());
    assert_no_secret(&stdout);
}

#[cfg(unix)]
#[test]
fn device_login_opens_the_complete_url_and_a_denial_is_exit_10() {
    use std::os::unix::fs::PermissionsExt;
    let (stub, _) = serve(Fake::new(vec!["authorization_pending", "access_denied"]));
    let sb = Sandbox::new();
    let seen = sb.root.path().join("browser-got");
    let script = sb.root.path().join("browser");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", seen.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = sb.run(
        &sb.work(),
        &[
            ("EDGEAUTH_SERVER", stub.url.as_str()),
            ("EDGEAUTH_BROWSER", &script.display().to_string()),
        ],
        &["login", "--device"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 10, "{stderr}");
    assert!(
        stderr.contains("error: the login was denied in the browser; nothing was stored\nhint: "),
        "{stderr}"
    );
    assert!(
        stderr.starts_with("A browser should open to sign in to "),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        format!("http://verify.test/device?user_code={USER_CODE}")
    );
    assert!(text(&out.stdout).is_empty());
    assert!(stored(&sb).is_none());
}

#[test]
fn an_expired_code_is_exit_9() {
    let (stub, _) = serve(Fake::new(vec!["expired_token"]));
    let sb = Sandbox::new();
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["login", "--device", "--no-browser"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 9, "{stderr}");
    assert!(
        stderr.contains("error: the code expired before it was approved; nothing was stored"),
        "{stderr}"
    );
    assert!(stored(&sb).is_none());
}

#[test]
fn a_server_without_device_login_is_refused_at_once() {
    let mut fake = Fake::new(vec![]);
    fake.device_capability = false;
    let (stub, _) = serve(fake);
    let sb = Sandbox::new();
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["login", "--device", "--no-browser"],
    );
    assert_eq!(code(&out), 7);
    assert!(text(&out.stderr).contains("does not offer device login"));
    assert!(!stub
        .requests()
        .iter()
        .any(|r| r.path == "/api/auth/device/code"));
}

#[test]
fn an_expiring_access_token_is_refreshed_once_and_the_spent_refresh_token_never_sent_again() {
    let (stub, _) = serve(Fake::new(vec![]).with_live_pair(1));
    let sb = Sandbox::new();
    let env = [("EDGEAUTH_SERVER", stub.url.as_str())];
    write_device_login(&sb, &stub.url, 1, -30);

    let out = sb.run(&sb.work(), &env, &["token", "list"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(refresh_grants(&stub), [refresh(1)]);
    let list = stub
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/tokens")
        .unwrap();
    assert_eq!(
        list.header("authorization"),
        Some(&*format!("Bearer {}", access(2)))
    );
    let file = stored(&sb).unwrap();
    let entry = &file["servers"][stub.url.as_str()];
    assert_eq!(entry["token"], access(2));
    assert_eq!(entry["refresh_token"], refresh(2));
    assert_eq!(entry["user"]["email"], "demo@example.test", "kept");
    assert_eq!(text(&out.stderr), "no user tokens\n", "no warning, no note");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&sb.config_dir().join("credentials.json")), 0o600);
        assert_eq!(mode(&sb.config_dir().join("credentials.json.lock")), 0o600);
    }
    assert_no_secret(&text(&out.stdout));
    assert_no_secret(&text(&out.stderr));

    // Fresh now: no refresh.
    let out = sb.run(&sb.work(), &env, &["token", "list"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(refresh_grants(&stub).len(), 1);

    // Expiring within the minute: refreshed with the new refresh token, never the spent one.
    let mut file = stored(&sb).unwrap();
    file["servers"][stub.url.as_str()]["expires_at"] = rfc3339_in(45).into();
    std::fs::write(sb.config_dir().join("credentials.json"), file.to_string()).unwrap();
    let out = sb.run(&sb.work(), &env, &["whoami"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(refresh_grants(&stub), [refresh(1), refresh(2)]);
    assert_eq!(
        stored(&sb).unwrap()["servers"][stub.url.as_str()]["refresh_token"],
        refresh(3)
    );
}

#[test]
fn a_refused_refresh_forgets_the_login_and_exits_3() {
    let mut fake = Fake::new(vec![]).with_live_pair(1);
    fake.family_revoked = true;
    let (stub, _) = serve(fake);
    let sb = Sandbox::new();
    write_device_login(&sb, &stub.url, 1, -30);
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["token", "list"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 3, "{stderr}");
    assert!(
        stderr.contains("the device login for") && stderr.contains("it was forgotten"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: run `edgeauth login"), "{stderr}");
    assert_no_secret(&stderr);
    assert_eq!(stored(&sb).unwrap()["servers"], serde_json::json!({}));
    assert!(!stub.requests().iter().any(|r| r.path == "/api/tokens"));
}

#[test]
fn a_refresh_that_cannot_reach_the_server_keeps_the_login() {
    let sb = Sandbox::new();
    let url = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    write_device_login(&sb, &url, 1, -30);
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", url.as_str())],
        &["whoami"],
    );
    assert_eq!(code(&out), 6, "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("could not refresh the device login"));
    assert_eq!(
        stored(&sb).unwrap()["servers"][url.as_str()]["refresh_token"],
        refresh(1)
    );
}

#[test]
fn a_401_refreshes_once_and_repeats_the_request_once() {
    // The stored access token looks fresh, but the server no longer accepts it.
    let (stub, state) = serve(Fake::new(vec![]).with_live_pair(1));
    state.lock().unwrap().valid_access.clear();
    let sb = Sandbox::new();
    write_device_login(&sb, &stub.url, 1, 600);
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["token", "list"],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(refresh_grants(&stub), [refresh(1)]);
    let lists: Vec<_> = stub
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/tokens")
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(
        lists,
        [
            format!("Bearer {}", access(1)),
            format!("Bearer {}", access(2))
        ]
    );

    // A server that refuses even the new token: one refresh, one retry, then exit 3.
    state.lock().unwrap().accept_access = false;
    let before = stub.requests().len();
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["token", "list"],
    );
    assert_eq!(code(&out), 3, "{}", text(&out.stderr));
    let after: Vec<_> = stub.requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(after, ["/api/tokens", "/api/auth/token", "/api/tokens"]);
}

#[test]
fn concurrent_commands_sharing_one_store_present_the_refresh_token_once() {
    let mut fake = Fake::new(vec![]).with_live_pair(1);
    fake.refresh_delay = Duration::from_millis(400);
    let (stub, state) = serve(fake);
    let sb = Sandbox::new();
    write_device_login(&sb, &stub.url, 1, -30);
    let children: Vec<_> = (0..4)
        .map(|_| {
            sb.command(
                &sb.work(),
                &[("EDGEAUTH_SERVER", stub.url.as_str())],
                &["token", "list"],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for mut child in children {
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "{err}");
        assert_no_secret(&err);
    }
    assert_eq!(refresh_grants(&stub), [refresh(1)], "presented once");
    assert!(!state.lock().unwrap().family_revoked);
    assert_eq!(
        stored(&sb).unwrap()["servers"][stub.url.as_str()]["refresh_token"],
        refresh(2)
    );
}

#[test]
fn logout_revokes_the_device_login_with_its_refresh_token() {
    let (stub, state) = serve(Fake::new(vec![]).with_live_pair(1));
    let sb = Sandbox::new();
    write_device_login(&sb, &stub.url, 1, 600);
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["logout"],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("Logged out of {} (device login revoked)\n", stub.url)
    );
    let revoke = stub
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/auth/revoke")
        .unwrap();
    assert_eq!(revoke.method, "POST");
    assert_eq!(revoke.header("authorization"), None);
    assert_eq!(form(&revoke.body)["token"], refresh(1));
    assert!(state.lock().unwrap().family_revoked);
    assert_eq!(stored(&sb).unwrap()["servers"], serde_json::json!({}));
    assert!(refresh_grants(&stub).is_empty(), "logout does not refresh");
    assert_no_secret(&text(&out.stdout));
    assert_no_secret(&text(&out.stderr));
}

#[test]
fn logout_keeps_the_device_login_when_revocation_fails() {
    let mut fake = Fake::new(vec![]).with_live_pair(1);
    fake.revoke_status = 503;
    let (stub, _) = serve(fake);
    let sb = Sandbox::new();
    write_device_login(&sb, &stub.url, 1, 600);
    let out = sb.run(
        &sb.work(),
        &[("EDGEAUTH_SERVER", stub.url.as_str())],
        &["logout"],
    );
    assert_eq!(code(&out), 7, "{}", text(&out.stderr));
    assert_eq!(
        stored(&sb).unwrap()["servers"][stub.url.as_str()]["refresh_token"],
        refresh(1)
    );
}

#[test]
fn a_device_login_in_the_secret_service_refreshes_there() {
    let sb = Sandbox::new();
    let home = sb.root.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let Some(keyring) = common::SecretService::start(&home) else {
        return;
    };
    let (stub, _) = serve(Fake::new(vec!["ok"]));
    let home = home.display().to_string();
    let env = [
        ("EDGEAUTH_SERVER", stub.url.as_str()),
        ("EDGEAUTH_CREDENTIAL_STORE", "keyring"),
        ("DBUS_SESSION_BUS_ADDRESS", keyring.address.as_str()),
        ("HOME", home.as_str()),
    ];
    let out = sb.run(&sb.work(), &env, &["login", "--device", "--no-browser"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("The token is kept in the OS keyring"),
        "{}",
        text(&out.stderr)
    );
    let file = std::fs::read_to_string(sb.config_dir().join("credentials.json")).unwrap();
    assert!(
        !file.contains(&access(1)) && !file.contains(&refresh(1)),
        "{file}"
    );
    assert_eq!(
        stored(&sb).unwrap()["servers"][stub.url.as_str()]["storage"],
        "keyring"
    );

    // Expired: the refresh token comes from the keyring, its successors go back there.
    let mut stored_file = stored(&sb).unwrap();
    stored_file["servers"][stub.url.as_str()]["expires_at"] = rfc3339_in(-30).into();
    std::fs::write(
        sb.config_dir().join("credentials.json"),
        stored_file.to_string(),
    )
    .unwrap();
    let out = sb.run(&sb.work(), &env, &["auth", "token"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{}\n", access(2)));
    assert_eq!(refresh_grants(&stub), [refresh(1)]);
    let file = std::fs::read_to_string(sb.config_dir().join("credentials.json")).unwrap();
    assert!(!file.contains("eaa_") && !file.contains("ear_"), "{file}");
    // The next refresh presents the successor, read from the keyring.
    let mut stored_file = stored(&sb).unwrap();
    stored_file["servers"][stub.url.as_str()]["expires_at"] = rfc3339_in(-30).into();
    std::fs::write(
        sb.config_dir().join("credentials.json"),
        stored_file.to_string(),
    )
    .unwrap();
    let out = sb.run(&sb.work(), &env, &["auth", "token"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{}\n", access(3)));
    assert_eq!(refresh_grants(&stub), [refresh(1), refresh(2)]);
}
