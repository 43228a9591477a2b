//! The built-in stages, written as ordinary users of `#[stage]`: the core never names them.
//!
//! | type | reads | writes | count |
//! |---|---|---|---|
//! | `ingest` | adapter request | `payloads` | records |
//! | `parse` | `payloads`, `document` (optional) | `document` | 1 |
//! | `ir-validation` | `document` | `document` | 1 |
//! | `chunk` | `document` | `chunks` | chunks |
//! | `embed` | `chunks` | `embedding_batch` | vectors |
//! | `index` | `embedding_batch` | `index_receipt` | chunks indexed |
//! | `extract` | `document` | `entities`, `claims` | entities + claims |
//! | `knowledge-graph` | `entities`, `claims` | `graph_receipt` | nodes written |
//! | `download` | `payloads` | `downloaded_files` | files downloaded |
//! | `gate` | the ledger | `document` when delivered | documents delivered |
//!
//! Link this crate (`use stages_builtin as _;`) and its stages are in
//! `StageRegistry::global()`.

pub mod checkpoint;
pub mod chunk;
pub mod download;
pub mod embed;
pub mod extract;
pub mod fusion;
pub mod gate;
pub mod graph;
pub mod index;
pub mod ingest;
pub mod ledger;
pub mod parse;
pub mod store;
pub mod types;
pub mod validate;

pub use types::*;

/// Every stage type this crate registers, for `StageRegistry::require`.
pub const STAGE_TYPES: &[&str] = &[
    "chunk",
    "download",
    "embed",
    "extract",
    "gate",
    "index",
    "ingest",
    "ir-validation",
    "knowledge-graph",
    "parse",
];
