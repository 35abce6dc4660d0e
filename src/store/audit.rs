//! Audit events: something done to a credential, recorded in the same batch as the change
//! itself, and who did it.

use std::fmt;

use edgeauth_core::audit::{refusal_bucket, ActionFilter, AuditQuery};
use edgeauth_core::{Credential, Principal, TokenId, UserId};
use serde::Deserialize;

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

/// Where a request came from, as the audit trail records it: the client's address and
/// Cloudflare location, its User-Agent, the request's id, and the credential it presented
/// (its SHA-256 and, for an API token, its display prefix; never the credential itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    pub ip: Option<String>,
    pub colo: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub credential_hash: Option<String>,
    pub credential_prefix: Option<String>,
}

impl Trace {
    /// No request's.
    #[cfg(test)]
    pub const NONE: Trace = Trace {
        ip: None,
        colo: None,
        user_agent: None,
        request_id: None,
        credential_hash: None,
        credential_prefix: None,
    };
}

/// A security event: something done to a credential or a login (recorded with the change
/// itself, in its batch), or a refusal (counted, see [`AuditEvent::refusal_statement`]).
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
    /// The person it concerns, when that is not its actor (the owner of a token revoked by a
    /// leak report, of a device login the server ended): they read it as their own. Without
    /// it, a person actor's.
    pub person: Option<&'a UserId>,
    /// The request that did it.
    pub trace: &'a Trace,
}

/// The columns every event fills; the first six are `?1` to `?6` in every statement, so
/// that the conditions of [`AuditEvent::statement_if`] number theirs from `?7`.
const AUDIT_COLUMNS: &str = "at, project, actor, action, subject, detail, person, \
    credential_hash, credential_prefix, ip, colo, user_agent, request_id";
/// How many values of `AUDIT_COLUMNS` follow the first six.
const TRACE_VALUES: usize = 7;

impl AuditEvent<'_> {
    /// The person the event concerns, as stored.
    fn person_column(&self) -> Option<&str> {
        match (self.person, &self.actor) {
            (Some(person), _) => Some(person.as_str()),
            (None, Actor::User(person)) => Some(person.as_str()),
            _ => None,
        }
    }

    fn first_values(&self) -> Vec<SqlValue> {
        vec![
            self.at.into(),
            self.project.into(),
            self.actor.to_string().into(),
            self.action.into(),
            self.subject.into(),
            self.detail.as_str().into(),
        ]
    }

    fn trace_values(&self) -> Vec<SqlValue> {
        let t = self.trace;
        vec![
            self.person_column().into(),
            t.credential_hash.as_deref().into(),
            t.credential_prefix.as_deref().into(),
            t.ip.as_deref().into(),
            t.colo.as_deref().into(),
            t.user_agent.as_deref().into(),
            t.request_id.as_deref().into(),
        ]
    }

    /// `INSERT … SELECT <values> WHERE condition` with the condition's parameters after the
    /// first six values, and the trace's after them.
    fn insert(&self, condition: Option<&str>, condition_params: Vec<SqlValue>) -> Statement {
        let mut params = self.first_values();
        let first = placeholders(1, params.len());
        params.extend(condition_params);
        let rest = placeholders(params.len() + 1, TRACE_VALUES);
        params.extend(self.trace_values());
        let condition = condition.map(|c| format!(" WHERE {c}")).unwrap_or_default();
        Statement::new(
            format!("INSERT INTO audit_events ({AUDIT_COLUMNS}) SELECT {first}, {rest}{condition}"),
            params,
        )
    }

    /// The statement that records this event (for a batch with the change it records).
    pub(crate) fn statement(&self) -> Statement {
        self.insert(None, Vec::new())
    }

    /// The statement that records this event only if `condition` (an SQL expression whose
    /// parameters are numbered from `?7`, given in `condition_params`) holds when it runs: the
    /// event of a request that won a race, and of no other.
    pub(crate) fn statement_if(
        &self,
        condition: &str,
        condition_params: impl IntoIterator<Item = SqlValue>,
    ) -> Statement {
        self.insert(Some(condition), condition_params.into_iter().collect())
    }

    /// The statement that records this event once per row of `from` (`table WHERE …`, whose
    /// parameters are numbered from `?7`, given in `condition_params`), with the row's
    /// `subject` and `project` (SQL expressions over it) in place of the event's own: the
    /// events of a change made to many rows at once.
    pub(crate) fn statement_per_row(
        &self,
        subject: &str,
        project: &str,
        from: &str,
        condition_params: impl IntoIterator<Item = SqlValue>,
    ) -> Statement {
        let mut params = self.first_values();
        params.extend(condition_params);
        let rest = placeholders(params.len() + 1, TRACE_VALUES);
        params.extend(self.trace_values());
        Statement::new(
            format!(
                "INSERT INTO audit_events ({AUDIT_COLUMNS}) \
                 SELECT ?1, {project}, ?3, ?4, {subject}, ?6, {rest} FROM {from}"
            ),
            params,
        )
    }

    /// The statement that counts `count` refusals like this one for `reason` (a short code,
    /// such as `invalid_state`): the first write of its kind in its minute stores it, with its
    /// client; the others add to its `count` (`edgeauth_core::audit::refusal_bucket`).
    pub(crate) fn refusal_statement(&self, reason: &str, count: i64) -> Statement {
        let mut statement = self.statement();
        let bucket = refusal_bucket(self.action, reason, self.at);
        let values = 6 + TRACE_VALUES;
        statement.sql = format!(
            "INSERT INTO audit_events ({AUDIT_COLUMNS}, bucket, count) VALUES ({}) \
             ON CONFLICT (bucket) DO UPDATE SET count = count + ?{}",
            placeholders(1, values + 2),
            values + 2
        );
        statement.params.extend([bucket.into(), count.into()]);
        statement
    }

    /// Records this event on its own (the Worker records after the response:
    /// `d1::record_later`).
    #[cfg(test)]
    pub async fn record(&self, db: &impl Database) -> Result<(), StoreError> {
        db.run(self.statement()).await?;
        Ok(())
    }

    /// Counts `count` refusals like this one (see [`AuditEvent::refusal_statement`]).
    pub async fn record_refusals(
        &self,
        db: &impl Database,
        reason: &str,
        count: i64,
    ) -> Result<(), StoreError> {
        db.run(self.refusal_statement(reason, count)).await?;
        Ok(())
    }
}

/// An event as the audit trail shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StoredEvent {
    pub id: i64,
    pub at: i64,
    pub project: Option<String>,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: Option<String>,
    pub person: Option<String>,
    pub credential_hash: Option<String>,
    pub credential_prefix: Option<String>,
    pub ip: Option<String>,
    pub colo: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub count: i64,
}

/// Which events a reader asks for, once their reach is known: the rows of `project` (and of
/// no project, with `deployment`), or those of one `person`; then the filters.
#[derive(Debug, Clone)]
pub struct EventFilter<'a> {
    pub project: Option<&'a str>,
    pub deployment: bool,
    pub person: Option<&'a str>,
    pub query: &'a AuditQuery,
}

impl StoredEvent {
    /// A page of events, newest first: at most `filter.query.limit`, older than its cursor.
    pub async fn page(
        db: &impl Database,
        filter: &EventFilter<'_>,
    ) -> Result<Vec<Self>, StoreError> {
        let mut conditions: Vec<String> = Vec::new();
        let mut params: Vec<SqlValue> = Vec::new();
        let bind = |params: &mut Vec<SqlValue>, value: SqlValue| {
            params.push(value);
            format!("?{}", params.len())
        };
        if let Some(project) = filter.project {
            let p = bind(&mut params, project.into());
            conditions.push(match filter.deployment {
                true => format!("(project = {p} OR project IS NULL)"),
                false => format!("project = {p}"),
            });
        }
        if let Some(person) = filter.person {
            let p = bind(&mut params, person.into());
            conditions.push(format!("person = {p}"));
        }
        let query = filter.query;
        match &query.action {
            Some(ActionFilter::Exact(action)) => {
                let p = bind(&mut params, action.as_str().into());
                conditions.push(format!("action = {p}"));
            }
            Some(ActionFilter::Family(prefix)) => {
                // `_` is a LIKE wildcard: compare the prefix itself.
                let p = bind(&mut params, prefix.as_str().into());
                conditions.push(format!("substr(action, 1, length({p})) = {p}"));
            }
            None => {}
        }
        if let Some(actor) = &query.actor {
            let p = bind(&mut params, actor.as_str().into());
            conditions.push(format!("actor = {p}"));
        }
        if let Some(subject) = &query.subject {
            let p = bind(&mut params, subject.as_str().into());
            conditions.push(format!("subject = {p}"));
        }
        if let Some(hash) = &query.token_hash {
            // What the token did, and what was done to it (looked up by its hash).
            let p = bind(&mut params, hash.as_str().into());
            conditions.push(format!(
                "(credential_hash = {p} OR subject IN \
                 (SELECT id FROM service_tokens WHERE token_hash = {p} \
                  UNION ALL SELECT id FROM user_tokens WHERE token_hash = {p}))"
            ));
        }
        if let Some(since) = query.since_ms {
            let p = bind(&mut params, since.into());
            conditions.push(format!("at >= {p}"));
        }
        if let Some(until) = query.until_ms {
            let p = bind(&mut params, until.into());
            conditions.push(format!("at <= {p}"));
        }
        if let Some(before) = query.before_id {
            let p = bind(&mut params, before.into());
            conditions.push(format!("id < {p}"));
        }
        let limit = bind(&mut params, i64::from(query.limit).into());
        let condition = match conditions.is_empty() {
            true => "1 = 1".to_owned(),
            false => conditions.join(" AND "),
        };
        db.all(Statement::new(
            format!(
                "SELECT id, {AUDIT_COLUMNS}, count FROM audit_events WHERE {condition} \
                 ORDER BY id DESC LIMIT {limit}"
            ),
            params,
        ))
        .await
    }
}

/// The statement that records `action` on `subject` (in no project), done by the person of
/// `(issuer, person)` in the request of `trace`: for the batch that creates that person, whose
/// id is known only once it runs.
pub(crate) fn by_person_statement(
    at: i64,
    action: &str,
    subject: &str,
    detail: &str,
    (issuer, person): (&str, &str),
    trace: &Trace,
) -> Statement {
    let event = AuditEvent {
        at,
        project: None,
        actor: Actor::Anonymous,
        action,
        subject,
        detail: detail.to_owned(),
        person: None,
        trace,
    };
    let mut params = event.first_values();
    params.extend(event.trace_values());
    params.extend([issuer.into(), person.into()]);
    // The actor and the person are the user's id, read from `users` as the batch runs.
    Statement::new(
        format!(
            "INSERT INTO audit_events ({AUDIT_COLUMNS}) \
             SELECT ?1, ?2, 'user:' || id, ?4, ?5, ?6, id, ?8, ?9, ?10, ?11, ?12, ?13 \
             FROM users WHERE issuer = ?14 AND subject = ?15"
        ),
        params,
    )
}
