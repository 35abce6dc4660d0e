//! D1 storage of the CLI loopback login: the approved codes (`pending_codes`), read when KV
//! has not caught up, and the ledger of consumed codes (`consumed_codes`), which decides a
//! code's single use. KV keeps the pending code (see `cli_login`) and answers the common case
//! where the exchange lands, but KV promises no read-after-write even in one location, reaches
//! other locations a minute or more later and caches a "not found", and it has no atomic
//! read-and-delete. So the approval is in D1 too, and two exchanges of one code, on any
//! replicas, race here instead, inside one D1 batch (a transaction).

use edgeauth_core::cli_login::PendingLogin;
use edgeauth_core::TokenHash;

use super::{changes, AuditEvent, Database, SqlValue, Statement, StoreError, TokenRecord};

/// Ledger rows older than this are swept: their codes expired long before (a code lives
/// 120 s), so nothing can present them again. The hour leaves room for clock differences.
const LEDGER_RETENTION_MS: i64 = 60 * 60 * 1000;

/// What the ledger row says when a code was spent without minting a token.
const BURNED: &str = "burned";

/// One request's claim on a code: the ledger row of `code_hash` naming this request's new
/// token. Writes guarded by [`Redemption::condition`] happen only if the claim won.
struct Redemption<'a> {
    code_hash: &'a TokenHash,
    token_id: &'a str,
}

impl Redemption<'_> {
    /// `EXISTS (…)`, its two parameters numbered from `first`.
    fn condition(first: usize) -> String {
        format!(
            "EXISTS (SELECT 1 FROM consumed_codes WHERE code_hash = ?{first} AND token_id = ?{})",
            first + 1
        )
    }

    /// The parameters of [`Redemption::condition`], in order.
    fn params(&self) -> [SqlValue; 2] {
        [self.code_hash.as_hex().into(), self.token_id.into()]
    }
}

/// The ledger of consumed login codes.
pub struct ConsumedCode;

impl ConsumedCode {
    /// Redeems the code for `token` exactly once, in one batch: claim the code
    /// (`INSERT OR IGNORE`), then store the token and its audit event only if the claim is
    /// this request's; the code's pending row goes (whoever claimed it, it is spent), and
    /// stale ledger and pending rows are swept. True when this request won; false when the
    /// code was already consumed (by a concurrent or earlier exchange, or burned), in which
    /// case nothing was stored.
    pub async fn redeem_once(
        db: &impl Database,
        code_hash: &TokenHash,
        token: &TokenRecord,
        token_hash: &TokenHash,
        audit: AuditEvent<'_>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let redemption = Redemption {
            code_hash,
            token_id: token.id.as_str(),
        };
        let outcomes = db
            .batch(vec![
                Self::claim(code_hash, token.id.as_str(), now_ms),
                token.insert_if_statement(token_hash, Redemption::condition, redemption.params()),
                audit.statement_if(&Redemption::condition(7), redemption.params()),
                Self::sweep(now_ms),
                PendingCode::consume(code_hash),
                PendingCode::sweep(now_ms),
            ])
            .await?;
        Ok(changes(&outcomes, 1) > 0)
    }

    /// Spends a code without minting anything (it was presented with the wrong verifier or
    /// redirect), with its audit event, and deletes its pending row. A no-op on the ledger
    /// when the code was already consumed.
    pub async fn burn(
        db: &impl Database,
        code_hash: &TokenHash,
        audit: AuditEvent<'_>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        db.batch(vec![
            Self::claim(code_hash, BURNED, now_ms),
            audit.statement(),
            PendingCode::consume(code_hash),
        ])
        .await?;
        Ok(())
    }

    fn claim(code_hash: &TokenHash, token_id: &str, now_ms: i64) -> Statement {
        Statement::new(
            "INSERT OR IGNORE INTO consumed_codes (code_hash, token_id, consumed_at) \
             VALUES (?1, ?2, ?3)",
            vec![code_hash.as_hex().into(), token_id.into(), now_ms.into()],
        )
    }

    pub(crate) fn sweep(now_ms: i64) -> Statement {
        Statement::new(
            "DELETE FROM consumed_codes WHERE consumed_at < ?1",
            vec![(now_ms - LEDGER_RETENTION_MS).into()],
        )
    }
}

/// The approved codes in D1: what KV holds about each, under the code's SHA-256, until it is
/// redeemed, burned or expired. An exchange reads it only when KV misses.
pub struct PendingCode;

const PENDING_COLUMNS: &str = "user_id, project, name, redirect_uri, code_challenge, expires_at";

impl PendingCode {
    /// Records an approval in one batch: the code's pending row and the approval's audit
    /// event (neither without the other), sweeping expired pending rows.
    pub async fn approve(
        db: &impl Database,
        code_hash: &TokenHash,
        pending: &PendingLogin,
        audit: AuditEvent<'_>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let insert = Statement::new(
            format!(
                "INSERT INTO pending_codes (code_hash, {PENDING_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ),
            vec![
                code_hash.as_hex().into(),
                pending.user_id.as_str().into(),
                pending.project.as_str().into(),
                pending.name.as_str().into(),
                pending.redirect_uri.as_str().into(),
                pending.code_challenge.as_str().into(),
                pending.expires_at.into(),
            ],
        );
        db.batch(vec![insert, audit.statement(), Self::sweep(now_ms)])
            .await?;
        Ok(())
    }

    /// The approval of `code_hash`, if it was approved, is not yet redeemed or burned, and has
    /// not expired at `now_ms`.
    pub async fn find(
        db: &impl Database,
        code_hash: &TokenHash,
        now_ms: i64,
    ) -> Result<Option<PendingLogin>, StoreError> {
        db.first(Statement::new(
            format!(
                "SELECT {PENDING_COLUMNS} FROM pending_codes \
                 WHERE code_hash = ?1 AND expires_at > ?2"
            ),
            vec![code_hash.as_hex().into(), now_ms.into()],
        ))
        .await
    }

    /// Deletes the code's pending row: it is spent.
    fn consume(code_hash: &TokenHash) -> Statement {
        Statement::new(
            "DELETE FROM pending_codes WHERE code_hash = ?1",
            vec![code_hash.as_hex().into()],
        )
    }

    /// Deletes the pending rows expired at `now_ms`: their codes are refused anyway. (Deleting
    /// one early can only refuse a code; the ledger, not this table, keeps a spent code spent.)
    pub(crate) fn sweep(now_ms: i64) -> Statement {
        Statement::new(
            "DELETE FROM pending_codes WHERE expires_at <= ?1",
            vec![now_ms.into()],
        )
    }
}
