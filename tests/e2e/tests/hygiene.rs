//! Secrets stay secret: only hashes and display prefixes are stored, no plaintext reaches
//! D1, KV, logs or error bodies.

use std::path::PathBuf;

use edgeauth_e2e::oidc::{self, AtTheProvider, DEMO, OUTSIDER};
use edgeauth_e2e::store::{files_containing, files_under, stored_service_token};
use edgeauth_e2e::tokens::{change_char, sha256_hex, DISPLAY_PREFIX_CHARS, ENTROPY_CHARS};
use edgeauth_e2e::*;

#[test]
fn storage_holds_hashes_and_prefixes_never_plaintext() {
    let main = Instance::main();
    let persist = main.persist_dir();
    let project = unique("hygiene");
    let minted = [
        mint_service_token(&main, &super_token(), &project, "one", &["production/*"]),
        mint_service_token_with(
            &main,
            &super_token(),
            &project,
            &serde_json::json!({"name": "two", "workspaces": ["a", "b/*"], "expires_in_days": 30}),
        ),
    ];
    // Use and revoke them too, so every write path has run.
    for token in &minted {
        whoami(&main, &token.token, &project).expect_json(200);
    }
    main.delete(&format!("/api/service-tokens/{}", minted[1].id))
        .bearer(&super_token())
        .project(&project)
        .send()
        .expect_status(204);

    for token in &minted {
        let row = stored_service_token(&persist, &token.id)
            .unwrap_or_else(|| panic!("{} is not stored in D1", token.id));
        assert_eq!(row.id, token.id);
        assert_eq!(row.project, project);
        assert_eq!(row.name, token.name);
        let stored_patterns: serde_json::Value =
            serde_json::from_str(&row.workspaces).expect("workspaces are stored as JSON");
        assert_eq!(stored_patterns, token.body["workspaces"]);
        assert_eq!(
            row.token_hash,
            sha256_hex(&token.token),
            "token_hash is the hex SHA-256 of the plaintext"
        );
        assert_eq!(row.display_prefix.len(), DISPLAY_PREFIX_CHARS);
        assert_eq!(row.display_prefix, token.token[..DISPLAY_PREFIX_CHARS]);
        assert_eq!(token.body["prefix"], row.display_prefix.as_str());
        assert_near_ms(
            "stored created_at",
            row.created_at,
            parse_timestamp_ms(&token.body["created_at"]),
            1000,
        );
    }
    let revoked = stored_service_token(&persist, &minted[1].id).unwrap();
    assert!(revoked.revoked_at.is_some(), "{revoked:?}");
    assert!(stored_service_token(&persist, &minted[0].id)
        .unwrap()
        .revoked_at
        .is_none());

    // Nowhere in any instance's state (D1, KV, logs, journals) is a plaintext, nor its
    // secret part on its own.
    let state = state_dir();
    for token in &minted {
        for needle in [&token.token[..], &token.token[4..4 + ENTROPY_CHARS]] {
            let found = files_containing(&state, needle.as_bytes());
            assert!(
                found.is_empty(),
                "a token's plaintext is stored in {found:?}"
            );
        }
    }
}

#[test]
fn the_super_token_is_never_persisted() {
    // Touch every instance with it first, so that anything that would store it has.
    for instance in [
        Instance::main(),
        Instance::hashed(),
        Instance::nosecret(),
        Instance::private(),
    ] {
        instance
            .get("/api/auth/whoami")
            .bearer(&super_token())
            .send()
            .expect_status(200);
    }
    let main = Instance::main();
    mint_service_token(&main, &super_token(), &unique("supr"), "by-super", &["*"]);
    for instance in [
        Instance::main(),
        Instance::hashed(),
        Instance::nosecret(),
        Instance::private(),
    ] {
        let found = files_containing(&instance.persist_dir(), super_token().as_bytes());
        assert!(
            found.is_empty(),
            "the super token is stored by {} in {found:?}",
            instance.name()
        );
    }
}

#[test]
fn refusals_do_not_echo_the_presented_token() {
    // The client checks every response against the presented credential; this test makes
    // sure the refusal paths that are most tempted to quote it are exercised, and also that
    // the secret part is not quoted on its own.
    let main = Instance::main();
    let project = unique("echo");
    let real = mint_service_token(&main, &super_token(), &project, "echo", &["*"]).token;
    let candidates = [
        change_char(&real, 30),
        format!("{real}zz"),
        tokens::reseal(&change_char(&real, 30)),
        real.clone(), // right token, wrong project
    ];
    for presented in &candidates {
        let response = whoami(&main, presented, &unique("elsewhere"));
        response.expect_invalid_token();
        let secret_part = &presented[4..4 + ENTROPY_CHARS];
        assert!(
            !response.text().contains(secret_part)
                && !response
                    .headers
                    .iter()
                    .any(|(_, v)| v.contains(secret_part)),
            "the refusal quotes the token's secret part:\n{response}"
        );
    }
}

#[test]
fn list_and_whoami_never_carry_the_plaintext() {
    let main = Instance::main();
    let project = unique("nocopy");
    let token = mint_service_token(&main, &super_token(), &project, "quiet", &["*"]);
    let responses = [
        whoami(&main, &token.token, &project),
        main.get("/api/auth/capabilities")
            .bearer(&token.token)
            .project(&project)
            .send(),
        main.get("/api/service-tokens")
            .bearer(&super_token())
            .project(&project)
            .send(),
        main.get("/api/service-tokens")
            .bearer(&token.token)
            .project(&project)
            .send(),
    ];
    for response in responses {
        response.expect_status(200);
        assert!(
            !response.text().contains(&token.token[4..4 + ENTROPY_CHARS]),
            "{response}"
        );
        assert!(
            !all_keys(&response.json()).iter().any(|k| k == "token"),
            "{response}"
        );
    }
}

/// Where a secret must never be: every instance's D1 and KV (its persist directory) and every
/// log of the run (wrangler's, the migrations', the identity provider's). Not `.dev.vars` or
/// `.state/e2e/env`, which hold the settings on purpose.
fn stores_and_logs() -> Vec<PathBuf> {
    let state = state_dir();
    let mut places: Vec<PathBuf> = [
        Instance::main(),
        Instance::hashed(),
        Instance::noauth(),
        Instance::nosecret(),
        Instance::private(),
        Instance::open(),
    ]
    .iter()
    .map(Instance::persist_dir)
    .collect();
    places.extend(
        files_under(&state)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "log")),
    );
    assert!(
        places.iter().any(|p| p.ends_with("wrangler.log")),
        "no wrangler.log under {}: is the suite run by scripts/test?",
        state.display()
    );
    places
}

#[test]
fn sign_in_secrets_are_never_stored_or_logged() {
    let main = Instance::main();
    let open = Instance::open();
    let mut secrets: Vec<(String, String)> = Vec::new();

    // A whole sign-in, keeping each secret it passes through.
    let start = oidc::begin(&main, Some("/account"));
    let callback = oidc::authorize(&main, &start, AtTheProvider::SignIn(DEMO));
    let code = callback.code.clone().expect("a code");
    let session = oidc::session_from(&main, DEMO, &callback.finish());
    secrets.push(("the login cookie".into(), start.login_cookie.clone()));
    secrets.push(("an authorization code".into(), code));
    secrets.push(("a session cookie".into(), session.cookie.clone()));
    secrets.push(("a CSRF token".into(), session.csrf_token.clone()));

    // A user token, created, used and revoked.
    let project = unique("hygiene-user");
    let token = session.create_token(&project, &serde_json::json!({"name": "hygiene"}));
    whoami(&main, &token.token, &project).expect_json(200);
    let revoked = session.create_token(&project, &serde_json::json!({"name": "gone"}));
    session
        .write("DELETE", &format!("/api/tokens/{}", revoked.id))
        .send()
        .expect_status(204);
    for t in [&token, &revoked] {
        secrets.push(("a user token".into(), t.token.clone()));
        secrets.push((
            "a user token's secret part".into(),
            t.token[4..4 + ENTROPY_CHARS].to_owned(),
        ));
    }

    // Refused sign-ins, whose error paths log what they log: an outsider, a tampered token, a
    // replayed code.
    let refused = oidc::authorize_as(&main, OUTSIDER, None);
    secrets.push((
        "an authorization code".into(),
        refused.code.clone().unwrap(),
    ));
    refused.finish().expect_status(403);
    let tampered = oidc::authorize_as(&main, DEMO, None);
    let tampered_code = tampered.code.clone().unwrap();
    oidc::tamper(&tampered_code, serde_json::json!({"alg": "HS256"}));
    tampered.finish().expect_status(400);
    callback.finish().expect_status(400);
    secrets.push(("an authorization code".into(), tampered_code));

    // A sign-in and logout on another instance.
    let other = oidc::sign_in(&open, OUTSIDER);
    secrets.push(("a session cookie".into(), other.cookie.clone()));
    other
        .write("POST", "/api/auth/logout")
        .send()
        .expect_status(204);

    secrets.push((
        "the OIDC client secret".into(),
        require_env("EDGEAUTH_E2E_OIDC_CLIENT_SECRET"),
    ));

    let places = stores_and_logs();
    for (what, secret) in &secrets {
        assert!(
            secret.len() >= 16,
            "{what} is too short to search for: {secret:?}"
        );
        for place in &places {
            let found = files_containing(place, secret.as_bytes());
            assert!(found.is_empty(), "{what} is written to {found:?}");
        }
    }
    // Sessions are stored as hashes.
    assert!(session.stored().is_some());
}
