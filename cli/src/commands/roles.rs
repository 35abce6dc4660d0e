//! `edgeauth roles show|set|reset`: which teams administer and use the project
//! (`GET`, `POST`, `DELETE /api/roles`).

use super::{Context, Io};
use crate::args::SetRoles;
use crate::client::ApiResponse;
use crate::error::CliError;
use crate::output::{self, sanitize};
use edgeauth_core::api::ProjectRolesView;
use serde_json::json;

const PATH: &str = "/api/roles";

/// Prints the project's roles.
pub fn show(ctx: &Context, io: &mut Io<'_>) -> Result<(), CliError> {
    print(ctx, io, &ctx.client.get(PATH)?)
}

/// Replaces the project's admin and member teams, then prints them.
pub fn set(ctx: &Context, io: &mut Io<'_>, args: &SetRoles) -> Result<(), CliError> {
    let clean = |teams: &[String]| -> Vec<String> {
        teams
            .iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect()
    };
    let body = json!({
        "admin_teams": clean(&args.admin_teams),
        "member_teams": clean(&args.member_teams),
    });
    print(ctx, io, &ctx.client.post_json(PATH, &body)?)
}

/// Removes the project's own teams, then prints what it follows now.
pub fn reset(ctx: &Context, io: &mut Io<'_>) -> Result<(), CliError> {
    print(ctx, io, &ctx.client.delete(PATH)?)
}

/// The server's JSON with `--json`; else one line per role and where they come from.
fn print(ctx: &Context, io: &mut Io<'_>, response: &ApiResponse) -> Result<(), CliError> {
    if ctx.json {
        write!(io.out, "{}", output::json(&response.json()?))?;
        return Ok(());
    }
    let roles: ProjectRolesView = response.parse()?;
    write!(io.out, "{}", describe(&roles))?;
    Ok(())
}

/// `project: …`, `admins: …`, `members: …`, `source: …` lines.
pub fn describe(roles: &ProjectRolesView) -> String {
    let list = |teams: &[String]| {
        teams
            .iter()
            .map(|t| sanitize(t))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let admins = if roles.admin_teams.is_empty() {
        "(no team: only the super token administers)".to_owned()
    } else {
        format!("people in {}", list(&roles.admin_teams))
    };
    let members = if roles.member_teams.is_empty() {
        "every signed-in person".to_owned()
    } else {
        format!("people in {}", list(&roles.member_teams))
    };
    let source = match roles.source.as_str() {
        "project" => format!(
            "the project's own teams, set by {} at {} UTC",
            sanitize(roles.updated_by.as_deref().unwrap_or("?")),
            output::time(roles.updated_at.as_deref())
        ),
        _ => "the server's ADMIN_TEAMS and MEMBER_TEAMS".to_owned(),
    };
    format!(
        "project: {}\nadmins:  {admins}\nmembers: {members}\nsource:  {source}\n",
        sanitize(&roles.project)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(admin: &[&str], member: &[&str], source: &str) -> ProjectRolesView {
        ProjectRolesView {
            project: "default".into(),
            admin_teams: admin.iter().map(|t| (*t).to_owned()).collect(),
            member_teams: member.iter().map(|t| (*t).to_owned()).collect(),
            source: source.into(),
            updated_at: (source == "project").then(|| "2026-12-05T08:00:00Z".into()),
            updated_by: (source == "project").then(|| "user:usr_1".into()),
        }
    }

    #[test]
    fn roles_read_as_sentences() {
        let default = describe(&view(&[], &[], "configuration"));
        assert!(default.contains("admins:  (no team: only the super token administers)"));
        assert!(default.contains("members: every signed-in person"));
        assert!(default.contains("source:  the server's ADMIN_TEAMS and MEMBER_TEAMS"));
        let own = describe(&view(&["ops", "sre"], &["dev"], "project"));
        assert!(own.contains("admins:  people in ops, sre"));
        assert!(own.contains("members: people in dev"));
        assert!(
            own.contains("set by user:usr_1 at 2026-12-05 08:00"),
            "{own}"
        );
    }

    #[test]
    fn team_names_cannot_move_the_terminal() {
        let hostile = describe(&view(&["ops\u{1b}[2J"], &[], "configuration"));
        assert!(!hostile.contains('\u{1b}'));
    }
}
