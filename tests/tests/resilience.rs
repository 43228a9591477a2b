//! Policies enforced around stage calls, on a fake clock: retries with backoff, a breaker
//! opening and closing, a rate limit holding, a hung stage abandoned at its timeout.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use stage_core::policy::PolicySet;
use stage_core::run::{CollectingSink, EventKind, FailureKind};
use stage_core::{
    spec, stage, Clock, FakeClock, InMemoryLedger, Job, Ledger, Plan, PlanOptions, RunStatus, Runner,
    StageContext, StageError, StageRegistry,
};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Flaky {
    fail_times: u64,
}

/// Fails its first `fail_times` calls for a job, then succeeds.
#[stage(type = "flaky")]
fn flaky(ctx: &StageContext, #[config] cfg: &Flaky) -> Result<(), StageError> {
    let job = &ctx.job().job_id;
    let tries = ctx.ledger().get(job, "tries").unwrap().and_then(|v| v.as_u64()).unwrap_or(0) + 1;
    ctx.ledger().set(job, "tries", json!(tries)).unwrap();
    if tries <= cfg.fail_times {
        return Err(StageError::msg(format!("transient failure {tries}")));
    }
    Ok(())
}

/// Fails in a way no retry can fix.
#[stage(type = "doomed")]
fn doomed() -> Result<(), StageError> {
    Err(StageError::permanent("record NCT0 does not exist"))
}

/// Panics on the jobs whose id ends in `-bad`, as a stage does on a record it cannot handle.
#[stage(type = "picky")]
fn picky(ctx: &StageContext) {
    if ctx.job().job_id.ends_with("-bad") {
        let text = "30–40%";
        // Slicing inside the en dash: the kind of bug real records find.
        let _ = &text[..3];
    }
}

/// Fails with the error type of its own, wrapping an I/O error of kind `kind` (config).
#[stage(type = "io-failing")]
fn io_failing(#[config] cfg: &IoKind) -> Result<(), WrappedIo> {
    let kind = match cfg.kind.as_str() {
        "refused" => std::io::ErrorKind::ConnectionRefused,
        _ => std::io::ErrorKind::NotFound,
    };
    Err(WrappedIo(std::io::Error::new(kind, cfg.kind.clone())))
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct IoKind {
    kind: String,
}

#[derive(Debug, thiserror::Error)]
#[error("fetching the record failed")]
struct WrappedIo(#[source] std::io::Error);

/// Hangs until the runtime abandons it.
#[stage(type = "hang")]
fn hang(ctx: &StageContext) {
    while !ctx.is_cancelled() {
        std::thread::sleep(Duration::from_millis(5));
    }
}

const POLICIES: &str = "\
policies:
  default:
    max_attempts: 4
    timeout_seconds: 30
    backoff: {strategy: exponential, initial: 0.5, maximum: 30.0, jitter: false}
  once:
    max_attempts: 1
    timeout_seconds: 5
    backoff: {strategy: none, initial: 0.0, maximum: 0.0, jitter: false}
    circuit_breaker: {failure_threshold: 3, recovery_timeout: 60}
  guarded:
    max_attempts: 3
    timeout_seconds: 5
    backoff: {strategy: none, initial: 0.0, maximum: 0.0, jitter: false}
    circuit_breaker: {failure_threshold: 3, recovery_timeout: 600}
  polite:
    max_attempts: 1
    timeout_seconds: 10
    backoff: {strategy: none, initial: 0.0, maximum: 0.0, jitter: false}
    rate_limit: {rate_limit_per_second: 2.0}
";

fn plan(stage_type: &str, policy: &str, config: &str) -> Plan {
    let yaml = format!(
        "name: r\nversion: 2025-01-01\nstages:\n  - name: s\n    type: {stage_type}\n    policy: {policy}\n{config}"
    );
    let loaded = spec::load_str("r.yaml", &yaml).unwrap();
    let policies = PolicySet::load_str("policies.yaml", POLICIES).unwrap().value;
    let options = PlanOptions { policies: Some(policies), ..Default::default() };
    Plan::new(&loaded.value, StageRegistry::global(), &options).unwrap_or_else(|e| panic!("{e}"))
}

struct Rig {
    runner: Runner,
    clock: Arc<FakeClock>,
    ledger: Arc<InMemoryLedger>,
    events: Arc<CollectingSink>,
}

fn rig() -> Rig {
    let (clock, ledger, events) =
        (Arc::new(FakeClock::default()), Arc::new(InMemoryLedger::new()), Arc::new(CollectingSink::new()));
    let runner =
        Runner::new().with_clock(clock.clone()).with_ledger(ledger.clone()).with_events(events.clone());
    Rig { runner, clock, ledger, events }
}

#[test]
fn a_stage_failing_twice_then_succeeding_is_retried_with_exponential_backoff() {
    let r = rig();
    let start = r.clock.now();
    let out = r.runner.run(&plan("flaky", "default", "    config: {fail_times: 2}\n"), Job::new("j", "pmc"));
    assert_eq!(out.report.status, RunStatus::Completed);
    assert_eq!(out.report.stages[0].attempts, 3);
    let kinds: Vec<EventKind> = r.events.events().into_iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds[..3],
        [
            EventKind::Started,
            EventKind::Retrying { attempt: 1, backoff_ms: 500, reason: "transient failure 1".into() },
            EventKind::Retrying { attempt: 2, backoff_ms: 1000, reason: "transient failure 2".into() },
        ]
    );
    assert!(matches!(kinds[3], EventKind::Completed { attempt: 3, output_count: 0, .. }), "{kinds:?}");
    assert_eq!(r.clock.now().duration_since(start).unwrap(), Duration::from_millis(1500));
    assert_eq!(r.ledger.get("j", "stage.s.attempts").unwrap(), Some(json!(3)));
}

#[test]
fn a_stage_failing_more_than_its_attempts_fails_with_the_last_error() {
    let r = rig();
    let out = r.runner.run(&plan("flaky", "default", "    config: {fail_times: 9}\n"), Job::new("j", "pmc"));
    assert_eq!(out.report.status, RunStatus::Failed);
    assert_eq!(out.report.stages[0].attempts, 4);
    assert_eq!(out.report.stages[0].message.as_deref(), Some("transient failure 4"));
    let last = r.events.events().pop().unwrap();
    assert_eq!(last.kind, EventKind::Failed { attempt: 4, error: "transient failure 4".into() });
}

#[test]
fn a_permanent_failure_is_not_retried() {
    let r = rig();
    let out = r.runner.run(&plan("doomed", "default", ""), Job::new("j", "pmc"));
    assert_eq!(out.report.status, RunStatus::Failed);
    assert_eq!(out.report.stages[0].attempts, 1);
    assert_eq!(out.report.stages[0].message.as_deref(), Some("record NCT0 does not exist"));
    assert!(!r.events.events().iter().any(|e| matches!(e.kind, EventKind::Retrying { .. })));
}

#[test]
fn the_breaker_opens_at_its_threshold_across_runs_and_closes_after_recovery() {
    let r = rig();
    let p = plan("flaky", "once", "    config: {fail_times: 100}\n");
    for i in 0..3 {
        let out = r.runner.run(&p, Job::new("j", "pmc"));
        assert_eq!(
            out.report.stages[0].message.as_deref(),
            Some(format!("transient failure {}", i + 1).as_str())
        );
    }
    let open = r.runner.run(&p, Job::new("j", "pmc"));
    assert_eq!(
        open.report.stages[0].message.as_deref(),
        Some("circuit breaker open after 3 consecutive failures; calls resume in 60.0 s")
    );
    assert_eq!(
        r.ledger.get("j", "tries").unwrap(),
        Some(json!(3)),
        "an open breaker does not call the stage"
    );
    r.clock.advance(Duration::from_secs(60));
    r.ledger.set("j", "tries", json!(1000)).unwrap();
    let closed = r.runner.run(&p, Job::new("j", "pmc"));
    assert_eq!(closed.report.status, RunStatus::Completed, "{:?}", closed.report.stages[0].message);
}

#[test]
fn a_rate_limit_holds_across_the_runs_of_a_runner() {
    let r = rig();
    let p = plan("flaky", "polite", "");
    let start = r.clock.now();
    for i in 0..5 {
        r.runner.run(&p, Job::new(format!("j{i}"), "pmc"));
    }
    // 2 per second: the five calls start at 0, 0.5, 1.0, 1.5 and 2.0 s.
    assert_eq!(r.clock.now().duration_since(start).unwrap(), Duration::from_secs(2));
}

#[test]
fn a_hung_stage_is_abandoned_at_its_timeout_and_told_to_stop() {
    let r = rig();
    let start = r.clock.now();
    let out = r.runner.run(&plan("hang", "once", ""), Job::new("j", "pmc"));
    assert_eq!(out.report.status, RunStatus::Failed);
    assert_eq!(
        out.report.stages[0].message.as_deref(),
        Some("timed out after 5 s: the attempt was abandoned and its late result will be discarded")
    );
    assert_eq!(r.clock.now().duration_since(start).unwrap(), Duration::from_secs(5));
}

#[test]
fn a_batch_with_five_panicking_records_completes_the_other_fifteen() {
    // The breaker (threshold 3) protects an outside service: panics on bad records are not
    // its failures, are not retried, and never fail another job. (On the system clock: on a
    // fake one, a panic whose backtrace takes long to print would be deemed timed out.)
    let r = Runner::new();
    let p = plan("picky", "guarded", "");
    let mut completed = 0;
    for i in 0..20 {
        let id = if i % 4 == 1 { format!("j{i}-bad") } else { format!("j{i}") };
        let out = r.run(&p, Job::new(id.clone(), "pmc"));
        let line = &out.report.stages[0];
        if id.ends_with("-bad") {
            assert_eq!(out.report.status, RunStatus::Failed, "{id}");
            assert_eq!(line.attempts, 1, "{id}: a panic is not retried");
            let failure = line.failure.as_ref().expect("a failed stage says why");
            assert_eq!(failure.kind, FailureKind::Panicked);
            assert!(!failure.retried);
            assert!(failure.retry.starts_with("not retried: a panic"), "{}", failure.retry);
            assert!(
                line.message.as_deref().unwrap().contains("is not a char boundary"),
                "{:?}",
                line.message
            );
        } else {
            assert_eq!(out.report.status, RunStatus::Completed, "{id}: {:?}", line.message);
            assert_eq!(line.failure, None);
            completed += 1;
        }
    }
    assert_eq!(completed, 15);
}

#[test]
fn a_stage_error_is_retried_only_when_its_sources_say_the_failure_is_transient() {
    let r = rig();
    let out =
        r.runner.run(&plan("io-failing", "default", "    config: {kind: missing}\n"), Job::new("a", "pmc"));
    let line = &out.report.stages[0];
    assert_eq!(line.attempts, 1, "a missing file is permanent");
    assert_eq!(line.failure.as_ref().unwrap().kind, FailureKind::Permanent);
    let out =
        r.runner.run(&plan("io-failing", "default", "    config: {kind: refused}\n"), Job::new("b", "pmc"));
    let line = &out.report.stages[0];
    assert_eq!(line.attempts, 4, "a refused connection is retried");
    let failure = line.failure.as_ref().unwrap();
    assert_eq!((failure.kind, failure.retried), (FailureKind::Transient, true));
    assert_eq!(failure.retry, "retried: all 4 attempts that policy `default` allows failed");
    // The report keeps it through its JSON form.
    let json = serde_json::to_value(&out.report).unwrap();
    assert_eq!(json["stages"][0]["failure"]["kind"], "transient");
}

#[test]
fn timeouts_are_retried_but_do_not_open_the_breaker() {
    let r = rig();
    let p = plan("hang", "guarded", "");
    for i in 0..3 {
        let out = r.runner.run(&p, Job::new(format!("h{i}"), "pmc"));
        let failure = out.report.stages[0].failure.clone().unwrap();
        assert_eq!((failure.kind, out.report.stages[0].attempts), (FailureKind::TimedOut, 3));
    }
    // Nine timeouts later, a stage under the same policy and breaker is still called.
    let flaky = plan("flaky", "guarded", "    config: {fail_times: 0}\n");
    let out = r.runner.run(&flaky, Job::new("f", "pmc"));
    assert_eq!(out.report.status, RunStatus::Completed);
    let hang_again = r.runner.run(&p, Job::new("h9", "pmc"));
    assert_eq!(hang_again.report.stages[0].failure.as_ref().unwrap().kind, FailureKind::TimedOut);
}

#[test]
fn transient_failures_open_the_breaker_which_the_report_names() {
    let r = rig();
    let p = plan("flaky", "once", "    config: {fail_times: 100}\n");
    for _ in 0..3 {
        r.runner.run(&p, Job::new("j", "pmc"));
    }
    let open = r.runner.run(&p, Job::new("j", "pmc"));
    let failure = open.report.stages[0].failure.clone().unwrap();
    assert_eq!(failure.kind, FailureKind::BreakerOpen);
    assert!(failure.retry.contains("circuit breaker is open"), "{}", failure.retry);
}
