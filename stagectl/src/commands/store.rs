//! Run records in the store: `<store>/runs/<job>.json`, written atomically after every stage
//! (a checkpoint) and at the end of a run. The record written when a run ends (or parks) is
//! flushed to disk; checkpoints are flushed only with `--sync-every-stage`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stage_core::run::Checkpoint;
use stage_core::{Fingerprint, Plan, RunReport, RunState};

use crate::CliError;

/// What the store keeps of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunRecord {
    /// The pipeline file, absolute.
    pub(crate) pipeline_path: PathBuf,
    /// The plan's fingerprint when the run was stored.
    pub(crate) fingerprint: Fingerprint,
    /// `running` (a checkpoint), `completed`, `parked` or `failed`.
    pub(crate) status: String,
    /// The report, once the run ended.
    #[serde(default)]
    pub(crate) report: Option<RunReport>,
    /// The state: every completed stage's output.
    pub(crate) state: serde_json::Value,
}

/// Where a job's run is saved.
pub(crate) fn run_file(store: &Path, job_id: &str) -> PathBuf {
    let safe: String = job_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' })
        .collect();
    store.join("runs").join(format!("{safe}.json"))
}

/// A run record as written: the state serialized straight from the run, not through a
/// JSON tree.
#[derive(Serialize)]
struct RecordOut<'a> {
    pipeline_path: PathBuf,
    fingerprint: Fingerprint,
    status: &'a str,
    report: Option<&'a RunReport>,
    state: &'a RunState,
}

/// Writes the record of a run of `plan` (`status`: `running` for a checkpoint, `completed`,
/// `parked` or `failed`): to a temporary file, then renamed over the old one, so a reader (or
/// a crash) never sees a torn record; with `sync`, the file is flushed to disk first.
pub(crate) fn write_record(
    store: &Path,
    plan: &Plan,
    status: &str,
    report: Option<&RunReport>,
    state: &RunState,
    sync: bool,
) -> Result<(), CliError> {
    let path = plan.pipeline.path.clone().unwrap_or_default();
    let path = std::fs::canonicalize(&path).unwrap_or_else(|_| PathBuf::from(path));
    let record = RecordOut { pipeline_path: path, fingerprint: plan.fingerprint(), status, report, state };
    let file = run_file(store, &state.job.job_id);
    std::fs::create_dir_all(file.parent().expect("runs dir"))?;
    let tmp = file.with_extension(format!("json.tmp{}", std::process::id()));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    serde_json::to_writer(&mut f, &record)?;
    let f = f.into_inner().map_err(|e| e.into_error())?;
    if sync {
        f.sync_all()?;
    }
    drop(f);
    std::fs::rename(&tmp, &file)?;
    Ok(())
}

pub(crate) fn read_record(store: &Path, job_id: &str) -> Result<RunRecord, CliError> {
    let file = run_file(store, job_id);
    let text = std::fs::read_to_string(&file).map_err(|e| {
        format!("no stored run for job `{job_id}` in {} ({e}); `stagectl run` stores one", store.display())
    })?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("{}: not a run record: {e}", file.display()))?)
}

/// Every stored run record, sorted by job.
pub(crate) fn records(store: &Path) -> Result<Vec<(String, RunRecord)>, CliError> {
    let dir = store.join("runs");
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(out) };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for p in paths {
        let text = std::fs::read_to_string(&p)?;
        match serde_json::from_str::<RunRecord>(&text) {
            Ok(r) => {
                let job =
                    serde_json::from_value::<String>(r.state["job"]["job_id"].clone()).unwrap_or_default();
                out.push((job, r));
            }
            Err(e) => tracing::warn!("{}: not a run record: {e}", p.display()),
        }
    }
    Ok(out)
}

/// Saves a run's state in the store (`<store>/runs/<job>.json`) after every stage, so that a
/// run whose process dies resumes from its last completed stage (`stagectl resume`).
#[derive(Debug, Clone)]
pub struct FileCheckpoint {
    store: PathBuf,
    sync: bool,
}

impl FileCheckpoint {
    /// Checkpoints in `store`; with `sync`, each one is flushed to disk (survives a power
    /// loss, costs a disk flush per stage), else written atomically (survives the process).
    pub fn new(store: &Path, sync: bool) -> Self {
        FileCheckpoint { store: store.to_owned(), sync }
    }
}

impl Checkpoint for FileCheckpoint {
    fn checkpoint(&self, plan: &Plan, state: &RunState) {
        if let Err(e) = write_record(&self.store, plan, "running", None, state, self.sync) {
            tracing::error!(job = %state.job.job_id, "checkpoint failed: {e}");
        }
    }
}
