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
//! | `name: &[T]`, `name: Option<&[T]>` | the `Vec<T>` stored under `name`, lent as a slice |
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
//! (a deliberate replacement of another registration of the type: listed by
//! [`StageRegistry::replacements`], refused by [`StageRegistry::check_strict`] unless allowed),
//! `tuple_value` (a one-key stage that returns a tuple stores it whole under its key; without
//! it, that is a compile error, since a tuple is the shape of a several-key stage),
//! `crate = path` (where stage-core is, when renamed).
//!
//! ## Linking plugin crates
//!
//! Stages register at link time. A crate that is listed in `Cargo.toml` but never named in
//! code is not linked at all, and its stages silently vanish. Name each plugin crate once
//! (`use my_plugin as _;`) and check at start-up that what you expect is there with
//! [`StageRegistry::require`] (`stagectl --require TYPE,...`); `#![warn(unused_crate_dependencies)]`
//! in the host flags a plugin listed but never named.
//!
//! ## Architecture
//!
//! The modules form layers, each using only those below it (no cycles). Leaves: `naming`,
//! `suggest`, `error`, `value`, `hash`, `shape`. Then [`spec`] (pipeline files, and the
//! located YAML and diagnostics that policy files share); `context` and `args` (what a call
//! gets); `metadata` (what a stage is) and `glue` (what `#[stage]` generates, over both);
//! [`policy`], `registry`, `fingerprint`, [`gate`]; then [`plan`], which binds a spec to the
//! registry; and on top [`run`] and [`testing`], which run plans.
#![warn(missing_docs)]

// Lets `#[stage]` (which names `::stage_core`) work inside this crate's own tests.
#[expect(unused_extern_crates, reason = "named only by `#[stage]` code in this crate's tests")]
extern crate self as stage_core;

mod args;
mod context;
mod error;
mod fingerprint;
pub mod gate;
mod glue;
mod hash;
mod metadata;
/// ```
/// use stage_core::naming::{is_identifier, is_valid_stage_type, RESERVED_KEYS};
///
/// assert!(is_valid_stage_type("extract-text"));
/// assert!(!is_valid_stage_type("extract text"));
/// assert!(is_identifier("chunks") && !is_identifier("_") && !is_identifier("2nd"));
/// assert!(RESERVED_KEYS.contains(&"payload"));
/// ```
pub mod naming;
pub mod plan;
pub mod policy;
mod registry;
pub mod run;
mod shape;
pub mod spec;
pub mod suggest;
pub mod testing;
mod value;

pub use args::StageArgs;
pub use context::{
    CancelToken, Clock, FakeClock, HostSettings, InMemoryLedger, Job, Ledger, ResourceContext, StageContext,
    SystemClock,
};
pub use error::{BoxError, StageError};
pub use fingerprint::{Fingerprint, StageFingerprint};
pub use glue::{OutputCount, SplitOutput};
pub use metadata::{
    ApplyFn, ConfigError, ConfigSpec, ConfigValue, InputSpec, Location, OutputCounter, OutputHandler,
    OutputSink, OutputType, Resource, ResourceSpec, ResourceValue, StageConfig, StageMetadata, StateKey,
    TypeRef, SCHEMA_VERSION,
};
pub use naming::{is_valid_stage_type, RESERVED_KEYS};
pub use plan::{Plan, PlanError, PlanOptions, StageFactory};
pub use registry::{
    crate_relative, validate, RegistryBuilder, RegistryError, RegistryProblem, Replacement, StageRegistry,
    UnknownStageType,
};
pub use run::{RunOutcome, RunReport, RunState, RunStatus, Runner, StageStatus};
pub use shape::Shape;
/// How serious a problem is: one scale for pipeline-file diagnostics and registry problems.
pub use spec::Severity;
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

    use crate::{StageContext, StageError, StateValue};

    // The call glue. A stage's `InvokeFn` is one call of a `call*` function below, given the
    // stage function, one fetcher per parameter (`fetch_*`) and the conversions of its return
    // (`Returns::into_output`, `StageFailure::into_stage_error`), all as function pointers: a
    // `call*` function is compiled once per signature and a fetcher once per type, not once
    // per stage. The generated code names the bounded functions, so a type that breaks a bound
    // is reported in the stage's own code, at the type; the `call*` functions have no bounds
    // (generic parameters for the fetchers, instead of pointers, would be checked at the call,
    // and report such a type a second time, at the attribute).

    /// Fetches one argument of a stage call.
    pub type Fetch<'a, X> = fn(&StageArgs<'a>) -> Result<X, StageError>;

    /// Fetches the context.
    pub fn fetch_context<'a>(args: &StageArgs<'a>) -> Result<&'a StageContext, StageError> {
        Ok(args.context())
    }

    /// Fetches input `I`, required.
    pub fn fetch_input<'a, T: StateValue, const I: usize>(args: &StageArgs<'a>) -> Result<&'a T, StageError> {
        args.input::<T>(I)
    }

    /// Fetches input `I`, optional.
    pub fn fetch_optional_input<'a, T: StateValue, const I: usize>(
        args: &StageArgs<'a>,
    ) -> Result<Option<&'a T>, StageError> {
        args.optional_input::<T>(I)
    }

    /// Fetches input `I`, required, stored as a `Vec<T>` and lent as a slice (`&[T]` inputs).
    pub fn fetch_slice_input<'a, T, const I: usize>(args: &StageArgs<'a>) -> Result<&'a [T], StageError>
    where
        Vec<T>: StateValue,
    {
        args.input::<Vec<T>>(I).map(Vec::as_slice)
    }

    /// Fetches input `I`, optional, stored as a `Vec<T>` and lent as a slice.
    pub fn fetch_optional_slice_input<'a, T, const I: usize>(
        args: &StageArgs<'a>,
    ) -> Result<Option<&'a [T]>, StageError>
    where
        Vec<T>: StateValue,
    {
        args.optional_input::<Vec<T>>(I).map(|v| v.map(Vec::as_slice))
    }

    /// Fetches the config.
    pub fn fetch_config<'a, C: 'static>(args: &StageArgs<'a>) -> Result<&'a C, StageError> {
        args.config::<C>()
    }

    /// Fetches resource `I`.
    pub fn fetch_resource<'a, R: 'static, const I: usize>(args: &StageArgs<'a>) -> Result<&'a R, StageError> {
        args.resource::<R>(I)
    }

    macro_rules! call_fns {
        ($($n:literal: $plain:ident $opt:ident $res:ident $res_opt:ident ($($a:ident $x:ident),*);)*) => {$(
            #[doc = concat!("Calls a stage function of ", $n, " parameters that returns `T`.")]
            #[inline(never)]
            #[allow(unused_variables, clippy::too_many_arguments, reason = "one function per arity: the 0-ary ones leave `args` unused, the long ones take many arguments")]
            pub fn $plain<'a, $($a,)* T>(
                args: &StageArgs<'a>,
                f: fn($($a),*) -> T,
                $($x: Fetch<'a, $a>,)*
                ok: fn(T) -> InvokeResult,
            ) -> InvokeResult {
                $(let $x = $x(args)?;)*
                ok(f($($x),*))
            }

            #[doc = concat!("Calls a stage function of ", $n, " parameters that returns `Option<T>`.")]
            #[inline(never)]
            #[allow(unused_variables, clippy::too_many_arguments, reason = "one function per arity: the 0-ary ones leave `args` unused, the long ones take many arguments")]
            pub fn $opt<'a, $($a,)* T>(
                args: &StageArgs<'a>,
                f: fn($($a),*) -> Option<T>,
                $($x: Fetch<'a, $a>,)*
                ok: fn(T) -> InvokeResult,
            ) -> InvokeResult {
                $(let $x = $x(args)?;)*
                match f($($x),*) {
                    Some(v) => ok(v),
                    None => Ok(None),
                }
            }

            #[doc = concat!("Calls a stage function of ", $n, " parameters that returns `Result<T, E>`.")]
            #[inline(never)]
            #[allow(unused_variables, clippy::too_many_arguments, reason = "one function per arity: the 0-ary ones leave `args` unused, the long ones take many arguments")]
            pub fn $res<'a, $($a,)* T, E>(
                args: &StageArgs<'a>,
                f: fn($($a),*) -> Result<T, E>,
                $($x: Fetch<'a, $a>,)*
                ok: fn(T) -> InvokeResult,
                fail: fn(E) -> StageError,
            ) -> InvokeResult {
                $(let $x = $x(args)?;)*
                match f($($x),*) {
                    Ok(v) => ok(v),
                    Err(e) => Err(fail(e)),
                }
            }

            #[doc = concat!("Calls a stage function of ", $n, " parameters that returns `Result<Option<T>, E>`.")]
            #[inline(never)]
            #[allow(unused_variables, clippy::too_many_arguments, reason = "one function per arity: the 0-ary ones leave `args` unused, the long ones take many arguments")]
            pub fn $res_opt<'a, $($a,)* T, E>(
                args: &StageArgs<'a>,
                f: fn($($a),*) -> Result<Option<T>, E>,
                $($x: Fetch<'a, $a>,)*
                ok: fn(T) -> InvokeResult,
                fail: fn(E) -> StageError,
            ) -> InvokeResult {
                $(let $x = $x(args)?;)*
                match f($($x),*) {
                    Ok(Some(v)) => ok(v),
                    Ok(None) => Ok(None),
                    Err(e) => Err(fail(e)),
                }
            }
        )*};
    }

    // Up to `MAX_SHARED_CALL_ARITY` in stage-derive's `expand.rs`.
    call_fns! {
        0: call0 call0_opt call0_res call0_res_opt ();
        1: call1 call1_opt call1_res call1_res_opt (A0 a0);
        2: call2 call2_opt call2_res call2_res_opt (A0 a0, A1 a1);
        3: call3 call3_opt call3_res call3_res_opt (A0 a0, A1 a1, A2 a2);
        4: call4 call4_opt call4_res call4_res_opt (A0 a0, A1 a1, A2 a2, A3 a3);
        5: call5 call5_opt call5_res call5_res_opt (A0 a0, A1 a1, A2 a2, A3 a3, A4 a4);
        6: call6 call6_opt call6_res call6_res_opt (A0 a0, A1 a1, A2 a2, A3 a3, A4 a4, A5 a5);
        7: call7 call7_opt call7_res call7_res_opt (A0 a0, A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6);
        8: call8 call8_opt call8_res call8_res_opt (A0 a0, A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6, A7 a7);
        9: call9 call9_opt call9_res call9_res_opt (A0 a0, A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6, A7 a7, A8 a8);
        10: call10 call10_opt call10_res call10_res_opt (A0 a0, A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6, A7 a7, A8 a8, A9 a9);
        11: call11 call11_opt call11_res call11_res_opt (A0 a0, A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6, A7 a7, A8 a8, A9 a9, A10 a10);
        12: call12 call12_opt call12_res call12_res_opt (A0 a0, A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6, A7 a7, A8 a8, A9 a9, A10 a10, A11 a11);
    }
}
