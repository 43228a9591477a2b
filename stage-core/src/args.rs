//! The arguments of one stage call and the signature of the call itself: the interface
//! between a stage's metadata (which holds its [`InvokeFn`]) and the glue `#[stage]`
//! generates (which fetches from [`StageArgs`]). A leaf below both, so that neither needs the
//! other's module for it.

use std::any::Any;
use std::cell::OnceCell;
use std::sync::Arc;

use crate::value::{SharedValue, StateValue};
use crate::{StageContext, StageError};

/// A parsed, typed stage configuration, shared by every call of the stage in one pipeline.
pub type ConfigValue = Arc<dyn Any + Send + Sync>;

/// A resource instance, shared by the stages of one pipeline.
pub type ResourceValue = Arc<dyn Any + Send + Sync>;

/// What a stage's generated glue returns: the output (type-erased), or `None` when the
/// stage returned `None` and writes nothing.
pub type InvokeResult = Result<Option<SharedValue>, StageError>;

/// The glue `#[stage]` generates: fetch the arguments, call the function, convert its return.
pub type InvokeFn = fn(&StageArgs<'_>) -> InvokeResult;

/// Where a call's context comes from: given, or built on first use (the runtime builds none
/// for a stage that takes no context).
#[derive(Clone, Copy)]
enum ContextSource<'a> {
    Given(&'a StageContext),
    Lazy { cell: &'a OnceCell<StageContext>, make: &'a dyn Fn() -> StageContext },
}

/// The arguments of one stage call, in the order of the stage's metadata.
pub struct StageArgs<'a> {
    context: ContextSource<'a>,
    inputs: &'a [Option<&'a dyn StateValue>],
    input_keys: &'a [&'a str],
    config: Option<&'a (dyn Any + Send + Sync)>,
    resources: &'a [&'a (dyn Any + Send + Sync)],
}

impl<'a> StageArgs<'a> {
    /// Arguments for a call: the context, each input (by position, `None` when absent, with
    /// the key it was read from), the parsed config and the resources.
    pub fn new(
        context: &'a StageContext,
        inputs: &'a [Option<&'a dyn StateValue>],
        input_keys: &'a [&'a str],
        config: Option<&'a ConfigValue>,
        resources: &'a [&'a (dyn Any + Send + Sync)],
    ) -> Self {
        StageArgs {
            context: ContextSource::Given(context),
            inputs,
            input_keys,
            config: config.map(|c| &**c),
            resources,
        }
    }

    /// The same, with a context built by `make` into `cell` when the stage first asks for it.
    pub(crate) fn with_lazy_context(
        cell: &'a OnceCell<StageContext>,
        make: &'a dyn Fn() -> StageContext,
        inputs: &'a [Option<&'a dyn StateValue>],
        input_keys: &'a [&'a str],
        config: Option<&'a ConfigValue>,
        resources: &'a [&'a (dyn Any + Send + Sync)],
    ) -> Self {
        StageArgs {
            context: ContextSource::Lazy { cell, make },
            inputs,
            input_keys,
            config: config.map(|c| &**c),
            resources,
        }
    }

    /// The run context.
    pub fn context(&self) -> &'a StageContext {
        match self.context {
            ContextSource::Given(c) => c,
            ContextSource::Lazy { cell, make } => cell.get_or_init(make),
        }
    }

    fn key(&self, i: usize) -> String {
        self.input_keys.get(i).copied().unwrap_or("?").to_owned()
    }

    fn typed<T: StateValue>(&self, i: usize, v: &'a dyn StateValue) -> Result<&'a T, StageError> {
        v.downcast_ref::<T>().ok_or_else(|| StageError::InputType {
            key: self.key(i),
            expected: std::any::type_name::<T>(),
            found: v.type_name(),
        })
    }

    /// Input `i`, required.
    pub fn input<T: StateValue>(&self, i: usize) -> Result<&'a T, StageError> {
        match self.inputs.get(i).copied().flatten() {
            Some(v) => self.typed(i, v),
            None => Err(StageError::MissingInput { key: self.key(i) }),
        }
    }

    /// Input `i`, optional.
    pub fn optional_input<T: StateValue>(&self, i: usize) -> Result<Option<&'a T>, StageError> {
        match self.inputs.get(i).copied().flatten() {
            Some(v) => self.typed(i, v).map(Some),
            None => Ok(None),
        }
    }

    /// The parsed config.
    pub fn config<C: 'static>(&self) -> Result<&'a C, StageError> {
        self.config
            .and_then(|c| c.downcast_ref::<C>())
            .ok_or(StageError::ConfigMissing { expected: std::any::type_name::<C>() })
    }

    /// Resource `i`.
    pub fn resource<R: 'static>(&self, i: usize) -> Result<&'a R, StageError> {
        self.resources
            .get(i)
            .and_then(|r| r.downcast_ref::<R>())
            .ok_or(StageError::ResourceMissing { expected: std::any::type_name::<R>() })
    }
}
