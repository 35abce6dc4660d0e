//! D1 storage: service tokens and audit events here, people (users, sessions, user tokens)
//! in `people`, the ledger of consumed CLI login codes in `cli_codes`. Each record type keeps
//! its queries here, so the storage story of a type is in one place. Times are Unix
//! milliseconds.

use edgeauth_core::{Scope, TokenHash};
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{Context, D1Database, D1PreparedStatement};

use crate::error::ApiError;

mod cli_codes;
mod people;
pub use cli_codes::{ConsumedCode, Redemption};
pub use people::{SessionRecord, UserRecord, UserTokenRecord};

mod device;
pub use device::{CodeLookups, DeviceGrantRecord, GrantState, NewFamily, RefreshTokenRecord};

/// `last_used_at` is rewritten at most this often per token, so verification stays a read.
pub const LAST_USED_GRANULARITY_MS: i64 = 5 * 60 * 1000;

/// The token tables whose rows keep an approximate `last_used_at`.
#[derive(Debug, Clone, Copy)]
pub enum TokenTable {
    ServiceTokens,
    UserTokens,
}

/// Records a use of token `id` after the response (`waitUntil`), when the recorded one is
/// older than [`LAST_USED_GRANULARITY_MS`]; otherwise does nothing, so verification stays a
/// read. The condition is repeated in the UPDATE, so concurrent uses write at most once.
pub fn record_use(
    ctx: &Context,
    db: &D1Database,
    table: TokenTable,
    id: &str,
    last_used_at: Option<i64>,
    now_ms: i64,
) -> Result<(), ApiError> {
    let stale_before = now_ms - LAST_USED_GRANULARITY_MS;
    if last_used_at.is_some_and(|at| at >= stale_before) {
        return Ok(());
    }
    let table = match table {
        TokenTable::ServiceTokens => "service_tokens",
        TokenTable::UserTokens => "user_tokens",
    };
    let touch = db
        .prepare(format!(
            "UPDATE {table} SET last_used_at = ?1 \
             WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?3)"
        ))
        .bind(&[millis(now_ms), text(id), millis(stale_before)])?;
    ctx.wait_until(async move {
        if let Err(e) = touch.run().await {
            worker::console_error!("could not record a use in {table}: {e}");
        }
    });
    Ok(())
}

/// The rows a write changed (0 when its condition did not hold).
pub(crate) fn changes(result: Option<&worker::D1Result>) -> usize {
    result
        .and_then(|r| r.meta().ok().flatten())
        .and_then(|m| m.changes)
        .unwrap_or(0)
}

/// A stored service token: everything but the token, which is never stored.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceTokenRecord {
    pub id: String,
    pub project: String,
    pub name: String,
    /// JSON array of patterns.
    pub workspaces: String,
    pub display_prefix: String,
    pub created_at: i64,
    pub created_by: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, project, name, workspaces, display_prefix, created_at, created_by, \
                       expires_at, last_used_at, revoked_at";

/// Most tokens one listing returns.
pub const LIST_LIMIT: u32 = 1000;

pub(crate) fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

// Unix milliseconds fit exactly in an f64 (below 2^53), which is how D1 receives numbers.
pub(crate) fn millis(ms: i64) -> JsValue {
    JsValue::from_f64(ms as f64)
}

pub(crate) fn optional_millis(ms: Option<i64>) -> JsValue {
    ms.map_or(JsValue::NULL, millis)
}

impl ServiceTokenRecord {
    /// The token's scope, as stored.
    pub fn scope(&self) -> Result<Scope, ApiError> {
        let patterns: Vec<String> = serde_json::from_str(&self.workspaces)
            .map_err(|e| ApiError::Internal(format!("service token {}: {e}", self.id)))?;
        Scope::parse(&patterns)
            .map_err(|e| ApiError::Internal(format!("service token {}: {e}", self.id)))
    }

    /// True when the token has an expiry and it has passed.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now_ms)
    }

    /// Looks a presented token up by its hash.
    pub async fn find_by_hash(db: &D1Database, hash: &TokenHash) -> Result<Option<Self>, ApiError> {
        Ok(db
            .prepare(format!(
                "SELECT {COLUMNS} FROM service_tokens WHERE token_hash = ?1"
            ))
            .bind(&[text(hash.as_hex())])?
            .first::<Self>(None)
            .await?)
    }

    /// A token of `project` by id, revoked or not.
    pub async fn find(db: &D1Database, project: &str, id: &str) -> Result<Option<Self>, ApiError> {
        Ok(db
            .prepare(format!(
                "SELECT {COLUMNS} FROM service_tokens WHERE id = ?1 AND project = ?2"
            ))
            .bind(&[text(id), text(project)])?
            .first::<Self>(None)
            .await?)
    }

    /// The project's tokens that are not revoked, newest first.
    pub async fn list_active(db: &D1Database, project: &str) -> Result<Vec<Self>, ApiError> {
        Ok(db
            .prepare(format!(
                "SELECT {COLUMNS} FROM service_tokens WHERE project = ?1 AND revoked_at IS NULL \
                 ORDER BY created_at DESC, id DESC LIMIT {LIST_LIMIT}"
            ))
            .bind(&[text(project)])?
            .all()
            .await?
            .results::<Self>()?)
    }

    /// Stores a new token and its audit event in one batch.
    pub async fn insert(
        &self,
        db: &D1Database,
        hash: &TokenHash,
        audit: AuditEvent<'_>,
    ) -> Result<(), ApiError> {
        let insert = db
            .prepare(
                "INSERT INTO service_tokens (id, project, name, workspaces, token_hash, \
                 display_prefix, created_at, created_by, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .bind(&[
                text(&self.id),
                text(&self.project),
                text(&self.name),
                text(&self.workspaces),
                text(hash.as_hex()),
                text(&self.display_prefix),
                millis(self.created_at),
                text(&self.created_by),
                optional_millis(self.expires_at),
            ])?;
        db.batch(vec![insert, audit.statement(db)?]).await?;
        Ok(())
    }

    /// Marks the token revoked (if it is not already), with its audit event, in one batch.
    /// Returns false when another request revoked it first.
    pub async fn revoke(
        &self,
        db: &D1Database,
        now_ms: i64,
        audit: AuditEvent<'_>,
    ) -> Result<bool, ApiError> {
        let update = db
            .prepare(
                "UPDATE service_tokens SET revoked_at = ?1 \
                 WHERE id = ?2 AND project = ?3 AND revoked_at IS NULL",
            )
            .bind(&[millis(now_ms), text(&self.id), text(&self.project)])?;
        let results = db.batch(vec![update, audit.statement(db)?]).await?;
        Ok(changes(results.first()) > 0)
    }
}

/// Something done to a credential, recorded with the change itself.
pub struct AuditEvent<'a> {
    pub at: i64,
    /// The project acted in, when the subject belongs to one.
    pub project: Option<&'a str>,
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    /// JSON without secrets.
    pub detail: String,
}

const AUDIT_INSERT: &str = "INSERT INTO audit_events (at, project, actor, action, subject, detail)";

impl AuditEvent<'_> {
    fn params(&self) -> Vec<JsValue> {
        vec![
            millis(self.at),
            self.project.map_or(JsValue::NULL, text),
            text(self.actor),
            text(self.action),
            text(self.subject),
            text(&self.detail),
        ]
    }

    pub(crate) fn statement(&self, db: &D1Database) -> Result<D1PreparedStatement, ApiError> {
        Ok(db
            .prepare(format!("{AUDIT_INSERT} VALUES (?1, ?2, ?3, ?4, ?5, ?6)"))
            .bind(&self.params())?)
    }

    /// The statement that records this event only if its request won `redemption`.
    pub(crate) fn statement_if_redeemed(
        &self,
        db: &D1Database,
        redemption: &Redemption<'_>,
    ) -> Result<D1PreparedStatement, ApiError> {
        let mut params = self.params();
        let condition = redemption.condition(params.len() + 1);
        params.extend(redemption.params());
        Ok(db
            .prepare(format!(
                "{AUDIT_INSERT} SELECT ?1, ?2, ?3, ?4, ?5, ?6 {condition}"
            ))
            .bind(&params)?)
    }
}
