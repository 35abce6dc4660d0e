//! Verification of every kind of credential, in one place.
//!
//! Order matters for cost: the super token is one hash comparison; every minted token's
//! prefix and checksum are checked offline, a service token's per-project tag and an access
//! token's signature too, before any storage read, so forged and mistyped tokens never reach
//! D1. What D1 then decides (revoked? expired? this project?) is decided here as well.

use edgeauth_core::access_token::{self, AccessClaims, AccessTokenError, Holder};
use edgeauth_core::crypto::DerivedKey;
use edgeauth_core::signing::KeyRing;
use edgeauth_core::token::{self, TokenKind};
use edgeauth_core::{BrowserSession, Credential, Principal, ProjectName, Scope};
use edgeauth_core::{FamilyId, Login, TokenHash, UserId};
use worker::{Context, Env};

use super::{cache, lifetime, roles, Presented};
use crate::error::ApiError;
use crate::settings::Settings;
use crate::store::{record_use, SessionRecord, TokenOwner, TokenRecord, TokenTable};
use crate::{database, now_ms};

/// The principal of a presented credential. A bad bearer credential is 401; a session
/// cookie that is unknown or expired is `None` (the request goes on anonymously).
pub async fn verify(
    presented: &Presented,
    settings: &Settings,
    project: &ProjectName,
    env: &Env,
    ctx: &Context,
) -> Result<Option<Principal>, ApiError> {
    match presented {
        Presented::None => Ok(None),
        Presented::Bearer(token) => bearer(token, settings, project, env, ctx).await.map(Some),
        Presented::SessionCookie(value) => session(value, settings, project, env, ctx).await,
    }
}

/// The principal of a bearer token, or 401 saying what is wrong with it.
pub(super) async fn bearer(
    token: &str,
    settings: &Settings,
    project: &ProjectName,
    env: &Env,
    ctx: &Context,
) -> Result<Principal, ApiError> {
    let hash = TokenHash::of(token);
    if settings
        .config
        .super_token_hash
        .as_ref()
        .is_some_and(|expected| hash.ct_eq(expected))
    {
        return Ok(Principal::super_token(project.clone()));
    }
    let kind =
        token::check_format(token).map_err(|e| ApiError::InvalidCredential(e.to_string()))?;
    match kind {
        TokenKind::Service => service_token(token, &hash, settings, project, env, ctx).await,
        TokenKind::User => user_token(token, &hash, settings, project, env, ctx).await,
        TokenKind::Access => access(token, &hash, settings, project),
        TokenKind::Refresh => Err(ApiError::InvalidCredential(
            "a refresh token is not a bearer credential; exchange it at POST /api/auth/token"
                .into(),
        )),
    }
}

/// A service token: the project's tag offline, then one D1 read for revocation and expiry.
async fn service_token(
    token: &str,
    hash: &TokenHash,
    settings: &Settings,
    project: &ProjectName,
    env: &Env,
    ctx: &Context,
) -> Result<Principal, ApiError> {
    let keys = settings.service_token_keys(project);
    if keys.is_empty() {
        return Err(ApiError::InvalidCredential(
            "this server cannot verify service tokens: it has no SECRET".into(),
        ));
    }
    tag_verifies(token, &keys.iter().collect::<Vec<_>>())?;
    let record = stored_token(TokenTable::ServiceTokens, hash, settings, project, env, ctx).await?;
    Ok(Principal {
        login: record.parent,
        credential: Credential::Service {
            token_id: record.id,
            name: record.name,
        },
        scope: record.scope,
        project: project.clone(),
        expires_at_ms: record.expires_at,
        role: None,
    })
}

/// A user token: its tag offline (a token this server did not mint never reaches D1), then
/// one D1 read for revocation, expiry and project.
async fn user_token(
    token: &str,
    hash: &TokenHash,
    settings: &Settings,
    project: &ProjectName,
    env: &Env,
    ctx: &Context,
) -> Result<Principal, ApiError> {
    let keys = settings.user_token_keys();
    if keys.is_empty() {
        return Err(ApiError::InvalidCredential(
            "this server cannot verify user API tokens: it has no SECRET".into(),
        ));
    }
    tag_verifies(token, &keys)?;
    let record = stored_token(TokenTable::UserTokens, hash, settings, project, env, ctx).await?;
    let TokenOwner::User { user_id, .. } = record.owner else {
        return Err(ApiError::Internal(format!(
            "user token {} has no user",
            record.id
        )));
    };
    let teams = record.owner_teams.unwrap_or_default();
    let role = roles::role_of(&teams, settings, project, env).await?;
    Ok(Principal {
        role,
        login: record.parent,
        credential: Credential::User {
            token_id: record.id,
            name: record.name,
            user_id,
        },
        scope: record.scope,
        project: project.clone(),
        expires_at_ms: record.expires_at,
    })
}

/// The stored token of `hash`, if it is live, of `project` and not unused longer than the
/// project's lifetime policy allows, its use recorded: remembered by the isolate ([`cache`]),
/// or read from D1 and then remembered. A service token of another project is not known here
/// (its tag already bound it to its project); a user token of another project is told so.
async fn stored_token(
    table: TokenTable,
    hash: &TokenHash,
    settings: &Settings,
    project: &ProjectName,
    env: &Env,
    ctx: &Context,
) -> Result<TokenRecord, ApiError> {
    // One refusal for every way a well-formed token fails here (unknown, revoked, expired,
    // another project), as RFC 6750's `invalid_token` is: which one it was would tell a
    // holder of someone else's token more than they need; the owner can see it in the list.
    let refused = || {
        ApiError::InvalidCredential(
            match table {
                TokenTable::ServiceTokens => "the service token is not valid here: it is unknown to this server, revoked, expired, or of another project; create a new one",
                TokenTable::UserTokens => "the user API token is not valid here: it is unknown to this server, revoked, expired, or of another project; create a new one at /account or with `edgeauth token create`",
            }
            .to_owned(),
        )
    };
    let now = now_ms();
    let db = database(env)?;
    let record = match cache::token(table, hash, now) {
        Some(remembered) => {
            crate::stats::cache_hit();
            remembered
        }
        None => {
            crate::stats::cache_miss();
            let stored = TokenRecord::find_by_hash(&db, table, hash).await?;
            // A revoked token is remembered too: revocation is for good, so presenting it
            // again costs no read either.
            if let Some(record) = &stored {
                cache::remember_token(table, hash, record, settings.config.revocation_bound_s, now);
            }
            stored.ok_or_else(refused)?
        }
    };
    if record.revoked_at.is_some() || record.is_expired(now) || record.project != *project {
        return Err(refused());
    }
    // Its project's lifetime policy, remembered as the token is: a token unused too long is
    // told why (nothing about it is secret to its holder), before this use counts as one.
    let policy = lifetime::of_project(settings, project, env).await?;
    if record.is_unused_under(&policy, now) {
        return Err(ApiError::InvalidCredential(
            policy.unused_refusal(record.governed(), project.as_str()),
        ));
    }
    if record_use(ctx, &db, &record, now)? {
        cache::note_use(table, hash, now);
    }
    Ok(record)
}

/// An access token: its signature, expiry and project; no storage read. Once verified, it is
/// remembered until it expires ([`cache::access_token`]).
fn access(
    token: &str,
    hash: &TokenHash,
    settings: &Settings,
    project: &ProjectName,
) -> Result<Principal, ApiError> {
    let now = now_ms();
    if let Some(principal) = cache::access_token(hash, now).filter(|p| p.project == *project) {
        return Ok(principal);
    }
    let rings = settings.signing_rings();
    if rings.is_empty() {
        return Err(ApiError::InvalidCredential(
            "this server cannot verify access tokens: it has no SECRET".into(),
        ));
    }
    let claims = verify_access_token(token, &rings, now.div_euclid(1000))
        .and_then(|c| c.check_project(project).map(|()| c))
        .map_err(|e| ApiError::InvalidCredential(e.to_string()))?;
    let expires_at_ms = claims.expires_at_ms();
    let (credential, role, login) = match claims.holder {
        Holder::Person {
            user_id,
            family_id,
            role,
        } => {
            let family_id = FamilyId::new(family_id);
            (
                Credential::Access {
                    token_id: claims.token_id,
                    user_id: UserId::new(user_id),
                    family_id: family_id.clone(),
                },
                Some(role),
                Some(Login::Device(family_id)),
            )
        }
        Holder::Ci {
            policy_id,
            identity,
        } => (
            Credential::Ci {
                token_id: claims.token_id,
                policy_id,
                identity,
            },
            None,
            None,
        ),
    };
    let principal = Principal {
        credential,
        role,
        login,
        expires_at_ms: Some(expires_at_ms),
        scope: claims.scope,
        project: project.clone(),
    };
    cache::remember_access_token(hash, &principal, now);
    Ok(principal)
}

/// A session cookie: one D1 read by its hash. Unknown or expired is `None`, not an error: a
/// stale cookie makes the request anonymous rather than failing it.
async fn session(
    value: &str,
    settings: &Settings,
    project: &ProjectName,
    env: &Env,
    ctx: &Context,
) -> Result<Option<Principal>, ApiError> {
    let hash = TokenHash::of(value);
    let now = now_ms();
    let record = match cache::session(&hash, now) {
        Some(remembered) => {
            crate::stats::cache_hit();
            remembered
        }
        None => {
            crate::stats::cache_miss();
            let db = database(env)?;
            let Some(record) = SessionRecord::find_by_hash(&db, &hash).await? else {
                return Ok(None);
            };
            // Read from D1 at most once per bound per isolate: when it was last used, for
            // the person's list of sessions, is written then (at most every 5 minutes).
            if record.expires_at > now {
                crate::store::record_session_seen(ctx, &db, &record.id, record.last_seen_at, now)?;
            }
            cache::remember_session(&hash, &record, settings.config.revocation_bound_s, now);
            record
        }
    };
    if record.expires_at <= now {
        return Ok(None);
    }
    let role = roles::role_of(&record.user_teams, settings, project, env).await?;
    let name = record
        .user_name
        .or(record.user_email)
        .unwrap_or_else(|| record.user_id.to_string());
    Ok(Some(Principal {
        role,
        credential: Credential::Session(BrowserSession {
            session_id: record.id.clone(),
            user_id: record.user_id,
            name,
            cookie_hash: hash,
        }),
        project: project.clone(),
        scope: Scope::all(),
        expires_at_ms: Some(record.expires_at),
        login: Some(Login::Session(record.id.clone())),
    }))
}

/// `token`'s tag verifies under one of `keys` (`SECRET`'s, then `SECRET_PREVIOUS`'s; at least
/// one): the first one's refusal otherwise.
fn tag_verifies(token: &str, keys: &[&DerivedKey]) -> Result<(), ApiError> {
    let mut refusal = None;
    for key in keys {
        match token::verify_tag(token, key) {
            Ok(()) => return Ok(()),
            Err(e) => {
                refusal.get_or_insert(e);
            }
        }
    }
    Err(ApiError::InvalidCredential(refusal.map_or_else(
        || "no key to verify the token".into(),
        |e| e.to_string(),
    )))
}

/// An access token signed under one of `rings` (`SECRET`'s, then `SECRET_PREVIOUS`'s): a
/// `kid` unknown to one ring is looked up in the next; any other refusal is final.
fn verify_access_token(
    token: &str,
    rings: &[&KeyRing],
    now_s: i64,
) -> Result<AccessClaims, AccessTokenError> {
    let mut refusal = AccessTokenError::BadSignature;
    for ring in rings {
        match access_token::verify(token, ring, now_s) {
            Err(AccessTokenError::BadSignature) => refusal = AccessTokenError::BadSignature,
            other => return other,
        }
    }
    Err(refusal)
}
