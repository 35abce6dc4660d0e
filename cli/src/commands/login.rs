//! `edgeauth login`: the loopback browser login (RFC 8252, with PKCE between CLI and server;
//! docs/api.md, "CLI loopback login").
//!
//! 1. `GET /api/auth/capabilities` (anonymously): refuse at once if the server does not offer it.
//! 2. Listen on `127.0.0.1:0` ([`LoopbackListener`]); make a 256-bit `state` and a 256-bit PKCE
//!    verifier from OS randomness; the challenge is `S256` ([`edgeauth_core::pkce`], the same
//!    code the server checks with).
//! 3. Open `{server}/api/auth/cli-start?redirect_uri&state&code_challenge&code_challenge_method
//!    &name&project` in the browser, and always print the URL on stderr.
//! 4. Wait (spinner on a terminal) for `GET /callback` until `EDGEAUTH_LOGIN_TIMEOUT` (exit 9).
//! 5. `POST /api/auth/cli-exchange {code, code_verifier, redirect_uri}` without any credential;
//!    store the token ([`credentials`]); answer the browser with a page that says how it went.
//! 6. Print the server, the person, the token's prefix and project; never the token.
//!
//! **State is fail-closed.** A callback whose `state` is missing or not this login's ends the
//! login (exit 10) and its code is never exchanged. Such a callback is a tab left over from an
//! earlier login or a request this CLI did not cause; exchanging its code could sign the CLI in
//! as someone else (login CSRF), and waiting on would leave the person looking at a browser that
//! says something went wrong while the terminal still spins. Stopping shows the problem where
//! it is read, and the next attempt starts clean: new port, state and verifier. The price: a
//! local process, or a web page that finds the port, can abort a login in progress, never
//! complete one.

use super::logout::{revoke_stored, Revocation};
use super::{Context, Io};
use crate::args::LoginArgs;
use crate::client::ApiClient;
use crate::config::{validate_token, Environment, Settings, Source};
use crate::credentials::{self, Placement, StoredCredential, StoredUser};
use crate::error::{CliError, ExitStatus};
use crate::loopback::{Callback, LoopbackListener, Outcome, Page};
use crate::os_keyring::Storage;
use crate::output::{self, sanitize, Spinner};
use crate::server_url::ServerUrl;
use edgeauth_core::api::{
    given, Capabilities, CliExchangeRequest, CliExchangeResponse, UserSummary,
};
use edgeauth_core::cli_login::DEFAULT_CLIENT_NAME;
use edgeauth_core::encoding::{base64url_encode, percent_encode};
use edgeauth_core::pkce;
use edgeauth_core::secret::Secret;
use edgeauth_core::token::DISPLAY_PREFIX_CHARS;
use edgeauth_core::token_request::MAX_NAME_CHARS;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long to wait for the browser without `EDGEAUTH_LOGIN_TIMEOUT`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
const MAX_TIMEOUT_SECS: u64 = 86_400;

/// How `edgeauth login` (without `--device`) reaches a browser.
pub enum Browser {
    /// Open the URL in a browser here (and print it).
    Open,
    /// Only print the URL (`--no-browser`, or none can open here and the server offers no
    /// device login).
    PrintUrl,
    /// None can open here, and the server offers device login: use that instead.
    DeviceCode,
}

/// Decides how to reach a browser: a browser opened here could not reach the person (SSH) or
/// cannot open at all (no display), and a device code works from any browser, so that is
/// what is used when the server offers it. Says why on stderr when it is not the usual way.
pub fn browser(
    ctx: &Context,
    io: &mut Io<'_>,
    settings: &Settings,
    env: &Environment,
    args: &LoginArgs,
) -> Result<Browser, CliError> {
    if args.no_browser {
        return Ok(Browser::PrintUrl);
    }
    let Some(why) = no_browser_here(env, |name| std::env::var(name).ok()) else {
        return Ok(Browser::Open);
    };
    let server = &settings.server;
    if capabilities(&ctx.client.with_token(None), server)?
        .login_methods
        .device
    {
        writeln!(
            io.err,
            "No browser can open here ({why}): signing in with a device code instead, to approve in a browser anywhere.\n(`edgeauth login --no-browser` keeps the browser login, for a browser on this machine.)"
        )?;
        return Ok(Browser::DeviceCode);
    }
    writeln!(
        io.err,
        "warning: no browser can open here ({why}) and {server} offers no device login: open the URL below in a browser on this machine"
    )?;
    Ok(Browser::PrintUrl)
}

/// The loopback login; `open`: open the URL in a browser here ([`browser`]).
pub fn run(
    ctx: &Context,
    io: &mut Io<'_>,
    settings: &Settings,
    env: &Environment,
    args: &LoginArgs,
    open: bool,
) -> Result<(), CliError> {
    let server = &settings.server;
    let timeout = login_timeout(env.login_timeout.as_deref())?;
    let dir = credentials_dir(env)?;
    // A credentials file that cannot be read is reported before anyone signs in for nothing.
    credentials::load(&dir)?;
    // No credential goes to the server during a login: a stale stored token would only earn a
    // 401, and the exchange is authenticated by the code and the verifier.
    let anonymous = ctx.client.with_token(None);
    check_offered(&anonymous, server, Offered::Loopback)?;

    let listener = LoopbackListener::bind().map_err(|e| {
        CliError::new(
            ExitStatus::Failure,
            format!("cannot listen on 127.0.0.1 for the browser's answer: {e}"),
        )
    })?;
    let state = random_secret()?;
    let verifier = random_secret()?;
    let url = start_url(
        server,
        listener.redirect_uri(),
        &state,
        &pkce::s256_challenge(verifier.expose()),
        &token_name(machine_name().as_deref()),
        settings.project.as_deref(),
    );

    let mut browser = None;
    if open {
        match open_browser(env.browser.as_deref(), &url) {
            Ok(child) => {
                writeln!(
                    io.err,
                    "A browser should open to sign in to {server}; if it does not:"
                )?;
                browser = Some(child);
            }
            Err(why) => writeln!(
                io.err,
                "warning: could not open a browser ({why}); open the URL below on this machine, or sign in from anywhere with `edgeauth login --device`"
            )?,
        }
    }
    writeln!(io.err, "Open this URL in your browser:\n  {url}")?;
    io.err.flush()?;

    let mut spinner = Spinner::new(
        "Waiting for the browser… (Ctrl-C to cancel)",
        io.err_is_terminal,
    );
    let waited = {
        let err = &mut *io.err;
        listener.wait(&state, Instant::now() + timeout, || {
            if let Some(warning) = browser_failure(&mut browser) {
                spinner.println(err, &warning);
            }
            spinner.tick(err);
        })
    };
    spinner.clear(io.err);
    let waited = waited.map_err(|e| {
        CliError::new(
            ExitStatus::Failure,
            format!("waiting for the browser failed: {e}"),
        )
    })?;
    let Some(Callback { outcome, reply }) = waited else {
        return Err(CliError::new(
            ExitStatus::LoginTimedOut,
            format!(
                "no answer from the browser within {} s; nothing was stored",
                timeout.as_secs()
            ),
        )
        .with_hint(
            "run `edgeauth login` again and finish signing in in the browser (it must run on this machine), or sign in from a browser anywhere with `edgeauth login --device`; EDGEAUTH_LOGIN_TIMEOUT sets the wait in seconds",
        ));
    };
    let code = match outcome {
        Outcome::Code(code) => code,
        refused => {
            let (error, page) = refusal(&refused, server);
            reply.send(page);
            return Err(error);
        }
    };

    let finished =
        exchange(&anonymous, &code, &verifier, listener.redirect_uri()).and_then(|exchanged| {
            let previous = store(&dir, server, &exchanged, storage_choice(env, args))?;
            Ok((exchanged, previous))
        });
    let (exchanged, (previous, placement)) = match finished {
        Ok(done) => {
            reply.send(Page {
                ok: true,
                title: "You are signed in to edgeauth",
                detail: "You can close this tab and go back to the terminal.",
            });
            done
        }
        Err(e) => {
            reply.send(Page {
                ok: false,
                title: "Sign-in failed",
                detail: &format!(
                    "edgeauth could not finish signing in: {} The terminal says what to do next.",
                    with_period(&e.message)
                ),
            });
            return Err(e);
        }
    };

    let issued = &exchanged.created.view.token;
    let user = stored_user(&exchanged);
    let prefix = prefix_of(&exchanged);
    let project = given(&issued.project).or(settings.project.as_deref());
    if ctx.json {
        let summary = serde_json::json!({
            "server": server.as_str(),
            "user": user,
            "token_id": issued.id,
            "prefix": prefix,
            "project": project,
            "expires_at": issued.expires_at,
        });
        write!(io.out, "{}", output::json(&summary))?;
    } else {
        let project = project
            .map(|p| format!(", project {}", sanitize(p)))
            .unwrap_or_default();
        writeln!(
            io.out,
            "Logged in to {server} as {} (token {}…{project})",
            person(user.as_ref()),
            sanitize(&prefix)
        )?;
        writeln!(io.err, "{}", expiry_note(issued.expires_at.as_deref()))?;
    }
    io.out.flush()?;
    if let Some(note) = placement_note(&placement, &credentials::file_path(&dir)) {
        writeln!(io.err, "{note}")?;
    }

    if let Some(previous) = previous {
        let path = credentials::file_path(&dir);
        let new_id = Some(issued.id.as_str());
        if let Some(note) = retire_previous(ctx, server, &previous, new_id, &path) {
            writeln!(io.err, "{note}")?;
        }
    }
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

/// What the server offers (`GET /api/auth/capabilities`, anonymously).
fn capabilities(client: &ApiClient, server: &ServerUrl) -> Result<Capabilities, CliError> {
    client
        .get("/api/auth/capabilities")
        .map_err(|e| match e.status {
            ExitStatus::NotFound => e.with_hint(format!(
                "{server} has no /api/auth/capabilities: check that the server URL points at edgeauth"
            )),
            _ => e,
        })?
        .parse()
}

/// Why a browser opened by this process could not serve the person's sign-in, when no
/// browser is named (`EDGEAUTH_BROWSER`): an SSH session (the person's browser runs on
/// another machine, whose 127.0.0.1 is not this listener's), or no display on Linux and the
/// BSDs (`DISPLAY` and `WAYLAND_DISPLAY` unset). `var` reads the environment.
pub(super) fn no_browser_here(
    env: &Environment,
    var: impl Fn(&str) -> Option<String>,
) -> Option<&'static str> {
    if env.browser.is_some() {
        return None;
    }
    let set = |name: &str| var(name).is_some_and(|value| !value.is_empty());
    if ["SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"]
        .into_iter()
        .any(set)
    {
        return Some("this is an SSH session");
    }
    let needs_display = cfg!(all(unix, not(target_os = "macos")));
    if needs_display && !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
        return Some("there is no display: DISPLAY and WAYLAND_DISPLAY are unset");
    }
    None
}

/// `EDGEAUTH_LOGIN_TIMEOUT`: whole seconds, 1 to 86400.
fn login_timeout(raw: Option<&str>) -> Result<Duration, CliError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_TIMEOUT);
    };
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|s| (1..=MAX_TIMEOUT_SECS).contains(s))
        .map(Duration::from_secs)
        .ok_or_else(|| {
            CliError::config(format!(
                "EDGEAUTH_LOGIN_TIMEOUT must be a whole number of seconds from 1 to {MAX_TIMEOUT_SECS}, not `{}`",
                sanitize(raw)
            ))
        })
}

pub(super) fn credentials_dir(env: &Environment) -> Result<PathBuf, CliError> {
    env.credentials_dir().ok_or_else(|| {
        CliError::config("there is no user configuration directory to store the login in")
            .with_hint("set EDGEAUTH_CONFIG_DIR to a directory of your own")
    })
}

/// The login methods of the CLI, as `/api/auth/capabilities` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Offered {
    Loopback,
    Device,
}

/// Refuses early, before a browser opens, when the server says it has no such CLI login.
/// Loopback login is assumed unless the server says `false`; device login must be `true`.
pub(super) fn check_offered(
    client: &ApiClient,
    server: &ServerUrl,
    method: Offered,
) -> Result<(), CliError> {
    let capabilities = capabilities(client, server)?;
    if capabilities.auth_disabled {
        return Err(CliError::new(
            ExitStatus::ServerError,
            format!("authentication is disabled on {server}: there is nothing to log in to"),
        )
        .with_hint("every request is already allowed; commands need no token"));
    }
    if method == Offered::Device && !capabilities.login_methods.device {
        return Err(CliError::new(
            ExitStatus::ServerError,
            format!("{server} does not offer device login"),
        )
        .with_hint(
            "sign in through a browser on this machine with `edgeauth login`, or use a token: EDGEAUTH_TOKEN or --token",
        ));
    }
    if method == Offered::Loopback && !capabilities.login_methods.cli_loopback {
        return Err(CliError::new(
            ExitStatus::ServerError,
            format!("{server} does not offer browser login for the CLI"),
        )
        .with_hint(
            "its operator must configure sign-in (OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and SECRET); until then, use a token: EDGEAUTH_TOKEN or --token",
        ));
    }
    Ok(())
}

/// 256 bits from the OS, base64url: 43 characters, valid as a `state` and as a PKCE verifier.
fn random_secret() -> Result<Secret, CliError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        CliError::new(
            ExitStatus::Failure,
            format!("cannot get random bytes from the operating system: {e}"),
        )
    })?;
    Ok(Secret::new(base64url_encode(&bytes)))
}

/// The URL the browser opens; every value percent-encoded.
fn start_url(
    server: &ServerUrl,
    redirect_uri: &str,
    state: &Secret,
    challenge: &str,
    name: &str,
    project: Option<&str>,
) -> String {
    let mut params = vec![
        ("redirect_uri", redirect_uri),
        ("state", state.expose()),
        ("code_challenge", challenge),
        ("code_challenge_method", pkce::METHOD_S256),
        ("name", name),
    ];
    if let Some(project) = project {
        params.push(("project", project));
    }
    let query = params
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!("{}?{query}", server.join("/api/auth/cli-start"))
}

/// This machine's name, for the token's name; `None` if it cannot be found.
pub(super) fn machine_name() -> Option<String> {
    let from_command = || {
        Command::new("hostname")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
    };
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(from_command)?;
    let name = raw.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// `edgeauth CLI on HOST`, within the server's 1..=100 printable characters.
pub(super) fn token_name(host: Option<&str>) -> String {
    let host: String = host
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let name = match host.trim() {
        "" => DEFAULT_CLIENT_NAME.to_owned(),
        host => format!("{DEFAULT_CLIENT_NAME} on {host}"),
    };
    name.chars().take(MAX_NAME_CHARS).collect()
}

/// Starts the browser on `url` without waiting for it: `EDGEAUTH_BROWSER`, else the platform's
/// opener. On Windows the URL handler is called directly rather than through `cmd /c start`,
/// whose command line would split the URL at its `&`s.
pub(super) fn open_browser(program: Option<&Path>, url: &str) -> Result<Child, String> {
    let (program, args): (&Path, &[&str]) = match program {
        Some(program) => (program, &[]),
        None if cfg!(target_os = "macos") => (Path::new("open"), &[]),
        None if cfg!(windows) => (Path::new("rundll32"), &["url.dll,FileProtocolHandler"]),
        None => (Path::new("xdg-open"), &[]),
    };
    Command::new(program)
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", program.display()))
}

/// A warning once the browser command has exited unsuccessfully; `None` otherwise.
pub(super) fn browser_failure(browser: &mut Option<Child>) -> Option<String> {
    let status = browser.as_mut()?.try_wait().ok()??;
    *browser = None;
    (!status.success()).then(|| {
        format!("warning: the browser command failed ({status}); open the URL above yourself")
    })
}

/// The error and the browser page for a callback that carries no usable code; `server`'s
/// sign-in page that lets the person choose another account is named in the hint.
fn refusal<'a>(outcome: &'a Outcome, server: &ServerUrl) -> (CliError, Page<'a>) {
    let again = "run `edgeauth login` again";
    match outcome {
        // The server refused the person (not in an allowed team, no role in the project, …)
        // and says why: the person can do nothing about it in this browser.
        Outcome::Refused {
            error,
            description: Some(reason),
        } if error == "access_denied" => (
            CliError::new(
                ExitStatus::LoginRefused,
                format!(
                    "the server refused the sign-in: {}; nothing was stored",
                    sanitize(reason).trim_end_matches(['.', ' '])
                ),
            )
            .with_hint(format!(
                "to use another account, choose it at {} first, then {again}; or ask the server's operator to let this one in",
                server.join("/api/auth/login?prompt=select_account")
            )),
            Page {
                ok: false,
                title: "Sign-in refused",
                detail: reason,
            },
        ),
        Outcome::Refused { error, .. } if error == "access_denied" => (
            CliError::new(
                ExitStatus::LoginRefused,
                "login denied in the browser; nothing was stored",
            )
            .with_hint(format!("{again} and approve the sign-in")),
            Page {
                ok: false,
                title: "Sign-in denied",
                detail: "edgeauth got no token. You can close this tab.",
            },
        ),
        Outcome::Refused { error, description } => (
            CliError::new(
                ExitStatus::LoginRefused,
                format!(
                    "the server refused the login: {}{}",
                    sanitize(error),
                    description
                        .as_deref()
                        .map(|d| format!(" ({})", sanitize(d)))
                        .unwrap_or_default()
                ),
            )
            .with_hint(again),
            Page {
                ok: false,
                title: "Sign-in failed",
                detail: "The server refused the sign-in. The terminal says more.",
            },
        ),
        Outcome::WrongState => (
            CliError::new(
                ExitStatus::LoginRefused,
                "the browser came back with an answer that does not belong to this login (wrong state); it was not used and nothing was stored",
            )
            .with_hint(format!(
                "this happens with a tab left over from an earlier login: {again} and use the tab it opens"
            )),
            Page {
                ok: false,
                title: "This sign-in does not belong to the waiting edgeauth",
                detail: "It was not used, and edgeauth stopped. Run edgeauth login again and use the tab it opens.",
            },
        ),
        Outcome::Malformed(why) => (
            CliError::new(
                ExitStatus::LoginRefused,
                format!("the browser's answer was not valid: {why}; nothing was stored"),
            )
            .with_hint(again),
            Page {
                ok: false,
                title: "Sign-in failed",
                detail: "The answer that reached edgeauth was not valid. The terminal says more.",
            },
        ),
        Outcome::Code(_) => unreachable!("a code is not a refusal"),
    }
}

/// Trades the code and verifier for a user API token.
fn exchange(
    client: &ApiClient,
    code: &Secret,
    verifier: &Secret,
    redirect_uri: &str,
) -> Result<CliExchangeResponse, CliError> {
    let body = CliExchangeRequest {
        code: code.clone(),
        code_verifier: verifier.clone(),
        redirect_uri: redirect_uri.to_owned(),
    };
    let response = client
        .post_json("/api/auth/cli-exchange", &body)
        .map_err(|e| match e.status {
            ExitStatus::Failure => e.with_hint(
                "the server did not accept the sign-in code; run `edgeauth login` again (a code is good once, for 2 minutes)",
            ),
            ExitStatus::NotFound => e.with_hint(
                "the server has no /api/auth/cli-exchange: check that the server URL points at an edgeauth server with CLI login",
            ),
            _ => e,
        })?;
    let exchanged: CliExchangeResponse = response.parse()?;
    let malformed = validate_token(exchanged.created.token.expose()).is_err()
        || exchanged.created.view.token.id.as_str().is_empty();
    if malformed {
        return Err(CliError::new(
            ExitStatus::ServerError,
            "unexpected response from the server: the new token or its id is malformed",
        ));
    }
    Ok(exchanged)
}

/// Stores the new login for `server`; returns the login it replaced, if any. The file is read
/// again here, under its lock (not reused from before the wait), so a login to another server
/// made meanwhile is kept.
fn store(
    dir: &Path,
    server: &ServerUrl,
    exchanged: &CliExchangeResponse,
    storage: Storage,
) -> Result<(Option<StoredCredential>, Placement), CliError> {
    credentials::store_login(dir, server, credential_of(exchanged), storage)
}

/// Where a new login's secrets go: `--storage`, else `EDGEAUTH_CREDENTIAL_STORE`, else the
/// OS keyring.
pub(super) fn storage_choice(env: &Environment, args: &LoginArgs) -> Storage {
    args.storage
        .or(env.credential_store)
        .unwrap_or(Storage::Keyring)
}

/// What a login says on stderr about where its token went (nothing for an asked-for file).
pub(super) fn placement_note(placement: &Placement, path: &Path) -> Option<String> {
    match placement {
        Placement::Keyring => Some(format!(
            "The token is kept in the OS keyring (service `{}`); {} keeps the rest.",
            crate::os_keyring::SERVICE,
            path.display()
        )),
        Placement::File => None,
        Placement::FileInstead(why) => Some(format!(
            "warning: the OS keyring cannot be used ({}): the token is kept in {} (mode 0600) instead",
            sanitize(why),
            path.display()
        )),
    }
}

/// The credentials file's entry for the login's new token.
fn credential_of(exchanged: &CliExchangeResponse) -> StoredCredential {
    let issued = &exchanged.created.view.token;
    let mut credential = StoredCredential::new(exchanged.created.token.clone(), "user");
    credential.token_id = Some(issued.id.to_string());
    credential.prefix = Some(prefix_of(exchanged));
    credential.name = given(&issued.name).map(str::to_owned);
    credential.project = given(&issued.project).map(str::to_owned);
    credential.expires_at = issued.expires_at.clone();
    credential.user = stored_user(exchanged);
    credential.created_at = Some(edgeauth_core::time::rfc3339(crate::session::now_ms()));
    credential
}

/// The new token's display prefix: as the server gives it, else its first characters.
fn prefix_of(exchanged: &CliExchangeResponse) -> String {
    given(&exchanged.created.view.token.prefix).map_or_else(
        || {
            let token = exchanged.created.token.expose();
            token.chars().take(DISPLAY_PREFIX_CHARS).collect()
        },
        str::to_owned,
    )
}

/// The person the new token acts for, as the credentials file keeps them.
fn stored_user(exchanged: &CliExchangeResponse) -> Option<StoredUser> {
    exchanged
        .user
        .as_ref()
        .map(|user: &UserSummary| StoredUser {
            id: given(user.id.as_str()).map(str::to_owned),
            email: user.email.clone(),
            name: user.name.clone(),
        })
}

/// How the person is named: email, else name, else id.
pub(super) fn person(user: Option<&StoredUser>) -> String {
    user.and_then(|u| u.email.as_ref().or(u.name.as_ref()).or(u.id.as_ref()))
        .map_or_else(|| "an unnamed user".to_owned(), |s| sanitize(s))
}

/// Revokes the token a new login replaced, so that no live token is left that nobody holds.
/// Best effort: returns a line for stderr, or `None` when there is nothing worth saying.
pub(super) fn retire_previous(
    ctx: &Context,
    server: &ServerUrl,
    previous: &StoredCredential,
    new_id: Option<&str>,
    path: &Path,
) -> Option<String> {
    if new_id.is_some() && previous.token_id.as_deref() == new_id {
        return None;
    }
    if previous.kind == crate::session::ACCESS_KIND {
        return match revoke_stored(&ctx.client, previous, path) {
            Ok(Revocation::Revoked) => Some("Revoked the previous device login.".to_owned()),
            Ok(Revocation::AlreadyGone) => None,
            Ok(Revocation::NotRevocable(why)) => Some(format!(
                "note: the previous device login was replaced but not revoked ({why})"
            )),
            Err(e) => Some(format!(
                "warning: could not revoke the previous device login: {}; it ends when its refresh token expires",
                e.message
            )),
        };
    }
    let prefix = super::logout::prefix_of(previous);
    match revoke_stored(&ctx.client, previous, path) {
        Ok(Revocation::Revoked) => Some(format!(
            "Revoked the token of the previous login ({prefix}…)."
        )),
        Ok(Revocation::AlreadyGone) => None,
        Ok(Revocation::NotRevocable(why)) => Some(format!(
            "note: the previous login's token ({prefix}…) was replaced but not revoked ({why}); revoke it at {}",
            server.join("/account")
        )),
        Err(e) => Some(format!(
            "warning: could not revoke the previous login's token ({prefix}…): {}; revoke it with `edgeauth token revoke {}` or at {}",
            e.message,
            previous.token_id.as_deref().map_or("ID", |id| id),
            server.join("/account")
        )),
    }
}

/// When the new login's token expires, as the server decided (stderr, after the summary).
fn expiry_note(expires_at: Option<&str>) -> String {
    match expires_at {
        Some(at) => format!(
            "The token expires {} UTC; run `edgeauth login` again before then.",
            output::time(Some(at))
        ),
        None => "The token does not expire; `edgeauth logout` revokes it.".to_owned(),
    }
}

fn with_period(message: &str) -> String {
    if message.ends_with('.') {
        message.to_owned()
    } else {
        format!("{message}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_defaults_to_300_s_and_must_be_whole_seconds() {
        assert_eq!(login_timeout(None).unwrap(), Duration::from_secs(300));
        assert_eq!(login_timeout(Some("5")).unwrap(), Duration::from_secs(5));
        for bad in ["0", "-1", "1.5", "soon", "86401"] {
            let e = login_timeout(Some(bad)).unwrap_err();
            assert_eq!(e.status, ExitStatus::Config, "{bad}");
            assert!(
                e.message.contains("EDGEAUTH_LOGIN_TIMEOUT"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn state_and_verifier_are_256_bits_of_base64url() {
        let a = random_secret().unwrap();
        let b = random_secret().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        assert!(pkce::validate_verifier(a.expose()).is_ok());
        let challenge = pkce::s256_challenge(a.expose());
        assert!(pkce::validate_challenge(&challenge, Some("S256")).is_ok());
        assert!(pkce::verify(a.expose(), &challenge));
    }

    #[test]
    fn the_start_url_carries_every_parameter_percent_encoded() {
        let server = ServerUrl::parse("https://auth.example.com/edge/").unwrap();
        let url = start_url(
            &server,
            "http://127.0.0.1:5000/callback",
            &Secret::new("st-ate_1"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "edgeauth CLI on my laptop & co",
            Some("demo"),
        );
        assert_eq!(
            url,
            "https://auth.example.com/edge/api/auth/cli-start?\
             redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcallback&state=st-ate_1\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
             &code_challenge_method=S256&name=edgeauth%20CLI%20on%20my%20laptop%20%26%20co&project=demo"
        );
        let without_project = start_url(&server, "r", &Secret::new("s"), "c", "n", None);
        assert!(!without_project.contains("project="), "{without_project}");
    }

    #[test]
    fn token_names_fit_the_server_rule() {
        assert_eq!(token_name(Some("laptop\n")), "edgeauth CLI on laptop");
        assert_eq!(token_name(None), "edgeauth CLI");
        assert_eq!(token_name(Some(" \u{7}")), "edgeauth CLI");
        let long = token_name(Some(&"h".repeat(300)));
        assert_eq!(long.chars().count(), 100);
        assert!(long.starts_with("edgeauth CLI on hhh"));
    }

    #[test]
    fn the_person_is_named_by_email_then_name_then_id() {
        let mut user = StoredUser {
            id: Some("usr_1".into()),
            email: None,
            name: Some("Demo \u{1b}User".into()),
        };
        assert_eq!(person(Some(&user)), "Demo \u{FFFD}User");
        user.email = Some("demo@example.test".into());
        assert_eq!(person(Some(&user)), "demo@example.test");
        assert_eq!(person(None), "an unnamed user");
    }

    #[test]
    fn a_refusal_maps_to_exit_10_and_a_page() {
        let cancelled = Outcome::Refused {
            error: "access_denied".into(),
            description: None,
        };
        let server = ServerUrl::parse("http://127.0.0.1:8787").unwrap();
        let (e, page) = refusal(&cancelled, &server);
        assert_eq!(e.status, ExitStatus::LoginRefused);
        assert_eq!(e.message, "login denied in the browser; nothing was stored");
        assert!(!page.ok);
        let (e, _) = refusal(&Outcome::WrongState, &server);
        assert_eq!(e.status, ExitStatus::LoginRefused);
        assert!(e.message.contains("wrong state"), "{}", e.message);
        let (e, _) = refusal(
            &Outcome::Refused {
                error: "server_error".into(),
                description: Some("try\nlater".into()),
            },
            &server,
        );
        assert_eq!(
            e.message,
            "the server refused the login: server_error (try\u{FFFD}later)"
        );
        // A refusal with the server's reason: the person is told why, in both places.
        let refused = Outcome::Refused {
            error: "access_denied".into(),
            description: Some(
                "Your account is not in any of the teams allowed to sign in here.".into(),
            ),
        };
        let (e, page) = refusal(&refused, &server);
        assert_eq!(e.status, ExitStatus::LoginRefused);
        assert_eq!(
            e.message,
            "the server refused the sign-in: Your account is not in any of the teams allowed to sign in here; nothing was stored"
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("to use another account, choose it at http://127.0.0.1:8787/api/auth/login?prompt=select_account first, then run `edgeauth login` again; or ask the server's operator to let this one in")
        );
        assert_eq!(page.title, "Sign-in refused");
        assert!(
            page.detail.contains("not in any of the teams"),
            "{}",
            page.detail
        );
    }

    #[test]
    fn ssh_or_no_display_means_no_browser_here_unless_one_is_named() {
        let vars = |set: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                set.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let env = Environment::default();
        let ssh = vars(&[("SSH_TTY", "/dev/pts/3"), ("DISPLAY", ":0")]);
        assert_eq!(no_browser_here(&env, ssh), Some("this is an SSH session"));
        assert_eq!(no_browser_here(&env, vars(&[("DISPLAY", ":0")])), None);
        assert_eq!(
            no_browser_here(&env, vars(&[("WAYLAND_DISPLAY", "wayland-0")])),
            None
        );
        // An empty variable counts as unset.
        let empty = vars(&[("SSH_CONNECTION", ""), ("DISPLAY", ":0")]);
        assert_eq!(no_browser_here(&env, empty), None);
        let bare = no_browser_here(&env, vars(&[]));
        if cfg!(all(unix, not(target_os = "macos"))) {
            assert!(
                bare.is_some_and(|why| why.contains("no display")),
                "{bare:?}"
            );
        } else {
            assert_eq!(bare, None);
        }
        // A browser the person named is theirs to judge.
        let named = Environment {
            browser: Some("/usr/local/bin/my-browser".into()),
            ..Environment::default()
        };
        assert_eq!(
            no_browser_here(&named, vars(&[("SSH_TTY", "/dev/pts/3")])),
            None
        );
    }

    #[test]
    fn a_missing_browser_program_is_reported_not_fatal() {
        let e =
            open_browser(Some(Path::new("/nonexistent/edgeauth-browser")), "http://x").unwrap_err();
        assert!(e.starts_with("/nonexistent/edgeauth-browser: "), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_failing_browser_command_is_reported_once() {
        let mut browser = Some(open_browser(Some(Path::new("false")), "http://x").unwrap());
        let started = Instant::now();
        let warning = loop {
            if let Some(w) = browser_failure(&mut browser) {
                break w;
            }
            assert!(started.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(warning.contains("open the URL above yourself"), "{warning}");
        assert!(browser.is_none());
        assert!(browser_failure(&mut browser).is_none());
    }
}
