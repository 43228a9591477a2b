//! # stage-types
//!
//! The state types stages share through the run state: [`Record`], [`Document`] (with its
//! [`Section`]s), [`Chunk`], [`EmbeddingBatch`], [`IndexReceipt`], [`Entity`], [`Claim`],
//! [`GraphReceipt`], [`DownloadedFile`]. Every type is a plain serde type: it is stored in run
//! reports and read back when a stored run resumes.
//!
//! A crate of its own so that a plugin reading or writing these types (the example
//! `deid-plugin` reads and writes `chunks`) builds without the built-in stages' dependencies
//! (SQLite, TLS, XML, the embedding model): it depends on `stage-core`, `serde` and
//! `serde_json` only. `stages-builtin` re-exports every type, so `stages_builtin::Chunk` and
//! `stages_builtin::types::Chunk` are this crate's `Chunk`, and a stage written against either
//! path binds to the other's outputs.
//!
//! [`Document`] is also the framework's document format on disk: the external converter of a
//! two-phase pipeline writes a `Document` as JSON and names it in the ledger (`pdf_ir_path`).
//!
//! ```
//! use stage_types::{Chunk, Document, Section};
//!
//! let doc: Document = serde_json::from_str(
//!     r#"{"id": "PMC1", "title": "T", "sections": [{"title": "", "paragraphs": ["p"]}]}"#,
//! ).unwrap();
//! assert_eq!(doc.sections, [Section { title: String::new(), paragraphs: vec!["p".into()] }]);
//! let chunk = Chunk { id: "PMC1#0".into(), doc_id: doc.id, index: 0, section: String::new(), text: "T".into() };
//! assert_eq!(chunk.doc_id, "PMC1");
//! ```

use serde::{Deserialize, Serialize};
use stage_core::OutputCount;

/// One record an adapter read (`payloads`): a study, a work, an article, a paper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The source that served it (`openalex`, `pmc`, ...).
    pub source: String,
    /// The record's identifier in its source (NCT number, OpenAlex id, PMCID, paper id).
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its abstract, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abstract_text: Option<String>,
    /// Its body, as titled sections of paragraphs (full-text sources).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<Section>,
    /// Author names, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    /// Publication (or start) year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    /// DOI, without the `https://doi.org/` prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doi: Option<String>,
    /// The record's PDF link, when its source has one (contract §4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf_url: Option<String>,
    /// The record as its source gave it (JSON; JATS XML sources give a JSON summary), for
    /// download URL extractors that name a path in it.
    #[serde(default)]
    pub raw: serde_json::Value,
}

/// A titled section of paragraphs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// The heading (empty for an untitled section).
    pub title: String,
    /// The paragraphs, in order.
    pub paragraphs: Vec<String>,
}

/// A parsed document (`document`): the framework's document format.
///
/// ```json
/// {"id": "PMC123", "title": "...", "source": "pmc", "metadata": {"doi": "..."},
///  "sections": [{"title": "Abstract", "paragraphs": ["..."]}]}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The document's identifier (the job's `doc_id`, else its first record's id).
    pub id: String,
    /// Its title.
    pub title: String,
    /// The source it came from.
    #[serde(default)]
    pub source: String,
    /// Metadata from the records (authors, year, doi, record ids, ...).
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Its sections.
    pub sections: Vec<Section>,
}

impl OutputCount for Document {
    fn output_count(&self) -> u64 {
        1
    }
}

/// A retrieval chunk of a document (`chunks` holds a `Vec<Chunk>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// `<document id>#<index>`.
    pub id: String,
    /// The document's identifier.
    pub doc_id: String,
    /// Position in the document, from 0.
    pub index: usize,
    /// The section heading it came from.
    pub section: String,
    /// The text.
    pub text: String,
}

/// Vectors for chunks (`embedding_batch`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingBatch {
    /// The embedder's name (for example `feature-hashing-256`).
    pub model: String,
    /// Vector length.
    pub dimensions: usize,
    /// One vector per chunk, in chunk order.
    pub vectors: Vec<Vec<f32>>,
    /// The chunks embedded, in order (the index stores their text).
    pub chunks: Vec<Chunk>,
}

impl OutputCount for EmbeddingBatch {
    fn output_count(&self) -> u64 {
        self.vectors.len() as u64
    }
}

/// What the index stage wrote (`index_receipt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexReceipt {
    /// Chunks written.
    pub chunks_indexed: u64,
    /// The document they belong to.
    pub doc_id: String,
    /// The store they were written to.
    pub store: String,
}

impl OutputCount for IndexReceipt {
    fn output_count(&self) -> u64 {
        self.chunks_indexed
    }
}

/// A named entity (`entities` holds a `Vec<Entity>`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entity {
    /// Stable identifier: `<kind>:<normalized name>`.
    pub id: String,
    /// The name as found.
    pub name: String,
    /// Its kind (`drug`, `disease`, `gene`, `trial`, ...).
    pub kind: String,
}

/// A claim linking two entities (`claims` holds a `Vec<Claim>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// The subject entity's id.
    pub subject: String,
    /// The relation (`treats`, `inhibits`, `associated_with`, ...).
    pub predicate: String,
    /// The object entity's id.
    pub object: String,
    /// The sentence it was found in.
    pub evidence: String,
    /// The chunk it was found in, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_id: Option<String>,
}

/// What the knowledge-graph stage wrote (`graph_receipt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphReceipt {
    /// Nodes written.
    pub nodes_written: u64,
    /// Edges written.
    pub edges_written: u64,
    /// The store they were written to.
    pub store: String,
}

impl OutputCount for GraphReceipt {
    fn output_count(&self) -> u64 {
        self.nodes_written
    }
}

/// A file the download stage fetched (`downloaded_files` holds a `Vec<DownloadedFile>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadedFile {
    /// The URL it was fetched from (after redirects, the one asked for).
    pub url: String,
    /// Where it was written.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// The response's content type, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}
