//! The main job's batch (`examples/jobs/corpus.jsonl`, 7 jobs) through the built-in pipeline
//! (`examples/pipelines/literature.yaml`, 9 stages) with `stagectl::run_jobs`: jobs per second,
//! and the share of the batch's time spent in the framework versus in stage bodies.
//!
//! Method: every registered stage's metadata is copied with its `invoke` replaced by a wrapper
//! that times the call (the `#[stage]` glue — argument fetching, return conversion, building
//! the context the stage asks for — and the stage function) and adds it to a counter. With one
//! job at a time (concurrency 1), the framework's share is `(wall − Σ stage calls) / wall`.
//! Each batch runs in a fresh store (SQLite ledger, index and graph), planned before timing.
//!
//! Configurations: the runtime alone (no policy, no checkpoint), then as `stagectl run` runs it
//! (the host's policies, which put each attempt on a pooled thread under a timeout, and
//! the run journal (`stagectl::Journal`) after every stage, with and without `--sync-every-stage`), and
//! the host's defaults (`--concurrency 2`) for throughput.
//! Run with `cargo bench -p stagectl --bench batch`.

#[path = "../../bench/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use stage_core::__private::{InvokeFn, InvokeResult};
use stage_core::policy::PolicySet;

use stage_core::{
    HostSettings, InMemoryLedger, Job, Ledger, Plan, PlanOptions, RunStatus, Runner, StageArgs,
    StageMetadata, StageRegistry,
};
use stages_builtin::ledger::SqliteLedger;

// Link the host's plugins, as `stagectl`'s binary does.
use deid_plugin as _;
use stages_builtin as _;

/// Nanoseconds spent inside stage calls.
static BODY_NS: AtomicU64 = AtomicU64::new(0);
const SLOTS: usize = 32;
static ORIGINAL: [OnceLock<&'static StageMetadata>; SLOTS] = [const { OnceLock::new() }; SLOTS];

fn timed<const I: usize>(args: &StageArgs<'_>) -> InvokeResult {
    let started = Instant::now();
    let out = ORIGINAL[I].get().expect("wrapped").invoke(args);
    BODY_NS.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    out
}

macro_rules! wrappers {
    ($($i:literal)*) => { [$(timed::<$i> as InvokeFn),*] };
}
const WRAPPERS: [InvokeFn; SLOTS] =
    wrappers!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31);

/// `m` with its call timed.
fn wrap(i: usize, m: &'static StageMetadata) -> &'static StageMetadata {
    ORIGINAL[i].set(m).expect("each slot once");
    let mut w = StageMetadata::new(m.stage_type(), m.description(), WRAPPERS[i], m.location())
        .with_state_key(*m.state_key())
        .with_inputs(m.inputs())
        .with_outputs(m.outputs(), m.may_skip())
        .with_resources(m.resources())
        .with_dependencies(m.dependencies())
        .with_version(m.version())
        .with_output_handler(m.output_handler())
        .with_output_counter(m.output_counter())
        .with_parks(m.parks())
        .with_replaces(m.is_replacement());
    if let Some(c) = m.config() {
        w = w.with_config(*c);
    }
    Box::leak(Box::new(w))
}

#[derive(Clone, Copy)]
struct Config {
    name: &'static str,
    /// Through `stagectl::run_jobs` with the SQLite ledger (which also saves each run's record
    /// in the store), or `Runner::run` per job with the in-memory ledger (the runtime alone).
    host: bool,
    policies: bool,
    /// the run journal (`stagectl::Journal`) after every stage: `Some(sync)`.
    checkpoint: Option<bool>,
    concurrency: usize,
}

/// One batch in a fresh store; returns (wall time, time inside stage calls).
fn batch(registry: &StageRegistry, pipeline: &Path, jobs: &[Job], c: Config) -> (Duration, Duration) {
    let store = tempfile::tempdir().expect("temp store");
    let options = PlanOptions {
        policies: c.policies.then(PolicySet::builtin),
        run_dir: Some(store.path().to_owned()),
        ..PlanOptions::default()
    };
    let plan = Plan::from_file(pipeline, registry, &options).expect("the pipeline plans");
    let ledger: Arc<dyn Ledger> = if c.host {
        Arc::new(SqliteLedger::open(store.path()).expect("ledger"))
    } else {
        Arc::new(InMemoryLedger::new())
    };
    let mut runner = Runner::new()
        .with_ledger(ledger)
        .with_host(HostSettings { run_dir: Some(store.path().to_owned()), ..HostSettings::default() });
    if let Some(sync) = c.checkpoint {
        runner =
            runner.with_checkpoint(Arc::new(stagectl::Journal::open(store.path(), sync).expect("journal")));
    }
    BODY_NS.store(0, Ordering::SeqCst);
    let started = Instant::now();
    // Each run's report and state are dropped inside the timed region (freeing the outputs is
    // part of a run); only the statuses are kept.
    let statuses: Vec<RunStatus> = if c.host {
        let out = stagectl::run_jobs(&plan, jobs.to_vec(), &runner, store.path(), c.concurrency);
        out.reports.into_iter().map(|r| r.expect("every job accepted").status).collect()
    } else {
        jobs.iter().map(|j| runner.run(&plan, j.clone()).report.status).collect()
    };
    let wall = started.elapsed();
    let body = Duration::from_nanos(BODY_NS.load(Ordering::SeqCst));
    assert!(statuses.iter().all(|s| *s == RunStatus::Completed), "{statuses:?}");
    (wall, body)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    if !harness::selected("batch") {
        return;
    }
    // The jobs name `examples/data` relative to the repository's root.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::set_current_dir(&root).expect("repository root");
    let pipeline = PathBuf::from("examples/pipelines/literature.yaml");
    let jobs: Vec<Job> = std::fs::read_to_string("examples/jobs/corpus.jsonl")
        .expect("corpus")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a job"))
        .collect();

    let linked = StageRegistry::global();
    let wrapped: Vec<&'static StageMetadata> = linked.iter().enumerate().map(|(i, m)| wrap(i, m)).collect();
    let registry = StageRegistry::builder().register_all(wrapped).build();
    assert!(registry.problems().is_empty(), "{:?}", registry.problems());

    let configs = [
        Config {
            name: "runtime alone: `Runner::run` per job, in-memory ledger",
            host: false,
            policies: false,
            checkpoint: None,
            concurrency: 1,
        },
        Config {
            name: "`run_jobs`: + SQLite ledger metrics, run records saved",
            host: true,
            policies: false,
            checkpoint: None,
            concurrency: 1,
        },
        Config {
            name: "+ host policies (each attempt on a pooled thread, under a timeout)",
            host: true,
            policies: true,
            checkpoint: None,
            concurrency: 1,
        },
        Config {
            name: "+ checkpoint after every stage = `stagectl run --concurrency 1`",
            host: true,
            policies: true,
            checkpoint: Some(false),
            concurrency: 1,
        },
        Config {
            name: "+ each checkpoint fsync'ed = `... --sync-every-stage`",
            host: true,
            policies: true,
            checkpoint: Some(true),
            concurrency: 1,
        },
        Config {
            name: "`stagectl run` defaults (--concurrency 2)",
            host: true,
            policies: true,
            checkpoint: Some(false),
            concurrency: 2,
        },
    ];
    // `BENCH_PROFILE=<configuration index>` runs that configuration's batch
    // `BENCH_PROFILE_ITERS` times, untimed (for callgrind).
    if let Ok(which) = std::env::var("BENCH_PROFILE") {
        let c = configs[which.parse::<usize>().expect("a configuration index")];
        let iters: usize =
            std::env::var("BENCH_PROFILE_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
        for _ in 0..iters {
            batch(&registry, &pipeline, &jobs, c);
        }
        return;
    }
    let samples = (harness::samples() / 2).max(5);
    // Warm-up: file caches, lazily built tables.
    for c in configs {
        batch(&registry, &pipeline, &jobs, c);
    }
    let mut walls = vec![Vec::new(); configs.len()];
    let mut shares = vec![Vec::new(); configs.len()];
    let mut bodies = vec![Vec::new(); configs.len()];
    for _ in 0..samples {
        for (i, c) in configs.iter().enumerate() {
            let (wall, body) = batch(&registry, &pipeline, &jobs, *c);
            walls[i].push(wall.as_secs_f64() * 1e9);
            bodies[i].push(body.as_secs_f64() * 1e9);
            shares[i].push((wall.as_secs_f64() - body.as_secs_f64()) / wall.as_secs_f64() * 100.0);
        }
    }
    let base = median(walls[0].clone());
    println!("\n### batch: {} jobs through literature.yaml ({} stages)\n", jobs.len(), 9);
    println!("| configuration | median per batch | jobs/s | ratio to runtime alone | Σ stage calls (median) | framework share (median) |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (i, c) in configs.iter().enumerate() {
        let wall = median(walls[i].clone());
        let (share, body) = if c.concurrency == 1 {
            (format!("{:.2} %", median(shares[i].clone())), harness::fmt_ns(median(bodies[i].clone())))
        } else {
            ("n/a (jobs overlap)".to_owned(), "n/a".to_owned())
        };
        println!(
            "| {} | {} | {:.1} | {:.3} | {} | {} |",
            c.name,
            harness::fmt_ns(wall),
            jobs.len() as f64 / (wall / 1e9),
            wall / base,
            body,
            share
        );
    }
    println!("\n({samples} batches per configuration, taken round-robin, each in a fresh store)");
}
