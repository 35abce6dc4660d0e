//! `GET /account`: where a signed-in person lands: who they are, sign out, their tokens
//! (the page's script drives `/api/tokens`); `GET /account/service-tokens`: a project's
//! service tokens, for its admins (the script drives `/api/service-tokens`).

use std::collections::BTreeSet;

use edgeauth_core::audit::AuditQuery;
use edgeauth_core::lifetime::Governed;
use edgeauth_core::oidc::origin;
use edgeauth_core::session;
use edgeauth_core::time::rfc3339;
use edgeauth_core::{BrowserSession, SessionId, UserId};
use worker::{D1Database, Env, Response};

use crate::auth::{lifetime, Caller};
use crate::error::ApiError;
use crate::http;
use crate::pages::{self, action_in_words, Activity, LoginLine};
use crate::store::{
    Actor, EventFilter, LoginRecord, ProjectRoles, StoredEvent, TokenRecord, TokensOf, UserRecord,
};
use crate::{database, now_ms};

/// Lines of "Recent activity".
const RECENT_EVENTS: u32 = 10;

/// The person's live logins, this browser's first.
async fn logins(
    db: &D1Database,
    user: &UserId,
    here: &SessionId,
) -> Result<Vec<LoginLine>, ApiError> {
    let mut lines: Vec<LoginLine> = LoginRecord::of_person(db, user, now_ms())
        .await?
        .into_iter()
        .map(|login| LoginLine {
            current: login.id == here.as_str(),
            what: match (&login.client_name, &login.project) {
                (Some(client), Some(project)) => format!("{client} (project {project})"),
                _ => "Browser".to_owned(),
            },
            from: from_where(
                login.ip.clone(),
                login.colo.clone(),
                login.user_agent.clone(),
            ),
            created_at: rfc3339(login.created_at),
            last_seen_at: login.last_seen_at.map(rfc3339).unwrap_or_default(),
            id: login.id,
        })
        .collect();
    lines.sort_by_key(|line| !line.current);
    Ok(lines)
}

/// The person's latest events, for a person to read.
async fn recent_activity(db: &D1Database, user: &UserId) -> Result<Vec<Activity>, ApiError> {
    let query = AuditQuery {
        limit: RECENT_EVENTS,
        ..AuditQuery::default()
    };
    let events = StoredEvent::page(
        db,
        &EventFilter {
            project: None,
            deployment: false,
            person: Some(user.as_str()),
            query: &query,
        },
    )
    .await?;
    Ok(events
        .into_iter()
        .map(|e| Activity {
            at: rfc3339(e.at),
            what: action_in_words(&e.action).to_owned(),
            by: match Actor::parse(&e.actor) {
                Ok(Actor::User(actor)) if actor == *user => "You".to_owned(),
                Ok(Actor::LeakReport) => "A leak report".to_owned(),
                Ok(Actor::RefreshReuse) => "The server: a spent refresh token came back".to_owned(),
                Ok(Actor::RoleLost) => "The server: your role ended".to_owned(),
                Ok(Actor::Super) => "The operator".to_owned(),
                _ => e.actor.clone(),
            },
            from: from_where(e.ip, e.colo, e.user_agent),
            count: e.count,
        })
        .collect())
}

/// Where a request came from, for a person: its address, location and the start of its
/// User-Agent.
fn from_where(ip: Option<String>, colo: Option<String>, user_agent: Option<String>) -> String {
    [ip, colo, user_agent.map(|ua| ua.chars().take(60).collect())]
        .into_iter()
        .flatten()
        .collect::<Vec<String>>()
        .join(" · ")
}

/// What a token page chooses from: the projects the server knows for this person (the
/// default one, the page's, those of their tokens, those whose stored roles give them one),
/// and the workspace patterns of `tokens` besides `*`. There is no table of projects: a
/// project exists by being named.
async fn choices(
    caller: &Caller,
    db: &D1Database,
    user: &UserRecord,
    tokens: &[TokenRecord],
) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let role_projects = ProjectRoles::granting(db, &user.teams).await?;
    let projects: BTreeSet<String> = [
        caller.settings.config.default_project.to_string(),
        caller.project.to_string(),
    ]
    .into_iter()
    .chain(tokens.iter().map(|t| t.project.to_string()))
    .chain(role_projects.iter().map(ToString::to_string))
    .collect();
    let workspaces: BTreeSet<String> = tokens
        .iter()
        .flat_map(|t| t.scope.to_strings())
        .filter(|w| w != "*")
        .collect();
    Ok((
        projects.into_iter().collect(),
        workspaces.into_iter().collect(),
    ))
}

/// The page of someone not signed in: a "Sign in" link coming back to `path` (and its
/// `?project=`, when the request named one).
fn signed_out(caller: &Caller, path: &str) -> Response {
    let return_to = match caller.query("project") {
        // Already validated as a project name by the pipeline: [a-z0-9-] only.
        Some(_) => format!("{path}%3Fproject%3D{}", caller.project),
        None => path.to_owned(),
    };
    pages::page_response(
        200,
        pages::signed_out_html(&format!("/api/auth/login?return_to={return_to}")),
    )
}

/// A signed-in person in a browser: their session and record, or `None` (signed out, or a
/// bearer credential, which is not a browser).
async fn signed_in<'c>(
    caller: &'c Caller,
    env: &Env,
) -> Result<Option<(&'c BrowserSession, UserRecord)>, ApiError> {
    Ok(match caller.browser_session() {
        Some(session) => UserRecord::find(&database(env)?, &session.user_id)
            .await?
            .map(|user| (session, user)),
        None => None,
    })
}

/// When this sign-in ends, RFC 3339 (a session principal always carries its end).
fn session_ends_at(caller: &Caller) -> String {
    caller
        .principal
        .as_ref()
        .and_then(|p| p.expires_at_ms)
        .map(rfc3339)
        .unwrap_or_default()
}

/// The signed-in person's page, or a page with a "Sign in" link. Only a browser session
/// shows the account: a bearer credential is not a browser.
pub async fn page(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    caller.settings.oidc()?;
    let key = caller.settings.cookie_key()?;
    let Some((session, user)) = signed_in(caller, env).await? else {
        return Ok(signed_out(caller, "%2Faccount"));
    };
    let csrf = session::csrf_token(key, session.cookie_hash.as_hex());
    let session_ends_at = session_ends_at(caller);
    let role = caller.principal.as_ref().map_or("none", |p| p.role_name());
    let db = database(env)?;
    let activity = recent_activity(&db, &user.id).await?;
    let logins = logins(&db, &user.id, &session.session_id).await?;
    let tokens = TokenRecord::list_active(&db, TokensOf::User(&user.id)).await?;
    let (projects, workspaces) = choices(caller, &db, &user, &tokens).await?;
    // The expiry choices are the ones the project's lifetime policy accepts.
    let policy = lifetime::of_project(&caller.settings, &caller.project, env).await?;
    let page = pages::page_response(
        200,
        pages::account_html(&pages::AccountView {
            name: user.name.as_deref(),
            email: user.email.as_deref(),
            teams: &user.teams,
            user_id: user.id.as_str(),
            project: caller.project.as_str(),
            role,
            projects: &projects,
            workspaces: &workspaces,
            csrf_token: &csrf,
            session_ends_at: &session_ends_at,
            activity: &activity,
            logins: &logins,
            lifetime: *policy.limits(Governed::UserTokens),
        }),
    );
    Ok(with_sign_out_form(caller, page))
}

/// A signed-in page with the Sign out form: signing out goes on to the provider's end-session
/// endpoint on the issuer's origin (`sign_in::logout`), and Chromium applies the page's
/// `form-action` to that redirect, so the issuer's origin is allowed there too.
fn with_sign_out_form(caller: &Caller, mut page: Response) -> Response {
    if let Ok(oidc) = caller.settings.oidc() {
        let csp = pages::form_action_csp(&origin(&oidc.issuer));
        http::set_header(&mut page, "Content-Security-Policy", &csp);
    }
    page
}

/// `GET /account/service-tokens`: the service tokens of the request's project, for a person
/// signed in in a browser who administers it (anyone else is told which role it takes), or a
/// page with a "Sign in" link. The page's script does the work through `/api/service-tokens`,
/// which decides what the session may do.
pub async fn service_tokens_page(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    caller.settings.oidc()?;
    let key = caller.settings.cookie_key()?;
    let Some((session, user)) = signed_in(caller, env).await? else {
        return Ok(signed_out(caller, "%2Faccount%2Fservice-tokens"));
    };
    let csrf = session::csrf_token(key, session.cookie_hash.as_hex());
    let role = caller.principal.as_ref().map_or("none", |p| p.role_name());
    let db = database(env)?;
    let mut tokens = TokenRecord::list_active(&db, TokensOf::User(&user.id)).await?;
    if role == "admin" {
        tokens.extend(TokenRecord::list_active(&db, TokensOf::Project(&caller.project)).await?);
    }
    let (projects, workspaces) = choices(caller, &db, &user, &tokens).await?;
    let policy = lifetime::of_project(&caller.settings, &caller.project, env).await?;
    let page = pages::page_response(
        200,
        pages::service_tokens_html(&pages::ServiceTokensView {
            project: caller.project.as_str(),
            role,
            projects: &projects,
            workspaces: &workspaces,
            csrf_token: &csrf,
            session_ends_at: &session_ends_at(caller),
            lifetime: *policy.limits(Governed::ServiceTokens),
        }),
    );
    Ok(with_sign_out_form(caller, page))
}
