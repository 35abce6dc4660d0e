//! Where the server, project and token come from.
//!
//! Each setting is taken from the first of these that has it:
//!
//! | setting | 1 | 2 | 3 | 4 | otherwise |
//! |---|---|---|---|---|---|
//! | server  | `--server`  | `EDGEAUTH_SERVER`  | `server` in edgeauth.toml  | the last login's server (`default_server` in credentials.json) | error (exit 8) that says to run `edgeauth login --server URL` |
//! | project | `--project` | `EDGEAUTH_PROJECT` | `project` in edgeauth.toml | — | none: no `X-Project` header, the server's default project |
//! | token   | `--token`   | `EDGEAUTH_TOKEN`   | `token` in edgeauth.toml   | credentials stored for that server | none: no `Authorization` header |
//!
//! `edgeauth.toml` is looked for in the working directory, then in each parent up to the root;
//! the first one found is the only one read; a token in it draws a warning when the file is
//! readable by others or tracked by git ([`exposed_token_warnings`]). On Unix a file that
//! belongs to another user (not root), or that every user may write to, is refused (exit 8)
//! where it would choose the server or the token, as git refuses another user's repository:
//! it could name a server of theirs, and a token given by hand would go there; elsewhere it is
//! left out with a warning ([`untrusted_config`]). Its keys are `server`, `project` and `token`, all
//! optional; any other key is an error that names the file. An empty environment variable
//! counts as unset. Stored credentials are looked up under the normalised server URL (see
//! [`ServerUrl`]) in the credentials directory: `$EDGEAUTH_CONFIG_DIR` if set, else
//! `<user config dir>/edgeauth` (`~/.config/edgeauth` on Linux).
//!
//! [`resolve`] takes the environment and working directory as parameters, so tests never touch
//! the process environment.

use crate::credentials;
use crate::error::CliError;
use crate::os_keyring::Storage;
use crate::server_url::ServerUrl;
use edgeauth_core::secret::Secret;
use edgeauth_core::ProjectName;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The name of the per-directory configuration file.
pub const CONFIG_FILE_NAME: &str = "edgeauth.toml";

/// The server's project-name rule ([`ProjectName`]: `[a-z0-9][a-z0-9-]{0,62}`), checked before
/// anything is sent.
pub fn validate_project(name: &str) -> Result<(), String> {
    ProjectName::parse(name).map(drop).map_err(|_| {
        format!(
            "`{name}` is not a project name: use 1 to 63 of a-z, 0-9 and '-', not starting with '-'"
        )
    })
}

/// A token must be visible ASCII to travel in an `Authorization` header. The message never
/// repeats the token.
pub fn validate_token(token: &str) -> Result<(), String> {
    if token.is_empty() {
        Err("is empty".to_owned())
    } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
        Err("contains spaces, control or non-ASCII characters".to_owned())
    } else {
        Ok(())
    }
}

/// Where a setting came from; used in messages so the user knows what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    ConfigFile(PathBuf),
    StoredCredentials(PathBuf),
    /// The server of the last `edgeauth login`, kept in the credentials file at this path.
    LastLogin(PathBuf),
}

impl Source {
    /// How to name this source for the setting `key` (`server`, `project`, `token`).
    pub fn describe(&self, key: &str) -> String {
        match self {
            Source::Flag => format!("--{key}"),
            Source::Env => format!("EDGEAUTH_{}", key.to_ascii_uppercase()),
            Source::ConfigFile(path) => format!("`{key}` in {}", path.display()),
            Source::StoredCredentials(path) => {
                format!(
                    "the credentials stored by `edgeauth login` in {}",
                    path.display()
                )
            }
            Source::LastLogin(path) => format!(
                "the last `edgeauth login` (remembered in {})",
                path.display()
            ),
        }
    }

    /// A short, stable name for `--json`: `flag`, `env`, `edgeauth.toml`, `login`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::Env => "env",
            Source::ConfigFile(_) => CONFIG_FILE_NAME,
            Source::StoredCredentials(_) | Source::LastLogin(_) => "login",
        }
    }

    /// The file the setting was read from, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Source::Flag | Source::Env => None,
            Source::ConfigFile(path)
            | Source::StoredCredentials(path)
            | Source::LastLogin(path) => Some(path),
        }
    }
}

/// The global command-line options, before resolution.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub server: Option<String>,
    pub project: Option<String>,
    pub token: Option<Secret>,
}

/// The process environment as far as the CLI reads it.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub server: Option<String>,
    pub project: Option<String>,
    pub token: Option<Secret>,
    /// `EDGEAUTH_CONFIG_DIR`.
    pub config_dir: Option<PathBuf>,
    /// `EDGEAUTH_BROWSER`: the program `edgeauth login` opens the URL with.
    pub browser: Option<PathBuf>,
    /// `EDGEAUTH_LOGIN_TIMEOUT`, unparsed: seconds `edgeauth login` waits for the browser.
    pub login_timeout: Option<String>,
    /// The platform's user configuration directory (`dirs::config_dir`).
    pub user_config_dir: Option<PathBuf>,
    /// `EDGEAUTH_CREDENTIAL_STORE`: where `edgeauth login` keeps a new login's token.
    pub credential_store: Option<Storage>,
}

impl Environment {
    /// Reads `EDGEAUTH_SERVER`, `EDGEAUTH_PROJECT`, `EDGEAUTH_TOKEN`, `EDGEAUTH_CONFIG_DIR`,
    /// `EDGEAUTH_BROWSER` and `EDGEAUTH_LOGIN_TIMEOUT`; empty values count as unset.
    pub fn from_process() -> Result<Environment, CliError> {
        fn var(name: &str) -> Result<Option<String>, CliError> {
            match std::env::var(name) {
                Ok(v) if v.is_empty() => Ok(None),
                Ok(v) => Ok(Some(v)),
                Err(std::env::VarError::NotPresent) => Ok(None),
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(CliError::config(format!("{name} is not valid UTF-8")))
                }
            }
        }
        Ok(Environment {
            server: var("EDGEAUTH_SERVER")?,
            project: var("EDGEAUTH_PROJECT")?,
            token: var("EDGEAUTH_TOKEN")?.map(Secret::new),
            config_dir: std::env::var_os("EDGEAUTH_CONFIG_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            browser: std::env::var_os("EDGEAUTH_BROWSER")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            login_timeout: var("EDGEAUTH_LOGIN_TIMEOUT")?,
            user_config_dir: dirs::config_dir(),
            credential_store: var("EDGEAUTH_CREDENTIAL_STORE")?
                .map(|v| Storage::parse(&v).map_err(CliError::config))
                .transpose()?,
        })
    }

    /// The directory holding `credentials.json`, if one can be named.
    pub fn credentials_dir(&self) -> Option<PathBuf> {
        self.config_dir
            .clone()
            .or_else(|| self.user_config_dir.as_ref().map(|d| d.join("edgeauth")))
    }
}

/// The contents of an `edgeauth.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub server: Option<String>,
    pub project: Option<String>,
    pub token: Option<Secret>,
}

/// Why an `edgeauth.toml` cannot be trusted, if it cannot: on Unix, it belongs to another
/// user than the one running the CLI (root's files excepted, as OpenSSH excepts them), or
/// every user may write to it. Whoever can write it chooses the server that `--token` or
/// `EDGEAUTH_TOKEN` is sent to. (Group-writable is allowed: with a umask of 002, a user's own
/// group is theirs alone.) `meta` is the opened file's own, so that the file judged is the
/// file read.
#[cfg(unix)]
fn untrusted_config(meta: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        Some(format!(
            "it belongs to another user (uid {}, not {me})",
            meta.uid()
        ))
    } else if meta.mode() & 0o002 != 0 {
        Some(format!(
            "every user may write to it (mode {:o})",
            meta.mode() & 0o777
        ))
    } else {
        None
    }
}

/// Elsewhere files have no such owner and mode: every file is taken as it is.
#[cfg(not(unix))]
fn untrusted_config(_meta: &std::fs::Metadata) -> Option<String> {
    None
}

/// An `edgeauth.toml` found, and why it cannot be trusted, if it cannot
/// ([`untrusted_config`]); [`resolve`] decides what that means.
struct FoundConfig {
    path: PathBuf,
    file: ConfigFile,
    untrusted: Option<String>,
}

/// The nearest `edgeauth.toml` at or above `cwd`, parsed; `None` if there is none. It is
/// opened once, and judged and read through that one handle.
fn find_config_file(cwd: &Path) -> Result<Option<FoundConfig>, CliError> {
    use std::io::Read;
    for dir in cwd.ancestors() {
        let path = dir.join(CONFIG_FILE_NAME);
        let cannot_read =
            |e: std::io::Error| CliError::config(format!("cannot read {}: {e}", path.display()));
        let mut opened = match std::fs::File::open(&path) {
            Ok(opened) => opened,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            // A directory that happens to be named edgeauth.toml is not a config file.
            Err(_) if path.is_dir() => continue,
            Err(e) => return Err(cannot_read(e)),
        };
        let meta = opened.metadata().map_err(cannot_read)?;
        if meta.is_dir() {
            continue;
        }
        let mut text = String::new();
        opened.read_to_string(&mut text).map_err(cannot_read)?;
        let file = toml::from_str::<ConfigFile>(&text).map_err(|e| {
            CliError::config(format!("{} is not valid: {}", path.display(), e.message()))
                .with_hint("its keys are `server`, `project` and `token` (all strings)")
        })?;
        return Ok(Some(FoundConfig {
            untrusted: untrusted_config(&meta),
            path,
            file,
        }));
    }
    Ok(None)
}

/// A token together with where it came from (for hints after a 401).
#[derive(Debug, Clone)]
pub struct ResolvedToken {
    pub secret: Secret,
    pub source: Source,
}

/// Everything a command needs to talk to the server.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerUrl,
    pub server_source: Source,
    pub project: Option<String>,
    pub token: Option<ResolvedToken>,
    /// Things worth telling the user on stderr (a loose credentials file, plain http).
    pub warnings: Vec<String>,
}

/// What the command does with a token, which decides what [`resolve`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// It sends the token with its requests: everything but `login` and `logout`.
    Requests,
    /// `login` and `logout`: they send no token of the settings (a login asks anonymously and
    /// stores a new one; a logout revokes the stored one, which it reads itself). A token
    /// given by hand is kept only to warn that it takes precedence; the stored one is not
    /// read (a locked keyring must not stop a login).
    SignInOrOut,
}

/// Applies the order in the module doc.
pub fn resolve(
    flags: &Flags,
    env: &Environment,
    cwd: &Path,
    purpose: Purpose,
) -> Result<Settings, CliError> {
    let mut found = find_config_file(cwd)?;
    // An untrusted file is refused where it would choose the server or the token, and
    // otherwise left out with a warning.
    let mut ignored = None;
    if let Some(FoundConfig {
        path,
        file,
        untrusted: Some(why),
    }) = &found
    {
        let chooses_server =
            flags.server.is_none() && env.server.is_none() && file.server.is_some();
        let chooses_token = flags.token.is_none() && env.token.is_none() && file.token.is_some();
        if chooses_server || chooses_token {
            return Err(CliError::config(format!("{} is not used: {why}", path.display()))
                .with_hint(
                    "make it yours and not writable by everyone (chown, chmod o-w), remove it, or run edgeauth from another directory",
                ));
        }
        ignored = Some(format!("{} is not used: {why}", path.display()));
        found = None;
    }
    let (file_path, file) = match &found {
        Some(found) => (Some(found.path.clone()), Some(&found.file)),
        None => (None, None),
    };
    let file_source = || Source::ConfigFile(file_path.clone().unwrap_or_default());
    let pick = |flag: &Option<String>, env: &Option<String>, file: Option<&String>| {
        flag.clone()
            .map(|v| (v, Source::Flag))
            .or_else(|| env.clone().map(|v| (v, Source::Env)))
            .or_else(|| file.cloned().map(|v| (v, file_source())))
    };

    // The token first: a token given by hand never goes to the server of the last login.
    let explicit_token = flags
        .token
        .clone()
        .map(|t| (t, Source::Flag))
        .or_else(|| env.token.clone().map(|t| (t, Source::Env)))
        .or_else(|| {
            file.and_then(|f| f.token.clone())
                .map(|t| (t, file_source()))
        });
    // Read at most once, and only when a setting needs it.
    let mut stored = StoredLogins::new(env);

    let given = pick(
        &flags.server,
        &env.server,
        file.and_then(|f| f.server.as_ref()),
    );
    let (server, server_source) = match given {
        Some(given) => given,
        None => {
            let sent_by_hand = explicit_token
                .as_ref()
                .filter(|_| purpose == Purpose::Requests);
            if let Some((_, source)) = sent_by_hand {
                // Only for the message: a credentials file that cannot be read must not hide it.
                let last = stored.last_login_server().ok().flatten();
                return Err(token_without_server(
                    source,
                    last.as_ref().map(|(url, _)| url.as_str()),
                ));
            }
            let last = stored.last_login_server()?;
            let Some(last) = last else {
                return Err(CliError::config("no server given").with_hint(
                    "run `edgeauth login --server URL` once (the server is remembered), or pass --server URL, set EDGEAUTH_SERVER, or put `server = \"https://…\"` in an edgeauth.toml in this directory or a parent",
                ));
            };
            last
        }
    };
    let server = ServerUrl::parse(&server).map_err(|e| {
        CliError::config(format!(
            "bad server URL from {}: {e}",
            server_source.describe("server")
        ))
    })?;

    let project = pick(
        &flags.project,
        &env.project,
        file.and_then(|f| f.project.as_ref()),
    );
    if let Some((name, source)) = &project {
        validate_project(name).map_err(|e| {
            CliError::config(format!(
                "bad project from {}: {e}",
                source.describe("project")
            ))
        })?;
    }

    let mut warnings: Vec<String> = ignored.into_iter().collect();
    if server.is_plain_http_off_loopback() {
        warnings.push(format!(
            "{server} uses plain http off loopback: tokens would cross the network unencrypted; use https"
        ));
    }

    if let Some((_, Source::ConfigFile(path))) = &explicit_token {
        warnings.extend(exposed_token_warnings(path));
    }
    let token = match (explicit_token, purpose) {
        (Some((secret, source)), _) => Some(ResolvedToken { secret, source }),
        (None, Purpose::Requests) => stored.token(&server, &mut warnings)?,
        (None, Purpose::SignInOrOut) => None,
    };
    if let Some(token) = &token {
        validate_token(token.secret.expose()).map_err(|e| {
            CliError::config(format!(
                "the token from {} {e}",
                token.source.describe("token")
            ))
        })?;
    }

    Ok(Settings {
        server,
        server_source,
        project: project.map(|(name, _)| name),
        token,
        warnings,
    })
}

/// Warnings for an edgeauth.toml whose token others can read: a file readable by group or
/// others (Unix mode), or one tracked by git (it would be committed and pushed with the
/// project). `git` is asked only if it can be run; any failure of it means "not tracked".
pub fn exposed_token_warnings(path: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o044 != 0 {
                warnings.push(format!(
                    "{} holds a token and is readable by other users (mode {mode:03o}): run `chmod 600 {}`, or move the token to EDGEAUTH_TOKEN or `edgeauth login`",
                    path.display(),
                    path.display()
                ));
            }
        }
    }
    if is_tracked_by_git(path) {
        warnings.push(format!(
            "{} holds a token and is tracked by git: anyone with the repository has it; remove the token from the file (and the history), revoke it, and use EDGEAUTH_TOKEN or `edgeauth login`",
            path.display()
        ));
    }
    warnings
}

/// `git ls-files --error-unmatch FILE` in the file's directory succeeds.
///
/// That directory may be an untrusted checkout or archive, whose `.git/config` can name a
/// program git would run (`core.fsmonitor` on reading the index, hooks): those are switched
/// off on the command line, which overrides the repository's config, and the system config is
/// not read. The user's own global config is kept (`safe.directory` and the like are theirs).
fn is_tracked_by_git(path: &Path) -> bool {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return false;
    };
    std::process::Command::new("git")
        .args(["-c", "core.fsmonitor=", "-c", "core.hooksPath=/dev/null"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .arg("ls-files")
        .arg("--error-unmatch")
        .arg("--")
        .arg(name)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The refusal of a token given by hand (`--token`, `EDGEAUTH_TOKEN`, `token` in an
/// edgeauth.toml) when no setting names a server: like gh, a token belongs to its server, and
/// the last login's server is only ever used with that server's own stored login.
fn token_without_server(source: &Source, last_login: Option<&str>) -> CliError {
    let (given, set) = match source {
        Source::Flag => (
            "--token is given".to_owned(),
            "pass --server URL or set EDGEAUTH_SERVER",
        ),
        Source::ConfigFile(path) => (
            format!("{} holds a token", path.display()),
            "add `server = \"https://…\"` to that file, set EDGEAUTH_SERVER or pass --server",
        ),
        _ => (
            "EDGEAUTH_TOKEN is set".to_owned(),
            "set EDGEAUTH_SERVER or pass --server",
        ),
    };
    let why = match last_login {
        Some(last_login) => format!(
            " (the last login's server, {last_login}, is not used for a token given by hand)"
        ),
        None => String::new(),
    };
    CliError::config(format!("{given} but no server is: {set}{why}"))
}

/// The credentials file, read when a setting first needs it: the keyring is asked only for
/// the secrets of the login that is used ([`credentials::load`] reads no secret).
struct StoredLogins<'a> {
    env: &'a Environment,
    loaded: Option<(PathBuf, credentials::CredentialStore)>,
}

impl<'a> StoredLogins<'a> {
    fn new(env: &'a Environment) -> Self {
        StoredLogins { env, loaded: None }
    }

    fn store(&mut self) -> Result<Option<&mut (PathBuf, credentials::CredentialStore)>, CliError> {
        if self.loaded.is_none() {
            let Some(dir) = self.env.credentials_dir() else {
                return Ok(None);
            };
            let store = credentials::load(&dir)?;
            self.loaded = Some((dir, store));
        }
        Ok(self.loaded.as_mut())
    }

    /// The server of the last successful login, when no setting names one.
    fn last_login_server(&mut self) -> Result<Option<(String, Source)>, CliError> {
        let Some((dir, store)) = self.store()? else {
            return Ok(None);
        };
        Ok(store.default_server().map(|url| {
            (
                url.as_str().to_owned(),
                Source::LastLogin(credentials::file_path(dir)),
            )
        }))
    }

    /// The token of the login stored for `server`, its secrets read from the keyring now if
    /// it is kept there.
    fn token(
        &mut self,
        server: &ServerUrl,
        warnings: &mut Vec<String>,
    ) -> Result<Option<ResolvedToken>, CliError> {
        let Some((dir, store)) = self.store()? else {
            return Ok(None);
        };
        let path = credentials::file_path(dir);
        store.read_secrets(server);
        let Some(credential) = store.get(server) else {
            return Ok(None);
        };
        if let Some(e) = credential.unreadable(server) {
            return Err(e);
        }
        warnings.extend(credentials::permission_warning(&path));
        Ok(Some(ResolvedToken {
            secret: credential.token.clone(),
            source: Source::StoredCredentials(path),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{CredentialStore, StoredCredential};

    #[test]
    fn project_names_follow_the_server_rule() {
        for good in ["default", "a", "0", "my-project-2", &"a".repeat(63)] {
            assert!(validate_project(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "A", "my_project", "a b", &"a".repeat(64), "é"] {
            assert!(validate_project(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_validation_never_echoes_the_token() {
        let err = validate_token("eas_secret with space").unwrap_err();
        assert!(!err.contains("secret"));
        assert!(validate_token("").is_err());
        assert!(validate_token("eas_ok\n").is_err());
        assert!(validate_token("eas_AbC123").is_ok());
    }

    struct Fixture {
        _root: tempfile::TempDir,
        base: PathBuf,
        config_dir: PathBuf,
    }

    impl Fixture {
        fn new() -> Fixture {
            let root = tempfile::tempdir().unwrap();
            let base = root.path().join("proj");
            let config_dir = root.path().join("config");
            std::fs::create_dir_all(base.join("a/b/c")).unwrap();
            Fixture {
                _root: root,
                base,
                config_dir,
            }
        }

        fn env(&self) -> Environment {
            Environment {
                config_dir: Some(self.config_dir.clone()),
                ..Environment::default()
            }
        }

        fn write_toml(&self, rel: &str, text: &str) -> PathBuf {
            let path = self.base.join(rel).join(CONFIG_FILE_NAME);
            std::fs::write(&path, text).unwrap();
            path
        }

        fn store(&self, server: &str, token: &str) {
            let mut store = CredentialStore::default();
            store.insert(
                &ServerUrl::parse(server).unwrap(),
                StoredCredential::new(Secret::new(token), "user"),
            );
            credentials::save(&self.config_dir, &store).unwrap();
        }
    }

    fn token_of(settings: &Settings) -> (&str, &Source) {
        let t = settings.token.as_ref().expect("a token");
        (t.secret.expose(), &t.source)
    }

    #[test]
    fn flag_beats_env_beats_toml_beats_stored() {
        let fx = Fixture::new();
        let toml = fx.write_toml(
            "",
            "server = \"http://127.0.0.1:1\"\nproject = \"fromtoml\"\ntoken = \"tok_toml\"\n",
        );
        fx.store("http://127.0.0.1:1", "tok_stored");
        let flags = Flags {
            server: Some("http://127.0.0.1:3".into()),
            project: Some("fromflag".into()),
            token: Some(Secret::new("tok_flag")),
        };
        let env = Environment {
            server: Some("http://127.0.0.1:2".into()),
            project: Some("fromenv".into()),
            token: Some(Secret::new("tok_env")),
            ..fx.env()
        };
        let cwd = fx.base.join("a/b/c");

        let s = resolve(&flags, &env, &cwd, Purpose::Requests).unwrap();
        assert_eq!(s.server.as_str(), "http://127.0.0.1:3");
        assert_eq!(s.server_source, Source::Flag);
        assert_eq!(s.project.as_deref(), Some("fromflag"));
        assert_eq!(token_of(&s), ("tok_flag", &Source::Flag));

        let s = resolve(&Flags::default(), &env, &cwd, Purpose::Requests).unwrap();
        assert_eq!(s.server.as_str(), "http://127.0.0.1:2");
        assert_eq!(s.server_source, Source::Env);
        assert_eq!(s.project.as_deref(), Some("fromenv"));
        assert_eq!(token_of(&s), ("tok_env", &Source::Env));

        let s = resolve(&Flags::default(), &fx.env(), &cwd, Purpose::Requests).unwrap();
        assert_eq!(s.server.as_str(), "http://127.0.0.1:1");
        assert_eq!(s.server_source, Source::ConfigFile(toml.clone()));
        assert_eq!(s.project.as_deref(), Some("fromtoml"));
        assert_eq!(
            token_of(&s),
            ("tok_toml", &Source::ConfigFile(toml.clone()))
        );

        // Without a token in the toml, the stored credential for that server is used.
        fx.write_toml("", "server = \"HTTP://127.0.0.1:1/\"\n");
        let s = resolve(&Flags::default(), &fx.env(), &cwd, Purpose::Requests).unwrap();
        assert_eq!(s.project, None);
        let (token, source) = token_of(&s);
        assert_eq!(token, "tok_stored");
        assert!(matches!(source, Source::StoredCredentials(_)));
    }

    #[test]
    fn stored_credentials_are_per_server() {
        let fx = Fixture::new();
        fx.store("https://other.example.com", "tok_other");
        let flags = Flags {
            server: Some("https://auth.example.com".into()),
            ..Flags::default()
        };
        let s = resolve(&flags, &fx.env(), &fx.base, Purpose::Requests).unwrap();
        assert!(s.token.is_none());

        fx.store("https://Auth.Example.com/", "tok_auth");
        let s = resolve(&flags, &fx.env(), &fx.base, Purpose::Requests).unwrap();
        assert_eq!(token_of(&s).0, "tok_auth");
    }

    #[test]
    fn env_only_and_no_token_anywhere() {
        let fx = Fixture::new();
        let env = Environment {
            server: Some("https://auth.example.com".into()),
            ..fx.env()
        };
        let s = resolve(&Flags::default(), &env, &fx.base, Purpose::Requests).unwrap();
        assert_eq!(s.server_source, Source::Env);
        assert!(s.token.is_none());
        assert!(s.project.is_none());
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn the_nearest_toml_wins() {
        let fx = Fixture::new();
        fx.write_toml("", "server = \"https://outer.example.com\"\n");
        let inner = fx.write_toml("a/b", "server = \"https://inner.example.com\"\n");
        let env = fx.env();

        let s = resolve(
            &Flags::default(),
            &env,
            &fx.base.join("a/b/c"),
            Purpose::Requests,
        )
        .unwrap();
        assert_eq!(s.server.as_str(), "https://inner.example.com");
        assert_eq!(s.server_source, Source::ConfigFile(inner));

        let s = resolve(
            &Flags::default(),
            &env,
            &fx.base.join("a"),
            Purpose::Requests,
        )
        .unwrap();
        assert_eq!(s.server.as_str(), "https://outer.example.com");

        // The first file found is the only one read: the inner file has no project, and the
        // outer one's is not merged in.
        fx.write_toml(
            "",
            "server = \"https://outer.example.com\"\nproject = \"outer\"\n",
        );
        let s = resolve(
            &Flags::default(),
            &env,
            &fx.base.join("a/b/c"),
            Purpose::Requests,
        )
        .unwrap();
        assert_eq!(s.project, None);
    }

    #[test]
    fn a_directory_named_like_the_file_is_skipped() {
        let fx = Fixture::new();
        fx.write_toml("", "server = \"https://outer.example.com\"\n");
        std::fs::create_dir(fx.base.join("a").join(CONFIG_FILE_NAME)).unwrap();
        let s = resolve(
            &Flags::default(),
            &fx.env(),
            &fx.base.join("a/b"),
            Purpose::Requests,
        )
        .unwrap();
        assert_eq!(s.server.as_str(), "https://outer.example.com");
    }

    #[test]
    fn unknown_toml_keys_are_an_error_naming_the_file() {
        let fx = Fixture::new();
        let path = fx.write_toml(
            "a",
            "server = \"https://x.example.com\"\nservr = \"typo\"\n",
        );
        let err = resolve(
            &Flags::default(),
            &fx.env(),
            &fx.base.join("a/b"),
            Purpose::Requests,
        )
        .unwrap_err();
        assert_eq!(err.status, crate::error::ExitStatus::Config);
        assert!(
            err.message.contains(&path.display().to_string()),
            "{}",
            err.message
        );
        assert!(err.message.contains("servr"), "{}", err.message);
    }

    #[test]
    fn malformed_toml_is_a_config_error() {
        let fx = Fixture::new();
        fx.write_toml("", "server = 42\n");
        let err = resolve(&Flags::default(), &fx.env(), &fx.base, Purpose::Requests).unwrap_err();
        assert_eq!(err.status, crate::error::ExitStatus::Config);
        // A bad file is an error even when every setting is also given elsewhere.
        let flags = Flags {
            server: Some("https://x.example.com".into()),
            ..Flags::default()
        };
        assert!(resolve(&flags, &fx.env(), &fx.base, Purpose::Requests).is_err());
    }

    #[test]
    fn no_server_is_a_config_error_with_a_hint() {
        let fx = Fixture::new();
        let err = resolve(&Flags::default(), &fx.env(), &fx.base, Purpose::Requests).unwrap_err();
        assert_eq!(err.status, crate::error::ExitStatus::Config);
        let hint = err.hint.unwrap();
        assert!(hint.contains("edgeauth login --server URL"), "{hint}");
        assert!(hint.contains("--server") && hint.contains("EDGEAUTH_SERVER"));
        assert!(hint.contains("edgeauth.toml"));
    }

    #[test]
    fn bad_values_name_their_source() {
        let fx = Fixture::new();
        let path = fx.write_toml(
            "",
            "server = \"https://x.example.com\"\nproject = \"Bad_Name\"\n",
        );
        let err = resolve(&Flags::default(), &fx.env(), &fx.base, Purpose::Requests).unwrap_err();
        assert!(
            err.message.contains(&path.display().to_string()),
            "{}",
            err.message
        );

        let env = Environment {
            server: Some("not a url".into()),
            ..fx.env()
        };
        let err = resolve(&Flags::default(), &env, &fx.base, Purpose::Requests).unwrap_err();
        assert!(err.message.contains("EDGEAUTH_SERVER"), "{}", err.message);

        fx.write_toml("", "server = \"https://x.example.com\"\n");
        let env = Environment {
            token: Some(Secret::new("tok en")),
            ..fx.env()
        };
        let err = resolve(&Flags::default(), &env, &fx.base, Purpose::Requests).unwrap_err();
        assert!(err.message.contains("EDGEAUTH_TOKEN"), "{}", err.message);
        assert!(!err.message.contains("tok en"));
    }

    #[cfg(unix)]
    #[test]
    fn a_toml_token_readable_by_others_warns_with_the_path() {
        use std::os::unix::fs::PermissionsExt;
        let fx = Fixture::new();
        let path = fx.write_toml(
            "",
            "server = \"https://x.example.com\"\ntoken = \"eas_t\"\n",
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = resolve(
            &Flags::default(),
            &fx.env(),
            &fx.base.join("a/b"),
            Purpose::Requests,
        )
        .unwrap();
        let warning = s
            .warnings
            .iter()
            .find(|w| w.contains("readable by other users"));
        let warning = warning.expect("a warning");
        assert!(warning.contains(&path.display().to_string()), "{warning}");
        assert!(warning.contains("mode 644"), "{warning}");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = resolve(&Flags::default(), &fx.env(), &fx.base, Purpose::Requests).unwrap();
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        // Without a token, a world-readable file is fine.
        let path = fx.write_toml("", "server = \"https://x.example.com\"\n");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = resolve(&Flags::default(), &fx.env(), &fx.base, Purpose::Requests).unwrap();
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn the_last_login_is_the_server_when_none_is_given() {
        let fx = Fixture::new();
        let mut store = CredentialStore::default();
        store.insert_login(
            &ServerUrl::parse("http://localhost:8787").unwrap(),
            StoredCredential::new(Secret::new("eau_stored"), "user"),
            Storage::File,
        );
        credentials::save(&fx.config_dir, &store).unwrap();
        let s = resolve(&Flags::default(), &fx.env(), &fx.base, Purpose::Requests).unwrap();
        assert_eq!(s.server.as_str(), "http://localhost:8787");
        assert!(matches!(s.server_source, Source::LastLogin(_)));
        assert_eq!(token_of(&s).0, "eau_stored");
        // 127.0.0.1 is the same server: the same login.
        let flags = Flags {
            server: Some("http://127.0.0.1:8787".into()),
            ..Flags::default()
        };
        let s = resolve(&flags, &fx.env(), &fx.base, Purpose::Requests).unwrap();
        assert_eq!(s.server.as_str(), "http://127.0.0.1:8787");
        assert_eq!(token_of(&s).0, "eau_stored");
        // A setting still wins over the remembered server.
        let env = Environment {
            server: Some("https://other.example.com".into()),
            ..fx.env()
        };
        let s = resolve(&Flags::default(), &env, &fx.base, Purpose::Requests).unwrap();
        assert_eq!(s.server.as_str(), "https://other.example.com");
        assert!(s.token.is_none());
    }

    #[test]
    fn a_token_given_by_hand_never_goes_to_the_last_logins_server() {
        let fx = Fixture::new();
        let mut store = CredentialStore::default();
        store.insert_login(
            &ServerUrl::parse("https://staging.example.com").unwrap(),
            StoredCredential::new(Secret::new("eau_staging"), "user"),
            Storage::File,
        );
        credentials::save(&fx.config_dir, &store).unwrap();
        let refused = |flags: &Flags, env: &Environment| {
            let err = resolve(flags, env, &fx.base, Purpose::Requests).unwrap_err();
            assert_eq!(err.status, crate::error::ExitStatus::Config);
            assert!(
                err.message.ends_with(
                    "(the last login's server, https://staging.example.com, is not used for a token given by hand)"
                ),
                "{}",
                err.message
            );
            assert!(!err.to_string().contains("eas_prod"), "{err}");
            err.message
        };

        let env = Environment {
            token: Some(Secret::new("eas_prod")),
            ..fx.env()
        };
        let message = refused(&Flags::default(), &env);
        assert!(
            message.starts_with(
                "EDGEAUTH_TOKEN is set but no server is: set EDGEAUTH_SERVER or pass --server"
            ),
            "{message}"
        );
        let flags = Flags {
            token: Some(Secret::new("eas_prod")),
            ..Flags::default()
        };
        let message = refused(&flags, &fx.env());
        assert!(
            message.starts_with("--token is given but no server is"),
            "{message}"
        );
        let toml = fx.write_toml("", "token = \"eas_prod\"\n");
        let message = refused(&Flags::default(), &fx.env());
        assert!(
            message.starts_with(&format!(
                "{} holds a token but no server is: add `server = ",
                toml.display()
            )),
            "{message}"
        );

        // Named, the server gets the token given by hand.
        let env = Environment {
            server: Some("https://prod.example.com".into()),
            ..env
        };
        let s = resolve(&Flags::default(), &env, &fx.base, Purpose::Requests).unwrap();
        assert_eq!(s.server.as_str(), "https://prod.example.com");
        assert_eq!(token_of(&s).0, "eas_prod");
        // And the last login's server still gets its own stored login.
        std::fs::remove_file(&toml).unwrap();
        let s = resolve(&Flags::default(), &fx.env(), &fx.base, Purpose::Requests).unwrap();
        assert_eq!(s.server.as_str(), "https://staging.example.com");
        assert_eq!(token_of(&s).0, "eau_staging");

        // `login` and `logout` send no token of the settings: EDGEAUTH_TOKEN does not stop them
        // at the last login's server, and the stored login is not read for them.
        let env = Environment {
            token: Some(Secret::new("eas_prod")),
            ..fx.env()
        };
        let s = resolve(&Flags::default(), &env, &fx.base, Purpose::SignInOrOut).unwrap();
        assert_eq!(s.server.as_str(), "https://staging.example.com");
        assert_eq!(
            token_of(&s).0,
            "eas_prod",
            "kept, to warn that it takes precedence"
        );
        let s = resolve(&Flags::default(), &fx.env(), &fx.base, Purpose::SignInOrOut).unwrap();
        assert!(s.token.is_none(), "the stored login is not read");
    }

    #[test]
    fn a_token_given_by_hand_without_any_server_says_so_before_any_login() {
        let fx = Fixture::new();
        let env = Environment {
            token: Some(Secret::new("eas_prod")),
            ..fx.env()
        };
        let err = resolve(&Flags::default(), &env, &fx.base, Purpose::Requests).unwrap_err();
        assert_eq!(err.status, crate::error::ExitStatus::Config);
        assert_eq!(
            err.message,
            "EDGEAUTH_TOKEN is set but no server is: set EDGEAUTH_SERVER or pass --server"
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_edgeauth_toml_anyone_may_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let fx = Fixture::new();
        let toml = fx.write_toml("", "server = \"https://evil.example\"\n");
        std::fs::set_permissions(&toml, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = resolve(&Flags::default(), &fx.env(), &fx.base, Purpose::Requests).unwrap_err();
        assert_eq!(err.status, crate::error::ExitStatus::Config);
        assert_eq!(
            err.message,
            format!(
                "{} is not used: every user may write to it (mode 666)",
                toml.display()
            )
        );
        // Where it would choose nothing (the server named elsewhere), it is left out, said.
        let env = Environment {
            server: Some("https://auth.example.com".into()),
            ..fx.env()
        };
        let s = resolve(&Flags::default(), &env, &fx.base, Purpose::Requests).unwrap();
        assert_eq!(s.server.as_str(), "https://auth.example.com");
        assert_eq!(
            s.warnings,
            [format!(
                "{} is not used: every user may write to it (mode 666)",
                toml.display()
            )]
        );
        // Group-writable is the user's own group with a umask of 002: used.
        std::fs::set_permissions(&toml, std::fs::Permissions::from_mode(0o664)).unwrap();
        let s = resolve(&Flags::default(), &fx.env(), &fx.base, Purpose::Requests).unwrap();
        assert_eq!(s.server.as_str(), "https://evil.example");

        // Another user's file (only root can give one away; CI runs as root).
        match std::os::unix::fs::chown(&toml, Some(65534), None) {
            Ok(()) => {
                let err =
                    resolve(&Flags::default(), &fx.env(), &fx.base, Purpose::Requests).unwrap_err();
                assert_eq!(err.status, crate::error::ExitStatus::Config);
                assert!(
                    err.message.ends_with(&format!(
                        "is not used: it belongs to another user (uid 65534, not {})",
                        rustix::process::geteuid().as_raw()
                    )),
                    "{}",
                    err.message
                );
            }
            Err(e) => eprintln!("not root ({e}): another user's edgeauth.toml was not tried"),
        }
    }

    #[test]
    fn plain_http_off_loopback_warns() {
        let fx = Fixture::new();
        for (server, warns) in [
            ("http://auth.example.com", true),
            ("https://auth.example.com", false),
            ("http://127.0.0.1:8787", false),
            ("http://localhost:8787", false),
            ("http://[::1]:8787", false),
        ] {
            let flags = Flags {
                server: Some(server.into()),
                ..Flags::default()
            };
            let s = resolve(&flags, &fx.env(), &fx.base, Purpose::Requests).unwrap();
            assert_eq!(!s.warnings.is_empty(), warns, "{server}");
        }
    }

    #[test]
    fn credentials_dir_prefers_the_env_override() {
        let env = Environment {
            config_dir: Some("/x/override".into()),
            user_config_dir: Some("/home/u/.config".into()),
            ..Environment::default()
        };
        assert_eq!(env.credentials_dir(), Some(PathBuf::from("/x/override")));
        let env = Environment {
            user_config_dir: Some("/home/u/.config".into()),
            ..Environment::default()
        };
        assert_eq!(
            env.credentials_dir(),
            Some(PathBuf::from("/home/u/.config/edgeauth"))
        );
    }

    #[test]
    fn settings_debug_redacts_the_token() {
        let fx = Fixture::new();
        let flags = Flags {
            server: Some("https://auth.example.com".into()),
            token: Some(Secret::new("eas_verysecret")),
            ..Flags::default()
        };
        let s = resolve(&flags, &fx.env(), &fx.base, Purpose::Requests).unwrap();
        let shown = format!("{s:?} {flags:?}");
        assert!(!shown.contains("verysecret"), "{shown}");
    }
}
