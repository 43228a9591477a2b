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

/// Where a job's run is saved: `<store>/runs/<name>.json`, where a plain id (lowercase ASCII
/// letters, digits, `-`, `_` and `.` not first, at most 100 characters) is its own name, and any
/// other id is a readable prefix (lowercased, other characters as `-`), `~`, then 16 hex digits
/// of its SHA-256. No two ids share a file: a plain name has no `~`, and two other ids would
/// need the same hash prefix; case-insensitive file systems are safe (plain names are lowercase).
pub(crate) fn run_file(store: &Path, job_id: &str) -> PathBuf {
    store.join("runs").join(format!("{}.json", file_stem(job_id)))
}

fn file_stem(job_id: &str) -> String {
    let plain = !job_id.is_empty()
        && job_id.len() <= 100
        && !job_id.starts_with('.')
        && job_id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if plain {
        return job_id.to_owned();
    }
    use sha2::Digest;
    let hash = sha2::Sha256::digest(job_id.as_bytes());
    let prefix: String = job_id
        .chars()
        .take(60)
        .map(|c| if c.is_ascii_alphanumeric() || "-_".contains(c) { c.to_ascii_lowercase() } else { '-' })
        .collect();
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}~{hex}")
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
    // Unique per writer: the process, and a counter within it.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = file.with_extension(format!("json.tmp{}-{n}", std::process::id()));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    serde_json::to_writer(&mut f, &record)?;
    let f = f.into_inner().map_err(|e| e.into_error())?;
    if sync {
        f.sync_all()?;
    }
    drop(f);
    if let Err(e) = std::fs::rename(&tmp, &file) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_files_are_one_per_job_id() {
        let store = Path::new("/s");
        assert_eq!(run_file(store, "ct-1"), Path::new("/s/runs/ct-1.json"));
        let ids =
            ["a/b", "a-b", "A-b", "a-B", "é", "ü", "", ".", "..", "x~1", &"z".repeat(300), &"z".repeat(301)];
        let files: std::collections::HashSet<PathBuf> = ids.iter().map(|id| run_file(store, id)).collect();
        assert_eq!(files.len(), ids.len(), "{files:?}");
        let stem = file_stem("oa-all/W2241997964");
        assert!(
            stem.starts_with("oa-all-w2241997964~") && stem.len() == "oa-all-w2241997964~".len() + 16,
            "{stem}"
        );
        for f in &files {
            let name = f.file_name().unwrap().to_str().unwrap();
            assert!(name.len() <= 100 && !name.starts_with('.') && name.ends_with(".json"), "{name}");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.~".contains(&b)),
                "{name}"
            );
        }
    }
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
