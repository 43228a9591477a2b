//! A stage's inputs, gathered for a call: each read from the stages it is bound to (nearest
//! first, then their fallbacks) or from the keys every run starts with.

use std::cell::OnceCell;
use std::sync::Arc;

use super::book::Book;
use crate::plan::{Plan, Provider};
use crate::value::SharedValue;
use crate::Job;

/// Inputs of at most this many keys are passed from the stack, not from a `Vec`.
pub(super) const INLINE_INPUTS: usize = 8;

/// The keys every run starts with (contract §2), each built when a stage first reads it.
pub(super) struct Initial<'j> {
    job: &'j Job,
    values: [OnceCell<SharedValue>; 4],
}

impl<'j> Initial<'j> {
    const KEYS: [&'static str; 4] = ["context", "adapter_request", "payload", "job_id"];

    pub(super) fn new(job: &'j Job) -> Self {
        Initial { job, values: Default::default() }
    }

    fn get(&self, key: &str) -> Option<&SharedValue> {
        let i = Self::KEYS.iter().position(|k| *k == key)?;
        let job = self.job;
        Some(self.values[i].get_or_init(|| -> SharedValue {
            match i {
                0 => Arc::new(serde_json::json!({
                    "tenant_id": job.tenant_id,
                    "job_id": job.job_id,
                    "doc_id": job.doc_id,
                    "correlation_id": job.correlation_id,
                    "metadata": job.metadata,
                    "source": job.source,
                })),
                1 => Arc::new(job.adapter_request.clone()),
                2 => Arc::new(job.payload.clone()),
                _ => Arc::new(job.job_id.clone()),
            }
        }))
    }
}

/// Reads a stage's inputs from its bound providers, nearest first.
pub(super) fn gather<'a>(
    plan: &Plan,
    idx: usize,
    initial: &'a Initial<'_>,
    book: &'a Book,
    job: &Job,
) -> Result<Inputs<'a>, String> {
    let stage = &plan.stages[idx];
    let mut out = Inputs::Inline([None; INLINE_INPUTS], 0);
    for (spec, binding) in stage.meta.inputs().iter().zip(&stage.inputs) {
        let written =
            |j: usize| book.slots[j].1.get().and_then(|pos| book.state.output_ref_at(pos, spec.key));
        // The nearest writer, nearly always; else the writers upstream, nearest first.
        let found = match binding.first() {
            Some(Provider::Stage(j)) => written(*j).or_else(|| farther(plan, binding, spec.key, &written).0),
            _ => farther(plan, binding, spec.key, &written).0,
        }
        .or_else(|| binding.contains(&Provider::Initial).then(|| initial.get(spec.key)).flatten());
        if found.is_none() && spec.required {
            let providers: Vec<String> = farther(plan, binding, spec.key, &written)
                .1
                .iter()
                .map(|j| format!("`{}`", plan.stages[*j].name))
                .collect();
            return Err(if providers.is_empty() {
                format!("input `{}` is absent: no upstream stage writes it", spec.key)
            } else {
                format!(
                    "input `{}` is absent: upstream stage {} may write it but wrote nothing for job `{}`",
                    spec.key,
                    providers.join(" or "),
                    job.job_id
                )
            });
        }
        out.push(found);
    }
    Ok(out)
}

/// The value of `key` from the writers `binding` names and, when they wrote nothing, the
/// writers upstream of them (their fallbacks), nearest first by execution position; and the
/// writers tried.
fn farther<'a>(
    plan: &Plan,
    binding: &[Provider],
    key: &str,
    written: &dyn Fn(usize) -> Option<&'a SharedValue>,
) -> (Option<&'a SharedValue>, Vec<usize>) {
    let position = |j: usize| plan.positions.get(j).copied().unwrap_or(0);
    let mut heap: std::collections::BinaryHeap<(usize, usize)> = binding
        .iter()
        .filter_map(|p| match p {
            Provider::Stage(j) => Some((position(*j), *j)),
            Provider::Initial => None,
        })
        .collect();
    let mut tried: Vec<usize> = Vec::new();
    while let Some((_, j)) = heap.pop() {
        if tried.contains(&j) {
            continue;
        }
        tried.push(j);
        if let Some(v) = written(j) {
            return (Some(v), tried);
        }
        if let Some(more) = plan.fallbacks.get(&(j, key.to_owned())) {
            heap.extend(more.iter().map(|&f| (position(f), f)));
        }
    }
    (None, tried)
}

/// A stage's inputs, borrowed from the run's state: on the stack up to [`INLINE_INPUTS`].
pub(super) enum Inputs<'a> {
    Inline([Option<&'a SharedValue>; INLINE_INPUTS], usize),
    Heap(Vec<Option<&'a SharedValue>>),
}

impl<'a> Inputs<'a> {
    fn push(&mut self, v: Option<&'a SharedValue>) {
        match self {
            Inputs::Inline(buf, n) if *n < INLINE_INPUTS => {
                buf[*n] = v;
                *n += 1;
            }
            Inputs::Inline(buf, n) => {
                let mut heap = buf[..*n].to_vec();
                heap.push(v);
                *self = Inputs::Heap(heap);
            }
            Inputs::Heap(heap) => heap.push(v),
        }
    }
    pub(super) fn as_slice(&self) -> &[Option<&'a SharedValue>] {
        match self {
            Inputs::Inline(buf, n) => &buf[..*n],
            Inputs::Heap(heap) => heap,
        }
    }
}
