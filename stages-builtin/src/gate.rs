//! The `gate` stage: waits until a condition on the job's ledger holds (contract §3).
//!
//! The gate definition bound to the stage (its `gates[]` entry merged with the stage's own
//! `config`, as the pipeline loader settles it) arrives through
//! [`StageContext::gate`](stage_core::StageContext::gate). The stage evaluates the condition
//! against the ledger, polling on the runtime's clock until it passes or its wait ends:
//!
//! - `timeout_seconds` bounds the wait, `poll_interval_seconds` (default 5) spaces the
//!   evaluations; `retry.max_attempts` caps evaluations per wait, and `retry.delay_seconds` (or
//!   `backoff_seconds`) replaces the poll interval. With no timeout and no retry, the gate
//!   evaluates once. A host can cap every wait ([`HostSettings::max_wait`]).
//! - Never a busy loop, never an endless wait: evaluations are at least
//!   [`MIN_GATE_PAUSE_SECONDS`] (0.5 s) apart, whatever `delay_seconds` says, and no wait
//!   lasts more than [`MAX_GATE_WAIT_SECONDS`] (one day). The pipeline loader refuses a gate
//!   with no timeout whose retries could wait longer; the stage enforces both bounds again for
//!   definitions built in code.
//! - Passed: the run goes on. If the ledger names a delivered document (`pdf_ir_path`, a JSON
//!   file in the [`Document`] format, relative paths under the run directory), it is loaded and
//!   written as `document`; otherwise the gate writes nothing. The document must be a regular
//!   file (a FIFO, a device or a directory is refused without being opened for reading) of at
//!   most [`MAX_DOCUMENT_BYTES`] (64 MiB).
//! - Not passed when the wait ends: the run is **parked** (not failed).
//!
//! The ledger records `gate.<name>.status` (`passed` | `parked` | `failed`), `.attempts`,
//! `.elapsed_seconds` and `.resume_stage`; the baselines of `changed` conditions are kept in
//! `gate.<name>.baselines`, so a resumed wait compares with the value first seen.
//!
//! [`HostSettings::max_wait`]: stage_core::HostSettings::max_wait
//! [`MIN_GATE_PAUSE_SECONDS`]: stage_core::spec::MIN_GATE_PAUSE_SECONDS
//! [`MAX_GATE_WAIT_SECONDS`]: stage_core::spec::MAX_GATE_WAIT_SECONDS

use std::io::Read;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stage_core::policy::duration_from_secs;
use stage_core::spec::{Eval, MAX_GATE_WAIT_SECONDS, MIN_GATE_PAUSE_SECONDS};
use stage_core::{gate as gate_check, stage, BoxError, StageContext};

use crate::types::Document;

/// The largest delivered document (`pdf_ir_path`) a gate reads: 64 MiB.
pub const MAX_DOCUMENT_BYTES: u64 = 64 * 1024 * 1024;

/// The gate stage's `config`: the condition and timing forms of contract §3, which the
/// pipeline loader reads and merges into the bound gate definition. Listed here so that a
/// typo is still an error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GateConfig {
    /// The gate definition this stage runs.
    pub gate: Option<String>,
    /// Must equal the definition's `resume_stage`.
    pub resume_stage: Option<String>,
    /// Bounds the wait.
    pub timeout_seconds: Option<f64>,
    /// Time between evaluations.
    pub poll_interval_seconds: Option<f64>,
    /// A condition (any form).
    pub condition: Option<Value>,
    /// Conditions, ANDed (`{key, expected}` items allowed here).
    pub conditions: Option<Value>,
    /// Shorthand condition: the field.
    pub field: Option<String>,
    /// Shorthand condition: `{key, expected}` form's key.
    pub key: Option<String>,
    /// Shorthand condition: the value the field equals.
    pub equals: Option<Value>,
    /// `{key, expected}` form's value.
    pub expected: Option<Value>,
    /// Clause operator.
    pub operator: Option<String>,
    /// Clause value.
    pub value: Option<Value>,
    /// Clause previous value (`changed`).
    pub previous_value: Option<Value>,
    /// `all` | `any`.
    #[serde(rename = "match")]
    pub match_: Option<String>,
    /// `all` | `any`.
    pub mode: Option<String>,
    /// Clauses of a `match`/`mode` condition.
    pub clauses: Option<Value>,
    /// All of these.
    pub all: Option<Value>,
    /// Any of these.
    pub any: Option<Value>,
}

/// Why a gate failed (not parked: failed).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The stage runs without a bound gate definition.
    #[error("gate stage `{0}` has no gate definition bound to it: add a `gates:` entry with `stage: {0}`")]
    Unbound(String),
    /// The ledger could not be read.
    #[error("gate `{gate}`: the ledger could not be read: {source}")]
    Ledger {
        /// The gate.
        gate: String,
        /// Why.
        source: BoxError,
    },
    /// The delivered document could not be loaded.
    #[error("gate `{gate}` passed for job `{job}`, but the delivered document `{path}` could not be loaded: {reason}")]
    Document {
        /// The gate.
        gate: String,
        /// The job.
        job: String,
        /// The file the ledger named.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Waits until the gate's ledger condition holds; parks the run when it does not in time, and
/// delivers the external converter's document when it passes.
#[stage(type = "gate", state_key = "document", parks, dependencies = ["@ledger"], counter = delivered)]
pub fn gate(ctx: &StageContext, #[config] _config: &GateConfig) -> Result<Option<Document>, GateError> {
    let def = ctx.gate().ok_or_else(|| GateError::Unbound(ctx.stage_name().to_owned()))?;
    let job = ctx.job().job_id.as_str();
    let ledger = ctx.ledger();
    let prefix = format!("gate.{}", def.name);
    let ledger_err = |source: BoxError| GateError::Ledger { gate: def.name.clone(), source };

    let mut baselines = gate_check::load_baselines(ledger, job, &def.name).map_err(ledger_err)?;

    let mut timeout = def.timeout_seconds.map(|t| duration_from_secs(t, MAX_GATE_WAIT_SECONDS));
    if let Some(cap) = ctx.host().max_wait {
        timeout = Some(timeout.map_or(cap, |t| t.min(cap)));
    }
    // Never a busy loop (NaN and negative delays included), never a wait beyond a day.
    let delay = def.retry.as_ref().and_then(|r| r.delay_seconds).unwrap_or(def.poll_interval_seconds);
    let pause = duration_from_secs(
        if delay.is_nan() { MIN_GATE_PAUSE_SECONDS } else { delay.max(MIN_GATE_PAUSE_SECONDS) },
        MAX_GATE_WAIT_SECONDS,
    );
    let longest = duration_from_secs(MAX_GATE_WAIT_SECONDS, MAX_GATE_WAIT_SECONDS);
    let max_attempts = def.retry.as_ref().map(|r| r.max_attempts.max(1));
    let started = ctx.clock().now();
    let elapsed = || ctx.clock().now().duration_since(started).unwrap_or_default();

    let mut attempts: u32 = 0;
    let passed = loop {
        attempts = attempts.saturating_add(1);
        let gate_check::GateCheck { eval, read_error } =
            gate_check::check(&def.condition, ledger, job, &mut baselines);
        if let Some(e) = read_error {
            return Err(ledger_err(e));
        }
        if eval == Eval::True {
            break true;
        }
        let out_of_attempts = max_attempts.is_some_and(|m| attempts >= m);
        let waited_enough = elapsed() + pause > longest
            || match timeout {
                Some(t) => elapsed() + pause > t,
                None => max_attempts.is_none(),
            };
        if out_of_attempts || waited_enough || ctx.is_cancelled() {
            break false;
        }
        ctx.clock().sleep(pause);
    };

    let status = if passed { "passed" } else { "parked" };
    let record = [
        ("status", json!(status)),
        ("attempts", json!(attempts)),
        ("elapsed_seconds", json!(elapsed().as_secs_f64())),
        ("resume_stage", json!(def.resume_stage)),
        ("baselines", serde_json::to_value(&baselines).unwrap_or(Value::Null)),
    ];
    for (field, value) in record {
        ledger.set(job, &format!("{prefix}.{field}"), value).map_err(ledger_err)?;
    }

    if !passed {
        let limit = match (timeout, max_attempts) {
            (Some(t), _) => format!("within {} s", t.as_secs_f64()),
            (None, Some(m)) => format!("in {m} evaluation(s)"),
            (None, None) => "at its single evaluation".to_owned(),
        };
        ctx.park(format!(
            "gate `{}` did not pass {limit} ({attempts} evaluation(s)); the run is parked until it does",
            def.name
        ));
        return Ok(None);
    }
    match ledger.get(job, "pdf_ir_path").map_err(ledger_err)? {
        Some(Value::String(path)) if !path.is_empty() => load_document(ctx, &def.name, &path).map(Some),
        _ => Ok(None),
    }
}

fn delivered(doc: &Document) -> u64 {
    u64::from(!doc.sections.is_empty() || !doc.title.is_empty())
}

fn load_document(ctx: &StageContext, gate: &str, path: &str) -> Result<Document, GateError> {
    let mut full = PathBuf::from(path);
    if full.is_relative() {
        if let Some(dir) = &ctx.host().run_dir {
            full = dir.join(full);
        }
    }
    let err = |reason: String| GateError::Document {
        gate: gate.to_owned(),
        job: ctx.job().job_id.clone(),
        path: full.display().to_string(),
        reason,
    };
    let text = read_document(&full).map_err(err)?;
    serde_json::from_str(&text).map_err(|e| err(format!("not a document in the framework's format: {e}")))
}

/// Reads a delivered document: a regular file (symlinks followed) of at most
/// [`MAX_DOCUMENT_BYTES`]. Anything else is refused before it is opened for reading, so a FIFO
/// cannot block the run and `/dev/zero` cannot fill its memory.
fn read_document(path: &std::path::Path) -> Result<String, String> {
    let too_big = |len: u64| {
        format!(
            "it holds {len} bytes or more, over the {} MiB a delivered document may hold",
            MAX_DOCUMENT_BYTES >> 20
        )
    };
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(format!(
            "it is not a regular file ({}); `pdf_ir_path` must name a JSON file",
            file_kind(&meta.file_type())
        ));
    }
    if meta.len() > MAX_DOCUMENT_BYTES {
        return Err(too_big(meta.len()));
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    // The file may have been replaced between the check and the open: check what was opened.
    let opened = file.metadata().map_err(|e| e.to_string())?;
    if !opened.is_file() {
        return Err("it is not a regular file; `pdf_ir_path` must name a JSON file".to_owned());
    }
    let mut bytes = Vec::new();
    file.take(MAX_DOCUMENT_BYTES + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| format!("it is not UTF-8 text: {e}"))
}

/// What a file that is not a regular file is, for messages.
fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}
