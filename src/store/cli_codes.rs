//! D1 storage of the CLI loopback login: the ledger of consumed codes (`consumed_codes`), which
//! decides a code's single use. KV keeps the pending code (see `cli_login`), but KV has no
//! atomic read-and-delete and is eventually consistent, so two exchanges of one code, on any
//! replicas, race here instead, inside one D1 batch (a transaction).

use edgeauth_core::TokenHash;
use wasm_bindgen::JsValue;
use worker::D1Database;

use super::{changes, millis, text, AuditEvent, UserTokenRecord};
use crate::error::ApiError;

/// Ledger rows older than this are swept: their codes expired long before (a code lives
/// 120 s), so nothing can present them again. The hour leaves room for clock differences.
const LEDGER_RETENTION_MS: i64 = 60 * 60 * 1000;

/// What the ledger row says when a code was spent without minting a token.
const BURNED: &str = "burned";

/// One request's claim on a code: the ledger row of `code_hash` naming this request's new
/// token. Writes guarded by [`Redemption::condition`] happen only if the claim won.
pub struct Redemption<'a> {
    pub code_hash: &'a TokenHash,
    pub token_id: &'a str,
}

impl Redemption<'_> {
    /// `WHERE EXISTS (…)` for `INSERT … SELECT`, its two parameters numbered from `first`.
    pub(crate) fn condition(&self, first: usize) -> String {
        format!(
            "WHERE EXISTS (SELECT 1 FROM consumed_codes WHERE code_hash = ?{first} AND token_id = ?{})",
            first + 1
        )
    }

    /// The parameters of [`Redemption::condition`], in order.
    pub(crate) fn params(&self) -> [JsValue; 2] {
        [text(self.code_hash.as_hex()), text(self.token_id)]
    }
}

/// The ledger of consumed login codes.
pub struct ConsumedCode;

impl ConsumedCode {
    /// Redeems the code for `token` exactly once, in one batch: claim the code
    /// (`INSERT OR IGNORE`), then store the token and its audit event only if the claim is
    /// this request's. True when this request won; false when the code was already consumed
    /// (by a concurrent or earlier exchange, or burned), in which case nothing was stored.
    pub async fn redeem_once(
        db: &D1Database,
        code_hash: &TokenHash,
        token: &UserTokenRecord,
        token_hash: &TokenHash,
        audit: AuditEvent<'_>,
        now_ms: i64,
    ) -> Result<bool, ApiError> {
        let redemption = Redemption {
            code_hash,
            token_id: &token.id,
        };
        let claim = db
            .prepare(
                "INSERT OR IGNORE INTO consumed_codes (code_hash, token_id, consumed_at) \
                 VALUES (?1, ?2, ?3)",
            )
            .bind(&[text(code_hash.as_hex()), text(&token.id), millis(now_ms)])?;
        let results = db
            .batch(vec![
                claim,
                token.insert_if_redeemed_statement(db, token_hash, &redemption)?,
                audit.statement_if_redeemed(db, &redemption)?,
                Self::sweep(db, now_ms)?,
            ])
            .await?;
        Ok(changes(results.get(1)) > 0)
    }

    /// Spends a code without minting anything (it was presented with the wrong verifier or
    /// redirect), with its audit event. A no-op when the code was already consumed.
    pub async fn burn(
        db: &D1Database,
        code_hash: &TokenHash,
        audit: AuditEvent<'_>,
        now_ms: i64,
    ) -> Result<(), ApiError> {
        let burn = db
            .prepare(
                "INSERT OR IGNORE INTO consumed_codes (code_hash, token_id, consumed_at) \
                 VALUES (?1, ?2, ?3)",
            )
            .bind(&[text(code_hash.as_hex()), text(BURNED), millis(now_ms)])?;
        db.batch(vec![burn, audit.statement(db)?]).await?;
        Ok(())
    }

    fn sweep(db: &D1Database, now_ms: i64) -> Result<worker::D1PreparedStatement, ApiError> {
        Ok(db
            .prepare("DELETE FROM consumed_codes WHERE consumed_at < ?1")
            .bind(&[millis(now_ms - LEDGER_RETENTION_MS)])?)
    }
}
