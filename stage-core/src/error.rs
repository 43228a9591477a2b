//! Errors of a stage call.

/// A boxed error, as stages return them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a stage call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StageError {
    /// The stage function returned an error.
    #[error("{0}")]
    Failed(#[source] BoxError),
    /// The stage panicked; the payload's message.
    #[error("panicked: {0}")]
    Panicked(String),
    /// A required input is absent from the run state.
    #[error("required input `{key}` is absent from the run state: no upstream stage wrote it")]
    MissingInput {
        /// The state key.
        key: String,
    },
    /// An input holds another type than the stage reads.
    #[error("input `{key}` holds a `{found}`, but the stage reads a `{expected}`")]
    InputType {
        /// The state key.
        key: String,
        /// The type the stage reads.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// The stage's config was not prepared (a runtime bug or a hand-made call).
    #[error("the stage's config (`{expected}`) was not provided")]
    ConfigMissing {
        /// The config type.
        expected: &'static str,
    },
    /// A resource the stage takes was not provided.
    #[error("the resource `{expected}` was not provided")]
    ResourceMissing {
        /// The resource type.
        expected: &'static str,
    },
    /// The output could not be written.
    #[error("output: {0}")]
    Output(String),
}

impl StageError {
    /// A failure with a message.
    pub fn msg(message: impl Into<String>) -> Self {
        StageError::Failed(message.into().into())
    }
}
