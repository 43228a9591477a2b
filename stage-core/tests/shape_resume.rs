//! Output shapes in the plan fingerprint, through the resume path a host takes: a run is
//! stored (parked at a gate after `parse` completed), the type `parse` writes changes, and
//! the run resumes: the fingerprint check, then the stored state read into the new plan,
//! then the run continued.

use serde::{Deserialize, Serialize};
use stage_core::{
    registration, spec, stage, Fingerprint, Job, OutputCount, Plan, PlanOptions, RunState, RunStatus, Runner,
    StageContext, StageMetadata, StageRegistry,
};

macro_rules! doc_type {
    ($(#[$m:meta])* $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(rename = "Doc")]
        struct $name { $($body)* }
        impl OutputCount for $name {
            fn output_count(&self) -> u64 { 1 }
        }
    };
}

doc_type!(DocV1 { title: String, pages: u32 });
doc_type!(DocRequiredField { title: String, pages: u32, lang: String });
doc_type!(DocDefaultField { title: String, pages: u32, #[serde(default)] lang: String, #[serde(default)] note: Option<String> });
doc_type!(DocRenamedField { heading: String, pages: u32 });
doc_type!(DocChangedType { title: String, pages: String });

/// Version 1 of `shape-parse`.
#[stage(type = "shape-parse", state_key = "document")]
fn parse_v1() -> DocV1 {
    DocV1 { title: "T".into(), pages: 3 }
}
/// With a required field added.
#[stage(type = "shape-parse", state_key = "document")]
fn parse_required() -> DocRequiredField {
    DocRequiredField { title: "T".into(), pages: 3, lang: "en".into() }
}
/// With defaulted fields added.
#[stage(type = "shape-parse", state_key = "document")]
fn parse_default() -> DocDefaultField {
    DocDefaultField { title: "T".into(), pages: 3, lang: "en".into(), note: None }
}
/// With `title` renamed.
#[stage(type = "shape-parse", state_key = "document")]
fn parse_renamed() -> DocRenamedField {
    DocRenamedField { heading: "T".into(), pages: 3 }
}
/// With `pages` a string.
#[stage(type = "shape-parse", state_key = "document")]
fn parse_changed() -> DocChangedType {
    DocChangedType { title: "T".into(), pages: "3".into() }
}

/// Parks until the ledger says `open`.
#[stage(type = "shape-door", state_key = "entered", parks, counter = one)]
fn door(ctx: &StageContext) -> Option<bool> {
    let open = ctx.ledger().get(&ctx.job().job_id, "open").ok().flatten() == Some(serde_json::json!(true));
    if !open {
        ctx.park("closed");
    }
    open.then_some(true)
}
fn one(_: &bool) -> u64 {
    1
}

const PIPELINE: &str = "\
name: p
version: 2026-01-01
stages:
  - name: parse
    type: shape-parse
  - name: door
    type: shape-door
    depends_on: [parse]
    config:
      conditions:
        - key: open
          expected: true
";

fn plan(parse: &'static StageMetadata) -> Plan {
    let registry = StageRegistry::builder().register(parse).register(registration!(door)).build();
    let spec = spec::load_str("p.yaml", PIPELINE).unwrap().value;
    Plan::new(&spec, &registry, &PlanOptions::default()).unwrap()
}

/// A run of version 1, parked at `door`: its fingerprint and state as a host stores them (JSON).
fn stored() -> (Fingerprint, serde_json::Value) {
    let p1 = plan(registration!(parse_v1));
    let out = Runner::new().run(&p1, Job::new("j", "test"));
    assert_eq!(out.report.status, RunStatus::Parked);
    let fp = serde_json::from_str(&serde_json::to_string(p1.fingerprint()).unwrap()).unwrap();
    (fp, out.state.to_json())
}

/// Resumes the stored run under `parse`: the fingerprint check, the stored state read back,
/// the run continued (the door open). `Err` is why it was refused.
fn resume(parse: &'static StageMetadata) -> Result<(Vec<String>, RunState), String> {
    let (fp, state) = stored();
    let p2 = plan(parse);
    let warnings = p2.fingerprint().check_resume(&fp, ["parse"])?;
    let state = RunState::from_json(state, &p2).map_err(|e| e.to_string())?;
    let runner = Runner::new();
    runner.ledger().set("j", "open", serde_json::json!(true)).unwrap();
    let out = runner.run_from(&p2, state);
    assert_eq!(out.report.status, RunStatus::Completed, "{:?}", out.report);
    Ok((warnings, out.state))
}

#[test]
fn the_same_type_resumes_without_a_word() {
    let (warnings, state) = resume(registration!(parse_v1)).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let doc = state.written("parse", "document").unwrap();
    assert_eq!(doc.downcast_ref::<DocV1>(), Some(&DocV1 { title: "T".into(), pages: 3 }));
}

#[test]
fn an_added_field_with_a_default_is_accepted() {
    let (warnings, state) = resume(registration!(parse_default)).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("field `lang` of `Doc` (`String`)"), "{warnings:?}");
    assert!(warnings[0].contains("field `note` of `Doc` (`Option<String>`)"), "{warnings:?}");
    // The stored value, read into the new type: the added fields take their defaults.
    let doc = state.written("parse", "document").unwrap();
    assert_eq!(
        doc.downcast_ref::<DocDefaultField>(),
        Some(&DocDefaultField { title: "T".into(), pages: 3, lang: String::new(), note: None })
    );
}

#[test]
fn an_added_required_field_is_refused_with_the_decode_error() {
    let err = resume(registration!(parse_required)).unwrap_err();
    assert!(err.contains("stage `parse`, key `document`"), "{err}");
    assert!(err.contains("missing field `lang`"), "{err}");
}

#[test]
fn a_renamed_field_is_refused_naming_stage_key_and_field() {
    let err = resume(registration!(parse_renamed)).unwrap_err();
    assert!(
        err.starts_with("the stored run cannot resume: completed stage `parse` wrote `document` as"),
        "{err}"
    );
    assert!(
        err.contains(
            "field `title` of `Doc` (`String`) was removed or renamed (`Doc` now has `heading`, `pages`)"
        ),
        "{err}"
    );
}

#[test]
fn a_changed_field_type_is_refused_naming_both_types() {
    let err = resume(registration!(parse_changed)).unwrap_err();
    assert!(err.contains("completed stage `parse` wrote `document`"), "{err}");
    assert!(err.contains("field `pages` of `Doc` was `u32` and is now `String`"), "{err}");
}

#[test]
fn shapes_are_traced_once_per_plan_and_untraceable_types_have_none() {
    let p = plan(registration!(parse_v1));
    let shape = p.fingerprint().stages["parse"].shapes[0].clone().unwrap();
    assert_eq!(shape.root, "Doc");
    assert_eq!(shape.containers["Doc"]["pages"], "u32");
    assert!(std::ptr::eq(p.fingerprint(), p.fingerprint()));
    // `serde_json::Value` cannot be traced: the type name stands for it.
    assert!(stage_core::OutputType::of::<serde_json::Value>().shape().is_none());
    assert!(stage_core::OutputType::of::<Vec<(u8, String)>>().shape().is_some());
}
