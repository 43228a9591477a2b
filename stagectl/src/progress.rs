//! Progress of a batch on stderr: a live bar on a terminal, one plain line per job otherwise.
//!
//! Failures, retries and parks are one line each, printed here and not logged again; the
//! other events (started, completed, skipped) go on to `tracing` at `info`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use stage_core::run::{Event, EventKind, EventSink, TracingSink};
use stage_core::{RunReport, RunStatus};

use crate::commands::run::BatchCounts;

/// A batch's progress: an [`EventSink`] for the runner, told each job's end by the batch.
pub(crate) struct BatchProgress {
    /// The live bar, on a terminal.
    bar: Option<ProgressBar>,
    /// Whether to show anything at all (`--quiet` and `--json` show nothing).
    shown: bool,
    /// The jobs known so far: the submitted ones, plus the records a job expanded into.
    total: AtomicUsize,
    done: AtomicUsize,
    counts: Mutex<BatchCounts>,
}

impl BatchProgress {
    /// Progress over `total` jobs: a bar when `shown` and stderr is a terminal, plain lines
    /// when `shown` only, nothing otherwise.
    pub(crate) fn new(total: usize, shown: bool) -> Self {
        Self::with_bar(total, shown, shown && crate::term::stderr_is_terminal())
    }

    fn with_bar(total: usize, shown: bool, bar: bool) -> Self {
        let bar = bar.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} {elapsed} {bar:20} {pos}/{len} jobs, ETA {eta} ({prefix}) {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix("0 ok, 0 parked, 0 failed");
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        BatchProgress {
            bar,
            shown,
            total: AtomicUsize::new(total),
            done: AtomicUsize::new(0),
            counts: Mutex::new(BatchCounts::default()),
        }
    }

    /// `more` jobs to run than counted so far (a submitted job became several, one per record).
    pub(crate) fn add_total(&self, more: usize) {
        self.total.fetch_add(more, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc_length(more as u64);
        }
    }

    /// One line above the bar (or on stderr).
    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => errln!("{text}"),
        }
    }

    /// Counts a job that ended: the bar moves, or one plain line is printed.
    pub(crate) fn job_done(&self, job_id: &str, result: &Result<RunReport, String>) {
        let n = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        let counts = {
            let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            c.count(result);
            *c
        };
        if !self.shown {
            return;
        }
        let tally = format!("{} ok, {} parked, {} failed", counts.completed, counts.parked, counts.failed);
        match &self.bar {
            Some(bar) => {
                bar.set_prefix(tally);
                bar.inc(1);
            }
            None => self.line(&plain_line(n, self.total.load(Ordering::Relaxed), job_id, result)),
        }
    }

    /// Runs `f` (a write to stdout) with the bar hidden, so the two never interleave.
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Clears the bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The plain line for a job that ended: `[2/10] job `j-2`: completed, 9 stage(s) in 1234 ms`.
fn plain_line(n: usize, total: usize, job_id: &str, result: &Result<RunReport, String>) -> String {
    match result {
        Err(e) => format!("[{n}/{total}] job `{job_id}`: refused: {e}"),
        Ok(r) => {
            let status = match r.status {
                RunStatus::Completed => "completed",
                RunStatus::Parked => "parked",
                RunStatus::Failed => "FAILED",
            };
            format!(
                "[{n}/{total}] job `{job_id}`: {status}, {} stage(s) in {} ms",
                r.stages.len(),
                r.duration_ms
            )
        }
    }
}

impl EventSink for BatchProgress {
    fn event(&self, e: &Event) {
        let what = match &e.kind {
            EventKind::Retrying { attempt, backoff_ms, reason } => {
                format!("attempt {attempt} failed ({reason}); retrying in {backoff_ms} ms")
            }
            EventKind::Failed { attempt, error } => format!("FAILED on attempt {attempt}: {error}"),
            EventKind::Parked { reason } => format!("PARKED: {reason}"),
            EventKind::Started => {
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("{}: {}", e.job_id, e.stage));
                }
                return TracingSink.event(e);
            }
            EventKind::Completed { .. } | EventKind::Skipped { .. } => return TracingSink.event(e),
        };
        if self.shown {
            self.line(&format!("[{}] {} ({}): {what}", e.job_id, e.stage, e.stage_type));
        } else {
            TracingSink.event(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: RunStatus) -> RunReport {
        serde_json::from_value(serde_json::json!({
            "job_id": "j", "pipeline": "p", "pipeline_version": "1", "status": status, "stages": [],
            "results": {}, "duration_ms": 0,
        }))
        .unwrap_or_else(|e| panic!("a report: {e}"))
    }

    #[test]
    fn counts_follow_the_jobs_and_lines_are_one_per_job() {
        let p = BatchProgress::with_bar(3, false, false);
        p.job_done("a", &Ok(report(RunStatus::Completed)));
        p.job_done("b", &Ok(report(RunStatus::Failed)));
        p.job_done("c", &Err("refused".into()));
        let c = *p.counts.lock().unwrap();
        assert_eq!((c.completed, c.failed, c.refused, c.total()), (1, 1, 1, 3));
        assert_eq!(
            plain_line(2, 3, "b", &Ok(report(RunStatus::Failed))),
            "[2/3] job `b`: FAILED, 0 stage(s) in 0 ms"
        );
        assert_eq!(plain_line(3, 3, "c", &Err("no".into())), "[3/3] job `c`: refused: no");
    }
}
