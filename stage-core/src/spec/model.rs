//! The loaded form of a pipeline file.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::condition::{Condition, Timing};
use super::yaml::{Loc, Node, PathSeg};

/// The phases when a file gives no `phase_order`.
pub const DEFAULT_PHASE_ORDER: [&str; 3] = ["pre-gate", "gate", "post-gate"];

/// A pipeline file, loaded and checked on its own (contract §1).
#[derive(Clone, Debug)]
pub struct PipelineSpec {
    /// The file it was loaded from (a pipeline is identified by its path).
    pub path: Arc<Path>,
    /// `name`.
    pub name: String,
    /// `version` (`YYYY-MM-DD` with an optional `-suffix`).
    pub version: String,
    /// `applicable_sources`: the job sources accepted; empty means any.
    pub applicable_sources: Vec<String>,
    /// `metadata`.
    pub metadata: PipelineMetadata,
    /// `phase_order`, or [`DEFAULT_PHASE_ORDER`].
    pub phase_order: Vec<String>,
    /// `plugins.stages[].callable`: accepted, never loaded.
    pub plugins: Vec<Plugin>,
    /// `stages`, in declaration order.
    pub stages: Vec<StageSpec>,
    /// `gates`, in declaration order.
    pub gates: Vec<GateSpec>,
    /// Where the top-level mapping starts.
    pub loc: Loc,
    /// Where `name` and `version` are written (their values).
    pub locs: PipelineLocs,
    /// FNV-1a hash of the file's text (to notice a pipeline file changed under a parked run).
    pub source_hash: u64,
}

/// Locations of the top-level values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PipelineLocs {
    /// `name`'s value.
    pub name: Loc,
    /// `version`'s value.
    pub version: Loc,
    /// `phase_order`'s value, when given.
    pub phase_order: Option<Loc>,
    /// `applicable_sources`'s value, when given.
    pub applicable_sources: Option<Loc>,
}

impl PipelineSpec {
    /// The first stage named `name`.
    pub fn stage(&self, name: &str) -> Option<&StageSpec> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// The index of the first stage named `name`.
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }

    /// The first gate definition named `name`.
    pub fn gate(&self, name: &str) -> Option<&GateSpec> {
        self.gates.iter().find(|g| g.name == name)
    }

    /// Whether a job from `source` is accepted (`applicable_sources` empty: any source).
    pub fn accepts_source(&self, source: &str) -> bool {
        self.applicable_sources.is_empty() || self.applicable_sources.iter().any(|s| s == source)
    }

    /// The index of `phase` in `phase_order`.
    pub fn phase_position(&self, phase: &str) -> Option<usize> {
        self.phase_order.iter().position(|p| p == phase)
    }
}

/// `metadata` of a pipeline.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PipelineMetadata {
    /// `owner`.
    pub owner: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `tags`.
    pub tags: Vec<String>,
}

/// One `plugins.stages[]` entry: a Python callable, accepted and reported, never loaded
/// (stages are linked, not loaded by name).
#[derive(Clone, Debug, PartialEq)]
pub struct Plugin {
    /// `callable`.
    pub callable: String,
    /// Where the callable is written.
    pub loc: Loc,
}

/// One stage of a pipeline.
#[derive(Clone, Debug)]
pub struct StageSpec {
    /// `name`.
    pub name: String,
    /// `type`: the stage type, resolved by the caller's registry.
    pub stage_type: String,
    /// `policy`: a resilience policy name (absent: `default`).
    pub policy: Option<String>,
    /// `depends_on`, each name with where it is written.
    pub depends_on: Vec<(String, Loc)>,
    /// `config`, kept as a marked tree (owned by the stage type).
    pub config: Option<Node>,
    /// `phase`, when given.
    pub phase: Option<String>,
    /// `gate`: the gate definition this stage runs, when given.
    pub gate: Option<String>,
    /// `metadata_overrides`.
    pub metadata_overrides: Option<MetadataOverrides>,
    /// Where the stage's mapping starts.
    pub loc: Loc,
    /// Where each given field's value is written.
    pub locs: StageLocs,
}

/// Locations of a stage's values (`None`: the key is absent).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageLocs {
    /// `name`.
    pub name: Loc,
    /// `type`.
    pub stage_type: Loc,
    /// `policy`.
    pub policy: Option<Loc>,
    /// `depends_on` (the list; each item's location is in [`StageSpec::depends_on`]).
    pub depends_on: Option<Loc>,
    /// `config`.
    pub config: Option<Loc>,
    /// `phase`.
    pub phase: Option<Loc>,
    /// `gate`.
    pub gate: Option<Loc>,
    /// `metadata_overrides`.
    pub metadata_overrides: Option<Loc>,
}

impl StageSpec {
    /// The policy name this stage uses: its `policy`, else `default`.
    pub fn policy_name(&self) -> &str {
        self.policy.as_deref().unwrap_or("default")
    }

    /// The names in `depends_on`.
    pub fn dependency_names(&self) -> impl Iterator<Item = &str> {
        self.depends_on.iter().map(|(n, _)| n.as_str())
    }

    /// `config` as JSON (an empty object when the stage has none), for the stage type to
    /// deserialize.
    pub fn config_json(&self) -> Value {
        self.config.as_ref().map_or_else(|| Value::Object(Default::default()), Node::to_json)
    }

    /// The location of a value inside `config` (the deepest existing node on `path`; the
    /// stage when it has no config), for "bad config value" messages.
    pub fn config_loc(&self, path: &[PathSeg<'_>]) -> Loc {
        match &self.config {
            Some(c) => c.locate(path),
            None => self.loc,
        }
    }
}

/// `metadata_overrides` of a stage: this pipeline's changes to the stage type's metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetadataOverrides {
    /// `state_key`: where the stage's output is written (a string is a list of one).
    pub state_key: Option<Vec<String>>,
    /// `description`.
    pub description: Option<String>,
    /// `dependencies`: stage types (or `@resources`) required upstream.
    pub dependencies: Option<Vec<String>>,
    /// Where the mapping starts.
    pub loc: Loc,
    /// Where `state_key` is written.
    pub state_key_loc: Option<Loc>,
    /// Where `dependencies` is written.
    pub dependencies_loc: Option<Loc>,
}

/// `retry` of a gate: evaluations per wait, and the pause between them.
#[derive(Clone, Debug, PartialEq)]
pub struct GateRetry {
    /// `max_attempts` (≥ 1): evaluations per wait. With no `timeout_seconds`, the wait it
    /// allows must fit in [`MAX_GATE_WAIT_SECONDS`](super::MAX_GATE_WAIT_SECONDS).
    pub max_attempts: u32,
    /// `delay_seconds` or `backoff_seconds` (0–86,400); absent, the poll interval. A gate
    /// pauses at least [`MIN_GATE_PAUSE_SECONDS`](super::MIN_GATE_PAUSE_SECONDS) whatever it
    /// says.
    pub delay_seconds: Option<f64>,
    /// Where the mapping starts.
    pub loc: Loc,
}

/// One `gates[]` definition (contract §1, §3).
#[derive(Clone, Debug)]
pub struct GateSpec {
    /// `name`.
    pub name: String,
    /// `stage`: the gate stage it binds to, when given.
    pub stage: Option<(String, Loc)>,
    /// `resume_stage`.
    pub resume_stage: Option<(String, Loc)>,
    /// `resume_phase`.
    pub resume_phase: Option<(String, Loc)>,
    /// `condition`, normalized.
    pub condition: Option<Condition>,
    /// `conditions[]`, each normalized (they are ANDed).
    pub conditions: Vec<Condition>,
    /// Timing given on the gate itself.
    pub timing: Timing,
    /// Timing given inside `condition`.
    pub condition_timing: Timing,
    /// `retry`.
    pub retry: Option<GateRetry>,
    /// `skip_download_on_resume`.
    pub skip_download_on_resume: Option<bool>,
    /// `metadata` (free-form).
    pub metadata: serde_json::Map<String, Value>,
    /// Where the definition's mapping starts.
    pub loc: Loc,
    /// Where `name` is written.
    pub name_loc: Loc,
    /// Where `condition` (or else `conditions`) is written.
    pub condition_loc: Option<Loc>,
}

impl GateSpec {
    /// `condition` and `conditions[]` ANDed into one condition (`None` when neither is given).
    pub fn combined_condition(&self) -> Option<Condition> {
        let mut parts: Vec<Condition> = self.condition.iter().cloned().collect();
        parts.extend(self.conditions.iter().cloned());
        (!parts.is_empty()).then(|| Condition::all(parts))
    }
}
