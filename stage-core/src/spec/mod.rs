//! Pipeline files: a located YAML tree, the pipeline model, the per-file rules (load) and
//! the rules that need the stage registry (check). See the compatibility contract, §1 and §3.
//!
//! ```no_run
//! let loaded = stage_core::spec::load_file("pipelines/auto.yaml")?;
//! for w in &loaded.warnings {
//!     eprintln!("{w}");
//! }
//! let checked = stage_core::spec::check(&loaded.value, &|t| t == "gate");
//! # Ok::<(), stage_core::spec::LoadError>(())
//! ```

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
    POLL_RANGE, TIMEOUT_RANGE,
};
pub use diag::{Diagnostic, LoadError, Loaded, Severity};
pub use load::{load_dir, load_file, load_str};
pub use model::{
    GateRetry, GateSpec, MetadataOverrides, PipelineLocs, PipelineMetadata, PipelineSpec, Plugin,
    StageLocs, StageSpec, DEFAULT_PHASE_ORDER,
};
pub use yaml::{KeyNode, Loc, Node, NodeKind, PathSeg, Scalar, ScalarValue};

#[cfg(test)]
mod tests;
