//! `refresh`: the decision table of a refresh-token grant (rotation, replay within the window,
//! reuse, revocation, the cap), the settling of the storage batch, and derived successors.

use edgeauth_core::crypto::KeyPurpose;
use edgeauth_core::refresh::{
    arbitrate, decide, successor, RefreshDecision, StoredRefresh, REPLAY_WINDOW_MS,
};
use edgeauth_core::token::{self, TokenKind};
use edgeauth_core::TokenHash;
use proptest::prelude::*;

use crate::strategies::{cases, tag_key, Seeded, OTHER_SECRET, SECRET};

const T0: i64 = 1_795_000_000_000;
const DAY_MS: i64 = 86_400_000;

/// The derived successor's hash, as the Worker computes it for the presented token.
fn derived() -> TokenHash {
    TokenHash::of("ear_derived")
}

/// Any stored state: spent or not (and when, relative to T0), replaced by the derived
/// successor or another, that successor spent or not, revoked or not, any cap.
fn stored() -> impl Strategy<Value = StoredRefresh> {
    (
        proptest::option::of(-2 * REPLAY_WINDOW_MS..2 * REPLAY_WINDOW_MS),
        prop_oneof![
            Just(None),
            Just(Some(derived())),
            Just(Some(TokenHash::of("x")))
        ],
        any::<bool>(),
        proptest::option::weighted(0.2, 0i64..DAY_MS),
        proptest::option::weighted(0.2, 0i64..DAY_MS),
        -DAY_MS..30 * DAY_MS,
    )
        .prop_map(
            |(used, replaced_by, successor_spent, revoked, family_revoked, cap)| StoredRefresh {
                used_at_ms: used.map(|d| T0 + d),
                replaced_by,
                successor_spent,
                revoked_at_ms: revoked.map(|d| T0 - d),
                family_revoked_at_ms: family_revoked.map(|d| T0 - d),
                family_expires_at_ms: T0 + cap,
            },
        )
}

fn now() -> impl Strategy<Value = i64> {
    T0 - REPLAY_WINDOW_MS..T0 + 3 * REPLAY_WINDOW_MS
}

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn each_answer_holds_only_in_its_situation(stored in stored(), now in now()) {
        let d = decide(Some(&stored), &derived(), now);
        let revoked = stored.revoked_at_ms.is_some() || stored.family_revoked_at_ms.is_some();
        let expired = now >= stored.family_expires_at_ms;
        prop_assert_eq!(d == RefreshDecision::FamilyRevoked, revoked);
        prop_assert_eq!(d == RefreshDecision::Expired, !revoked && expired);
        prop_assert_eq!(
            d == RefreshDecision::Rotate,
            !revoked && !expired && stored.used_at_ms.is_none()
        );
        if d == RefreshDecision::Replay {
            // Only the derived successor, still unused, less than a window after the spend.
            let used_at = stored.used_at_ms.expect("a replay is of a spent token");
            prop_assert!(now - used_at < REPLAY_WINDOW_MS);
            prop_assert_eq!(stored.replaced_by.as_ref(), Some(&derived()));
            prop_assert!(!stored.successor_spent);
        }
        // A spent token of a live family is either replayed or reuse; only reuse revokes.
        if !revoked && !expired && stored.used_at_ms.is_some() {
            prop_assert!(matches!(d, RefreshDecision::Replay | RefreshDecision::Reuse));
        }
        prop_assert_eq!(d.revokes_family(), d == RefreshDecision::Reuse);
        prop_assert_eq!(
            d.error_code().is_none(),
            matches!(d, RefreshDecision::Rotate | RefreshDecision::Replay)
        );
    }

    /// Reuse stays reuse: time passing and the successor being used never turn it back into
    /// an answer (so a reuse decided from a read that is already stale is still right).
    #[test]
    fn reuse_is_never_undone_by_time_or_the_successor_moving_on(
        stored in stored(),
        now in now(),
        later in 0i64..2 * REPLAY_WINDOW_MS,
        successor_used_since in any::<bool>(),
    ) {
        if decide(Some(&stored), &derived(), now) != RefreshDecision::Reuse {
            return Ok(());
        }
        let moved_on = StoredRefresh {
            successor_spent: stored.successor_spent || successor_used_since,
            ..stored.clone()
        };
        let again = decide(Some(&moved_on), &derived(), now + later);
        prop_assert!(
            matches!(again, RefreshDecision::Reuse | RefreshDecision::Expired),
            "{:?} became {:?}", stored, again
        );
    }

    /// A replay within the window is reuse once the window has passed, with nothing else
    /// changed; and reuse at once when its successor is used.
    #[test]
    fn a_replay_ends_with_the_window_or_the_successors_use(
        used in 0i64..REPLAY_WINDOW_MS,
        delay in 0i64..REPLAY_WINDOW_MS,
    ) {
        let spent = StoredRefresh {
            used_at_ms: Some(T0 + used),
            replaced_by: Some(derived()),
            successor_spent: false,
            revoked_at_ms: None,
            family_revoked_at_ms: None,
            family_expires_at_ms: T0 + DAY_MS,
        };
        let at = |now| decide(Some(&spent), &derived(), now);
        prop_assert_eq!(at(T0 + used + delay), RefreshDecision::Replay);
        prop_assert_eq!(at(T0 + used + REPLAY_WINDOW_MS + delay), RefreshDecision::Reuse);
        let moved_on = StoredRefresh { successor_spent: true, ..spent };
        prop_assert_eq!(
            decide(Some(&moved_on), &derived(), T0 + used + delay),
            RefreshDecision::Reuse
        );
    }

    #[test]
    fn only_a_found_successor_is_ever_answered(changes in 0u64..4, found in any::<bool>()) {
        let d = arbitrate(changes, found);
        prop_assert_eq!(d == RefreshDecision::Rotate, changes == 1 && found);
        prop_assert_eq!(d == RefreshDecision::Replay, changes == 0 && found);
        prop_assert_eq!(d == RefreshDecision::Reuse, !(found && changes <= 1));
    }

    /// A successor is a refresh token of this deployment, the same for the same spent token,
    /// another for another one, and another under another SECRET.
    #[test]
    fn successors_are_tagged_deterministic_and_distinct(a in any::<u64>(), b in any::<u64>()) {
        let tags = tag_key(SECRET, KeyPurpose::RefreshTokens);
        let keys = tag_key(SECRET, KeyPurpose::RefreshSuccessors);
        let first = token::mint(TokenKind::Refresh, &tags, &mut Seeded::new(a));
        let next = successor(first.plaintext(), &keys, &tags);
        prop_assert_eq!(token::check_format(next.plaintext()), Ok(TokenKind::Refresh));
        prop_assert_eq!(token::verify_tag(next.plaintext(), &tags), Ok(()));
        let again = successor(first.plaintext(), &keys, &tags);
        prop_assert_eq!(again.plaintext(), next.plaintext());
        prop_assert_ne!(next.plaintext(), first.plaintext());
        let other = token::mint(TokenKind::Refresh, &tags, &mut Seeded::new(b));
        if other.plaintext() != first.plaintext() {
            let others = successor(other.plaintext(), &keys, &tags);
            prop_assert_ne!(others.hash(), next.hash());
        }
        let elsewhere = successor(
            first.plaintext(),
            &tag_key(OTHER_SECRET, KeyPurpose::RefreshSuccessors),
            &tag_key(OTHER_SECRET, KeyPurpose::RefreshTokens),
        );
        prop_assert_ne!(elsewhere.hash(), next.hash());
        prop_assert!(token::verify_tag(elsewhere.plaintext(), &tags).is_err());
    }
}
