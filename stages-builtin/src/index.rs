//! The `index` stage and the retrieval queries of the [`Store`].
//!
//! `index` writes every chunk of an [`EmbeddingBatch`] (text, position, section, document, job)
//! with its vector into the store, in one transaction that first deletes what the job wrote
//! before: running a job again replaces its chunks (one copy per job, contract §2), and a
//! failed or abandoned write leaves the previous copy whole.
//!
//! # One model per store
//!
//! Every stored vector keeps the name and length of the model that made it (`chunks.model`,
//! `chunks.dimensions`). A store holds the vectors of one model only: indexing a batch of
//! another model (or length) into a store that holds other jobs' vectors fails with
//! [`IndexError::ModelMismatch`] and writes nothing (a job indexed again replaces its own
//! vectors first, so a store holding only that job's vectors may change model). Vectors of two
//! models are not comparable; index them into separate stores.
//!
//! # Queries, and what they cost
//!
//! * [`Store::search_text`]: FTS5, ranked by bm25. SQLite keeps the top `limit` in a bounded
//!   sorter (`ORDER BY rank LIMIT k`), so memory is O(k) and only the `k` winners' rows are
//!   read in full; but bm25 needs every matching row's term frequencies, so **every match is
//!   scored**: O(matches) time. FTS5 has no early termination (no block-max WAND index), so a
//!   query of common words over a large store costs what its matches cost; rare words are
//!   cheap whatever the store's size.
//! * [`Store::search_vector_of`] (and [`Store::search_vector`]): cosine similarity. Below
//!   [`ann::BRUTE_FORCE_MAX_CHUNKS`] chunks, or without an ANN index, every vector is scored
//!   in place from its stored bytes (no allocation per row) and a bounded heap keeps the best
//!   `limit` (O(n) time, O(k) memory). Past it, the [`ann`] index (HNSW, memory-mapped) finds
//!   the candidates, re-scored exactly, merged with the rows changed since the index was last
//!   extended. [`Store::search_vector_brute_force`] always scans (for measuring recall).
//! * [`Store::vector_models`] (the model to embed queries with; a few index probes) and
//!   [`Store::chunk_count`].
//!
//! Equal scores come out in chunk id, then job id order, whichever path answered.

use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use stage_core::{stage, StageContext};

use crate::store::{Store, StoreError};
use crate::types::{EmbeddingBatch, IndexReceipt};

pub mod ann;
mod topk;

use topk::{QueryVector, TopK};

/// Why the index stage failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The batch has a different number of vectors and chunks.
    #[error("the embedding batch has {vectors} vectors for {chunks} chunks")]
    CountMismatch {
        /// Chunks in the batch.
        chunks: usize,
        /// Vectors in the batch.
        vectors: usize,
    },
    /// A vector's length is not the batch's `dimensions`.
    #[error("chunk `{chunk_id}` has a vector of length {found}, but the batch says {expected} dimensions")]
    Dimensions {
        /// The chunk.
        chunk_id: String,
        /// The batch's `dimensions`.
        expected: usize,
        /// The vector's length.
        found: usize,
    },
    /// A vector holds NaN or an infinity.
    #[error("chunk `{chunk_id}` has a vector with a value that is not finite")]
    NotFinite {
        /// The chunk.
        chunk_id: String,
    },
    /// The store holds vectors of another model (or length); nothing was written.
    #[error(
        "{store} holds vectors of model `{stored_model}` ({stored_dimensions} dimensions), but this batch is \
         `{model}` ({dimensions} dimensions): a store holds one model's vectors. Index into another store \
         (`--store`), or set the embed stage's `model` to the store's"
    )]
    ModelMismatch {
        /// The store's location.
        store: String,
        /// The model of the vectors already stored.
        stored_model: String,
        /// Their length.
        stored_dimensions: usize,
        /// The batch's model.
        model: String,
        /// The batch's length.
        dimensions: usize,
    },
    /// The runtime abandoned the attempt; nothing was written.
    #[error("cancelled before the index was written; nothing was written")]
    Cancelled,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for IndexError {
    fn from(e: rusqlite::Error) -> Self {
        IndexError::Store(e.into())
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The chunk's id (`<document id>#<index>`).
    pub chunk_id: String,
    /// Its document.
    pub doc_id: String,
    /// The job that indexed it.
    pub job_id: String,
    /// Its text.
    pub text: String,
    /// Higher is better: the negated bm25 rank for text search, the cosine similarity
    /// (−1 to 1) for vector search.
    pub score: f64,
}

/// Encodes a vector as stored: its `f32`s, little-endian, one after the other.
pub fn encode_vector(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Decodes a stored vector (see [`encode_vector`]); trailing bytes that do not make a whole
/// `f32` are ignored.
pub fn decode_vector(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// Turns a user's query into an FTS5 query that cannot be a syntax error: its words (split at
/// white space, ASCII punctuation and control characters; words with no letter or digit are
/// dropped), each quoted, joined with `OR` (bm25 ranks chunks matching more of them first).
/// `None` when no word is left. At most 64 words are kept.
pub(crate) fn fts_query(query: &str) -> Option<String> {
    let words: Vec<String> = query
        .split(|c: char| c.is_whitespace() || c.is_ascii_punctuation() || c.is_control())
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .take(64)
        .map(|w| format!("\"{w}\""))
        .collect();
    (!words.is_empty()).then(|| words.join(" OR "))
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The distinct `(model, dimensions)` of the stored chunks, sorted: a skip scan of the
/// `chunks (model, dimensions)` index, a few probes whatever the store's size.
fn models_in(tx: &Transaction<'_>) -> rusqlite::Result<Vec<(String, usize)>> {
    // Two seeks per step: the next length of the same model, else the next model. (One query
    // with `model > ?1 OR (model = ?1 AND dimensions > ?2)`, or the row value
    // `(model, dimensions) > (?1, ?2)`, seeks only on `model` and then reads every row of the
    // current model: one scan of the table's index per indexed job, measured as most of a
    // job's time in a store of 19,000 chunks.)
    let mut first = tx.prepare_cached(
        "SELECT model, dimensions FROM chunks INDEXED BY chunks_by_model ORDER BY model, dimensions LIMIT 1",
    )?;
    let mut same_model = tx.prepare_cached(
        "SELECT model, dimensions FROM chunks INDEXED BY chunks_by_model
         WHERE model = ?1 AND dimensions > ?2 ORDER BY dimensions LIMIT 1",
    )?;
    let mut next_model = tx.prepare_cached(
        "SELECT model, dimensions FROM chunks INDEXED BY chunks_by_model
         WHERE model > ?1 ORDER BY model, dimensions LIMIT 1",
    )?;
    let row = |r: &rusqlite::Row<'_>| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?));
    let mut found = Vec::new();
    let mut current = first.query_row([], row).optional()?;
    while let Some((model, dimensions)) = current {
        current = match same_model.query_row(params![model, dimensions], row).optional()? {
            Some(next) => Some(next),
            None => next_model.query_row([&model], row).optional()?,
        };
        found.push((model, usize::try_from(dimensions).unwrap_or(0)));
    }
    Ok(found)
}

impl Store {
    /// Replaces job `job_id`'s chunks with those of `batch`, in one transaction; returns the
    /// number of chunks the job now has (a chunk id repeated in the batch is stored once, the
    /// last one winning).
    pub fn index_batch(&self, job_id: &str, batch: &EmbeddingBatch) -> Result<u64, IndexError> {
        self.index_batch_unless(job_id, batch, &|| false)
    }

    fn index_batch_unless(
        &self,
        job_id: &str,
        batch: &EmbeddingBatch,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<u64, IndexError> {
        if batch.vectors.len() != batch.chunks.len() {
            return Err(IndexError::CountMismatch {
                chunks: batch.chunks.len(),
                vectors: batch.vectors.len(),
            });
        }
        for (chunk, vector) in batch.chunks.iter().zip(&batch.vectors) {
            if vector.len() != batch.dimensions {
                return Err(IndexError::Dimensions {
                    chunk_id: chunk.id.clone(),
                    expected: batch.dimensions,
                    found: vector.len(),
                });
            }
            if !vector.iter().all(|x| x.is_finite()) {
                return Err(IndexError::NotFinite { chunk_id: chunk.id.clone() });
            }
        }
        let location = self.location().to_owned();
        self.write(|tx| {
            tx.execute("DELETE FROM chunks WHERE job_id = ?1", [job_id])?;
            if !batch.chunks.is_empty() {
                let other = models_in(tx)?
                    .into_iter()
                    .find(|(m, d)| *m != batch.model || *d != batch.dimensions);
                if let Some((stored_model, stored_dimensions)) = other {
                    return Err(IndexError::ModelMismatch {
                        store: location,
                        stored_model,
                        stored_dimensions,
                        model: batch.model.clone(),
                        dimensions: batch.dimensions,
                    });
                }
            }
            {
                let mut insert = tx.prepare(
                    "INSERT INTO chunks (job_id, chunk_id, doc_id, position, section, text, model, dimensions, vector)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (job_id, chunk_id) DO UPDATE SET
                         doc_id = excluded.doc_id, position = excluded.position, section = excluded.section,
                         text = excluded.text, model = excluded.model, dimensions = excluded.dimensions,
                         vector = excluded.vector",
                )?;
                for (chunk, vector) in batch.chunks.iter().zip(&batch.vectors) {
                    insert.execute(params![
                        job_id,
                        chunk.id,
                        chunk.doc_id,
                        to_i64(chunk.index),
                        chunk.section,
                        chunk.text,
                        batch.model,
                        to_i64(batch.dimensions),
                        encode_vector(vector),
                    ])?;
                }
            }
            if cancelled() {
                return Err(IndexError::Cancelled);
            }
            let n: i64 = tx.query_row("SELECT count(*) FROM chunks WHERE job_id = ?1", [job_id], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
    }

    /// Full-text search: the `limit` chunks that best match `query`'s words, best first (bm25;
    /// ties by chunk id, then job id). Any text is a valid query: punctuation is ignored, and a
    /// query with no word finds nothing.
    ///
    /// Cost: every match is scored (bm25 needs each one's term frequencies) and kept in
    /// SQLite's bounded sorter (O(k) memory) with its ids only; the texts of the `limit`
    /// winners alone are read afterwards.
    pub fn search_text(&self, query: &str, limit: usize) -> Result<Vec<Hit>, StoreError> {
        let Some(fts) = fts_query(query) else { return Ok(Vec::new()) };
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT c.id, c.chunk_id, c.job_id, bm25(chunks_fts) AS rank
                 FROM chunks_fts JOIN chunks AS c ON c.id = chunks_fts.rowid
                 WHERE chunks_fts MATCH ?1
                 ORDER BY rank, c.chunk_id, c.job_id
                 LIMIT ?2",
            )?;
            let top = stmt
                .query_map(params![fts, to_i64(limit)], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, f64>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut fetch = tx.prepare_cached("SELECT doc_id, text FROM chunks WHERE id = ?1")?;
            let mut hits = Vec::with_capacity(top.len());
            for (id, chunk_id, job_id, rank) in top {
                let (doc_id, text) = fetch.query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
                hits.push(Hit { chunk_id, doc_id, job_id, text, score: -rank });
            }
            Ok(hits)
        })
    }

    /// Nearest chunks to `vector` by cosine similarity, best first (ties by chunk id, then job
    /// id); a brute-force scan of the stored vectors of the same length (others are skipped).
    /// [`Store::search_vector_of`] also checks the model, and uses the ANN index.
    pub fn search_vector(&self, vector: &[f32], limit: usize) -> Result<Vec<Hit>, StoreError> {
        self.search_vectors(None, vector, limit)
    }

    /// As [`Store::search_vector`], over the vectors of model `model` only (a query vector
    /// must come from the same model as the vectors it is compared with). Uses the store's ANN
    /// index when it has one for this model and length ([`ann`]; approximate: recall@10 ≥ 0.95
    /// against [`Store::search_vector_brute_force`], with exact scores), a scan otherwise.
    pub fn search_vector_of(
        &self,
        model: &str,
        vector: &[f32],
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        self.search_vectors(Some(model), vector, limit)
    }

    /// The models of the stored vectors with their lengths, sorted (one at most, unless the
    /// store was written before models were checked); empty when nothing is indexed.
    pub fn vector_models(&self) -> Result<Vec<(String, usize)>, StoreError> {
        self.read(models_in)
    }

    /// As [`Store::search_vector_of`], always by brute force (every stored vector of `model`
    /// scored): the exact answer the ANN index approximates, for measuring its recall.
    pub fn search_vector_brute_force(
        &self,
        model: &str,
        vector: &[f32],
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read(|tx| {
            let mut top = TopK::new(limit);
            scan(tx, Some(model), vector, &mut top)?;
            finish(tx, top)
        })
    }

    fn search_vectors(
        &self,
        model: Option<&str>,
        vector: &[f32],
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let view = match (model, self.path().and_then(std::path::Path::parent)) {
            (Some(m), Some(dir)) => ann::open_view(dir, m, vector.len()),
            _ => None,
        };
        self.read(|tx| {
            let mut top = TopK::new(limit);
            if let (Some(view), Some(m)) = (&view, model) {
                match ann::search(tx, view, m, vector, limit, &mut top)? {
                    Ok(()) => return finish(tx, top),
                    Err(message) => {
                        tracing::warn!(store = self.location(), %message, "ANN search failed: brute force");
                        top = TopK::new(limit);
                    }
                }
            }
            scan(tx, model, vector, &mut top)?;
            finish(tx, top)
        })
    }

    /// The number of chunks indexed, for one job or (`None`) for all.
    pub fn chunk_count(&self, job_id: Option<&str>) -> Result<u64, StoreError> {
        let n: i64 = self.read(|tx| match job_id {
            Some(job) => tx.query_row("SELECT count(*) FROM chunks WHERE job_id = ?1", [job], |r| r.get(0)),
            None => tx.query_row("SELECT count(*) FROM chunks", [], |r| r.get(0)),
        })?;
        Ok(n.max(0) as u64)
    }
}

/// Scores every stored vector of `vector`'s length (and of `model`, when given) against it,
/// in place, offering each to `top`.
fn scan(tx: &Transaction<'_>, model: Option<&str>, vector: &[f32], top: &mut TopK) -> rusqlite::Result<()> {
    let q = QueryVector::new(vector);
    let mut stmt = tx.prepare_cached(
        "SELECT id, chunk_id, job_id, vector FROM chunks
         WHERE dimensions = ?1 AND (?2 IS NULL OR model = ?2)",
    )?;
    let mut rows = stmt.query(params![to_i64(vector.len()), model])?;
    while let Some(row) = rows.next()? {
        if let Some(score) = q.cosine_le_bytes(row.get_ref(3)?.as_blob()?) {
            top.offer(score, row.get_ref(1)?.as_str()?, row.get_ref(2)?.as_str()?, row.get(0)?);
        }
    }
    Ok(())
}

/// The hits of the kept candidates, best first (their documents and texts read now).
fn finish(tx: &Transaction<'_>, top: TopK) -> rusqlite::Result<Vec<Hit>> {
    let mut fetch = tx.prepare_cached("SELECT doc_id, text FROM chunks WHERE id = ?1")?;
    let mut hits = Vec::new();
    for s in top.into_sorted() {
        let found: Option<(String, String)> =
            fetch.query_row([s.rowid], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        if let Some((doc_id, text)) = found {
            hits.push(Hit { chunk_id: s.chunk_id, doc_id, job_id: s.job_id, text, score: s.score });
        }
    }
    Ok(hits)
}

/// Writes the batch's chunks, their text (searchable) and their vectors into the store,
/// replacing what this job indexed before; counts the chunks indexed.
#[stage(type = "index", state_key = "index_receipt")]
pub fn index(
    ctx: &StageContext,
    embedding_batch: &EmbeddingBatch,
    #[resource] store: &Store,
) -> Result<IndexReceipt, IndexError> {
    if ctx.is_cancelled() {
        return Err(IndexError::Cancelled);
    }
    let job = ctx.job();
    let chunks_indexed = store.index_batch_unless(&job.job_id, embedding_batch, &|| ctx.is_cancelled())?;
    let doc_id = embedding_batch
        .chunks
        .first()
        .map(|c| c.doc_id.clone())
        .or_else(|| job.doc_id.clone())
        .unwrap_or_default();
    tracing::debug!(job = %job.job_id, chunks_indexed, store = store.location(), "indexed");
    // The chunks are written: an index that cannot be updated only makes queries scan more
    // rows (they never miss any), so it is a warning, not a failed job.
    match store.update_ann_index() {
        Ok(update) => tracing::debug!(job = %job.job_id, ?update, "ANN index"),
        Err(e) => tracing::warn!(job = %job.job_id, error = %e, "the ANN index was not updated"),
    }
    Ok(IndexReceipt { chunks_indexed, doc_id, store: store.location().to_owned() })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use stage_core::Job;

    use super::*;
    use crate::types::Chunk;

    fn batch(doc: &str, texts: &[&str]) -> EmbeddingBatch {
        let chunks: Vec<Chunk> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Chunk {
                id: format!("{doc}#{i}"),
                doc_id: doc.to_owned(),
                index: i,
                section: "Body".to_owned(),
                text: (*t).to_owned(),
            })
            .collect();
        let vectors = (0..chunks.len()).map(|i| vec![i as f32, 1.0, 0.0]).collect();
        EmbeddingBatch { model: "test".to_owned(), dimensions: 3, vectors, chunks }
    }

    #[test]
    fn fts_query_is_always_valid() {
        assert_eq!(fts_query("aspirin"), Some("\"aspirin\"".to_owned()));
        assert_eq!(
            fts_query("  \"NOT\" (a* OR b) :-) "),
            Some("\"NOT\" OR \"a\" OR \"OR\" OR \"b\"".to_owned())
        );
        assert_eq!(fts_query("?!-- ... — “ ”"), None);
        assert_eq!(fts_query(""), None);
        let store = Store::in_memory().unwrap();
        store.index_batch("j", &batch("d", &["Aspirin reduces fever.", "Naïve café"])).unwrap();
        let nasty = [
            "\"",
            "'",
            "(",
            ")",
            "*",
            ":",
            "^",
            "-",
            "+",
            "NEAR(",
            "a AND",
            "OR",
            "NOT",
            "{x}",
            "col:aspirin",
            "é—x",
            "“aspirin”",
            "\u{0}",
            "AND OR NOT",
            "a\"b",
            "#1",
            "\u{301}",
            "x\u{301}y",
        ];
        for q in nasty {
            store.search_text(q, 5).unwrap_or_else(|e| panic!("{q:?}: {e}"));
        }
        assert_eq!(store.search_text("“aspirin”!!", 5).unwrap().len(), 1);
        assert_eq!(store.search_text("naive cafe", 5).unwrap()[0].chunk_id, "d#1");
        assert_eq!(store.search_text("fevers", 5).unwrap()[0].chunk_id, "d#0", "porter stemming");
    }

    /// The order of the implementation before the bounded top-k: every match fetched, then
    /// sorted by (bm25, chunk id, job id) and cut.
    fn full_sort(store: &Store, query: &str, limit: usize) -> Vec<(String, String, f64)> {
        let fts = fts_query(query).unwrap();
        let mut all: Vec<(String, String, f64)> = store
            .read(|tx| {
                let mut stmt = tx.prepare(
                    "SELECT c.chunk_id, c.job_id, bm25(chunks_fts) FROM chunks_fts
                     JOIN chunks AS c ON c.id = chunks_fts.rowid WHERE chunks_fts MATCH ?1",
                )?;
                let rows = stmt.query_map([fts], |r| Ok((r.get(0)?, r.get(1)?, -r.get::<_, f64>(2)?)))?;
                rows.collect()
            })
            .unwrap();
        all.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)).then_with(|| a.1.cmp(&b.1)));
        all.truncate(limit);
        all
    }

    #[test]
    fn text_top_k_equals_the_full_sort_ties_included() {
        let store = Store::in_memory().unwrap();
        let words = ["aspirin", "fever", "statin", "cholesterol", "metformin", "glucose", "trial", "dose"];
        let mut rng = topk::Rng(17);
        for job in 0..6 {
            // Few words per chunk, and the same texts in several jobs: many equal ranks.
            let texts: Vec<String> = (0..60)
                .map(|_| {
                    let n = 1 + (rng.next() % 4) as usize;
                    (0..n).map(|_| words[(rng.next() % 8) as usize]).collect::<Vec<_>>().join(" ")
                })
                .collect();
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            store.index_batch(&format!("j{}", job % 3), &batch(&format!("d{job}"), &texts)).unwrap();
        }
        for query in ["aspirin", "statin fever", "trial dose glucose", "metformin aspirin cholesterol fever"]
        {
            for limit in [1, 5, 17, 100, 10_000] {
                let got: Vec<(String, String, f64)> = store
                    .search_text(query, limit)
                    .unwrap()
                    .into_iter()
                    .map(|h| (h.chunk_id, h.job_id, h.score))
                    .collect();
                let want = full_sort(&store, query, limit);
                assert!(!want.is_empty());
                assert_eq!(got, want, "{query:?}, limit {limit}");
            }
        }
    }

    #[test]
    fn vectors_round_trip() {
        let v = [0.5f32, -1.25, f32::MIN_POSITIVE, 3.0e9];
        assert_eq!(decode_vector(&encode_vector(&v)), v);
        assert_eq!(encode_vector(&[1.0]), 1.0f32.to_le_bytes());
    }

    #[test]
    fn bad_batches_are_refused_and_write_nothing() {
        let store = Store::in_memory().unwrap();
        let mut b = batch("d", &["a", "b"]);
        b.vectors.pop();
        assert!(matches!(
            store.index_batch("j", &b),
            Err(IndexError::CountMismatch { chunks: 2, vectors: 1 })
        ));
        let mut b = batch("d", &["a"]);
        b.vectors[0].push(1.0);
        assert!(matches!(
            store.index_batch("j", &b),
            Err(IndexError::Dimensions { expected: 3, found: 4, .. })
        ));
        let mut b = batch("d", &["a"]);
        b.vectors[0][0] = f32::NAN;
        assert!(matches!(store.index_batch("j", &b), Err(IndexError::NotFinite { .. })));
        assert_eq!(store.chunk_count(None).unwrap(), 0);
    }

    #[test]
    fn cancelled_write_keeps_the_previous_copy() {
        let store = Store::in_memory().unwrap();
        store.index_batch("j", &batch("d", &["one", "two"])).unwrap();
        let r = store.index_batch_unless("j", &batch("d", &["three"]), &|| true);
        assert!(matches!(r, Err(IndexError::Cancelled)));
        assert_eq!(store.chunk_count(Some("j")).unwrap(), 2);
        assert_eq!(store.search_text("two", 5).unwrap().len(), 1);
        assert!(store.search_text("three", 5).unwrap().is_empty());
    }

    #[test]
    fn repeated_chunk_ids_are_stored_once() {
        let store = Store::in_memory().unwrap();
        let mut b = batch("d", &["first", "second"]);
        b.chunks[1].id = b.chunks[0].id.clone();
        assert_eq!(store.index_batch("j", &b).unwrap(), 1);
        assert!(store.search_text("first", 5).unwrap().is_empty());
        assert_eq!(store.search_text("second", 5).unwrap().len(), 1);
    }

    #[test]
    fn stage_writes_a_receipt() {
        let store = Store::in_memory().unwrap();
        let ctx = StageContext::new(Arc::new(Job::new("job-1", "pmc")), "index", "index");
        let receipt = index(&ctx, &batch("PMC1", &["alpha", "beta", "gamma"]), &store).unwrap();
        assert_eq!(
            receipt,
            IndexReceipt { chunks_indexed: 3, doc_id: "PMC1".to_owned(), store: ":memory:".to_owned() }
        );
        let mut job = Job::new("job-2", "pmc");
        job.doc_id = Some("D2".to_owned());
        let ctx = StageContext::new(Arc::new(job), "index", "index");
        let receipt = index(&ctx, &batch("x", &[]), &store).unwrap();
        assert_eq!((receipt.chunks_indexed, receipt.doc_id.as_str()), (0, "D2"));
    }

    #[test]
    fn a_store_holds_one_models_vectors() {
        let store = Store::in_memory().unwrap();
        assert!(store.vector_models().unwrap().is_empty());
        store.index_batch("j1", &batch("a", &["alpha"])).unwrap();
        let mut other = batch("b", &["beta", "gamma"]);
        other.model = "other".to_owned();
        let err = store.index_batch("j2", &other).unwrap_err();
        assert!(
            matches!(&err, IndexError::ModelMismatch { stored_model, stored_dimensions: 3, model, dimensions: 3, .. }
                if stored_model == "test" && model == "other"),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(":memory:") && msg.contains("`test`") && msg.contains("`other`"), "{msg}");
        // Same name, other length: refused too.
        let mut longer = batch("b", &["beta"]);
        longer.vectors[0].push(0.0);
        longer.dimensions = 4;
        assert!(matches!(
            store.index_batch("j2", &longer),
            Err(IndexError::ModelMismatch { dimensions: 4, .. })
        ));
        assert_eq!(store.chunk_count(None).unwrap(), 1, "nothing written");
        // An empty batch of another model writes nothing and is no conflict.
        let mut empty = batch("b", &[]);
        empty.model = "other".to_owned();
        assert_eq!(store.index_batch("j2", &empty).unwrap(), 0);
        // The only job may change model: its own vectors are replaced.
        other.chunks.truncate(1);
        other.vectors.truncate(1);
        assert_eq!(store.index_batch("j1", &other).unwrap(), 1);
        assert_eq!(store.vector_models().unwrap(), [("other".to_owned(), 3)]);
        assert_eq!(store.search_vector_of("other", &[0.0, 1.0, 0.0], 5).unwrap().len(), 1);
        assert!(store.search_vector_of("test", &[0.0, 1.0, 0.0], 5).unwrap().is_empty());
    }

    #[test]
    fn the_models_of_a_mixed_store_are_listed_each_once_in_order() {
        // Written before models were checked: rows of several models and lengths.
        let store = Store::in_memory().unwrap();
        store
            .write(|tx| {
                for (i, (model, dims)) in
                    [("b", 2), ("a", 5), ("a", 3), ("b", 2), ("a", 3), ("c", 1), ("a", 5)].iter().enumerate()
                {
                    tx.execute(
                        "INSERT INTO chunks (job_id, chunk_id, doc_id, position, section, text, model, dimensions, vector)
                         VALUES ('j', ?1, 'd', 0, 's', 't', ?2, ?3, x'')",
                        params![format!("c{i}"), model, dims],
                    )?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let models = store.vector_models().unwrap();
        let expected = [("a", 3), ("a", 5), ("b", 2), ("c", 1)].map(|(m, d)| (m.to_owned(), d));
        assert_eq!(models, expected);
    }

    #[test]
    fn vector_ties_break_by_chunk_id_and_limit_applies() {
        let store = Store::in_memory().unwrap();
        let mut b = batch("d", &["a", "b", "c"]);
        b.vectors = vec![vec![1.0, 0.0, 0.0]; 3];
        store.index_batch("j", &b).unwrap();
        let hits = store.search_vector(&[2.0, 0.0, 0.0], 2).unwrap();
        let ids: Vec<&str> = hits.iter().map(|h| h.chunk_id.as_str()).collect();
        assert_eq!(ids, ["d#0", "d#1"]);
        assert!(store.search_vector(&[1.0, 0.0], 5).unwrap().is_empty(), "other lengths are skipped");
        assert!(store.search_vector(&[1.0, 0.0, 0.0], 0).unwrap().is_empty());
    }
}
