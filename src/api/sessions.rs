//! `/api/sessions`: the logins a person controls. `GET` lists their live browser sessions and
//! device logins (`store::LoginRecord`), `DELETE …/{id}` ends one, `DELETE` ends all of them
//! (`?except_current=true`: all but the one the request comes from, "sign out everywhere
//! else"). Ending a login ends what was made with it (tokens of its session or device login),
//! at once in this isolate and everywhere within `REVOCATION_BOUND_SECONDS`; each is audited
//! (`session.delete`, `refresh_family.revoke` with reason `signed_out`).

use edgeauth_core::api::{LoginList, LoginView, LoginsEnded};
use edgeauth_core::ids::revocation_id;
use edgeauth_core::time::rfc3339;
use edgeauth_core::{Login, Principal, UserId};
use serde_json::json;
use worker::{Env, Response};

use crate::auth::{cache, Caller};
use crate::error::ApiError;
use crate::store::{Actor, AuditEvent, LoginRecord};
use crate::{database, http, now_ms, WebCrypto};

/// `GET`: the person's live logins, the current one marked.
pub async fn list(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let (principal, user) = caller.person()?;
    let logins = LoginRecord::of_person(&database(env)?, user, now_ms()).await?;
    let sessions = logins.iter().map(|l| view(l, principal)).collect();
    Ok(http::json(200, &LoginList { sessions }))
}

/// `DELETE …/{id}`: ends one of the person's logins; 404 for anything else (another person's
/// is as unknown as one that never was).
pub async fn end_one(id: &str, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let (principal, user) = caller.person()?;
    let db = database(env)?;
    let now = now_ms();
    let logins: Vec<LoginRecord> = LoginRecord::of_person(&db, user, now)
        .await?
        .into_iter()
        .filter(|l| l.id == id)
        .collect();
    if logins.is_empty() {
        return Err(ApiError::NotFound(format!(
            "you have no live browser session or device login `{}` (see GET /api/sessions)",
            id.escape_default()
        )));
    }
    end(&db, caller, principal, user, &logins, now).await?;
    Ok(http::no_content())
}

/// `DELETE`: ends every login of the person, or every one but the request's own with
/// `?except_current=true`; 200 `{"ended": n}`.
pub async fn end_all(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let (principal, user) = caller.person()?;
    let except_current = match caller.query("except_current").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::BadRequest(
            "`except_current` must be `true` (keep the login this request comes from) or `false`"
                .into(),
        )),
    };
    let db = database(env)?;
    let now = now_ms();
    let logins: Vec<LoginRecord> = LoginRecord::of_person(&db, user, now)
        .await?
        .into_iter()
        .filter(|l| !(except_current && is_current(l, principal)))
        .collect();
    end(&db, caller, principal, user, &logins, now).await?;
    Ok(http::json(
        200,
        &LoginsEnded {
            ended: logins.len(),
        },
    ))
}

/// Ends `logins`, forgetting them (and what was made with them) in this isolate at once.
async fn end(
    db: &worker::D1Database,
    caller: &Caller,
    principal: &Principal,
    user: &UserId,
    logins: &[LoginRecord],
    now: i64,
) -> Result<(), ApiError> {
    let actor = Actor::of(principal);
    let detail = json!({"reason": "signed_out"}).to_string();
    LoginRecord::end(
        db,
        user,
        logins,
        &revocation_id(&mut WebCrypto),
        |login| AuditEvent {
            at: now,
            project: login.project.as_deref(),
            actor: actor.clone(),
            action: match login.login() {
                Login::Device(_) => "refresh_family.revoke",
                Login::Session(_) => "session.delete",
            },
            subject: &login.id,
            detail: detail.clone(),
            person: Some(user),
            trace: &caller.trace,
        },
        now,
    )
    .await?;
    for login in logins {
        cache::forget_login(&login.login());
    }
    Ok(())
}

fn is_current(login: &LoginRecord, principal: &Principal) -> bool {
    principal.login.as_ref() == Some(&login.login())
}

fn view(login: &LoginRecord, principal: &Principal) -> LoginView {
    LoginView {
        id: login.id.clone(),
        kind: login.kind.clone(),
        current: is_current(login, principal),
        project: login.project.clone(),
        client_name: login.client_name.clone(),
        created_at: rfc3339(login.created_at),
        expires_at: rfc3339(login.expires_at),
        last_seen_at: login.last_seen_at.map(rfc3339),
        ip: login.ip.clone(),
        colo: login.colo.clone(),
        user_agent: login.user_agent.clone(),
    }
}
