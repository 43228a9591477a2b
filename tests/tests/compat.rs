//! The ten real pipeline files of the original platform load, validate and run end to end
//! against stand-ins for the built-in stage types, with the contract's keys and types (§4),
//! through a runtime that knows stages only by their metadata.

use std::sync::Arc;

use serde_json::json;
use stage_core::run::{CollectingSink, EventKind};
use stage_core::{
    InMemoryLedger, Job, Ledger, Plan, PlanOptions, RunStatus, Runner, StageRegistry, StageStatus,
};
use stage_tests::compat_pipelines;

mod common;

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
        let options =
            PlanOptions { policies: Some(stage_core::policy::PolicySet::builtin()), ..Default::default() };
        let plan =
            Plan::from_file(file, registry, &options).unwrap_or_else(|e| panic!("{}:\n{e}", file.display()));
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
        let has_gate = plan.stages.iter().any(|s| s.meta.parks());
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
