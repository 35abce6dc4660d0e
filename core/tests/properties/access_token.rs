//! `access_token`: the signed JWT of the device flow. Verification never panics, mint and
//! verify agree, and nothing but the untouched token, in its own project, under this
//! deployment's key, within its lifetime, is accepted.

use edgeauth_core::access_token::{
    mint, verify, AccessGrant, AccessTokenError, Holder, CLOCK_SKEW_S, MAX_LIFETIME_S,
    MIN_LIFETIME_S,
};
use edgeauth_core::crypto::{KeyPurpose, RootSecret};
use edgeauth_core::encoding::base64url_encode;
use edgeauth_core::signing::KeyRing;
use edgeauth_core::token::{check_format, MAX_ACCESS_TOKEN_LEN};
use edgeauth_core::{ProjectName, Role, Scope, TokenKind, WorkspacePattern};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::strategies::{
    access_key, after, cases, json, over, replace_char, text, Seeded, NASTY, OTHER_SECRET, SECRET,
};

const NOW: i64 = 1_795_000_000;

/// A plausible "now": any time from 1970 to the year 5000.
fn now_s() -> impl Strategy<Value = i64> {
    0i64..95_000_000_000
}

fn project() -> impl Strategy<Value = ProjectName> {
    "[a-z0-9][a-z0-9-]{0,20}".prop_map(|p| ProjectName::parse(&p).unwrap())
}

fn scope() -> impl Strategy<Value = Scope> {
    let pattern = prop_oneof![
        Just("*".to_owned()),
        "[a-z0-9_.-]{1,12}(/[a-z0-9_.-]{1,12}){0,2}(/\\*)?",
    ];
    proptest::collection::vec(pattern, 1..8)
        .prop_filter_map("valid patterns", |p| Scope::parse(&p).ok())
}

fn grant() -> impl Strategy<Value = AccessGrant> {
    (
        "usr_[0-9A-Za-z]{1,40}",
        project(),
        scope(),
        "fam_[0-9A-Za-z_-]{1,40}",
        now_s(),
        prop_oneof![0u32..=1000, any::<u32>()],
        prop_oneof![Just(Role::Member), Just(Role::Admin)],
    )
        .prop_map(
            |(user_id, project, scope, family_id, now_s, lifetime_s, role)| AccessGrant {
                issuer: "https://auth.example.com".into(),
                holder: Holder::Person {
                    user_id,
                    family_id,
                    role,
                },
                project,
                scope,
                now_s,
                lifetime_s,
            },
        )
}

/// EdDSA over any header and claims JSON under the ring's key at [`NOW`], bypassing `mint`:
/// what a buggy minter or someone holding the key could produce.
fn sign_raw(keys: &KeyRing, header: &Value, claims: &Value) -> String {
    use ed25519_dalek::Signer;
    let b64 = |v: &Value| base64url_encode(&serde_json::to_vec(v).unwrap());
    let signed = format!("{}.{}", b64(header), b64(claims));
    let sig = keys.current(NOW).signing_key().sign(signed.as_bytes());
    format!("eaa_{signed}.{}", base64url_encode(&sig.to_bytes()))
}

/// The `kid` of the key that signs at [`NOW`].
fn kid() -> String {
    access_key(SECRET).current(NOW).kid().to_owned()
}

/// Claims near the valid ones: each member kept, removed, or replaced by a nasty value.
fn claims_like(now: i64) -> impl Strategy<Value = Value> {
    let good = json!({
        "sub": "usr_AbCdEfGhIjKlMnOpQrSt", "prj": "alpha", "scp": ["production/*"],
        "fam": "fam_x", "jti": "j1", "iat": now, "exp": now + 600,
    });
    let names = ["sub", "prj", "scp", "fam", "jti", "iat", "exp"];
    // None keeps a member, Some(None) removes it, Some(Some(v)) replaces it.
    // Mostly one or two edits, so that some sets pass and the checks meet near misses.
    let edit = prop_oneof![
        40 => Just(None),
        1 => Just(Some(None)),
        1 => Just(Some(Some(Value::Null))),
        2 => json().prop_map(|v| Some(Some(v))),
        2 => (-2000i64..2000).prop_map(move |d| Some(Some(json!(now + d)))),
        1 => any::<f64>().prop_map(|f| Some(Some(json!(f)))),
        1 => proptest::collection::vec(text(), 0..3).prop_map(|v| Some(Some(json!(v)))),
        1 => text().prop_map(|t| Some(Some(json!(t)))),
    ];
    prop_oneof![
        6 => proptest::collection::vec(edit, names.len()).prop_map(move |edits| {
            let mut claims = good.clone();
            for (name, edit) in names.iter().zip(edits) {
                match edit {
                    None => {}
                    Some(None) => {
                        claims.as_object_mut().unwrap().remove(*name);
                    }
                    Some(Some(v)) => claims[*name] = v,
                }
            }
            claims
        }),
        1 => json(),
    ]
}

fn header_like() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => Just(json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid()})),
        1 => (proptest::sample::select(vec!["EdDSA", "HS256", "none", "eddsa", "ES256", ""]),
              proptest::sample::select(vec!["at+jwt", "JWT", "AT+JWT", ""]),
              proptest::sample::select(vec![kid(), "other".to_owned(), String::new()]))
            .prop_map(|(alg, typ, kid)| json!({"alg": alg, "typ": typ, "kid": kid})),
        1 => json(),
    ]
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn verify_never_panics_on_arbitrary_input(
        token in prop_oneof![
            text(),
            after("eaa_"),
            after("eaa_eyJ"),
            over("eyJhbGciOiJIUzI1NiJ9._-=+/", 80).prop_map(|s| format!("eaa_{s}")),
            (1usize..400, 1usize..400, 1usize..60).prop_map(|(a, b, c)| {
                format!("eaa_eyJ{}.{}.{}", "A".repeat(a), "b".repeat(b), "c".repeat(c))
            }),
        ],
        now in any::<i64>(),
    ) {
        let result = verify(&token, &access_key(SECRET), now);
        prop_assert!(result.is_err(), "{:?} verified without a signature of ours", token);
    }

    #[test]
    fn signed_claims_are_checked_before_they_are_trusted(
        header in header_like(),
        claims in claims_like(NOW),
        offset in -100i64..800,
    ) {
        let now = NOW + offset;
        let key = access_key(SECRET);
        let token = sign_raw(&key, &header, &claims);
        if let Ok(c) = verify(&token, &key, now) {
            // Whatever verifies says everything an access token must, within its lifetime.
            prop_assert_eq!(&header["alg"], "EdDSA");
            let kid = kid();
            prop_assert_eq!(&header["kid"], kid.as_str());
            prop_assert_eq!(&header["typ"], "at+jwt");
            prop_assert!(token.len() <= MAX_ACCESS_TOKEN_LEN);
            let lifetime = c.expires_at_s - c.issued_at_s;
            prop_assert!((1..=i64::from(MAX_LIFETIME_S)).contains(&lifetime));
            prop_assert!(c.issued_at_s <= now + CLOCK_SKEW_S);
            prop_assert!(now < c.expires_at_s + CLOCK_SKEW_S);
            let Holder::Person { user_id, family_id, .. } = &c.holder else {
                panic!("a person's token: {:?}", c.holder);
            };
            prop_assert!(user_id.starts_with("usr_") && user_id.len() > 4);
            prop_assert!(!family_id.is_empty() && !c.token_id.is_empty());
            prop_assert_eq!(&claims["sub"], user_id.as_str());
            prop_assert_eq!(&claims["prj"], c.project.as_str());
            prop_assert_eq!(json!(c.scope.to_strings()), claims["scp"].clone());
        }
    }

    #[test]
    fn a_minted_token_verifies_to_its_claims_throughout_its_lifetime(
        grant in grant(),
        seed in any::<u64>(),
        at in 0.0f64..1.0,
    ) {
        let key = access_key(SECRET);
        let minted = match mint(&key, &grant, &mut Seeded::new(seed)) {
            Ok(m) => m,
            // Only a scope too large for a token is refused here.
            Err(e) => {
                prop_assert_eq!(e, AccessTokenError::TooLong);
                return Ok(());
            }
        };
        let t = minted.plaintext();
        let c = minted.claims();
        prop_assert!(t.len() <= MAX_ACCESS_TOKEN_LEN);
        prop_assert_eq!(check_format(t), Ok(TokenKind::Access));
        prop_assert_eq!(&c.holder, &grant.holder);
        prop_assert_eq!(&c.project, &grant.project);
        prop_assert_eq!(&c.scope, &grant.scope);
        prop_assert_eq!(c.issued_at_s, grant.now_s);
        let lifetime = grant.lifetime_s.clamp(MIN_LIFETIME_S, MAX_LIFETIME_S);
        prop_assert_eq!(minted.expires_in_s(), i64::from(lifetime));

        let first = c.issued_at_s - CLOCK_SKEW_S;
        let last = c.expires_at_s + CLOCK_SKEW_S - 1;
        let now = first + ((last - first) as f64 * at) as i64;
        prop_assert_eq!(verify(t, &key, now), Ok(c.clone()));
        prop_assert_eq!(verify(t, &key, first), Ok(c.clone()));
        prop_assert_eq!(verify(t, &key, last), Ok(c.clone()));
        prop_assert_eq!(verify(t, &key, first - 1), Err(AccessTokenError::IssuedInFuture));
        prop_assert_eq!(verify(t, &key, last + 1), Err(AccessTokenError::Expired));
        let debug = format!("{minted:?}");
        prop_assert!(!debug.contains(t) && !debug.contains(t.rsplit('.').next().unwrap()));
    }

    #[test]
    fn mint_never_issues_a_token_verify_refuses(
        user_id in prop_oneof!["usr_[0-9A-Za-z]{1,70}", text(), "usr_[!-~]{0,10}"],
        family_id in prop_oneof!["[0-9A-Za-z_-]{1,70}", text()],
        project in project(),
        now in prop_oneof![now_s(), any::<i64>()],
        lifetime_s in any::<u32>(),
    ) {
        let key = access_key(SECRET);
        let grant = AccessGrant {
            issuer: "https://auth.example.com".into(),
            holder: Holder::Person {
                user_id,
                family_id,
                role: Role::Member,
            },
            project,
            scope: Scope::all(),
            now_s: now,
            lifetime_s,
        };
        if let Ok(minted) = mint(&key, &grant, &mut Seeded::new(1)) {
            prop_assert_eq!(verify(minted.plaintext(), &key, now), Ok(minted.claims().clone()));
        }
    }

    #[test]
    fn any_single_character_change_is_refused(
        grant in grant(),
        at in any::<usize>(),
        with in prop_oneof![
            proptest::char::range('+', 'z'),
            proptest::sample::select(NASTY),
            proptest::char::any(),
        ],
    ) {
        let key = access_key(SECRET);
        let Ok(minted) = mint(&key, &grant, &mut Seeded::new(3)) else { return Ok(()) };
        let Some(changed) = replace_char(minted.plaintext(), at, with) else { return Ok(()) };
        prop_assert!(
            verify(&changed, &key, grant.now_s).is_err(),
            "a change at {} to {:?} was accepted", at % minted.plaintext().chars().count(), with
        );
    }

    #[test]
    fn a_truncated_or_extended_token_is_refused(
        grant in grant(),
        cut in any::<usize>(),
        extra in "[A-Za-z0-9_.=-]{1,4}",
    ) {
        let key = access_key(SECRET);
        let Ok(minted) = mint(&key, &grant, &mut Seeded::new(5)) else { return Ok(()) };
        let t = minted.plaintext();
        prop_assert!(verify(&t[..cut % t.len()], &key, grant.now_s).is_err());
        let extended = format!("{t}{extra}");
        prop_assert!(verify(&extended, &key, grant.now_s).is_err());
    }

    #[test]
    fn a_token_is_refused_in_another_project_and_under_another_key(
        grant in grant(),
        other in project(),
    ) {
        let key = access_key(SECRET);
        let Ok(minted) = mint(&key, &grant, &mut Seeded::new(7)) else { return Ok(()) };
        let t = minted.plaintext();
        let claims = verify(t, &key, grant.now_s).unwrap();
        prop_assert_eq!(claims.check_project(&grant.project), Ok(()));
        if other != grant.project {
            prop_assert_eq!(claims.check_project(&other), Err(AccessTokenError::WrongProject));
        }
        let root = RootSecret::new(SECRET).unwrap();
        for wrong in [
            root.derive(KeyPurpose::Cookies),
            root.derive(KeyPurpose::Sessions),
            root.derive(KeyPurpose::ServiceTokens { project: grant.project.as_str() }),
        ]
        .map(|k| KeyRing::new(k, edgeauth_core::signing::DEFAULT_PERIOD_S))
        .into_iter()
        .chain([access_key(OTHER_SECRET)])
        {
            prop_assert_eq!(verify(t, &wrong, grant.now_s), Err(AccessTokenError::BadSignature));
        }
    }

    #[test]
    fn widening_the_scope_of_a_signed_token_breaks_it(grant in grant()) {
        let key = access_key(SECRET);
        let Ok(minted) = mint(&key, &grant, &mut Seeded::new(9)) else { return Ok(()) };
        let parts: Vec<&str> = minted.plaintext()[4..].split('.').collect();
        let mut claims: Value = serde_json::from_slice(
            &edgeauth_core::encoding::base64url_decode_strict(parts[1]).unwrap(),
        ).unwrap();
        let widened = json!([WorkspacePattern::All.to_string()]);
        // A token that already covers everything cannot be widened.
        if claims["scp"] == widened { return Ok(()) }
        claims["scp"] = widened;
        let forged = format!(
            "eaa_{}.{}.{}",
            parts[0],
            base64url_encode(&serde_json::to_vec(&claims).unwrap()),
            parts[2]
        );
        prop_assert_eq!(verify(&forged, &key, grant.now_s), Err(AccessTokenError::BadSignature));
    }
}
