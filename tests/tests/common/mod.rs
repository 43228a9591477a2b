//! Stand-ins for the built-in stage types, with the contract's keys and types (§4). Each test
//! binary that declares `mod common;` registers them in its own global registry.
#![allow(dead_code, reason = "shared by several test binaries, each using a part")]

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stage_core::spec::{Eval, FieldRef};
use stage_core::{stage, OutputCount, StageContext};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Document {
    pub(crate) title: String,
    pub(crate) paragraphs: Vec<String>,
}
impl OutputCount for Document {
    fn output_count(&self) -> u64 {
        1
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EmbeddingBatch {
    pub(crate) vectors: Vec<Vec<f32>>,
    pub(crate) model: String,
}
impl OutputCount for EmbeddingBatch {
    fn output_count(&self) -> u64 {
        self.vectors.len() as u64
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IndexReceipt {
    pub(crate) chunks_indexed: u64,
}
impl OutputCount for IndexReceipt {
    fn output_count(&self) -> u64 {
        self.chunks_indexed
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GraphReceipt {
    pub(crate) nodes_written: u64,
    pub(crate) edges_written: u64,
}
impl OutputCount for GraphReceipt {
    fn output_count(&self) -> u64 {
        self.nodes_written
    }
}

/// Stand-in: two records from the adapter request.
#[stage(type = "ingest", state_key = "payloads")]
pub(crate) fn ingest(adapter_request: &Value, #[config] _cfg: &Value) -> Vec<Value> {
    vec![
        json!({"id": 1, "title": "Aspirin and COX", "req": adapter_request}),
        json!({"id": 2, "title": "Statins"}),
    ]
}

/// Stand-in: a document from the records, or the delivered one enriched.
#[stage(type = "parse", state_key = "document")]
pub(crate) fn parse(payloads: &Vec<Value>, document: Option<&Document>) -> Document {
    let mut doc = document.cloned().unwrap_or(Document { title: "parsed".into(), paragraphs: vec![] });
    doc.paragraphs.extend(payloads.iter().map(|p| p["title"].as_str().unwrap_or_default().to_owned()));
    doc
}

#[derive(Debug, thiserror::Error)]
#[error("document has no paragraphs")]
pub(crate) struct Invalid;

/// Stand-in: a document with no paragraphs is invalid.
#[stage(type = "ir-validation", state_key = "document")]
pub(crate) fn ir_validation(document: &Document) -> Result<Document, Invalid> {
    if document.paragraphs.is_empty() {
        Err(Invalid)
    } else {
        Ok(document.clone())
    }
}

/// Stand-in: one chunk per paragraph.
#[stage(type = "chunk", state_key = "chunks")]
pub(crate) fn chunk(document: &Document) -> Vec<String> {
    document.paragraphs.clone()
}

/// Stand-in: a vector per chunk.
#[stage(type = "embed", state_key = "embedding_batch")]
pub(crate) fn embed(chunks: &Vec<String>) -> EmbeddingBatch {
    EmbeddingBatch { vectors: chunks.iter().map(|c| vec![c.len() as f32]).collect(), model: "len".into() }
}

/// Stand-in: indexes every vector.
#[stage(type = "index", state_key = "index_receipt")]
pub(crate) fn index(embedding_batch: &EmbeddingBatch) -> IndexReceipt {
    IndexReceipt { chunks_indexed: embedding_batch.vectors.len() as u64 }
}

/// Stand-in: every capitalised word is an entity; neighbours make claims.
#[stage(type = "extract", state_key = ["entities", "claims"])]
pub(crate) fn extract(document: &Document) -> (Vec<String>, Vec<(String, String)>) {
    let entities: Vec<String> = document
        .paragraphs
        .iter()
        .flat_map(|p| p.split_whitespace())
        .filter(|w| w.starts_with(char::is_uppercase))
        .map(str::to_owned)
        .collect();
    let claims = entities.windows(2).map(|w| (w[0].clone(), w[1].clone())).collect();
    (entities, claims)
}

/// Stand-in: one node per entity, one edge per claim.
#[stage(type = "knowledge-graph", state_key = "graph_receipt", dependencies = ["extract"])]
pub(crate) fn knowledge_graph(entities: &Vec<String>, claims: &Vec<(String, String)>) -> GraphReceipt {
    GraphReceipt { nodes_written: entities.len() as u64, edges_written: claims.len() as u64 }
}

/// Stand-in: one file per record, recorded in the ledger as the real one does.
#[stage(type = "download", state_key = "downloaded_files")]
pub(crate) fn download(ctx: &StageContext, payloads: &Vec<Value>, #[config] _cfg: &Value) -> Vec<String> {
    let _ = ctx.ledger().set(&ctx.job().job_id, "pdf_downloaded", json!(true));
    payloads.iter().map(|p| format!("{}.pdf", p["id"])).collect()
}

/// Stand-in gate: evaluates its bound condition once against the ledger; parks when it does
/// not hold, and delivers a document when it does.
#[stage(type = "gate", state_key = "document", parks, dependencies = ["@ledger"])]
pub(crate) fn gate(ctx: &StageContext, #[config] _cfg: &Value) -> Option<Document> {
    let gate = ctx.gate().expect("the runtime binds a gate definition to a gate stage");
    let job = &ctx.job().job_id;
    let lookup = |f: &FieldRef| match f {
        FieldRef::Ledger(k) => ctx.ledger().get(job, k).ok().flatten(),
        FieldRef::Metadata(k) => ctx.ledger().get_metadata(job, k).ok().flatten(),
    };
    match gate.condition.evaluate(&lookup, &mut Default::default()) {
        Eval::True => Some(Document { title: "delivered".into(), paragraphs: vec!["Delivered PDF".into()] }),
        _ => {
            ctx.park(format!("gate `{}` not passed yet", gate.name));
            None
        }
    }
}
