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

    /// Whether this is a read (a `SELECT`), which changes nothing and so may be repeated.
    pub fn is_read(&self) -> bool {
        let sql = self.sql.trim_start();
        sql.get(..6)
            .is_some_and(|word| word.eq_ignore_ascii_case("SELECT"))
            && sql[6..].starts_with(|c: char| c.is_whitespace())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_select_is_a_read() {
        let read = |sql: &str| Statement::new(sql, vec![]).is_read();
        assert!(read("SELECT 1"));
        assert!(read("  select\n t.used_at FROM refresh_tokens t"));
        assert!(!read("UPDATE refresh_tokens SET used_at = 1"));
        assert!(!read("INSERT INTO audit_events SELECT 1"));
        assert!(!read("DELETE FROM sessions"));
        assert!(!read("SELECTED"));
        assert!(!read("SELECT"));
        assert!(!read(""));
    }
}
