//! The approximate nearest-neighbour (ANN) index of a store's vectors: an HNSW graph
//! ([`usearch`]) saved beside the database, memory-mapped by queries.
//!
//! # Why usearch
//!
//! A query is one short `stagectl` process, so what matters is what a process pays to *open*
//! the index: usearch can `view` a saved index (memory-map it) instead of loading it, so a
//! query reads only the graph nodes and vectors its search visits, and a 360,000-vector index
//! (≈ 400 MB) opens in milliseconds. It is maintained (Unum, releases every few weeks), used in
//! production databases (ClickHouse, DuckDB's VSS), single-file, and deterministic when built
//! by one thread (its level generator has a fixed seed). `hnsw_rs` (pure Rust) reloads its
//! graph into memory in every process: the trap for a command-line query. usearch is C++ built
//! through `cxx` (a C++17 compiler is needed to build this crate), and is used without its
//! optional `numkong` SIMD library.
//!
//! # Files (in the store directory, beside `store.sqlite`)
//!
//! | file | what |
//! |---|---|
//! | `store.ann.json` | which index file is current: its model, dimensions, vector count, and the change-log watermark it reflects |
//! | `store.ann.<generation>.usearch` | the HNSW index (cosine, `f32`); keys are `chunks.id` |
//! | `store.ann.lock` | held (an OS file lock) by the one process that builds or extends the index |
//!
//! Deleting them is always safe: queries fall back to brute force, and the next index stage
//! (or [`Store::update_ann_index`]) rebuilds them.
//!
//! # Kept up to date: a change log and a watermark
//!
//! Triggers on `chunks` append the row id of every inserted, deleted or re-vectored chunk to
//! `chunk_changes(seq, chunk_rowid)`, in the writing transaction itself, whichever process (or
//! build) writes. The index records the last `seq` it reflects (its watermark). So:
//!
//! * a **query** is never stale: it searches the index with the rows changed since the
//!   watermark filtered out, searches those rows by brute force, and merges the two; every
//!   candidate is re-scored exactly from the stored vector, so scores are those of brute force
//!   and ties break the same way (by chunk id, then job id);
//! * the **`index` stage**, after each write, calls [`Store::update_ann_index`]: it builds the
//!   index once the store holds [`BRUTE_FORCE_MAX_CHUNKS`] chunks, and extends it (loads it,
//!   removes and re-adds the changed rows, saves it) once the changed rows exceed
//!   [`pending_limit`] (a sixteenth of the index, at least `BRUTE_FORCE_MAX_CHUNKS / 2`): each
//!   vector is re-saved about 16 times as the store grows, and a query brute-forces at most
//!   that many rows besides the graph search. Extending only inserts: when a changed row was
//!   in the index (a job indexed again, a chunk deleted), the index is built anew instead
//!   (usearch reuses the slots of removed vectors, and graphs extended so were measured to
//!   miss exact matches). Extending in the stage rather than at query time keeps queries
//!   read-only and their time predictable.
//!
//! Several processes may index into one store: the update runs under an exclusive
//! `try_lock` of `store.ann.lock` (a process that finds it held skips the update: the holder
//! or the next job catches up, and queries brute-force the rows meanwhile). A new index is
//! written to a new generation file and then published by renaming a new `store.ann.json`
//! over the old, so a reader sees the old index or the new, never half of one; the old file
//! is deleted afterwards (a process that has it mapped keeps reading it).
//!
//! One model per store still holds: the index records its model and dimensions, is used only
//! for queries of that model and length, and is rebuilt when the store's model changes; a
//! store of mixed models (written before models were checked) has no index.

use std::collections::HashSet;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use rusqlite::{params, Transaction};
use serde::{Deserialize, Serialize};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use super::topk::{QueryVector, TopK};
use crate::store::{Store, StoreError};

/// Below this many chunks, `similar` scans every vector (brute force) and no index is built:
/// up to here a scan is faster than opening and searching the graph (measured with
/// `bench/search.py` and the `crossover` mode of the `search_store` example).
pub const BRUTE_FORCE_MAX_CHUNKS: u64 = 8_000;

/// The graph's connectivity (HNSW `M`): neighbours kept per node.
pub const CONNECTIVITY: usize = 16;
/// Candidates considered when inserting (HNSW `efConstruction`).
pub const EXPANSION_ADD: usize = 128;
/// Candidates considered when searching (HNSW `ef`). On the recall test's data (random
/// queries, far from the clustered vectors) recall@10 against brute force was 0.89 at 64, 0.93
/// at 96, 0.997 at 256. On `bench/search.py`'s store of 36,000 feature-hashed synthetic chunks
/// (3-word queries against 20–60-word chunks: many near-equal scores, a hard case for a graph)
/// it was 0.83 at 256, 0.92 at 1,024 and 0.96 at 4,096 (28 ms in process against 95 ms for the
/// scan); at 360,000 chunks 0.65 at 256 and 0.875 at 4,096 (143 ms in process against 1,082 ms
/// for the scan, on a loaded machine): short of 0.95 there, see BENCHMARKS.md §8.
pub const EXPANSION_SEARCH: usize = 4096;

/// The change log's schema, created on open (also in stores made before it existed).
pub(crate) const CHANGE_LOG_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS chunk_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_rowid INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS chunks_log_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunk_changes (chunk_rowid) VALUES (new.id);
END;
CREATE TRIGGER IF NOT EXISTS chunks_log_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunk_changes (chunk_rowid) VALUES (old.id);
END;
CREATE TRIGGER IF NOT EXISTS chunks_log_update AFTER UPDATE OF vector, model, dimensions ON chunks BEGIN
    INSERT INTO chunk_changes (chunk_rowid) VALUES (new.id);
END;
CREATE INDEX IF NOT EXISTS chunks_by_model ON chunks (model, dimensions);
";

/// Creates the change log (and the `chunks (model, dimensions)` index) when the database
/// lacks it: a store written by an older build gets it on its first open by this one.
pub(crate) fn ensure_change_log(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let present: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'chunks_log_update')",
        [],
        |r| r.get(0),
    )?;
    if !present {
        crate::store::retry_busy(|| {
            let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
            tx.execute_batch(CHANGE_LOG_SCHEMA)?;
            tx.commit()
        })?;
    }
    Ok(())
}

const META_FILE: &str = "store.ann.json";
const LOCK_FILE: &str = "store.ann.lock";
/// 2: vectors quantized to `i8` in the graph (format 1 kept `f32`; such an index is rebuilt).
const META_FORMAT: u32 = 2;

/// The changed rows past which [`Store::update_ann_index`] extends an index of `vectors`.
pub fn pending_limit(vectors: u64) -> u64 {
    (vectors / 16).max(BRUTE_FORCE_MAX_CHUNKS / 2)
}

/// Why the ANN index could not be built or extended (queries still work: they fall back to
/// brute force).
#[derive(Debug, thiserror::Error)]
pub enum AnnError {
    /// A file of the index could not be read or written.
    #[error("ANN index: cannot write or read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// usearch failed.
    #[error("ANN index {}: {message}; delete the store's `store.ann.*` files and it is rebuilt", path.display())]
    Index {
        /// The index file.
        path: PathBuf,
        /// usearch's message.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for AnnError {
    fn from(e: rusqlite::Error) -> Self {
        AnnError::Store(e.into())
    }
}

/// What [`Store::update_ann_index`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnUpdate {
    /// The store is in memory: it has no index (queries brute-force).
    InMemory,
    /// Another process holds the index's lock: it updates the index.
    Busy,
    /// No index: the store holds fewer than [`BRUTE_FORCE_MAX_CHUNKS`] chunks, or vectors of
    /// several models; an index that existed was removed.
    BruteForce {
        /// Chunks in the store.
        chunks: u64,
    },
    /// The index is kept as it is; `pending` changed rows (at most [`pending_limit`]) are
    /// searched by brute force until the next extension.
    Unchanged {
        /// Vectors in the index.
        vectors: u64,
        /// Changes logged since its watermark (an upper bound of the rows changed).
        pending: u64,
    },
    /// The index was built from every stored vector.
    Built {
        /// Vectors in the index.
        vectors: u64,
    },
    /// The index was extended with the rows inserted since its watermark.
    Extended {
        /// Vectors in the index now.
        vectors: u64,
        /// Vectors added.
        added: u64,
    },
}

/// `store.ann.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AnnMeta {
    format: u32,
    generation: u64,
    file: String,
    pub(crate) model: String,
    pub(crate) dimensions: usize,
    pub(crate) watermark: i64,
    pub(crate) vectors: u64,
}

/// The index's settings. Vectors are kept in the graph as `i8` (a quarter of `f32`): the graph
/// only proposes candidates, every one re-scored exactly from its stored `f32` vector, and
/// the index is held whole in memory while it is built or extended, so its size is the peak
/// memory of an `index` stage that extends it (about 0.4 KB per 256-dimension vector instead
/// of 1.2 KB).
fn options(dimensions: usize) -> IndexOptions {
    IndexOptions {
        dimensions,
        metric: MetricKind::Cos,
        quantization: ScalarKind::I8,
        connectivity: CONNECTIVITY,
        expansion_add: EXPANSION_ADD,
        expansion_search: EXPANSION_SEARCH,
        multi: false,
    }
}

fn read_meta(dir: &Path) -> Option<AnnMeta> {
    let path = dir.join(META_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot read the ANN index's description: brute force");
            return None;
        }
    };
    match serde_json::from_slice::<AnnMeta>(&bytes) {
        Ok(m) if m.format == META_FORMAT && !m.file.contains(['/', '\\']) => Some(m),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "unreadable ANN index description: ignored (it is rebuilt)");
            None
        }
    }
}

fn path_str(path: &Path) -> Result<&str, AnnError> {
    path.to_str().ok_or_else(|| AnnError::Index {
        path: path.to_owned(),
        message: "the path is not UTF-8 (usearch takes UTF-8 paths)".to_owned(),
    })
}

/// An index memory-mapped for searching, with the description it was published with.
pub(crate) struct AnnView {
    pub(crate) index: Index,
    pub(crate) meta: AnnMeta,
}

/// Maps the current index of the store in `dir` when it is of `model` and `dimensions`;
/// `None` (brute force) when there is none or it cannot be opened.
pub(crate) fn open_view(dir: &Path, model: &str, dimensions: usize) -> Option<AnnView> {
    // A writer may publish a new generation (and delete the old file) between reading the
    // description and mapping its file: read the description again once.
    for _ in 0..2 {
        let meta = read_meta(dir)?;
        if meta.model != model || meta.dimensions != dimensions {
            return None;
        }
        let path = dir.join(&meta.file);
        let opened = path.to_str().map(Index::restore_view);
        match opened {
            Some(Ok(index)) if index.dimensions() == dimensions => {
                index.change_expansion_search(EXPANSION_SEARCH);
                return Some(AnnView { index, meta });
            }
            Some(Ok(_)) => {
                tracing::warn!(file = %path.display(), "ANN index of another length than its description: brute force");
                return None;
            }
            Some(Err(e)) => {
                tracing::debug!(file = %path.display(), error = %e, "cannot map the ANN index");
            }
            None => return None,
        }
    }
    None
}

/// The row ids changed since `watermark`.
pub(crate) fn pending_rows(tx: &Transaction<'_>, watermark: i64) -> rusqlite::Result<HashSet<u64>> {
    let mut stmt = tx.prepare_cached("SELECT DISTINCT chunk_rowid FROM chunk_changes WHERE seq > ?1")?;
    let rows = stmt.query_map([watermark], |r| r.get::<_, i64>(0))?;
    let mut set = HashSet::new();
    for row in rows {
        set.insert(row?.cast_unsigned());
    }
    Ok(set)
}

/// The candidates an index search asks for, for `limit` hits: more than `limit`, so that
/// exact re-scoring can reorder near-ties.
fn candidates(limit: usize) -> usize {
    limit.saturating_mul(2).saturating_add(10)
}

/// Searches `view` (skipping the rows changed since its watermark, which are scanned
/// instead) within the read transaction `tx`, offering every candidate, exactly re-scored, to
/// `top`. `Err(message)` when usearch fails (the caller falls back to brute force).
pub(crate) fn search(
    tx: &Transaction<'_>,
    view: &AnnView,
    model: &str,
    query: &[f32],
    limit: usize,
    top: &mut TopK,
) -> rusqlite::Result<Result<(), String>> {
    let pending = pending_rows(tx, view.meta.watermark)?;
    let wanted = candidates(limit);
    view.index.change_expansion_search(EXPANSION_SEARCH.max(wanted));
    let matches = match view.index.filtered_search(query, wanted, |key| !pending.contains(&key)) {
        Ok(m) => m,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let q = QueryVector::new(query);
    let dims = i64::try_from(query.len()).unwrap_or(i64::MAX);
    {
        let mut fetch = tx.prepare_cached(
            "SELECT chunk_id, job_id, vector FROM chunks WHERE id = ?1 AND model = ?2 AND dimensions = ?3",
        )?;
        for key in matches.keys {
            let Ok(rowid) = i64::try_from(key) else { continue };
            let mut rows = fetch.query(params![rowid, model, dims])?;
            if let Some(row) = rows.next()? {
                if let Some(score) = q.cosine_le_bytes(row.get_ref(2)?.as_blob()?) {
                    top.offer(score, row.get_ref(0)?.as_str()?, row.get_ref(1)?.as_str()?, rowid);
                }
            }
        }
    }
    if !pending.is_empty() {
        let mut scan = tx.prepare_cached(
            "SELECT id, chunk_id, job_id, vector FROM chunks
             WHERE id IN (SELECT chunk_rowid FROM chunk_changes WHERE seq > ?1) AND model = ?2 AND dimensions = ?3",
        )?;
        let mut rows = scan.query(params![view.meta.watermark, model, dims])?;
        while let Some(row) = rows.next()? {
            if let Some(score) = q.cosine_le_bytes(row.get_ref(3)?.as_blob()?) {
                top.offer(score, row.get_ref(1)?.as_str()?, row.get_ref(2)?.as_str()?, row.get(0)?);
            }
        }
    }
    Ok(Ok(()))
}

/// Holds `store.ann.lock` while alive (the OS releases it when the file is closed).
struct Lock {
    _file: File,
}

fn try_lock(dir: &Path) -> Result<Option<Lock>, AnnError> {
    let path = dir.join(LOCK_FILE);
    let io = |source| AnnError::Io { path: path.clone(), source };
    let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Lock { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(io(e)),
    }
}

/// Every `store.ann.*.usearch` file (and temporary file) in `dir` but `keep`.
fn remove_stale_files(dir: &Path, keep: Option<&str>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = name.starts_with("store.ann.") && (name.ends_with(".usearch") || name.ends_with(".tmp"));
        if ours && Some(name) != keep {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove an old ANN index file");
            }
        }
    }
}

/// Saves `index` as generation `generation` and publishes it with `meta`; removes the older
/// generations.
fn publish(dir: &Path, index: &Index, mut meta: AnnMeta) -> Result<(), AnnError> {
    let file = format!("store.ann.{}.usearch", meta.generation);
    let tmp = dir.join(format!("{file}.tmp"));
    let path = dir.join(&file);
    index.save(path_str(&tmp)?).map_err(|e| AnnError::Index { path: tmp.clone(), message: e.to_string() })?;
    std::fs::rename(&tmp, &path).map_err(|source| AnnError::Io { path: path.clone(), source })?;
    meta.file = file;
    let meta_path = dir.join(META_FILE);
    let meta_tmp = dir.join(format!("{META_FILE}.tmp"));
    let json = serde_json::to_vec_pretty(&meta).map_err(|e| AnnError::Store(e.into()))?;
    std::fs::write(&meta_tmp, json).map_err(|source| AnnError::Io { path: meta_tmp.clone(), source })?;
    std::fs::rename(&meta_tmp, &meta_path).map_err(|source| AnnError::Io { path: meta_path, source })?;
    remove_stale_files(dir, Some(&meta.file));
    Ok(())
}

/// Removes the index (its description first, so that no reader maps a file being removed).
fn unpublish(dir: &Path) -> Result<bool, AnnError> {
    let meta_path = dir.join(META_FILE);
    let existed = match std::fs::remove_file(&meta_path) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(source) => return Err(AnnError::Io { path: meta_path, source }),
    };
    remove_stale_files(dir, None);
    Ok(existed)
}

impl Store {
    /// Builds, extends or removes the store's ANN index so that it reflects the stored
    /// vectors (see the [module documentation](self)): the `index` stage calls it after each
    /// write. Safe to call from several processes at once; returns what it did.
    pub fn update_ann_index(&self) -> Result<AnnUpdate, AnnError> {
        let Some(dir) = self.path().and_then(Path::parent).map(Path::to_owned) else {
            return Ok(AnnUpdate::InMemory);
        };
        let Some(_lock) = try_lock(&dir)? else {
            tracing::debug!(store = self.location(), "the ANN index is being updated by another process");
            return Ok(AnnUpdate::Busy);
        };
        let models = self.vector_models()?;
        let meta = read_meta(&dir);
        let (model, dimensions) = match models.as_slice() {
            [one] => one.clone(),
            _ => {
                let chunks = self.chunk_count(None)?;
                if unpublish(&dir)? {
                    tracing::info!(store = self.location(), chunks, "ANN index removed: brute force");
                }
                self.prune_changes(None)?;
                return Ok(AnnUpdate::BruteForce { chunks });
            }
        };
        let current =
            meta.filter(|m| m.model == model && m.dimensions == dimensions && dir.join(&m.file).is_file());
        let Some(meta) = current else {
            let chunks = self.chunk_count(None)?;
            if chunks < BRUTE_FORCE_MAX_CHUNKS {
                unpublish(&dir)?;
                self.prune_changes(None)?;
                return Ok(AnnUpdate::BruteForce { chunks });
            }
            return self.build(&dir, &model, dimensions, 1);
        };
        if meta.vectors < BRUTE_FORCE_MAX_CHUNKS {
            // Built by hand (`rebuild_ann_index`) or the store shrank: brute force is faster.
            let chunks = self.chunk_count(None)?;
            if chunks < BRUTE_FORCE_MAX_CHUNKS {
                unpublish(&dir)?;
                self.prune_changes(None)?;
                return Ok(AnnUpdate::BruteForce { chunks });
            }
        }
        // The changes logged since the watermark (an upper bound of the rows changed: a row
        // changed twice counts twice), read from the log's last sequence number: one lookup,
        // where counting the distinct rows would read them all after every job.
        let last = self.read(|tx| {
            tx.query_row("SELECT coalesce(max(seq), 0) FROM chunk_changes", [], |r| r.get::<_, i64>(0))
        })?;
        let pending = u64::try_from(last.saturating_sub(meta.watermark)).unwrap_or(0);
        if pending <= pending_limit(meta.vectors) {
            return Ok(AnnUpdate::Unchanged { vectors: meta.vectors, pending });
        }
        self.extend(&dir, meta)
    }

    /// Builds the ANN index anew from every stored vector, whatever the store's size (while
    /// the store stays below [`BRUTE_FORCE_MAX_CHUNKS`], queries use it until the next
    /// [`Store::update_ann_index`] removes it): for benchmarks and tests, or to compact an
    /// index after many deletions. [`AnnUpdate::Busy`] when another process holds the lock;
    /// [`AnnUpdate::BruteForce`] for an in-memory store or one of several models.
    pub fn rebuild_ann_index(&self) -> Result<AnnUpdate, AnnError> {
        let Some(dir) = self.path().and_then(Path::parent).map(Path::to_owned) else {
            return Ok(AnnUpdate::InMemory);
        };
        let Some(_lock) = try_lock(&dir)? else { return Ok(AnnUpdate::Busy) };
        match self.vector_models()?.as_slice() {
            [(model, dimensions)] => {
                let generation = read_meta(&dir).map_or(1, |m| m.generation + 1);
                self.build(&dir, model, *dimensions, generation)
            }
            _ => {
                unpublish(&dir)?;
                Ok(AnnUpdate::BruteForce { chunks: self.chunk_count(None)? })
            }
        }
    }

    /// Deletes the change log up to `watermark` (all of it: `None`).
    fn prune_changes(&self, watermark: Option<i64>) -> Result<(), StoreError> {
        self.write(|tx| {
            match watermark {
                Some(w) => tx.execute("DELETE FROM chunk_changes WHERE seq <= ?1", [w])?,
                None => tx.execute("DELETE FROM chunk_changes", [])?,
            };
            Ok::<_, StoreError>(())
        })
    }

    /// Builds the index from every vector of `model`, in row order (deterministic), from one
    /// snapshot.
    fn build(
        &self,
        dir: &Path,
        model: &str,
        dimensions: usize,
        generation: u64,
    ) -> Result<AnnUpdate, AnnError> {
        let index_err = |e: &dyn std::fmt::Display| AnnError::Index {
            path: dir.join(format!("store.ann.{generation}.usearch")),
            message: e.to_string(),
        };
        let index = Index::new(&options(dimensions)).map_err(|e| index_err(&e))?;
        let mut failure = None;
        let watermark = self.read(|tx| {
            let watermark: i64 =
                tx.query_row("SELECT coalesce(max(seq), 0) FROM chunk_changes", [], |r| r.get(0))?;
            let count: i64 = tx.query_row(
                "SELECT count(*) FROM chunks WHERE model = ?1 AND dimensions = ?2",
                params![model, super::to_i64(dimensions)],
                |r| r.get(0),
            )?;
            if let Err(e) = index.reserve(usize::try_from(count).unwrap_or(0)) {
                failure = Some(e.to_string());
                return Ok(watermark);
            }
            let mut stmt =
                tx.prepare("SELECT id, vector FROM chunks WHERE model = ?1 AND dimensions = ?2 ORDER BY id")?;
            let mut rows = stmt.query(params![model, super::to_i64(dimensions)])?;
            let mut buffer = vec![0f32; dimensions];
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                if !decode_into(row.get_ref(1)?.as_blob()?, &mut buffer) {
                    continue;
                }
                if let Err(e) = index.add(id.cast_unsigned(), &buffer) {
                    failure = Some(e.to_string());
                    break;
                }
            }
            Ok(watermark)
        })?;
        if let Some(message) = failure {
            return Err(index_err(&message));
        }
        let vectors = index.size() as u64;
        publish(
            dir,
            &index,
            AnnMeta {
                format: META_FORMAT,
                generation,
                file: String::new(),
                model: model.to_owned(),
                dimensions,
                watermark,
                vectors,
            },
        )?;
        self.prune_changes(Some(watermark))?;
        tracing::info!(store = self.location(), vectors, "ANN index built");
        Ok(AnnUpdate::Built { vectors })
    }

    /// Loads the index, adds the rows inserted since its watermark, saves it as the next
    /// generation; builds it anew when a changed row was in it.
    fn extend(&self, dir: &Path, meta: AnnMeta) -> Result<AnnUpdate, AnnError> {
        let path = dir.join(&meta.file);
        let index_err =
            |e: &dyn std::fmt::Display| AnnError::Index { path: path.clone(), message: e.to_string() };
        let index = Index::restore(path_str(&path)?).map_err(|e| index_err(&e))?;
        let mut added = 0u64;
        let mut rebuild = false;
        let mut failure = None;
        let watermark = self.read(|tx| {
            let watermark: i64 =
                tx.query_row("SELECT coalesce(max(seq), 0) FROM chunk_changes", [], |r| r.get(0))?;
            let changed = pending_rows(tx, meta.watermark)?;
            let mut keys: Vec<u64> = changed.into_iter().collect();
            keys.sort_unstable();
            if keys.iter().any(|k| index.contains(*k)) {
                // A row of the index was deleted or changed: usearch can remove it, but the
                // slots it frees are reused by later insertions, and graphs extended so were
                // measured to lose neighbours (an exact match not found). Build anew instead.
                rebuild = true;
                return Ok(watermark);
            }
            if let Err(e) = index.reserve(index.size() + keys.len()) {
                failure = Some(e.to_string());
                return Ok(watermark);
            }
            let mut fetch =
                tx.prepare("SELECT vector FROM chunks WHERE id = ?1 AND model = ?2 AND dimensions = ?3")?;
            let mut buffer = vec![0f32; meta.dimensions];
            for key in &keys {
                let Ok(id) = i64::try_from(*key) else { continue };
                let mut rows = fetch.query(params![id, meta.model, super::to_i64(meta.dimensions)])?;
                let Some(row) = rows.next()? else { continue };
                if !decode_into(row.get_ref(0)?.as_blob()?, &mut buffer) {
                    continue;
                }
                if let Err(e) = index.add(*key, &buffer) {
                    failure = Some(e.to_string());
                    break;
                }
                added += 1;
            }
            Ok(watermark)
        })?;
        if let Some(message) = failure {
            return Err(index_err(&message));
        }
        if rebuild {
            drop(index);
            return self.build(dir, &meta.model, meta.dimensions, meta.generation + 1);
        }
        let vectors = index.size() as u64;
        publish(dir, &index, AnnMeta { generation: meta.generation + 1, watermark, vectors, ..meta })?;
        self.prune_changes(Some(watermark))?;
        tracing::info!(store = self.location(), vectors, added, "ANN index extended");
        Ok(AnnUpdate::Extended { vectors, added })
    }
}

/// Decodes a stored vector into `buffer` (no allocation); `false` when its length differs.
fn decode_into(bytes: &[u8], buffer: &mut [f32]) -> bool {
    if bytes.len() != buffer.len() * 4 {
        return false;
    }
    for (x, b) in buffer.iter_mut().zip(bytes.chunks_exact(4)) {
        *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::topk::Rng;
    use crate::types::{Chunk, EmbeddingBatch};

    const DIMS: usize = 32;

    /// `n` chunks of job `job` with clustered random vectors (like embeddings: near a few
    /// dozen topics); chunk ids `<doc>#<i>`.
    fn batch(rng: &mut Rng, doc: &str, n: usize) -> EmbeddingBatch {
        let centres: Vec<Vec<f32>> = {
            let mut r = Rng(1);
            (0..40).map(|_| (0..DIMS).map(|_| (r.next() % 2001) as f32 / 1000.0 - 1.0).collect()).collect()
        };
        let chunks: Vec<Chunk> = (0..n)
            .map(|i| Chunk {
                id: format!("{doc}#{i}"),
                doc_id: doc.to_owned(),
                index: i,
                section: "Body".to_owned(),
                text: format!("chunk {i} of {doc}"),
            })
            .collect();
        let vectors = (0..n)
            .map(|_| {
                let c = &centres[(rng.next() % centres.len() as u64) as usize];
                c.iter().map(|x| x + ((rng.next() % 1001) as f32 / 1000.0 - 0.5) * 0.6).collect()
            })
            .collect();
        EmbeddingBatch { model: "test".to_owned(), dimensions: DIMS, vectors, chunks }
    }

    fn query(rng: &mut Rng) -> Vec<f32> {
        (0..DIMS).map(|_| (rng.next() % 2001) as f32 / 1000.0 - 1.0).collect()
    }

    fn ids(hits: &[crate::index::Hit]) -> Vec<(String, String)> {
        hits.iter().map(|h| (h.chunk_id.clone(), h.job_id.clone())).collect()
    }

    /// A store of `BRUTE_FORCE_MAX_CHUNKS` chunks in 4 jobs, its index built.
    fn big_store(dir: &Path) -> Store {
        let store = Store::open(dir).unwrap();
        let mut rng = Rng(3);
        let per = usize::try_from(BRUTE_FORCE_MAX_CHUNKS).unwrap() / 4;
        for j in 0..4 {
            store.index_batch(&format!("j{j}"), &batch(&mut rng, &format!("d{j}"), per)).unwrap();
        }
        store
    }

    #[test]
    fn recall_at_10_against_brute_force_is_at_least_095_and_results_are_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let store = big_store(dir.path());
        let chunks = store.chunk_count(None).unwrap();
        assert_eq!(store.update_ann_index().unwrap(), AnnUpdate::Built { vectors: chunks });
        assert!(dir.path().join(META_FILE).is_file());
        let mut rng = Rng(5);
        let (mut found, mut wanted) = (0, 0);
        let mut first = Vec::new();
        for _ in 0..200 {
            let q = query(&mut rng);
            let approx = store.search_vector_of("test", &q, 10).unwrap();
            let exact = store.search_vector_brute_force("test", &q, 10).unwrap();
            assert_eq!(exact.len(), 10);
            wanted += exact.len();
            found += exact.iter().filter(|e| approx.contains(e)).count();
            // Exact scores, best first.
            assert!(approx.windows(2).all(|w| w[0].score >= w[1].score));
            first.push(ids(&approx));
        }
        let recall = found as f64 / wanted as f64;
        assert!(recall >= 0.95, "recall@10 {recall}");
        // The index is what answered: a scan of it gives the same answers, and so does an
        // index built again from the same store (a fixed insertion order and seed).
        assert_eq!(store.rebuild_ann_index().unwrap(), AnnUpdate::Built { vectors: chunks });
        let again = Store::open(dir.path()).unwrap();
        let mut rng = Rng(5);
        for want in &first {
            assert_eq!(&ids(&again.search_vector_of("test", &query(&mut rng), 10).unwrap()), want);
        }
        // Another model's query does not use it (and finds nothing here).
        assert!(store.search_vector_of("other", &query(&mut rng), 10).unwrap().is_empty());
    }

    #[test]
    fn the_index_is_kept_up_to_date_as_jobs_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = big_store(dir.path());
        let ctx = |job: &str| {
            stage_core::StageContext::new(
                std::sync::Arc::new(stage_core::Job::new(job, "t")),
                "index",
                "index",
            )
        };
        // The stage builds the index once the store is large enough.
        let mut rng = Rng(8);
        crate::index::index(&ctx("j4"), &batch(&mut rng, "d4", 10), &store).unwrap();
        let built = read_meta(dir.path()).expect("built by the index stage");
        assert_eq!(built.vectors, BRUTE_FORCE_MAX_CHUNKS + 10);
        // A second batch: below the pending limit, the index is kept, and queries find the new
        // rows (scanned) all the same.
        let mut second = batch(&mut rng, "new", 50);
        second.vectors[7] = vec![9.0; DIMS];
        crate::index::index(&ctx("j5"), &second, &store).unwrap();
        assert_eq!(read_meta(dir.path()), Some(built.clone()), "not yet extended");
        let top = store.search_vector_of("test", &[9.0; DIMS], 1).unwrap();
        assert_eq!(top[0].chunk_id, "new#7");
        assert_eq!(top[0].job_id, "j5");
        assert!((top[0].score - 1.0).abs() < 1e-6);
        // Past the limit the stage extends it: the watermark moves, the new vectors are in it.
        let big = batch(&mut rng, "more", usize::try_from(pending_limit(built.vectors)).unwrap());
        crate::index::index(&ctx("j6"), &big, &store).unwrap();
        let extended = read_meta(dir.path()).unwrap();
        assert!(extended.watermark > built.watermark && extended.generation == built.generation + 1);
        assert_eq!(extended.vectors, store.chunk_count(None).unwrap());
        assert!(!dir.path().join(&built.file).exists(), "the old generation is removed");
        let left: i64 =
            store.read(|tx| tx.query_row("SELECT count(*) FROM chunk_changes", [], |r| r.get(0))).unwrap();
        assert_eq!(left, 0, "the change log is pruned to the watermark");
        let view = open_view(dir.path(), "test", DIMS).unwrap();
        let rowid: i64 = store
            .read(|tx| tx.query_row("SELECT id FROM chunks WHERE chunk_id = 'new#7'", [], |r| r.get(0)))
            .unwrap();
        assert!(view.index.contains(rowid.cast_unsigned()));
        assert_eq!(store.search_vector_of("test", &[9.0; DIMS], 1).unwrap()[0].chunk_id, "new#7");
        // Re-running a job replaces its rows: the old ones are never found again, though the
        // index still holds their vectors until the next build.
        let mut again = batch(&mut rng, "d0", 3);
        again.vectors[0] = vec![-9.0; DIMS];
        store.index_batch("j0", &again).unwrap();
        let all = store.search_vector_of("test", &[1.0; DIMS], 20_000).unwrap();
        assert_eq!(all.len() as u64, store.chunk_count(None).unwrap(), "each row once");
        assert_eq!(all.iter().filter(|h| h.job_id == "j0").count(), 3, "only j0's new rows");
        assert_eq!(store.search_vector_of("test", &[-9.0; DIMS], 1).unwrap()[0].chunk_id, "d0#0");
        // Past the limit again, with deletions among the changes: built anew.
        let more = batch(&mut rng, "last", usize::try_from(pending_limit(extended.vectors)).unwrap());
        crate::index::index(&ctx("j7"), &more, &store).unwrap();
        let rebuilt = read_meta(dir.path()).unwrap();
        assert_eq!(rebuilt.generation, extended.generation + 1);
        assert_eq!(rebuilt.vectors, store.chunk_count(None).unwrap(), "deleted rows are out");
        assert_eq!(store.search_vector_of("test", &[9.0; DIMS], 1).unwrap()[0].chunk_id, "new#7");
        assert_eq!(store.search_vector_of("test", &[-9.0; DIMS], 1).unwrap()[0].chunk_id, "d0#0");
        // A concurrent updater holding the lock makes the others skip, not wait.
        let held = try_lock(dir.path()).unwrap().unwrap();
        assert_eq!(store.update_ann_index().unwrap(), AnnUpdate::Busy);
        drop(held);
        assert!(matches!(store.update_ann_index().unwrap(), AnnUpdate::Unchanged { pending: 0, .. }));
    }

    #[test]
    fn a_small_or_mixed_store_has_no_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut rng = Rng(9);
        store.index_batch("a", &batch(&mut rng, "a", 20)).unwrap();
        assert_eq!(store.update_ann_index().unwrap(), AnnUpdate::BruteForce { chunks: 20 });
        assert!(read_meta(dir.path()).is_none());
        // Forced, it is used; the next update removes it again (the store is small).
        assert_eq!(store.rebuild_ann_index().unwrap(), AnnUpdate::Built { vectors: 20 });
        assert!(open_view(dir.path(), "test", DIMS).is_some());
        assert!(open_view(dir.path(), "test", DIMS + 1).is_none(), "another length");
        assert!(open_view(dir.path(), "other", DIMS).is_none(), "another model");
        assert_eq!(store.update_ann_index().unwrap(), AnnUpdate::BruteForce { chunks: 20 });
        assert!(open_view(dir.path(), "test", DIMS).is_none());
        let files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".usearch"))
            .collect();
        assert!(files.is_empty(), "{files:?}");
        assert_eq!(Store::in_memory().unwrap().update_ann_index().unwrap(), AnnUpdate::InMemory);
    }
}
