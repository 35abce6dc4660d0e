//! A person's logins, as they control them (`/api/sessions`, "Where you're signed in" on
//! `/account`): their live browser sessions and device logins, each with the client that
//! made it (from its creation's audit event: `session.create`, `refresh_family.create`) and
//! when it was last used; and ending one or all of them ([`end_logins`]), each with what was
//! made with it.

use edgeauth_core::{FamilyId, Login, SessionId, UserId};
use serde::Deserialize;

use super::tokens::PARENT_ENDED;
use super::{changes, AuditEvent, Database, SqlValue, Statement, StoreError};

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
    /// The person's live logins, newest first: browser sessions, then device logins (at most
    /// [`LIST_LIMIT`] of each).
    pub async fn of_person(
        db: &impl Database,
        user: &UserId,
        now_ms: i64,
    ) -> Result<Vec<Self>, StoreError> {
        Self::query(db, user, now_ms, None).await
    }

    /// The person's live login `id`, if it is one.
    pub async fn find(
        db: &impl Database,
        user: &UserId,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<Self>, StoreError> {
        Ok(Self::query(db, user, now_ms, Some(id))
            .await?
            .into_iter()
            .next())
    }

    async fn query(
        db: &impl Database,
        user: &UserId,
        now_ms: i64,
        id: Option<&str>,
    ) -> Result<Vec<Self>, StoreError> {
        let params = || {
            let mut params = vec![user.as_str().into(), now_ms.into()];
            params.extend(id.map(|id| id.into()));
            params
        };
        let one = |alias: &str| match id {
            Some(_) => format!(" AND {alias}.id = ?3"),
            None => String::new(),
        };
        let sessions = Statement::new(
            format!(
                "SELECT s.id, 'browser' AS kind, NULL AS project, NULL AS client_name, \
                 s.created_at, s.expires_at, s.last_seen_at, e.ip, e.colo, e.user_agent \
                 FROM sessions s LEFT JOIN audit_events e \
                 ON e.subject = s.id AND e.action = 'session.create' \
                 WHERE s.user_id = ?1 AND s.expires_at > ?2{} \
                 ORDER BY s.created_at DESC LIMIT {LIST_LIMIT}",
                one("s")
            ),
            params(),
        );
        let families = Statement::new(
            format!(
                "SELECT f.id, 'device' AS kind, f.project, f.client_name, f.created_at, \
                 f.expires_at, \
                 (SELECT MAX(t.created_at) FROM refresh_tokens t WHERE t.family_id = f.id) \
                 AS last_seen_at, e.ip, e.colo, e.user_agent \
                 FROM refresh_families f LEFT JOIN audit_events e \
                 ON e.subject = f.id AND e.action = 'refresh_family.create' \
                 WHERE f.user_id = ?1 AND f.revoked_at IS NULL AND f.expires_at > ?2{} \
                 ORDER BY f.created_at DESC LIMIT {LIST_LIMIT}",
                one("f")
            ),
            params(),
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
}

/// Ends logins of `user`: `which` one, or all of them but the one `except` names, however
/// many (by the person in SQL, not by a listing), in one batch. A session is deleted, a device
/// login revoked (`revocation_id`), each with the tokens made with it and its audit event:
/// `audit` as the model (its action and subject are each login's: `session.delete` or
/// `refresh_family.revoke`). Safe to repeat: what has ended changes nothing more and records
/// nothing more. How many ended.
pub async fn end_logins(
    db: &impl Database,
    user: &UserId,
    which: Which<'_>,
    revocation_id: &str,
    audit: &AuditEvent<'_>,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let (one, except) = match which {
        Which::One(login) => (Some(login), None),
        Which::AllBut(login) => (None, login),
    };
    // Which rows of a table: the person's, live (`?now`), the one or all but one; its
    // parameters numbered from `first`.
    let condition = |first: usize, live: &str| -> (String, Vec<SqlValue>) {
        let mut params: Vec<SqlValue> = vec![user.as_str().into(), now_ms.into()];
        let mut sql = format!(
            "user_id = ?{first} AND {}",
            live.replace("?now", &format!("?{}", first + 1))
        );
        for (login, compare) in [(one, "="), (except, "<>")] {
            if let Some(login) = login {
                params.push(login_id(login).into());
                sql.push_str(&format!(" AND id {compare} ?{}", first + params.len() - 1));
            }
        }
        (sql, params)
    };
    let mut batch = Vec::new();
    for (table, action, project, live, children) in [
        (
            "sessions",
            "session.delete",
            "NULL",
            "expires_at > ?now",
            "parent_session_id",
        ),
        (
            "refresh_families",
            "refresh_family.revoke",
            "project",
            "revoked_at IS NULL AND expires_at > ?now",
            "parent_family_id",
        ),
    ] {
        // The events first, while the rows they name are live.
        let event = AuditEvent {
            action,
            ..audit.clone()
        };
        let (rows, params) = condition(7, live);
        let from = format!("{table} WHERE {rows}");
        batch.push(event.statement_per_row("id", project, &from, params));
        // What was made with them.
        let (rows, params) = condition(3, live);
        for tokens in ["service_tokens", "user_tokens"] {
            batch.push(Statement::new(
                format!(
                    "UPDATE {tokens} SET revoked_at = ?1, revocation_id = ?2 \
                     WHERE revoked_at IS NULL AND {children} IN (SELECT id FROM {table} WHERE {rows})"
                ),
                [vec![now_ms.into(), PARENT_ENDED.into()], params.clone()].concat(),
            ));
        }
        // Then the logins themselves.
        batch.push(match table {
            "sessions" => {
                let (rows, params) = condition(1, live);
                Statement::new(format!("DELETE FROM sessions WHERE {rows}"), params)
            }
            _ => Statement::new(
                format!(
                    "UPDATE refresh_families SET revoked_at = ?1, revocation_id = ?2 WHERE {rows}"
                ),
                [vec![now_ms.into(), revocation_id.into()], params].concat(),
            ),
        });
    }
    let outcomes = db.batch_repeatable(batch).await?;
    // The sessions deleted (statement 3) and the families revoked (statement 7).
    Ok(changes(&outcomes, 3) + changes(&outcomes, 7))
}

/// Which of a person's logins to end.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    One(&'a Login),
    /// Every one, but this one if given.
    AllBut(Option<&'a Login>),
}

fn login_id(login: &Login) -> &str {
    match login {
        Login::Session(id) => id.as_str(),
        Login::Device(id) => id.as_str(),
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
