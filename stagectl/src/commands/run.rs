//! `stagectl run`: one job or a batch through a pipeline, with per-stage progress, a summary
//! table, and each run's report and state saved in the store.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use stage_core::run::{Event, EventKind, EventSink, TracingSink};
use stage_core::{HostSettings, Job, Ledger, Plan, PlanOptions, RunReport, RunStatus, Runner, StageRegistry};
use stages_builtin::ledger::SqliteLedger;

use crate::table::table;
use crate::CliError;

/// How a batch runs.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// The persistent store (ledger, runs, index, graph).
    pub store: PathBuf,
    /// Stages of one run that may run at once.
    pub workers: usize,
    /// Runs that may run at once.
    pub concurrency: usize,
    /// A cap on gate waits.
    pub max_gate_wait: Option<Duration>,
    /// Rebase absolute storage paths under the store.
    pub rebase_paths: bool,
    /// The policy file (default: the host's own).
    pub policies: Option<PathBuf>,
    /// Print per-stage progress on stderr.
    pub progress: bool,
    /// Fsync the run record after every stage, not only when the run ends or parks.
    pub sync_every_stage: bool,
}

impl BatchOptions {
    pub(crate) fn from_args(a: &crate::RunArgs, json: bool) -> Self {
        BatchOptions {
            store: a.store.clone(),
            workers: a.workers,
            concurrency: a.concurrency,
            // Range-checked when parsed; converted without a possible panic all the same.
            max_gate_wait: a
                .max_gate_wait
                .map(|s| stage_core::policy::duration_from_secs(s, crate::MAX_GATE_WAIT_SECONDS)),
            rebase_paths: a.rebase_paths,
            policies: a.policies.clone(),
            progress: !a.quiet && !json,
            sync_every_stage: a.sync_every_stage,
        }
    }
}

/// What a batch did.
#[derive(Debug)]
pub struct BatchOutcome {
    /// Each job's report, in input order; `Err` for a job that was refused before running.
    pub reports: Vec<Result<RunReport, String>>,
}

impl BatchOutcome {
    /// Whether every job completed or parked.
    pub fn ok(&self) -> bool {
        self.reports.iter().all(|r| matches!(r, Ok(r) if r.status != RunStatus::Failed))
    }
}

/// Prints each stage's progress as it runs.
struct Progress;

impl EventSink for Progress {
    fn event(&self, e: &Event) {
        let what = match &e.kind {
            EventKind::Started => "started".to_owned(),
            EventKind::Retrying { attempt, backoff_ms, reason } => {
                format!("attempt {attempt} failed ({reason}); retrying in {backoff_ms} ms")
            }
            EventKind::Failed { attempt, error } => format!("FAILED on attempt {attempt}: {error}"),
            EventKind::Completed { duration_ms, output_count, .. } => {
                format!("completed in {duration_ms} ms, {output_count} output(s)")
            }
            EventKind::Parked { reason } => format!("PARKED: {reason}"),
            EventKind::Skipped { reason } => format!("skipped: {reason}"),
        };
        errln!("[{}] {} ({}): {what}", e.job_id, e.stage, e.stage_type);
        TracingSink.event(e);
    }
}

/// Reads the jobs: inline JSON (`{...}`), a `.jsonl` file (one job a line) or a `.json` file
/// (one job, or an array of jobs).
pub(crate) fn read_jobs(arg: &str) -> Result<Vec<Job>, CliError> {
    let parse = |text: &str, origin: &str| -> Result<Job, CliError> {
        serde_json::from_str::<Job>(text).map_err(|e| format!("{origin}: not a job: {e}").into())
    };
    if arg.trim_start().starts_with('{') {
        return Ok(vec![parse(arg, "inline job")?]);
    }
    let text = std::fs::read_to_string(arg).map_err(|e| format!("{arg}: {e}"))?;
    if arg.ends_with(".jsonl") {
        let mut jobs = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            jobs.push(parse(line, &format!("{arg}:{}", i + 1))?);
        }
        return Ok(jobs);
    }
    if text.trim_start().starts_with('[') {
        return serde_json::from_str::<Vec<Job>>(&text)
            .map_err(|e| format!("{arg}: not a list of jobs: {e}").into());
    }
    Ok(vec![parse(&text, arg)?])
}

/// Runs jobs through a planned pipeline, `concurrency` at a time, saving each run in the
/// store. Jobs whose source the pipeline does not accept are refused.
pub fn run_jobs(
    plan: &Plan,
    jobs: Vec<Job>,
    runner: &Runner,
    store: &Path,
    concurrency: usize,
) -> BatchOutcome {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<RunReport, String>>>> = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|s| {
        for _ in 0..concurrency.max(1).min(jobs.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(job) = jobs.get(i) else { break };
                let sources = &plan.pipeline.applicable_sources;
                let result = if !sources.is_empty() && !sources.contains(&job.source) {
                    Err(format!(
                        "job `{}` refused: pipeline `{}` accepts sources {} but the job's source is `{}`",
                        job.job_id,
                        plan.pipeline.name,
                        sources.join(", "),
                        job.source
                    ))
                } else {
                    let out = runner.run(plan, job.clone());
                    if let Err(e) = save_run(store, plan, &out) {
                        tracing::error!(job = %job.job_id, "could not save the run: {e}");
                    }
                    Ok(out.report)
                };
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(result);
            });
        }
    });
    let reports = results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("not run".to_owned())))
        .collect();
    BatchOutcome { reports }
}

pub(crate) fn save_run(store: &Path, plan: &Plan, out: &stage_core::RunOutcome) -> Result<(), CliError> {
    let status = match out.report.status {
        RunStatus::Completed => "completed",
        RunStatus::Parked => "parked",
        RunStatus::Failed => "failed",
    };
    super::store::write_record(store, plan, status, Some(&out.report), &out.state, true)
}

pub(crate) fn runner(options: &BatchOptions, ledger: Arc<dyn Ledger>) -> Runner {
    let runner = Runner::new()
        .with_ledger(ledger)
        .with_workers(options.workers)
        .with_checkpoint(Arc::new(super::store::FileCheckpoint::new(
            &options.store,
            options.sync_every_stage,
        )))
        .with_host(HostSettings {
            run_dir: Some(options.store.clone()),
            rebase_absolute_paths: options.rebase_paths,
            max_wait: options.max_gate_wait,
        });
    if options.progress {
        runner.with_events(Arc::new(Progress))
    } else {
        runner
    }
}

pub(crate) fn plan_options(options: &BatchOptions) -> Result<PlanOptions, CliError> {
    Ok(PlanOptions {
        policies: Some(super::validate::policies(options.policies.as_deref())?),
        run_dir: Some(options.store.clone()),
        ..PlanOptions::default()
    })
}

pub(crate) fn run_command(
    registry: &StageRegistry,
    pipeline: &Path,
    jobs: &str,
    options: &BatchOptions,
    json: bool,
) -> Result<ExitCode, CliError> {
    std::fs::create_dir_all(&options.store)?;
    let plan = Plan::from_file(pipeline, registry, &plan_options(options)?)?;
    for w in &plan.warnings {
        errln!("{w}");
    }
    let jobs = read_jobs(jobs)?;
    let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&options.store)?);
    let runner = runner(options, ledger);
    let outcome = run_jobs(&plan, jobs, &runner, &options.store, options.concurrency);
    print_outcome(&outcome, json)?;
    Ok(if outcome.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

pub(crate) fn print_outcome(outcome: &BatchOutcome, json: bool) -> Result<(), CliError> {
    if json {
        let all: Vec<_> = outcome
            .reports
            .iter()
            .map(|r| match r {
                Ok(r) => serde_json::to_value(r).unwrap_or_default(),
                Err(e) => json!({ "status": "refused", "error": e }),
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&all)?)?;
        return Ok(());
    }
    let (mut completed, mut parked, mut failed) = (0, 0, 0);
    for r in &outcome.reports {
        match r {
            Err(e) => {
                failed += 1;
                outln!("{e}\n")?;
            }
            Ok(report) => {
                match report.status {
                    RunStatus::Completed => completed += 1,
                    RunStatus::Parked => parked += 1,
                    RunStatus::Failed => failed += 1,
                }
                outln!("job {} — pipeline {} — {:?}", report.job_id, report.pipeline, report.status)?;
                let rows: Vec<Vec<String>> = report
                    .stages
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            s.stage_type.clone(),
                            format!("{:?}", s.status).to_lowercase(),
                            s.output_count.to_string(),
                            format!("{} ms", s.duration_ms),
                            s.message.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                outln!("{}\n", table(&["STAGE", "TYPE", "STATUS", "OUTPUTS", "DURATION", "NOTE"], &rows))?;
            }
        }
    }
    outln!("{} job(s): {completed} completed, {parked} parked, {failed} failed", outcome.reports.len())?;
    Ok(())
}
