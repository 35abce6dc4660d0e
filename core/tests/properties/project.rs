//! `project`: project names, `[a-z0-9][a-z0-9-]{0,62}`.

use edgeauth_core::ProjectName;
use proptest::prelude::*;

use crate::strategies::{cases, over, text};

fn in_grammar(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn a_project_name_is_accepted_exactly_when_it_is_in_the_grammar(
        s in prop_oneof![
            text(),
            over("az09-A_ .é", 70),
            "[a-z0-9][a-z0-9-]{0,70}",
        ],
    ) {
        match ProjectName::parse(&s) {
            Ok(name) => {
                prop_assert!(in_grammar(&s), "{:?}", s);
                prop_assert_eq!(name.as_str(), s.as_str());
                prop_assert_eq!(name.to_string(), s);
            }
            Err(message) => {
                prop_assert!(!in_grammar(&s), "{:?}", s);
                // The name is quoted escaped, so no control character reaches a log or header.
                prop_assert!(!message.chars().any(char::is_control), "{:?}", message);
            }
        }
    }
}
