//! The embedded store of a host: the retrieval index (written by `index`) and the knowledge
//! graph (written by `knowledge-graph`), in one SQLite database.
//!
//! # Layout
//!
//! A host keeps one store directory (contract §2). The [`Store`] lives in
//! `<dir>/store.sqlite`; the job ledger ([`crate::ledger::SqliteLedger`]) in
//! `<dir>/ledger.sqlite`. When a pipeline is planned without a store directory
//! ([`ResourceContext::run_dir`] is `None`), [`Store`] is an in-memory database that lives as
//! long as the plan: nothing is kept.
//!
//! # Schema (`PRAGMA user_version = 1`)
//!
//! | table | rows |
//! |---|---|
//! | `chunks(id, job_id, chunk_id, doc_id, position, section, text, model, dimensions, vector)` | one per indexed chunk and job; `vector` is little-endian `f32`s |
//! | `chunks_fts` | FTS5 over `chunks.text` (external content, kept by triggers; `porter unicode61`) |
//! | `nodes(id, name, kind)` | graph nodes, shared by every job |
//! | `mentions(entity_id, job_id)` | which jobs wrote which node |
//! | `edges(id, job_id, subject, predicate, object, evidence, chunk_id)` | graph edges, per job |
//! | `chunk_changes(seq, chunk_rowid)` | the row ids of inserted, deleted and re-vectored chunks (kept by triggers), for the ANN index ([`crate::index::ann`]); added to older stores when opened |
//!
//! Beside `store.sqlite`, the ANN index of the vectors: `store.ann.json`,
//! one `store.ann.<generation>-<n>.usearch` per segment and `store.ann.lock`
//! ([`crate::index::ann`]).
//!
//! # Concurrency
//!
//! The database is in WAL mode with a 5 s busy timeout and foreign keys on; its log is
//! checkpointed by a thread of its own ([`crate::checkpoint`]), not by the writers. Within a process,
//! one connection is shared behind a mutex; several processes (or several [`Store`]s on the
//! same directory) may write at once: every write is one short `BEGIN IMMEDIATE` transaction
//! and every read one statement (or one read transaction).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};
use stage_core::{BoxError, Resource, ResourceContext};

use crate::checkpoint::Checkpointer;

/// How long a statement waits for another connection's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// An error of the embedded store or ledger.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store directory could not be created.
    #[error("cannot create the store directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database could not be opened or prepared.
    #[error("cannot open {location}: {source}")]
    Open {
        /// The database file (or `:memory:`).
        location: String,
        /// Why.
        source: rusqlite::Error,
    },
    /// The database was written by a newer build, with a schema this one does not know.
    #[error("{location} has schema version {found}; this build knows versions up to {supported}")]
    SchemaTooNew {
        /// The database file.
        location: String,
        /// Its `user_version`.
        found: i64,
        /// The newest this build knows.
        supported: i64,
    },
    /// A statement failed.
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A value could not be encoded as JSON.
    #[error("store: cannot encode a value as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The schema of `store.sqlite`, version [`Store::SCHEMA_VERSION`].
const STORE_SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    chunk_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    section TEXT NOT NULL,
    text TEXT NOT NULL,
    model TEXT NOT NULL,
    dimensions INTEGER NOT NULL,
    vector BLOB NOT NULL,
    UNIQUE (job_id, chunk_id)
);
CREATE INDEX IF NOT EXISTS chunks_by_chunk_id ON chunks (chunk_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5 (
    text,
    content = 'chunks',
    content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_after_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_after_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_after_update AFTER UPDATE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
END;

CREATE TABLE IF NOT EXISTS nodes (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS nodes_by_name ON nodes (name COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS mentions (
    entity_id TEXT NOT NULL REFERENCES nodes (id),
    job_id TEXT NOT NULL,
    PRIMARY KEY (entity_id, job_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mentions_by_job ON mentions (job_id);
CREATE TABLE IF NOT EXISTS edges (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    subject TEXT NOT NULL REFERENCES nodes (id),
    predicate TEXT NOT NULL,
    object TEXT NOT NULL REFERENCES nodes (id),
    evidence TEXT NOT NULL,
    chunk_id TEXT,
    UNIQUE (job_id, subject, predicate, object, evidence)
);
CREATE INDEX IF NOT EXISTS edges_by_subject ON edges (subject);
CREATE INDEX IF NOT EXISTS edges_by_object ON edges (object);
CREATE INDEX IF NOT EXISTS edges_by_job ON edges (job_id);
";

/// Opens (creating) a SQLite database for one of the embedded stores: WAL, busy timeout,
/// foreign keys, and the schema `schema` at version `version` (created when the database is
/// new, checked otherwise). `path` `None` opens an in-memory database.
pub(crate) fn open_database(
    path: Option<&Path>,
    schema: &str,
    version: i64,
) -> Result<Connection, StoreError> {
    let location = path.map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string());
    let open_err = |source| StoreError::Open { location: location.clone(), source };
    let mut conn = match path {
        Some(p) => Connection::open(p),
        None => Connection::open_in_memory(),
    }
    .map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    if path.is_some() {
        // Switching to WAL takes a lock that the busy handler does not always wait for.
        retry_busy(|| {
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)).map(drop)
        })
        .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
        // Checkpoints run on a `Checkpointer`'s thread (`Store::open`, `SqliteLedger::open`).
        Checkpointer::configure_writer(&conn).map_err(open_err)?;
    }
    conn.pragma_update(None, "foreign_keys", true).map_err(open_err)?;
    let found = retry_busy(|| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found == 0 {
            tx.execute_batch(schema)?;
            tx.pragma_update(None, "user_version", version)?;
        }
        tx.commit()?;
        Ok(found)
    })
    .map_err(open_err)?;
    if found > version {
        return Err(StoreError::SchemaTooNew { location, found, supported: version });
    }
    Ok(conn)
}

/// Runs `f` again while it fails with `SQLITE_BUSY` / `SQLITE_LOCKED`, for up to
/// [`BUSY_TIMEOUT`].
pub(crate) fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match f() {
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            r => return r,
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

/// Locks a connection, recovering it when another thread panicked while holding it (an open
/// transaction is rolled back when dropped, so the connection is sound).
pub(crate) fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|p| p.into_inner())
}

/// The embedded store of a host: the retrieval index and the knowledge graph.
///
/// A [`Resource`]: built once per pipeline from [`ResourceContext::run_dir`] (see the
/// [module documentation](self) for the layout, schema and concurrency). The query API is in
/// [`crate::index`] (`search_text`, `search_vector`, `chunk_count`) and [`crate::graph`]
/// (`node`, `neighbors`, `graph_stats`, `edges_for_job`).
pub struct Store {
    /// Dropped first: its thread stops before the store's connection closes.
    checkpointer: Option<Checkpointer>,
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
    location: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("location", &self.location).finish_non_exhaustive()
    }
}

impl Store {
    /// The database's file name in the store directory.
    pub const FILE_NAME: &'static str = "store.sqlite";
    /// The schema version this build writes (`PRAGMA user_version`).
    pub const SCHEMA_VERSION: i64 = 1;

    /// Opens the store in directory `dir`, creating the directory and `store.sqlite` when
    /// missing.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::CreateDir { path: dir.to_owned(), source })?;
        let path = dir.join(Self::FILE_NAME);
        let conn = open_database(Some(&path), STORE_SCHEMA_V1, Self::SCHEMA_VERSION)?;
        let open_err = |source| StoreError::Open { location: path.display().to_string(), source };
        crate::index::ann::ensure_change_log(&conn).map_err(open_err)?;
        Ok(Store {
            checkpointer: Some(Checkpointer::new(&path)),
            conn: Mutex::new(conn),
            location: path.display().to_string(),
            path: Some(path),
        })
    }

    /// An empty store in memory (for tests and hosts without a store directory): it is gone
    /// when dropped.
    pub fn in_memory() -> Result<Store, StoreError> {
        let conn = open_database(None, STORE_SCHEMA_V1, Self::SCHEMA_VERSION)?;
        crate::index::ann::ensure_change_log(&conn)
            .map_err(|source| StoreError::Open { location: ":memory:".to_owned(), source })?;
        Ok(Store { checkpointer: None, conn: Mutex::new(conn), path: None, location: ":memory:".to_owned() })
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Where the store is, for receipts and messages: the database file, or `:memory:`.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Runs `f` in one transaction begun with `behavior`, committed when `f` succeeds and
    /// rolled back when it fails.
    fn transaction<T, E>(
        &self,
        behavior: TransactionBehavior,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = lock(&self.conn);
        let tx = conn.transaction_with_behavior(behavior).map_err(|e| E::from(StoreError::from(e)))?;
        let out = f(&tx)?;
        tx.commit().map_err(|e| E::from(StoreError::from(e)))?;
        Ok(out)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction, committed when `f` succeeds and rolled
    /// back when it fails. The busy handler waits for its lock (up to `BUSY_TIMEOUT`).
    pub(crate) fn write<T, E>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let out = self.transaction(TransactionBehavior::Immediate, f)?;
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.written();
        }
        Ok(out)
    }

    /// Runs the reads of `f` in one read transaction (one snapshot).
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.transaction(TransactionBehavior::Deferred, |tx| f(tx).map_err(StoreError::from))
    }

    /// [`Store::read`] for reads that fail with another error than SQLite's.
    pub(crate) fn read_as<T, E>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.transaction(TransactionBehavior::Deferred, f)
    }
}

impl Resource for Store {
    /// Opens the host's store directory, or an in-memory store when the host gives none.
    fn create(ctx: &ResourceContext) -> Result<Self, BoxError> {
        let store = match ctx.run_dir() {
            Some(dir) => Store::open(dir)?,
            None => {
                tracing::debug!(pipeline = ctx.pipeline(), "no store directory: the store is in memory");
                Store::in_memory()?
            }
        };
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts5_is_compiled_in() {
        let conn = Connection::open_in_memory().unwrap();
        let yes: i64 =
            conn.query_row("SELECT sqlite_compileoption_used('ENABLE_FTS5')", [], |r| r.get(0)).unwrap();
        assert_eq!(yes, 1);
    }

    #[test]
    fn open_creates_directory_schema_and_wal() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        let store = Store::open(&sub).unwrap();
        assert_eq!(store.path(), Some(sub.join("store.sqlite").as_path()));
        let (mode, version, fk): (String, i64, i64) = store
            .read(|tx| {
                Ok((
                    tx.pragma_query_value(None, "journal_mode", |r| r.get(0))?,
                    tx.pragma_query_value(None, "user_version", |r| r.get(0))?,
                    tx.pragma_query_value(None, "foreign_keys", |r| r.get(0))?,
                ))
            })
            .unwrap();
        assert_eq!((mode.as_str(), version, fk), ("wal", Store::SCHEMA_VERSION, 1));
        drop(store);
        // Reopening is idempotent.
        Store::open(&sub).unwrap();
    }

    #[test]
    fn concurrent_first_opens_agree_on_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| Store::open(dir.path()).map(drop))).collect();
            for h in handles {
                h.join().unwrap().unwrap();
            }
        });
        let ledgers: Vec<_> =
            (0..4).map(|_| crate::ledger::SqliteLedger::open(dir.path()).unwrap()).collect();
        assert_eq!(ledgers.len(), 4);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(Store::FILE_NAME)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::SchemaTooNew { found: 99, supported: 1, .. }), "{err}");
    }

    #[test]
    fn resource_uses_run_dir_or_memory() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::create(&ResourceContext::new("p", Some(dir.path().to_owned()))).unwrap();
        assert!(s.location().ends_with("store.sqlite"));
        let m = Store::create(&ResourceContext::new("p", None)).unwrap();
        assert_eq!(m.location(), ":memory:");
        assert!(m.path().is_none());
    }
}
