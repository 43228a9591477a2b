//! What a run leaves behind: its report and its state, both serializable.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::state::Records;
use crate::value::SharedValue;

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    /// It ran and its output was applied.
    Completed,
    /// It failed (error, panic, bad output); its downstream did not run.
    Failed,
    /// It is a gate that did not pass in time: the run is parked here.
    Parked,
    /// It did not run because an upstream stage failed or parked.
    Skipped,
}

/// What kind of failure ended a stage: it decides whether the policy retries the call and
/// whether the stage's circuit breaker counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// A transient failure of an outside service ([`crate::StageError::Failed`]): retried,
    /// and counted by the circuit breaker.
    Transient,
    /// An attempt ran past the policy's timeout: retried, but not counted by the circuit
    /// breaker (one huge document is not the service failing).
    TimedOut,
    /// A failure another attempt cannot fix: invalid data, a missing record, a bad input,
    /// config or output ([`crate::StageError::Permanent`] and the runtime's own checks).
    Permanent,
    /// The stage panicked: a bug or bad data, not retried.
    Panicked,
    /// The stage's circuit breaker was open: the stage was not called.
    BreakerOpen,
}

impl FailureKind {
    /// Whether the policy retries a failure of this kind.
    pub fn is_retryable(self) -> bool {
        matches!(self, FailureKind::Transient | FailureKind::TimedOut)
    }
}

/// Why a stage failed, and whether it was retried and why (not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The kind of the last attempt's failure.
    pub kind: FailureKind,
    /// Whether the call was attempted more than once.
    pub retried: bool,
    /// Why it was or was not retried (more), in a sentence.
    pub retry: String,
}

/// One stage's line in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageReport {
    /// The stage's name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub stage_type: String,
    /// How it ended.
    pub status: StageStatus,
    /// Attempts made (0 when skipped).
    pub attempts: u32,
    /// What its counter counted (0 unless completed).
    pub output_count: u64,
    /// Time spent in it, all attempts included.
    pub duration_ms: u64,
    /// Why it failed, parked or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For a failed stage: what kind of failure, and whether it was retried and why (not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every stage completed.
    Completed,
    /// A gate parked the run; nothing failed.
    Parked,
    /// At least one stage failed.
    Failed,
}

/// The report of one run: what ran, what failed and why, and the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The pipeline's name.
    pub pipeline: String,
    /// The pipeline's version.
    pub pipeline_version: String,
    /// The pipeline file, when loaded from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_path: Option<String>,
    /// The job.
    pub job_id: String,
    /// How the run ended.
    pub status: RunStatus,
    /// Each stage, in execution order.
    pub stages: Vec<StageReport>,
    /// `results[stage] = {type, output}` (contract §4), for completed stages; each entry is
    /// turned into JSON when first read.
    pub results: Results,
    /// Wall time of the run.
    pub duration_ms: u64,
}

impl RunReport {
    /// The line of stage `name`.
    pub fn stage(&self, name: &str) -> Option<&StageReport> {
        self.stages.iter().find(|s| s.name == name)
    }
}

/// `results[stage] = {type, output}` (contract §4): one entry per completed stage, by name.
///
/// The results share the run state's records; they are serialized to JSON only when first
/// read ([`get`](Self::get), indexing, iteration, `Serialize`), so a run
/// whose results nobody reads pays nothing for them.
///
/// ```
/// # use stage_core::run::Results;
/// let results: Results = serde_json::from_value(serde_json::json!({
///     "chunk": {"type": "chunk", "output": ["a", "b"]}
/// })).unwrap();
/// assert_eq!(results["chunk"]["output"][1], "b");
/// assert!(results.contains_key("chunk") && !results.contains_key("embed"));
/// ```
#[derive(Clone, Default)]
pub struct Results {
    source: ResultsSource,
    /// The completed stages sorted by name, with their JSON, computed on the first read.
    read: OnceLock<Vec<(Arc<str>, serde_json::Value)>>,
}

/// Where a [`Results`] reads its entries from.
#[derive(Clone)]
enum ResultsSource {
    /// A run's records, shared with its state.
    Run(Arc<Records>),
    /// Read back from JSON, sorted by name.
    Stored(Vec<(Arc<str>, serde_json::Value)>),
}

impl Default for ResultsSource {
    fn default() -> Self {
        ResultsSource::Stored(Vec::new())
    }
}

fn json_of(v: &SharedValue) -> serde_json::Value {
    v.to_json().unwrap_or_else(|e| serde_json::json!({ "unserializable": e.to_string() }))
}

impl Results {
    /// The results of the completed stages among `records`.
    pub(crate) fn of(records: Arc<Records>) -> Self {
        Results { source: ResultsSource::Run(records), read: OnceLock::new() }
    }

    fn read(&self) -> &[(Arc<str>, serde_json::Value)] {
        match &self.source {
            ResultsSource::Stored(entries) => entries,
            ResultsSource::Run(records) => self.read.get_or_init(|| {
                let mut entries: Vec<(Arc<str>, serde_json::Value)> = records
                    .records
                    .iter()
                    .enumerate()
                    .filter(|(_, rec)| rec.status == StageStatus::Completed)
                    .map(|(pos, rec)| {
                        let written = records.outputs_at(pos);
                        let output = match rec.keys() {
                            0 => rec.raw.as_ref().map_or(serde_json::Value::Null, json_of),
                            1 => written.first().map_or(serde_json::Value::Null, |(_, v)| json_of(v)),
                            _ => serde_json::Value::Object(
                                written.iter().map(|(k, v)| (k.clone(), json_of(v))).collect(),
                            ),
                        };
                        let json = serde_json::json!({ "type": rec.meta.stage_type(), "output": output });
                        (records.names[pos].clone(), json)
                    })
                    .collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                entries
            }),
        }
    }

    fn find(&self, name: &str) -> Option<&serde_json::Value> {
        let entries = self.read();
        entries.binary_search_by(|(k, _)| (**k).cmp(name)).ok().map(|i| &entries[i].1)
    }

    /// `{type, output}` of stage `name`, if it completed.
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.find(name)
    }

    /// Whether stage `name` has a result.
    pub fn contains_key(&self, name: &str) -> bool {
        match &self.source {
            ResultsSource::Run(records) => records
                .names
                .iter()
                .zip(&records.records)
                .any(|(k, r)| **k == *name && r.status == StageStatus::Completed),
            ResultsSource::Stored(_) => self.find(name).is_some(),
        }
    }

    /// How many stages have a result.
    pub fn len(&self) -> usize {
        match &self.source {
            ResultsSource::Stored(entries) => entries.len(),
            ResultsSource::Run(records) => {
                records.records.iter().filter(|r| r.status == StageStatus::Completed).count()
            }
        }
    }

    /// Whether no stage has a result.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The names of the stages with a result, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.read().iter().map(|(k, _)| &**k)
    }

    /// Each stage's name and `{type, output}`, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.read().iter().map(|(k, v)| (&**k, v))
    }

    /// All results as one JSON map.
    pub fn to_map(&self) -> BTreeMap<String, serde_json::Value> {
        self.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect()
    }
}

impl std::ops::Index<&str> for Results {
    type Output = serde_json::Value;

    /// `{type, output}` of stage `name`.
    ///
    /// # Panics
    /// When stage `name` has no result; use [`get`](Results::get) when that can happen.
    fn index(&self, name: &str) -> &serde_json::Value {
        match self.get(name) {
            Some(v) => v,
            None => panic!("no result for stage `{name}`: it did not complete (see the report's stages)"),
        }
    }
}

impl PartialEq for Results {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl fmt::Debug for Results {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Results {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Results {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        let entries = map.into_iter().map(|(name, json)| (Arc::from(name), json)).collect();
        Ok(Results { source: ResultsSource::Stored(entries), read: OnceLock::new() })
    }
}
