//! A secret string that a client holds or an API body carries: a token, a code, a verifier.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::crypto::constant_time_eq;

/// A token or other secret string. It has no `Display` and a `Debug` that prints
/// `Secret(<redacted>)`, so it reaches a log or a terminal only through an explicit
/// [`Secret::expose`]; equality is constant-time. Serialised as the plain string, for the API
/// bodies that carry one once (a creation response, a token response) and the CLI's own files.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The plaintext. Every call site is a place where the secret leaves the process.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("eas_supersecretvalue");
        let shown = format!("{s:?} {:#?}", Some(&s));
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn equality_compares_the_values_and_serde_sees_a_plain_string() {
        assert_eq!(Secret::new("eau_a"), Secret::new("eau_a"));
        assert_ne!(Secret::new("eau_a"), Secret::new("eau_b"));
        assert_ne!(Secret::new("eau_a"), Secret::new("eau_ab"));
        let s: Secret = serde_json::from_str("\"eau_a\"").unwrap();
        assert_eq!(s.expose(), "eau_a");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"eau_a\"");
    }
}
