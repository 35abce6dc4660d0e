//! A person's logins, as they control them (`/api/sessions`, "Where you're signed in" on
//! `/account`): their live browser sessions and device logins, each with the client that
//! made it (from its creation's audit event: `session.create`, `refresh_family.create`) and
//! when it was last used; and ending some or all of them, each with what was made with it.

use edgeauth_core::{FamilyId, Login, SessionId, UserId};
use serde::Deserialize;

use super::{device, AuditEvent, Database, Statement, StoreError, TokenRecord};

/// Most logins of each kind listed.
pub const LIST_LIMIT: i64 = 100;

/// A live login of a person.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LoginRecord {
    /// `ses_…` (a browser session) or `fam_…` (a device login).
    pub id: String,
    /// `browser` or `device`.
    pub kind: String,
    /// A device login's project and the name its client gave.
    pub project: Option<String>,
    pub client_name: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// A session's last use (written at most every [`LAST_SEEN_GRANULARITY_MS`]), a device
    /// login's last refresh.
    pub last_seen_at: Option<i64>,
    pub ip: Option<String>,
    pub colo: Option<String>,
    pub user_agent: Option<String>,
}

/// A session's last use is written at most this often.
pub const LAST_SEEN_GRANULARITY_MS: i64 = 5 * 60 * 1000;

impl LoginRecord {
    /// The person's live logins, newest first: browser sessions, then device logins.
    pub async fn of_person(
        db: &impl Database,
        user: &UserId,
        now_ms: i64,
    ) -> Result<Vec<Self>, StoreError> {
        let sessions = Statement::new(
            format!(
                "SELECT s.id, 'browser' AS kind, NULL AS project, NULL AS client_name, \
                 s.created_at, s.expires_at, s.last_seen_at, e.ip, e.colo, e.user_agent \
                 FROM sessions s LEFT JOIN audit_events e \
                 ON e.subject = s.id AND e.action = 'session.create' \
                 WHERE s.user_id = ?1 AND s.expires_at > ?2 \
                 ORDER BY s.created_at DESC LIMIT {LIST_LIMIT}"
            ),
            vec![user.as_str().into(), now_ms.into()],
        );
        let families = Statement::new(
            format!(
                "SELECT f.id, 'device' AS kind, f.project, f.client_name, f.created_at, \
                 f.expires_at, \
                 (SELECT MAX(t.created_at) FROM refresh_tokens t WHERE t.family_id = f.id) \
                 AS last_seen_at, e.ip, e.colo, e.user_agent \
                 FROM refresh_families f LEFT JOIN audit_events e \
                 ON e.subject = f.id AND e.action = 'refresh_family.create' \
                 WHERE f.user_id = ?1 AND f.revoked_at IS NULL AND f.expires_at > ?2 \
                 ORDER BY f.created_at DESC LIMIT {LIST_LIMIT}"
            ),
            vec![user.as_str().into(), now_ms.into()],
        );
        let mut logins: Vec<Self> = db.all(sessions).await?;
        logins.extend(db.all::<Self>(families).await?);
        Ok(logins)
    }

    /// The login this record is.
    pub fn login(&self) -> Login {
        match self.kind.as_str() {
            "device" => Login::Device(FamilyId::new(&self.id)),
            _ => Login::Session(SessionId::new(&self.id)),
        }
    }

    /// Ends these logins of `user` (listed by [`LoginRecord::of_person`], so theirs), in one
    /// batch: a session is deleted, a device login revoked (`revocation_id`), each with the
    /// tokens made with it and its audit event (`audit(login)`). Safe to repeat: what has
    /// ended already changes nothing more and records nothing more.
    pub async fn end<'a>(
        db: &impl Database,
        user: &UserId,
        logins: &'a [Self],
        revocation_id: &str,
        audit: impl Fn(&'a Self) -> AuditEvent<'a>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut batch = Vec::new();
        for record in logins {
            let event = audit(record);
            match record.login() {
                Login::Session(id) => {
                    // The event first, while the session is there to condition it.
                    batch.push(event.statement_if(
                        "EXISTS (SELECT 1 FROM sessions WHERE id = ?7 AND user_id = ?8)",
                        [id.as_str().into(), user.as_str().into()],
                    ));
                    batch.push(Statement::new(
                        "DELETE FROM sessions WHERE id = ?1 AND user_id = ?2",
                        vec![id.as_str().into(), user.as_str().into()],
                    ));
                    batch.extend(TokenRecord::revoke_children_of(&Login::Session(id), now_ms));
                }
                Login::Device(family) => {
                    batch.extend(device::family_revocation(
                        &family,
                        now_ms,
                        revocation_id,
                        event,
                    ));
                }
            }
        }
        if !batch.is_empty() {
            db.batch_repeatable(batch).await?;
        }
        Ok(())
    }
}

/// The statement that records a session's use at `now_ms`, if its last recorded use
/// (`last_seen_at`) is older than [`LAST_SEEN_GRANULARITY_MS`]: `None` when it is recent.
pub fn session_seen(id: &SessionId, last_seen_at: Option<i64>, now_ms: i64) -> Option<Statement> {
    if last_seen_at.is_some_and(|at| now_ms - at < LAST_SEEN_GRANULARITY_MS) {
        return None;
    }
    Some(Statement::new(
        "UPDATE sessions SET last_seen_at = ?1 WHERE id = ?2 \
         AND (last_seen_at IS NULL OR last_seen_at < ?3)",
        vec![
            now_ms.into(),
            id.as_str().into(),
            (now_ms - LAST_SEEN_GRANULARITY_MS).into(),
        ],
    ))
}
