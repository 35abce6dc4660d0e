//! `workspace`: names, patterns and scopes, and that coverage never grants more than matching.

use edgeauth_core::workspace::{MAX_PATTERNS, MAX_WORKSPACE_LEN};
use edgeauth_core::{Scope, WorkspaceName, WorkspacePattern};
use proptest::prelude::*;

use crate::strategies::{cases, over, text};

/// Names over a tiny alphabet, so that equal names, prefixes and parents are common.
fn small_name() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        proptest::sample::select(vec!["a", "b", "ab", "a.b", "b-", "_"]),
        1..4,
    )
    .prop_map(|segments| segments.join("/"))
}

fn name() -> impl Strategy<Value = WorkspaceName> {
    small_name().prop_map(|n| WorkspaceName::parse(&n).expect("a valid name"))
}

fn pattern() -> impl Strategy<Value = WorkspacePattern> {
    prop_oneof![
        1 => Just(WorkspacePattern::All),
        3 => name().prop_map(WorkspacePattern::Exact),
        3 => name().prop_map(WorkspacePattern::Below),
    ]
}

fn scope() -> impl Strategy<Value = Scope> {
    proptest::collection::vec(pattern(), 1..4).prop_map(Scope::new)
}

/// Pattern-like text: the characters of the grammar, and some that are not in it.
fn pattern_text() -> impl Strategy<Value = String> {
    prop_oneof![
        over("ab/*.-_ ", 12),
        over("a/*.\t\u{a0}é%\\", 8),
        "[A-Za-z0-9_.-]{1,20}(/[A-Za-z0-9_.-]{1,20}){0,6}(/\\*)?",
        (MAX_WORKSPACE_LEN - 2..MAX_WORKSPACE_LEN + 3).prop_map(|n| "w".repeat(n)),
        (MAX_WORKSPACE_LEN - 2..MAX_WORKSPACE_LEN + 3).prop_map(|n| format!("{}/*", "w".repeat(n))),
        text(),
    ]
}

/// A workspace that `q` matches and that no generated pattern matches unless it must: a
/// witness that `p` does not cover `q`.
fn witness(q: &WorkspacePattern) -> WorkspaceName {
    let w = match q {
        WorkspacePattern::All => "witness".to_owned(),
        WorkspacePattern::Exact(n) => n.as_str().to_owned(),
        WorkspacePattern::Below(n) => format!("{}/witness", n.as_str()),
    };
    WorkspaceName::parse(&w).expect("a valid name")
}

fn segments_are_valid(name: &str) -> bool {
    name.split('/').all(|s| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    })
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn a_workspace_name_is_kept_as_written_and_follows_the_grammar(s in pattern_text()) {
        if let Ok(name) = WorkspaceName::parse(&s) {
            prop_assert_eq!(name.as_str(), s.as_str());
            prop_assert!(!s.is_empty() && s.len() <= MAX_WORKSPACE_LEN);
            prop_assert!(segments_are_valid(&s), "{:?}", s);
        }
    }

    #[test]
    fn a_parsed_pattern_prints_as_its_trimmed_input_and_parses_back(s in pattern_text()) {
        if let Ok(p) = WorkspacePattern::parse(&s) {
            let printed = p.to_string();
            prop_assert_eq!(&printed, s.trim());
            prop_assert_eq!(WorkspacePattern::parse(&printed), Ok(p.clone()));
            match &p {
                WorkspacePattern::All => prop_assert_eq!(printed, "*"),
                WorkspacePattern::Exact(n) => prop_assert!(!n.as_str().contains('*')),
                WorkspacePattern::Below(n) => {
                    prop_assert_eq!(printed, format!("{}/*", n.as_str()));
                    prop_assert!(!n.as_str().contains('*'));
                }
            }
        }
    }

    #[test]
    fn generated_patterns_round_trip_through_text(p in pattern()) {
        prop_assert_eq!(WorkspacePattern::parse(&p.to_string()), Ok(p));
    }

    #[test]
    fn a_pattern_matches_exactly_what_it_says(p in pattern(), w in name()) {
        let expected = match &p {
            WorkspacePattern::All => true,
            WorkspacePattern::Exact(n) => n == &w,
            WorkspacePattern::Below(n) => w.as_str().starts_with(&format!("{}/", n.as_str())),
        };
        prop_assert_eq!(p.matches(&w), expected);
    }

    #[test]
    fn name_star_never_matches_name_itself(n in name()) {
        let below = WorkspacePattern::Below(n.clone());
        let exact = WorkspacePattern::Exact(n.clone());
        prop_assert!(!below.matches(&n));
        prop_assert!(!below.covers(&exact));
        prop_assert!(!exact.covers(&below));
    }

    #[test]
    fn coverage_is_exactly_inclusion_of_matches(
        p in pattern(),
        q in pattern(),
        samples in proptest::collection::vec(name(), 0..8),
    ) {
        if p.covers(&q) {
            // Sound: whatever q matches, p matches.
            for w in samples.iter().chain([&witness(&q)]) {
                prop_assert!(
                    !q.matches(w) || p.matches(w),
                    "{} covers {} but not {}",
                    p,
                    q,
                    w.as_str()
                );
            }
        } else {
            // Exact: there is a workspace q matches and p does not.
            let w = witness(&q);
            prop_assert!(
                q.matches(&w) && !p.matches(&w),
                "{} does not cover {}, yet matches {}",
                p,
                q,
                w.as_str()
            );
        }
    }

    #[test]
    fn coverage_is_reflexive_and_transitive(p in pattern(), q in pattern(), r in pattern()) {
        prop_assert!(p.covers(&p));
        if p.covers(&q) && q.covers(&r) {
            prop_assert!(p.covers(&r), "{} ⊇ {} ⊇ {}", p, q, r);
        }
    }

    #[test]
    fn a_parsed_scope_is_canonical(patterns in prop_oneof![
        proptest::collection::vec(pattern_text(), 0..4),
        proptest::collection::vec(pattern().prop_map(|p| p.to_string()), 0..40),
        proptest::collection::vec(
            prop_oneof![8 => pattern().prop_map(|p| p.to_string()), 1 => pattern_text()],
            0..6,
        ),
    ]) {
        match Scope::parse(&patterns) {
            Ok(scope) => {
                let n = scope.patterns().len();
                prop_assert!((1..=MAX_PATTERNS).contains(&n));
                for (i, p) in scope.patterns().iter().enumerate() {
                    prop_assert!(!scope.patterns()[..i].contains(p), "duplicate {}", p);
                }
                prop_assert_eq!(Scope::parse(&scope.to_strings()), Ok(scope.clone()));
            }
            Err(message) => prop_assert!(!message.is_empty()),
        }
    }

    #[test]
    fn scope_coverage_is_consistent_with_allows(
        mine in scope(),
        theirs in scope(),
        samples in proptest::collection::vec(name(), 0..8),
    ) {
        let covers = mine.covers(&theirs);
        prop_assert_eq!(
            covers,
            theirs.patterns().iter().all(|q| mine.patterns().iter().any(|p| p.covers(q)))
        );
        if covers {
            let witnesses: Vec<WorkspaceName> = theirs.patterns().iter().map(witness).collect();
            for w in samples.iter().chain(&witnesses) {
                prop_assert!(
                    !theirs.allows(w) || mine.allows(w),
                    "{:?} ⊇ {:?} but not {}",
                    mine,
                    theirs,
                    w.as_str()
                );
            }
        }
        prop_assert!(Scope::all().covers(&theirs));
        prop_assert_eq!(
            theirs.covers(&Scope::all()),
            theirs.patterns().contains(&WorkspacePattern::All)
        );
    }
}
