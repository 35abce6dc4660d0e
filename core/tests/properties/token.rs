//! `token`: the offline checks of every minted token (prefix, shape, checksum, tag).

use edgeauth_core::base62;
use edgeauth_core::crypto::{DerivedKey, KeyPurpose};
use edgeauth_core::token::{
    check_format, mint, verify_tag, MintedToken, CHECKSUM_CHARS, DISPLAY_PREFIX_CHARS,
    ENTROPY_CHARS, MAX_ACCESS_TOKEN_LEN, TAG_CHARS,
};
use edgeauth_core::{TokenError, TokenHash, TokenKind};
use proptest::prelude::*;

use crate::strategies::{
    after, cases, over, replace_char, service_key, tag_key, text, Seeded, NASTY, OTHER_SECRET,
    SECRET,
};

const KINDS: [TokenKind; 4] = [
    TokenKind::Service,
    TokenKind::User,
    TokenKind::Refresh,
    TokenKind::Access,
];

/// CRC-32 (IEEE), bit by bit: the checksum the token format documents, computed independently.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn with_checksum(body: &str) -> String {
    format!(
        "{body}{}",
        base62::encode_fixed(u128::from(crc32(body.as_bytes())), CHECKSUM_CHARS)
    )
}

/// The key that tags a token of `kind` in `project` under `secret`.
fn key(secret: &str, kind: TokenKind, project: &str) -> DerivedKey {
    match kind {
        TokenKind::Service => service_key(secret, project),
        TokenKind::User => tag_key(secret, KeyPurpose::UserTokens),
        _ => tag_key(secret, KeyPurpose::RefreshTokens),
    }
}

/// The refusal of a token of `kind` whose tag does not verify.
fn not_ours(kind: TokenKind) -> TokenError {
    match kind {
        TokenKind::Service => TokenError::WrongProject,
        other => TokenError::NotIssued(other),
    }
}

fn minted(kind: TokenKind, project: &str, seed: u64) -> MintedToken {
    mint(kind, &key(SECRET, kind, project), &mut Seeded::new(seed))
}

fn opaque_kind() -> impl Strategy<Value = TokenKind> {
    prop_oneof![
        Just(TokenKind::Service),
        Just(TokenKind::User),
        Just(TokenKind::Refresh)
    ]
}

fn project() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9-]{0,20}"
}

/// Strings that look like tokens: a known prefix and base62, near the right length, or junk.
fn token_like() -> impl Strategy<Value = String> {
    let prefix = proptest::sample::select(vec!["eas_", "eau_", "ear_", "eaa_", "eax_", "EAS_", ""]);
    prop_oneof![
        text(),
        after("eas_"),
        after("eau_"),
        after("eaa_eyJ"),
        (prefix, over("0123456789ABCxyz", 80)).prop_map(|(p, b)| format!("{p}{b}")),
        (
            proptest::sample::select(vec!["eau_", "ear_", "eas_"]),
            1usize..80
        )
            .prop_map(|(p, n)| {
                format!("{p}{}", "Aa0".repeat(n).chars().take(n).collect::<String>())
            }),
        over("eaJy_.-A0z=+/", 60).prop_map(|b| format!("eaa_{b}")),
        "eaa_eyJ[A-Za-z0-9_-]{0,20}\\.[A-Za-z0-9_-]{0,20}\\.[A-Za-z0-9_=-]{0,20}(\\.[a-z]{0,3})?",
        // Minted tokens, some with one character changed.
        (
            opaque_kind(),
            any::<u64>(),
            proptest::option::of((any::<usize>(), proptest::char::range('-', 'z'))),
        )
            .prop_map(|(kind, seed, change)| {
                let t = minted(kind, "alpha", seed).plaintext().to_owned();
                change
                    .and_then(|(at, c)| replace_char(&t, at, c))
                    .unwrap_or(t)
            }),
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn the_kind_is_the_prefix(s in token_like()) {
        let expected = KINDS.into_iter().find(|k| s.starts_with(k.prefix()));
        prop_assert_eq!(TokenKind::of(&s), expected);
    }

    #[test]
    fn check_format_never_panics_and_accepts_only_the_documented_shapes(s in token_like()) {
        match check_format(&s) {
            Ok(kind) => {
                prop_assert_eq!(TokenKind::of(&s), Some(kind));
                let rest = &s[4..];
                match kind.token_len() {
                    Some(len) => {
                        prop_assert_eq!(s.len(), len);
                        prop_assert!(base62::is_base62(rest));
                        // The last six symbols are the CRC32 of everything before them.
                        let (body, _) = s.split_at(len - CHECKSUM_CHARS);
                        prop_assert_eq!(with_checksum(body), s.clone());
                    }
                    None => {
                        prop_assert!(s.len() <= MAX_ACCESS_TOKEN_LEN);
                        prop_assert!(rest.starts_with("eyJ"));
                        prop_assert_eq!(rest.split('.').count(), 3);
                        prop_assert!(rest.split('.').all(|p| !p.is_empty()
                            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))));
                    }
                }
            }
            Err(TokenError::UnknownKind) => prop_assert_eq!(TokenKind::of(&s), None),
            Err(TokenError::Malformed(k) | TokenError::Checksum(k)) => {
                prop_assert_eq!(TokenKind::of(&s), Some(k));
            }
            Err(TokenError::WrongProject | TokenError::NotIssued(_)) => {
                prop_assert!(false, "check_format knows no key")
            }
        }
    }

    #[test]
    fn any_body_with_its_crc32_passes_the_offline_check(
        kind in opaque_kind(),
        seed in any::<u64>(),
    ) {
        let body_len = kind.token_len().unwrap() - 4 - CHECKSUM_CHARS;
        let body = format!("{}{}", kind.prefix(), base62::random(body_len, &mut Seeded::new(seed)));
        prop_assert_eq!(check_format(&with_checksum(&body)), Ok(kind));
    }

    #[test]
    fn minted_tokens_pass_their_own_checks_and_never_print(
        kind in opaque_kind(),
        project in project(),
        seed in any::<u64>(),
    ) {
        let t = minted(kind, &project, seed);
        let p = t.plaintext();
        prop_assert_eq!(check_format(p), Ok(kind));
        prop_assert_eq!(Some(p.len()), kind.token_len());
        prop_assert_eq!(t.display_prefix(), &p[..DISPLAY_PREFIX_CHARS]);
        prop_assert_eq!(t.hash(), &TokenHash::of(p));
        let debug = format!("{t:?}");
        prop_assert!(!debug.contains(&p[DISPLAY_PREFIX_CHARS..]), "{}", debug);
        prop_assert_eq!(verify_tag(p, &key(SECRET, kind, &project)), Ok(()));
    }

    #[test]
    fn a_token_is_refused_by_any_other_deployment(
        kind in opaque_kind(),
        seed in any::<u64>(),
    ) {
        let t = minted(kind, "alpha", seed);
        prop_assert_eq!(
            verify_tag(t.plaintext(), &key(OTHER_SECRET, kind, "alpha")),
            Err(not_ours(kind))
        );
    }

    #[test]
    fn a_service_token_is_refused_in_any_other_project_or_deployment(
        project in project(),
        other in project(),
        seed in any::<u64>(),
    ) {
        let t = minted(TokenKind::Service, &project, seed);
        let p = t.plaintext();
        if other != project {
            prop_assert_eq!(
                verify_tag(p, &service_key(SECRET, &other)),
                Err(TokenError::WrongProject)
            );
        }
        prop_assert_eq!(
            verify_tag(p, &service_key(OTHER_SECRET, &project)),
            Err(TokenError::WrongProject)
        );
    }

    #[test]
    fn any_single_character_change_is_refused_before_storage(
        kind in opaque_kind(),
        seed in any::<u64>(),
        at in any::<usize>(),
        with in prop_oneof![
            proptest::char::range('0', 'z'),
            proptest::sample::select(NASTY),
            proptest::char::any(),
        ],
    ) {
        let t = minted(kind, "alpha", seed);
        let Some(changed) = replace_char(t.plaintext(), at, with) else { return Ok(()) };
        // Only a change of the tag can keep the checksum right, and then the tag is wrong.
        let refused = verify_tag(&changed, &key(SECRET, kind, "alpha")).is_err();
        prop_assert!(refused, "{} was accepted", changed);
    }

    #[test]
    fn a_forged_tag_with_a_correct_checksum_is_refused(
        kind in opaque_kind(),
        entropy_seed in any::<u64>(),
        tag_seed in any::<u64>(),
    ) {
        let body = format!(
            "{}{}{}",
            kind.prefix(),
            base62::random(ENTROPY_CHARS, &mut Seeded::new(entropy_seed)),
            base62::random(TAG_CHARS, &mut Seeded::new(tag_seed)),
        );
        let forged = with_checksum(&body);
        prop_assert_eq!(check_format(&forged), Ok(kind));
        prop_assert_eq!(
            verify_tag(&forged, &key(SECRET, kind, "alpha")),
            Err(not_ours(kind))
        );
    }

    #[test]
    fn truncated_or_extended_tokens_are_refused(
        kind in opaque_kind(),
        seed in any::<u64>(),
        cut in 0usize..75,
        extra in "[0-9A-Za-z]{1,8}",
    ) {
        let t = minted(kind, "alpha", seed);
        let p = t.plaintext();
        prop_assert!(check_format(&p[..cut.min(p.len() - 1)]).is_err());
        let extended = format!("{p}{extra}");
        prop_assert!(check_format(&extended).is_err());
    }
}
