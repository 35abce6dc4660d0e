//! The contract, `openapi.json`, against the running Worker:
//!
//! - `GET /openapi.json` serves the repository's file, byte for byte;
//! - a representative request of every operation, with the credential kind it is meant for
//!   (and the common refusals), answers a status the document lists for that operation, with
//!   a documented media type, the documented required headers, and a body that validates
//!   against the document's schema for that status (`$ref`s resolved inside the document);
//! - the document and the router have the same paths (the route table in src/router.rs), and
//!   each path answers the methods the document lists and 405 with a matching `Allow` for the
//!   others. (The router's unit test `the_contract_documents_every_route_and_nothing_else`
//!   compares methods too, without a server.)
//!
//! Every operation of the document must be exercised here at least once, or the test fails.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, OnceLock};

use base64::Engine;
use edgeauth_e2e::credentials::{every_kind, sign_in_with_teams, EveryKind};
use edgeauth_e2e::oidc::{self, DEMO, MEMBER_TEAM};
use edgeauth_e2e::scanning;
use edgeauth_e2e::*;
use jsonschema::{Registry, Validator};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const DOCUMENT_URI: &str = "urn:edgeauth:openapi";
const METHODS: [&str; 4] = ["get", "post", "put", "delete"];

fn document_text() -> String {
    std::fs::read_to_string(repo_root().join("openapi.json")).expect("openapi.json is readable")
}

/// The document, parsed once, and which operations and statuses the tests have seen.
struct Contract {
    document: Value,
    registry: Registry<'static>,
    seen: Mutex<BTreeSet<(String, String, u16)>>,
}

fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let document: Value = serde_json::from_str(&document_text()).expect("openapi.json is JSON");
        assert_eq!(document["openapi"], "3.1.0", "an OpenAPI 3.1 document");
        let registry = Registry::new()
            .add(DOCUMENT_URI, document.clone())
            .expect("the document can be registered")
            .prepare()
            .expect("the document's references resolve");
        Contract {
            document,
            registry,
            seen: Mutex::new(BTreeSet::new()),
        }
    })
}

/// `/api/tokens/{id}` → `/api~1tokens~1{id}` (RFC 6901).
fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

impl Contract {
    /// The value at a JSON pointer of the document.
    fn at(&self, pointer: &str) -> &Value {
        self.document
            .pointer(pointer)
            .unwrap_or_else(|| panic!("openapi.json has nothing at {pointer}"))
    }

    /// Follows a `$ref` of the document (`#/components/responses/X`) to its pointer.
    fn resolve(&self, pointer: String) -> String {
        match self.at(&pointer)["$ref"].as_str() {
            Some(reference) => self.resolve(
                reference
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("{reference} is not inside the document"))
                    .to_owned(),
            ),
            None => pointer,
        }
    }

    fn validator(&self, pointer: &str) -> Validator {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .with_registry(&self.registry)
            // A pointer in a URI fragment is percent-encoded where the URI syntax needs it
            // (RFC 6901 §6): `{id}` in a path.
            .build(&json!({ "$ref": format!(
                "{DOCUMENT_URI}#{}",
                pointer.replace('{', "%7B").replace('}', "%7D")
            ) }))
            .unwrap_or_else(|e| panic!("the schema at {pointer} does not compile: {e}"))
    }

    /// Fails the test unless `response` is one that operation `method path` documents: its
    /// status, media type, required headers and body schema. Returns the body as JSON when it
    /// is JSON.
    fn check(&self, method: &str, path: &str, response: &Response) -> Option<Value> {
        let operation = format!("/paths/{}/{method}", escape_pointer(path));
        self.at(&operation);
        let status = response.status;
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).insert((
            path.to_owned(),
            method.to_owned(),
            status,
        ));
        let documented = format!("{operation}/responses/{status}");
        assert!(
            self.document.pointer(&documented).is_some(),
            "{method} {path}: status {status} is not in the contract (documented: {:?}):\n{response}",
            self.at(&format!("{operation}/responses"))
                .as_object()
                .map(|r| r.keys().cloned().collect::<Vec<_>>())
        );
        let described = self.resolve(documented);
        if let Some(headers) = self
            .at(&described)
            .get("headers")
            .and_then(Value::as_object)
        {
            for (name, header) in headers {
                let value = response.header(name);
                if header["required"] == true {
                    assert!(
                        value.is_some(),
                        "{method} {path} {status}: the contract requires header {name}:\n{response}"
                    );
                }
                if let Some(value) = value {
                    let pointer = format!("{described}/headers/{}/schema", escape_pointer(name));
                    let errors: Vec<String> = self
                        .validator(&pointer)
                        .iter_errors(&json!(value))
                        .map(|e| e.to_string())
                        .collect();
                    assert!(
                        errors.is_empty(),
                        "{method} {path} {status}: header {name} breaks the contract: {errors:?}\n{response}"
                    );
                }
            }
        }
        let content = self
            .at(&described)
            .get("content")
            .and_then(Value::as_object);
        let Some(content) = content.filter(|_| !response.body.is_empty()) else {
            assert!(
                response.body.is_empty() || content.is_some(),
                "{method} {path} {status}: the contract documents no body, but one came:\n{response}"
            );
            return None;
        };
        let media_type = response
            .header("Content-Type")
            .and_then(|ct| ct.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .unwrap_or_default();
        assert!(
            content.contains_key(&media_type),
            "{method} {path} {status}: media type {media_type:?} is not in the contract ({:?}):\n{response}",
            content.keys().collect::<Vec<_>>()
        );
        let schema = format!("{described}/content/{}/schema", escape_pointer(&media_type));
        let instance = if media_type == "application/json" {
            response.json()
        } else {
            Value::String(response.text())
        };
        let errors: Vec<String> = self
            .validator(&schema)
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: the body breaks the contract's schema ({schema}):\n  {}\n{response}",
            errors.join("\n  ")
        );
        (media_type == "application/json").then_some(instance)
    }

    /// Every (path, method) the document describes.
    fn operations(&self) -> BTreeSet<(String, String)> {
        self.document["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                METHODS
                    .iter()
                    .filter(|m| item.get(**m).is_some())
                    .map(|m| (path.clone(), (*m).to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// Sends `request`, checks the answer against `method path` of the contract, returns it.
fn checked(method: &str, path: &str, request: Request<'_>) -> Response {
    let response = request.send();
    contract().check(method, path, &response);
    response
}

/// Like [`checked`], asserting the status too.
fn expect(method: &str, path: &str, status: u16, request: Request<'_>) -> Response {
    let response = checked(method, path, request);
    response.expect_status(status);
    response
}

// ---- (a) the served document ---------------------------------------------------------------

#[test]
fn the_served_document_is_the_repository_file() {
    let response = Instance::main().get("/openapi.json").send();
    response.expect_status(200);
    assert_eq!(
        response.header("Content-Type"),
        Some("application/json"),
        "{response}"
    );
    assert!(
        response.text() == document_text(),
        "GET /openapi.json differs from the repository's openapi.json: rebuild the Worker"
    );
    // Before authentication, like /healthz: a bad credential or project changes nothing, and
    // so does a misconfigured instance.
    for response in [
        Instance::main()
            .get("/openapi.json")
            .bearer("eas_not-a-token")
            .project("Not A Project")
            .send(),
        Instance::badconfig().get("/openapi.json").send(),
    ] {
        response.expect_status(200);
        assert_eq!(response.text(), document_text(), "{response}");
    }
    contract().check("get", "/openapi.json", &response);
}

// ---- (c) paths and methods -------------------------------------------------------------------

/// The paths of the route table, read from src/router.rs (`route("/path", …)`, and
/// `braked("/path", …)` for a braked one).
fn routed_paths() -> BTreeSet<String> {
    let source = std::fs::read_to_string(repo_root().join("src/router.rs")).expect("src/router.rs");
    let table = source
        .split("const ROUTES")
        .nth(1)
        .and_then(|rest| rest.split("];").next())
        .expect("src/router.rs has a ROUTES table");
    table
        .replace("braked(", "route(")
        .split("route(")
        .skip(1)
        .map(|row| {
            let row = row.trim_start();
            let path = row
                .strip_prefix('"')
                .and_then(|r| r.split('"').next())
                .unwrap_or_else(|| panic!("a route row without a path literal: {row}"));
            path.to_owned()
        })
        .collect()
}

/// A concrete request path for a documented path (`{id}` filled in).
fn concrete(path: &str) -> String {
    path.replace("{id}", "st_contract")
}

#[test]
fn the_router_and_the_document_have_the_same_paths_and_methods() {
    let documented: BTreeSet<String> = contract().document["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    let routed = routed_paths();
    assert!(
        routed.len() > 10,
        "src/router.rs was not read right: {routed:?}"
    );
    assert_eq!(
        routed.difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "paths of src/router.rs that openapi.json lacks"
    );
    assert_eq!(
        documented.difference(&routed).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "paths of openapi.json that src/router.rs lacks"
    );

    // The running router: every documented path answers exactly the documented methods.
    let instance = Instance::main();
    let mut by_path: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, method) in contract().operations() {
        by_path.entry(path).or_default().push(method);
    }
    for (path, methods) in &by_path {
        let mut expected: Vec<&str> = Vec::new();
        for method in METHODS {
            if methods.iter().any(|m| m == method) {
                expected.extend(match method {
                    "get" => &["GET", "HEAD"][..],
                    "post" => &["POST"][..],
                    "put" => &["PUT"][..],
                    _ => &["DELETE"][..],
                });
            }
        }
        // PATCH: no path takes it (PUT is taken by one).
        let response = instance.request("PATCH", &concrete(path)).send();
        response.expect_error(405, "method_not_allowed");
        let mut allowed: Vec<&str> = response
            .header("Allow")
            .unwrap_or_else(|| panic!("405 without Allow:\n{response}"))
            .split(',')
            .map(str::trim)
            .collect();
        allowed.sort_unstable();
        expected.sort_unstable();
        assert_eq!(
            allowed, expected,
            "{path}: the router allows other methods than openapi.json documents:\n{response}"
        );
        // QUERY too: workers-rs's `Method` reads a method it does not know as GET, and the
        // router once answered it as GET. (workerd itself answers a method it does not know at
        // all, like FOO, with 501 before the Worker sees it.)
        for method in ["GET", "POST", "PUT", "DELETE", "QUERY"] {
            if !expected.contains(&method) {
                instance
                    .request(method, &concrete(path))
                    .send()
                    .expect_error(405, "method_not_allowed");
            }
        }
    }
    // A browser asking for HTML gets the 405 as a page, with `Allow` all the same.
    let page = instance.request("PUT", "/account").accept_html().send();
    page.expect_status(405);
    assert_eq!(page.header("Allow"), Some("GET, HEAD"), "{page}");
    // And a path the document does not have is 404.
    instance
        .get("/api/not-in-the-contract")
        .send()
        .expect_error(404, "not_found");
}

// ---- (b) every operation, with the credential it is meant for ----------------------------------

fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A session-cookie request without the `Origin` and CSRF token a page would add.
fn cookie_only<'a>(method: &str, session: &'a oidc::Session, target: &str) -> Request<'a> {
    session
        .instance
        .request(method, target)
        .cookie(oidc::SESSION_COOKIE, &session.cookie)
}

/// Every operation of the document, with each credential kind it is meant for and the
/// refusals it documents, checked against the contract; then, that no operation was left out.
#[test]
fn every_operation_answers_as_the_contract_says() {
    let _writers = oidc::shared();
    let kinds = every_kind(&Instance::main(), &unique("contract"), &["contract/*"]);
    expect(
        "get",
        "/openapi.json",
        200,
        Instance::main().get("/openapi.json"),
    );
    static_and_status_endpoints_answer_as_documented(&kinds);
    service_tokens_are_created_used_listed_and_revoked_as_documented(&kinds);
    a_persons_tokens_and_identity_answer_as_documented(&kinds);
    the_cli_login_answers_as_documented(&kinds);
    the_device_login_answers_as_documented(&kinds);
    a_projects_roles_answer_as_documented(&kinds);
    a_projects_lifetime_policy_answers_as_documented(&kinds);
    trust_policies_and_the_exchange_answer_as_documented(&kinds);
    the_audit_trail_answers_as_documented(&kinds);
    the_sessions_answer_as_documented(&kinds);
    githubs_secret_scanning_reports_answer_as_documented(&kinds);
    // Last: it signs a session out.
    the_browser_sign_in_answers_as_documented(&kinds);

    let seen = contract().seen.lock().unwrap_or_else(|e| e.into_inner());
    let exercised: BTreeSet<(String, String)> = seen
        .iter()
        .map(|(path, method, _)| (path.clone(), method.clone()))
        .collect();
    let missing: Vec<_> = contract()
        .operations()
        .difference(&exercised)
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "operations of openapi.json that this test does not exercise: {missing:?}"
    );
}

fn githubs_secret_scanning_reports_answer_as_documented(kinds: &EveryKind) {
    let main = Instance::main();
    let path = scanning::ENDPOINT;
    let github = scanning::GitHub::trusted();
    // A report GitHub signed: a token of its own (not one of `kinds`, which later steps use)
    // and a false positive.
    let found = mint_service_token(&main, &kinds.super_token, &kinds.project, "found", &["*"]);
    let body = scanning::report_body(&[
        (found.token.as_str(), scanning::SERVICE_TOKEN_TYPE),
        ("eas_not-a-real-token", scanning::SERVICE_TOKEN_TYPE),
    ]);
    expect("post", path, 200, github.report(&main, &body));
    // Not GitHub's: another key (401), no signature (400), not JSON (415); and a server
    // without SECRET_SCANNING_KEYS (HASHED): 501.
    expect(
        "post",
        path,
        401,
        scanning::GitHub::impostor(&github.key_identifier).report(&main, &body),
    );
    expect(
        "post",
        path,
        400,
        main.post(path).json(&serde_json::from_str(&body).unwrap()),
    );
    expect(
        "post",
        path,
        415,
        main.post(path)
            .header("Github-Public-Key-Identifier", &github.key_identifier)
            .header("Github-Public-Key-Signature", github.sign(body.as_bytes()))
            .body(Some("text/plain"), body.as_str()),
    );
    expect("post", path, 501, github.report(&Instance::hashed(), &body));
}

fn trust_policies_and_the_exchange_answer_as_documented(kinds: &EveryKind) {
    let main = Instance::main();
    let p = kinds.project.as_str();
    let path = "/api/trust-policies";
    let issuer = Instance::ci_issuer().base_url().to_owned();
    let body = json!({"name": "contract", "issuer": issuer,
                      "conditions": {"repository": "octo-org/octo-repo"},
                      "workspaces": ["contract/*"]});
    expect("post", path, 401, main.post(path).project(p).json(&body));
    expect(
        "post",
        path,
        403,
        main.post(path)
            .bearer(&kinds.service.token)
            .project(p)
            .json(&body),
    );
    expect(
        "post",
        path,
        400,
        main.post(path).bearer(&kinds.super_token).project(p).json(
            &json!({"name": "x", "issuer": issuer, "conditions": {"ref": "main"},
                          "workspaces": ["*"]}),
        ),
    );
    let created = expect(
        "post",
        path,
        201,
        main.post(path)
            .bearer(&kinds.user.token)
            .project(p)
            .json(&body),
    )
    .json();
    let id = created["id"].as_str().expect("a policy id").to_owned();
    expect(
        "get",
        path,
        200,
        main.get(path).bearer(&kinds.super_token).project(p),
    );
    expect(
        "get",
        path,
        403,
        main.get(path).bearer(&kinds.service.token).project(p),
    );
    // A CI job's exchange answers the documented RFC 8693 body.
    let token = Instance::ci_issuer()
        .post("/__token")
        .json(&json!({"audience": main.base_url()}))
        .send()
        .expect_json(200)["token"]
        .as_str()
        .expect("an ID token")
        .to_owned();
    expect(
        "post",
        "/api/auth/token",
        200,
        main.post("/api/auth/token").project(p).form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", &token),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            ),
        ]),
    );
    let one = format!("{path}/{id}");
    expect(
        "delete",
        "/api/trust-policies/{id}",
        403,
        main.delete(&one).bearer(&kinds.service.token).project(p),
    );
    expect(
        "delete",
        "/api/trust-policies/{id}",
        204,
        main.delete(&one).bearer(&kinds.super_token).project(p),
    );
    expect(
        "delete",
        "/api/trust-policies/{id}",
        404,
        main.delete(&one).bearer(&kinds.super_token).project(p),
    );
}

fn the_sessions_answer_as_documented(kinds: &EveryKind) {
    let main = Instance::main();
    let (list, one) = ("/api/sessions", "/api/sessions/{id}");
    // A person of its own: signing out everywhere would end the shared kinds' logins.
    let person = sign_in_with_teams(&main, &unique("contract-sessions"), &[MEMBER_TEAM]);
    expect("get", list, 200, person.get(list));
    expect("get", list, 200, kinds.session.get(list));
    expect("get", list, 401, main.get(list));
    expect(
        "get",
        list,
        403,
        main.get(list)
            .bearer(&kinds.service.token)
            .project(&kinds.project),
    );
    expect(
        "delete",
        one,
        404,
        person.write("DELETE", "/api/sessions/ses_unknown"),
    );
    expect("delete", one, 401, main.delete("/api/sessions/ses_unknown"));
    expect(
        "delete",
        list,
        400,
        person.write("DELETE", "/api/sessions?except_current=maybe"),
    );
    expect(
        "delete",
        list,
        200,
        person.write("DELETE", "/api/sessions?except_current=true"),
    );
    expect("delete", list, 200, person.write("DELETE", list));
}

fn the_audit_trail_answers_as_documented(kinds: &EveryKind) {
    let main = Instance::main();
    let path = "/api/audit";
    let p = &kinds.project;
    let page = expect(
        "get",
        path,
        200,
        main.get("/api/audit?limit=2&action=service_token")
            .bearer(&kinds.super_token)
            .project(p),
    )
    .json();
    assert!(!page["events"].as_array().unwrap().is_empty(), "{page}");
    // A person's own, with every field an event can carry.
    expect("get", path, 200, kinds.session.get(path).project(p));
    expect("get", path, 401, main.get(path).project(p));
    expect(
        "get",
        path,
        403,
        main.get(path).bearer(&kinds.service.token).project(p),
    );
    expect(
        "get",
        path,
        400,
        main.get("/api/audit?limit=0")
            .bearer(&kinds.super_token)
            .project(p),
    );
}

fn a_projects_roles_answer_as_documented(kinds: &EveryKind) {
    let main = Instance::main();
    // A project of its own: its roles change here.
    let p = unique("contract-roles");
    let path = "/api/roles";
    let user = kinds.session.create_token(&p, &json!({"name": "roles"}));
    expect(
        "get",
        path,
        200,
        main.get(path).bearer(&user.token).project(&p),
    );
    expect("get", path, 401, main.get(path).project(&p));
    let member = sign_in_with_teams(&main, &unique("contract-member"), &[MEMBER_TEAM]);
    let member_token = member.create_token(&p, &json!({"name": "member"}));
    let body = json!({"admin_teams": ["edgeauth-team"], "member_teams": ["edgeauth-team"]});
    expect(
        "post",
        path,
        403,
        main.post(path)
            .bearer(&member_token.token)
            .project(&p)
            .json(&body),
    );
    expect(
        "post",
        path,
        400,
        main.post(path)
            .bearer(&kinds.super_token)
            .project(&p)
            .json(&json!({"admin_teams": [1]})),
    );
    expect(
        "post",
        path,
        415,
        main.post(path)
            .bearer(&kinds.super_token)
            .project(&p)
            .body(Some("text/plain"), "x"),
    );
    expect(
        "post",
        path,
        200,
        main.post(path).bearer(&user.token).project(&p).json(&body),
    );
    // The member's team is no longer one of the project's: they have no role there.
    expect(
        "get",
        path,
        403,
        main.get(path).bearer(&member_token.token).project(&p),
    );
    expect("delete", path, 401, main.delete(path).project(&p));
    expect(
        "delete",
        path,
        403,
        main.delete(path).bearer(&member_token.token).project(&p),
    );
    expect(
        "delete",
        path,
        200,
        main.delete(path).bearer(&kinds.super_token).project(&p),
    );
}

fn a_projects_lifetime_policy_answers_as_documented(kinds: &EveryKind) {
    let main = Instance::main();
    // A project of its own: its policy changes here.
    let p = unique("contract-lifetime");
    let path = "/api/lifetime-policy";
    let user = kinds.session.create_token(&p, &json!({"name": "lifetime"}));
    expect(
        "get",
        path,
        200,
        main.get(path).bearer(&user.token).project(&p),
    );
    expect("get", path, 401, main.get(path).project(&p));
    let body = json!({"service_tokens": {"max_days": 90, "default_days": 30},
                      "user_tokens": {"max_days": 365, "default_days": null},
                      "unused_days": 90});
    expect(
        "put",
        path,
        401,
        main.request("PUT", path).project(&p).json(&body),
    );
    let member = sign_in_with_teams(&main, &unique("contract-member"), &[MEMBER_TEAM]);
    let member_token = member.create_token(&p, &json!({"name": "member"}));
    expect(
        "put",
        path,
        403,
        main.request("PUT", path)
            .bearer(&member_token.token)
            .project(&p)
            .json(&body),
    );
    expect(
        "put",
        path,
        400,
        main.request("PUT", path)
            .bearer(&kinds.super_token)
            .project(&p)
            .json(&json!({"unused_days": 0})),
    );
    expect(
        "put",
        path,
        415,
        main.request("PUT", path)
            .bearer(&kinds.super_token)
            .project(&p)
            .body(Some("text/plain"), "x"),
    );
    expect(
        "put",
        path,
        200,
        main.request("PUT", path)
            .bearer(&kinds.super_token)
            .project(&p)
            .json(&body),
    );
    expect(
        "get",
        path,
        200,
        main.get(path).bearer(&member_token.token).project(&p),
    );
    expect("delete", path, 401, main.delete(path).project(&p));
    expect(
        "delete",
        path,
        403,
        main.delete(path).bearer(&member_token.token).project(&p),
    );
    expect(
        "delete",
        path,
        200,
        main.delete(path).bearer(&kinds.super_token).project(&p),
    );
}

fn static_and_status_endpoints_answer_as_documented(kinds: &EveryKind) {
    let main = Instance::main();
    let p = kinds.project.as_str();
    expect("get", "/healthz", 200, main.get("/healthz"));
    expect(
        "get",
        "/healthz",
        503,
        Instance::badconfig().get("/healthz"),
    );
    expect("get", "/favicon.ico", 204, main.get("/favicon.ico"));
    expect("get", "/account.js", 200, main.get("/account.js"));
    expect("get", "/account.css", 200, main.get("/account.css"));

    let caps = "/api/auth/capabilities";
    expect("get", caps, 200, main.get(caps));
    expect(
        "get",
        caps,
        200,
        main.get(caps).bearer(&kinds.service.token).project(p),
    );
    expect("get", caps, 200, kinds.session.get(caps));
    expect("get", caps, 401, main.get(caps).bearer("eau_nope"));
    expect("get", caps, 400, main.get(caps).project("Not_A_Project"));
    expect("get", caps, 503, Instance::badconfig().get(caps));

    let whoami = "/api/auth/whoami";
    for credential in [
        &kinds.super_token,
        &kinds.service.token,
        &kinds.user.token,
        &kinds.device.access_token,
    ] {
        expect(
            "get",
            whoami,
            200,
            main.get(whoami).bearer(credential).project(p),
        );
    }
    expect("get", whoami, 200, kinds.session.get(whoami));
    expect("get", whoami, 200, Instance::noauth().get(whoami));
    expect("get", whoami, 401, main.get(whoami));

    let check = "/api/auth/check";
    expect(
        "get",
        check,
        200,
        main.get(&format!("{check}?workspace=production/eu")),
    );
    expect(
        "get",
        check,
        200,
        main.get(&format!("{check}?workspace=contract/a&access=write"))
            .bearer(&kinds.service.token)
            .project(p),
    );
    expect(
        "get",
        check,
        403,
        main.get(&format!("{check}?workspace=production&access=write"))
            .bearer(&kinds.service.token)
            .project(p),
    );
    expect(
        "get",
        check,
        401,
        main.get(&format!("{check}?workspace=a&access=write")),
    );
    expect(
        "get",
        check,
        401,
        Instance::private().get(&format!("{check}?workspace=a")),
    );
    expect("get", check, 400, main.get(check));

    let stats = "/api/auth/stats";
    let counts = expect(
        "get",
        stats,
        200,
        main.get(stats).bearer(&kinds.super_token).project(p),
    )
    .json();
    assert!(
        counts["isolate"]["requests"].as_u64() > Some(0),
        "the isolate has counted this request: {counts}"
    );
    expect("get", stats, 200, Instance::noauth().get(stats));
    expect(
        "get",
        stats,
        403,
        main.get(stats).bearer(&kinds.service.token).project(p),
    );
    expect("get", stats, 403, kinds.session.get(stats));
    expect("get", stats, 401, main.get(stats));

    let jwks = "/.well-known/jwks.json";
    expect("get", jwks, 200, main.get(jwks));
    expect("get", jwks, 501, Instance::nosecret().get(jwks));
    expect("get", jwks, 503, Instance::badconfig().get(jwks));
    let metadata = "/.well-known/oauth-authorization-server";
    expect("get", metadata, 200, main.get(metadata));
    expect("get", metadata, 503, Instance::badconfig().get(metadata));

    let introspect = "/api/auth/introspect";
    for (caller, token) in [
        (&kinds.super_token, &kinds.user.token),
        (&kinds.service.token, &kinds.device.access_token),
        (&kinds.super_token, &kinds.device.refresh_token),
    ] {
        expect(
            "post",
            introspect,
            200,
            main.post(introspect)
                .bearer(caller)
                .project(p)
                .form(&[("token", token)]),
        );
    }
    expect(
        "post",
        introspect,
        200,
        main.post(introspect)
            .bearer(&kinds.super_token)
            .project(p)
            .json(&json!({"token": kinds.service.token})),
    );
    expect(
        "post",
        introspect,
        400,
        main.post(introspect).bearer(&kinds.super_token).form(&[]),
    );
    expect(
        "post",
        introspect,
        401,
        main.post(introspect).form(&[("token", "x")]),
    );
    expect(
        "post",
        introspect,
        403,
        main.post(introspect)
            .bearer(&kinds.user.token)
            .project(p)
            .form(&[("token", "x")]),
    );
    expect(
        "post",
        introspect,
        415,
        main.post(introspect)
            .bearer(&kinds.super_token)
            .body(Some("text/plain"), "token=x"),
    );
}

fn service_tokens_are_created_used_listed_and_revoked_as_documented(kinds: &EveryKind) {
    let main = Instance::main();
    let p = kinds.project.as_str();
    let collection = "/api/service-tokens";
    let one = "/api/service-tokens/{id}";
    let body = json!({"name": "contract", "workspaces": ["contract/x"], "expires_in_days": 1});

    // Create, use, list, revoke, use again, revoke again.
    let created = expect(
        "post",
        collection,
        201,
        main.post(collection)
            .bearer(&kinds.super_token)
            .project(p)
            .json(&body),
    )
    .json();
    let token = created["token"].as_str().expect("a token");
    let id = created["id"].as_str().expect("an id");
    expect(
        "get",
        "/api/auth/whoami",
        200,
        main.get("/api/auth/whoami").bearer(token).project(p),
    );
    for credential in [&kinds.super_token, &kinds.service.token] {
        expect(
            "get",
            collection,
            200,
            main.get(collection).bearer(credential).project(p),
        );
    }
    // Narrower than the service token that creates it.
    expect(
        "post",
        collection,
        201,
        main.post(collection)
            .bearer(&kinds.service.token)
            .project(p)
            // 2.0 is the JSON number 2 (a float once made the server refuse it).
            .json(&json!({"name": "narrower", "workspaces": ["contract/y/*"], "expires_in_days": 2.0})),
    );
    // A leak report: 202 whatever was sent; a malformed one 400.
    expect(
        "post",
        "/api/credentials/revoke",
        202,
        main.post("/api/credentials/revoke")
            .json(&json!({"credentials": ["eas_not-a-real-token"]})),
    );
    expect(
        "post",
        "/api/credentials/revoke",
        400,
        main.post("/api/credentials/revoke")
            .json(&json!({"credentials": "eas_x"})),
    );
    // Roll: a new token for the old, which keeps a minute of grace, then is rolled again at
    // once (revoked); a bad grace is 400, a member 403, an unknown id 404.
    let roll = "/api/service-tokens/{id}/roll";
    let rolled = expect(
        "post",
        roll,
        201,
        main.post(&format!("{collection}/{id}/roll"))
            .bearer(&kinds.super_token)
            .project(p)
            .json(&json!({"grace_seconds": 60})),
    )
    .json();
    let rolled_id = rolled["id"].as_str().expect("the new token's id");
    expect(
        "post",
        roll,
        201,
        main.post(&format!("{collection}/{rolled_id}/roll"))
            .bearer(&kinds.super_token)
            .project(p)
            .json(&json!({})),
    );
    expect(
        "post",
        roll,
        400,
        main.post(&format!("{collection}/{id}/roll"))
            .bearer(&kinds.super_token)
            .project(p)
            .json(&json!({"grace_seconds": -1})),
    );
    expect(
        "post",
        roll,
        404,
        main.post(&format!("{collection}/{rolled_id}/roll"))
            .bearer(&kinds.super_token)
            .project(p)
            .json(&json!({})),
    );
    expect(
        "post",
        roll,
        401,
        main.post(&format!("{collection}/{id}/roll"))
            .project(p)
            .json(&json!({})),
    );
    let target = format!("{collection}/{id}");
    expect(
        "delete",
        one,
        204,
        main.delete(&target).bearer(&kinds.super_token).project(p),
    );
    expect(
        "get",
        "/api/auth/whoami",
        401,
        main.get("/api/auth/whoami").bearer(token).project(p),
    );
    expect(
        "delete",
        one,
        404,
        main.delete(&target).bearer(&kinds.super_token).project(p),
    );

    // Refusals.
    expect("get", collection, 401, main.get(collection).project(p));
    expect(
        "post",
        collection,
        401,
        main.post(collection).project(p).json(&body),
    );
    expect(
        "post",
        collection,
        403,
        main.post(collection)
            .bearer(&kinds.service.token)
            .project(p)
            .json(&json!({"name": "broader", "workspaces": ["*"]})),
    );
    for (content_type, bad, status) in [
        (Some("application/json"), b"{\"name\": 1}".to_vec(), 400),
        (Some("application/json"), b"{not json".to_vec(), 400),
        (Some("text/plain"), b"name=x".to_vec(), 415),
        (
            Some("application/json"),
            format!("{{\"name\": \"{}\"}}", "x".repeat(20_000)).into_bytes(),
            413,
        ),
    ] {
        expect(
            "post",
            collection,
            status,
            main.post(collection)
                .bearer(&kinds.super_token)
                .project(p)
                .body(content_type, bad),
        );
    }
    let created_elsewhere = mint_service_token(&main, &kinds.super_token, p, "wide", &["*"]);
    // A member manages no service token (the admin role is needed).
    let member = sign_in_with_teams(&main, &unique("contract-member"), &[MEMBER_TEAM]);
    let member_token = member.create_token(p, &json!({"name": "member"}));
    expect(
        "delete",
        one,
        403,
        main.delete(&format!("{collection}/{}", created_elsewhere.id))
            .bearer(&member_token.token)
            .project(p),
    );
    // A service token sees only the tokens it created: another's is not found.
    expect(
        "delete",
        one,
        404,
        main.delete(&format!("{collection}/{}", created_elsewhere.id))
            .bearer(&kinds.service.token)
            .project(p),
    );
    expect(
        "delete",
        one,
        401,
        main.delete(&format!("{collection}/st_x")).project(p),
    );
    let nosecret = Instance::nosecret();
    let super_token = super_token();
    expect(
        "get",
        collection,
        501,
        nosecret.get(collection).bearer(&super_token),
    );
    expect(
        "post",
        collection,
        501,
        nosecret.post(collection).bearer(&super_token).json(&body),
    );
    expect(
        "delete",
        one,
        501,
        nosecret
            .delete(&format!("{collection}/st_x"))
            .bearer(&super_token),
    );
    expect(
        "get",
        collection,
        503,
        Instance::badconfig().get(collection).bearer(&super_token),
    );
}

fn a_persons_tokens_and_identity_answer_as_documented(kinds: &EveryKind) {
    let main = Instance::main();
    let p = kinds.project.as_str();
    let me = "/api/users/me";
    let collection = "/api/tokens";
    let one = "/api/tokens/{id}";

    for credential in [&kinds.user.token, &kinds.device.access_token] {
        expect("get", me, 200, main.get(me).bearer(credential).project(p));
        expect(
            "get",
            collection,
            200,
            main.get(collection).bearer(credential).project(p),
        );
    }
    expect("get", me, 200, kinds.session.get(me).project(p));
    expect(
        "get",
        me,
        403,
        main.get(me).bearer(&kinds.super_token).project(p),
    );
    expect("get", me, 401, main.get(me));
    expect(
        "get",
        collection,
        403,
        main.get(collection).bearer(&kinds.service.token).project(p),
    );

    // Create with a user token, use, revoke; with the session and with an access token.
    let created = expect(
        "post",
        collection,
        201,
        main.post(collection)
            .bearer(&kinds.user.token)
            .project(p)
            .json(&json!({"name": "contract", "workspaces": ["contract/*"], "expires_in_days": 2})),
    )
    .json();
    let token = created["token"].as_str().expect("a token");
    expect("get", me, 200, main.get(me).bearer(token).project(p));
    // Roll one of the person's tokens: the new one, shown once; the old one kept a minute.
    let spare = expect(
        "post",
        collection,
        201,
        main.post(collection)
            .bearer(&kinds.user.token)
            .project(p)
            .json(&json!({"name": "to roll"})),
    )
    .json();
    let spare_id = spare["id"].as_str().expect("an id");
    expect(
        "post",
        "/api/tokens/{id}/roll",
        201,
        main.post(&format!("{collection}/{spare_id}/roll"))
            .bearer(&kinds.user.token)
            .project(p)
            .json(&json!({"grace_seconds": 60})),
    );
    expect(
        "post",
        "/api/tokens/{id}/roll",
        403,
        main.post(&format!("{collection}/{spare_id}/roll"))
            .bearer(&kinds.service.token)
            .project(p)
            .json(&json!({})),
    );
    let target = format!("{collection}/{}", created["id"].as_str().expect("an id"));
    expect(
        "delete",
        one,
        204,
        main.delete(&target).bearer(&kinds.user.token).project(p),
    );
    expect(
        "delete",
        one,
        404,
        main.delete(&target).bearer(&kinds.user.token).project(p),
    );
    expect("get", me, 401, main.get(me).bearer(token).project(p));
    expect(
        "post",
        collection,
        201,
        kinds
            .session
            .write("POST", collection)
            .project(p)
            .json(&json!({"name": "from the session"})),
    );
    expect(
        "post",
        collection,
        201,
        main.post(collection)
            .bearer(&kinds.device.access_token)
            .project(p)
            .json(&json!({"name": "from an access token"})),
    );

    // Refusals.
    expect(
        "post",
        collection,
        403,
        main.post(collection)
            .bearer(&kinds.super_token)
            .json(&json!({"name": "not a person"})),
    );
    expect(
        "post",
        collection,
        403,
        cookie_only("POST", &kinds.session, collection)
            .project(p)
            .json(&json!({"name": "no CSRF token"})),
    );
    expect(
        "post",
        collection,
        401,
        main.post(collection).json(&json!({"name": "x"})),
    );
    for (content_type, bad, status) in [
        (Some("application/json"), b"{\"name\": \"\"}".to_vec(), 400),
        (Some("application/json"), b"[".to_vec(), 400),
        (
            Some("application/x-www-form-urlencoded"),
            b"name=x".to_vec(),
            415,
        ),
        (Some("application/json"), vec![b' '; 17_000], 413),
    ] {
        expect(
            "post",
            collection,
            status,
            main.post(collection)
                .bearer(&kinds.user.token)
                .project(p)
                .body(content_type, bad),
        );
    }
    expect(
        "delete",
        one,
        403,
        main.delete("/api/tokens/ut_x").bearer(&kinds.super_token),
    );
    expect("delete", one, 401, main.delete("/api/tokens/ut_x"));
    expect(
        "delete",
        one,
        404,
        main.delete("/api/tokens/ut_x")
            .bearer(&kinds.user.token)
            .project(p),
    );
}

fn the_browser_sign_in_answers_as_documented(kinds: &EveryKind) {
    let main = Instance::main();
    let p = kinds.project.as_str();
    let login = "/api/auth/login";
    let callback = "/api/auth/callback";
    let account = "/account";

    expect(
        "get",
        login,
        302,
        main.get(&format!("{login}?return_to=/account")),
    );
    expect(
        "get",
        login,
        302,
        main.get(&format!("{login}?return_to=/account&prompt=select_account")),
    );
    expect(
        "get",
        login,
        400,
        main.get(&format!("{login}?return_to=//evil.example")),
    );
    expect(
        "get",
        login,
        400,
        main.get(&format!("{login}?return_to=//evil.example"))
            .accept_html(),
    );
    expect("get", login, 501, Instance::nosecret().get(login));
    expect(
        "get",
        login,
        503,
        Instance::badconfig().get(login).accept_html(),
    );

    // A whole sign-in, its callback checked.
    let answer = oidc::authorize_as(&main, DEMO, None);
    let response = checked(
        "get",
        callback,
        main.get(&answer.target)
            .cookie(oidc::LOGIN_COOKIE, &answer.login_cookie),
    );
    let session = oidc::session_from(&main, DEMO, &response);
    expect("get", callback, 400, main.get(&answer.target));
    expect("get", callback, 400, main.get(&answer.target).accept_html());
    expect("get", callback, 501, Instance::nosecret().get(callback));

    expect("get", account, 200, main.get(account));
    expect("get", account, 200, session.get(account).accept_html());
    expect(
        "get",
        account,
        200,
        main.get(account).bearer(&kinds.user.token).project(p),
    );
    expect(
        "get",
        account,
        400,
        main.get(&format!("{account}?project=Bad!")).accept_html(),
    );
    expect(
        "get",
        account,
        401,
        main.get(account).bearer("eau_nope").accept_html(),
    );
    expect(
        "get",
        account,
        501,
        Instance::nosecret().get(account).accept_html(),
    );

    // The service-token page, with each credential kind: a page for a browser session (the
    // person is no admin of the project: the page says which role it takes), the sign-in
    // page for a bearer credential or the super token (neither is a browser), the error
    // pages of the account page.
    let service_page = "/account/service-tokens";
    let service_page_in = format!("{service_page}?project={p}");
    expect("get", service_page, 200, main.get(service_page));
    expect(
        "get",
        service_page,
        200,
        session.get(&service_page_in).accept_html(),
    );
    expect(
        "get",
        service_page,
        200,
        kinds.session.get(&service_page_in).accept_html(),
    );
    for bearer in [
        &kinds.user.token,
        &kinds.service.token,
        &kinds.device.access_token,
        &kinds.super_token,
    ] {
        expect(
            "get",
            service_page,
            200,
            main.get(service_page).bearer(bearer).project(p),
        );
    }
    expect(
        "get",
        service_page,
        400,
        main.get(&format!("{service_page}?project=Bad!"))
            .accept_html(),
    );
    expect(
        "get",
        service_page,
        401,
        main.get(service_page).bearer("eau_nope").accept_html(),
    );
    expect(
        "get",
        service_page,
        501,
        Instance::nosecret().get(service_page).accept_html(),
    );

    let logout = "/api/auth/logout";
    expect("post", logout, 204, main.post(logout));
    expect("post", logout, 403, cookie_only("POST", &session, logout));
    expect(
        "post",
        logout,
        403,
        cookie_only("POST", &session, logout)
            .origin(main.base_url())
            .accept_html(),
    );
    expect(
        "post",
        logout,
        303,
        session
            .write("POST", logout)
            .form(&[("csrf_token", &session.csrf_token)]),
    );
    expect("post", logout, 204, session.write("POST", logout));
}

fn the_cli_login_answers_as_documented(kinds: &EveryKind) {
    let main = Instance::main();
    let p = kinds.project.as_str();
    let start = "/api/auth/cli-start";
    let exchange = "/api/auth/cli-exchange";
    let verifier = "contract-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
    let redirect_uri = "http://127.0.0.1:45678/callback";
    let state = "contract-state-0123456789";
    let query = format!(
        "{start}?redirect_uri={}&state={state}&code_challenge={}&code_challenge_method=S256&name=contract&project={p}",
        url_encode(redirect_uri),
        pkce_challenge(verifier)
    );
    expect("get", start, 302, main.get(&query));
    expect("get", start, 200, kinds.session.get(&query).accept_html());
    expect("get", start, 400, main.get(start).accept_html());
    expect("get", start, 400, main.get(start));
    expect(
        "get",
        start,
        403,
        main.get(&query).bearer(&kinds.user.token),
    );
    expect("get", start, 501, Instance::nosecret().get(&query));

    let decide = |decision: &str| {
        kinds
            .session
            .write("POST", &format!("{start}?project={p}"))
            .form(&[
                ("redirect_uri", redirect_uri),
                ("state", state),
                ("code_challenge", &pkce_challenge(verifier)),
                ("code_challenge_method", "S256"),
                ("name", "contract"),
                ("csrf_token", &kinds.session.csrf_token),
                ("decision", decision),
            ])
    };
    expect("post", start, 303, decide("deny"));
    let approved = expect("post", start, 303, decide("approve"));
    let location = url::Url::parse(approved.location()).expect("a loopback URL");
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {location}"));
    expect("post", start, 400, decide("maybe"));
    expect(
        "post",
        start,
        403,
        cookie_only("POST", &kinds.session, start).form(&[("decision", "approve")]),
    );
    expect(
        "post",
        start,
        415,
        kinds.session.write("POST", start).json(&json!({})),
    );

    let body = json!({"code": code, "code_verifier": verifier, "redirect_uri": redirect_uri});
    let created = expect("post", exchange, 201, main.post(exchange).json(&body)).json();
    expect(
        "get",
        "/api/auth/whoami",
        200,
        main.get("/api/auth/whoami")
            .bearer(created["token"].as_str().expect("a token"))
            .project(p),
    );
    expect("post", exchange, 400, main.post(exchange).json(&body));
    expect(
        "post",
        exchange,
        400,
        main.post(exchange).json(&json!({"code": 1})),
    );
    expect(
        "post",
        exchange,
        400,
        main.post(exchange).json(&json!({})).project("Bad!"),
    );
    expect(
        "post",
        exchange,
        401,
        main.post(exchange).bearer("eas_nope").json(&body),
    );
    expect(
        "post",
        exchange,
        415,
        main.post(exchange).form(&[("code", "x")]),
    );
    expect(
        "post",
        exchange,
        413,
        main.post(exchange)
            .body(Some("application/json"), vec![b' '; 17_000]),
    );
}

fn the_device_login_answers_as_documented(kinds: &EveryKind) {
    let main = Instance::main();
    let p = kinds.project.as_str();
    let code = "/api/auth/device/code";
    let device = "/device";
    let token = "/api/auth/token";
    let revoke = "/api/auth/revoke";

    // The steps of the login made for `credentials()`.
    contract().check("post", code, &kinds.device.authorization);
    contract().check("get", device, &kinds.device.confirmation);
    contract().check("post", device, &kinds.device.approval);
    contract().check("post", token, &kinds.device.tokens);

    expect("post", code, 200, main.post(code).project(p));
    expect(
        "post",
        code,
        200,
        main.post(code).form(&[("client_name", "form")]),
    );
    expect(
        "post",
        code,
        400,
        main.post(code).json(&json!({"client_name": ""})),
    );
    expect("post", code, 400, main.post(code).json(&json!([])));
    expect(
        "post",
        code,
        415,
        main.post(code).body(Some("text/plain"), "x"),
    );
    expect(
        "post",
        code,
        413,
        main.post(code)
            .body(Some("application/json"), vec![b' '; 17_000]),
    );
    expect("post", code, 501, Instance::nosecret().post(code));

    expect("get", device, 302, main.get(device));
    expect("get", device, 200, kinds.session.get(device).accept_html());
    expect(
        "get",
        device,
        403,
        main.get(device).bearer(&kinds.user.token).project(p),
    );
    expect("get", device, 501, Instance::nosecret().get(device));
    expect(
        "post",
        device,
        403,
        cookie_only("POST", &kinds.session, device).form(&[("decision", "approve")]),
    );
    expect(
        "post",
        device,
        400,
        kinds
            .session
            .write("POST", device)
            .form(&[("user_code", "BCDF-GHJK"), ("decision", "maybe")]),
    );
    expect(
        "post",
        device,
        415,
        kinds.session.write("POST", device).json(&json!({})),
    );

    // Polls, refreshes and revocation.
    let pending = main.post(code).send().json();
    let poll = |device_code: &str| {
        main.post(token).form(&[
            ("grant_type", edgeauth_e2e::credentials::DEVICE_CODE_GRANT),
            ("device_code", device_code),
        ])
    };
    expect(
        "post",
        token,
        400,
        poll(pending["device_code"].as_str().expect("a device code")),
    );
    expect(
        "post",
        token,
        400,
        main.post(token).form(&[("grant_type", "password")]),
    );
    expect(
        "post",
        token,
        400,
        main.post(token)
            .json(&json!({"grant_type": "refresh_token"})),
    );
    let refreshed = expect(
        "post",
        token,
        200,
        main.post(token).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &kinds.device.refresh_token),
        ]),
    )
    .json();
    expect(
        "post",
        token,
        415,
        main.post(token).body(Some("text/plain"), "grant_type=x"),
    );
    expect(
        "post",
        token,
        501,
        Instance::nosecret()
            .post(token)
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "ear_x")]),
    );
    let latest = refreshed["refresh_token"]
        .as_str()
        .expect("a refresh token");
    expect(
        "post",
        revoke,
        200,
        main.post(revoke).form(&[("token", latest)]),
    );
    expect(
        "post",
        revoke,
        200,
        main.post(revoke).json(&json!({"token": "ear_unknown"})),
    );
    expect("post", revoke, 400, main.post(revoke).form(&[]));
    expect(
        "post",
        revoke,
        415,
        main.post(revoke).body(Some("text/plain"), "token=x"),
    );
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Found by this test: a body over the limit with a `Content-Length`, sent to an endpoint that
/// reads OAuth parameters, was answered 413, but the instance then answered the next request
/// 503 ("worker restarted mid-request") or not at all. Every such refusal must leave the
/// Worker answering.
#[test]
fn an_oversized_body_leaves_the_worker_answering() {
    let main = Instance::main();
    for path in [
        "/api/auth/device/code",
        "/api/auth/token",
        "/api/auth/revoke",
        "/api/auth/cli-exchange",
        "/api/service-tokens",
    ] {
        for _ in 0..3 {
            let response = main
                .post(path)
                .bearer(&super_token())
                .body(Some("application/json"), vec![b' '; 17_000])
                .send();
            response.expect_status(413);
            main.get("/healthz").send().expect_json(200);
        }
    }
}
