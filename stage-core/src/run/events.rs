//! Lifecycle events of a run, sent to a pluggable sink.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// What happened to a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// The stage started.
    Started,
    /// An attempt failed and will be retried after `backoff_ms`.
    Retrying {
        /// The attempt that failed (1-based).
        attempt: u32,
        /// The pause before the next attempt.
        backoff_ms: u64,
        /// Why it failed.
        reason: String,
    },
    /// The stage failed for good.
    Failed {
        /// The last attempt (1-based).
        attempt: u32,
        /// Why.
        error: String,
    },
    /// The stage completed.
    Completed {
        /// The successful attempt (1-based).
        attempt: u32,
        /// How long the stage took, all attempts included.
        duration_ms: u64,
        /// What its output counter counted.
        output_count: u64,
    },
    /// The stage (a gate) parked the run.
    Parked {
        /// Why.
        reason: String,
    },
    /// The stage did not run.
    Skipped {
        /// Why.
        reason: String,
    },
}

/// A lifecycle event of one stage of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The job.
    pub job_id: String,
    /// The stage's name in the pipeline.
    pub stage: String,
    /// The stage's type.
    pub stage_type: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Where lifecycle events go. Called from worker threads.
pub trait EventSink: Send + Sync {
    /// Receives one event.
    fn event(&self, event: &Event);
    /// Whether the sink wants events of this kind; when it does not, the runtime does not
    /// build them. By default every event is wanted. For `Started` and `Completed`, which
    /// every stage sends, the runtime asks once per run.
    fn wants(&self, kind: &EventKind) -> bool {
        let _ = kind;
        true
    }
}

/// The default sink: logs each event through `tracing`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingSink;

impl EventSink for TracingSink {
    /// Only the events `tracing` would record at their level: none without a subscriber.
    fn wants(&self, kind: &EventKind) -> bool {
        match kind {
            EventKind::Retrying { .. } => tracing::enabled!(tracing::Level::WARN),
            EventKind::Failed { .. } => tracing::enabled!(tracing::Level::ERROR),
            _ => tracing::enabled!(tracing::Level::INFO),
        }
    }
    fn event(&self, e: &Event) {
        let (job, stage, ty) = (&e.job_id, &e.stage, &e.stage_type);
        match &e.kind {
            EventKind::Started => tracing::info!(job, stage, ty, "started"),
            EventKind::Retrying { attempt, backoff_ms, reason } => {
                tracing::warn!(job, stage, ty, attempt, backoff_ms, reason, "retrying")
            }
            EventKind::Failed { attempt, error } => tracing::error!(job, stage, ty, attempt, error, "failed"),
            EventKind::Completed { attempt, duration_ms, output_count } => {
                tracing::info!(job, stage, ty, attempt, duration_ms, output_count, "completed")
            }
            EventKind::Parked { reason } => tracing::info!(job, stage, ty, reason, "parked"),
            EventKind::Skipped { reason } => tracing::info!(job, stage, ty, reason, "skipped"),
        }
    }
}

/// A sink that keeps every event, for tests and hosts that print progress afterwards.
#[derive(Debug, Default)]
pub struct CollectingSink {
    events: Mutex<Vec<Event>>,
}

impl CollectingSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }
    /// The events so far, in the order received.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl EventSink for CollectingSink {
    fn event(&self, event: &Event) {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).push(event.clone());
    }
}
