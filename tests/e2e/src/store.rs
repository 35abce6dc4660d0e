//! What an instance has persisted: its local D1 database (SQLite files that `wrangler dev`
//! keeps under `<persist>/v3/d1/`) and every other file of its state.
//!
//! The Worker has the database open while the tests run, and workerd's D1 does not wait on a
//! lock: a test holding one makes a concurrent Worker write fail with SQLITE_BUSY (a 500).
//! So reads go to a snapshot (a copy of the files, never locked), and the one write, in
//! [`set_service_token_expires_at`], is kept short, retried while busy, and used only by a
//! test that runs alone in its own test binary.

use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};

const BUSY_PATIENCE: Duration = Duration::from_secs(10);

/// A `service_tokens` row, as stored (times in Unix milliseconds).
#[derive(Debug, Clone)]
pub struct StoredServiceToken {
    pub id: String,
    pub project: String,
    pub name: String,
    /// JSON text of the patterns.
    pub workspaces: String,
    pub token_hash: String,
    pub display_prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// The local D1 databases of an instance that hold a `service_tokens` table.
pub fn d1_databases(persist: &Path) -> Vec<PathBuf> {
    let root = persist.join("v3").join("d1");
    let candidates: Vec<PathBuf> = files_under(&root)
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "sqlite")
                && p.file_name().is_some_and(|n| n != "metadata.sqlite")
        })
        .collect();
    let databases: Vec<PathBuf> = candidates
        .iter()
        .filter(|path| {
            with_snapshot(path, |db| {
                db.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'service_tokens'",
                    [],
                    |row| row.get::<_, i64>(0),
                )
            }) > 0
        })
        .cloned()
        .collect();
    assert!(
        !databases.is_empty(),
        "no local D1 database with a service_tokens table under {} (found {candidates:?}); \
         were the migrations applied by scripts/test?",
        root.display()
    );
    databases
}

/// The stored row of service token `id`, if any database of the instance has one.
pub fn stored_service_token(persist: &Path, id: &str) -> Option<StoredServiceToken> {
    d1_databases(persist).iter().find_map(|path| {
        with_snapshot(path, |db| {
            db.query_row(
                "SELECT id, project, name, workspaces, token_hash, display_prefix, created_at,
                        expires_at, last_used_at, revoked_at
                 FROM service_tokens WHERE id = ?1",
                [id],
                |row| {
                    Ok(StoredServiceToken {
                        id: row.get(0)?,
                        project: row.get(1)?,
                        name: row.get(2)?,
                        workspaces: row.get(3)?,
                        token_hash: row.get(4)?,
                        display_prefix: row.get(5)?,
                        created_at: row.get(6)?,
                        expires_at: row.get(7)?,
                        last_used_at: row.get(8)?,
                        revoked_at: row.get(9)?,
                    })
                },
            )
            .optional()
        })
    })
}

/// A row of any table, column name to value (integers and reals as numbers, text as
/// strings, blobs as lower-case hex strings, NULL as null).
pub type Row = serde_json::Map<String, serde_json::Value>;

/// Whether any D1 database of the instance has a table `table`.
pub fn has_table(persist: &Path, table: &str) -> bool {
    d1_databases(persist).iter().any(|path| {
        with_snapshot(path, |db| {
            db.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |row| row.get::<_, i64>(0),
            )
        }) > 0
    })
}

/// Every row of `table` in the instance's D1, from a snapshot. Fails the test if no
/// database has that table: a count of rows in a table that does not exist would be zero
/// forever, and a "nothing was stored" check built on it could never fail.
pub fn table_rows(persist: &Path, table: &str) -> Vec<Row> {
    assert!(
        table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "not a table name: {table:?}"
    );
    assert!(
        has_table(persist, table),
        "no local D1 database under {} has a table {table:?}: have the migrations changed?",
        persist.display()
    );
    d1_databases(persist)
        .iter()
        .flat_map(|path| {
            with_snapshot(path, |db| {
                let present: i64 = db.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [table],
                    |row| row.get(0),
                )?;
                if present == 0 {
                    return Ok(Vec::new());
                }
                let mut statement = db.prepare(&format!("SELECT * FROM \"{table}\""))?;
                let columns: Vec<String> = statement.column_names().map(str::to_owned).collect();
                let rows = statement.query_map([], |row| {
                    let mut map = Row::new();
                    for (i, column) in columns.iter().enumerate() {
                        map.insert(column.clone(), json_value(row.get_ref(i)?));
                    }
                    Ok(map)
                })?;
                rows.collect::<rusqlite::Result<Vec<Row>>>()
            })
        })
        .collect()
}

/// Every row of every table of the instance's D1 (but D1's and SQLite's own), by table, from
/// snapshots: to compare what a failed request left with what was there before.
pub fn all_rows(persist: &Path) -> std::collections::BTreeMap<String, Vec<Row>> {
    let mut tables = std::collections::BTreeMap::new();
    for path in d1_databases(persist) {
        let names: Vec<String> = with_snapshot(&path, |db| {
            let mut statement = db.prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                 AND name NOT LIKE '_cf_%' AND name != 'd1_migrations' ORDER BY name",
            )?;
            let names = statement.query_map([], |row| row.get(0))?;
            names.collect()
        });
        for name in names {
            tables.insert(name.clone(), table_rows(persist, &name));
        }
    }
    tables
}

/// The keys stored in the instance's local KV (every namespace), from snapshots.
pub fn kv_keys(persist: &Path) -> std::collections::BTreeSet<String> {
    let root = persist.join("v3").join("kv");
    files_under(&root)
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "sqlite")
                && p.file_name().is_some_and(|n| n != "metadata.sqlite")
        })
        .flat_map(|path| {
            with_snapshot(&path, |db| {
                let present: i64 = db.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_mf_entries'",
                    [],
                    |row| row.get(0),
                )?;
                if present == 0 {
                    return Ok(Vec::new());
                }
                let mut statement = db.prepare("SELECT key FROM _mf_entries")?;
                let keys = statement.query_map([], |row| row.get::<_, String>(0))?;
                keys.collect()
            })
        })
        .collect()
}

/// The number of rows in `table` (see [`table_rows`]).
pub fn count_rows(persist: &Path, table: &str) -> usize {
    table_rows(persist, table).len()
}

fn json_value(value: rusqlite::types::ValueRef<'_>) -> serde_json::Value {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(r) => r.into(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => hex::encode(b).into(),
    }
}

/// Whether any column of `row` holds exactly the text `value`.
pub fn row_has_text(row: &Row, value: &str) -> bool {
    row.values().any(|v| v.as_str() == Some(value))
}

/// Sets a service token's `expires_at` directly in D1: the only way to test expiry without
/// waiting days.
pub fn set_service_token_expires_at(persist: &Path, id: &str, expires_at_ms: i64) {
    let updated: usize = d1_databases(persist)
        .iter()
        .map(|path| {
            with_connection(path, OpenFlags::SQLITE_OPEN_READ_WRITE, |db| {
                db.execute(
                    "UPDATE service_tokens SET expires_at = ?1 WHERE id = ?2",
                    rusqlite::params![expires_at_ms, id],
                )
            })
        })
        .sum();
    assert_eq!(updated, 1, "expected to update exactly one row for {id}");
}

/// Sets an INTEGER column of the rows of `table` whose `key_column` is `key`, directly in D1
/// (to age a session or token without waiting days); returns how many rows changed. The
/// caller must make sure no Worker write runs meanwhile (see the module comment).
pub fn set_integer(
    persist: &Path,
    table: &str,
    column: &str,
    value: i64,
    key_column: &str,
    key: &str,
) -> usize {
    for name in [table, column, key_column] {
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "not an SQL name: {name:?}"
        );
    }
    let sql = format!("UPDATE \"{table}\" SET \"{column}\" = ?1 WHERE \"{key_column}\" = ?2");
    d1_databases(persist)
        .iter()
        .map(|path| {
            with_connection(path, OpenFlags::SQLITE_OPEN_READ_WRITE, |db| {
                db.execute(&sql, rusqlite::params![value, key])
            })
        })
        .sum()
}

/// The write lock of an instance's D1, held by the test (see [`hold_write_lock`]); released
/// when dropped.
pub struct WriteLock(Vec<Connection>);

impl Drop for WriteLock {
    fn drop(&mut self) {
        for db in &self.0 {
            let _ = db.execute_batch("ROLLBACK");
        }
        WRITES_HELD.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Whether a test of this process holds a write lock ([`hold_write_lock`]): its 503s are
/// what it asked for, not to be retried (`http::Request::send`).
pub static WRITES_HELD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Takes the write lock of every D1 database of the instance (`BEGIN IMMEDIATE`, retried while
/// a Worker writes) and holds it until the guard is dropped: meanwhile every Worker write to it
/// fails with SQLITE_BUSY, which the Worker answers as D1 failing (503 `storage_unavailable`),
/// while reads still work. Only for a test that runs alone (`oidc::exclusive`).
pub fn hold_write_lock(persist: &Path) -> WriteLock {
    WRITES_HELD.store(true, std::sync::atomic::Ordering::SeqCst);
    let locked = d1_databases(persist)
        .iter()
        .map(|path| {
            let started = Instant::now();
            loop {
                let attempt = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .and_then(|db| {
                    db.busy_timeout(Duration::from_millis(500))?;
                    db.execute_batch("BEGIN IMMEDIATE")?;
                    Ok(db)
                });
                match attempt {
                    Ok(db) => break db,
                    Err(e) if is_busy(&e) && started.elapsed() < BUSY_PATIENCE => {
                        sleep(Duration::from_millis(100));
                    }
                    Err(e) => panic!("SQLite {}: BEGIN IMMEDIATE: {e}", path.display()),
                }
            }
        })
        .collect();
    WriteLock(locked)
}

/// Runs `query` on a private copy of the SQLite database at `path` (with its journal or
/// WAL), so that reading never takes a lock the Worker could trip over. A copy is used only
/// if none of the files changed while it was taken: a write or a WAL checkpoint between
/// copying the database and copying its WAL would otherwise give a consistent-looking but
/// stale copy (a row just written missing), which fails or, worse, passes a test wrongly.
/// A copy torn in any other way fails to open or query; it is taken again too.
pub fn with_snapshot<T>(
    path: &Path,
    mut query: impl FnMut(&Connection) -> rusqlite::Result<T>,
) -> T {
    let file_name = path
        .file_name()
        .expect("a file")
        .to_string_lossy()
        .into_owned();
    let mut last_error = None;
    for _ in 0..100 {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let copy = dir.path().join(&file_name);
        let before = fingerprint(path);
        std::fs::copy(path, &copy).unwrap_or_else(|e| panic!("copy {}: {e}", path.display()));
        for suffix in ["-wal", "-journal"] {
            let side = PathBuf::from(format!("{}{suffix}", path.display()));
            if side.exists() {
                // It may vanish between the check and the copy; then there is nothing to copy.
                let _ = std::fs::copy(&side, format!("{}{suffix}", copy.display()));
            }
        }
        if fingerprint(path) != before {
            sleep(Duration::from_millis(10));
            continue;
        }
        let attempt = Connection::open_with_flags(&copy, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .and_then(|db| query(&db));
        match attempt {
            Ok(value) => return value,
            Err(e) => last_error = Some(e),
        }
        sleep(Duration::from_millis(50));
    }
    panic!(
        "SQLite snapshot of {}: {}",
        path.display(),
        last_error.map_or("its files kept changing while copied".into(), |e| e
            .to_string())
    );
}

/// Length and modification time of a database file and its WAL and journal, to tell whether
/// any of them changed.
fn fingerprint(path: &Path) -> Vec<Option<(u64, std::time::SystemTime)>> {
    ["", "-wal", "-journal"]
        .iter()
        .map(|suffix| {
            let meta = std::fs::metadata(format!("{}{suffix}", path.display())).ok()?;
            Some((meta.len(), meta.modified().ok()?))
        })
        .collect()
}

/// Runs `query` on the SQLite file at `path`, retrying while it is busy or locked.
pub fn with_connection<T>(
    path: &Path,
    flags: OpenFlags,
    mut query: impl FnMut(&Connection) -> rusqlite::Result<T>,
) -> T {
    let started = Instant::now();
    loop {
        let attempt = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .and_then(|db| {
                db.busy_timeout(Duration::from_millis(500))?;
                query(&db)
            });
        match attempt {
            Ok(value) => return value,
            Err(e) if is_busy(&e) && started.elapsed() < BUSY_PATIENCE => {
                sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("SQLite {}: {e}", path.display()),
        }
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Every regular file under `root`, recursively (none if `root` does not exist).
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => files.push(path),
                _ => {}
            }
        }
    }
    files.sort();
    files
}

/// The files under `root` whose bytes contain `needle`.
pub fn files_containing(root: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files_under(root)
        .into_iter()
        .filter(|path| {
            // A file may vanish (a rotated journal) between listing and reading.
            std::fs::read(path).is_ok_and(|bytes| crate::http::contains(&bytes, needle))
        })
        .collect()
}

/// What `read` gives once `done` holds of it, waiting up to 5 s: for what the Worker writes
/// after its response (`waitUntil`), such as an audit event that changes nothing else. The last
/// reading if it never holds (for the caller's assertion to show).
pub fn settled<T>(read: impl Fn() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let value = read();
        if done(&value) || Instant::now() > deadline {
            return value;
        }
        sleep(Duration::from_millis(100));
    }
}
