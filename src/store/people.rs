//! D1 storage of people: users (from OIDC identity) and their browser sessions, found by the
//! SHA-256 of the cookie the browser holds. Their API tokens are in `tokens`.

use edgeauth_core::{SessionId, TokenHash, UserId};
use serde::Deserialize;

use super::{changes, columns, AuditEvent, Database, Statement, StoreError};

/// A person, as their identity provider last described them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserRecord {
    pub id: UserId,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// As of their last sign-in.
    #[serde(deserialize_with = "columns::json_text")]
    pub teams: Vec<String>,
    pub created_at: i64,
    pub last_login_at: i64,
}

const USER_COLUMNS: &str = "id, issuer, subject, email, name, teams, created_at, last_login_at";

impl UserRecord {
    /// Creates the user of `(issuer, subject)` or refreshes their email, name and teams;
    /// returns the stored record (its `id` is the existing one when the user was known).
    pub async fn upsert(&self, db: &impl Database) -> Result<UserRecord, StoreError> {
        db.first(Statement::new(
            format!(
                "INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                 ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email, \
                 name = excluded.name, teams = excluded.teams, \
                 last_login_at = excluded.last_login_at \
                 RETURNING {USER_COLUMNS}"
            ),
            vec![
                self.id.as_str().into(),
                self.issuer.as_str().into(),
                self.subject.as_str().into(),
                self.email.as_deref().into(),
                self.name.as_deref().into(),
                serde_json::Value::from(self.teams.clone())
                    .to_string()
                    .into(),
                self.created_at.into(),
                self.last_login_at.into(),
            ],
        ))
        .await?
        .ok_or_else(|| StoreError::Database("user upsert returned no row".into()))
    }

    /// A user by id.
    pub async fn find(db: &impl Database, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        db.first(Statement::new(
            format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
            vec![id.as_str().into()],
        ))
        .await
    }
}

/// A browser session and the user it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user_id: UserId,
    pub expires_at: i64,
    /// The user's display name, for the principal.
    pub user_name: Option<String>,
    pub user_email: Option<String>,
}

/// A session about to start: the SHA-256 of its cookie, its id and its user.
pub struct NewSession<'a> {
    pub hash: &'a TokenHash,
    pub id: &'a SessionId,
    pub user_id: &'a UserId,
    pub created_at: i64,
    pub expires_at: i64,
}

impl SessionRecord {
    /// The session whose cookie hashes to `hash`, expired or not.
    pub async fn find_by_hash(
        db: &impl Database,
        hash: &TokenHash,
    ) -> Result<Option<Self>, StoreError> {
        db.first(Statement::new(
            "SELECT s.id, s.user_id, s.expires_at, u.name AS user_name, \
             u.email AS user_email FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.session_hash = ?1",
            vec![hash.as_hex().into()],
        ))
        .await
    }

    /// Stores a new session, drops the user's expired ones, and records the sign-in, in one
    /// batch.
    pub async fn create(
        db: &impl Database,
        new: &NewSession<'_>,
        audit: AuditEvent<'_>,
    ) -> Result<(), StoreError> {
        let sweep = Statement::new(
            "DELETE FROM sessions WHERE user_id = ?1 AND expires_at <= ?2",
            vec![new.user_id.as_str().into(), new.created_at.into()],
        );
        let insert = Statement::new(
            "INSERT INTO sessions (session_hash, id, user_id, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            vec![
                new.hash.as_hex().into(),
                new.id.as_str().into(),
                new.user_id.as_str().into(),
                new.created_at.into(),
                new.expires_at.into(),
            ],
        );
        db.batch(vec![sweep, insert, audit.statement()]).await?;
        Ok(())
    }

    /// Deletes the session whose cookie hashes to `hash`, with its audit event; false when
    /// there was none.
    pub async fn delete(
        db: &impl Database,
        hash: &TokenHash,
        audit: AuditEvent<'_>,
    ) -> Result<bool, StoreError> {
        let delete = Statement::new(
            "DELETE FROM sessions WHERE session_hash = ?1",
            vec![hash.as_hex().into()],
        );
        let outcomes = db.batch(vec![delete, audit.statement()]).await?;
        Ok(changes(&outcomes, 0) > 0)
    }
}
