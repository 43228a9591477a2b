//! The ten real pipeline files of the original platform load, validate and run end to end
//! against stand-ins for the built-in stage types, with the contract's keys and types (§4),
//! through a runtime that knows stages only by their metadata.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stage_core::run::{CollectingSink, EventKind};
use stage_core::spec::{Eval, FieldRef};
use stage_core::{
    stage, InMemoryLedger, Job, Ledger, OutputCount, Plan, PlanOptions, RunStatus, Runner, StageContext,
    StageRegistry, StageStatus,
};
use stage_tests::compat_pipelines;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Document {
    title: String,
    paragraphs: Vec<String>,
}
impl OutputCount for Document {
    fn output_count(&self) -> u64 {
        1
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct EmbeddingBatch {
    vectors: Vec<Vec<f32>>,
    model: String,
}
impl OutputCount for EmbeddingBatch {
    fn output_count(&self) -> u64 {
        self.vectors.len() as u64
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexReceipt {
    chunks_indexed: u64,
}
impl OutputCount for IndexReceipt {
    fn output_count(&self) -> u64 {
        self.chunks_indexed
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct GraphReceipt {
    nodes_written: u64,
    edges_written: u64,
}
impl OutputCount for GraphReceipt {
    fn output_count(&self) -> u64 {
        self.nodes_written
    }
}

/// Stand-in: two records from the adapter request.
#[stage(type = "ingest", state_key = "payloads")]
fn ingest(adapter_request: &Value, #[config] _cfg: &Value) -> Vec<Value> {
    vec![json!({"id": 1, "title": "Aspirin and COX", "req": adapter_request}), json!({"id": 2, "title": "Statins"})]
}

/// Stand-in: a document from the records, or the delivered one enriched.
#[stage(type = "parse", state_key = "document")]
fn parse(payloads: &Vec<Value>, document: Option<&Document>) -> Document {
    let mut doc = document.cloned().unwrap_or(Document { title: "parsed".into(), paragraphs: vec![] });
    doc.paragraphs.extend(payloads.iter().map(|p| p["title"].as_str().unwrap_or_default().to_owned()));
    doc
}

#[derive(Debug, thiserror::Error)]
#[error("document has no paragraphs")]
struct Invalid;

/// Stand-in: a document with no paragraphs is invalid.
#[stage(type = "ir-validation", state_key = "document")]
fn ir_validation(document: &Document) -> Result<Document, Invalid> {
    if document.paragraphs.is_empty() {
        Err(Invalid)
    } else {
        Ok(document.clone())
    }
}

/// Stand-in: one chunk per paragraph.
#[stage(type = "chunk", state_key = "chunks")]
fn chunk(document: &Document) -> Vec<String> {
    document.paragraphs.clone()
}

/// Stand-in: a vector per chunk.
#[stage(type = "embed", state_key = "embedding_batch")]
fn embed(chunks: &Vec<String>) -> EmbeddingBatch {
    EmbeddingBatch { vectors: chunks.iter().map(|c| vec![c.len() as f32]).collect(), model: "len".into() }
}

/// Stand-in: indexes every vector.
#[stage(type = "index", state_key = "index_receipt")]
fn index(embedding_batch: &EmbeddingBatch) -> IndexReceipt {
    IndexReceipt { chunks_indexed: embedding_batch.vectors.len() as u64 }
}

/// Stand-in: every capitalised word is an entity; neighbours make claims.
#[stage(type = "extract", state_key = ["entities", "claims"])]
fn extract(document: &Document) -> (Vec<String>, Vec<(String, String)>) {
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
fn knowledge_graph(entities: &Vec<String>, claims: &Vec<(String, String)>) -> GraphReceipt {
    GraphReceipt { nodes_written: entities.len() as u64, edges_written: claims.len() as u64 }
}

/// Stand-in: one file per record, recorded in the ledger as the real one does.
#[stage(type = "download", state_key = "downloaded_files")]
fn download(ctx: &StageContext, payloads: &Vec<Value>, #[config] _cfg: &Value) -> Vec<String> {
    let _ = ctx.ledger().set(&ctx.job().job_id, "pdf_downloaded", json!(true));
    payloads.iter().map(|p| format!("{}.pdf", p["id"])).collect()
}

/// Stand-in gate: evaluates its bound condition once against the ledger; parks when it does
/// not hold, and delivers a document when it does.
#[stage(type = "gate", state_key = "document", parks, dependencies = ["@ledger"])]
fn gate(ctx: &StageContext, #[config] _cfg: &Value) -> Option<Document> {
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

fn job(source: &str) -> Job {
    let mut job = Job::new(format!("job-{source}"), source);
    job.adapter_request = json!({"id": "NCT0001"});
    job
}

#[test]
fn every_shared_file_plans_against_the_stand_ins() {
    let registry = StageRegistry::global();
    assert!(registry.check().is_ok(), "{:?}", registry.problems());
    let files = compat_pipelines();
    for file in &files {
        let options = PlanOptions { policies: Some(stage_core::policy::PolicySet::builtin()), ..Default::default() };
        let plan = Plan::from_file(file, registry, &options).unwrap_or_else(|e| panic!("{}:\n{e}", file.display()));
        assert_eq!(plan.order.len(), plan.stages.len());
    }
}

#[test]
fn every_shared_file_runs_end_to_end_and_two_phase_files_park_then_complete() {
    let registry = StageRegistry::global();
    for file in compat_pipelines() {
        let plan = Plan::from_file(&file, registry, &PlanOptions::default()).unwrap();
        let source = plan.pipeline.applicable_sources.first().cloned().unwrap_or_else(|| "pmc".into());
        let ledger = Arc::new(InMemoryLedger::new());
        let events = Arc::new(CollectingSink::new());
        let runner = Runner::new().with_ledger(ledger.clone()).with_events(events.clone());
        let out = runner.run(&plan, job(&source));
        let has_gate = plan.stages.iter().any(|s| s.meta.can_park());
        let name = file.display();
        if !has_gate {
            assert_eq!(out.report.status, RunStatus::Completed, "{name}: {:#?}", out.report);
            continue;
        }
        assert_eq!(out.report.status, RunStatus::Parked, "{name}: {:#?}", out.report);
        let gate = out.report.stages.iter().find(|s| s.status == StageStatus::Parked).unwrap();
        assert!(gate.message.as_deref().unwrap().starts_with("gate `pdf_ir_ready` not passed yet"), "{name}");
        assert!(out.report.stages.iter().all(|s| s.status != StageStatus::Failed), "{name}");
        assert!(events.events().iter().any(|e| matches!(e.kind, EventKind::Parked { .. })));

        // The external converter says ready; the run resumes from its state and completes
        // without running a completed stage again.
        ledger.set(&out.report.job_id, "pdf_ir_ready", json!(true)).unwrap();
        let before = events.events().len();
        let resumed = runner.run_from(&plan, out.state);
        assert_eq!(resumed.report.status, RunStatus::Completed, "{name}: {:#?}", resumed.report);
        let started: Vec<String> = events.events()[before..]
            .iter()
            .filter(|e| e.kind == EventKind::Started)
            .map(|e| e.stage.clone())
            .collect();
        assert!(!started.iter().any(|s| s == "ingest" || s == "download"), "{name}: re-ran {started:?}");
        let chunks = &resumed.report.results["chunk"]["output"];
        assert!(chunks.as_array().unwrap().iter().any(|c| c == "Delivered PDF"), "{name}: {chunks}");
    }
}
