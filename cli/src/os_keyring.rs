//! The OS keyring, where `edgeauth login` keeps a login's secrets when one is available:
//! Secret Service on Linux (GNOME Keyring, KWallet…, over D-Bus), the macOS Keychain, the
//! Windows Credential Manager (the `keyring` crate). One item per server: service `edgeauth`,
//! account the server's key ([`crate::server_url::ServerUrl::key`]), secret the JSON
//! `{"token": …, "refresh_token": …}`. The credentials file keeps everything else.
//!
//! Which store a login uses: `--storage keyring|file` on `login`, else
//! `EDGEAUTH_CREDENTIAL_STORE`, else the keyring; a keyring that cannot be used (none
//! installed, no D-Bus session, locked and no one to unlock it) means the file, and the login
//! says so. Tests set `EDGEAUTH_CREDENTIAL_STORE=file`, so they never touch a developer's
//! keyring.

use edgeauth_core::secret::Secret;
use serde::{Deserialize, Serialize};

/// The keyring's service name for every edgeauth item.
pub const SERVICE: &str = "edgeauth";

/// Where a login's secrets are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Storage {
    /// The OS keyring (falls back to the file when there is none)
    Keyring,
    /// The credentials file (0600)
    File,
}

impl Storage {
    /// `EDGEAUTH_CREDENTIAL_STORE`: `keyring` or `file`.
    pub fn parse(value: &str) -> Result<Storage, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "keyring" => Ok(Storage::Keyring),
            "file" => Ok(Storage::File),
            _ => Err(format!(
                "EDGEAUTH_CREDENTIAL_STORE must be `keyring` or `file`, not `{}`",
                crate::output::sanitize(value)
            )),
        }
    }
}

/// A login's secrets, as one keyring item holds them.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptSecrets {
    pub token: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
}

impl std::fmt::Debug for KeptSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptSecrets")
            .field("token", &self.token)
            .field("refresh_token", &self.refresh_token)
            .finish()
    }
}

fn entry(key: &str) -> Result<keyring::Entry, String> {
    keyring::Entry::new(SERVICE, key).map_err(|e| e.to_string())
}

/// The secrets kept for `key`.
pub fn read(key: &str) -> Result<KeptSecrets, String> {
    read_existing(key)?.ok_or_else(|| "the OS keyring has no item for it".to_owned())
}

/// The secrets kept for `key`, `None` if the keyring has no item for it.
pub fn read_existing(key: &str) -> Result<Option<KeptSecrets>, String> {
    let text = match entry(key)?.get_password() {
        Ok(text) => text,
        Err(keyring::Error::NoEntry) => return Ok(None),
        Err(other) => return Err(other.to_string()),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|_| "the OS keyring's item is not edgeauth's".to_owned())
}

/// Replaces the secrets kept for `key`.
pub fn write(key: &str, secrets: &KeptSecrets) -> Result<(), String> {
    let text = serde_json::to_string(secrets).expect("secrets serialise");
    entry(key)?.set_password(&text).map_err(|e| e.to_string())
}

/// Forgets the secrets kept for `key`; an item that is not there is no error.
pub fn delete(key: &str) -> Result<(), String> {
    match entry(key)?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_named_by_the_setting() {
        assert_eq!(Storage::parse("keyring"), Ok(Storage::Keyring));
        assert_eq!(Storage::parse(" FILE "), Ok(Storage::File));
        let e = Storage::parse("vault").unwrap_err();
        assert!(e.contains("EDGEAUTH_CREDENTIAL_STORE"), "{e}");
    }

    #[test]
    fn kept_secrets_hide_in_debug() {
        let kept = KeptSecrets {
            token: Secret::new("eaa_x"),
            refresh_token: Some(Secret::new("ear_y")),
        };
        let shown = format!("{kept:?}");
        assert!(
            !shown.contains("eaa_x") && !shown.contains("ear_y"),
            "{shown}"
        );
        let json = serde_json::to_string(&kept).unwrap();
        assert_eq!(serde_json::from_str::<KeptSecrets>(&json).unwrap(), kept);
    }
}
