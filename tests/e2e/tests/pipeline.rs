//! The request pipeline and configuration: health, capabilities, whoami, auth-disabled mode,
//! private reads, misconfiguration, projects, routing.

use edgeauth_e2e::*;
use serde_json::Value;

const MISSING_CREDENTIAL_CHALLENGE: &str = "Bearer realm=\"edgeauth\"";

// ---- /healthz ----------------------------------------------------------------------------

#[test]
fn healthz_is_ok_on_a_configured_instance() {
    for instance in [Instance::main(), Instance::hashed(), Instance::private()] {
        let health = instance.get("/healthz").send().expect_json(200);
        assert_eq!(health["status"], "ok", "{}: {health}", instance.name());
        assert_eq!(
            health["problems"],
            serde_json::json!([]),
            "{}",
            instance.name()
        );
    }
}

#[test]
fn healthz_names_a_missing_service_binding_and_the_route_answers_503() {
    let response = Instance::open().get("/healthz").send();
    let health = response.expect_json(503);
    let problems = strings(&health["problems"]).join("\n");
    assert!(
        problems.contains("GATEWAY: route `/svc-missing/*` names the service binding `MISSING`"),
        "{response}"
    );
    let message = Instance::open()
        .get("/svc-missing/x")
        .send()
        .expect_error(503, "misconfigured");
    assert!(message.contains("MISSING"), "{message}");
    // The rest of the instance works.
    Instance::open()
        .get("/api/auth/capabilities")
        .send()
        .expect_json(200);
}

#[test]
fn healthz_answers_even_with_an_invalid_credential() {
    // /healthz is the one endpoint where a bad credential is not a 401: probes carry none.
    let health = Instance::main()
        .get("/healthz")
        .bearer("eas_not-a-token")
        .send()
        .expect_json(200);
    assert_eq!(health["status"], "ok");
}

#[test]
fn healthz_names_every_bad_setting_on_a_misconfigured_instance() {
    let response = Instance::badconfig().get("/healthz").send();
    let health = response.expect_json(503);
    assert_eq!(health["status"], "misconfigured", "{response}");
    let problems = strings(&health["problems"]).join("\n");
    assert!(
        problems.contains("SUPER_TOKEN_HASH"),
        "problems must name SUPER_TOKEN_HASH:\n{response}"
    );
    assert!(
        problems.contains("SECRET"),
        "problems must name SECRET:\n{response}"
    );
    // An issuer given as its discovery document's URL (the usual copy-paste slip).
    assert!(
        problems.contains("OIDC_ISSUER: is the discovery document's URL, not the issuer"),
        "problems must name OIDC_ISSUER:\n{response}"
    );
    // A bad gateway route is named by route and field.
    assert!(
        problems.contains("GATEWAY: route 1 (`/api/auth/mine/*`): path")
            && problems.contains("origin must be an https URL"),
        "problems must name GATEWAY's route:\n{response}"
    );
    assert_no_bad_config_values(&response);
    // A path a route would have served answers 503 naming the settings, not 404.
    Instance::badconfig()
        .get("/somewhere/else")
        .send()
        .expect_error(503, "misconfigured");
}

#[test]
fn every_endpoint_of_a_misconfigured_instance_answers_503_naming_the_setting() {
    let instance = Instance::badconfig();
    let super_token = super_token();
    let requests = [
        instance.get("/api/auth/capabilities"),
        instance.get("/api/auth/whoami"),
        instance.get("/api/auth/whoami").bearer(&super_token),
        instance.get("/api/service-tokens").bearer(&super_token),
        instance
            .post("/api/service-tokens")
            .bearer(&super_token)
            .json(&service_token_body("ci", &["*"])),
    ];
    for request in requests {
        let response = request.send();
        let message = response.expect_error(503, "misconfigured");
        assert!(
            message.contains("SUPER_TOKEN_HASH") || message.contains("SECRET"),
            "a misconfiguration error names the setting to fix:\n{response}"
        );
        assert_no_bad_config_values(&response);
    }
}

/// BADCONFIG runs with `SUPER_TOKEN_HASH=not-hex`, `SECRET=short` and an `OIDC_ISSUER` (on
/// `idp.badconfig.example`) that is a discovery URL, beside its OIDC client: its answers may say
/// a setting is malformed or too short, but never quote the value.
fn assert_no_bad_config_values(response: &Response) {
    let text = response.text();
    assert!(
        !text.contains("not-hex"),
        "the SUPER_TOKEN_HASH value is echoed:\n{response}"
    );
    for value in ["idp.badconfig.example", "badconfig-client-secret"] {
        assert!(
            !text.contains(value),
            "an OIDC setting's value is echoed ({value}):\n{response}"
        );
    }
    for quoted in [
        "\\\"short\\\"",
        "'short'",
        "`short`",
        "=short",
        "= short",
        "\u{201c}short\u{201d}",
    ] {
        assert!(
            !text.contains(quoted),
            "the SECRET value is echoed ({quoted}):\n{response}"
        );
    }
}

// ---- /api/auth/capabilities --------------------------------------------------------------

#[test]
fn capabilities_for_an_anonymous_caller() {
    let caps = Instance::main()
        .get("/api/auth/capabilities")
        .send()
        .expect_json(200);
    assert_eq!(caps["signed_in"], false, "{caps}");
    assert_eq!(caps["kind"], Value::Null, "{caps}");
    assert_eq!(caps["auth_disabled"], false, "{caps}");
    assert_eq!(caps["public_reads"], true, "{caps}");
    assert_eq!(caps["service_tokens"], true, "{caps}");
    assert_eq!(caps["can_write"], false, "{caps}");
    for method in ["oidc", "cli_loopback", "device"] {
        assert!(
            caps["login_methods"][method].is_boolean(),
            "login_methods.{method} must be a boolean: {caps}"
        );
    }
}

#[test]
fn capabilities_for_the_super_token_in_both_super_token_modes() {
    for instance in [Instance::main(), Instance::hashed()] {
        let caps = instance
            .get("/api/auth/capabilities")
            .bearer(&super_token())
            .send()
            .expect_json(200);
        assert_eq!(caps["signed_in"], true, "{}: {caps}", instance.name());
        assert_eq!(caps["kind"], "super", "{}: {caps}", instance.name());
        assert_eq!(caps["can_write"], true, "{}: {caps}", instance.name());
        assert_eq!(caps["auth_disabled"], false, "{}: {caps}", instance.name());
        assert_eq!(caps["service_tokens"], true, "{}: {caps}", instance.name());
    }
}

#[test]
fn capabilities_for_a_service_token() {
    let main = Instance::main();
    let project = unique("caps");
    let token = mint_service_token(
        &main,
        &super_token(),
        &project,
        &unique("ci"),
        &["production/*"],
    );
    let caps = main
        .get("/api/auth/capabilities")
        .bearer(&token.token)
        .project(&project)
        .send()
        .expect_json(200);
    assert_eq!(caps["signed_in"], true, "{caps}");
    assert_eq!(caps["kind"], "service", "{caps}");
    assert_eq!(caps["can_write"], true, "{caps}");
}

#[test]
fn capabilities_with_an_invalid_credential_is_401_not_anonymous() {
    Instance::main()
        .get("/api/auth/capabilities")
        .bearer(&format!("{}x", super_token()))
        .send()
        .expect_invalid_token();
}

#[test]
fn capabilities_report_service_tokens_unavailable_without_secret() {
    let caps = Instance::nosecret()
        .get("/api/auth/capabilities")
        .send()
        .expect_json(200);
    assert_eq!(caps["service_tokens"], false, "{caps}");
    assert_eq!(caps["auth_disabled"], false, "{caps}");
}

// ---- /api/auth/whoami --------------------------------------------------------------------

#[test]
fn whoami_without_credential_is_401_with_a_bare_challenge() {
    for instance in [Instance::main(), Instance::hashed()] {
        let response = instance.get("/api/auth/whoami").send();
        response.expect_error(401, "unauthorized");
        assert_eq!(
            response.header("WWW-Authenticate"),
            Some(MISSING_CREDENTIAL_CHALLENGE),
            "a missing credential gets a challenge without error=:\n{response}"
        );
    }
}

#[test]
fn whoami_with_the_super_token_in_both_super_token_modes() {
    for instance in [Instance::main(), Instance::hashed()] {
        let me = instance
            .get("/api/auth/whoami")
            .bearer(&super_token())
            .send()
            .expect_json(200);
        assert_eq!(me["kind"], "super", "{}: {me}", instance.name());
        assert_eq!(me["name"], "super", "{}: {me}", instance.name());
        assert_eq!(me["workspaces"], serde_json::json!(["*"]), "{me}");
        assert_eq!(me["token_id"], Value::Null, "{me}");
        assert_eq!(me["expires_at"], Value::Null, "{me}");
        assert_eq!(me["auth_disabled"], false, "{me}");
        assert_eq!(me["project"], "default", "DEFAULT_PROJECT is default: {me}");
    }
}

#[test]
fn whoami_reports_the_requested_project() {
    let project = unique("whoami");
    let me = whoami(&Instance::main(), &super_token(), &project).expect_json(200);
    assert_eq!(me["project"], project.as_str(), "{me}");
}

#[test]
fn near_misses_of_the_super_token_are_refused_in_both_modes() {
    let real = super_token();
    let mut near_misses = vec![
        format!("{real}x"),
        real[..real.len() - 1].to_owned(),
        format!("x{real}"),
        "wrong-super-token-of-some-length".to_owned(),
    ];
    let flipped: String = real
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    if flipped != real {
        near_misses.push(flipped);
    }
    if let Some(i) = real.find(|c: char| c.is_ascii_alphabetic()) {
        let mut one_flipped = real.clone();
        let c = real.as_bytes()[i] as char;
        let swapped = if c.is_ascii_lowercase() {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        };
        one_flipped.replace_range(i..=i, &swapped.to_string());
        near_misses.push(one_flipped);
    }
    for instance in [Instance::main(), Instance::hashed()] {
        for candidate in &near_misses {
            instance
                .get("/api/auth/whoami")
                .bearer(candidate)
                .send()
                .expect_invalid_token();
        }
    }
}

#[test]
fn the_hash_of_the_super_token_is_not_itself_a_credential() {
    let hash = tokens::sha256_hex(&super_token());
    for instance in [Instance::main(), Instance::hashed()] {
        instance
            .get("/api/auth/whoami")
            .bearer(&hash)
            .send()
            .expect_invalid_token();
    }
}

#[test]
fn whoami_accepts_a_token_in_the_websocket_protocol_header() {
    let main = Instance::main();
    for others in ["", "chat", "chat, v2.json"] {
        let me = main
            .get("/api/auth/whoami")
            .websocket_bearer(others, &super_token())
            .send()
            .expect_json(200);
        assert_eq!(me["kind"], "super", "protocols {others:?}: {me}");
    }

    let project = unique("ws");
    let token = mint_service_token(&main, &super_token(), &project, &unique("ws"), &["*"]);
    let me = main
        .get("/api/auth/whoami")
        .project(&project)
        .websocket_bearer("chat", &token.token)
        .send()
        .expect_json(200);
    assert_eq!(me["kind"], "service", "{me}");
    assert_eq!(me["token_id"], token.id.as_str(), "{me}");
}

#[test]
fn an_invalid_token_in_the_websocket_protocol_header_is_401() {
    let main = Instance::main();
    main.get("/api/auth/whoami")
        .websocket_bearer("chat", &format!("{}x", super_token()))
        .send()
        .expect_invalid_token();
    main.get("/api/auth/whoami")
        .websocket_upgrade()
        .header("Sec-WebSocket-Protocol", "chat, bearer.!!!not-base64url!!!")
        .send()
        .expect_error(401, "unauthorized");
}

// ---- AUTH_DISABLED -----------------------------------------------------------------------

const AUTH_DISABLED_HEADER: &str = "X-Edgeauth-Auth";

fn assert_says_auth_disabled(response: &Response) {
    assert_eq!(
        response.header(AUTH_DISABLED_HEADER),
        Some("disabled"),
        "every response of an auth-disabled instance says so:\n{response}"
    );
}

#[test]
fn auth_disabled_answers_as_anonymous_with_full_access() {
    let noauth = Instance::noauth();
    let response = noauth.get("/api/auth/whoami").send();
    let me = response.expect_json(200);
    assert_says_auth_disabled(&response);
    assert_eq!(me["kind"], "anonymous", "{me}");
    assert_eq!(me["name"], "anonymous", "{me}");
    assert_eq!(me["workspaces"], serde_json::json!(["*"]), "{me}");
    assert_eq!(me["auth_disabled"], true, "{me}");

    let response = noauth.get("/api/auth/capabilities").send();
    let caps = response.expect_json(200);
    assert_says_auth_disabled(&response);
    assert_eq!(caps["auth_disabled"], true, "{caps}");
    assert_eq!(caps["can_write"], true, "{caps}");
}

#[test]
fn auth_disabled_lets_an_anonymous_caller_write() {
    // NOAUTH may run without SECRET, in which case service tokens are 501; what must not
    // happen is a refusal for lack of a credential.
    let response = Instance::noauth()
        .post("/api/service-tokens")
        .project(&unique("noauth"))
        .json(&service_token_body(&unique("anon"), &["*"]))
        .send();
    assert_says_auth_disabled(&response);
    match response.status {
        201 => tokens::assert_service_token_shape(
            response.json()["token"]
                .as_str()
                .expect("a created token carries its plaintext"),
        ),
        501 => {
            response.assert_error_body("not_configured");
        }
        _ => panic!("an anonymous write with auth disabled must not be refused:\n{response}"),
    }
}

#[test]
fn every_response_of_an_auth_disabled_instance_says_so() {
    let noauth = Instance::noauth();
    let responses = [
        noauth.get("/healthz").send(),
        noauth.get("/api/no-such-route").send(),
        noauth.request("PUT", "/api/auth/whoami").send(),
        noauth.get("/api/auth/whoami").project("Bad_Name").send(),
        noauth
            .post("/api/service-tokens")
            .body(Some("application/json"), "{not json")
            .send(),
    ];
    for response in &responses {
        assert_says_auth_disabled(response);
    }
}

#[test]
fn auth_disabled_fails_closed_on_a_non_loopback_host() {
    // A deployment must never run open by accident: AUTH_DISABLED is honoured only on
    // loopback. (This relies on wrangler dev passing the Host header through to request.url.)
    let noauth = Instance::noauth();
    for host in [
        "api.example.com",
        "127.0.0.1.example.com",
        "localhost.example.com:8787",
    ] {
        for target in ["/api/auth/whoami", "/api/auth/capabilities"] {
            let response = noauth.get(target).header("Host", host).send();
            let message = response.expect_error(503, "misconfigured");
            assert!(
                message.contains("AUTH_DISABLED"),
                "the refusal names AUTH_DISABLED (Host: {host}):\n{response}"
            );
        }
        // /healthz reports the same problem, so a monitor sees the deployment is unusable.
        let health = noauth.get("/healthz").header("Host", host).send();
        assert_eq!(health.status, 503, "{health}");
        assert!(health.text().contains("AUTH_DISABLED"), "{health}");
    }
    let health = noauth.get("/healthz").send();
    assert_eq!(
        health.status, 200,
        "on loopback the same instance is healthy:\n{health}"
    );
}

#[test]
fn auth_disabled_fails_closed_for_a_client_that_is_not_on_this_machine() {
    // A loopback Host is not enough: a dev server bound to 0.0.0.0, or reached through a
    // tunnel that rewrites Host, would answer a stranger anonymously. The client address
    // (CF-Connecting-IP: the edge sets it to the real client on Cloudflare, wrangler dev to
    // the socket's peer) must be loopback too; here a client on another machine is simulated
    // by the header a tunnel's edge would set.
    let noauth = Instance::noauth();
    for client in [
        "203.0.113.9",
        "192.168.1.20",
        "localhost",
        "::ffff:10.0.0.1",
    ] {
        for target in ["/api/auth/whoami", "/api/service-tokens"] {
            let response = noauth
                .get(target)
                .header("Host", "localhost")
                .header("CF-Connecting-IP", client)
                .send();
            let message = response.expect_error(503, "misconfigured");
            assert!(
                message.contains("AUTH_DISABLED") && message.contains("this machine"),
                "the refusal names AUTH_DISABLED (client {client}):\n{response}"
            );
            assert!(
                response.header("X-Edgeauth-Auth").is_some(),
                "still says auth is disabled, so the operator sees why:\n{response}"
            );
        }
        let health = noauth
            .get("/healthz")
            .header("CF-Connecting-IP", client)
            .send();
        assert_eq!(health.status, 503, "{health}");
        assert!(health.text().contains("AUTH_DISABLED"), "{health}");
    }
    // The same request from this machine is answered anonymously.
    let me = noauth
        .get("/api/auth/whoami")
        .header("Host", "localhost")
        .header("CF-Connecting-IP", "127.0.0.1")
        .send()
        .expect_json(200);
    assert_eq!(me["kind"], "anonymous", "{me}");
}

// ---- PUBLIC_READS=false ------------------------------------------------------------------

#[test]
fn private_reads_still_answer_capabilities_to_anyone() {
    // SPEC and docs/api.md: capabilities is for "anyone" (a client must learn how to sign
    // in before it has a credential); PUBLIC_READS=false shows there as public_reads false,
    // and the read endpoints themselves need a credential (see authorization.rs).
    let private = Instance::private();
    let caps = private
        .get("/api/auth/capabilities")
        .send()
        .expect_json(200);
    assert_eq!(caps["signed_in"], false, "{caps}");
    assert_eq!(caps["public_reads"], false, "{caps}");
    assert_eq!(caps["can_write"], false, "{caps}");

    let caps = private
        .get("/api/auth/capabilities")
        .bearer(&super_token())
        .send()
        .expect_json(200);
    assert_eq!(caps["signed_in"], true, "{caps}");
    assert_eq!(caps["public_reads"], false, "{caps}");

    // A bad credential is still refused, and the super token still works for whoami.
    private
        .get("/api/auth/capabilities")
        .bearer(&format!("{}x", super_token()))
        .send()
        .expect_invalid_token();
    let response = private.get("/api/auth/whoami").send();
    response.expect_error(401, "unauthorized");
    assert_eq!(
        response.header("WWW-Authenticate"),
        Some(MISSING_CREDENTIAL_CHALLENGE),
        "{response}"
    );

    // Liveness probes carry no credential.
    private.get("/healthz").send().expect_json(200);
}

#[test]
fn listing_service_tokens_is_never_a_public_read() {
    Instance::main()
        .get("/api/service-tokens")
        .send()
        .expect_error(401, "unauthorized");
}

// ---- Projects ----------------------------------------------------------------------------

#[test]
fn invalid_project_names_are_400() {
    let main = Instance::main();
    let too_long = "a".repeat(64);
    for bad in [
        "Bad_Name",
        "-leading-dash",
        "UPPER",
        "has space",
        "a.b",
        too_long.as_str(),
    ] {
        let response = whoami(&main, &super_token(), bad);
        response.assert_not_5xx();
        response.expect_error(400, "bad_request");
    }
    for bad in ["Bad_Name", "x%2Fy", "-a"] {
        main.get(&format!("/api/auth/whoami?project={bad}"))
            .bearer(&super_token())
            .send()
            .expect_error(400, "bad_request");
    }
    let longest = format!("p{}", "a".repeat(62));
    let me = whoami(&main, &super_token(), &longest).expect_json(200);
    assert_eq!(me["project"], longest.as_str());
}

#[test]
fn the_project_header_wins_over_the_query_parameter() {
    let main = Instance::main();
    let header_project = unique("hdr");
    let query_project = unique("qry");
    let me = main
        .get(&format!("/api/auth/whoami?project={query_project}"))
        .bearer(&super_token())
        .project(&header_project)
        .send()
        .expect_json(200);
    assert_eq!(me["project"], header_project.as_str());
    let me = main
        .get(&format!("/api/auth/whoami?project={query_project}"))
        .bearer(&super_token())
        .send()
        .expect_json(200);
    assert_eq!(me["project"], query_project.as_str());
}

// ---- Routing -----------------------------------------------------------------------------

#[test]
fn unknown_routes_are_404_json() {
    let main = Instance::main();
    for target in [
        "/nope",
        "/api/nope",
        "/api/service-tokens/st_x/extra",
        "/api/auth",
    ] {
        main.get(target)
            .bearer(&super_token())
            .send()
            .expect_error(404, "not_found");
        main.get(target).send().expect_error(404, "not_found");
    }
}

#[test]
fn wrong_methods_are_405_with_allow() {
    let main = Instance::main();
    let cases = [
        ("PUT", "/api/service-tokens", &["GET", "POST"][..]),
        ("PATCH", "/api/service-tokens", &["GET", "POST"][..]),
        ("POST", "/api/auth/whoami", &["GET"][..]),
        ("DELETE", "/api/auth/capabilities", &["GET"][..]),
        ("POST", "/healthz", &["GET"][..]),
        ("GET", "/api/service-tokens/st_abc", &["DELETE"][..]),
    ];
    for (method, target, allowed) in cases {
        let response = main.request(method, target).bearer(&super_token()).send();
        response.expect_error(405, "method_not_allowed");
        let allow = response
            .header("Allow")
            .unwrap_or_else(|| panic!("405 without an Allow header:\n{response}"));
        let listed: Vec<String> = allow
            .split(',')
            .map(|m| m.trim().to_ascii_uppercase())
            .collect();
        for method in allowed {
            assert!(
                listed.iter().any(|m| m == method),
                "Allow must list {method}:\n{response}"
            );
        }
    }
}
