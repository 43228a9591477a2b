//! The global registry as a binary sees it: stages from a separate plugin crate, stages from
//! this file, another crate's slice named `STAGES`, and the glue called through metadata.

use std::sync::Arc;

use download_plugin as _;
use serde::{Deserialize, Serialize};
use stage_core::{stage, Job, OutputSink, StageContext, StageRegistry, StateKey, StateValue};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Doc {
    text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entity(String);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Claim(String, String);

#[derive(Debug, thiserror::Error)]
#[error("document is empty")]
struct EmptyDoc;

/// Finds capitalised words and claims linking neighbours.
#[stage(type = "test-extract", state_key = ["entities", "claims"], dependencies = ["test-parse"])]
fn extract(document: &Doc) -> Result<(Vec<Entity>, Vec<Claim>), EmptyDoc> {
    if document.text.is_empty() {
        return Err(EmptyDoc);
    }
    let entities: Vec<Entity> = document
        .text
        .split_whitespace()
        .filter(|w| w.starts_with(char::is_uppercase))
        .map(|w| Entity(w.to_owned()))
        .collect();
    let claims = entities.windows(2).map(|w| Claim(w[0].0.clone(), w[1].0.clone())).collect();
    Ok((entities, claims))
}

/// Counts words; writes nothing when there are none.
#[stage(type = "test-count", state_key = "word_count", counter = count_words)]
fn count(document: Option<&Doc>) -> Option<u64> {
    document.map(|d| d.text.split_whitespace().count() as u64).filter(|n| *n > 0)
}

fn count_words(n: &u64) -> u64 {
    *n
}

/// The smallest stage there is.
#[stage(type = "test-noop")]
fn noop() {}

/// Parks the run when the job's source is `later`.
#[stage(type = "test-gate", parks, dependencies = ["@ledger"])]
fn gate(ctx: &StageContext) {
    if ctx.job().source == "later" {
        ctx.park("source says later");
    }
}

/// What a call through metadata gives: the count, and what the handler wrote.
type Called = (Option<u64>, Vec<(String, stage_core::SharedValue)>);

fn call(
    stage_type: &str,
    ctx: &StageContext,
    inputs: &[Option<&dyn StateValue>],
) -> Result<Called, stage_core::StageError> {
    let meta = StageRegistry::global().get(stage_type).unwrap();
    let keys: Vec<&str> = meta.inputs().iter().map(|i| i.key).collect();
    let args = stage_core::StageArgs::new(ctx, inputs, &keys, None, &[]);
    let Some(out) = meta.invoke(&args)? else { return Ok((None, Vec::new())) };
    let count = (meta.output_counter().count)(&*out).ok();
    let mut sink = OutputSink::new();
    (meta.output_handler().apply)(out, meta.state_key().keys(), &mut sink)?;
    Ok((count, sink.into_written()))
}

fn ctx(source: &str) -> StageContext {
    StageContext::new(Arc::new(Job::new("job-1", source)), "s", "test")
}

#[test]
fn a_plugin_crate_that_depends_on_stage_core_only_is_registered_when_linked() {
    let meta = StageRegistry::global().get_metadata("download").expect("download-plugin is linked");
    assert_eq!(*meta.state_key(), StateKey::One("downloaded_files"));
    assert_eq!(meta.version(), "0.3.1", "defaults to the plugin crate's version");
    assert_eq!(meta.location().crate_name, "download-plugin");
    assert_eq!(meta.location().module_path, "download_plugin");
    assert!(meta.location().file.ends_with("src/lib.rs"));
    assert_eq!(meta.description(), "Lists the files a job downloaded (fixture: two fixed names).");
    let (count, written) = call("download", &ctx("pmc"), &[]).unwrap();
    assert_eq!(count, Some(2));
    assert_eq!(written[0].0, "downloaded_files");
    assert_eq!(written[0].1.downcast_ref::<Vec<String>>().unwrap(), &["a.pdf", "b.pdf"]);
}

#[test]
fn the_registry_of_this_test_binary_has_no_problems_and_is_sorted() {
    let r = StageRegistry::global();
    assert!(r.check().is_ok(), "{:?}", r.problems());
    let types = r.stage_types();
    assert!(types.windows(2).all(|w| w[0] < w[1]), "{types:?}");
    for t in ["download", "test-count", "test-extract", "test-gate", "test-noop"] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    assert!(r.require(["download", "test-extract"]).is_ok());
}

#[test]
fn another_crates_slice_named_stages_disturbs_nothing() {
    let theirs: Vec<&str> = other_slice::STAGES.iter().copied().collect();
    assert_eq!(theirs.len(), 2);
    assert!(theirs.contains(&"not-a-stage-core-stage"));
    let r = StageRegistry::global();
    assert!(r.get_metadata("not-a-stage-core-stage").is_none());
    assert!(r.problems().is_empty());
}

#[test]
fn a_binary_sees_the_stages_of_a_crate_it_only_names_with_use_as_underscore() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_linked-registry")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.trim(), "download \"downloaded_files\" 0.3.1 download-plugin");
}

#[test]
fn two_keys_are_split_from_the_tuple_and_counted_as_the_sum() {
    let meta = StageRegistry::global().get_metadata("test-extract").unwrap();
    assert_eq!(meta.state_key().keys(), ["entities", "claims"]);
    assert_eq!(meta.dependencies(), ["test-parse"]);
    assert_eq!(meta.outputs().len(), 2);
    assert!(meta.outputs()[0].ty().name().ends_with("Vec<registry::Entity>"));
    assert_eq!(meta.inputs()[0].key, "document");
    assert!(meta.inputs()[0].required);
    let doc = Doc { text: "Aspirin inhibits COX1 and COX2".into() };
    let (count, written) = call("test-extract", &ctx("pmc"), &[Some(&doc)]).unwrap();
    assert_eq!(count, Some(3 + 2));
    assert_eq!(written.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["entities", "claims"]);
    assert_eq!(written[1].1.downcast_ref::<Vec<Claim>>().unwrap()[0], Claim("Aspirin".into(), "COX1".into()));
}

#[test]
fn a_stage_error_and_a_missing_input_fail_the_call_with_their_message() {
    let empty = Doc { text: String::new() };
    let err = call("test-extract", &ctx("pmc"), &[Some(&empty)]).unwrap_err();
    assert_eq!(err.to_string(), "document is empty");
    let err = call("test-extract", &ctx("pmc"), &[None]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "required input `document` is absent from the run state: no upstream stage wrote it"
    );
    let wrong: u64 = 3;
    let err = call("test-extract", &ctx("pmc"), &[Some(&wrong)]).unwrap_err();
    assert_eq!(err.to_string(), "input `document` holds a `u64`, but the stage reads a `registry::Doc`");
}

#[test]
fn option_outputs_write_only_when_some_and_custom_counters_count() {
    let meta = StageRegistry::global().get_metadata("test-count").unwrap();
    assert!(meta.may_skip());
    assert!(!meta.inputs()[0].required);
    assert_eq!(meta.output_counter().name, "count_words");
    let (count, written) = call("test-count", &ctx("pmc"), &[None]).unwrap();
    assert_eq!((count, written.len()), (None, 0));
    let doc = Doc { text: "one two three".into() };
    let (count, written) = call("test-count", &ctx("pmc"), &[Some(&doc)]).unwrap();
    assert_eq!(count, Some(3));
    assert_eq!(written[0].1.downcast_ref::<u64>(), Some(&3));
}

#[test]
fn no_key_stages_keep_their_raw_output_and_gates_declare_they_park() {
    let noop = StageRegistry::global().get_metadata("test-noop").unwrap();
    assert_eq!(*noop.state_key(), StateKey::None);
    let (count, written) = call("test-noop", &ctx("pmc"), &[]).unwrap();
    assert_eq!((count, written.len()), (Some(0), 0));

    let gate = StageRegistry::global().get_metadata("test-gate").unwrap();
    assert!(gate.parks());
    assert!(!noop.parks());
    assert_eq!(gate.dependencies(), ["@ledger"]);
    let later = ctx("later");
    call("test-gate", &later, &[]).unwrap();
    assert_eq!(later.take_park_request().as_deref(), Some("source says later"));
}

#[test]
fn metadata_is_debug_printable_with_its_definition_site() {
    let meta = StageRegistry::global().get_metadata("test-noop").unwrap();
    let dbg = format!("{meta:?}");
    assert!(dbg.contains("stage_type: \"test-noop\""), "{dbg}");
    assert!(dbg.contains("tests/tests/registry.rs"), "{dbg}");
    assert_eq!(meta.schema_version(), stage_core::SCHEMA_VERSION);
}
