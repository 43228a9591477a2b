//! The glue between a stage function and the runtime: argument fetching, return conversion,
//! default output handlers and counters. `#[stage]` generates a few lines that call these.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

pub use crate::args::{InvokeFn, InvokeResult, StageArgs};
use crate::metadata::{OutputSink, ResourceValue};
use crate::value::{take, SharedValue, StateValue};
use crate::StageError;

/// Turns what a stage function returns into the runtime's output. `K` is the return's kind,
/// which `#[stage]` reads from the written return type (`T`, `Option<T>`, `Result<T, E>`,
/// `Result<Option<T>, E>`).
pub trait Returns<K> {
    /// The value written (a tuple when the stage writes several keys).
    type Value: StateValue;
    /// Converts the return.
    fn into_output(self) -> InvokeResult;
}

/// Return-kind markers.
pub mod kind {
    /// `T`
    pub struct Plain;
    /// `Option<T>`
    pub struct Opt;
    /// `Result<T, E>`
    pub struct Res;
    /// `Result<Option<T>, E>`
    pub struct ResOpt;
}

/// An error type a stage may return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a stage's error type",
    label = "the error of this `Result`",
    note = "a stage returns `Result<T, E>` with `E: std::error::Error + Send + Sync + 'static`; derive `thiserror::Error` for your error, or map it into one"
)]
pub trait StageFailure {
    /// Boxes the error.
    fn into_stage_error(self) -> StageError;
}

impl<E: std::error::Error + Send + Sync + 'static> StageFailure for E {
    fn into_stage_error(self) -> StageError {
        // A stage returning `StageError` itself keeps its variant; any other error is
        // transient or permanent by what its chain of sources holds.
        StageError::classify(Box::new(self))
    }
}

impl<T: StateValue> Returns<kind::Plain> for T {
    type Value = T;
    #[inline]
    fn into_output(self) -> InvokeResult {
        Ok(Some(Arc::new(self)))
    }
}

impl<T: StateValue> Returns<kind::Opt> for Option<T> {
    type Value = T;
    #[inline]
    fn into_output(self) -> InvokeResult {
        Ok(self.map(|v| Arc::new(v) as SharedValue))
    }
}

impl<T: StateValue, E: StageFailure> Returns<kind::Res> for Result<T, E> {
    type Value = T;
    #[inline]
    fn into_output(self) -> InvokeResult {
        match self {
            Ok(v) => Ok(Some(Arc::new(v))),
            Err(e) => Err(e.into_stage_error()),
        }
    }
}

impl<T: StateValue, E: StageFailure> Returns<kind::ResOpt> for Result<Option<T>, E> {
    type Value = T;
    #[inline]
    fn into_output(self) -> InvokeResult {
        match self {
            Ok(v) => Ok(v.map(|v| Arc::new(v) as SharedValue)),
            Err(e) => Err(e.into_stage_error()),
        }
    }
}

/// How many items a stage produced, for metrics (`stage.<name>.output_count`).
///
/// Collections count their elements, `Option` 0 or 1, tuples the sum of their elements, `()`
/// 0, a JSON value its elements (array, object) or 1 (0 for `null`). Implement it for your own
/// output types, or name a counter with `#[stage(counter = path)]`:
///
/// ```
/// use stage_core::OutputCount;
/// struct GraphReceipt { nodes_written: u64 }
/// impl OutputCount for GraphReceipt {
///     fn output_count(&self) -> u64 { self.nodes_written }
/// }
/// assert_eq!((vec![1, 2], Some(3)).output_count(), 3);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no output count",
    label = "the stage's output",
    note = "implement `stage_core::OutputCount` for `{Self}` (how many items the stage produced), or name a counter: `#[stage(counter = path::to::fn)]` with `fn(&{Self}) -> u64`"
)]
pub trait OutputCount {
    /// The number of items.
    fn output_count(&self) -> u64;
}

macro_rules! count_len {
    ($($ty:ty => [$($g:tt)*]),* $(,)?) => {$(
        impl<$($g)*> OutputCount for $ty {
            fn output_count(&self) -> u64 { self.len() as u64 }
        }
    )*};
}
count_len! {
    Vec<T> => [T],
    VecDeque<T> => [T],
    [T] => [T],
    BTreeSet<T> => [T],
    HashSet<T, S> => [T, S],
    BTreeMap<K, V> => [K, V],
    HashMap<K, V, S> => [K, V, S],
}

impl<T, const N: usize> OutputCount for [T; N] {
    fn output_count(&self) -> u64 {
        N as u64
    }
}

impl<T> OutputCount for Option<T> {
    fn output_count(&self) -> u64 {
        u64::from(self.is_some())
    }
}

impl<T: OutputCount + ?Sized> OutputCount for Box<T> {
    fn output_count(&self) -> u64 {
        (**self).output_count()
    }
}

impl<T: OutputCount + ?Sized> OutputCount for Arc<T> {
    fn output_count(&self) -> u64 {
        (**self).output_count()
    }
}

impl OutputCount for () {
    fn output_count(&self) -> u64 {
        0
    }
}

impl OutputCount for serde_json::Value {
    fn output_count(&self) -> u64 {
        match self {
            serde_json::Value::Null => 0,
            serde_json::Value::Array(a) => a.len() as u64,
            serde_json::Value::Object(o) => o.len() as u64,
            _ => 1,
        }
    }
}

/// A tuple written under several keys, one element per key.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be written under several state keys",
    note = "a stage with a list of state keys returns a tuple with one element per key (2 to 8 keys)"
)]
pub trait SplitOutput: StateValue + Sized {
    /// The number of elements.
    const ARITY: usize;
    /// The elements, each shared on its own.
    fn split(self) -> Vec<SharedValue>;
}

macro_rules! tuples {
    ($( ($($t:ident $i:tt),+) )*) => {$(
        impl<$($t: OutputCount),+> OutputCount for ($($t,)+) {
            fn output_count(&self) -> u64 { 0 $(+ self.$i.output_count())+ }
        }
        impl<$($t: StateValue + serde::Serialize + serde::de::DeserializeOwned),+> SplitOutput for ($($t,)+) {
            const ARITY: usize = [$($i),+].len();
            fn split(self) -> Vec<SharedValue> { vec![$(Arc::new(self.$i) as SharedValue),+] }
        }
    )*};
}
tuples! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
}

/// Default handler for one key: the output is written whole under it.
pub fn apply_one(value: SharedValue, keys: &[&str], sink: &mut OutputSink) -> Result<(), StageError> {
    match keys {
        [key] => {
            sink.write(key, value);
            Ok(())
        }
        _ => Err(StageError::Output(format!("one state key expected, {} given", keys.len()))),
    }
}

/// Default handler for several keys: tuple element `i` is written under key `i`.
pub fn apply_split<T: SplitOutput>(
    value: SharedValue,
    keys: &[&str],
    sink: &mut OutputSink,
) -> Result<(), StageError> {
    if keys.len() != T::ARITY {
        return Err(StageError::Output(format!(
            "the output is a {}-tuple but {} state keys are declared",
            T::ARITY,
            keys.len()
        )));
    }
    let tuple: T = take(value).map_err(|v| {
        StageError::Output(format!("expected a `{}`, got `{}`", std::any::type_name::<T>(), v.type_name()))
    })?;
    for (key, v) in keys.iter().zip(tuple.split()) {
        sink.write(key, v);
    }
    Ok(())
}

/// Default handler for a stage that writes no key: nothing is written (the raw output is kept
/// in `results`).
pub fn apply_none(_: SharedValue, _: &[&str], _: &mut OutputSink) -> Result<(), StageError> {
    Ok(())
}

/// Default counter: [`OutputCount`] on the output type.
pub fn count_default<T: OutputCount + StateValue>(value: &dyn StateValue) -> Result<u64, String> {
    value
        .downcast_ref::<T>()
        .map(OutputCount::output_count)
        .ok_or_else(|| format!("expected a `{}`, got `{}`", std::any::type_name::<T>(), value.type_name()))
}

/// Calls a user counter (`counter = path`) on the typed output.
pub fn count_with<T: StateValue>(value: &dyn StateValue, f: fn(&T) -> u64) -> Result<u64, String> {
    value
        .downcast_ref::<T>()
        .map(f)
        .ok_or_else(|| format!("expected a `{}`, got `{}`", std::any::type_name::<T>(), value.type_name()))
}

/// Calls a user handler (`handler = path`) on the typed output.
pub fn apply_with<T: StateValue>(
    value: SharedValue,
    keys: &[&str],
    sink: &mut OutputSink,
    f: fn(T, &[&str], &mut OutputSink) -> Result<(), StageError>,
) -> Result<(), StageError> {
    let typed: T = take(value).map_err(|v| {
        StageError::Output(format!("expected a `{}`, got `{}`", std::any::type_name::<T>(), v.type_name()))
    })?;
    f(typed, keys, sink)
}

/// Resource instances for one call, by position. Used by the runtime.
pub fn resource_refs(resources: &[ResourceValue]) -> Vec<&(dyn Any + Send + Sync)> {
    resources.iter().map(|r| &**r).collect()
}
