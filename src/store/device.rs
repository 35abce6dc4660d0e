//! D1 storage of the device login: device grants (RFC 8628), the refresh-token families they
//! start and their rotating tokens, and the counts of failed user-code lookups at `/device`.
//!
//! Every decision that two requests could race for is a conditional write inside one batch
//! (D1 runs a batch as one transaction, statements in order), and the statements that follow
//! it name the winner by a value unique to its request (a new family id, a successor's hash),
//! so a loser never leaves a row behind: a grant yields one family, a refresh token one
//! successor (`core::refresh`'s storage protocol).

use edgeauth_core::device::{DeviceStatus, LookupFailures, LOOKUP_WINDOW_S};
use edgeauth_core::refresh::StoredRefresh;
use edgeauth_core::TokenHash;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

use super::{changes, millis, text, AuditEvent};
use crate::error::ApiError;

/// Device grants are kept this long after they expire, so a late poll still hears
/// `expired_token` rather than `invalid_grant`; then they are swept.
const GRANT_GRACE_MS: i64 = 60 * 60 * 1000;
/// Families are kept this long after their cap, then swept with their tokens.
const FAMILY_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// Where a device grant has got to, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantState {
    /// Waiting for, or decided by, the person at `/device`.
    Open(DeviceStatus),
    /// Its tokens were issued: the device code is spent.
    Consumed,
}

/// A device authorization request. The device code itself is never stored.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceGrantRecord {
    /// Hex SHA-256 of the device code.
    pub device_code_hash: String,
    pub user_code: String,
    pub project: String,
    pub client_name: String,
    /// `pending`, `approved`, `denied` or `consumed`.
    pub status: String,
    /// Who approved or denied it.
    pub user_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub interval_s: i64,
    pub last_polled_at: Option<i64>,
}

const GRANT_COLUMNS: &str = "device_code_hash, user_code, project, client_name, status, user_id, \
                             created_at, expires_at, interval_s, last_polled_at";

impl DeviceGrantRecord {
    /// The stored status.
    pub fn state(&self) -> Result<GrantState, ApiError> {
        Ok(match self.status.as_str() {
            "pending" => GrantState::Open(DeviceStatus::Pending),
            "approved" => GrantState::Open(DeviceStatus::Approved),
            "denied" => GrantState::Open(DeviceStatus::Denied),
            "consumed" => GrantState::Consumed,
            other => {
                return Err(ApiError::Internal(format!(
                    "device grant with unknown status {other:?}"
                )))
            }
        })
    }

    /// Stores a new pending grant, sweeping stale grants, lookup counts and families first.
    /// Returns false, storing nothing, when its user code (or, impossibly, its device-code
    /// hash) is already taken by a grant not yet swept: the caller draws new codes.
    pub async fn insert(&self, db: &D1Database, now_ms: i64) -> Result<bool, ApiError> {
        let sweep_grants = db
            .prepare("DELETE FROM device_grants WHERE expires_at < ?1")
            .bind(&[millis(now_ms - GRANT_GRACE_MS)])?;
        let sweep_attempts = db
            .prepare("DELETE FROM device_code_attempts WHERE window_start <= ?1")
            .bind(&[millis(now_ms - i64::from(LOOKUP_WINDOW_S) * 1000)])?;
        let sweep_tokens = db
            .prepare(
                "DELETE FROM refresh_tokens WHERE family_id IN \
                 (SELECT id FROM refresh_families WHERE expires_at < ?1)",
            )
            .bind(&[millis(now_ms - FAMILY_GRACE_MS)])?;
        let sweep_families = db
            .prepare("DELETE FROM refresh_families WHERE expires_at < ?1")
            .bind(&[millis(now_ms - FAMILY_GRACE_MS)])?;
        let insert = db
            .prepare(
                "INSERT OR IGNORE INTO device_grants (device_code_hash, user_code, project, \
                 client_name, status, created_at, expires_at, interval_s) \
                 VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7)",
            )
            .bind(&[
                text(&self.device_code_hash),
                text(&self.user_code),
                text(&self.project),
                text(&self.client_name),
                millis(self.created_at),
                millis(self.expires_at),
                millis(self.interval_s),
            ])?;
        let results = db
            .batch(vec![
                sweep_grants,
                sweep_attempts,
                sweep_tokens,
                sweep_families,
                insert,
            ])
            .await?;
        Ok(changes(results.last()) == 1)
    }

    /// The grant of a presented device code, whatever its state.
    pub async fn find_by_hash(db: &D1Database, hash: &TokenHash) -> Result<Option<Self>, ApiError> {
        Ok(db
            .prepare(format!(
                "SELECT {GRANT_COLUMNS} FROM device_grants WHERE device_code_hash = ?1"
            ))
            .bind(&[text(hash.as_hex())])?
            .first::<Self>(None)
            .await?)
    }

    /// Records a poll: when it came, and the interval from now on (grown after `slow_down`).
    pub async fn record_poll(
        db: &D1Database,
        hash: &str,
        now_ms: i64,
        interval_s: u32,
    ) -> Result<(), ApiError> {
        db.prepare(
            "UPDATE device_grants SET last_polled_at = ?1, interval_s = ?2 \
             WHERE device_code_hash = ?3",
        )
        .bind(&[millis(now_ms), millis(i64::from(interval_s)), text(hash)])?
        .run()
        .await?;
        Ok(())
    }

    /// Approves or denies this grant for `user_id`, if it is still pending and live, with its
    /// audit event, in one batch. False when it was decided (or expired) in between.
    pub async fn decide(
        &self,
        db: &D1Database,
        user_id: &str,
        approve: bool,
        now_ms: i64,
        audit: AuditEvent<'_>,
    ) -> Result<bool, ApiError> {
        let (status, at_column) = if approve {
            ("approved", "approved_at")
        } else {
            ("denied", "denied_at")
        };
        let update = db
            .prepare(format!(
                "UPDATE device_grants SET status = ?1, user_id = ?2, {at_column} = ?3 \
                 WHERE device_code_hash = ?4 AND status = 'pending' AND expires_at > ?3"
            ))
            .bind(&[
                text(status),
                text(user_id),
                millis(now_ms),
                text(&self.device_code_hash),
            ])?;
        // The event is recorded only if this request's decision is the stored one.
        let audit = audit_if(
            db,
            &audit,
            &format!(
                "EXISTS (SELECT 1 FROM device_grants WHERE device_code_hash = ?7 \
                 AND status = ?8 AND user_id = ?9 AND {at_column} = ?10)"
            ),
            vec![
                text(&self.device_code_hash),
                text(status),
                text(user_id),
                millis(now_ms),
            ],
        )?;
        let results = db.batch(vec![update, audit]).await?;
        Ok(changes(results.first()) == 1)
    }

    /// Spends this approved grant and starts its refresh family with its first token, in one
    /// batch. The conditional update (`status = 'approved'`) is the arbiter: of concurrent
    /// polls, exactly one changes the row and tags it with its own new family id; the family,
    /// the token and the audit event are inserted only where that tag is found, so a loser
    /// inserts nothing. Returns whether this request won.
    pub async fn redeem(
        &self,
        db: &D1Database,
        family: &NewFamily<'_>,
        first_token: &TokenHash,
        audit: AuditEvent<'_>,
    ) -> Result<bool, ApiError> {
        let now = millis(family.created_at);
        let consume = db
            .prepare(
                "UPDATE device_grants SET status = 'consumed', family_id = ?1, last_polled_at = ?2 \
                 WHERE device_code_hash = ?3 AND status = 'approved' AND expires_at > ?2",
            )
            .bind(&[text(family.id), now.clone(), text(&self.device_code_hash)])?;
        let insert_family = db
            .prepare(
                "INSERT INTO refresh_families (id, user_id, project, scope, client_name, \
                 created_at, expires_at) \
                 SELECT ?1, user_id, project, ?2, client_name, ?3, ?4 FROM device_grants \
                 WHERE device_code_hash = ?5 AND family_id = ?1 AND user_id IS NOT NULL",
            )
            .bind(&[
                text(family.id),
                text(family.scope),
                now.clone(),
                millis(family.expires_at),
                text(&self.device_code_hash),
            ])?;
        let insert_token = db
            .prepare(
                "INSERT INTO refresh_tokens (token_hash, family_id, created_at) \
                 SELECT ?1, id, ?2 FROM refresh_families WHERE id = ?3",
            )
            .bind(&[text(first_token.as_hex()), now, text(family.id)])?;
        let audit = audit_if(
            db,
            &audit,
            "EXISTS (SELECT 1 FROM refresh_families WHERE id = ?7)",
            vec![text(family.id)],
        )?;
        let results = db
            .batch(vec![consume, insert_family, insert_token, audit])
            .await?;
        Ok(changes(results.first()) == 1 && changes(results.get(1)) == 1)
    }
}

/// A family about to be started by a device grant; the user, project and client name come
/// from the grant's row.
pub struct NewFamily<'a> {
    pub id: &'a str,
    /// JSON array of workspace patterns.
    pub scope: &'a str,
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

const ATTEMPTS_SELECT: &str =
    "SELECT window_start, failures FROM device_code_attempts WHERE subject IN (?1, ?2)";

impl CodeLookups {
    /// What is stored for `subjects` (two of them: the session and the user).
    pub async fn failures(
        db: &D1Database,
        subjects: &[String; 2],
    ) -> Result<Vec<LookupFailures>, ApiError> {
        let rows = db
            .prepare(ATTEMPTS_SELECT)
            .bind(&[text(&subjects[0]), text(&subjects[1])])?
            .all()
            .await?
            .results::<AttemptRow>()?;
        Ok(AttemptRow::failures(rows))
    }

    /// Looks `user_code` up among live pending grants, counting a failure for every subject
    /// when there is none (always, when `user_code` is `None`: the input was not a user code),
    /// in one batch. Returns the subjects' counts as they were *before* this lookup, read in
    /// the same transaction (so concurrent lookups are ordered, and the caller decides with
    /// `LookupFailures::most_limiting` whether this one was allowed), and the grant found.
    pub async fn lookup(
        db: &D1Database,
        subjects: &[String; 2],
        user_code: Option<&str>,
        now_ms: i64,
    ) -> Result<(Vec<LookupFailures>, Option<DeviceGrantRecord>), ApiError> {
        let code = user_code.map_or(JsValue::NULL, text);
        let mut statements = vec![db
            .prepare(ATTEMPTS_SELECT)
            .bind(&[text(&subjects[0]), text(&subjects[1])])?];
        // core::device::LookupFailures::after_failure, in SQL: a new window once the old
        // one has ended, else one more failure in it.
        for subject in subjects {
            statements.push(
                db.prepare(
                    "INSERT INTO device_code_attempts (subject, window_start, failures) \
                     SELECT ?1, ?2, 1 WHERE NOT EXISTS (SELECT 1 FROM device_grants \
                     WHERE user_code = ?3 AND status = 'pending' AND expires_at > ?2) \
                     ON CONFLICT (subject) DO UPDATE SET \
                     failures = CASE WHEN window_start + ?4 <= excluded.window_start \
                                THEN 1 ELSE failures + 1 END, \
                     window_start = CASE WHEN window_start + ?4 <= excluded.window_start \
                                    THEN excluded.window_start ELSE window_start END",
                )
                .bind(&[
                    text(subject),
                    millis(now_ms),
                    code.clone(),
                    millis(i64::from(LOOKUP_WINDOW_S) * 1000),
                ])?,
            );
        }
        if user_code.is_some() {
            statements.push(
                db.prepare(format!(
                    "SELECT {GRANT_COLUMNS} FROM device_grants \
                     WHERE user_code = ?1 AND status = 'pending' AND expires_at > ?2"
                ))
                .bind(&[code, millis(now_ms)])?,
            );
        }
        let results = db.batch(statements).await?;
        let before = AttemptRow::failures(
            results
                .first()
                .map(|r| r.results::<AttemptRow>())
                .transpose()?
                .unwrap_or_default(),
        );
        let grant = match user_code {
            Some(_) => results
                .last()
                .map(|r| r.results::<DeviceGrantRecord>())
                .transpose()?
                .and_then(|rows| rows.into_iter().next()),
            None => None,
        };
        Ok((before, grant))
    }
}

/// A presented refresh token with its family, as stored.
#[derive(Debug, Clone, Deserialize)]
pub struct RefreshTokenRecord {
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub family_id: String,
    pub family_revoked_at: Option<i64>,
    pub family_expires_at: i64,
    pub user_id: String,
    pub project: String,
    /// JSON array of workspace patterns.
    pub scope: String,
}

impl RefreshTokenRecord {
    /// What `core::refresh::decide` needs.
    pub fn stored(&self) -> StoredRefresh {
        StoredRefresh {
            used_at_ms: self.used_at,
            revoked_at_ms: self.revoked_at,
            family_revoked_at_ms: self.family_revoked_at,
            family_expires_at_ms: self.family_expires_at,
        }
    }

    /// The token whose hash is `hash`, with its family (step 2 of the storage protocol).
    pub async fn find_by_hash(db: &D1Database, hash: &TokenHash) -> Result<Option<Self>, ApiError> {
        Ok(db
            .prepare(
                "SELECT t.used_at, t.revoked_at, f.id AS family_id, \
                 f.revoked_at AS family_revoked_at, f.expires_at AS family_expires_at, \
                 f.user_id, f.project, f.scope \
                 FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
                 WHERE t.token_hash = ?1",
            )
            .bind(&[text(hash.as_hex())])?
            .first::<Self>(None)
            .await?)
    }

    /// Spends `old` and stores its successor `new`, in one batch (step 3 of the storage
    /// protocol). Returns the `changes` of the conditional spend, for `refresh::arbitrate`.
    pub async fn rotate(
        db: &D1Database,
        old: &TokenHash,
        new: &TokenHash,
        now_ms: i64,
    ) -> Result<u64, ApiError> {
        let spend = db
            .prepare(
                "UPDATE refresh_tokens SET used_at = ?1, replaced_by = ?2 \
                 WHERE token_hash = ?3 AND used_at IS NULL AND revoked_at IS NULL \
                 AND family_id IN (SELECT id FROM refresh_families \
                                   WHERE revoked_at IS NULL AND expires_at > ?1)",
            )
            .bind(&[millis(now_ms), text(new.as_hex()), text(old.as_hex())])?;
        let successor = db
            .prepare(
                "INSERT INTO refresh_tokens (token_hash, family_id, created_at) \
                 SELECT ?1, family_id, ?2 FROM refresh_tokens \
                 WHERE token_hash = ?3 AND replaced_by = ?1",
            )
            .bind(&[text(new.as_hex()), millis(now_ms), text(old.as_hex())])?;
        let results = db.batch(vec![spend, successor]).await?;
        Ok(changes(results.first()) as u64)
    }

    /// Revokes a family (idempotent), with its audit event recorded only by the request that
    /// revoked it (step 4). Returns whether this request revoked it.
    pub async fn revoke_family(
        db: &D1Database,
        family_id: &str,
        now_ms: i64,
        audit: AuditEvent<'_>,
    ) -> Result<bool, ApiError> {
        let revoke = db
            .prepare(
                "UPDATE refresh_families SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
            )
            .bind(&[millis(now_ms), text(family_id)])?;
        let audit = audit_if(
            db,
            &audit,
            "EXISTS (SELECT 1 FROM refresh_families WHERE id = ?7 AND revoked_at = ?8)",
            vec![text(family_id), millis(now_ms)],
        )?;
        let results = db.batch(vec![revoke, audit]).await?;
        Ok(changes(results.first()) == 1)
    }
}

/// The statement that records `audit` only when `condition` holds when it runs; the
/// condition's parameters are numbered from `?7`.
fn audit_if(
    db: &D1Database,
    audit: &AuditEvent<'_>,
    condition: &str,
    condition_params: Vec<JsValue>,
) -> Result<D1PreparedStatement, ApiError> {
    let mut params = vec![
        millis(audit.at),
        audit.project.map_or(JsValue::NULL, text),
        text(audit.actor),
        text(audit.action),
        text(audit.subject),
        text(&audit.detail),
    ];
    params.extend(condition_params);
    Ok(db
        .prepare(format!(
            "INSERT INTO audit_events (at, project, actor, action, subject, detail) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE {condition}"
        ))
        .bind(&params)?)
}
