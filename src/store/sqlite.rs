//! The unit tests' executor: an in-memory SQLite with the real migrations, running the same
//! [`Statement`]s D1 runs. A batch runs in one transaction, as on D1. Rows decode through
//! serde, as on D1: each row becomes a JSON object of its columns, then the record type.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use rusqlite::types::{Value as Sql, ValueRef};
use rusqlite::{params_from_iter, Connection};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{Database, Outcome, SqlValue, Statement, StoreError};

/// A fresh database with every migration of `migrations/` applied, in order, and foreign
/// keys enforced (as D1 does).
pub struct Sqlite(Connection);

impl Sqlite {
    pub fn migrated() -> Self {
        let conn = Connection::open_in_memory().expect("open SQLite");
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .expect("migrations/")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no migrations in {dir}");
        for file in files {
            let sql = std::fs::read_to_string(&file).unwrap();
            conn.execute_batch(&sql)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
        Sqlite(conn)
    }

    /// The connection, for a test to arrange or inspect rows directly.
    pub fn conn(&self) -> &Connection {
        &self.0
    }

    /// How many rows `table` has where `condition` holds.
    pub fn count(&self, table: &str, condition: &str) -> i64 {
        self.0
            .query_row(
                &format!("SELECT COUNT(*) FROM {table} WHERE {condition}"),
                [],
                |r| r.get(0),
            )
            .unwrap()
    }

    fn execute(&self, statement: &Statement) -> Result<Rows, StoreError> {
        let fail = |e: rusqlite::Error| StoreError::Database(format!("{e}: {}", statement.sql));
        let mut prepared = self.0.prepare(&statement.sql).map_err(fail)?;
        let readonly = prepared.readonly();
        let names: Vec<String> = prepared.column_names().map(str::to_owned).collect();
        let params = statement.params.iter().map(|p| match p {
            SqlValue::Text(s) => Sql::Text(s.clone()),
            SqlValue::Integer(n) => Sql::Integer(*n),
            SqlValue::Null => Sql::Null,
        });
        let mut rows = prepared.query(params_from_iter(params)).map_err(fail)?;
        let mut decoded = Vec::new();
        while let Some(row) = rows.next().map_err(fail)? {
            let mut object = Map::new();
            for (i, name) in names.iter().enumerate() {
                let value = match row.get_ref(i).map_err(fail)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::from(n),
                    ValueRef::Real(x) => Value::from(x),
                    ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(_) => return Err(StoreError::Database("a BLOB column".into())),
                };
                object.insert(name.clone(), value);
            }
            decoded.push(Value::Object(object));
        }
        drop(rows);
        let changes = if readonly {
            0
        } else {
            usize::try_from(self.0.changes()).unwrap()
        };
        Ok(Rows {
            rows: decoded,
            changes,
        })
    }
}

fn decode<T: DeserializeOwned>(row: &Value) -> Result<T, StoreError> {
    serde_json::from_value(row.clone()).map_err(|e| StoreError::BadRecord(format!("{e}: {row}")))
}

/// What one statement answered.
#[derive(Debug)]
pub struct Rows {
    rows: Vec<Value>,
    changes: usize,
}

impl Outcome for Rows {
    fn changes(&self) -> usize {
        self.changes
    }

    fn rows<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        self.rows.iter().map(decode).collect()
    }
}

impl Database for Sqlite {
    type Outcome = Rows;

    async fn first<T: DeserializeOwned>(
        &self,
        statement: Statement,
    ) -> Result<Option<T>, StoreError> {
        self.execute(&statement)?
            .rows
            .first()
            .map(decode)
            .transpose()
    }

    async fn all<T: DeserializeOwned>(&self, statement: Statement) -> Result<Vec<T>, StoreError> {
        self.execute(&statement)?.rows()
    }

    async fn run(&self, statement: Statement) -> Result<usize, StoreError> {
        Ok(self.execute(&statement)?.changes)
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<Rows>, StoreError> {
        let fail = |e: rusqlite::Error| StoreError::Database(e.to_string());
        // Dropped without a commit (a statement failed), the transaction rolls back.
        let transaction = self.0.unchecked_transaction().map_err(fail)?;
        let outcomes = statements
            .iter()
            .map(|s| self.execute(s))
            .collect::<Result<Vec<_>, _>>()?;
        transaction.commit().map_err(fail)?;
        Ok(outcomes)
    }
}

/// Runs a store operation to its end: on SQLite none of them ever waits.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("an SQLite store operation waited"),
    }
}
