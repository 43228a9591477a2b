//! Pipelines: a shared pipeline file of the original platform (`auto`, eight stages, one
//! branch) with trivial stand-in stages, run through the runtime at 1 and 2 workers, with and
//! without the host's resilience policies (`policy: default` gives every attempt a timeout,
//! so each runs on a pooled thread), against the hand-written runner resolved in advance.
//! Run with `cargo bench -p stage-core --bench pipelines`.

#[path = "../../bench/harness.rs"]
mod harness;
#[path = "common/standins.rs"]
mod standins;

use std::path::PathBuf;

use harness::{black_box, Group};
use stage_core::policy::PolicySet;
use stage_core::{spec, ConfigValue, Plan, PlanOptions, RunStatus, Runner, StageRegistry};
use standins::{job, run_by_hand, Hand, HandPlan, Shared};

/// The original platform's `auto` file, from the repository's copy in `tests/compat`.
fn pipeline_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/compat/pipelines/auto-8c1d4b2a.yaml")
}

fn main() {
    let file = pipeline_file();
    let registry = StageRegistry::global();
    let with_policies = PlanOptions { policies: Some(PolicySet::builtin()), ..PlanOptions::default() };
    let plain = Plan::from_file(&file, registry, &PlanOptions::default()).expect("the file plans");
    let policed = Plan::from_file(&file, registry, &with_policies).expect("the file plans with policies");
    let loaded = spec::load_file(&file).expect("the file loads");
    let configs: Vec<Option<ConfigValue>> = loaded
        .value
        .stages
        .iter()
        .map(|s| {
            let meta = registry.get_metadata(&s.stage_type).expect("a stand-in");
            meta.config().map(|c| c.parse(s.config_json()).expect("a valid config"))
        })
        .collect();
    let hand = HandPlan::new(&plain, &configs);
    let shared = Shared::new();
    let job = job();
    let stages = plain.stages.len();
    println!("pipeline file: {} ({stages} stages)", file.display());

    let runners: Vec<(String, Runner, &Plan)> = [(1, false), (2, false), (1, true), (2, true)]
        .into_iter()
        .map(|(workers, policies)| {
            let name = format!(
                "stage-core Runner, {workers} worker(s), {}",
                if policies { "host policies (each attempt on a pooled thread)" } else { "no policy" }
            );
            let runner = Runner::new().with_ledger(shared.ledger.clone()).with_workers(workers);
            (name, runner, if policies { &policed } else { &plain })
        })
        .collect();
    for (_, runner, plan) in &runners {
        let out = runner.run(plan, job.clone());
        assert_eq!(out.report.status, RunStatus::Completed, "{:?}", out.report);
        assert_eq!(out.report.stages.len(), stages);
    }

    let mut g = Group::new(
        &format!("pipelines: one job through the shared `auto` file ({stages} trivial stages)"),
        "job",
    );
    g.add("hand-written, resolved in advance, 1 thread", 1, || {
        run_by_hand(black_box(&hand), black_box(&job), &shared, Hand::Resolved)
    });
    for (name, runner, plan) in &runners {
        g.add(name, 1, || runner.run(black_box(plan), black_box(job.clone())));
    }
    g.run();
}
