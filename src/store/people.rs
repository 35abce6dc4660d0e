//! D1 storage of people: users (from OIDC identity) and their browser sessions, found by the
//! SHA-256 of the cookie the browser holds. Their API tokens are in `tokens`.

use edgeauth_core::{Login, SessionId, TokenHash, UserId};
use serde::Deserialize;

use super::audit::{by_person_statement, Trace};
use super::{changes, columns, AuditEvent, Database, Outcome, Statement, StoreError, TokenRecord};

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
    /// A sign-in, recorded whole or not at all, in one batch: the user of `(issuer, subject)`
    /// created or refreshed (email, name, teams, last sign-in), their expired sessions
    /// dropped, the new session stored and `session.create` audited (with `detail`, the
    /// person as its actor).
    /// Returns the stored user, whose `id` is the existing one when the person was known
    /// (`self.id` is used only for a new person). The session and the audit event find the
    /// person by `(issuer, subject)`, so two first sign-ins at once cannot disagree on the id.
    ///
    /// `provider_refresh` is the provider's refresh token of this sign-in, sealed
    /// (`edgeauth_core::sealed`), or `None` when it issued none: it replaces the one kept.
    pub async fn sign_in(
        &self,
        db: &impl Database,
        session: &NewSession<'_>,
        detail: &str,
        provider_refresh: Option<&str>,
    ) -> Result<UserRecord, StoreError> {
        let upsert = Statement::new(
            format!(
                "INSERT INTO users ({USER_COLUMNS}, provider_refresh, teams_checked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8) \
                 ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email, \
                 name = excluded.name, teams = excluded.teams, \
                 last_login_at = excluded.last_login_at, \
                 provider_refresh = excluded.provider_refresh, \
                 teams_checked_at = excluded.teams_checked_at \
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
                provider_refresh.into(),
            ],
        );
        let sweep = Statement::new(
            "DELETE FROM sessions WHERE expires_at <= ?3 AND user_id = \
             (SELECT id FROM users WHERE issuer = ?1 AND subject = ?2)",
            vec![
                self.issuer.as_str().into(),
                self.subject.as_str().into(),
                session.created_at.into(),
            ],
        );
        let insert = Statement::new(
            "INSERT INTO sessions (session_hash, id, user_id, created_at, expires_at) \
             SELECT ?1, ?2, id, ?3, ?4 FROM users WHERE issuer = ?5 AND subject = ?6",
            vec![
                session.hash.as_hex().into(),
                session.id.as_str().into(),
                session.created_at.into(),
                session.expires_at.into(),
                self.issuer.as_str().into(),
                self.subject.as_str().into(),
            ],
        );
        let audit = by_person_statement(
            session.created_at,
            "session.create",
            session.id.as_str(),
            detail,
            (&self.issuer, &self.subject),
            session.trace,
        );
        let outcomes = db.batch(vec![upsert, sweep, insert, audit]).await?;
        outcomes
            .first()
            .map(Outcome::rows::<UserRecord>)
            .transpose()?
            .and_then(|rows| rows.into_iter().next())
            .ok_or_else(|| StoreError::Database("the user upsert returned no row".into()))
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

/// How long one refresh holds the turn to ask the provider: three of its 10 s requests
/// (discovery, token endpoint, JWKS) and margin.
pub const TEAMS_LEASE_MS: i64 = 60 * 1000;

/// What the identity provider last said of a person's teams, and how to ask it again.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProviderGrant {
    pub issuer: String,
    pub subject: String,
    #[serde(deserialize_with = "columns::json_text")]
    pub teams: Vec<String>,
    /// The provider's refresh token, sealed; `None` when it issued none.
    pub provider_refresh: Option<String>,
    /// When the provider last gave the teams (sign-in or refresh).
    pub teams_checked_at: Option<i64>,
}

impl ProviderGrant {
    /// The person's.
    pub async fn find(db: &impl Database, user: &UserId) -> Result<Option<Self>, StoreError> {
        db.first(Statement::new(
            "SELECT issuer, subject, teams, provider_refresh, teams_checked_at FROM users \
             WHERE id = ?1",
            vec![user.as_str().into()],
        ))
        .await
    }

    /// Takes the turn to ask the provider for the person's teams, if it is due: when a refresh
    /// token is kept, the teams were last given `recheck_ms` ago or more, and no other refresh
    /// holds the turn, holds it for [`TEAMS_LEASE_MS`] (so that other refreshes of the person
    /// do not ask too, and never present a refresh token this one is about to rotate) and
    /// returns the grant. `None`: not due, or another refresh holds the turn. [`Self::renewed`]
    /// gives it back; a refresh that fails leaves it to run out.
    pub async fn take_turn(
        db: &impl Database,
        user: &UserId,
        recheck_ms: i64,
        now_ms: i64,
    ) -> Result<Option<Self>, StoreError> {
        db.first(Statement::new(
            "UPDATE users SET teams_lease_until = ?1 + ?4 WHERE id = ?2 \
             AND provider_refresh IS NOT NULL \
             AND (teams_checked_at IS NULL OR teams_checked_at <= ?1 - ?3) \
             AND (teams_lease_until IS NULL OR teams_lease_until <= ?1) \
             RETURNING issuer, subject, teams, provider_refresh, teams_checked_at",
            vec![
                now_ms.into(),
                user.as_str().into(),
                recheck_ms.into(),
                TEAMS_LEASE_MS.into(),
            ],
        ))
        .await
    }

    /// Records the teams the provider gave now and the refresh token to use next time (the
    /// rotated one, or `used` again), only while the stored refresh token is still `used`: of
    /// two refreshes racing with one token, the second writes nothing (and reads the first's).
    /// True when written.
    pub async fn renewed(
        db: &impl Database,
        user: &UserId,
        used: &str,
        teams: &[String],
        next: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let changed = db
            .run(Statement::new(
                "UPDATE users SET teams = ?1, provider_refresh = ?2, teams_checked_at = ?3, \
                 teams_lease_until = NULL WHERE id = ?4 AND provider_refresh = ?5",
                vec![
                    serde_json::Value::from(teams.to_vec()).to_string().into(),
                    next.into(),
                    now_ms.into(),
                    user.as_str().into(),
                    used.into(),
                ],
            ))
            .await?;
        Ok(changed > 0)
    }
}

/// A browser session and the user it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user_id: UserId,
    pub expires_at: i64,
    /// Its last recorded use (`logins::LAST_SEEN_GRANULARITY_MS`).
    pub last_seen_at: Option<i64>,
    /// The user's display name, for the principal.
    pub user_name: Option<String>,
    pub user_email: Option<String>,
    /// The user's teams as of their last sign-in, which decide their role in a project.
    #[serde(deserialize_with = "columns::json_text")]
    pub user_teams: Vec<String>,
}

/// A session about to start: the SHA-256 of its cookie and its id; its person is the one
/// signing in ([`UserRecord::sign_in`]).
pub struct NewSession<'a> {
    pub hash: &'a TokenHash,
    pub id: &'a SessionId,
    pub created_at: i64,
    pub expires_at: i64,
    /// The sign-in's request, for its audit event.
    pub trace: &'a Trace,
}

impl SessionRecord {
    /// The session whose cookie hashes to `hash`, expired or not.
    pub async fn find_by_hash(
        db: &impl Database,
        hash: &TokenHash,
    ) -> Result<Option<Self>, StoreError> {
        db.first(Statement::new(
            "SELECT s.id, s.user_id, s.expires_at, s.last_seen_at, u.name AS user_name, \
             u.email AS user_email, u.teams AS user_teams FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.session_hash = ?1",
            vec![hash.as_hex().into()],
        ))
        .await
    }

    /// When the session `id` ends, if it is live at `now_ms`.
    pub async fn live_until(
        db: &impl Database,
        id: &SessionId,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            expires_at: i64,
        }
        let row: Option<Row> = db
            .first(Statement::new(
                "SELECT expires_at FROM sessions WHERE id = ?1 AND expires_at > ?2",
                vec![id.as_str().into(), now_ms.into()],
            ))
            .await?;
        Ok(row.map(|r| r.expires_at))
    }

    /// Ends the session `id`, whose cookie hashes to `hash` (sign-out): deletes it and revokes
    /// the tokens created with it, with its audit event, in one batch; false when there was
    /// no such session.
    pub async fn delete(
        db: &impl Database,
        hash: &TokenHash,
        id: &SessionId,
        audit: AuditEvent<'_>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let delete = Statement::new(
            "DELETE FROM sessions WHERE session_hash = ?1 AND id = ?2",
            vec![hash.as_hex().into(), id.as_str().into()],
        );
        let mut batch = vec![delete, audit.statement()];
        batch.extend(TokenRecord::revoke_children_of(
            &Login::Session(id.clone()),
            now_ms,
        ));
        let outcomes = db.batch(batch).await?;
        Ok(changes(&outcomes, 0) > 0)
    }
}
