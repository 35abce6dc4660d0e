//! A bearer credential held in memory.
//!
//! [`Secret`] has no `Display` and a `Debug` that prints `Secret(<redacted>)`, so a token can
//! reach the terminal only through an explicit [`Secret::expose`] — which the CLI calls in two
//! places: building the `Authorization` header and printing a freshly created token once.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A token or other secret string; see the module doc.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The plaintext. Every call site is a place where the secret leaves the process.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

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
}
