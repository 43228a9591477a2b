//! Dispatch: one stage executed through the runtime (inputs read, call, output handler,
//! counter, result record, metrics) against two hand-written runners doing the same work on
//! the same trivial stages: one matching the type string on every call (the design this project
//! replaces, in Rust), one whose calls are resolved in advance.
//!
//! Each iteration runs one job through a pipeline of the ten built-in stage types (trivial
//! stand-ins, `common/standins.rs`), one worker, no policy; the time per stage is the run's
//! time divided by ten. Run with `cargo bench -p stage-core --bench dispatch`.

#[path = "../../bench/harness.rs"]
mod harness;
#[path = "common/standins.rs"]
mod standins;

use harness::{black_box, Group};
use stage_core::{spec, ConfigValue, Plan, PlanOptions, Runner, StageRegistry};
use standins::{job, run_by_hand, Hand, HandPlan, Shared, TEN_STAGES};

/// The plan of `text` against the stand-ins, and each stage's parsed config.
fn plan_of(text: &str) -> (Plan, Vec<Option<ConfigValue>>) {
    let registry = StageRegistry::global();
    let loaded = spec::load_str("bench.yaml", text).expect("the bench pipeline loads");
    let plan = Plan::new(&loaded.value, registry, &PlanOptions::default()).expect("the bench pipeline plans");
    let configs = loaded
        .value
        .stages
        .iter()
        .map(|s| {
            let meta = registry.get_metadata(&s.stage_type).expect("a stand-in");
            meta.config().map(|c| c.parse(s.config_json()).expect("a valid config"))
        })
        .collect();
    (plan, configs)
}

fn main() {
    let (plan, configs) = plan_of(TEN_STAGES);
    let stages = plan.stages.len() as u64;
    assert_eq!(stages, 10);
    let hand = HandPlan::new(&plan, &configs);
    let job = job();

    // Same results from the three runners.
    // The runtime as a host without logging runs it: default sink (`tracing`, no subscriber).
    let shared = Shared::new();
    let runner = Runner::new().with_ledger(shared.ledger.clone());
    let out = runner.run(&plan, job.clone());
    assert_eq!(out.report.status, stage_core::RunStatus::Completed, "{:?}", out.report);
    for how in [Hand::ByString, Hand::Resolved, Hand::ResolvedLazy] {
        let h = run_by_hand(&hand, &job, &shared, how);
        assert_eq!(h.lines.len(), out.report.stages.len());
        for (a, b) in h.lines.iter().zip(&out.report.stages) {
            assert_eq!((&a.name, a.status, a.output_count), (&b.name, b.status, b.output_count));
        }
        assert_eq!(h.results.len(), out.report.results.len());
    }

    // `BENCH_PROFILE=runner|string|resolved` runs one variant `BENCH_PROFILE_ITERS` times (for
    // callgrind: `valgrind --tool=callgrind target/release/deps/dispatch-*`), without timing.
    if let Ok(which) = std::env::var("BENCH_PROFILE") {
        let iters: usize =
            std::env::var("BENCH_PROFILE_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(1000);
        for _ in 0..iters {
            match which.as_str() {
                "runner" => drop(black_box(runner.run(&plan, job.clone()))),
                "string" => drop(black_box(run_by_hand(&hand, &job, &shared, Hand::ByString))),
                "lazy" => drop(black_box(run_by_hand(&hand, &job, &shared, Hand::ResolvedLazy))),
                _ => drop(black_box(run_by_hand(&hand, &job, &shared, Hand::Resolved))),
            }
        }
        return;
    }

    let mut g = Group::new("dispatch: one stage through the runtime vs by hand (10 built-in types)", "stage");
    g.add("hand-written, resolved in advance", stages, || {
        run_by_hand(black_box(&hand), black_box(&job), &shared, Hand::Resolved)
    });
    g.add("hand-written, matching the type string", stages, || {
        run_by_hand(black_box(&hand), black_box(&job), &shared, Hand::ByString)
    });
    g.add("hand-written, resolved, initial keys built on first read", stages, || {
        run_by_hand(black_box(&hand), black_box(&job), &shared, Hand::ResolvedLazy)
    });
    g.add("stage-core Runner", stages, || runner.run(black_box(&plan), black_box(job.clone())));
    g.run();
}
