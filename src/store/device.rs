//! D1 storage of the device login: device grants (RFC 8628), the refresh-token families they
//! start and their rotating tokens, and the counts of failed user-code lookups at `/device`.
//!
//! Every decision that two requests could race for is a conditional write inside one batch
//! (D1 runs a batch as one transaction, statements in order), and the statements that follow
//! it name the winner by a value unique to its request (a new family id), so a loser never
//! leaves a row behind: a grant yields one family. A refresh token has one successor, derived
//! from it, so every request presenting it names the same one, and the batch reads its own
//! answer (`core::refresh`'s storage protocol).

use edgeauth_core::device::{DeviceStatus, LookupFailures, LOOKUP_WINDOW_S};
use edgeauth_core::refresh::{self, StoredRefresh};
use edgeauth_core::{FamilyId, Login, ProjectName, Scope, TokenHash, UserId};
use serde::Deserialize;

use super::{
    changes, columns, AuditEvent, Database, Outcome, SqlValue, Statement, StoreError, TokenRecord,
};

/// Device grants are kept this long after they expire, so a late poll still hears
/// `expired_token` rather than `invalid_grant`; then they are swept.
const GRANT_GRACE_MS: i64 = 60 * 60 * 1000;
/// Families are kept this long after their cap, then swept with their tokens.
const FAMILY_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// The sweeps of what the device flow leaves behind, stale at `now_ms`: grants past their
/// grace, ended lookup windows, and refresh families past their grace with their tokens (the
/// tokens first: they refer to their family). Run before each new grant, and by the
/// scheduled retention (`store::retention`).
pub(crate) fn sweeps(now_ms: i64) -> Vec<Statement> {
    let family_cutoff = now_ms - FAMILY_GRACE_MS;
    vec![
        Statement::new(
            "DELETE FROM device_grants WHERE expires_at < ?1",
            vec![(now_ms - GRANT_GRACE_MS).into()],
        ),
        Statement::new(
            "DELETE FROM device_code_attempts WHERE window_start <= ?1",
            vec![(now_ms - i64::from(LOOKUP_WINDOW_S) * 1000).into()],
        ),
        Statement::new(
            "DELETE FROM refresh_tokens WHERE family_id IN \
             (SELECT id FROM refresh_families WHERE expires_at < ?1)",
            vec![family_cutoff.into()],
        ),
        Statement::new(
            "DELETE FROM refresh_families WHERE expires_at < ?1",
            vec![family_cutoff.into()],
        ),
    ]
}

/// A device grant's status column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantStatus {
    Pending,
    Approved,
    Denied,
    /// Its tokens were issued: the device code is spent.
    Consumed,
}

/// Where a device grant has got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantState {
    /// Waiting for, or decided by, the person at `/device`.
    Open(DeviceStatus),
    /// Its tokens were issued: the device code is spent.
    Consumed,
}

/// What storing a new device grant came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantInsert {
    Stored,
    /// Its user code is taken by a grant not yet swept; nothing was stored: draw again.
    CodeTaken,
    /// Its project has as many live pending grants as it may; nothing was stored. The first
    /// of them expires (freeing a place) at `next_expiry_ms`.
    Full {
        next_expiry_ms: i64,
    },
}

/// The count of a project's live pending grants, read by the batch that inserts.
#[derive(Deserialize)]
struct LivePending {
    pending: i64,
    next_expiry: Option<i64>,
}

/// A device authorization request. The device code itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeviceGrantRecord {
    /// Hex SHA-256 of the device code.
    pub device_code_hash: String,
    pub user_code: String,
    /// The project its tokens will be valid in.
    #[serde(deserialize_with = "columns::project")]
    pub project: ProjectName,
    pub client_name: String,
    pub status: GrantStatus,
    /// Who approved or denied it.
    pub user_id: Option<UserId>,
    pub created_at: i64,
    pub expires_at: i64,
    pub interval_s: i64,
    pub last_polled_at: Option<i64>,
}

const GRANT_COLUMNS: &str = "device_code_hash, user_code, project, client_name, status, user_id, \
                             created_at, expires_at, interval_s, last_polled_at";

impl DeviceGrantRecord {
    /// Where the grant has got to.
    pub fn state(&self) -> GrantState {
        match self.status {
            GrantStatus::Pending => GrantState::Open(DeviceStatus::Pending),
            GrantStatus::Approved => GrantState::Open(DeviceStatus::Approved),
            GrantStatus::Denied => GrantState::Open(DeviceStatus::Denied),
            GrantStatus::Consumed => GrantState::Consumed,
        }
    }

    /// Stores this grant as a new pending one, sweeping stale grants, lookup counts and
    /// families first, unless its project already has `max_pending` live pending grants: the
    /// count is read and the insert made conditional on it in the same batch (one
    /// transaction), so concurrent requests from anywhere cannot store more than the cap.
    /// Stores nothing when its user code (or, impossibly, its device-code hash) is already
    /// taken by a grant not yet swept: the caller draws new codes.
    pub async fn insert(
        &self,
        db: &impl Database,
        now_ms: i64,
        max_pending: u32,
    ) -> Result<GrantInsert, StoreError> {
        // Live pending grants of a project: what the cap counts.
        const LIVE_PENDING: &str = "FROM device_grants \
             WHERE project = ?1 AND status = 'pending' AND expires_at > ?2";
        let mut statements = sweeps(now_ms);
        let swept = statements.len();
        statements.extend([
            Statement::new(
                format!(
                    "SELECT COUNT(*) AS pending, MIN(expires_at) AS next_expiry {LIVE_PENDING}"
                ),
                vec![self.project.as_str().into(), now_ms.into()],
            ),
            Statement::new(
                format!(
                    "INSERT OR IGNORE INTO device_grants (device_code_hash, user_code, \
                         project, client_name, status, created_at, expires_at, interval_s) \
                         SELECT ?3, ?4, ?1, ?5, 'pending', ?6, ?7, ?8 \
                         WHERE (SELECT COUNT(*) {LIVE_PENDING}) < ?9"
                ),
                vec![
                    self.project.as_str().into(),
                    now_ms.into(),
                    self.device_code_hash.as_str().into(),
                    self.user_code.as_str().into(),
                    self.client_name.as_str().into(),
                    self.created_at.into(),
                    self.expires_at.into(),
                    self.interval_s.into(),
                    i64::from(max_pending).into(),
                ],
            ),
        ]);
        let outcomes = db.batch(statements).await?;
        if changes(&outcomes, swept + 1) == 1 {
            return Ok(GrantInsert::Stored);
        }
        let live = match outcomes.get(swept) {
            Some(outcome) => outcome.rows::<LivePending>()?.into_iter().next(),
            None => None,
        };
        Ok(match live {
            Some(live) if live.pending >= i64::from(max_pending) => GrantInsert::Full {
                next_expiry_ms: live.next_expiry.unwrap_or(now_ms),
            },
            _ => GrantInsert::CodeTaken,
        })
    }

    /// The grant of a presented device code, whatever its state.
    pub async fn find_by_hash(
        db: &impl Database,
        hash: &TokenHash,
    ) -> Result<Option<Self>, StoreError> {
        db.first(Statement::new(
            format!("SELECT {GRANT_COLUMNS} FROM device_grants WHERE device_code_hash = ?1"),
            vec![hash.as_hex().into()],
        ))
        .await
    }

    /// Records a poll: when it came, and the interval from now on (grown after `slow_down`).
    pub async fn record_poll(
        &self,
        db: &impl Database,
        now_ms: i64,
        interval_s: u32,
    ) -> Result<(), StoreError> {
        // Sets absolute values: safe to repeat.
        db.run_repeatable(Statement::new(
            "UPDATE device_grants SET last_polled_at = ?1, interval_s = ?2 \
             WHERE device_code_hash = ?3",
            vec![
                now_ms.into(),
                i64::from(interval_s).into(),
                self.device_code_hash.as_str().into(),
            ],
        ))
        .await?;
        Ok(())
    }

    /// Approves or denies this grant for `user_id`, if it is still pending and live, with its
    /// audit event, in one batch. False when it was decided (or expired) in between.
    pub async fn decide(
        &self,
        db: &impl Database,
        user_id: &UserId,
        approve: bool,
        now_ms: i64,
        audit: AuditEvent<'_>,
    ) -> Result<bool, StoreError> {
        let (status, at_column) = if approve {
            ("approved", "approved_at")
        } else {
            ("denied", "denied_at")
        };
        let update = Statement::new(
            format!(
                "UPDATE device_grants SET status = ?1, user_id = ?2, {at_column} = ?3 \
                 WHERE device_code_hash = ?4 AND status = 'pending' AND expires_at > ?3"
            ),
            vec![
                status.into(),
                user_id.as_str().into(),
                now_ms.into(),
                self.device_code_hash.as_str().into(),
            ],
        );
        // The event is recorded only if this request's decision is the stored one.
        let audit = audit.statement_if(
            &format!(
                "EXISTS (SELECT 1 FROM device_grants WHERE device_code_hash = ?7 \
                 AND status = ?8 AND user_id = ?9 AND {at_column} = ?10)"
            ),
            [
                self.device_code_hash.as_str().into(),
                status.into(),
                user_id.as_str().into(),
                now_ms.into(),
            ],
        );
        let outcomes = db.batch(vec![update, audit]).await?;
        Ok(changes(&outcomes, 0) == 1)
    }

    /// Spends this approved grant and starts its refresh family with its first token, in one
    /// batch. The conditional update (`status = 'approved'`) is the arbiter: of concurrent
    /// polls, exactly one changes the row and tags it with its own new family id; the family,
    /// the token and the audit event are inserted only where that tag is found, so a loser
    /// inserts nothing. Returns whether this request won.
    pub async fn redeem(
        &self,
        db: &impl Database,
        family: &NewFamily<'_>,
        first_token: &TokenHash,
        audit: AuditEvent<'_>,
    ) -> Result<bool, StoreError> {
        let family_id = || SqlValue::from(family.id.as_str());
        let grant = || SqlValue::from(self.device_code_hash.as_str());
        let now = family.created_at;
        let consume = Statement::new(
            "UPDATE device_grants SET status = 'consumed', family_id = ?1, last_polled_at = ?2 \
             WHERE device_code_hash = ?3 AND status = 'approved' AND expires_at > ?2",
            vec![family_id(), now.into(), grant()],
        );
        let insert_family = Statement::new(
            "INSERT INTO refresh_families (id, user_id, project, scope, client_name, \
             created_at, expires_at) \
             SELECT ?1, user_id, project, ?2, client_name, ?3, ?4 FROM device_grants \
             WHERE device_code_hash = ?5 AND family_id = ?1 AND user_id IS NOT NULL",
            vec![
                family_id(),
                columns::scope_text(family.scope).into(),
                now.into(),
                family.expires_at.into(),
                grant(),
            ],
        );
        let insert_token = Statement::new(
            "INSERT INTO refresh_tokens (token_hash, family_id, created_at) \
             SELECT ?1, id, ?2 FROM refresh_families WHERE id = ?3",
            vec![first_token.as_hex().into(), now.into(), family_id()],
        );
        let audit = audit.statement_if(
            "EXISTS (SELECT 1 FROM refresh_families WHERE id = ?7)",
            [family_id()],
        );
        let outcomes = db
            .batch(vec![consume, insert_family, insert_token, audit])
            .await?;
        Ok(changes(&outcomes, 0) == 1 && changes(&outcomes, 1) == 1)
    }
}

/// A family about to be started by a device grant; the user, project and client name come
/// from the grant's row.
pub struct NewFamily<'a> {
    pub id: &'a FamilyId,
    pub scope: &'a Scope,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The failed user-code lookups of `/device`, per subject (`session:…`, `user:…`).
pub struct CodeLookups;

#[derive(Deserialize)]
struct AttemptRow {
    window_start: i64,
    failures: i64,
}

impl AttemptRow {
    fn failures(rows: Vec<AttemptRow>) -> Vec<LookupFailures> {
        rows.into_iter()
            .map(|r| LookupFailures {
                window_start_ms: r.window_start,
                failures: u32::try_from(r.failures.max(0)).unwrap_or(u32::MAX),
            })
            .collect()
    }
}

fn attempts_select(subjects: &[String; 2]) -> Statement {
    Statement::new(
        "SELECT window_start, failures FROM device_code_attempts WHERE subject IN (?1, ?2)",
        vec![subjects[0].as_str().into(), subjects[1].as_str().into()],
    )
}

impl CodeLookups {
    /// What is stored for `subjects` (two of them: the session and the user).
    pub async fn failures(
        db: &impl Database,
        subjects: &[String; 2],
    ) -> Result<Vec<LookupFailures>, StoreError> {
        Ok(AttemptRow::failures(
            db.all(attempts_select(subjects)).await?,
        ))
    }

    /// Looks `user_code` up among live pending grants, counting a failure for every subject
    /// when there is none (always, when `user_code` is `None`: the input was not a user code),
    /// in one batch. Returns the subjects' counts as they were *before* this lookup, read in
    /// the same transaction (so concurrent lookups are ordered, and the caller decides with
    /// `LookupFailures::most_limiting` whether this one was allowed), and the grant found.
    pub async fn lookup(
        db: &impl Database,
        subjects: &[String; 2],
        user_code: Option<&str>,
        now_ms: i64,
    ) -> Result<(Vec<LookupFailures>, Option<DeviceGrantRecord>), StoreError> {
        let mut statements = vec![attempts_select(subjects)];
        // core::device::LookupFailures::after_failure, in SQL: a new window once the old
        // one has ended, else one more failure in it.
        for subject in subjects {
            statements.push(Statement::new(
                "INSERT INTO device_code_attempts (subject, window_start, failures) \
                 SELECT ?1, ?2, 1 WHERE NOT EXISTS (SELECT 1 FROM device_grants \
                 WHERE user_code = ?3 AND status = 'pending' AND expires_at > ?2) \
                 ON CONFLICT (subject) DO UPDATE SET \
                 failures = CASE WHEN window_start + ?4 <= excluded.window_start \
                            THEN 1 ELSE failures + 1 END, \
                 window_start = CASE WHEN window_start + ?4 <= excluded.window_start \
                                THEN excluded.window_start ELSE window_start END",
                vec![
                    subject.as_str().into(),
                    now_ms.into(),
                    user_code.into(),
                    (i64::from(LOOKUP_WINDOW_S) * 1000).into(),
                ],
            ));
        }
        if let Some(code) = user_code {
            statements.push(Statement::new(
                format!(
                    "SELECT {GRANT_COLUMNS} FROM device_grants \
                     WHERE user_code = ?1 AND status = 'pending' AND expires_at > ?2"
                ),
                vec![code.into(), now_ms.into()],
            ));
        }
        let outcomes = db.batch(statements).await?;
        let before = match outcomes.first() {
            Some(outcome) => AttemptRow::failures(outcome.rows()?),
            None => Vec::new(),
        };
        let grant = match (user_code, outcomes.last()) {
            (Some(_), Some(outcome)) => outcome.rows::<DeviceGrantRecord>()?.into_iter().next(),
            _ => None,
        };
        Ok((before, grant))
    }
}

/// A device login (refresh-token family), as far as the tokens created with it care: when it
/// ends and whether it was revoked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FamilyRecord {
    pub id: FamilyId,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl FamilyRecord {
    /// The family `id`, if it is stored.
    pub async fn find(db: &impl Database, id: &FamilyId) -> Result<Option<Self>, StoreError> {
        db.first(Statement::new(
            "SELECT id, expires_at, revoked_at FROM refresh_families WHERE id = ?1",
            vec![id.as_str().into()],
        ))
        .await
    }

    /// Whether the device login still works at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now_ms
    }
}

/// A presented refresh token with its family and its successor, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RefreshTokenRecord {
    pub used_at: Option<i64>,
    /// Hex SHA-256 of the token that replaced it, once spent.
    pub replaced_by: Option<String>,
    /// 1 when that successor was spent or revoked itself since (SQLite has no booleans).
    pub successor_spent: i64,
    pub revoked_at: Option<i64>,
    pub family_id: FamilyId,
    pub family_revoked_at: Option<i64>,
    pub family_expires_at: i64,
    pub user_id: UserId,
    #[serde(deserialize_with = "columns::project")]
    pub project: ProjectName,
    /// The workspaces of the family's access tokens.
    #[serde(deserialize_with = "columns::scope")]
    pub scope: Scope,
    /// The user's teams as the provider last gave them: a refresh re-reads their role with
    /// them, after asking the provider again when they are older than the revocation bound.
    #[serde(deserialize_with = "columns::json_text")]
    pub user_teams: Vec<String>,
    /// When the provider last gave them (`None` for a person from before that was kept).
    pub teams_checked_at: Option<i64>,
    /// 1 when a provider refresh token is kept for the person (`ProviderGrant`), else 0.
    pub has_provider_refresh: i64,
}

impl RefreshTokenRecord {
    /// What `core::refresh::decide` needs.
    pub fn stored(&self) -> StoredRefresh {
        StoredRefresh {
            used_at_ms: self.used_at,
            // A stored value that is not a hash names no successor: not replayable.
            replaced_by: self.replaced_by.as_deref().and_then(TokenHash::from_hex),
            successor_spent: self.successor_spent != 0,
            revoked_at_ms: self.revoked_at,
            family_revoked_at_ms: self.family_revoked_at,
            family_expires_at_ms: self.family_expires_at,
        }
    }

    /// The token whose hash is `hash`, with its family and its successor (step 2 of the
    /// storage protocol).
    pub async fn find_by_hash(
        db: &impl Database,
        hash: &TokenHash,
    ) -> Result<Option<Self>, StoreError> {
        db.first(Statement::new(
            "SELECT t.used_at, t.replaced_by, \
             (s.used_at IS NOT NULL OR s.revoked_at IS NOT NULL) AS successor_spent, \
             t.revoked_at, f.id AS family_id, \
             f.revoked_at AS family_revoked_at, f.expires_at AS family_expires_at, \
             f.user_id, f.project, f.scope, u.teams AS user_teams, u.teams_checked_at, \
             (u.provider_refresh IS NOT NULL) AS has_provider_refresh \
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
             JOIN users u ON u.id = f.user_id \
             LEFT JOIN refresh_tokens s ON s.token_hash = t.replaced_by \
             WHERE t.token_hash = ?1",
            vec![hash.as_hex().into()],
        ))
        .await
    }

    /// Spends `old` for its derived successor `new` (or finds it spent for `new`) and stores
    /// `new` once, then reads whether `new` is the live successor of `old`, spent less than
    /// [`refresh::REPLAY_WINDOW_S`] ago: one batch (step 3 of the storage protocol). Returns
    /// what `refresh::arbitrate` needs. Safe to repeat (and repeated once after a transient
    /// failure): a second run spends and inserts nothing and reads the same answer. `audit`
    /// (at `now_ms`) is recorded by the run that spent `old`, once.
    pub async fn rotate(
        db: &impl Database,
        old: &TokenHash,
        new: &TokenHash,
        now_ms: i64,
        audit: AuditEvent<'_>,
    ) -> Result<Rotation, StoreError> {
        let spend = Statement::new(
            "UPDATE refresh_tokens SET used_at = ?1, replaced_by = ?2 \
             WHERE token_hash = ?3 AND used_at IS NULL AND revoked_at IS NULL \
             AND family_id IN (SELECT id FROM refresh_families \
                               WHERE revoked_at IS NULL AND expires_at > ?1)",
            vec![now_ms.into(), new.as_hex().into(), old.as_hex().into()],
        );
        let successor = Statement::new(
            "INSERT INTO refresh_tokens (token_hash, family_id, created_at) \
             SELECT ?1, family_id, ?2 FROM refresh_tokens \
             WHERE token_hash = ?3 AND replaced_by = ?1 \
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = ?1)",
            vec![new.as_hex().into(), now_ms.into(), old.as_hex().into()],
        );
        let answer = Statement::new(
            "SELECT 1 AS answerable FROM refresh_tokens t \
             JOIN refresh_tokens s ON s.token_hash = t.replaced_by \
             JOIN refresh_families f ON f.id = t.family_id \
             WHERE t.token_hash = ?1 AND t.replaced_by = ?2 AND t.used_at > ?3 \
             AND t.revoked_at IS NULL AND s.used_at IS NULL AND s.revoked_at IS NULL \
             AND f.revoked_at IS NULL AND f.expires_at > ?4",
            vec![
                old.as_hex().into(),
                new.as_hex().into(),
                refresh::replayable_since_ms(now_ms).into(),
                now_ms.into(),
            ],
        );
        let audit = audit.statement_if(
            "EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = ?7 AND replaced_by = ?8 \
             AND used_at = ?1) \
             AND NOT EXISTS (SELECT 1 FROM audit_events WHERE subject = ?5 AND action = ?4 \
             AND at = ?1)",
            [old.as_hex().into(), new.as_hex().into()],
        );
        let outcomes = db
            .batch_repeatable(vec![spend, successor, answer, audit])
            .await?;
        let answerable = match outcomes.get(2) {
            Some(outcome) => !outcome.rows::<Answerable>()?.is_empty(),
            None => false,
        };
        Ok(Rotation {
            spent: changes(&outcomes, 0) as u64,
            answerable,
        })
    }

    /// Revokes a family (idempotent), with its audit event recorded only by the request that
    /// revoked it (step 4), known by its `revocation_id`, since two may revoke in the same
    /// millisecond. Returns whether this request revoked it.
    pub async fn revoke_family(
        db: &impl Database,
        family_id: &FamilyId,
        now_ms: i64,
        revocation_id: &str,
        audit: AuditEvent<'_>,
    ) -> Result<bool, StoreError> {
        let batch = family_revocation(family_id, now_ms, revocation_id, audit);
        // Safe to repeat: a second run revokes nothing more and records no second event;
        // only its answer (whether this request revoked it) may differ, and no caller
        // answers the client differently for it.
        let outcomes = db.batch_repeatable(batch).await?;
        Ok(changes(&outcomes, 0) == 1)
    }
}

/// The statements that revoke a family (the first: whether it changed anything tells whether
/// this request revoked it), the tokens made with it, and record its audit event once.
pub(super) fn family_revocation(
    family_id: &FamilyId,
    now_ms: i64,
    revocation_id: &str,
    audit: AuditEvent<'_>,
) -> Vec<Statement> {
    let revoke = Statement::new(
        "UPDATE refresh_families SET revoked_at = ?1, revocation_id = ?3 \
             WHERE id = ?2 AND revoked_at IS NULL",
        vec![
            now_ms.into(),
            family_id.as_str().into(),
            revocation_id.into(),
        ],
    );
    // A family is revoked once, so its event (this action, this subject: ?4, ?5) is
    // recorded once: a second run of this batch, after its answer was lost, records none.
    let audit = audit.statement_if(
        "EXISTS (SELECT 1 FROM refresh_families WHERE id = ?7 AND revocation_id = ?8) \
             AND NOT EXISTS (SELECT 1 FROM audit_events WHERE subject = ?5 AND action = ?4)",
        [family_id.as_str().into(), revocation_id.into()],
    );
    let mut batch = vec![revoke];
    // The tokens created with the device login's access tokens end with it.
    batch.extend(TokenRecord::revoke_children_of(
        &Login::Device(family_id.clone()),
        now_ms,
    ));
    batch.push(audit);
    batch
}

/// What the rotation batch found, for `refresh::arbitrate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rows its conditional spend changed: 1 when this run spent the token.
    pub spent: u64,
    /// Whether the successor was found live, spent less than a window ago.
    pub answerable: bool,
}

#[derive(Deserialize)]
struct Answerable {
    #[allow(dead_code)] // its presence is the answer
    answerable: i64,
}
