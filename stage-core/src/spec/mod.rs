//! Pipeline files: a located YAML tree, the pipeline model, the per-file rules (load) and
//! the rules that need the stage registry (check). See the compatibility contract, §1 and §3.
//!
//! Decisions where the contract leaves room (documented here so they travel with the code):
//! * YAML: one document per file; aliases are resolved (see [`yaml`]); a repeated key keeps
//!   its last value with a warning.
//! * An optional key whose value is null is treated as absent; where a string is expected a
//!   plain number is taken as its text (`name: 2024`), a boolean or null is a type error.
//! * A gate's `condition` and `conditions[]` are ANDed when both are given.
//! * A gate stage's `config` is owned by its type: only its gate keys are read (`gate`,
//!   `resume_stage`, timing, and a condition in any form: inline, `condition`,
//!   `conditions[]`); other keys are left to the stage type.
//! * A gate stage with no condition anywhere is an error; a gate stage naming (by `gate` or
//!   `config.gate`) a gate that `gates` does not define is accepted only when its config
//!   gives the condition.
//! * An explicit `phase` that is `pre-gate`, `gate` or `post-gate` must match the computed
//!   one; any other value is a label and must be listed in `phase_order`.
//! * Not checked here (they need stage-type metadata): §1.7 state-key counts and §1.9
//!   type dependencies; [`MetadataOverrides`] carries what the caller needs.
//!
//! Typical use: `load_file(path)` (or `load_dir`) gives a [`PipelineSpec`] with its warnings,
//! or a [`LoadError`] listing every problem; then `check(&spec, &|t| registry.is_gate(t))`
//! gives the execution order, phases and effective gates, with more diagnostics. The stages'
//! policy names are checked by the policy module, which sits above this one (it reads policy
//! files with the same located YAML and diagnostics); nothing here depends on it.

pub mod check;
pub mod condition;
pub mod diag;
pub mod load;
pub mod model;
pub(crate) mod read;
pub mod yaml;

pub use check::{check, Checked, EffectiveGate};
pub use condition::{
    json_eq, Baselines, Clause, Condition, Eval, FieldRef, Operator, Timing, DEFAULT_POLL_SECONDS,
    MAX_GATE_WAIT_SECONDS, MIN_GATE_PAUSE_SECONDS, POLL_RANGE, TIMEOUT_RANGE,
};
pub use diag::{Diagnostic, LoadError, Loaded, Severity};
pub use load::{load_dir, load_file, load_file_partial, load_str};
pub use model::{
    GateRetry, GateSpec, MetadataOverrides, PipelineLocs, PipelineMetadata, PipelineSpec, Plugin, StageLocs,
    StageSpec, DEFAULT_PHASE_ORDER,
};
pub use yaml::{KeyNode, Loc, Node, NodeKind, PathSeg, Scalar, ScalarValue};

#[cfg(test)]
mod tests;
