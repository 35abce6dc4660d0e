//! Refresh tokens: rotation on every use, reuse detection, and the family's absolute cap.
//!
//! A device login starts a *family*: its first refresh token (`ear_`, opaque, 256 bits, CRC
//! checked offline by [`crate::token::check_format`]) and every token that succeeds it. Each
//! refresh spends the presented token and issues its successor plus a new access token. A
//! spent token presented again means two parties hold the family (RFC 9700 §4.14.2, OAuth 2.1
//! §4.3.1): the whole family is revoked, so the thief and the victim both have to log in
//! again, and the access tokens already issued die within
//! [`access_token::MAX_LIFETIME_S`](crate::access_token::MAX_LIFETIME_S). A family also ends,
//! however often it is refreshed, at an absolute cap counted from its first login
//! ([`RefreshFamilyPolicy`], 30 days by default): rotation never extends it.
//!
//! # Storage protocol (the Worker, on D1)
//!
//! Only `TokenHash::of(token)` is stored. A refresh at `now`:
//!
//! 1. `check_format` must say [`TokenKind::Refresh`](crate::token::TokenKind::Refresh);
//!    otherwise `invalid_grant` with no storage read.
//! 2. Read the token's row with its family's:
//!    `SELECT t.used_at, t.revoked_at, f.revoked_at, f.expires_at, f.id … FROM refresh_tokens t
//!    JOIN refresh_families f ON f.id = t.family_id WHERE t.token_hash = ?`
//!    and call [`decide`] (no row: `None`).
//! 3. [`RefreshDecision::Rotate`]: mint the successor, then run **one D1 batch** (D1 runs a
//!    batch as one transaction, statements in order):
//!    ```sql
//!    UPDATE refresh_tokens SET used_at = ?now, replaced_by = ?new_hash
//!     WHERE token_hash = ?old_hash AND used_at IS NULL AND revoked_at IS NULL
//!       AND family_id IN (SELECT id FROM refresh_families
//!                          WHERE revoked_at IS NULL AND expires_at > ?now);
//!    INSERT INTO refresh_tokens (token_hash, family_id, created_at, …)
//!    SELECT ?new_hash, family_id, ?now, … FROM refresh_tokens
//!     WHERE token_hash = ?old_hash AND replaced_by = ?new_hash;
//!    ```
//!    The conditional `UPDATE` is the arbiter: of two concurrent refreshes of one token, on
//!    any replicas, exactly one finds `used_at IS NULL`, and its `meta.changes` is 1; the
//!    other's is 0. The `INSERT` copies only the winner's successor (its hash is fresh and
//!    unique to the request, so the `WHERE` names the winner without relying on `changes()`),
//!    so a loser never leaves a live token behind. Pass `changes` to [`arbitrate`]: 1 answers
//!    the new tokens, 0 is treated as reuse. The family conditions in the `UPDATE` stop a
//!    rotation that raced a revocation or the cap after step 2's read.
//! 4. [`RefreshDecision::Reuse`] (from [`decide`] or [`arbitrate`]): revoke the family,
//!    `UPDATE refresh_families SET revoked_at = ?now WHERE id = ? AND revoked_at IS NULL`
//!    (idempotent), record an audit event, answer `invalid_grant`.
//! 5. Anything else: `invalid_grant`, nothing written.
//!
//! The successor carries no expiry of its own; it is bounded by its family's `expires_at`,
//! set once at the first login from [`RefreshFamilyPolicy::expires_at_ms`]. The access token
//! issued with it is cut by [`access_lifetime_s`] so it never outlives the family.
//!
//! A legitimate client that refreshes twice at once trips reuse detection too, by design (the
//! server cannot tell it from theft): the CLI serialises its refreshes.

use crate::base62;
use crate::ids::FamilyId;
use crate::Entropy;

/// A family's default absolute lifetime, from its first login: 30 days.
pub const DEFAULT_FAMILY_MAX_AGE_S: u32 = 30 * 86_400;
/// The longest absolute lifetime a deployment may configure: 365 days.
pub const MAX_FAMILY_MAX_AGE_S: u32 = 365 * 86_400;
/// Prefix of a family id, as stored and carried in an access token's `fam` claim.
pub const FAMILY_ID_PREFIX: &str = "fam_";
/// Base62 symbols of a family id after its prefix: 22 symbols hold 128 bits.
pub const FAMILY_ID_CHARS: usize = 22;

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

/// What storage knows of a presented refresh token and its family (times in Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRefresh {
    /// When this token was spent (rotated), if it was.
    pub used_at_ms: Option<i64>,
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
    /// The token was already spent: revoke its whole family.
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
    /// [`RefreshDecision::Rotate`].
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            RefreshDecision::Rotate => None,
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

/// Decides a refresh-token grant from the token's stored state, in this order:
///
/// 1. no stored row: [`RefreshDecision::Unknown`];
/// 2. the family or the token revoked: [`RefreshDecision::FamilyRevoked`] (a spent token of a
///    revoked family is not "reuse": there is nothing left to revoke);
/// 3. `now ≥ family_expires_at`: [`RefreshDecision::Expired`] (likewise, an expired family
///    has nothing left to revoke);
/// 4. already spent: [`RefreshDecision::Reuse`];
/// 5. otherwise [`RefreshDecision::Rotate`], which the Worker must still win with the
///    conditional update of the storage protocol (see [`arbitrate`]).
pub fn decide(stored: Option<StoredRefresh>, now_ms: i64) -> RefreshDecision {
    let Some(stored) = stored else {
        return RefreshDecision::Unknown;
    };
    if stored.family_revoked_at_ms.is_some() || stored.revoked_at_ms.is_some() {
        RefreshDecision::FamilyRevoked
    } else if now_ms >= stored.family_expires_at_ms {
        RefreshDecision::Expired
    } else if stored.used_at_ms.is_some() {
        RefreshDecision::Reuse
    } else {
        RefreshDecision::Rotate
    }
}

/// Settles a rotation from the `changes` of its conditional `UPDATE … WHERE used_at IS NULL`:
/// 1 row changed means this request spent the token ([`RefreshDecision::Rotate`]); 0 means
/// another request spent it first, or the family was revoked or capped in between, and the
/// presentation counts as reuse ([`RefreshDecision::Reuse`], revoking a family that may
/// already be revoked is harmless). More than one row cannot happen with `token_hash` unique;
/// it is refused as reuse too rather than trusted.
pub fn arbitrate(changes: u64) -> RefreshDecision {
    if changes == 1 {
        RefreshDecision::Rotate
    } else {
        RefreshDecision::Reuse
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base62::tests::TestEntropy;
    use crate::time::DAY_MS;

    const T0: i64 = 1_795_000_000_000;

    fn live() -> StoredRefresh {
        StoredRefresh {
            used_at_ms: None,
            revoked_at_ms: None,
            family_revoked_at_ms: None,
            family_expires_at_ms: T0 + 30 * DAY_MS,
        }
    }

    #[test]
    fn a_fresh_token_of_a_live_family_rotates() {
        assert_eq!(decide(Some(live()), T0), RefreshDecision::Rotate);
        assert_eq!(
            decide(Some(live()), T0 + 30 * DAY_MS - 1),
            RefreshDecision::Rotate
        );
    }

    #[test]
    fn an_unknown_token_is_refused() {
        assert_eq!(decide(None, T0), RefreshDecision::Unknown);
    }

    #[test]
    fn a_spent_token_presented_again_revokes_the_family() {
        let spent = StoredRefresh {
            used_at_ms: Some(T0 - 1_000),
            ..live()
        };
        let d = decide(Some(spent), T0);
        assert_eq!(d, RefreshDecision::Reuse);
        assert!(d.revokes_family());
        // However long ago it was spent, and even at the very instant.
        let just_spent = StoredRefresh {
            used_at_ms: Some(T0),
            ..live()
        };
        assert_eq!(decide(Some(just_spent), T0), RefreshDecision::Reuse);
    }

    #[test]
    fn a_revoked_family_or_token_is_refused_without_more_revoking() {
        let family_revoked = StoredRefresh {
            family_revoked_at_ms: Some(T0 - 1),
            ..live()
        };
        assert_eq!(
            decide(Some(family_revoked), T0),
            RefreshDecision::FamilyRevoked
        );
        // A spent token of a revoked family: revocation, not reuse.
        let spent_and_revoked = StoredRefresh {
            used_at_ms: Some(T0 - 5),
            ..family_revoked
        };
        let d = decide(Some(spent_and_revoked), T0);
        assert_eq!(d, RefreshDecision::FamilyRevoked);
        assert!(!d.revokes_family());
        let token_revoked = StoredRefresh {
            revoked_at_ms: Some(T0 - 1),
            ..live()
        };
        assert_eq!(
            decide(Some(token_revoked), T0),
            RefreshDecision::FamilyRevoked
        );
        // Revocation outranks expiry.
        let both = StoredRefresh {
            family_expires_at_ms: T0,
            ..family_revoked
        };
        assert_eq!(decide(Some(both), T0), RefreshDecision::FamilyRevoked);
    }

    #[test]
    fn the_family_cap_is_absolute() {
        let capped = live();
        assert_eq!(
            decide(Some(capped), T0 + 30 * DAY_MS),
            RefreshDecision::Expired
        );
        assert_eq!(
            decide(Some(capped), T0 + 400 * DAY_MS),
            RefreshDecision::Expired
        );
        // An expired family's spent token: nothing left to revoke.
        let spent = StoredRefresh {
            used_at_ms: Some(T0),
            ..capped
        };
        assert_eq!(
            decide(Some(spent), T0 + 30 * DAY_MS),
            RefreshDecision::Expired
        );
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
    fn only_one_of_two_concurrent_rotations_wins() {
        assert_eq!(arbitrate(1), RefreshDecision::Rotate);
        assert_eq!(arbitrate(0), RefreshDecision::Reuse);
        assert!(arbitrate(0).revokes_family());
        assert_eq!(arbitrate(2), RefreshDecision::Reuse);
    }

    #[test]
    fn refusals_are_invalid_grant_with_a_description() {
        assert_eq!(RefreshDecision::Rotate.error_code(), None);
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
