//! The state of a run: every completed stage's output, serializable, and readable back
//! through the producing stages' metadata, so a stored run can be inspected and resumed.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::report::{Failure, Results, StageReport, StageStatus};
use crate::plan::{Plan, PlannedStage};
use crate::value::SharedValue;
use crate::{Job, StageMetadata};

/// What one stage left in the run: its outputs and its report line's figures.
#[derive(Debug, Clone)]
pub struct StageRecord {
    /// How it ended.
    pub status: StageStatus,
    /// Its type's metadata.
    pub meta: &'static StageMetadata,
    /// Where the values it wrote are in the state's values ([`RunState::outputs`]).
    written: (u32, u32),
    /// Its raw output, for a stage that writes no key.
    pub raw: Option<SharedValue>,
    /// Attempts made.
    pub attempts: u32,
    /// What its counter counted (0 unless completed).
    pub output_count: u64,
    /// Time spent in it, all attempts included.
    pub duration_ms: u64,
    /// Why it failed or parked.
    pub message: Option<String>,
    /// For a failed stage: what kind of failure, and whether it was retried and why (not).
    pub failure: Option<Failure>,
    /// How many keys it writes: what its result is (contract §4).
    keys: u32,
}

impl StageRecord {
    /// A record of a stage that wrote nothing (yet): the runtime gives it its values with
    /// [`RunState::record`].
    #[expect(clippy::too_many_arguments, reason = "a record's fields, set once by the runtime")]
    pub(crate) fn new(
        status: StageStatus,
        meta: &'static StageMetadata,
        raw: Option<SharedValue>,
        attempts: u32,
        output_count: u64,
        duration_ms: u64,
        message: Option<String>,
        failure: Option<Failure>,
        keys: usize,
    ) -> Self {
        let keys = u32::try_from(keys).unwrap_or(u32::MAX);
        StageRecord {
            status,
            meta,
            written: (0, 0),
            raw,
            attempts,
            output_count,
            duration_ms,
            message,
            failure,
            keys,
        }
    }

    /// How many keys it writes.
    pub(crate) fn keys(&self) -> usize {
        self.keys as usize
    }

    /// Its line in a run report, for the stage named `name`.
    pub fn report(&self, name: &str) -> StageReport {
        StageReport {
            name: name.to_owned(),
            stage_type: self.meta.stage_type().to_owned(),
            status: self.status,
            attempts: self.attempts,
            output_count: self.output_count,
            duration_ms: self.duration_ms,
            message: self.message.clone(),
            failure: self.failure.clone(),
        }
    }
}

/// The state of one run: the job and a record of each stage that ran.
///
/// Cloning is cheap: the records are shared (copied only when a clone is changed), and so is
/// the run report's [`Results`].
#[derive(Debug, Clone)]
pub struct RunState {
    /// The job, shared with every stage context of the run.
    pub job: Arc<Job>,
    records: Store,
}

/// The records: owned while a run changes them, shared once it has ended (with its results).
#[derive(Debug)]
enum Store {
    Owned(Records),
    Shared(Arc<Records>),
}

impl Clone for Store {
    fn clone(&self) -> Self {
        match self {
            Store::Owned(r) => Store::Shared(Arc::new(r.clone())),
            Store::Shared(r) => Store::Shared(r.clone()),
        }
    }
}

impl std::ops::Deref for Store {
    type Target = Records;
    fn deref(&self) -> &Records {
        match self {
            Store::Owned(r) => r,
            Store::Shared(r) => r,
        }
    }
}

impl Store {
    /// The records, to change: a shared store is copied only if another holder shares it.
    fn get_mut(&mut self) -> &mut Records {
        if let Store::Shared(shared) = self {
            let owned = Arc::try_unwrap(std::mem::take(shared)).unwrap_or_else(|arc| (*arc).clone());
            *self = Store::Owned(owned);
        }
        match self {
            Store::Owned(r) => r,
            Store::Shared(_) => unreachable!("made owned above"),
        }
    }

    /// The records, shared.
    fn share(&mut self) -> Arc<Records> {
        if let Store::Owned(owned) = self {
            *self = Store::Shared(Arc::new(std::mem::take(owned)));
        }
        match self {
            Store::Shared(r) => r.clone(),
            Store::Owned(_) => unreachable!("made shared above"),
        }
    }
}

/// The records of a run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Records {
    /// The name of each stage that ran, in the order they ended; a name appears once.
    pub(crate) names: Vec<Arc<str>>,
    /// Their records, at the same positions.
    pub(crate) records: Vec<StageRecord>,
    /// The values the stages wrote, by key, each stage's together, in key order.
    values: Vec<(String, SharedValue)>,
}

impl Records {
    /// The values the stage at `pos` wrote (none unless it completed).
    pub(crate) fn outputs_at(&self, pos: usize) -> &[(String, SharedValue)] {
        let rec = &self.records[pos];
        if rec.status != StageStatus::Completed {
            return &[];
        }
        &self.values[rec.written.0 as usize..rec.written.1 as usize]
    }
}

/// A stored state that does not fit the plan it is read against.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored run state: {0}")]
pub struct StateError(pub String);

impl RunState {
    /// The state of a run that has not started.
    pub fn new(job: Job) -> Self {
        RunState { job: Arc::new(job), records: Store::Owned(Records::default()) }
    }

    /// The record of stage `name`, if it ran.
    pub fn stage(&self, name: &str) -> Option<&StageRecord> {
        self.position(name).map(|i| &self.records.records[i])
    }

    /// Each stage that ran and its record, in the order they ended.
    pub fn stages(&self) -> impl ExactSizeIterator<Item = (&str, &StageRecord)> {
        self.records.names.iter().map(|name| &**name).zip(&self.records.records)
    }

    /// Where stage `name`'s record is.
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.records.names.iter().position(|k| **k == *name)
    }

    /// The record at `pos` (from [`position`](Self::position) or [`record`](Self::record)).
    pub(crate) fn at(&self, pos: usize) -> &StageRecord {
        &self.records.records[pos]
    }

    /// Room for `more` records and `values` values, exactly: a run reserves what its plan may
    /// add, once.
    pub(crate) fn reserve(&mut self, more: usize, values: usize) {
        let r = self.records.get_mut();
        r.names.reserve_exact(more);
        r.records.reserve_exact(more);
        r.values.reserve_exact(values);
    }

    /// The values stage `stage` wrote, by key, in key order (none unless it completed).
    pub fn outputs(&self, stage: &str) -> &[(String, SharedValue)] {
        self.position(stage).map_or(&[], |pos| self.outputs_at(pos))
    }

    pub(crate) fn outputs_at(&self, pos: usize) -> &[(String, SharedValue)] {
        self.records.outputs_at(pos)
    }

    /// The value the stage at `pos` wrote under `key`.
    pub(crate) fn output_ref_at(&self, pos: usize, key: &str) -> Option<&SharedValue> {
        self.outputs_at(pos).iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Records how `stage` ended and the values it wrote (taken from `written`), replacing what
    /// it left before (a resumed gate), and returns where the record is. Its name is shared
    /// with the plan, not copied.
    pub(crate) fn record(
        &mut self,
        stage: &PlannedStage,
        mut record: StageRecord,
        written: &mut Vec<(String, SharedValue)>,
        before: Option<usize>,
    ) -> usize {
        let r = self.records.get_mut();
        let start = r.values.len();
        r.values.append(written);
        record.written = (start as u32, r.values.len() as u32);
        match before {
            Some(pos) => {
                r.records[pos] = record;
                pos
            }
            None => {
                r.names.push(stage.key.clone());
                r.records.push(record);
                r.records.len() - 1
            }
        }
    }

    /// The value stage `stage` wrote under `key`, if it completed and wrote it.
    pub fn written(&self, stage: &str, key: &str) -> Option<SharedValue> {
        self.output_ref_at(self.position(stage)?, key).cloned()
    }

    /// The state as the original runtime showed it: each key's value from its last writer in
    /// execution order.
    pub fn values(&self, plan: &Plan) -> BTreeMap<String, SharedValue> {
        let mut out = BTreeMap::new();
        for &i in &plan.order {
            if self.stage(&plan.stages[i].name).is_some() {
                for (k, v) in self.outputs(&plan.stages[i].name) {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        out
    }

    /// `results[stage] = {type, output}` (contract §4) of the completed stages: the raw output
    /// for a stage that writes no key, `state[key]` for one key, `{key: state[key]}` for
    /// several. The records are shared, not copied: they are turned into JSON when first read.
    pub fn results(&self) -> Results {
        match &self.records {
            Store::Shared(r) => Results::of(r.clone()),
            Store::Owned(r) => Results::of(Arc::new(r.clone())),
        }
    }

    /// The results, sharing the records from now on (a run's end).
    pub(crate) fn share_results(&mut self) -> Results {
        Results::of(self.records.share())
    }

    /// The state as JSON: `{job, stages: {name: {status, written: {key: value}, raw, report}}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Reads a state stored with [`to_json`](Self::to_json) back, typing each value through the
    /// metadata of the stage that wrote it in `plan`.
    ///
    /// A host storing runs in a format of its own restores them with [`RunState::restore`].
    pub fn from_json(value: serde_json::Value, plan: &Plan) -> Result<RunState, StateError> {
        let stored: Stored = serde_json::from_value(value).map_err(|e| StateError(e.to_string()))?;
        let stages = stored
            .stages
            .into_iter()
            .map(|(name, rec)| rec.typed(name, plan))
            .collect::<Result<Vec<_>, _>>()?;
        RunState::restore(stored.job, plan, stages)
    }
}

/// One stage's stored record, its values read back (with the producing stage's
/// [`OutputType`](crate::OutputType)): what [`RunState::restore`] takes.
#[derive(Debug)]
pub struct RestoredStage {
    /// The stage's name in the pipeline.
    pub name: String,
    /// How it ended.
    pub status: StageStatus,
    /// Its report line (attempts, count, duration, message, failure), when stored.
    pub report: Option<StageReport>,
    /// The values it wrote, by key.
    pub written: Vec<(String, SharedValue)>,
    /// Its raw output, for a stage that writes no key.
    pub raw: Option<SharedValue>,
}

impl RunState {
    /// A stored run's state: the job and, in the order they ended, the records of the
    /// stages that ended. Fails when a stage is not in `plan` or no longer writes a key.
    pub fn restore(
        job: Job,
        plan: &Plan,
        stages: impl IntoIterator<Item = RestoredStage>,
    ) -> Result<RunState, StateError> {
        let mut state = RunState::new(job);
        for rec in stages {
            let name = rec.name;
            let stage = plan.stages.iter().find(|s| s.name == name).ok_or_else(|| {
                StateError(format!("stage `{name}` is not in pipeline `{}`", plan.pipeline.name))
            })?;
            let keys = stage.keys();
            if let Some((k, _)) = rec.written.iter().find(|(k, _)| !keys.contains(&k.as_str())) {
                return Err(StateError(format!(
                    "stage `{name}` no longer writes `{k}` (it writes {keys:?})"
                )));
            }
            let report = rec.report;
            let record = StageRecord::new(
                rec.status,
                stage.meta,
                rec.raw.filter(|_| keys.is_empty()),
                report.as_ref().map_or(0, |r| r.attempts),
                report.as_ref().map_or(0, |r| r.output_count),
                report.as_ref().map_or(0, |r| r.duration_ms),
                report.as_ref().and_then(|r| r.message.clone()),
                report.and_then(|r| r.failure),
                keys.len(),
            );
            let mut written = rec.written;
            state.record(stage, record, &mut written, None);
        }
        Ok(state)
    }
}

#[derive(Deserialize)]
struct Stored {
    job: Job,
    stages: BTreeMap<String, StoredRecord>,
}

#[derive(Deserialize)]
struct StoredRecord {
    status: StageStatus,
    #[serde(default)]
    written: Vec<(String, serde_json::Value)>,
    #[serde(default)]
    raw: Option<serde_json::Value>,
    #[serde(default)]
    report: Option<StageReport>,
}

impl StoredRecord {
    /// The record with its values typed through the metadata of stage `name` in `plan`.
    fn typed(self, name: String, plan: &Plan) -> Result<RestoredStage, StateError> {
        let stage = plan.stages.iter().find(|s| s.name == name).ok_or_else(|| {
            StateError(format!("stage `{name}` is not in pipeline `{}`", plan.pipeline.name))
        })?;
        let keys = stage.keys();
        let outputs = stage.meta.outputs();
        let mut written = Vec::with_capacity(self.written.len());
        for (k, v) in self.written {
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
        let raw = match (self.raw, outputs.first()) {
            (Some(v), Some(ty)) if keys.is_empty() => Some(ty.deserialize(v).map_err(|e| {
                StateError(format!("stage `{name}`: stored output is not a `{}`: {e}", ty.ty().name()))
            })?),
            _ => None,
        };
        Ok(RestoredStage { name, status: self.status, report: self.report, written, raw })
    }
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

/// A record as stored: its report line carries the stage's name.
struct Record<'a>(&'a str, &'a StageRecord, &'a [(String, SharedValue)]);

impl Serialize for Record<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Record(name, rec, written) = *self;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("status", &rec.status)?;
        m.serialize_entry("written", &Values(written))?;
        if let Some(raw) = &rec.raw {
            m.serialize_entry("raw", &raw.to_json().map_err(serde::ser::Error::custom)?)?;
        }
        m.serialize_entry("report", &rec.report(name))?;
        m.end()
    }
}

/// The records by name, sorted: the stored form does not depend on the order stages ended.
struct ByName<'a>(&'a RunState);

impl Serialize for ByName<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut sorted: Vec<(usize, &str)> = self.0.records.names.iter().map(|n| &**n).enumerate().collect();
        sorted.sort_unstable_by(|a, b| a.1.cmp(b.1));
        let mut m = s.serialize_map(Some(sorted.len()))?;
        for (pos, name) in sorted {
            m.serialize_entry(name, &Record(name, self.0.at(pos), self.0.outputs_at(pos)))?;
        }
        m.end()
    }
}

impl Serialize for RunState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("job", &*self.job)?;
        m.serialize_entry("stages", &ByName(self))?;
        m.end()
    }
}
