//! A stage's window on its run: the job, the ledger, the clock, cancellation, parking.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::BoxError;

/// The job a run executes (contract §2): one adapter request with its context and payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// The job's identifier.
    pub job_id: String,
    /// The source the job comes from (`openalex`, `pmc`, ...).
    pub source: String,
    /// The document identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_id: Option<String>,
    /// The tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The correlation identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The adapter request (a trial identifier, a DOI, a file...).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub adapter_request: serde_json::Value,
    /// The payload.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub payload: serde_json::Value,
}

impl Job {
    /// A job with an identifier and a source.
    pub fn new(job_id: impl Into<String>, source: impl Into<String>) -> Self {
        Job { job_id: job_id.into(), source: source.into(), ..Job::default() }
    }

    /// The longest job id, in characters.
    pub const MAX_ID_LEN: usize = 200;

    /// Checks a job id's syntax: 1 to [`Job::MAX_ID_LEN`] characters, each an ASCII letter or
    /// digit or one of `.` `_` `-` `:` `#` `/`, and not `.` or `..` alone. Hosts check ids
    /// when jobs are submitted; the error names the id and what to change.
    ///
    /// ```
    /// use stage_core::Job;
    /// assert!(Job::check_id("pmc-all/PMC3040717").is_ok());
    /// assert!(Job::check_id("..").is_err());
    /// let e = Job::check_id("é").unwrap_err();
    /// assert!(e.contains("`é`"), "{e}");
    /// ```
    pub fn check_id(id: &str) -> Result<(), String> {
        let allowed = "ASCII letters, digits and `.` `_` `-` `:` `#` `/`";
        if id.is_empty() {
            return Err("a job id is empty: give every job a `job_id`".to_owned());
        }
        let shown: String = id.chars().take(60).collect::<String>().escape_debug().to_string();
        let shown = if id.chars().count() > 60 { format!("{shown}…") } else { shown };
        if id.chars().count() > Self::MAX_ID_LEN {
            return Err(format!(
                "job id `{shown}` has {} characters; at most {} are allowed",
                id.chars().count(),
                Self::MAX_ID_LEN
            ));
        }
        if id == "." || id == ".." {
            return Err(format!("job id `{id}` is not allowed: `.` and `..` alone name no job"));
        }
        if let Some(c) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || ".-_:#/".contains(*c))) {
            return Err(format!("job id `{shown}` contains {:?}; a job id may contain only {allowed}", c));
        }
        Ok(())
    }
}

/// Per-job fields and metadata, read and written by stages, the runtime and other processes.
pub trait Ledger: Send + Sync {
    /// A field of a job (`pdf_downloaded`, `gate.pdf_ir_ready.status`, ...).
    fn get(&self, job_id: &str, field: &str) -> Result<Option<serde_json::Value>, BoxError>;
    /// Sets a field.
    fn set(&self, job_id: &str, field: &str, value: serde_json::Value) -> Result<(), BoxError>;
    /// Sets several fields of a job at once: all or none, when the ledger can (the runtime
    /// writes a stage's metrics this way). By default, one [`set`](Self::set) after another.
    fn set_many(&self, job_id: &str, fields: &[(&str, serde_json::Value)]) -> Result<(), BoxError> {
        for (field, value) in fields {
            self.set(job_id, field, value.clone())?;
        }
        Ok(())
    }
    /// A metadata entry of a job.
    fn get_metadata(&self, job_id: &str, key: &str) -> Result<Option<serde_json::Value>, BoxError>;
    /// Sets a metadata entry.
    fn set_metadata(&self, job_id: &str, key: &str, value: serde_json::Value) -> Result<(), BoxError>;
    /// Every field of a job, sorted.
    fn fields(&self, job_id: &str) -> Result<BTreeMap<String, serde_json::Value>, BoxError>;
}

#[derive(Default)]
struct JobEntry {
    fields: FxHashMap<String, serde_json::Value>,
    metadata: FxHashMap<String, serde_json::Value>,
}

/// A [`Ledger`] in memory, for tests and one-shot runs.
#[derive(Default)]
pub struct InMemoryLedger {
    jobs: Mutex<FxHashMap<String, JobEntry>>,
}

impl InMemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }
    fn with<R>(&self, job_id: &str, f: impl FnOnce(&mut JobEntry) -> R) -> R {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        // The job's id is copied only the first time.
        if let Some(entry) = jobs.get_mut(job_id) {
            return f(entry);
        }
        f(jobs.entry(job_id.to_owned()).or_default())
    }
}

/// Sets `map[key]`, copying the key only when it is new.
fn put(map: &mut FxHashMap<String, serde_json::Value>, key: &str, value: serde_json::Value) {
    match map.get_mut(key) {
        Some(slot) => *slot = value,
        None => {
            map.insert(key.to_owned(), value);
        }
    }
}

impl fmt::Debug for InMemoryLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryLedger").finish_non_exhaustive()
    }
}

impl Ledger for InMemoryLedger {
    fn get(&self, job_id: &str, field: &str) -> Result<Option<serde_json::Value>, BoxError> {
        Ok(self.with(job_id, |j| j.fields.get(field).cloned()))
    }
    fn set(&self, job_id: &str, field: &str, value: serde_json::Value) -> Result<(), BoxError> {
        self.with(job_id, |j| put(&mut j.fields, field, value));
        Ok(())
    }
    fn set_many(&self, job_id: &str, fields: &[(&str, serde_json::Value)]) -> Result<(), BoxError> {
        self.with(job_id, |j| {
            for (field, value) in fields {
                put(&mut j.fields, field, value.clone());
            }
        });
        Ok(())
    }
    fn get_metadata(&self, job_id: &str, key: &str) -> Result<Option<serde_json::Value>, BoxError> {
        Ok(self.with(job_id, |j| j.metadata.get(key).cloned()))
    }
    fn set_metadata(&self, job_id: &str, key: &str, value: serde_json::Value) -> Result<(), BoxError> {
        self.with(job_id, |j| put(&mut j.metadata, key, value));
        Ok(())
    }
    fn fields(&self, job_id: &str) -> Result<BTreeMap<String, serde_json::Value>, BoxError> {
        Ok(self.with(job_id, |j| j.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
    }
}

/// Time, injectable so that tests run on fake time.
pub trait Clock: Send + Sync {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
    /// Waits for `d` (a fake clock advances instead).
    fn sleep(&self, d: Duration);
    /// Whether time only moves when slept on (a fake clock). The runtime then deems an
    /// attempt that outlives a short real grace to have reached its timeout.
    fn is_virtual(&self) -> bool {
        false
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
}

/// A clock that only moves when slept on or advanced: tests of timeouts and polling run
/// instantly and deterministically.
#[derive(Debug)]
pub struct FakeClock {
    now: Mutex<SystemTime>,
}

impl FakeClock {
    /// A fake clock at `start`.
    pub fn new(start: SystemTime) -> Self {
        FakeClock { now: Mutex::new(start) }
    }
    /// Moves the clock forward.
    pub fn advance(&self, d: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += d;
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
    }
}

impl Clock for FakeClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn sleep(&self, d: Duration) {
        self.advance(d)
    }
    fn is_virtual(&self) -> bool {
        true
    }
}

/// A cancellation signal: set when the runtime abandons an attempt (timeout); well-behaved
/// long stages check it.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not cancelled.
    pub fn new() -> Self {
        Self::default()
    }
    /// Cancels.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release)
    }
    /// Whether cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// What a resource is built from: the pipeline it serves.
#[derive(Debug, Clone)]
pub struct ResourceContext {
    pipeline: String,
    run_dir: Option<std::path::PathBuf>,
}

impl ResourceContext {
    /// A context for pipeline `pipeline`, with an optional run directory for stores.
    pub fn new(pipeline: impl Into<String>, run_dir: Option<std::path::PathBuf>) -> Self {
        ResourceContext { pipeline: pipeline.into(), run_dir }
    }
    /// The pipeline's name.
    pub fn pipeline(&self) -> &str {
        &self.pipeline
    }
    /// The directory where embedded stores live, when the host gives one.
    pub fn run_dir(&self) -> Option<&std::path::Path> {
        self.run_dir.as_deref()
    }
}

/// A stage's window on its run. Built by the runtime for each call; new capabilities are added
/// as methods, so stage signatures never change.
pub struct StageContext {
    job: Arc<Job>,
    stage_name: String,
    stage_type: &'static str,
    ledger: Arc<dyn Ledger>,
    clock: Arc<dyn Clock>,
    cancel: CancelToken,
    gate: Option<Arc<crate::spec::EffectiveGate>>,
    host: Arc<HostSettings>,
    park: Mutex<Option<String>>,
}

/// What a host tells every stage of its runs: where files go, and how long a stage may wait
/// on the outside world.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostSettings {
    /// The run directory: where stages write files by default.
    pub run_dir: Option<std::path::PathBuf>,
    /// Whether absolute paths in stage configs are rebased under the run directory.
    pub rebase_absolute_paths: bool,
    /// A cap on any wait a stage makes on the outside world (a gate's timeout).
    pub max_wait: Option<Duration>,
}

impl fmt::Debug for StageContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageContext")
            .field("job", &self.job.job_id)
            .field("stage", &self.stage_name)
            .field("type", &self.stage_type)
            .finish_non_exhaustive()
    }
}

impl StageContext {
    /// A context for one call of stage `stage_name` (of type `stage_type`) on `job`, with an
    /// in-memory ledger and the system clock; refine with the `with_*` methods.
    pub fn new(job: Arc<Job>, stage_name: impl Into<String>, stage_type: &'static str) -> Self {
        StageContext {
            job,
            stage_name: stage_name.into(),
            stage_type,
            ledger: Arc::new(InMemoryLedger::new()),
            clock: Arc::new(SystemClock),
            cancel: CancelToken::new(),
            gate: None,
            host: Arc::new(HostSettings::default()),
            park: Mutex::new(None),
        }
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
    /// Uses `cancel`.
    pub fn with_cancel(mut self, cancel: CancelToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// Binds the gate definition (a gate stage's `gates[]` entry, merged with its config).
    pub fn with_gate(mut self, gate: Option<Arc<crate::spec::EffectiveGate>>) -> Self {
        self.gate = gate;
        self
    }

    /// Uses the host's settings.
    pub fn with_host(mut self, host: Arc<HostSettings>) -> Self {
        self.host = host;
        self
    }

    /// The host's settings: run directory, path rebasing, wait cap.
    pub fn host(&self) -> &HostSettings {
        &self.host
    }

    /// The job.
    pub fn job(&self) -> &Job {
        &self.job
    }
    /// The stage's name in the pipeline.
    pub fn stage_name(&self) -> &str {
        &self.stage_name
    }
    /// The stage's type.
    pub fn stage_type(&self) -> &'static str {
        self.stage_type
    }
    /// The job ledger.
    pub fn ledger(&self) -> &dyn Ledger {
        &*self.ledger
    }
    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }
    /// Whether the runtime abandoned this attempt; a long stage should stop when it is.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
    /// The gate definition bound to this stage, when it is a gate stage (contract §3).
    pub fn gate(&self) -> Option<&crate::spec::EffectiveGate> {
        self.gate.as_deref()
    }
    /// Asks the runtime to park the run after this stage (its gate did not pass). Honoured only
    /// for stages declared `#[stage(parks)]`; for others the stage fails, saying so.
    pub fn park(&self, reason: impl Into<String>) {
        *self.park.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.into());
    }
    /// The park request, if the stage made one.
    pub fn take_park_request(&self) -> Option<String> {
        self.park.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}
