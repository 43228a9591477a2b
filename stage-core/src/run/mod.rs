//! Running one job through a [`Plan`]: inputs read, stage called, output applied and counted,
//! results recorded, events sent; failures and panics contained.
//!
//! This module is the orchestration: which stage runs when, on which thread, and what is
//! done with its end. The parts are its submodules: `inputs` gathers a stage's inputs,
//! `attempt` makes one attempt at a call, `resilience` composes the policy's layers around
//! the attempts, `book` keeps the run's bookkeeping, `workers` pools the threads of attempts
//! under a timeout; `state`, `report` and `events` are what a run leaves and tells.

mod attempt;
mod book;
mod events;
mod inputs;
mod report;
mod resilience;
mod state;
mod workers;

use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Instant;

pub use events::{CollectingSink, Event, EventKind, EventSink, TracingSink};
pub use report::{Failure, FailureKind, Results, RunReport, RunStatus, StageReport, StageStatus};
pub use state::{RestoredStage, RunState, StageRecord, StateError};

use crate::plan::{Plan, PlannedStage};
use crate::value::SharedValue;
use crate::{Clock, HostSettings, InMemoryLedger, Job, Ledger, SystemClock};
use attempt::Ended;
use book::{Book, Finished, Slot, Wants};
use inputs::{gather, Initial, Inputs};

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

/// A stage for a worker thread: its index and its inputs (or why they are missing).
type Task = (usize, Result<Vec<Option<SharedValue>>, String>);

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
            self.drive_concurrent(plan, &job, &mut book);
        }
        let (stages, mut state) = book.finish(plan);
        let results = state.share_results();
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
            if !matches!(book.slot(i), Slot::Pending) {
                // Completed in an earlier run: its line comes from the state.
                book.put_stored_line(plan, i);
                continue;
            }
            // In one pass, an upstream stage that is not done never will be (with `only`,
            // it is not run at all).
            if self.skip_if_blocked(plan, job, book, i, |s| !matches!(s, Slot::Done)) {
                continue;
            }
            let gathered = self.start(plan, job, &initial, book, i);
            let inputs = gathered.as_ref().map(Inputs::as_slice).map_err(Clone::clone);
            let f = self.call(plan, i, job, inputs, &mut written_buf);
            drop(gathered);
            written_buf = self.record(plan, f, book, job);
        }
    }

    /// Runs the stages on `workers` threads of a scope, taking stages as they become ready.
    fn drive_concurrent(&self, plan: &Plan, job: &Arc<Job>, book: &mut Book) {
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
            self.drive(plan, &task_tx, &done_rx, job, book);
            // The workers end when no more stages come.
            drop(task_tx);
        });
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
            // Settle what cannot run, then start what can, in execution order. An upstream
            // stage still pending or running may yet complete: only one that blocks skips.
            let mut progressed = true;
            while progressed {
                progressed = false;
                for &i in &plan.order {
                    if matches!(book.slot(i), Slot::Pending) {
                        progressed |= self.skip_if_blocked(plan, job, book, i, Slot::blocks);
                    }
                }
            }
            ready.clear();
            ready.extend(plan.order.iter().copied().filter(|&i| {
                matches!(book.slot(i), Slot::Pending)
                    && plan.stages[i].deps.iter().all(|&d| matches!(book.slot(d), Slot::Done))
            }));
            for &i in &ready {
                if running >= self.workers {
                    break;
                }
                // Owned: the state changes while the stage runs on its thread.
                let gathered: Result<Vec<Option<SharedValue>>, String> = self
                    .start(plan, job, &initial, book, i)
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

    /// The skip step, shared by the drivers: when an upstream stage of stage `i` is in a slot
    /// that `blocks` says stops it, stage `i` is skipped (event and report line, naming the
    /// first such stage). Whether it was.
    fn skip_if_blocked(
        &self,
        plan: &Plan,
        job: &Job,
        book: &mut Book,
        i: usize,
        blocks: impl Fn(Slot) -> bool,
    ) -> bool {
        let stage = &plan.stages[i];
        let Some(&d) = stage.deps.iter().find(|&&d| blocks(book.slot(d))) else { return false };
        let why = book.slot(d).why(&plan.stages[d].name);
        self.emit(job, stage, events::EventKind::Skipped { reason: why.clone() });
        book.skip(stage, i, why);
        true
    }

    /// The start step, shared by the drivers: stage `i` marked running and announced, and its
    /// inputs gathered for its call (or why they cannot be).
    fn start<'b>(
        &self,
        plan: &Plan,
        job: &Job,
        initial: &'b Initial<'_>,
        book: &'b mut Book,
        i: usize,
    ) -> Result<Inputs<'b>, String> {
        book.start(i);
        if book.wants.started {
            self.emit(job, &plan.stages[i], events::EventKind::Started);
        }
        gather(plan, i, initial, book, job)
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

    /// One stage call under its policy (see [`resilience::Resilience::call`]), each attempt
    /// made by [`Runner::attempt`]; timed from before the first rate-limit wait.
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
        let target = resilience::Target {
            pipeline: &plan.pipeline.name,
            stage: &stage.name,
            parks: stage.meta.parks(),
        };
        let guarded = self.resilience.call(
            stage.policy.as_ref(),
            &target,
            &*self.clock,
            |timeout| self.attempt(stage, job, inputs, timeout, written_buf),
            |attempt, pause, reason| {
                let backoff_ms = pause.as_millis() as u64;
                self.emit(job, stage, events::EventKind::Retrying { attempt, backoff_ms, reason });
            },
        );
        let resilience::Guarded { ended, attempts, retry } = guarded;
        Finished { idx, ended, attempts, duration_ms: started.elapsed().as_millis() as u64, retry }
    }

    /// What is done with a stage's end: its event, its slot, report line and record (in the
    /// book), the checkpoint, and its figures in the ledger. Returns the emptied buffer of
    /// what it wrote, for the next call to reuse.
    fn record(&self, plan: &Plan, f: Finished, book: &mut Book, job: &Job) -> Vec<(String, SharedValue)> {
        let stage = &plan.stages[f.idx];
        let count = match &f.ended {
            Ended::Done { count, .. } => {
                if book.wants.completed {
                    self.emit(
                        job,
                        stage,
                        events::EventKind::Completed {
                            attempt: f.attempts,
                            duration_ms: f.duration_ms,
                            output_count: *count,
                        },
                    );
                }
                *count
            }
            Ended::Failed(error, _) => {
                self.emit(
                    job,
                    stage,
                    events::EventKind::Failed { attempt: f.attempts, error: error.clone() },
                );
                0
            }
            Ended::Parked(reason) => {
                self.emit(job, stage, events::EventKind::Parked { reason: reason.clone() });
                0
            }
        };
        let (attempts, duration_ms) = (f.attempts, f.duration_ms);
        let written = book.record(stage, f);
        if let Some(cp) = &self.checkpoint {
            cp.checkpoint(plan, &book.state, &stage.name);
        }
        book::write_metrics(&*self.ledger, job, stage, attempts, count, duration_ms);
        written
    }
}
