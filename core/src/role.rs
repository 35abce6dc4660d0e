//! Who administers a project and who only uses it: a person's role, from the teams their
//! identity provider lists (`OIDC_TEAMS_CLAIM`) and the teams that hold each role.
//!
//! The teams come from `ADMIN_TEAMS` and `MEMBER_TEAMS`, or from a project's own override
//! (stored in D1, managed by the super token or an admin of the project). Safe by default:
//! with neither set, every signed-in person is a member and only the super token
//! administers. An admin manages the project (its service tokens, its roles); a member uses
//! it and manages only their own tokens; a person in none of a project's teams (when
//! `MEMBER_TEAMS` names some) has no role there, and their credentials are refused in it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A person's role in one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Uses the project: their own tokens, its workspaces within their tokens' scopes.
    Member,
    /// Runs the project: also its service tokens and its roles.
    Admin,
}

impl Role {
    /// The name used in JSON, in access-token claims and on pages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }

    /// A role by its name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "member" => Some(Role::Member),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The longest team name accepted.
pub const MAX_TEAM_LEN: usize = 128;
/// The most teams one role may name.
pub const MAX_TEAMS: usize = 50;

/// Which teams hold which role in a project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamRoles {
    /// Members of any of these teams administer the project.
    pub admin_teams: Vec<String>,
    /// Members of any of these teams use the project; empty: every signed-in person does.
    pub member_teams: Vec<String>,
}

impl TeamRoles {
    /// The role of a person in `teams`: admin if any is an admin team; else member if
    /// `member_teams` is empty or any is a member team; else none.
    pub fn role_of(&self, teams: &[String]) -> Option<Role> {
        let any_of = |named: &[String]| teams.iter().any(|t| named.contains(t));
        if any_of(&self.admin_teams) {
            Some(Role::Admin)
        } else if self.member_teams.is_empty() || any_of(&self.member_teams) {
            Some(Role::Member)
        } else {
            None
        }
    }

    /// A comma-separated list of team names, as `ADMIN_TEAMS` and `MEMBER_TEAMS` hold it.
    pub fn parse_list(text: &str) -> Result<Vec<String>, String> {
        let names: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        check_names(&names)
    }

    /// The body of `POST /api/roles`: `{"admin_teams": [...], "member_teams": [...]}`, both
    /// required (an empty `member_teams` means every signed-in person is a member).
    pub fn from_json(body: &Value) -> Result<Self, String> {
        let Some(object) = body.as_object() else {
            return Err(
                "the body must be a JSON object: {\"admin_teams\": [\"…\"], \"member_teams\": [\"…\"]}"
                    .into(),
            );
        };
        if let Some(unknown) = object
            .keys()
            .find(|k| !matches!(k.as_str(), "admin_teams" | "member_teams"))
        {
            return Err(format!(
                "unknown field `{}`; the fields are `admin_teams` and `member_teams`",
                unknown.escape_default()
            ));
        }
        let list = |field: &str| -> Result<Vec<String>, String> {
            let value = object.get(field).ok_or_else(|| {
                format!("`{field}` is required: a list of team names (it may be empty)")
            })?;
            let items = value
                .as_array()
                .ok_or_else(|| format!("`{field}` must be a list of team names"))?;
            let names = items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::trim)
                        .ok_or_else(|| format!("`{field}` must hold team names (strings)"))
                })
                .collect::<Result<Vec<&str>, String>>()?;
            check_names(&names).map_err(|e| format!("`{field}`: {e}"))
        };
        Ok(TeamRoles {
            admin_teams: list("admin_teams")?,
            member_teams: list("member_teams")?,
        })
    }
}

/// Team names as given, checked: non-empty, at most [`MAX_TEAM_LEN`] characters, no control
/// characters or commas, at most [`MAX_TEAMS`]; duplicates dropped.
fn check_names(names: &[&str]) -> Result<Vec<String>, String> {
    if names.len() > MAX_TEAMS {
        return Err(format!("at most {MAX_TEAMS} teams may be named"));
    }
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        if name.is_empty() {
            return Err("a team name cannot be empty".into());
        }
        if name.chars().count() > MAX_TEAM_LEN {
            return Err(format!("a team name is at most {MAX_TEAM_LEN} characters"));
        }
        if name.chars().any(|c| c.is_control() || c == ',') {
            return Err(format!(
                "the team name `{}` has a control character or a comma",
                name.escape_default()
            ));
        }
        if !out.iter().any(|seen| seen == name) {
            out.push((*name).to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn teams(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn roles(admin: &[&str], member: &[&str]) -> TeamRoles {
        TeamRoles {
            admin_teams: teams(admin),
            member_teams: teams(member),
        }
    }

    #[test]
    fn with_nothing_configured_everyone_is_a_member_and_nobody_an_admin() {
        let none = TeamRoles::default();
        assert_eq!(none.role_of(&teams(&["ops"])), Some(Role::Member));
        assert_eq!(none.role_of(&[]), Some(Role::Member));
    }

    #[test]
    fn an_admin_team_makes_an_admin_whatever_else() {
        let r = roles(&["ops"], &["dev"]);
        assert_eq!(r.role_of(&teams(&["dev", "ops"])), Some(Role::Admin));
        assert_eq!(r.role_of(&teams(&["ops"])), Some(Role::Admin));
        assert_eq!(r.role_of(&teams(&["dev"])), Some(Role::Member));
    }

    #[test]
    fn member_teams_exclude_everyone_else() {
        let r = roles(&["ops"], &["dev"]);
        assert_eq!(r.role_of(&teams(&["sales"])), None);
        assert_eq!(r.role_of(&[]), None);
        // Without member teams, admin teams alone leave everyone else a member.
        let r = roles(&["ops"], &[]);
        assert_eq!(r.role_of(&teams(&["sales"])), Some(Role::Member));
    }

    #[test]
    fn team_names_match_exactly() {
        let r = roles(&["ops"], &["dev"]);
        assert_eq!(r.role_of(&teams(&["OPS", "ops-2", " dev"])), None);
    }

    #[test]
    fn lists_parse_like_allowed_teams() {
        assert_eq!(TeamRoles::parse_list(" a, b ,,a ").unwrap(), ["a", "b"]);
        assert_eq!(TeamRoles::parse_list("").unwrap(), Vec::<String>::new());
        assert!(TeamRoles::parse_list("a,\u{7}b").is_err());
        let long = "x".repeat(MAX_TEAM_LEN + 1);
        assert!(TeamRoles::parse_list(&long).is_err());
        let many = vec!["t"; MAX_TEAMS + 1].join(",");
        // Duplicates count before they are dropped: 51 names is too many.
        assert!(TeamRoles::parse_list(&many).is_err());
    }

    #[test]
    fn the_json_body_names_both_lists() {
        let r = TeamRoles::from_json(&json!({"admin_teams": ["ops"], "member_teams": []})).unwrap();
        assert_eq!(r, roles(&["ops"], &[]));
        for (body, says) in [
            (json!([]), "JSON object"),
            (json!({"admin_teams": ["a"]}), "`member_teams` is required"),
            (
                json!({"admin_teams": "a", "member_teams": []}),
                "must be a list",
            ),
            (json!({"admin_teams": [1], "member_teams": []}), "strings"),
            (
                json!({"admin_teams": [""], "member_teams": []}),
                "cannot be empty",
            ),
            (
                json!({"admin_teams": [], "member_teams": [], "owner": "x"}),
                "unknown field `owner`",
            ),
        ] {
            let e = TeamRoles::from_json(&body).unwrap_err();
            assert!(e.contains(says), "{body}: {e}");
        }
    }

    #[test]
    fn roles_have_names_both_ways() {
        for role in [Role::Member, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("owner"), None);
        assert!(Role::Admin > Role::Member);
    }
}
