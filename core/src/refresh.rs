//! Refresh tokens: rotation on every use, reuse detection, a short window in which a lost
//! answer can be fetched again, and the family's absolute cap.
//!
//! A device login starts a *family*: its first refresh token (`ear_`, 256 bits, a tag under
//! the refresh-token key, CRC checked offline by [`crate::token::check_format`]) and every
//! token that succeeds it. Each refresh spends the presented token and issues its successor
//! plus a new access token. A spent token presented again means two parties hold the family
//! (RFC 9700 §4.14.2, OAuth 2.1 §4.3.1): the whole family is revoked, so the thief and the
//! victim both have to log in again, and the access tokens already issued die within
//! [`access_token::MAX_LIFETIME_S`](crate::access_token::MAX_LIFETIME_S). A family also ends,
//! however often it is refreshed, at an absolute cap counted from its first login
//! ([`RefreshFamilyPolicy`], 30 days by default): rotation never extends it.
//!
//! # Replays: a rotation whose answer was lost
//!
//! A refresh can commit in storage and still never reach the client (the connection dropped,
//! storage answered "Network connection lost" after committing, the client timed out). The
//! client then holds only the spent token, and presenting it again must not end its login. So
//! the successor is not random: it is [`successor`]`(spent)`, minted from a stream keyed by
//! a key derived from `SECRET`
//! ([`KeyPurpose::RefreshSuccessors`](crate::crypto::KeyPurpose::RefreshSuccessors)) and
//! the spent token, so the Worker can mint it again from the spent token alone, and storage
//! keeps only its hash (`replaced_by`). A spent token presented again is a **replay**, answered with the same
//! successor (and a fresh access token), when all of these hold; otherwise it is **reuse**:
//!
//! - it was spent less than [`REPLAY_WINDOW_S`] (30 s) ago;
//! - its stored successor is the derived one (a token spent before successors were derived
//!   has none to give back);
//! - that successor has not been spent (or revoked) itself: once it was used, the chain has
//!   moved on and someone else holds the login, so the replay is reuse even within the window.
//!
//! A replay answers exactly what the first answer carried, to whoever holds the spent token,
//! which is what the holder of a lost answer needs; a thief who presents a token within 30 s
//! of its spend, before its successor is used, gets the same successor as the victim, and the
//! first of the two to present it after the other has used it revokes the family. Outside
//! these 30 s, reuse detection is exactly what it was.
//!
//! # Storage protocol (the Worker, on D1)
//!
//! Only `TokenHash::of(token)` is stored. A refresh of `old` at `now`, with
//! `new = successor(old)`:
//!
//! 1. `check_format` must say [`TokenKind::Refresh`] and the tag must verify; otherwise
//!    `invalid_grant` with no storage read.
//! 2. Read the token's row with its family's and its successor's:
//!    `SELECT t.used_at, t.revoked_at, t.replaced_by, s.used_at … FROM refresh_tokens t
//!    JOIN refresh_families f ON f.id = t.family_id LEFT JOIN refresh_tokens s
//!    ON s.token_hash = t.replaced_by WHERE t.token_hash = ?` and call [`decide`] (no row:
//!    `None`).
//! 3. [`RefreshDecision::Rotate`] or [`RefreshDecision::Replay`]: run **one D1 batch** (D1
//!    runs a batch as one transaction, statements in order, and serialises transactions):
//!    ```sql
//!    UPDATE refresh_tokens SET used_at = ?now, replaced_by = ?new
//!     WHERE token_hash = ?old AND used_at IS NULL AND revoked_at IS NULL
//!       AND family_id IN (SELECT id FROM refresh_families
//!                          WHERE revoked_at IS NULL AND expires_at > ?now);
//!    INSERT INTO refresh_tokens (token_hash, family_id, created_at)
//!    SELECT ?new, family_id, ?now FROM refresh_tokens
//!     WHERE token_hash = ?old AND replaced_by = ?new
//!       AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = ?new);
//!    SELECT 1 FROM refresh_tokens t
//!      JOIN refresh_tokens s ON s.token_hash = t.replaced_by
//!      JOIN refresh_families f ON f.id = t.family_id
//!     WHERE t.token_hash = ?old AND t.replaced_by = ?new AND t.used_at > ?now - window
//!       AND t.revoked_at IS NULL AND s.used_at IS NULL AND s.revoked_at IS NULL
//!       AND f.revoked_at IS NULL AND f.expires_at > ?now;
//!    ```
//!    The conditional `UPDATE` spends the token at most once; the `INSERT` stores its
//!    successor at most once; the final `SELECT` is the answer, read in the same transaction:
//!    "`new` is the live successor of `old`, spent less than a window ago, in a live
//!    family". Pass the `UPDATE`'s `changes` and whether the `SELECT` found its row to
//!    [`arbitrate`]: 1 and found is the rotation, 0 and found a replay (both answer `new`),
//!    not found is reuse. Step 2's read only sorts requests; the batch decides, so no stale
//!    read can answer a successor that was spent, or of a family revoked, in between.
//! 4. [`RefreshDecision::Reuse`] (from [`decide`] or [`arbitrate`]): revoke the family,
//!    `UPDATE refresh_families SET revoked_at = ?now WHERE id = ? AND revoked_at IS NULL`
//!    (idempotent), record an audit event, answer `invalid_grant`. Every condition of reuse
//!    only ever becomes more true (time passes, a spent token stays spent, `replaced_by`
//!    never changes), so a reuse decided from step 2's read stays right.
//! 5. Anything else: `invalid_grant`, nothing written.
//!
//! **Why it is race-free.** D1 runs the batches of concurrent requests one after the other.
//! Two identical retries of a live token: the first batch spends it and stores `new`; the
//! second finds it spent by `new`, within the window, `new` unused, and answers `new` too;
//! neither revokes. A retry racing the successor's own refresh: if its batch runs first, it
//! answers `new` before `new` was used (a replay); if second, it finds `new` spent and is
//! reuse. The batch is also safe to run again after a failure whose commit is unknown (the
//! Worker does, once, on a transient D1 error): a second run answers the same `new`.
//!
//! The successor carries no expiry of its own; it is bounded by its family's `expires_at`,
//! set once at the first login from [`RefreshFamilyPolicy::expires_at_ms`]. The access token
//! issued with it is cut by [`access_lifetime_s`] so it never outlives the family.
//!
//! A legitimate client that refreshes twice at once with the same token gets the same answer
//! twice; one that presents a token it already rotated further (an old copy of its
//! credentials) trips reuse detection, by design: the CLI serialises its refreshes.

use crate::base62;
use crate::crypto::{DerivedEntropy, DerivedKey, TokenHash};
use crate::ids::FamilyId;
use crate::token::{self, MintedToken, TokenKind};
use crate::Entropy;

/// A family's default absolute lifetime, from its first login: 30 days.
pub const DEFAULT_FAMILY_MAX_AGE_S: u32 = 30 * 86_400;
/// The longest absolute lifetime a deployment may configure: 365 days.
pub const MAX_FAMILY_MAX_AGE_S: u32 = 365 * 86_400;
/// Prefix of a family id, as stored and carried in an access token's `fam` claim.
pub const FAMILY_ID_PREFIX: &str = "fam_";
/// Base62 symbols of a family id after its prefix: 22 symbols hold 128 bits.
pub const FAMILY_ID_CHARS: usize = 22;
/// How long after a refresh token was spent it may be presented again and be answered with
/// the same successor (a replay, for a client whose answer was lost), as long as that
/// successor is unused: 30 s. Later, it is reuse and revokes the family.
pub const REPLAY_WINDOW_S: u32 = 30;
/// [`REPLAY_WINDOW_S`] in milliseconds, as storage compares times.
pub const REPLAY_WINDOW_MS: i64 = REPLAY_WINDOW_S as i64 * 1000;

/// The successor of the refresh token `spent`: a refresh token tagged under `refresh_key`
/// like any other, whose 256 bits are drawn from [`DerivedEntropy`] under `successor_key`
/// ([`KeyPurpose::RefreshSuccessors`](crate::crypto::KeyPurpose::RefreshSuccessors)) and
/// `spent`, so the same spent token always has the same successor and only a holder of
/// `SECRET` can tell what it is.
pub fn successor(spent: &str, successor_key: &DerivedKey, refresh_key: &DerivedKey) -> MintedToken {
    let mut entropy = DerivedEntropy::new(successor_key, spent.as_bytes());
    token::mint(TokenKind::Refresh, refresh_key, &mut entropy)
}

/// Whether a token spent at `used_at_ms` is still within the replay window at `now_ms`:
/// less than [`REPLAY_WINDOW_MS`] later (a clock behind the spender's counts as within).
pub fn within_replay_window(used_at_ms: i64, now_ms: i64) -> bool {
    now_ms.saturating_sub(used_at_ms) < REPLAY_WINDOW_MS
}

/// The earliest spend a replay at `now_ms` may follow: storage's `used_at > this`, the same
/// rule as [`within_replay_window`].
pub fn replayable_since_ms(now_ms: i64) -> i64 {
    now_ms.saturating_sub(REPLAY_WINDOW_MS)
}

/// A new family id, `fam_` + 128 random bits: public (it is in every access token of the
/// family), but unguessable, so one family's id says nothing about another's.
pub fn new_family_id(entropy: &mut dyn Entropy) -> FamilyId {
    FamilyId::new(format!(
        "{FAMILY_ID_PREFIX}{}",
        base62::random(FAMILY_ID_CHARS, entropy)
    ))
}

/// How long a refresh family may live, counted from its first login, whatever its rotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshFamilyPolicy {
    max_age_s: u32,
}

impl Default for RefreshFamilyPolicy {
    /// 30 days ([`DEFAULT_FAMILY_MAX_AGE_S`]).
    fn default() -> Self {
        Self {
            max_age_s: DEFAULT_FAMILY_MAX_AGE_S,
        }
    }
}

impl RefreshFamilyPolicy {
    /// A cap of `max_age_s` seconds: 1 s (for tests) up to [`MAX_FAMILY_MAX_AGE_S`].
    pub fn new(max_age_s: u32) -> Result<Self, String> {
        if (1..=MAX_FAMILY_MAX_AGE_S).contains(&max_age_s) {
            Ok(Self { max_age_s })
        } else {
            Err(format!(
                "the refresh family lifetime must be 1 to {MAX_FAMILY_MAX_AGE_S} seconds (365 days)"
            ))
        }
    }

    /// The cap, in seconds.
    pub fn max_age_s(&self) -> u32 {
        self.max_age_s
    }

    /// When a family whose first login was at `first_login_at_ms` ends (Unix ms). Stored once
    /// on the family; rotation never moves it.
    pub fn expires_at_ms(&self, first_login_at_ms: i64) -> i64 {
        first_login_at_ms.saturating_add(i64::from(self.max_age_s) * 1000)
    }
}

/// The lifetime to give an access token issued from a family at `now_ms`: `requested_s`, cut
/// so that it does not outlive the family (whole seconds, at least 1, since
/// [`access_token::mint`](crate::access_token::mint) gives no less).
pub fn access_lifetime_s(requested_s: u32, now_ms: i64, family_expires_at_ms: i64) -> u32 {
    let remaining_s = family_expires_at_ms.saturating_sub(now_ms).max(0) / 1000;
    let remaining_s = u32::try_from(remaining_s).unwrap_or(u32::MAX);
    requested_s.min(remaining_s).max(1)
}

/// What storage knows of a presented refresh token, its family and its successor (times in
/// Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRefresh {
    /// When this token was spent (rotated), if it was.
    pub used_at_ms: Option<i64>,
    /// The hash of the token that replaced it, if it was spent.
    pub replaced_by: Option<TokenHash>,
    /// Whether that successor was itself spent or revoked since.
    pub successor_spent: bool,
    /// When this token was revoked on its own, if it was.
    pub revoked_at_ms: Option<i64>,
    /// When its family was revoked (logout, or reuse detected), if it was.
    pub family_revoked_at_ms: Option<i64>,
    /// The family's absolute cap.
    pub family_expires_at_ms: i64,
}

/// The answer to a refresh-token grant (RFC 6749 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Spend the token (conditionally, see the module's storage protocol) and issue a
    /// successor and a new access token.
    Rotate,
    /// The token was spent moments ago and its successor is unused: answer that same
    /// successor again, with a new access token (the storage protocol's batch confirms it).
    Replay,
    /// The token was already spent and cannot be replayed: revoke its whole family.
    Reuse,
    /// The family (or this token) was revoked: refuse; nothing more to revoke.
    FamilyRevoked,
    /// The family reached its absolute cap: refuse; the user logs in again.
    Expired,
    /// No such token (never issued here, or purged): refuse.
    Unknown,
}

impl RefreshDecision {
    /// The RFC 6749 §5.2 `error` code: `invalid_grant` for every refusal, `None` for
    /// [`RefreshDecision::Rotate`] and [`RefreshDecision::Replay`].
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            RefreshDecision::Rotate | RefreshDecision::Replay => None,
            _ => Some("invalid_grant"),
        }
    }

    /// True when the Worker must revoke the token's family before answering.
    pub fn revokes_family(self) -> bool {
        self == RefreshDecision::Reuse
    }

    /// The `error_description`: what happened and what to do, with no token in it.
    pub fn description(self) -> &'static str {
        match self {
            RefreshDecision::Rotate => "the refresh token was rotated",
            RefreshDecision::Replay => {
                "the refresh token was rotated moments ago; here is the same successor again"
            }
            RefreshDecision::Reuse => {
                "the refresh token was already used, so its whole login was revoked; log in again"
            }
            RefreshDecision::FamilyRevoked => {
                "the refresh token's login was revoked (logout or reuse); log in again"
            }
            RefreshDecision::Expired => {
                "the refresh token's login reached its maximum age; log in again"
            }
            RefreshDecision::Unknown => "the refresh token is not known here; log in again",
        }
    }
}

/// Decides a refresh-token grant from the token's stored state (`stored`, step 2 of the
/// storage protocol) and its derived successor's hash (`derived_successor`, the hash of
/// [`successor`] of the presented token), in this order:
///
/// 1. no stored row: [`RefreshDecision::Unknown`];
/// 2. the family or the token revoked: [`RefreshDecision::FamilyRevoked`] (a spent token of a
///    revoked family is not "reuse": there is nothing left to revoke);
/// 3. `now ≥ family_expires_at`: [`RefreshDecision::Expired`] (likewise, an expired family
///    has nothing left to revoke);
/// 4. not spent: [`RefreshDecision::Rotate`];
/// 5. spent less than [`REPLAY_WINDOW_S`] ago, replaced by `derived_successor`, and that
///    successor unspent: [`RefreshDecision::Replay`];
/// 6. otherwise spent: [`RefreshDecision::Reuse`].
///
/// Rotate and Replay are tentative: the Worker runs the storage protocol's batch, and
/// [`arbitrate`] settles the answer from what the batch found.
pub fn decide(
    stored: Option<&StoredRefresh>,
    derived_successor: &TokenHash,
    now_ms: i64,
) -> RefreshDecision {
    let Some(stored) = stored else {
        return RefreshDecision::Unknown;
    };
    if stored.family_revoked_at_ms.is_some() || stored.revoked_at_ms.is_some() {
        return RefreshDecision::FamilyRevoked;
    }
    if now_ms >= stored.family_expires_at_ms {
        return RefreshDecision::Expired;
    }
    let Some(used_at_ms) = stored.used_at_ms else {
        return RefreshDecision::Rotate;
    };
    let replaced_by_derived = stored
        .replaced_by
        .as_ref()
        .is_some_and(|hash| hash.ct_eq(derived_successor));
    if within_replay_window(used_at_ms, now_ms) && replaced_by_derived && !stored.successor_spent {
        RefreshDecision::Replay
    } else {
        RefreshDecision::Reuse
    }
}

/// Settles a rotation or replay from what the storage protocol's batch found: `spent_changes`,
/// the `changes` of its conditional `UPDATE … WHERE used_at IS NULL` (1: this request spent
/// the token), and `successor_answerable`, whether its final read found the derived
/// successor live (spent less than a window ago, unused, family live).
///
/// - 1 and found: [`RefreshDecision::Rotate`] (this request spent the token);
/// - 0 and found: [`RefreshDecision::Replay`] (another request, or an earlier run of this
///   batch, spent it for the same successor, which is still unused);
/// - not found: [`RefreshDecision::Reuse`] (spent by another successor, too long ago, its
///   successor since used, or the family revoked or capped in between; revoking a family
///   that may already be revoked is harmless). More than one changed row cannot happen with
///   `token_hash` unique; it is refused as reuse too rather than trusted.
pub fn arbitrate(spent_changes: u64, successor_answerable: bool) -> RefreshDecision {
    match (spent_changes, successor_answerable) {
        (1, true) => RefreshDecision::Rotate,
        (0, true) => RefreshDecision::Replay,
        _ => RefreshDecision::Reuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base62::tests::TestEntropy;
    use crate::crypto::{KeyPurpose, RootSecret};
    use crate::time::DAY_MS;

    const T0: i64 = 1_795_000_000_000;

    fn next() -> TokenHash {
        TokenHash::of("ear_the derived successor")
    }

    fn live() -> StoredRefresh {
        StoredRefresh {
            used_at_ms: None,
            replaced_by: None,
            successor_spent: false,
            revoked_at_ms: None,
            family_revoked_at_ms: None,
            family_expires_at_ms: T0 + 30 * DAY_MS,
        }
    }

    /// Spent at `used_at` for the derived successor, which is still unused.
    fn spent_at(used_at: i64) -> StoredRefresh {
        StoredRefresh {
            used_at_ms: Some(used_at),
            replaced_by: Some(next()),
            ..live()
        }
    }

    fn decided(stored: &StoredRefresh, now: i64) -> RefreshDecision {
        decide(Some(stored), &next(), now)
    }

    #[test]
    fn a_fresh_token_of_a_live_family_rotates() {
        assert_eq!(decided(&live(), T0), RefreshDecision::Rotate);
        assert_eq!(
            decided(&live(), T0 + 30 * DAY_MS - 1),
            RefreshDecision::Rotate
        );
    }

    #[test]
    fn an_unknown_token_is_refused() {
        assert_eq!(decide(None, &next(), T0), RefreshDecision::Unknown);
    }

    #[test]
    fn a_token_spent_moments_ago_whose_successor_is_unused_is_a_replay() {
        for delay in [0, 1, 1_000, REPLAY_WINDOW_MS - 1] {
            let d = decided(&spent_at(T0), T0 + delay);
            assert_eq!(d, RefreshDecision::Replay, "{delay} ms after the spend");
            assert!(!d.revokes_family());
            assert_eq!(d.error_code(), None);
        }
        // A clock behind the one that spent it: still within the window.
        assert_eq!(decided(&spent_at(T0), T0 - 500), RefreshDecision::Replay);
    }

    #[test]
    fn the_window_is_30_seconds_and_after_it_a_replay_is_reuse() {
        assert_eq!(REPLAY_WINDOW_S, 30);
        assert_eq!(REPLAY_WINDOW_MS, 30_000);
        for delay in [REPLAY_WINDOW_MS, REPLAY_WINDOW_MS + 1, DAY_MS] {
            let d = decided(&spent_at(T0), T0 + delay);
            assert_eq!(d, RefreshDecision::Reuse, "{delay} ms after the spend");
            assert!(d.revokes_family());
        }
        assert!(within_replay_window(T0, T0 + REPLAY_WINDOW_MS - 1));
        assert!(!within_replay_window(T0, T0 + REPLAY_WINDOW_MS));
        // Storage's form of the same rule: used_at > replayable_since.
        assert!(T0 > replayable_since_ms(T0 + REPLAY_WINDOW_MS - 1));
        assert!(T0 <= replayable_since_ms(T0 + REPLAY_WINDOW_MS));
        assert_eq!(replayable_since_ms(i64::MIN), i64::MIN);
    }

    #[test]
    fn a_replay_after_the_successor_was_used_is_reuse_even_within_the_window() {
        let moved_on = StoredRefresh {
            successor_spent: true,
            ..spent_at(T0)
        };
        let d = decided(&moved_on, T0 + 1);
        assert_eq!(d, RefreshDecision::Reuse);
        assert!(d.revokes_family());
    }

    #[test]
    fn a_token_spent_for_another_successor_cannot_be_replayed() {
        // Spent before successors were derived (a random one), or no successor recorded.
        let other = StoredRefresh {
            replaced_by: Some(TokenHash::of("ear_a random successor")),
            ..spent_at(T0)
        };
        assert_eq!(decided(&other, T0 + 1), RefreshDecision::Reuse);
        let none = StoredRefresh {
            replaced_by: None,
            ..spent_at(T0)
        };
        assert_eq!(decided(&none, T0 + 1), RefreshDecision::Reuse);
    }

    #[test]
    fn a_revoked_family_or_token_is_refused_without_more_revoking() {
        let family_revoked = StoredRefresh {
            family_revoked_at_ms: Some(T0 - 1),
            ..live()
        };
        assert_eq!(decided(&family_revoked, T0), RefreshDecision::FamilyRevoked);
        // A spent token of a revoked family, replayable or not: revocation, not reuse.
        for spent in [spent_at(T0 - 5), spent_at(T0 - DAY_MS)] {
            let spent_and_revoked = StoredRefresh {
                family_revoked_at_ms: Some(T0 - 1),
                ..spent
            };
            let d = decided(&spent_and_revoked, T0);
            assert_eq!(d, RefreshDecision::FamilyRevoked);
            assert!(!d.revokes_family());
        }
        let token_revoked = StoredRefresh {
            revoked_at_ms: Some(T0 - 1),
            ..live()
        };
        assert_eq!(decided(&token_revoked, T0), RefreshDecision::FamilyRevoked);
        // Revocation outranks expiry.
        let both = StoredRefresh {
            family_expires_at_ms: T0,
            ..family_revoked
        };
        assert_eq!(decided(&both, T0), RefreshDecision::FamilyRevoked);
    }

    #[test]
    fn the_family_cap_is_absolute() {
        let capped = live();
        assert_eq!(decided(&capped, T0 + 30 * DAY_MS), RefreshDecision::Expired);
        assert_eq!(
            decided(&capped, T0 + 400 * DAY_MS),
            RefreshDecision::Expired
        );
        // An expired family's spent token, even just spent: nothing left to revoke or replay.
        let cap = T0 + 30 * DAY_MS;
        assert_eq!(decided(&spent_at(cap - 1), cap), RefreshDecision::Expired);
    }

    #[test]
    fn the_cap_counts_from_the_first_login_and_is_configurable() {
        let default = RefreshFamilyPolicy::default();
        assert_eq!(default.max_age_s(), 30 * 86_400);
        assert_eq!(default.expires_at_ms(T0), T0 + 30 * DAY_MS);
        let short = RefreshFamilyPolicy::new(5).unwrap();
        assert_eq!(short.expires_at_ms(T0), T0 + 5_000);
        assert!(RefreshFamilyPolicy::new(0).is_err());
        assert!(RefreshFamilyPolicy::new(MAX_FAMILY_MAX_AGE_S).is_ok());
        assert!(RefreshFamilyPolicy::new(MAX_FAMILY_MAX_AGE_S + 1).is_err());
        assert_eq!(
            RefreshFamilyPolicy::new(1).unwrap().expires_at_ms(i64::MAX),
            i64::MAX
        );
    }

    #[test]
    fn the_batch_settles_rotation_replay_and_reuse() {
        // Two concurrent refreshes of one token: the first batch spends it, the second finds
        // it spent for the same, unused successor; both answer it.
        assert_eq!(arbitrate(1, true), RefreshDecision::Rotate);
        assert_eq!(arbitrate(0, true), RefreshDecision::Replay);
        // Not answerable: spent too long ago, for another successor, the successor used, or
        // the family revoked or capped meanwhile.
        assert_eq!(arbitrate(0, false), RefreshDecision::Reuse);
        assert!(arbitrate(0, false).revokes_family());
        assert_eq!(arbitrate(1, false), RefreshDecision::Reuse);
        assert_eq!(arbitrate(2, true), RefreshDecision::Reuse);
    }

    #[test]
    fn refusals_are_invalid_grant_with_a_description() {
        assert_eq!(RefreshDecision::Rotate.error_code(), None);
        assert_eq!(RefreshDecision::Replay.error_code(), None);
        for d in [
            RefreshDecision::Reuse,
            RefreshDecision::FamilyRevoked,
            RefreshDecision::Expired,
            RefreshDecision::Unknown,
        ] {
            assert_eq!(d.error_code(), Some("invalid_grant"));
            assert!(d.description().ends_with("log in again"), "{d:?}");
            assert_eq!(d.revokes_family(), d == RefreshDecision::Reuse);
        }
    }

    #[test]
    fn a_successor_is_derived_from_the_spent_token_and_secret() {
        let secret = RootSecret::new(&"s".repeat(32)).unwrap();
        let other = RootSecret::new(&"S".repeat(32)).unwrap();
        let keys = |s: &RootSecret| {
            (
                s.derive(KeyPurpose::RefreshSuccessors),
                s.derive(KeyPurpose::RefreshTokens),
            )
        };
        let (successors, tags) = keys(&secret);
        let first = token::mint(TokenKind::Refresh, &tags, &mut TestEntropy(9));
        let next = successor(first.plaintext(), &successors, &tags);
        // A refresh token like any other: shape, checksum, tag.
        assert_eq!(
            token::check_format(next.plaintext()),
            Ok(TokenKind::Refresh)
        );
        assert_eq!(token::verify_tag(next.plaintext(), &tags), Ok(()));
        // The same every time, and different from its predecessor and from its own successor.
        let again = successor(first.plaintext(), &successors, &tags);
        assert_eq!(again.plaintext(), next.plaintext());
        assert_eq!(again.hash(), next.hash());
        assert_ne!(next.plaintext(), first.plaintext());
        let after = successor(next.plaintext(), &successors, &tags);
        assert_ne!(after.plaintext(), next.plaintext());
        // Another deployment (another SECRET) derives another successor.
        let (other_successors, other_tags) = keys(&other);
        let elsewhere = successor(first.plaintext(), &other_successors, &other_tags);
        assert_ne!(elsewhere.plaintext()[4..47], next.plaintext()[4..47]);
        // The tag key alone does not make the successor: the entropy needs its own key.
        let tags_as_successors = successor(first.plaintext(), &tags, &tags);
        assert_ne!(tags_as_successors.plaintext(), next.plaintext());
    }

    #[test]
    fn an_access_token_never_outlives_its_family() {
        let expires = T0 + 30 * DAY_MS;
        assert_eq!(access_lifetime_s(900, T0, expires), 900);
        assert_eq!(access_lifetime_s(900, expires - 600_000, expires), 600);
        assert_eq!(access_lifetime_s(900, expires - 1_500, expires), 1);
        assert_eq!(access_lifetime_s(900, expires + 1, expires), 1);
        assert_eq!(access_lifetime_s(5, T0, expires), 5);
    }

    #[test]
    fn family_ids_are_prefixed_random_and_distinct() {
        let mut e = TestEntropy(5);
        let a = new_family_id(&mut e);
        let b = new_family_id(&mut e);
        assert_ne!(a, b);
        let a = a.as_str();
        assert!(a.starts_with("fam_") && a.len() == 4 + FAMILY_ID_CHARS);
        assert!(base62::is_base62(&a[4..]));
    }
}
