//! `id_token`: the algorithm allow-list and the checks of an ID token's claims.

use edgeauth_core::id_token::{
    check_claims, check_header, Expectations, IdTokenAlg, MAX_SUBJECT_LEN,
};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::strategies::{cases, json, text};

const NOW: i64 = 1_795_000_000;
const ISS: &str = "https://idp.example.test";
const CLIENT: &str = "edgeauth";
const NONCE: &str = "n-0S6_WzA2Mj";

fn expected() -> impl Strategy<Value = Expectations> {
    (
        proptest::option::of(proptest::collection::vec(
            proptest::sample::select(vec!["eng", "ops", "x"]).prop_map(str::to_owned),
            0..3,
        )),
        proptest::sample::select(vec!["groups", "teams"]),
        0i64..120,
    )
        .prop_map(|(allowed_teams, teams_claim, skew_s)| Expectations {
            allowed_teams,
            teams_claim: teams_claim.to_owned(),
            skew_s,
            ..Expectations::new(ISS, CLIENT, NONCE, NOW)
        })
}

/// Claims near a valid set: each member kept, removed or replaced, sometimes by a near miss.
fn claims_like() -> impl Strategy<Value = Value> {
    let good = json!({
        "iss": ISS, "aud": CLIENT, "sub": "user-123", "exp": NOW + 300, "iat": NOW - 10,
        "nonce": NONCE, "email": "ada@example.test", "email_verified": true, "name": "Ada",
        "groups": ["eng", "ops"],
    });
    let names = [
        "iss",
        "aud",
        "azp",
        "sub",
        "exp",
        "nbf",
        "iat",
        "nonce",
        "email",
        "email_verified",
        "groups",
        "teams",
    ];
    let near_miss = proptest::sample::select(vec![
        json!(format!("{ISS}/")),
        json!([CLIENT, "other"]),
        json!(["other"]),
        json!([CLIENT]),
        json!(CLIENT),
        json!("true"),
        json!(NOW - 100),
        json!(NOW + 100),
        json!((NOW as f64) + 0.5),
        json!(1e300),
        json!(-1e300),
        json!(""),
        json!("x".repeat(MAX_SUBJECT_LEN + 1)),
        json!(["eng", 1]),
        json!(["x"]),
        json!(NONCE.to_uppercase()),
    ]);
    // Mostly one or two edits, so that some sets pass and the checks meet near misses.
    let edit = prop_oneof![
        60 => Just(None),
        1 => Just(Some(None)),
        2 => near_miss.prop_map(|v| Some(Some(v))),
        1 => json().prop_map(|v| Some(Some(v))),
        1 => (-400i64..400).prop_map(|d| Some(Some(json!(NOW + d)))),
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

fn date(v: &Value) -> Option<f64> {
    v.as_f64()
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn only_rs256_and_es256_pass_and_the_refusal_is_printable(alg in prop_oneof![
        text(),
        proptest::sample::select(vec![
            "RS256", "ES256", "rs256", "none", "HS256", "RS256 ", "ES256\0",
        ])
        .prop_map(str::to_owned),
    ]) {
        match check_header(&alg) {
            Ok(a) => {
                let name = if a == IdTokenAlg::Rs256 { "RS256" } else { "ES256" };
                prop_assert_eq!(alg.as_str(), name);
            }
            Err(e) => {
                let message = e.to_string();
                prop_assert!(
                    message.chars().all(|c| c.is_ascii_graphic() || c == ' '),
                    "{:?}",
                    message
                );
                prop_assert!(message.len() < 120);
            }
        }
    }

    #[test]
    fn accepted_claims_say_who_signed_in_for_us_just_now(
        claims in claims_like(),
        expected in expected(),
    ) {
        let Ok(identity) = check_claims(&claims, &expected) else { return Ok(()) };
        let c = &claims;
        prop_assert_eq!(&c["iss"], ISS);
        prop_assert_eq!(identity.issuer.as_str(), ISS);
        let audiences: Vec<&str> = match &c["aud"] {
            Value::String(a) => vec![a.as_str()],
            Value::Array(a) => a.iter().map(|v| v.as_str().unwrap()).collect(),
            other => return Err(TestCaseError::fail(format!("aud {other}"))),
        };
        prop_assert!(audiences.contains(&CLIENT));
        if audiences.len() > 1 || c.get("azp").is_some() {
            prop_assert_eq!(&c["azp"], CLIENT);
        }
        let skew = expected.skew_s as f64;
        let now = NOW as f64;
        prop_assert!(now < date(&c["exp"]).unwrap().floor() + skew);
        prop_assert!(date(&c["iat"]).unwrap().floor() <= now + skew);
        if let Some(nbf) = c.get("nbf") {
            prop_assert!(date(nbf).unwrap().floor() <= now + skew);
        }
        prop_assert_eq!(&c["nonce"], NONCE);
        prop_assert_eq!(&c["email_verified"], &json!(true));
        prop_assert!(!identity.email.is_empty());
        prop_assert!(!identity.subject.is_empty() && identity.subject.len() <= MAX_SUBJECT_LEN);
        if let Some(allowed) = expected.allowed_teams.as_ref().filter(|a| !a.is_empty()) {
            prop_assert!(identity.teams.iter().any(|t| allowed.contains(t)));
        }
    }

    #[test]
    fn any_claims_are_checked_without_panicking(
        claims in json(),
        now in any::<i64>(),
        skew in any::<i64>(),
    ) {
        let expected = Expectations {
            now_s: now,
            skew_s: skew,
            ..Expectations::new(ISS, CLIENT, NONCE, NOW)
        };
        let _ = check_claims(&claims, &expected);
    }
}
