//! Project names: the unit that service-token keys and scopes are bound to.

use core::fmt;

/// A project name: `[a-z0-9][a-z0-9-]{0,62}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProjectName(String);

impl ProjectName {
    /// Validates a project name, explaining the rule when it fails.
    pub fn parse(name: &str) -> Result<Self, String> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && !name.starts_with('-')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(format!(
                "project `{}` is not valid: use 1 to 63 of a-z, 0-9 and `-`, starting with a letter or digit",
                name.escape_default()
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_grammar() {
        for ok in ["a", "0", "default", "my-project-2", &"a".repeat(63)] {
            assert!(ProjectName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "A",
            "Bad_Name",
            "a b",
            "a.b",
            "é",
            &"a".repeat(64),
        ] {
            assert!(ProjectName::parse(bad).is_err(), "{bad}");
        }
    }
}
