//! `edgeauth whoami`: GET /api/auth/whoami.

use super::{Context, Io};
use crate::error::{CliError, ExitStatus};
use crate::output;
use serde::Deserialize;

/// The fields of the whoami response that the human output uses.
#[derive(Debug, Deserialize)]
pub struct Whoami {
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub workspaces: Vec<String>,
    #[serde(default)]
    pub token_id: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub auth_disabled: bool,
}

pub fn run(ctx: &Context, io: &mut Io<'_>) -> Result<(), CliError> {
    let response = ctx.client.get("/api/auth/whoami").map_err(|e| {
        if e.status == ExitStatus::NotFound {
            e.with_hint(
                "the server has no /api/auth/whoami: check that the server URL points at edgeauth",
            )
        } else {
            e
        }
    })?;
    if ctx.json {
        write!(io.out, "{}", output::json(&response.json()?))?;
    } else {
        writeln!(io.out, "{}", describe(&response.parse()?))?;
    }
    Ok(())
}

/// One line, e.g.
/// `service token "CI" (st_1) in project default; workspaces: production/*; expires never`.
///
/// The name is the token's own for `service` and `user` tokens, and the person's for a
/// `session` or an `access` token, which have none of their own.
pub fn describe(who: &Whoami) -> String {
    let clean = |s: &str| output::sanitize(s);
    let mut line = match (who.kind.as_str(), &who.name) {
        ("super", _) => "super token".to_owned(),
        ("anonymous", _) => "anonymous (authentication is disabled on this server)".to_owned(),
        ("session", Some(name)) => format!("browser session of \"{}\"", clean(name)),
        ("session", None) => "browser session".to_owned(),
        ("access", Some(name)) => format!("access token of \"{}\"", clean(name)),
        (kind, Some(name)) => format!("{} token \"{}\"", clean(kind), clean(name)),
        (kind, None) => format!("{} token", clean(kind)),
    };
    if let Some(id) = &who.token_id {
        line.push_str(&format!(" ({})", clean(id)));
    }
    if let Some(project) = &who.project {
        line.push_str(&format!(" in project {}", clean(project)));
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
            r#"{"kind":"access","name":"demo@example.test","project":"default","workspaces":["*"],
                "expires_at":"2026-11-24T10:15:00Z"}"#,
        );
        assert_eq!(
            describe(&w),
            "access token of \"demo@example.test\" in project default; workspaces: *; expires 2026-11-24 10:15 UTC"
        );
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
