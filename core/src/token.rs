//! Formats of the tokens edgeauth mints, and their offline checks.
//!
//! Every minted token is `<kind prefix><base62 entropy><base62 tag><base62 checksum>`, in the
//! manner of GitHub's tokens: the prefix tells a reader (and a secret scanner) what it is, the
//! entropy makes it unguessable, and a CRC32 checksum lets anyone reject a mistyped or
//! truncated token without a storage read. The tag, the first 128 bits of an HMAC under a key
//! derived from `SECRET` (the project's key for a service token, the user-token or
//! refresh-token key for the others), lets the server reject a token it did not mint, or a
//! service token of another project, with no storage read either: a flood of forged tokens
//! never becomes a flood of storage reads. Only the SHA-256 of a token and its first
//! [`DISPLAY_PREFIX_CHARS`] characters are ever stored.
//!
//! Access tokens (`eaa_`) are the exception: a signed JWT ([`crate::access_token`]), never
//! stored, whose signature is its integrity check; offline, only its prefix, shape and length
//! are checked here.

use core::fmt;

use crate::base62;
use crate::bearer::MAX_CREDENTIAL_LEN;
use crate::crypto::{constant_time_eq, DerivedKey, TokenHash};
use crate::Entropy;

/// Base62 symbols of entropy in every minted token: 43 × log2(62) ≈ 256 bits.
pub const ENTROPY_CHARS: usize = 43;
/// Base62 symbols of a token's tag: 22 symbols hold 128 bits.
pub const TAG_CHARS: usize = 22;
/// Base62 symbols of the checksum: 6 symbols hold a CRC32.
pub const CHECKSUM_CHARS: usize = 6;
/// Characters of a token kept for display (`eas_` and 8 more): enough to tell tokens apart,
/// far too few to guess the rest.
pub const DISPLAY_PREFIX_CHARS: usize = 12;
/// The longest access token accepted or minted, prefix included: the longest bearer credential
/// the Worker reads at all ([`MAX_CREDENTIAL_LEN`]), so every token minted can be presented.
/// A grant whose token would be longer (a scope of many long patterns) is refused at mint
/// ([`crate::access_token::mint`]).
pub const MAX_ACCESS_TOKEN_LEN: usize = MAX_CREDENTIAL_LEN;
const PREFIX_CHARS: usize = 4;

/// The kinds of token edgeauth mints, told apart by their prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A workspace-scoped token for automation, bound to one project (`eas_`).
    Service,
    /// A user-owned API token (`eau_`).
    User,
    /// A device-flow refresh token (`ear_`); never a bearer credential on the API.
    Refresh,
    /// A short-lived device-flow access token (`eaa_` + a JWS); verified by its signature.
    Access,
}

impl TokenKind {
    const ALL: [TokenKind; 4] = [
        TokenKind::Service,
        TokenKind::User,
        TokenKind::Refresh,
        TokenKind::Access,
    ];

    /// The prefix every token of this kind starts with.
    pub const fn prefix(self) -> &'static str {
        match self {
            TokenKind::Service => "eas_",
            TokenKind::User => "eau_",
            TokenKind::Refresh => "ear_",
            TokenKind::Access => "eaa_",
        }
    }

    /// Total length of a token of this kind, when it is fixed: every kind but access tokens,
    /// whose length varies with their claims (at most [`MAX_ACCESS_TOKEN_LEN`]).
    pub const fn token_len(self) -> Option<usize> {
        match self {
            TokenKind::Service | TokenKind::User | TokenKind::Refresh => {
                Some(PREFIX_CHARS + ENTROPY_CHARS + TAG_CHARS + CHECKSUM_CHARS)
            }
            TokenKind::Access => None,
        }
    }

    /// The kind a token claims by its prefix, if any.
    pub fn of(token: &str) -> Option<TokenKind> {
        Self::ALL
            .into_iter()
            .find(|k| token.starts_with(k.prefix()))
    }
}

/// Why a presented token was rejected before any storage read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// No known prefix.
    UnknownKind,
    /// Known prefix but wrong length or characters.
    Malformed(TokenKind),
    /// Well formed, but the checksum does not match.
    Checksum(TokenKind),
    /// A service token whose tag does not verify under the project's key.
    WrongProject,
    /// A user API or refresh token whose tag does not verify: not minted by this server.
    NotIssued(TokenKind),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::UnknownKind => f.write_str("the token is not one this server issued"),
            TokenError::Malformed(kind) => write!(
                f,
                "the token starts like {} {} token but has the wrong length or characters; copy it again in full",
                if *kind == TokenKind::Access { "an" } else { "a" },
                kind.noun()
            ),
            TokenError::Checksum(kind) => write!(
                f,
                "the {} token's checksum does not match: it was mistyped or truncated",
                kind.noun()
            ),
            TokenError::WrongProject => f.write_str(
                "the service token was not issued for this project (check X-Project or ?project=)",
            ),
            TokenError::NotIssued(kind) => {
                write!(f, "the {} token was not issued by this server", kind.noun())
            }
        }
    }
}

impl TokenKind {
    fn noun(self) -> &'static str {
        match self {
            TokenKind::Service => "service",
            TokenKind::User => "user API",
            TokenKind::Refresh => "refresh",
            TokenKind::Access => "access",
        }
    }
}

/// A freshly minted token: the plaintext (shown once), its hash and display prefix (stored).
pub struct MintedToken {
    plaintext: String,
    hash: TokenHash,
}

impl MintedToken {
    fn new(plaintext: String) -> Self {
        let hash = TokenHash::of(&plaintext);
        Self { plaintext, hash }
    }

    /// The token itself, for the creation response only.
    pub fn plaintext(&self) -> &str {
        &self.plaintext
    }

    /// What storage keeps in place of the token.
    pub fn hash(&self) -> &TokenHash {
        &self.hash
    }

    /// The first characters, kept to let people tell tokens apart.
    pub fn display_prefix(&self) -> &str {
        &self.plaintext[..DISPLAY_PREFIX_CHARS]
    }
}

impl fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MintedToken({}…)", self.display_prefix())
    }
}

/// Mints a token of `kind` (service, user API or refresh) tagged under `key`: the project's
/// key for a service token ([`crate::crypto::KeyPurpose::ServiceTokens`]), the user-token or
/// the refresh-token key for the others. Prefix, 256 bits, tag, checksum.
pub fn mint(kind: TokenKind, key: &DerivedKey, entropy: &mut dyn Entropy) -> MintedToken {
    debug_assert!(
        kind != TokenKind::Access,
        "access tokens are minted by access_token::mint"
    );
    let body = format!(
        "{}{}",
        kind.prefix(),
        base62::random(ENTROPY_CHARS, entropy)
    );
    let tag = tag(key, &body);
    with_checksum(body + &tag)
}

/// Checks a presented token's prefix, shape and checksum: the checks anyone can make offline.
///
/// An access token has no checksum (its signature, checked by [`crate::access_token::verify`],
/// is the integrity check): here only its length cap and JWS shape, three base64url parts.
pub fn check_format(token: &str) -> Result<TokenKind, TokenError> {
    let kind = TokenKind::of(token).ok_or(TokenError::UnknownKind)?;
    let Some(len) = kind.token_len() else {
        let plausible = token.len() <= MAX_ACCESS_TOKEN_LEN && is_jws_shape(&token[PREFIX_CHARS..]);
        return if plausible {
            Ok(kind)
        } else {
            Err(TokenError::Malformed(kind))
        };
    };
    if token.len() != len || !base62::is_base62(&token[PREFIX_CHARS..]) {
        return Err(TokenError::Malformed(kind));
    }
    let (body, checksum) = token.split_at(token.len() - CHECKSUM_CHARS);
    if !constant_time_eq(checksum.as_bytes(), checksum_of(body).as_bytes()) {
        return Err(TokenError::Checksum(kind));
    }
    Ok(kind)
}

/// Checks a well-formed token's tag against `key` (see [`mint`]), in constant time: the
/// server's proof that it minted the token, for this project if it is a service token.
pub fn verify_tag(token: &str, key: &DerivedKey) -> Result<(), TokenError> {
    let kind = check_format(token)?;
    let body_end = PREFIX_CHARS + ENTROPY_CHARS;
    let (Some(body), Some(presented)) = (
        token.get(..body_end),
        token.get(body_end..body_end + TAG_CHARS),
    ) else {
        return Err(TokenError::Malformed(kind));
    };
    if constant_time_eq(presented.as_bytes(), tag(key, body).as_bytes()) {
        Ok(())
    } else if kind == TokenKind::Service {
        Err(TokenError::WrongProject)
    } else {
        Err(TokenError::NotIssued(kind))
    }
}

/// Three non-empty base64url parts separated by dots, the first a JSON object (`eyJ` is
/// base64url of `{"`): the cheap offline check of an access token, made by [`check_format`]
/// and, before parsing, by [`crate::access_token::verify`].
pub(crate) fn is_jws_shape(jws: &str) -> bool {
    let mut parts = jws.split('.');
    let shaped = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    };
    jws.starts_with("eyJ")
        && shaped(parts.next())
        && shaped(parts.next())
        && shaped(parts.next())
        && parts.next().is_none()
}

fn tag(key: &DerivedKey, body: &str) -> String {
    let mac = key.sign(body.as_bytes());
    let first_128 = u128::from_be_bytes(mac[..16].try_into().expect("16 bytes"));
    base62::encode_fixed(first_128, TAG_CHARS)
}

fn checksum_of(body: &str) -> String {
    base62::encode_fixed(crc32fast::hash(body.as_bytes()) as u128, CHECKSUM_CHARS)
}

fn with_checksum(body: String) -> MintedToken {
    let checksum = checksum_of(&body);
    MintedToken::new(body + &checksum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base62::tests::TestEntropy;
    use crate::crypto::{KeyPurpose, RootSecret};

    fn secret() -> RootSecret {
        RootSecret::new(&"s".repeat(40)).unwrap()
    }

    fn key(project: &str) -> DerivedKey {
        secret().derive(KeyPurpose::ServiceTokens { project })
    }

    fn user_key() -> DerivedKey {
        secret().derive(KeyPurpose::UserTokens)
    }

    fn refresh_key() -> DerivedKey {
        secret().derive(KeyPurpose::RefreshTokens)
    }

    #[test]
    fn minted_tokens_have_their_documented_shape() {
        let mut e = TestEntropy(1);
        let s = mint(TokenKind::Service, &key("p"), &mut e);
        let u = mint(TokenKind::User, &user_key(), &mut e);
        let r = mint(TokenKind::Refresh, &refresh_key(), &mut e);
        assert!(s.plaintext().starts_with("eas_") && s.plaintext().len() == 75);
        assert!(u.plaintext().starts_with("eau_") && u.plaintext().len() == 75);
        assert!(r.plaintext().starts_with("ear_") && r.plaintext().len() == 75);
        assert_eq!(s.display_prefix(), &s.plaintext()[..12]);
        assert_eq!(s.hash(), &TokenHash::of(s.plaintext()));
        assert_eq!(check_format(s.plaintext()), Ok(TokenKind::Service));
        assert_eq!(check_format(u.plaintext()), Ok(TokenKind::User));
        assert_eq!(check_format(r.plaintext()), Ok(TokenKind::Refresh));
        assert_eq!(verify_tag(s.plaintext(), &key("p")), Ok(()));
        assert_eq!(verify_tag(u.plaintext(), &user_key()), Ok(()));
        assert_eq!(verify_tag(r.plaintext(), &refresh_key()), Ok(()));
    }

    #[test]
    fn checksum_is_crc32_in_six_base62_symbols() {
        let body = "eau_".to_owned() + &"a".repeat(43 + 22);
        let expected = base62::encode_fixed(crc32fast::hash(body.as_bytes()) as u128, 6);
        assert_eq!(
            check_format(&(body.clone() + &expected)),
            Ok(TokenKind::User)
        );
    }

    #[test]
    fn every_single_character_change_is_caught_offline() {
        for (kind, key) in [
            (TokenKind::Service, key("p")),
            (TokenKind::User, user_key()),
            (TokenKind::Refresh, refresh_key()),
        ] {
            let token = mint(kind, &key, &mut TestEntropy(9));
            let t = token.plaintext();
            for i in 4..t.len() {
                let mut bytes = t.as_bytes().to_vec();
                bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
                let changed = String::from_utf8(bytes).unwrap();
                assert!(
                    verify_tag(&changed, &key).is_err(),
                    "{kind:?}: change at {i} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn mistyped_truncated_and_foreign_tokens_are_rejected() {
        let t = mint(TokenKind::User, &user_key(), &mut TestEntropy(3));
        let p = t.plaintext();
        assert_eq!(
            check_format(&p[..74]),
            Err(TokenError::Malformed(TokenKind::User))
        );
        assert_eq!(
            check_format(&format!("{p}x")),
            Err(TokenError::Malformed(TokenKind::User))
        );
        assert_eq!(
            check_format(&p.replacen("eau_", "eax_", 1)),
            Err(TokenError::UnknownKind)
        );
        let mut swapped = p.to_owned();
        swapped.replace_range(10..11, if &p[10..11] == "Q" { "R" } else { "Q" });
        assert_eq!(
            check_format(&swapped),
            Err(TokenError::Checksum(TokenKind::User))
        );
        let mut punctuated = p.to_owned();
        punctuated.replace_range(20..21, "-");
        assert_eq!(
            check_format(&punctuated),
            Err(TokenError::Malformed(TokenKind::User))
        );
        assert_eq!(check_format(""), Err(TokenError::UnknownKind));
        assert_eq!(
            check_format("eas_é"),
            Err(TokenError::Malformed(TokenKind::Service))
        );
        // The old 53-character user token shape is no longer one this server mints.
        assert_eq!(
            check_format(&with_checksum("eau_".to_owned() + &"a".repeat(43)).plaintext),
            Err(TokenError::Malformed(TokenKind::User))
        );
    }

    #[test]
    fn a_service_token_is_valid_only_in_its_project() {
        let t = mint(TokenKind::Service, &key("alpha"), &mut TestEntropy(5));
        assert_eq!(verify_tag(t.plaintext(), &key("alpha")), Ok(()));
        assert_eq!(
            verify_tag(t.plaintext(), &key("beta")),
            Err(TokenError::WrongProject)
        );
    }

    #[test]
    fn a_forged_tag_with_a_valid_checksum_fails_verification() {
        for (kind, key, refusal) in [
            (TokenKind::Service, key("p"), TokenError::WrongProject),
            (
                TokenKind::User,
                user_key(),
                TokenError::NotIssued(TokenKind::User),
            ),
            (
                TokenKind::Refresh,
                refresh_key(),
                TokenError::NotIssued(TokenKind::Refresh),
            ),
        ] {
            let t = mint(kind, &key, &mut TestEntropy(11));
            let body_and_tag = &t.plaintext()[..t.plaintext().len() - CHECKSUM_CHARS];
            let mut forged = body_and_tag.to_owned();
            forged.replace_range(50..51, if &forged[50..51] == "A" { "B" } else { "A" });
            let forged = with_checksum(forged);
            assert_eq!(check_format(forged.plaintext()), Ok(kind));
            assert_eq!(verify_tag(forged.plaintext(), &key), Err(refusal.clone()));
            assert!(!refusal.to_string().is_empty());
        }
        // A user token is not a refresh token's key's, nor the reverse.
        let u = mint(TokenKind::User, &user_key(), &mut TestEntropy(12));
        assert_eq!(
            verify_tag(u.plaintext(), &refresh_key()),
            Err(TokenError::NotIssued(TokenKind::User))
        );
    }

    #[test]
    fn access_tokens_are_recognised_without_a_checksum() {
        let shaped = "eaa_eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
        assert_eq!(check_format(shaped), Ok(TokenKind::Access));
        assert_eq!(TokenKind::of(shaped), Some(TokenKind::Access));
        assert_eq!(TokenKind::Access.token_len(), None);
        for bad in [
            "eaa_",
            "eaa_x",
            "eaa_eyJ.a",
            "eaa_eyJ.a.b.c",
            "eaa_eyJ.a.b!",
        ] {
            assert_eq!(
                check_format(bad),
                Err(TokenError::Malformed(TokenKind::Access)),
                "{bad}"
            );
        }
        let long = format!("eaa_eyJ{}.a.b", "a".repeat(MAX_ACCESS_TOKEN_LEN));
        assert_eq!(
            check_format(&long),
            Err(TokenError::Malformed(TokenKind::Access))
        );
        assert!(TokenError::Malformed(TokenKind::Access)
            .to_string()
            .starts_with("the token starts like an access token"));
    }

    #[test]
    fn minted_tokens_do_not_repeat_and_do_not_print() {
        let mut e = TestEntropy(77);
        let a = mint(TokenKind::User, &user_key(), &mut e);
        let b = mint(TokenKind::User, &user_key(), &mut e);
        assert_ne!(a.plaintext(), b.plaintext());
        assert!(!format!("{a:?}").contains(a.plaintext()));
    }
}
