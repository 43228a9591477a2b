//! The worker's side of a step: the pipeline planned (once per file and fingerprint), and one
//! stage run on the blocking pool against the state rebuilt from the journaled steps.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use stage_core::policy::Policy;
use stage_core::run::{RestoredStage, StageReport};
use stage_core::{
    Fingerprint, HostSettings, InMemoryLedger, Job, Ledger, Plan, PlanOptions, RunState, Runner,
    StageRegistry, StageStatus,
};

use crate::codec::{self, StepResult};
use crate::RestateError;

/// What a worker needs to run stages: the registry, how to plan, and the store.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The stages this worker can run (the linked registry, usually).
    pub registry: &'static StageRegistry,
    /// How pipelines are planned (policies, run directory): the same as the submitter's, or
    /// the fingerprints differ and runs are refused.
    pub plan_options: PlanOptions,
    /// The store: the run directory of every stage, and where large outputs go. Workers on
    /// several machines must share it (see the crate docs).
    pub store: PathBuf,
    /// Rebase absolute storage paths under the store.
    pub rebase_paths: bool,
    /// A cap on every gate's wait (its re-checks on timers) before the run parks.
    pub max_gate_wait: Option<Duration>,
}

/// A step's failure, as the workflow maps it to Restate: retryable (the step's retry policy
/// applies) or terminal. (A stage's permanent failure is not an error of the step: it is the
/// step's journaled result, a failed report line.)
#[derive(Debug)]
pub(crate) enum StepError {
    /// A transient failure: Restate retries the step.
    Retryable(String),
    /// A permanent failure: the step fails at once, terminally.
    Terminal(String),
}

/// A completed step, decoded: a record to rebuild the run's state from.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) report: StageReport,
    pub(crate) written: Vec<(String, stage_core::SharedValue)>,
    pub(crate) raw: Option<stage_core::SharedValue>,
}

impl Record {
    pub(crate) fn restored(&self) -> RestoredStage {
        RestoredStage {
            name: self.report.name.clone(),
            status: self.report.status,
            report: Some(self.report.clone()),
            written: self.written.clone(),
            raw: self.raw.clone(),
        }
    }
}

/// A pipeline planned for Restate: each policy's attempts set to one (Restate retries the
/// step; each attempt keeps the policy's timeout), the policies as written kept beside it.
#[derive(Debug)]
pub(crate) struct Planned {
    pub(crate) plan: Plan,
    /// The stages' policies as written, by stage index: the steps' retry policies.
    pub(crate) policies: Vec<Option<Policy>>,
}

/// Plans pipelines and runs stages: shared by every invocation a worker process serves.
#[derive(Debug)]
pub struct Worker {
    config: WorkerConfig,
    plans: Mutex<HashMap<PathBuf, Arc<Planned>>>,
    /// Shared by every step: rate limits and circuit breakers hold per worker process.
    runner: Runner,
}

impl Worker {
    /// A worker for `config`.
    pub fn new(config: WorkerConfig) -> Self {
        Worker { config, plans: Mutex::new(HashMap::new()), runner: Runner::new() }
    }

    /// The store.
    pub fn store(&self) -> &Path {
        &self.config.store
    }

    /// The cap on gate waits.
    pub(crate) fn max_gate_wait(&self) -> Option<Duration> {
        self.config.max_gate_wait
    }

    /// Pipeline `path` planned, checked against the submitter's `fingerprint`: a cached plan
    /// whose fingerprint differs is planned again from the file, and a file that still differs
    /// is refused (it changed since the job was submitted, or the worker links other stages).
    pub(crate) fn plan(&self, path: &Path, fingerprint: &Fingerprint) -> Result<Arc<Planned>, RestateError> {
        if let Some(p) = self.plans.lock().unwrap_or_else(|e| e.into_inner()).get(path) {
            if p.plan.fingerprint() == fingerprint {
                return Ok(p.clone());
            }
        }
        let plan = Plan::from_file(path, self.config.registry, &self.config.plan_options)
            .map_err(|e| RestateError::Plan(format!("{}: {e}", path.display())))?;
        let plan = Arc::new(single_attempts(plan));
        if plan.plan.fingerprint() != fingerprint {
            return Err(RestateError::Plan(format!(
                "{}: the pipeline's fingerprint on this worker differs from the one it was submitted with \
                 (the file changed, or this worker links other stage versions): submit the job again \
                 with --rerun, or deploy the same pipeline and stages on every worker",
                path.display()
            )));
        }
        self.plans.lock().unwrap_or_else(|e| e.into_inner()).insert(path.to_owned(), plan.clone());
        Ok(plan)
    }

    /// Runs stage `idx` of `plan` for `job` (one attempt: Restate retries the step), from the
    /// state that `prior` rebuilds and the ledger `ledger`. On the blocking pool.
    pub(crate) fn execute(
        &self,
        plan: &Plan,
        job: Job,
        prior: &[Record],
        ledger: &BTreeMap<String, Value>,
        idx: usize,
    ) -> Result<StepResult, StepError> {
        let stage = &plan.stages[idx];
        let job_id = job.job_id.clone();
        // One line per execution: what the tests count to prove no stage runs twice.
        tracing::info!("step executed: job {job_id} stage {}", stage.name);
        let state = RunState::restore(job, plan, prior.iter().map(Record::restored)).map_err(|e| {
            StepError::Terminal(format!("job `{job_id}`: the journaled state does not restore: {e}"))
        })?;
        let mem = Arc::new(InMemoryLedger::new());
        let fields: Vec<(&str, Value)> = ledger.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        mem.set_many(&job_id, &fields).map_err(|e| StepError::Retryable(e.to_string()))?;
        let runner = self.runner.clone().with_ledger(mem.clone()).with_host(HostSettings {
            run_dir: Some(self.config.store.clone()),
            rebase_absolute_paths: self.config.rebase_paths,
            // A gate evaluates once per step: the workflow waits between evaluations on
            // durable timers, not on a worker's thread.
            max_wait: stage.meta.parks().then_some(Duration::ZERO),
        });
        let out = runner.run_stage(plan, state, idx);
        let Some(line) = out.report.stages.into_iter().next() else {
            return Err(StepError::Terminal(format!("job `{job_id}`: stage `{}` was not run", stage.name)));
        };
        match line.status {
            StageStatus::Completed | StageStatus::Parked => {}
            StageStatus::Failed if line.failure.as_ref().is_some_and(|f| f.kind.is_retryable()) => {
                let msg = format!("stage `{}`: {}", stage.name, line.message.clone().unwrap_or_default());
                return Err(StepError::Retryable(msg));
            }
            StageStatus::Failed => {
                // Terminal: journaled as the stage's failure (its report line, kind and
                // message), never retried.
                return Ok(StepResult { report: line, outputs: Vec::new(), ledger: Vec::new() });
            }
            StageStatus::Skipped => {
                return Err(StepError::Terminal(format!(
                    "stage `{}` could not run: {}",
                    stage.name,
                    line.message.unwrap_or_default()
                )))
            }
        }
        let encode_err = |e: RestateError| StepError::Terminal(format!("stage `{}`: {e}", stage.name));
        let store_err = |e: RestateError| StepError::Retryable(format!("stage `{}`: {e}", stage.name));
        let mut outputs = Vec::new();
        for (k, v) in out.state.outputs(&stage.name) {
            let bytes = codec::encode(v).map_err(encode_err)?;
            outputs.push((k.clone(), codec::to_payload(&self.config.store, bytes).map_err(store_err)?));
        }
        if let Some(raw) = out.state.stage(&stage.name).and_then(|r| r.raw.as_ref()) {
            let bytes = codec::encode(raw).map_err(encode_err)?;
            outputs.push((String::new(), codec::to_payload(&self.config.store, bytes).map_err(store_err)?));
        }
        let after = mem.fields(&job_id).map_err(|e| StepError::Retryable(e.to_string()))?;
        let ledger = after
            .into_iter()
            .filter(|(k, v)| ledger.get(k) != Some(v))
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        Ok(StepResult { report: line, outputs, ledger })
    }

    /// A journaled step read back into a record (large outputs read from the store).
    pub(crate) fn decode(&self, plan: &Plan, idx: usize, step: &StepResult) -> Result<Record, RestateError> {
        let stage = &plan.stages[idx];
        let keys = stage.keys();
        let types = stage.meta.outputs();
        let (mut written, mut raw) = (Vec::new(), None);
        for (key, payload) in &step.outputs {
            let pos = if key.is_empty() { Some(0) } else { keys.iter().position(|k| k == key) };
            let ty = pos.and_then(|p| types.get(p)).ok_or_else(|| {
                RestateError::Codec(format!(
                    "stage `{}` no longer writes `{key}` (it writes {keys:?})",
                    stage.name
                ))
            })?;
            let bytes = codec::payload_bytes(&self.config.store, payload)?;
            let value = codec::decode(ty, &bytes)
                .map_err(|e| RestateError::Codec(format!("stage `{}`, key `{key}`: {e}", stage.name)))?;
            if key.is_empty() {
                raw = Some(value);
            } else {
                written.push((key.clone(), value));
            }
        }
        Ok(Record { report: step.report.clone(), written, raw })
    }
}

/// `plan` with every policy's attempts set to one: on Restate the step's retry policy retries
/// (with the policy's backoff); each attempt keeps the policy's timeout.
fn single_attempts(mut plan: Plan) -> Planned {
    let policies = plan.stages.iter().map(|s| s.policy.clone()).collect();
    for s in &mut plan.stages {
        if let Some(p) = &mut s.policy {
            p.max_attempts = 1;
        }
    }
    Planned { plan, policies }
}
