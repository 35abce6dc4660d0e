//! GitHub secret scanning's partner endpoint (docs/api.md, "GitHub secret scanning"):
//! `POST /api/credentials/github-secret-scanning` with a report GitHub signed revokes the
//! live tokens in it, audits each with actor `leak_report` and where GitHub found it, and
//! labels every match; a report GitHub did not sign (another key, an unknown key, no
//! signature, a body changed after signing) is refused and revokes nothing. The key pair is
//! made per run by scripts/test (`edgeauth_e2e::scanning`).

use edgeauth_e2e::credentials::sign_in_with_teams;
use edgeauth_e2e::oidc::MEMBER_TEAM;
use edgeauth_e2e::scanning::{
    report_body, signed, token_hash, GitHub, ENDPOINT, SERVICE_TOKEN_TYPE, USER_TOKEN_TYPE,
};
use edgeauth_e2e::store::table_rows;
use edgeauth_e2e::*;
use serde_json::{json, Value};

/// The audit events of `project` recorded by leak reports.
fn leak_report_events(instance: &Instance, project: &str) -> Vec<Value> {
    table_rows(&instance.persist_dir(), "audit_events")
        .into_iter()
        .filter(|row| row["actor"] == "leak_report" && row["project"] == project)
        .map(Value::Object)
        .collect()
}

#[test]
fn a_report_github_signed_revokes_the_live_tokens_and_labels_every_match() {
    let main = Instance::main();
    let github = GitHub::trusted();
    let project = unique("scanning");
    let service = mint_service_token(&main, &super_token(), &project, "found", &["*"]);
    let kept = mint_service_token(&main, &super_token(), &project, "kept", &["*"]);
    let earlier = mint_service_token(&main, &super_token(), &project, "revoked before", &["*"]);
    main.delete(&format!("/api/service-tokens/{}", earlier.id))
        .bearer(&super_token())
        .project(&project)
        .send()
        .expect_status(204);
    let person = sign_in_with_teams(&main, &unique("scanning-owner"), &[MEMBER_TEAM]);
    let user = person.create_token(&project, &json!({"name": "found too"}));
    // A look-alike with a wrong checksum, and a string that is no token at all.
    let mut typo = service.token.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == 'a' { 'b' } else { 'a' });

    let matches = [
        (service.token.as_str(), SERVICE_TOKEN_TYPE),
        (user.token.as_str(), USER_TOKEN_TYPE),
        (earlier.token.as_str(), SERVICE_TOKEN_TYPE),
        (typo.as_str(), SERVICE_TOKEN_TYPE),
        ("eau_not-a-real-token", USER_TOKEN_TYPE),
        (service.token.as_str(), SERVICE_TOKEN_TYPE),
    ];
    let answer = github.report(&main, &report_body(&matches)).send();
    let labels = answer.expect_json(200);
    for token in [&service.token, &user.token, &earlier.token] {
        assert!(
            !answer.text().contains(token.as_str()),
            "the answer gives tokens back by their hash only:\n{answer}"
        );
    }
    let expected: Vec<Value> = matches
        .iter()
        .zip([
            "true_positive",
            "true_positive",
            "true_positive",
            "false_positive",
            "false_positive",
            "true_positive",
        ])
        .map(|((token, token_type), label)| {
            json!({"token_hash": token_hash(token), "token_type": token_type, "label": label})
        })
        .collect();
    assert_eq!(
        labels,
        Value::Array(expected),
        "one label per match, in order"
    );

    // Both kinds revoked: their next use is 401; the token not reported goes on.
    whoami(&main, &service.token, &project).expect_invalid_token();
    whoami(&main, &user.token, &project).expect_invalid_token();
    whoami(&main, &kept.token, &project).expect_status(200);

    // The owner sees why: actor leak_report, GitHub named, where it was found; no token.
    let events = leak_report_events(&main, &project);
    assert_eq!(
        events.len(),
        2,
        "one event per token revoked now: {events:?}"
    );
    let mut subjects: Vec<&str> = events
        .iter()
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    subjects.sort_unstable();
    let mut revoked = vec![service.id.as_str(), user.id.as_str()];
    revoked.sort_unstable();
    assert_eq!(subjects, revoked);
    for event in &events {
        let detail: Value = serde_json::from_str(event["detail"].as_str().unwrap()).unwrap();
        assert_eq!(
            detail["reason"], "reported by GitHub secret scanning",
            "{detail}"
        );
        assert_eq!(
            detail["url"],
            "https://github.com/octo-org/octo-repo/blob/0123abc/ci/deploy.yml"
        );
        assert_eq!(detail["source"], "content");
        let text = detail.to_string();
        assert!(
            !text.contains(&service.token) && !text.contains(&user.token),
            "{text}"
        );
    }

    // Reported again: still real (true_positive), nothing more revoked or recorded.
    let again = github
        .report(
            &main,
            &report_body(&[(user.token.as_str(), USER_TOKEN_TYPE)]),
        )
        .send()
        .expect_json(200);
    assert_eq!(again[0]["label"], "true_positive", "{again}");
    assert_eq!(leak_report_events(&main, &project).len(), 2);
}

#[test]
fn a_report_github_did_not_sign_is_refused_and_revokes_nothing() {
    let main = Instance::main();
    let github = GitHub::trusted();
    let project = unique("scanning-forged");
    let service = mint_service_token(&main, &super_token(), &project, "found", &["*"]);
    let body = report_body(&[(service.token.as_str(), SERVICE_TOKEN_TYPE)]);
    let signature = github.sign(body.as_bytes());
    let id = github.key_identifier.as_str();

    // Another key claiming to be GitHub's.
    let message = GitHub::impostor(id)
        .report(&main, &body)
        .send()
        .expect_error(401, "invalid_signature");
    assert!(message.contains("does not verify"), "{message}");
    // GitHub's key under an identifier MAIN does not hold.
    let message = signed(&main, "0123456789abcdef", &signature, &body)
        .send()
        .expect_error(401, "invalid_signature");
    assert!(message.contains("SECRET_SCANNING_KEYS"), "{message}");
    // The body changed after signing: another URL, or the same JSON written differently.
    let tampered = body.replace("octo-repo", "octo-repp");
    signed(&main, id, &signature, &tampered)
        .send()
        .expect_error(401, "invalid_signature");
    let respaced =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(&body).unwrap()).unwrap();
    signed(&main, id, &signature, &respaced)
        .send()
        .expect_error(401, "invalid_signature");
    // A signature of another report.
    let other = github.sign(report_body(&[("eas_x", SERVICE_TOKEN_TYPE)]).as_bytes());
    signed(&main, id, &other, &body)
        .send()
        .expect_error(401, "invalid_signature");
    // A header missing, or a signature that is not base64 of a DER signature.
    for request in [
        main.post(ENDPOINT)
            .header("Github-Public-Key-Identifier", id)
            .body(Some("application/json"), body.as_str()),
        main.post(ENDPOINT)
            .header("Github-Public-Key-Signature", signature.as_str())
            .body(Some("application/json"), body.as_str()),
        main.post(ENDPOINT)
            .json(&serde_json::from_str(&body).unwrap()),
    ] {
        let message = request.send().expect_error(400, "bad_request");
        assert!(message.contains("Github-Public-Key-Signature"), "{message}");
    }
    for (bad, why) in [
        ("not base64!", "base64"),
        (&signature[1..], "base64"),
        ("aGVsbG8=", "DER"),
    ] {
        let message = signed(&main, id, bad, &body)
            .send()
            .expect_error(400, "bad_request");
        assert!(message.contains(why), "{bad}: {message}");
    }

    // Nothing was revoked or recorded.
    whoami(&main, &service.token, &project).expect_status(200);
    assert_eq!(leak_report_events(&main, &project), Vec::<Value>::new());

    // The same report, signed by GitHub, does revoke it: the refusals above were the
    // signature's.
    let labels = signed(&main, id, &signature, &body).send().expect_json(200);
    assert_eq!(labels[0]["label"], "true_positive", "{labels}");
    whoami(&main, &service.token, &project).expect_invalid_token();
}

#[test]
fn a_signed_report_must_be_githubs_json_array() {
    let main = Instance::main();
    let github = GitHub::trusted();
    for body in [
        r#"{"token": "eas_x", "type": "t"}"#,
        r#"[{"type": "t"}]"#,
        "[1]",
        "nope",
    ] {
        let message = github
            .report(&main, body)
            .send()
            .expect_error(400, "bad_request");
        assert!(message.contains("JSON array"), "{body}: {message}");
    }
    // An empty report is a report of nothing.
    assert_eq!(
        github.report(&main, "[]").send().expect_json(200),
        json!([])
    );
    // Sent as something else than JSON: 415, whatever the signature.
    let body = report_body(&[("eas_x", SERVICE_TOKEN_TYPE)]);
    main.post(ENDPOINT)
        .header("Github-Public-Key-Identifier", &github.key_identifier)
        .header("Github-Public-Key-Signature", github.sign(body.as_bytes()))
        .body(Some("text/plain"), body.as_str())
        .send()
        .expect_error(415, "unsupported_media_type");
}

#[test]
fn without_secret_scanning_keys_the_endpoint_says_how_to_turn_it_on() {
    // HASHED has no SECRET_SCANNING_KEYS.
    let hashed = Instance::hashed();
    let github = GitHub::trusted();
    let message = github
        .report(&hashed, &report_body(&[("eas_x", SERVICE_TOKEN_TYPE)]))
        .send()
        .expect_error(501, "not_configured");
    assert!(
        message.contains("SECRET_SCANNING_KEYS")
            && message.contains("https://api.github.com/meta/public_keys/secret_scanning"),
        "{message}"
    );
}
