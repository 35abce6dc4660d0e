//! `edgeauth auth status` (every stored login, read offline from the credentials file) and
//! `edgeauth auth token` (the token in use, alone on stdout, for `curl`).
//!
//! `auth status` asks no server and no keyring (it shows no secret): it must answer on a plane,
//! without a Keychain prompt or a request to unlock a keyring; `whoami` is the command that asks
//! the server who a credential is. What it cannot know offline it does not claim: a user
//! token's stored expiry is the one the server gave at login, and a device login keeps itself
//! signed in by refreshing, so its access token's expiry is no end of the login.

use super::{Context, Io};
use crate::client::login_command;
use crate::config::{Environment, Settings};
use crate::credentials::{self, StoredCredential};
use crate::error::{CliError, ExitStatus};
use crate::output::{self, sanitize, Table};
use crate::session::{self, ACCESS_KIND};

/// `auth status`: one row per stored login; `*` marks the default server.
pub fn status(io: &mut Io<'_>, env: &Environment, json: bool) -> Result<(), CliError> {
    let Some(dir) = env.credentials_dir() else {
        return Err(
            CliError::config("there is no user configuration directory holding logins")
                .with_hint("set EDGEAUTH_CONFIG_DIR to the directory `edgeauth login` used"),
        );
    };
    let store = credentials::load(&dir)?;
    let path = credentials::file_path(&dir);
    let default = store.default_server();
    let default_key = default.as_ref().map(|d| d.key());
    let logins: Vec<Login> = store
        .logins()
        .map(|(server, credential)| {
            let is_default = crate::server_url::ServerUrl::parse(server)
                .is_ok_and(|url| Some(url.key()) == default_key);
            Login::of(server, credential, is_default)
        })
        .collect();
    if json {
        let value = serde_json::json!({
            "default_server": default.as_ref().map(|d| d.as_str()),
            "logins": logins.iter().map(|l| l.json(&path)).collect::<Vec<_>>(),
        });
        write!(io.out, "{}", output::json(&value))?;
        return Ok(());
    }
    if logins.is_empty() {
        let next = match &default {
            Some(server) => format!("run `{}`", login_command(server)),
            None => "run `edgeauth login --server URL`".to_owned(),
        };
        writeln!(io.err, "no stored logins in {}: {next}", path.display())?;
        return Ok(());
    }
    let mut table = Table::new(&["SERVER", "USER", "KIND", "PROJECT", "EXPIRES", "STORED IN"]);
    for login in &logins {
        let marker = if login.is_default { "* " } else { "  " };
        table.push(vec![
            format!("{marker}{}", sanitize(&login.server)),
            login
                .user
                .as_deref()
                .map_or(output::NONE.to_owned(), sanitize),
            login.kind.to_owned(),
            login
                .project
                .as_deref()
                .map_or(output::NONE.to_owned(), sanitize),
            login.expiry_cell(),
            match login.in_keyring {
                true => format!("OS keyring (service {})", crate::os_keyring::SERVICE),
                false => path.display().to_string(),
            },
        ]);
    }
    write!(io.out, "{}", table.render())?;
    if default.is_some() {
        writeln!(
            io.err,
            "* the default server: the last login's, used when no --server, EDGEAUTH_SERVER or edgeauth.toml names one"
        )?;
    }
    for login in logins.iter().filter(|l| l.expired) {
        writeln!(
            io.err,
            "warning: the login to {} has expired: run `edgeauth login --server {}`",
            sanitize(&login.server),
            sanitize(&login.server)
        )?;
    }
    Ok(())
}

/// One stored login as `auth status` shows it.
struct Login {
    server: String,
    is_default: bool,
    user: Option<String>,
    kind: &'static str,
    project: Option<String>,
    token_id: Option<String>,
    prefix: Option<String>,
    expires_at: Option<String>,
    /// Its token is in the OS keyring, not the file.
    in_keyring: bool,
    /// The login can no longer be used: a user token past its expiry. A device login is never
    /// called expired here: its refresh token (whose end is not stored) renews it.
    expired: bool,
}

impl Login {
    fn of(server: &str, c: &StoredCredential, is_default: bool) -> Login {
        let device = c.kind == ACCESS_KIND;
        let expired = !device
            && c.expires_at
                .as_deref()
                .and_then(session::parse_rfc3339)
                .is_some_and(|ms| ms <= session::now_ms());
        Login {
            server: server.to_owned(),
            is_default,
            user: c
                .user
                .as_ref()
                .and_then(|u| u.email.clone().or(u.name.clone()).or(u.id.clone())),
            kind: if device { "device login" } else { "user token" },
            project: c.project.clone(),
            token_id: c.token_id.clone(),
            prefix: c.prefix.clone(),
            expires_at: c.expires_at.clone(),
            in_keyring: c.in_keyring(),
            expired,
        }
    }

    fn expiry_cell(&self) -> String {
        match (self.kind, &self.expires_at) {
            ("device login", _) => "refreshes".to_owned(),
            (_, None) => "never".to_owned(),
            (_, Some(at)) if self.expired => format!("{} (expired)", output::time(Some(at))),
            (_, Some(at)) => output::time(Some(at)),
        }
    }

    fn json(&self, path: &std::path::Path) -> serde_json::Value {
        serde_json::json!({
            "server": self.server,
            "default": self.is_default,
            "user": self.user,
            "kind": if self.kind == "device login" { "device" } else { "user" },
            "project": self.project,
            "token_id": self.token_id,
            "prefix": self.prefix,
            "expires_at": self.expires_at,
            "expired": self.expired,
            "storage": if self.in_keyring { "keyring" } else { "file" },
            "path": path.display().to_string(),
        })
    }
}

/// `auth token`: the token every command would send to the server, alone on stdout (a device
/// login was refreshed by the caller, [`super::keep_fresh`], before this runs).
pub fn token(ctx: &Context, io: &mut Io<'_>, settings: &Settings) -> Result<(), CliError> {
    let server = &settings.server;
    let Some(token) = ctx.client.token() else {
        return Err(CliError::new(
            ExitStatus::Unauthorized,
            format!("not logged in to {server}: run `{}`", login_command(server)),
        )
        .with_hint(format!(
            "over SSH or without a browser on this machine: `edgeauth login --device --server {server}`; or set EDGEAUTH_TOKEN"
        )));
    };
    if ctx.json {
        let value = serde_json::json!({
            "server": server.as_str(),
            "token": token.secret.expose(),
            "source": token.source.kind(),
        });
        write!(io.out, "{}", output::json(&value))?;
    } else {
        writeln!(io.out, "{}", token.secret.expose())?;
    }
    Ok(())
}
