//! [`SqliteLedger`]: the job ledger of a host, in `<store dir>/ledger.sqlite`.
//!
//! The ledger is read and written by runs and, at the same time, by other processes: a person,
//! or the external converter of a two-phase pipeline that sets the field a gate waits for
//! (contract §3). So every call is its own short transaction (writes take the lock at once,
//! `BEGIN IMMEDIATE`), the database is in WAL mode (readers never block the writer) and a call
//! waits up to 5 s for another process's lock.
//!
//! # Schema (`PRAGMA user_version = 1`)
//!
//! ```sql
//! CREATE TABLE fields   (job_id TEXT, field TEXT, value TEXT, updated_at TEXT, PRIMARY KEY (job_id, field));
//! CREATE TABLE metadata (job_id TEXT, key   TEXT, value TEXT, updated_at TEXT, PRIMARY KEY (job_id, key));
//! ```
//!
//! `value` is JSON text. Another program may write the tables directly, for example
//!
//! ```sql
//! INSERT INTO fields (job_id, field, value) VALUES ('job-1', 'pdf_ir_ready', 'true')
//!   ON CONFLICT (job_id, field) DO UPDATE SET value = excluded.value;
//! ```
//!
//! Being lenient with such writers, a `value` that is not JSON text reads as a JSON string,
//! and a number stored as an SQL number reads as that number.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;
use stage_core::{BoxError, Ledger};

use crate::checkpoint::Checkpointer;
use crate::store::{lock, open_database, StoreError};

const LEDGER_SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS fields (
    job_id TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (job_id, field)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metadata (
    job_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (job_id, key)
) WITHOUT ROWID;
";

/// The two tables: fields and metadata.
#[derive(Clone, Copy)]
enum Table {
    Fields,
    Metadata,
}

impl Table {
    fn get_sql(self) -> &'static str {
        match self {
            Table::Fields => "SELECT value FROM fields WHERE job_id = ?1 AND field = ?2",
            Table::Metadata => "SELECT value FROM metadata WHERE job_id = ?1 AND key = ?2",
        }
    }
    fn set_sql(self) -> &'static str {
        match self {
            Table::Fields => {
                "INSERT INTO fields (job_id, field, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (job_id, field) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
            }
            Table::Metadata => {
                "INSERT INTO metadata (job_id, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (job_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
            }
        }
    }
    fn all_sql(self) -> &'static str {
        match self {
            Table::Fields => "SELECT field, value FROM fields WHERE job_id = ?1 ORDER BY field",
            Table::Metadata => "SELECT key, value FROM metadata WHERE job_id = ?1 ORDER BY key",
        }
    }
}

/// Reads a stored value: JSON text, leniently (see the [module documentation](self)).
fn value_from_sql(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => Value::from(f),
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            let text = String::from_utf8_lossy(t);
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.into_owned()))
        }
    }
}

/// The job ledger in SQLite, safe for several threads and several processes at once.
///
/// See the [module documentation](self) for the schema and the concurrency rules.
pub struct SqliteLedger {
    /// Dropped first: its thread stops before the ledger's connection closes.
    checkpointer: Option<Checkpointer>,
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLedger").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteLedger {
    /// The database's file name in the store directory.
    pub const FILE_NAME: &'static str = "ledger.sqlite";
    /// The schema version this build writes (`PRAGMA user_version`).
    pub const SCHEMA_VERSION: i64 = 1;

    /// Opens the ledger in store directory `dir`, creating the directory and `ledger.sqlite`
    /// when missing.
    pub fn open(dir: &Path) -> Result<SqliteLedger, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::CreateDir { path: dir.to_owned(), source })?;
        let path = dir.join(Self::FILE_NAME);
        let conn = open_database(Some(&path), LEDGER_SCHEMA_V1, Self::SCHEMA_VERSION)?;
        Ok(SqliteLedger {
            checkpointer: Some(Checkpointer::new(&path)),
            conn: Mutex::new(conn),
            path: Some(path),
        })
    }

    /// A commit was made: the log's checkpoints start (on a thread of their own).
    fn written(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.written();
        }
    }

    /// An empty ledger in memory, for tests: it is gone when dropped.
    pub fn in_memory() -> Result<SqliteLedger, StoreError> {
        let conn = open_database(None, LEDGER_SCHEMA_V1, Self::SCHEMA_VERSION)?;
        Ok(SqliteLedger { checkpointer: None, conn: Mutex::new(conn), path: None })
    }

    /// The database file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Every job with a field or a metadata entry, sorted.
    pub fn jobs(&self) -> Result<Vec<String>, StoreError> {
        let conn = lock(&self.conn);
        let mut stmt = conn
            .prepare_cached("SELECT job_id FROM fields UNION SELECT job_id FROM metadata ORDER BY job_id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every metadata entry of a job, sorted.
    pub fn metadata(&self, job_id: &str) -> Result<BTreeMap<String, Value>, StoreError> {
        self.all(Table::Metadata, job_id)
    }

    fn get_in(&self, table: Table, job_id: &str, key: &str) -> Result<Option<Value>, StoreError> {
        let conn = lock(&self.conn);
        let mut stmt = conn.prepare_cached(table.get_sql())?;
        Ok(stmt.query_row([job_id, key], |r| Ok(value_from_sql(r.get_ref(0)?))).optional()?)
    }

    fn set_in(&self, table: Table, job_id: &str, key: &str, value: &Value) -> Result<(), StoreError> {
        let text = serde_json::to_string(value)?;
        let mut conn = lock(&self.conn);
        // `BEGIN IMMEDIATE` takes the write lock first (the busy handler waits for it), so the
        // upsert never has to upgrade a read snapshot another process made stale.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached(table.set_sql())?.execute([job_id, key, text.as_str()])?;
        tx.commit()?;
        self.written();
        Ok(())
    }

    fn set_many_in(&self, table: Table, job_id: &str, fields: &[(&str, Value)]) -> Result<(), StoreError> {
        let texts = fields.iter().map(|(_, v)| serde_json::to_string(v)).collect::<Result<Vec<_>, _>>()?;
        let mut conn = lock(&self.conn);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(table.set_sql())?;
            for ((key, _), text) in fields.iter().zip(&texts) {
                stmt.execute([job_id, key, text.as_str()])?;
            }
        }
        tx.commit()?;
        self.written();
        Ok(())
    }

    fn all(&self, table: Table, job_id: &str) -> Result<BTreeMap<String, Value>, StoreError> {
        let conn = lock(&self.conn);
        let mut stmt = conn.prepare_cached(table.all_sql())?;
        let rows = stmt.query_map([job_id], |r| Ok((r.get(0)?, value_from_sql(r.get_ref(1)?))))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

impl Ledger for SqliteLedger {
    fn get(&self, job_id: &str, field: &str) -> Result<Option<Value>, BoxError> {
        Ok(self.get_in(Table::Fields, job_id, field)?)
    }
    fn set(&self, job_id: &str, field: &str, value: Value) -> Result<(), BoxError> {
        Ok(self.set_in(Table::Fields, job_id, field, &value)?)
    }
    /// One transaction for all the fields.
    fn set_many(&self, job_id: &str, fields: &[(&str, Value)]) -> Result<(), BoxError> {
        Ok(self.set_many_in(Table::Fields, job_id, fields)?)
    }
    fn get_metadata(&self, job_id: &str, key: &str) -> Result<Option<Value>, BoxError> {
        Ok(self.get_in(Table::Metadata, job_id, key)?)
    }
    fn set_metadata(&self, job_id: &str, key: &str, value: Value) -> Result<(), BoxError> {
        Ok(self.set_in(Table::Metadata, job_id, key, &value)?)
    }
    fn fields(&self, job_id: &str) -> Result<BTreeMap<String, Value>, BoxError> {
        Ok(self.all(Table::Fields, job_id)?)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn set_get_upsert_fields_and_metadata() {
        let l = SqliteLedger::in_memory().unwrap();
        assert_eq!(l.get("j", "a").unwrap(), None);
        l.set("j", "a", json!(1)).unwrap();
        l.set("j", "a", json!({"x": [1, "two", null]})).unwrap();
        l.set("j", "b", json!("text")).unwrap();
        l.set_metadata("j", "a", json!(false)).unwrap();
        assert_eq!(l.get("j", "a").unwrap(), Some(json!({"x": [1, "two", null]})));
        assert_eq!(l.get_metadata("j", "a").unwrap(), Some(json!(false)));
        assert_eq!(l.get_metadata("j", "b").unwrap(), None);
        let fields = l.fields("j").unwrap();
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(l.fields("other").unwrap().is_empty());
        l.set_many("j", &[("b", json!(2)), ("c", json!([3]))]).unwrap();
        assert_eq!(l.get("j", "b").unwrap(), Some(json!(2)));
        assert_eq!(l.get("j", "c").unwrap(), Some(json!([3])));
        l.set("j", "b", json!("text")).unwrap();
        l.set_metadata("k", "m", Value::Null).unwrap();
        assert_eq!(l.get_metadata("k", "m").unwrap(), Some(Value::Null));
        assert_eq!(l.jobs().unwrap(), ["j", "k"]);
        assert_eq!(l.metadata("j").unwrap(), BTreeMap::from([("a".to_owned(), json!(false))]));
    }

    #[test]
    fn values_written_by_hand_are_read_leniently() {
        let l = SqliteLedger::in_memory().unwrap();
        {
            let conn = lock(&l.conn);
            conn.execute_batch(
                "INSERT INTO fields (job_id, field, value) VALUES
                 ('j', 'path', '/tmp/doc.json'), ('j', 'n', 3), ('j', 'f', 1.5), ('j', 'ok', 'true');",
            )
            .unwrap();
        }
        assert_eq!(l.get("j", "path").unwrap(), Some(json!("/tmp/doc.json")));
        assert_eq!(l.get("j", "n").unwrap(), Some(json!(3)));
        assert_eq!(l.get("j", "f").unwrap(), Some(json!(1.5)));
        assert_eq!(l.get("j", "ok").unwrap(), Some(json!(true)));
    }
}
