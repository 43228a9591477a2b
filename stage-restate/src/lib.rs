//! # stage-restate
//!
//! Runs the linked registry's stages as a [Restate](https://restate.dev) workflow service: the
//! same `#[stage]` functions and YAML pipelines as an embedded `stagectl run`, as durable
//! workflows spread over worker processes. Stage code does not change.
//!
//! ## The model
//!
//! - One **workflow per job**, service `StageRun`, keyed by the job's id. Its input is the
//!   pipeline's path, the plan's fingerprint and the job ([`RunInput`]). The worker plans the
//!   pipeline (once per file) and refuses a run whose fingerprint differs from the
//!   submitter's.
//! - Each **stage is one journaled step** (`ctx.run`), run on tokio's blocking pool. Its
//!   result is the stage's outputs in the MessagePack encoding of `stagectl`'s SQLite journal
//!   (see [`codec`]); an output larger than [`codec::LARGE_OUTPUT_BYTES`] is written to
//!   `<store>/outputs/<sha256>.msgpack` and journaled as that reference. A replay (after a
//!   crash, or a suspension) skips finished stages: their journaled outputs are decoded, not
//!   recomputed.
//! - A stage's **policy** becomes the step's retry policy ([`workflow::retry_policy`]): its
//!   attempts and backoff; each attempt is bounded by the policy's timeout in the worker.
//!   Permanent failures (bad data, bad config, a stage asked to park that is not a gate) are
//!   terminal at once: the step's journaled result is the stage's failed report line (kind,
//!   message), never retried; transient ones (and time-outs and panics) fail the step, which
//!   Restate retries, and once its retries run out the stage is reported failed. Either way the
//!   stages downstream are skipped, the others run, and the run's report says `failed`, as
//!   embedded. Rate limits and circuit breakers hold per worker process.
//! - A **gate** evaluates its ledger condition as a step. While it does not pass, the workflow
//!   sleeps on a durable timer (the gate's poll interval) and evaluates again, until the gate's
//!   timeout (capped by the worker's `--max-gate-wait`); then the run is *parked*: it waits for a signal only, suspended, holding no
//!   worker. The `signal` handler sets ledger fields (a durable promise); the run applies them
//!   and evaluates the gate again.
//! - The run's **ledger and status** are workflow state, answered by the `status` handler;
//!   the run's **report** is the workflow's output.
//!
//! ## One server, N workers
//!
//! ```text
//! # one server (data under --base-dir; licence: BSL, see below)
//! restate-server --base-dir /var/lib/restate
//! # N workers, each serving the same stages, sharing one store
//! stagectl serve --restate --listen 127.0.0.1:9081 --store S
//! stagectl serve --restate --listen 127.0.0.1:9082 --store S
//! # an HTTP/2 load balancer in front of them, listening on :9080 (`stagectl balance`, or
//! # envoy, nginx `grpc_pass`, a cloud L7 balancer…); then submit (registering it once), ask, signal
//! stagectl balance --listen 127.0.0.1:9080 127.0.0.1:9081 127.0.0.1:9082
//! stagectl submit examples/pipelines/literature.yaml examples/jobs/corpus.jsonl \
//!     --restate http://127.0.0.1:8080 --admin http://127.0.0.1:9070 \
//!     --register http://127.0.0.1:9080 --store S --wait
//! stagectl status JOB --restate http://127.0.0.1:8080
//! stagectl ledger set JOB pdf_ir_ready true --restate http://127.0.0.1:8080
//! ```
//!
//! The server pushes each invocation (and each replay of it) to the **deployment** registered
//! for the service: one URI. With one worker, register the worker itself. With N, register an
//! HTTP/2 (L7) load balancer in front of them, which spreads requests — invocation attempts —
//! over the workers (Restate's own advice; registering several workers as several deployments
//! does not spread the load: new invocations go to the newest deployment). Any worker can
//! continue any run: a replay rebuilds the run's state from its journal, wherever it lands.
//! [`balancer`] is a small round-robin one (`stagectl balance`); the tests run two workers
//! behind it.
//!
//! **Shared** by the workers: the server (journals, timers, promises, the ledger and status of
//! every run), the pipeline file (the same path on every worker, same content: the fingerprint
//! is checked) and the **store** directory (`--store`): stages write their index, graph and
//! documents there, and large outputs are kept there. On one machine this is a directory; on
//! several machines it must be a shared file system (NFS, …) — or, better, the stages that
//! write the store must write to a shared service (a database server for the index and graph,
//! an object store for documents and large outputs): that is a change to those stages'
//! resources, not to this crate. **Per worker**: its process, its thread pool, rate limits and
//! circuit breakers.
//!
//! ## When something dies
//!
//! - **A worker dies** (crash, SIGKILL): the steps it had finished are journaled in the server;
//!   the server retries the invocation on a live worker (or on the same one when it is back),
//!   which replays the journal and runs the stage that was in flight again from its start —
//!   a stage interrupted mid-call may run twice (stages must tolerate it, as embedded
//!   retries already require); a finished stage never runs again.
//! - **The server dies**: nothing acknowledged is lost (its log is on disk under
//!   `--base-dir`); when it restarts, it resumes every run. A parked run stays parked; a run
//!   that was sleeping on a timer wakes when due.
//! - After a long outage, a run waits for the server's next retry (by default at most one
//!   minute apart), or `restate invocations resume`.
//!
//! ## Licence
//!
//! This crate and the SDK (`restate-sdk`) are MIT-licensed. The Restate **server** is under the
//! Business Source License 1.1 (BSL): free to use, including in production, except to offer
//! Restate itself as a hosted service; each release becomes Apache-2.0 four years after it. It
//! is not a dependency of this crate: the tests and `.ci/run` install the pinned server from
//! npm (`@restatedev/restate-server`, see `package.json`).
#![warn(missing_docs)]

pub mod balancer;
pub mod client;
pub mod codec;
mod worker;
// The `#[restate_sdk::workflow]` macro generates undocumented methods.
#[expect(missing_docs, reason = "the `#[restate_sdk::workflow]` macro generates undocumented methods")]
pub mod workflow;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use stage_core::{Fingerprint, Job};

pub use client::{Client, Submitted};
pub use worker::{Worker, WorkerConfig};
pub use workflow::StageRun;

/// Completes on SIGTERM or SIGINT (SIGINT only where SIGTERM cannot be listened to), logging
/// that `what` stops.
pub(crate) async fn shutdown_signal(what: &'static str) {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!("SIGTERM will not stop the {what}: {e}");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("{what} stopping");
}

/// The workflow service's name on the server.
pub const SERVICE: &str = "StageRun";

/// A workflow's input: which pipeline, planned how, for which job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInput {
    /// The pipeline file, as the workers see it (an absolute path).
    pub pipeline: PathBuf,
    /// The submitter's plan fingerprint: a worker that plans something else refuses the run.
    pub fingerprint: Fingerprint,
    /// The job; its id is the workflow's key.
    pub job: Job,
}

/// What can go wrong on Restate.
#[derive(Debug, thiserror::Error)]
pub enum RestateError {
    /// The pipeline did not plan, or planned differently.
    #[error("{0}")]
    Plan(String),
    /// A value did not encode or decode.
    #[error("{0}")]
    Codec(String),
    /// The store could not be read or written.
    #[error("store: {0}")]
    Store(String),
    /// The server refused or did not answer.
    #[error("{0}")]
    Server(String),
    /// An I/O error (binding the worker's address).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Serves `worker`'s `StageRun` workflow on `listener` until `shutdown` completes.
pub async fn serve(worker: Arc<Worker>, listener: tokio::net::TcpListener, shutdown: impl Future) {
    let endpoint = restate_sdk::endpoint::Endpoint::builder().bind(StageRun::new(worker)).build();
    restate_sdk::http_server::HttpServer::new(endpoint).serve_with_cancel(listener, shutdown).await;
}

/// Serves a worker on `addr` (port 0: a free one) on a tokio runtime of its own, until SIGTERM
/// or SIGINT; `ready` is told the address it listens on.
pub fn serve_blocking(
    config: WorkerConfig,
    addr: SocketAddr,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), RestateError> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        ready(listener.local_addr()?);
        serve(Arc::new(Worker::new(config)), listener, shutdown_signal("worker")).await;
        Ok(())
    })
}
