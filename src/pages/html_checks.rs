//! What the pages' unit tests check HTML with: hostile input, and a strict reading of tags and
//! attributes that any text which escaped its element or its quotes would trip.

/// Text that becomes markup, an event handler or a broken attribute if it is not escaped.
pub const HOSTILE: &str = r#"x"><script>alert(1)</script><img src=x onerror=alert(2) a='b&c"#;

/// [`HOSTILE`] as the pages must show it, written out here rather than computed by the escaper.
pub const HOSTILE_ESCAPED: &str =
    "x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2) a=&#39;b&amp;c";

/// The markup a page is made of: its tags (between `<` and `>`), without the text between
/// them. Escaped input contains neither character, so it cannot add or cut a tag.
pub fn tags(html: &str) -> Vec<&str> {
    html.split('<')
        .skip(1)
        .map(|rest| &rest[..rest.find('>').expect("every tag is closed")])
        .collect()
}

/// A tag's attribute names, read strictly: `name`, or `name="value"` where the value holds
/// no `"`. A value that broke out of its quotes would leave a token this refuses.
pub fn attribute_names(tag: &str) -> Vec<&str> {
    let mut rest = tag.trim_start_matches('/');
    let name_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    rest = &rest[name_end..];
    let mut names = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return names;
        }
        let end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = &rest[..end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-' || c == '_'),
            "a stray token {name:?} in <{tag}>"
        );
        names.push(name);
        rest = &rest[end..];
        if let Some(value) = rest.strip_prefix("=\"") {
            let close = value.find('"').expect("a quoted value is closed");
            rest = &value[close + 1..];
            assert!(
                rest.is_empty() || rest.starts_with(char::is_whitespace),
                "a value runs into the next token in <{tag}>"
            );
        }
    }
}

/// Hostile input stayed text: no tag, no attribute, no script came of it.
pub fn assert_no_injection(html: &str) {
    assert!(!html.contains(HOSTILE), "hostile text appears unescaped");
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<img"));
    for tag in tags(html) {
        if tag.starts_with('!') {
            continue; // <!doctype html>
        }
        for name in attribute_names(tag) {
            assert!(!name.starts_with("on"), "an event handler in <{tag}>");
        }
    }
}

/// A whole page, with no inline script, inline style, event handler or `javascript:` URL (the
/// CSP would refuse them): its stylesheet, and at most the external `/account.js`.
pub fn assert_no_inline_script_or_style(html: &str) {
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains(r#"<link rel="stylesheet" href="/account.css">"#));
    assert!(!html.contains("<style"));
    for tag in tags(html).into_iter().filter(|t| !t.starts_with('!')) {
        // By attribute name: an attribute value may well say "CLI on laptop".
        for name in attribute_names(tag) {
            assert!(name != "style", "inline style in <{tag}>");
            assert!(!name.starts_with("on"), "inline handler in <{tag}>");
        }
        assert!(!tag.contains("javascript:"), "script URL in <{tag}>");
    }
    // The only script is the external one, with nothing between its tags.
    for (i, _) in html.match_indices("<script") {
        assert!(html[i..].starts_with(r#"<script src="/account.js" defer></script>"#));
    }
}
