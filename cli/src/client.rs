//! HTTP to the edgeauth server, and the mapping of every failure to a [`CliError`].
//!
//! Every request carries `Accept: application/json`, `User-Agent: edgeauth-cli/<version>`,
//! `Authorization: Bearer <token>` when a token was resolved and `X-Project: <name>` when a
//! project was. Each request has a 30 s overall timeout. Redirects are not followed (an API
//! that redirects is a wrong server URL, and following would hand the token to another URL).
//!
//! Status mapping: 2xx → success; 401 → exit 3; 403 → 4; 404 → 5; 5xx and 3xx → 7; other
//! 4xx → 1; network failures → 6. The error text is the server's `message` (or, on the OAuth
//! endpoints, `error_description`), and [`CliError::code`] carries its `error` code.
//!
//! A client made for a stored device login ([`ApiClient::with_refresh`]) answers one 401 by
//! refreshing the access token (see [`crate::session`]) and repeating the request once.

use crate::config::{ResolvedToken, Settings, Source};
use crate::error::{CliError, ExitStatus};
use crate::output::sanitize;
use crate::server_url::ServerUrl;
use edgeauth_core::api::{ErrorBody, OAuthErrorBody};
use edgeauth_core::secret::Secret;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use ureq::{Agent, RequestBuilder};

pub const TIMEOUT: Duration = Duration::from_secs(30);
const MAX_BODY: u64 = 1024 * 1024;

pub fn user_agent() -> String {
    format!("edgeauth-cli/{}", env!("CARGO_PKG_VERSION"))
}

/// A successful (2xx) response.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub body: String,
}

impl ApiResponse {
    /// The body as any JSON value (for `--json`).
    pub fn json(&self) -> Result<serde_json::Value, CliError> {
        self.parse()
    }

    /// The body as the type a command expects.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, CliError> {
        serde_json::from_str(&self.body).map_err(|e| self.unexpected(e))
    }

    /// One field of a JSON object body, e.g. the list under `"tokens"`; a missing field is an
    /// unexpected response like any other mismatch.
    pub fn parse_field<T: DeserializeOwned>(&self, field: &str) -> Result<T, CliError> {
        let mut object: serde_json::Map<String, serde_json::Value> = self.parse()?;
        let value = object.remove(field).unwrap_or_default();
        serde_json::from_value(value).map_err(|e| self.unexpected(format!("`{field}`: {e}")))
    }

    fn unexpected(&self, why: impl std::fmt::Display) -> CliError {
        CliError::new(
            ExitStatus::ServerError,
            format!(
                "unexpected response from the server ({}): {why}",
                self.status
            ),
        )
        .with_hint("check that the server URL points at an edgeauth server of a matching version")
    }
}

/// The next step after a 403, by what the server's message says is missing (its fixed
/// phrases; the rest of a message is names, which could contain anything): the admin role, a
/// role at all, or a scope wide enough; else who the credential is.
fn forbidden_hint(message: &str) -> &'static str {
    if message.contains("needs the admin role") {
        "it takes a project admin (or the super token): see who you are with `edgeauth whoami`"
    } else if message.contains("so it has no role there") {
        "see who you are with `edgeauth whoami`; an admin of the project (or the operator) can add one of your teams"
    } else if message.contains("credential covers ")
        || message.contains("credential does not cover")
        || message.contains("'s scope")
    {
        "the credential's workspaces do not cover this request; see them with `edgeauth whoami`, or use a token whose workspaces do (the super token covers everything)"
    } else {
        "see what the credential is with `edgeauth whoami`"
    }
}

/// Where a transport error happened: before the answer's head, or while reading its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Request,
    Body,
}

/// The server's error body: `{error, message}`, or on the OAuth endpoints (RFC 6749 §5.2)
/// `{error, error_description}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ServerError {
    Api(ErrorBody),
    OAuth(OAuthErrorBody),
}

impl ServerError {
    fn code(&self) -> &str {
        match self {
            ServerError::Api(body) => &body.error,
            ServerError::OAuth(body) => &body.error,
        }
    }

    fn message(&self) -> Option<&str> {
        match self {
            ServerError::Api(body) => Some(&body.message),
            ServerError::OAuth(body) => body.error_description.as_deref(),
        }
    }
}

/// An HTTP agent as every request of the CLI uses one: statuses are answers, not errors, and
/// redirects are not followed (following would hand the token to another URL); 30 s to connect,
/// and `global_timeout` for the whole exchange (none: an `edgeauth api` stream takes as long as
/// it takes).
/// The longest a pooled connection may have been idle to be used again.
const MAX_IDLE_AGE: Duration = Duration::from_secs(4);

pub(crate) fn agent(global_timeout: Option<Duration>, accept: Option<&str>) -> Agent {
    let mut config = Agent::config_builder()
        .timeout_global(global_timeout)
        .timeout_connect(Some(TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        // Servers commonly close a keep-alive connection idle for 5 s (Node's default, which
        // `wrangler dev` serves with); the device login polls every 5 s, and a request sent on
        // a connection the server is closing fails ("peer disconnected"). So a connection idle
        // for longer than this is never reused.
        .max_idle_age(MAX_IDLE_AGE)
        .user_agent(user_agent());
    if let Some(accept) = accept {
        config = config.accept(accept);
    }
    config.build().into()
}

/// The body of an `edgeauth api` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawBody {
    None,
    Text(String),
    /// A file, streamed with its length.
    File(std::path::PathBuf),
    /// Standard input, streamed (chunked); it cannot be sent twice.
    Stdin,
}

/// An `edgeauth api` request: any method, path and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    pub method: String,
    /// Starts with `/`; may carry a query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: RawBody,
}

/// Given the access token the server just refused, a fresh one (see [`crate::session`]).
pub type Refresh = Rc<dyn Fn(&Secret) -> Result<Secret, CliError>>;

pub struct ApiClient {
    agent: Agent,
    server: ServerUrl,
    server_source: Source,
    project: Option<String>,
    token: RefCell<Option<ResolvedToken>>,
    refresh: Option<Refresh>,
    /// Set once a 401 was answered by a refresh: it is tried once per process.
    refreshed: Cell<bool>,
}

impl ApiClient {
    pub fn new(settings: &Settings) -> ApiClient {
        ApiClient {
            agent: agent(Some(TIMEOUT), Some("application/json")),
            server: settings.server.clone(),
            server_source: settings.server_source.clone(),
            project: settings.project.clone(),
            token: RefCell::new(settings.token.clone()),
            refresh: None,
            refreshed: Cell::new(false),
        }
    }

    /// This client, answering a 401 once with `refresh` and a repeat of the request.
    pub fn with_refresh(mut self, refresh: Refresh) -> ApiClient {
        self.refresh = Some(refresh);
        self
    }

    pub fn server(&self) -> &ServerUrl {
        &self.server
    }

    /// The credential requests carry, if any.
    pub fn token(&self) -> Option<ResolvedToken> {
        self.token.borrow().clone()
    }

    /// Replaces the secret of the credential in use (after a refresh).
    pub fn set_secret(&self, secret: Secret) {
        if let Some(token) = self.token.borrow_mut().as_mut() {
            token.secret = secret;
        }
    }

    /// The same server and project with another credential (or none), and no refresh:
    /// `login` talks to the server anonymously, `logout` with the stored token whatever else is
    /// configured.
    pub fn with_token(&self, token: Option<ResolvedToken>) -> ApiClient {
        ApiClient {
            agent: self.agent.clone(),
            server: self.server.clone(),
            server_source: self.server_source.clone(),
            project: self.project.clone(),
            token: RefCell::new(token),
            refresh: None,
            refreshed: Cell::new(false),
        }
    }

    pub fn get(&self, path: &str) -> Result<ApiResponse, CliError> {
        self.call(|| {
            let request = self.headers(self.agent.get(self.server.join(path)));
            request.call()
        })
    }

    pub fn delete(&self, path: &str) -> Result<ApiResponse, CliError> {
        self.call(|| {
            let request = self.headers(self.agent.delete(self.server.join(path)));
            request.call()
        })
    }

    pub fn post_json(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<ApiResponse, CliError> {
        let body = serde_json::to_string(body).expect("API bodies serialise");
        self.call(|| {
            let request = self
                .headers(self.agent.post(self.server.join(path)))
                .content_type("application/json");
            request.send(body.as_str())
        })
    }

    /// `PUT` of a JSON body (a resource replaced whole, as `/api/lifetime-policy`).
    pub fn put_json(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<ApiResponse, CliError> {
        let body = serde_json::to_string(body).expect("API bodies serialise");
        self.call(|| {
            let request = self
                .headers(self.agent.put(self.server.join(path)))
                .content_type("application/json");
            request.send(body.as_str())
        })
    }

    /// `application/x-www-form-urlencoded`, as the OAuth endpoints take (every value
    /// percent-encoded).
    pub fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Result<ApiResponse, CliError> {
        use edgeauth_core::encoding::percent_encode;
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.call(|| {
            let request = self
                .headers(self.agent.post(self.server.join(path)))
                .content_type("application/x-www-form-urlencoded");
            request.send(body.as_str())
        })
    }

    /// Sends an `edgeauth api` request and returns the response whatever its status (the caller
    /// streams its body). No overall timeout, only one to connect: an upload or a stream takes
    /// as long as it takes. On a 401 with a refresh set (and not used yet), refreshes and sends
    /// again, unless the body was standard input, which cannot be read twice.
    pub fn send_raw(
        &self,
        request: &RawRequest,
    ) -> Result<ureq::http::Response<ureq::Body>, CliError> {
        let agent = agent(None, None);
        let first = self.send_raw_once(&agent, request)?;
        let Some(refresh) = &self.refresh else {
            return Ok(first);
        };
        if first.status() != 401 || self.refreshed.get() || request.body == RawBody::Stdin {
            return Ok(first);
        }
        let refused = self.token.borrow().as_ref().map(|t| t.secret.clone());
        let Some(refused) = refused else {
            return Ok(first);
        };
        self.refreshed.set(true);
        self.set_secret(refresh(&refused)?);
        self.send_raw_once(&agent, request)
    }

    fn send_raw_once(
        &self,
        agent: &Agent,
        request: &RawRequest,
    ) -> Result<ureq::http::Response<ureq::Body>, CliError> {
        let mut builder = ureq::http::Request::builder()
            .method(request.method.as_str())
            .uri(self.server.join(&request.path));
        if let Some(token) = &*self.token.borrow() {
            builder = builder.header("Authorization", format!("Bearer {}", token.secret.expose()));
        }
        let names_project = request
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("X-Project"));
        if let (Some(project), false) = (&self.project, names_project) {
            builder = builder.header("X-Project", project);
        }
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let bad_request =
            |e: ureq::http::Error| CliError::usage(format!("cannot send that request: {e}"));
        let sent = match &request.body {
            RawBody::None => agent.run(builder.body(()).map_err(bad_request)?),
            RawBody::Text(text) => agent.run(builder.body(text.as_str()).map_err(bad_request)?),
            RawBody::File(path) => {
                let file = std::fs::File::open(path)
                    .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
                agent.run(builder.body(file).map_err(bad_request)?)
            }
            RawBody::Stdin => agent.run(builder.body(std::io::stdin()).map_err(bad_request)?),
        };
        sent.map_err(|e| self.transport_error(e, Phase::Request))
    }

    /// The error for a response of `status` with `body`, as every command reports one: the
    /// server's message, an exit code by status, and a hint.
    pub fn error_for(&self, status: u16, body: &str) -> CliError {
        self.status_error(status, body, None)
    }

    /// Sends, and on a 401 with a refresh set (and not used yet), refreshes and sends again.
    fn call(
        &self,
        send: impl Fn() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ApiResponse, CliError> {
        let first = self.finish(send());
        let Some(refresh) = &self.refresh else {
            return first;
        };
        match &first {
            Err(e) if e.status == ExitStatus::Unauthorized && !self.refreshed.get() => {
                let refused = self.token.borrow().as_ref().map(|t| t.secret.clone());
                let Some(refused) = refused else {
                    return first;
                };
                self.refreshed.set(true);
                self.set_secret(refresh(&refused)?);
                self.finish(send())
            }
            _ => first,
        }
    }

    fn headers<B>(&self, mut request: RequestBuilder<B>) -> RequestBuilder<B> {
        if let Some(token) = &*self.token.borrow() {
            request = request.header("Authorization", format!("Bearer {}", token.secret.expose()));
        }
        if let Some(project) = &self.project {
            request = request.header("X-Project", project);
        }
        request
    }

    fn finish(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ApiResponse, CliError> {
        let mut response = result.map_err(|e| self.transport_error(e, Phase::Request))?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(sanitize);
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| self.transport_error(e, Phase::Body))?;
        if (200..300).contains(&status) {
            Ok(ApiResponse { status, body })
        } else {
            Err(self.status_error(status, &body, location.as_deref()))
        }
    }

    fn transport_error(&self, e: ureq::Error, phase: Phase) -> CliError {
        use std::io::ErrorKind;
        let server = &self.server;
        let source = self.server_source.describe("server");
        let unreachable = |why: String| {
            CliError::new(
                ExitStatus::Unreachable,
                format!("cannot reach {server}: is it running? ({why})"),
            )
            .with_hint(format!("check the server URL (it came from {source})"))
        };
        let no_such_host = || {
            CliError::new(
                ExitStatus::Unreachable,
                format!("cannot reach {server}: its host name does not resolve (no such host, or no DNS here)"),
            )
            .with_hint(format!("check the server URL (it came from {source})"))
        };
        let https = server.as_str().starts_with("https:");
        // An https URL for a local server that speaks plain http (wrangler dev) is the usual
        // cause of a handshake that fails on this machine.
        let check_url = if https && server.is_loopback() {
            format!("check the server URL (it came from {source}); a local server usually speaks http://, not https://")
        } else {
            format!("check the server URL (it came from {source})")
        };
        let tls_failed = |why: String| {
            CliError::new(
                ExitStatus::Unreachable,
                format!("cannot reach {server}: the TLS handshake failed ({why})"),
            )
            .with_hint(check_url.clone())
        };
        match e {
            ureq::Error::Io(io) => match io.kind() {
                ErrorKind::ConnectionRefused => unreachable("connection refused".into()),
                // The resolver's failure comes as an I/O error of no particular kind: std's
                // own words on Unix, WSAHOST_NOT_FOUND or WSATRY_AGAIN on Windows.
                _ if io.to_string().contains("failed to lookup address")
                    || matches!(io.raw_os_error(), Some(11001 | 11002)) && cfg!(windows) =>
                {
                    no_such_host()
                }
                ErrorKind::TimedOut => unreachable("timed out".into()),
                // rustls reports a handshake failure as invalid data on the socket (an http
                // server's plain answer).
                ErrorKind::InvalidData if https && phase == Phase::Request => {
                    tls_failed(io.to_string())
                }
                // The connection ended before any answer: a handshake the server gave up on
                // (a plain-http server hangs up on one), or a server that hung up.
                ErrorKind::UnexpectedEof if phase == Phase::Request => CliError::new(
                    ExitStatus::Unreachable,
                    format!("cannot reach {server}: the connection closed before an answer ({})", if https {
                        "a TLS handshake that failed, or a server that hung up"
                    } else {
                        "the server hung up"
                    }),
                )
                .with_hint(check_url.clone()),
                ErrorKind::UnexpectedEof => CliError::new(
                    ExitStatus::Unreachable,
                    format!("the connection to {server} closed in the middle of its answer"),
                )
                .with_hint("run the command again; if it keeps happening, the server or a proxy before it is cutting answers short"),
                _ => unreachable(io.to_string()),
            },
            ureq::Error::HostNotFound => no_such_host(),
            ureq::Error::ConnectionFailed => unreachable("connection failed".into()),
            ureq::Error::Timeout(_) => {
                unreachable(format!("no answer within {} s", TIMEOUT.as_secs()))
            }
            ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::Rustls(_) => {
                tls_failed(e.to_string())
            }
            ureq::Error::Protocol(_) | ureq::Error::BodyExceedsLimit(_) => CliError::new(
                ExitStatus::ServerError,
                format!("unexpected response from {server}: {e}"),
            ),
            other => CliError::new(
                ExitStatus::Failure,
                format!("request to {server} failed: {other}"),
            ),
        }
    }

    fn status_error(&self, status: u16, body: &str, location: Option<&str>) -> CliError {
        let parsed = serde_json::from_str::<ServerError>(body).ok();
        let code = parsed.as_ref().map(ServerError::code).unwrap_or_default();
        let message = match &parsed {
            Some(b) => match b.message() {
                Some(m) => sanitize(m),
                None => format!("the server answered {status} {}", sanitize(b.code())),
            },
            None => format!("the server answered {status} (not an edgeauth error body)"),
        };
        let error = |status: ExitStatus| {
            let e = CliError::new(status, message.clone());
            match &parsed {
                Some(b) => e.with_code(sanitize(b.code())),
                None => e,
            }
        };
        match status {
            300..=399 => CliError::new(
                ExitStatus::ServerError,
                format!(
                    "the server answered {status}, a redirect to {}",
                    location.unwrap_or("nowhere")
                ),
            )
            .with_hint(format!(
                "point edgeauth at the API itself (the server URL came from {}); maybe https:// instead of http://?",
                self.server_source.describe("server")
            )),
            401 => self.unauthorized(error(ExitStatus::Unauthorized)),
            403 => {
                let refused = error(ExitStatus::Forbidden);
                let hint = forbidden_hint(&refused.message);
                refused.with_hint(hint)
            }
            404 => error(ExitStatus::NotFound),
            501 if code == "not_configured" => error(ExitStatus::ServerError).with_hint(
                "the server's SECRET is unset: its operator must set SECRET (at least 32 bytes), e.g. `wrangler secret put SECRET`, or in .dev.vars locally",
            ),
            503 if code == "misconfigured" => error(ExitStatus::ServerError).with_hint(format!(
                "the server is misconfigured; its operator can see the problems at {}",
                self.server.join("/healthz")
            )),
            503 if code == "storage_unavailable" => error(ExitStatus::ServerError).with_hint(
                "a passing failure of the server's storage: nothing was changed; run the command again in a few seconds",
            ),
            500..=599 => error(ExitStatus::ServerError)
                .with_hint("the server failed; try again later, or ask its operator to check its logs"),
            _ => error(ExitStatus::Failure),
        }
    }

    /// A 401: without a credential, "not logged in" and the command that logs in; with one,
    /// where it came from and the command that replaces it. Every line names the server.
    fn unauthorized(&self, e: CliError) -> CliError {
        let server = &self.server;
        let login = login_command(server);
        match &*self.token.borrow() {
            None => CliError {
                message: format!("not logged in to {server}: run `{login}`"),
                hint: Some(format!(
                    "over SSH or without a browser on this machine: `edgeauth login --device --server {server}`; in scripts: set EDGEAUTH_TOKEN (or --token, or `token` in edgeauth.toml)"
                )),
                ..e
            },
            Some(ResolvedToken { source: source @ Source::StoredCredentials(_), .. }) => e.with_hint(format!(
                "the token from {} was not accepted by {server}; run `{login}` again",
                source.describe("token")
            )),
            Some(ResolvedToken { source, .. }) => e.with_hint(format!(
                "the token from {} was not accepted by {server}: check it (--token, EDGEAUTH_TOKEN, edgeauth.toml), or run `{login}`",
                source.describe("token")
            )),
        }
    }
}

/// The command that logs in to `server`, as hints print it.
pub fn login_command(server: &ServerUrl) -> String {
    format!("edgeauth login --server {server}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    /// One canned HTTP response on a loopback port; returns the base URL and a handle that
    /// yields the raw request that was received.
    pub(crate) fn serve_once(
        status: u16,
        headers: &str,
        body: &str,
    ) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
            body.len()
        );
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut request = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                request.push_str(&line);
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            request.push_str(&String::from_utf8(body).unwrap());
            reader.get_mut().write_all(response.as_bytes()).unwrap();
            request
        });
        (url, handle)
    }

    pub(crate) fn client(
        url: &str,
        project: Option<&str>,
        token: Option<(&str, Source)>,
    ) -> ApiClient {
        ApiClient::new(&Settings {
            server: ServerUrl::parse(url).unwrap(),
            server_source: Source::Flag,
            project: project.map(str::to_owned),
            token: token.map(|(t, source)| ResolvedToken {
                secret: Secret::new(t),
                source,
            }),
            warnings: vec![],
        })
    }

    #[test]
    fn requests_carry_the_documented_headers() {
        let (url, server) = serve_once(200, "", r#"{"kind":"super"}"#);
        let c = client(&url, Some("demo"), Some(("eas_tok", Source::Env)));
        let response = c.get("/api/auth/whoami").unwrap();
        assert_eq!(response.json().unwrap()["kind"], "super");
        let request = server.join().unwrap().to_ascii_lowercase();
        assert!(
            request.starts_with("get /api/auth/whoami http/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains("authorization: bearer eas_tok\r\n"),
            "{request}"
        );
        assert!(request.contains("x-project: demo\r\n"), "{request}");
        assert!(
            request.contains("accept: application/json\r\n"),
            "{request}"
        );
        let ua = format!("user-agent: edgeauth-cli/{}\r\n", env!("CARGO_PKG_VERSION"));
        assert!(request.contains(&ua), "{request}");
    }

    #[test]
    fn no_token_and_no_project_send_no_headers_for_them() {
        let (url, server) = serve_once(200, "", "{}");
        client(&url, None, None).get("/api/auth/whoami").unwrap();
        let request = server.join().unwrap().to_ascii_lowercase();
        assert!(!request.contains("authorization:"), "{request}");
        assert!(!request.contains("x-project:"), "{request}");
    }

    #[test]
    fn post_sends_json() {
        let (url, server) = serve_once(201, "", "{}");
        let body = serde_json::json!({"name": "CI", "workspaces": ["production/*"]});
        client(&url, None, None)
            .post_json("/api/service-tokens", &body)
            .unwrap();
        let request = server.join().unwrap();
        assert!(
            request.starts_with("POST /api/service-tokens "),
            "{request}"
        );
        assert!(request
            .to_ascii_lowercase()
            .contains("content-type: application/json\r\n"));
        assert!(
            request.ends_with(r#"{"name":"CI","workspaces":["production/*"]}"#),
            "{request}"
        );
    }

    fn status_of(status: u16, body: &str, token: Option<(&str, Source)>) -> CliError {
        let (url, server) = serve_once(status, "", body);
        let err = client(&url, None, token).get("/x").unwrap_err();
        server.join().unwrap();
        assert!(!err.to_string().contains("eas_tok"), "{err}");
        err
    }

    #[test]
    fn statuses_map_to_exit_codes_and_hints() {
        let e = status_of(
            401,
            r#"{"error":"unauthorized","message":"the token was revoked"}"#,
            Some(("eas_tok", Source::Env)),
        );
        assert_eq!(e.status, ExitStatus::Unauthorized);
        assert_eq!(e.message, "the token was revoked");
        let hint = e.hint.unwrap();
        assert!(
            hint.contains("EDGEAUTH_TOKEN") && hint.contains("edgeauth login"),
            "{hint}"
        );

        let e = status_of(401, r#"{"error":"unauthorized","message":"m"}"#, None);
        assert!(
            e.message.starts_with("not logged in to http://127.0.0.1:"),
            "{}",
            e.message
        );
        assert!(
            e.message
                .contains("run `edgeauth login --server http://127.0.0.1:"),
            "{}",
            e.message
        );
        let hint = e.hint.unwrap();
        assert!(
            hint.contains("edgeauth login --device --server http://127.0.0.1:"),
            "{hint}"
        );
        assert!(hint.contains("EDGEAUTH_TOKEN"), "{hint}");

        let e = status_of(
            401,
            r#"{"error":"unauthorized","message":"m"}"#,
            Some((
                "eas_tok",
                Source::StoredCredentials("/c/credentials.json".into()),
            )),
        );
        let hint = e.hint.unwrap();
        assert!(
            hint.contains("run `edgeauth login --server http://127.0.0.1:"),
            "{hint}"
        );
        assert!(hint.ends_with("` again"), "{hint}");

        let e = status_of(
            403,
            r#"{"error":"forbidden","message":"your credential covers staging/*, not the workspace `prod`"}"#,
            None,
        );
        assert_eq!(e.status, ExitStatus::Forbidden);
        assert!(e.hint.unwrap().contains("workspaces do not cover"));

        let e = status_of(
            404,
            r#"{"error":"not_found","message":"no such token"}"#,
            None,
        );
        assert_eq!(
            (e.status, e.message.as_str()),
            (ExitStatus::NotFound, "no such token")
        );

        let e = status_of(
            501,
            r#"{"error":"not_configured","message":"set SECRET"}"#,
            None,
        );
        assert_eq!(e.status, ExitStatus::ServerError);
        assert!(e.hint.unwrap().contains("SECRET is unset"));

        let e = status_of(503, r#"{"error":"misconfigured","message":"x"}"#, None);
        assert!(e.hint.unwrap().contains("/healthz"));

        let e = status_of(
            503,
            r#"{"error":"storage_unavailable","message":"try again in 5 s"}"#,
            None,
        );
        assert_eq!(e.status, ExitStatus::ServerError);
        assert!(e.hint.unwrap().contains("nothing was changed"));

        let e = status_of(502, "<html>bad gateway</html>", None);
        assert_eq!(e.status, ExitStatus::ServerError);
        assert!(e.message.contains("502"), "{}", e.message);

        let e = status_of(
            400,
            r#"{"error":"bad_request","message":"name is empty"}"#,
            None,
        );
        assert_eq!(
            (e.status, e.message.as_str()),
            (ExitStatus::Failure, "name is empty")
        );
    }

    #[test]
    fn oauth_error_bodies_give_their_description() {
        let e = status_of(
            400,
            r#"{"error":"invalid_grant","error_description":"the code was already used"}"#,
            None,
        );
        assert_eq!(
            (e.status, e.message.as_str()),
            (ExitStatus::Failure, "the code was already used")
        );
        let e = status_of(400, r#"{"error":"invalid_request"}"#, None);
        assert_eq!(e.message, "the server answered 400 invalid_request");
    }

    #[test]
    fn with_token_swaps_only_the_credential() {
        let (url, server) = serve_once(200, "", "{}");
        let c = client(&url, Some("demo"), Some(("eas_tok", Source::Env)));
        c.with_token(None).get("/x").unwrap();
        let request = server.join().unwrap().to_ascii_lowercase();
        assert!(!request.contains("authorization:"), "{request}");
        assert!(request.contains("x-project: demo\r\n"), "{request}");
    }

    #[test]
    fn redirects_are_not_followed() {
        let (url, server) = serve_once(301, "location: https://elsewhere.example.com/\r\n", "");
        let err = client(&url, None, Some(("eas_tok", Source::Flag)))
            .get("/api/auth/whoami")
            .unwrap_err();
        server.join().unwrap();
        assert_eq!(err.status, ExitStatus::ServerError);
        assert!(
            err.message.contains("https://elsewhere.example.com/"),
            "{}",
            err.message
        );
    }

    #[test]
    fn parse_field_reads_one_field_and_a_missing_one_is_unexpected() {
        let response = ApiResponse {
            status: 200,
            body: r#"{"tokens":["a","b"],"other":1}"#.into(),
        };
        assert_eq!(
            response.parse_field::<Vec<String>>("tokens").unwrap(),
            ["a", "b"]
        );
        let e = response
            .parse_field::<Vec<String>>("service_tokens")
            .unwrap_err();
        assert_eq!(e.status, ExitStatus::ServerError);
        assert!(e.message.contains("`service_tokens`"), "{}", e.message);
    }

    #[test]
    fn a_2xx_body_that_is_not_json_is_an_unexpected_response() {
        let (url, server) = serve_once(200, "", "<html></html>");
        let response = client(&url, None, None).get("/x").unwrap();
        server.join().unwrap();
        assert_eq!(response.json().unwrap_err().status, ExitStatus::ServerError);
    }

    #[test]
    fn connection_refused_is_unreachable() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}");
        let err = client(&url, None, None).get("/x").unwrap_err();
        assert_eq!(err.status, ExitStatus::Unreachable);
        assert_eq!(
            err.message,
            format!("cannot reach {url}: is it running? (connection refused)")
        );
        assert!(err.hint.unwrap().contains("--server"));
    }

    #[test]
    fn server_messages_cannot_inject_terminal_escapes() {
        let e = status_of(
            400,
            r#"{"error":"bad_request","message":"x\u001b[2Jy"}"#,
            None,
        );
        assert!(!e.message.contains('\x1b'));
    }
}
