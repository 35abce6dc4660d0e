//! `edgeauth logout`: revoke the token `edgeauth login` stored for the server
//! (`DELETE /api/tokens/{id}`, authenticated by that token), then forget it. A device login
//! (`access`) is revoked with its refresh token instead (`POST /api/auth/revoke`, RFC 7009,
//! `token=ear_…`, no `Authorization`): the server revokes the whole login (the refresh-token
//! family); the access token that is left dies within its 15 minutes.
//!
//! Only the stored login is touched, whatever `--token`, `EDGEAUTH_TOKEN` or edgeauth.toml say.
//! A server that no longer knows the token (401 or 404: revoked or expired) counts as done. A
//! server that cannot be reached or fails keeps the token stored, so that revocation can be
//! retried: forgetting first would leave a live token that nobody can revoke from here.

use super::tokens::USER_TOKENS;
use super::{Context, Io};
use crate::client::ApiClient;
use crate::config::{Environment, ResolvedToken, Settings, Source};
use crate::credentials::{self, StoredCredential};
use crate::error::{CliError, ExitStatus};
use crate::output::{self, sanitize};
use crate::session::{self, Why, ACCESS_KIND};
use edgeauth_core::api::LoginsEnded;
use edgeauth_core::token::DISPLAY_PREFIX_CHARS;
use std::path::Path;

/// What happened to a stored token on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// 204 (user token) or 200 (device login): revoked now.
    Revoked,
    /// 401 or 404 (user token), any 4xx (device login): the server already refuses it
    /// (revoked, expired, or unknown).
    AlreadyGone,
    /// Nothing was sent, for the reason given (e.g. no token id was stored).
    NotRevocable(String),
}

impl Revocation {
    fn json_name(&self) -> &'static str {
        match self {
            Revocation::Revoked => "revoked",
            Revocation::AlreadyGone => "already_gone",
            Revocation::NotRevocable(_) => "not_revoked",
        }
    }
}

pub fn run(
    ctx: &Context,
    io: &mut Io<'_>,
    settings: &Settings,
    env: &Environment,
    everywhere: bool,
) -> Result<(), CliError> {
    let server = &settings.server;
    if let Some(token) = &settings.token {
        if !matches!(token.source, Source::StoredCredentials(_)) {
            writeln!(
                io.err,
                "note: logout acts on the login stored for {server} only; the token from {} is not affected",
                token.source.describe("token")
            )?;
        }
    }
    let stored = match env.credentials_dir() {
        Some(dir) => credentials::load_for(&dir, server)?
            .get(server)
            .cloned()
            .map(|credential| (dir, credential)),
        None => None,
    };
    let Some((dir, credential)) = stored else {
        if ctx.json {
            let summary = serde_json::json!({"server": server.as_str(), "logged_out": false});
            write!(io.out, "{}", output::json(&summary))?;
        } else {
            writeln!(
                io.out,
                "Not logged in to {server}: there is no stored login to log out of"
            )?;
        }
        return Ok(());
    };
    let path = credentials::file_path(&dir);
    // Without its secrets it could be neither revoked nor told apart from an expired one:
    // keep it for when the keyring answers.
    if let Some(e) = credential.unreadable(server) {
        return Err(e);
    }

    // Everywhere first, with the stored login (made fresh, for a device login): the stored
    // token is revoked next whatever it was.
    let ended = match everywhere {
        true => Some(end_every_login(ctx, settings, &dir, &credential, &path)?),
        false => None,
    };
    let revocation = revoke_stored(&ctx.client, &credential, &path).map_err(|e| {
        let hint = format!(
            "the login is still stored: run `edgeauth logout` again when the server answers, or delete the entry for {server} from {} to forget it without revoking",
            path.display()
        );
        e.with_hint(hint)
    })?;
    // Read again, under the lock: the file may have changed while the server was asked.
    credentials::update(&dir, |store| {
        store.remove(server);
        Ok(())
    })?;

    let device = credential.kind == ACCESS_KIND;
    let prefix = (!device).then(|| prefix_of(&credential));
    if ctx.json {
        let mut summary = serde_json::json!({
            "server": server.as_str(),
            "logged_out": true,
            "token_id": credential.token_id,
            "prefix": prefix,
            "revocation": revocation.json_name(),
        });
        if let Some(ended) = ended {
            summary["sessions_ended"] = ended.into();
        }
        write!(io.out, "{}", output::json(&summary))?;
    } else {
        let what = match &revocation {
            Revocation::Revoked => "revoked".to_owned(),
            Revocation::AlreadyGone => {
                "was already revoked or expired on the server; forgotten here".to_owned()
            }
            Revocation::NotRevocable(why) => format!("forgotten here, not revoked: {why}"),
        };
        let what_was = match &prefix {
            Some(prefix) => format!("token {}…", sanitize(prefix)),
            None => "device login".to_owned(),
        };
        if let Some(ended) = ended {
            writeln!(
                io.out,
                "Signed out everywhere on {server}: {ended} browser session(s) and device login(s) ended"
            )?;
        }
        writeln!(io.out, "Logged out of {server} ({what_was} {what})")?;
    }
    if let Revocation::NotRevocable(_) = revocation {
        writeln!(
            io.err,
            "warning: the token may still be valid; revoke it at {}",
            server.join("/account")
        )?;
    }
    Ok(())
}

/// `DELETE /api/sessions` with the stored login: every browser session and device login of
/// its person ends; how many.
fn end_every_login(
    ctx: &Context,
    settings: &Settings,
    dir: &Path,
    credential: &StoredCredential,
    path: &Path,
) -> Result<usize, CliError> {
    let anonymous = ctx.client.with_token(None);
    let secret = match credential.kind == ACCESS_KIND {
        true => session::fresh_access_token(&anonymous, dir, &settings.server, Why::Expiring)?,
        false => credential.token.clone(),
    };
    let as_stored = ctx.client.with_token(Some(ResolvedToken {
        secret,
        source: Source::StoredCredentials(path.to_owned()),
    }));
    let ended: LoginsEnded = as_stored.delete("/api/sessions")?.parse().map_err(|e| {
        e.with_hint("the login is still stored; `edgeauth logout --all` may be run again")
    })?;
    Ok(ended.ended)
}

/// Revokes a stored login's token with that token itself. Errors other than "already gone"
/// are returned as they came (exit code and message of the client).
pub fn revoke_stored(
    client: &ApiClient,
    credential: &StoredCredential,
    path: &Path,
) -> Result<Revocation, CliError> {
    if credential.kind == ACCESS_KIND {
        return revoke_device_login(client, credential);
    }
    if credential.kind != "user" {
        return Ok(Revocation::NotRevocable(format!(
            "a stored `{}` credential has no revocation here",
            sanitize(&credential.kind)
        )));
    }
    let Some(id) = credential.token_id.as_deref() else {
        return Ok(Revocation::NotRevocable(
            "the stored login has no token id".to_owned(),
        ));
    };
    if USER_TOKENS.check_id(id).is_err() {
        return Ok(Revocation::NotRevocable(
            "the stored token id is malformed".to_owned(),
        ));
    }
    let as_stored = client.with_token(Some(ResolvedToken {
        secret: credential.token.clone(),
        source: Source::StoredCredentials(path.to_owned()),
    }));
    match as_stored.delete(&format!("{}/{id}", USER_TOKENS.path)) {
        Ok(_) => Ok(Revocation::Revoked),
        Err(e) if matches!(e.status, ExitStatus::NotFound | ExitStatus::Unauthorized) => {
            Ok(Revocation::AlreadyGone)
        }
        Err(e) => Err(e),
    }
}

/// RFC 7009 revocation of a device login's refresh token, which ends the whole login on the
/// server. 200 → revoked; any other 4xx → nothing left to revoke; unreachable or 5xx → error.
fn revoke_device_login(
    client: &ApiClient,
    credential: &StoredCredential,
) -> Result<Revocation, CliError> {
    let Some(refresh_token) = &credential.refresh_token else {
        return Ok(Revocation::NotRevocable(
            "the stored device login has no refresh token".to_owned(),
        ));
    };
    let anonymous = client.with_token(None);
    match anonymous.post_form("/api/auth/revoke", &[("token", refresh_token.expose())]) {
        Ok(_) => Ok(Revocation::Revoked),
        Err(e)
            if matches!(
                e.status,
                ExitStatus::Unauthorized | ExitStatus::Forbidden | ExitStatus::NotFound
            ) || (e.status == ExitStatus::Failure && e.code.is_some()) =>
        {
            Ok(Revocation::AlreadyGone)
        }
        Err(e) => Err(e),
    }
}

/// The display prefix of a stored token: as stored, else its first
/// [`DISPLAY_PREFIX_CHARS`] characters (`eau_` + 8, which docs/api.md makes public).
pub fn prefix_of(credential: &StoredCredential) -> String {
    credential.prefix.clone().unwrap_or_else(|| {
        credential
            .token
            .expose()
            .chars()
            .take(DISPLAY_PREFIX_CHARS)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tests::{client, serve_once};
    use edgeauth_core::secret::Secret;

    fn stored(id: Option<&str>) -> StoredCredential {
        let mut c = StoredCredential::new(Secret::new("eau_StoredSecretValue"), "user");
        c.token_id = id.map(str::to_owned);
        c
    }

    fn revoke_against(status: u16, body: &str) -> (Result<Revocation, CliError>, String) {
        let (url, server) = serve_once(status, "", body);
        let c = client(&url, None, Some(("eas_other", Source::Env)));
        let result = revoke_stored(&c, &stored(Some("ut_1")), Path::new("/c/credentials.json"));
        (result, server.join().unwrap())
    }

    #[test]
    fn revocation_uses_the_stored_token_not_the_configured_one() {
        let (result, request) = revoke_against(204, "");
        assert_eq!(result.unwrap(), Revocation::Revoked);
        assert!(request.starts_with("DELETE /api/tokens/ut_1 "), "{request}");
        let lower = request.to_ascii_lowercase();
        assert!(
            lower.contains("authorization: bearer eau_storedsecretvalue\r\n"),
            "{request}"
        );
        assert!(!lower.contains("eas_other"), "{request}");
    }

    #[test]
    fn a_server_that_no_longer_knows_the_token_means_already_gone() {
        let (result, _) = revoke_against(404, r#"{"error":"not_found","message":"no such token"}"#);
        assert_eq!(result.unwrap(), Revocation::AlreadyGone);
        let (result, _) = revoke_against(401, r#"{"error":"unauthorized","message":"revoked"}"#);
        assert_eq!(result.unwrap(), Revocation::AlreadyGone);
    }

    #[test]
    fn a_failing_server_is_an_error() {
        let (result, _) = revoke_against(503, r#"{"error":"misconfigured","message":"x"}"#);
        assert_eq!(result.unwrap_err().status, ExitStatus::ServerError);
    }

    #[test]
    fn without_a_usable_id_nothing_is_sent() {
        let c = client("http://127.0.0.1:9", None, None);
        let path = Path::new("/c/credentials.json");
        for credential in [stored(None), stored(Some("ut/../x")), {
            let mut other = stored(Some("ut_1"));
            other.kind = "access".into();
            other
        }] {
            assert!(matches!(
                revoke_stored(&c, &credential, path).unwrap(),
                Revocation::NotRevocable(_)
            ));
        }
    }

    #[test]
    fn the_prefix_is_stored_or_the_first_12_characters() {
        assert_eq!(prefix_of(&stored(None)), "eau_StoredSe");
        let mut c = stored(None);
        c.prefix = Some("eau_AbCdEfGh".into());
        assert_eq!(prefix_of(&c), "eau_AbCdEfGh");
    }
}
