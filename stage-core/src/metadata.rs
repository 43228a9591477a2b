//! What a stage is, as data: [`StageMetadata`] and the descriptors it is built from.
//!
//! The `#[stage]` attribute writes a `StageMetadata` into a `static`; a hand-written
//! registration builds one with the same `const` builder. Everything here is plain data and
//! function pointers, so registration runs no code before `main`.

use std::any::TypeId;
use std::fmt;
use std::sync::Arc;

pub use crate::args::{ConfigValue, ResourceValue};
use crate::args::{InvokeFn, StageArgs};
use crate::value::{SharedValue, StateValue};
use crate::{BoxError, StageError};

/// Version of the metadata layout. A registration built against another version is refused by
/// the registry (see [`RegistryProblem::SchemaVersion`](crate::RegistryProblem)).
pub const SCHEMA_VERSION: u32 = 1;

/// Where a stage writes its output in the run state.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateKey {
    /// The stage writes no key; its raw output is kept in the run's `results` only.
    None,
    /// The stage writes its whole output under one key.
    One(&'static str),
    /// The stage returns a tuple and writes element `i` under key `i`.
    Many(&'static [&'static str]),
}

impl StateKey {
    /// The keys, in order (empty for [`StateKey::None`]).
    pub fn keys(&self) -> &[&'static str] {
        match self {
            StateKey::None => &[],
            StateKey::One(k) => std::slice::from_ref(k),
            StateKey::Many(ks) => ks,
        }
    }
}

impl fmt::Debug for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateKey::None => f.write_str("None"),
            StateKey::One(k) => write!(f, "{k:?}"),
            StateKey::Many(ks) => f.debug_list().entries(ks.iter()).finish(),
        }
    }
}

/// A Rust type, named and identified at run time (built in `const` context).
#[derive(Clone, Copy)]
pub struct TypeRef {
    name: fn() -> &'static str,
    id: fn() -> TypeId,
}

impl TypeRef {
    /// The descriptor of `T`.
    pub const fn of<T: ?Sized + 'static>() -> Self {
        TypeRef { name: std::any::type_name::<T>, id: TypeId::of::<T> }
    }
    /// The type's name, as `std::any::type_name` gives it.
    pub fn name(&self) -> &'static str {
        (self.name)()
    }
    /// The type's `TypeId`.
    pub fn id(&self) -> TypeId {
        (self.id)()
    }
}

impl PartialEq for TypeRef {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl fmt::Debug for TypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One input a stage reads from the run state.
#[derive(Clone, Copy, Debug)]
pub struct InputSpec {
    /// The state key read.
    pub key: &'static str,
    /// The type read (`T` for a `&T` or `Option<&T>` parameter).
    pub ty: TypeRef,
    /// Whether the stage fails when the key is absent (`&T`) or accepts absence (`Option<&T>`).
    pub required: bool,
}

impl InputSpec {
    /// A required input (`key: &T`).
    pub const fn required<T: StateValue>(key: &'static str) -> Self {
        InputSpec { key, ty: TypeRef::of::<T>(), required: true }
    }
    /// An optional input (`key: Option<&T>`).
    pub const fn optional<T: StateValue>(key: &'static str) -> Self {
        InputSpec { key, ty: TypeRef::of::<T>(), required: false }
    }
}

/// The type of one output value, and how to read it back from JSON.
#[derive(Clone, Copy)]
pub struct OutputType {
    ty: TypeRef,
    deserialize: fn(serde_json::Value) -> Result<SharedValue, serde_json::Error>,
    deserialize_from: DeserializeFrom,
    shape: fn() -> Option<crate::shape::Shape>,
}

/// Reads a value of one type from a type-erased deserializer.
type DeserializeFrom =
    fn(&mut dyn erased_serde::Deserializer<'_>) -> Result<SharedValue, erased_serde::Error>;

fn deserialize_from_as<T: StateValue + serde::de::DeserializeOwned>(
    d: &mut dyn erased_serde::Deserializer<'_>,
) -> Result<SharedValue, erased_serde::Error> {
    Ok(Arc::new(erased_serde::deserialize::<T>(d)?))
}

fn deserialize_as<T: StateValue + serde::de::DeserializeOwned>(
    v: serde_json::Value,
) -> Result<SharedValue, serde_json::Error> {
    Ok(Arc::new(serde_json::from_value::<T>(v)?))
}

impl OutputType {
    /// The descriptor of an output of type `T`.
    pub const fn of<T: StateValue + serde::de::DeserializeOwned>() -> Self {
        OutputType {
            ty: TypeRef::of::<T>(),
            deserialize: deserialize_as::<T>,
            deserialize_from: deserialize_from_as::<T>,
            shape: crate::shape::trace::<T>,
        }
    }
    /// The Rust type.
    pub fn ty(&self) -> TypeRef {
        self.ty
    }
    /// The type's structure as serde sees it (fields and their types, traced through its
    /// `Deserialize`), for the plan's fingerprint; `None` when it cannot be traced (a custom
    /// `Deserialize`, an untagged enum, `serde_json::Value` anywhere inside): the fingerprint
    /// then falls back to the type's name. Traced anew on each call.
    pub fn shape(&self) -> Option<crate::shape::Shape> {
        (self.shape)()
    }
    /// Reads a value of this type back from JSON (resuming a stored run).
    pub fn deserialize(&self, v: serde_json::Value) -> Result<SharedValue, serde_json::Error> {
        (self.deserialize)(v)
    }
    /// Reads a value of this type back from any serde format (a host's compact binary
    /// encoding of what [`StateValue::as_serialize`] wrote).
    pub fn deserialize_from(
        &self,
        d: &mut dyn erased_serde::Deserializer<'_>,
    ) -> Result<SharedValue, erased_serde::Error> {
        (self.deserialize_from)(d)
    }
}

impl fmt::Debug for OutputType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.ty.fmt(f)
    }
}

/// The typed configuration a stage takes from its YAML `config:` block.
#[derive(Clone, Copy)]
pub struct ConfigSpec {
    ty: TypeRef,
    parse: fn(serde_json::Value) -> Result<ConfigValue, ConfigError>,
    defaults: fn() -> Result<serde_json::Value, ConfigError>,
}

/// A configuration that does not deserialize into the stage's config type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// Dotted path of the offending field (empty for the block itself).
    pub path: String,
    /// What serde said.
    pub message: String,
}

fn parse_as<C>(v: serde_json::Value) -> Result<ConfigValue, ConfigError>
where
    C: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let v = if v.is_null() { serde_json::Value::Object(Default::default()) } else { v };
    match serde_path_to_error::deserialize::<_, C>(v) {
        Ok(c) => Ok(Arc::new(c)),
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            Err(ConfigError { path, message: e.into_inner().to_string() })
        }
    }
}

fn defaults_of<C>() -> Result<serde_json::Value, ConfigError>
where
    C: serde::de::DeserializeOwned + serde::Serialize + Send + Sync + 'static,
{
    let parsed = parse_as::<C>(serde_json::Value::Object(Default::default()))?;
    let c = parsed.downcast_ref::<C>().expect("parse_as returns a C");
    serde_json::to_value(c).map_err(|e| ConfigError { path: String::new(), message: e.to_string() })
}

impl ConfigSpec {
    /// The descriptor of config type `C`.
    pub const fn of<C>() -> Self
    where
        C: StageConfig,
    {
        ConfigSpec { ty: TypeRef::of::<C>(), parse: parse_as::<C>, defaults: defaults_of::<C> }
    }
    /// The Rust type.
    pub fn ty(&self) -> TypeRef {
        self.ty
    }
    /// Deserializes a `config:` block (JSON `null` or absent means an empty mapping).
    pub fn parse(&self, v: serde_json::Value) -> Result<ConfigValue, ConfigError> {
        (self.parse)(v)
    }
    /// The configuration an empty `config:` block gives, serialized: the config's shape with
    /// its defaults. Fails (naming the first required field) when an empty block is invalid.
    pub fn defaults(&self) -> Result<serde_json::Value, ConfigError> {
        (self.defaults)()
    }
}

impl fmt::Debug for ConfigSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.ty.fmt(f)
    }
}

/// A type usable as a stage's `#[config]`: deserialized from the YAML `config:` block once,
/// when the pipeline is planned, and serialized to describe its defaults.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a stage configuration",
    label = "not a stage configuration",
    note = "configs are serde types: add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`, with `#[serde(default)]` for optional fields"
)]
pub trait StageConfig: serde::de::DeserializeOwned + serde::Serialize + Send + Sync + 'static {}
impl<C: serde::de::DeserializeOwned + serde::Serialize + Send + Sync + 'static> StageConfig for C {}

/// A resource built once per pipeline and shared by every call of the stages that take it
/// (`#[resource] client: &HttpClient`): an HTTP client, an index writer. No global state.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a stage resource",
    note = "implement `stage_core::Resource` for `{Self}`: `fn create(ctx: &ResourceContext) -> Result<Self, BoxError>`"
)]
pub trait Resource: Send + Sync + Sized + 'static {
    /// Builds the resource for one pipeline.
    fn create(ctx: &crate::ResourceContext) -> Result<Self, BoxError>;
}

/// A resource a stage takes.
#[derive(Clone, Copy)]
pub struct ResourceSpec {
    ty: TypeRef,
    create: fn(&crate::ResourceContext) -> Result<ResourceValue, BoxError>,
}

fn create_as<R: Resource>(ctx: &crate::ResourceContext) -> Result<ResourceValue, BoxError> {
    Ok(Arc::new(R::create(ctx)?))
}

impl ResourceSpec {
    /// The descriptor of resource type `R`.
    pub const fn of<R: Resource>() -> Self {
        ResourceSpec { ty: TypeRef::of::<R>(), create: create_as::<R> }
    }
    /// The Rust type.
    pub fn ty(&self) -> TypeRef {
        self.ty
    }
    /// Builds an instance.
    pub fn create(&self, ctx: &crate::ResourceContext) -> Result<ResourceValue, BoxError> {
        (self.create)(ctx)
    }
}

impl fmt::Debug for ResourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.ty.fmt(f)
    }
}

/// Writes a stage's output into the run state under its (possibly overridden) keys.
pub type ApplyFn = fn(SharedValue, &[&str], &mut OutputSink) -> Result<(), StageError>;

/// How a stage's output is written into the run state.
#[derive(Clone, Copy)]
pub struct OutputHandler {
    /// A name for listings: `default` or the path given with `handler = path`.
    pub name: &'static str,
    /// The function.
    pub apply: ApplyFn,
}

impl fmt::Debug for OutputHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// How a stage's output is counted for metrics.
#[derive(Clone, Copy)]
pub struct OutputCounter {
    /// A name for listings: `default` or the path given with `counter = path`.
    pub name: &'static str,
    /// The function; an `Err` counts 0 and is logged.
    pub count: fn(&dyn StateValue) -> Result<u64, String>,
}

impl fmt::Debug for OutputCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// The values a stage call writes, in key order; filled by the output handler.
#[derive(Debug, Default)]
pub struct OutputSink {
    written: Vec<(String, SharedValue)>,
}

impl OutputSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }
    /// An empty sink writing into `buffer` (cleared): a run reuses one buffer stage after stage.
    pub(crate) fn reusing(mut buffer: Vec<(String, SharedValue)>) -> Self {
        buffer.clear();
        OutputSink { written: buffer }
    }
    /// Writes `value` under `key`.
    pub fn write(&mut self, key: &str, value: SharedValue) {
        self.written.push((key.to_owned(), value));
    }
    /// What was written, in order.
    pub fn into_written(self) -> Vec<(String, SharedValue)> {
        self.written
    }
    /// What was written so far.
    pub fn written(&self) -> &[(String, SharedValue)] {
        &self.written
    }
}

/// Where a stage was defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The defining crate's package name.
    pub crate_name: &'static str,
    /// `module_path!()` at the definition.
    pub module_path: &'static str,
    /// `file!()` at the definition.
    pub file: &'static str,
    /// `line!()` at the definition.
    pub line: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}:{})", self.module_path, self.file, self.line)
    }
}

/// Everything the runtime knows about a stage type. Built in a `static` by `#[stage]`, or by
/// hand with [`StageMetadata::new`] and the `const` builder methods.
///
/// ```
/// use stage_core::{Location, StageMetadata, StateKey};
/// # use stage_core::__private::{StageArgs, InvokeResult};
/// # fn invoke(_: &StageArgs<'_>) -> InvokeResult { Ok(None) }
/// static NOOP: StageMetadata = StageMetadata::new(
///     "noop",
///     "Does nothing.",
///     invoke,
///     Location { crate_name: "demo", module_path: "demo", file: file!(), line: line!() },
/// )
/// .with_version("1.0.0");
/// assert_eq!(NOOP.stage_type(), "noop");
/// assert_eq!(*NOOP.state_key(), StateKey::None);
/// ```
#[derive(Clone, Copy)]
pub struct StageMetadata {
    schema_version: u32,
    stage_type: &'static str,
    state_key: StateKey,
    inputs: &'static [InputSpec],
    outputs: &'static [OutputType],
    may_skip: bool,
    config: Option<ConfigSpec>,
    resources: &'static [ResourceSpec],
    description: &'static str,
    dependencies: &'static [&'static str],
    version: &'static str,
    location: Location,
    output_handler: OutputHandler,
    output_counter: OutputCounter,
    invoke: InvokeFn,
    parks: bool,
    replaces: bool,
    macro_checked: bool,
}

fn apply_none(_: SharedValue, _: &[&str], _: &mut OutputSink) -> Result<(), StageError> {
    Ok(())
}

fn count_unknown(_: &dyn StateValue) -> Result<u64, String> {
    Err("no output counter was declared".to_owned())
}

impl StageMetadata {
    /// A stage type that takes nothing, writes no key and counts nothing; refine it with the
    /// builder methods. The schema version is [`SCHEMA_VERSION`].
    pub const fn new(
        stage_type: &'static str,
        description: &'static str,
        invoke: InvokeFn,
        location: Location,
    ) -> Self {
        StageMetadata {
            schema_version: SCHEMA_VERSION,
            stage_type,
            state_key: StateKey::None,
            inputs: &[],
            outputs: &[],
            may_skip: false,
            config: None,
            resources: &[],
            description,
            dependencies: &[],
            version: "0.0.0",
            location,
            output_handler: OutputHandler { name: "none", apply: apply_none },
            output_counter: OutputCounter { name: "none", count: count_unknown },
            invoke,
            parks: false,
            replaces: false,
            macro_checked: false,
        }
    }
    /// Sets where the output is written.
    pub const fn with_state_key(mut self, state_key: StateKey) -> Self {
        self.state_key = state_key;
        self
    }
    /// Sets the inputs, in parameter order.
    pub const fn with_inputs(mut self, inputs: &'static [InputSpec]) -> Self {
        self.inputs = inputs;
        self
    }
    /// Sets the output types: one per key, or one for the raw output when no key is written.
    /// `may_skip`: the stage may write nothing (it returns `Option`).
    pub const fn with_outputs(mut self, outputs: &'static [OutputType], may_skip: bool) -> Self {
        self.outputs = outputs;
        self.may_skip = may_skip;
        self
    }
    /// Sets the config type.
    pub const fn with_config(mut self, config: ConfigSpec) -> Self {
        self.config = Some(config);
        self
    }
    /// Sets the resources, in parameter order.
    pub const fn with_resources(mut self, resources: &'static [ResourceSpec]) -> Self {
        self.resources = resources;
        self
    }
    /// Sets the stage types (or `@resources`) required upstream.
    pub const fn with_dependencies(mut self, dependencies: &'static [&'static str]) -> Self {
        self.dependencies = dependencies;
        self
    }
    /// Sets the version.
    pub const fn with_version(mut self, version: &'static str) -> Self {
        self.version = version;
        self
    }
    /// Sets the output handler.
    pub const fn with_output_handler(mut self, handler: OutputHandler) -> Self {
        self.output_handler = handler;
        self
    }
    /// Sets the output counter.
    pub const fn with_output_counter(mut self, counter: OutputCounter) -> Self {
        self.output_counter = counter;
        self
    }
    /// Declares that the stage may park a run (a gate).
    pub const fn with_parks(mut self, parks: bool) -> Self {
        self.parks = parks;
        self
    }
    /// Declares a deliberate replacement of another registration of the same stage type.
    pub const fn with_replaces(mut self, replaces: bool) -> Self {
        self.replaces = replaces;
        self
    }
    /// Sets the schema version, for tools that emit registrations for another `stage-core`
    /// version; the registry refuses any version but [`SCHEMA_VERSION`].
    pub const fn with_schema_version(mut self, v: u32) -> Self {
        self.schema_version = v;
        self
    }
    /// What `#[stage]` emits: every field in one call (cheaper for the compiler than the
    /// builder chain: one call to evaluate, no method lookups), checked by the macro. The type
    /// descriptors come first: type-checked before the call glue that uses the same types, a
    /// type that breaks a rule is reported with that rule's message.
    #[doc(hidden)]
    #[expect(
        clippy::too_many_arguments,
        reason = "one call per registration, every field in order, written by the macro"
    )]
    pub const fn __from_macro(
        outputs: &'static [OutputType],
        inputs: &'static [InputSpec],
        config: Option<ConfigSpec>,
        resources: &'static [ResourceSpec],
        invoke: InvokeFn,
        stage_type: &'static str,
        description: &'static str,
        state_key: StateKey,
        may_skip: bool,
        dependencies: &'static [&'static str],
        version: &'static str,
        handler_name: &'static str,
        handler: ApplyFn,
        counter_name: &'static str,
        counter: fn(&dyn StateValue) -> Result<u64, String>,
        parks: bool,
        replaces: bool,
        crate_name: &'static str,
        module_path: &'static str,
        file: &'static str,
        line: u32,
    ) -> Self {
        StageMetadata {
            schema_version: SCHEMA_VERSION,
            stage_type,
            state_key,
            inputs,
            outputs,
            may_skip,
            config,
            resources,
            description,
            dependencies,
            version,
            location: Location { crate_name, module_path, file, line },
            output_handler: OutputHandler { name: handler_name, apply: handler },
            output_counter: OutputCounter { name: counter_name, count: counter },
            invoke,
            parks,
            replaces,
            macro_checked: true,
        }
    }
    #[doc(hidden)]
    pub const fn __macro_checked(mut self) -> Self {
        self.macro_checked = true;
        self
    }

    /// The layout version this registration was built against.
    pub fn schema_version(&self) -> u32 {
        self.schema_version
    }
    /// The stage type pipelines name in `type:`.
    pub fn stage_type(&self) -> &'static str {
        self.stage_type
    }
    /// Where the output is written.
    pub fn state_key(&self) -> &StateKey {
        &self.state_key
    }
    /// The inputs read from the run state.
    pub fn inputs(&self) -> &'static [InputSpec] {
        self.inputs
    }
    /// The output types (one per key, or one for the raw output).
    pub fn outputs(&self) -> &'static [OutputType] {
        self.outputs
    }
    /// Whether the stage may write nothing (an `Option` output).
    pub fn may_skip(&self) -> bool {
        self.may_skip
    }
    /// The config type, when the stage takes one.
    pub fn config(&self) -> Option<&ConfigSpec> {
        self.config.as_ref()
    }
    /// The resources the stage takes.
    pub fn resources(&self) -> &'static [ResourceSpec] {
        self.resources
    }
    /// What the stage does.
    pub fn description(&self) -> &'static str {
        self.description
    }
    /// Stage types (or `@resources`) that must be upstream of the stage.
    pub fn dependencies(&self) -> &'static [&'static str] {
        self.dependencies
    }
    /// The stage's version (by default its crate's).
    pub fn version(&self) -> &'static str {
        self.version
    }
    /// Where the stage was defined.
    pub fn location(&self) -> Location {
        self.location
    }
    /// How the output is written.
    pub fn output_handler(&self) -> OutputHandler {
        self.output_handler
    }
    /// How the output is counted.
    pub fn output_counter(&self) -> OutputCounter {
        self.output_counter
    }
    /// Whether the stage may park a run (it is a gate).
    pub fn parks(&self) -> bool {
        self.parks
    }
    /// Whether the registration deliberately replaces another of the same type.
    pub fn is_replacement(&self) -> bool {
        self.replaces
    }
    pub(crate) fn macro_checked(&self) -> bool {
        self.macro_checked
    }
    /// Calls the stage with its arguments: the glue `#[stage]` generated.
    pub fn invoke(&self, args: &StageArgs<'_>) -> Result<Option<SharedValue>, StageError> {
        (self.invoke)(args)
    }
}

impl fmt::Debug for StageMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageMetadata")
            .field("schema_version", &self.schema_version)
            .field("stage_type", &self.stage_type)
            .field("state_key", &self.state_key)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("may_skip", &self.may_skip)
            .field("config", &self.config)
            .field("resources", &self.resources)
            .field("description", &self.description)
            .field("dependencies", &self.dependencies)
            .field("version", &self.version)
            .field("location", &self.location)
            .field("output_handler", &self.output_handler)
            .field("output_counter", &self.output_counter)
            .field("parks", &self.parks)
            .field("replaces", &self.replaces)
            .finish()
    }
}
