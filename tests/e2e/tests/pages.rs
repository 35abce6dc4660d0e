//! Content negotiation: a person's browser (`Accept: text/html` first) gets pages in the
//! house style, for `/`, for an unknown path and for an API error on a GET; API clients
//! (`application/json`, `*/*`, no `Accept`) get exactly the JSON they always got.

use edgeauth_e2e::*;

const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// The page checks every HTML answer passes: a page of ours (stylesheet, security headers),
/// and no raw backticks from a message.
fn assert_house_page(response: &Response) -> String {
    let content_type = response.header("Content-Type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{response}");
    let html = response.text();
    assert!(html.starts_with("<!doctype html>"), "{response}");
    assert!(html.contains(r#"<link rel="stylesheet" href="/account.css">"#));
    assert!(
        response
            .header("Content-Security-Policy")
            .is_some_and(|csp| csp.contains("script-src 'self'")),
        "{response}"
    );
    assert!(!html.contains('`'), "raw backticks on a page:\n{html}");
    html
}

#[test]
fn a_browser_opening_the_root_gets_the_home_page_and_a_client_the_same_404() {
    let main = Instance::main();
    let home = main.get("/").header("Accept", BROWSER).send();
    home.expect_status(200);
    assert_eq!(home.header("Vary"), Some("Accept"), "{home}");
    let html = assert_house_page(&home);
    assert!(html.contains(r#"<h1 id="home-heading">"#), "{html}");
    for link in [
        r#"href="/api/auth/login?return_to=%2Faccount""#,
        r#"href="/account""#,
        r#"href="/account/service-tokens""#,
        r#"href="/device""#,
        r#"href="/openapi.json""#,
        r#"href="/healthz""#,
    ] {
        assert!(html.contains(link), "{link} on the home page");
    }
    // HEAD as GET.
    main.request("HEAD", "/")
        .header("Accept", BROWSER)
        .send()
        .expect_status(200);
    for accept in [None, Some("*/*"), Some("application/json")] {
        let mut request = main.get("/");
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        let response = request.send();
        assert_eq!(
            response.header("Vary"),
            Some("Accept"),
            "caches keep the two apart"
        );
        let message = response.expect_error(404, "not_found");
        assert!(message.contains("no endpoint at `/`"), "{message}");
    }
}

#[test]
fn an_unknown_path_is_a_page_for_a_browser_and_json_for_a_client() {
    let main = Instance::main();
    let page = main.get("/no-such-page").header("Accept", BROWSER).send();
    page.expect_html_error(404, "not_found");
    let html = assert_house_page(&page);
    assert!(
        html.contains("no endpoint at <code>/no-such-page</code>"),
        "{html}"
    );
    assert!(html.contains(r#"href="/""#) && html.contains(r#"href="/account""#));
    // A client: the JSON it always got, message and all.
    let message = main
        .get("/no-such-page")
        .header("Accept", "application/json")
        .send()
        .expect_error(404, "not_found");
    assert_eq!(
        message,
        "no endpoint at `/no-such-page`; see the API reference, `/openapi.json` (docs/api.md in the repository)"
    );
    main.get("/no-such-page")
        .send()
        .expect_error(404, "not_found");
    // A form post is not a page view: JSON.
    main.post("/no-such-page")
        .header("Accept", BROWSER)
        .send()
        .expect_error(404, "not_found");
}

#[test]
fn an_api_error_on_a_get_is_a_page_for_a_browser_only() {
    let main = Instance::main();
    let page = main.get("/api/tokens").header("Accept", BROWSER).send();
    page.expect_html_error(401, "unauthorized");
    assert!(
        page.header("WWW-Authenticate").is_some(),
        "the page keeps the challenge:\n{page}"
    );
    let html = assert_house_page(&page);
    // The message's `code` span (what to send, or which command to run) is markup.
    assert!(html.contains("<code>"), "{html}");
    main.get("/api/tokens")
        .header("Accept", "application/json")
        .send()
        .expect_error(401, "unauthorized");
    main.get("/api/tokens")
        .send()
        .expect_error(401, "unauthorized");
    // The page's own script asks for JSON and gets it; writes are never pages.
    main.post("/api/tokens")
        .header("Accept", BROWSER)
        .send()
        .expect_error(401, "unauthorized");
}

#[test]
fn a_sign_in_error_page_links_the_path_it_names() {
    let main = Instance::main();
    // A callback without its sign-in cookie: "…; start again at /api/auth/login".
    let page = main
        .get("/api/auth/callback?code=c&state=s")
        .header("Accept", BROWSER)
        .send();
    page.expect_html_error(400, "login_expired");
    let html = assert_house_page(&page);
    assert!(
        html.contains(r#"start again at <a href="/api/auth/login">/api/auth/login</a>"#),
        "{html}"
    );
}
