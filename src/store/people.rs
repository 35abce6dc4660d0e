//! D1 storage of people: users (from OIDC identity), their browser sessions and their API
//! tokens. Sessions and tokens are found by the SHA-256 of what the browser or client holds.

use edgeauth_core::{Scope, TokenHash};
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

use super::{changes, millis, optional_millis, text, AuditEvent, Redemption, LIST_LIMIT};
use crate::error::ApiError;

/// A person, as their identity provider last described them.
#[derive(Debug, Clone, Deserialize)]
pub struct UserRecord {
    pub id: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// JSON array of team names.
    pub teams: String,
    pub created_at: i64,
    pub last_login_at: i64,
}

impl UserRecord {
    /// The teams, as stored.
    pub fn team_list(&self) -> Vec<String> {
        serde_json::from_str(&self.teams).unwrap_or_default()
    }

    /// Creates the user of `(issuer, subject)` or refreshes their email, name and teams;
    /// returns the stored record (its `id` is the existing one when the user was known).
    pub async fn upsert(&self, db: &D1Database) -> Result<UserRecord, ApiError> {
        db.prepare(
            "INSERT INTO users (id, issuer, subject, email, name, teams, created_at, last_login_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email, \
             name = excluded.name, teams = excluded.teams, last_login_at = excluded.last_login_at \
             RETURNING id, issuer, subject, email, name, teams, created_at, last_login_at",
        )
        .bind(&[
            text(&self.id),
            text(&self.issuer),
            text(&self.subject),
            self.email.as_deref().map_or(JsValue::NULL, text),
            self.name.as_deref().map_or(JsValue::NULL, text),
            text(&self.teams),
            millis(self.created_at),
            millis(self.last_login_at),
        ])?
        .first::<UserRecord>(None)
        .await?
        .ok_or_else(|| ApiError::Internal("user upsert returned no row".into()))
    }

    /// A user by id.
    pub async fn find(db: &D1Database, id: &str) -> Result<Option<UserRecord>, ApiError> {
        Ok(db
            .prepare(
                "SELECT id, issuer, subject, email, name, teams, created_at, last_login_at \
                 FROM users WHERE id = ?1",
            )
            .bind(&[text(id)])?
            .first::<UserRecord>(None)
            .await?)
    }
}

/// A browser session and the user it belongs to.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: String,
    pub expires_at: i64,
    /// The user's display name, for the principal.
    pub user_name: Option<String>,
    pub user_email: Option<String>,
}

impl SessionRecord {
    /// The session whose cookie hashes to `hash`, expired or not.
    pub async fn find_by_hash(db: &D1Database, hash: &TokenHash) -> Result<Option<Self>, ApiError> {
        Ok(db
            .prepare(
                "SELECT s.id, s.user_id, s.expires_at, u.name AS user_name, \
                 u.email AS user_email FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.session_hash = ?1",
            )
            .bind(&[text(hash.as_hex())])?
            .first::<Self>(None)
            .await?)
    }

    /// Stores a new session for `user_id`, drops the user's expired ones, and records the
    /// sign-in, in one batch.
    pub async fn create(
        db: &D1Database,
        hash: &TokenHash,
        id: &str,
        user_id: &str,
        now_ms: i64,
        expires_at_ms: i64,
        audit: AuditEvent<'_>,
    ) -> Result<(), ApiError> {
        let sweep = db
            .prepare("DELETE FROM sessions WHERE user_id = ?1 AND expires_at <= ?2")
            .bind(&[text(user_id), millis(now_ms)])?;
        let insert = db
            .prepare(
                "INSERT INTO sessions (session_hash, id, user_id, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(&[
                text(hash.as_hex()),
                text(id),
                text(user_id),
                millis(now_ms),
                millis(expires_at_ms),
            ])?;
        db.batch(vec![sweep, insert, audit.statement(db)?]).await?;
        Ok(())
    }

    /// Deletes the session whose cookie hashes to `hash`, with its audit event; false when
    /// there was none.
    pub async fn delete(
        db: &D1Database,
        hash: &TokenHash,
        audit: AuditEvent<'_>,
    ) -> Result<bool, ApiError> {
        let delete = db
            .prepare("DELETE FROM sessions WHERE session_hash = ?1")
            .bind(&[text(hash.as_hex())])?;
        let results = db.batch(vec![delete, audit.statement(db)?]).await?;
        Ok(changes(results.first()) > 0)
    }
}

/// A person's API token: everything but the token, which is never stored.
#[derive(Debug, Clone, Deserialize)]
pub struct UserTokenRecord {
    pub id: String,
    pub user_id: String,
    pub project: String,
    pub name: String,
    /// JSON array of patterns.
    pub workspaces: String,
    pub display_prefix: String,
    pub created_at: i64,
    pub created_via: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const TOKEN_COLUMNS: &str = "id, user_id, project, name, workspaces, display_prefix, created_at, \
                             created_via, expires_at, last_used_at, revoked_at";

const TOKEN_INSERT: &str = "INSERT INTO user_tokens (id, user_id, project, name, workspaces, \
                            token_hash, display_prefix, created_at, created_via, expires_at)";

impl UserTokenRecord {
    /// The token's scope, as stored.
    pub fn scope(&self) -> Result<Scope, ApiError> {
        let patterns: Vec<String> = serde_json::from_str(&self.workspaces)
            .map_err(|e| ApiError::Internal(format!("user token {}: {e}", self.id)))?;
        Scope::parse(&patterns)
            .map_err(|e| ApiError::Internal(format!("user token {}: {e}", self.id)))
    }

    /// True when the token has an expiry and it has passed.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now_ms)
    }

    /// Looks a presented token up by its hash.
    pub async fn find_by_hash(db: &D1Database, hash: &TokenHash) -> Result<Option<Self>, ApiError> {
        Ok(db
            .prepare(format!(
                "SELECT {TOKEN_COLUMNS} FROM user_tokens WHERE token_hash = ?1"
            ))
            .bind(&[text(hash.as_hex())])?
            .first::<Self>(None)
            .await?)
    }

    /// One of `user_id`'s tokens by id, revoked or not; `None` for anyone else's.
    pub async fn find_owned(
        db: &D1Database,
        user_id: &str,
        id: &str,
    ) -> Result<Option<Self>, ApiError> {
        Ok(db
            .prepare(format!(
                "SELECT {TOKEN_COLUMNS} FROM user_tokens WHERE id = ?1 AND user_id = ?2"
            ))
            .bind(&[text(id), text(user_id)])?
            .first::<Self>(None)
            .await?)
    }

    /// The user's tokens that are not revoked, in every project, newest first.
    pub async fn list_active(db: &D1Database, user_id: &str) -> Result<Vec<Self>, ApiError> {
        Ok(db
            .prepare(format!(
                "SELECT {TOKEN_COLUMNS} FROM user_tokens WHERE user_id = ?1 AND revoked_at IS NULL \
                 ORDER BY created_at DESC, id DESC LIMIT {LIST_LIMIT}"
            ))
            .bind(&[text(user_id)])?
            .all()
            .await?
            .results::<Self>()?)
    }

    fn insert_params(&self, hash: &TokenHash) -> Vec<JsValue> {
        vec![
            text(&self.id),
            text(&self.user_id),
            text(&self.project),
            text(&self.name),
            text(&self.workspaces),
            text(hash.as_hex()),
            text(&self.display_prefix),
            millis(self.created_at),
            text(&self.created_via),
            optional_millis(self.expires_at),
        ]
    }

    /// The statement that stores this token (for a batch with its audit event).
    pub fn insert_statement(
        &self,
        db: &D1Database,
        hash: &TokenHash,
    ) -> Result<D1PreparedStatement, ApiError> {
        Ok(db
            .prepare(format!(
                "{TOKEN_INSERT} VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ))
            .bind(&self.insert_params(hash))?)
    }

    /// The statement that stores this token only if its request won the redemption of a CLI
    /// login code (for the batch of [`super::ConsumedCode::redeem_once`]).
    pub fn insert_if_redeemed_statement(
        &self,
        db: &D1Database,
        hash: &TokenHash,
        redemption: &Redemption<'_>,
    ) -> Result<D1PreparedStatement, ApiError> {
        let mut params = self.insert_params(hash);
        let condition = redemption.condition(params.len() + 1);
        params.extend(redemption.params());
        Ok(db
            .prepare(format!(
                "{TOKEN_INSERT} SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 {condition}"
            ))
            .bind(&params)?)
    }

    /// Stores a new token and its audit event in one batch.
    pub async fn insert(
        &self,
        db: &D1Database,
        hash: &TokenHash,
        audit: AuditEvent<'_>,
    ) -> Result<(), ApiError> {
        db.batch(vec![self.insert_statement(db, hash)?, audit.statement(db)?])
            .await?;
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
                "UPDATE user_tokens SET revoked_at = ?1 \
                 WHERE id = ?2 AND user_id = ?3 AND revoked_at IS NULL",
            )
            .bind(&[millis(now_ms), text(&self.id), text(&self.user_id)])?;
        let results = db.batch(vec![update, audit.statement(db)?]).await?;
        Ok(changes(results.first()) > 0)
    }
}
