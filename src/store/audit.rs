//! Audit events: something done to a credential, recorded in the same batch as the change
//! itself, and who did it.

use std::fmt;

use edgeauth_core::{Credential, Principal, TokenId, UserId};

use super::sql::placeholders;
use super::{Database, SqlValue, Statement, StoreError};

/// Who did something, as the audit log and `created_by` name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A person, by any of their credentials: `user:usr_…`.
    User(UserId),
    /// A service token: `service:st_…`.
    Service(TokenId),
    /// The operator's super token: `super`.
    Super,
    /// Nobody, with authentication disabled; or whoever presented a CLI login code: `anonymous`.
    Anonymous,
    /// The server, revoking a refresh-token family whose spent token came back: `refresh_reuse`.
    RefreshReuse,
    /// The server, ending a device login whose person has no role in its project any more:
    /// `role_lost`.
    RoleLost,
    /// A CI job, through a trust policy (its token exchange, or what its token did):
    /// `trust_policy:tp_…`.
    TrustPolicy(String),
    /// Whoever reported a token as leaked (`POST /api/credentials/revoke`): `leak_report`.
    LeakReport,
}

impl Actor {
    /// The actor of a request's principal.
    pub fn of(principal: &Principal) -> Self {
        match (&principal.credential, principal.person()) {
            (_, Some(user_id)) => Actor::User(user_id.clone()),
            (Credential::Service { token_id, .. }, None) => Actor::Service(token_id.clone()),
            (Credential::Super, None) => Actor::Super,
            (Credential::Ci { policy_id, .. }, None) => Actor::TrustPolicy(policy_id.clone()),
            _ => Actor::Anonymous,
        }
    }

    /// Reads a stored actor back.
    pub fn parse(stored: &str) -> Result<Self, String> {
        Ok(match stored {
            "super" => Actor::Super,
            "anonymous" => Actor::Anonymous,
            "refresh_reuse" => Actor::RefreshReuse,
            "role_lost" => Actor::RoleLost,
            "leak_report" => Actor::LeakReport,
            _ => match stored.split_once(':') {
                Some(("user", id)) if !id.is_empty() => Actor::User(UserId::new(id)),
                Some(("service", id)) if !id.is_empty() => Actor::Service(TokenId::new(id)),
                Some(("trust_policy", id)) if !id.is_empty() => Actor::TrustPolicy(id.to_owned()),
                _ => return Err(format!("unknown actor {stored:?}")),
            },
        })
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(id) => write!(f, "user:{id}"),
            Actor::Service(id) => write!(f, "service:{id}"),
            Actor::Super => f.write_str("super"),
            Actor::Anonymous => f.write_str("anonymous"),
            Actor::RefreshReuse => f.write_str("refresh_reuse"),
            Actor::RoleLost => f.write_str("role_lost"),
            Actor::LeakReport => f.write_str("leak_report"),
            Actor::TrustPolicy(id) => write!(f, "trust_policy:{id}"),
        }
    }
}

/// Something done to a credential, recorded with the change itself.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub at: i64,
    /// The project acted in, when the subject belongs to one.
    pub project: Option<&'a str>,
    pub actor: Actor,
    pub action: &'a str,
    pub subject: &'a str,
    /// JSON without secrets.
    pub detail: String,
}

const AUDIT_INSERT: &str = "INSERT INTO audit_events (at, project, actor, action, subject, detail)";

impl AuditEvent<'_> {
    fn params(&self) -> Vec<SqlValue> {
        vec![
            self.at.into(),
            self.project.into(),
            self.actor.to_string().into(),
            self.action.into(),
            self.subject.into(),
            self.detail.as_str().into(),
        ]
    }

    /// The statement that records this event (for a batch with the change it records).
    pub(crate) fn statement(&self) -> Statement {
        Statement::new(
            format!("{AUDIT_INSERT} VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
            self.params(),
        )
    }

    /// The statement that records this event only if `condition` (an SQL expression whose
    /// parameters are numbered from `?7`, given in `condition_params`) holds when it runs: the
    /// event of a request that won a race, and of no other.
    pub(crate) fn statement_if(
        &self,
        condition: &str,
        condition_params: impl IntoIterator<Item = SqlValue>,
    ) -> Statement {
        let mut params = self.params();
        let values = placeholders(1, params.len());
        params.extend(condition_params);
        Statement::new(
            format!("{AUDIT_INSERT} SELECT {values} WHERE {condition}"),
            params,
        )
    }

    /// Records this event on its own.
    pub async fn record(&self, db: &impl Database) -> Result<(), StoreError> {
        db.run(self.statement()).await?;
        Ok(())
    }
}

/// The statement that records `action` on `subject` (in no project), done by the person of
/// `(issuer, person)`: for the batch that creates that person, whose id is known only once it
/// runs.
pub(crate) fn by_person_statement(
    at: i64,
    action: &str,
    subject: &str,
    detail: &str,
    issuer: &str,
    person: &str,
) -> Statement {
    Statement::new(
        format!(
            "{AUDIT_INSERT} SELECT ?1, NULL, 'user:' || id, ?2, ?3, ?4 FROM users \
             WHERE issuer = ?5 AND subject = ?6"
        ),
        vec![
            at.into(),
            action.into(),
            subject.into(),
            detail.into(),
            issuer.into(),
            person.into(),
        ],
    )
}
