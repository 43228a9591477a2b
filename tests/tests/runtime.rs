//! The runtime from metadata alone: planning errors (each contract rule, exact text), running,
//! failures and panics contained, concurrency, results and state.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use stage_core::run::{CollectingSink, EventKind};
use stage_core::{
    spec, stage, InMemoryLedger, Job, Ledger, Plan, PlanError, PlanOptions, RunState, RunStatus, Runner,
    StageContext, StageRegistry, StageStatus,
};

mod common;
use common::Document;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SizeConfig {
    size: usize,
    overlap: usize,
}

/// Splits paragraphs into pieces of `size` characters.
#[stage(type = "sized-chunk", state_key = "chunks")]
fn sized_chunk(document: &Document, #[config] cfg: &SizeConfig) -> Vec<String> {
    let size = cfg.size.max(1);
    document
        .paragraphs
        .iter()
        .flat_map(|p| {
            p.chars().collect::<Vec<_>>().chunks(size).map(|c| c.iter().collect()).collect::<Vec<String>>()
        })
        .collect()
}

/// Writes `document` as a plain string: a type mismatch for stages reading a `Document`.
#[stage(type = "text-doc", state_key = "document", counter = one)]
fn text_doc() -> String {
    "just text".to_owned()
}

/// Panics.
#[stage(type = "boom")]
fn boom() {
    panic!("boom at the stage")
}

/// Returns the chunk count, writing no key.
#[stage(type = "tally", counter = nothing)]
fn tally(chunks: &Vec<String>) -> u64 {
    chunks.len() as u64
}

/// Asks to park without being declared a gate.
#[stage(type = "sneaky-park")]
fn sneaky_park(ctx: &StageContext) {
    ctx.park("please");
}

fn one(_: &String) -> u64 {
    1
}

fn nothing(_: &u64) -> u64 {
    0
}

fn plan(yaml: &str) -> Result<Plan, PlanError> {
    plan_with(yaml, &PlanOptions::default())
}

fn plan_with(yaml: &str, options: &PlanOptions) -> Result<Plan, PlanError> {
    let loaded = spec::load_str("inline.yaml", yaml)
        .map_err(|e| PlanError { errors: e.errors, warnings: e.warnings })?;
    Plan::new(&loaded.value, StageRegistry::global(), options)
}

fn errors(yaml: &str) -> Vec<String> {
    plan(yaml).unwrap_err().errors.iter().map(ToString::to_string).collect()
}

const LINEAR: &str = "\
name: linear
version: 2025-01-01
stages:
  - name: ingest
    type: ingest
  - name: parse
    type: parse
    depends_on: [ingest]
  - name: chunk
    type: chunk
    depends_on: [parse]
  - name: extract
    type: extract
    depends_on: [parse]
  - name: tally
    type: tally
    depends_on: [chunk]
";

fn job() -> Job {
    let mut job = Job::new("j-1", "pmc");
    job.adapter_request = json!({"q": "aspirin"});
    job
}

#[test]
fn an_unknown_stage_type_names_file_line_stage_and_the_nearest_types() {
    let yaml = LINEAR.replace("type: chunk", "type: chunck");
    let errs = errors(&yaml);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with(
            "inline.yaml:10:11: error: pipeline `linear`, stage `chunk`: unknown stage type `chunck`; did you mean `chunk`?; registered types: boom, chunk,"
        ),
        "{}",
        errs[0]
    );
    assert!(
        errs[0].ends_with("that crate may not be linked: a crate listed in Cargo.toml but never named in code is dropped by the linker; name it once (`use the_plugin as _;`) and rebuild the host"),
        "{}",
        errs[0]
    );
}

#[test]
fn an_input_nobody_provides_is_an_error_naming_the_stage_and_who_could_provide_it() {
    let yaml = LINEAR
        .replace("    depends_on: [parse]\n  - name: extract", "    depends_on: [ingest]\n  - name: extract");
    assert_eq!(
        errors(&yaml),
        ["inline.yaml:11:17: error: stage `chunk` (chunk) reads `document`, but no upstream stage (through depends_on) \
          writes it and the run does not start with it; stage(s) `parse` write it: add one to `depends_on` of `chunk`"]
    );
}

#[test]
fn a_provider_of_another_type_is_an_error_naming_both_stages_and_types() {
    let yaml = LINEAR.replace("    type: parse\n", "    type: text-doc\n");
    assert_eq!(
        errors(&yaml),
        [
            "inline.yaml:9:5: error: stage `chunk` reads `document` as `runtime::common::Document`, but upstream stage \
             `parse` (text-doc) writes it as `alloc::string::String`; make the two types agree",
            "inline.yaml:12:5: error: stage `extract` reads `document` as `runtime::common::Document`, but upstream \
             stage `parse` (text-doc) writes it as `alloc::string::String`; make the two types agree",
        ]
    );
}

#[test]
fn a_stage_type_dependency_missing_upstream_is_an_error() {
    let yaml = format!("{LINEAR}  - name: kg\n    type: knowledge-graph\n    depends_on: [tally]\n");
    let errs = errors(&yaml);
    assert!(errs.contains(&"inline.yaml:20:17: error: stage `kg` (knowledge-graph) reads `entities`, but no upstream stage (through depends_on) writes it and the run does not start with it; stage(s) `extract` write it: add one to `depends_on` of `kg`".to_owned()), "{errs:#?}");
    assert!(errs.contains(&"inline.yaml:20:17: error: stage `kg` (knowledge-graph) requires a `extract` stage upstream (through depends_on), and none of its upstream stages is one; add a `extract` stage to its depends_on".to_owned()), "{errs:#?}");
}

#[test]
fn a_resource_the_runtime_does_not_provide_is_an_error() {
    let yaml = "\
name: gated
version: 2025-01-01
stages:
  - name: gate_ready
    type: gate
gates:
  - name: ready
    condition: {field: ready, equals: true}
";
    let options = PlanOptions { resources: BTreeSet::new(), ..Default::default() };
    let errs: Vec<String> =
        plan_with(yaml, &options).unwrap_err().errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errs,
        ["inline.yaml:4:5: error: stage `gate_ready` needs resource `@ledger`, which this runtime does not provide (it provides: none)"]
    );
    assert!(plan(yaml).is_ok());
}

#[test]
fn metadata_overrides_must_keep_the_number_of_keys() {
    let yaml = LINEAR.replace(
        "    type: extract\n",
        "    type: extract\n    metadata_overrides:\n      state_key: only_one\n",
    );
    assert_eq!(
        errors(&yaml),
        ["inline.yaml:15:18: error: stage `extract`: metadata_overrides.state_key lists 1 key(s), but stage type \
          `extract` writes 2 (entities, claims); give exactly 2 key(s)"]
    );
}

/// Writes `note`.
#[stage(type = "note-first", state_key = "note", counter = one)]
fn note_first() -> String {
    "first".to_owned()
}

/// Writes `note` again, later.
#[stage(type = "note-second", state_key = "note", counter = one)]
fn note_second() -> String {
    "second".to_owned()
}

/// Would write `note`, but writes nothing.
#[stage(type = "note-none", state_key = "note", counter = one)]
fn note_none() -> Option<String> {
    None
}

/// Reads `note`.
#[stage(type = "note-read", state_key = "heard", counter = one)]
fn note_read(note: &String) -> String {
    note.clone()
}

/// A reader whose nearest writer wrote nothing falls back to the nearest writer that did, by
/// execution order (here the reverse of declaration order, so positions are not indices).
#[test]
fn a_reader_falls_back_to_the_nearest_writer_that_wrote() {
    let yaml = "\
name: notes
version: 2025-01-01
stages:
  - name: read
    type: note-read
    depends_on: [none]
  - name: none
    type: note-none
    depends_on: [second]
  - name: second
    type: note-second
    depends_on: [first]
  - name: first
    type: note-first
";
    let three = plan(yaml).unwrap();
    let out = Runner::new().run(&three, job());
    assert_eq!(out.report.status, RunStatus::Completed, "{:?}", out.report);
    assert!(out.state.written("none", "note").is_none());
    assert_eq!(out.report.results["read"]["output"], "second");
    let without_second =
        yaml.replace("    depends_on: [second]\n  - name: second\n    type: note-second\n", "");
    let two = plan(&without_second).unwrap();
    let out = Runner::new().run(&two, job());
    assert_eq!(out.report.results["read"]["output"], "first");
}

/// The override's keys follow the same naming rules as `#[stage]` and the registry
/// (stage-core's `naming.rs`): `_` alone is refused everywhere, a `_`-led name is accepted.
#[test]
fn metadata_overrides_refuse_underscore_alone_as_a_key_like_the_macro() {
    let with_key = |key: &str| {
        let yaml = LINEAR.replace(
            "    type: chunk\n",
            &format!("    type: chunk\n    metadata_overrides:\n      state_key: {key}\n"),
        );
        // Without `tally`, which reads `chunks`: only the key itself can be wrong.
        yaml.split("  - name: tally").next().unwrap_or_default().to_owned()
    };
    let errs = errors(&with_key("_"));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].contains("error: stage `chunk`: state key `_` in metadata_overrides is not usable"),
        "{}",
        errs[0]
    );
    assert!(!stage_core::naming::is_identifier("_"));
    let plan = plan(&with_key("_passages")).unwrap();
    let chunk = &plan.stages[plan.stage_index("chunk").unwrap()];
    assert_eq!(chunk.keys(), ["_passages"]);
}

#[test]
fn metadata_overrides_move_the_output_and_checks_use_them() {
    let yaml = LINEAR.replace(
        "    type: chunk\n",
        "    type: chunk\n    metadata_overrides:\n      state_key: passages\n      description: Cut into passages.\n",
    );
    // `tally` reads `chunks`, which `chunk` no longer writes.
    let errs = errors(&yaml);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].contains("stage `tally` (tally) reads `chunks`, but no upstream stage"), "{}", errs[0]);
    let without_tally = yaml.split("  - name: tally").next().unwrap().to_owned();
    let plan = plan(&without_tally).unwrap();
    let chunk = &plan.stages[plan.stage_index("chunk").unwrap()];
    assert_eq!(chunk.keys(), ["passages"]);
    assert_eq!(chunk.description, "Cut into passages.");
    let out = Runner::new().run(&plan, job());
    assert!(out.report.results["chunk"]["output"].is_array());
    assert!(out.state.written("chunk", "passages").is_some());
    assert!(out.state.written("chunk", "chunks").is_none());
}

#[test]
fn a_bad_config_value_names_the_field_and_its_line() {
    let yaml = "\
name: sized
version: 2025-01-01
stages:
  - name: ingest
    type: ingest
  - name: parse
    type: parse
    depends_on: [ingest]
  - name: cut
    type: sized-chunk
    depends_on: [parse]
    config:
      overlap: 2
      size: big
";
    assert_eq!(
        errors(yaml),
        ["inline.yaml:14:13: error: pipeline `sized`, stage `cut`: config field `size`: invalid type: string \"big\", \
          expected usize; the config of stage type `sized-chunk` is `runtime::SizeConfig`"]
    );
    let typo = yaml.replace("size: big", "sise: 4");
    let errs = errors(&typo);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("inline.yaml:14:13: error: pipeline `sized`, stage `cut`: config field `sise`: unknown field `sise`, expected `size` or `overlap`"), "{}", errs[0]);
}

#[test]
fn a_run_applies_outputs_through_metadata_and_records_results_counts_and_ledger() {
    let plan = plan(LINEAR).unwrap();
    let ledger = Arc::new(InMemoryLedger::new());
    let out = Runner::new().with_ledger(ledger.clone()).run(&plan, job());
    assert_eq!(out.report.status, RunStatus::Completed);
    let order: Vec<&str> = out.report.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["ingest", "parse", "chunk", "extract", "tally"]);
    // Two keys: the result is `{key: value}` for each.
    let extract = &out.report.results["extract"];
    assert_eq!(extract["type"], "extract");
    assert_eq!(extract["output"]["entities"], json!(["Aspirin", "COX", "Statins"]));
    assert_eq!(extract["output"]["claims"], json!([["Aspirin", "COX"], ["COX", "Statins"]]));
    // No key: the raw output, and nothing written to the state.
    assert_eq!(out.report.results["tally"], json!({"type": "tally", "output": 2}));
    // One key: `state[key]`.
    assert_eq!(out.report.results["chunk"]["output"], json!(["Aspirin and COX", "Statins"]));
    let counts: Vec<u64> = out.report.stages.iter().map(|s| s.output_count).collect();
    assert_eq!(counts, [2, 1, 2, 3 + 2, 0]);
    assert_eq!(ledger.get("j-1", "stage.extract.output_count").unwrap(), Some(json!(5)));
    assert_eq!(ledger.get("j-1", "stage.extract.attempts").unwrap(), Some(json!(1)));
    assert!(ledger.get("j-1", "stage.tally.duration_ms").unwrap().is_some());
    let values = out.state.values(&plan);
    assert_eq!(values.keys().collect::<Vec<_>>(), ["chunks", "claims", "document", "entities", "payloads"]);
}

#[test]
fn a_panicking_stage_fails_its_branch_only_and_the_report_says_why() {
    let yaml = LINEAR
        .replace("    type: tally\n    depends_on: [chunk]", "    type: boom\n    depends_on: [chunk]")
        + "  - name: after\n    type: tally\n    depends_on: [tally]\n";
    let plan = plan(&yaml).unwrap();
    let events = Arc::new(CollectingSink::new());
    let out = Runner::new().with_events(events.clone()).run(&plan, job());
    assert_eq!(out.report.status, RunStatus::Failed);
    let line = |n: &str| out.report.stage(n).unwrap().clone();
    assert_eq!(line("tally").status, StageStatus::Failed);
    assert_eq!(line("tally").message.as_deref(), Some("panicked: boom at the stage"));
    assert_eq!(line("after").status, StageStatus::Skipped);
    assert_eq!(line("after").message.as_deref(), Some("not run: upstream stage `tally` failed"));
    assert_eq!(line("extract").status, StageStatus::Completed);
    assert!(out.report.results.contains_key("extract"));
    assert!(!out.report.results.contains_key("tally"));
    let failed: Vec<_> =
        events.events().into_iter().filter(|e| matches!(e.kind, EventKind::Failed { .. })).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].kind, EventKind::Failed { attempt: 1, error: "panicked: boom at the stage".into() });
    // The report serializes: a failed run leaves a record of what ran.
    let json = serde_json::to_value(&out.report).unwrap();
    assert_eq!(json["stages"][4]["status"], "failed");
}

#[test]
fn a_stage_that_parks_without_being_a_gate_fails_saying_so() {
    let yaml = "name: p\nversion: 2025-01-01\nstages:\n  - name: s\n    type: sneaky-park\n";
    let out = Runner::new().run(&plan(yaml).unwrap(), job());
    assert_eq!(out.report.status, RunStatus::Failed);
    assert_eq!(
        out.report.stages[0].message.as_deref(),
        Some("asked to park the run, but stage type `sneaky-park` is not declared `#[stage(parks)]`")
    );
}

#[test]
fn two_workers_give_the_same_report_as_one() {
    let plan = plan(LINEAR).unwrap();
    let one = Runner::new().run(&plan, job());
    for _ in 0..20 {
        let two = Runner::new().with_workers(2).run(&plan, job());
        assert_eq!(two.report.results, one.report.results);
        let strip = |r: &stage_core::RunReport| {
            r.stages.iter().map(|s| (s.name.clone(), s.status, s.output_count)).collect::<Vec<_>>()
        };
        assert_eq!(strip(&two.report), strip(&one.report));
    }
}

/// A ledger that only knows `set`: the runtime's metrics go through `set_many`'s default.
struct OneByOne(InMemoryLedger, std::sync::atomic::AtomicUsize);

impl Ledger for OneByOne {
    fn get(&self, job: &str, field: &str) -> Result<Option<serde_json::Value>, stage_core::BoxError> {
        self.0.get(job, field)
    }
    fn set(&self, job: &str, field: &str, value: serde_json::Value) -> Result<(), stage_core::BoxError> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0.set(job, field, value)
    }
    fn get_metadata(&self, job: &str, key: &str) -> Result<Option<serde_json::Value>, stage_core::BoxError> {
        self.0.get_metadata(job, key)
    }
    fn set_metadata(
        &self,
        job: &str,
        key: &str,
        value: serde_json::Value,
    ) -> Result<(), stage_core::BoxError> {
        self.0.set_metadata(job, key, value)
    }
    fn fields(
        &self,
        job: &str,
    ) -> Result<std::collections::BTreeMap<String, serde_json::Value>, stage_core::BoxError> {
        self.0.fields(job)
    }
}

#[test]
fn metrics_reach_a_ledger_that_only_implements_set() {
    let ledger = Arc::new(OneByOne(InMemoryLedger::new(), Default::default()));
    let out = Runner::new().with_ledger(ledger.clone()).run(&plan(LINEAR).unwrap(), job());
    assert_eq!(out.report.status, RunStatus::Completed);
    // Three metrics for each of the five stages, one `set` each.
    assert_eq!(ledger.1.load(std::sync::atomic::Ordering::SeqCst), 15);
    let fields = ledger.fields("j-1").unwrap();
    assert_eq!(fields["stage.chunk.output_count"], json!(2));
    assert_eq!(fields["stage.tally.attempts"], json!(1));
}

#[test]
fn results_are_read_from_the_shared_state_and_serialize_as_a_map() {
    let plan = plan(LINEAR).unwrap();
    let out = Runner::new().run(&plan, job());
    let results = &out.report.results;
    // Sorted by name, one per completed stage, whatever order they ran in.
    assert_eq!(results.names().collect::<Vec<_>>(), ["chunk", "extract", "ingest", "parse", "tally"]);
    assert_eq!(results.len(), 5);
    assert!(results.contains_key("tally") && !results.contains_key("nope"));
    assert_eq!(results.get("tally"), Some(&json!({"type": "tally", "output": 2})));
    assert_eq!(results.get("nope"), None);
    // Serialized: the contract's map; read back: equal.
    let as_json = serde_json::to_value(results).unwrap();
    assert_eq!(as_json, serde_json::to_value(results.to_map()).unwrap());
    assert_eq!(as_json["chunk"]["output"], json!(["Aspirin and COX", "Statins"]));
    let back: stage_core::run::Results = serde_json::from_value(as_json).unwrap();
    assert_eq!(&back, results);
    assert_eq!(back["extract"], results["extract"]);
    // The state's own view agrees, and its stages are in execution order.
    assert_eq!(&out.state.results(), results);
    let ran: Vec<&str> = out.state.stages().map(|(name, _)| name).collect();
    assert_eq!(ran, ["ingest", "parse", "chunk", "extract", "tally"]);
    assert_eq!(out.state.stage("chunk").map(|r| r.output_count), Some(2));
    assert_eq!(out.state.outputs("chunk").iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["chunks"]);
    assert!(out.state.outputs("tally").is_empty(), "a stage writing no key has no outputs");
}

#[test]
fn resuming_a_clone_of_a_state_leaves_the_first_run_untouched() {
    let plan = plan(LINEAR).unwrap();
    let first = Runner::new().run(&plan, job());
    let before = first.report.results.to_map();
    // A state with only `ingest` and `parse`: run again from a clone of it.
    let partial_plan = plan_with(
        "name: linear\nversion: 2025-01-01\nstages:\n  - name: ingest\n    type: ingest\n  - name: parse\n    type: parse\n    depends_on: [ingest]\n",
        &PlanOptions::default(),
    )
    .unwrap();
    let partial = Runner::new().run(&partial_plan, job());
    let resumed = Runner::new().run_from(&plan, partial.state.clone());
    assert_eq!(resumed.report.status, RunStatus::Completed);
    assert_eq!(resumed.report.results.to_map(), before);
    // The clone was changed by the resumed run; the original was not.
    assert_eq!(partial.state.stages().len(), 2);
    assert_eq!(partial.report.results.len(), 2);
    assert_eq!(resumed.state.stages().len(), 5);
}

#[test]
fn the_run_state_round_trips_through_json_typed_by_the_producers_metadata() {
    let plan = plan(LINEAR).unwrap();
    let out = Runner::new().run(&plan, job());
    let json = out.state.to_json();
    let back = RunState::from_json(json.clone(), &plan).unwrap();
    let doc = back.written("parse", "document").unwrap();
    assert_eq!(doc.downcast_ref::<Document>().unwrap().paragraphs, ["Aspirin and COX", "Statins"]);
    assert_eq!(back.to_json(), json);
    assert_eq!(back.results(), out.report.results);

    let mut broken = json;
    broken["stages"]["parse"]["written"][0][1] = json!("not a document");
    let err = RunState::from_json(broken, &plan).unwrap_err().to_string();
    assert!(
        err.starts_with("stored run state: stage `parse`, key `document`: stored value is not a `runtime::common::Document`"),
        "{err}"
    );
}

#[test]
fn a_sequential_run_follows_the_execution_order_with_ties_by_declaration() {
    // `chunk` is declared before `extract`, and becomes ready only after `parse`; `extract`
    // too. `tally` (declared second) is ready as soon as `chunk` is done.
    let yaml = "\
name: order
version: 2025-01-01
stages:
  - name: ingest
    type: ingest
  - name: tally
    type: tally
    depends_on: [chunk]
  - name: parse
    type: parse
    depends_on: [ingest]
  - name: chunk
    type: chunk
    depends_on: [parse]
  - name: extract
    type: extract
    depends_on: [parse]
";
    let plan = plan(yaml).unwrap();
    let events = Arc::new(CollectingSink::new());
    Runner::new().with_events(events.clone()).run(&plan, job());
    let started: Vec<String> =
        events.events().into_iter().filter(|e| e.kind == EventKind::Started).map(|e| e.stage).collect();
    let order: Vec<&str> = plan.order.iter().map(|&i| plan.stages[i].name.as_str()).collect();
    assert_eq!(order, ["ingest", "parse", "chunk", "tally", "extract"]);
    assert_eq!(started, order);
}
