//! The device authorization grant (RFC 8628): user codes and the polling rule.
//!
//! The CLI shows a short user code; the user types it at `/device` in a browser where they are
//! signed in, and the CLI polls the token endpoint until the request is approved, denied or
//! expired. User codes use 20 consonants (no vowels, so no words; no look-alikes such as `0/O`,
//! `1/I`), 8 of them: 20^8 ≈ 2^34.6 codes, enough with rate-limited guessing for a code that
//! lives 15 minutes (RFC 8628 §6.1).
//!
//! The device code is the CLI's secret: 256 bits ([`DeviceCode`]), stored only as its
//! SHA-256. Guessing user codes at `/device` is rate limited per session and per user
//! ([`LookupFailures`]).

use core::fmt;

use serde_json::Value;

use crate::base62;
use crate::crypto::TokenHash;
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

/// Base62 symbols of a device code: 43 × log2(62) ≈ 256 bits (RFC 8628 §5.2 asks for enough
/// entropy that guessing one within its lifetime is infeasible).
pub const DEVICE_CODE_CHARS: usize = 43;
/// The client name shown at `/device` when the CLI gives none.
pub use crate::cli_login::DEFAULT_CLIENT_NAME;
/// Failed user-code lookups allowed per session and per user within [`LOOKUP_WINDOW_S`].
pub const MAX_FAILED_LOOKUPS: u32 = 5;
/// The window of [`MAX_FAILED_LOOKUPS`], in seconds, counted from its first failure.
pub const LOOKUP_WINDOW_S: u32 = 10 * 60;

/// The device code the CLI polls with: 256 random bits, base62. Only
/// [`DeviceCode::hash`] is stored; the code itself redacts itself in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceCode(String);

impl DeviceCode {
    /// A fresh device code from the CSPRNG.
    pub fn generate(entropy: &mut dyn Entropy) -> Self {
        Self(base62::random(DEVICE_CODE_CHARS, entropy))
    }

    /// A presented device code, if it has the shape of one we issue (43 base62 characters):
    /// anything else is refused before any storage read.
    pub fn parse(presented: &str) -> Option<Self> {
        (presented.len() == DEVICE_CODE_CHARS && base62::is_base62(presented))
            .then(|| Self(presented.to_owned()))
    }

    /// The code, for the device authorization response only.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What storage keeps in its place.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for DeviceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceCode(<redacted>)")
    }
}

/// The name the CLI gives itself in the device authorization request (`client_name`), shown
/// at `/device` to the person asked to approve: absent or `null` means
/// [`DEFAULT_CLIENT_NAME`]; otherwise the rule of every token name (a string of 1 to 100
/// characters, trimmed, no control characters) and, since a person reads it, no invisible
/// characters that reorder or hide text (bidirectional overrides and isolates, zero-width
/// characters, line separators).
pub fn client_name(value: Option<&Value>) -> Result<String, String> {
    match value {
        None | Some(Value::Null) => Ok(DEFAULT_CLIENT_NAME.to_owned()),
        // The same rule as the loopback login's `name`: one rule for what a person is shown.
        Some(Value::String(name)) => crate::cli_login::client_name(Some(name))
            .map_err(|e| e.replace("`name`", "`client_name`")),
        Some(_) => Err("`client_name` must be a string, e.g. \"edgeauth CLI on laptop\"".into()),
    }
}

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

/// The failed user-code lookups of one subject (a session, or a user), as stored: the start
/// of the current window (its first failure, Unix ms) and the failures since.
///
/// The rule: a subject may look up user codes while fewer than [`MAX_FAILED_LOOKUPS`] of its
/// lookups failed within [`LOOKUP_WINDOW_S`] of the window's first failure; after that, every
/// lookup is refused (429, no code looked up) until the window ends. Successful lookups do not
/// count. With both the session and the user counted, one person gets at most 5 wrong guesses
/// per 10 minutes against 20^8 codes: a live code is found by chance once in billions of
/// windows (RFC 8628 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupFailures {
    /// When the window started: its first failure, Unix ms.
    pub window_start_ms: i64,
    /// Failed lookups since then.
    pub failures: u32,
}

impl LookupFailures {
    /// When this window ends (Unix ms); failures before it are forgotten then.
    pub fn window_end_ms(&self) -> i64 {
        self.window_start_ms
            .saturating_add(i64::from(LOOKUP_WINDOW_S) * 1000)
    }

    /// `Some(retry_after_s)` when this subject may not look up codes at `now_ms`: the whole
    /// seconds until the window ends (at least 1, for `Retry-After`); `None` when it may.
    pub fn limited(&self, now_ms: i64) -> Option<u32> {
        let end = self.window_end_ms();
        (now_ms < end && self.failures >= MAX_FAILED_LOOKUPS).then(|| {
            let remaining_ms = end - now_ms;
            u32::try_from((remaining_ms + 999) / 1000)
                .unwrap_or(u32::MAX)
                .max(1)
        })
    }

    /// The stored state after one more failure at `now_ms`: a new window when there was none
    /// or it has ended, else one more failure in the current one. The Worker's SQL upsert
    /// does exactly this.
    pub fn after_failure(previous: Option<Self>, now_ms: i64) -> Self {
        match previous {
            Some(p) if now_ms < p.window_end_ms() => Self {
                window_start_ms: p.window_start_ms,
                failures: p.failures.saturating_add(1),
            },
            _ => Self {
                window_start_ms: now_ms,
                failures: 1,
            },
        }
    }

    /// The `Retry-After` for several subjects (the session and the user): the longest wait any
    /// of them imposes, or `None` when none is limited.
    pub fn most_limiting(subjects: &[Self], now_ms: i64) -> Option<u32> {
        subjects.iter().filter_map(|s| s.limited(now_ms)).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base62::tests::TestEntropy;
    use serde_json::json;

    #[test]
    fn device_codes_are_256_bit_base62_and_redacted() {
        let mut e = TestEntropy(3);
        let code = DeviceCode::generate(&mut e);
        assert_eq!(code.as_str().len(), 43);
        assert!(base62::is_base62(code.as_str()));
        assert_ne!(code, DeviceCode::generate(&mut e));
        assert_eq!(DeviceCode::parse(code.as_str()), Some(code.clone()));
        assert_eq!(code.hash(), TokenHash::of(code.as_str()));
        assert!(!format!("{code:?}").contains(code.as_str()));
        for bad in [
            "",
            &code.as_str()[1..],
            &format!("{}x", code.as_str()),
            &format!("{}-", &code.as_str()[1..]),
            &format!(" {}", &code.as_str()[1..]),
        ] {
            assert_eq!(DeviceCode::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn client_names_default_and_are_checked_like_token_names() {
        assert_eq!(client_name(None).unwrap(), "edgeauth CLI");
        assert_eq!(client_name(Some(&Value::Null)).unwrap(), "edgeauth CLI");
        assert_eq!(
            client_name(Some(&json!("  edgeauth CLI on laptop "))).unwrap(),
            "edgeauth CLI on laptop"
        );
        assert_eq!(
            client_name(Some(&json!("é".repeat(100))))
                .unwrap()
                .chars()
                .count(),
            100
        );
        for bad in [
            json!(""),
            json!("   "),
            json!("x".repeat(101)),
            json!("a\nb"),
            json!("evil\u{202E}txt.exe"),
            json!("zero\u{200B}width"),
            json!("bom\u{FEFF}"),
            json!(5),
            json!(["x"]),
        ] {
            let e = client_name(Some(&bad)).unwrap_err();
            assert!(e.contains("`client_name`"), "{bad}: {e}");
        }
    }

    const W: i64 = LOOKUP_WINDOW_S as i64 * 1000;

    #[test]
    fn five_failures_in_the_window_limit_lookups_until_it_ends() {
        let t0 = 1_795_000_000_000;
        let mut state = None;
        for i in 0..MAX_FAILED_LOOKUPS {
            if let Some(s) = state {
                assert_eq!(LookupFailures::limited(&s, t0 + i64::from(i)), None);
            }
            state = Some(LookupFailures::after_failure(
                state,
                t0 + i64::from(i) * 1000,
            ));
        }
        let s = state.unwrap();
        assert_eq!(
            s,
            LookupFailures {
                window_start_ms: t0,
                failures: 5
            }
        );
        // The window counts from the first failure, not the last.
        assert_eq!(s.limited(t0 + 4_000), Some(596));
        assert_eq!(s.limited(t0 + W - 1), Some(1));
        assert_eq!(s.limited(t0 + W - 1_500), Some(2));
        assert_eq!(s.limited(t0 + W), None);
        // A failure after the window starts a new one.
        assert_eq!(
            LookupFailures::after_failure(Some(s), t0 + W),
            LookupFailures {
                window_start_ms: t0 + W,
                failures: 1
            }
        );
        // Failures while limited still count within the window, and never wrap.
        let more = LookupFailures::after_failure(Some(s), t0 + 10_000);
        assert_eq!(more.failures, 6);
        let saturated = LookupFailures {
            window_start_ms: t0,
            failures: u32::MAX,
        };
        assert_eq!(
            LookupFailures::after_failure(Some(saturated), t0).failures,
            u32::MAX
        );
    }

    #[test]
    fn four_failures_still_allow_a_lookup() {
        let t0 = 1_795_000_000_000;
        let s = LookupFailures {
            window_start_ms: t0,
            failures: MAX_FAILED_LOOKUPS - 1,
        };
        assert_eq!(s.limited(t0 + 1), None);
        // A clock that went backwards does not lift a limit early.
        let full = LookupFailures {
            window_start_ms: t0,
            failures: MAX_FAILED_LOOKUPS,
        };
        assert_eq!(full.limited(t0 - 5_000), Some(605));
    }

    #[test]
    fn the_most_limiting_subject_decides() {
        let t0 = 1_795_000_000_000;
        let session = LookupFailures {
            window_start_ms: t0,
            failures: 5,
        };
        let user = LookupFailures {
            window_start_ms: t0 - 300_000,
            failures: 7,
        };
        let fine = LookupFailures {
            window_start_ms: t0,
            failures: 1,
        };
        assert_eq!(
            LookupFailures::most_limiting(&[session, user], t0),
            Some(600)
        );
        assert_eq!(LookupFailures::most_limiting(&[fine, user], t0), Some(300));
        assert_eq!(LookupFailures::most_limiting(&[fine], t0), None);
        assert_eq!(LookupFailures::most_limiting(&[], t0), None);
    }

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
