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
//! # Segments
//!
//! The index is a list of HNSW graphs, each of at most [`SEGMENT_VECTORS`] vectors and each of
//! a range of row ids (the rows are indexed in row order, so a segment is the rows of a run
//! of jobs). A query searches every segment (on as many threads as there are cores) and
//! merges the candidates. Segments bound two costs that grow with one big graph:
//!
//! * **updating**: the `index` stage loads, extends and saves only the last segment (about
//!   14 MB at 256 dimensions), so its memory and time per job do not grow with the store;
//! * **recall**: at a fixed search breadth (`ef`) a graph's recall falls as it grows (on
//!   `bench/search.py`'s data: 0.956 at 36,000 vectors, 0.875 at 360,000 in one graph), so a
//!   store of any size is searched as graphs of at most [`SEGMENT_VECTORS`].
//!
//! A query's time grows with the number of segments (a tenth of a store's vectors are in each
//! at 360,000): see BENCHMARKS.md §8 for the figures.
//!
//! # Files (in the store directory, beside `store.sqlite`)
//!
//! | file | what |
//! |---|---|
//! | `store.ann.json` | the current index: its model, dimensions, vector count, the change-log watermark it reflects, and its segments (file, row range, vectors) |
//! | `store.ann.<generation>-<n>.usearch` | a segment: an HNSW graph (cosine, vectors as `i8`); keys are `chunks.id` |
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
//! * a **query** is never stale: it searches the segments with the rows changed since the
//!   watermark filtered out, searches those rows by brute force, and merges the two; every
//!   candidate is re-scored exactly from the stored vector, so scores are those of brute force
//!   and ties break the same way (by chunk id, then job id);
//! * the **`index` stage**, after each write, calls [`Store::update_ann_index`]: it builds the
//!   index once the store holds [`BRUTE_FORCE_MAX_CHUNKS`] chunks, and brings it up to date
//!   once more than [`PENDING_LIMIT`] changes are logged: the last segment is extended with
//!   the new rows (a new segment started once it is full), and a segment one of whose rows
//!   was deleted or changed (a job indexed again) is built anew from its row range (usearch
//!   reuses the slots of removed vectors, and graphs extended so were measured to miss exact
//!   matches). Other segments, and their files, are left as they are. Doing this in the stage
//!   rather than at query time keeps queries read-only and their time predictable.
//!
//! Several processes may index into one store: the update runs under an exclusive
//! `try_lock` of `store.ann.lock` (a process that finds it held skips the update: the holder
//! or the next job catches up, and queries brute-force the rows meanwhile). Segments are
//! written to new files of the update's generation and then published by renaming a new
//! `store.ann.json` over the old, so a reader sees the old index or the new, never half of
//! one; files no longer described are deleted afterwards (a process that has one mapped
//! keeps reading it).
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
/// Candidates considered when searching (HNSW `ef`), in each segment. On the recall test's
/// data (random queries, far from the clustered vectors) recall@10 against brute force was
/// 0.89 at 64, 0.93 at 96, 0.997 at 256. On `bench/search.py`'s stores of feature-hashed
/// synthetic chunks (3-word queries against 20–60-word chunks: many near-equal scores, a hard
/// case for a graph), in segments of [`SEGMENT_VECTORS`], it was 0.931 at 1,024, 0.949 at
/// 2,048 and 0.963 at 4,096 for 36,000 chunks (2 segments; 32.5 ms in process against 103 ms
/// for the scan), and 0.960 at 2,048 and 0.970 at 4,096 for 360,000 chunks (11 segments,
/// searched on 2 threads; 134 ms against 614 ms). In one graph of 360,000 it was 0.875 at 4,096.
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
/// 3: the index is a list of segments (format 2 was one graph, with vectors as `i8`; format 1
/// kept `f32`): an index of an older format is built anew.
const META_FORMAT: u32 = 3;

/// The most vectors a segment of the index holds when it is built: a new segment is started
/// past it. It bounds what updating the index costs (the `index` stage loads, extends and
/// saves one segment, about 14 MB at 256 dimensions, whatever the store's size) and what a
/// graph search must get right (recall at a fixed `ef` falls as a graph grows).
pub const SEGMENT_VECTORS: u64 = 32_768;

/// The changes (inserted, deleted or re-vectored rows) logged since the index's watermark past
/// which [`Store::update_ann_index`] brings the index up to date. Until then queries search
/// those rows by brute force besides the graphs, so this bounds that scan.
pub const PENDING_LIMIT: u64 = BRUTE_FORCE_MAX_CHUNKS / 2;

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

impl From<rusqlite::types::FromSqlError> for AnnError {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        rusqlite::Error::from(e).into()
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
    /// The index is kept as it is; `pending` logged changes (at most [`PENDING_LIMIT`]) are
    /// searched by brute force until the next update.
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
        /// Its segments.
        segments: usize,
    },
    /// The index was brought up to date with the rows changed since its watermark: the
    /// segments they fall in were extended (or, where a row of theirs was deleted or changed,
    /// built anew); the others were left as they were.
    Extended {
        /// Vectors in the index now.
        vectors: u64,
        /// Vectors added.
        added: u64,
        /// Segments written (extended, built anew or started).
        segments_written: usize,
    },
}

/// One segment of the index: an HNSW graph of the rows whose id is at least `first_row` and
/// below the next segment's `first_row` (the last segment: every row from `first_row` up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Segment {
    pub(crate) file: String,
    pub(crate) first_row: i64,
    /// The highest row id in it.
    pub(crate) last_row: i64,
    pub(crate) vectors: u64,
}

/// `store.ann.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AnnMeta {
    format: u32,
    generation: u64,
    pub(crate) model: String,
    pub(crate) dimensions: usize,
    pub(crate) watermark: i64,
    pub(crate) vectors: u64,
    pub(crate) segments: Vec<Segment>,
}

impl AnnMeta {
    /// Well formed: plain file names, segments in increasing row ranges.
    fn valid(&self) -> bool {
        self.format == META_FORMAT
            && !self.segments.is_empty()
            && self.segments.iter().all(|s| !s.file.contains(['/', '\\']) && s.first_row <= s.last_row)
            && self.segments.windows(2).all(|w| w[0].last_row < w[1].first_row)
    }
}

/// The index's settings. Vectors are kept in the graph as `i8` (a quarter of `f32`): the graph
/// only proposes candidates, every one re-scored exactly from its stored `f32` vector, and a
/// segment is held whole in memory while it is built or extended (about 0.4 KB per
/// 256-dimension vector instead of 1.2 KB; recall was the same, 0.825 against 0.829).
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
        Ok(m) if m.valid() => Some(m),
        Ok(_) => None,
        Err(e) => {
            tracing::debug!(file = %path.display(), error = %e, "ANN index description of another format: ignored (it is rebuilt)");
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

/// An index memory-mapped for searching (a view of each segment), with the description it
/// was published with.
pub(crate) struct AnnView {
    pub(crate) segments: Vec<Index>,
    pub(crate) meta: AnnMeta,
}

/// Maps the current index of the store in `dir` when it is of `model` and `dimensions`;
/// `None` (brute force) when there is none or it cannot be opened.
pub(crate) fn open_view(dir: &Path, model: &str, dimensions: usize) -> Option<AnnView> {
    // A writer may publish a new generation (and delete an old file) between reading the
    // description and mapping its files: read the description again once.
    'attempt: for _ in 0..2 {
        let meta = read_meta(dir)?;
        if meta.model != model || meta.dimensions != dimensions {
            return None;
        }
        let mut segments = Vec::with_capacity(meta.segments.len());
        for segment in &meta.segments {
            let path = dir.join(&segment.file);
            match path.to_str().map(Index::restore_view) {
                Some(Ok(index)) if index.dimensions() == dimensions => {
                    index.change_expansion_search(EXPANSION_SEARCH);
                    segments.push(index);
                }
                Some(Ok(_)) => {
                    tracing::warn!(file = %path.display(), "ANN index of another length than its description: brute force");
                    return None;
                }
                Some(Err(e)) => {
                    tracing::debug!(file = %path.display(), error = %e, "cannot map the ANN index");
                    continue 'attempt;
                }
                None => return None,
            }
        }
        return Some(AnnView { segments, meta });
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

/// The candidates an index search asks each segment for, for `limit` hits: more than `limit`,
/// so that exact re-scoring can reorder near-ties.
fn candidates(limit: usize) -> usize {
    limit.saturating_mul(2).saturating_add(10)
}

/// The keys each segment proposes for `query` (`pending` rows left out), segment by segment;
/// the segments are searched on up to as many threads as the machine has cores.
fn propose(
    segments: &[Index],
    query: &[f32],
    wanted: usize,
    pending: &HashSet<u64>,
) -> Result<Vec<u64>, String> {
    let one = |index: &Index| -> Result<Vec<u64>, String> {
        index.change_expansion_search(EXPANSION_SEARCH.max(wanted));
        index
            .filtered_search(query, wanted, |key| !pending.contains(&key))
            .map(|m| m.keys)
            .map_err(|e| e.to_string())
    };
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(segments.len());
    if threads <= 1 {
        let mut keys = Vec::new();
        for index in segments {
            keys.extend(one(index)?);
        }
        return Ok(keys);
    }
    // Thread `t` searches segments t, t + threads, …: each segment is searched by one thread.
    /// One thread's proposals: (segment, its keys) for each segment it searched.
    type Proposals = Result<Vec<(usize, Vec<u64>)>, String>;
    let per_thread: Vec<Proposals> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..segments.len()).step_by(threads).map(|i| one(&segments[i]).map(|k| (i, k))).collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a search thread panicked".to_owned())))
            .collect()
    });
    let mut found = Vec::with_capacity(segments.len());
    for part in per_thread {
        found.extend(part?);
    }
    found.sort_unstable_by_key(|(i, _)| *i);
    Ok(found.into_iter().flat_map(|(_, k)| k).collect())
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
    let keys = match propose(&view.segments, query, candidates(limit), &pending) {
        Ok(k) => k,
        Err(e) => return Ok(Err(e)),
    };
    let q = QueryVector::new(query);
    let dims = i64::try_from(query.len()).unwrap_or(i64::MAX);
    {
        let mut fetch = tx.prepare_cached(
            "SELECT chunk_id, job_id, vector FROM chunks WHERE id = ?1 AND model = ?2 AND dimensions = ?3",
        )?;
        for key in keys {
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

/// Every `store.ann.*.usearch` file (and temporary file) in `dir` but those in `keep`.
fn remove_stale_files(dir: &Path, keep: &[&str]) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = name.starts_with("store.ann.") && (name.ends_with(".usearch") || name.ends_with(".tmp"));
        if ours && !keep.contains(&name) {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove an old ANN index file");
            }
        }
    }
}

/// Publishes `meta` (its segments' files already saved): a new description renamed over the
/// old; then removes the files no longer described.
fn publish(dir: &Path, meta: &AnnMeta) -> Result<(), AnnError> {
    let meta_path = dir.join(META_FILE);
    let meta_tmp = dir.join(format!("{META_FILE}.tmp"));
    let json = serde_json::to_vec_pretty(meta).map_err(|e| AnnError::Store(e.into()))?;
    std::fs::write(&meta_tmp, json).map_err(|source| AnnError::Io { path: meta_tmp.clone(), source })?;
    std::fs::rename(&meta_tmp, &meta_path).map_err(|source| AnnError::Io { path: meta_path, source })?;
    let keep: Vec<&str> = meta.segments.iter().map(|s| s.file.as_str()).collect();
    remove_stale_files(dir, &keep);
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
    remove_stale_files(dir, &[]);
    Ok(existed)
}

/// Writes the segments of one update: each to a new file of the update's generation.
struct Writer<'a> {
    dir: &'a Path,
    dimensions: usize,
    generation: u64,
    /// Segment files written by this update so far.
    written: usize,
    /// The largest segment a build starts a new one past.
    segment_vectors: u64,
}

/// A segment being built: its graph and its row range.
struct Building {
    index: Index,
    first_row: i64,
    last_row: i64,
}

impl Writer<'_> {
    /// The name of the next segment file this update writes.
    fn next_file(&self) -> String {
        format!("store.ann.{}-{}.usearch", self.generation, self.written)
    }

    fn error(&self, e: &dyn std::fmt::Display) -> AnnError {
        AnnError::Index { path: self.dir.join(self.next_file()), message: e.to_string() }
    }

    fn new_index(&self, capacity: usize) -> Result<Index, AnnError> {
        let index = Index::new(&options(self.dimensions)).map_err(|e| self.error(&e))?;
        index.reserve(capacity).map_err(|e| self.error(&e))?;
        Ok(index)
    }

    /// Saves `b` to a new file (written aside, then renamed).
    fn save(&mut self, b: &Building) -> Result<Segment, AnnError> {
        let file = self.next_file();
        let tmp = self.dir.join(format!("{file}.tmp"));
        let path = self.dir.join(&file);
        b.index
            .save(path_str(&tmp)?)
            .map_err(|e| AnnError::Index { path: tmp.clone(), message: e.to_string() })?;
        std::fs::rename(&tmp, &path).map_err(|source| AnnError::Io { path: path.clone(), source })?;
        self.written += 1;
        Ok(Segment { file, first_row: b.first_row, last_row: b.last_row, vectors: b.index.size() as u64 })
    }

    /// Builds the segments of the rows of `model` with ids from `first_row` to below `end`
    /// (`None`: every row from `first_row`), in row order, a new segment past
    /// `segment_vectors` vectors; segments are built two (or as many as there are cores) at a
    /// time, each by one thread (so deterministic). None when the range holds no row.
    fn build_range(
        &mut self,
        tx: &Transaction<'_>,
        model: &str,
        first_row: i64,
        end: Option<i64>,
    ) -> Result<Vec<Segment>, AnnError> {
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let per = usize::try_from(self.segment_vectors).unwrap_or(usize::MAX).max(1);
        let mut stmt = tx.prepare_cached(
            "SELECT id, vector FROM chunks
             WHERE model = ?1 AND dimensions = ?2 AND id >= ?3 AND id < ?4 ORDER BY id",
        )?;
        let mut rows =
            stmt.query(params![model, super::to_i64(self.dimensions), first_row, end.unwrap_or(i64::MAX)])?;
        let mut segments = Vec::new();
        let mut next_first = first_row;
        let mut buffer = vec![0f32; self.dimensions];
        let mut done = false;
        while !done {
            // Read up to `threads` segments' rows: (first row, keys, vectors side by side).
            let mut batches: Vec<(i64, Vec<u64>, Vec<f32>)> = Vec::new();
            while batches.len() < threads {
                let mut keys = Vec::new();
                let mut vectors = Vec::new();
                while keys.len() < per {
                    let Some(row) = rows.next()? else {
                        done = true;
                        break;
                    };
                    let id: i64 = row.get(0)?;
                    if decode_into(row.get_ref(1)?.as_blob()?, &mut buffer) {
                        keys.push(id.cast_unsigned());
                        vectors.extend_from_slice(&buffer);
                    }
                }
                if keys.is_empty() {
                    break;
                }
                let first = next_first;
                next_first = keys.last().map_or(next_first, |k| k.cast_signed().saturating_add(1));
                batches.push((first, keys, vectors));
                if done {
                    break;
                }
            }
            let built: Vec<Result<Building, AnnError>> = std::thread::scope(|s| {
                let handles: Vec<_> = batches
                    .iter()
                    .map(|(first, keys, vectors)| {
                        let this = &*self;
                        s.spawn(move || -> Result<Building, AnnError> {
                            let index = this.new_index(keys.len())?;
                            for (key, v) in keys.iter().zip(vectors.chunks_exact(this.dimensions)) {
                                index.add(*key, v).map_err(|e| this.error(&e))?;
                            }
                            let last_row = keys.last().map_or(*first, |k| k.cast_signed());
                            Ok(Building { index, first_row: *first, last_row })
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(self.error(&"a build thread panicked"))))
                    .collect()
            });
            for b in built {
                segments.push(self.save(&b?)?);
            }
        }
        Ok(segments)
    }

    /// Extends segment `segment` (loaded from its file) with the rows `keys` (sorted, none of
    /// them in it), starting new segments past `segment_vectors` when it is the last one;
    /// builds its range anew instead when one of `keys` is in it (a row of it deleted or
    /// changed: usearch would reuse the removed vector's slot, and graphs extended so were
    /// measured to lose neighbours). Returns the segments replacing it and the vectors added.
    #[expect(clippy::too_many_arguments, reason = "the update's context, passed once")]
    fn update_segment(
        &mut self,
        tx: &Transaction<'_>,
        model: &str,
        segment: &Segment,
        first: i64,
        end: Option<i64>,
        keys: &[u64],
        fetch: &mut rusqlite::CachedStatement<'_>,
        added: &mut u64,
    ) -> Result<Vec<Segment>, AnnError> {
        let cap = keys.len().min(usize::try_from(self.segment_vectors).unwrap_or(usize::MAX));
        let mut out = Vec::new();
        // The last segment, full, with only rows above it to add: kept as it is (not even
        // loaded), and the rows start a new segment.
        let full = end.is_none()
            && segment.vectors >= self.segment_vectors
            && keys.first().is_some_and(|k| k.cast_signed() > segment.last_row);
        // The segment being extended, and whether anything was added to it.
        let mut current: Option<(Building, bool)> = None;
        if full {
            out.push(segment.clone());
        } else {
            let path = self.dir.join(&segment.file);
            let index = Index::restore(path_str(&path)?)
                .map_err(|e| AnnError::Index { path: path.clone(), message: e.to_string() })?;
            if keys.iter().any(|k| index.contains(*k)) {
                drop(index);
                let before = segment.vectors;
                let rebuilt = self.build_range(tx, model, first, end)?;
                let after: u64 = rebuilt.iter().map(|s| s.vectors).sum();
                *added += after.saturating_sub(before);
                return Ok(rebuilt);
            }
            index.reserve(index.size() + cap).map_err(|e| self.error(&e))?;
            current = Some((Building { index, first_row: first, last_row: segment.last_row }, false));
        }
        let mut buffer = vec![0f32; self.dimensions];
        for key in keys {
            let Ok(id) = i64::try_from(*key) else { continue };
            let mut rows = fetch.query(params![id, model, super::to_i64(self.dimensions)])?;
            let Some(row) = rows.next()? else { continue };
            if !decode_into(row.get_ref(0)?.as_blob()?, &mut buffer) {
                continue;
            }
            let start_new = current.as_ref().is_none_or(|(c, _)| {
                end.is_none() && c.index.size() as u64 >= self.segment_vectors && id > c.last_row
            });
            if start_new {
                if let Some(done) = current.take() {
                    out.push(self.finish(done, segment)?);
                }
                current =
                    Some((Building { index: self.new_index(cap)?, first_row: id, last_row: id }, false));
            }
            if let Some((c, dirty)) = current.as_mut() {
                c.index.add(*key, &buffer).map_err(|e| self.error(&e))?;
                c.last_row = c.last_row.max(id);
                *dirty = true;
                *added += 1;
            }
        }
        if let Some(done) = current {
            out.push(self.finish(done, segment)?);
        }
        Ok(out)
    }

    /// Saves a segment extended or started by [`Writer::update_segment`]; one loaded and left
    /// unchanged keeps its file (`segment`).
    fn finish(
        &mut self,
        (building, dirty): (Building, bool),
        segment: &Segment,
    ) -> Result<Segment, AnnError> {
        if dirty {
            self.save(&building)
        } else {
            Ok(segment.clone())
        }
    }
}

impl Store {
    /// Builds, extends or removes the store's ANN index so that it reflects the stored
    /// vectors (see the [module documentation](self)): the `index` stage calls it after each
    /// write. Safe to call from several processes at once; returns what it did.
    pub fn update_ann_index(&self) -> Result<AnnUpdate, AnnError> {
        self.update_ann_index_in(SEGMENT_VECTORS)
    }

    /// [`Store::update_ann_index`] with segments of at most `segment_vectors` vectors (tests
    /// use small ones).
    pub(crate) fn update_ann_index_in(&self, segment_vectors: u64) -> Result<AnnUpdate, AnnError> {
        let Some(dir) = self.path().and_then(Path::parent).map(Path::to_owned) else {
            return Ok(AnnUpdate::InMemory);
        };
        let Some(_lock) = try_lock(&dir)? else {
            tracing::debug!(store = self.location(), "the ANN index is being updated by another process");
            return Ok(AnnUpdate::Busy);
        };
        let models = self.vector_models()?;
        let meta = read_meta(&dir);
        let generation = meta.as_ref().map_or(1, |m| m.generation + 1);
        let (model, dimensions) = match models.as_slice() {
            [one] => one.clone(),
            _ => return self.remove_index(&dir),
        };
        let current = meta.filter(|m| {
            m.model == model
                && m.dimensions == dimensions
                && m.segments.iter().all(|s| dir.join(&s.file).is_file())
        });
        let Some(meta) = current else {
            if self.chunk_count(None)? < BRUTE_FORCE_MAX_CHUNKS {
                return self.remove_index(&dir);
            }
            return self.build(&dir, &model, dimensions, generation, segment_vectors);
        };
        if meta.vectors < BRUTE_FORCE_MAX_CHUNKS && self.chunk_count(None)? < BRUTE_FORCE_MAX_CHUNKS {
            // Built by hand (`rebuild_ann_index`) or the store shrank: brute force is faster.
            return self.remove_index(&dir);
        }
        // The changes logged since the watermark (an upper bound of the rows changed: a row
        // changed twice counts twice), read from the log's last sequence number: one lookup,
        // where counting the distinct rows would read them all after every job.
        let last = self.read(|tx| {
            tx.query_row("SELECT coalesce(max(seq), 0) FROM chunk_changes", [], |r| r.get::<_, i64>(0))
        })?;
        let pending = u64::try_from(last.saturating_sub(meta.watermark)).unwrap_or(0);
        if pending <= PENDING_LIMIT {
            return Ok(AnnUpdate::Unchanged { vectors: meta.vectors, pending });
        }
        self.extend(&dir, meta, segment_vectors)
    }

    /// Builds the ANN index anew from every stored vector, whatever the store's size (while
    /// the store stays below [`BRUTE_FORCE_MAX_CHUNKS`], queries use it until the next
    /// [`Store::update_ann_index`] removes it): for benchmarks and tests, or to compact an
    /// index after many deletions. [`AnnUpdate::Busy`] when another process holds the lock;
    /// [`AnnUpdate::BruteForce`] for an in-memory store or one of several models.
    pub fn rebuild_ann_index(&self) -> Result<AnnUpdate, AnnError> {
        self.rebuild_ann_index_in(SEGMENT_VECTORS)
    }

    /// [`Store::rebuild_ann_index`] with segments of at most `segment_vectors` vectors.
    pub(crate) fn rebuild_ann_index_in(&self, segment_vectors: u64) -> Result<AnnUpdate, AnnError> {
        let Some(dir) = self.path().and_then(Path::parent).map(Path::to_owned) else {
            return Ok(AnnUpdate::InMemory);
        };
        let Some(_lock) = try_lock(&dir)? else { return Ok(AnnUpdate::Busy) };
        match self.vector_models()?.as_slice() {
            [(model, dimensions)] => {
                let generation = read_meta(&dir).map_or(1, |m| m.generation + 1);
                self.build(&dir, model, *dimensions, generation, segment_vectors)
            }
            _ => self.remove_index(&dir),
        }
    }

    /// Removes the index and the change log: brute force.
    fn remove_index(&self, dir: &Path) -> Result<AnnUpdate, AnnError> {
        let chunks = self.chunk_count(None)?;
        if unpublish(dir)? {
            tracing::info!(store = self.location(), chunks, "ANN index removed: brute force");
        }
        self.prune_changes(None)?;
        Ok(AnnUpdate::BruteForce { chunks })
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

    /// Builds the index from every vector of `model`, in row order, from one snapshot.
    fn build(
        &self,
        dir: &Path,
        model: &str,
        dimensions: usize,
        generation: u64,
        segment_vectors: u64,
    ) -> Result<AnnUpdate, AnnError> {
        let mut writer = Writer { dir, dimensions, generation, written: 0, segment_vectors };
        let (watermark, segments) = self.read_as(|tx| {
            let watermark: i64 =
                tx.query_row("SELECT coalesce(max(seq), 0) FROM chunk_changes", [], |r| r.get(0))?;
            Ok::<_, AnnError>((watermark, writer.build_range(tx, model, 0, None)?))
        })?;
        if segments.is_empty() {
            return self.remove_index(dir);
        }
        let vectors = segments.iter().map(|s| s.vectors).sum();
        let count = segments.len();
        let meta = AnnMeta {
            format: META_FORMAT,
            generation,
            model: model.to_owned(),
            dimensions,
            watermark,
            vectors,
            segments,
        };
        publish(dir, &meta)?;
        self.prune_changes(Some(watermark))?;
        tracing::info!(store = self.location(), vectors, segments = count, "ANN index built");
        Ok(AnnUpdate::Built { vectors, segments: count })
    }

    /// Brings the segments holding the rows changed since the watermark up to date (see
    /// [`Writer::update_segment`]); the others are kept as they are.
    fn extend(&self, dir: &Path, meta: AnnMeta, segment_vectors: u64) -> Result<AnnUpdate, AnnError> {
        let mut writer = Writer {
            dir,
            dimensions: meta.dimensions,
            generation: meta.generation + 1,
            written: 0,
            segment_vectors,
        };
        let mut added = 0u64;
        let (watermark, segments) = self.read_as(|tx| {
            let watermark: i64 =
                tx.query_row("SELECT coalesce(max(seq), 0) FROM chunk_changes", [], |r| r.get(0))?;
            let mut keys: Vec<u64> = pending_rows(tx, meta.watermark)?.into_iter().collect();
            keys.sort_unstable();
            let mut fetch = tx.prepare_cached(
                "SELECT vector FROM chunks WHERE id = ?1 AND model = ?2 AND dimensions = ?3",
            )?;
            let mut segments = Vec::with_capacity(meta.segments.len() + 1);
            let mut rest = keys.as_slice();
            for (i, segment) in meta.segments.iter().enumerate() {
                let end = meta.segments.get(i + 1).map(|s| s.first_row);
                let mine = match end {
                    Some(end) => rest.partition_point(|k| k.cast_signed() < end),
                    None => rest.len(),
                };
                let (these, later) = rest.split_at(mine);
                rest = later;
                if these.is_empty() {
                    segments.push(segment.clone());
                } else {
                    // The first segment's range reaches down to the lowest row id.
                    let first =
                        if segments.is_empty() { segment.first_row.min(0) } else { segment.first_row };
                    segments.extend(writer.update_segment(
                        tx,
                        &meta.model,
                        segment,
                        first,
                        end,
                        these,
                        &mut fetch,
                        &mut added,
                    )?);
                }
            }
            Ok::<_, AnnError>((watermark, segments))
        })?;
        if segments.is_empty() {
            return self.remove_index(dir);
        }
        let vectors = segments.iter().map(|s| s.vectors).sum();
        let segments_written = writer.written;
        let meta = AnnMeta { generation: writer.generation, watermark, vectors, segments, ..meta };
        publish(dir, &meta)?;
        self.prune_changes(Some(watermark))?;
        tracing::info!(store = self.location(), vectors, added, segments_written, "ANN index extended");
        Ok(AnnUpdate::Extended { vectors, added, segments_written })
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
        assert_eq!(store.update_ann_index().unwrap(), AnnUpdate::Built { vectors: chunks, segments: 1 });
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
        assert_eq!(store.rebuild_ann_index().unwrap(), AnnUpdate::Built { vectors: chunks, segments: 1 });
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
        assert_eq!(built.segments.len(), 1);
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
        // Past the limit the index is extended. With segments of at most `SEG` vectors, the
        // full first segment is kept as it is (its file too) and the new rows start a second.
        const SEG: u64 = 6_000;
        let limit = usize::try_from(PENDING_LIMIT).unwrap();
        store.index_batch("j6", &batch(&mut rng, "more", limit)).unwrap();
        let update = store.update_ann_index_in(SEG).unwrap();
        assert_eq!(
            update,
            AnnUpdate::Extended {
                vectors: BRUTE_FORCE_MAX_CHUNKS + 60 + PENDING_LIMIT,
                added: 50 + PENDING_LIMIT,
                segments_written: 1
            }
        );
        let extended = read_meta(dir.path()).unwrap();
        assert!(extended.watermark > built.watermark && extended.generation == built.generation + 1);
        assert_eq!(extended.segments.len(), 2);
        assert_eq!(extended.segments[0], built.segments[0], "the full segment is untouched");
        assert_eq!(extended.vectors, store.chunk_count(None).unwrap());
        let left: i64 =
            store.read(|tx| tx.query_row("SELECT count(*) FROM chunk_changes", [], |r| r.get(0))).unwrap();
        assert_eq!(left, 0, "the change log is pruned to the watermark");
        let view = open_view(dir.path(), "test", DIMS).unwrap();
        let rowid: i64 = store
            .read(|tx| tx.query_row("SELECT id FROM chunks WHERE chunk_id = 'new#7'", [], |r| r.get(0)))
            .unwrap();
        assert!(view.segments[1].contains(rowid.cast_unsigned()));
        assert!(!view.segments[0].contains(rowid.cast_unsigned()));
        assert_eq!(store.search_vector_of("test", &[9.0; DIMS], 1).unwrap()[0].chunk_id, "new#7");
        // Re-running a job replaces its rows: the old ones are never found again, though the
        // index still holds their vectors until the next update.
        let mut again = batch(&mut rng, "d0", 3);
        again.vectors[0] = vec![-9.0; DIMS];
        store.index_batch("j0", &again).unwrap();
        let all = store.search_vector_of("test", &[1.0; DIMS], 20_000).unwrap();
        assert_eq!(all.len() as u64, store.chunk_count(None).unwrap(), "each row once");
        assert_eq!(all.iter().filter(|h| h.job_id == "j0").count(), 3, "only j0's new rows");
        assert_eq!(store.search_vector_of("test", &[-9.0; DIMS], 1).unwrap()[0].chunk_id, "d0#0");
        // Past the limit again, with deletions among the changes: the first segment (which
        // held j0's old rows) is built anew; the last is extended, and split past `SEG`.
        store.index_batch("j7", &batch(&mut rng, "last", limit)).unwrap();
        assert!(matches!(store.update_ann_index_in(SEG).unwrap(), AnnUpdate::Extended { .. }));
        let rebuilt = read_meta(dir.path()).unwrap();
        assert!(rebuilt.valid());
        assert_eq!(rebuilt.generation, extended.generation + 1);
        assert_eq!(rebuilt.vectors, store.chunk_count(None).unwrap(), "deleted rows are out");
        assert_ne!(rebuilt.segments[0].file, extended.segments[0].file, "the first segment is built anew");
        assert!(rebuilt.segments.iter().all(|s| s.vectors <= SEG), "{:?}", rebuilt.segments);
        let files = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".usearch"));
        assert_eq!(files.count(), rebuilt.segments.len(), "older files are removed");
        assert_eq!(store.search_vector_of("test", &[9.0; DIMS], 1).unwrap()[0].chunk_id, "new#7");
        assert_eq!(store.search_vector_of("test", &[-9.0; DIMS], 1).unwrap()[0].chunk_id, "d0#0");
        // The segments answer as brute force does on most of the top 10.
        let mut q = Rng(12);
        let (mut found, mut wanted) = (0, 0);
        for _ in 0..50 {
            let v = query(&mut q);
            let exact = store.search_vector_brute_force("test", &v, 10).unwrap();
            let approx = store.search_vector_of("test", &v, 10).unwrap();
            wanted += exact.len();
            found += exact.iter().filter(|e| approx.contains(e)).count();
        }
        assert!(found as f64 >= 0.95 * wanted as f64, "recall {found}/{wanted}");
        // A concurrent updater holding the lock makes the others skip, not wait.
        let held = try_lock(dir.path()).unwrap().unwrap();
        assert_eq!(store.update_ann_index().unwrap(), AnnUpdate::Busy);
        drop(held);
        assert!(matches!(store.update_ann_index().unwrap(), AnnUpdate::Unchanged { pending: 0, .. }));
    }

    #[test]
    fn an_index_in_segments_is_deterministic_and_recalls_as_one_graph() {
        let dir = tempfile::tempdir().unwrap();
        let store = big_store(dir.path());
        let chunks = store.chunk_count(None).unwrap();
        assert_eq!(
            store.rebuild_ann_index_in(1_500).unwrap(),
            AnnUpdate::Built { vectors: chunks, segments: 6 }
        );
        let meta = read_meta(dir.path()).unwrap();
        assert!(meta.valid());
        assert_eq!(
            meta.segments.iter().map(|s| s.vectors).collect::<Vec<_>>(),
            [1500, 1500, 1500, 1500, 1500, 500]
        );
        let answers = |store: &Store| {
            let mut rng = Rng(21);
            (0..100)
                .map(|_| store.search_vector_of("test", &query(&mut rng), 10).unwrap())
                .collect::<Vec<_>>()
        };
        let first = answers(&store);
        let mut rng = Rng(21);
        let (mut found, mut wanted) = (0, 0);
        for approx in &first {
            let exact = store.search_vector_brute_force("test", &query(&mut rng), 10).unwrap();
            wanted += exact.len();
            found += exact.iter().filter(|e| approx.contains(e)).count();
        }
        assert!(found as f64 >= 0.95 * wanted as f64, "recall {found}/{wanted}");
        // Built again (segments built two at a time, each by one thread): the same answers.
        assert!(matches!(store.rebuild_ann_index_in(1_500).unwrap(), AnnUpdate::Built { segments: 6, .. }));
        assert_eq!(answers(&Store::open(dir.path()).unwrap()), first);
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
        assert_eq!(store.rebuild_ann_index().unwrap(), AnnUpdate::Built { vectors: 20, segments: 1 });
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
