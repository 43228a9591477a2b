//! # stage-core
//!
//! Declare a pipeline stage with one attribute, and run pipelines of such stages from YAML.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use stage_core::{stage, OutputCount, StageRegistry};
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! pub struct Document { pub text: String }
//!
//! #[derive(Debug, Default, Serialize, Deserialize)]
//! #[serde(default)]
//! pub struct SplitConfig { pub size: usize }
//!
//! /// Splits a document's text into pieces of `size` characters.
//! #[stage(type = "doc-split", state_key = "pieces")]
//! fn split(document: &Document, #[config] cfg: &SplitConfig) -> Vec<String> {
//!     let size = cfg.size.max(1);
//!     let chars: Vec<char> = document.text.chars().collect();
//!     chars.chunks(size).map(|c| c.iter().collect()).collect()
//! }
//!
//! let meta = StageRegistry::global().get_metadata("doc-split").unwrap();
//! assert_eq!(meta.state_key().keys(), ["pieces"]);
//! assert_eq!(meta.inputs()[0].key, "document");
//! assert_eq!(meta.description(), "Splits a document's text into pieces of `size` characters.");
//! ```
//!
//! ## Writing a stage
//!
//! `#[stage(...)]` goes on a free, synchronous, non-generic function. Its parameters are bound
//! by their form:
//!
//! | parameter | binds |
//! |---|---|
//! | `ctx: &StageContext` | the run context: job, ledger, clock, cancellation, parking |
//! | `name: &T` | the run-state value under key `name` (required, borrowed) |
//! | `name: Option<&T>` | the same, optional: `None` when absent |
//! | `#[config] cfg: &C` | the stage's YAML `config:` block, deserialized once per pipeline |
//! | `#[resource] r: &R` | a [`Resource`] built once per pipeline |
//!
//! It returns `T`, `Option<T>` (writes only when `Some`), `Result<T, E>` or
//! `Result<Option<T>, E>`, with `E: std::error::Error + Send + Sync + 'static`.
//!
//! Attribute arguments: `type = "..."` (required), `state_key = "key"` or `["a", "b"]` (a
//! tuple output, one element per key), `description = "..."` (default: the doc comment),
//! `dependencies = ["extract", "@ledger"]`, `version = "..."` (default: the crate's),
//! `counter = path`, `handler = path`, `parks` (the stage may park a run: a gate), `replace`
//! (a deliberate replacement of another registration of the type), `crate = path` (where
//! stage-core is, when renamed).
//!
//! ## Linking plugin crates
//!
//! Stages register at link time. A crate that is listed in `Cargo.toml` but never named in
//! code is not linked at all, and its stages silently vanish. Name each plugin crate once
//! (`use my_plugin as _;`) and check at start-up that what you expect is there with
//! [`StageRegistry::require`].
#![warn(missing_docs)]

// Lets `#[stage]` (which names `::stage_core`) work inside this crate's own tests.
#[allow(unused_extern_crates)]
extern crate self as stage_core;

mod context;
mod error;
mod fingerprint;
mod glue;
mod metadata;
pub mod plan;
pub mod policy;
mod registry;
pub mod run;
pub mod spec;
pub mod suggest;
mod value;

pub use context::{
    CancelToken, Clock, FakeClock, HostSettings, InMemoryLedger, Job, Ledger, ResourceContext, StageContext,
    SystemClock,
};
pub use error::{BoxError, StageError};
pub use fingerprint::{Fingerprint, StageFingerprint};
pub use glue::{OutputCount, SplitOutput, StageArgs};
pub use metadata::{
    ApplyFn, ConfigError, ConfigSpec, ConfigValue, InputSpec, Location, OutputCounter, OutputHandler,
    OutputSink, OutputType, Resource, ResourceSpec, ResourceValue, StageConfig, StageMetadata, StateKey,
    TypeRef, SCHEMA_VERSION,
};
pub use plan::{Plan, PlanError, PlanOptions, StageFactory};
pub use registry::{
    is_valid_stage_type, validate, RegistryBuilder, RegistryError, RegistryProblem, Severity, StageRegistry,
    UnknownStageType, RESERVED_KEYS,
};
pub use run::{RunOutcome, RunReport, RunState, RunStatus, Runner, StageStatus};
pub use stage_derive::stage;

/// The metadata `#[stage]` generated for a stage function, as `&'static StageMetadata`: for
/// building a registry from an explicit list ([`StageRegistry::builder`]), as a plugin's own
/// tests do, or on platforms without link sections.
///
/// ```
/// use stage_core::{stage, registration, StageRegistry};
///
/// /// Says hello.
/// #[stage(type = "hello", state_key = "greeting", counter = one)]
/// pub fn hello() -> String { "hello".to_owned() }
/// fn one(_: &String) -> u64 { 1 }
///
/// let registry = StageRegistry::builder().register(registration!(hello)).build();
/// assert_eq!(registry.stage_types(), ["hello"]);
/// ```
pub use stage_derive::registration;
pub use value::{take, SharedValue, StateValue};

/// Used by the code `#[stage]` generates. Not public API: no stability promise.
#[doc(hidden)]
pub mod __private {
    pub use crate::glue::*;
    pub use crate::registry::STAGE_CORE_STAGE_REGISTRY;
    /// `core`, so generated code works in `no_implicit_prelude` modules.
    pub use core;
    pub use linkme;
    pub use serde_json;
}
