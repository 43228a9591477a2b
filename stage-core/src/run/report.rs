//! What a run leaves behind: its report and its state, both serializable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    /// `results[stage] = {type, output}` (contract §4), for completed stages.
    pub results: BTreeMap<String, serde_json::Value>,
    /// Wall time of the run.
    pub duration_ms: u64,
}

impl RunReport {
    /// The line of stage `name`.
    pub fn stage(&self, name: &str) -> Option<&StageReport> {
        self.stages.iter().find(|s| s.name == name)
    }
}
