//! Signing in without a browser: the OIDC authorization-code round trip through a Worker
//! instance and the local identity provider (idp/server.mjs), one raw request at a time.
//!
//! [`begin`] asks the Worker to start a sign-in, [`authorize`] walks the provider's pages
//! (redirects, the login form, automatic consent) and stops at the redirect back to the
//! Worker's callback, *before* calling it: a test can then tamper with the ID token the
//! provider will issue for that code ([`tamper`]), or change the callback request, and finish
//! with [`Callback::finish`]. [`sign_in`] does the whole thing and returns a [`Session`].
//!
//! The provider's test hooks ([`tamper`], [`rotate_key`]) exist only because scripts/test
//! starts it with `EDGEAUTH_IDP_TEST_HOOKS=1`; see idp/README.md.

use std::collections::BTreeMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::{json, Value};
use url::Url;

use crate::http::{Instance, Response};
use crate::loopback::html_unescape;
use crate::store::{self, Row};
use crate::tokens::sha256_hex;

/// The sign-in cookie set by `/api/auth/login` and read by `/api/auth/callback`.
pub const LOGIN_COOKIE: &str = "edgeauth_login";
/// The session cookie set by a successful callback.
pub const SESSION_COOKIE: &str = "edgeauth_session";
/// The client id the instances are configured with (`OIDC_CLIENT_ID`).
pub const CLIENT_ID: &str = "edgeauth-local";
/// The team `ALLOWED_TEAMS` names on MAIN and PRIVATE.
pub const ALLOWED_TEAM: &str = "edgeauth-team";

const MAX_REDIRECTS: usize = 20;

/// A user of the local identity provider (idp/README.md).
#[derive(Debug, Clone, Copy)]
pub struct IdpUser {
    pub username: &'static str,
    pub password: &'static str,
    pub email: &'static str,
    pub name: &'static str,
    pub teams: &'static [&'static str],
}

/// In `edgeauth-team`, email verified: may sign in everywhere.
pub const DEMO: IdpUser = IdpUser {
    username: "demo",
    password: "demo-password",
    email: "demo@example.test",
    name: "Demo User",
    teams: &["edgeauth-team"],
};

/// In `edgeauth-members`, email verified: a member (not an admin) where `ALLOWED_TEAMS` names
/// that team too (MAIN), refused elsewhere.
pub const MEMBER: IdpUser = IdpUser {
    username: "member",
    password: "member-password",
    email: "member@example.test",
    name: "Member User",
    teams: &["edgeauth-members"],
};

/// The team MAIN's `ADMIN_TEAMS` names: its people administer every project there.
pub const ADMIN_TEAM: &str = "edgeauth-team";
/// A team MAIN lets sign in whose people are members, not admins.
pub const MEMBER_TEAM: &str = "edgeauth-members";

/// In `other-team`, email verified: refused where `ALLOWED_TEAMS` is set, welcome on OPEN.
pub const OUTSIDER: IdpUser = IdpUser {
    username: "outsider",
    password: "outsider-password",
    email: "outsider@example.test",
    name: "Outsider User",
    teams: &["other-team"],
};

/// In `edgeauth-team`, but `email_verified` is false: refused everywhere.
pub const UNVERIFIED: IdpUser = IdpUser {
    username: "unverified",
    password: "unverified-password",
    email: "unverified@example.test",
    name: "Unverified User",
    teams: &["edgeauth-team"],
};

/// The identity provider's issuer, `http://127.0.0.1:PORT` (`EDGEAUTH_E2E_IDP`).
pub fn issuer() -> String {
    Instance::idp().base_url().to_owned()
}

// ---- Serialising what counts sessions ---------------------------------------------------

/// Tests of one binary run in parallel; a test that asserts "no session (or token) was
/// created" by counting rows must not see another test's sign-in land meanwhile. Such a test
/// holds [`exclusive`]; every other test that writes to D1 holds [`shared`]. (Test binaries
/// themselves run one after another.)
static STORE_WRITERS: RwLock<()> = RwLock::new(());

/// Held by a test for its whole run while it may create sessions, users or tokens.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    STORE_WRITERS.read().unwrap_or_else(|e| e.into_inner())
}

/// Held by a test that counts rows before and after, or writes to D1 behind the Worker's back.
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    STORE_WRITERS.write().unwrap_or_else(|e| e.into_inner())
}

// ---- The walk ---------------------------------------------------------------------------

/// The Worker's answer to `GET /api/auth/login`: a redirect to the provider and a cookie.
#[derive(Debug)]
pub struct LoginStart {
    /// The absolute URL of the provider's authorization request.
    pub authorize_url: Url,
    /// The value of the `edgeauth_login` cookie.
    pub login_cookie: String,
    pub response: Response,
}

impl LoginStart {
    /// A query parameter of the authorization request (`state`, `nonce`, …).
    pub fn param(&self, name: &str) -> Option<String> {
        query_param(&self.authorize_url, name)
    }
}

/// `GET {instance}/api/auth/login?return_to=…`, asserting the documented 302 to the local
/// provider with an `edgeauth_login` cookie.
pub fn begin(instance: &Instance, return_to: Option<&str>) -> LoginStart {
    let target = match return_to {
        Some(path) => format!("/api/auth/login?return_to={}", encode(path)),
        None => "/api/auth/login".to_owned(),
    };
    let response = instance.get(&target).send();
    response.expect_status(302);
    let authorize_url = Url::parse(response.location())
        .unwrap_or_else(|e| panic!("Location is not an absolute URL ({e}):\n{response}"));
    let idp = instance.identity_provider();
    assert_eq!(
        authority(&authorize_url),
        idp.authority(),
        "the sign-in goes to the configured provider:\n{response}"
    );
    let cookie = response.expect_set_cookie(LOGIN_COOKIE);
    assert!(
        !cookie.value.is_empty(),
        "edgeauth_login has a value:\n{response}"
    );
    LoginStart {
        authorize_url,
        login_cookie: cookie.value,
        response,
    }
}

/// What the user does on the provider's login page.
#[derive(Debug, Clone, Copy)]
pub enum AtTheProvider {
    /// Sign in as this user (consent is automatic).
    SignIn(IdpUser),
    /// Press "Cancel": the provider answers the Worker with `error=access_denied`.
    Cancel,
}

/// The provider's redirect back to the Worker, not yet followed.
#[derive(Debug, Clone)]
pub struct Callback {
    pub instance: Instance,
    /// `/api/auth/callback?code=…&state=…&iss=…`, as the provider sent it.
    pub target: String,
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    /// The `edgeauth_login` cookie the browser holds.
    pub login_cookie: String,
}

impl Callback {
    /// The callback target with query parameter `name` set to `value` (`None` removes it).
    pub fn with_param(&self, name: &str, value: Option<&str>) -> String {
        let mut url = Url::parse(&format!("{}{}", self.instance.base_url(), self.target))
            .expect("the callback URL parses");
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != name)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        {
            let mut query = url.query_pairs_mut();
            query.clear();
            for (k, v) in &pairs {
                query.append_pair(k, v);
            }
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        target_of(&url)
    }

    /// Calls the callback as the browser would: the provider's URL, the login cookie.
    pub fn finish(&self) -> Response {
        self.finish_with(&self.target, Some(&self.login_cookie))
    }

    /// Calls `target` (a variation of the callback URL) with the given login cookie.
    pub fn finish_with(&self, target: &str, login_cookie: Option<&str>) -> Response {
        let mut request = self.instance.get(target);
        if let Some(cookie) = login_cookie {
            request = request.cookie(LOGIN_COOKIE, cookie);
        }
        request.send()
    }
}

/// Walks the provider from `start` as `user_action` says, until the provider redirects to the
/// instance's callback; returns that redirect, unfollowed.
pub fn authorize(instance: &Instance, start: &LoginStart, user_action: AtTheProvider) -> Callback {
    authorize_in(&mut CookieJar::default(), instance, start, user_action).0
}

/// A browser that keeps its cookies at the identity provider from one sign-in to the next:
/// its session there, which signs the same person in again without asking, until it ends.
#[derive(Debug, Default)]
pub struct ProviderBrowser {
    jar: CookieJar,
}

impl ProviderBrowser {
    /// [`authorize`] in this browser; also whether the provider showed its login form (it
    /// does not while its session lives, whoever `user_action` names).
    pub fn authorize(
        &mut self,
        instance: &Instance,
        start: &LoginStart,
        user_action: AtTheProvider,
    ) -> (Callback, bool) {
        authorize_in(&mut self.jar, instance, start, user_action)
    }

    /// A request to the provider with this browser's cookies (kept up to date).
    pub fn send(&mut self, request: crate::http::Request<'_>) -> Response {
        self.jar.send(request)
    }
}

fn authorize_in(
    jar: &mut CookieJar,
    instance: &Instance,
    start: &LoginStart,
    user_action: AtTheProvider,
) -> (Callback, bool) {
    let idp = instance.identity_provider();
    let callback_prefix = format!("{}/api/auth/callback", instance.base_url());
    let mut next = Step::Get(start.authorize_url.clone());
    let mut submitted = false;
    for _ in 0..MAX_REDIRECTS {
        let response = match &next {
            Step::Get(url) => jar.send(idp.get(&target_of(url))),
            Step::Post(url, fields) => {
                let fields: Vec<(&str, &str)> = fields
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                jar.send(idp.post(&target_of(url)).form(&fields))
            }
        };
        let here = match &next {
            Step::Get(url) | Step::Post(url, _) => url.clone(),
        };
        if matches!(response.status, 302 | 303) {
            let location = here
                .join(response.location())
                .unwrap_or_else(|e| panic!("bad Location ({e}):\n{response}"));
            if location.as_str().starts_with(&callback_prefix) {
                let callback = Callback {
                    instance: instance.clone(),
                    target: target_of(&location),
                    code: query_param(&location, "code"),
                    state: query_param(&location, "state"),
                    iss: query_param(&location, "iss"),
                    error: query_param(&location, "error"),
                    login_cookie: start.login_cookie.clone(),
                };
                return (callback, submitted);
            }
            assert_eq!(
                authority(&location),
                idp.authority(),
                "the provider redirects only to itself or to the callback:\n{response}"
            );
            next = Step::Get(location);
            continue;
        }
        assert_eq!(
            response.status, 200,
            "unexpected answer from the provider:\n{response}"
        );
        let page = response.text();
        // A page that submits itself by script (the provider ending its own session before
        // a `prompt=login`): what a browser does, done here.
        if page.contains("document.forms[0].submit()") {
            let (action, fields) = hidden_form(&page)
                .unwrap_or_else(|| panic!("a self-submitting page without a form:\n{response}"));
            let url = here
                .join(&action)
                .unwrap_or_else(|e| panic!("bad form action ({e}):\n{response}"));
            next = Step::Post(url, fields);
            continue;
        }
        let uid = interaction_uid(&page)
            .unwrap_or_else(|| panic!("the provider's page has no login form:\n{response}"));
        assert!(
            !submitted,
            "the provider showed its login form again (wrong password?):\n{response}"
        );
        submitted = true;
        next = match user_action {
            AtTheProvider::SignIn(user) => Step::Post(
                idp_url(&idp, &format!("/interaction/{uid}/login")),
                vec![
                    ("username".into(), user.username.into()),
                    ("password".into(), user.password.into()),
                ],
            ),
            AtTheProvider::Cancel => Step::Post(
                idp_url(&idp, &format!("/interaction/{uid}/abort")),
                Vec::new(),
            ),
        };
    }
    panic!("the provider did not send the browser back within {MAX_REDIRECTS} steps");
}

/// Begins a sign-in on `instance` and walks the provider as `user`: the unfollowed callback.
pub fn authorize_as(instance: &Instance, user: IdpUser, return_to: Option<&str>) -> Callback {
    let start = begin(instance, return_to);
    authorize(instance, &start, AtTheProvider::SignIn(user))
}

enum Step {
    Get(Url),
    Post(Url, Vec<(String, String)>),
}

/// The provider's cookies, by name. Its cookies are path-scoped; sending them all to it does
/// no harm and keeps this small.
#[derive(Debug, Default)]
struct CookieJar {
    cookies: BTreeMap<String, String>,
}

impl CookieJar {
    fn send(&mut self, mut request: crate::http::Request<'_>) -> Response {
        for (name, value) in &self.cookies {
            request = request.cookie(name, value);
        }
        let response = request.send();
        for cookie in response.set_cookies() {
            if cookie.clears() || cookie.value.is_empty() {
                self.cookies.remove(&cookie.name);
            } else {
                self.cookies.insert(cookie.name, cookie.value);
            }
        }
        response
    }
}

/// The `action` of the first `<form>` of `page` and its hidden fields, in order.
pub fn hidden_form(page: &str) -> Option<(String, Vec<(String, String)>)> {
    let form = &page[page.find("<form")?..];
    let form = &form[..form.find("</form>").unwrap_or(form.len())];
    let attribute = |tag: &str, name: &str| {
        let value = tag.split(&format!("{name}=\"")).nth(1)?;
        Some(html_unescape(&value[..value.find('"')?]))
    };
    let action = attribute(&form[..form.find('>')?], "action")?;
    let fields = form
        .split("<input")
        .skip(1)
        .filter_map(|input| {
            let tag = &input[..input.find('>')?];
            tag.contains("type=\"hidden\"")
                .then(|| Some((attribute(tag, "name")?, attribute(tag, "value")?)))?
        })
        .collect();
    Some((action, fields))
}

/// The interaction id in the login form's action, `/interaction/<uid>/login`.
fn interaction_uid(page: &str) -> Option<String> {
    let start = page.find("/interaction/")? + "/interaction/".len();
    let rest = &page[start..];
    let end = rest.find("/login")?;
    let uid = &rest[..end];
    (!uid.is_empty()
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then(|| uid.to_owned())
}

// ---- Sessions ---------------------------------------------------------------------------

/// A signed-in browser: its session cookie and the session's CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub instance: Instance,
    /// The value of the `edgeauth_session` cookie.
    pub cookie: String,
    /// From `<meta name="csrf-token">` on `/account`.
    pub csrf_token: String,
    pub user: IdpUser,
}

impl Session {
    /// A request carrying the session cookie (and nothing else a browser would add).
    pub fn get(&self, target: &str) -> crate::http::Request<'_> {
        self.instance
            .get(target)
            .cookie(SESSION_COOKIE, &self.cookie)
    }

    /// A state-changing request as the browser's page makes it: the session cookie, the
    /// instance's `Origin`, and `X-CSRF-Token`.
    pub fn write(&self, method: &str, target: &str) -> crate::http::Request<'_> {
        self.instance
            .request(method, target)
            .cookie(SESSION_COOKIE, &self.cookie)
            .origin(self.instance.base_url())
            .header("X-CSRF-Token", &self.csrf_token)
    }

    /// `GET /api/users/me` with the cookie, asserting a 200: the person.
    pub fn me(&self) -> Value {
        self.get("/api/users/me").send().expect_json(200)
    }

    /// `POST /api/tokens` in `project` with `body`, as the page does; asserts a 201.
    pub fn create_token(&self, project: &str, body: &Value) -> UserToken {
        let response = self
            .write("POST", "/api/tokens")
            .project(project)
            .json(body)
            .send();
        UserToken::from_creation(&response)
    }

    /// `GET /api/tokens` with the cookie: the listed tokens.
    pub fn list_tokens(&self) -> Vec<Value> {
        let listing = self.get("/api/tokens").send().expect_json(200);
        listing["tokens"]
            .as_array()
            .unwrap_or_else(|| panic!("no tokens array: {listing}"))
            .clone()
    }

    /// The SHA-256 (hex) of the cookie: what D1 may hold.
    pub fn hash(&self) -> String {
        sha256_hex(&self.cookie)
    }

    /// The session's row in D1, if there is one.
    pub fn stored(&self) -> Option<Row> {
        session_row(&self.instance, &self.hash())
    }
}

/// A user API token as returned by `POST /api/tokens`.
#[derive(Debug, Clone)]
pub struct UserToken {
    pub id: String,
    pub token: String,
    /// The whole 201 body.
    pub body: Value,
}

impl UserToken {
    /// The token from a creation response, asserting the 201.
    pub fn from_creation(response: &Response) -> UserToken {
        let body = response.expect_json(201);
        let field = |key: &str| {
            body[key]
                .as_str()
                .unwrap_or_else(|| panic!("creation response lacks string {key:?}:\n{response}"))
                .to_owned()
        };
        UserToken {
            id: field("id"),
            token: field("token"),
            body: body.clone(),
        }
    }
}

/// Signs `user` in on `instance` from start to finish and returns the session, asserting the
/// documented success (303, `edgeauth_session` set). Hold [`shared`] around it in a binary
/// that also has an [`exclusive`] test.
pub fn sign_in(instance: &Instance, user: IdpUser) -> Session {
    let callback = authorize_as(instance, user, None);
    let response = callback.finish();
    session_from(instance, user, &response)
}

/// The session a successful callback response set (303 and `edgeauth_session`), with its CSRF
/// token scraped from `/account`.
pub fn session_from(instance: &Instance, user: IdpUser, response: &Response) -> Session {
    response.expect_status(303);
    let cookie = response.expect_set_cookie(SESSION_COOKIE);
    assert!(
        !cookie.clears() && !cookie.value.is_empty(),
        "the session cookie is set, not cleared:\n{response}"
    );
    let csrf_token = csrf_token(instance, &cookie.value);
    Session {
        instance: instance.clone(),
        cookie: cookie.value,
        csrf_token,
        user,
    }
}

/// The CSRF token `/account` embeds for the session with cookie value `cookie`.
pub fn csrf_token(instance: &Instance, cookie: &str) -> String {
    let response = instance
        .get("/account")
        .cookie(SESSION_COOKIE, cookie)
        .accept_html()
        .send();
    response.expect_status(200);
    meta_content(&response.text(), "csrf-token")
        .unwrap_or_else(|| panic!("/account has no <meta name=\"csrf-token\">:\n{response}"))
}

/// The `content` of `<meta name="NAME" content="…">` in an HTML page (either attribute
/// order, either quote).
pub fn meta_content(page: &str, name: &str) -> Option<String> {
    page.match_indices("<meta").find_map(|(at, _)| {
        let tag = &page[at..at + page[at..].find('>')?];
        (attribute(tag, "name")? == name).then(|| attribute(tag, "content"))?
    })
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    for quote in ['"', '\''] {
        let needle = format!(" {name}={quote}");
        if let Some(start) = tag.find(&needle) {
            let rest = &tag[start + needle.len()..];
            return Some(rest[..rest.find(quote)?].replace("&amp;", "&"));
        }
    }
    None
}

// ---- D1 ---------------------------------------------------------------------------------

/// The `sessions` row whose `session_hash` is `hash`.
pub fn session_row(instance: &Instance, hash: &str) -> Option<Row> {
    store::table_rows(&instance.persist_dir(), "sessions")
        .into_iter()
        .find(|row| row["session_hash"] == hash)
}

/// The `users` row of the provider's `subject` on `instance`.
pub fn user_row(instance: &Instance, subject: &str) -> Option<Row> {
    let issuer = issuer();
    store::table_rows(&instance.persist_dir(), "users")
        .into_iter()
        .find(|row| row["issuer"] == issuer.as_str() && row["subject"] == subject)
}

/// How many rows `table` has on `instance` (`sessions`, `users`, `user_tokens`).
pub fn count(instance: &Instance, table: &str) -> usize {
    store::count_rows(&instance.persist_dir(), table)
}

// ---- The provider's test hooks ------------------------------------------------------------

/// Makes the provider replace the ID token it will issue for `code` (once): `spec` is the body
/// of `POST /__test/tamper` without `code` (`claims`, `alg`, `key`, `kid`, `keep_signature`).
pub fn tamper(code: &str, spec: Value) {
    let mut body = spec;
    body.as_object_mut()
        .expect("a tamper spec is a JSON object")
        .insert("code".into(), json!(code));
    let response = Instance::idp().post("/__test/tamper").json(&body).send();
    assert_eq!(
        response.status, 200,
        "the provider refused the tamper request (are its test hooks on?):\n{response}"
    );
}

/// A new provider signing key, published in its JWKS from now on: returns its `kid`.
pub fn rotate_key() -> String {
    let response = Instance::idp().post("/__test/rotate").send();
    let body = response.expect_json(200);
    body["kid"]
        .as_str()
        .unwrap_or_else(|| panic!("no kid:\n{response}"))
        .to_owned()
}

/// The `kid`s the provider publishes now.
pub fn published_kids() -> Vec<String> {
    let response = Instance::idp().get("/jwks").send();
    response.expect_status(200);
    let jwks = response.json();
    jwks["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys:\n{response}"))
        .iter()
        .map(|k| k["kid"].as_str().expect("a kid").to_owned())
        .collect()
}

// ---- URLs -------------------------------------------------------------------------------

/// Percent-encodes a query parameter value.
pub fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn idp_url(idp: &Instance, path: &str) -> Url {
    Url::parse(&format!("{}{path}", idp.base_url())).expect("a provider URL")
}

fn authority(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// Path and query of a URL: what goes on the request line.
fn target_of(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_tags_are_read_in_either_attribute_order() {
        let page = r#"<head><meta charset="utf-8"><meta name="csrf-token" content="abc_-1">
            <meta content='x&amp;y' name='other'></head>"#;
        assert_eq!(meta_content(page, "csrf-token").as_deref(), Some("abc_-1"));
        assert_eq!(meta_content(page, "other").as_deref(), Some("x&y"));
        assert_eq!(meta_content(page, "missing"), None);
    }

    #[test]
    fn the_login_form_names_its_interaction() {
        let page = r#"<form method="post" action="/interaction/Ab_c-9/login">"#;
        assert_eq!(interaction_uid(page).as_deref(), Some("Ab_c-9"));
        assert_eq!(interaction_uid("<p>no form</p>"), None);
    }
}
