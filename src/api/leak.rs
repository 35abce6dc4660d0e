//! `POST /api/credentials/revoke`: leak response. Whoever holds a leaked service or user API
//! token (its owner, someone who found it, a secret scanner) sends it, and it is revoked, with
//! no other credential, as GitHub's credential revocation API does (`edgeauth_core::leak`).
//! The answer is the same whatever was sent (202), so the endpoint is no oracle; each client
//! address is braked (`LEAK_REPORT_LIMITER`, in the route table). Each revocation is audited with actor
//! `leak_report` and the token's display prefix, so the owner sees why it stopped.

use edgeauth_core::ids::revocation_id;
use edgeauth_core::leak::reported_tokens;
use edgeauth_core::token::{self, TokenKind};
use edgeauth_core::TokenHash;
use serde_json::json;
use worker::{Env, Request, Response};

use crate::auth::{cache, Caller};
use crate::error::ApiError;
use crate::store::{Actor, AuditEvent, TokenRecord, TokenTable};
use crate::{database, http, now_ms, WebCrypto};

/// `POST`: revokes every live token of this server among those reported; 202 whatever.
pub async fn report(mut req: Request, caller: &Caller, env: &Env) -> Result<Response, ApiError> {
    let body = http::body::json(&mut req).await?;
    let tokens = reported_tokens(&body).map_err(ApiError::BadRequest)?;
    let db = database(env)?;
    let now = now_ms();
    for (kind, presented) in tokens {
        let table = match kind {
            TokenKind::Service => TokenTable::ServiceTokens,
            _ => TokenTable::UserTokens,
        };
        let Some(record) = TokenRecord::find_by_hash(&db, table, &TokenHash::of(&presented))
            .await?
            .filter(|r| r.revoked_at.is_none())
        else {
            continue;
        };
        let action = match table {
            TokenTable::ServiceTokens => "service_token.revoke",
            TokenTable::UserTokens => "user_token.revoke",
        };
        record
            .revoke(
                &db,
                now,
                &revocation_id(&mut WebCrypto),
                AuditEvent {
                    at: now,
                    project: Some(record.project.as_str()),
                    actor: Actor::LeakReport,
                    action,
                    subject: record.id.as_str(),
                    detail: json!({
                        "prefix": presented.get(..token::DISPLAY_PREFIX_CHARS),
                        "reason": "reported as leaked",
                    })
                    .to_string(),
                    person: record.owner.person(),
                    trace: &caller.trace,
                },
            )
            .await?;
        cache::forget_token(&record.id);
    }
    Ok(http::json(
        202,
        &json!({"message": "every live token of this server among those sent is revoked; the answer is the same whatever was sent"}),
    ))
}
