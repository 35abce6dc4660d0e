//! The device login (RFC 8628): `POST /api/auth/device/code` (the CLI asks for a device code
//! and a user code), and `GET/POST /device` (the person, signed in in a browser, enters the
//! user code, sees what is asked, and approves or denies). The CLI then polls
//! `POST /api/auth/token` ([`crate::grants`]).
//!
//! Nothing is kept in memory between steps: the grant lives in D1, keyed by the SHA-256 of
//! the device code, so any replica can serve any step. Guessing user codes is rate limited per
//! session and per user (`core::device::LookupFailures`), counted in D1 in the same batch as
//! the lookup; only a submitted form guesses (a `GET /device?user_code=…` only fills the
//! field), so a link from another site cannot spend a person's attempts. Asking for device
//! codes is braked per client address by the Rate Limiting binding (per location) and capped
//! per project in D1 (exact, in the batch that inserts), so a flood cannot fill D1.

use edgeauth_core::api::DeviceAuthorization;
use edgeauth_core::device::{
    self, DeviceCode, LookupFailures, DEVICE_CODE_LIFETIME_S, MAX_USER_CODE_INPUT, POLL_INTERVAL_S,
};
use edgeauth_core::encoding::percent_encode;
use edgeauth_core::id_token::{self, ClaimError};
use edgeauth_core::secret::Secret;
use edgeauth_core::time::{minutes_rounded_up, spoken_duration};
use edgeauth_core::{session, BrowserSession};
use serde_json::{json, Value};
use worker::{Env, Request, Response};

use super::token_grant::oauth_error;
use crate::auth::{roles, Caller};
use crate::error::ApiError;
use crate::http::body::{self, OAuthBody};
use crate::http::{self, redirect};
use crate::pages;
use crate::store::{
    Actor, AuditEvent, CodeLookups, DeviceGrantRecord, GrantInsert, GrantStatus, UserRecord,
};
use crate::{database, now_ms, WebCrypto};

/// Where the person enters the user code (`verification_uri`, RFC 8628 §3.2).
pub const VERIFICATION_PATH: &str = "/device";

/// Most live pending device grants a project may have at once (docs/api.md). Counted in D1
/// in the batch that inserts, so requests from any number of addresses and locations cannot
/// store more; a legitimate login needs one for at most 15 minutes.
pub const MAX_PENDING_GRANTS: u32 = 1000;

/// `POST /api/auth/device/code` (RFC 8628 §3.1–3.2): a new device grant for the request's
/// project. No credential is needed; the body is empty, a form, or JSON, with an optional
/// `client_name`.
pub async fn code(mut req: Request, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    if let Some(problem) = caller.settings.sign_in_problem() {
        return Err(ApiError::OAuth {
            status: 501,
            error: "not_configured",
            description: problem,
        });
    }
    let name = match body::oauth(&mut req).await.map_err(ApiError::oauth_body)? {
        OAuthBody::Empty => None,
        OAuthBody::Form(form) => form.get("client_name").map(Value::from),
        OAuthBody::Json(Value::Object(mut object)) => object.remove("client_name"),
        OAuthBody::Json(_) => {
            return Err(oauth_error(
                "invalid_request",
                "the body must be empty or a JSON object like {\"client_name\": \"edgeauth CLI on laptop\"}",
            ))
        }
    };
    let client_name =
        device::client_name(name.as_ref()).map_err(|e| oauth_error("invalid_request", e))?;
    let db = database(env)?;
    let now = now_ms();
    let origin = caller.own_origin();
    // A user code is unique among the grants not yet swept; a clash (about one in 10^10 per
    // live grant) just draws again.
    for _ in 0..4 {
        let device_code = DeviceCode::generate(&mut WebCrypto);
        let user_code = device::generate_user_code(&mut WebCrypto);
        let grant = DeviceGrantRecord {
            device_code_hash: device_code.hash().as_hex().to_owned(),
            user_code: user_code.clone(),
            project: caller.project.clone(),
            client_name: client_name.clone(),
            status: GrantStatus::Pending,
            user_id: None,
            created_at: now,
            expires_at: now + i64::from(DEVICE_CODE_LIFETIME_S) * 1000,
            interval_s: i64::from(POLL_INTERVAL_S),
            last_polled_at: None,
        };
        match grant.insert(&db, now, MAX_PENDING_GRANTS).await? {
            GrantInsert::Stored => {
                return Ok(http::json(
                    200,
                    &DeviceAuthorization {
                        device_code: Secret::new(device_code.as_str()),
                        verification_uri: format!("{origin}{VERIFICATION_PATH}"),
                        verification_uri_complete: Some(format!(
                            "{origin}{VERIFICATION_PATH}?user_code={user_code}"
                        )),
                        user_code,
                        expires_in: u64::from(DEVICE_CODE_LIFETIME_S),
                        interval: Some(u64::from(POLL_INTERVAL_S)),
                    },
                ))
            }
            GrantInsert::CodeTaken => {}
            // A flood (from however many addresses) has filled the project's places: the
            // server's state, not this client's doing, so 503 (RFC 6749 §4.1.2.1's
            // `temporarily_unavailable`) until the first of them expires.
            GrantInsert::Full { next_expiry_ms } => {
                let retry_after_s = u64::try_from(next_expiry_ms - now)
                    .unwrap_or(0)
                    .div_ceil(1000)
                    .max(1);
                return Err(ApiError::OAuth {
                    status: 503,
                    error: "temporarily_unavailable",
                    description: format!(
                        "this project has {MAX_PENDING_GRANTS} device logins waiting for approval, the most it keeps; try again in {}",
                        minutes_rounded_up(retry_after_s)
                    ),
                }
                .retry_after(retry_after_s));
            }
        }
    }
    Err(ApiError::Internal(
        "could not store a device grant: every user code drawn was taken".into(),
    ))
}

/// The person signed in in this browser, with their record: `None` without a session (or
/// with one whose user is gone); 403 for a credential that is not a browser session (only a
/// person at a browser approves a device).
async fn session_person<'c>(
    caller: &'c Caller,
    env: &Env,
) -> Result<Option<(&'c BrowserSession, UserRecord)>, ApiError> {
    let Some(session) = caller.browser_person("approving a device")? else {
        return Ok(None);
    };
    Ok(UserRecord::find(&database(env)?, &session.user_id)
        .await?
        .map(|user| (session, user)))
}

/// Sends the browser to sign in, then back to `/device` with the code typed so far.
fn sign_in_first(status: u16, typed: Option<&str>) -> Result<Response, ApiError> {
    let return_to = match typed.filter(|t| !t.is_empty() && t.len() <= MAX_USER_CODE_INPUT) {
        Some(code) => format!("{VERIFICATION_PATH}?user_code={}", percent_encode(code)),
        None => VERIFICATION_PATH.to_owned(),
    };
    Ok(redirect(
        status,
        &format!("/api/auth/login?return_to={}", percent_encode(&return_to)),
        &[],
    ))
}

/// What a user-code lookup found.
enum Lookup {
    Found(DeviceGrantRecord),
    /// Not a live pending grant's code (or not a user code at all): a failure, counted.
    NotValid,
    /// Too many failures: nothing was looked up; retry after this many seconds.
    Limited(u32),
}

/// Looks `typed` up for the person of `session_id`/`user_id`, under the guessing limit. A
/// limited subject gets no lookup at all; a lookup that raced past the limit (concurrent
/// requests) is decided by the counts read in its own transaction, so no more than
/// `MAX_FAILED_LOOKUPS` failures are ever answered per window.
async fn look_up(
    env: &Env,
    session_id: &str,
    user_id: &str,
    typed: &str,
    now: i64,
) -> Result<Lookup, ApiError> {
    let db = database(env)?;
    let subjects = [format!("session:{session_id}"), format!("user:{user_id}")];
    if let Some(retry) =
        LookupFailures::most_limiting(&CodeLookups::failures(&db, &subjects).await?, now)
    {
        return Ok(Lookup::Limited(retry));
    }
    let normalized = device::normalize_user_code(typed);
    let (before, grant) = CodeLookups::lookup(&db, &subjects, normalized.as_deref(), now).await?;
    if let Some(retry) = LookupFailures::most_limiting(&before, now) {
        return Ok(Lookup::Limited(retry));
    }
    Ok(grant.map_or(Lookup::NotValid, Lookup::Found))
}

const NOT_VALID: &str = "That code is not valid or has expired. Check it against the one your terminal shows, or start the login again.";

fn limited_page(retry_after_s: u32) -> Response {
    let mut response = pages::page_response(
        429,
        pages::error_html(
            429,
            "too_many_attempts",
            &format!(
                "Too many codes entered here were not valid. Wait {} before trying again.",
                minutes_rounded_up(u64::from(retry_after_s))
            ),
        ),
    );
    http::set_header(&mut response, "Retry-After", &retry_after_s.to_string());
    response
}

/// The entry page: the field for the code (`typed` in it), posting the guess with the
/// session's CSRF token.
fn entry_page(
    caller: &Caller,
    status: u16,
    message: Option<&str>,
    typed: &str,
    csrf_token: &str,
) -> Response {
    let config = caller.config();
    pages::page_response(
        status,
        pages::device_entry_html(&pages::DeviceEntryView {
            message,
            typed,
            csrf_token,
            access_lifetime: &spoken_duration(config.access_token_ttl_s),
            login_lifetime: &spoken_duration(config.refresh_family.max_age_s()),
        }),
    )
}

/// `GET /device[?user_code=…]`: without a session, sign in first (the code kept); with one,
/// the form to enter the code, filled with `user_code` when the link carried it (the CLI's
/// `verification_uri_complete`). A GET never looks a code up and never counts as a guess:
/// anyone's page can make a browser open this URL, so only the form's post (which needs the
/// session's CSRF token) guesses, and the person confirms the code first (RFC 8628 §3.3.1).
pub async fn page(caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    if let Some(problem) = caller.settings.sign_in_problem() {
        return Err(ApiError::NotConfigured(problem));
    }
    let key = caller.settings.cookie_key()?;
    let typed = caller.query("user_code").map(|t| t.trim().to_owned());
    let Some((session, _)) = session_person(caller, env).await? else {
        return sign_in_first(302, typed.as_deref());
    };
    let typed = typed
        .filter(|t| t.len() <= MAX_USER_CODE_INPUT)
        .unwrap_or_default();
    let csrf = session::csrf_token(key, session.cookie_hash.as_hex());
    Ok(entry_page(caller, 200, None, &typed, &csrf))
}

/// `POST /device` (form: `user_code`, `csrf_token`, checked by the pipeline, and
/// `decision`). Without `decision` it is the entry form's guess: the code is looked up under
/// the guessing limit and answered with what is asked (Approve, Deny), or the entry page
/// again. With `decision=approve|deny` it is the confirmation's: the code is looked up again,
/// under the same limit, and the pending grant approved or denied. Approval needs the person
/// to be in `ALLOWED_TEAMS` when it is set (their teams as of their last sign-in); otherwise
/// 403 and the grant is left as it was.
pub async fn decide(mut req: Request, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    if let Some(problem) = caller.settings.sign_in_problem() {
        return Err(ApiError::NotConfigured(problem));
    }
    let settings = caller.settings.oidc()?;
    let key = caller.settings.cookie_key()?;
    let form = body::form(&mut req).await?;
    let typed = form.get("user_code").unwrap_or_default();
    let typed = typed.trim();
    let Some((session, user)) = session_person(caller, env).await? else {
        // The session ended while the page was open: sign in again, back to the code.
        return sign_in_first(303, Some(typed));
    };
    let decision = match form.get("decision").as_deref() {
        None => None,
        Some("approve") => Some(true),
        Some("deny") => Some(false),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "`decision` must be `approve` or `deny`; use the buttons of the /device page"
                    .into(),
            ))
        }
    };
    let now = now_ms();
    let session_id = session.session_id.as_str();
    let csrf = session::csrf_token(key, session.cookie_hash.as_hex());
    let grant = match look_up(env, session_id, user.id.as_str(), typed, now).await? {
        Lookup::Found(grant) => grant,
        Lookup::NotValid => return Ok(entry_page(caller, 400, Some(NOT_VALID), typed, &csrf)),
        Lookup::Limited(retry) => return Ok(limited_page(retry)),
    };
    let Some(approve) = decision else {
        let config = caller.config();
        return Ok(pages::page_response(
            200,
            pages::device_confirm_html(&pages::DeviceConfirmView {
                user_code: &grant.user_code,
                client_name: &grant.client_name,
                person_email: user.email.as_deref(),
                person_name: user.name.as_deref(),
                project: grant.project.as_str(),
                access_lifetime: &spoken_duration(config.access_token_ttl_s),
                login_lifetime: &spoken_duration(config.refresh_family.max_age_s()),
                csrf_token: &csrf,
            }),
        ));
    };
    // A person who may not approve is refused, and the grant is denied as their Deny would
    // deny it, so that the waiting device stops at once instead of polling until it expires.
    let refusal = if !approve {
        None
    } else if !id_token::admitted(&settings.allowed_teams, &user.teams) {
        Some((
            "not_in_allowed_team",
            format!(
                "{} Until then it cannot approve a device; once added, sign in again.",
                ClaimError::NotInAllowedTeam
            ),
        ))
    } else if roles::role_of(&user.teams, &caller.settings, &grant.project, env)
        .await?
        .is_none()
    {
        Some((
            "no_role",
            format!(
                "Your account is in none of the teams that use project {}, so it cannot approve a login to it. Ask an admin of the project to add one of your teams.",
                grant.project
            ),
        ))
    } else {
        None
    };
    let approve = approve && refusal.is_none();
    let mut detail = json!({"client_name": grant.client_name, "session": session_id});
    if let Some((reason, _)) = &refusal {
        detail["refused"] = json!(reason);
    }
    let decided = grant
        .decide(
            &database(env)?,
            &user.id,
            approve,
            now,
            AuditEvent {
                at: now,
                project: Some(grant.project.as_str()),
                actor: Actor::User(user.id.clone()),
                action: if approve {
                    "device.approve"
                } else {
                    "device.deny"
                },
                subject: &grant.device_code_hash,
                detail: detail.to_string(),
                person: None,
                trace: &caller.trace,
            },
        )
        .await?;
    if let Some((code, message)) = refusal {
        return Ok(pages::page_response(
            403,
            pages::error_html(
                403,
                code,
                &format!("{message} The device that asked was told no: start its login again once this is fixed."),
            ),
        ));
    }
    if !decided {
        // Decided in another tab, or expired, since the lookup.
        return Ok(entry_page(caller, 400, Some(NOT_VALID), typed, &csrf));
    }
    Ok(pages::page_response(
        200,
        pages::device_done_html(&pages::DeviceDoneView {
            approved: approve,
            client_name: &grant.client_name,
            project: grant.project.as_str(),
            login_lifetime: &spoken_duration(caller.config().refresh_family.max_age_s()),
        }),
    ))
}
