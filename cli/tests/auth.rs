//! The parts of the CLI that make it pleasant day to day, driven as a user would: `auth status`
//! and `auth token`, the server of the last login, one key for loopback names, shell
//! completions, `--json` errors, the edgeauth.toml warnings, and `revoke` by token or by
//! several ids. Each run gets a cleared environment and its own working and config directories.

mod common;

use common::{code, text, Sandbox, Stub};
use edgeauth_core::crypto::{DerivedEntropy, KeyPurpose, RootSecret, TokenHash};
use edgeauth_core::token::{mint, TokenKind};

fn write_credentials(sb: &Sandbox, json: &str) {
    std::fs::create_dir_all(sb.config_dir()).unwrap();
    let path = sb.config_dir().join("credentials.json");
    std::fs::write(&path, json).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn credentials_path(sb: &Sandbox) -> String {
    sb.config_dir()
        .join("credentials.json")
        .display()
        .to_string()
}

/// A well-formed token of `kind` (prefix, length, checksum), as the server would mint it.
fn minted(kind: TokenKind, seed: &[u8]) -> String {
    let root = RootSecret::new("a test secret that is at least thirty-two bytes long").unwrap();
    let key = match kind {
        TokenKind::Service => root.derive(KeyPurpose::ServiceTokens { project: "default" }),
        _ => root.derive(KeyPurpose::UserTokens),
    };
    let mut entropy = DerivedEntropy::new(&key, seed);
    mint(kind, &key, &mut entropy).plaintext().to_owned()
}

#[test]
fn auth_status_lists_every_login_offline_and_marks_the_default() {
    let sb = Sandbox::new();
    let path = credentials_path(&sb);
    // Nothing stored: nothing on stdout, stderr says how to log in, exit 0.
    let out = sb.run(&sb.work(), &[], &["auth", "status"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        format!("no stored logins in {path}: run `edgeauth login --server URL`\n")
    );

    write_credentials(
        &sb,
        r#"{"version":1,"default_server":"https://auth.example.com","servers":{
          "https://auth.example.com":{"token":"eau_a","kind":"user","token_id":"ut_1","prefix":"eau_AbCdEfGh",
            "project":"demo","user":{"email":"demo@example.test"},"expires_at":"2099-03-01T10:00:00Z"},
          "https://old.example.com":{"token":"eau_b","kind":"user","user":{"email":"old@example.test"},
            "expires_at":"2020-01-01T00:00:00Z"},
          "http://localhost:8787":{"token":"eaa_c","kind":"access","refresh_token":"ear_d",
            "project":"default","user":{"email":"dev@example.test"},"expires_at":"2020-01-01T00:00:00Z"}}}"#,
    );
    // No server is needed, and none is asked (the servers above do not exist).
    let out = sb.run(&sb.work(), &[], &["auth", "status"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 4, "{table}");
    assert!(rows[0].starts_with("SERVER"), "{table}");
    for (row, (server, user, kind, project, expires)) in rows[1..].iter().zip([
        (
            "  http://localhost:8787",
            "dev@example.test",
            "device login",
            "default",
            "refreshes",
        ),
        (
            "* https://auth.example.com",
            "demo@example.test",
            "user token",
            "demo",
            "2099-03-01 10:00",
        ),
        (
            "  https://old.example.com",
            "old@example.test",
            "user token",
            "—",
            "2020-01-01 00:00 (expired)",
        ),
    ]) {
        assert!(row.starts_with(server), "{row}");
        for cell in [user, kind, project, expires, path.as_str()] {
            assert!(row.contains(cell), "{cell} in {row}");
        }
    }
    let err = text(&out.stderr);
    assert!(err.contains("* the default server"), "{err}");
    assert!(
        err.contains("warning: the login to https://old.example.com has expired: run `edgeauth login --server https://old.example.com`"),
        "{err}"
    );
    for secret in ["eau_a", "eau_b", "eaa_c", "ear_d"] {
        assert!(!table.contains(secret) && !err.contains(secret), "{secret}");
    }

    let out = sb.run(&sb.work(), &[], &["auth", "status", "--json"]);
    assert_eq!(code(&out), 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["default_server"], "https://auth.example.com");
    let logins = v["logins"].as_array().unwrap();
    assert_eq!(logins.len(), 3);
    assert_eq!(
        logins[1],
        serde_json::json!({"server": "https://auth.example.com", "default": true,
            "user": "demo@example.test", "kind": "user", "project": "demo", "token_id": "ut_1",
            "prefix": "eau_AbCdEfGh", "expires_at": "2099-03-01T10:00:00Z", "expired": false,
            "storage": "file", "path": path})
    );
    assert_eq!(logins[2]["expired"], true);
    assert_eq!(logins[0]["kind"], "device");
    assert_eq!(logins[0]["expired"], false, "a device login renews itself");
}

/// The keyring is asked only for the login a command uses: `auth status` shows no secret and
/// never asks it (on macOS each read may raise a Keychain prompt; a locked keyring asks to be
/// unlocked), nor does a command using another server's login.
#[cfg(unix)]
#[test]
fn only_the_login_in_use_is_read_from_the_keyring() {
    let bus = common::DeadBus::start();
    let sb = Sandbox::new();
    write_credentials(
        &sb,
        r#"{"version":1,"default_server":"https://file.example.com","servers":{
          "https://file.example.com":{"token":"eau_file","kind":"user"},
          "https://kept.example.com":{"kind":"user","storage":"keyring","token_id":"ut_k",
            "user":{"email":"kept@example.test"}}}}"#,
    );
    let env = [("DBUS_SESSION_BUS_ADDRESS", bus.address.as_str())];
    let out = sb.run(&sb.work(), &env, &["auth", "status"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let kept = table
        .lines()
        .find(|row| row.contains("https://kept.example.com"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        kept.contains("kept@example.test") && kept.contains("OS keyring (service edgeauth)"),
        "{kept}"
    );
    let out = sb.run(&sb.work(), &env, &["auth", "status", "--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["logins"][1]["storage"], "keyring");
    // The default server's login is in the file: the keyring is not asked either.
    let out = sb.run(&sb.work(), &env, &["auth", "token"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "eau_file\n");
    assert_eq!(bus.knocks(), 0, "the keyring was asked");

    // The login kept there is read from it when it is the one in use (here: no keyring).
    let out = sb.run(
        &sb.work(),
        &env,
        &["auth", "token", "--server", "https://kept.example.com"],
    );
    assert_eq!(code(&out), 8, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is kept in the OS keyring, which cannot be read"),
        "{}",
        text(&out.stderr)
    );
    assert!(bus.knocks() > 0, "the keyring was never asked");
}

#[test]
fn auth_token_prints_the_token_in_use_alone_and_without_one_says_how_to_log_in() {
    let sb = Sandbox::new();
    write_credentials(
        &sb,
        r#"{"version":1,"default_server":"http://localhost:8787","servers":{
          "http://localhost:8787":{"token":"eau_stored","kind":"user"}}}"#,
    );
    // The default server's login; 127.0.0.1 and [::1] are the same server.
    for args in [
        &["auth", "token"][..],
        &["auth", "token", "--server", "http://127.0.0.1:8787"],
        &["auth", "token", "--server", "http://[::1]:8787/"],
    ] {
        let out = sb.run(&sb.work(), &[], args);
        assert_eq!(code(&out), 0, "{args:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "eau_stored\n", "{args:?}");
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    }
    // A token that takes precedence is the one printed.
    let out = sb.run(
        &sb.work(),
        &[
            ("EDGEAUTH_TOKEN", "eas_env"),
            ("EDGEAUTH_SERVER", "http://localhost:8787"),
        ],
        &["auth", "token", "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"server": "http://localhost:8787", "token": "eas_env", "source": "env"})
    );
    // Another server, with no login: exit 3, and the command that logs in, naming the server.
    let out = sb.run(
        &sb.work(),
        &[],
        &["auth", "token", "--server", "https://x.example.com"],
    );
    assert_eq!(code(&out), 3);
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        "error: not logged in to https://x.example.com: run `edgeauth login --server https://x.example.com`\n\
         hint: over SSH or without a browser on this machine: `edgeauth login --device --server https://x.example.com`; or set EDGEAUTH_TOKEN\n"
    );
}

#[test]
fn auth_token_refreshes_a_device_login_first() {
    let stub = Stub::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/api/auth/token") if r.body.contains("refresh_token=ear_old") => (
            200,
            r#"{"access_token":"eaa_fresh.jwt.sig","token_type":"Bearer","expires_in":900,
                "refresh_token":"ear_new","scope":"*"}"#
                .into(),
        ),
        _ => (
            400,
            r#"{"error":"invalid_grant","error_description":"no"}"#.into(),
        ),
    });
    let sb = Sandbox::new();
    write_credentials(
        &sb,
        &format!(
            r#"{{"version":1,"default_server":"{0}","servers":{{"{0}":{{"token":"eaa_stale.jwt.sig",
              "kind":"access","refresh_token":"ear_old","expires_at":"2020-01-01T00:00:00Z"}}}}}}"#,
            stub.url
        ),
    );
    let out = sb.run(&sb.work(), &[], &["auth", "token"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "eaa_fresh.jwt.sig\n");
    let stored = std::fs::read_to_string(sb.config_dir().join("credentials.json")).unwrap();
    assert!(
        stored.contains("ear_new") && !stored.contains("ear_old"),
        "{stored}"
    );
}

#[test]
fn with_no_server_anywhere_the_error_says_to_log_in_with_one() {
    let sb = Sandbox::new();
    for json in [false, true] {
        let mut args = vec!["token", "list"];
        if json {
            args.push("--json");
        }
        let out = sb.run(&sb.work(), &[], &args);
        assert_eq!(code(&out), 8);
        let err = text(&out.stderr);
        if json {
            let v: serde_json::Value = serde_json::from_str(&err).unwrap();
            assert_eq!(v["error"]["code"], "config");
            assert_eq!(v["error"]["exit_code"], 8);
            assert_eq!(v["error"]["message"], "no server given");
            assert!(v["error"]["hint"]
                .as_str()
                .unwrap()
                .starts_with("run `edgeauth login --server URL`"));
        } else {
            assert!(
                err.starts_with(
                    "error: no server given\nhint: run `edgeauth login --server URL` once"
                ),
                "{err}"
            );
        }
    }
}

#[test]
fn a_token_given_by_hand_is_never_sent_to_the_last_logins_server() {
    // The last login was to this server; the token given by hand is for another one.
    let last = Stub::start(|_| (200, r#"{"tokens":[]}"#.into()));
    let sb = Sandbox::new();
    write_credentials(
        &sb,
        &format!(
            r#"{{"version":1,"default_server":"{0}","servers":{{
              "{0}":{{"token":"eau_stored","kind":"user"}}}}}}"#,
            last.url
        ),
    );
    let refused = |env: &[(&str, &str)], args: &[&str]| {
        let out = sb.run(&sb.work(), env, args);
        assert_eq!(code(&out), 8, "{}", text(&out.stderr));
        assert!(out.stdout.is_empty());
        let err = text(&out.stderr);
        assert!(!err.contains("eas_prod"), "{err}");
        err
    };
    let err = refused(&[("EDGEAUTH_TOKEN", "eas_prod")], &["whoami"]);
    assert_eq!(
        err,
        format!(
            "error: EDGEAUTH_TOKEN is set but no server is: set EDGEAUTH_SERVER or pass --server (the last login's server, {}, is not used for a token given by hand)\n",
            last.url
        )
    );
    let err = refused(&[], &["token", "list", "--token", "eas_prod"]);
    assert!(
        err.starts_with("error: --token is given but no server is"),
        "{err}"
    );
    // An edgeauth.toml with a token and no server: the same.
    let toml = sb.work().join("edgeauth.toml");
    std::fs::write(&toml, "token = \"eas_prod\"\n").unwrap();
    let err = refused(&[], &["token", "list"]);
    assert!(
        err.starts_with(&format!(
            "error: {} holds a token but no server is: add `server = ",
            toml.display()
        )),
        "{err}"
    );
    assert!(last.requests().is_empty(), "{:?}", last.requests());

    // The stored login still goes to its own server, which is remembered.
    std::fs::remove_file(&toml).unwrap();
    let out = sb.run(&sb.work(), &[], &["token", "list"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(
        last.requests()[0].header("authorization"),
        Some("Bearer eau_stored")
    );
    // With the server named, the token given by hand goes there.
    let named = Stub::start(|_| (200, r#"{"tokens":[]}"#.into()));
    let out = sb.run(
        &sb.work(),
        &[
            ("EDGEAUTH_TOKEN", "eas_prod"),
            ("EDGEAUTH_SERVER", &named.url),
        ],
        &["token", "list"],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(
        named.requests()[0].header("authorization"),
        Some("Bearer eas_prod")
    );
    assert_eq!(last.requests().len(), 1);
}

#[test]
fn json_usage_errors_are_json_too() {
    let sb = Sandbox::new();
    let out = sb.run(&sb.work(), &[], &["token", "create", "--json"]);
    assert_eq!(code(&out), 2);
    assert!(out.stdout.is_empty());
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(v["error"]["code"], "usage");
    assert_eq!(v["error"]["exit_code"], 2);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("--name"),
        "{v}"
    );
    // --help is no error, with or without --json.
    let out = sb.run(&sb.work(), &[], &["token", "--help", "--json"]);
    assert_eq!(code(&out), 0);
}

#[test]
fn a_401_without_a_credential_names_the_server_and_the_login_command() {
    let stub = Stub::start(|_| {
        (
            401,
            r#"{"error":"unauthorized","message":"this endpoint needs a credential"}"#.into(),
        )
    });
    let sb = Sandbox::new();
    let env = [("EDGEAUTH_SERVER", stub.url.as_str())];
    let out = sb.run(&sb.work(), &env, &["service-token", "list"]);
    assert_eq!(code(&out), 3);
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: not logged in to {0}: run `edgeauth login --server {0}`\n\
             hint: over SSH or without a browser on this machine: `edgeauth login --device --server {0}`; in scripts: set EDGEAUTH_TOKEN (or --token, or `token` in edgeauth.toml)\n",
            stub.url
        )
    );
    let out = sb.run(&sb.work(), &env, &["whoami", "--json"]);
    assert_eq!(code(&out), 3);
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(v["error"]["code"], "unauthorized");
    assert_eq!(v["error"]["server_code"], "unauthorized");
    assert_eq!(
        v["error"]["message"],
        format!(
            "not logged in to {0}: run `edgeauth login --server {0}`",
            stub.url
        )
    );
}

#[test]
fn completions_parse_in_their_shell_and_name_the_subcommands() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = sb.run(&sb.work(), &[], &["completion", shell]);
        assert_eq!(code(&out), 0, "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        for word in [
            "service-token",
            "login",
            "logout",
            "whoami",
            "status",
            "revoke",
            "completion",
        ] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
        // The script must parse in its shell, where that shell is installed.
        let file = sb.root.path().join(format!("edgeauth.{shell}"));
        std::fs::write(&file, &script).unwrap();
        match std::process::Command::new(shell)
            .arg("-n")
            .arg(&file)
            .output()
        {
            Ok(checked) => assert!(
                checked.status.success(),
                "{shell} -n: {}",
                text(&checked.stderr)
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("{shell} is not installed: its script was not parsed")
            }
            Err(e) => panic!("{shell}: {e}"),
        }
    }
    let out = sb.run(&sb.work(), &[], &["completion", "tcsh"]);
    assert_eq!(code(&out), 2);
}

#[cfg(unix)]
#[test]
fn a_toml_token_readable_by_others_or_tracked_by_git_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let stub = Stub::start(|_| (200, r#"{"service_tokens":[]}"#.into()));
    let sb = Sandbox::new();
    let toml = sb.work().join("edgeauth.toml");
    std::fs::write(
        &toml,
        format!("server = \"{}\"\ntoken = \"eas_fromtoml\"\n", stub.url),
    )
    .unwrap();
    std::fs::set_permissions(&toml, std::fs::Permissions::from_mode(0o644)).unwrap();
    // Found from a subdirectory: the warning names the file.
    let out = sb.run(&sb.work().join("sub"), &[], &["service-token", "list"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with(&format!(
            "warning: {} holds a token and is readable by other users (mode 644): run `chmod 600 {}`",
            toml.display(),
            toml.display()
        )),
        "{}",
        text(&out.stderr)
    );
    std::fs::set_permissions(&toml, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = sb.run(&sb.work(), &[], &["service-token", "list"]);
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );

    // Tracked by git (when git is installed; without git there is no warning and no failure).
    let path = std::env::var("PATH").unwrap_or_default();
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(sb.work())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", sb.root.path())
            .output()
    };
    match git(&["init", "-q"]) {
        Ok(done) if done.status.success() => {
            assert!(git(&["add", "edgeauth.toml"]).unwrap().status.success());
            let out = sb.run(
                &sb.work().join("sub"),
                &[("PATH", &path)],
                &["service-token", "list"],
            );
            assert_eq!(code(&out), 0, "{}", text(&out.stderr));
            assert!(
                text(&out.stderr).contains(&format!(
                    "warning: {} holds a token and is tracked by git",
                    toml.display()
                )),
                "{}",
                text(&out.stderr)
            );
        }
        _ => eprintln!("git is not installed: the git warning was not tested"),
    }
    // No git to run: no warning, no failure.
    let out = sb.run(
        &sb.work(),
        &[("PATH", "/nonexistent")],
        &["service-token", "list"],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("git"), "{}", text(&out.stderr));
}

/// An edgeauth.toml may sit in an untrusted checkout: asking git whether it is tracked must
/// not run what the checkout's .git/config names (`core.fsmonitor` runs on reading the index).
#[cfg(unix)]
#[test]
fn the_git_check_runs_no_program_the_repository_names() {
    use std::os::unix::fs::PermissionsExt;
    let stub = Stub::start(|_| (200, r#"{"service_tokens":[]}"#.into()));
    let sb = Sandbox::new();
    let toml = sb.work().join("edgeauth.toml");
    std::fs::write(
        &toml,
        format!("server = \"{}\"\ntoken = \"eas_fromtoml\"\n", stub.url),
    )
    .unwrap();
    std::fs::set_permissions(&toml, std::fs::Permissions::from_mode(0o600)).unwrap();
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(sb.work())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", sb.root.path())
            .output()
    };
    match git(&["init", "-q"]) {
        Ok(done) if done.status.success() => {}
        _ => {
            eprintln!("git is not installed: the fsmonitor test did not run");
            return;
        }
    }
    assert!(git(&["add", "edgeauth.toml"]).unwrap().status.success());
    let marker = sb.root.path().join("fsmonitor-ran");
    let hook = sb.root.path().join("fsmonitor.sh");
    std::fs::write(&hook, format!("#!/bin/sh\ntouch '{}'\n", marker.display())).unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let hook = hook.display().to_string();
    assert!(git(&["config", "core.fsmonitor", &hook])
        .unwrap()
        .status
        .success());
    // git itself runs it (so the test can see a run).
    git(&["ls-files"]).unwrap();
    assert!(marker.exists(), "git did not run core.fsmonitor here");
    std::fs::remove_file(&marker).unwrap();

    let path = std::env::var("PATH").unwrap_or_default();
    let out = sb.run(
        &sb.work().join("sub"),
        &[
            ("PATH", &path),
            ("HOME", &sb.root.path().display().to_string()),
        ],
        &["service-token", "list"],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        !marker.exists(),
        "edgeauth let git run the repository's core.fsmonitor"
    );
    // And the check still works.
    assert!(
        text(&out.stderr).contains(&format!(
            "warning: {} holds a token and is tracked by git",
            toml.display()
        )),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn revoke_takes_a_token_finds_its_id_by_hash_and_never_sends_it() {
    let leaked = minted(TokenKind::Service, b"leaked");
    let other = minted(TokenKind::Service, b"other");
    let hash = TokenHash::of(&leaked).as_hex().to_owned();
    let prefix = leaked[..12].to_owned();
    let list = format!(
        r#"{{"service_tokens":[
          {{"id":"st_other","name":"o","project":"default","workspaces":["*"],"prefix":"{}"}},
          {{"id":"st_leaked","name":"CI","project":"default","workspaces":["*"],"prefix":"{prefix}"}}]}}"#,
        &other[..12]
    );
    let audit = r#"{"events":[{"action":"service_token.create","subject":"st_leaked","credential_hash":"0000"}],"next_cursor":null}"#;
    let expected_query = format!("/api/audit?token_hash={hash}&limit=200");
    let stub = Stub::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/api/service-tokens") => (200, list.clone()),
        ("GET", path) if path == expected_query => (200, audit.to_owned()),
        ("DELETE", "/api/service-tokens/st_leaked") => (204, String::new()),
        _ => (404, r#"{"error":"not_found","message":"no"}"#.into()),
    });
    let sb = Sandbox::new();
    let env = [
        ("EDGEAUTH_SERVER", stub.url.as_str()),
        ("EDGEAUTH_TOKEN", "eas_admin"),
    ];
    let out = sb.run(&sb.work(), &env, &["service-token", "revoke", &leaked]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "revoked st_leaked\n");
    assert!(
        out.stderr.is_empty(),
        "confirmed by hash: {}",
        text(&out.stderr)
    );
    let seen = stub.requests();
    let paths: Vec<_> = seen
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        paths,
        [
            "GET /api/service-tokens".to_owned(),
            format!("GET /api/audit?token_hash={hash}&limit=200"),
            "DELETE /api/service-tokens/st_leaked".to_owned()
        ]
    );
    let secret_part = &leaked[12..];
    for r in &seen {
        let all = format!("{} {:?} {}", r.path, r.headers, r.body);
        assert!(!all.contains(secret_part), "the token was sent: {all}");
    }
}

#[test]
fn revoke_falls_back_to_the_prefix_when_the_audit_trail_cannot_tell() {
    let leaked = minted(TokenKind::User, b"mine");
    let prefix = leaked[..12].to_owned();
    let list = format!(
        r#"{{"tokens":[{{"id":"ut_mine","name":"laptop","project":"default","workspaces":["*"],"prefix":"{prefix}"}}]}}"#
    );
    let stub = Stub::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/api/tokens") => (200, list.clone()),
        ("GET", p) if p.starts_with("/api/audit") => {
            (403, r#"{"error":"forbidden","message":"narrower"}"#.into())
        }
        ("DELETE", "/api/tokens/ut_mine") => (204, String::new()),
        _ => (404, r#"{"error":"not_found","message":"no"}"#.into()),
    });
    let sb = Sandbox::new();
    let env = [
        ("EDGEAUTH_SERVER", stub.url.as_str()),
        ("EDGEAUTH_TOKEN", "eau_me"),
    ];
    let out = sb.run(&sb.work(), &env, &["token", "revoke", &leaked]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "revoked ut_mine\n");
    assert_eq!(
        text(&out.stderr),
        format!("note: {prefix}… is ut_mine by its display prefix; the audit trail could not confirm it by its hash\n")
    );
    // A token of the other kind, a device login's token, or a mangled token: exit 2, not sent.
    let before = stub.requests().len();
    for (arg, says) in [
        (minted(TokenKind::Service, b"s"), "that is a service token"),
        (
            format!("{}x", &leaked[..leaked.len() - 1]),
            "not a whole one",
        ),
        (format!("ear_{}", &leaked[4..]), "not a whole one"),
    ] {
        let out = sb.run(&sb.work(), &env, &["token", "revoke", &arg]);
        assert_eq!(code(&out), 2, "{arg}");
        let err = text(&out.stderr);
        assert!(err.contains(says), "{err}");
        assert!(!err.contains(&arg[12..]), "{err}");
    }
    assert_eq!(stub.requests().len(), before, "nothing was sent");
}

#[test]
fn revoke_takes_several_ids_reports_each_and_fails_if_any_failed() {
    let stub = Stub::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("DELETE", "/api/tokens/ut_1" | "/api/tokens/ut_3") => (204, String::new()),
        _ => (
            404,
            r#"{"error":"not_found","message":"no such token"}"#.into(),
        ),
    });
    let sb = Sandbox::new();
    let env = [
        ("EDGEAUTH_SERVER", stub.url.as_str()),
        ("EDGEAUTH_TOKEN", "eau_me"),
    ];
    let out = sb.run(
        &sb.work(),
        &env,
        &["token", "revoke", "ut_1", "ut_2", "ut_3"],
    );
    assert_eq!(code(&out), 5);
    assert_eq!(text(&out.stdout), "revoked ut_1\nrevoked ut_3\n");
    assert_eq!(
        text(&out.stderr),
        "error: ut_2: no such token\n\
         hint: ut_2 is unknown, already revoked or not yours; see the ids with `edgeauth token list`\n\
         error: 1 of 3 user tokens could not be revoked\n"
    );
    let deletes = stub
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .count();
    assert_eq!(deletes, 3, "every id is tried");

    let out = sb.run(
        &sb.work(),
        &env,
        &["token", "revoke", "ut_1", "ut_2", "--json"],
    );
    assert_eq!(code(&out), 5);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["revoked"], serde_json::json!(["ut_1"]));
    assert_eq!(v["failed"][0]["argument"], "ut_2");
    assert_eq!(v["failed"][0]["error"]["exit_code"], 5);
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(
        err["error"]["message"],
        "1 of 2 user tokens could not be revoked"
    );

    let out = sb.run(&sb.work(), &env, &["token", "revoke", "ut_1", "ut_3"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "revoked ut_1\nrevoked ut_3\n");
}

#[test]
fn revoking_a_token_that_is_not_listed_is_exit_5_and_sends_only_its_prefix_lookup() {
    let leaked = minted(TokenKind::User, b"gone");
    let stub = Stub::start(|r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/api/tokens") => (200, r#"{"tokens":[]}"#.into()),
        _ => (500, r#"{"error":"internal","message":"unexpected"}"#.into()),
    });
    let sb = Sandbox::new();
    let env = [
        ("EDGEAUTH_SERVER", stub.url.as_str()),
        ("EDGEAUTH_TOKEN", "eau_me"),
    ];
    let out = sb.run(&sb.work(), &env, &["token", "revoke", &leaked]);
    assert_eq!(code(&out), 5);
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: no live user token starts with {}…\n\
             hint: it is revoked, expired, or not yours; see `edgeauth token list`\n",
            &leaked[..12]
        )
    );
    assert_eq!(stub.requests().len(), 1, "only the list was asked for");
}
