//! Workspace authorization as an API behind edgeauth sees it: `GET /api/auth/check`
//! (documented in the README: `?workspace=W&access=read|write`, 200 when allowed, else
//! 401/403), and the pattern rule `name/*` = everything strictly below `name`.

use edgeauth_e2e::*;

fn check(instance: &Instance, credential: Option<&str>, project: &str, query: &str) -> Response {
    let request = instance
        .get(&format!("/api/auth/check?{query}"))
        .project(project);
    match credential {
        Some(token) => request.bearer(token),
        None => request,
    }
    .send()
}

fn assert_write(instance: &Instance, token: &str, project: &str, workspace: &str, allowed: bool) {
    let response = check(
        instance,
        Some(token),
        project,
        &format!("workspace={workspace}&access=write"),
    );
    if allowed {
        let body = response.expect_json(200);
        assert_eq!(body["allowed"], true, "{response}");
        assert_eq!(body["workspace"], workspace, "{response}");
        assert_eq!(body["access"], "write", "{response}");
        assert_eq!(body["project"], project, "{response}");
    } else {
        response.expect_error(403, "forbidden");
    }
}

#[test]
fn writes_need_a_covering_pattern() {
    let main = Instance::main();
    let project = unique("check");
    let below = mint_service_token(&main, &super_token(), &project, "below", &["production/*"]);
    for (workspace, allowed) in [
        ("production/eu", true),
        ("production/eu/paris", true),
        ("production", false), // `name/*` is strictly below `name`
        ("productionx", false),
        ("productionx/eu", false),
        ("staging", false),
        ("staging/production", false),
    ] {
        assert_write(&main, &below.token, &project, workspace, allowed);
    }

    let exact = mint_service_token(&main, &super_token(), &project, "exact", &["production"]);
    for (workspace, allowed) in [
        ("production", true),
        ("production/eu", false),
        ("prod", false),
    ] {
        assert_write(&main, &exact.token, &project, workspace, allowed);
    }

    let everything = mint_service_token(&main, &super_token(), &project, "all", &["*"]);
    for workspace in ["production", "staging/eu", "a.b_c-d"] {
        assert_write(&main, &everything.token, &project, workspace, true);
        assert_write(&main, &super_token(), &project, workspace, true);
    }
}

#[test]
fn reads_follow_public_reads() {
    let project = unique("reads");
    let main = Instance::main();
    let body = check(&main, None, &project, "workspace=production/eu&access=read").expect_json(200);
    assert_eq!(body["allowed"], true, "{body}");
    check(&main, None, &project, "workspace=production/eu").expect_json(200); // read is the default access

    let private = Instance::private();
    let response = check(
        &private,
        None,
        &project,
        "workspace=production/eu&access=read",
    );
    response.expect_error(401, "unauthorized");
    check(
        &private,
        Some(&super_token()),
        &project,
        "workspace=production/eu&access=read",
    )
    .expect_json(200);
}

#[test]
fn anonymous_writes_are_401_and_bad_queries_400() {
    let main = Instance::main();
    let project = unique("checkbad");
    let response = check(&main, None, &project, "workspace=production&access=write");
    response.expect_error(401, "unauthorized");
    assert_eq!(
        response.header("WWW-Authenticate"),
        Some("Bearer realm=\"edgeauth\"")
    );

    for query in [
        "access=write",
        "workspace=&access=write",
        "workspace=a//b&access=write",
        "workspace=../x&access=write",
        "workspace=*&access=write",
        "workspace=production&access=admin",
    ] {
        check(&main, Some(&super_token()), &project, query)
            .assert_not_5xx()
            .expect_error(400, "bad_request");
    }
}

#[test]
fn a_bad_credential_is_401_even_for_a_public_read() {
    let main = Instance::main();
    let forged = tokens::reseal(&format!("eas_{}", "k".repeat(71)));
    check(
        &main,
        Some(&forged),
        &unique("checkforged"),
        "workspace=production&access=read",
    )
    .expect_invalid_token();
}
