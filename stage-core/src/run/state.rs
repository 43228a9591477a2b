//! The state of a run: every completed stage's output, serializable, and readable back
//! through the producing stages' metadata, so a stored run can be inspected and resumed.

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::report::StageReport;
use crate::plan::{Plan, PlannedStage};
use crate::value::SharedValue;
use crate::Job;

/// What one stage left in the run.
#[derive(Debug, Clone)]
pub struct StageRecord {
    /// How it ended.
    pub status: super::StageStatus,
    /// The values it wrote, by key, in key order.
    pub written: Vec<(String, SharedValue)>,
    /// Its raw output, for a stage that writes no key.
    pub raw: Option<SharedValue>,
    /// Its report line.
    pub report: Option<Box<StageReport>>,
}

/// The state of one run.
#[derive(Debug, Clone)]
pub struct RunState {
    /// The job.
    pub job: Job,
    /// Each stage that ran, by name.
    pub stages: BTreeMap<String, StageRecord>,
}

/// A stored state that does not fit the plan it is read against.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored run state: {0}")]
pub struct StateError(pub String);

impl RunState {
    /// The state of a run that has not started.
    pub fn new(job: Job) -> Self {
        RunState { job, stages: BTreeMap::new() }
    }

    pub(crate) fn complete(
        &mut self,
        stage: &PlannedStage,
        written: Vec<(String, SharedValue)>,
        raw: Option<SharedValue>,
        line: StageReport,
    ) {
        self.stages.insert(
            stage.name.clone(),
            StageRecord { status: super::StageStatus::Completed, written, raw, report: Some(Box::new(line)) },
        );
    }

    pub(crate) fn set_report(&mut self, stage: &PlannedStage, line: StageReport) {
        // Looked up before inserting: the stage's name is copied only for a new record.
        if let Some(rec) = self.stages.get_mut(&stage.name) {
            rec.status = line.status;
            rec.report = Some(Box::new(line));
            return;
        }
        self.stages.insert(
            stage.name.clone(),
            StageRecord { status: line.status, written: Vec::new(), raw: None, report: Some(Box::new(line)) },
        );
    }

    /// The value stage `stage` wrote under `key`, if it completed and wrote it.
    pub fn written(&self, stage: &str, key: &str) -> Option<SharedValue> {
        let rec = self.stages.get(stage)?;
        if rec.status != super::StageStatus::Completed {
            return None;
        }
        rec.written.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    /// The state as the original runtime showed it: each key's value from its last writer in
    /// execution order.
    pub fn values(&self, plan: &Plan) -> BTreeMap<String, SharedValue> {
        let mut out = BTreeMap::new();
        for &i in &plan.order {
            if let Some(rec) = self.stages.get(&plan.stages[i].name) {
                for (k, v) in &rec.written {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        out
    }

    /// `results[stage] = {type, output}` (contract §4): the raw output for a stage that writes
    /// no key, `state[key]` for one key, `{key: state[key]}` for several.
    pub fn results(&self, plan: &Plan) -> BTreeMap<String, serde_json::Value> {
        let json = |v: &SharedValue| {
            v.to_json().unwrap_or_else(|e| serde_json::json!({ "unserializable": e.to_string() }))
        };
        plan.order
            .iter()
            .filter_map(|&i| {
                let stage = &plan.stages[i];
                let rec = self.stages.get(&stage.name)?;
                if rec.status != super::StageStatus::Completed {
                    return None;
                }
                let output = match super::key_count(stage) {
                    0 => rec.raw.as_ref().map(json).unwrap_or(serde_json::Value::Null),
                    1 => rec.written.first().map(|(_, v)| json(v)).unwrap_or(serde_json::Value::Null),
                    _ => serde_json::Value::Object(
                        rec.written.iter().map(|(k, v)| (k.clone(), json(v))).collect(),
                    ),
                };
                Some((
                    stage.name.clone(),
                    serde_json::json!({ "type": stage.meta.stage_type(), "output": output }),
                ))
            })
            .collect()
    }

    /// The state as JSON: `{job, stages: {name: {status, written: {key: value}, raw, report}}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Reads a state stored with [`to_json`](Self::to_json) back, typing each value through the
    /// metadata of the stage that wrote it in `plan`.
    pub fn from_json(value: serde_json::Value, plan: &Plan) -> Result<RunState, StateError> {
        let stored: Stored = serde_json::from_value(value).map_err(|e| StateError(e.to_string()))?;
        let mut stages = BTreeMap::new();
        for (name, rec) in stored.stages {
            let stage = plan.stages.iter().find(|s| s.name == name).ok_or_else(|| {
                StateError(format!("stage `{name}` is not in pipeline `{}`", plan.pipeline.name))
            })?;
            let keys = stage.keys();
            let outputs = stage.meta.outputs();
            let mut written = Vec::new();
            for (k, v) in rec.written {
                let pos = keys.iter().position(|x| *x == k).ok_or_else(|| {
                    StateError(format!("stage `{name}` no longer writes `{k}` (it writes {keys:?})"))
                })?;
                let ty = outputs
                    .get(pos)
                    .ok_or_else(|| StateError(format!("stage `{name}` declares no type for `{k}`")))?;
                let value = ty.deserialize(v).map_err(|e| {
                    StateError(format!(
                        "stage `{name}`, key `{k}`: stored value is not a `{}`: {e}",
                        ty.ty().name()
                    ))
                })?;
                written.push((k, value));
            }
            let raw = match (rec.raw, outputs.first()) {
                (Some(v), Some(ty)) if keys.is_empty() => Some(ty.deserialize(v).map_err(|e| {
                    StateError(format!("stage `{name}`: stored output is not a `{}`: {e}", ty.ty().name()))
                })?),
                _ => None,
            };
            stages.insert(
                name,
                StageRecord { status: rec.status, written, raw, report: rec.report.map(Box::new) },
            );
        }
        Ok(RunState { job: stored.job, stages })
    }
}

#[derive(Deserialize)]
struct Stored {
    job: Job,
    stages: BTreeMap<String, StoredRecord>,
}

#[derive(Deserialize)]
struct StoredRecord {
    status: super::StageStatus,
    #[serde(default)]
    written: Vec<(String, serde_json::Value)>,
    #[serde(default)]
    raw: Option<serde_json::Value>,
    #[serde(default)]
    report: Option<StageReport>,
}

struct Values<'a>(&'a [(String, SharedValue)]);

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (k, v) in self.0 {
            let json = v.to_json().map_err(serde::ser::Error::custom)?;
            seq.serialize_element(&(k, json))?;
        }
        seq.end()
    }
}

impl Serialize for StageRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("status", &self.status)?;
        m.serialize_entry("written", &Values(&self.written))?;
        if let Some(raw) = &self.raw {
            m.serialize_entry("raw", &raw.to_json().map_err(serde::ser::Error::custom)?)?;
        }
        if let Some(r) = &self.report {
            m.serialize_entry("report", r)?;
        }
        m.end()
    }
}

impl Serialize for RunState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("job", &self.job)?;
        m.serialize_entry("stages", &self.stages)?;
        m.end()
    }
}
