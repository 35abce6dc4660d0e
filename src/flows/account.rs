//! `GET /account`: where a signed-in person lands: who they are, sign out, their tokens
//! (the page's script drives `/api/tokens`).

use edgeauth_core::audit::AuditQuery;
use edgeauth_core::oidc::origin;
use edgeauth_core::session;
use edgeauth_core::time::rfc3339;
use edgeauth_core::{SessionId, UserId};
use worker::{D1Database, Env, Response};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::http;
use crate::pages::{self, action_in_words, Activity, LoginLine};
use crate::store::{Actor, EventFilter, LoginRecord, StoredEvent, UserRecord};
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

/// The signed-in person's page, or a page with a "Sign in" link. Only a browser session
/// shows the account: a bearer credential is not a browser.
pub async fn page(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    caller.settings.oidc()?;
    let key = caller.settings.cookie_key()?;
    let signed_in = match caller.browser_session() {
        Some(session) => UserRecord::find(&database(env)?, &session.user_id)
            .await?
            .map(|user| (session, user)),
        None => None,
    };
    let Some((session, user)) = signed_in else {
        let return_to = match caller.query("project") {
            // Already validated as a project name by the pipeline: [a-z0-9-] only.
            Some(_) => format!("%2Faccount%3Fproject%3D{}", caller.project),
            None => "%2Faccount".to_owned(),
        };
        return Ok(pages::page_response(
            200,
            pages::signed_out_html(&format!("/api/auth/login?return_to={return_to}")),
        ));
    };
    let csrf = session::csrf_token(key, session.cookie_hash.as_hex());
    // A session principal always carries its end.
    let session_ends_at = caller
        .principal
        .as_ref()
        .and_then(|p| p.expires_at_ms)
        .map(rfc3339)
        .unwrap_or_default();
    let role = caller.principal.as_ref().map_or("none", |p| p.role_name());
    let db = database(env)?;
    let activity = recent_activity(&db, &user.id).await?;
    let logins = logins(&db, &user.id, &session.session_id).await?;
    let mut page = pages::page_response(
        200,
        pages::account_html(&pages::AccountView {
            name: user.name.as_deref(),
            email: user.email.as_deref(),
            teams: &user.teams,
            user_id: user.id.as_str(),
            project: caller.project.as_str(),
            role,
            csrf_token: &csrf,
            session_ends_at: &session_ends_at,
            activity: &activity,
            logins: &logins,
        }),
    );
    // Signing out goes on to the provider's end-session endpoint on the issuer's origin
    // (`sign_in::logout`): the sign-out form's redirect must be allowed there.
    if let Ok(oidc) = caller.settings.oidc() {
        let csp = pages::form_action_csp(&origin(&oidc.issuer));
        http::set_header(&mut page, "Content-Security-Policy", &csp);
    }
    Ok(page)
}
