//! Workspaces and the patterns that scope credentials to them.
//!
//! A workspace is a path-like name (`production/eu`). A pattern is `*` (every workspace), an
//! exact name, or `name/*` (every workspace strictly below `name`, not `name` itself). A
//! credential's [`Scope`] is a set of patterns; a new token's scope must be covered by its
//! creator's, so no token is ever broader than the credential that made it.

use core::fmt;

/// Longest accepted workspace name or pattern, in bytes.
pub const MAX_WORKSPACE_LEN: usize = 128;
/// Most patterns one token may carry.
pub const MAX_PATTERNS: usize = 32;

/// A valid workspace name: `/`-separated segments of `[A-Za-z0-9_.-]`, none empty, `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkspaceName(String);

impl WorkspaceName {
    /// Validates a workspace name, explaining what is wrong.
    pub fn parse(name: &str) -> Result<Self, String> {
        if name.is_empty() {
            return Err("a workspace name cannot be empty".into());
        }
        if name.len() > MAX_WORKSPACE_LEN {
            return Err(format!(
                "workspace names are at most {MAX_WORKSPACE_LEN} characters"
            ));
        }
        for segment in name.split('/') {
            if segment.is_empty() {
                return Err(format!(
                    "`{name}` has an empty segment: no leading, trailing or doubled `/`"
                ));
            }
            if segment == "." || segment == ".." {
                return Err(format!("`{name}` has a `.` or `..` segment"));
            }
            if !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            {
                return Err(format!(
                    "`{name}` has a character outside letters, digits, `_`, `.`, `-` and `/`"
                ));
            }
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn is_strictly_below(&self, parent: &WorkspaceName) -> bool {
        self.0.len() > parent.0.len()
            && self.0.starts_with(&parent.0)
            && self.0.as_bytes()[parent.0.len()] == b'/'
    }
}

/// A pattern over workspace names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WorkspacePattern {
    /// `*`: every workspace.
    All,
    /// `name`: that workspace only.
    Exact(WorkspaceName),
    /// `name/*`: every workspace strictly below `name`.
    Below(WorkspaceName),
}

impl WorkspacePattern {
    /// Parses `*`, `name` or `name/*`, explaining what is wrong.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let pattern = pattern.trim();
        if pattern == "*" {
            return Ok(Self::All);
        }
        if let Some(parent) = pattern.strip_suffix("/*") {
            if parent.contains('*') {
                return Err(format!(
                    "`{pattern}`: `*` may only stand alone or as the last segment (`name/*`)"
                ));
            }
            return WorkspaceName::parse(parent)
                .map(Self::Below)
                .map_err(|e| format!("pattern `{pattern}`: {e}"));
        }
        if pattern.contains('*') {
            return Err(format!(
                "`{pattern}`: `*` may only stand alone or as the last segment (`name/*`)"
            ));
        }
        WorkspaceName::parse(pattern).map(Self::Exact)
    }

    /// True when `workspace` is matched by this pattern.
    pub fn matches(&self, workspace: &WorkspaceName) -> bool {
        match self {
            Self::All => true,
            Self::Exact(name) => name == workspace,
            Self::Below(parent) => workspace.is_strictly_below(parent),
        }
    }

    /// True when every workspace `other` matches is also matched by this pattern.
    pub fn covers(&self, other: &WorkspacePattern) -> bool {
        match (self, other) {
            (Self::All, _) => true,
            (_, Self::All) => false,
            (_, Self::Exact(name)) => self.matches(name),
            (Self::Exact(_), Self::Below(_)) => false,
            (Self::Below(mine), Self::Below(theirs)) => {
                theirs == mine || theirs.is_strictly_below(mine)
            }
        }
    }
}

impl fmt::Display for WorkspacePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("*"),
            Self::Exact(name) => f.write_str(name.as_str()),
            Self::Below(parent) => write!(f, "{}/*", parent.as_str()),
        }
    }
}

/// The workspaces a credential may act on: the union of its patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(Vec<WorkspacePattern>);

impl Scope {
    /// Every workspace (super token, anonymous with auth disabled).
    pub fn all() -> Self {
        Self(vec![WorkspacePattern::All])
    }

    /// A scope of already-validated patterns.
    pub fn new(patterns: Vec<WorkspacePattern>) -> Self {
        Self(patterns)
    }

    /// Parses a list of patterns as a client sends them: 1 to [`MAX_PATTERNS`], each valid.
    /// Duplicates are dropped, order is kept.
    pub fn parse<S: AsRef<str>>(patterns: &[S]) -> Result<Self, String> {
        if patterns.is_empty() {
            return Err("give at least one workspace pattern, e.g. [\"production/*\"]".into());
        }
        if patterns.len() > MAX_PATTERNS {
            return Err(format!("at most {MAX_PATTERNS} workspace patterns"));
        }
        let mut parsed: Vec<WorkspacePattern> = Vec::with_capacity(patterns.len());
        for p in patterns {
            let p = WorkspacePattern::parse(p.as_ref())?;
            if !parsed.contains(&p) {
                parsed.push(p);
            }
        }
        Ok(Self(parsed))
    }

    /// The patterns, in order.
    pub fn patterns(&self) -> &[WorkspacePattern] {
        &self.0
    }

    /// True when some pattern matches `workspace`.
    pub fn allows(&self, workspace: &WorkspaceName) -> bool {
        self.0.iter().any(|p| p.matches(workspace))
    }

    /// True when each of `other`'s patterns is covered by one of ours.
    ///
    /// Conservative: `a/*` is not considered covered by the pair `a/x/*` + `a/y/*` even if no
    /// other workspace existed, because workspaces are open-ended.
    pub fn covers(&self, other: &Scope) -> bool {
        other
            .0
            .iter()
            .all(|theirs| self.0.iter().any(|mine| mine.covers(theirs)))
    }

    /// The patterns as strings, for JSON and storage.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> WorkspacePattern {
        WorkspacePattern::parse(s).unwrap()
    }
    fn w(s: &str) -> WorkspaceName {
        WorkspaceName::parse(s).unwrap()
    }

    #[test]
    fn star_matches_everything() {
        assert!(p("*").matches(&w("production")));
        assert!(p("*").matches(&w("production/eu/1")));
    }

    #[test]
    fn exact_matches_only_itself() {
        assert!(p("production").matches(&w("production")));
        assert!(!p("production").matches(&w("production/eu")));
        assert!(!p("production").matches(&w("productions")));
    }

    #[test]
    fn below_matches_strictly_below_not_itself_nor_siblings_sharing_a_prefix() {
        let below = p("production/*");
        assert!(below.matches(&w("production/eu")));
        assert!(below.matches(&w("production/eu/1")));
        assert!(!below.matches(&w("production")));
        assert!(!below.matches(&w("production-eu")));
        assert!(!below.matches(&w("productionx/eu")));
        assert!(!below.matches(&w("staging/eu")));
    }

    #[test]
    fn coverage_follows_matching() {
        assert!(p("*").covers(&p("*")));
        assert!(p("*").covers(&p("a/*")));
        assert!(!p("a/*").covers(&p("*")));
        assert!(!p("a").covers(&p("*")));
        assert!(p("a/*").covers(&p("a/*")));
        assert!(p("a/*").covers(&p("a/b/*")));
        assert!(p("a/*").covers(&p("a/b")));
        assert!(!p("a/*").covers(&p("a")));
        assert!(!p("a/*").covers(&p("ab/*")));
        assert!(!p("a/b/*").covers(&p("a/*")));
        assert!(p("a").covers(&p("a")));
        assert!(!p("a").covers(&p("a/*")));
        assert!(!p("a").covers(&p("a/b")));
    }

    #[test]
    fn scope_coverage_needs_every_pattern_covered() {
        let mine = Scope::parse(&["production/*", "staging"]).unwrap();
        assert!(mine.covers(&Scope::parse(&["production/eu", "staging"]).unwrap()));
        assert!(!mine.covers(&Scope::parse(&["production/eu", "staging/x"]).unwrap()));
        assert!(!mine.covers(&Scope::parse(&["production"]).unwrap()));
        assert!(!mine.covers(&Scope::parse(&["*"]).unwrap()));
        assert!(Scope::all().covers(&mine));
        assert!(mine.allows(&w("staging")));
        assert!(!mine.allows(&w("staging/x")));
    }

    #[test]
    fn bad_patterns_are_refused_with_a_reason() {
        for bad in [
            "", "**", "a/*/b", "/x", "x/", "../x", "a//b", "a/./b", "*/a", "a*", "a b", "é", "a/**",
        ] {
            assert!(
                WorkspacePattern::parse(bad).is_err(),
                "{bad:?} was accepted"
            );
        }
        assert!(WorkspacePattern::parse(&"a".repeat(129)).is_err());
        assert!(WorkspacePattern::parse(&"a".repeat(128)).is_ok());
        assert!(Scope::parse::<&str>(&[]).is_err());
        assert!(Scope::parse(&vec!["a"; 33]).is_err());
    }

    #[test]
    fn patterns_round_trip_through_strings_and_deduplicate() {
        let s = Scope::parse(&["production/*", "*", "x.y_z-1", "production/*"]).unwrap();
        assert_eq!(s.to_strings(), ["production/*", "*", "x.y_z-1"]);
    }
}
