//! The D1 executor: binds a [`Statement`]'s parameters and runs it on the `DB` binding. The
//! only code of the store that calls JavaScript, so the unit tests never reach it.
//!
//! A failure D1 documents as transient ([`retry`](super::retry)) is retried once, after a
//! short pause, for the operations that are safe to repeat: reads (`first`, `all` of a
//! `SELECT`), `run_repeatable` and `batch_repeatable`. Every other failure, and a second
//! transient one, is the caller's `StoreError`, answered 503 `storage_unavailable`.

use std::time::Duration;

use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{Context, D1Database, D1PreparedStatement, D1Result, Delay};

use super::logins::session_seen;
use super::retry::{classify, once_more};
use super::{AuditEvent, Database, Outcome, SqlValue, Statement, StoreError, TokenRecord};
use crate::WebCrypto;
use edgeauth_core::SessionId;

impl From<worker::Error> for StoreError {
    fn from(e: worker::Error) -> Self {
        classify(format!("D1: {}", message(&e)))
    }
}

/// What a failed D1 call said. D1's own errors carry their text in the JavaScript error's
/// `message` (`D1_ERROR: Network connection lost.`), which `worker::Error`'s `Display` leaves
/// out, so it is read here, with the `cause` older runtimes used.
fn message(e: &worker::Error) -> String {
    match e {
        worker::Error::D1(d1) => {
            let error: &js_sys::Error = d1.as_ref();
            let message = String::from(error.message());
            let cause = d1.cause();
            if cause == "unknown error" || message.contains(&cause) {
                message
            } else {
                format!("{message} ({cause})")
            }
        }
        other => other.to_string(),
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

/// One D1 operation begins (a statement, or a batch: one transaction; a retry is another),
/// counted (`crate::stats`). Only the fault-injection build ever refuses it (src/faults.rs);
/// its number is for [`answered`].
fn begin(reads: bool) -> Result<u32, StoreError> {
    if reads {
        crate::stats::d1_read();
    } else {
        crate::stats::d1_write();
    }
    crate::faults::d1().map_err(|fault| classify(format!("D1: {fault}")))
}

/// Operation `op` ran; only the fault-injection build ever loses its answer (as a connection
/// lost after the commit would).
fn answered(op: u32) -> Result<(), StoreError> {
    crate::faults::d1_answered(op).map_err(|fault| classify(format!("D1: {fault}")))
}

fn bind(db: &D1Database, statement: Statement) -> Result<D1PreparedStatement, StoreError> {
    let params: Vec<JsValue> = statement.params.iter().map(js).collect();
    Ok(db.prepare(statement.sql).bind(&params)?)
}

/// Runs `operation` and, when `repeatable` and it failed transiently, once more after a pause
/// of 25–75 ms (D1 advises backing off with jitter), logging why.
async fn attempt<T, Fut>(repeatable: bool, operation: impl FnMut() -> Fut) -> Result<T, StoreError>
where
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let pause = |cause: &str| {
        worker::console_warn!("D1 failed transiently, retrying once: {cause}");
        let mut jitter = [0u8; 1];
        edgeauth_core::Entropy::fill(&mut WebCrypto, &mut jitter);
        Delay::from(Duration::from_millis(25 + u64::from(jitter[0] % 51)))
    };
    if repeatable {
        once_more(operation, pause).await
    } else {
        let mut operation = operation;
        operation().await
    }
}

/// `statement` as one operation (a read, or a write): bound, run by `run`, its answer
/// checked.
async fn one<T, Fut>(
    db: &D1Database,
    statement: &Statement,
    reads: bool,
    run: impl Fn(D1PreparedStatement) -> Fut,
) -> Result<T, StoreError>
where
    Fut: std::future::Future<Output = Result<T, worker::Error>>,
{
    let op = begin(reads)?;
    let answer = run(bind(db, statement.clone())?).await?;
    answered(op)?;
    Ok(answer)
}

impl Database for D1Database {
    type Outcome = D1Result;

    async fn first<T: DeserializeOwned>(
        &self,
        statement: Statement,
    ) -> Result<Option<T>, StoreError> {
        attempt(statement.is_read(), || {
            one(self, &statement, true, |s| async move {
                s.first::<T>(None).await
            })
        })
        .await
    }

    async fn all<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, StoreError> {
        attempt(statement.is_read(), || {
            one(self, &statement, true, |s| async move {
                s.all().await?.results::<T>()
            })
        })
        .await
    }

    async fn run(&self, statement: Statement) -> Result<usize, StoreError> {
        attempt(false, || run_once(self, &statement)).await
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<D1Result>, StoreError> {
        attempt(false, || batch_once(self, &statements)).await
    }

    async fn run_repeatable(&self, statement: Statement) -> Result<usize, StoreError> {
        attempt(true, || run_once(self, &statement)).await
    }

    async fn batch_repeatable(
        &self,
        statements: Vec<Statement>,
    ) -> Result<Vec<D1Result>, StoreError> {
        attempt(true, || batch_once(self, &statements)).await
    }
}

async fn run_once(db: &D1Database, statement: &Statement) -> Result<usize, StoreError> {
    one(db, statement, false, |s| async move {
        Ok(s.run().await?.changes())
    })
    .await
}

async fn batch_once(
    db: &D1Database,
    statements: &[Statement],
) -> Result<Vec<D1Result>, StoreError> {
    let op = begin(false)?;
    let prepared = statements
        .iter()
        .map(|s| bind(db, s.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let outcomes = D1Database::batch(db, prepared).await?;
    answered(op)?;
    Ok(outcomes)
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
/// True when a write was sent. The write is safe to repeat (it sets a time only where the
/// recorded one is older), so it is retried once after a transient failure.
pub fn record_use(
    ctx: &Context,
    db: &D1Database,
    token: &TokenRecord,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let Some(statement) = token.use_statement(now_ms) else {
        return Ok(false);
    };
    touch_later(ctx, db, statement, token.owner.table().name())?;
    Ok(true)
}

/// Records a browser session's use after the response, when its recorded one is stale
/// (`logins::session_seen`); true when a write was sent. As [`record_use`].
pub fn record_session_seen(
    ctx: &Context,
    db: &D1Database,
    id: &SessionId,
    last_seen_at: Option<i64>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let Some(statement) = session_seen(id, last_seen_at, now_ms) else {
        return Ok(false);
    };
    touch_later(ctx, db, statement, "sessions")?;
    Ok(true)
}

/// Records `event` after the response (`waitUntil`), for an event that changes nothing else
/// (a denial, an exchange whose ledger row is written already): the response never waits for
/// it. Not retried (an insert is not safe to repeat); a failure is logged.
pub fn record_later(
    ctx: &Context,
    db: &D1Database,
    event: &AuditEvent<'_>,
) -> Result<(), StoreError> {
    let insert = bind(db, event.statement())?;
    let action = event.action.to_owned();
    ctx.wait_until(async move {
        let recorded = attempt(false, || {
            let insert = insert.clone();
            async move {
                let op = begin(false)?;
                insert.run().await?;
                answered(op)
            }
        });
        if let Err(e) = recorded.await {
            worker::console_error!("could not record the audit event {action}: {e}");
        }
    });
    Ok(())
}

/// Runs `statement`, a write that is safe to repeat, after the response (`waitUntil`),
/// retried once after a transient failure; a failure is logged.
fn touch_later(
    ctx: &Context,
    db: &D1Database,
    statement: Statement,
    table: &'static str,
) -> Result<(), StoreError> {
    let touch = bind(db, statement)?;
    ctx.wait_until(async move {
        let recorded = attempt(true, || {
            let touch = touch.clone();
            async move {
                let op = begin(false)?;
                touch.run().await?;
                answered(op)
            }
        });
        if let Err(e) = recorded.await {
            worker::console_error!("could not record a use in {table}: {e}");
        }
    });
    Ok(())
}
