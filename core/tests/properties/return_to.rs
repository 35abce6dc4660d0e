//! `return_to`: an accepted value is always a path on our own origin, as a browser reads it.

use edgeauth_core::return_to::{safe_return_to, DEFAULT_RETURN_TO, MAX_RETURN_TO_LEN};
use proptest::prelude::*;
use url::Url;

use crate::strategies::{cases, over, text};

const ORIGIN: &str = "https://auth.example.test";

/// Paths built from the pieces of open-redirect tricks: slashes and backslashes, dot segments
/// plain and encoded, schemes, whitespace that browsers strip, and ordinary characters.
fn return_to_like() -> impl Strategy<Value = String> {
    let piece = proptest::sample::select(vec![
        "/",
        "/",
        "//",
        "\\",
        ".",
        "..",
        "%2e",
        "%2E",
        "%2f",
        "%5c",
        "%",
        "evil.test",
        "a",
        "?",
        "#",
        "@",
        ":",
        "https:",
        "javascript:",
        "\t",
        "\n",
        " ",
        "\u{a0}",
        "\u{2215}",
        "~",
        "account",
        "=",
        "&",
    ]);
    prop_oneof![
        4 => proptest::collection::vec(piece.clone(), 1..10).prop_map(|p| p.concat()),
        2 => proptest::collection::vec(piece, 1..10).prop_map(|p| format!("/{}", p.concat())),
        1 => over("/\\.%2eE?#a:@ ", 16),
        1 => text(),
        1 => (MAX_RETURN_TO_LEN - 2..MAX_RETURN_TO_LEN + 2)
            .prop_map(|n| format!("/{}", "a".repeat(n - 1))),
    ]
}

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn an_accepted_return_to_is_a_same_origin_path_as_given(input in return_to_like()) {
        let Some(kept) = safe_return_to(&input) else { return Ok(()) };
        prop_assert_eq!(&kept, &input);
        prop_assert!(kept.len() <= MAX_RETURN_TO_LEN);
        prop_assert!(kept.starts_with('/') && !kept.starts_with("//"));
        prop_assert!(kept.bytes().all(|b| b.is_ascii_graphic() && b != b'\\'));
        // Resolved by a browser against our origin: still our origin, and the path exactly as
        // given (no dot segment to resolve, nothing a browser would rewrite).
        let base = Url::parse(&format!("{ORIGIN}/api/auth/callback")).unwrap();
        let resolved = base.join(&kept).map_err(|e| TestCaseError::fail(format!("{kept}: {e}")))?;
        prop_assert_eq!(resolved.origin().ascii_serialization(), ORIGIN);
        prop_assert_eq!(resolved.username(), "");
        let path = kept.split(['?', '#']).next().unwrap();
        prop_assert_eq!(resolved.path(), path, "{}", kept);
    }

    #[test]
    fn safe_return_to_is_idempotent(input in return_to_like()) {
        let once = safe_return_to(&input);
        prop_assert_eq!(once.as_deref().and_then(safe_return_to), once);
    }

    #[test]
    fn ordinary_paths_are_kept(
        path in "(/[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,10}){1,5}/?(\\?[a-z]{1,5}=[A-Za-z0-9%]{0,8})?",
    ) {
        prop_assert_eq!(safe_return_to(&path), Some(path.clone()));
    }
}

#[test]
fn the_default_is_a_same_origin_path() {
    assert_eq!(
        safe_return_to(DEFAULT_RETURN_TO).as_deref(),
        Some(DEFAULT_RETURN_TO)
    );
}
