//! The device authorization grant (RFC 8628): user codes and the polling rule.
//!
//! The CLI shows a short user code; the user types it at `/device` in a browser where they are
//! signed in, and the CLI polls the token endpoint until the request is approved, denied or
//! expired. User codes use 20 consonants (no vowels, so no words; no look-alikes such as `0/O`,
//! `1/I`), 8 of them: 20^8 ≈ 2^34.6 codes, enough with rate-limited guessing for a code that
//! lives 15 minutes (RFC 8628 §6.1).

use crate::Entropy;

/// The symbols of a user code (RFC 8628 §6.1 suggests this base-20 alphabet).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a user code, shown as two groups of four: `XXXX-XXXX`.
pub const USER_CODE_LETTERS: usize = 8;
/// Longest input [`normalize_user_code`] looks at; anything longer is not a user code.
pub const MAX_USER_CODE_INPUT: usize = 32;
/// How long a device code and its user code live, in seconds (`expires_in`, RFC 8628 §3.2).
pub const DEVICE_CODE_LIFETIME_S: u32 = 15 * 60;
/// The polling interval first given to the CLI, in seconds (`interval`, RFC 8628 §3.2).
pub const POLL_INTERVAL_S: u32 = 5;
/// What each `slow_down` adds to the interval, in seconds (RFC 8628 §3.5).
pub const SLOW_DOWN_INCREMENT_S: u32 = 5;
/// The interval never grows beyond this, so a misbehaving client is slowed, not locked out.
pub const MAX_POLL_INTERVAL_S: u32 = 60;

/// A fresh user code `XXXX-XXXX`, each letter drawn uniformly from [`USER_CODE_ALPHABET`].
///
/// Rejection sampling keeps the draw unbiased: a random byte is used only when it is below
/// 240 (= 12 × 20), so `byte % 20` is uniform.
pub fn generate_user_code(entropy: &mut dyn Entropy) -> String {
    let mut letters = Vec::with_capacity(USER_CODE_LETTERS);
    let mut pool = [0u8; 16];
    while letters.len() < USER_CODE_LETTERS {
        entropy.fill(&mut pool);
        for &b in pool.iter().filter(|&&b| b < 240) {
            if letters.len() == USER_CODE_LETTERS {
                break;
            }
            letters.push(USER_CODE_ALPHABET[(b % 20) as usize]);
        }
    }
    canonical(&letters)
}

/// The canonical `XXXX-XXXX` form of what a user typed, or `None` if it is not a user code.
///
/// Case does not matter and spaces and dashes are ignored anywhere (RFC 8628 §6.1), so
/// `bcdf ghjk`, `BCDF-GHJK` and `b-c-d-f-g-h-j-k` are the same code. What remains must be
/// exactly 8 letters of the alphabet; nothing else (no vowels, digits or other separators).
pub fn normalize_user_code(input: &str) -> Option<String> {
    if input.len() > MAX_USER_CODE_INPUT {
        return None;
    }
    let letters: Vec<u8> = input
        .bytes()
        .filter(|&b| b != b' ' && b != b'-')
        .map(|b| b.to_ascii_uppercase())
        .collect();
    (letters.len() == USER_CODE_LETTERS && letters.iter().all(|b| USER_CODE_ALPHABET.contains(b)))
        .then(|| canonical(&letters))
}

fn canonical(letters: &[u8]) -> String {
    let (a, b) = letters.split_at(USER_CODE_LETTERS / 2);
    format!(
        "{}-{}",
        core::str::from_utf8(a).expect("alphabet is ASCII"),
        core::str::from_utf8(b).expect("alphabet is ASCII")
    )
}

/// Where the user has got to with a device authorization request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Not yet approved or denied.
    Pending,
    /// The user approved it at `/device`.
    Approved,
    /// The user denied it at `/device`.
    Denied,
}

/// What the token endpoint answers to one device-code poll (RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollDecision {
    /// `authorization_pending`: keep polling at the current interval.
    AuthorizationPending,
    /// `slow_down`: polled sooner than the interval allows; the interval becomes
    /// `new_interval_s` from now on, and the caller must store it.
    SlowDown { new_interval_s: u32 },
    /// `access_denied`: the user refused.
    AccessDenied,
    /// `expired_token`: the device code has expired; start again.
    ExpiredToken,
    /// Issue the tokens (and make the device code unusable).
    Approved,
}

impl PollDecision {
    /// The RFC 8628 §3.5 / RFC 6749 §5.2 `error` code, or `None` for [`PollDecision::Approved`].
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            PollDecision::AuthorizationPending => Some("authorization_pending"),
            PollDecision::SlowDown { .. } => Some("slow_down"),
            PollDecision::AccessDenied => Some("access_denied"),
            PollDecision::ExpiredToken => Some("expired_token"),
            PollDecision::Approved => None,
        }
    }
}

/// One poll of a device code, as stored: times are Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicePoll {
    /// Now, from the runtime clock.
    pub now_ms: i64,
    /// When this device code was last polled, if ever.
    pub last_poll_at_ms: Option<i64>,
    /// The interval currently required between polls, in seconds.
    pub interval_s: u32,
    /// Where the user has got to.
    pub status: DeviceStatus,
    /// When the device code expires.
    pub expires_at_ms: i64,
}

impl DevicePoll {
    /// Decides the answer to this poll, in this order:
    ///
    /// 1. `expired_token` once `now ≥ expires_at`, whatever the status: an expired code never
    ///    yields tokens, even if it was approved in time.
    /// 2. `slow_down` when the previous poll was less than the interval ago (a clock that went
    ///    backwards counts as too soon). This comes before the status so that polling faster
    ///    never gets an answer sooner; the interval grows by [`SLOW_DOWN_INCREMENT_S`], capped
    ///    at [`MAX_POLL_INTERVAL_S`].
    /// 3. Otherwise the status: `access_denied`, the tokens, or `authorization_pending`.
    ///
    /// The caller records `now` as the last poll after every poll, including refused ones.
    pub fn decide(&self) -> PollDecision {
        if self.now_ms >= self.expires_at_ms {
            return PollDecision::ExpiredToken;
        }
        if let Some(last) = self.last_poll_at_ms {
            let elapsed_ms = self.now_ms.saturating_sub(last);
            if elapsed_ms < i64::from(self.interval_s) * 1000 {
                return PollDecision::SlowDown {
                    new_interval_s: self
                        .interval_s
                        .saturating_add(SLOW_DOWN_INCREMENT_S)
                        .min(MAX_POLL_INTERVAL_S),
                };
            }
        }
        match self.status {
            DeviceStatus::Pending => PollDecision::AuthorizationPending,
            DeviceStatus::Approved => PollDecision::Approved,
            DeviceStatus::Denied => PollDecision::AccessDenied,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base62::tests::TestEntropy;

    #[test]
    fn generated_codes_have_the_documented_shape() {
        let mut e = TestEntropy(11);
        for _ in 0..200 {
            let code = generate_user_code(&mut e);
            assert_eq!(code.len(), 9);
            assert_eq!(&code[4..5], "-");
            assert!(code
                .bytes()
                .filter(|&b| b != b'-')
                .all(|b| USER_CODE_ALPHABET.contains(&b)));
            assert_eq!(normalize_user_code(&code).as_deref(), Some(code.as_str()));
        }
        assert_ne!(generate_user_code(&mut e), generate_user_code(&mut e));
    }

    #[test]
    fn generated_letters_are_roughly_uniform() {
        let mut e = TestEntropy(99);
        let mut counts = [0u32; 20];
        for _ in 0..5000 {
            for b in generate_user_code(&mut e).bytes().filter(|&b| b != b'-') {
                counts[USER_CODE_ALPHABET.iter().position(|&a| a == b).unwrap()] += 1;
            }
        }
        // 40 000 letters, 2000 expected each. This pins the spread only; the bias a plain
        // `byte % 20` would add (+1.6% / -6.3%) is pinned by the rejection test below.
        assert!(
            counts.iter().all(|&c| (1800..2200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn rejection_skips_bytes_at_or_above_240() {
        struct High(u8);
        impl Entropy for High {
            fn fill(&mut self, buf: &mut [u8]) {
                for b in buf {
                    self.0 = self.0.wrapping_add(1);
                    // 240 % 20 == 0 would be `B` if it were not rejected; 19 is `Z`.
                    *b = if self.0.is_multiple_of(2) { 240 } else { 19 };
                }
            }
        }
        assert_eq!(generate_user_code(&mut High(0)), "ZZZZ-ZZZZ");
    }

    #[test]
    fn normalization_ignores_case_spaces_and_dashes() {
        for input in [
            "BCDF-GHJK",
            "bcdf-ghjk",
            "BCDFGHJK",
            "bcdf ghjk",
            " b-c-d-f g-h-j-k ",
            "BcDf--GhJk",
        ] {
            assert_eq!(
                normalize_user_code(input).as_deref(),
                Some("BCDF-GHJK"),
                "{input}"
            );
        }
    }

    #[test]
    fn normalization_refuses_anything_else() {
        for input in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-GHJK",  // vowel
            "BCDF-GHJ0",  // digit
            "BCDF_GHJK",  // other separator
            "BCDF\tGHJK", // other whitespace
            "BCDF.GHJK",
            "BCDF-GHJÉ",
            "BCDF-GHJY", // Y is not in the alphabet
        ] {
            assert_eq!(normalize_user_code(input), None, "{input:?}");
        }
        let padded = format!("BCDF-GHJK{}", " ".repeat(MAX_USER_CODE_INPUT));
        assert_eq!(normalize_user_code(&padded), None);
    }

    #[test]
    fn constants_match_the_spec() {
        assert_eq!(DEVICE_CODE_LIFETIME_S, 900);
        assert_eq!(POLL_INTERVAL_S, 5);
        assert_eq!(SLOW_DOWN_INCREMENT_S, 5);
        assert_eq!(USER_CODE_ALPHABET.len(), 20);
    }

    const T0: i64 = 1_795_000_000_000;

    fn poll(last: Option<i64>, now: i64, status: DeviceStatus) -> PollDecision {
        DevicePoll {
            now_ms: now,
            last_poll_at_ms: last,
            interval_s: POLL_INTERVAL_S,
            status,
            expires_at_ms: T0 + i64::from(DEVICE_CODE_LIFETIME_S) * 1000,
        }
        .decide()
    }

    #[test]
    fn first_poll_reports_the_status() {
        use DeviceStatus::*;
        assert_eq!(poll(None, T0, Pending), PollDecision::AuthorizationPending);
        assert_eq!(poll(None, T0, Approved), PollDecision::Approved);
        assert_eq!(poll(None, T0, Denied), PollDecision::AccessDenied);
    }

    #[test]
    fn polling_at_the_interval_is_fine_and_sooner_slows_down() {
        use DeviceStatus::*;
        let last = Some(T0);
        assert_eq!(
            poll(last, T0 + 5_000, Pending),
            PollDecision::AuthorizationPending
        );
        assert_eq!(
            poll(last, T0 + 4_999, Pending),
            PollDecision::SlowDown { new_interval_s: 10 }
        );
        assert_eq!(
            poll(last, T0, Pending),
            PollDecision::SlowDown { new_interval_s: 10 }
        );
        // A clock that went backwards counts as too soon.
        assert_eq!(
            poll(last, T0 - 1_000, Pending),
            PollDecision::SlowDown { new_interval_s: 10 }
        );
    }

    #[test]
    fn slow_down_comes_before_the_status() {
        use DeviceStatus::*;
        for status in [Approved, Denied] {
            assert_eq!(
                poll(Some(T0), T0 + 1_000, status),
                PollDecision::SlowDown { new_interval_s: 10 }
            );
        }
    }

    #[test]
    fn the_slowed_interval_is_enforced_and_capped() {
        let p = DevicePoll {
            now_ms: T0 + 9_000,
            last_poll_at_ms: Some(T0),
            interval_s: 10,
            status: DeviceStatus::Pending,
            expires_at_ms: T0 + 900_000,
        };
        assert_eq!(p.decide(), PollDecision::SlowDown { new_interval_s: 15 });
        let later = DevicePoll {
            now_ms: T0 + 10_000,
            ..p
        };
        assert_eq!(later.decide(), PollDecision::AuthorizationPending);
        let capped = DevicePoll {
            interval_s: MAX_POLL_INTERVAL_S,
            now_ms: T0,
            ..p
        };
        assert_eq!(
            capped.decide(),
            PollDecision::SlowDown {
                new_interval_s: MAX_POLL_INTERVAL_S
            }
        );
    }

    #[test]
    fn expiry_comes_first_even_when_approved() {
        use DeviceStatus::*;
        let expires = T0 + 900_000;
        for status in [Pending, Approved, Denied] {
            assert_eq!(poll(None, expires, status), PollDecision::ExpiredToken);
            assert_eq!(
                poll(Some(expires - 1), expires + 1, status),
                PollDecision::ExpiredToken
            );
        }
        assert_eq!(poll(None, expires - 1, Approved), PollDecision::Approved);
    }

    #[test]
    fn decisions_carry_their_rfc_error_codes() {
        assert_eq!(
            PollDecision::AuthorizationPending.error_code(),
            Some("authorization_pending")
        );
        assert_eq!(
            PollDecision::SlowDown { new_interval_s: 10 }.error_code(),
            Some("slow_down")
        );
        assert_eq!(
            PollDecision::AccessDenied.error_code(),
            Some("access_denied")
        );
        assert_eq!(
            PollDecision::ExpiredToken.error_code(),
            Some("expired_token")
        );
        assert_eq!(PollDecision::Approved.error_code(), None);
    }
}
