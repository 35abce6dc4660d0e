//! `/api/sessions`: the logins a person controls. `GET` lists their live browser sessions and
//! device logins (`store::LoginRecord`), `DELETE …/{id}` ends one, `DELETE` ends all of them
//! (`?except_current=true`: all but the one the request comes from, "sign out everywhere
//! else"). Ending a login ends what was made with it (tokens of its session or device login),
//! at once in this isolate and everywhere within `REVOCATION_BOUND_SECONDS`; each is audited
//! (`session.delete`, `refresh_family.revoke` with reason `signed_out`).

use edgeauth_core::api::{LoginList, LoginView, LoginsEnded};
use edgeauth_core::ids::revocation_id;
use edgeauth_core::time::rfc3339;
use edgeauth_core::{Principal, UserId};
use serde_json::json;
use worker::{Env, Response};

use crate::auth::{cache, Caller};
use crate::error::ApiError;
use crate::store::{end_logins, Actor, AuditEvent, LoginRecord, Which};
use crate::{database, http, now_ms, WebCrypto};

/// The person whose logins these are, by a credential that stands for the whole person (not
/// a narrowed token: it may not see or end the person's other logins).
fn whole_person<'a>(
    caller: &'a Caller,
    doing: &str,
) -> Result<(&'a Principal, &'a UserId), ApiError> {
    let (principal, user) = caller.person()?;
    match principal.whole_person_problem(doing) {
        Some(problem) => Err(ApiError::Forbidden(problem)),
        None => Ok((principal, user)),
    }
}

/// `GET`: the person's live logins, the current one marked.
pub async fn list(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let (principal, user) = whole_person(caller, "listing your sessions")?;
    let logins = LoginRecord::of_person(&database(env)?, user, now_ms()).await?;
    let sessions = logins.iter().map(|l| view(l, principal)).collect();
    Ok(http::json(200, &LoginList { sessions }))
}

/// `DELETE …/{id}`: ends one of the person's logins; 404 for anything else (another person's
/// is as unknown as one that never was).
pub async fn end_one(id: &str, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let (principal, user) = whole_person(caller, "signing out your sessions")?;
    let db = database(env)?;
    let now = now_ms();
    let login = LoginRecord::find(&db, user, id, now)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "you have no live browser session or device login `{}` (see GET /api/sessions)",
                id.escape_default()
            ))
        })?
        .login();
    end(&db, caller, principal, user, Which::One(&login), now).await?;
    Ok(http::no_content())
}

/// `DELETE`: ends every login of the person, or every one but the request's own with
/// `?except_current=true`; 200 `{"ended": n}`.
pub async fn end_all(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let (principal, user) = whole_person(caller, "signing out your sessions")?;
    let except_current = match caller.query("except_current").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::BadRequest(
            "`except_current` must be `true` (keep the login this request comes from) or `false`"
                .into(),
        )),
    };
    let keep = principal.login.as_ref().filter(|_| except_current);
    let ended = end(
        &database(env)?,
        caller,
        principal,
        user,
        Which::AllBut(keep),
        now_ms(),
    )
    .await?;
    Ok(http::json(200, &LoginsEnded { ended }))
}

/// Ends `which` of the person's logins, forgetting them (and what was made with them) in this
/// isolate at once.
async fn end(
    db: &worker::D1Database,
    caller: &Caller,
    principal: &Principal,
    user: &UserId,
    which: Which<'_>,
    now: i64,
) -> Result<usize, ApiError> {
    // What this isolate remembers of them goes first: the logins themselves are read below
    // only for that, and a login begun meanwhile is ended by the batch all the same.
    let remembered = LoginRecord::of_person(db, user, now).await?;
    let model = AuditEvent {
        at: now,
        project: None,
        actor: Actor::of(principal),
        action: "",
        subject: "",
        detail: json!({"reason": "signed_out"}).to_string(),
        person: Some(user),
        trace: &caller.trace,
    };
    let ended = end_logins(db, user, which, &revocation_id(&mut WebCrypto), &model, now).await?;
    for login in remembered.iter().map(LoginRecord::login) {
        let ended_here = match which {
            Which::One(one) => &login == one,
            Which::AllBut(keep) => Some(&login) != keep,
        };
        if ended_here {
            cache::forget_login(&login);
        }
    }
    Ok(ended)
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
