//! A one-stage test harness: give a stage its inputs, config, ledger fields and a fake clock;
//! get its outputs, its count, its status and the events its run sent.
//!
//! ```
//! use stage_core::testing::{HarnessStatus, StageHarness};
//! use stage_core::{registration, stage, OutputCount};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Default, Serialize, Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! pub struct ShoutConfig { pub marks: usize }
//!
//! /// Upper-cases each line and adds `marks` exclamation marks.
//! #[stage(type = "doc-shout", state_key = "lines")]
//! pub fn shout(lines: &Vec<String>, #[config] cfg: &ShoutConfig) -> Vec<String> {
//!     lines.iter().map(|l| format!("{}{}", l.to_uppercase(), "!".repeat(cfg.marks))).collect()
//! }
//!
//! let out = StageHarness::new(registration!(shout))
//!     .input("lines", vec!["hi".to_owned(), "there".to_owned()])
//!     .config_yaml("marks: 2")
//!     .run()?;
//! assert_eq!(*out.status(), HarnessStatus::Completed);
//! assert_eq!(out.output::<Vec<String>>("lines")?, &["HI!!", "THERE!!"]);
//! assert_eq!(out.count(), Some(2));
//! // A typo in the config is the planner's diagnostic, as in a pipeline file.
//! let err = StageHarness::new(registration!(shout)).input("lines", Vec::<String>::new())
//!     .config_yaml("mark: 2").run().unwrap_err();
//! assert!(err.to_string().contains("mark"), "{err}");
//! # Ok::<(), stage_core::testing::HarnessError>(())
//! ```
//!
//! The harness runs the real planner and runner, not a copy of them: it writes a pipeline of
//! one stage (yours, named after its type, with your config) and plans it; each input you give
//! becomes the stored output of a stand-in upstream stage (`given-<key>`, of a type of the same
//! name), restored as completed, as a resumed run restores what it stored; the runner then
//! runs your stage alone, with an in-memory ledger holding your fields, your clock and an
//! event sink that keeps every event. What passes here passes in a pipeline: the config is
//! parsed, defaulted and rejected as a pipeline file's would be (errors are the planner's
//! diagnostics), inputs are bound by key and type, the output is applied to its keys and
//! counted by the stage's counter, panics are contained, parking is honoured.
//!
//! What differs from a pipeline, by design: stage-type dependencies
//! (`#[stage(dependencies = ["chunk"])]`) are taken as met (the given inputs stand for the
//! upstream stages), `@resource` dependencies are kept; no policy applies (one attempt, no
//! timeout), unless you give one with [`StageHarness::policy`]; the clock defaults to a
//! [`FakeClock`] at a fixed time, so a stage that reads the time is deterministic.
//!
//! It is always compiled (no cargo feature): it uses only stage-core's own dependencies, and
//! plugin crates use it from their tests without a feature to turn on. Each distinct
//! `(input key, input type)` leaks one small stand-in registration (`&'static`, as the
//! registry requires), once per process.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::glue::InvokeResult;
use crate::policy::PolicySet;
use crate::run::{
    CollectingSink, Event, FailureKind, RestoredStage, RunReport, RunState, StageReport, StageStatus,
    StateError,
};
use crate::spec::Diagnostic;
use crate::{
    Clock, FakeClock, HostSettings, InMemoryLedger, Job, Ledger, Location, OutputType, Plan, PlanOptions,
    Runner, SharedValue, StageArgs, StageError, StageMetadata, StageRegistry, StateKey, UnknownStageType,
    RESERVED_KEYS,
};

/// The id of the job a harness runs, unless [`StageHarness::job`] gives another.
pub const HARNESS_JOB_ID: &str = "harness-job";

/// The prefix of the stand-in upstream stages (and their types): `given-<key>`.
pub const GIVEN_PREFIX: &str = "given-";

/// One stage, run alone through the real planner and runner with the inputs, config, ledger
/// fields and clock a test gives it. See the [module docs](self).
pub struct StageHarness {
    target: Result<&'static StageMetadata, HarnessError>,
    inputs: Vec<Given>,
    config: Option<ConfigText>,
    ledger_fields: Vec<(String, serde_json::Value)>,
    clock: Arc<dyn Clock>,
    job: Job,
    host: HostSettings,
    policy: Option<(PolicySet, String)>,
}

/// An input given by a test: its key, value, and how to register a stand-in writing it.
struct Given {
    key: String,
    value: SharedValue,
    ty: OutputType,
}

enum ConfigText {
    Json(serde_json::Value),
    Yaml(String),
}

impl fmt::Debug for StageHarness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageHarness")
            .field("stage_type", &self.target.as_ref().map(|m| m.stage_type()).ok())
            .field("inputs", &self.inputs.iter().map(|g| g.key.as_str()).collect::<Vec<_>>())
            .field("ledger_fields", &self.ledger_fields)
            .field("job", &self.job.job_id)
            .finish_non_exhaustive()
    }
}

impl StageHarness {
    /// A harness for the stage `registration!(path::to::stage_fn)` registers.
    pub fn new(stage: &'static StageMetadata) -> Self {
        Self::with_target(Ok(stage))
    }

    /// A harness for stage type `stage_type` as `registry` holds it (for a stage only known by
    /// its type, such as a linked plugin's: `StageRegistry::global()`). An unknown type is
    /// reported by [`run`](Self::run), with the nearest registered names.
    pub fn for_type(registry: &StageRegistry, stage_type: &str) -> Self {
        Self::with_target(registry.get(stage_type).map_err(HarnessError::UnknownStageType))
    }

    fn with_target(target: Result<&'static StageMetadata, HarnessError>) -> Self {
        StageHarness {
            target,
            inputs: Vec::new(),
            config: None,
            ledger_fields: Vec::new(),
            clock: Arc::new(FakeClock::default()),
            job: Job::new(HARNESS_JOB_ID, "harness"),
            host: HostSettings::default(),
            policy: None,
        }
    }

    /// Gives the stage the value of state key `key` (any state value: the type the stage reads
    /// it as). `payload` and `adapter_request` set the job's fields of those names; `context`
    /// and `job_id` come from the job ([`job`](Self::job)). Giving a key twice keeps the last.
    pub fn input<T>(mut self, key: impl Into<String>, value: T) -> Self
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let key = key.into();
        self.inputs.retain(|g| g.key != key);
        self.inputs.push(Given { key, value: Arc::new(value), ty: OutputType::of::<T>() });
        self
    }

    /// The stage's config, as the `config:` block of a pipeline file would give it (as JSON).
    pub fn config(mut self, config: serde_json::Value) -> Self {
        self.config = Some(ConfigText::Json(config));
        self
    }

    /// The stage's config as YAML text: the body of a `config:` block (`"dates: false"`).
    pub fn config_yaml(mut self, yaml: impl Into<String>) -> Self {
        self.config = Some(ConfigText::Yaml(yaml.into()));
        self
    }

    /// Sets a ledger field of the job before the stage runs (`ready`, `pdf_ir_path`, ...).
    pub fn ledger(mut self, field: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.ledger_fields.push((field.into(), value.into()));
        self
    }

    /// The clock the stage sees (by default a [`FakeClock`] at its default time).
    pub fn clock(self, clock: impl Clock + 'static) -> Self {
        self.shared_clock(Arc::new(clock))
    }

    /// The clock the stage sees, shared with the test (to advance a [`FakeClock`] from
    /// another thread, or read it afterwards).
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The job the stage runs for (by default [`HARNESS_JOB_ID`], source `harness`).
    pub fn job(mut self, job: Job) -> Self {
        self.job = job;
        self
    }

    /// The host's settings the stage sees (run directory, path rebasing, wait cap).
    pub fn host(mut self, host: HostSettings) -> Self {
        self.host = host;
        self
    }

    /// Runs the stage under policy `name` of `policies` (retries, timeout, breaker), as a
    /// pipeline naming it would (`PolicySet::builtin()`, `"polite-api"`). By default none: one
    /// attempt, no timeout. A name not in the set is the planner's error.
    pub fn policy(mut self, policies: PolicySet, name: impl Into<String>) -> Self {
        self.policy = Some((policies, name.into()));
        self
    }

    /// Plans and runs the stage. `Err` when the harness cannot run it (an unknown type, an
    /// input it does not read or a missing one, a config the planner refuses); a stage that
    /// fails, panics or parks is `Ok`, with that [`status`](HarnessOutput::status).
    pub fn run(self) -> Result<HarnessOutput, HarnessError> {
        let meta = self.target?;
        let stage_type = meta.stage_type();
        let mut job = self.job;
        let mut given: Vec<(&'static StageMetadata, &'static str, SharedValue)> = Vec::new();
        for g in self.inputs {
            let Some(spec) = meta.inputs().iter().find(|i| i.key == g.key) else {
                let reads: Vec<&str> = meta.inputs().iter().map(|i| i.key).collect();
                return Err(HarnessError::UnknownInput {
                    stage_type: stage_type.to_owned(),
                    key: g.key,
                    reads: if reads.is_empty() { "nothing".to_owned() } else { backticked(&reads) },
                });
            };
            if g.ty.ty().id() != spec.ty.id() {
                return Err(HarnessError::InputType {
                    stage_type: stage_type.to_owned(),
                    key: g.key,
                    expected: spec.ty.name(),
                    given: g.ty.ty().name(),
                });
            }
            match spec.key {
                "payload" | "adapter_request" => {
                    let json = g.value.to_json().map_err(|e| HarnessError::Input {
                        key: g.key.clone(),
                        reason: format!("it does not serialize to JSON: {e}"),
                    })?;
                    if spec.key == "payload" {
                        job.payload = json;
                    } else {
                        job.adapter_request = json;
                    }
                }
                k if RESERVED_KEYS.contains(&k) => {
                    return Err(HarnessError::Input {
                        key: g.key,
                        reason: "the run starts with it, made from the job: set it with `.job(Job { .. })`"
                            .to_owned(),
                    })
                }
                k => given.push((stand_in(k, g.ty), k, g.value)),
            }
        }
        for spec in meta.inputs().iter().filter(|i| i.required && !RESERVED_KEYS.contains(&i.key)) {
            if !given.iter().any(|(_, k, _)| *k == spec.key) {
                return Err(HarnessError::MissingInput {
                    stage_type: stage_type.to_owned(),
                    key: spec.key.to_owned(),
                    ty: spec.ty.name(),
                });
            }
        }

        let registry =
            StageRegistry::builder().register(meta).register_all(given.iter().map(|(m, _, _)| *m)).build();
        if let Err(e) = registry.check() {
            return Err(HarnessError::Registry(e.to_string()));
        }
        let policy_name = self.policy.as_ref().map(|(_, n)| n.as_str());
        let pipeline = pipeline_text(meta, &given, self.config.as_ref(), policy_name);
        let file = format!("harness-{stage_type}.yaml");
        let loaded = crate::spec::load_str(&file, &pipeline).map_err(|e| HarnessError::Plan {
            stage_type: stage_type.to_owned(),
            errors: e.errors,
            pipeline: pipeline.clone(),
        })?;
        let options = PlanOptions { policies: self.policy.map(|(set, _)| set), ..PlanOptions::default() };
        let plan = Plan::new(&loaded.value, &registry, &options).map_err(|e| HarnessError::Plan {
            stage_type: stage_type.to_owned(),
            errors: e.errors,
            pipeline: pipeline.clone(),
        })?;

        let ledger = Arc::new(InMemoryLedger::new());
        for (field, value) in self.ledger_fields {
            ledger
                .set(&job.job_id, &field, value)
                .map_err(|e| HarnessError::Input { key: field.clone(), reason: format!("ledger: {e}") })?;
        }
        let events = Arc::new(CollectingSink::new());
        let runner = Runner::new()
            .with_ledger(ledger.clone())
            .with_clock(self.clock)
            .with_events(events.clone())
            .with_host(self.host);
        let restored = given.into_iter().map(|(m, key, value)| RestoredStage {
            name: m.stage_type().to_owned(),
            status: StageStatus::Completed,
            report: None,
            written: vec![(key.to_owned(), value)],
            raw: None,
        });
        let state = RunState::restore(job, &plan, restored).map_err(HarnessError::Restore)?;
        tracing::debug!(stage_type, "harness: running the stage");
        let outcome = runner.run_from(&plan, state);
        let line =
            outcome.report.stage(stage_type).cloned().ok_or_else(|| {
                HarnessError::Registry(format!("the run reported no line for `{stage_type}`"))
            })?;
        let status = match line.status {
            StageStatus::Completed => HarnessStatus::Completed,
            StageStatus::Failed => HarnessStatus::Failed {
                error: line.message.clone().unwrap_or_default(),
                kind: line.failure.as_ref().map_or(FailureKind::Permanent, |f| f.kind),
            },
            StageStatus::Parked => HarnessStatus::Parked { reason: line.message.clone().unwrap_or_default() },
            StageStatus::Skipped => {
                HarnessStatus::Skipped { reason: line.message.clone().unwrap_or_default() }
            }
        };
        Ok(HarnessOutput {
            meta,
            line,
            status,
            report: outcome.report,
            state: outcome.state,
            events: events.events(),
            ledger,
            warnings: plan.warnings,
        })
    }
}

/// `` `a`, `b` ``.
fn backticked(items: &[&str]) -> String {
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

/// The one-stage pipeline file the harness plans.
fn pipeline_text(
    meta: &StageMetadata,
    given: &[(&'static StageMetadata, &'static str, SharedValue)],
    config: Option<&ConfigText>,
    policy: Option<&str>,
) -> String {
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let stage_type = meta.stage_type();
    let mut out = format!("name: {}\nversion: 2026-01-01\nstages:\n", q(&format!("harness-{stage_type}")));
    // Every stage names the policy, the stand-ins too: the planner checks every name.
    let policy = policy.map(|p| format!("    policy: {}\n", q(p))).unwrap_or_default();
    for (m, _, _) in given {
        out.push_str(&format!("  - name: {0}\n    type: {0}\n{policy}", q(m.stage_type())));
    }
    out.push_str(&format!("  - name: {0}\n    type: {0}\n{policy}", q(stage_type)));
    if !given.is_empty() {
        let deps: Vec<String> = given.iter().map(|(m, _, _)| q(m.stage_type())).collect();
        out.push_str(&format!("    depends_on: [{}]\n", deps.join(", ")));
    }
    // Stage-type dependencies are met by the given inputs; `@resource` ones stay.
    if meta.dependencies().iter().any(|d| !d.starts_with('@')) {
        let kept: Vec<String> =
            meta.dependencies().iter().filter(|d| d.starts_with('@')).map(|d| q(d)).collect();
        out.push_str(&format!("    metadata_overrides:\n      dependencies: [{}]\n", kept.join(", ")));
    }
    match config {
        Some(ConfigText::Json(v)) => out.push_str(&format!("    config: {v}\n")),
        Some(ConfigText::Yaml(y)) if !y.trim().is_empty() => {
            out.push_str("    config:\n");
            for l in y.lines() {
                out.push_str("      ");
                out.push_str(l);
                out.push('\n');
            }
        }
        Some(ConfigText::Yaml(_)) | None => {}
    }
    out
}

fn stand_in_invoke(_: &StageArgs<'_>) -> InvokeResult {
    Err(StageError::Permanent("a harness stand-in is restored as completed and never runs".to_owned().into()))
}

/// The stand-in upstream stage writing `key` as `ty`: one registration per key and type, made
/// once per process.
fn stand_in(key: &'static str, ty: OutputType) -> &'static StageMetadata {
    type Cache = Mutex<HashMap<(&'static str, TypeId), &'static StageMetadata>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Cache::default).lock().unwrap_or_else(|p| p.into_inner());
    cache.entry((key, ty.ty().id())).or_insert_with(|| {
        let stage_type: &'static str = Box::leak(format!("{GIVEN_PREFIX}{key}").into_boxed_str());
        let outputs: &'static [OutputType] = Box::leak(Box::new([ty]));
        let location =
            Location { crate_name: "stage-core", module_path: module_path!(), file: file!(), line: line!() };
        let meta: &'static StageMetadata = Box::leak(Box::new(
            StageMetadata::new(
                stage_type,
                "Stands for the upstream stage that writes a harness input.",
                stand_in_invoke,
                location,
            )
            .with_state_key(StateKey::One(key))
            .with_outputs(outputs, false)
            .with_version(env!("CARGO_PKG_VERSION")),
        ));
        meta
    })
}

/// How the stage ended in a harness run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HarnessStatus {
    /// It ran and its output was applied.
    Completed,
    /// It failed: returned an error, panicked, or its output could not be applied.
    Failed {
        /// The error, as the run report gives it.
        error: String,
        /// What kind of failure (whether a policy would retry it).
        kind: FailureKind,
    },
    /// It parked the run (a gate that did not pass).
    Parked {
        /// Why.
        reason: String,
    },
    /// It did not run (never, in a harness run: its stand-in inputs are complete).
    Skipped {
        /// Why.
        reason: String,
    },
}

/// What a harness run left: the stage's outputs, count, status, events, and the ledger.
pub struct HarnessOutput {
    meta: &'static StageMetadata,
    line: StageReport,
    status: HarnessStatus,
    report: RunReport,
    state: RunState,
    events: Vec<Event>,
    ledger: Arc<InMemoryLedger>,
    warnings: Vec<Diagnostic>,
}

impl fmt::Debug for HarnessOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HarnessOutput")
            .field("stage_type", &self.meta.stage_type())
            .field("status", &self.status)
            .field("count", &self.count())
            .field("written", &self.state.outputs(self.meta.stage_type()))
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl HarnessOutput {
    /// The value the stage wrote under `key`, as a `T`. Errors name the key and, for a wrong
    /// type, the type asked for and the type written.
    pub fn output<T: 'static>(&self, key: &str) -> Result<&T, HarnessError> {
        let value = self.written(key)?;
        value.downcast_ref::<T>().ok_or_else(|| HarnessError::OutputType {
            stage_type: self.meta.stage_type().to_owned(),
            key: key.to_owned(),
            expected: std::any::type_name::<T>(),
            actual: value.type_name(),
        })
    }

    /// The value the stage wrote under `key`, type-erased (`to_json()` for a snapshot).
    pub fn written(&self, key: &str) -> Result<&SharedValue, HarnessError> {
        let stage_type = self.meta.stage_type();
        if self.status != HarnessStatus::Completed {
            return Err(HarnessError::NotCompleted {
                stage_type: stage_type.to_owned(),
                status: format!("{:?}", self.status),
            });
        }
        self.state.outputs(stage_type).iter().find(|(k, _)| k == key).map(|(_, v)| v).ok_or_else(|| {
            HarnessError::NoOutput {
                stage_type: stage_type.to_owned(),
                key: key.to_owned(),
                writes: backticked(self.meta.state_key().keys()),
            }
        })
    }

    /// What the stage's output counter counted; `None` unless it completed.
    pub fn count(&self) -> Option<u64> {
        (self.status == HarnessStatus::Completed).then_some(self.line.output_count)
    }

    /// How the stage ended.
    pub fn status(&self) -> &HarnessStatus {
        &self.status
    }

    /// The events the run sent, in order (`Started`, `Retrying`, then `Completed`, `Failed`
    /// or `Parked`), all of the stage under test.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The stage's line of the run report (attempts, count, duration, message, failure).
    pub fn report(&self) -> &StageReport {
        &self.line
    }

    /// The whole run report (the stand-ins' lines included, as completed earlier).
    pub fn run_report(&self) -> &RunReport {
        &self.report
    }

    /// The run's final state.
    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// A ledger field of the job after the run: the fields given, what the stage wrote, and
    /// the runtime's metrics (`stage.<type>.attempts`, `.output_count`, `.duration_ms`).
    pub fn ledger_field(&self, field: &str) -> Option<serde_json::Value> {
        self.ledger.get(&self.report.job_id, field).ok().flatten()
    }

    /// The ledger the run used.
    pub fn ledger(&self) -> &InMemoryLedger {
        &self.ledger
    }

    /// The planner's warnings (a config given to a stage that takes none, ...).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }
}

/// Why a harness could not run a stage, or could not give what a test asked for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// [`StageHarness::for_type`] was given a type the registry does not hold.
    #[error("{0}")]
    UnknownStageType(UnknownStageType),
    /// The stage's registration is refused by the registry.
    #[error("the harness cannot register the stage: {0}")]
    Registry(String),
    /// An input the stage does not read.
    #[error("stage type `{stage_type}` reads no input `{key}` (it reads {reads}): remove `.input(\"{key}\", ..)` or fix its key")]
    UnknownInput {
        /// The stage type.
        stage_type: String,
        /// The key given.
        key: String,
        /// The keys it reads.
        reads: String,
    },
    /// A required input not given.
    #[error("stage type `{stage_type}` reads `{key}` (a `{ty}`) and no value was given: add `.input(\"{key}\", value)`")]
    MissingInput {
        /// The stage type.
        stage_type: String,
        /// The key.
        key: String,
        /// The type it reads.
        ty: &'static str,
    },
    /// An input given as another type than the stage reads.
    #[error("stage type `{stage_type}` reads `{key}` as `{expected}`, but the value given is a `{given}`")]
    InputType {
        /// The stage type.
        stage_type: String,
        /// The key.
        key: String,
        /// The type the stage reads.
        expected: &'static str,
        /// The type given.
        given: &'static str,
    },
    /// An input or ledger field that cannot be given this way.
    #[error("input `{key}` cannot be given: {reason}")]
    Input {
        /// The key or field.
        key: String,
        /// Why, and what to do.
        reason: String,
    },
    /// The one-stage pipeline does not load or plan (a config the stage refuses, a missing
    /// resource): the planner's diagnostics, located in the pipeline the harness wrote.
    #[error(
        "the harness's one-stage pipeline for `{stage_type}` does not plan:\n{}\n(the pipeline the harness wrote:\n{pipeline})",
        .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    )]
    Plan {
        /// The stage type.
        stage_type: String,
        /// The planner's (or loader's) errors.
        errors: Vec<Diagnostic>,
        /// The pipeline file the harness wrote.
        pipeline: String,
    },
    /// The given inputs could not be restored as the stand-ins' outputs.
    #[error("the harness could not restore the given inputs: {0}")]
    Restore(StateError),
    /// An output asked for of a stage that did not complete.
    #[error("stage `{stage_type}` did not complete ({status}), so it wrote nothing")]
    NotCompleted {
        /// The stage type.
        stage_type: String,
        /// How it ended.
        status: String,
    },
    /// An output asked for under a key the stage did not write.
    #[error("stage `{stage_type}` wrote nothing under `{key}` (it writes {writes})")]
    NoOutput {
        /// The stage type.
        stage_type: String,
        /// The key asked for.
        key: String,
        /// The keys it writes.
        writes: String,
    },
    /// An output asked for as another type than the one written.
    #[error("stage `{stage_type}` wrote `{key}` as `{actual}`, not as the `{expected}` asked for")]
    OutputType {
        /// The stage type.
        stage_type: String,
        /// The key.
        key: String,
        /// The type asked for.
        expected: &'static str,
        /// The type written.
        actual: &'static str,
    },
}

impl From<&HarnessStatus> for StageStatus {
    fn from(s: &HarnessStatus) -> Self {
        match s {
            HarnessStatus::Completed => StageStatus::Completed,
            HarnessStatus::Failed { .. } => StageStatus::Failed,
            HarnessStatus::Parked { .. } => StageStatus::Parked,
            HarnessStatus::Skipped { .. } => StageStatus::Skipped,
        }
    }
}
