//! The audit trail: refusals counted after the response ([`count_refusal`]), and
//! `GET /api/audit`. The super token reads its project's events and the
//! deployment's own (sign-ins, sessions, configuration problems); an admin's credential, or a
//! service token covering every workspace, the project's; a person their own, in any project
//! (`edgeauth_core::audit::reach`). Filters and cursor paging are
//! `edgeauth_core::audit::AuditQuery`'s.

use edgeauth_core::api::{AuditEventView, AuditPage};
use edgeauth_core::audit::{self, AuditQuery, AuditReach, PersonFilter};
use edgeauth_core::time::rfc3339;
use std::cell::RefCell;

use edgeauth_core::audit::RefusalTally;
use edgeauth_core::{sha256_hex, ConfigProblem, Principal};
use serde_json::json;
use worker::{Context, Env, Request, Response};

use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::store::{Actor, AuditEvent, EventFilter, StoredEvent, Trace};
use crate::{database, http, now_ms};

thread_local! {
    /// What this isolate counted of each kind of refusal since it last wrote that kind, with
    /// the time and client of the first of those.
    static TALLY: RefCell<RefusalTally<Trace>> = RefCell::new(RefusalTally::default());
}

/// A refusal to count: its action, reason code (its subject too) and detail. Always an event
/// of the deployment: a request may name any project, and must not choose whose trail its
/// refusal lands in.
struct Counted {
    action: &'static str,
    reason: String,
    detail: String,
}

/// Counts one refusal in this isolate, and writes what it counted of that kind after the
/// response (`waitUntil`) when it is time (`RefusalTally`): at most one write per kind every
/// 10 s per isolate, however many come, as of the first refusal it holds (its minute, its
/// client). A failure to write is logged.
fn tally(ctx: &Context, env: &Env, counted: Counted, trace: Trace) {
    let kind = format!("{}|{}", counted.action, counted.reason);
    let Some(held) = TALLY.with(|tally| tally.borrow_mut().count(&kind, now_ms(), trace)) else {
        return;
    };
    let Ok(db) = database(env) else { return };
    ctx.wait_until(async move {
        let event = AuditEvent {
            at: held.first_at_ms,
            project: None,
            actor: Actor::Anonymous,
            action: counted.action,
            subject: &counted.reason,
            detail: counted.detail,
            person: None,
            trace: &held.first,
        };
        if let Err(e) = event
            .record_refusals(&db, &counted.reason, held.count)
            .await
        {
            worker::console_error!("counting refusals ({kind}) failed: {e}");
        }
    });
}

/// Records that the settings are unusable (`config.problem`, an event of the deployment,
/// detail the problems), counted as refusals are: every request to a misconfigured deployment
/// fails, and must not cost a write each.
pub fn count_config_problem(ctx: &Context, env: &Env, req: &Request, problems: &[ConfigProblem]) {
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let counted = Counted {
        action: audit::CONFIG_PROBLEM,
        // The problems, short: a bucket names them without holding their text.
        reason: sha256_hex(problems.join("\n").as_bytes())[..16].to_owned(),
        detail: json!({ "problems": problems }).to_string(),
    };
    tally(ctx, env, counted, auth::trace(req));
}

/// Counts `refused` as a refusal of `action` (`edgeauth_core::audit::SIGN_IN_REFUSE`, …) by
/// its error code (see [`tally`]). Only 4xx answers are refusals: a failure of the server's
/// own or of the identity provider is not counted.
pub fn count_refusal(
    ctx: &Context,
    env: &Env,
    caller: &Caller,
    action: &'static str,
    refused: &ApiError,
) {
    if !(400..500).contains(&refused.status()) {
        return;
    }
    let reason = refused.code();
    let counted = Counted {
        action,
        reason: reason.to_owned(),
        detail: json!({ "reason": reason }).to_string(),
    };
    tally(ctx, env, counted, caller.trace.clone());
}

/// The event of a change `principal` made to the request's project (its roles, its lifetime
/// policy, its trust policies), at `at`.
pub fn project_change<'a>(
    caller: &'a Caller,
    principal: &Principal,
    at: i64,
    action: &'a str,
    subject: &'a str,
    detail: String,
) -> AuditEvent<'a> {
    AuditEvent {
        at,
        project: Some(caller.project.as_str()),
        actor: Actor::of(principal),
        action,
        subject,
        detail,
        person: None,
        trace: &caller.trace,
    }
}

/// `GET`: a page of the events the caller may read, newest first.
pub async fn list(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    // A person with no role in the project still reads their own events.
    let principal = caller.any_principal()?;
    let pairs: Vec<(String, String)> = caller.url.query_pairs().into_owned().collect();
    let query = AuditQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(ApiError::BadRequest)?;
    let reader = principal.person().map(|p| p.as_str());
    let asked = match &query.person {
        None => None,
        Some(PersonFilter::Id(id)) => Some(id.as_str()),
        Some(PersonFilter::Me) => Some(reader.ok_or_else(|| {
            ApiError::Forbidden(format!(
                "`person=me` needs a person's credential, not a {} one; name the person (`person=usr_…`)",
                principal.kind().as_str()
            ))
        })?),
    };
    let filter = match audit::reach(principal).map_err(ApiError::Forbidden)? {
        AuditReach::Project { deployment } => EventFilter {
            project: Some(caller.project.as_str()),
            deployment,
            person: asked,
            query: &query,
        },
        AuditReach::Person(me) => {
            if asked.is_some_and(|asked| asked != me.as_str()) {
                return Err(ApiError::Forbidden(format!(
                    "you read your own events only (`person` may be `me` or `{me}`); another person's are for the project's admins and the operator"
                )));
            }
            EventFilter {
                project: None,
                deployment: false,
                person: Some(reader.unwrap_or_default()),
                query: &query,
            }
        }
    };
    let events = StoredEvent::page(&database(env)?, &filter).await?;
    let full = events.len() == query.limit as usize;
    let next_cursor = events
        .last()
        .filter(|_| full)
        .map(|last| last.id.to_string());
    Ok(http::json(
        200,
        &AuditPage {
            events: events.into_iter().map(view).collect(),
            next_cursor,
        },
    ))
}

/// An event as the API shows it.
pub fn view(event: StoredEvent) -> AuditEventView {
    AuditEventView {
        id: event.id,
        at: rfc3339(event.at),
        action: event.action,
        actor: event.actor,
        subject: event.subject,
        project: event.project,
        person: event.person,
        detail: event
            .detail
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or(serde_json::Value::Null),
        credential_hash: event.credential_hash,
        credential_prefix: event.credential_prefix,
        ip: event.ip,
        colo: event.colo,
        user_agent: event.user_agent,
        request_id: event.request_id,
        count: event.count,
    }
}
