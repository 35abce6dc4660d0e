//! `/` for a person's browser: what this server is, and the ways in.

use askama::Template;

use super::render;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage;

/// The home page: what edgeauth is, Sign in, the account page, the device page, the API
/// reference and the health check. The same for everyone: it reads no session.
pub fn home_html() -> String {
    render(&HomePage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::html_checks::assert_no_inline_script_or_style;

    #[test]
    fn home_page_says_what_this_is_and_links_the_ways_in() {
        let html = home_html();
        assert!(html.contains("<title>Home · edgeauth</title>"));
        assert!(html.contains(r#"<h1 id="home-heading">"#));
        for link in [
            r#"id="signin" class="button primary large" href="/api/auth/login?return_to=%2Faccount""#,
            r#"href="/account""#,
            r#"href="/device""#,
            r#"href="/openapi.json""#,
            r#"href="/healthz""#,
        ] {
            assert!(html.contains(link), "{link}");
        }
        assert!(!html.contains("<script"));
        assert_no_inline_script_or_style(&html);
    }
}
