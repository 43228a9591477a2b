//! A run's bookkeeping: where each stage is and where its record is in the state (by plan
//! index), the report lines, and what a stage's end writes into them and into the ledger.

use super::attempt::Ended;
use super::report::{Failure, StageReport, StageStatus};
use super::state::{RunState, StageRecord};
use crate::plan::{Plan, PlannedStage};
use crate::value::SharedValue;
use crate::{Job, Ledger};

/// A run's bookkeeping: where each stage is and where its record is in the state (by plan
/// index), the report lines, and the results so far.
pub(super) struct Book {
    pub(super) slots: Vec<(Slot, Pos)>,
    lines: Lines,
    pub(super) state: RunState,
    pub(super) wants: Wants,
}

/// How one stage call ended, with its figures: what the drivers hand to `Runner::record`.
pub(super) struct Finished {
    pub(super) idx: usize,
    pub(super) ended: Ended,
    pub(super) attempts: u32,
    pub(super) duration_ms: u64,
    /// For a failure: whether it was retried and why (not).
    pub(super) retry: Option<String>,
}

/// Whether the event sink wants `Started` and `Completed` events.
#[derive(Clone, Copy)]
pub(super) struct Wants {
    pub(super) started: bool,
    pub(super) completed: bool,
}

/// A record's position in the state, if any.
#[derive(Clone, Copy)]
pub(super) struct Pos(u32);

impl Pos {
    const NONE: Pos = Pos(u32::MAX);
    fn at(pos: usize) -> Pos {
        Pos(u32::try_from(pos).unwrap_or(u32::MAX))
    }
    pub(super) fn get(self) -> Option<usize> {
        (self.0 != u32::MAX).then_some(self.0 as usize)
    }
}

/// The report lines: pushed in execution order by a sequential run, or put at each stage's
/// index by a run on several workers (stages end in any order) and ordered at the end.
enum Lines {
    InOrder(Vec<StageReport>),
    ByIndex(Vec<Option<StageReport>>),
}

impl Book {
    pub(super) fn new(plan: &Plan, mut state: RunState, sequential: bool, wants: Wants) -> Self {
        let n = plan.stages.len();
        let mut slots = Vec::with_capacity(n);
        let mut missing = 0;
        for stage in &plan.stages {
            let pos = state.position(&stage.name);
            missing += usize::from(pos.is_none());
            let done = pos.is_some_and(|p| state.at(p).status == StageStatus::Completed);
            slots.push((if done { Slot::Done } else { Slot::Pending }, pos.map_or(Pos::NONE, Pos::at)));
        }
        let values = plan.stages.iter().map(key_count).sum();
        state.reserve(missing, values);
        let lines = if sequential {
            Lines::InOrder(Vec::with_capacity(n))
        } else {
            let mut lines: Vec<Option<StageReport>> = (0..n).map(|_| None).collect();
            for (i, (slot, pos)) in slots.iter().enumerate() {
                if let (Slot::Done, Some(p)) = (slot, pos.get()) {
                    lines[i] = Some(state.at(p).report(&plan.stages[i].name));
                }
            }
            Lines::ByIndex(lines)
        };
        Book { slots, lines, state, wants }
    }

    /// Stage `idx`'s state.
    pub(super) fn slot(&self, idx: usize) -> Slot {
        self.slots[idx].0
    }

    fn put_line(&mut self, idx: usize, line: StageReport) {
        match &mut self.lines {
            Lines::InOrder(lines) => lines.push(line),
            Lines::ByIndex(lines) => lines[idx] = Some(line),
        }
    }

    /// Puts the line of stage `idx`, completed by an earlier run, from its stored record.
    pub(super) fn put_stored_line(&mut self, plan: &Plan, idx: usize) {
        if let Some(pos) = self.slots[idx].1.get() {
            let line = self.state.at(pos).report(&plan.stages[idx].name);
            self.put_line(idx, line);
        }
    }

    /// Marks stage `idx` skipped, for `why`.
    pub(super) fn skip(&mut self, stage: &PlannedStage, idx: usize, why: String) {
        self.put_line(idx, line(stage, StageStatus::Skipped, 0, 0, 0, Some(why)));
        self.slots[idx].0 = Slot::Skipped;
    }

    /// Marks stage `idx` running.
    pub(super) fn start(&mut self, idx: usize) {
        self.slots[idx].0 = Slot::Running;
    }

    /// Records how a stage call ended: the stage's slot, its report line and its record in
    /// the state. Returns the emptied buffer of what it wrote, for the next call to reuse.
    pub(super) fn record(&mut self, stage: &PlannedStage, f: Finished) -> Vec<(String, SharedValue)> {
        let mut output = None;
        let mut failure = None;
        let (slot, status, count, message) = match f.ended {
            Ended::Done { written, raw, count } => {
                output = Some((written, raw));
                (Slot::Done, StageStatus::Completed, count, None)
            }
            Ended::Failed(error, kind) => {
                let retry = f.retry.unwrap_or_default();
                failure = Some(Failure { kind, retried: f.attempts > 1, retry });
                (Slot::Failed, StageStatus::Failed, 0, Some(error))
            }
            Ended::Parked(reason) => (Slot::Parked, StageStatus::Parked, 0, Some(reason)),
        };
        self.slots[f.idx].0 = slot;
        let (mut written, raw) = output.unwrap_or_default();
        let mut report_line = line(stage, status, f.attempts, count, f.duration_ms, message.clone());
        report_line.failure = failure.clone();
        self.put_line(f.idx, report_line);
        let rec = StageRecord::new(
            status,
            stage.meta,
            raw,
            f.attempts,
            count,
            f.duration_ms,
            message,
            failure,
            key_count(stage),
        );
        let pos = self.state.record(stage, rec, &mut written, self.slots[f.idx].1.get());
        self.slots[f.idx].1 = Pos::at(pos);
        written
    }

    /// The report lines, in execution order, and the final state.
    pub(super) fn finish(self, plan: &Plan) -> (Vec<StageReport>, RunState) {
        let stages = match self.lines {
            Lines::InOrder(lines) => lines,
            Lines::ByIndex(mut lines) => plan.order.iter().filter_map(|&i| lines[i].take()).collect(),
        };
        (stages, self.state)
    }
}

/// Where a stage is in a run.
#[derive(Clone, Copy)]
pub(super) enum Slot {
    Pending,
    Running,
    Done,
    Failed,
    Parked,
    Skipped,
}

impl Slot {
    /// Whether a stage in this slot stops its downstream for good.
    pub(super) fn blocks(self) -> bool {
        matches!(self, Slot::Failed | Slot::Parked | Slot::Skipped)
    }
    /// Why a stage downstream of `upstream`, in this slot, does not run.
    pub(super) fn why(self, upstream: &str) -> String {
        match self {
            Slot::Failed => format!("not run: upstream stage `{upstream}` failed"),
            Slot::Parked => format!("not run yet: the run is parked at gate stage `{upstream}`"),
            _ => format!("not run: upstream stage `{upstream}` did not run"),
        }
    }
}

fn line(
    stage: &PlannedStage,
    status: StageStatus,
    attempts: u32,
    output_count: u64,
    duration_ms: u64,
    message: Option<String>,
) -> StageReport {
    StageReport {
        name: stage.name.clone(),
        stage_type: stage.meta.stage_type().to_owned(),
        status,
        attempts,
        output_count,
        duration_ms,
        message,
        failure: None,
    }
}

/// How many keys a stage writes (overrides applied), without listing them.
pub(super) fn key_count(stage: &PlannedStage) -> usize {
    stage.keys_override.as_ref().map_or_else(|| stage.meta.state_key().keys().len(), Vec::len)
}

/// Writes a stage call's figures to the ledger: `stage.<name>.attempts`, `.output_count` and
/// `.duration_ms`, the three keys built in one buffer and written in one call (this runs once
/// per stage call, so it allocates once).
pub(super) fn write_metrics(
    ledger: &dyn Ledger,
    job: &Job,
    stage: &PlannedStage,
    attempts: u32,
    count: u64,
    duration_ms: u64,
) {
    let mut keys = String::with_capacity(3 * (stage.name.len() + 7) + 31);
    let mut ends = [0usize; 3];
    for (end, field) in ends.iter_mut().zip(["attempts", "output_count", "duration_ms"]) {
        keys.push_str("stage.");
        keys.push_str(&stage.name);
        keys.push('.');
        keys.push_str(field);
        *end = keys.len();
    }
    let metrics = [
        (&keys[..ends[0]], serde_json::json!(attempts)),
        (&keys[ends[0]..ends[1]], serde_json::json!(count)),
        (&keys[ends[1]..ends[2]], serde_json::json!(duration_ms)),
    ];
    if let Err(e) = ledger.set_many(&job.job_id, &metrics) {
        tracing::warn!(job = %job.job_id, stage = %stage.name, "ledger write failed: {e}");
    }
}
