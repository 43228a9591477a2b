//! One job per record: a submitted job whose request names a results page, a batch or a
//! folder is expanded by the host into one job per record before it runs, because downloads,
//! gates, the ledger, the index and the graph are all per document.
//!
//! An expanded job's id is the submitted id, [`RECORD_SEPARATOR`] (`/`), then the record's id
//! (`oa-page/W2241997964`); characters of the record id outside the job-id alphabet (ASCII
//! letters, digits, `.`, `_`, `-`, `:`, `#`) become `_`. Its `doc_id` is the record's id, its
//! adapter request the submitted one with `id` set to the record's id (and `path`, when the
//! submitted request named a file or folder, kept, so the job reads only that), and its
//! metadata names where it came from: `request_id` (the submitted job's id) and `record_id`.
//!
//! A request that selects one record (or none, or that fails) is left as it is: it runs, and
//! fails in its own run with the adapter's error when it must. Records that appear twice (a
//! results page that overlaps single-record files) run once, the first in file-name order.
//!
//! ```
//! use stage_core::Job;
//! use stages_builtin::ingest::{expand_job, IngestConfig};
//!
//! let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/data");
//! let mut job = Job::new("oa-all", "openalex");
//! job.adapter_request = serde_json::json!({ "data_dir": data });
//! let jobs = expand_job(&job, &IngestConfig::default(), None).unwrap();
//! assert!(jobs.len() > 1);
//! assert!(jobs.iter().all(|j| j.job_id.starts_with("oa-all/") && j.metadata["request_id"] == "oa-all"));
//! ```

use serde_json::{Map, Value};
use stage_core::{Job, Plan};

use super::{merge_request, run_ingest, same_id, IngestConfig, DATA_DIR_ENV};

/// Separates the submitted job's id from the record's id in an expanded job's id.
pub const RECORD_SEPARATOR: char = '/';

/// The jobs `job` becomes: one per record its request selects when it selects several (module
/// docs), else `job` itself. `env_data_dir` stands for the `STAGES_DATA_DIR` environment
/// variable, as in [`run_ingest`].
pub fn expand_job(
    job: &Job,
    config: &IngestConfig,
    env_data_dir: Option<&str>,
) -> Result<Vec<Job>, super::IngestError> {
    let records = run_ingest(job, &job.adapter_request, config, env_data_dir)?;
    let mut unique: Vec<&str> = Vec::with_capacity(records.len());
    for r in &records {
        if unique.iter().any(|u| same_id(u, &r.id)) {
            tracing::info!(job = %job.job_id, record = %r.id, "record read twice; it runs once");
        } else {
            unique.push(&r.id);
        }
    }
    if unique.len() <= 1 {
        return Ok(vec![job.clone()]);
    }
    // The submitted request as an object: a bare string request is an id or a DOI, which
    // each record's own id replaces.
    let base = match merge_request(&job.adapter_request, &Map::new())? {
        mut o if job.adapter_request.is_string() => {
            o.remove("id");
            o.remove("doi");
            o
        }
        o => o,
    };
    let mut taken: Vec<String> = Vec::with_capacity(unique.len());
    Ok(unique
        .into_iter()
        .map(|record_id| {
            let mut id = format!("{}{RECORD_SEPARATOR}{}", job.job_id, id_part(record_id));
            if taken.contains(&id) {
                // Two record ids that differ only outside the job-id alphabet.
                let n = (2..).find(|n| !taken.contains(&format!("{id}~{n}"))).unwrap_or(2);
                id = format!("{id}~{n}");
            }
            taken.push(id.clone());
            let mut request = base.clone();
            for alias in super::ID_KEYS {
                request.remove(*alias);
            }
            request.insert("id".into(), Value::String(record_id.to_owned()));
            let mut one = job.clone();
            one.job_id = id;
            one.doc_id = Some(record_id.to_owned());
            one.adapter_request = Value::Object(request);
            one.metadata.insert("request_id".into(), Value::String(job.job_id.clone()));
            one.metadata.insert("record_id".into(), Value::String(record_id.to_owned()));
            one
        })
        .collect())
}

/// [`expand_job`] for a job about to run through `plan`, with the config of the plan's first
/// ingest stage (in execution order) and the `STAGES_DATA_DIR` environment variable. A plan
/// without an ingest stage leaves the job as it is; so does a request the adapter cannot read
/// (its run then fails with that error), after a warning.
pub fn expand_for_plan(plan: &Plan, job: &Job) -> Vec<Job> {
    let Some(config) = plan.order.iter().find_map(|&i| plan.stages[i].config::<IngestConfig>()) else {
        return vec![job.clone()];
    };
    let env = std::env::var(DATA_DIR_ENV).ok();
    match expand_job(job, config, env.as_deref()) {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::warn!(job = %job.job_id, "not expanded into one job per record: {e}");
            vec![job.clone()]
        }
    }
}

/// A record id as part of a job id: characters outside the job-id alphabet become `_`.
fn id_part(record_id: &str) -> String {
    let short = record_id.trim();
    let short = short
        .strip_prefix("https://openalex.org/")
        .or_else(|| short.strip_prefix("http://openalex.org/"))
        .unwrap_or(short);
    short
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '#') { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data_dir() -> String {
        super::super::tests::data_dir().to_string_lossy().into_owned()
    }

    #[test]
    fn a_folder_becomes_one_job_per_record_naming_its_request() {
        let mut job = Job::new("ct-all", "clinicaltrials");
        job.adapter_request = json!({ "data_dir": data_dir() });
        let jobs = expand_job(&job, &IngestConfig::default(), None).unwrap();
        let ids: Vec<&str> = jobs.iter().map(|j| j.job_id.as_str()).collect();
        assert_eq!(ids, ["ct-all/NCT90000001", "ct-all/NCT90000002", "ct-all/NCT90000003"]);
        for j in &jobs {
            let record = j.job_id.rsplit('/').next().unwrap();
            assert_eq!(j.doc_id.as_deref(), Some(record));
            assert_eq!(j.adapter_request["id"], record);
            assert_eq!(j.adapter_request["data_dir"], data_dir());
            assert_eq!(
                (j.metadata["request_id"].as_str(), j.metadata["record_id"].as_str()),
                (Some("ct-all"), Some(record))
            );
            // Each expanded job reads exactly its own record.
            let read = run_ingest(j, &j.adapter_request, &IngestConfig::default(), None).unwrap();
            assert_eq!(read.len(), 1);
            assert_eq!(read[0].id, record);
        }
    }

    #[test]
    fn a_job_naming_one_record_or_an_unreadable_request_is_left_alone() {
        let mut job = Job::new("ct-1", "clinicaltrials");
        job.adapter_request = json!({ "data_dir": data_dir(), "id": "NCT90000001" });
        assert_eq!(expand_job(&job, &IngestConfig::default(), None).unwrap(), vec![job.clone()]);
        job.adapter_request = json!({ "data_dir": "/nonexistent" });
        assert!(expand_job(&job, &IngestConfig::default(), None).is_err());
    }

    #[test]
    fn record_ids_outside_the_alphabet_are_replaced() {
        assert_eq!(id_part("https://openalex.org/W12"), "W12");
        assert_eq!(id_part("10.1/abc def"), "10.1_abc_def");
        assert_eq!(id_part("é"), "_");
    }
}
