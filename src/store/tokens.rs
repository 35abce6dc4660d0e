//! Stored API tokens of both kinds: a project's service tokens (`service_tokens`) and
//! people's own tokens (`user_tokens`). They differ only by owner, so one record type and
//! one set of queries serve both. Only a token's SHA-256 is stored, never the token.

use edgeauth_core::lifetime::{Governed, LifetimePolicy};
use edgeauth_core::{FamilyId, Login, ProjectName, Scope, SessionId, TokenHash, TokenId, UserId};
use serde::Deserialize;

use super::columns;
use super::sql::placeholders;
use super::{changes, Actor, AuditEvent, Database, SqlValue, Statement, StoreError, LIST_LIMIT};

/// `last_used_at` is rewritten at most this often per token, so verification stays a read.
pub const LAST_USED_GRANULARITY_MS: i64 = 5 * 60 * 1000;

/// The two token tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenTable {
    /// A project's service tokens.
    ServiceTokens,
    /// People's own API tokens.
    UserTokens,
}

impl TokenTable {
    pub fn name(self) -> &'static str {
        match self {
            TokenTable::ServiceTokens => "service_tokens",
            TokenTable::UserTokens => "user_tokens",
        }
    }

    /// `SELECT` of every column of a [`TokenRecord`] (the owner's are the table's own).
    fn select(self) -> String {
        let owner_columns = match self {
            TokenTable::ServiceTokens => "created_by",
            TokenTable::UserTokens => "user_id, created_via",
        };
        format!(
            "SELECT id, project, name, workspaces, display_prefix, created_at, expires_at, \
             last_used_at, revoked_at, parent_family_id, parent_session_id, {owner_columns} \
             FROM {}",
            self.name()
        )
    }
}

/// Whose a token is, which decides its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOwner {
    /// A service token of its project, and who minted it.
    Project { created_by: Actor },
    /// A person's API token, and the credential it was minted with (`session`, `user`,
    /// `access`, `cli-login`).
    User {
        user_id: UserId,
        created_via: String,
    },
}

impl TokenOwner {
    /// The person who owns a user token; `None` for a service token.
    pub fn person(&self) -> Option<&UserId> {
        match self {
            TokenOwner::User { user_id, .. } => Some(user_id),
            TokenOwner::Project { .. } => None,
        }
    }

    /// The table of this owner's tokens.
    pub fn table(&self) -> TokenTable {
        match self {
            TokenOwner::Project { .. } => TokenTable::ServiceTokens,
            TokenOwner::User { .. } => TokenTable::UserTokens,
        }
    }
}

/// What `revocation_id` says on tokens revoked because the login they come from ended.
pub(super) const PARENT_ENDED: &str = "parent_ended";

/// Whose tokens to find or list.
#[derive(Debug, Clone, Copy)]
pub enum TokensOf<'a> {
    /// The service tokens of a project.
    Project(&'a ProjectName),
    /// A person's tokens, in every project.
    User(&'a UserId),
}

impl TokensOf<'_> {
    /// The table, and the column and value that select the owner's rows.
    fn selector(&self) -> (TokenTable, &'static str, SqlValue) {
        match self {
            TokensOf::Project(project) => (
                TokenTable::ServiceTokens,
                "project",
                project.as_str().into(),
            ),
            TokensOf::User(user_id) => (TokenTable::UserTokens, "user_id", user_id.as_str().into()),
        }
    }
}

/// A stored token: everything but the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "TokenRow")]
pub struct TokenRecord {
    pub id: TokenId,
    pub owner: TokenOwner,
    /// The one project the token is valid in.
    pub project: ProjectName,
    pub name: String,
    pub scope: Scope,
    pub display_prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    /// Approximate: written at most every [`LAST_USED_GRANULARITY_MS`].
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The login it was created with (a device login or a browser session, directly or
    /// through other tokens), which it does not outlive and is revoked with.
    pub parent: Option<Login>,
    /// A user token's owner's teams as of their last sign-in, which decide their role: read
    /// with the token when it is verified ([`TokenRecord::find_by_hash`]), `None` otherwise.
    pub owner_teams: Option<Vec<String>>,
}

/// A token about to be minted: what its creator asked for.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub owner: TokenOwner,
    pub project: ProjectName,
    pub name: String,
    pub scope: Scope,
    pub expires_at: Option<i64>,
    pub parent: Option<Login>,
}

/// A row of either token table, as stored (the owner's columns are those of its table).
#[derive(Deserialize)]
struct TokenRow {
    id: TokenId,
    #[serde(deserialize_with = "columns::project")]
    project: ProjectName,
    name: String,
    #[serde(deserialize_with = "columns::scope")]
    workspaces: Scope,
    display_prefix: String,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    user_id: Option<UserId>,
    #[serde(default)]
    created_via: Option<String>,
    #[serde(default)]
    parent_family_id: Option<FamilyId>,
    #[serde(default)]
    parent_session_id: Option<SessionId>,
    #[serde(default)]
    owner_teams: Option<String>,
}

impl TryFrom<TokenRow> for TokenRecord {
    type Error = String;

    fn try_from(row: TokenRow) -> Result<Self, String> {
        let owner = match (row.created_by, row.user_id, row.created_via) {
            (Some(created_by), None, None) => TokenOwner::Project {
                created_by: Actor::parse(&created_by)
                    .map_err(|e| format!("token {}: {e}", row.id))?,
            },
            (None, Some(user_id), Some(created_via)) => TokenOwner::User {
                user_id,
                created_via,
            },
            _ => {
                return Err(format!(
                    "token {}: neither a service token nor a user token row",
                    row.id
                ))
            }
        };
        let parent = match (row.parent_family_id, row.parent_session_id) {
            (None, None) => None,
            (Some(family), None) => Some(Login::Device(family)),
            (None, Some(session)) => Some(Login::Session(session)),
            (Some(_), Some(_)) => {
                return Err(format!("token {}: two parent logins", row.id));
            }
        };
        let owner_teams = row
            .owner_teams
            .map(|json| serde_json::from_str::<Vec<String>>(&json))
            .transpose()
            .map_err(|e| format!("token {}: its owner's teams: {e}", row.id))?;
        Ok(TokenRecord {
            owner,
            parent,
            owner_teams,
            project: row.project,
            scope: row.workspaces,
            id: row.id,
            name: row.name,
            display_prefix: row.display_prefix,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }
}

impl TokenRecord {
    /// The record of a token minted now, not yet stored.
    pub fn new(id: TokenId, new: NewToken, display_prefix: &str, now_ms: i64) -> Self {
        TokenRecord {
            id,
            owner: new.owner,
            project: new.project,
            name: new.name,
            scope: new.scope,
            display_prefix: display_prefix.to_owned(),
            created_at: now_ms,
            expires_at: new.expires_at,
            last_used_at: None,
            revoked_at: None,
            parent: new.parent,
            owner_teams: None,
        }
    }

    /// The statements that revoke, in both tables, the live tokens created with `login` (for
    /// the batch that ends it).
    pub fn revoke_children_of(login: &Login, now_ms: i64) -> Vec<Statement> {
        let (column, id) = parent_column(login);
        [TokenTable::ServiceTokens, TokenTable::UserTokens]
            .into_iter()
            .map(|table| {
                Statement::new(
                    format!(
                        "UPDATE {} SET revoked_at = ?1, revocation_id = ?2 \
                         WHERE {column} = ?3 AND revoked_at IS NULL",
                        table.name()
                    ),
                    vec![now_ms.into(), PARENT_ENDED.into(), id.into()],
                )
            })
            .collect()
    }

    /// True when the token has an expiry and it has passed.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now_ms)
    }

    /// The kind of token its project's lifetime policy governs it as.
    pub fn governed(&self) -> Governed {
        match self.owner {
            TokenOwner::Project { .. } => Governed::ServiceTokens,
            TokenOwner::User { .. } => Governed::UserTokens,
        }
    }

    /// True when its project's lifetime `policy` refuses it for going unused: its last use
    /// (else its creation) is `unused_days` or more ago.
    pub fn is_unused_under(&self, policy: &LifetimePolicy, now_ms: i64) -> bool {
        policy.unused_too_long(self.created_at, self.last_used_at, now_ms)
    }

    /// Looks a presented token up by its hash, in the table of its kind (known from its
    /// format); a user token with its owner's teams, in the same read.
    pub async fn find_by_hash(
        db: &impl Database,
        table: TokenTable,
        hash: &TokenHash,
    ) -> Result<Option<Self>, StoreError> {
        let select = table.select();
        let select = match table {
            TokenTable::ServiceTokens => select,
            TokenTable::UserTokens => select.replacen(
                " FROM user_tokens",
                ", (SELECT teams FROM users WHERE users.id = user_tokens.user_id) AS owner_teams \
                 FROM user_tokens",
                1,
            ),
        };
        db.first(Statement::new(
            format!("{select} WHERE token_hash = ?1"),
            vec![hash.as_hex().into()],
        ))
        .await
    }

    /// One of the owner's tokens by id, revoked or not; `None` for anyone else's.
    pub async fn find(
        db: &impl Database,
        of: TokensOf<'_>,
        id: &str,
    ) -> Result<Option<Self>, StoreError> {
        let (table, column, owner) = of.selector();
        db.first(Statement::new(
            format!("{} WHERE id = ?1 AND {column} = ?2", table.select()),
            vec![id.into(), owner],
        ))
        .await
    }

    /// The owner's tokens that are not revoked, newest first.
    pub async fn list_active(
        db: &impl Database,
        of: TokensOf<'_>,
    ) -> Result<Vec<Self>, StoreError> {
        let (table, column, owner) = of.selector();
        db.all(Statement::new(
            format!(
                "{} WHERE {column} = ?1 AND revoked_at IS NULL \
                 ORDER BY created_at DESC, id DESC LIMIT {LIST_LIMIT}",
                table.select()
            ),
            vec![owner],
        ))
        .await
    }

    /// The columns and values of a new row.
    fn insert_values(&self, hash: &TokenHash) -> (Vec<&'static str>, Vec<SqlValue>) {
        let mut columns = vec!["id"];
        let mut values: Vec<SqlValue> = vec![self.id.as_str().into()];
        if let TokenOwner::User { user_id, .. } = &self.owner {
            columns.push("user_id");
            values.push(user_id.as_str().into());
        }
        columns.extend([
            "project",
            "name",
            "workspaces",
            "token_hash",
            "display_prefix",
            "created_at",
        ]);
        values.extend([
            self.project.as_str().into(),
            self.name.as_str().into(),
            columns::scope_text(&self.scope).into(),
            hash.as_hex().into(),
            self.display_prefix.as_str().into(),
            self.created_at.into(),
        ]);
        match &self.owner {
            TokenOwner::Project { created_by } => {
                columns.push("created_by");
                values.push(created_by.to_string().into());
            }
            TokenOwner::User { created_via, .. } => {
                columns.push("created_via");
                values.push(created_via.as_str().into());
            }
        }
        columns.push("expires_at");
        values.push(self.expires_at.into());
        if let Some(login) = &self.parent {
            let (column, id) = parent_column(login);
            columns.push(column);
            values.push(id.into());
        }
        (columns, values)
    }

    /// The statement that stores this token.
    fn insert_statement(&self, hash: &TokenHash) -> Statement {
        let (columns, values) = self.insert_values(hash);
        Statement::new(
            format!(
                "INSERT INTO {} ({}) VALUES ({})",
                self.owner.table().name(),
                columns.join(", "),
                placeholders(1, values.len())
            ),
            values,
        )
    }

    /// The statement that stores this token only if `condition` (an SQL expression whose
    /// parameters are numbered after the row's, given in `condition_params`) holds when it
    /// runs: for a batch that mints the token only for the request that won a race.
    pub(crate) fn insert_if_statement(
        &self,
        hash: &TokenHash,
        condition: impl FnOnce(usize) -> String,
        condition_params: impl IntoIterator<Item = SqlValue>,
    ) -> Statement {
        let (columns, mut values) = self.insert_values(hash);
        let placeholders = placeholders(1, values.len());
        let condition = condition(values.len() + 1);
        values.extend(condition_params);
        Statement::new(
            format!(
                "INSERT INTO {} ({}) SELECT {placeholders} WHERE {condition}",
                self.owner.table().name(),
                columns.join(", "),
            ),
            values,
        )
    }

    /// Stores a new token and its audit event in one batch. A token created with a login
    /// (`parent`) is stored only if that login is still live when the batch runs, so one
    /// created while the login is being ended cannot outlive it; false then, with nothing
    /// stored.
    pub async fn insert_created(
        &self,
        db: &impl Database,
        hash: &TokenHash,
        audit: AuditEvent<'_>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let Some(login) = &self.parent else {
            self.insert(db, hash, audit).await?;
            return Ok(true);
        };
        let (table, id) = match login {
            Login::Device(family) => ("refresh_families", family.as_str()),
            Login::Session(session) => ("sessions", session.as_str()),
        };
        let revoked = match login {
            Login::Device(_) => " AND revoked_at IS NULL",
            Login::Session(_) => "",
        };
        let insert = self.insert_if_statement(
            hash,
            |first| {
                format!(
                    "EXISTS (SELECT 1 FROM {table} WHERE id = ?{first}{revoked} \
                     AND expires_at > ?{})",
                    first + 1
                )
            },
            [id.into(), now_ms.into()],
        );
        let audit = audit.statement_if(
            &format!(
                "EXISTS (SELECT 1 FROM {} WHERE id = ?7)",
                self.owner.table().name()
            ),
            [self.id.as_str().into()],
        );
        let outcomes = db.batch(vec![insert, audit]).await?;
        Ok(changes(&outcomes, 0) == 1)
    }

    /// Rolls this token: stores `successor` (the same token with a new secret, whose hash is
    /// `hash`) and ends this one's secret, `until` then (`None`: revoked now, with
    /// `revocation_id`), with the audit event, in one batch, and only while this token is live
    /// (and the login it was made with, if any): false otherwise, with nothing written.
    #[allow(clippy::too_many_arguments)]
    pub async fn roll(
        &self,
        db: &impl Database,
        successor: &TokenRecord,
        hash: &TokenHash,
        until: Option<i64>,
        revocation_id: &str,
        audit: AuditEvent<'_>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let table = self.owner.table().name();
        let parent = self.parent.as_ref().map(|login| match login {
            Login::Device(family) => (
                "refresh_families",
                family.as_str(),
                " AND revoked_at IS NULL",
            ),
            Login::Session(session) => ("sessions", session.as_str(), ""),
        });
        let mut params: Vec<SqlValue> = vec![self.id.as_str().into(), now_ms.into()];
        if let Some((_, id, _)) = parent {
            params.push(id.into());
        }
        let insert = successor.insert_if_statement(
            hash,
            |first| {
                let live = format!(
                    "EXISTS (SELECT 1 FROM {table} WHERE id = ?{first} AND revoked_at IS NULL \
                     AND (expires_at IS NULL OR expires_at > ?{}))",
                    first + 1
                );
                match parent {
                    Some((parent_table, _, revoked)) => format!(
                        "{live} AND EXISTS (SELECT 1 FROM {parent_table} WHERE id = ?{}{revoked} \
                         AND expires_at > ?{})",
                        first + 2,
                        first + 1
                    ),
                    None => live,
                }
            },
            params,
        );
        let successor_stored = format!("EXISTS (SELECT 1 FROM {table} WHERE id = ?3)");
        let end = match until {
            None => Statement::new(
                format!(
                    "UPDATE {table} SET revoked_at = ?1, revocation_id = ?4 \
                     WHERE id = ?2 AND revoked_at IS NULL AND {successor_stored}"
                ),
                vec![
                    now_ms.into(),
                    self.id.as_str().into(),
                    successor.id.as_str().into(),
                    revocation_id.into(),
                ],
            ),
            Some(until) => Statement::new(
                format!(
                    "UPDATE {table} SET expires_at = MIN(COALESCE(expires_at, ?1), ?1) \
                     WHERE id = ?2 AND revoked_at IS NULL AND {successor_stored}"
                ),
                vec![
                    until.into(),
                    self.id.as_str().into(),
                    successor.id.as_str().into(),
                ],
            ),
        };
        let audit = audit.statement_if(
            &format!("EXISTS (SELECT 1 FROM {table} WHERE id = ?7)"),
            [successor.id.as_str().into()],
        );
        let outcomes = db.batch(vec![insert, end, audit]).await?;
        Ok(changes(&outcomes, 0) == 1)
    }

    /// Stores a new token and its audit event in one batch.
    pub async fn insert(
        &self,
        db: &impl Database,
        hash: &TokenHash,
        audit: AuditEvent<'_>,
    ) -> Result<(), StoreError> {
        db.batch(vec![self.insert_statement(hash), audit.statement()])
            .await?;
        Ok(())
    }

    /// Marks the token revoked (if it is not already), with its audit event, in one batch;
    /// the event is recorded only if this request's revocation took effect (its
    /// `revocation_id` is the stored one). Returns false when another request revoked it first.
    pub async fn revoke(
        &self,
        db: &impl Database,
        now_ms: i64,
        revocation_id: &str,
        audit: AuditEvent<'_>,
    ) -> Result<bool, StoreError> {
        let (column, owner): (_, SqlValue) = match &self.owner {
            TokenOwner::Project { .. } => ("project", self.project.as_str().into()),
            TokenOwner::User { user_id, .. } => ("user_id", user_id.as_str().into()),
        };
        let table = self.owner.table().name();
        let update = Statement::new(
            format!(
                "UPDATE {table} SET revoked_at = ?1, revocation_id = ?4 \
                 WHERE id = ?2 AND {column} = ?3 AND revoked_at IS NULL"
            ),
            vec![
                now_ms.into(),
                self.id.as_str().into(),
                owner,
                revocation_id.into(),
            ],
        );
        // Only the request whose revocation took effect records it.
        let audit = audit.statement_if(
            &format!("EXISTS (SELECT 1 FROM {table} WHERE id = ?7 AND revocation_id = ?8)"),
            [self.id.as_str().into(), revocation_id.into()],
        );
        let outcomes = db.batch(vec![update, audit]).await?;
        Ok(changes(&outcomes, 0) > 0)
    }

    /// The write that records a use of this token now, when the recorded one is older than
    /// [`LAST_USED_GRANULARITY_MS`]; `None` otherwise, so verification stays a read. The
    /// condition is repeated in the UPDATE, so concurrent uses write at most once.
    pub fn use_statement(&self, now_ms: i64) -> Option<Statement> {
        let stale_before = now_ms - LAST_USED_GRANULARITY_MS;
        if self.last_used_at.is_some_and(|at| at >= stale_before) {
            return None;
        }
        Some(Statement::new(
            format!(
                "UPDATE {} SET last_used_at = ?1 \
                 WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?3)",
                self.owner.table().name()
            ),
            vec![now_ms.into(), self.id.as_str().into(), stale_before.into()],
        ))
    }
}

/// The column that names a token's parent login, and the login's id.
fn parent_column(login: &Login) -> (&'static str, &str) {
    match login {
        Login::Device(family) => ("parent_family_id", family.as_str()),
        Login::Session(session) => ("parent_session_id", session.as_str()),
    }
}
