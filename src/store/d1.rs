//! The D1 executor: binds a [`Statement`]'s parameters and runs it on the `DB` binding. The
//! only code of the store that calls JavaScript, so the unit tests never reach it.

use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{Context, D1Database, D1PreparedStatement, D1Result};

use super::{Database, Outcome, SqlValue, Statement, StoreError, TokenRecord};

impl From<worker::Error> for StoreError {
    fn from(e: worker::Error) -> Self {
        StoreError::Database(format!("D1: {e}"))
    }
}

fn js(value: &SqlValue) -> JsValue {
    match value {
        SqlValue::Text(s) => JsValue::from_str(s),
        // `D1Type::Integer` is i32; Unix milliseconds fit exactly in an f64 (below 2^53),
        // which is how D1 receives numbers.
        SqlValue::Integer(n) => JsValue::from_f64(*n as f64),
        SqlValue::Null => JsValue::NULL,
    }
}

/// One D1 operation begins (a statement, or a batch: one transaction), counted
/// (`crate::stats`). Only the fault-injection build ever refuses it (src/faults.rs).
fn begin(reads: bool) -> Result<(), StoreError> {
    if reads {
        crate::stats::d1_read();
    } else {
        crate::stats::d1_write();
    }
    crate::faults::d1().map_err(|fault| StoreError::Database(format!("D1: {fault}")))
}

/// `statement`, bound, as one operation.
fn prepare(
    db: &D1Database,
    statement: Statement,
    reads: bool,
) -> Result<D1PreparedStatement, StoreError> {
    begin(reads)?;
    bind(db, statement)
}

fn bind(db: &D1Database, statement: Statement) -> Result<D1PreparedStatement, StoreError> {
    let params: Vec<JsValue> = statement.params.iter().map(js).collect();
    Ok(db.prepare(statement.sql).bind(&params)?)
}

impl Database for D1Database {
    type Outcome = D1Result;

    async fn first<T: DeserializeOwned>(
        &self,
        statement: Statement,
    ) -> Result<Option<T>, StoreError> {
        Ok(prepare(self, statement, true)?.first::<T>(None).await?)
    }

    async fn all<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, StoreError> {
        Ok(prepare(self, statement, true)?
            .all()
            .await?
            .results::<T>()?)
    }

    async fn run(&self, statement: Statement) -> Result<usize, StoreError> {
        Ok(prepare(self, statement, false)?.run().await?.changes())
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<D1Result>, StoreError> {
        begin(false)?;
        let prepared = statements
            .into_iter()
            .map(|s| bind(self, s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(D1Database::batch(self, prepared).await?)
    }
}

impl Outcome for D1Result {
    fn changes(&self) -> usize {
        self.meta()
            .ok()
            .flatten()
            .and_then(|m| m.changes)
            .unwrap_or(0)
    }

    fn rows<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        Ok(self.results::<T>()?)
    }
}

/// Records a use of `token` after the response (`waitUntil`), when its recorded use is stale
/// ([`TokenRecord::use_statement`]); otherwise does nothing, so verification stays a read.
/// True when a write was sent.
pub fn record_use(
    ctx: &Context,
    db: &D1Database,
    token: &TokenRecord,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let Some(statement) = token.use_statement(now_ms) else {
        return Ok(false);
    };
    let table = token.owner.table().name();
    let touch = bind(db, statement)?;
    ctx.wait_until(async move {
        let recorded = async {
            begin(false)?;
            touch.run().await?;
            Ok::<(), StoreError>(())
        };
        if let Err(e) = recorded.await {
            worker::console_error!("could not record a use in {table}: {e}");
        }
    });
    Ok(true)
}
