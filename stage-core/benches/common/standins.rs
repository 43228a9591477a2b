//! Trivial stand-ins for the ten built-in stage types (same types, state keys and shapes of
//! inputs as the built-ins; bodies that do next to nothing), and the two hand-written runners
//! the runtime is measured against.
#![allow(
    dead_code,
    clippy::ptr_arg,
    reason = "shared by several benches, each using a part; the stand-ins take `&Vec` inputs like the built-ins"
)]

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stage_core::run::{StageReport, StageStatus};
use stage_core::{
    stage, Clock, ConfigValue, HostSettings, InMemoryLedger, Job, Ledger, OutputCount, Plan, SharedValue,
    StageContext, StateValue, SystemClock,
};

/// A document stand-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Doc {
    pub(crate) id: u64,
}

impl OutputCount for Doc {
    fn output_count(&self) -> u64 {
        1
    }
}

/// The `ingest` stand-in's config.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct IngestConfig {
    pub(crate) adapter: String,
}

/// The `chunk` stand-in's config.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ChunkConfig {
    pub(crate) size: u64,
}

/// Reads the job's records.
#[stage(type = "ingest", state_key = "payloads")]
pub(crate) fn ingest(ctx: &StageContext, adapter_request: &Value, #[config] cfg: &IngestConfig) -> Vec<u64> {
    vec![ctx.job().job_id.len() as u64 + u64::from(adapter_request.is_object()) + cfg.adapter.len() as u64]
}

/// Downloads the records' files.
#[stage(type = "download", state_key = "downloaded_files")]
pub(crate) fn download(ctx: &StageContext, payloads: &Vec<u64>) -> Vec<u64> {
    vec![payloads.len() as u64 + ctx.stage_name().len() as u64]
}

/// Waits for the files.
#[stage(type = "gate", state_key = "document")]
pub(crate) fn gate(ctx: &StageContext, downloaded_files: &Vec<u64>) -> Doc {
    Doc { id: downloaded_files.len() as u64 + ctx.stage_name().len() as u64 }
}

/// Builds the document.
#[stage(type = "parse", state_key = "document")]
pub(crate) fn parse(ctx: &StageContext, payloads: &Vec<u64>) -> Doc {
    Doc { id: payloads.len() as u64 + ctx.stage_name().len() as u64 }
}

/// Validates the document.
#[stage(type = "ir-validation", state_key = "document")]
pub(crate) fn ir_validation(document: &Doc) -> Doc {
    Doc { id: document.id + 1 }
}

/// Chunks the document.
#[stage(type = "chunk", state_key = "chunks")]
pub(crate) fn chunk(document: &Doc, #[config] cfg: &ChunkConfig) -> Vec<u64> {
    vec![document.id + cfg.size]
}

/// Embeds the chunks.
#[stage(type = "embed", state_key = "embedding_batch")]
pub(crate) fn embed(chunks: &Vec<u64>) -> Vec<u64> {
    vec![chunks.len() as u64]
}

/// Indexes the embeddings.
#[stage(type = "index", state_key = "index_receipt")]
pub(crate) fn index(ctx: &StageContext, embedding_batch: &Vec<u64>) -> Doc {
    Doc { id: embedding_batch.len() as u64 + ctx.stage_name().len() as u64 }
}

/// Extracts entities and claims.
#[stage(type = "extract", state_key = ["entities", "claims"])]
pub(crate) fn extract(document: &Doc) -> (Vec<u64>, Vec<u64>) {
    (vec![document.id], vec![])
}

/// Writes the graph.
#[stage(type = "knowledge-graph", state_key = "graph_receipt", dependencies = ["extract"])]
pub(crate) fn knowledge_graph(ctx: &StageContext, entities: &Vec<u64>) -> Doc {
    Doc { id: entities.len() as u64 + ctx.stage_name().len() as u64 }
}

/// The ten built-in types in one pipeline: every stage runs once per job.
pub(crate) const TEN_STAGES: &str = r#"
name: dispatch
version: "2026-01-01"
stages:
  - { name: ingest, type: ingest, config: { adapter: auto } }
  - { name: download, type: download, depends_on: [ingest] }
  - { name: gate, type: gate, depends_on: [download] }
  - { name: parse, type: parse, depends_on: [gate] }
  - { name: ir_validation, type: ir-validation, depends_on: [parse] }
  - { name: chunk, type: chunk, depends_on: [ir_validation], config: { size: 400 } }
  - { name: embed, type: embed, depends_on: [chunk] }
  - { name: index, type: index, depends_on: [embed] }
  - { name: extract, type: extract, depends_on: [ir_validation] }
  - { name: kg, type: knowledge-graph, depends_on: [extract, index] }
"#;

/// The job every run takes.
pub(crate) fn job() -> Job {
    let mut job = Job::new("bench-1", "clinicaltrials");
    job.doc_id = Some("NCT90000001".to_owned());
    job.adapter_request = json!({ "data_dir": "examples/data", "id": "NCT90000001" });
    job
}

// ---------------------------------------------------------------------------------------------
// Hand-written runners: the same work as the runtime (initial state; per stage: inputs read
// from the state, the call, the output written under its keys, the output counted, a report
// line, three ledger metrics (one `set_many`); the result record: each output kept, shared), on the same functions.

/// A hand-written run state: values by key, as the original's `state` dict.
pub(crate) type HandState = BTreeMap<String, SharedValue>;

/// What a hand-written run returns.
pub(crate) struct HandRun {
    pub(crate) state: HandState,
    pub(crate) lines: Vec<StageReport>,
    /// The result record: each completed stage's output, shared (serialized only when read,
    /// as the runtime's `Results`).
    pub(crate) results: Vec<(usize, SharedValue)>,
}

type CallFn = fn(&Env<'_>) -> Result<SharedValue, String>;
type ApplyFn = fn(SharedValue, &mut HandState);
type CountFn = fn(&dyn StateValue) -> u64;

/// What one call sees.
pub(crate) struct Env<'a> {
    state: &'a HandState,
    /// The initial keys built on first read (`None`: they are in `state`, built up front).
    lazy: Option<&'a LazyInitial<'a>>,
    config: Option<&'a ConfigValue>,
    job: &'a Arc<Job>,
    name: &'a str,
    stage_type: &'static str,
    shared: &'a Shared,
}

/// What every context of a run shares, as the runtime gives it: ledger, clock, host settings.
pub(crate) struct Shared {
    pub(crate) ledger: Arc<dyn Ledger>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) host: Arc<HostSettings>,
}

impl Shared {
    /// An in-memory ledger, the system clock, default host settings.
    pub(crate) fn new() -> Self {
        Shared {
            ledger: Arc::new(InMemoryLedger::new()),
            clock: Arc::new(SystemClock),
            host: Arc::new(HostSettings::default()),
        }
    }
}

impl Env<'_> {
    fn input<T: 'static>(&self, key: &str) -> Result<&T, String> {
        self.state
            .get(key)
            .or_else(|| self.lazy.and_then(|l| l.get(key)))
            .ok_or_else(|| format!("input `{key}` is absent"))?
            .downcast_ref::<T>()
            .ok_or_else(|| format!("input `{key}` has another type"))
    }
    fn config<C: 'static>(&self) -> Result<&C, String> {
        self.config.and_then(|c| c.downcast_ref::<C>()).ok_or_else(|| "no config".to_owned())
    }
    /// The same context the runtime gives a stage (built only for stages that take one).
    fn context(&self) -> StageContext {
        StageContext::new(self.job.clone(), self.name, self.stage_type)
            .with_ledger(self.shared.ledger.clone())
            .with_clock(self.shared.clock.clone())
            .with_host(self.shared.host.clone())
    }
}

fn shared<T: StateValue>(v: T) -> SharedValue {
    Arc::new(v)
}

fn call_ingest(e: &Env<'_>) -> Result<SharedValue, String> {
    Ok(shared(ingest(&e.context(), e.input("adapter_request")?, e.config()?)))
}
fn call_download(e: &Env<'_>) -> Result<SharedValue, String> {
    Ok(shared(download(&e.context(), e.input("payloads")?)))
}
fn call_gate(e: &Env<'_>) -> Result<SharedValue, String> {
    Ok(shared(gate(&e.context(), e.input("downloaded_files")?)))
}
fn call_parse(e: &Env<'_>) -> Result<SharedValue, String> {
    Ok(shared(parse(&e.context(), e.input("payloads")?)))
}
fn call_ir_validation(e: &Env<'_>) -> Result<SharedValue, String> {
    Ok(shared(ir_validation(e.input("document")?)))
}
fn call_chunk(e: &Env<'_>) -> Result<SharedValue, String> {
    Ok(shared(chunk(e.input("document")?, e.config()?)))
}
fn call_embed(e: &Env<'_>) -> Result<SharedValue, String> {
    Ok(shared(embed(e.input("chunks")?)))
}
fn call_index(e: &Env<'_>) -> Result<SharedValue, String> {
    Ok(shared(index(&e.context(), e.input("embedding_batch")?)))
}
fn call_extract(e: &Env<'_>) -> Result<SharedValue, String> {
    Ok(shared(extract(e.input("document")?)))
}
fn call_knowledge_graph(e: &Env<'_>) -> Result<SharedValue, String> {
    Ok(shared(knowledge_graph(&e.context(), e.input("entities")?)))
}

fn put(key: &'static str) -> impl Fn(SharedValue, &mut HandState) {
    move |v, s| {
        s.insert(key.to_owned(), v);
    }
}
fn apply_payloads(v: SharedValue, s: &mut HandState) {
    put("payloads")(v, s)
}
fn apply_downloaded(v: SharedValue, s: &mut HandState) {
    put("downloaded_files")(v, s)
}
fn apply_document(v: SharedValue, s: &mut HandState) {
    put("document")(v, s)
}
fn apply_chunks(v: SharedValue, s: &mut HandState) {
    put("chunks")(v, s)
}
fn apply_embeddings(v: SharedValue, s: &mut HandState) {
    put("embedding_batch")(v, s)
}
fn apply_index_receipt(v: SharedValue, s: &mut HandState) {
    put("index_receipt")(v, s)
}
fn apply_graph_receipt(v: SharedValue, s: &mut HandState) {
    put("graph_receipt")(v, s)
}
fn apply_extract(v: SharedValue, s: &mut HandState) {
    if let Some((entities, claims)) = v.downcast_ref::<(Vec<u64>, Vec<u64>)>() {
        s.insert("entities".to_owned(), shared(entities.clone()));
        s.insert("claims".to_owned(), shared(claims.clone()));
    }
}

fn count_of<T: OutputCount + 'static>(v: &dyn StateValue) -> u64 {
    v.downcast_ref::<T>().map_or(0, OutputCount::output_count)
}

/// The original design, in Rust: every call, handler and counter is found by matching the
/// stage's type string.
pub(crate) mod by_string {
    use super::*;

    pub(crate) fn call(e: &Env<'_>) -> Result<SharedValue, String> {
        match e.stage_type {
            "ingest" => call_ingest(e),
            "download" => call_download(e),
            "gate" => call_gate(e),
            "parse" => call_parse(e),
            "ir-validation" => call_ir_validation(e),
            "chunk" => call_chunk(e),
            "embed" => call_embed(e),
            "index" => call_index(e),
            "extract" => call_extract(e),
            "knowledge-graph" => call_knowledge_graph(e),
            other => Err(format!("unknown stage type `{other}`")),
        }
    }

    pub(crate) fn apply(stage_type: &str, v: SharedValue, s: &mut HandState) {
        match stage_type {
            "ingest" => apply_payloads(v, s),
            "download" => apply_downloaded(v, s),
            "gate" | "parse" | "ir-validation" => apply_document(v, s),
            "chunk" => apply_chunks(v, s),
            "embed" => apply_embeddings(v, s),
            "index" => apply_index_receipt(v, s),
            "extract" => apply_extract(v, s),
            "knowledge-graph" => apply_graph_receipt(v, s),
            _ => {}
        }
    }

    pub(crate) fn count(stage_type: &str, v: &dyn StateValue) -> u64 {
        match stage_type {
            "ingest" | "download" | "chunk" | "embed" => count_of::<Vec<u64>>(v),
            "gate" | "parse" | "ir-validation" | "index" | "knowledge-graph" => count_of::<Doc>(v),
            "extract" => count_of::<(Vec<u64>, Vec<u64>)>(v),
            _ => 0,
        }
    }
}

/// Calls, handlers and counters resolved once per pipeline, called through pointers.
#[derive(Clone, Copy)]
pub(crate) struct Resolved {
    call: CallFn,
    apply: ApplyFn,
    count: CountFn,
}

/// Resolves a stage type once (at plan time).
pub(crate) fn resolve(stage_type: &str) -> Option<Resolved> {
    let (call, apply, count): (CallFn, ApplyFn, CountFn) = match stage_type {
        "ingest" => (call_ingest, apply_payloads, count_of::<Vec<u64>>),
        "download" => (call_download, apply_downloaded, count_of::<Vec<u64>>),
        "gate" => (call_gate, apply_document, count_of::<Doc>),
        "parse" => (call_parse, apply_document, count_of::<Doc>),
        "ir-validation" => (call_ir_validation, apply_document, count_of::<Doc>),
        "chunk" => (call_chunk, apply_chunks, count_of::<Vec<u64>>),
        "embed" => (call_embed, apply_embeddings, count_of::<Vec<u64>>),
        "index" => (call_index, apply_index_receipt, count_of::<Doc>),
        "extract" => (call_extract, apply_extract, count_of::<(Vec<u64>, Vec<u64>)>),
        "knowledge-graph" => (call_knowledge_graph, apply_graph_receipt, count_of::<Doc>),
        _ => return None,
    };
    Some(Resolved { call, apply, count })
}

/// A pipeline prepared for the hand-written runners: order, names, types, configs (parsed
/// once, taken from the plan) and, for the resolved runner, each stage's functions.
pub(crate) struct HandPlan {
    pub(crate) order: Vec<usize>,
    pub(crate) stages: Vec<HandStage>,
}

/// One stage of a [`HandPlan`].
pub(crate) struct HandStage {
    name: String,
    stage_type: &'static str,
    config: Option<ConfigValue>,
    resolved: Resolved,
}

impl HandPlan {
    /// From a plan of the stand-ins (order, names and parsed configs are the plan's).
    pub(crate) fn new(plan: &Plan, configs: &[Option<ConfigValue>]) -> Self {
        let stages = plan
            .stages
            .iter()
            .zip(configs)
            .map(|(s, c)| HandStage {
                name: s.name.clone(),
                stage_type: s.meta.stage_type(),
                config: c.clone(),
                resolved: resolve(s.meta.stage_type()).expect("a stand-in type"),
            })
            .collect();
        HandPlan { order: plan.order.clone(), stages }
    }
}

const INITIAL_KEYS: [&str; 4] = ["context", "adapter_request", "payload", "job_id"];

fn initial_value(job: &Job, key: &str) -> SharedValue {
    match key {
        "context" => shared(json!({
            "tenant_id": job.tenant_id,
            "job_id": job.job_id,
            "doc_id": job.doc_id,
            "correlation_id": job.correlation_id,
            "metadata": job.metadata,
            "source": job.source,
        })),
        "adapter_request" => shared(job.adapter_request.clone()),
        "payload" => shared(job.payload.clone()),
        _ => shared(job.job_id.clone()),
    }
}

/// The initial keys as the original runtime made them: all of them, up front.
fn initial_state(job: &Job) -> HandState {
    INITIAL_KEYS.iter().map(|k| ((*k).to_owned(), initial_value(job, k))).collect()
}

/// The initial keys as the runtime makes them: each on its first read.
pub(crate) struct LazyInitial<'j> {
    job: &'j Job,
    values: [std::cell::OnceCell<SharedValue>; 4],
}

impl LazyInitial<'_> {
    fn get(&self, key: &str) -> Option<&SharedValue> {
        let i = INITIAL_KEYS.iter().position(|k| *k == key)?;
        Some(self.values[i].get_or_init(|| initial_value(self.job, key)))
    }
}

/// How a hand-written runner dispatches and builds the run's initial keys.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hand {
    /// Matches the type string on every call; initial keys up front (the original design).
    ByString,
    /// Calls resolved in advance; initial keys up front.
    Resolved,
    /// Calls resolved in advance; initial keys built on first read, as the runtime does.
    ResolvedLazy,
}

/// Runs one job through `plan` by hand.
pub(crate) fn run_by_hand(plan: &HandPlan, job: &Job, shared: &Shared, how: Hand) -> HandRun {
    let resolved = how != Hand::ByString;
    let job = Arc::new(job.clone());
    let lazy = LazyInitial { job: &job, values: Default::default() };
    let lazy = (how == Hand::ResolvedLazy).then_some(&lazy);
    let mut state = if lazy.is_some() { HandState::new() } else { initial_state(&job) };
    let mut lines = Vec::with_capacity(plan.stages.len());
    let mut outputs: Vec<(usize, SharedValue)> = Vec::with_capacity(plan.stages.len());
    for &i in &plan.order {
        let stage = &plan.stages[i];
        let started = Instant::now();
        let env = Env {
            state: &state,
            lazy,
            config: stage.config.as_ref(),
            job: &job,
            name: &stage.name,
            stage_type: stage.stage_type,
            shared,
        };
        let called = catch_unwind(AssertUnwindSafe(|| {
            if resolved {
                (stage.resolved.call)(&env)
            } else {
                by_string::call(&env)
            }
        }))
        .unwrap_or_else(|_| Err("panicked".to_owned()));
        let (status, count, message) = match called {
            Ok(out) => {
                let count = if resolved {
                    (stage.resolved.count)(&*out)
                } else {
                    by_string::count(stage.stage_type, &*out)
                };
                outputs.push((i, out.clone()));
                if resolved {
                    (stage.resolved.apply)(out, &mut state);
                } else {
                    by_string::apply(stage.stage_type, out, &mut state);
                }
                (StageStatus::Completed, count, None)
            }
            Err(e) => (StageStatus::Failed, 0, Some(e)),
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        lines.push(StageReport {
            name: stage.name.clone(),
            stage_type: stage.stage_type.to_owned(),
            status,
            attempts: 1,
            output_count: count,
            duration_ms,
            message,
            failure: None,
        });
        // The three metrics, their keys in one buffer, in one ledger call.
        let mut keys = String::with_capacity(3 * (stage.name.len() + 7) + 31);
        let mut ends = [0usize; 3];
        for (end, field) in ends.iter_mut().zip(["attempts", "output_count", "duration_ms"]) {
            keys.push_str("stage.");
            keys.push_str(&stage.name);
            keys.push('.');
            keys.push_str(field);
            *end = keys.len();
        }
        let metrics = [
            (&keys[..ends[0]], json!(1)),
            (&keys[ends[0]..ends[1]], json!(count)),
            (&keys[ends[1]..ends[2]], json!(duration_ms)),
        ];
        let _ = shared.ledger.set_many(&job.job_id, &metrics);
    }
    HandRun { state, lines, results: outputs }
}
