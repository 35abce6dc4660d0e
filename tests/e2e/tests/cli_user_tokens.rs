//! `edgeauth token create|list|revoke`: the real CLI binary against MAIN, as a person who
//! signed in with the real identity provider and holds one of their user API tokens.

use edgeauth_e2e::cli::*;
use edgeauth_e2e::oidc::{sign_in, DEMO};
use edgeauth_e2e::*;
use serde_json::json;

#[test]
fn a_person_manages_their_tokens_with_the_cli() {
    let main = Instance::main();
    let session = sign_in(&main, DEMO);
    let own = session.create_token("default", &json!({"name": unique("cli-credential")}));
    let cli = CliSandbox::new();
    let env = [
        ("EDGEAUTH_SERVER", main.base_url()),
        ("EDGEAUTH_TOKEN", own.token.as_str()),
    ];

    // whoami names the user token.
    let me = cli.run(&["--json", "whoami"], &env).expect_json();
    assert_eq!(me["kind"], "user", "{me}");
    assert_eq!(me["token_id"], own.id.as_str(), "{me}");

    // create: the plaintext alone on stdout, once; it works as a bearer.
    let name = unique("cli-made");
    let created = cli.run(
        &["token", "create", "--name", &name, "--expires-in-days", "7"],
        &env,
    );
    created.expect_code(EXIT_OK);
    let token = created.stdout.trim().to_owned();
    assert!(
        token.starts_with("eau_") && token.len() == 75,
        "stdout must be the token alone:\n{created}"
    );
    assert!(
        !created.stderr.contains(&token),
        "the token is printed once, on stdout:\n{created}"
    );
    let whoami = main
        .get("/api/auth/whoami")
        .bearer(&token)
        .send()
        .expect_json(200);
    assert_eq!(whoami["kind"], "user");
    assert_eq!(whoami["name"], name.as_str());

    // list: the table names it, never shows a plaintext; --json gives the server's listing.
    let listed = cli.run(&["token", "list"], &env);
    listed.expect_code(EXIT_OK);
    assert!(listed.stdout.contains(&name), "{listed}");
    assert!(!listed.stdout.contains(&token) && !listed.stdout.contains(&own.token));
    let listing = cli.run(&["--json", "token", "list"], &env).expect_json();
    let row = listing["tokens"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == name.as_str()))
        .unwrap_or_else(|| panic!("{name} not listed: {listing}"))
        .clone();
    assert_eq!(row["project"], "default");
    assert!(row.get("token").is_none(), "{row}");
    let id = row["id"].as_str().expect("id").to_owned();

    // revoke: the token stops working at once; a second revoke is "not found" (exit 5).
    cli.run(&["token", "revoke", &id], &env)
        .expect_code(EXIT_OK);
    main.get("/api/auth/whoami")
        .bearer(&token)
        .send()
        .expect_invalid_token();
    cli.run(&["token", "revoke", &id], &env)
        .expect_code(EXIT_NOT_FOUND);

    // A service credential is not a person: exit 4, and the hint says so.
    let refused = cli.run(
        &["token", "list"],
        &[
            ("EDGEAUTH_SERVER", main.base_url()),
            ("EDGEAUTH_TOKEN", super_token().as_str()),
        ],
    );
    refused.expect_code(EXIT_FORBIDDEN);
    assert!(refused.stderr.contains("person"), "{refused}");
}
