//! Errors of a stage call.

/// A boxed error, as stages return them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a stage call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StageError {
    /// The stage function returned an error; the policy may retry the call.
    #[error("{0}")]
    Failed(#[source] BoxError),
    /// The stage function returned an error that another attempt cannot fix (bad input, a
    /// missing file): the policy does not retry it.
    #[error("{0}")]
    Permanent(#[source] BoxError),
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
    /// A failure with a message (retried under the stage's policy).
    pub fn msg(message: impl Into<String>) -> Self {
        StageError::Failed(message.into().into())
    }

    /// A failure that retrying cannot fix: the runtime does not retry it. A stage returning
    /// `Result<T, StageError>` uses it directly; one returning its own error type maps into it.
    ///
    /// ```
    /// use stage_core::StageError;
    /// let e = StageError::permanent("record NCT0 does not exist");
    /// assert!(!e.is_retryable());
    /// assert!(StageError::msg("connection reset").is_retryable());
    /// ```
    pub fn permanent(error: impl Into<BoxError>) -> Self {
        StageError::Permanent(error.into())
    }

    /// Whether another attempt may succeed. Only failures the stage returned, timeouts and
    /// panics are retried; input, config and output errors and permanent failures are not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StageError::Failed(_) | StageError::Panicked(_))
    }
}
