//! Keeping a device login signed in: the stored access token (`eaa_…`, at most 15 minutes) is
//! traded for a new one with the stored refresh token (`ear_…`) before it is used.
//!
//! - Before any command uses a stored `access` credential that expires within
//!   [`REFRESH_MARGIN`] (or has expired), it is refreshed ([`Why::Expiring`]).
//! - A 401 to a request made with it refreshes once and repeats the request once
//!   ([`Why::Refused`], wired into [`ApiClient::with_refresh`]).
//!
//! A refresh is `POST /api/auth/token` (`grant_type=refresh_token`, no `Authorization`),
//! answered with a new access token and a new refresh token: the old refresh token is spent, and
//! presenting it again would look like theft to the server, which then revokes the whole login.
//! So a refresh holds the credentials file's lock ([`credentials::lock`]) from reading the
//! refresh token to storing its successor, and re-reads the file once it has the lock: another
//! edgeauth process may have refreshed meanwhile, and then its tokens are used as they are.
//! The new refresh token is written (atomically) before the new access token is used; if that
//! write fails the command stops and says that the login is lost.
//!
//! `invalid_grant` (the refresh token expired, was revoked, or its login was revoked) forgets
//! the stored login and is exit 3 with a hint to log in again. Any other failure (unreachable,
//! 5xx) keeps it, so a later command can try again.

use crate::client::ApiClient;
use crate::credentials::{self, StoredCredential};
use crate::error::{CliError, ExitStatus};
use crate::server_url::ServerUrl;
use edgeauth_core::api::TokenResponse;
use edgeauth_core::grant::TokenGrant;
use edgeauth_core::secret::Secret;
use std::path::Path;

/// A stored access token is refreshed when it expires within this many seconds.
pub const REFRESH_MARGIN_SECS: i64 = 60;

/// The stored `kind` of a device login.
pub const ACCESS_KIND: &str = "access";

/// Why a refresh is asked for.
#[derive(Debug, Clone, Copy)]
pub enum Why<'a> {
    /// About to be used, and (as the caller saw the file) expiring within the margin.
    Expiring,
    /// The server answered 401 to this access token.
    Refused(&'a Secret),
}

/// Checks what the CLI relies on in a 200 body of `POST /api/auth/token` (RFC 6749 §5.1, for
/// both grants): a bearer pair whose tokens can travel in a header.
pub fn check_tokens(tokens: &TokenResponse) -> Result<(), CliError> {
    let malformed = |what: &str| {
        CliError::new(
            ExitStatus::ServerError,
            format!("unexpected response from the server's token endpoint: {what}"),
        )
        .with_hint("check that the server URL points at an edgeauth server of a matching version")
    };
    if !tokens.token_type.eq_ignore_ascii_case("bearer") {
        return Err(malformed("the token type is not Bearer"));
    }
    if crate::config::validate_token(tokens.access_token.expose()).is_err()
        || crate::config::validate_token(tokens.refresh_token.expose()).is_err()
    {
        return Err(malformed("a token is empty or malformed"));
    }
    if tokens.expires_in <= 0 {
        return Err(malformed("`expires_in` is not positive"));
    }
    Ok(())
}

/// The access token's expiry, from the CLI's clock.
pub fn access_expires_at(tokens: &TokenResponse) -> String {
    edgeauth_core::time::rfc3339(now_ms().saturating_add(tokens.expires_in.saturating_mul(1000)))
}

/// Whether a stored device login should be refreshed before use: its access token expires
/// within the margin, or its expiry is missing or unreadable.
pub fn needs_refresh(credential: &StoredCredential) -> bool {
    credential.kind == ACCESS_KIND
        && match credential.expires_at.as_deref().and_then(parse_rfc3339) {
            Some(expires_ms) => expires_ms - now_ms() <= REFRESH_MARGIN_SECS * 1000,
            None => true,
        }
}

/// Seconds until the stored access token expires (negative once expired).
pub fn expires_in_secs(credential: &StoredCredential) -> Option<i64> {
    let expires_ms = parse_rfc3339(credential.expires_at.as_deref()?)?;
    Some((expires_ms - now_ms()).div_euclid(1000))
}

/// A usable access token for the device login stored for `server`, refreshing it if `why`
/// still holds once the lock is taken. `anonymous` must carry no credential.
pub fn fresh_access_token(
    anonymous: &ApiClient,
    dir: &Path,
    server: &ServerUrl,
    why: Why<'_>,
) -> Result<Secret, CliError> {
    let _lock = credentials::lock(dir)?;
    let store = credentials::load_for(dir, server)?;
    let path = credentials::file_path(dir);
    let Some(credential) = store.get(server).cloned() else {
        return Err(CliError::new(
            ExitStatus::Unauthorized,
            format!("the login for {server} was removed meanwhile (by `edgeauth logout`?)"),
        )
        .with_hint(format!(
            "run `{}` again",
            crate::client::login_command(server)
        )));
    };
    // A keyring that will not answer now is no reason to forget the login.
    if let Some(e) = credential.unreadable(server) {
        return Err(e);
    }
    let still_needed = credential.kind == ACCESS_KIND
        && match why {
            Why::Expiring => needs_refresh(&credential),
            // Another process may have refreshed since this one read the file.
            Why::Refused(refused) => &credential.token == refused,
        };
    if !still_needed {
        return Ok(credential.token);
    }
    let Some(refresh_token) = credential.refresh_token.clone() else {
        forget(dir, server)?;
        return Err(relogin(
            server,
            &format!("the device login stored for {server} has no refresh token; it was forgotten"),
        ));
    };

    let grant = TokenGrant::RefreshToken {
        refresh_token: refresh_token.expose().to_owned(),
    };
    let answer = anonymous
        .post_form("/api/auth/token", &grant.form_pairs())
        .and_then(|response| {
            let tokens: TokenResponse = response.parse()?;
            check_tokens(&tokens)?;
            Ok(tokens)
        });
    let tokens = match answer {
        Ok(tokens) => tokens,
        Err(e) if e.is("invalid_grant") => {
            forget(dir, server)?;
            return Err(relogin(
                server,
                &format!(
                    "the device login for {server} has ended ({}); it was forgotten",
                    e.message
                ),
            ));
        }
        Err(e) => {
            let hint = format!(
                "the login stays stored in {}; try again when the server answers",
                path.display()
            );
            return Err(CliError {
                message: format!("could not refresh the device login: {}", e.message),
                hint: Some(hint),
                ..e
            });
        }
    };

    let mut renewed = credential;
    renewed.token = tokens.access_token.clone();
    renewed.refresh_token = Some(tokens.refresh_token.clone());
    renewed.expires_at = Some(access_expires_at(&tokens));
    let mut store = store;
    store.insert(server, renewed);
    credentials::save(dir, &store).map_err(|e| {
        CliError::config(format!(
            "THE DEVICE LOGIN IS LOST: the server issued a new refresh token but it could not be stored ({}); the stored one is spent",
            e.message
        ))
        .with_hint(format!(
            "make {} writable, then run `edgeauth login --device --server {server}` again",
            path.display()
        ))
    })?;
    Ok(tokens.access_token)
}

fn forget(dir: &Path, server: &ServerUrl) -> Result<(), CliError> {
    let mut store = credentials::load(dir)?;
    store.remove(server);
    credentials::save(dir, &store)
}

fn relogin(server: &ServerUrl, message: &str) -> CliError {
    CliError::new(ExitStatus::Unauthorized, message).with_hint(format!(
        "run `edgeauth login --device --server {server}` (or `{}`) again",
        crate::client::login_command(server)
    ))
}

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (what [`edgeauth_core::time::rfc3339`] writes, and
/// what the server sends) to Unix milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || !matches!(b[b.len() - 1], b'Z' | b'z') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let fraction = &text[19..text.len() - 1];
    let ms = match fraction.strip_prefix('.') {
        None if fraction.is_empty() => 0,
        Some(digits) if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) => {
            format!("{digits:0<3}")[..3].parse().ok()?
        }
        _ => return None,
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeauth_core::time::rfc3339;

    #[test]
    fn rfc3339_round_trips() {
        for ms in [0, 951_782_400_000, 1_795_000_000_000, 4_102_444_799_000] {
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms), "{}", rfc3339(ms));
        }
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse_rfc3339("2026-11-24T10:00:00.123456Z").unwrap() % 1000,
            123
        );
        for bad in [
            "",
            "2026-11-24",
            "2026-13-01T00:00:00Z",
            "2026-11-24T10:00:00+01:00",
            "x026-11-24T10:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn refresh_is_needed_within_the_margin_or_without_an_expiry() {
        let mut c = StoredCredential::new(Secret::new("eaa_x"), ACCESS_KIND);
        assert!(needs_refresh(&c), "no expiry");
        c.expires_at = Some(rfc3339(now_ms() + 30_000));
        assert!(needs_refresh(&c));
        c.expires_at = Some(rfc3339(now_ms() - 30_000));
        assert!(needs_refresh(&c));
        c.expires_at = Some(rfc3339(now_ms() + 600_000));
        assert!(!needs_refresh(&c));
        assert!((598..=600).contains(&expires_in_secs(&c).unwrap()));
        c.kind = "user".into();
        c.expires_at = None;
        assert!(!needs_refresh(&c), "user tokens are never refreshed");
    }

    #[test]
    fn token_responses_are_checked() {
        let parse = |json: &str| serde_json::from_str::<TokenResponse>(json).unwrap();
        let good = parse(
            r#"{"access_token":"eaa_a.b.c","token_type":"Bearer","expires_in":900,"refresh_token":"ear_x","scope":"*"}"#,
        );
        assert!(check_tokens(&good).is_ok());
        assert!(format!("{good:?}").contains("redacted"));
        assert!(!format!("{good:?}").contains("ear_x"));
        for bad in [
            r#"{"access_token":"eaa_a","token_type":"mac","expires_in":900,"refresh_token":"ear_x"}"#,
            r#"{"access_token":"eaa a","token_type":"Bearer","expires_in":900,"refresh_token":"ear_x"}"#,
            r#"{"access_token":"eaa_a","token_type":"Bearer","expires_in":0,"refresh_token":"ear_x"}"#,
        ] {
            assert_eq!(
                check_tokens(&parse(bad)).unwrap_err().status,
                ExitStatus::ServerError
            );
        }
    }
}
