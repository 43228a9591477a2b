//! One attempt at a stage call: the call's arguments, the call itself (panics caught), on
//! this thread or, under a timeout, on a pooled thread that is abandoned when the timeout
//! passes; and what the stage's return makes of the attempt (output applied and counted,
//! a park, a failure).

use std::cell::OnceCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::book::key_count;
use super::inputs::INLINE_INPUTS;
use super::report::FailureKind;
use super::Runner;
use crate::glue::resource_refs;
use crate::plan::PlannedStage;
use crate::value::SharedValue;
use crate::{CancelToken, Clock, HostSettings, Job, Ledger, StageArgs, StageContext, StageError, StateValue};

/// How long, in real time, an attempt may run past its start on a virtual clock before it is
/// deemed timed out.
const VIRTUAL_GRACE: Duration = Duration::from_millis(250);

/// Everything one attempt needs, owned, so that an abandoned attempt can outlive the run.
struct Call {
    meta: &'static crate::StageMetadata,
    job: Arc<Job>,
    name: String,
    ledger: Arc<dyn Ledger>,
    clock: Arc<dyn Clock>,
    host: Arc<HostSettings>,
    gate: Option<Arc<crate::spec::EffectiveGate>>,
    config: Option<crate::ConfigValue>,
    resources: Vec<crate::ResourceValue>,
    inputs: Vec<Option<SharedValue>>,
    cancel: CancelToken,
}

impl Call {
    fn as_ref<'a>(&'a self, inputs: &'a [Option<&'a SharedValue>]) -> CallRef<'a> {
        CallRef {
            meta: self.meta,
            job: &self.job,
            name: &self.name,
            ledger: &self.ledger,
            clock: &self.clock,
            host: &self.host,
            gate: self.gate.as_ref(),
            config: self.config.as_ref(),
            resources: &self.resources,
            inputs,
            cancel: Some(&self.cancel),
        }
    }
}

/// What one attempt reads, borrowed: an attempt on the run's own thread copies nothing.
struct CallRef<'a> {
    meta: &'static crate::StageMetadata,
    job: &'a Arc<Job>,
    name: &'a str,
    ledger: &'a Arc<dyn Ledger>,
    clock: &'a Arc<dyn Clock>,
    host: &'a Arc<HostSettings>,
    gate: Option<&'a Arc<crate::spec::EffectiveGate>>,
    config: Option<&'a crate::ConfigValue>,
    resources: &'a [crate::ResourceValue],
    inputs: &'a [Option<&'a SharedValue>],
    /// The attempt's cancellation token, when it can be abandoned (it runs under a timeout).
    cancel: Option<&'a CancelToken>,
}

impl CallRef<'_> {
    /// The stage's context, built only when the stage asks for it.
    fn context(&self) -> StageContext {
        let ctx = StageContext::new(self.job.clone(), self.name, self.meta.stage_type())
            .with_ledger(self.ledger.clone())
            .with_clock(self.clock.clone())
            .with_gate(self.gate.cloned())
            .with_host(self.host.clone());
        match self.cancel {
            Some(c) => ctx.with_cancel(c.clone()),
            None => ctx,
        }
    }

    /// Calls the stage, panics caught; returns its result and its park request.
    fn invoke(&self) -> (Result<Option<SharedValue>, StageError>, Option<String>) {
        let specs = self.meta.inputs();
        let mut refs_buf: [Option<&dyn StateValue>; INLINE_INPUTS] = [None; INLINE_INPUTS];
        let mut keys_buf: [&str; INLINE_INPUTS] = [""; INLINE_INPUTS];
        let (refs_vec, keys_vec): (Vec<Option<&dyn StateValue>>, Vec<&str>);
        let (refs, keys): (&[Option<&dyn StateValue>], &[&str]) =
            if self.inputs.len() <= INLINE_INPUTS && specs.len() <= INLINE_INPUTS {
                for (slot, v) in refs_buf.iter_mut().zip(self.inputs) {
                    *slot = v.map(|v| &**v);
                }
                for (slot, spec) in keys_buf.iter_mut().zip(specs) {
                    *slot = spec.key;
                }
                (&refs_buf[..self.inputs.len()], &keys_buf[..specs.len()])
            } else {
                refs_vec = self.inputs.iter().map(|v| v.map(|v| &**v)).collect();
                keys_vec = specs.iter().map(|i| i.key).collect();
                (&refs_vec, &keys_vec)
            };
        let resources = resource_refs(self.resources);
        let cell = OnceCell::new();
        let make = || self.context();
        let args = StageArgs::with_lazy_context(&cell, &make, refs, keys, self.config, &resources);
        let result = catch_unwind(AssertUnwindSafe(|| self.meta.invoke(&args)))
            .unwrap_or_else(|payload| Err(StageError::Panicked(panic_message(&*payload))));
        // Only a stage that took its context can have asked to park.
        (result, cell.get().and_then(StageContext::take_park_request))
    }
}

/// How one stage call ended, before it is recorded.
pub(super) enum Ended {
    Done { written: Vec<(String, SharedValue)>, raw: Option<SharedValue>, count: u64 },
    Failed(String, FailureKind),
    Parked(String),
}

impl Runner {
    /// One attempt: on this thread, or, under a timeout, on its own thread that is abandoned
    /// (cancelled, its late result discarded) when the timeout passes.
    pub(super) fn attempt(
        &self,
        stage: &PlannedStage,
        job: &Arc<Job>,
        inputs: &[Option<&SharedValue>],
        timeout: Option<Duration>,
        written_buf: &mut Vec<(String, SharedValue)>,
    ) -> Ended {
        let (result, park) = match timeout {
            None => CallRef {
                meta: stage.meta,
                job,
                name: &stage.name,
                ledger: &self.ledger,
                clock: &self.clock,
                host: &self.host,
                gate: stage.gate.as_ref(),
                config: stage.config.as_ref(),
                resources: &stage.resources,
                inputs,
                cancel: None,
            }
            .invoke(),
            Some(t) => {
                let call = Call {
                    meta: stage.meta,
                    job: job.clone(),
                    name: stage.name.clone(),
                    ledger: self.ledger.clone(),
                    clock: self.clock.clone(),
                    host: self.host.clone(),
                    gate: stage.gate.clone(),
                    config: stage.config.clone(),
                    resources: stage.resources.clone(),
                    inputs: inputs.iter().map(|v| v.cloned()).collect(),
                    cancel: CancelToken::new(),
                };
                let cancel = call.cancel.clone();
                let (tx, rx) = mpsc::sync_channel(1);
                // On a pooled thread: reused from attempt to attempt.
                let spawned = self.attempt_threads.run(Box::new(move || {
                    drop(tx.send({
                        let refs: Vec<Option<&SharedValue>> =
                            call.inputs.iter().map(Option::as_ref).collect();
                        call.as_ref(&refs).invoke()
                    }))
                }));
                if let Err(e) = spawned {
                    return Ended::Failed(
                        format!("could not start a thread for the stage: {e}"),
                        FailureKind::Transient,
                    );
                }
                // On a virtual clock, an attempt still running after a short real grace is
                // deemed to have reached its timeout, and the clock moves to it.
                let wait = if self.clock.is_virtual() { t.min(VIRTUAL_GRACE) } else { t };
                match rx.recv_timeout(wait) {
                    Ok(r) => r,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        cancel.cancel();
                        if self.clock.is_virtual() {
                            self.clock.sleep(t);
                        }
                        return Ended::Failed(
                            format!(
                                "timed out after {} s: the attempt was abandoned and its late result will be discarded",
                                t.as_secs_f64()
                            ),
                            FailureKind::TimedOut,
                        );
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        return Ended::Failed(
                            "the stage's thread ended without a result".to_owned(),
                            FailureKind::Transient,
                        )
                    }
                }
            }
        };
        let meta = stage.meta;
        match (result, park) {
            (Err(e), _) => {
                let kind = match e {
                    StageError::Failed(_) => FailureKind::Transient,
                    StageError::Panicked(_) => FailureKind::Panicked,
                    _ => FailureKind::Permanent,
                };
                Ended::Failed(e.to_string(), kind)
            }
            (Ok(_), Some(reason)) if meta.parks() => Ended::Parked(reason),
            (Ok(_), Some(_)) => Ended::Failed(
                format!(
                    "asked to park the run, but stage type `{}` is not declared `#[stage(parks)]`",
                    meta.stage_type()
                ),
                FailureKind::Permanent,
            ),
            (Ok(None), None) => Ended::Done { written: Vec::new(), raw: None, count: 0 },
            (Ok(Some(out)), None) => self.apply(stage, job, out, written_buf),
        }
    }

    fn apply(
        &self,
        stage: &PlannedStage,
        job: &Job,
        out: SharedValue,
        written_buf: &mut Vec<(String, SharedValue)>,
    ) -> Ended {
        let meta = stage.meta;
        let count = match (meta.output_counter().count)(&*out) {
            Ok(n) => n,
            Err(why) => {
                tracing::warn!(job = %job.job_id, stage = %stage.name, "output counter failed, counting 0: {why}");
                0
            }
        };
        let raw = (key_count(stage) == 0).then(|| out.clone());
        let mut sink = crate::OutputSink::reusing(std::mem::take(written_buf));
        let applied = match &stage.keys_override {
            None => (meta.output_handler().apply)(out, meta.state_key().keys(), &mut sink),
            Some(keys) => {
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                (meta.output_handler().apply)(out, &keys, &mut sink)
            }
        };
        match applied {
            Ok(()) => Ended::Done { written: sink.into_written(), raw, count },
            Err(e) => Ended::Failed(e.to_string(), FailureKind::Permanent),
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
