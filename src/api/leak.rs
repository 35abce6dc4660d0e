//! `POST /api/credentials/revoke`: leak response. Whoever holds a leaked service or user API
//! token (its owner, someone who found it, a secret scanner) sends it, and it is revoked, with
//! no other credential, as GitHub's credential revocation API does (`edgeauth_core::leak`).
//! The answer is the same whatever was sent (202), so the endpoint is no oracle; each client
//! address is braked (`LEAK_REPORT_LIMITER`, in the route table). Each revocation is audited with actor
//! `leak_report` and the token's display prefix, so the owner sees why it stopped.
//!
//! [`revoke_reported`] is the one way a reported token is revoked, here and for GitHub secret
//! scanning's reports (`api::secret_scanning`).

use edgeauth_core::ids::revocation_id;
use edgeauth_core::leak::{reported_tokens, Reporter};
use edgeauth_core::token::TokenKind;
use edgeauth_core::TokenHash;
use serde_json::json;
use worker::{D1Database, Env, Request, Response};

use crate::auth::{cache, Caller};
use crate::error::ApiError;
use crate::store::{Actor, AuditEvent, TokenRecord, TokenTable, Trace};
use crate::{database, http, now_ms, WebCrypto};

/// `POST`: revokes every live token of this server among those reported; 202 whatever.
pub async fn report(mut req: Request, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let body = http::body::json(&mut req).await?;
    let tokens = reported_tokens(&body).map_err(ApiError::BadRequest)?;
    let db = database(env)?;
    let now = now_ms();
    for (kind, presented) in tokens {
        revoke_reported(&db, kind, &presented, Reporter::Anyone, &caller.trace, now).await?;
    }
    Ok(http::json(
        202,
        &json!({"message": "every live token of this server among those sent is revoked; the answer is the same whatever was sent"}),
    ))
}

/// What a report did to a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    /// A live token of this server (expired or not): revoked now.
    Revoked,
    /// A token of this server, revoked before (by its owner, a roll, another report).
    AlreadyRevoked,
    /// Not a token this server stores.
    Unknown,
}

/// Revokes `presented`, a reported token of `kind` (a service or user API token, well formed:
/// `edgeauth_core::leak::revocable_kind`), if this server stores it and it is live, with an
/// audit event (actor `leak_report`, the detail `reporter` gives: never the token), and
/// forgets it in this isolate's verification cache at once.
pub async fn revoke_reported(
    db: &D1Database,
    kind: TokenKind,
    presented: &str,
    reporter: Reporter<'_>,
    trace: &Trace,
    now: i64,
) -> Result<Reported, ApiError> {
    let table = match kind {
        TokenKind::Service => TokenTable::ServiceTokens,
        _ => TokenTable::UserTokens,
    };
    let Some(record) = TokenRecord::find_by_hash(db, table, &TokenHash::of(presented)).await?
    else {
        return Ok(Reported::Unknown);
    };
    if record.revoked_at.is_some() {
        return Ok(Reported::AlreadyRevoked);
    }
    let action = match table {
        TokenTable::ServiceTokens => "service_token.revoke",
        TokenTable::UserTokens => "user_token.revoke",
    };
    let revoked = record
        .revoke(
            db,
            now,
            &revocation_id(&mut WebCrypto),
            AuditEvent {
                at: now,
                project: Some(record.project.as_str()),
                actor: Actor::LeakReport,
                action,
                subject: record.id.as_str(),
                detail: reporter.audit_detail(presented).to_string(),
                person: record.owner.person(),
                trace,
            },
        )
        .await?;
    cache::forget_token(&record.id);
    Ok(if revoked {
        Reported::Revoked
    } else {
        Reported::AlreadyRevoked
    })
}
