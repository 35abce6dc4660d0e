//! D1 storage of a project's lifetime policy (`project_lifetimes`,
//! [`edgeauth_core::lifetime`]): one row per project that has one.

use edgeauth_core::lifetime::{KindLimits, LifetimePolicy};
use edgeauth_core::ProjectName;
use serde::Deserialize;

use super::{changes, AuditEvent, Database, Statement, StoreError};

/// A project's stored lifetime policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProjectLifetime {
    service_max_days: Option<i64>,
    service_default_days: Option<i64>,
    user_max_days: Option<i64>,
    user_default_days: Option<i64>,
    unused_days: Option<i64>,
    pub updated_at: i64,
    pub updated_by: String,
}

impl ProjectLifetime {
    /// The policy, as the lifetime rules read it.
    pub fn policy(&self) -> LifetimePolicy {
        LifetimePolicy {
            service_tokens: KindLimits {
                max_days: self.service_max_days,
                default_days: self.service_default_days,
            },
            user_tokens: KindLimits {
                max_days: self.user_max_days,
                default_days: self.user_default_days,
            },
            unused_days: self.unused_days,
        }
    }

    /// The policy of `project`, if it has one.
    pub async fn find(
        db: &impl Database,
        project: &ProjectName,
    ) -> Result<Option<Self>, StoreError> {
        db.first(Statement::new(
            "SELECT service_max_days, service_default_days, user_max_days, user_default_days, \
             unused_days, updated_at, updated_by FROM project_lifetimes WHERE project = ?1",
            vec![project.as_str().into()],
        ))
        .await
    }

    /// Replaces `project`'s policy with `policy`, with its audit event, in one batch.
    pub async fn set(
        db: &impl Database,
        project: &ProjectName,
        policy: &LifetimePolicy,
        audit: AuditEvent<'_>,
    ) -> Result<(), StoreError> {
        let upsert = Statement::new(
            "INSERT INTO project_lifetimes (project, service_max_days, service_default_days, \
             user_max_days, user_default_days, unused_days, updated_at, updated_by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (project) DO UPDATE SET \
             service_max_days = excluded.service_max_days, \
             service_default_days = excluded.service_default_days, \
             user_max_days = excluded.user_max_days, \
             user_default_days = excluded.user_default_days, \
             unused_days = excluded.unused_days, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            vec![
                project.as_str().into(),
                policy.service_tokens.max_days.into(),
                policy.service_tokens.default_days.into(),
                policy.user_tokens.max_days.into(),
                policy.user_tokens.default_days.into(),
                policy.unused_days.into(),
                audit.at.into(),
                audit.actor.to_string().into(),
            ],
        );
        db.batch(vec![upsert, audit.statement()]).await?;
        Ok(())
    }

    /// Removes `project`'s policy (it has none again), with its audit event; false when it
    /// had none (and nothing was recorded).
    pub async fn remove(
        db: &impl Database,
        project: &ProjectName,
        audit: AuditEvent<'_>,
    ) -> Result<bool, StoreError> {
        // The event first, while the row it speaks of is still there to condition on.
        let audit = audit.statement_if(
            "EXISTS (SELECT 1 FROM project_lifetimes WHERE project = ?7)",
            [project.as_str().into()],
        );
        let delete = Statement::new(
            "DELETE FROM project_lifetimes WHERE project = ?1",
            vec![project.as_str().into()],
        );
        let outcomes = db.batch(vec![audit, delete]).await?;
        Ok(changes(&outcomes, 1) > 0)
    }
}
