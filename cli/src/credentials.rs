//! The credentials `edgeauth login` stores, one per server.
//!
//! File: `<dir>/credentials.json`, where `<dir>` is `$EDGEAUTH_CONFIG_DIR` or
//! `<user config dir>/edgeauth` (see [`crate::config`]):
//!
//! ```json
//! {
//!   "version": 1,
//!   "servers": {
//!     "https://auth.example.com": {
//!       "token": "eau_…", "kind": "user", "token_id": "ut_…", "prefix": "eau_AbCdEfGh",
//!       "name": "edgeauth CLI on laptop", "project": "default",
//!       "user": {"id": "usr_…", "email": "demo@example.test", "name": "Demo User"},
//!       "created_at": "2026-11-24T10:00:00Z"
//!     }
//!   }
//! }
//! ```
//!
//! Keys are server keys ([`ServerUrl::key`]: the normalised URL, with `localhost`, `127.0.0.1`
//! and `[::1]` written `127.0.0.1`); a hand-edited key with a trailing slash or upper-case host
//! still matches, and an entry under an older key (`http://localhost:8787`) is re-keyed on load
//! and keeps the URL it was made for in `server`. `default_server` is the URL of the last
//! successful login, which commands use when nothing else names a server.
//!
//! A login kept in the OS keyring ([`crate::os_keyring`]) has `"storage": "keyring"` and no
//! `token` or `refresh_token` here. [`load`] reads the file only, never the keyring (on macOS
//! each read may raise a Keychain prompt, and a locked keyring asks to be unlocked): the
//! secrets of the one login in use are read with [`CredentialStore::read_secrets`] (or
//! [`load_for`]). [`save`] writes a login's secrets to the keyring when they are new (a login)
//! or changed (a refresh), before the file, and deletes the items of logins removed after it.
//! Fields other than `token` and `kind` are optional, and fields
//! this version does not know are kept when the file is rewritten. That is why `name`,
//! `project`, `user` and `created_at` (added with `edgeauth login`) needed no version bump: an
//! older file without them reads as before, and an older edgeauth keeps them untouched.
//! `created_at` is the CLI's clock at login (the exchange response has no creation time).
//!
//! A device login (`edgeauth login --device`) is stored with `"kind": "access"`: `token` is the
//! short-lived access token (`eaa_…`), `expires_at` its expiry, and `refresh_token` (`ear_…`)
//! the rotating refresh token that [`crate::session`] trades for the next pair.
//!
//! Every read-modify-write of the file ([`update`]) holds an exclusive lock on
//! `<dir>/credentials.json.lock` (`flock` on Unix, released by the OS if the process dies, so
//! it is never stale): two edgeauth processes never both present the same refresh token (the
//! server would take the second presentation for reuse and revoke the login), and a login
//! written meanwhile is never lost to another process's rewrite.
//!
//! On Unix the directory is created 0700 and the file is always 0600. Saving is atomic: the
//! new contents go to a temporary file in the same directory, created 0600 (never briefly
//! wider), fsynced, then renamed over the old file, and the directory is fsynced; a reader sees
//! the old file or the new one, never a mix, and a crash leaves no half-written credentials.

use crate::error::CliError;
use crate::os_keyring::{self, KeptSecrets, Storage};
use crate::server_url::ServerUrl;
use edgeauth_core::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "credentials.json";
pub const LOCK_FILE_NAME: &str = "credentials.json.lock";
const VERSION: u32 = 1;
/// How long to wait for another edgeauth process to release the lock (it holds it for at most
/// one request, which times out after 30 s).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

pub fn file_path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// One server's stored credential.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCredential {
    /// Empty in the file when the secrets are in the OS keyring (`storage`); filled in on load.
    #[serde(default = "no_secret", skip_serializing_if = "is_empty")]
    pub token: Secret,
    /// `user` for a user API token (loopback login), `access` for a device login's access token.
    pub kind: String,
    /// `access` only: the rotating refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The token's name on the server, e.g. `edgeauth CLI on laptop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The project the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The person the token acts for, as the server named them at login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<StoredUser>,
    /// When the login happened (RFC 3339 UTC, the CLI's clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// `keyring` when the token (and refresh token) are kept in the OS keyring
    /// ([`crate::os_keyring`]), not in this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// What the keyring held when the file was loaded: a save writes the keyring only when the
    /// secrets changed (a refresh).
    #[serde(skip)]
    kept: Option<KeptSecrets>,
    /// Why the keyring could not give this login's secrets, when it could not.
    #[serde(skip)]
    pub keyring_error: Option<String>,
    /// The server's URL as it was given at login: the key may spell a loopback host otherwise
    /// ([`ServerUrl::key`]), and requests go to this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Fields written by a newer version, kept as they are.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn no_secret() -> Secret {
    Secret::new("")
}

fn is_empty(secret: &Secret) -> bool {
    secret.expose().is_empty()
}

/// The `storage` of a login kept in the OS keyring.
pub const KEYRING: &str = "keyring";

impl StoredCredential {
    /// Whether its secrets live in the OS keyring.
    pub fn in_keyring(&self) -> bool {
        self.storage.as_deref() == Some(KEYRING)
    }

    fn secrets(&self) -> KeptSecrets {
        KeptSecrets {
            token: self.token.clone(),
            refresh_token: self.refresh_token.clone(),
        }
    }

    /// The error for a login whose secrets the keyring would not give, if it would not.
    pub fn unreadable(&self, server: &ServerUrl) -> Option<CliError> {
        let why = self.keyring_error.as_deref()?;
        Some(
            CliError::config(format!(
                "the login for {server} is kept in the OS keyring, which cannot be read: {why}"
            ))
            .with_hint(format!(
                "unlock the keyring (or start its service), or log in again with the token in the file: `edgeauth login --server {server} --storage file`"
            )),
        )
    }
}

/// Where [`store_login`] put a new login's secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    Keyring,
    File,
    /// The keyring was asked for but could not be used, for this reason.
    FileInstead(String),
}

/// The person a stored token acts for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl StoredCredential {
    pub fn new(token: Secret, kind: impl Into<String>) -> StoredCredential {
        StoredCredential {
            token,
            kind: kind.into(),
            refresh_token: None,
            token_id: None,
            prefix: None,
            expires_at: None,
            name: None,
            project: None,
            user: None,
            created_at: None,
            storage: None,
            kept: None,
            keyring_error: None,
            server: None,
            extra: serde_json::Map::new(),
        }
    }
}

impl fmt::Debug for StoredCredential {
    /// Redacts the token, and shows only the names of unknown fields (they may be secrets).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredential")
            .field("token", &self.token)
            .field("kind", &self.kind)
            .field("refresh_token", &self.refresh_token)
            .field("token_id", &self.token_id)
            .field("prefix", &self.prefix)
            .field("expires_at", &self.expires_at)
            .field("name", &self.name)
            .field("project", &self.project)
            .field("user", &self.user)
            .field("created_at", &self.created_at)
            .field("server", &self.server)
            .field("storage", &self.storage)
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The whole credentials file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialStore {
    version: u32,
    /// The server of the last successful login: commands use it when no `--server`,
    /// `EDGEAUTH_SERVER` or edgeauth.toml names one. Kept by `logout`, so that the next
    /// `edgeauth login` and every "not logged in" message know the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_server: Option<String>,
    servers: BTreeMap<String, StoredCredential>,
    /// Keys of logins kept in the keyring that were removed or replaced: their items are
    /// deleted by the next save.
    #[serde(skip)]
    forgotten: Vec<String>,
}

impl Default for CredentialStore {
    fn default() -> Self {
        CredentialStore {
            version: VERSION,
            default_server: None,
            servers: BTreeMap::new(),
            forgotten: Vec::new(),
        }
    }
}

impl CredentialStore {
    pub fn get(&self, server: &ServerUrl) -> Option<&StoredCredential> {
        self.servers.get(&server.key())
    }

    /// Stores `credential` for `server`, replacing any other (a refresh's new tokens).
    pub fn insert(&mut self, server: &ServerUrl, mut credential: StoredCredential) {
        credential
            .server
            .get_or_insert_with(|| server.as_str().to_owned());
        let replaced = self.servers.insert(server.key(), credential);
        if replaced.is_some_and(|r| r.in_keyring()) && !self.servers[&server.key()].in_keyring() {
            self.forgotten.push(server.key());
        }
    }

    /// Stores a new login for `server` and makes `server` the default. With
    /// [`Storage::Keyring`] its secrets are meant for the OS keyring: [`save`] writes them
    /// there, or leaves them in the file when the keyring cannot be written (a login never
    /// fails for want of a keyring; [`store_login`] says which happened).
    pub fn insert_login(
        &mut self,
        server: &ServerUrl,
        mut credential: StoredCredential,
        storage: Storage,
    ) {
        credential.server = Some(server.as_str().to_owned());
        credential.storage = (storage == Storage::Keyring).then(|| KEYRING.to_owned());
        credential.kept = None;
        credential.keyring_error = None;
        self.default_server = Some(server.as_str().to_owned());
        self.insert(server, credential);
    }

    /// Reads the secrets of the login stored for `server` from the OS keyring, if it is kept
    /// there and they were not read yet; a keyring that will not give them leaves
    /// [`StoredCredential::keyring_error`] set. The keyring is asked about this login only.
    pub fn read_secrets(&mut self, server: &ServerUrl) {
        let Some(credential) = self.servers.get_mut(&server.key()) else {
            return;
        };
        if !credential.in_keyring() || credential.kept.is_some() || !is_empty(&credential.token) {
            return;
        }
        match os_keyring::read(&server.key()) {
            Ok(kept) => {
                credential.token = kept.token.clone();
                credential.refresh_token = kept.refresh_token.clone();
                credential.kept = Some(kept);
                credential.keyring_error = None;
            }
            Err(why) => credential.keyring_error = Some(why),
        }
    }

    pub fn remove(&mut self, server: &ServerUrl) -> Option<StoredCredential> {
        let removed = self.servers.remove(&server.key());
        if removed.as_ref().is_some_and(StoredCredential::in_keyring) {
            self.forgotten.push(server.key());
        }
        removed
    }

    /// The server of the last successful login, if it is still a valid URL.
    pub fn default_server(&self) -> Option<ServerUrl> {
        ServerUrl::parse(self.default_server.as_deref()?).ok()
    }

    /// Every stored login with the URL it was made for (its key for entries from before the
    /// URL was kept), in key order.
    pub fn logins(&self) -> impl Iterator<Item = (&str, &StoredCredential)> {
        self.servers
            .iter()
            .map(|(key, c)| (c.server.as_deref().unwrap_or(key), c))
    }

    /// Re-keys entries by [`ServerUrl::key`]; keys that are not URLs are kept as written. This
    /// is also the migration of entries stored under a loopback name before `localhost`,
    /// `127.0.0.1` and `[::1]` shared a key: each keeps the URL it was made for, and when two
    /// name the same server the later login wins.
    fn normalise_keys(&mut self) {
        let servers = std::mem::take(&mut self.servers);
        for (key, mut credential) in servers {
            let key = match ServerUrl::parse(&key) {
                Ok(url) => {
                    credential
                        .server
                        .get_or_insert_with(|| url.as_str().to_owned());
                    url.key()
                }
                Err(_) => key,
            };
            let newer = match self.servers.get(&key) {
                Some(kept) => credential.created_at > kept.created_at,
                None => true,
            };
            if newer {
                self.servers.insert(key, credential);
            }
        }
    }
}

fn bad_file(path: &Path, what: impl fmt::Display) -> CliError {
    CliError::config(format!("{} {what}", path.display())).with_hint(format!(
        "fix or delete {} and run `edgeauth login` again",
        path.display()
    ))
}

/// Reads `<dir>/credentials.json`, and no keyring; a missing file is an empty store.
pub fn load(dir: &Path) -> Result<CredentialStore, CliError> {
    let path = file_path(dir);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(CredentialStore::default()),
        Err(e) => return Err(bad_file(&path, format_args!("cannot be read: {e}"))),
    };
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    // serde_json's messages quote only positions and field names, never values.
    let version = serde_json::from_str::<Versioned>(&text)
        .map_err(|e| bad_file(&path, format_args!("is not a credentials file: {e}")))?
        .version;
    if version != VERSION {
        return Err(CliError::config(format!(
            "{} has version {version}; this edgeauth reads version {VERSION}",
            path.display()
        ))
        .with_hint("upgrade edgeauth, or delete the file and run `edgeauth login` again"));
    }
    let mut store: CredentialStore = serde_json::from_str(&text)
        .map_err(|e| bad_file(&path, format_args!("is not a credentials file: {e}")))?;
    store.normalise_keys();
    Ok(store)
}

/// [`load`], with the secrets of `server`'s login read from the keyring if it is kept there.
pub fn load_for(dir: &Path, server: &ServerUrl) -> Result<CredentialStore, CliError> {
    let mut store = load(dir)?;
    store.read_secrets(server);
    Ok(store)
}

/// Writes `<dir>/credentials.json` atomically with mode 0600, creating `<dir>` (0700) if needed.
pub fn save(dir: &Path, store: &CredentialStore) -> Result<(), CliError> {
    save_placing(dir, store).map(drop)
}

/// [`save`], returning the keys of new logins meant for the keyring that went to the file
/// instead, each with the keyring's reason.
///
/// The keyring is written first, so the file never points at secrets that are not there. A
/// new login's item may replace the item of the login it replaces (one item per server): if
/// the file then cannot be written, that item is put back (or removed, if there was none), so
/// the keyring still holds the secrets the unchanged file describes and the old login can
/// still be revoked. A refresh's new secrets are kept even then: they belong to the same login,
/// and the spent ones are no use.
fn save_placing(dir: &Path, store: &CredentialStore) -> Result<BTreeMap<String, String>, CliError> {
    let path = file_path(dir);
    let mut on_disk = store.clone();
    let mut fell_back = BTreeMap::new();
    // New logins' items, with what the keyring held for their key before (None: no item).
    let mut replaced: Vec<(String, Option<KeptSecrets>)> = Vec::new();
    for (key, credential) in &mut on_disk.servers {
        if !credential.in_keyring() {
            continue;
        }
        let current = credential.secrets();
        // Secrets never read (or unreadable) are in the keyring as they were: nothing to write.
        if is_empty(&current.token) || credential.kept.as_ref() == Some(&current) {
            credential.token = no_secret();
            credential.refresh_token = None;
            continue;
        }
        let new_login = credential.kept.is_none();
        let before = match new_login {
            true => os_keyring::read_existing(key),
            false => Ok(None),
        };
        let written = before.and_then(|before| {
            os_keyring::write(key, &current)?;
            Ok(before)
        });
        match (written, new_login) {
            (Ok(before), true) => replaced.push((key.clone(), before)),
            (Ok(_), false) => {}
            // The login keeps its secrets in the file.
            (Err(why), true) => {
                credential.storage = None;
                fell_back.insert(key.clone(), why);
                continue;
            }
            (Err(why), false) => {
                return Err(CliError::config(format!(
                    "cannot write the login for {key} to the OS keyring: {why}"
                )))
            }
        }
        credential.token = no_secret();
        credential.refresh_token = None;
    }
    let mut bytes = serde_json::to_vec_pretty(&on_disk).expect("credentials serialise");
    bytes.push(b'\n');
    let written = create_private_dir(dir).and_then(|()| write_atomically(&path, &bytes));
    if let Err(e) = written {
        for (key, before) in replaced {
            // Best effort: the keyring just took a write for this key.
            let _ = match before {
                Some(before) => os_keyring::write(&key, &before),
                None => os_keyring::delete(&key),
            };
        }
        return Err(CliError::config(format!(
            "cannot write {}: {e}",
            path.display()
        )));
    }
    for key in &store.forgotten {
        if !on_disk
            .servers
            .get(key)
            .is_some_and(StoredCredential::in_keyring)
        {
            // Best effort: the login's token was revoked or replaced already.
            let _ = os_keyring::delete(key);
        }
    }
    Ok(fell_back)
}

/// An exclusive lock on the credentials file, held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: fs::File,
}

/// Takes the exclusive lock on `<dir>/credentials.json.lock`, creating `dir` (0700) and the
/// lock file (0600, empty) if needed; waits up to a minute for another process to release it.
pub fn lock(dir: &Path) -> Result<Lock, CliError> {
    let path = dir.join(LOCK_FILE_NAME);
    let fail = |e: io::Error| CliError::config(format!("cannot lock {}: {e}", path.display()));
    create_private_dir(dir).map_err(fail)?;
    let mut options = fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(&path).map_err(fail)?;
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Lock { _file: file }),
            Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(CliError::config(format!(
                    "{} is still locked by another edgeauth process after {} s",
                    path.display(),
                    LOCK_WAIT.as_secs()
                ))
                .with_hint("wait for the other edgeauth command to finish, then try again"))
            }
            Err(fs::TryLockError::Error(e)) => return Err(fail(e)),
        }
    }
}

/// Reads the file, lets `change` edit the store, and writes it back, all under [`lock`]; the
/// file is written only if `change` returns `Ok`.
pub fn update<R>(
    dir: &Path,
    change: impl FnOnce(&mut CredentialStore) -> Result<R, CliError>,
) -> Result<R, CliError> {
    let _lock = lock(dir)?;
    let mut store = load(dir)?;
    let result = change(&mut store)?;
    save(dir, &store)?;
    Ok(result)
}

/// Stores a new login for `server` (replacing the one stored for it, which is returned with
/// its secrets so that it can be revoked), under [`lock`], and says where its secrets went.
pub fn store_login(
    dir: &Path,
    server: &ServerUrl,
    credential: StoredCredential,
    storage: Storage,
) -> Result<(Option<StoredCredential>, Placement), CliError> {
    let _lock = lock(dir)?;
    let mut store = load_for(dir, server)?;
    let previous = store.remove(server);
    store.insert_login(server, credential, storage);
    let fell_back = save_placing(dir, &store)?;
    let placement = match (storage, fell_back.get(&server.key())) {
        (Storage::File, _) => Placement::File,
        (Storage::Keyring, None) => Placement::Keyring,
        (Storage::Keyring, Some(why)) => Placement::FileInstead(why.clone()),
    };
    Ok((previous, placement))
}

/// Creates `dir` and its missing parents; the directories it creates are 0700. An existing
/// directory is left as it is (it may be one the user chose to share, e.g. via
/// `EDGEAUTH_CONFIG_DIR`); the file's own 0600 mode protects it there.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir)?;
        // The umask may have narrowed the mode; make it exactly 0700.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    builder.create(dir)
}

/// Creates a new file that is 0600 from its first moment; fails if `path` exists.
fn create_private_file(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// Temp file in the same directory (so the rename cannot cross file systems), fsync, rename,
/// fsync the directory. The temp file is removed if anything fails before the rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);

    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let (tmp, mut file) = loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        match create_private_file(&tmp) {
            Ok(file) => break (tmp, file),
            // Left over from a crashed process that had the same pid: try the next name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => continue,
            Err(e) => return Err(e),
        }
    };
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            fs::rename(&tmp, path)
        });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// A warning if the credentials file can be read or written by group or others.
pub fn permission_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "{} is accessible to other users (mode {mode:03o}); run `chmod 600 {}`",
                path.display(),
                path.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitStatus;

    fn server(s: &str) -> ServerUrl {
        ServerUrl::parse(s).unwrap()
    }

    fn sample() -> CredentialStore {
        let mut store = CredentialStore::default();
        let mut cred = StoredCredential::new(Secret::new("eau_secretvalue"), "user");
        cred.token_id = Some("ut_1".into());
        cred.prefix = Some("eau_secretva".into());
        store.insert(&server("https://auth.example.com"), cred);
        store
    }

    #[test]
    fn missing_file_is_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = load(&dir.path().join("nope")).unwrap();
        assert_eq!(store, CredentialStore::default());
    }

    #[test]
    fn save_then_load_round_trips_and_writes_the_documented_format() {
        let dir = tempfile::tempdir().unwrap();
        let store = sample();
        save(dir.path(), &store).unwrap();
        assert_eq!(load(dir.path()).unwrap(), store);

        let json: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(file_path(dir.path())).unwrap()).unwrap();
        assert_eq!(json["version"], 1);
        let entry = &json["servers"]["https://auth.example.com"];
        assert_eq!(entry["token"], "eau_secretvalue");
        assert_eq!(entry["kind"], "user");
        assert_eq!(entry["token_id"], "ut_1");
    }

    #[cfg(unix)]
    #[test]
    fn directory_is_0700_and_file_is_0600_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("config/edgeauth");
        save(&dir, &sample()).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&file_path(&dir)), 0o600);

        // A file that was loosened by hand is 0600 again after the next save.
        fs::set_permissions(file_path(&dir), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(permission_warning(&file_path(&dir)).is_some());
        save(&dir, &sample()).unwrap();
        assert_eq!(mode(&file_path(&dir)), 0o600);
        assert!(permission_warning(&file_path(&dir)).is_none());
    }

    #[cfg(unix)]
    #[test]
    fn temp_files_are_private_from_creation() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tmp");
        let _file = create_private_file(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // It never reuses an existing file.
        assert!(create_private_file(&path).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn save_replaces_the_file_by_rename_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &CredentialStore::default()).unwrap();
        let path = file_path(dir.path());
        let before = fs::read_to_string(&path).unwrap();
        // A hard link keeps the old inode: an in-place write would change what it reads,
        // a rename does not.
        let old = dir.path().join("old-inode");
        fs::hard_link(&path, &old).unwrap();

        save(dir.path(), &sample()).unwrap();
        assert_eq!(fs::read_to_string(&old).unwrap(), before);
        assert!(fs::read_to_string(&path)
            .unwrap()
            .contains("auth.example.com"));

        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            names.iter().all(|n| !n.ends_with(".tmp")),
            "temp files left: {names:?}"
        );
    }

    #[test]
    fn a_failed_save_leaves_the_old_file_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &sample()).unwrap();
        let before = fs::read_to_string(file_path(dir.path())).unwrap();
        // Make the rename fail: the target becomes a non-empty directory.
        let blocked = dir.path().join("blocked");
        fs::create_dir_all(blocked.join(FILE_NAME).join("x")).unwrap();
        assert!(save(&blocked, &sample()).is_err());
        assert!(fs::read_dir(&blocked).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")));
        assert_eq!(fs::read_to_string(file_path(dir.path())).unwrap(), before);
    }

    #[test]
    fn keys_are_normalised_on_insert_and_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = CredentialStore::default();
        store.insert(
            &server("HTTPS://Auth.Example.com:443/"),
            StoredCredential::new(Secret::new("t1"), "user"),
        );
        assert!(store.get(&server("https://auth.example.com")).is_some());

        fs::write(
            file_path(dir.path()),
            r#"{"version":1,"servers":{"HTTP://LocalHost:8787/":{"token":"t2","kind":"user"},
                "not a url":{"token":"t3","kind":"user"}}}"#,
        )
        .unwrap();
        let mut store = load(dir.path()).unwrap();
        let cred = store.get(&server("http://localhost:8787")).unwrap();
        assert_eq!(cred.token.expose(), "t2");
        // Unparseable keys survive a rewrite rather than being dropped.
        assert!(store.servers.contains_key("not a url"));
        assert!(store.remove(&server("http://localhost:8787/")).is_some());
        assert!(store.get(&server("http://localhost:8787")).is_none());
    }

    #[test]
    fn loopback_entries_under_old_keys_are_migrated_and_the_later_login_wins() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            file_path(dir.path()),
            r#"{"version":1,"servers":{
                "http://localhost:8787":{"token":"eau_new","kind":"user","created_at":"2026-11-24T10:00:00Z"},
                "http://127.0.0.1:8787":{"token":"eau_old","kind":"user","created_at":"2026-11-01T10:00:00Z"},
                "http://[::1]:9000":{"token":"eau_v6","kind":"user"}}}"#,
        )
        .unwrap();
        let store = load(dir.path()).unwrap();
        for name in [
            "http://localhost:8787",
            "http://127.0.0.1:8787",
            "http://[::1]:8787",
        ] {
            let found = store.get(&server(name)).unwrap();
            assert_eq!(found.token.expose(), "eau_new", "{name}");
            assert_eq!(found.server.as_deref(), Some("http://localhost:8787"));
        }
        assert_eq!(
            store
                .get(&server("http://localhost:9000"))
                .unwrap()
                .token
                .expose(),
            "eau_v6"
        );
        assert_eq!(store.logins().count(), 2);
        // The next save writes the new keys.
        save(dir.path(), &store).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(file_path(dir.path())).unwrap()).unwrap();
        let keys: Vec<_> = json["servers"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["http://127.0.0.1:8787", "http://127.0.0.1:9000"]);
    }

    #[test]
    fn a_login_becomes_the_default_server_and_a_refresh_does_not() {
        let mut store = CredentialStore::default();
        assert_eq!(store.default_server(), None);
        store.insert_login(
            &server("https://a.example.com"),
            StoredCredential::new(Secret::new("eau_a"), "user"),
            Storage::File,
        );
        store.insert_login(
            &server("http://localhost:8787"),
            StoredCredential::new(Secret::new("eau_b"), "user"),
            Storage::File,
        );
        store.insert(
            &server("https://a.example.com"),
            StoredCredential::new(Secret::new("eaa_refreshed"), "access"),
        );
        assert_eq!(
            store.default_server(),
            Some(server("http://localhost:8787"))
        );
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &store).unwrap();
        let text = fs::read_to_string(file_path(dir.path())).unwrap();
        assert!(
            text.contains(r#""default_server": "http://localhost:8787""#),
            "{text}"
        );
        let mut reread = load(dir.path()).unwrap();
        assert_eq!(
            reread.default_server(),
            Some(server("http://localhost:8787"))
        );
        // Logging out keeps the default: the next login and every message know the server.
        reread.remove(&server("http://127.0.0.1:8787"));
        assert_eq!(
            reread.default_server(),
            Some(server("http://localhost:8787"))
        );
    }

    #[test]
    fn a_file_from_before_login_reads_and_the_login_fields_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            file_path(dir.path()),
            r#"{"version":1,"servers":{"https://a.example.com":
                {"token":"eau_old","kind":"user","token_id":"ut_1","prefix":"eau_oldoldol"}}}"#,
        )
        .unwrap();
        let mut store = load(dir.path()).unwrap();
        let old = store.get(&server("https://a.example.com")).unwrap();
        assert_eq!(old.token_id.as_deref(), Some("ut_1"));
        assert_eq!(
            (&old.project, &old.user, &old.created_at),
            (&None, &None, &None)
        );

        let mut cred = StoredCredential::new(Secret::new("eau_new"), "user");
        cred.project = Some("demo".into());
        cred.name = Some("edgeauth CLI on laptop".into());
        cred.created_at = Some("2026-11-24T10:00:00Z".into());
        cred.server = Some("https://b.example.com".into());
        cred.user = Some(StoredUser {
            id: Some("usr_1".into()),
            email: Some("demo@example.test".into()),
            name: None,
        });
        store.insert(&server("https://b.example.com"), cred.clone());
        save(dir.path(), &store).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(file_path(dir.path())).unwrap()).unwrap();
        assert_eq!(
            json["version"], 1,
            "new optional fields need no version bump"
        );
        assert_eq!(
            json["servers"]["https://b.example.com"]["user"],
            serde_json::json!({"id": "usr_1", "email": "demo@example.test"})
        );
        let reread = load(dir.path()).unwrap();
        assert_eq!(reread.get(&server("https://b.example.com")), Some(&cred));
        assert!(!format!("{reread:?}").contains("eau_new"));
    }

    #[test]
    fn unknown_fields_are_kept_and_not_shown_by_debug() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            file_path(dir.path()),
            r#"{"version":1,"servers":{"https://a.example.com":
                {"token":"eau_tok","kind":"user","refresh_token":"ear_hidden"}}}"#,
        )
        .unwrap();
        let store = load(dir.path()).unwrap();
        let shown = format!("{store:?}");
        assert!(
            !shown.contains("eau_tok") && !shown.contains("ear_hidden"),
            "{shown}"
        );
        assert!(shown.contains("refresh_token"));
        save(dir.path(), &store).unwrap();
        let text = fs::read_to_string(file_path(dir.path())).unwrap();
        assert!(text.contains("ear_hidden"));
    }

    #[test]
    fn a_device_login_round_trips_and_debug_hides_both_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let mut cred = StoredCredential::new(Secret::new("eaa_access.jwt.sig"), "access");
        cred.refresh_token = Some(Secret::new("ear_refreshsecret"));
        cred.expires_at = Some("2026-11-24T10:15:00Z".into());
        cred.server = Some("https://a.example.com".into());
        let mut store = CredentialStore::default();
        store.insert(&server("https://a.example.com"), cred.clone());
        update(dir.path(), |s| {
            *s = store.clone();
            Ok(())
        })
        .unwrap();
        let reread = load(dir.path()).unwrap();
        assert_eq!(reread.get(&server("https://a.example.com")), Some(&cred));
        let shown = format!("{reread:?}");
        assert!(
            !shown.contains("ear_refresh") && !shown.contains("eaa_access"),
            "{shown}"
        );
    }

    #[test]
    fn the_lock_is_exclusive_between_open_files_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        let other = fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join(LOCK_FILE_NAME))
            .unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(fs::TryLockError::WouldBlock)
        ));
        drop(held);
        assert!(other.try_lock().is_ok());
    }

    #[test]
    fn bad_files_are_config_errors_that_do_not_echo_tokens() {
        let dir = tempfile::tempdir().unwrap();
        for text in [
            "not json",
            r#"{"version":1,"servers":{"https://a.example.com":{"token":"eau_leak"}}}"#,
            r#"{"version":2,"servers":{}}"#,
            r#"{"servers":{}}"#,
        ] {
            fs::write(file_path(dir.path()), text).unwrap();
            let err = load(dir.path()).unwrap_err();
            assert_eq!(err.status, ExitStatus::Config, "{text}");
            assert!(err.message.contains(FILE_NAME), "{}", err.message);
            assert!(!err.to_string().contains("eau_leak"), "{err}");
        }
    }
}
