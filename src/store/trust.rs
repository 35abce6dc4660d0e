//! D1 storage of trust policies (`trust_policies`) and of the ID tokens already exchanged
//! (`exchanged_id_tokens`), which makes each ID token good for one exchange.

use edgeauth_core::trust::{Conditions, NewTrustPolicy, MAX_POLICIES};
use edgeauth_core::{ProjectName, Scope};
use serde::Deserialize;

use super::{changes, columns, AuditEvent, Database, Statement, StoreError, LIST_LIMIT};

/// A stored trust policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TrustPolicyRecord {
    pub id: String,
    #[serde(deserialize_with = "columns::project")]
    pub project: ProjectName,
    pub name: String,
    pub issuer: String,
    pub audience: String,
    #[serde(deserialize_with = "columns::json_text")]
    pub conditions: Conditions,
    #[serde(deserialize_with = "columns::scope")]
    pub workspaces: Scope,
    pub lifetime_s: u32,
    pub created_at: i64,
    pub created_by: String,
}

const COLUMNS: &str = "id, project, name, issuer, audience, conditions, workspaces, lifetime_s, \
                       created_at, created_by";

impl TrustPolicyRecord {
    /// The record of `new`, made now by `created_by`, not yet stored.
    pub fn new(
        id: String,
        project: ProjectName,
        new: NewTrustPolicy,
        created_by: String,
        now_ms: i64,
    ) -> Self {
        TrustPolicyRecord {
            id,
            project,
            name: new.name,
            issuer: new.issuer,
            audience: new.audience,
            conditions: new.conditions,
            workspaces: new.scope,
            lifetime_s: new.lifetime_s,
            created_at: now_ms,
            created_by,
        }
    }

    /// Stores the policy and its audit event in one batch, unless the project has
    /// [`MAX_POLICIES`] live policies already: false then, and nothing is written.
    pub async fn insert(
        &self,
        db: &impl Database,
        audit: AuditEvent<'_>,
    ) -> Result<bool, StoreError> {
        let room = format!(
            "(SELECT COUNT(*) FROM trust_policies WHERE project = ?{{}} AND deleted_at IS NULL) < {MAX_POLICIES}"
        );
        let audit = audit.statement_if(&room.replace("{}", "7"), [self.project.as_str().into()]);
        let insert = Statement::new(
            format!(
                "INSERT INTO trust_policies ({COLUMNS}) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 WHERE {}",
                room.replace("{}", "2")
            ),
            vec![
                self.id.as_str().into(),
                self.project.as_str().into(),
                self.name.as_str().into(),
                self.issuer.as_str().into(),
                self.audience.as_str().into(),
                serde_json::to_string(&self.conditions)
                    .expect("conditions serialise")
                    .into(),
                columns::scope_text(&self.workspaces).into(),
                i64::from(self.lifetime_s).into(),
                self.created_at.into(),
                self.created_by.as_str().into(),
            ],
        );
        let outcomes = db.batch(vec![audit, insert]).await?;
        Ok(changes(&outcomes, 1) > 0)
    }

    /// The project's live policies, newest first.
    pub async fn list(db: &impl Database, project: &ProjectName) -> Result<Vec<Self>, StoreError> {
        db.all(Statement::new(
            format!(
                "SELECT {COLUMNS} FROM trust_policies WHERE project = ?1 AND deleted_at IS NULL \
                 ORDER BY created_at DESC, id DESC LIMIT {LIST_LIMIT}"
            ),
            vec![project.as_str().into()],
        ))
        .await
    }

    /// The project's live policies, oldest first (the order the exchange tries them in).
    pub async fn live(db: &impl Database, project: &ProjectName) -> Result<Vec<Self>, StoreError> {
        db.all(Statement::new(
            format!(
                "SELECT {COLUMNS} FROM trust_policies WHERE project = ?1 AND deleted_at IS NULL \
                 ORDER BY created_at, id LIMIT {MAX_POLICIES}"
            ),
            vec![project.as_str().into()],
        ))
        .await
    }

    /// The project's live policy `id`, if there is one.
    pub async fn find(
        db: &impl Database,
        project: &ProjectName,
        id: &str,
    ) -> Result<Option<Self>, StoreError> {
        db.first(Statement::new(
            format!(
                "SELECT {COLUMNS} FROM trust_policies WHERE id = ?1 AND project = ?2 \
                 AND deleted_at IS NULL"
            ),
            vec![id.into(), project.as_str().into()],
        ))
        .await
    }

    /// Deletes the project's live policy `id` with its audit event; false when there is none.
    pub async fn delete(
        db: &impl Database,
        project: &ProjectName,
        id: &str,
        audit: AuditEvent<'_>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let audit = audit.statement_if(
            "EXISTS (SELECT 1 FROM trust_policies WHERE id = ?7 AND project = ?8 \
             AND deleted_at IS NULL)",
            [id.into(), project.as_str().into()],
        );
        let delete = Statement::new(
            "UPDATE trust_policies SET deleted_at = ?1 WHERE id = ?2 AND project = ?3 \
             AND deleted_at IS NULL",
            vec![now_ms.into(), id.into(), project.as_str().into()],
        );
        let outcomes = db.batch(vec![audit, delete]).await?;
        Ok(changes(&outcomes, 1) > 0)
    }
}

/// The ledger of exchanged ID tokens.
pub struct ExchangedIdToken;

impl ExchangedIdToken {
    /// Records the ID token `(issuer, jti)` as exchanged, until `expires_at_ms`, and sweeps
    /// expired rows, in one batch: true for its first presentation, false for a replay.
    pub async fn first_use(
        db: &impl Database,
        issuer: &str,
        jti: &str,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let claim = Statement::new(
            "INSERT OR IGNORE INTO exchanged_id_tokens (issuer, jti, expires_at) VALUES (?1, ?2, ?3)",
            vec![issuer.into(), jti.into(), expires_at_ms.into()],
        );
        let outcomes = db.batch(vec![claim, Self::sweep(now_ms)]).await?;
        Ok(changes(&outcomes, 0) == 1)
    }

    /// Deletes the ledger's rows of ID tokens expired at `now_ms` (they are refused anyway).
    pub(crate) fn sweep(now_ms: i64) -> Statement {
        Statement::new(
            "DELETE FROM exchanged_id_tokens WHERE expires_at < ?1",
            vec![now_ms.into()],
        )
    }
}
