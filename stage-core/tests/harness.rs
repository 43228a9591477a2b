//! The one-stage harness (`stage_core::testing`), on small test stages: outputs, count,
//! events, config through the planner, ledger and clock, failures, panics, parking, policies,
//! and the errors a test gets for a wrong input or output.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::json;
use stage_core::policy::PolicySet;
use stage_core::run::{EventKind, FailureKind};
use stage_core::testing::{HarnessError, HarnessStatus, StageHarness};
use stage_core::{
    registration, spec, stage, FakeClock, Job, Plan, PlanOptions, RunStatus, Runner, StageContext,
    StageError, StageRegistry,
};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SplitConfig {
    min_len: usize,
    upper: bool,
}

/// Splits a text into its words of at least `min_len` characters, in `lang` when given.
#[stage(type = "test-words", state_key = "words", dependencies = ["parse"])]
fn words(text: &String, lang: Option<&String>, #[config] cfg: &SplitConfig) -> Vec<String> {
    let suffix = lang.map(|l| format!("@{l}")).unwrap_or_default();
    text.split_whitespace()
        .filter(|w| w.chars().count() >= cfg.min_len)
        .map(|w| (if cfg.upper { w.to_uppercase() } else { w.to_owned() }) + &suffix)
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stamp {
    ready: bool,
    secs: u64,
}

/// Reads the ledger field `ready` and the clock; writes a field back.
#[stage(type = "test-stamp", state_key = "stamp", counter = one)]
fn stamp(ctx: &StageContext) -> Result<Stamp, StageError> {
    let job = &ctx.job().job_id;
    let ready = ctx.ledger().get(job, "ready").map_err(StageError::Failed)?.and_then(|v| v.as_bool());
    let secs = ctx.clock().now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    ctx.ledger().set(job, "stamped", json!(secs)).map_err(StageError::Failed)?;
    Ok(Stamp { ready: ready.unwrap_or(false), secs })
}

fn one(_: &Stamp) -> u64 {
    1
}

#[derive(Debug, thiserror::Error)]
#[error("the service said no to `{0}`")]
struct Refused(String);

/// Fails (transiently) on any text, or panics on `boom`.
#[stage(type = "test-flaky", state_key = "echo", counter = one_str)]
fn flaky(text: &String) -> Result<String, StageError> {
    if text == "boom" {
        panic!("boom on purpose");
    }
    Err(StageError::Failed(Box::new(Refused(text.clone()))))
}

/// Parks the run unless the ledger says `open` (a gate: its pipeline gives it a condition).
#[stage(type = "test-door", state_key = "entered", parks, counter = one_str)]
fn door(ctx: &StageContext) -> Option<String> {
    let open = ctx.ledger().get(&ctx.job().job_id, "open").ok().flatten() == Some(json!(true));
    if open {
        Some("in".to_owned())
    } else {
        ctx.park("the door is closed");
        None
    }
}

fn one_str(_: &String) -> u64 {
    1
}

fn text(s: &str) -> String {
    s.to_owned()
}

#[test]
fn outputs_count_and_events_come_from_a_real_run() {
    let out = StageHarness::new(registration!(words))
        .input("text", text("a bb ccc dddd"))
        .config(json!({"min_len": 2}))
        .run()
        .unwrap();
    assert_eq!(*out.status(), HarnessStatus::Completed);
    assert_eq!(out.output::<Vec<String>>("words").unwrap(), &["bb", "ccc", "dddd"]);
    assert_eq!(out.count(), Some(3));
    let kinds: Vec<&EventKind> = out.events().iter().map(|e| &e.kind).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(*kinds[0], EventKind::Started);
    assert!(matches!(kinds[1], EventKind::Completed { output_count: 3, attempt: 1, .. }), "{kinds:?}");
    assert!(out.events().iter().all(|e| e.stage == "test-words" && e.job_id == "harness-job"));
    // The runtime's metrics reach the ledger, as in a pipeline.
    assert_eq!(out.ledger_field("stage.test-words.output_count"), Some(json!(3)));
}

#[test]
fn optional_inputs_and_yaml_config_are_given_like_the_rest() {
    let without = StageHarness::new(registration!(words)).input("text", text("ab cd")).run().unwrap();
    assert_eq!(without.output::<Vec<String>>("words").unwrap(), &["ab", "cd"]);
    let with = StageHarness::new(registration!(words))
        .input("text", text("ab cd"))
        .input("lang", text("en"))
        .config_yaml("upper: true\nmin_len: 0")
        .run()
        .unwrap();
    assert_eq!(with.output::<Vec<String>>("words").unwrap(), &["AB@en", "CD@en"]);
}

#[test]
fn the_same_stage_in_a_pipeline_gives_the_same_output() {
    /// Writes a fixed text.
    #[stage(type = "parse", state_key = "text", counter = one_str)]
    fn parse() -> String {
        "one three fifteen".to_owned()
    }
    let registry =
        StageRegistry::builder().register(registration!(parse)).register(registration!(words)).build();
    let yaml =
        "name: p\nversion: 2026-01-01\nstages:\n  - name: parse\n    type: parse\n  - name: words\n    \
                type: test-words\n    depends_on: [parse]\n    config: {min_len: 4}\n";
    let spec = spec::load_str("p.yaml", yaml).unwrap().value;
    let plan = Plan::new(&spec, &registry, &PlanOptions::default()).unwrap();
    let piped = Runner::new().run(&plan, Job::new("j", "test"));
    assert_eq!(piped.report.status, RunStatus::Completed);
    let piped = piped.state.written("words", "words").unwrap();
    let harnessed = StageHarness::new(registration!(words))
        .input("text", text("one three fifteen"))
        .config(json!({"min_len": 4}))
        .run()
        .unwrap();
    assert_eq!(
        harnessed.output::<Vec<String>>("words").unwrap(),
        piped.downcast_ref::<Vec<String>>().unwrap()
    );
}

#[test]
fn a_bad_config_is_the_planners_diagnostic() {
    let err = StageHarness::new(registration!(words))
        .input("text", text("x"))
        .config_yaml("min_lenght: 2")
        .run()
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, HarnessError::Plan { .. }), "{msg}");
    assert!(msg.contains("min_lenght") && msg.contains("test-words"), "{msg}");
    let err = StageHarness::new(registration!(words))
        .input("text", text("x"))
        .config(json!({"min_len": "two"}))
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("min_len"), "{err}");
}

#[test]
fn ledger_fields_and_the_fake_clock_reach_the_stage() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let out = StageHarness::new(registration!(stamp))
        .ledger("ready", true)
        .clock(FakeClock::new(t0))
        .job(Job::new("job-7", "test"))
        .run()
        .unwrap();
    assert_eq!(out.output::<Stamp>("stamp").unwrap(), &Stamp { ready: true, secs: 1_800_000_000 });
    assert_eq!(out.count(), Some(1));
    assert_eq!(out.ledger_field("stamped"), Some(json!(1_800_000_000u64)));
    assert!(out.events().iter().all(|e| e.job_id == "job-7"));
    // Without the field, the stage sees none.
    let out = StageHarness::new(registration!(stamp)).run().unwrap();
    assert!(!out.output::<Stamp>("stamp").unwrap().ready);
}

#[test]
fn a_failing_stage_is_a_status_with_its_error_not_a_harness_error() {
    let out = StageHarness::new(registration!(flaky)).input("text", text("hello")).run().unwrap();
    match out.status() {
        HarnessStatus::Failed { error, kind } => {
            assert_eq!(error, "the service said no to `hello`");
            assert_eq!(*kind, FailureKind::Transient);
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(out.count(), None);
    assert!(matches!(out.events().last().map(|e| &e.kind), Some(EventKind::Failed { attempt: 1, .. })));
    let err = out.output::<String>("echo").unwrap_err();
    assert!(err.to_string().contains("did not complete"), "{err}");

    let out = StageHarness::new(registration!(flaky)).input("text", text("boom")).run().unwrap();
    assert!(
        matches!(out.status(), HarnessStatus::Failed { kind: FailureKind::Panicked, error } if error.contains("boom on purpose")),
        "{:?}",
        out.status()
    );
}

#[test]
fn a_policy_retries_on_the_fake_clock() {
    let out = StageHarness::new(registration!(flaky))
        .input("text", text("hello"))
        .policy(PolicySet::builtin(), "default")
        .run()
        .unwrap();
    let retries = out.events().iter().filter(|e| matches!(e.kind, EventKind::Retrying { .. })).count();
    assert_eq!(retries, 2, "{:?}", out.events());
    assert_eq!(out.report().attempts, 3);
    let err = StageHarness::new(registration!(flaky))
        .input("text", text("hello"))
        .policy(PolicySet::builtin(), "defualt")
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("defualt"), "{err}");
}

#[test]
fn a_gate_parks_or_passes_on_the_ledger() {
    // A gate stage needs a condition, in its config when no `gates` entry binds it.
    let condition = "conditions:\n  - key: open\n    expected: true";
    let err = StageHarness::new(registration!(door)).run().unwrap_err();
    assert!(err.to_string().contains("gate stage `test-door` has no condition"), "{err}");
    let parked = StageHarness::new(registration!(door)).config_yaml(condition).run().unwrap();
    assert_eq!(*parked.status(), HarnessStatus::Parked { reason: "the door is closed".to_owned() });
    assert!(matches!(parked.events().last().map(|e| &e.kind), Some(EventKind::Parked { .. })));
    let passed =
        StageHarness::new(registration!(door)).config_yaml(condition).ledger("open", true).run().unwrap();
    assert_eq!(passed.output::<String>("entered").unwrap(), "in");
}

#[test]
fn wrong_inputs_are_named_with_what_to_do() {
    let err = StageHarness::new(registration!(words)).run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "stage type `test-words` reads `text` (a `alloc::string::String`) and no value was given: add `.input(\"text\", value)`"
    );
    let err = StageHarness::new(registration!(words)).input("txt", text("x")).run().unwrap_err();
    assert!(err.to_string().contains("reads no input `txt` (it reads `text`, `lang`)"), "{err}");
    let err = StageHarness::new(registration!(words)).input("text", 5u32).run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "stage type `test-words` reads `text` as `alloc::string::String`, but the value given is a `u32`"
    );
    let err = StageHarness::new(registration!(stamp)).input("job_id", text("x")).run().unwrap_err();
    assert!(err.to_string().contains("reads no input `job_id`"), "{err}");
    let err =
        StageHarness::for_type(&StageRegistry::builder().register(registration!(words)).build(), "test-word")
            .run()
            .unwrap_err();
    assert!(err.to_string().contains("did you mean `test-words`"), "{err}");
}

#[test]
fn wrong_outputs_are_named_with_both_types() {
    let out = StageHarness::new(registration!(words)).input("text", text("a")).run().unwrap();
    let err = out.output::<Vec<u8>>("words").unwrap_err();
    assert_eq!(
        err.to_string(),
        "stage `test-words` wrote `words` as `alloc::vec::Vec<alloc::string::String>`, not as the \
         `alloc::vec::Vec<u8>` asked for"
    );
    let err = out.output::<Vec<String>>("word").unwrap_err();
    assert_eq!(err.to_string(), "stage `test-words` wrote nothing under `word` (it writes `words`)");
}

#[test]
fn for_type_finds_a_registered_stage() {
    let registry = StageRegistry::builder().register(registration!(words)).build();
    let out = StageHarness::for_type(&registry, "test-words").input("text", text("x y")).run().unwrap();
    assert_eq!(out.count(), Some(2));
}
