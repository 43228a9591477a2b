//! Running one job through a [`Plan`]: inputs read, stage called, output applied and counted,
//! results recorded, events sent; failures and panics contained.

mod events;
mod report;
mod resilience;
mod state;
mod workers;

use std::cell::OnceCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use events::{CollectingSink, Event, EventKind, EventSink, TracingSink};
pub use report::{Failure, FailureKind, Results, RunReport, RunStatus, StageReport, StageStatus};
pub use state::{RestoredStage, RunState, StageRecord, StateError};

use crate::glue::resource_refs;
use crate::plan::{Plan, PlannedStage, Provider};
use crate::value::SharedValue;
use crate::{
    CancelToken, Clock, HostSettings, InMemoryLedger, Job, Ledger, StageArgs, StageContext, StageError,
    StateValue, SystemClock,
};

/// Runs jobs through plans. Holds what runs share: the ledger, the clock, the event sink and
/// the number of stages that may run at once.
///
/// Stages run in dependency order (ties by declaration order). With more than one worker,
/// independent branches run concurrently; every input is bound to its providing stage when
/// the pipeline is planned, so the results are the same as a sequential run.
#[derive(Clone)]
pub struct Runner {
    ledger: Arc<dyn Ledger>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
    workers: usize,
    host: Arc<HostSettings>,
    resilience: Arc<resilience::Resilience>,
    attempt_threads: Arc<workers::Workers>,
    checkpoint: Option<Arc<dyn Checkpoint>>,
}

/// Where a run's progress is saved as it goes, so that a process killed mid-run loses no
/// completed stage: resume from what was saved with [`Runner::run_from`].
///
/// A journal appends: told when a run starts and, after each stage, which stage ended, it
/// writes that stage's record once and never rewrites what it wrote before.
pub trait Checkpoint: Send + Sync {
    /// A run of `plan` starts from `state` (empty for a new run; the stored records for a
    /// resumed one), before any stage runs. By default, nothing.
    fn started(&self, plan: &Plan, state: &RunState) {
        let _ = (plan, state);
    }
    /// Stage `stage` ended (completed, failed or parked): its record, and what it wrote, are
    /// in `state` ([`RunState::stage`], [`RunState::outputs`]).
    fn checkpoint(&self, plan: &Plan, state: &RunState, stage: &str);
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("workers", &self.workers).finish_non_exhaustive()
    }
}

impl Default for Runner {
    fn default() -> Self {
        Runner {
            ledger: Arc::new(InMemoryLedger::new()),
            clock: Arc::new(SystemClock),
            events: Arc::new(TracingSink),
            workers: 1,
            host: Arc::new(HostSettings::default()),
            resilience: Arc::default(),
            attempt_threads: Arc::default(),
            checkpoint: None,
        }
    }
}

/// What a run returns: its report and its final state.
#[derive(Debug)]
pub struct RunOutcome {
    /// The report.
    pub report: RunReport,
    /// The state: every completed stage's output, for inspection and resumption.
    pub state: RunState,
}

/// How long, in real time, an attempt may run past its start on a virtual clock before it is
/// deemed timed out.
const VIRTUAL_GRACE: Duration = Duration::from_millis(250);

/// Everything one attempt needs, owned, so that an abandoned attempt can outlive the run.
struct Call {
    meta: &'static crate::StageMetadata,
    job: Arc<Job>,
    name: String,
    ledger: Arc<dyn Ledger>,
    clock: Arc<dyn Clock>,
    host: Arc<HostSettings>,
    gate: Option<Arc<crate::spec::EffectiveGate>>,
    config: Option<crate::ConfigValue>,
    resources: Vec<crate::ResourceValue>,
    inputs: Vec<Option<SharedValue>>,
    cancel: CancelToken,
}

impl Call {
    fn as_ref<'a>(&'a self, inputs: &'a [Option<&'a SharedValue>]) -> CallRef<'a> {
        CallRef {
            meta: self.meta,
            job: &self.job,
            name: &self.name,
            ledger: &self.ledger,
            clock: &self.clock,
            host: &self.host,
            gate: self.gate.as_ref(),
            config: self.config.as_ref(),
            resources: &self.resources,
            inputs,
            cancel: Some(&self.cancel),
        }
    }
}

/// What one attempt reads, borrowed: an attempt on the run's own thread copies nothing.
struct CallRef<'a> {
    meta: &'static crate::StageMetadata,
    job: &'a Arc<Job>,
    name: &'a str,
    ledger: &'a Arc<dyn Ledger>,
    clock: &'a Arc<dyn Clock>,
    host: &'a Arc<HostSettings>,
    gate: Option<&'a Arc<crate::spec::EffectiveGate>>,
    config: Option<&'a crate::ConfigValue>,
    resources: &'a [crate::ResourceValue],
    inputs: &'a [Option<&'a SharedValue>],
    /// The attempt's cancellation token, when it can be abandoned (it runs under a timeout).
    cancel: Option<&'a CancelToken>,
}

/// Inputs of at most this many keys are passed from the stack, not from a `Vec`.
const INLINE_INPUTS: usize = 8;

impl CallRef<'_> {
    /// The stage's context, built only when the stage asks for it.
    fn context(&self) -> StageContext {
        let ctx = StageContext::new(self.job.clone(), self.name, self.meta.stage_type())
            .with_ledger(self.ledger.clone())
            .with_clock(self.clock.clone())
            .with_gate(self.gate.cloned())
            .with_host(self.host.clone());
        match self.cancel {
            Some(c) => ctx.with_cancel(c.clone()),
            None => ctx,
        }
    }

    /// Calls the stage, panics caught; returns its result and its park request.
    fn invoke(&self) -> (Result<Option<SharedValue>, StageError>, Option<String>) {
        let specs = self.meta.inputs();
        let mut refs_buf: [Option<&dyn StateValue>; INLINE_INPUTS] = [None; INLINE_INPUTS];
        let mut keys_buf: [&str; INLINE_INPUTS] = [""; INLINE_INPUTS];
        let (refs_vec, keys_vec): (Vec<Option<&dyn StateValue>>, Vec<&str>);
        let (refs, keys): (&[Option<&dyn StateValue>], &[&str]) =
            if self.inputs.len() <= INLINE_INPUTS && specs.len() <= INLINE_INPUTS {
                for (slot, v) in refs_buf.iter_mut().zip(self.inputs) {
                    *slot = v.map(|v| &**v);
                }
                for (slot, spec) in keys_buf.iter_mut().zip(specs) {
                    *slot = spec.key;
                }
                (&refs_buf[..self.inputs.len()], &keys_buf[..specs.len()])
            } else {
                refs_vec = self.inputs.iter().map(|v| v.map(|v| &**v)).collect();
                keys_vec = specs.iter().map(|i| i.key).collect();
                (&refs_vec, &keys_vec)
            };
        let resources = resource_refs(self.resources);
        let cell = OnceCell::new();
        let make = || self.context();
        let args = StageArgs::with_lazy_context(&cell, &make, refs, keys, self.config, &resources);
        let result = catch_unwind(AssertUnwindSafe(|| self.meta.invoke(&args)))
            .unwrap_or_else(|payload| Err(StageError::Panicked(panic_message(&*payload))));
        // Only a stage that took its context can have asked to park.
        (result, cell.get().and_then(StageContext::take_park_request))
    }
}

/// A stage for a worker thread: its index and its inputs (or why they are missing).
type Task = (usize, Result<Vec<Option<SharedValue>>, String>);

/// How one stage call ended, before it is recorded.
enum Ended {
    Done { written: Vec<(String, SharedValue)>, raw: Option<SharedValue>, count: u64 },
    Failed(String, FailureKind),
    Parked(String),
}

struct Finished {
    idx: usize,
    ended: Ended,
    attempts: u32,
    duration_ms: u64,
    /// For a failure: whether it was retried and why (not).
    retry: Option<String>,
}

impl Runner {
    /// A runner with an in-memory ledger, the system clock, events logged through `tracing`
    /// and one worker.
    pub fn new() -> Self {
        Self::default()
    }
    /// Uses `ledger`.
    pub fn with_ledger(mut self, ledger: Arc<dyn Ledger>) -> Self {
        self.ledger = ledger;
        self
    }
    /// Uses `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
    /// Sends events to `events`.
    pub fn with_events(mut self, events: Arc<dyn EventSink>) -> Self {
        self.events = events;
        self
    }
    /// Runs up to `workers` independent stages at once (at least 1).
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }
    /// Gives every stage the host's settings (run directory, path rebasing, wait cap).
    pub fn with_host(mut self, host: HostSettings) -> Self {
        self.host = Arc::new(host);
        self
    }
    /// Saves the run's state through `checkpoint` after every stage.
    pub fn with_checkpoint(mut self, checkpoint: Arc<dyn Checkpoint>) -> Self {
        self.checkpoint = Some(checkpoint);
        self
    }
    /// The ledger.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// Runs `job` through `plan` from the start.
    pub fn run(&self, plan: &Plan, job: Job) -> RunOutcome {
        self.run_from(plan, RunState::new(job))
    }

    /// Runs the stages of `plan` that `state` has not completed (a resumed run). Completed
    /// stages are never run again.
    pub fn run_from(&self, plan: &Plan, state: RunState) -> RunOutcome {
        self.run_inner(plan, state, None)
    }

    /// Runs one stage of `plan`, the one at index `idx` of `plan.stages`, from `state`: one
    /// call under its policy, like any stage of a run, if `state` has not completed it and has
    /// completed every stage it depends on (otherwise it is reported skipped). The report
    /// holds that stage's line only, and the returned state its record besides `state`'s.
    ///
    /// For hosts that journal each stage as a step of their own (a durable-execution engine):
    /// they call this once per stage, in `plan.order`, and keep the records themselves.
    ///
    /// ```
    /// use stage_core::{stage, Job, Plan, PlanOptions, RunState, Runner, StageRegistry, StageStatus};
    ///
    /// /// Says hello.
    /// #[stage(type = "doc-hello-one", state_key = "greeting", counter = one)]
    /// fn hello() -> String { "hello".to_owned() }
    /// fn one(_: &String) -> u64 { 1 }
    ///
    /// let yaml = "name: p\nversion: 2026-01-01\nstages:\n  - name: hi\n    type: doc-hello-one\n";
    /// let spec = stage_core::spec::load_str("p.yaml", yaml).unwrap().value;
    /// let plan = Plan::new(&spec, StageRegistry::global(), &PlanOptions::default()).unwrap();
    /// let out = Runner::new().run_stage(&plan, RunState::new(Job::new("j1", "test")), 0);
    /// assert_eq!(out.report.stages.len(), 1);
    /// assert_eq!(out.state.stage("hi").unwrap().status, StageStatus::Completed);
    /// ```
    pub fn run_stage(&self, plan: &Plan, state: RunState, idx: usize) -> RunOutcome {
        self.run_inner(plan, state, Some(idx))
    }

    fn run_inner(&self, plan: &Plan, state: RunState, only: Option<usize>) -> RunOutcome {
        let started = Instant::now();
        let job = state.job.clone();
        // Whether the sink wants the events every stage sends, asked once per run.
        let wants = Wants {
            started: self.events.wants(&events::EventKind::Started),
            completed: self.events.wants(&events::EventKind::Completed {
                attempt: 0,
                duration_ms: 0,
                output_count: 0,
            }),
        };
        if let Some(cp) = &self.checkpoint {
            cp.started(plan, &state);
        }
        let sequential = self.workers == 1 || only.is_some();
        let mut book = Book::new(plan, state, sequential, wants);
        if sequential {
            self.drive_sequential(plan, &job, &mut book, only);
        } else {
            // `workers` threads for the run, taking stages as they become ready.
            let (task_tx, task_rx) = mpsc::channel::<Task>();
            let task_rx = Mutex::new(task_rx);
            std::thread::scope(|scope| {
                let (done_tx, done_rx) = mpsc::channel::<Finished>();
                for _ in 0..self.workers.min(plan.stages.len()) {
                    let (done_tx, task_rx, job) = (done_tx.clone(), &task_rx, job.clone());
                    scope.spawn(move || loop {
                        let next = task_rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        let Ok((i, gathered)) = next else { break };
                        let refs: Result<Vec<Option<&SharedValue>>, String> = gathered
                            .as_ref()
                            .map(|g| g.iter().map(Option::as_ref).collect())
                            .map_err(Clone::clone);
                        let inputs = refs.as_deref().map_err(Clone::clone);
                        if done_tx.send(self.call(plan, i, &job, inputs, &mut Vec::new())).is_err() {
                            break;
                        }
                    });
                }
                // Only the workers can send: if they all end, the driver sees it.
                drop(done_tx);
                self.drive(plan, &task_tx, &done_rx, &job, &mut book);
                // The workers end when no more stages come.
                drop(task_tx);
            });
        }
        let Book { lines, mut state, .. } = book;
        let results = state.share_results();
        let stages = match lines {
            Lines::InOrder(lines) => lines,
            Lines::ByIndex(mut lines) => plan.order.iter().filter_map(|&i| lines[i].take()).collect(),
        };
        let status = if stages.iter().any(|s| s.status == StageStatus::Failed) {
            RunStatus::Failed
        } else if stages.iter().any(|s| s.status == StageStatus::Parked) {
            RunStatus::Parked
        } else {
            RunStatus::Completed
        };
        let report = RunReport {
            pipeline: plan.pipeline.name.clone(),
            pipeline_version: plan.pipeline.version.clone(),
            pipeline_path: plan.pipeline.path.clone(),
            job_id: job.job_id.clone(),
            status,
            stages,
            results,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        RunOutcome { report, state }
    }

    /// Runs the stages one at a time on this thread, in execution order: no thread scope, no
    /// channel, one pass (every stage's dependencies come before it in `plan.order`).
    /// With `only`, that stage alone: the others are neither run nor reported.
    fn drive_sequential(&self, plan: &Plan, job: &Arc<Job>, book: &mut Book, only: Option<usize>) {
        let initial = Initial::new(job);
        // And the values a stage writes, on their way to the state.
        let mut written_buf: Vec<(String, SharedValue)> = Vec::new();
        for &i in &plan.order {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            let stage = &plan.stages[i];
            if !matches!(book.slots[i].0, Slot::Pending) {
                // Completed in an earlier run: its line comes from the state.
                if let Some(pos) = book.slots[i].1.get() {
                    let line = book.state.at(pos).report(&stage.name);
                    book.put_line(i, line);
                }
                continue;
            }
            if let Some(&d) = stage.deps.iter().find(|&&d| !matches!(book.slots[d].0, Slot::Done)) {
                let why = book.slots[d].0.why(&plan.stages[d].name);
                self.emit(job, stage, events::EventKind::Skipped { reason: why.clone() });
                book.put_line(i, line(stage, StageStatus::Skipped, 0, 0, 0, Some(why)));
                book.slots[i].0 = Slot::Skipped;
                continue;
            }
            book.slots[i].0 = Slot::Running;
            if book.wants.started {
                self.emit(job, stage, events::EventKind::Started);
            }
            let gathered = gather(plan, i, &initial, book, job);
            let inputs = gathered.as_ref().map(Inputs::as_slice).map_err(Clone::clone);
            let f = self.call(plan, i, job, inputs, &mut written_buf);
            drop(gathered);
            written_buf = self.record(plan, f, book, job);
        }
    }

    /// Runs what can run until nothing can: up to `workers` stages at once on the scope's
    /// threads, their ends received on the channel.
    fn drive(
        &self,
        plan: &Plan,
        tasks: &mpsc::Sender<Task>,
        done: &mpsc::Receiver<Finished>,
        job: &Arc<Job>,
        book: &mut Book,
    ) {
        let initial = Initial::new(job);
        let n = plan.stages.len();
        let mut running = 0usize;
        let mut ready: Vec<usize> = Vec::with_capacity(n);
        loop {
            // Settle what cannot run, then start what can, in execution order.
            let mut progressed = true;
            while progressed {
                progressed = false;
                for &i in &plan.order {
                    if !matches!(book.slots[i].0, Slot::Pending) {
                        continue;
                    }
                    let blocked = plan.stages[i].deps.iter().find(|&&d| book.slots[d].0.blocks());
                    if let Some(&d) = blocked {
                        let why = book.slots[d].0.why(&plan.stages[d].name);
                        self.emit(job, &plan.stages[i], events::EventKind::Skipped { reason: why.clone() });
                        book.put_line(i, line(&plan.stages[i], StageStatus::Skipped, 0, 0, 0, Some(why)));
                        book.slots[i].0 = Slot::Skipped;
                        progressed = true;
                    }
                }
            }
            ready.clear();
            ready.extend(plan.order.iter().copied().filter(|&i| {
                matches!(book.slots[i].0, Slot::Pending)
                    && plan.stages[i].deps.iter().all(|&d| matches!(book.slots[d].0, Slot::Done))
            }));
            for &i in &ready {
                if running >= self.workers {
                    break;
                }
                book.slots[i].0 = Slot::Running;
                if book.wants.started {
                    self.emit(job, &plan.stages[i], events::EventKind::Started);
                }
                // Owned: the state changes while the stage runs on its thread.
                let gathered: Result<Vec<Option<SharedValue>>, String> = gather(plan, i, &initial, book, job)
                    .map(|g| g.as_slice().iter().map(|v| v.cloned()).collect());
                if tasks.send((i, gathered)).is_err() {
                    break;
                }
                running += 1;
            }
            if running == 0 {
                break;
            }
            let Ok(f) = done.recv() else { break };
            running -= 1;
            self.record(plan, f, book, job);
        }
    }

    fn emit(&self, job: &Job, stage: &PlannedStage, kind: events::EventKind) {
        if !self.events.wants(&kind) {
            return;
        }
        self.events.event(&Event {
            job_id: job.job_id.clone(),
            stage: stage.name.clone(),
            stage_type: stage.meta.stage_type().to_owned(),
            kind,
        });
    }

    /// One stage call under its policy: rate limit, circuit breaker, retries with backoff,
    /// each attempt bounded by the timeout; then parking, count and output.
    fn call(
        &self,
        plan: &Plan,
        idx: usize,
        job: &Arc<Job>,
        inputs: Result<&[Option<&SharedValue>], String>,
        written_buf: &mut Vec<(String, SharedValue)>,
    ) -> Finished {
        let stage = &plan.stages[idx];
        let started = Instant::now();
        let inputs = match inputs {
            Ok(inputs) => inputs,
            Err(msg) => {
                let ended = Ended::Failed(msg, FailureKind::Permanent);
                return Finished { idx, ended, attempts: 1, duration_ms: 0, retry: None };
            }
        };
        let Some(policy) = stage.policy.as_ref() else {
            // No policy: one attempt, on this thread.
            let ended = self.attempt(stage, job, inputs, None, written_buf);
            let retry =
                matches!(ended, Ended::Failed(..)).then(|| "not retried: the stage has no policy".to_owned());
            let duration_ms = started.elapsed().as_millis() as u64;
            return Finished { idx, ended, attempts: 1, duration_ms, retry };
        };
        let policy = Some(policy);
        let max_attempts = policy.map_or(1, |p| p.max_attempts.max(1));
        // A gate's waiting is governed by its own timing, never by the policy's timeout.
        let timeout = policy.filter(|_| !stage.meta.parks()).map(|p| {
            crate::policy::duration_from_secs(p.timeout_seconds, crate::policy::MAX_BACKOFF_SECONDS)
        });
        let breaker = policy.and_then(|p| p.circuit_breaker.as_ref());
        let breaker_key =
            if breaker.is_some() { format!("{}/{}", plan.pipeline.name, stage.name) } else { String::new() };
        let clock = &*self.clock;
        let mut attempt = 0;
        let ended = loop {
            attempt += 1;
            if let Some((p, limit)) = policy.and_then(|p| p.rate_limit.as_ref().map(|l| (p, l))) {
                self.resilience.acquire(&p.name, limit, clock);
            }
            if let Some(cb) = breaker {
                if let Err(msg) = self.resilience.allow(&breaker_key, cb, clock) {
                    break Ended::Failed(msg, FailureKind::BreakerOpen);
                }
            }
            let outcome = self.attempt(stage, job, inputs, timeout, written_buf);
            if let Some(cb) = breaker {
                // The breaker protects the outside service: it counts only that service's
                // (transient) failures; bad data, panics and timeouts say nothing about it.
                match &outcome {
                    Ended::Failed(_, FailureKind::Transient) => {
                        self.resilience.record(&breaker_key, cb, false, clock)
                    }
                    Ended::Failed(..) => {}
                    Ended::Done { .. } | Ended::Parked(_) => {
                        self.resilience.record(&breaker_key, cb, true, clock)
                    }
                }
            }
            match (outcome, policy) {
                (Ended::Failed(reason, kind), Some(p)) if kind.is_retryable() && attempt < max_attempts => {
                    let pause = self.resilience.backoff(&p.backoff, attempt);
                    self.emit(
                        job,
                        stage,
                        events::EventKind::Retrying { attempt, backoff_ms: pause.as_millis() as u64, reason },
                    );
                    clock.sleep(pause);
                }
                (other, _) => break other,
            }
        };
        let retry = match &ended {
            Ended::Failed(_, kind) => {
                Some(retry_note(*kind, attempt, max_attempts, policy.map_or("", |p| &p.name)))
            }
            _ => None,
        };
        Finished { idx, ended, attempts: attempt, duration_ms: started.elapsed().as_millis() as u64, retry }
    }

    /// One attempt: on this thread, or, under a timeout, on its own thread that is abandoned
    /// (cancelled, its late result discarded) when the timeout passes.
    fn attempt(
        &self,
        stage: &PlannedStage,
        job: &Arc<Job>,
        inputs: &[Option<&SharedValue>],
        timeout: Option<Duration>,
        written_buf: &mut Vec<(String, SharedValue)>,
    ) -> Ended {
        let (result, park) = match timeout {
            None => CallRef {
                meta: stage.meta,
                job,
                name: &stage.name,
                ledger: &self.ledger,
                clock: &self.clock,
                host: &self.host,
                gate: stage.gate.as_ref(),
                config: stage.config.as_ref(),
                resources: &stage.resources,
                inputs,
                cancel: None,
            }
            .invoke(),
            Some(t) => {
                let call = Call {
                    meta: stage.meta,
                    job: job.clone(),
                    name: stage.name.clone(),
                    ledger: self.ledger.clone(),
                    clock: self.clock.clone(),
                    host: self.host.clone(),
                    gate: stage.gate.clone(),
                    config: stage.config.clone(),
                    resources: stage.resources.clone(),
                    inputs: inputs.iter().map(|v| v.cloned()).collect(),
                    cancel: CancelToken::new(),
                };
                let cancel = call.cancel.clone();
                let (tx, rx) = mpsc::sync_channel(1);
                // On a pooled thread: reused from attempt to attempt.
                let spawned = self.attempt_threads.run(Box::new(move || {
                    drop(tx.send({
                        let refs: Vec<Option<&SharedValue>> =
                            call.inputs.iter().map(Option::as_ref).collect();
                        call.as_ref(&refs).invoke()
                    }))
                }));
                if let Err(e) = spawned {
                    return Ended::Failed(
                        format!("could not start a thread for the stage: {e}"),
                        FailureKind::Transient,
                    );
                }
                // On a virtual clock, an attempt still running after a short real grace is
                // deemed to have reached its timeout, and the clock moves to it.
                let wait = if self.clock.is_virtual() { t.min(VIRTUAL_GRACE) } else { t };
                match rx.recv_timeout(wait) {
                    Ok(r) => r,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        cancel.cancel();
                        if self.clock.is_virtual() {
                            self.clock.sleep(t);
                        }
                        return Ended::Failed(
                            format!(
                                "timed out after {} s: the attempt was abandoned and its late result will be discarded",
                                t.as_secs_f64()
                            ),
                            FailureKind::TimedOut,
                        );
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        return Ended::Failed(
                            "the stage's thread ended without a result".to_owned(),
                            FailureKind::Transient,
                        )
                    }
                }
            }
        };
        let meta = stage.meta;
        match (result, park) {
            (Err(e), _) => {
                let kind = match e {
                    StageError::Failed(_) => FailureKind::Transient,
                    StageError::Panicked(_) => FailureKind::Panicked,
                    _ => FailureKind::Permanent,
                };
                Ended::Failed(e.to_string(), kind)
            }
            (Ok(_), Some(reason)) if meta.parks() => Ended::Parked(reason),
            (Ok(_), Some(_)) => Ended::Failed(
                format!(
                    "asked to park the run, but stage type `{}` is not declared `#[stage(parks)]`",
                    meta.stage_type()
                ),
                FailureKind::Permanent,
            ),
            (Ok(None), None) => Ended::Done { written: Vec::new(), raw: None, count: 0 },
            (Ok(Some(out)), None) => self.apply(stage, job, out, written_buf),
        }
    }

    fn apply(
        &self,
        stage: &PlannedStage,
        job: &Job,
        out: SharedValue,
        written_buf: &mut Vec<(String, SharedValue)>,
    ) -> Ended {
        let meta = stage.meta;
        let count = match (meta.output_counter().count)(&*out) {
            Ok(n) => n,
            Err(why) => {
                tracing::warn!(job = %job.job_id, stage = %stage.name, "output counter failed, counting 0: {why}");
                0
            }
        };
        let raw = (key_count(stage) == 0).then(|| out.clone());
        let mut sink = crate::OutputSink::reusing(std::mem::take(written_buf));
        let applied = match &stage.keys_override {
            None => (meta.output_handler().apply)(out, meta.state_key().keys(), &mut sink),
            Some(keys) => {
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                (meta.output_handler().apply)(out, &keys, &mut sink)
            }
        };
        match applied {
            Ok(()) => Ended::Done { written: sink.into_written(), raw, count },
            Err(e) => Ended::Failed(e.to_string(), FailureKind::Permanent),
        }
    }

    fn record(&self, plan: &Plan, f: Finished, book: &mut Book, job: &Job) -> Vec<(String, SharedValue)> {
        let stage = &plan.stages[f.idx];
        let mut output = None;
        let mut failure = None;
        let (status, count, message) = match f.ended {
            Ended::Done { written, raw, count } => {
                if book.wants.completed {
                    self.emit(
                        job,
                        stage,
                        events::EventKind::Completed {
                            attempt: f.attempts,
                            duration_ms: f.duration_ms,
                            output_count: count,
                        },
                    );
                }
                output = Some((written, raw));
                book.slots[f.idx].0 = Slot::Done;
                (StageStatus::Completed, count, None)
            }
            Ended::Failed(error, kind) => {
                let retry = f.retry.unwrap_or_default();
                failure = Some(Failure { kind, retried: f.attempts > 1, retry });
                self.emit(
                    job,
                    stage,
                    events::EventKind::Failed { attempt: f.attempts, error: error.clone() },
                );
                book.slots[f.idx].0 = Slot::Failed;
                (StageStatus::Failed, 0, Some(error))
            }
            Ended::Parked(reason) => {
                self.emit(job, stage, events::EventKind::Parked { reason: reason.clone() });
                book.slots[f.idx].0 = Slot::Parked;
                (StageStatus::Parked, 0, Some(reason))
            }
        };
        let (mut written, raw) = output.unwrap_or_default();
        let mut report_line = line(stage, status, f.attempts, count, f.duration_ms, message.clone());
        report_line.failure = failure.clone();
        book.put_line(f.idx, report_line);
        let rec = StageRecord::new(
            status,
            stage.meta,
            raw,
            f.attempts,
            count,
            f.duration_ms,
            message,
            failure,
            key_count(stage),
        );
        let pos = book.state.record(stage, rec, &mut written, book.slots[f.idx].1.get());
        book.slots[f.idx].1 = Pos::at(pos);
        if let Some(cp) = &self.checkpoint {
            cp.checkpoint(plan, &book.state, &stage.name);
        }
        // `stage.<name>.<field>`, the three keys in one buffer, written in one call.
        let mut keys = String::with_capacity(3 * (stage.name.len() + 7) + 31);
        let mut ends = [0usize; 3];
        for (end, field) in ends.iter_mut().zip(["attempts", "output_count", "duration_ms"]) {
            keys.push_str("stage.");
            keys.push_str(&stage.name);
            keys.push('.');
            keys.push_str(field);
            *end = keys.len();
        }
        let metrics = [
            (&keys[..ends[0]], serde_json::json!(f.attempts)),
            (&keys[ends[0]..ends[1]], serde_json::json!(count)),
            (&keys[ends[1]..ends[2]], serde_json::json!(f.duration_ms)),
        ];
        if let Err(e) = self.ledger.set_many(&job.job_id, &metrics) {
            tracing::warn!(job = %job.job_id, stage = %stage.name, "ledger write failed: {e}");
        }
        written
    }
}

/// A run's bookkeeping: where each stage is and where its record is in the state (by plan
/// index), the report lines, and the results so far.
struct Book {
    slots: Vec<(Slot, Pos)>,
    lines: Lines,
    state: RunState,
    wants: Wants,
}

/// Whether the event sink wants `Started` and `Completed` events.
#[derive(Clone, Copy)]
struct Wants {
    started: bool,
    completed: bool,
}

/// A record's position in the state, if any.
#[derive(Clone, Copy)]
struct Pos(u32);

impl Pos {
    const NONE: Pos = Pos(u32::MAX);
    fn at(pos: usize) -> Pos {
        Pos(u32::try_from(pos).unwrap_or(u32::MAX))
    }
    fn get(self) -> Option<usize> {
        (self.0 != u32::MAX).then_some(self.0 as usize)
    }
}

/// The report lines: pushed in execution order by a sequential run, or put at each stage's
/// index by a run on several workers (stages end in any order) and ordered at the end.
enum Lines {
    InOrder(Vec<StageReport>),
    ByIndex(Vec<Option<StageReport>>),
}

impl Book {
    fn new(plan: &Plan, mut state: RunState, sequential: bool, wants: Wants) -> Self {
        let n = plan.stages.len();
        let mut slots = Vec::with_capacity(n);
        let mut missing = 0;
        for stage in &plan.stages {
            let pos = state.position(&stage.name);
            missing += usize::from(pos.is_none());
            let done = pos.is_some_and(|p| state.at(p).status == StageStatus::Completed);
            slots.push((if done { Slot::Done } else { Slot::Pending }, pos.map_or(Pos::NONE, Pos::at)));
        }
        let values = plan.stages.iter().map(key_count).sum();
        state.reserve(missing, values);
        let lines = if sequential {
            Lines::InOrder(Vec::with_capacity(n))
        } else {
            let mut lines: Vec<Option<StageReport>> = (0..n).map(|_| None).collect();
            for (i, (slot, pos)) in slots.iter().enumerate() {
                if let (Slot::Done, Some(p)) = (slot, pos.get()) {
                    lines[i] = Some(state.at(p).report(&plan.stages[i].name));
                }
            }
            Lines::ByIndex(lines)
        };
        Book { slots, lines, state, wants }
    }

    fn put_line(&mut self, idx: usize, line: StageReport) {
        match &mut self.lines {
            Lines::InOrder(lines) => lines.push(line),
            Lines::ByIndex(lines) => lines[idx] = Some(line),
        }
    }
}

#[derive(Clone, Copy)]
enum Slot {
    Pending,
    Running,
    Done,
    Failed,
    Parked,
    Skipped,
}

impl Slot {
    fn blocks(self) -> bool {
        matches!(self, Slot::Failed | Slot::Parked | Slot::Skipped)
    }
    fn why(self, upstream: &str) -> String {
        match self {
            Slot::Failed => format!("not run: upstream stage `{upstream}` failed"),
            Slot::Parked => format!("not run yet: the run is parked at gate stage `{upstream}`"),
            _ => format!("not run: upstream stage `{upstream}` did not run"),
        }
    }
}

fn line(
    stage: &PlannedStage,
    status: StageStatus,
    attempts: u32,
    output_count: u64,
    duration_ms: u64,
    message: Option<String>,
) -> StageReport {
    StageReport {
        name: stage.name.clone(),
        stage_type: stage.meta.stage_type().to_owned(),
        status,
        attempts,
        output_count,
        duration_ms,
        message,
        failure: None,
    }
}

/// Why a failed stage was, or was not, retried (more), for its report line.
fn retry_note(kind: FailureKind, attempts: u32, max_attempts: u32, policy: &str) -> String {
    match kind {
        FailureKind::Transient | FailureKind::TimedOut if attempts >= max_attempts => {
            if max_attempts <= 1 {
                format!("not retried: policy `{policy}` allows one attempt")
            } else {
                format!("retried: all {max_attempts} attempts that policy `{policy}` allows failed")
            }
        }
        FailureKind::Transient | FailureKind::TimedOut => "not retried".to_owned(),
        FailureKind::Permanent => {
            "not retried: a permanent failure (another attempt cannot fix it)".to_owned()
        }
        FailureKind::Panicked => {
            "not retried: a panic is a bug or bad data, not a transient failure".to_owned()
        }
        FailureKind::BreakerOpen => {
            "not retried: the stage's circuit breaker is open (its outside service failed repeatedly)"
                .to_owned()
        }
    }
}

/// How many keys a stage writes (overrides applied), without listing them.
fn key_count(stage: &PlannedStage) -> usize {
    stage.keys_override.as_ref().map_or_else(|| stage.meta.state_key().keys().len(), Vec::len)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// The keys every run starts with (contract §2), each built when a stage first reads it.
struct Initial<'j> {
    job: &'j Job,
    values: [OnceCell<SharedValue>; 4],
}

impl<'j> Initial<'j> {
    const KEYS: [&'static str; 4] = ["context", "adapter_request", "payload", "job_id"];

    fn new(job: &'j Job) -> Self {
        Initial { job, values: Default::default() }
    }

    fn get(&self, key: &str) -> Option<&SharedValue> {
        let i = Self::KEYS.iter().position(|k| *k == key)?;
        let job = self.job;
        Some(self.values[i].get_or_init(|| -> SharedValue {
            match i {
                0 => Arc::new(serde_json::json!({
                    "tenant_id": job.tenant_id,
                    "job_id": job.job_id,
                    "doc_id": job.doc_id,
                    "correlation_id": job.correlation_id,
                    "metadata": job.metadata,
                    "source": job.source,
                })),
                1 => Arc::new(job.adapter_request.clone()),
                2 => Arc::new(job.payload.clone()),
                _ => Arc::new(job.job_id.clone()),
            }
        }))
    }
}

/// Reads a stage's inputs from its bound providers, nearest first.
fn gather<'a>(
    plan: &Plan,
    idx: usize,
    initial: &'a Initial<'_>,
    book: &'a Book,
    job: &Job,
) -> Result<Inputs<'a>, String> {
    let stage = &plan.stages[idx];
    let mut out = Inputs::Inline([None; INLINE_INPUTS], 0);
    for (spec, binding) in stage.meta.inputs().iter().zip(&stage.inputs) {
        let written =
            |j: usize| book.slots[j].1.get().and_then(|pos| book.state.output_ref_at(pos, spec.key));
        // The nearest writer, nearly always; else the writers upstream, nearest first.
        let found = match binding.first() {
            Some(Provider::Stage(j)) => written(*j).or_else(|| farther(plan, binding, spec.key, &written).0),
            _ => farther(plan, binding, spec.key, &written).0,
        }
        .or_else(|| binding.contains(&Provider::Initial).then(|| initial.get(spec.key)).flatten());
        if found.is_none() && spec.required {
            let providers: Vec<String> = farther(plan, binding, spec.key, &written)
                .1
                .iter()
                .map(|j| format!("`{}`", plan.stages[*j].name))
                .collect();
            return Err(if providers.is_empty() {
                format!("input `{}` is absent: no upstream stage writes it", spec.key)
            } else {
                format!(
                    "input `{}` is absent: upstream stage {} may write it but wrote nothing for job `{}`",
                    spec.key,
                    providers.join(" or "),
                    job.job_id
                )
            });
        }
        out.push(found);
    }
    Ok(out)
}

/// The value of `key` from the writers `binding` names and, when they wrote nothing, the
/// writers upstream of them (their fallbacks), nearest first by execution position; and the
/// writers tried.
fn farther<'a>(
    plan: &Plan,
    binding: &[Provider],
    key: &str,
    written: &dyn Fn(usize) -> Option<&'a SharedValue>,
) -> (Option<&'a SharedValue>, Vec<usize>) {
    let position = |j: usize| plan.positions.get(j).copied().unwrap_or(0);
    let mut heap: std::collections::BinaryHeap<(usize, usize)> = binding
        .iter()
        .filter_map(|p| match p {
            Provider::Stage(j) => Some((position(*j), *j)),
            Provider::Initial => None,
        })
        .collect();
    let mut tried: Vec<usize> = Vec::new();
    while let Some((_, j)) = heap.pop() {
        if tried.contains(&j) {
            continue;
        }
        tried.push(j);
        if let Some(v) = written(j) {
            return (Some(v), tried);
        }
        if let Some(more) = plan.fallbacks.get(&(j, key.to_owned())) {
            heap.extend(more.iter().map(|&f| (position(f), f)));
        }
    }
    (None, tried)
}

/// A stage's inputs, borrowed from the run's state: on the stack up to [`INLINE_INPUTS`].
enum Inputs<'a> {
    Inline([Option<&'a SharedValue>; INLINE_INPUTS], usize),
    Heap(Vec<Option<&'a SharedValue>>),
}

impl<'a> Inputs<'a> {
    fn push(&mut self, v: Option<&'a SharedValue>) {
        match self {
            Inputs::Inline(buf, n) if *n < INLINE_INPUTS => {
                buf[*n] = v;
                *n += 1;
            }
            Inputs::Inline(buf, n) => {
                let mut heap = buf[..*n].to_vec();
                heap.push(v);
                *self = Inputs::Heap(heap);
            }
            Inputs::Heap(heap) => heap.push(v),
        }
    }
    fn as_slice(&self) -> &[Option<&'a SharedValue>] {
        match self {
            Inputs::Inline(buf, n) => &buf[..*n],
            Inputs::Heap(heap) => heap,
        }
    }
}
