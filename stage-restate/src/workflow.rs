//! The `StageRun` workflow: one run of a pipeline for one job, keyed by the job's id.
//!
//! - `run` (the workflow): plans the pipeline (fingerprint checked), then each stage in
//!   execution order is one `ctx.run` step, its result the stage's outputs in the journal's
//!   MessagePack encoding (see [`codec`](crate::codec)). A gate evaluates its condition as a
//!   step; while it does not pass, the workflow waits on a durable timer (the gate's poll
//!   interval, within its timeout) or on the next signal, then evaluates again; after the
//!   timeout the run is parked and waits for signals only, holding no worker. The ledger and
//!   the run's status are workflow state; the run's report is the workflow's output.
//! - `signal` (shared): sets ledger fields, by resolving the next signal promise (`signal-<n>`)
//!   with them; the run applies them, in order, at its next gate evaluation.
//! - `status` (shared): the run's status, current stage, report lines and ledger.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use restate_sdk::prelude::*;
use serde_json::{json, Value};
use stage_core::policy::{duration_from_secs, BackoffStrategy, Policy, MAX_BACKOFF_SECONDS};
use stage_core::run::{Failure, FailureKind, StageReport};
use stage_core::spec::{MAX_GATE_WAIT_SECONDS, MIN_GATE_PAUSE_SECONDS};
use stage_core::{Job, Plan, RunReport, RunState, RunStatus, StageStatus};

use crate::codec::StepResult;
use crate::worker::{Planned, Record, StepError, Worker};
use crate::RunInput;

/// The workflow service (its Restate name is `StageRun`): serves the worker's stages.
#[derive(Debug, Clone)]
pub struct StageRun {
    worker: Arc<Worker>,
}

impl StageRun {
    /// The service over `worker`.
    pub fn new(worker: Arc<Worker>) -> Self {
        StageRun { worker }
    }
}

/// The most signals a `signal` call looks past while finding the next free promise.
const MAX_PENDING_SIGNALS: u32 = 1000;

fn signal_key(n: u32) -> String {
    format!("signal-{n}")
}

/// What the run knows so far, rebuilt deterministically on every replay.
struct Progress {
    records: Vec<Record>,
    lines: Vec<Option<StageReport>>,
    statuses: Vec<Option<StageStatus>>,
    ledger: BTreeMap<String, Value>,
    signals: u32,
}

impl Progress {
    fn apply_ledger(&mut self, fields: &[(String, String)]) {
        for (k, v) in fields {
            let v = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.clone()));
            self.ledger.insert(k.clone(), v);
        }
    }

    fn status_json(
        &self,
        job: &Job,
        plan: &Plan,
        status: &str,
        stage: Option<&str>,
        note: Option<&str>,
    ) -> Value {
        let lines: Vec<&StageReport> = plan.order.iter().filter_map(|&i| self.lines[i].as_ref()).collect();
        json!({
            "job_id": job.job_id,
            "pipeline": plan.pipeline.name,
            "status": status,
            "stage": stage,
            "note": note,
            "stages": lines,
            "ledger": self.ledger,
        })
    }
}

/// The Restate retry policy of a stage's step, from its resilience policy: the policy's
/// attempts and backoff (exponential: factor 2; linear: approximated by factor 1.5; none:
/// no pause), each attempt bounded by the policy's timeout in the worker, the whole retry
/// loop by attempts × (timeout + maximum pause). No policy: one attempt.
pub fn retry_policy(policy: Option<&Policy>) -> RunRetryPolicy {
    let Some(p) = policy else { return RunRetryPolicy::new().max_attempts(1) };
    let attempts = p.max_attempts.max(1);
    let initial = duration_from_secs(p.backoff.initial, MAX_BACKOFF_SECONDS);
    let maximum = duration_from_secs(p.backoff.maximum, MAX_BACKOFF_SECONDS).max(initial);
    let timeout = duration_from_secs(p.timeout_seconds, MAX_BACKOFF_SECONDS);
    let (initial, factor) = match p.backoff.strategy {
        BackoffStrategy::Exponential => (initial, 2.0),
        BackoffStrategy::Linear => (initial, 1.5),
        BackoffStrategy::None => (Duration::from_millis(1), 1.0),
    };
    RunRetryPolicy::new()
        .max_attempts(attempts)
        .initial_delay(initial)
        .exponentiation_factor(factor)
        .max_delay(maximum.max(initial))
        .max_duration((timeout + maximum) * attempts)
}

fn terminal(e: impl std::fmt::Display) -> HandlerError {
    TerminalError::new(e.to_string()).into()
}

/// One stage as one journaled step: its result, or the terminal failure it ended with.
async fn step(
    ctx: &WorkflowContext<'_>,
    worker: &Arc<Worker>,
    planned: &Arc<Planned>,
    job: &Job,
    run: &Progress,
    idx: usize,
) -> Result<Result<StepResult, String>, HandlerError> {
    let stage = &planned.plan.stages[idx];
    let (worker2, planned2, job2) = (worker.clone(), planned.clone(), job.clone());
    let (prior, ledger) = (run.records.clone(), run.ledger.clone());
    let result = ctx
        .run(move || async move {
            let done = tokio::task::spawn_blocking(move || {
                worker2
                    .execute(&planned2.plan, job2, &prior, &ledger, idx)
                    .and_then(|s| s.to_bytes().map_err(|e| StepError::Terminal(e.to_string())))
            })
            .await;
            match done {
                Ok(Ok(bytes)) => Ok(bytes),
                Ok(Err(StepError::Retryable(m))) => Err(HandlerError::from(m)),
                Ok(Err(StepError::Terminal(m))) => Err(TerminalError::new(m).into()),
                Err(e) => Err(HandlerError::from(format!("the stage's thread ended without a result: {e}"))),
            }
        })
        .retry_policy(retry_policy(planned.policies[idx].as_ref()))
        .name(stage.name.clone())
        .await;
    match result {
        Ok(bytes) => Ok(Ok(StepResult::from_bytes(&bytes).map_err(terminal)?)),
        Err(e) => Ok(Err(e.message().to_owned())),
    }
}

#[restate_sdk::workflow]
impl StageRun {
    /// Runs the job through the pipeline; returns the run's report.
    #[handler]
    async fn run(
        &self,
        ctx: WorkflowContext<'_>,
        input: Json<RunInput>,
    ) -> Result<Json<RunReport>, HandlerError> {
        let RunInput { pipeline, fingerprint, job } = input.into_inner();
        if job.job_id != ctx.key() {
            return Err(terminal(format!(
                "the workflow key `{}` is not the job's id `{}`: submit each job under its own id",
                ctx.key(),
                job.job_id
            )));
        }
        let planned = self.worker.plan(&pipeline, &fingerprint).map_err(terminal)?;
        let plan = &planned.plan;
        let n = plan.stages.len();
        let mut run = Progress {
            records: Vec::new(),
            lines: vec![None; n],
            statuses: vec![None; n],
            ledger: BTreeMap::new(),
            signals: 0,
        };
        for &idx in &plan.order {
            let stage = &plan.stages[idx];
            let blocked = stage.deps.iter().find(|&&d| run.statuses[d] != Some(StageStatus::Completed));
            if let Some(&d) = blocked {
                let upstream = &plan.stages[d].name;
                let why = match run.statuses[d] {
                    Some(StageStatus::Failed) => format!("not run: upstream stage `{upstream}` failed"),
                    _ => format!("not run: upstream stage `{upstream}` did not run"),
                };
                run.lines[idx] = Some(line(stage, StageStatus::Skipped, Some(why), None));
                run.statuses[idx] = Some(StageStatus::Skipped);
                continue;
            }
            ctx.set("status", Json(run.status_json(&job, plan, "running", Some(&stage.name), None)));
            let mut evaluations: u32 = 0;
            let ended = loop {
                if stage.meta.parks() {
                    drain_signals(&ctx, &mut run).await?;
                }
                evaluations = evaluations.saturating_add(1);
                let result = step(&ctx, &self.worker, &planned, &job, &run, idx).await?;
                let step = match result {
                    Err(msg) => break Err(msg),
                    Ok(step) => step,
                };
                run.apply_ledger(&step.ledger);
                if step.report.status == StageStatus::Failed {
                    // A permanent failure: journaled, not retried.
                    break Ok(step);
                }
                if step.report.status != StageStatus::Parked {
                    break Ok(step);
                }
                // A gate that did not pass: wait, durably, then evaluate again.
                let gate = stage.gate.as_deref();
                let delay = gate
                    .and_then(|g| g.retry.as_ref().and_then(|r| r.delay_seconds))
                    .or(gate.map(|g| g.poll_interval_seconds))
                    .unwrap_or(MIN_GATE_PAUSE_SECONDS);
                let pause = duration_from_secs(
                    if delay.is_nan() { MIN_GATE_PAUSE_SECONDS } else { delay.max(MIN_GATE_PAUSE_SECONDS) },
                    MAX_GATE_WAIT_SECONDS,
                );
                let mut timeout = gate
                    .and_then(|g| g.timeout_seconds)
                    .map(|t| duration_from_secs(t, MAX_GATE_WAIT_SECONDS));
                if let Some(cap) = self.worker.max_gate_wait() {
                    timeout = Some(timeout.map_or(cap, |t| t.min(cap)));
                }
                let polling = timeout.is_some_and(|t| pause * evaluations < t);
                // The worker evaluates a gate once per step (it never waits in the stage), so
                // the stage's own note says "within 0 s"; the waiting is this loop's: say so.
                let reason = match gate {
                    Some(g) if !polling => {
                        let limit = match timeout {
                            Some(t) => format!("within {} s", t.as_secs_f64()),
                            None => "at its single evaluation".to_owned(),
                        };
                        format!(
                            "gate `{}` did not pass {limit} ({evaluations} evaluation(s)); the run is parked until it does",
                            g.name
                        )
                    }
                    _ => step.report.message.clone().unwrap_or_default(),
                };
                let note = if polling { "waiting" } else { "parked" };
                ctx.set("status", Json(run.status_json(&job, plan, note, Some(&stage.name), Some(&reason))));
                let key = signal_key(run.signals);
                let fields: Option<Json<BTreeMap<String, Value>>> = if polling {
                    let promise = ctx.promise::<Json<BTreeMap<String, Value>>>(&key);
                    restate_sdk::select! {
                        _ = ctx.sleep(pause) => None,
                        f = promise => Some(f?),
                    }
                } else {
                    Some(ctx.promise::<Json<BTreeMap<String, Value>>>(&key).await?)
                };
                if let Some(fields) = fields {
                    run.ledger.extend(fields.into_inner());
                    run.signals += 1;
                    ctx.set("signals", run.signals);
                }
            };
            match ended {
                Ok(step) => {
                    let record = self.worker.decode(plan, idx, &step).map_err(terminal)?;
                    run.statuses[idx] = Some(step.report.status);
                    run.lines[idx] = Some(step.report.clone());
                    if step.report.status == StageStatus::Failed {
                        tracing::warn!(job = %job.job_id, stage = %stage.name, "stage failed permanently");
                    }
                    run.records.push(record);
                }
                Err(msg) => {
                    // A transient failure whose retries (the step's retry policy) ran out, or a
                    // step that could not run at all.
                    tracing::warn!(job = %job.job_id, stage = %stage.name, "stage failed: {msg}");
                    let retried = planned.policies[idx].as_ref().is_some_and(|p| p.max_attempts > 1);
                    let failure = Failure {
                        kind: FailureKind::Transient,
                        retried,
                        retry: if retried {
                            "retries exhausted (the step's Restate retry policy)".to_owned()
                        } else {
                            "not retried: the stage has no policy, or its policy allows one attempt"
                                .to_owned()
                        },
                    };
                    run.lines[idx] = Some(line(stage, StageStatus::Failed, Some(msg), Some(failure)));
                    run.statuses[idx] = Some(StageStatus::Failed);
                }
            }
        }
        let stages: Vec<StageReport> = plan.order.iter().filter_map(|&i| run.lines[i].clone()).collect();
        let status = if stages.iter().any(|s| s.status == StageStatus::Failed) {
            RunStatus::Failed
        } else {
            RunStatus::Completed
        };
        let restored = run.records.iter().map(Record::restored);
        let state = RunState::restore(job.clone(), plan, restored).map_err(terminal)?;
        let name = if status == RunStatus::Failed { "failed" } else { "completed" };
        ctx.set("status", Json(run.status_json(&job, plan, name, None, None)));
        Ok(Json(RunReport {
            pipeline: plan.pipeline.name.clone(),
            pipeline_version: plan.pipeline.version.clone(),
            pipeline_path: plan.pipeline.path.clone(),
            job_id: job.job_id.clone(),
            status,
            duration_ms: stages.iter().map(|s| s.duration_ms).sum(),
            stages,
            results: state.results(),
        }))
    }

    /// Sets ledger fields of the run (a JSON object of field → value): applied at the run's
    /// next gate evaluation, which it wakes. Returns the signal's sequence number.
    #[handler]
    async fn signal(
        &self,
        ctx: SharedWorkflowContext<'_>,
        fields: Json<BTreeMap<String, Value>>,
    ) -> Result<Json<Value>, HandlerError> {
        if let Some(Json(status)) = ctx.get::<Json<Value>>("status").await? {
            let s = status.get("status").and_then(Value::as_str).unwrap_or("");
            if s == "completed" || s == "failed" {
                return Err(terminal(format!(
                    "the run of job `{}` has ended ({s}): there is no gate left to signal; submit it again with --rerun",
                    ctx.key()
                )));
            }
        }
        let mut n: u32 = ctx.get::<u32>("signals").await?.unwrap_or(0);
        let first = n;
        loop {
            let key = signal_key(n);
            if ctx.peek_promise::<Json<Value>>(&key).await?.is_none() {
                ctx.resolve_promise(&key, fields);
                return Ok(Json(json!({ "job_id": ctx.key(), "signal": n })));
            }
            n += 1;
            if n - first > MAX_PENDING_SIGNALS {
                return Err(terminal(format!(
                    "job `{}` has {MAX_PENDING_SIGNALS} signals not yet applied: is its run waiting at a gate?",
                    ctx.key()
                )));
            }
        }
    }

    /// The run's status: `{job_id, pipeline, status (running | waiting | parked | completed |
    /// failed | pending), stage, note, stages, ledger}`.
    #[handler]
    async fn status(&self, ctx: SharedWorkflowContext<'_>) -> Result<Json<Value>, HandlerError> {
        Ok(match ctx.get::<Json<Value>>("status").await? {
            Some(v) => v,
            None => Json(json!({ "job_id": ctx.key(), "status": "pending" })),
        })
    }
}

/// Applies the signals that arrived, in order.
async fn drain_signals(ctx: &WorkflowContext<'_>, run: &mut Progress) -> Result<(), HandlerError> {
    loop {
        let key = signal_key(run.signals);
        match ctx.peek_promise::<Json<BTreeMap<String, Value>>>(&key).await? {
            Some(fields) => {
                run.ledger.extend(fields.into_inner());
                run.signals += 1;
                ctx.set("signals", run.signals);
            }
            None => return Ok(()),
        }
    }
}

fn line(
    stage: &stage_core::plan::PlannedStage,
    status: StageStatus,
    message: Option<String>,
    failure: Option<Failure>,
) -> StageReport {
    StageReport {
        name: stage.name.clone(),
        stage_type: stage.meta.stage_type().to_owned(),
        status,
        attempts: u32::from(status == StageStatus::Failed),
        output_count: 0,
        duration_ms: 0,
        message,
        failure,
    }
}
