//! `POST /api/auth/token` (RFC 6749 §3.2): the device-code grant (RFC 8628 §3.4–3.5) that ends
//! a device login with an access token and the first refresh token of a new family, and the
//! refresh-token grant (RFC 6749 §6) that rotates a family's token. Errors are RFC 6749 §5.2
//! bodies, `{"error", "error_description"}`.
//!
//! The refresh grant follows `core::refresh`'s storage protocol: decide from the stored state,
//! then one batch that spends the token for its derived successor and reads its own answer
//! (`refresh::arbitrate`). A spent token presented again within `refresh::REPLAY_WINDOW_S`,
//! before its successor was used, is answered with that same successor (its first answer may
//! have been lost); otherwise it revokes its whole family. Access tokens are signed JWTs
//! verified with no storage read, so revoking a family cannot reach the access tokens it
//! already issued: they keep working until their `exp` (at most `ACCESS_TOKEN_TTL_SECONDS`,
//! ≤ 900 s, after issue) plus the verifier's 30 s clock-skew allowance.

use edgeauth_core::access_token::{self, AccessGrant, Holder, MintedAccessToken};
use edgeauth_core::api::TokenResponse;
use edgeauth_core::device::{DeviceCode, DevicePoll, PollDecision};
use edgeauth_core::grant::TokenGrant;
use edgeauth_core::ids::revocation_id;
use edgeauth_core::refresh::{self, RefreshDecision};
use edgeauth_core::secret::Secret;
use edgeauth_core::token::{self, MintedToken, TokenKind};
use edgeauth_core::{FamilyId, Login, ProjectName, Role, Scope, TokenHash, UserId};
use serde_json::{json, Value};
use worker::{Context, D1Database, Env, Request, Response};

use crate::api::audit;
use crate::auth::{cache, roles, Caller};
use crate::error::ApiError;
use crate::flows::exchange;
use crate::flows::provider_refresh::{self, Teams};
use crate::http;
use crate::http::body::{self, OAuthBody};
use crate::store::{
    Actor, AuditEvent, DeviceGrantRecord, GrantState, NewFamily, RefreshTokenRecord, Trace,
    UserRecord,
};
use crate::{database, now_ms, WebCrypto};
use edgeauth_core::audit as refusals;

/// A 400 RFC 6749 §5.2 refusal.
pub fn oauth_error(error: &'static str, description: impl Into<String>) -> ApiError {
    ApiError::OAuth {
        status: 400,
        error,
        description: description.into(),
    }
}

fn invalid_grant(description: impl Into<String>) -> ApiError {
    oauth_error("invalid_grant", description)
}

/// `POST /api/auth/token`: no credential; the grant carries its own.
pub async fn token(
    mut req: Request,
    caller: &Caller,
    env: &Env,
    ctx: &Context,
) -> Result<Response, ApiError> {
    let grant = match body::oauth(&mut req).await.map_err(ApiError::oauth_body)? {
        OAuthBody::Empty => TokenGrant::from_pairs(&[]),
        OAuthBody::Form(form) => TokenGrant::from_pairs(form.pairs()),
        OAuthBody::Json(body) => TokenGrant::from_json(&body),
    }
    .map_err(|e| oauth_error(e.error, e.description))?;
    if !caller.settings.has_secret() {
        return Err(ApiError::OAuth {
            status: 501,
            error: "not_configured",
            description: "this server cannot issue access tokens: the operator has not set SECRET"
                .into(),
        });
    }
    match grant {
        TokenGrant::DeviceCode { device_code } => {
            device_code_grant(&device_code, caller, env).await
        }
        // A device's polls are answered `authorization_pending` by design: not refusals.
        TokenGrant::RefreshToken { refresh_token } => {
            refresh_token_grant(&refresh_token, caller, env, ctx).await
        }
        TokenGrant::TokenExchange { subject_token } => {
            let answer = exchange::exchange(&subject_token, caller, env, ctx).await;
            if let Err(refused) = &answer {
                audit::count_refusal(ctx, env, caller, refusals::CI_EXCHANGE_REFUSE, refused);
            }
            answer
        }
    }
}

/// `POST /api/auth/revoke` (RFC 7009): `token=ear_…` revokes the refresh token's whole
/// family, which ends a device login (its access tokens lapse within their lifetime). The
/// answer is 200 whether or not the token was known (§2.2), so it reveals nothing; a token
/// that is not a refresh token is ignored the same way (`unsupported_token_type` would only
/// tell a caller what kind a string is not).
pub async fn revoke(mut req: Request, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let presented = body::oauth(&mut req)
        .await
        .map_err(ApiError::oauth_body)?
        .param("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            oauth_error(
                "invalid_request",
                "give the refresh token to revoke: `token=ear_…`",
            )
        })?;
    // A token this server did not mint is ignored the same way, with no storage read.
    caller.settings.refresh_token_key()?;
    if token::check_format(&presented) == Ok(TokenKind::Refresh)
        && caller
            .settings
            .refresh_key_pairs()
            .iter()
            .any(|(key, _)| token::verify_tag(&presented, key).is_ok())
    {
        let db = database(env)?;
        if let Some(record) =
            RefreshTokenRecord::find_by_hash(&db, &TokenHash::of(&presented)).await?
        {
            let actor = Actor::User(record.user_id.clone());
            revoke_family(
                &db,
                &record,
                actor,
                json!({"reason": "logout"}),
                &caller.trace,
                now_ms(),
            )
            .await?;
        }
    }
    let mut response = http::json(200, &json!({}));
    http::set_header(&mut response, "Cache-Control", "no-store");
    Ok(response)
}

/// A device-code poll: the answer of `DevicePoll::decide`, recorded; on approval, the grant is
/// spent and a family started in one batch that exactly one poll wins.
async fn device_code_grant(
    presented: &str,
    caller: &Caller,
    env: &Env,
) -> Result<Response, ApiError> {
    const UNKNOWN: &str = "the device code is not known here (mistyped, or swept long after it expired); start again with POST /api/auth/device/code";
    let code = DeviceCode::parse(presented).ok_or_else(|| invalid_grant(UNKNOWN))?;
    let db = database(env)?;
    let grant = DeviceGrantRecord::find_by_hash(&db, &code.hash())
        .await?
        .ok_or_else(|| invalid_grant(UNKNOWN))?;
    let status = match grant.state() {
        GrantState::Consumed => return Err(invalid_grant(
            "the device code was already exchanged for tokens; a device code is good for one login",
        )),
        GrantState::Open(status) => status,
    };
    let now = now_ms();
    let interval_s = u32::try_from(grant.interval_s).unwrap_or(u32::MAX);
    let decision = DevicePoll {
        now_ms: now,
        last_poll_at_ms: grant.last_polled_at,
        interval_s,
        status,
        expires_at_ms: grant.expires_at,
    }
    .decide();
    let (error, description) = match decision {
        PollDecision::Approved => return issue_first_tokens(&grant, caller, env, now).await,
        PollDecision::AuthorizationPending => (
            "authorization_pending",
            format!("the person has not approved or denied this login yet; poll again in {interval_s} s"),
        ),
        PollDecision::SlowDown { new_interval_s } => (
            "slow_down",
            format!("polled sooner than the interval allows; wait at least {new_interval_s} s between polls from now on"),
        ),
        PollDecision::AccessDenied => (
            "access_denied",
            "the person denied this login at /device".to_owned(),
        ),
        PollDecision::ExpiredToken => (
            "expired_token",
            "the device code expired before the login was approved; start again".to_owned(),
        ),
    };
    let new_interval_s = match decision {
        PollDecision::SlowDown { new_interval_s } => new_interval_s,
        _ => interval_s,
    };
    grant.record_poll(&db, now, new_interval_s).await?;
    Err(oauth_error(error, description))
}

/// The approved grant's tokens: a new family (capped at `REFRESH_FAMILY_MAX_AGE_SECONDS` from
/// now), its first refresh token and an access token. The grant is spent in the same batch
/// that stores the family, conditionally, so concurrent polls yield one family.
async fn issue_first_tokens(
    grant: &DeviceGrantRecord,
    caller: &Caller,
    env: &Env,
    now: i64,
) -> Result<Response, ApiError> {
    let user_id = grant
        .user_id
        .as_ref()
        .ok_or_else(|| ApiError::Internal("an approved device grant has no user".into()))?;
    let db = database(env)?;
    // The role as of now: the person approved the login, but a role can go in between.
    let teams = UserRecord::find(&db, user_id)
        .await?
        .map(|user| user.teams)
        .unwrap_or_default();
    let role = roles::role_of(&teams, &caller.settings, &grant.project, env)
        .await?
        .ok_or_else(|| invalid_grant(no_role(&grant.project)))?;
    let scope = Scope::all();
    let family_id = refresh::new_family_id(&mut WebCrypto);
    let family_expires_at = caller.config().refresh_family.expires_at_ms(now);
    let access = mint_access(
        caller,
        &Family {
            id: &family_id,
            user_id,
            role,
            project: &grant.project,
            scope: &scope,
            expires_at: family_expires_at,
        },
        now,
    )?;
    let refresh = token::mint(
        TokenKind::Refresh,
        caller.settings.refresh_token_key()?,
        &mut WebCrypto,
    );
    let won = grant
        .redeem(
            &db,
            &NewFamily {
                id: &family_id,
                scope: &scope,
                created_at: now,
                expires_at: family_expires_at,
            },
            refresh.hash(),
            AuditEvent {
                at: now,
                project: Some(grant.project.as_str()),
                actor: Actor::User(user_id.clone()),
                action: "refresh_family.create",
                subject: family_id.as_str(),
                detail: json!({
                    "via": "device",
                    "device_grant": grant.device_code_hash,
                    "client_name": grant.client_name,
                    "expires_at": edgeauth_core::time::rfc3339(family_expires_at),
                })
                .to_string(),
                person: None,
                trace: &caller.trace,
            },
        )
        .await?;
    if !won {
        return Err(invalid_grant(
            "the device code was already exchanged for tokens; a device code is good for one login",
        ));
    }
    Ok(token_response(&access, &refresh, &scope))
}

/// A refresh: `refresh::decide`, then the rotation batch and `refresh::arbitrate`; the same
/// derived successor answers a rotation and a replay; reuse revokes the family.
async fn refresh_token_grant(
    presented: &str,
    caller: &Caller,
    env: &Env,
    ctx: &Context,
) -> Result<Response, ApiError> {
    // Step 1: a mistyped or forged token is refused with no storage read. It may have been
    // made under SECRET or, before a rotation, SECRET_PREVIOUS.
    let pairs = caller.settings.refresh_key_pairs();
    if token::check_format(presented) != Ok(TokenKind::Refresh)
        || !pairs
            .iter()
            .any(|(key, _)| token::verify_tag(presented, key).is_ok())
    {
        return Err(invalid_grant(
            "the refresh token is not one this server issued (it must be an `ear_` token, copied in full); log in again",
        ));
    }
    // A token this server made: its refusal (spent, revoked, expired) is counted in the audit
    // trail. A forgery's, above, costs nothing, storage included.
    let answer = refresh_issued_token(presented, caller, env).await;
    if let Err(refused) = &answer {
        audit::count_refusal(ctx, env, caller, refusals::REFRESH_REFUSE, refused);
    }
    answer
}

/// Steps 2 to 4 for a refresh token this server made (its tag checked).
async fn refresh_issued_token(
    presented: &str,
    caller: &Caller,
    env: &Env,
) -> Result<Response, ApiError> {
    let refresh_key = caller.settings.refresh_token_key()?;
    let successor_key = caller.settings.refresh_successor_key()?;
    let pairs = caller.settings.refresh_key_pairs();
    let hash = TokenHash::of(presented);
    let db = database(env)?;
    let record = RefreshTokenRecord::find_by_hash(&db, &hash).await?;
    // The successor is derived from the presented token, under the current SECRET: a replay
    // gets the same one. A replay of a token spent just before SECRET was rotated gets the
    // successor it was spent for, derived under the keys of then.
    let successor = pairs
        .iter()
        .skip(1)
        .map(|(tag, successor)| refresh::successor(presented, successor, tag))
        .find(|earlier| {
            record
                .as_ref()
                .and_then(|r| r.replaced_by.as_deref())
                .is_some_and(|spent_for| spent_for == earlier.hash().as_hex())
        })
        .unwrap_or_else(|| refresh::successor(presented, successor_key, refresh_key));
    let now = now_ms();
    let stored = record.as_ref().map(RefreshTokenRecord::stored);
    let decision = refresh::decide(stored.as_ref(), successor.hash(), now);
    let record = match (decision, record) {
        (RefreshDecision::Rotate | RefreshDecision::Replay, Some(record)) => record,
        (RefreshDecision::Reuse, Some(record)) => {
            return Err(revoke_reused_family(&record, presented, caller, env, now).await)
        }
        (other, _) => return Err(invalid_grant(other.description())),
    };
    // The role is read again at every refresh, from the teams the provider gives now (asked
    // again once the ones stored are older than the revocation bound): a person no longer in
    // any of the project's teams, or no longer vouched for by the provider, ends their device
    // login here.
    let teams = match provider_refresh::at_refresh(&record, caller, env, now).await? {
        Teams::Current(teams) => teams,
        Teams::Ended(why) => {
            let detail = json!({"reason": "provider", "user_id": record.user_id, "why": why});
            revoke_family(&db, &record, Actor::RoleLost, detail, &caller.trace, now).await?;
            return Err(invalid_grant(format!("{why}; log in again")));
        }
    };
    let Some(role) = roles::role_of(&teams, &caller.settings, &record.project, env).await? else {
        let detail = json!({"reason": "role", "user_id": record.user_id});
        revoke_family(&db, &record, Actor::RoleLost, detail, &caller.trace, now).await?;
        return Err(invalid_grant(no_role(&record.project)));
    };
    let scope = record.scope.clone();
    let access = mint_access(
        caller,
        &Family {
            id: &record.family_id,
            user_id: &record.user_id,
            role,
            project: &record.project,
            scope: &scope,
            expires_at: record.family_expires_at,
        },
        now,
    )?;
    let trace = Trace {
        credential_hash: Some(hash.as_hex().to_owned()),
        ..caller.trace.clone()
    };
    let refreshed = AuditEvent {
        at: now,
        project: Some(record.project.as_str()),
        actor: Actor::User(record.user_id.clone()),
        action: "refresh_token.rotate",
        subject: record.family_id.as_str(),
        detail: json!({"role": role.as_str()}).to_string(),
        person: None,
        trace: &trace,
    };
    let rotation = RefreshTokenRecord::rotate(&db, &hash, successor.hash(), now, refreshed).await?;
    match refresh::arbitrate(rotation.spent, rotation.answerable) {
        RefreshDecision::Rotate => Ok(token_response(&access, &successor, &scope)),
        RefreshDecision::Replay => {
            worker::console_log!(
                "refresh token replayed within {} s: family {} answered with the same successor",
                refresh::REPLAY_WINDOW_S,
                record.family_id
            );
            Ok(token_response(&access, &successor, &scope))
        }
        _ => Err(revoke_reused_family(&record, presented, caller, env, now).await),
    }
}

/// Step 4: a spent token came back, so two parties hold the family; revoke it (once, with
/// its audit event) and refuse. Any error while revoking is answered as that error.
async fn revoke_reused_family(
    record: &RefreshTokenRecord,
    presented: &str,
    caller: &Caller,
    env: &Env,
    now: i64,
) -> ApiError {
    // The event names the refresh token that came back, as it would a credential.
    let trace = Trace {
        credential_hash: Some(TokenHash::of(presented).as_hex().to_owned()),
        ..caller.trace.clone()
    };
    let detail = json!({
        "reason": "reuse",
        "user_id": record.user_id,
        "token_prefix": presented.get(..token::DISPLAY_PREFIX_CHARS),
    });
    let revoked = async {
        let db = database(env)?;
        revoke_family(&db, record, Actor::RefreshReuse, detail, &trace, now).await
    }
    .await;
    match revoked {
        Ok(_) => invalid_grant(RefreshDecision::Reuse.description()),
        Err(e) => e,
    }
}

/// Revokes `record`'s family (once: its audit event is recorded only by the request whose
/// revocation took effect).
async fn revoke_family(
    db: &D1Database,
    record: &RefreshTokenRecord,
    actor: Actor,
    detail: Value,
    trace: &Trace,
    now: i64,
) -> Result<bool, ApiError> {
    // The tokens created with the login end with it: at once in this isolate.
    cache::forget_login(&Login::Device(record.family_id.clone()));
    Ok(RefreshTokenRecord::revoke_family(
        db,
        &record.family_id,
        now,
        &revocation_id(&mut WebCrypto),
        AuditEvent {
            at: now,
            project: Some(record.project.as_str()),
            actor,
            action: "refresh_family.revoke",
            subject: record.family_id.as_str(),
            detail: detail.to_string(),
            person: Some(&record.user_id),
            trace,
        },
    )
    .await?)
}

/// Why a person gets no token in `project`: they have no role there (any more).
fn no_role(project: &ProjectName) -> String {
    format!(
        "your account is in none of the teams that use project `{project}` (any more), so this login has ended; ask an admin of the project to add one of your teams, then log in again"
    )
}

/// An access token for a family's user: `ACCESS_TOKEN_TTL_SECONDS`, cut so that it never
/// outlives the family.
/// A device login (refresh family), as its access tokens carry it.
struct Family<'a> {
    id: &'a FamilyId,
    user_id: &'a UserId,
    /// The person's role in the project, read now.
    role: Role,
    project: &'a ProjectName,
    scope: &'a Scope,
    expires_at: i64,
}

fn mint_access(
    caller: &Caller,
    family: &Family<'_>,
    now: i64,
) -> Result<MintedAccessToken, ApiError> {
    access_token::mint(
        caller.settings.signing_keys()?,
        &AccessGrant {
            issuer: caller.own_origin(),
            holder: Holder::Person {
                user_id: family.user_id.to_string(),
                family_id: family.id.to_string(),
                role: family.role,
            },
            project: family.project.clone(),
            scope: family.scope.clone(),
            now_s: now.div_euclid(1000),
            lifetime_s: refresh::access_lifetime_s(
                caller.config().access_token_ttl_s,
                now,
                family.expires_at,
            ),
        },
        &mut WebCrypto,
    )
    .map_err(|e| ApiError::Internal(format!("minting an access token: {e}")))
}

/// RFC 6749 §5.1: the tokens, never cached.
fn token_response(access: &MintedAccessToken, refresh: &MintedToken, scope: &Scope) -> Response {
    let mut response = http::json(
        200,
        &TokenResponse {
            access_token: Secret::new(access.plaintext()),
            token_type: "Bearer".to_owned(),
            expires_in: access.expires_in_s(),
            refresh_token: Secret::new(refresh.plaintext()),
            scope: Some(scope.to_strings().join(" ")),
        },
    );
    http::set_header(&mut response, "Cache-Control", "no-store");
    http::set_header(&mut response, "Pragma", "no-cache");
    response
}
