//! End-to-end test helpers for edgeauth.
//!
//! The tests in `tests/` drive live `wrangler dev` instances that `scripts/test` starts and
//! describes in `EDGEAUTH_E2E_*` variables. Running `cargo test -p edgeauth-e2e` without them
//! fails every test with a message saying so: a suite that skips itself silently would
//! report green for a system nobody tested.
//!
//! - [`Instance`] and [`Request`]: a small raw HTTP/1.1 client with full control over the bytes
//!   sent (non-ASCII headers, a forged `Host`, chunked bodies), so that what a hostile client
//!   can send, a test can send too.
//! - [`tokens`]: the documented token format, to check minted tokens and to forge bad ones.
//! - [`store`]: the instances' local D1 SQLite files and persisted state, to check what is
//!   stored and to age a token.
//! - [`cli`]: the `edgeauth` binary run as a subprocess in a scratch directory.
//! - [`loopback`]: the CLI loopback login by raw HTTP (a CLI's state and verifier, the
//!   person's consent).
//! - [`oidc`]: signing in through the local identity provider without a browser, stopping
//!   before the callback so that a test can tamper with the ID token; sessions and CSRF.
//! - [`scanning`]: GitHub secret scanning's reports, signed with the key of MAIN's
//!   `SECRET_SCANNING_KEYS` (or not).
//! - [`credentials`]: a credential of every kind (super, service, session, user API token, a
//!   device login's access and refresh tokens), for the contract test and the fuzzer.

pub mod cli;
pub mod credentials;
pub mod http;
pub mod loopback;
pub mod oidc;
pub mod scanning;
pub mod screenshots;
pub mod store;
pub mod tokens;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

pub use http::{Instance, Request, Response};

/// A required `EDGEAUTH_E2E_*` variable, or a test failure that says how to run the suite.
pub fn require_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set. These end-to-end tests run against live `wrangler dev` \
             instances that scripts/test starts and describes in EDGEAUTH_E2E_* variables: \
             run scripts/test rather than `cargo test -p edgeauth-e2e` on its own."
        ),
    }
}

/// The operator's super token shared by the MAIN, HASHED, NOSECRET and PRIVATE instances.
pub fn super_token() -> String {
    require_env("EDGEAUTH_E2E_SUPER_TOKEN")
}

/// The repository's root directory (the tests' scripts, templates and documents are there).
pub fn repo_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// The directory holding every instance's persisted state (`<STATE>/<name>/persist/…`).
pub fn state_dir() -> PathBuf {
    PathBuf::from(require_env("EDGEAUTH_E2E_STATE"))
}

/// A name no other test (in this run or an earlier one against the same state) has used.
///
/// Lower-case letters, digits and `-` only, so it is also a valid project name; at most
/// 40 characters, leaving room for a suffix.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let stamp = format!("{:x}{:x}{n:x}", std::process::id(), nanos % (1 << 48));
    let prefix: String = prefix
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40 - stamp.len().min(39) - 1)
        .collect();
    format!("{prefix}-{stamp}")
}

/// Milliseconds since the Unix epoch, by this machine's clock (the Worker's runs on it too).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// `REVOCATION_BOUND_SECONDS` of MAIN and REPLICA (the default): how long an instance may go
/// on accepting a credential it verified after storage changed behind its back (another
/// isolate's revocation, or a test's direct write to D1).
pub const REVOCATION_BOUND: std::time::Duration = std::time::Duration::from_secs(10);

/// Asks `done` until it answers true; fails unless that happens within [`REVOCATION_BOUND`]
/// and 2 s of slack (polling, a busy 2-core machine). Returns how long it took. For what
/// storage decided behind an instance's back: the instance sees it within the bound.
pub fn within_the_revocation_bound(
    what: &str,
    mut done: impl FnMut() -> bool,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    let patience = REVOCATION_BOUND + std::time::Duration::from_secs(2);
    while !done() {
        assert!(
            started.elapsed() <= patience,
            "{what}: not seen {:?} later (the revocation bound is {REVOCATION_BOUND:?})",
            started.elapsed()
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    started.elapsed()
}

/// Parses an API timestamp: RFC 3339 in UTC (`…Z`), as the contract requires.
pub fn parse_timestamp_ms(value: &Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("expected an RFC 3339 timestamp string, got {value}"));
    assert!(
        text.ends_with('Z'),
        "timestamps are UTC with a `Z` suffix per docs/api.md, got {text:?}"
    );
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"));
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Asserts that a timestamp lies within `tolerance_ms` of `expected_ms`.
pub fn assert_near_ms(what: &str, actual_ms: i64, expected_ms: i64, tolerance_ms: i64) {
    assert!(
        (actual_ms - expected_ms).abs() <= tolerance_ms,
        "{what} is {actual_ms} ms, expected {expected_ms} ± {tolerance_ms} ms (off by {} s)",
        (actual_ms - expected_ms) / 1000
    );
}

/// A service token as returned by `POST /api/service-tokens`.
#[derive(Debug, Clone)]
pub struct ServiceToken {
    pub id: String,
    pub token: String,
    pub name: String,
    pub project: String,
    /// The whole 201 body.
    pub body: Value,
}

/// The request body for creating a service token.
pub fn service_token_body(name: &str, workspaces: &[&str]) -> Value {
    json!({"name": name, "workspaces": workspaces})
}

/// Creates a service token in `project` with `credential`, asserting a 201.
pub fn mint_service_token(
    instance: &Instance,
    credential: &str,
    project: &str,
    name: &str,
    workspaces: &[&str],
) -> ServiceToken {
    mint_service_token_with(
        instance,
        credential,
        project,
        &service_token_body(name, workspaces),
    )
}

/// Creates a service token from a full request body, asserting a 201.
pub fn mint_service_token_with(
    instance: &Instance,
    credential: &str,
    project: &str,
    body: &Value,
) -> ServiceToken {
    let response = instance
        .post("/api/service-tokens")
        .bearer(credential)
        .project(project)
        .json(body)
        .send();
    let created = response.expect_json(201);
    let field = |key: &str| {
        created[key]
            .as_str()
            .unwrap_or_else(|| panic!("creation response lacks string {key:?}: {created}"))
            .to_owned()
    };
    ServiceToken {
        id: field("id"),
        token: field("token"),
        name: field("name"),
        project: field("project"),
        body: created.clone(),
    }
}

/// `GET /api/service-tokens` in `project` with `credential`: the listed tokens.
pub fn list_service_tokens(instance: &Instance, credential: &str, project: &str) -> Vec<Value> {
    let listing = instance
        .get("/api/service-tokens")
        .bearer(credential)
        .project(project)
        .send()
        .expect_json(200);
    listing["service_tokens"]
        .as_array()
        .unwrap_or_else(|| panic!("listing lacks a service_tokens array: {listing}"))
        .clone()
}

/// The ids in a listing, in order.
pub fn listed_ids(listing: &[Value]) -> Vec<String> {
    listing
        .iter()
        .map(|t| t["id"].as_str().expect("listed token has an id").to_owned())
        .collect()
}

/// `GET /api/auth/whoami` with `credential` in `project`.
pub fn whoami(instance: &Instance, credential: &str, project: &str) -> Response {
    instance
        .get("/api/auth/whoami")
        .bearer(credential)
        .project(project)
        .send()
}

/// Every object key anywhere inside `value`, for "this field never appears" checks.
pub fn all_keys(value: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    keys.push(k.clone());
                    stack.push(child);
                }
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    keys
}

/// A workspace-pattern list as JSON strings.
pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected an array of strings, got {value}"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("expected a string, got {v}"))
                .to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_are_valid_project_names_and_distinct() {
        let a = unique("Alpha_Project with spaces and a very long tail indeed");
        let b = unique("Alpha_Project with spaces and a very long tail indeed");
        assert_ne!(a, b);
        for name in [&a, &b] {
            assert!(name.len() <= 40, "{name}");
            assert!(name
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'));
            assert!(name.as_bytes()[0].is_ascii_alphanumeric());
        }
    }

    #[test]
    fn timestamps_parse_as_utc_milliseconds() {
        assert_eq!(parse_timestamp_ms(&json!("1970-01-01T00:00:01Z")), 1000);
        assert_eq!(
            parse_timestamp_ms(&json!("2026-11-24T10:00:00.250Z")),
            1_795_514_400_250
        );
    }
}
