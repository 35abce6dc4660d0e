//! Gateway mode end to end: MAIN proxies its `GATEWAY` routes (scripts/lib/test_gateway.py) to
//! the test origin (tests/origin/server.mjs), a Node server that verifies every assertion
//! against MAIN's JWKS with `jose` and echoes what it saw. So each test sees both sides: what
//! edgeauth answered, and what reached the origin.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine;
use edgeauth_e2e::credentials::{every_kind, EveryKind};
use edgeauth_e2e::http::{Instance, Response};
use edgeauth_e2e::{mint_service_token, oidc, super_token, unique};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn main_instance() -> Instance {
    Instance::main()
}

/// Part `index` of a compact JWS (0 the header, 1 the claims) as JSON, unverified: the test
/// only reads it; the origin is what verifies.
fn jws_part(jws: &str, index: usize) -> Value {
    let part = jws.split('.').nth(index).expect("a JWS has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

fn claims_of(jws: &str) -> Value {
    jws_part(jws, 1)
}

fn header_of(jws: &str) -> Value {
    jws_part(jws, 0)
}

/// The origin's echo of a request it accepted: 200, and the body it sent.
fn echoed(response: &Response) -> Value {
    let echo = response.expect_json(200);
    assert!(
        echo["identity"].is_object() && echo["headers"].is_object(),
        "not the origin's echo:\n{response}"
    );
    echo
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn service_token(workspaces: &[&str]) -> String {
    mint_service_token(
        &main_instance(),
        &super_token(),
        "default",
        &unique("gateway"),
        workspaces,
    )
    .token
}

#[test]
fn a_public_read_reaches_the_origin_with_an_assertion_of_nobody() {
    let response = main_instance().get("/echo/hello?x=1").send();
    let echo = echoed(&response);
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/echo/hello");
    assert_eq!(echo["identity"]["kind"], "anonymous");
    assert!(echo["identity"].get("sub").is_none(), "{echo}");
    assert_eq!(echo["identity"]["wsp"], json!([]));
    assert_eq!(echo["identity"]["prj"], "default");
    // The assertion names edgeauth as issuer, the origin as audience, and this request.
    let assertion = echo["headers"]["edgeauth-assertion"].as_str().unwrap();
    let claims = claims_of(assertion);
    assert_eq!(claims["iss"], main_instance().base_url());
    assert_eq!(claims["aud"], Instance::origin().base_url());
    assert_eq!(claims["rid"], echo["headers"]["edgeauth-request-id"]);
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 60);
    assert_eq!(header_of(assertion)["alg"], "EdDSA");
    assert_eq!(header_of(assertion)["typ"], "edgeauth-assertion+jwt");
    // Each request gets its own assertion.
    let again = echoed(&main_instance().get("/echo/hello").send());
    assert_ne!(
        claims["jti"],
        claims_of(again["headers"]["edgeauth-assertion"].as_str().unwrap())["jti"]
    );
}

#[test]
fn a_write_without_a_credential_is_refused_by_edgeauth_not_the_origin() {
    let response = main_instance()
        .post("/echo/things")
        .json(&json!({"a": 1}))
        .send();
    let message = response.expect_error(401, "unauthorized");
    assert!(message.contains("`echo`"), "names the route: {message}");
    assert_eq!(
        response.header("WWW-Authenticate"),
        Some(r#"Bearer realm="edgeauth""#)
    );
    // A bad credential on a public read is 401 too: it is never silently ignored.
    main_instance()
        .get("/echo/x")
        .bearer("eas_not-a-token")
        .send()
        .expect_invalid_token();
}

#[test]
fn workspace_routes_need_a_covering_credential_for_writes() {
    let path = "/echo/ws/production%2Feu/runs";
    let other = service_token(&["staging/*"]);
    let message = main_instance()
        .post(path)
        .bearer(&other)
        .json(&json!({}))
        .send()
        .expect_error(403, "forbidden");
    assert!(
        message.contains("production/eu") && message.contains("staging/*"),
        "{message}"
    );

    let covering = service_token(&["production/*"]);
    let echo = echoed(
        &main_instance()
            .post(path)
            .bearer(&covering)
            .json(&json!({"run": 1}))
            .send(),
    );
    assert_eq!(echo["identity"]["kind"], "service");
    assert_eq!(echo["identity"]["wsp"], json!(["production/*"]));
    assert!(
        echo["identity"]["sub"].as_str().unwrap().starts_with("st_"),
        "{echo}"
    );
    assert_eq!(echo["identity"]["sub"], echo["identity"]["tid"]);
    assert_eq!(echo["body_sha256"], sha256_hex(br#"{"run":1}"#));

    // Reads of the same route are public; DELETE is the super token's only.
    echoed(&main_instance().get(path).send());
    let message = main_instance()
        .delete(path)
        .bearer(&covering)
        .send()
        .expect_error(403, "forbidden");
    assert!(message.contains("super token"), "{message}");
    let echo = echoed(&main_instance().delete(path).bearer(&super_token()).send());
    assert_eq!(echo["identity"]["sub"], "super");
    assert_eq!(echo["identity"]["kind"], "super");
}

#[test]
fn a_workspace_from_a_header_and_the_other_rules() {
    let covering = service_token(&["production/*"]);
    // `uploads` takes the workspace from X-Workspace, for reads too.
    let message = main_instance()
        .get("/echo/upload/a")
        .bearer(&covering)
        .send()
        .expect_error(400, "bad_request");
    assert!(message.contains("X-Workspace"), "{message}");
    main_instance()
        .get("/echo/upload/a")
        .bearer(&covering)
        .header("X-Workspace", "staging")
        .send()
        .expect_error(403, "forbidden");
    let echo = echoed(
        &main_instance()
            .get("/echo/upload/a")
            .bearer(&covering)
            .header("X-Workspace", "production/eu")
            .send(),
    );
    assert_eq!(echo["headers"]["x-workspace"], "production/eu");
    main_instance()
        .get("/echo/upload/a")
        .bearer(&covering)
        .header("X-Workspace", "Not A Workspace")
        .send()
        .expect_error(400, "bad_request");
    // `admin`: the super token only, reads included.
    main_instance()
        .get("/echo/admin/x")
        .bearer(&covering)
        .send()
        .expect_error(403, "forbidden");
    echoed(
        &main_instance()
            .get("/echo/admin/x")
            .bearer(&super_token())
            .send(),
    );
    // `private`: reads need a credential.
    main_instance()
        .get("/echo/private/x")
        .send()
        .expect_error(401, "unauthorized");
    echoed(
        &main_instance()
            .get("/echo/private/x")
            .bearer(&covering)
            .send(),
    );
    // A CORS preflight carries no credential and passes whatever the rule: the origin answers
    // it (as nobody); a plain OPTIONS is a read like any other.
    let preflight = echoed(
        &main_instance()
            .request("OPTIONS", "/echo/private/x")
            .header("Origin", "https://app.example.com")
            .header("Access-Control-Request-Method", "POST")
            .send(),
    );
    assert_eq!(preflight["method"], "OPTIONS");
    assert_eq!(preflight["identity"]["kind"], "anonymous");
    main_instance()
        .request("OPTIONS", "/echo/private/x")
        .send()
        .expect_error(401, "unauthorized");
    // PRIVATE has PUBLIC_READS=false: a `public` read needs a credential there, and on a
    // route that names a workspace, one covering it (PRIVATE refuses before its origin, which
    // trusts MAIN's keys only, would).
    Instance::private()
        .get("/echo/x")
        .send()
        .expect_error(401, "unauthorized");
    let private_staging = mint_service_token(
        &Instance::private(),
        &super_token(),
        "default",
        &unique("private"),
        &["staging/*"],
    )
    .token;
    let message = Instance::private()
        .get("/echo/ws/production%2Feu/runs")
        .bearer(&private_staging)
        .send()
        .expect_error(403, "forbidden");
    assert!(message.contains("production/eu"), "{message}");
    // edgeauth's own endpoints answer beside the routes, and unknown paths are still 404.
    main_instance()
        .get("/api/auth/whoami")
        .bearer(&covering)
        .send()
        .expect_json(200);
    main_instance()
        .get("/nothing-here")
        .send()
        .expect_error(404, "not_found");
}

#[test]
fn spoofed_identity_never_reaches_the_origin() {
    let covering = service_token(&["production/*"]);
    let _shared = oidc::shared();
    let session = edgeauth_e2e::credentials::sign_in_as(&main_instance(), &unique("gw-cookie"));
    let response = main_instance()
        .get("/echo/spoof")
        .bearer(&covering)
        .header(
            "Edgeauth-Assertion",
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
        )
        .header("Edgeauth-Request-Id", "chosen-by-the-client")
        .header("X-Edgeauth-User", "admin")
        .header("Cf-Access-Jwt-Assertion", "forged")
        .header("X-Forwarded-User", "admin")
        .header("X-Forwarded-Email", "admin@example.com")
        .header("X-Auth-Request-User", "admin")
        .header("Remote-User", "admin")
        .header("X-User-Id", "usr_admin")
        .header("X-Custom", "kept")
        .cookie("edgeauth_session", &session.cookie)
        .cookie("theme", "dark")
        .send();
    let echo = echoed(&response);
    let headers = echo["headers"].as_object().unwrap();
    for name in [
        "authorization",
        "x-edgeauth-user",
        "cf-access-jwt-assertion",
        "x-forwarded-user",
        "x-forwarded-email",
        "x-auth-request-user",
        "remote-user",
        "x-user-id",
    ] {
        assert!(
            !headers.contains_key(name),
            "{name} reached the origin: {echo}"
        );
    }
    assert_eq!(headers["x-custom"], "kept");
    assert_eq!(
        headers["cookie"], "theme=dark",
        "edgeauth's cookie is removed, others pass"
    );
    assert_ne!(headers["edgeauth-request-id"], "chosen-by-the-client");
    // The only assertion is edgeauth's, for the bearer credential (which wins over the cookie).
    assert_eq!(echo["identity"]["kind"], "service");

    // The session alone: the origin learns the person, never the cookie.
    let echo = echoed(
        &session
            .get("/echo/as-a-person")
            .cookie("theme", "dark")
            .send(),
    );
    assert_eq!(echo["identity"]["kind"], "session");
    assert!(
        echo["identity"]["sub"]
            .as_str()
            .unwrap()
            .starts_with("usr_"),
        "{echo}"
    );
    assert_eq!(echo["headers"]["cookie"], "theme=dark");
}

#[test]
fn a_route_may_forward_the_authorization_header() {
    let token = service_token(&["*"]);
    let echo = echoed(
        &main_instance()
            .get("/echo/forward-auth/x")
            .bearer(&token)
            .send(),
    );
    // The origin reports the header by its hash, so no response carries the token.
    assert_eq!(
        echo["headers"]["authorization"],
        format!(
            "sha256:{}",
            sha256_hex(format!("Bearer {token}").as_bytes())
        )
    );
}

#[test]
fn paths_that_could_mean_another_path_are_refused() {
    for path in [
        "/echo/ws/a/..%2Fadmin",
        "/echo/ws/a/%2e%2E%2fadmin",
        "/echo/a%2Fb",
        "/echo/a%5Cb",
        "/echo/a%00",
    ] {
        main_instance()
            .get(path)
            .bearer(&super_token())
            .send()
            .expect_error(400, "bad_request");
    }
    // An encoded dot segment on its own is resolved by the runtime's URL parser before any
    // route sees it (`/echo/%2e%2e/admin` is `/admin`): no route, 404, nothing forwarded.
    main_instance()
        .get("/echo/%2e%2e/admin/x")
        .bearer(&super_token())
        .send()
        .expect_error(404, "not_found");
}

#[test]
fn the_origins_answers_pass_through_unchanged() {
    let response = main_instance().get("/status/418").send();
    response.expect_status(418);
    assert_eq!(response.header("Origin-Status"), Some("418"));
    assert_eq!(response.json(), json!({"origin": "status", "code": 418}));
    // No edgeauth headers are added to the origin's answer.
    assert_eq!(response.header("Cache-Control"), None);
    let response = main_instance().get("/status/503").send();
    response.expect_status(503);
    assert_eq!(response.json()["origin"], "status");
    let download = main_instance().get("/download?bytes=20000000").send();
    download.expect_status(200);
    assert_eq!(download.body.len(), 20_000_000);
}

#[test]
fn an_unreachable_or_silent_origin_is_502_or_504_naming_the_route() {
    let response = main_instance().get("/down/x").send();
    let message = response.expect_error(502, "origin_unreachable");
    assert!(message.contains("`down`"), "{message}");
    assert_eq!(response.header("Retry-After"), Some("5"));
    let started = Instant::now();
    let response = main_instance().get("/slow?ms=6000").send();
    let message = response.expect_error(504, "origin_timeout");
    assert!(
        message.contains("`slow`") && message.contains("2 s"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Within its timeout, a slow origin is waited for.
    echoed_status(&main_instance().get("/slow?ms=500").send());
}

fn echoed_status(response: &Response) {
    response.expect_status(200);
}

#[test]
fn server_sent_events_stream_through() {
    let instance = main_instance();
    let mut stream = TcpStream::connect(instance.authority()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET /sse?n=4&interval_ms=500 HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n",
        instance.authority()
    )
    .unwrap();
    let started = Instant::now();
    let mut arrivals = Vec::new();
    for line in BufReader::new(stream).lines() {
        let line = line.unwrap();
        if line.starts_with("data:") {
            arrivals.push(started.elapsed());
        }
    }
    assert_eq!(arrivals.len(), 4, "every event arrived");
    // Spread over ~1.5 s as the origin sent them, not all at once when it finished.
    let spread = arrivals[3] - arrivals[0];
    assert!(
        spread >= Duration::from_millis(1000),
        "events arrived within {spread:?}: buffered"
    );
}

/// Opens a WebSocket to MAIN's `/ws/chat` offering `protocols`, with an optional
/// `Authorization` header.
fn websocket(
    protocols: &str,
    authorization: Option<&str>,
) -> Result<
    (
        tungstenite::WebSocket<TcpStream>,
        tungstenite::handshake::client::Response,
    ),
    Box<tungstenite::Error>,
> {
    use tungstenite::client::IntoClientRequest;
    let instance = main_instance();
    let url = format!("ws://{}/ws/chat", instance.authority());
    let mut request = url.into_client_request().unwrap();
    if !protocols.is_empty() {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocols.parse().unwrap());
    }
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert("Authorization", value.parse().unwrap());
    }
    let stream = TcpStream::connect(instance.authority()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    tungstenite::client::client(request, stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => Box::new(e),
        tungstenite::HandshakeError::Interrupted(_) => panic!("interrupted handshake"),
    })
}

#[test]
fn a_websocket_is_authenticated_by_its_bearer_subprotocol_and_echoed_both_ways() {
    use tungstenite::Message;
    let token = service_token(&["production/*"]);
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&token);
    let (mut socket, response) =
        websocket(&format!("chat.v1, bearer.{encoded}"), None).expect("the upgrade succeeds");
    assert_eq!(response.status(), 101);
    assert_eq!(
        response.headers().get("Sec-WebSocket-Protocol").unwrap(),
        "chat.v1"
    );
    let hello: Value = match socket.read().unwrap() {
        Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
        other => panic!("expected the origin's hello, got {other:?}"),
    };
    assert_eq!(hello["identity"]["kind"], "service");
    assert_eq!(hello["identity"]["wsp"], json!(["production/*"]));
    // The bearer subprotocol was removed before the origin saw the offer; the others passed.
    assert_eq!(hello["offered"], "chat.v1");
    assert_eq!(hello["selected"], "chat.v1");
    socket
        .send(Message::Text("ping through the gateway".into()))
        .unwrap();
    assert_eq!(
        socket.read().unwrap(),
        Message::Text("ping through the gateway".into())
    );
    socket
        .send(Message::Binary(vec![0u8, 1, 2, 255].into()))
        .unwrap();
    assert_eq!(
        socket.read().unwrap(),
        Message::Binary(vec![0u8, 1, 2, 255].into())
    );
    socket.close(None).ok();

    // The Authorization header works as well.
    let (mut socket, _) = websocket("chat.v1", Some(&format!("Bearer {token}"))).unwrap();
    let hello: Value = match socket.read().unwrap() {
        Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(hello["identity"]["kind"], "service");
    socket.close(None).ok();

    // Without a credential the upgrade is refused with edgeauth's 401; with a bad one too.
    match websocket("chat.v1", None).map_err(|e| *e) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected a 401, got {:?}", other.map(|(_, r)| r)),
    }
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("eas_forged");
    match websocket(&format!("chat.v1, bearer.{forged}"), None).map_err(|e| *e) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected a 401, got {:?}", other.map(|(_, r)| r)),
    }
}

#[test]
fn the_origin_refuses_assertions_edgeauth_did_not_sign_now() {
    let origin = Instance::origin();
    let refused = |response: Response| {
        let body = response.expect_json(401);
        assert_eq!(body["origin"], "refused", "{body}");
    };
    refused(origin.get("/echo/direct").send());
    refused(
        origin
            .get("/echo/direct")
            .header("Edgeauth-Assertion", "garbage")
            .send(),
    );
    // A real assertion with its claims widened: the signature no longer verifies.
    let echo = echoed(&main_instance().get("/echo/capture").send());
    let real = echo["headers"]["edgeauth-assertion"]
        .as_str()
        .unwrap()
        .to_owned();
    let parts: Vec<&str> = real.split('.').collect();
    let mut claims = claims_of(&real);
    claims["kind"] = json!("super");
    claims["sub"] = json!("super");
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let widened = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    refused(
        origin
            .get("/echo/direct")
            .header("Edgeauth-Assertion", &widened)
            .send(),
    );
    // `alg: none` with the same claims.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "edgeauth-assertion+jwt"})),
        b64(&claims)
    );
    refused(
        origin
            .get("/echo/direct")
            .header("Edgeauth-Assertion", &none)
            .send(),
    );
    // The real one, replayed straight to the origin, is accepted while it is fresh (the
    // origin's network must keep strangers out; the assertion lives one minute).
    echoed(
        &origin
            .get("/echo/direct")
            .header("Edgeauth-Assertion", &real)
            .send(),
    );
}

/// An access token verifies offline, at the origin, against the same JWKS (RFC 9068).
#[test]
fn access_tokens_verify_offline_against_the_published_keys() {
    let _shared = oidc::shared();
    let kinds = every_kind(&main_instance(), "default", &["*"]);
    let token = &kinds.device.access_token;
    let jws = token.strip_prefix("eaa_").unwrap();
    assert_eq!(header_of(jws)["alg"], "EdDSA");
    assert_eq!(header_of(jws)["typ"], "at+jwt");
    let verified = Instance::origin()
        .post("/__origin/verify-access-token")
        .json(&json!({"token": token}))
        .send()
        .expect_json(200);
    assert_eq!(verified["claims"]["sub"], claims_of(jws)["sub"]);
    assert_eq!(verified["claims"]["iss"], main_instance().base_url());
    // The same token altered is refused there too.
    let tampered = format!("{token}x");
    Instance::origin()
        .post("/__origin/verify-access-token")
        .json(&json!({"token": tampered}))
        .send()
        .expect_status(401);
}

#[test]
fn introspection_answers_for_every_kind_and_tells_nothing_of_the_invalid() {
    let _shared = oidc::shared();
    let instance = main_instance();
    let kinds: EveryKind = every_kind(&instance, "default", &["production/*"]);
    let introspect = |caller: &str, token: &str, project: &str| {
        instance
            .post("/api/auth/introspect")
            .bearer(caller)
            .project(project)
            .form(&[("token", token)])
            .send()
    };
    let su = super_token();
    let service = introspect(&su, &kinds.service.token, "default").expect_json(200);
    assert_eq!(service["active"], true);
    assert_eq!(service["kind"], "service");
    assert_eq!(service["workspaces"], json!(["production/*"]));
    assert_eq!(service["scope"], "production/*");
    assert_eq!(service["iss"], instance.base_url());
    let user = introspect(&su, &kinds.user.token, "default").expect_json(200);
    assert_eq!(
        (user["active"].clone(), user["kind"].clone()),
        (json!(true), json!("user"))
    );
    assert!(user["sub"].as_str().unwrap().starts_with("usr_"));
    let access = introspect(&su, &kinds.device.access_token, "default").expect_json(200);
    assert_eq!(
        (access["active"].clone(), access["kind"].clone()),
        (json!(true), json!("access"))
    );
    assert!(access["exp"].as_i64().is_some());
    let superuser = introspect(&kinds.service.token, &su, "default").expect_json(200);
    assert_eq!(superuser["kind"], "super");
    // A service token introspects tokens of its own project.
    let own = introspect(&kinds.service.token, &kinds.user.token, "default").expect_json(200);
    assert_eq!(own["active"], true);

    // Everything not valid here now is the same `{"active": false}`.
    let revoked = mint_service_token(&instance, &su, "default", &unique("revoked"), &["*"]);
    instance
        .delete(&format!("/api/service-tokens/{}", revoked.id))
        .bearer(&su)
        .project("default")
        .send()
        .expect_status(204);
    for (token, project) in [
        (revoked.token.as_str(), "default"),
        (kinds.service.token.as_str(), "another-project"),
        (kinds.device.refresh_token.as_str(), "default"),
        (kinds.session.cookie.as_str(), "default"),
        ("eas_forged", "default"),
        ("not a token at all", "default"),
    ] {
        let answer = introspect(&su, token, project).expect_json(200);
        assert_eq!(
            answer,
            json!({"active": false}),
            "{token:.12}… in {project}"
        );
    }
    // Only resource servers ask: a person's credential is 403, none is 401, and the token
    // must be given.
    introspect(&kinds.user.token, &kinds.service.token, "default").expect_error(403, "forbidden");
    instance
        .post("/api/auth/introspect")
        .form(&[("token", &kinds.service.token)])
        .send()
        .expect_error(401, "unauthorized");
    let missing = instance
        .post("/api/auth/introspect")
        .bearer(&su)
        .form(&[])
        .send()
        .expect_json(400);
    assert_eq!(missing["error"], "invalid_request");
}

#[test]
fn the_metadata_and_the_jwks_describe_this_server() {
    let instance = main_instance();
    let metadata = instance
        .get("/.well-known/oauth-authorization-server")
        .send()
        .expect_json(200);
    let base = instance.base_url();
    assert_eq!(metadata["issuer"], base);
    for (member, path) in [
        ("token_endpoint", "/api/auth/token"),
        ("device_authorization_endpoint", "/api/auth/device/code"),
        ("revocation_endpoint", "/api/auth/revoke"),
        ("introspection_endpoint", "/api/auth/introspect"),
        ("jwks_uri", "/.well-known/jwks.json"),
    ] {
        assert_eq!(metadata[member], format!("{base}{path}"), "{member}");
    }
    let response = instance.get("/.well-known/jwks.json").send();
    response.expect_status(200);
    assert_eq!(response.header("Content-Type"), Some("application/json"));
    // One-minute keys on MAIN: cached for at most a quarter of that.
    assert_eq!(response.header("Cache-Control"), Some("public, max-age=15"));
    let jwks = response.json();
    let keys = jwks["keys"].as_array().unwrap();
    assert!(
        keys.len() >= 2,
        "the current and the next key at least: {jwks}"
    );
    for key in keys {
        assert_eq!(
            (key["kty"].as_str(), key["crv"].as_str()),
            (Some("OKP"), Some("Ed25519"))
        );
        assert!(key.get("d").is_none(), "no private part: {key}");
    }
}

/// With one-minute keys, requests sent through several rotations never fail at the origin
/// (which refreshes its JWKS copy as the max-age says), each key is in the JWKS well before
/// it signs, and an assertion replayed after it expired is refused.
#[test]
fn signing_keys_rotate_with_overlap_and_no_failed_request() {
    let instance = main_instance();
    let token = service_token(&["*"]);
    let started = Instant::now();
    let kid_of = |echo: &Value| {
        header_of(echo["headers"]["edgeauth-assertion"].as_str().unwrap())["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let first = echoed(&instance.get("/echo/rotation").bearer(&token).send());
    let first_assertion = first["headers"]["edgeauth-assertion"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut published_at: std::collections::HashMap<String, Duration> = Default::default();
    let mut signing = vec![(kid_of(&first), started.elapsed())];
    let mut requests = 1;
    // Until a key has begun signing at least 35 s into the test (so its publication was
    // watched), at most 130 s.
    while started.elapsed() < Duration::from_secs(130) {
        let jwks = instance.get("/.well-known/jwks.json").send();
        jwks.expect_status(200);
        let jwks = jwks.json();
        for key in jwks["keys"].as_array().unwrap() {
            published_at
                .entry(key["kid"].as_str().unwrap().to_owned())
                .or_insert(started.elapsed());
        }
        let echo = echoed(&instance.get("/echo/rotation").bearer(&token).send());
        requests += 1;
        let kid = kid_of(&echo);
        if signing.last().unwrap().0 != kid {
            signing.push((kid, started.elapsed()));
            if signing.last().unwrap().1 >= Duration::from_secs(35) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(700));
    }
    assert!(
        signing.len() >= 2,
        "no rotation seen in {requests} requests: {signing:?}"
    );
    let (kid, began) = signing.last().unwrap();
    let published = published_at[kid];
    assert!(
        *began >= published + Duration::from_secs(30),
        "key {kid} signed at {began:?} but was first published at {published:?}"
    );
    // The first assertion has expired by now (60 s, and 30 s of skew at the origin).
    while started.elapsed() < Duration::from_secs(95) {
        std::thread::sleep(Duration::from_secs(1));
    }
    let body = Instance::origin()
        .get("/echo/direct")
        .header("Edgeauth-Assertion", &first_assertion)
        .send()
        .expect_json(401);
    assert_eq!(body["origin"], "refused");
}

/// A route whose origin is a Service Binding: the Worker behind it
/// (tests/origin/service-worker.js) gets the request edgeauth forwards, assertion and all, and
/// passes it on to the origin, which verifies it (the route's `audience` is the origin's URL).
#[test]
fn a_service_binding_route_reaches_the_worker_behind_it() {
    let token = service_token(&["production/*"]);
    let echo = echoed(
        &main_instance()
            .get("/svc/hello?x=1")
            .bearer(&token)
            .header("X-Forwarded-User", "admin")
            .send(),
    );
    assert_eq!(echo["headers"]["x-via-service"], "ECHO");
    assert_eq!(echo["path"], "/echo/svc/hello");
    assert_eq!(echo["query"], "?x=1");
    assert_eq!(echo["identity"]["kind"], "service");
    assert_eq!(echo["identity"]["aud"], Instance::origin().base_url());
    assert!(echo["headers"].get("x-forwarded-user").is_none(), "{echo}");
    assert!(echo["headers"].get("authorization").is_none(), "{echo}");
    // Its rule holds as for any route: reads need a credential.
    main_instance()
        .get("/svc/hello")
        .send()
        .expect_error(401, "unauthorized");
}
