//! `stagectl run`: one job or a batch through a pipeline, with per-stage progress, a summary
//! table, and each run's report and state saved in the store.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use stage_core::run::EventSink;
use stage_core::{HostSettings, Job, Ledger, Plan, PlanOptions, RunReport, RunStatus, Runner, StageRegistry};
use stages_builtin::ledger::SqliteLedger;

use crate::journal::{Flush, Journal};
use crate::progress::BatchProgress;
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
    /// Flush every stage's journal commit to disk, not only the one that ends or parks a run.
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
    /// For each job, in the same order, the submitted job it was expanded from (its
    /// `metadata.request_id`), when it was.
    pub request_ids: Vec<Option<String>>,
}

impl BatchOutcome {
    /// Whether every job completed or parked.
    pub fn ok(&self) -> bool {
        self.reports.iter().all(|r| matches!(r, Ok(r) if r.status != RunStatus::Failed))
    }
}

/// Reads the jobs: inline JSON (`{...}`), a `.jsonl` file (one job a line) or a `.json` file
/// (one job, or an array of jobs).
pub(crate) fn read_jobs(arg: &str) -> Result<Vec<Job>, CliError> {
    if arg.trim_start().starts_with('{') {
        return parse_jobs(arg, "inline job", false);
    }
    let text = std::fs::read_to_string(arg).map_err(|e| format!("{arg}: {e}"))?;
    parse_jobs(&text, arg, arg.ends_with(".jsonl"))
}

/// Parses jobs the way `stagectl run` reads its jobs argument: with `is_jsonl`, one job per
/// non-blank line (errors name `origin:line`); otherwise a JSON array of jobs when the text
/// starts with `[`, else one job (errors name `origin`). Job ids are not checked here (see
/// [`stage_core::Job::check_id`], applied by [`expand_jobs`]).
///
/// ```
/// let jobs = stagectl::parse_jobs("{\"job_id\": \"a\", \"source\": \"pmc\"}\n\n", "jobs.jsonl", true)?;
/// assert_eq!(jobs[0].job_id, "a");
/// let e = stagectl::parse_jobs("{}\n{", "jobs.jsonl", true).unwrap_err().to_string();
/// assert!(e.starts_with("jobs.jsonl:1: not a job"), "{e}");
/// # Ok::<(), stagectl::CliError>(())
/// ```
pub fn parse_jobs(text: &str, origin: &str, is_jsonl: bool) -> Result<Vec<Job>, CliError> {
    let parse = |text: &str, origin: &str| -> Result<Job, CliError> {
        serde_json::from_str::<Job>(text).map_err(|e| format!("{origin}: not a job: {e}").into())
    };
    if is_jsonl {
        let mut jobs = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            jobs.push(parse(line, &format!("{origin}:{}", i + 1))?);
        }
        return Ok(jobs);
    }
    if text.trim_start().starts_with('[') {
        return serde_json::from_str::<Vec<Job>>(text)
            .map_err(|e| format!("{origin}: not a list of jobs: {e}").into());
    }
    Ok(vec![parse(text, origin)?])
}

/// A batch's submitted jobs, handed out one at a time: a `.jsonl` file is read as the batch
/// runs (one line at a time), inline JSON and `.json` files at once.
enum JobSource {
    Lines { origin: String, lines: std::io::Lines<std::io::BufReader<std::fs::File>>, line: usize },
    List(std::vec::IntoIter<Job>),
}

impl JobSource {
    fn open(arg: &str) -> Result<JobSource, CliError> {
        if arg.ends_with(".jsonl") && !arg.trim_start().starts_with('{') {
            let file = std::fs::File::open(arg).map_err(|e| format!("{arg}: {e}"))?;
            let lines = std::io::BufRead::lines(std::io::BufReader::new(file));
            return Ok(JobSource::Lines { origin: arg.to_owned(), lines, line: 0 });
        }
        Ok(JobSource::List(read_jobs(arg)?.into_iter()))
    }

    /// The next job; an unreadable line is an error naming it.
    fn next_job(&mut self) -> Option<Result<Job, CliError>> {
        match self {
            JobSource::List(jobs) => jobs.next().map(Ok),
            JobSource::Lines { origin, lines, line } => loop {
                *line += 1;
                let text = match lines.next()? {
                    Ok(t) => t,
                    Err(e) => return Some(Err(format!("{origin}:{line}: {e}").into())),
                };
                if text.trim().is_empty() {
                    continue;
                }
                return Some(
                    serde_json::from_str::<Job>(&text)
                        .map_err(|e| format!("{origin}:{line}: not a job: {e}").into()),
                );
            },
        }
    }
}

/// Checks a batch before anything runs: every job parses, every id has the job-id syntax, no
/// id repeats (the first ten problems, each named). Returns the submitted ids.
fn check_batch(arg: &str) -> Result<HashSet<String>, CliError> {
    let mut source = JobSource::open(arg)?;
    let mut ids = BatchIds::default();
    let mut problems: Vec<String> = Vec::new();
    while let Some(job) = source.next_job() {
        let problem = match job {
            Err(e) => Some(e.to_string()),
            Ok(job) => ids.check(&job).err(),
        };
        problems.extend(problem);
        if problems.len() >= 10 {
            break;
        }
    }
    if problems.is_empty() {
        Ok(ids.ids)
    } else {
        Err(problems.join("\n").into())
    }
}

/// A batch's job ids, checked as they come: each has the job-id syntax ([`Job::check_id`]) and
/// appears once (two runs under one id would share one record and ledger). The one check of
/// `stagectl run` ([`check_batch`]) and `stagectl submit --restate` ([`expand_jobs`]).
#[derive(Default)]
struct BatchIds {
    ids: HashSet<String>,
}

impl BatchIds {
    /// Whether the id has the job-id syntax; the error names the id and the rule.
    fn syntax(job: &Job) -> Result<(), String> {
        Job::check_id(&job.job_id)
    }

    /// Records the id; an error when the batch already has it, naming the job it is a record
    /// of when it came from expanding one (`request_id`).
    fn once(&mut self, job: &Job) -> Result<(), String> {
        if self.ids.insert(job.job_id.clone()) {
            return Ok(());
        }
        let why = match job.metadata.get("request_id").and_then(|v| v.as_str()) {
            Some(request) => format!(" (a record of job `{request}`)"),
            None => String::new(),
        };
        Err(format!(
            "job id `{}`{why} appears more than once in the batch: give every job its own `job_id`",
            job.job_id
        ))
    }

    /// Both checks, the syntax first.
    fn check(&mut self, job: &Job) -> Result<(), String> {
        Self::syntax(job)?;
        self.once(job)
    }
}

/// The jobs to run for the submitted `jobs`: each expanded into one job per record when its
/// request names several (a results page, a batch, a folder; see
/// [`stages_builtin::ingest::expand_job`] for the ids), then checked for repeated ids, which are
/// refused before anything runs (two runs under one id would share one record and ledger).
pub fn expand_jobs(plan: &Plan, jobs: Vec<Job>) -> Result<Vec<Job>, CliError> {
    let bad: Vec<String> = jobs.iter().filter_map(|j| BatchIds::syntax(j).err()).take(10).collect();
    if !bad.is_empty() {
        return Err(bad.join("\n").into());
    }
    let mut out = Vec::with_capacity(jobs.len());
    for job in &jobs {
        out.extend(stages_builtin::ingest::expand_for_plan(plan, job));
    }
    let mut ids = BatchIds::default();
    for job in &out {
        ids.once(job)?;
    }
    Ok(out)
}

/// A job's result: its report, or why it was refused before running.
pub type JobResult = Result<RunReport, String>;

/// Told each job's result as it ends: its index in the batch, the job, the result.
pub type JobDone<'a> = dyn Fn(usize, &Job, JobResult) + Sync + 'a;

/// What a batch did, counted: all that [`run_jobs_with`] keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchCounts {
    /// Runs that completed.
    pub completed: usize,
    /// Runs parked at a gate.
    pub parked: usize,
    /// Runs that failed.
    pub failed: usize,
    /// Jobs refused before running.
    pub refused: usize,
}

impl BatchCounts {
    /// Every job counted.
    pub fn total(&self) -> usize {
        self.completed + self.parked + self.failed + self.refused
    }

    /// Whether every job completed or parked.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.refused == 0
    }

    pub(crate) fn count(&mut self, r: &Result<RunReport, String>) {
        match r {
            Err(_) => self.refused += 1,
            Ok(r) => match r.status {
                RunStatus::Completed => self.completed += 1,
                RunStatus::Parked => self.parked += 1,
                RunStatus::Failed => self.failed += 1,
            },
        }
    }
}

/// Runs jobs through a planned pipeline, `concurrency` at a time, recording each run in the
/// store's journal, and keeps every report. Jobs whose source the pipeline does not accept
/// are refused. For a large batch, [`run_jobs_with`] keeps nothing but counts.
pub fn run_jobs(
    plan: &Plan,
    jobs: Vec<Job>,
    runner: &Runner,
    store: &Path,
    concurrency: usize,
) -> BatchOutcome {
    type Slot = Option<(Option<String>, JobResult)>;
    let results: Mutex<Vec<Slot>> = Mutex::new(vec![None; jobs.len()]);
    run_jobs_with(plan, &jobs, runner, store, concurrency, &|i, job, r| {
        let request = job.metadata.get("request_id").and_then(|v| v.as_str()).map(str::to_owned);
        results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some((request, r));
    });
    let (request_ids, reports) = results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or_else(|| (None, Err("not run".to_owned()))))
        .unzip();
    BatchOutcome { reports, request_ids }
}

/// Runs jobs like [`run_jobs`], handing each job's result to `done` (with the job's index in
/// `jobs`) as soon as it ends and its run is flushed to the journal, in completion order, from
/// one thread, and keeping only counts: memory stays flat in the number of jobs.
pub fn run_jobs_with(
    plan: &Plan,
    jobs: &[Job],
    runner: &Runner,
    store: &Path,
    concurrency: usize,
    done: &JobDone<'_>,
) -> BatchCounts {
    let next = AtomicUsize::new(0);
    let take = || {
        let i = next.fetch_add(1, Ordering::SeqCst);
        jobs.get(i).map(|j| (i, j.clone(), None))
    };
    run_stream(plan, &take, runner, store, concurrency.min(jobs.len().max(1)), done)
}

/// The next job of a batch: its index, the job, and why it is refused (when it is).
type NextJob<'a> = dyn Fn() -> Option<(usize, Job, Option<String>)> + Sync + 'a;

/// Runs the jobs `next` hands out until it has none, `concurrency` at a time: each worker holds
/// one job at a time, so a batch read from a file as it runs keeps memory flat.
///
/// A worker commits a run's end to the journal and goes on with its next job; a thread of
/// their own flushes the journal to disk ([`Journal::flush_through`]: one `fsync` for every run
/// ended since the last) and only then counts each flushed job and hands it to `done`, in the
/// order they ended. So a result is printed once its run is durable, and the job threads do not
/// wait for the disk.
fn run_stream(
    plan: &Plan,
    next: &NextJob<'_>,
    runner: &Runner,
    store: &Path,
    concurrency: usize,
    done: &JobDone<'_>,
) -> BatchCounts {
    // The runner's own journal when it checkpoints into this store: one connection.
    let journal = match Journal::shared(store, false) {
        Ok(j) => Some(j),
        Err(e) => {
            tracing::error!("runs will not be recorded: {e}");
            None
        }
    };
    let journal = journal.as_deref();
    // Ended jobs, waiting for their flush; bounded, so that the workers wait for a slow disk
    // rather than memory growing.
    let (ended, flushing) = std::sync::mpsc::sync_channel::<Ended>(8 * concurrency.max(1));
    std::thread::scope(|s| {
        let flusher = s.spawn(move || flush_and_report(journal, &flushing, done));
        for _ in 0..concurrency.max(1) {
            let ended = ended.clone();
            s.spawn(move || {
                while let Some((i, job, refused)) = next() {
                    let sources = &plan.pipeline.applicable_sources;
                    let (result, flush) = if let Some(why) = refused {
                        (Err(why), None)
                    } else if !sources.is_empty() && !sources.contains(&job.source) {
                        let why = format!(
                            "job `{}` refused: pipeline `{}` accepts sources {} but the job's source is `{}`",
                            job.job_id,
                            plan.pipeline.name,
                            sources.join(", "),
                            job.source
                        );
                        (Err(why), None)
                    } else {
                        let out = runner.run(plan, job.clone());
                        match journal.map(|j| commit_run(j, plan, &out)) {
                            // A run that could not be recorded (a full disk, say) did not happen
                            // as far as the store knows: it is reported so, not as completed.
                            Some(Err(e)) => (Err(not_recorded(&job, &e)), None),
                            Some(Ok(flush)) => (Ok(out.report), Some(flush)),
                            None => (Ok(out.report), None),
                        }
                    };
                    if ended.send(Ended { index: i, job, result, flush }).is_err() {
                        // The flusher is gone (it panicked): nothing can report this job.
                        break;
                    }
                }
            });
        }
        drop(ended);
        flusher.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A job that ended, waiting for its run's flush to be reported.
struct Ended {
    index: usize,
    job: Job,
    result: JobResult,
    /// Its run's end in the journal, when it was recorded.
    flush: Option<Flush>,
}

/// The flusher of [`run_stream`]: takes every job that ended since its last flush, flushes the
/// journal through the last of them, then counts and reports them, until the workers are done.
fn flush_and_report(journal: Option<&Journal>, ended: &Receiver<Ended>, done: &JobDone<'_>) -> BatchCounts {
    let mut counts = BatchCounts::default();
    let mut batch = Vec::new();
    while let Ok(first) = ended.recv() {
        batch.push(first);
        batch.extend(ended.try_iter());
        let through = batch.iter().filter_map(|e| e.flush).max();
        let flushed = match (journal, through) {
            (Some(journal), Some(through)) => journal.flush_through(through).map_err(|e| e.to_string()),
            _ => Ok(()),
        };
        for Ended { index, job, mut result, flush } in batch.drain(..) {
            if let (Err(e), Some(_)) = (&flushed, flush) {
                result = Err(not_recorded(&job, e));
            }
            counts.count(&result);
            done(index, &job, result);
        }
    }
    counts
}

/// Why a job that ran is reported failed: its run could not be recorded (or flushed).
fn not_recorded(job: &Job, e: &dyn std::fmt::Display) -> String {
    format!("job `{}`: the run could not be recorded: {e}", job.job_id)
}

/// Records how a run ended. A run the runner journaled stage by stage only gets its status;
/// one run without the journal as its checkpoint is recorded whole. Durable when it returns.
pub(crate) fn save_run(journal: &Journal, plan: &Plan, out: &stage_core::RunOutcome) -> Result<(), CliError> {
    let flush = commit_run(journal, plan, out)?;
    journal.flush_through(flush)
}

/// [`save_run`] without waiting for the disk: the run's end is committed, and durable once
/// the journal is flushed through the returned ticket.
fn commit_run(journal: &Journal, plan: &Plan, out: &stage_core::RunOutcome) -> Result<Flush, CliError> {
    let journaled = journal
        .load_status(&out.report.job_id)?
        .is_some_and(|(status, stages)| status == "running" && stages == out.state.stages().len());
    if !journaled {
        journal.start(plan, &stage_core::RunState::new((*out.state.job).clone()))?;
        for (name, _) in out.state.stages() {
            journal.append(&out.state, name)?;
        }
    }
    journal.end(&out.report)
}

/// The runner of a command: its events go to `progress` (which shows failures, retries and
/// parks once and logs the rest).
pub(crate) fn runner(
    options: &BatchOptions,
    ledger: Arc<dyn Ledger>,
    progress: Arc<BatchProgress>,
) -> Result<Runner, CliError> {
    let journal = Journal::shared(&options.store, options.sync_every_stage)?;
    let runner =
        Runner::new().with_ledger(ledger).with_workers(options.workers).with_checkpoint(journal).with_host(
            HostSettings {
                run_dir: Some(options.store.clone()),
                rebase_absolute_paths: options.rebase_paths,
                max_wait: options.max_gate_wait,
            },
        );
    Ok(runner.with_events(progress as Arc<dyn EventSink>))
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
    // Checked whole first (nothing runs when a job is bad), then read as the batch runs: each
    // submitted job is expanded into one job per record when a worker takes it.
    let submitted = check_batch(jobs)?;
    let progress = Arc::new(BatchProgress::new(submitted.len(), options.progress));
    let source =
        Mutex::new((JobSource::open(jobs)?, std::collections::VecDeque::<Job>::new(), submitted, 0usize));
    let next = || {
        let mut guard = source.lock().unwrap_or_else(|p| p.into_inner());
        let (source, pending, seen, index) = &mut *guard;
        loop {
            if let Some(job) = pending.pop_front() {
                *index += 1;
                // An expanded id that another job already has runs not (its run would share a
                // record and a ledger with the other).
                let refused = (job.metadata.contains_key("request_id") && !seen.insert(job.job_id.clone()))
                    .then(|| {
                        format!(
                            "job id `{}` (a record of another job) is taken in this batch; not run",
                            job.job_id
                        )
                    });
                return Some((*index - 1, job, refused));
            }
            match source.next_job()? {
                Ok(job) => {
                    let records = stages_builtin::ingest::expand_for_plan(&plan, &job);
                    progress.add_total(records.len().saturating_sub(1));
                    pending.extend(records);
                }
                Err(e) => tracing::error!("{e}"),
            }
        }
    };
    let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&options.store)?);
    let runner = runner(options, ledger, progress.clone())?;
    // Each job's result is printed as it ends (with `--json`, one report object a line, in
    // completion order); only counts are kept.
    // A closed stdout does not stop the batch (every run is in the journal); the command then
    // ends as a closed pipe ends it.
    let out = std::io::stdout();
    let closed = std::sync::atomic::AtomicBool::new(false);
    let counts = run_stream(&plan, &next, &runner, &options.store, options.concurrency, &|_, job, r| {
        let request = job.metadata.get("request_id").and_then(|v| v.as_str());
        let text = if json { json_line(&r, &job.job_id, request) } else { text_block(&r, request) };
        progress.job_done(&job.job_id, &r);
        progress.suspend(|| {
            let mut lock = out.lock();
            if std::io::Write::write_all(&mut lock, text.as_bytes()).is_err() {
                closed.store(true, Ordering::Relaxed);
            }
        });
    });
    progress.finish();
    if closed.load(Ordering::Relaxed) {
        return Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe).into());
    }
    if !json {
        outln!("{}", summary(&counts))?;
    }
    Ok(if counts.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The closing line of a batch.
fn summary(c: &BatchCounts) -> String {
    let refused = if c.refused > 0 { format!(", {} refused", c.refused) } else { String::new() };
    format!(
        "{} job(s): {} completed, {} parked, {} failed{refused}",
        c.total(),
        c.completed,
        c.parked,
        c.failed
    )
}

/// One job's result as a line of JSON: its report with `request_id` when it was expanded
/// from a submitted job; a refused job as `{"job_id", "status": "refused", "error"}`.
fn json_line(r: &Result<RunReport, String>, job_id: &str, request: Option<&str>) -> String {
    let mut v = match r {
        Ok(r) => serde_json::to_value(r).unwrap_or_default(),
        Err(e) => json!({ "job_id": job_id, "status": "refused", "error": e }),
    };
    if let (Some(request), Some(o)) = (request, v.as_object_mut()) {
        o.insert("request_id".into(), request.into());
    }
    let mut line = serde_json::to_string(&v).unwrap_or_default();
    line.push('\n');
    line
}

/// One job's result as text: a heading line and its stages' table.
fn text_block(r: &Result<RunReport, String>, request: Option<&str>) -> String {
    let report = match r {
        Err(e) => return format!("{e}\n\n"),
        Ok(report) => report,
    };
    let from = request.map(|r| format!(" (a record of job {r})")).unwrap_or_default();
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
    format!(
        "job {}{from} — pipeline {} — {:?}\n{}\n\n",
        report.job_id,
        report.pipeline,
        report.status,
        table(&["STAGE", "TYPE", "STATUS", "OUTPUTS", "DURATION", "NOTE"], &rows)
    )
}

/// Each report's request id, `None` where the outcome has none.
fn request_ids(outcome: &BatchOutcome) -> impl Iterator<Item = Option<&str>> {
    (0..outcome.reports.len()).map(|i| outcome.request_ids.get(i).and_then(|r| r.as_deref()))
}

pub(crate) fn print_outcome(outcome: &BatchOutcome, json: bool) -> Result<(), CliError> {
    let mut counts = BatchCounts::default();
    for (r, request) in outcome.reports.iter().zip(request_ids(outcome)) {
        counts.count(r);
        let job_id = r.as_ref().map_or("", |r| r.job_id.as_str());
        out!("{}", if json { json_line(r, job_id, request) } else { text_block(r, request) })?;
    }
    if !json {
        outln!("{}", summary(&counts))?;
    }
    Ok(())
}
