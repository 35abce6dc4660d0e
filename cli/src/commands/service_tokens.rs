//! `edgeauth service-token create|list|revoke`: /api/service-tokens.

use super::{Context, Io};
use crate::args::CreateServiceToken;
use crate::error::{CliError, ExitStatus};
use crate::output::{self, sanitize, Table};
use crate::secret::Secret;
use serde::Deserialize;

/// A service token as the server lists it (never with its secret).
#[derive(Debug, Deserialize)]
pub struct ServiceToken {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub workspaces: Vec<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub last_used_at: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub expired: bool,
}

#[derive(Debug, Deserialize)]
struct ServiceTokenList {
    service_tokens: Vec<ServiceToken>,
}

/// The creation response: the listed fields plus the plaintext, shown once.
#[derive(Debug, Deserialize)]
struct CreatedServiceToken {
    #[serde(flatten)]
    token: ServiceToken,
    #[serde(rename = "token")]
    secret: Secret,
}

pub fn create(ctx: &Context, io: &mut Io<'_>, args: &CreateServiceToken) -> Result<(), CliError> {
    let mut body = serde_json::json!({"name": args.name, "workspaces": args.workspaces});
    if let Some(days) = args.expires_in_days {
        body["expires_in_days"] = days.into();
    }
    let response = ctx.client.post_json("/api/service-tokens", &body)?;
    if ctx.json {
        write!(io.out, "{}", output::json(&response.json()?))?;
        return Ok(());
    }
    let created: CreatedServiceToken = response.parse()?;
    let t = &created.token;
    let project = t.project.as_deref().map(sanitize);
    writeln!(
        io.err,
        "created service token \"{}\" ({}){}",
        sanitize(&t.name),
        sanitize(&t.id),
        project
            .map(|p| format!(" in project {p}"))
            .unwrap_or_default()
    )?;
    let mut table = Table::new(&["ID", "NAME", "PREFIX", "WORKSPACES", "EXPIRES"]);
    table.push(vec![
        sanitize(&t.id),
        sanitize(&t.name),
        t.prefix
            .as_deref()
            .map_or(output::NONE.to_owned(), sanitize),
        sanitize(&t.workspaces.join(",")),
        expires_cell(t),
    ]);
    write!(io.err, "{}", table.render())?;
    writeln!(
        io.err,
        "The token is printed below (stdout) and will not be shown again: store it now."
    )?;
    io.err.flush()?;
    writeln!(io.out, "{}", created.secret.expose())?;
    Ok(())
}

pub fn list(ctx: &Context, io: &mut Io<'_>) -> Result<(), CliError> {
    let response = ctx.client.get("/api/service-tokens")?;
    if ctx.json {
        write!(io.out, "{}", output::json(&response.json()?))?;
        return Ok(());
    }
    let list: ServiceTokenList = response.parse()?;
    if list.service_tokens.is_empty() {
        writeln!(io.err, "no service tokens")?;
    } else {
        write!(io.out, "{}", table(&list.service_tokens).render())?;
    }
    Ok(())
}

/// The `service-token list` table; see its `--help` for the columns.
pub fn table(tokens: &[ServiceToken]) -> Table {
    let mut table = Table::new(&[
        "ID",
        "NAME",
        "PREFIX",
        "WORKSPACES",
        "CREATED",
        "LAST USED",
        "EXPIRES",
    ]);
    for t in tokens {
        table.push(vec![
            sanitize(&t.id),
            sanitize(&t.name),
            t.prefix
                .as_deref()
                .map_or(output::NONE.to_owned(), sanitize),
            sanitize(&t.workspaces.join(",")),
            output::time(t.created_at.as_deref()),
            output::time(t.last_used_at.as_deref()),
            expires_cell(t),
        ]);
    }
    table
}

fn expires_cell(t: &ServiceToken) -> String {
    match (&t.expires_at, t.expired) {
        (None, false) => output::NONE.to_owned(),
        (None, true) => "expired".to_owned(),
        (Some(at), false) => output::time(Some(at)),
        (Some(at), true) => format!("{} (expired)", output::time(Some(at))),
    }
}

pub fn revoke(ctx: &Context, io: &mut Io<'_>, id: &str) -> Result<(), CliError> {
    check_id(id)?;
    ctx.client
        .delete(&format!("/api/service-tokens/{id}"))
        .map_err(|e| {
            if e.status == ExitStatus::NotFound {
                e.with_hint(
                    "see the ids with `edgeauth service-token list`; a token already revoked, or in another project (--project), is not found",
                )
            } else {
                e
            }
        })?;
    if ctx.json {
        write!(
            io.out,
            "{}",
            output::json(&serde_json::json!({"revoked": id}))
        )?;
    } else {
        writeln!(io.out, "revoked {id}")?;
    }
    Ok(())
}

/// Ids are path segments; a pasted secret is refused without being repeated or sent.
fn check_id(id: &str) -> Result<(), CliError> {
    if ["eas_", "eau_", "ear_"].iter().any(|p| id.starts_with(p)) {
        return Err(CliError::usage("that is a token, not a token id").with_hint(
            "revoke by id (st_…), as shown by `edgeauth service-token list`; if the token leaked, revoke it now",
        ));
    }
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "`{}` is not a token id; ids look like st_…",
            sanitize(id)
        ))
        .with_hint("see the ids with `edgeauth service-token list`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(json: &str) -> Vec<ServiceToken> {
        serde_json::from_str::<ServiceTokenList>(json)
            .unwrap()
            .service_tokens
    }

    #[test]
    fn list_table_matches_the_documented_layout() {
        let list = tokens(
            r#"{"service_tokens":[
              {"id":"st_2","name":"deploy","project":"default","workspaces":["production/*","staging"],
               "prefix":"eas_AbCdEfGh","created_at":"2026-11-24T10:00:00Z","expires_at":null,
               "last_used_at":"2026-11-24T11:05:09Z","expired":false},
              {"id":"st_1","name":"CI","project":"default","workspaces":["*"],
               "prefix":"eas_ZyXwVuTs","created_at":"2026-01-01T00:00:00Z",
               "expires_at":"2026-02-01T00:00:00Z","last_used_at":null,"expired":true}
            ]}"#,
        );
        assert_eq!(
            table(&list).render(),
            "\
ID    NAME    PREFIX        WORKSPACES            CREATED           LAST USED         EXPIRES
st_2  deploy  eas_AbCdEfGh  production/*,staging  2026-11-24 10:00  2026-11-24 11:05  —
st_1  CI      eas_ZyXwVuTs  *                     2026-01-01 00:00  —                 2026-02-01 00:00 (expired)
"
        );
    }

    #[test]
    fn created_token_parses_with_its_secret() {
        let created: CreatedServiceToken = serde_json::from_str(
            r#"{"id":"st_1","name":"CI","project":"default","workspaces":["production/*"],
                "prefix":"eas_AbCdEfGh","created_at":"2026-11-24T10:00:00Z","expires_at":null,
                "last_used_at":null,"token":"eas_plaintext"}"#,
        )
        .unwrap();
        assert_eq!(created.secret.expose(), "eas_plaintext");
        assert_eq!(created.token.id, "st_1");
        assert!(!format!("{created:?}").contains("eas_plaintext"));
    }

    #[test]
    fn ids_are_checked_before_any_request() {
        assert!(check_id("st_abc-DEF_123").is_ok());
        let e = check_id("eas_AbCdEfGhsecret").unwrap_err();
        assert_eq!(e.status, ExitStatus::Usage);
        assert!(!e.to_string().contains("secret"));
        for bad in ["", "st/../x", "st 1", "st?x"] {
            assert_eq!(
                check_id(bad).unwrap_err().status,
                ExitStatus::Usage,
                "{bad}"
            );
        }
    }
}
