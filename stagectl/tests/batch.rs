//! Batches through the library API (`stagectl::run_jobs`): a panicking stage mid-batch fails
//! its job only; concurrent runs share the store without lost or torn writes; each result is
//! handed over once its run is recorded.

use std::sync::Arc;

// Linked for its `deidentify` stage, which the example pipeline uses.
use deid_plugin as _;

use serde_json::json;
use stage_core::{spec, stage, Job, Plan, PlanOptions, RunStatus, Runner, StageContext, StageRegistry};
use stages_builtin::ledger::SqliteLedger;
use stages_builtin::store::Store;

/// Panics for the job named `boom`.
#[stage(type = "fragile", dependencies = ["ingest"])]
fn fragile(ctx: &StageContext) {
    assert!(ctx.job().job_id != "boom", "fragile stage hit job `boom`");
}

fn plan(yaml: &str, store: &std::path::Path) -> Plan {
    let loaded = spec::load_str("batch.yaml", yaml).unwrap();
    let options = PlanOptions { run_dir: Some(store.to_owned()), ..Default::default() };
    Plan::new(&loaded.value, StageRegistry::global(), &options).unwrap_or_else(|e| panic!("{e}"))
}

fn corpus_jobs() -> Vec<Job> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    let text = std::fs::read_to_string(root.join("examples/jobs/corpus.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let mut job: Job = serde_json::from_str(l).unwrap();
            job.adapter_request["data_dir"] = json!(root.join("examples/data"));
            job
        })
        .collect()
}

#[test]
fn a_panic_mid_batch_fails_that_job_only() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "name: b\nversion: 2026-11-29\nstages:\n  - name: ingest\n    type: ingest\n  - name: fragile\n    type: fragile\n    depends_on: [ingest]\n";
    let plan = plan(yaml, dir.path());
    let mut jobs = corpus_jobs();
    let mut boom = jobs[1].clone();
    boom.job_id = "boom".into();
    jobs.insert(2, boom);
    let runner = Runner::new().with_ledger(Arc::new(SqliteLedger::open(dir.path()).unwrap()));
    let outcome = stagectl::run_jobs(&plan, jobs, &runner, dir.path(), 3);
    assert!(!outcome.ok());
    let statuses: Vec<(String, RunStatus)> =
        outcome.reports.iter().map(|r| r.as_ref().unwrap()).map(|r| (r.job_id.clone(), r.status)).collect();
    assert_eq!(statuses.len(), 8);
    for (job, status) in &statuses {
        let expected = if job == "boom" { RunStatus::Failed } else { RunStatus::Completed };
        assert_eq!(*status, expected, "{job}");
    }
    let boom = outcome.reports[2].as_ref().unwrap();
    assert_eq!(boom.stages[1].message.as_deref(), Some("panicked: fragile stage hit job `boom`"));
}

#[test]
fn concurrent_runs_share_the_store_without_lost_or_torn_writes() {
    let pipeline = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pipelines/literature.yaml"),
    )
    .unwrap();
    let counts = |concurrency: usize, workers: usize| {
        let dir = tempfile::tempdir().unwrap();
        let plan = plan(&pipeline, dir.path());
        let runner = Runner::new()
            .with_ledger(Arc::new(SqliteLedger::open(dir.path()).unwrap()))
            .with_workers(workers);
        let outcome = stagectl::run_jobs(&plan, corpus_jobs(), &runner, dir.path(), concurrency);
        assert!(outcome.ok());
        let store = Store::open(dir.path()).unwrap();
        let graph = store.graph_stats().unwrap();
        let per_job: Vec<u64> =
            corpus_jobs().iter().map(|j| store.chunk_count(Some(&j.job_id)).unwrap()).collect();
        (store.chunk_count(None).unwrap(), graph.nodes, graph.edges, per_job)
    };
    let sequential = counts(1, 1);
    assert!(sequential.0 > 0);
    assert_eq!(counts(4, 2), sequential);
    assert_eq!(counts(7, 1), sequential);
}

#[test]
fn each_result_is_handed_over_once_its_run_is_recorded_and_once_only() {
    let pipeline = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pipelines/literature.yaml"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(&pipeline, dir.path());
    let runner = Runner::new().with_ledger(Arc::new(SqliteLedger::open(dir.path()).unwrap()));
    let jobs: Vec<Job> = (0..3)
        .flat_map(|round| {
            corpus_jobs().into_iter().map(move |mut job| {
                job.job_id = format!("{}-{round}", job.job_id);
                job
            })
        })
        .collect();
    let journal = dir.path().join("journal.sqlite");
    let seen = std::sync::Mutex::new(Vec::new());
    let counts = stagectl::run_jobs_with(&plan, &jobs, &runner, dir.path(), 3, &|i, job, result| {
        let report = result.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.job_id, jobs[i].job_id);
        // Read by a connection of this test's own: the run's end is committed before its result
        // is handed over (and flushed: `Journal::flush_through` ran for it).
        let conn = rusqlite::Connection::open(&journal).unwrap();
        let status: String =
            conn.query_row("SELECT status FROM runs WHERE job_id = ?1", [&job.job_id], |r| r.get(0)).unwrap();
        assert_eq!(status, "completed", "{}", job.job_id);
        seen.lock().unwrap().push(i);
    });
    assert!(counts.ok());
    assert_eq!(counts.total(), jobs.len());
    let mut seen = seen.into_inner().unwrap();
    seen.sort_unstable();
    assert_eq!(seen, (0..jobs.len()).collect::<Vec<_>>(), "every job handed over once");
}
