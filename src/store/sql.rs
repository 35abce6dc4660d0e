//! SQL as plain values: a statement is its text and its parameters, a batch a list of them.
//! The store's operations build these and hand them to a [`Database`](super::Database): D1
//! in the Worker, SQLite in the unit tests, so both run exactly the same SQL.

/// A parameter of a statement, as both backends bind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Text(String),
    /// Unix milliseconds, counts and intervals.
    Integer(i64),
    Null,
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> Self {
        SqlValue::Text(s.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(s: String) -> Self {
        SqlValue::Text(s)
    }
}

impl From<i64> for SqlValue {
    fn from(n: i64) -> Self {
        SqlValue::Integer(n)
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(value: Option<T>) -> Self {
        value.map_or(SqlValue::Null, Into::into)
    }
}

/// One statement: SQL with numbered parameters (`?1`, `?2`, …) and their values, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<SqlValue>,
}

impl Statement {
    pub fn new(sql: impl Into<String>, params: Vec<SqlValue>) -> Self {
        Self {
            sql: sql.into(),
            params,
        }
    }
}

/// `?first, ?first+1, …` for `count` parameters: the placeholders of a `VALUES (…)` or of an
/// `INSERT … SELECT`.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
