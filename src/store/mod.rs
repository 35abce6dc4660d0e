//! Storage of every record in D1: API tokens of both kinds (`tokens`), audit events
//! (`audit`), people, their sessions (`people`), approved and consumed CLI login codes
//! (`cli_codes`), device logins with their refresh-token families (`device`), projects'
//! own role teams (`roles`) and lifetime policies (`lifetime`), and trust policies with the ID
//! tokens they exchanged (`trust`). Each record type keeps its queries beside it, so the storage story of a type is in one place. Times
//! are Unix milliseconds.
//!
//! Every query and batch is built as a plain value ([`Statement`]) and run by a
//! [`Database`]: D1 in the Worker (`d1`), an in-memory SQLite with the real migrations in the
//! unit tests (`sqlite`). A batch is one transaction on both.

use std::fmt;

use serde::de::DeserializeOwned;

mod audit;
mod cli_codes;
mod columns;
mod d1;
mod device;
mod lifetime;
mod logins;
mod people;
pub mod retention;
mod retry;
mod roles;
mod sql;
mod tokens;
mod trust;

#[cfg(test)]
mod sqlite;
#[cfg(test)]
mod tests;

pub use audit::{Actor, AuditEvent, EventFilter, StoredEvent, Trace};
pub use cli_codes::{ConsumedCode, PendingCode};
pub use d1::{record_later, record_session_seen, record_use};
pub use device::{
    CodeLookups, DeviceGrantRecord, FamilyRecord, GrantInsert, GrantState, GrantStatus, NewFamily,
    RefreshTokenRecord,
};
pub use lifetime::ProjectLifetime;
pub use logins::{end_logins, LoginRecord, Which};
pub use people::{NewSession, ProviderGrant, SessionRecord, UserRecord};
pub use roles::ProjectRoles;
pub use sql::{SqlValue, Statement};
pub use tokens::{NewToken, TokenOwner, TokenRecord, TokenTable, TokensOf};
pub use trust::{ExchangedIdToken, TrustPolicyRecord};

/// Most tokens one listing returns.
pub const LIST_LIMIT: u32 = 1000;

/// Why a store operation failed. Never shown to a client: a failed database is a logged 503
/// `storage_unavailable`, a bad stored value a logged 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The database failed or refused a statement.
    Database(String),
    /// The database failed in a way its documentation says passes (a reset, a lost
    /// connection): an operation that is safe to repeat is retried once (`retry`).
    Transient(String),
    /// A stored row does not decode into its record type (a bad stored value).
    BadRecord(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Database(cause) => write!(f, "database: {cause}"),
            StoreError::Transient(cause) => write!(f, "database (transient): {cause}"),
            StoreError::BadRecord(cause) => write!(f, "stored record: {cause}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// What the store needs from a database: run one statement, or a batch as one transaction
/// (statements in order, all or nothing, as D1's `batch()`). Rows decode through serde.
///
/// Which operations are repeated after a transient failure (`retry`) is said here, by the
/// method the store calls: a read (`first`, `all` of a `SELECT`) is repeated once; a write
/// (`run`, `batch`) never, since a failure whose commit is unknown would be answered
/// differently the second time (a token inserted twice, a revocation "not found", a failed
/// lookup counted twice); a write is repeated only through `run_repeatable` and
/// `batch_repeatable`, whose callers promise that a second run answers what the first did
/// even if the first committed.
// The store is private to this crate; no caller needs the futures to be `Send` (the Worker
// is single-threaded), so `async fn` is the plainest way to say it.
#[allow(async_fn_in_trait)]
pub trait Database {
    /// What one statement of a batch answered.
    type Outcome: Outcome;

    /// The first row of `statement`, if any.
    async fn first<T: DeserializeOwned>(
        &self,
        statement: Statement,
    ) -> Result<Option<T>, StoreError>;

    /// Every row of `statement`.
    async fn all<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, StoreError>;

    /// Runs `statement`; the rows it changed.
    async fn run(&self, statement: Statement) -> Result<usize, StoreError>;

    /// Runs `statements` as one transaction; what each answered, in order.
    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<Self::Outcome>, StoreError>;

    /// [`Database::run`] for a write that is safe to repeat: running it again after it
    /// committed changes nothing more, and its caller does not depend on the rows it
    /// changed. Retried once after a transient failure.
    async fn run_repeatable(&self, statement: Statement) -> Result<usize, StoreError> {
        self.run(statement).await
    }

    /// [`Database::batch`] for a batch that is safe to repeat: run again after it committed,
    /// it answers what its first run would have (the refresh rotation, whose answer is read
    /// in the batch itself; a family's revocation). Retried once after a transient failure.
    async fn batch_repeatable(
        &self,
        statements: Vec<Statement>,
    ) -> Result<Vec<Self::Outcome>, StoreError> {
        self.batch(statements).await
    }
}

/// The answer to one statement of a batch.
pub trait Outcome {
    /// The rows it changed (0 for a read, or a write whose condition did not hold).
    fn changes(&self) -> usize;

    /// The rows it returned.
    fn rows<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError>;
}

/// The rows the statement at `index` of a batch changed (0 when there is none).
pub(crate) fn changes<O: Outcome>(outcomes: &[O], index: usize) -> usize {
    outcomes.get(index).map_or(0, Outcome::changes)
}
