//! The deployment's published signing keys: Ed25519 (EdDSA, RFC 8037), one per period, derived
//! from `SECRET`, so that every isolate in every location signs and verifies with the same keys
//! without storing or fetching any.
//!
//! They sign what others verify: access tokens (`eaa_`, RFC 9068) and the gateway's assertions
//! to an origin ([`crate::assertion`]). Their public halves are the JWKS at
//! `/.well-known/jwks.json`, so a resource server or an origin verifies with a standard JWT
//! library and shares no secret with edgeauth.
//!
//! # Rotation with overlap
//!
//! Time is cut into periods of `SIGNING_KEY_PERIOD_SECONDS` (default one day). The key of
//! period `n` is `Ed25519(seed = HMAC-SHA256(K, "period/n"))` with `K` derived from `SECRET`
//! ([`KeyPurpose::SigningKeys`](crate::crypto::KeyPurpose::SigningKeys)); its `kid` is its RFC
//! 7638 thumbprint. At any moment:
//!
//! - the key of the current period signs;
//! - the JWKS publishes the **next** period's key too, a whole period before it signs, so a
//!   verifier that refreshes its copy more often than once a period ([`KeyRing::jwks_max_age_s`]
//!   is the `Cache-Control` it is given) never meets a `kid` it has not seen;
//! - the JWKS keeps every **earlier** key that may still have signed something valid: anything
//!   signed lives at most [`MAX_SIGNED_AGE_S`] (an access token's 15 minutes plus clock skew),
//!   so a key stays published, and accepted, until that long after its period ended.
//!
//! Verification accepts exactly the published keys ([`KeyRing::verifying`]). Nothing is stored:
//! a key is derived when first needed and kept by the isolate (a handful at most).

use core::fmt;
use std::cell::RefCell;
use std::rc::Rc;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::crypto::DerivedKey;
use crate::encoding::base64url_encode;

/// The JOSE `alg` of every signature made with these keys (RFC 8037 §3.1).
pub const ALGORITHM: &str = "EdDSA";
/// The default length of a key's period: one day.
pub const DEFAULT_PERIOD_S: u32 = 86_400;
/// The shortest period a deployment may configure (tests rotate every minute).
pub const MIN_PERIOD_S: u32 = 60;
/// The longest period a deployment may configure: 30 days.
pub const MAX_PERIOD_S: u32 = 30 * 86_400;
/// The longest anything signed with these keys is accepted after it was signed: an access
/// token's lifetime (15 minutes) plus the clock skew its verifier allows (30 s); access_token's
/// tests hold the two to it. A key stays published this long after its period ends.
pub const MAX_SIGNED_AGE_S: i64 = 15 * 60 + 30;
/// The longest a verifier is told to keep the JWKS: an hour, or a quarter of the period if
/// that is shorter, so a copy is always refreshed before the next period's key signs.
pub const MAX_JWKS_AGE_S: u32 = 3_600;

/// The signing key of one period, with its public half and `kid`.
pub struct PeriodKey {
    period: i64,
    kid: String,
    signing: SigningKey,
    verifying: VerifyingKey,
}

impl PeriodKey {
    fn derive(root: &DerivedKey, period: i64) -> Self {
        let seed = root.sign(format!("period/{period}").as_bytes());
        let signing = SigningKey::from_bytes(&seed);
        let verifying = signing.verifying_key();
        let kid = thumbprint(&verifying);
        Self {
            period,
            kid,
            signing,
            verifying,
        }
    }

    /// The key's id in the JWKS and in every JWS header it signs: its RFC 7638 thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private half, to sign with.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The public half, to verify with.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// The public key as a JWK (RFC 8037 §2).
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": base64url_encode(self.verifying.as_bytes()),
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        })
    }
}

impl fmt::Debug for PeriodKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeriodKey")
            .field("period", &self.period)
            .field("kid", &self.kid)
            .field("signing", &"<redacted>")
            .finish()
    }
}

/// RFC 7638 thumbprint of an Ed25519 public key: base64url(SHA-256) of its required members
/// in lexicographic order, `{"crv":"Ed25519","kty":"OKP","x":"…"}`.
fn thumbprint(key: &VerifyingKey) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        base64url_encode(key.as_bytes())
    );
    base64url_encode(&Sha256::digest(canonical.as_bytes()))
}

/// The keys of every period, derived from one root key on demand and kept by the isolate.
pub struct KeyRing {
    root: DerivedKey,
    period_s: u32,
    /// The keys derived so far, pruned to those still published.
    keys: RefCell<Vec<Rc<PeriodKey>>>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("period_s", &self.period_s)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// The ring under `root` (derived for [`KeyPurpose::SigningKeys`]) with periods of
    /// `period_s` seconds, clamped to [`MIN_PERIOD_S`]`..=`[`MAX_PERIOD_S`] (the configuration
    /// refuses other values by name).
    ///
    /// [`KeyPurpose::SigningKeys`]: crate::crypto::KeyPurpose::SigningKeys
    pub fn new(root: DerivedKey, period_s: u32) -> Self {
        Self {
            root,
            period_s: period_s.clamp(MIN_PERIOD_S, MAX_PERIOD_S),
            keys: RefCell::new(Vec::new()),
        }
    }

    /// The length of a period, in seconds.
    pub fn period_s(&self) -> u32 {
        self.period_s
    }

    fn period_of(&self, unix_s: i64) -> i64 {
        unix_s.div_euclid(i64::from(self.period_s))
    }

    /// The periods whose keys are published at `now_s`: from the one that may have signed the
    /// oldest thing still valid, to the next one.
    fn published_periods(&self, now_s: i64) -> core::ops::RangeInclusive<i64> {
        self.period_of(now_s.saturating_sub(MAX_SIGNED_AGE_S))..=self.period_of(now_s) + 1
    }

    fn key(&self, period: i64, now_s: i64) -> Rc<PeriodKey> {
        let mut keys = self.keys.borrow_mut();
        if let Some(key) = keys.iter().find(|k| k.period == period) {
            return Rc::clone(key);
        }
        let published = self.published_periods(now_s);
        keys.retain(|k| published.contains(&k.period));
        let key = Rc::new(PeriodKey::derive(&self.root, period));
        keys.push(Rc::clone(&key));
        key
    }

    /// The key that signs at `now_s` (Unix seconds): the current period's.
    pub fn current(&self, now_s: i64) -> Rc<PeriodKey> {
        self.key(self.period_of(now_s), now_s)
    }

    /// Every key published at `now_s`: the current one first, then the next, then the
    /// earlier ones still in use, newest first.
    pub fn published(&self, now_s: i64) -> Vec<Rc<PeriodKey>> {
        let current = self.period_of(now_s);
        let mut periods: Vec<i64> = self.published_periods(now_s).collect();
        periods.sort_by_key(|p| (*p != current, *p != current + 1, -p));
        periods.into_iter().map(|p| self.key(p, now_s)).collect()
    }

    /// The published key whose `kid` is `kid` at `now_s`, if any: a token signed by any other
    /// key (an unknown one, or one retired because nothing it signed can still be valid) is
    /// refused.
    pub fn verifying(&self, kid: &str, now_s: i64) -> Option<Rc<PeriodKey>> {
        self.published(now_s).into_iter().find(|k| k.kid == kid)
    }

    /// The JWKS document (RFC 7517 §5) at `now_s`.
    pub fn jwks(&self, now_s: i64) -> Value {
        let keys: Vec<Value> = self.published(now_s).iter().map(|k| k.jwk()).collect();
        json!({ "keys": keys })
    }

    /// How long a verifier may keep the JWKS (its `Cache-Control: max-age`): a quarter of a
    /// period, at most [`MAX_JWKS_AGE_S`]. A copy fetched at any moment already holds the
    /// next period's key, and is refreshed well before the period after that begins.
    pub fn jwks_max_age_s(&self) -> u32 {
        (self.period_s / 4).min(MAX_JWKS_AGE_S)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{KeyPurpose, RootSecret};
    use ed25519_dalek::{Signer, Verifier};
    use proptest::prelude::*;

    const NOW: i64 = 1_795_000_000;

    fn ring(period_s: u32) -> KeyRing {
        let secret = RootSecret::new("a test secret of at least thirty-two bytes").unwrap();
        KeyRing::new(secret.derive(KeyPurpose::SigningKeys), period_s)
    }

    fn other_ring(period_s: u32) -> KeyRing {
        let secret = RootSecret::new("another secret, also thirty-two bytes long").unwrap();
        KeyRing::new(secret.derive(KeyPurpose::SigningKeys), period_s)
    }

    #[test]
    fn the_same_secret_gives_the_same_keys_in_every_isolate() {
        let (a, b) = (ring(86_400), ring(86_400));
        assert_eq!(a.current(NOW).kid(), b.current(NOW).kid());
        assert_eq!(a.jwks(NOW), b.jwks(NOW));
        // Another SECRET: other keys.
        assert_ne!(a.current(NOW).kid(), other_ring(86_400).current(NOW).kid());
    }

    #[test]
    fn a_key_signs_what_its_public_half_verifies() {
        let ring = ring(86_400);
        let key = ring.current(NOW);
        let signature = key.signing_key().sign(b"message");
        assert!(key.verifying_key().verify(b"message", &signature).is_ok());
        assert!(key.verifying_key().verify(b"massage", &signature).is_err());
    }

    #[test]
    fn the_jwks_is_rfc_8037_with_thumbprint_kids() {
        let ring = ring(86_400);
        let jwks = ring.jwks(NOW);
        let keys = jwks["keys"].as_array().unwrap();
        // NOW is 40,000 s into its day, long after yesterday's last token expired: the
        // current key and the next.
        assert_eq!(keys.len(), 2);
        for key in keys {
            assert_eq!(key["kty"], "OKP");
            assert_eq!(key["crv"], "Ed25519");
            assert_eq!(key["alg"], "EdDSA");
            assert_eq!(key["use"], "sig");
            assert_eq!(key["x"].as_str().unwrap().len(), 43);
            assert_eq!(key["kid"].as_str().unwrap().len(), 43);
            assert!(key.get("d").is_none(), "no private part is ever published");
        }
        assert_eq!(keys[0]["kid"], ring.current(NOW).kid());
    }

    #[test]
    fn thumbprint_matches_rfc_8037_appendix_a3() {
        // RFC 8037 A.3: the thumbprint of the example key.
        let x = crate::encoding::base64url_decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        let key = VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap();
        assert_eq!(
            thumbprint(&key),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn the_next_key_is_published_a_period_before_it_signs() {
        let ring = ring(86_400);
        let day = 86_400;
        let start = NOW - NOW.rem_euclid(day);
        let next = ring.current(start + day);
        // All through today, tomorrow's key is published and verifies.
        for t in [start, start + 1, start + day / 2, start + day - 1] {
            assert!(ring.verifying(next.kid(), t).is_some(), "at {t}");
            assert_ne!(ring.current(t).kid(), next.kid());
        }
        // The day after tomorrow's is not.
        let after_next = ring.current(start + 2 * day);
        assert!(ring.verifying(after_next.kid(), start + day - 1).is_none());
    }

    #[test]
    fn an_old_key_stays_until_the_last_thing_it_signed_has_expired() {
        let ring = ring(86_400);
        let day = 86_400;
        let start = NOW - NOW.rem_euclid(day);
        let yesterday = ring.current(start - 1);
        // A token signed at the last second of yesterday lives up to MAX_SIGNED_AGE_S.
        assert!(ring
            .verifying(yesterday.kid(), start - 1 + MAX_SIGNED_AGE_S)
            .is_some());
        assert_eq!(ring.published(start + MAX_SIGNED_AGE_S - 1).len(), 3);
        // Then it is retired.
        assert!(ring
            .verifying(yesterday.kid(), start + MAX_SIGNED_AGE_S)
            .is_none());
        assert_eq!(ring.published(start + MAX_SIGNED_AGE_S).len(), 2);
    }

    #[test]
    fn short_periods_keep_every_key_a_valid_token_may_carry() {
        // With one-minute periods, a 15-minute access token outlives 16 periods: all stay.
        let ring = ring(60);
        let signed_at = NOW;
        let kid = ring.current(signed_at).kid().to_owned();
        for age in [0, 60, 600, MAX_SIGNED_AGE_S - 1] {
            assert!(ring.verifying(&kid, signed_at + age).is_some(), "age {age}");
        }
        assert!(ring.published(NOW).len() <= 18);
        assert_eq!(ring.jwks_max_age_s(), 15);
        assert_eq!(super::tests::ring(86_400).jwks_max_age_s(), 3_600);
    }

    #[test]
    fn a_kid_of_another_secret_is_unknown() {
        let other = other_ring(86_400).current(NOW);
        assert!(ring(86_400).verifying(other.kid(), NOW).is_none());
    }

    #[test]
    fn debug_never_shows_a_private_key() {
        let ring = ring(86_400);
        let key = ring.current(NOW);
        let shown = format!("{key:?} {ring:?}");
        assert!(shown.contains("redacted"));
        let private = base64url_encode(key.signing_key().as_bytes());
        assert!(!shown.contains(&private));
    }

    proptest! {
        /// Whatever the period and the moment, the signing key is published, and so is
        /// every key that signed in the last MAX_SIGNED_AGE_S.
        #[test]
        fn every_key_that_signed_something_still_valid_is_published(
            period_s in MIN_PERIOD_S..=4 * 86_400,
            now_s in 0i64..4_000_000_000,
            age in 0..MAX_SIGNED_AGE_S,
        ) {
            let ring = ring(period_s);
            let signer = ring.current(now_s - age);
            prop_assert!(ring.verifying(signer.kid(), now_s).is_some());
            prop_assert!(ring.verifying(ring.current(now_s).kid(), now_s).is_some());
        }
    }
}
