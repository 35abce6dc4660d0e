//! `edgeauth whoami`: who the resolved credential is (`GET /api/auth/whoami`), who the person
//! behind it is when it is a person's (`GET /api/users/me`), and where it came from.

use super::{Context, Io};
use crate::config::Source;
use crate::credentials::{self, StoredCredential};
use crate::error::{CliError, ExitStatus};
use crate::output;
use crate::session;
use edgeauth_core::api::{given, Me, Whoami};
use edgeauth_core::PrincipalKind;

/// The kinds of credential that act for a person, for which `/api/users/me` answers.
const PERSON_KINDS: [PrincipalKind; 3] = [
    PrincipalKind::User,
    PrincipalKind::Session,
    PrincipalKind::Access,
];

/// Human output: [`describe`]'s line, then `person: …` for a person's credential, then
/// `credential: …`. `--json`: the server's whoami JSON plus `credential_source` and, for a
/// person, `person` (the `/api/users/me` JSON).
pub fn run(ctx: &Context, io: &mut Io<'_>, source: Option<&Source>) -> Result<(), CliError> {
    let response = ctx.client.get("/api/auth/whoami").map_err(|e| {
        if e.status == ExitStatus::NotFound {
            e.with_hint(
                "the server has no /api/auth/whoami: check that the server URL points at edgeauth",
            )
        } else {
            e
        }
    })?;
    let who: Whoami = response.parse()?;
    let person = if PERSON_KINDS.iter().any(|k| k.as_str() == who.kind) {
        // The credential was just accepted, so a failure here only costs the extra line.
        match ctx.client.get("/api/users/me").and_then(|r| r.json()) {
            Ok(person) => Some(person),
            Err(e) => {
                writeln!(
                    io.err,
                    "warning: could not ask the server who the person is: {}",
                    e.message
                )?;
                None
            }
        }
    } else {
        None
    };
    // Read after the requests: a refresh they caused is reflected.
    let stored = stored_device_login(ctx, source);
    let device = stored.as_ref().map(describe_device_login);
    if ctx.json {
        let mut value = response.json()?;
        if let Some(object) = value.as_object_mut() {
            let mut source_json = source_json(source);
            if let (Some(stored), Some(object)) = (&stored, source_json.as_object_mut()) {
                object.insert("login_method".into(), "device".into());
                object.insert(
                    "access_token_expires_at".into(),
                    stored.expires_at.clone().into(),
                );
                object.insert("refreshes_automatically".into(), true.into());
            }
            object.insert("credential_source".into(), source_json);
            if let Some(person) = person {
                object.insert("person".into(), person);
            }
        }
        write!(io.out, "{}", output::json(&value))?;
    } else {
        writeln!(io.out, "{}", describe(&who))?;
        if let Some(line) = person
            .and_then(|p| serde_json::from_value::<Me>(p).ok())
            .and_then(|p| describe_person(&p))
        {
            writeln!(io.out, "person: {line}")?;
        }
        let mut line = describe_source(source);
        if let Some(device) = &device {
            line.push_str(&format!(" ({device})"));
        }
        writeln!(io.out, "credential: {line}")?;
    }
    Ok(())
}

/// The device login stored for the server, when it is the credential in use.
fn stored_device_login(ctx: &Context, source: Option<&Source>) -> Option<StoredCredential> {
    let Some(Source::StoredCredentials(path)) = source else {
        return None;
    };
    let store = credentials::load(path.parent()?).ok()?;
    store
        .get(ctx.client.server())
        .filter(|c| c.kind == session::ACCESS_KIND)
        .cloned()
}

/// `device login, access token expires in 840s, refreshes automatically`.
fn describe_device_login(stored: &StoredCredential) -> String {
    let expiry = match session::expires_in_secs(stored) {
        Some(secs) if secs > 0 => format!("access token expires in {secs}s"),
        Some(_) => "access token expired".to_owned(),
        None => "access token expiry unknown".to_owned(),
    };
    format!("device login, {expiry}, refreshes automatically")
}

/// `Demo User <demo@example.test>`, or whichever of name, email and id there is.
fn describe_person(p: &Me) -> Option<String> {
    let clean = |s: &String| output::sanitize(s);
    match (p.name.as_ref().map(clean), p.email.as_ref().map(clean)) {
        (Some(name), Some(email)) => Some(format!("{name} <{email}>")),
        (Some(one), None) | (None, Some(one)) => Some(one),
        (None, None) => given(p.id.as_str()).map(output::sanitize),
    }
}

/// Where the credential came from, for people.
fn describe_source(source: Option<&Source>) -> String {
    match source {
        None => "none (no --token, EDGEAUTH_TOKEN, edgeauth.toml token or stored login)".to_owned(),
        Some(Source::StoredCredentials(path)) => {
            format!("the login stored in {}", path.display())
        }
        Some(source) => source.describe("token"),
    }
}

/// `{"from": "flag"|"env"|"edgeauth.toml"|"login", "path": …}`, or `null` without a token.
fn source_json(source: Option<&Source>) -> serde_json::Value {
    source.map_or(serde_json::Value::Null, |source| {
        serde_json::json!({
            "from": source.kind(),
            "path": source.path().map(|p| p.display().to_string()),
        })
    })
}

/// One line, e.g.
/// `service token "CI" (st_1) in project default; workspaces: production/*; expires never`.
///
/// The name is the token's own for `service` and `user` tokens, and the person's for a
/// `session`. An `access` token (a device login's) carries only the person's id, not worth
/// showing: the `person:` line that follows names them.
pub fn describe(who: &Whoami) -> String {
    let clean = |s: &str| output::sanitize(s);
    let mut line = match (who.kind.as_str(), given(&who.name)) {
        ("super", _) => "super token".to_owned(),
        ("anonymous", _) => "anonymous (authentication is disabled on this server)".to_owned(),
        ("session", Some(name)) => format!("browser session of \"{}\"", clean(name)),
        ("session", None) => "browser session".to_owned(),
        ("access", _) => "access token of a device login".to_owned(),
        (kind, Some(name)) => format!("{} token \"{}\"", clean(kind), clean(name)),
        (kind, None) => format!("{} token", clean(kind)),
    };
    if let Some(id) = &who.token_id {
        line.push_str(&format!(" ({})", clean(id.as_str())));
    }
    if let Some(project) = given(&who.project) {
        line.push_str(&format!(" in project {}", clean(project)));
    }
    if let Some(role) = given(&who.role).filter(|r| !matches!(*r, "super" | "service")) {
        line.push_str(&format!("; role: {}", clean(role)));
    }
    let workspaces = if who.workspaces.is_empty() {
        output::NONE.to_owned()
    } else {
        clean(&who.workspaces.join(", "))
    };
    line.push_str(&format!("; workspaces: {workspaces}"));
    match &who.expires_at {
        None => line.push_str("; expires never"),
        Some(at) => line.push_str(&format!("; expires {} UTC", output::time(Some(at)))),
    }
    if who.auth_disabled && who.kind != "anonymous" {
        line.push_str("; authentication is disabled on this server");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(json: &str) -> Whoami {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn service_token() {
        let w = who(
            r#"{"kind":"service","name":"CI","project":"default","workspaces":["production/*"],
                "token_id":"st_abc","expires_at":null,"auth_disabled":false}"#,
        );
        assert_eq!(
            describe(&w),
            "service token \"CI\" (st_abc) in project default; workspaces: production/*; expires never"
        );
    }

    #[test]
    fn super_token_and_expiry() {
        let w = who(
            r#"{"kind":"super","name":"super","project":"demo","workspaces":["*"],
                "token_id":null,"expires_at":null,"auth_disabled":false}"#,
        );
        assert_eq!(
            describe(&w),
            "super token in project demo; workspaces: *; expires never"
        );
        let w = who(
            r#"{"kind":"user","name":"laptop","project":"default","workspaces":["a","b/*"],
                "token_id":"ut_1","expires_at":"2026-12-01T08:30:00Z"}"#,
        );
        assert_eq!(
            describe(&w),
            "user token \"laptop\" (ut_1) in project default; workspaces: a, b/*; expires 2026-12-01 08:30 UTC"
        );
    }

    #[test]
    fn a_persons_credentials_name_the_token_or_the_person() {
        let w = who(
            r#"{"kind":"user","name":"laptop","project":"default","workspaces":["*"],
                "token_id":"ut_abc","expires_at":null,"auth_disabled":false}"#,
        );
        assert_eq!(
            describe(&w),
            "user token \"laptop\" (ut_abc) in project default; workspaces: *; expires never"
        );
        // A person's role in the project, when the server says it (not for super or service).
        let w = who(
            r#"{"kind":"user","name":"laptop","project":"default","workspaces":["*"],
                "token_id":"ut_abc","expires_at":null,"role":"admin"}"#,
        );
        assert_eq!(
            describe(&w),
            "user token \"laptop\" (ut_abc) in project default; role: admin; workspaces: *; expires never"
        );
        let w = who(r#"{"kind":"service","name":"CI","workspaces":["*"],"role":"service"}"#);
        assert!(!describe(&w).contains("role"));
        let w = who(
            r#"{"kind":"session","name":"Demo User","project":"default","workspaces":["*"],
                "token_id":null,"expires_at":"2026-11-25T10:00:00Z","auth_disabled":false}"#,
        );
        assert_eq!(
            describe(&w),
            "browser session of \"Demo User\" in project default; workspaces: *; expires 2026-11-25 10:00 UTC"
        );
        let w = who(r#"{"kind":"session","workspaces":["*"]}"#);
        assert_eq!(
            describe(&w),
            "browser session; workspaces: *; expires never"
        );
        let w = who(
            r#"{"kind":"access","name":"usr_lg6otRHUwvXOVp99xHam","token_id":"53gzRUyzvFMfqH783FRWnX",
                "project":"default","workspaces":["*"],"expires_at":"2026-11-24T10:15:00Z"}"#,
        );
        assert_eq!(
            describe(&w),
            "access token of a device login (53gzRUyzvFMfqH783FRWnX) in project default; workspaces: *; expires 2026-11-24 10:15 UTC"
        );
    }

    #[test]
    fn the_source_is_named_for_people_and_for_scripts() {
        let toml = Source::ConfigFile("/w/edgeauth.toml".into());
        let login = Source::StoredCredentials("/c/credentials.json".into());
        assert_eq!(describe_source(Some(&Source::Flag)), "--token");
        assert_eq!(describe_source(Some(&Source::Env)), "EDGEAUTH_TOKEN");
        assert_eq!(describe_source(Some(&toml)), "`token` in /w/edgeauth.toml");
        assert_eq!(
            describe_source(Some(&login)),
            "the login stored in /c/credentials.json"
        );
        assert!(describe_source(None).starts_with("none"));
        assert_eq!(
            source_json(Some(&login)),
            serde_json::json!({"from": "login", "path": "/c/credentials.json"})
        );
        assert_eq!(
            source_json(Some(&Source::Env)),
            serde_json::json!({"from": "env", "path": null})
        );
        assert_eq!(source_json(Some(&toml))["from"], "edgeauth.toml");
        assert_eq!(source_json(None), serde_json::Value::Null);
    }

    #[test]
    fn the_person_line() {
        let p = |json: &str| describe_person(&serde_json::from_str(json).unwrap());
        assert_eq!(
            p(r#"{"id":"usr_1","email":"demo@example.test","name":"Demo User"}"#).unwrap(),
            "Demo User <demo@example.test>"
        );
        assert_eq!(p(r#"{"email":"d@e.test"}"#).unwrap(), "d@e.test");
        assert_eq!(p(r#"{"id":"usr_1"}"#).unwrap(), "usr_1");
        assert_eq!(p("{}"), None);
    }

    #[test]
    fn anonymous_when_auth_is_disabled() {
        let w = who(
            r#"{"kind":"anonymous","name":"anonymous","project":"default","workspaces":["*"],
                "token_id":null,"expires_at":null,"auth_disabled":true}"#,
        );
        assert_eq!(
            describe(&w),
            "anonymous (authentication is disabled on this server) in project default; workspaces: *; expires never"
        );
    }
}
