//! Values in a run's state: any serde type, stored and read without the runtime knowing it.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A value a stage reads from or writes to the run state.
///
/// Implemented for every type that is `Serialize + DeserializeOwned + Send + Sync + 'static`:
/// derive `serde::Serialize` and `serde::Deserialize` on your output types and they are state
/// values. The runtime stores them type-erased (`Arc<dyn StateValue>`), serializes them for run
/// reports, and deserializes them back through the producing stage's metadata
/// ([`OutputType::deserialize`](crate::OutputType::deserialize)) when a parked run resumes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in the run state",
    label = "not a state value",
    note = "state values are serde types: add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}` (it must also be `Send + Sync + 'static`)"
)]
pub trait StateValue: Any + Send + Sync {
    /// The value as `&dyn Any`, to downcast to its concrete type.
    fn as_any(&self) -> &dyn Any;
    /// The value as `Arc<dyn Any>`, to take ownership of its concrete type.
    fn into_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// The value serialized to JSON.
    fn to_json(&self) -> Result<serde_json::Value, serde_json::Error>;
    /// The value as a type-erased `Serialize`, for a host storing it in a format of its own
    /// (a compact binary one, say); [`OutputType::deserialize_from`](crate::OutputType::deserialize_from)
    /// reads it back.
    fn as_serialize(&self) -> &dyn erased_serde::Serialize;
    /// The concrete type's name, for messages.
    fn type_name(&self) -> &'static str;
}

impl<T> StateValue for T
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn into_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
    fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
    }
    fn as_serialize(&self) -> &dyn erased_serde::Serialize {
        self
    }
    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
}

impl dyn StateValue {
    /// The value as `&T`, when it is a `T`.
    pub fn downcast_ref<T: 'static>(&self) -> Option<&T> {
        self.as_any().downcast_ref::<T>()
    }

    /// Whether the value is a `T`.
    pub fn is<T: 'static>(&self) -> bool {
        self.as_any().type_id() == TypeId::of::<T>()
    }
}

impl fmt::Debug for dyn StateValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_json() {
            Ok(v) => write!(f, "{}({v})", self.type_name()),
            Err(_) => write!(f, "{}(..)", self.type_name()),
        }
    }
}

/// A shared, type-erased state value.
pub type SharedValue = Arc<dyn StateValue>;

/// Takes the concrete value out of a shared value held nowhere else.
///
/// Fails (giving the value back) when it is not a `T` or when another holder shares it.
pub fn take<T: StateValue>(value: SharedValue) -> Result<T, SharedValue> {
    if !value.is::<T>() {
        return Err(value);
    }
    let typed: Arc<T> = match value.into_any_arc().downcast::<T>() {
        Ok(t) => t,
        Err(_) => unreachable!("type checked above"),
    };
    Arc::try_unwrap(typed).map_err(|shared| shared as SharedValue)
}
