//! The CLI loopback login by raw HTTP (docs/api.md, "CLI loopback login"): what a CLI holds
//! while it waits ([`CliLogin`]: a bound loopback port, state, PKCE verifier), and the
//! person's part in the browser ([`approve_on`]: the consent page, its form, the redirect to
//! the loopback with a code).

use std::io::Read;
use std::net::TcpListener;

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use url::Url;

use crate::http::{Instance, Response};
use crate::oidc::{Session, SESSION_COOKIE};
use crate::unique;

// --- secrets of a login, as the CLI makes them ---------------------------------------------

/// `n` bytes from the OS, base64url without padding.
pub fn random_b64url(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7636 S256: base64url(SHA-256(verifier)).
pub fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// What a CLI holds while it waits for the browser: a loopback listener (bound, so that the
/// port really is this test's), a state, a PKCE verifier, and the token name it asks for.
pub struct CliLogin {
    _listener: TcpListener,
    pub redirect_uri: String,
    pub state: String,
    pub verifier: String,
    pub name: String,
}

impl CliLogin {
    pub fn new(name_prefix: &str) -> CliLogin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("a local address").port();
        CliLogin {
            _listener: listener,
            redirect_uri: format!("http://127.0.0.1:{port}/callback"),
            state: random_b64url(32),
            verifier: random_b64url(32),
            name: unique(name_prefix),
        }
    }

    pub fn challenge(&self) -> String {
        s256(&self.verifier)
    }

    /// The cli-start parameters, as the CLI sends them.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("redirect_uri", self.redirect_uri.clone()),
            ("state", self.state.clone()),
            ("code_challenge", self.challenge()),
            ("code_challenge_method", "S256".to_owned()),
            ("name", self.name.clone()),
        ]
    }

    /// `/api/auth/cli-start?…` with the parameters, `overrides` replacing (or, with `None`,
    /// removing) some of them.
    pub fn start_target(&self, overrides: &[(&str, Option<&str>)]) -> String {
        let mut pairs: Vec<(String, String)> = self
            .params()
            .into_iter()
            .filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k))
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        for (k, v) in overrides {
            if let Some(v) = v {
                pairs.push(((*k).to_owned(), (*v).to_owned()));
            }
        }
        format!("/api/auth/cli-start?{}", query(&pairs))
    }

    /// The body of `POST /api/auth/cli-exchange` for `code`.
    pub fn exchange_body(&self, code: &str) -> Value {
        json!({"code": code, "code_verifier": self.verifier, "redirect_uri": self.redirect_uri})
    }

    /// The secrets of this login, for the never-stored checks.
    pub fn secrets(&self) -> Vec<(String, String)> {
        vec![
            ("a CLI login state".into(), self.state.clone()),
            ("a PKCE verifier".into(), self.verifier.clone()),
        ]
    }
}

/// Parameters to replace in a cli-start request (`None`: leave out).
pub type Overrides<'a> = Vec<(&'a str, Option<&'a str>)>;

pub fn query(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Path and query of a URL.
pub fn target_of(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

// --- the person's part by raw HTTP ----------------------------------------------------------

/// The hidden fields and the action of the consent page's form.
pub struct ConsentForm {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

pub fn html_unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of attribute `name` in one HTML tag.
pub fn tag_attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let rest = &tag[start..];
    Some(html_unescape(&rest[..rest.find('"')?]))
}

/// Reads the consent page: it must have `#approve` and `#deny` in one form posting to
/// `/api/auth/cli-start`; returns the form.
pub fn consent_form(page: &Response) -> ConsentForm {
    let html = page.text();
    assert!(
        html.contains("id=\"approve\"") && html.contains("id=\"deny\""),
        "the consent page has #approve and #deny:\n{page}"
    );
    let form_at = html
        .find("<form")
        .unwrap_or_else(|| panic!("the consent page has no form:\n{page}"));
    assert_eq!(
        html.matches("<form").count(),
        1,
        "the consent page has one form:\n{page}"
    );
    let form_tag = &html[form_at..form_at + html[form_at..].find('>').expect("a closed tag")];
    let action = tag_attribute(form_tag, "action").expect("the form has an action");
    assert_eq!(
        tag_attribute(form_tag, "method").as_deref(),
        Some("post"),
        "{page}"
    );
    assert!(
        action.starts_with("/api/auth/cli-start"),
        "the form posts to /api/auth/cli-start:\n{page}"
    );
    let fields = html
        .match_indices("<input")
        .filter_map(|(at, _)| {
            let tag = &html[at..at + html[at..].find('>')?];
            (tag_attribute(tag, "type")? == "hidden")
                .then(|| Some((tag_attribute(tag, "name")?, tag_attribute(tag, "value")?)))?
        })
        .collect();
    ConsentForm { action, fields }
}

impl ConsentForm {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET target` on `instance` as the browser of `session` (its cookie, `Accept: text/html`).
pub fn browse(instance: &Instance, session: &Session, target: &str) -> Response {
    instance
        .get(target)
        .cookie(SESSION_COOKIE, &session.cookie)
        .accept_html()
        .send()
}

/// Posts the consent form as the browser does: the page's hidden fields, `decision`, the
/// session cookie and the instance's Origin.
pub fn post_consent(
    instance: &Instance,
    session: &Session,
    form: &ConsentForm,
    decision: &str,
) -> Response {
    let mut fields: Vec<(&str, &str)> = form
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    fields.push(("decision", decision));
    instance
        .post(&form.action)
        .cookie(SESSION_COOKIE, &session.cookie)
        .origin(instance.base_url())
        .accept_html()
        .form(&fields)
        .send()
}

/// Checks a 303 to the loopback: `redirect_uri` with `state` and either `code` or `error`.
/// Returns the Location.
pub fn expect_loopback_redirect(response: &Response, redirect_uri: &str, state: &str) -> Url {
    response.expect_status(303);
    let location = Url::parse(response.location())
        .unwrap_or_else(|e| panic!("Location is not an absolute URL ({e}):\n{response}"));
    let mut bare = location.clone();
    bare.set_query(None);
    assert_eq!(
        bare.as_str(),
        redirect_uri,
        "the redirect goes to the CLI's redirect_uri exactly:\n{response}"
    );
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some(state),
        "the redirect carries the CLI's state:\n{response}"
    );
    location
}

/// The person approves `login` on `instance` in the browser of `session`: consent page, then
/// `#approve`. Returns the code from the redirect to the loopback.
pub fn approve_on(instance: &Instance, session: &Session, login: &CliLogin) -> String {
    let page = browse(instance, session, &login.start_target(&[]));
    page.expect_status(200);
    let form = consent_form(&page);
    assert_eq!(form.field("csrf_token"), Some(session.csrf_token.as_str()));
    for (name, value) in login.params() {
        assert_eq!(
            form.field(name),
            Some(value.as_str()),
            "the form carries {name} as given:\n{page}"
        );
    }
    let response = post_consent(instance, session, &form, "approve");
    let location = expect_loopback_redirect(&response, &login.redirect_uri, &login.state);
    assert_eq!(query_param(&location, "error"), None, "{response}");
    let code = query_param(&location, "code")
        .unwrap_or_else(|| panic!("an approval redirects with a code:\n{response}"));
    assert_eq!(code.len(), 43, "a 256-bit code is 43 base64url characters");
    assert!(
        code.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "the code is base64url"
    );
    code
}
