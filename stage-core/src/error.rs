//! Errors of a stage call.

/// A boxed error, as stages return them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a stage call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StageError {
    /// A transient failure of something outside the stage (I/O, a timeout, an HTTP 5xx or
    /// 429, a refused connection): the policy retries the call, and the stage's circuit
    /// breaker counts it.
    #[error("{0}")]
    Failed(#[source] BoxError),
    /// A failure that another attempt cannot fix (invalid data, a record that does not
    /// exist, a missing file): the policy does not retry it, and the circuit breaker does
    /// not count it.
    #[error("{0}")]
    Permanent(#[source] BoxError),
    /// The stage panicked; the payload's message. A panic is a bug or bad data: it is not
    /// retried, and the circuit breaker does not count it.
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
    /// A transient failure with a message (retried under the stage's policy): the same as
    /// [`StageError::retryable`] with a message.
    pub fn msg(message: impl Into<String>) -> Self {
        StageError::Failed(message.into().into())
    }

    /// A transient failure: another attempt may succeed (the outside service was down, slow
    /// or overloaded). The policy retries it and the stage's circuit breaker counts it.
    ///
    /// ```
    /// use stage_core::StageError;
    /// let e = StageError::retryable("HTTP 503 from the registry");
    /// assert!(e.is_retryable());
    /// ```
    pub fn retryable(error: impl Into<BoxError>) -> Self {
        StageError::Failed(error.into())
    }

    /// The failure a stage's own error type becomes when the stage does not say (it returns
    /// `Result<T, E>` with its own `E`): transient when its chain of sources holds an I/O
    /// error of a transient kind (a timeout, a refused, reset or aborted connection, an
    /// interrupted call, an unreachable network or host, a busy resource), permanent
    /// otherwise: invalid data, a missing record or file. A `StageError` keeps its kind.
    ///
    /// ```
    /// use std::io;
    /// use stage_core::StageError;
    /// let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
    /// assert!(StageError::classify(Box::new(refused)).is_retryable());
    /// let missing = io::Error::new(io::ErrorKind::NotFound, "no such file");
    /// assert!(!StageError::classify(Box::new(missing)).is_retryable());
    /// assert!(!StageError::classify("no record with id `W0`".into()).is_retryable());
    /// ```
    pub fn classify(error: BoxError) -> Self {
        let error = match error.downcast::<StageError>() {
            Ok(e) => return *e,
            Err(other) => other,
        };
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&*error);
        while let Some(e) = cur {
            if e.downcast_ref::<std::io::Error>().is_some_and(|io| is_transient_io(io.kind())) {
                return StageError::Failed(error);
            }
            cur = e.source();
        }
        StageError::Permanent(error)
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

    /// Whether another attempt may succeed. Only transient failures ([`StageError::Failed`])
    /// and timeouts are retried; panics, input, config and output errors and permanent
    /// failures are not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StageError::Failed(_))
    }
}

/// I/O error kinds that another attempt may not meet.
fn is_transient_io(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::TimedOut
            | K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::BrokenPipe
            | K::Interrupted
            | K::WouldBlock
            | K::AddrInUse
            | K::AddrNotAvailable
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown
            | K::ResourceBusy
    )
}
