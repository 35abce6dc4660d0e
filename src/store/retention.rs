//! Retention: what the scheduled handler (`[triggers] crons` in wrangler.toml, `scheduled` in
//! src/lib.rs) deletes, so that no table grows for ever. Rows that write paths already sweep as
//! they go (device grants and lookup windows, refresh families and their tokens, CLI codes, the
//! exchanged-ID-token ledger) are swept here too, with the same statements, for a deployment
//! that sees no such writes for a while. Besides them, and only here:
//!
//! - sessions ended more than [`ENDED_GRACE_MS`] ago;
//! - service and user tokens revoked or expired more than [`ENDED_TOKEN_RETENTION_MS`] ago
//!   (until then they are listed as expired, and their audit trail names them);
//! - trust policies deleted more than [`ENDED_TOKEN_RETENTION_MS`] ago;
//! - audit events older than `AUDIT_RETENTION_DAYS`.
//!
//! Each of those deletes at most [`ROUND_ROWS`] rows per statement, in rounds, at most
//! [`MAX_ROUNDS`] of them per run: a backlog is worked off over several runs, never in one
//! statement that holds the database.

use edgeauth_core::time::DAY_MS;

use super::{device, ConsumedCode, Database, PendingCode, Statement, StoreError};

/// How long an ended session stays before it is deleted.
pub const ENDED_GRACE_MS: i64 = DAY_MS;
/// How long a revoked or expired token, or a deleted trust policy, stays before it is deleted.
pub const ENDED_TOKEN_RETENTION_MS: i64 = 90 * DAY_MS;
/// Most rows one bounded statement deletes in one round.
pub const ROUND_ROWS: i64 = 5_000;
/// Most rounds of one run.
pub const MAX_ROUNDS: usize = 20;

/// What one run deleted, per table.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept(pub Vec<(&'static str, usize)>);

/// The bounded deletes: (table, the condition on its rows, its one parameter).
fn bounded(now_ms: i64, audit_retention_ms: i64) -> [(&'static str, &'static str, i64); 6] {
    let ended_tokens = now_ms - ENDED_TOKEN_RETENTION_MS;
    const ENDED: &str = "(revoked_at IS NOT NULL AND revoked_at < ?1) OR expires_at < ?1";
    [
        ("sessions", "expires_at < ?1", now_ms - ENDED_GRACE_MS),
        ("service_tokens", ENDED, ended_tokens),
        ("user_tokens", ENDED, ended_tokens),
        (
            "trust_policies",
            "deleted_at IS NOT NULL AND deleted_at < ?1",
            ended_tokens,
        ),
        ("audit_events", "at < ?1", now_ms - audit_retention_ms),
        // The exchange sweeps it too (`ExchangedIdToken::sweep`); bounded here.
        ("exchanged_id_tokens", "expires_at < ?1", now_ms),
    ]
}

/// Runs the retention at `now_ms`, keeping audit events for `audit_retention_ms`.
pub async fn sweep(
    db: &impl Database,
    now_ms: i64,
    audit_retention_ms: i64,
) -> Result<Swept, StoreError> {
    let mut swept = Swept::default();
    // The sweeps of the write paths, as they run there (their rows are few: they are swept
    // at every write of their kind).
    let mut statements = device::sweeps(now_ms);
    statements.extend([ConsumedCode::sweep(now_ms), PendingCode::sweep(now_ms)]);
    db.batch(statements).await?;
    for (table, condition, cutoff) in bounded(now_ms, audit_retention_ms) {
        let mut total = 0;
        for _ in 0..MAX_ROUNDS {
            let deleted = db
                .run(Statement::new(
                    format!(
                        "DELETE FROM {table} WHERE rowid IN \
                         (SELECT rowid FROM {table} WHERE {condition} LIMIT {ROUND_ROWS})"
                    ),
                    vec![cutoff.into()],
                ))
                .await?;
            total += deleted;
            if (deleted as i64) < ROUND_ROWS {
                break;
            }
        }
        swept.0.push((table, total));
    }
    Ok(swept)
}
