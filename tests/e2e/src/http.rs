//! A raw HTTP/1.1 client for the instances under test.
//!
//! Written on a `TcpStream` rather than taken from an HTTP crate so that a test can send what
//! a hostile or sloppy client would: non-ASCII header bytes, a `Host` naming another machine,
//! a chunked body with no length, a WebSocket upgrade. One request per connection.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::require_env;

const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// One `wrangler dev` instance started by `scripts/test`.
#[derive(Debug, Clone)]
pub struct Instance {
    name: &'static str,
    base_url: String,
    authority: String,
}

impl Instance {
    /// `SUPER_TOKEN`, `SECRET`, `DEFAULT_PROJECT=default`, `PUBLIC_READS=true`.
    pub fn main() -> Instance {
        Instance::from_env("MAIN")
    }

    /// `SUPER_TOKEN_HASH` (hex SHA-256 of the super token) and a `SECRET` unlike MAIN's.
    pub fn hashed() -> Instance {
        Instance::from_env("HASHED")
    }

    /// `AUTH_DISABLED=true`.
    pub fn noauth() -> Instance {
        Instance::from_env("NOAUTH")
    }

    /// `SUPER_TOKEN` but no `SECRET`.
    pub fn nosecret() -> Instance {
        Instance::from_env("NOSECRET")
    }

    /// `SUPER_TOKEN_HASH=not-hex`, `SECRET=short`, an `OIDC_ISSUER` that is a discovery URL.
    pub fn badconfig() -> Instance {
        Instance::from_env("BADCONFIG")
    }

    /// Like MAIN with `PUBLIC_READS=false`.
    pub fn private() -> Instance {
        Instance::from_env("PRIVATE")
    }

    /// `SUPER_TOKEN`, `SECRET` and the local identity provider, but no `ALLOWED_TEAMS`: anyone
    /// with a verified email may sign in. (MAIN and PRIVATE allow only `edgeauth-team`.)
    pub fn open() -> Instance {
        Instance::from_env("OPEN")
    }

    /// The local identity provider (`EDGEAUTH_E2E_IDP`), not a Worker: it has no persisted
    /// state, and its answers are the provider's own.
    pub fn idp() -> Instance {
        Instance::from_env("IDP")
    }

    /// The fault-injection build (`scripts/build-worker --fault-injection`): its D1 and KV
    /// fail on command (`/__faults`), and its identity provider is its own
    /// ([`Instance::identity_provider`]), so that the faults its tests cause reach no other test.
    pub fn faults() -> Instance {
        Instance::from_env("FAULTS")
    }

    /// The identity provider this instance signs people in with: FAULTS' own
    /// (`EDGEAUTH_E2E_FAULTS_IDP`), or the shared one ([`Instance::idp`]).
    pub fn identity_provider(&self) -> Instance {
        match self.name {
            "FAULTS" => Instance::from_env("FAULTS_IDP"),
            _ => Instance::idp(),
        }
    }

    /// The test origin behind MAIN's gateway routes (`tests/origin/server.mjs`), not a Worker:
    /// it verifies each assertion against MAIN's JWKS and echoes what it saw.
    pub fn origin() -> Instance {
        Instance::from_env("ORIGIN")
    }

    /// The CI platform's OIDC issuer (`tests/ci-issuer/server.mjs`), not a Worker: it signs
    /// GitHub-shaped ID tokens on request (`POST /__token`) for the trust-policy tests.
    pub fn ci_issuer() -> Instance {
        Instance::from_env("CI_ISSUER")
    }

    /// The instance whose base URL is in `EDGEAUTH_E2E_<name>`.
    pub fn from_env(name: &'static str) -> Instance {
        let var = format!("EDGEAUTH_E2E_{name}");
        let base_url = require_env(&var).trim_end_matches('/').to_owned();
        let authority = base_url
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("{var}={base_url} must be an http:// base URL"))
            .to_owned();
        assert!(
            !authority.contains('/') && authority.contains(':'),
            "{var}={base_url} must look like http://127.0.0.1:PORT"
        );
        Instance {
            name,
            base_url,
            authority,
        }
    }

    /// The instance's name in the fleet (`MAIN`, `HASHED`, …).
    pub fn name(&self) -> &str {
        self.name
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Runs `work` while sampling the instance's workerd memory every 50 ms; returns what
    /// `work` returned, the memory before, and the peak seen (bytes).
    pub fn workerd_peak_during<T>(&self, work: impl FnOnce() -> T) -> (T, u64, u64) {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        let before = self.workerd_rss_bytes();
        let peak = Arc::new(AtomicU64::new(before));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, done, instance) = (peak.clone(), done.clone(), self.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    peak.fetch_max(instance.workerd_rss_bytes(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        let result = work();
        done.store(true, Ordering::Relaxed);
        sampler.join().expect("the memory sampler");
        (result, before, peak.load(Ordering::Relaxed))
    }

    /// The resident memory of the instance's workerd processes (those below its `wrangler
    /// dev`), in bytes, from `/proc`.
    pub fn workerd_rss_bytes(&self) -> u64 {
        let var = format!("EDGEAUTH_E2E_{}_PID", self.name);
        let root: u32 = crate::require_env(&var)
            .parse()
            .unwrap_or_else(|e| panic!("{var}: {e}"));
        let mut stack = vec![root];
        let mut total = 0;
        while let Some(pid) = stack.pop() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "workerd" {
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                total += status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                    .unwrap_or(0)
                    * 1024;
            }
            let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
                .into_iter()
                .flatten();
            for task in tasks.flatten() {
                let children =
                    std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
                stack.extend(
                    children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
        }
        assert!(total > 0, "no workerd process found below {var}={root}");
        total
    }

    /// The instance's `--persist-to` directory (local D1 under `v3/d1/`, KV under `v3/kv/`).
    pub fn persist_dir(&self) -> PathBuf {
        let var = format!("EDGEAUTH_E2E_{}_PERSIST", self.name);
        match std::env::var(&var) {
            Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => {
                let fallback = crate::state_dir()
                    .join(self.name.to_ascii_lowercase())
                    .join("persist");
                assert!(
                    fallback.is_dir(),
                    "{var} is not set and {} does not exist: run scripts/test",
                    fallback.display()
                );
                fallback
            }
        }
    }

    pub fn get(&self, target: &str) -> Request<'_> {
        self.request("GET", target)
    }

    pub fn post(&self, target: &str) -> Request<'_> {
        self.request("POST", target)
    }

    pub fn delete(&self, target: &str) -> Request<'_> {
        self.request("DELETE", target)
    }

    /// A request with any method; `target` is the path and query (`/api/x?project=a`).
    pub fn request(&self, method: &str, target: &str) -> Request<'_> {
        assert!(
            target.starts_with('/'),
            "target {target:?} must start with /"
        );
        Request {
            instance: self,
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            cookies: Vec::new(),
            body: None,
            chunked: false,
        }
    }
}

/// A request being built; [`Request::send`] sends it.
pub struct Request<'a> {
    instance: &'a Instance,
    method: String,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    /// Sent together in one `Cookie` header, as a browser does (RFC 6265 §5.4).
    cookies: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    chunked: bool,
}

/// The cookie names whose values are edgeauth's secrets (sign-in state, sessions): a response
/// must never echo them.
const SECRET_COOKIE_PREFIX: &str = "edgeauth_";

impl Request<'_> {
    /// Adds a header with arbitrary bytes as its value.
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// `X-Project: <project>`.
    pub fn project(self, project: &str) -> Self {
        self.header("X-Project", project)
    }

    /// Adds `name=value` to the request's `Cookie` header.
    pub fn cookie(mut self, name: &str, value: &str) -> Self {
        self.cookies.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `Origin: <origin>`.
    pub fn origin(self, origin: &str) -> Self {
        self.header("Origin", origin)
    }

    /// `Accept: text/html,…`, as a browser navigating to a page sends.
    pub fn accept_html(self) -> Self {
        self.header(
            "Accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
    }

    /// An `application/x-www-form-urlencoded` body, as an HTML form posts it.
    pub fn form(self, fields: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.body(Some("application/x-www-form-urlencoded"), body)
    }

    /// A WebSocket upgrade carrying the token as `Sec-WebSocket-Protocol: <others>, bearer.<b64url>`.
    pub fn websocket_bearer(self, other_protocols: &str, token: &str) -> Self {
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token);
        let protocols = if other_protocols.is_empty() {
            format!("bearer.{encoded}")
        } else {
            format!("{other_protocols}, bearer.{encoded}")
        };
        self.websocket_upgrade()
            .header("Sec-WebSocket-Protocol", protocols)
    }

    /// The headers a browser sends to open a WebSocket.
    pub fn websocket_upgrade(self) -> Self {
        self.header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json(self, body: &Value) -> Self {
        self.body(Some("application/json"), body.to_string())
    }

    /// A body with the given content type (none when `None`).
    pub fn body(mut self, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Self {
        if let Some(content_type) = content_type {
            self = self.header("Content-Type", content_type);
        }
        self.body = Some(body.into());
        self
    }

    /// Sends the body with `Transfer-Encoding: chunked` instead of a `Content-Length`.
    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }

    /// Sends the request and reads the whole response.
    ///
    /// Fails the test if the response (body or headers) contains the super token or a
    /// credential this request presented: no response may ever echo a secret.
    ///
    /// A 503 `storage_unavailable` is sent again (twice at most, after the pause its
    /// `Retry-After` would ask, shortened), as a client does, except on FAULTS and while a test
    /// holds a write lock (`store::hold_write_lock`), where D1 fails on purpose. Elsewhere it
    /// is the local harness's own artifact: several workerd processes of the fleet write one
    /// SQLite file (REPLICA and LAGGING share MAIN's; waitUntil writes land at any moment), and
    /// one meets the other's lock (SQLITE_BUSY) where D1 would have queued the write. A batch
    /// is one transaction, so a failed one committed nothing; a handler that writes in steps
    /// (KV, then D1) may have done its first, which is what a client's retry meets too. This
    /// hides a 503 that comes and goes on those instances: the faults tests (on FAULTS) are
    /// where storage failures are tested.
    pub fn send(self) -> Response {
        let mut response = self.send_once();
        for _ in 0..2 {
            let busy = response.status == 503
                && contains(&response.body, b"storage_unavailable")
                && self.instance.name != "FAULTS"
                && !crate::store::WRITES_HELD.load(std::sync::atomic::Ordering::SeqCst);
            if !busy {
                break;
            }
            eprintln!(
                "{} {}{} on {}: 503 storage_unavailable (the local SQLite was busy); sending again",
                self.method, self.instance.base_url, self.target, self.instance.name
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
            response = self.send_once();
        }
        response
    }

    fn send_once(&self) -> Response {
        let summary = format!(
            "{} {}{} on {}",
            self.method, self.instance.base_url, self.target, self.instance.name
        );
        let mut stream = TcpStream::connect(&self.instance.authority).unwrap_or_else(|e| {
            panic!(
                "{summary}: cannot connect ({e}); is the {} instance from scripts/test running?",
                self.instance.name
            )
        });
        stream.set_read_timeout(Some(IO_TIMEOUT)).ok();
        stream.set_write_timeout(Some(IO_TIMEOUT)).ok();

        let request = self.encode();
        stream
            .write_all(&request)
            .unwrap_or_else(|e| panic!("{summary}: writing the request failed: {e}"));
        let response = read_response(stream, self.method == "HEAD", summary);
        for secret in self.presented_secrets() {
            response.assert_does_not_contain(&secret, "a credential the request presented");
        }
        if let Ok(super_token) = std::env::var("EDGEAUTH_E2E_SUPER_TOKEN") {
            if !super_token.is_empty() {
                response.assert_does_not_contain(super_token.as_bytes(), "the super token");
            }
        }
        response
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(format!("{} {} HTTP/1.1\r\n", self.method, self.target).as_bytes());
        if !self.has_header("Host") {
            out.extend_from_slice(format!("Host: {}\r\n", self.instance.authority).as_bytes());
        }
        if !self.has_header("Connection") {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        if !self.cookies.is_empty() {
            let pairs: Vec<String> = self
                .cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            out.extend_from_slice(format!("Cookie: {}\r\n", pairs.join("; ")).as_bytes());
        }
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        match (&self.body, self.chunked) {
            (Some(body), false) => {
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                out.extend_from_slice(body);
            }
            (Some(body), true) => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for chunk in body.chunks(1000) {
                    out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            (None, _) => {
                if matches!(self.method.as_str(), "POST" | "PUT" | "PATCH") {
                    out.extend_from_slice(b"Content-Length: 0\r\n");
                }
                out.extend_from_slice(b"\r\n");
            }
        }
        out
    }

    /// Credentials this request carries that are long enough to be secrets.
    fn presented_secrets(&self) -> Vec<Vec<u8>> {
        let mut secrets: Vec<Vec<u8>> = self
            .cookies
            .iter()
            .filter(|(name, value)| name.starts_with(SECRET_COOKIE_PREFIX) && value.len() >= 16)
            .map(|(_, value)| value.as_bytes().to_vec())
            .collect();
        for (name, value) in &self.headers {
            if name.eq_ignore_ascii_case("Authorization") {
                let credential = match value.iter().position(|&b| b == b' ') {
                    Some(space) => &value[space + 1..],
                    None => &value[..],
                };
                let credential = credential.trim_ascii();
                if credential.len() >= 16 {
                    secrets.push(credential.to_vec());
                }
            }
            if name.eq_ignore_ascii_case("Sec-WebSocket-Protocol") {
                for protocol in String::from_utf8_lossy(value).split(',') {
                    if let Some(encoded) = protocol.trim().strip_prefix("bearer.") {
                        if encoded.len() >= 16 {
                            secrets.push(encoded.as_bytes().to_vec());
                        }
                        if let Ok(token) =
                            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded)
                        {
                            if token.len() >= 16 {
                                secrets.push(token);
                            }
                        }
                    }
                }
            }
        }
        secrets
    }
}

/// A response read in full.
pub struct Response {
    pub status: u16,
    /// Header names as sent; look them up with [`Response::header`].
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    summary: String,
}

impl Response {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, by case-insensitive name, in the order sent.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every `Set-Cookie` of the response, parsed.
    pub fn set_cookies(&self) -> Vec<SetCookie> {
        self.headers_named("Set-Cookie")
            .into_iter()
            .map(SetCookie::parse)
            .collect()
    }

    /// The `Set-Cookie` for cookie `name`; fails the test if there is none, or several.
    pub fn expect_set_cookie(&self, name: &str) -> SetCookie {
        let mut found: Vec<SetCookie> = self
            .set_cookies()
            .into_iter()
            .filter(|c| c.name == name)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected exactly one Set-Cookie for {name}:\n{self}"
        );
        found.remove(0)
    }

    /// The `Location` header; fails the test without one.
    pub fn location(&self) -> &str {
        self.header("Location")
            .unwrap_or_else(|| panic!("a redirect without Location:\n{self}"))
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; fails the test if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}):\n{self}"))
    }

    /// Fails the test unless the status is `status`.
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status:\n{self}");
        self
    }

    /// Fails the test unless the status is `status` and the body is JSON; returns the body.
    pub fn expect_json(&self, status: u16) -> Value {
        self.expect_status(status);
        self.assert_json_content_type();
        self.json()
    }

    /// Fails the test unless this is the documented error: `status`, and a JSON body that is
    /// exactly `{"error": code, "message": <non-empty text>}`. Returns the message.
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        self.expect_status(status);
        self.assert_error_body(code)
    }

    /// The error-body part of [`Response::expect_error`], for when several statuses are
    /// acceptable. Returns the message.
    pub fn assert_error_body(&self, code: &str) -> String {
        self.assert_json_content_type();
        let body = self.json();
        let object = body
            .as_object()
            .unwrap_or_else(|| panic!("error body is not an object:\n{self}"));
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["error", "message"],
            "error bodies are exactly {{\"error\", \"message\"}}:\n{self}"
        );
        assert_eq!(body["error"], code, "wrong error code:\n{self}");
        let message = body["message"]
            .as_str()
            .unwrap_or_else(|| panic!("message is not a string:\n{self}"));
        assert!(
            !message.trim().is_empty(),
            "message must say what to fix:\n{self}"
        );
        message.to_owned()
    }

    /// Fails the test unless this is the documented error of a browser endpoint asked for HTML
    /// (`Accept: text/html`): `status`, an HTML page (not JSON) that shows the error `code`.
    pub fn expect_html_error(&self, status: u16, code: &str) {
        self.expect_status(status);
        let content_type = self.header("Content-Type").unwrap_or("");
        assert!(
            content_type.starts_with("text/html"),
            "a browser asking for HTML gets an HTML error page:\n{self}"
        );
        let text = self.text();
        assert!(
            text.contains(code),
            "the error page shows the error code {code}:\n{self}"
        );
        assert!(
            serde_json::from_slice::<Value>(&self.body).is_err(),
            "an HTML error page, not a JSON body:\n{self}"
        );
    }

    /// Fails the test unless the response is the contract's 401 for a presented credential
    /// that is not valid: `unauthorized`, and a `WWW-Authenticate` challenge with
    /// `error="invalid_token"`. Returns the message.
    pub fn expect_invalid_token(&self) -> String {
        let message = self.expect_error(401, "unauthorized");
        let challenge = self
            .header("WWW-Authenticate")
            .unwrap_or_else(|| panic!("401 without WWW-Authenticate:\n{self}"));
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains("realm=\"edgeauth\""),
            "challenge must be a Bearer challenge with realm=\"edgeauth\":\n{self}"
        );
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "a presented but invalid credential carries error=\"invalid_token\":\n{self}"
        );
        message
    }

    /// Fails the test if the status is a server error other than those allowed.
    pub fn assert_not_5xx(&self) -> &Self {
        assert!(
            self.status < 500,
            "a client mistake must never cause a server error:\n{self}"
        );
        self
    }

    fn assert_json_content_type(&self) {
        let content_type = self.header("Content-Type").unwrap_or("");
        assert!(
            content_type.starts_with("application/json"),
            "expected Content-Type application/json:\n{self}"
        );
    }

    fn assert_does_not_contain(&self, secret: &[u8], what: &str) {
        let in_body = contains(&self.body, secret);
        let in_headers = self
            .headers
            .iter()
            .any(|(_, v)| contains(v.as_bytes(), secret));
        assert!(
            !in_body && !in_headers,
            "the response echoes {what} ({} bytes) in its {}:\n{self}",
            secret.len(),
            if in_body { "body" } else { "headers" }
        );
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} -> {}", self.summary, self.status)?;
        for (name, value) in &self.headers {
            writeln!(f, "  {name}: {value}")?;
        }
        let text = self.text();
        let shown: String = text.chars().take(2000).collect();
        write!(f, "  {shown}")?;
        if shown.len() < text.len() {
            write!(f, "… ({} bytes)", self.body.len())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One `Set-Cookie` header: the cookie, and its attributes (names lower-cased).
#[derive(Debug, Clone)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    /// `(lower-cased name, value)`; flags like `HttpOnly` have an empty value.
    pub attributes: Vec<(String, String)>,
    /// The header as sent.
    pub raw: String,
}

impl SetCookie {
    pub fn parse(header: &str) -> SetCookie {
        let mut parts = header.split(';');
        let pair = parts.next().unwrap_or("");
        let (name, value) = pair
            .split_once('=')
            .unwrap_or_else(|| panic!("a Set-Cookie without name=value: {header:?}"));
        let attributes = parts
            .map(|part| {
                let (k, v) = part.split_once('=').unwrap_or((part, ""));
                (k.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        SetCookie {
            name: name.trim().to_owned(),
            value: value.trim().trim_matches('"').to_owned(),
            attributes,
            raw: header.to_owned(),
        }
    }

    /// The value of attribute `name` (case-insensitive); `Some("")` for a flag.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.attributes
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has_flag(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// Whether this header removes the cookie: `Max-Age` ≤ 0, or an `Expires` in the past
    /// (the Unix epoch is what servers usually write).
    pub fn clears(&self) -> bool {
        let max_age_gone = self
            .attribute("max-age")
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|age| age <= 0);
        let expired = self.attribute("expires").is_some_and(|v| {
            time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822)
                .map(|at| at < time::OffsetDateTime::now_utc())
                .unwrap_or(v.contains("1970"))
        });
        max_age_gone || expired
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn read_response(stream: TcpStream, is_head: bool, summary: String) -> Response {
    let mut reader = BufReader::new(stream);
    loop {
        let status_line = read_line(&mut reader, &summary);
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{summary}: bad status line {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let line = read_line(&mut reader, &summary);
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("{summary}: bad header line {line:?}"));
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        if (100..200).contains(&status) && status != 101 {
            continue; // an interim response; the real one follows
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _): &&(String, String)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let body = if is_head || status == 204 || status == 304 || status == 101 {
            Vec::new()
        } else if header("Transfer-Encoding").is_some_and(|v| v.contains("chunked")) {
            read_chunked(&mut reader, &summary)
        } else if let Some(length) = header("Content-Length") {
            let length: usize = length
                .parse()
                .unwrap_or_else(|_| panic!("{summary}: bad Content-Length {length:?}"));
            let mut body = vec![0; length];
            reader
                .read_exact(&mut body)
                .unwrap_or_else(|e| panic!("{summary}: short body: {e}"));
            body
        } else {
            let mut body = Vec::new();
            reader
                .read_to_end(&mut body)
                .unwrap_or_else(|e| panic!("{summary}: reading the body failed: {e}"));
            body
        };
        return Response {
            status,
            headers,
            body,
            summary,
        };
    }
}

fn read_line(reader: &mut impl BufRead, summary: &str) -> String {
    let mut line = Vec::new();
    reader
        .read_until(b'\n', &mut line)
        .unwrap_or_else(|e| panic!("{summary}: reading the response failed: {e}"));
    assert!(
        !line.is_empty(),
        "{summary}: the server closed the connection without a complete response"
    );
    String::from_utf8_lossy(&line)
        .trim_end_matches(['\r', '\n'])
        .to_owned()
}

fn read_chunked(reader: &mut impl BufRead, summary: &str) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let size_line = read_line(reader, summary);
        let size_hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .unwrap_or_else(|_| panic!("{summary}: bad chunk size {size_line:?}"));
        if size == 0 {
            // Trailers, if any, end with an empty line.
            while !read_line(reader, summary).is_empty() {}
            return body;
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .unwrap_or_else(|e| panic!("{summary}: short chunk: {e}"));
        read_line(reader, summary); // the CRLF after the chunk
    }
}
