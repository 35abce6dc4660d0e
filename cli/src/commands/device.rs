//! `edgeauth login --device`: the device authorization grant (RFC 8628), for a terminal whose
//! browser is elsewhere (SSH, containers) or when the loopback port cannot be reached.
//!
//! 1. `GET /api/auth/capabilities` (anonymously): refuse at once unless `login_methods.device`.
//! 2. `POST /api/auth/device/code {"client_name": "edgeauth CLI on HOST"}` (anonymously, with
//!    `X-Project` when a project is set).
//! 3. Tell the person where to go and which code to enter; open `verification_uri_complete` in
//!    the browser unless `--no-browser` (only an `http(s)` URL is ever handed to the opener).
//! 4. Poll `POST /api/auth/token` (`grant_type=urn:ietf:params:oauth:grant-type:device_code`)
//!    every `interval` seconds as the server says (never faster; `slow_down` adds 5 s for the
//!    rest of the login, RFC 8628 §3.5) until approval, denial (exit 10) or expiry (exit 9).
//! 5. Ask `GET /api/users/me` with the new access token who signed in, and store the access
//!    token, its expiry and the refresh token as the server's `access` credential
//!    ([`crate::session`] keeps it fresh). Print the person, never a token.

use super::login::{
    check_offered, credentials_dir, machine_name, open_browser, person, retire_previous,
    token_name, Offered,
};
use super::{Context, Io};
use crate::args::LoginArgs;
use crate::client::ApiClient;
use crate::config::{Environment, ResolvedToken, Settings, Source};
use crate::credentials::{self, StoredCredential, StoredUser};
use crate::error::{CliError, ExitStatus};
use crate::output::{self, sanitize, Spinner};
use crate::server_url::ServerUrl;
use crate::session::{self, ACCESS_KIND};
use edgeauth_core::api::{DeviceAuthorization, DeviceCodeRequest, Me, TokenResponse};
use edgeauth_core::device::{POLL_INTERVAL_S, SLOW_DOWN_INCREMENT_S};
use edgeauth_core::grant::TokenGrant;
use edgeauth_core::secret::Secret;
use std::time::{Duration, Instant};

/// RFC 8628 §3.2: the interval when the server names none (5 s, what the server gives).
const DEFAULT_INTERVAL: u64 = POLL_INTERVAL_S as u64;
/// RFC 8628 §3.5: what `slow_down` adds to the interval.
const SLOW_DOWN_STEP: u64 = SLOW_DOWN_INCREMENT_S as u64;
/// Never wait longer than this, whatever `expires_in` says.
const MAX_WAIT: u64 = 3600;

/// How the wait for approval ended, when it did not end with tokens.
#[derive(Debug, PartialEq, Eq)]
enum Poll {
    Pending,
    SlowDown,
}

pub fn run(
    ctx: &Context,
    io: &mut Io<'_>,
    settings: &Settings,
    env: &Environment,
    args: &LoginArgs,
) -> Result<(), CliError> {
    // Where no browser can open (SSH, no display), the code and URL printed are the way.
    let open = !args.no_browser
        && super::login::no_browser_here(env, |name| std::env::var(name).ok()).is_none();
    sign_in(ctx, io, settings, env, args, open)
}

/// The device login, opening the verification URL in a browser when `open` says so.
pub(super) fn sign_in(
    ctx: &Context,
    io: &mut Io<'_>,
    settings: &Settings,
    env: &Environment,
    args: &LoginArgs,
    open: bool,
) -> Result<(), CliError> {
    let server = &settings.server;
    let dir = credentials_dir(env)?;
    credentials::load(&dir)?;
    let anonymous = ctx.client.with_token(None);
    check_offered(&anonymous, server, Offered::Device)?;

    let client_name = token_name(machine_name().as_deref());
    let grant: DeviceAuthorization = anonymous
        .post_json(
            "/api/auth/device/code",
            &DeviceCodeRequest {
                client_name: Some(client_name.clone()),
            },
        )
        .map_err(|e| match e.status {
            ExitStatus::NotFound => e.with_hint(
                "the server has no /api/auth/device/code: check that the server URL points at an edgeauth server with device login",
            ),
            _ => e,
        })?
        .parse()?;
    if grant.device_code.expose().is_empty() || grant.user_code.is_empty() {
        return Err(CliError::new(
            ExitStatus::ServerError,
            "unexpected response from the server: the device code or user code is empty",
        ));
    }
    let uri = sanitize(&grant.verification_uri);
    let complete = grant.verification_uri_complete.as_deref().map(sanitize);
    let to_open = complete.clone().unwrap_or_else(|| uri.clone());

    let mut browser = None;
    if open {
        if is_web_url(&to_open) {
            match open_browser(env.browser.as_deref(), &to_open) {
                Ok(child) => {
                    writeln!(
                        io.err,
                        "A browser should open to sign in to {server}; if it does not:"
                    )?;
                    browser = Some(child);
                }
                Err(why) => writeln!(io.err, "warning: could not open a browser ({why})")?,
            }
        } else {
            writeln!(
                io.err,
                "warning: the server's verification URL is not an http(s) URL; it was not opened"
            )?;
        }
    }
    writeln!(
        io.err,
        "To sign in, open {uri} and enter the code {}",
        sanitize(&grant.user_code)
    )?;
    writeln!(
        io.err,
        "or open this URL, which carries the code:\n  {to_open}"
    )?;
    io.err.flush()?;

    let mut interval = grant
        .interval
        .filter(|&i| i > 0)
        .unwrap_or(DEFAULT_INTERVAL);
    let deadline = Instant::now() + Duration::from_secs(grant.expires_in.clamp(1, MAX_WAIT));
    let mut spinner = Spinner::new(
        "Waiting for approval in the browser… (Ctrl-C to cancel)",
        io.err_is_terminal,
    );
    let outcome = loop {
        let next = Instant::now() + Duration::from_secs(interval);
        let expired = loop {
            if let Some(warning) = super::login::browser_failure(&mut browser) {
                spinner.println(io.err, &warning);
            }
            spinner.tick(io.err);
            let now = Instant::now();
            if now >= deadline {
                break true;
            }
            if now >= next {
                break false;
            }
            std::thread::sleep((next.min(deadline) - now).min(Duration::from_millis(100)));
        };
        if expired {
            break Err(expired_error());
        }
        match poll(&anonymous, &grant.device_code) {
            Ok(Ok(tokens)) => break Ok(tokens),
            Ok(Err(Poll::Pending)) => {}
            Ok(Err(Poll::SlowDown)) => interval += SLOW_DOWN_STEP,
            Err(e) => break Err(e),
        }
    };
    spinner.clear(io.err);
    let tokens = outcome?;

    let as_new_login = ctx.client.with_token(Some(ResolvedToken {
        secret: tokens.access_token.clone(),
        source: Source::StoredCredentials(credentials::file_path(&dir)),
    }));
    let me = match as_new_login
        .get("/api/users/me")
        .and_then(|r| r.parse::<Me>())
    {
        Ok(me) => Some(me),
        Err(e) => {
            writeln!(
                io.err,
                "warning: signed in, but could not ask the server who you are: {}",
                e.message
            )?;
            None
        }
    };
    let project = me
        .as_ref()
        .map(|m| m.project.clone())
        .filter(|p| !p.is_empty())
        .or_else(|| settings.project.clone());
    let user = me.map(|m| StoredUser {
        id: Some(m.id.to_string()).filter(|id| !id.is_empty()),
        email: m.email,
        name: m.name,
    });

    let mut credential = StoredCredential::new(tokens.access_token.clone(), ACCESS_KIND);
    credential.refresh_token = Some(tokens.refresh_token.clone());
    credential.expires_at = Some(session::access_expires_at(&tokens));
    credential.name = Some(client_name);
    credential.project = project.clone();
    credential.user = user.clone();
    credential.created_at = Some(edgeauth_core::time::rfc3339(session::now_ms()));
    let storage = super::login::storage_choice(env, args);
    let (previous, placement) = credentials::store_login(&dir, server, credential.clone(), storage)
        .map_err(|e| CliError {
            message: format!(
                "signed in, but the login could not be stored: {}",
                e.message
            ),
            ..e
        })?;

    if ctx.json {
        let summary = serde_json::json!({
            "server": server.as_str(),
            "user": user,
            "project": project,
            "method": "device",
            "expires_at": credential.expires_at,
        });
        write!(io.out, "{}", output::json(&summary))?;
    } else {
        let project = project
            .map(|p| format!(", project {}", sanitize(&p)))
            .unwrap_or_default();
        writeln!(
            io.out,
            "Logged in to {server} as {} (device login{project}; stays signed in by refreshing)",
            person(user.as_ref())
        )?;
    }
    io.out.flush()?;
    if let Some(note) = super::login::placement_note(&placement, &credentials::file_path(&dir)) {
        writeln!(io.err, "{note}")?;
    }

    if let Some(previous) = previous {
        let path = credentials::file_path(&dir);
        if let Some(note) = retire_previous(ctx, server, &previous, None, &path) {
            writeln!(io.err, "{note}")?;
        }
    }
    warn_if_overridden(io, settings)?;
    Ok(())
}

/// One poll of the token endpoint: tokens, or keep waiting; denial, expiry and anything
/// unexpected are errors.
fn poll(client: &ApiClient, device_code: &Secret) -> Result<Result<TokenResponse, Poll>, CliError> {
    let grant = TokenGrant::DeviceCode {
        device_code: device_code.expose().to_owned(),
    };
    match client.post_form("/api/auth/token", &grant.form_pairs()) {
        Ok(response) => {
            let tokens: TokenResponse = response.parse()?;
            session::check_tokens(&tokens)?;
            Ok(Ok(tokens))
        }
        Err(e) if e.is("authorization_pending") => Ok(Err(Poll::Pending)),
        Err(e) if e.is("slow_down") => Ok(Err(Poll::SlowDown)),
        Err(e) if e.is("access_denied") => Err(CliError::new(
            ExitStatus::LoginRefused,
            "the login was denied in the browser; nothing was stored",
        )
        .with_hint(
            "run `edgeauth login --device` again and approve the code; if you did approve it, the page said why the server refused you (not in an allowed team, or no role in the project)",
        )
        .with_code("access_denied")),
        Err(e) if e.is("expired_token") => Err(expired_error()),
        Err(e) => {
            let hint = match e.status {
                ExitStatus::Failure => {
                    "the server refused the device code; run `edgeauth login --device` again"
                        .to_owned()
                }
                _ => e.hint.clone().unwrap_or_default(),
            };
            Err(CliError {
                message: format!("the device login failed: {}", e.message),
                hint: (!hint.is_empty()).then_some(hint),
                ..e
            })
        }
    }
}

fn expired_error() -> CliError {
    CliError::new(
        ExitStatus::LoginTimedOut,
        "the code expired before it was approved; nothing was stored",
    )
    .with_hint("run `edgeauth login --device` again and enter the new code in time")
}

fn is_web_url(url: &str) -> bool {
    ServerUrl::parse(url.split(['?', '#']).next().unwrap_or_default()).is_ok()
}

fn warn_if_overridden(io: &mut Io<'_>, settings: &Settings) -> Result<(), CliError> {
    if let Some(token) = &settings.token {
        if !matches!(token.source, Source::StoredCredentials(_)) {
            writeln!(
                io.err,
                "warning: {} takes precedence over this login: other commands use that token while it is set",
                token.source.describe("token")
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_go_to_the_browser_opener() {
        assert!(is_web_url(
            "https://auth.example.com/device?user_code=BCDF-GHJK"
        ));
        assert!(is_web_url("http://127.0.0.1:8787/device"));
        for bad in [
            "file:///etc/passwd",
            "-oProxyCommand=x",
            "javascript:alert(1)",
            "",
        ] {
            assert!(!is_web_url(bad), "{bad}");
        }
    }

    #[test]
    fn the_device_code_response_parses_with_defaults() {
        let grant: DeviceAuthorization = serde_json::from_str(
            r#"{"device_code":"dc","user_code":"BCDF-GHJK","verification_uri":"https://a/device","expires_in":900}"#,
        )
        .unwrap();
        assert_eq!(grant.interval, None);
        assert!(!format!("{grant:?}").contains("\"dc\""));
    }
}
