//! `stagectl resume` and `stagectl watch`: continue stored runs.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stage_core::spec::Eval;
use stage_core::{Ledger, Plan, RunState, RunStatus, StageRegistry, StageStatus};
use stages_builtin::ledger::SqliteLedger;

use super::run::{plan_options, print_outcome, runner, save_run, BatchOptions, BatchOutcome};
use crate::journal::{Journal, StoredRun};
use crate::progress::BatchProgress;
use crate::CliError;

/// A stored run, planned again and checked against what it was stored with.
struct Resumable {
    plan: Plan,
    state: RunState,
    /// The gate stage it is parked at, if parked.
    parked_at: Option<usize>,
}

fn prepare(
    registry: &StageRegistry,
    record: StoredRun,
    options: &BatchOptions,
) -> Result<Resumable, CliError> {
    let plan = Plan::from_file(&record.pipeline_path, registry, &plan_options(options)?)?;
    let job = record.job.job_id.clone();
    let warnings = plan
        .fingerprint()
        .check_resume(&record.fingerprint, record.completed())
        .map_err(|e| format!("job `{job}`: {e}"))?;
    for w in warnings {
        errln!("warning: job `{job}`: {w}");
    }
    let state: RunState = record.restore(&plan).map_err(|e| format!("job `{job}`: {e}"))?;
    let parked_at = state
        .stages()
        .find(|(_, r)| r.status == StageStatus::Parked)
        .and_then(|(name, _)| plan.stage_index(name));
    Ok(Resumable { plan, state, parked_at })
}

/// Whether the gate a run is parked at holds now (one evaluation against the ledger).
fn gate_holds(r: &Resumable, ledger: &dyn Ledger) -> Result<bool, CliError> {
    let Some(idx) = r.parked_at else { return Ok(true) };
    let Some(gate) = &r.plan.stages[idx].gate else { return Ok(true) };
    let job = r.state.job.job_id.as_str();
    let mut baselines = stage_core::gate::load_baselines(ledger, job, &gate.name)?;
    // The same check as the `gate` stage's; an unreadable field counts as not set here.
    let check = stage_core::gate::check(&gate.condition, ledger, job, &mut baselines);
    if let Some(e) = check.read_error {
        tracing::warn!(job, "ledger read failed: {e}");
    }
    Ok(check.eval == Eval::True)
}

fn continue_run(
    r: Resumable,
    options: &BatchOptions,
    ledger: Arc<dyn Ledger>,
    journal: &Journal,
) -> Result<BatchOutcome, CliError> {
    let progress = Arc::new(BatchProgress::new(1, options.progress));
    let runner = runner(options, ledger, progress.clone())?;
    let out = runner.run_from(&r.plan, r.state);
    progress.job_done(&out.report.job_id, &Ok(out.report.clone()));
    progress.finish();
    save_run(journal, &r.plan, &out)?;
    Ok(BatchOutcome { reports: vec![Ok(out.report)], request_ids: vec![None] })
}

/// Says why a run was not resumed: the message, or with `--json`
/// `{"job_id", "status": "completed"|"parked"|"leased", "resumed": false, "message"}`.
fn not_resumed(json: bool, job_id: &str, status: &str, message: String) -> Result<(), CliError> {
    if json {
        let v = serde_json::json!({"job_id": job_id, "status": status, "resumed": false, "message": message});
        outln!("{v}")?;
    } else {
        outln!("{message}")?;
    }
    Ok(())
}

/// `stagectl resume`: with `--json`, the resumed run's report as one line, or the object
/// [`not_resumed`] prints.
pub(crate) fn resume(
    registry: &StageRegistry,
    job_id: &str,
    options: &BatchOptions,
    json: bool,
) -> Result<ExitCode, CliError> {
    let journal = Journal::shared(&options.store, options.sync_every_stage)?;
    let record = journal.load(job_id)?.ok_or_else(|| {
        crate::errors::NotFound(format!(
            "no stored run for job `{job_id}` in {}; `stagectl run` stores one",
            options.store.display()
        ))
    })?;
    if record.status == "completed" {
        not_resumed(
            json,
            job_id,
            "completed",
            format!("job `{job_id}` completed already: nothing to resume"),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&options.store)?);
    let status = record.status.clone();
    let r = prepare(registry, record, options)?;
    if !gate_holds(&r, &*ledger)? {
        let stage = &r.plan.stages[r.parked_at.expect("parked")];
        let gate = stage.gate.as_ref().map_or("?", |g| g.name.as_str());
        let message = format!(
            "job `{job_id}` is still parked at gate `{gate}` (stage `{}`): its condition does not hold yet",
            stage.name
        );
        not_resumed(json, job_id, "parked", message)?;
        return Ok(ExitCode::from(3));
    }
    if !journal.claim(job_id, &status)? {
        let holder = match journal.lease(job_id)? {
            Some((owner, left)) => {
                format!(" ({owner}; its lease ends in {} s unless renewed)", left.as_secs())
            }
            None => " (its status changed meanwhile)".to_owned(),
        };
        not_resumed(
            json,
            job_id,
            "leased",
            format!("job `{job_id}` is being run by another process{holder}: not resumed"),
        )?;
        return Ok(ExitCode::from(3));
    }
    let outcome = continue_run(r, options, ledger, &journal)?;
    print_outcome(&outcome, json)?;
    Ok(if outcome.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `stagectl watch`: with `--json`, one report line per resumed run, then
/// `{"watch": {"resumed", "still_parked", "failed"}}` when it stops (`--once`, `--until-idle`).
pub(crate) fn watch(
    registry: &StageRegistry,
    options: &BatchOptions,
    once: bool,
    until_idle: bool,
    json: bool,
) -> Result<ExitCode, CliError> {
    std::fs::create_dir_all(&options.store)?;
    let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&options.store)?);
    let journal = Journal::shared(&options.store, options.sync_every_stage)?;
    let mut next_check: BTreeMap<String, Instant> = BTreeMap::new();
    let mut failed = false;
    let mut resumed = 0usize;
    loop {
        let parked = journal.with_status("parked")?;
        if parked.is_empty() && (once || until_idle) {
            if !json {
                outln!("no parked runs")?;
            }
            break;
        }
        let mut soonest = Duration::from_secs(5);
        for job in parked {
            if next_check.get(&job).is_some_and(|t| Instant::now() < *t) {
                continue;
            }
            // A run that cannot be read is that run's problem: named, skipped, the others go on.
            let r = match journal.load(&job).and_then(|r| {
                r.ok_or_else(|| "its run record is gone".into()).and_then(|r| prepare(registry, r, options))
            }) {
                Ok(r) => r,
                Err(e) => {
                    errln!("job `{job}`: {e}");
                    failed = true;
                    next_check.insert(job, Instant::now() + Duration::from_secs(3600));
                    continue;
                }
            };
            let poll = r
                .parked_at
                .and_then(|i| r.plan.stages[i].gate.as_ref())
                .map_or(5.0, |g| g.poll_interval_seconds);
            let poll = stage_core::policy::duration_from_secs(
                poll.max(stage_core::spec::MIN_GATE_PAUSE_SECONDS),
                stage_core::spec::POLL_RANGE.1,
            );
            soonest = soonest.min(poll);
            if !gate_holds(&r, &*ledger)? {
                next_check.insert(job, Instant::now() + poll);
                continue;
            }
            // Another process (a watcher, a resume) may be resuming it: only the one that
            // takes the run's lease does.
            if !journal.claim(&job, "parked")? {
                tracing::debug!(job = %job, "another process holds the run's lease");
                continue;
            }
            if !json {
                errln!("job `{job}`: gate condition holds; resuming");
            }
            let outcome = continue_run(r, options, ledger.clone(), &journal)?;
            resumed += 1;
            failed |= outcome.reports.iter().any(|r| matches!(r, Ok(r) if r.status == RunStatus::Failed));
            print_outcome(&outcome, json)?;
        }
        if once {
            break;
        }
        std::thread::sleep(soonest);
    }
    if json {
        // The closing line: what this watch did.
        let parked = journal.with_status("parked")?.len();
        outln!(
            "{}",
            serde_json::json!({"watch": {"resumed": resumed, "still_parked": parked, "failed": failed}})
        )?;
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
