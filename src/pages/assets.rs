//! `/account.js` and `/account.css`, the pages' only script and stylesheet, compiled into the
//! Worker.

use worker::Response;

/// `/account.js` and `/account.css`, with their content types; `None` for any other path.
pub fn asset(path: &str) -> Option<Response> {
    let (content_type, source) = asset_source(path)?;
    Some(crate::http::fixed(
        200,
        source.as_bytes().to_vec(),
        content_type,
    ))
}

/// The content type and text of a static asset of the page.
fn asset_source(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "/account.js" => Some((
            "text/javascript; charset=utf-8",
            include_str!("../../assets/account.js"),
        )),
        "/account.css" => Some((
            "text/css; charset=utf-8",
            include_str!("../../assets/account.css"),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_served_with_their_types() {
        let (js_type, js) = asset_source("/account.js").expect("the script");
        assert_eq!(js_type, "text/javascript; charset=utf-8");
        assert!(js.contains("/api/tokens"));
        let (css_type, css) = asset_source("/account.css").expect("the stylesheet");
        assert_eq!(css_type, "text/css; charset=utf-8");
        assert!(css.contains("#tokens") || css.contains(".tokens"));
        assert!(asset_source("/account").is_none());
        assert!(asset_source("/account.js/").is_none());
        assert!(asset_source("/../account.js").is_none());
    }

    #[test]
    fn the_script_never_stores_the_plaintext() {
        let (_, js) = asset_source("/account.js").expect("the script");
        for forbidden in [
            "localStorage",
            "sessionStorage",
            "indexedDB",
            "document.cookie",
            "innerHTML",
            "eval(",
        ] {
            assert!(!js.contains(forbidden), "account.js uses {forbidden}");
        }
        assert!(js.contains("credentials: 'same-origin'"));
        assert!(js.contains("'X-CSRF-Token'"));
    }
}
