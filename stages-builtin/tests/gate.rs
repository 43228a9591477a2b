//! The `gate` stage on fake time: polling, timeouts, retries, host caps, parking, delivered
//! documents, `changed` baselines kept across a park.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;
use stage_core::{
    spec, Clock, FakeClock, HostSettings, InMemoryLedger, Job, Ledger, Plan, PlanOptions, RunStatus, Runner,
    StageRegistry, StageStatus,
};
use stages_builtin as _;

fn plan(gates: &str, stage_config: &str) -> Plan {
    let yaml = format!(
        "name: g\nversion: 2025-01-01\nstages:\n  - name: gate_ready\n    type: gate\n{stage_config}gates:\n{gates}"
    );
    let loaded = spec::load_str("g.yaml", &yaml).unwrap();
    Plan::new(&loaded.value, StageRegistry::global(), &PlanOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

const READY: &str = "  - name: ready\n    timeout_seconds: 900\n    poll_interval_seconds: 10\n    condition: {field: pdf_ir_ready, equals: true}\n";

fn run(
    plan: &Plan,
    ledger: Arc<dyn Ledger>,
    clock: Arc<dyn Clock>,
    host: HostSettings,
) -> stage_core::RunOutcome {
    Runner::new().with_ledger(ledger).with_clock(clock).with_host(host).run(plan, Job::new("job-1", "pmc"))
}

#[test]
fn a_gate_that_never_passes_polls_until_its_timeout_then_parks() {
    let (ledger, clock) = (Arc::new(InMemoryLedger::new()), Arc::new(FakeClock::default()));
    let start = clock.now();
    let out = run(&plan(READY, ""), ledger.clone(), clock.clone(), HostSettings::default());
    assert_eq!(out.report.status, RunStatus::Parked);
    let line = &out.report.stages[0];
    assert_eq!(line.status, StageStatus::Parked);
    assert_eq!(
        line.message.as_deref(),
        Some("gate `ready` did not pass within 900 s (91 evaluation(s)); the run is parked until it does")
    );
    assert_eq!(clock.now().duration_since(start).unwrap(), Duration::from_secs(900));
    assert_eq!(ledger.get("job-1", "gate.ready.status").unwrap(), Some(json!("parked")));
    assert_eq!(ledger.get("job-1", "gate.ready.attempts").unwrap(), Some(json!(91)));
    assert_eq!(ledger.get("job-1", "gate.ready.elapsed_seconds").unwrap(), Some(json!(900.0)));
}

/// A clock whose sleeps let an external converter act after a number of polls.
struct ConverterArrives {
    inner: FakeClock,
    sleeps: AtomicU32,
    after: u32,
    ledger: Arc<InMemoryLedger>,
    document: Option<String>,
}

impl Clock for ConverterArrives {
    fn now(&self) -> SystemTime {
        self.inner.now()
    }
    fn sleep(&self, d: Duration) {
        self.inner.sleep(d);
        if self.sleeps.fetch_add(1, Ordering::SeqCst) + 1 == self.after {
            if let Some(path) = &self.document {
                self.ledger.set("job-1", "pdf_ir_path", json!(path)).unwrap();
            }
            self.ledger.set("job-1", "pdf_ir_ready", json!(true)).unwrap();
        }
    }
}

#[test]
fn a_gate_passes_when_the_ledger_says_ready_and_delivers_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let doc =
        json!({"id": "PMC1", "title": "Delivered", "sections": [{"title": "Body", "paragraphs": ["Text."]}]});
    std::fs::write(dir.path().join("doc.json"), doc.to_string()).unwrap();
    let ledger = Arc::new(InMemoryLedger::new());
    let clock = Arc::new(ConverterArrives {
        inner: FakeClock::default(),
        sleeps: AtomicU32::new(0),
        after: 3,
        ledger: ledger.clone(),
        document: Some("doc.json".into()),
    });
    let host = HostSettings { run_dir: Some(dir.path().to_owned()), ..Default::default() };
    let out = run(&plan(READY, ""), ledger.clone(), clock, host);
    assert_eq!(out.report.status, RunStatus::Completed, "{:#?}", out.report);
    assert_eq!(out.report.stages[0].output_count, 1);
    assert_eq!(out.report.results["gate_ready"]["output"]["title"], "Delivered");
    assert_eq!(ledger.get("job-1", "gate.ready.status").unwrap(), Some(json!("passed")));
    assert_eq!(ledger.get("job-1", "gate.ready.attempts").unwrap(), Some(json!(4)));
    assert_eq!(ledger.get("job-1", "gate.ready.elapsed_seconds").unwrap(), Some(json!(30.0)));
}

#[test]
fn a_passed_gate_without_a_delivered_document_writes_nothing() {
    let ledger = Arc::new(InMemoryLedger::new());
    ledger.set("job-1", "pdf_ir_ready", json!(true)).unwrap();
    let out = run(&plan(READY, ""), ledger, Arc::new(FakeClock::default()), HostSettings::default());
    assert_eq!(out.report.status, RunStatus::Completed);
    assert_eq!(out.report.stages[0].output_count, 0);
    assert_eq!(out.report.results["gate_ready"]["output"], json!(null));
    assert!(out.state.written("gate_ready", "document").is_none());
}

#[test]
fn a_missing_delivered_document_fails_the_gate_naming_it() {
    let ledger = Arc::new(InMemoryLedger::new());
    ledger.set("job-1", "pdf_ir_ready", json!(true)).unwrap();
    ledger.set("job-1", "pdf_ir_path", json!("/nonexistent/doc.json")).unwrap();
    let out = run(&plan(READY, ""), ledger, Arc::new(FakeClock::default()), HostSettings::default());
    assert_eq!(out.report.status, RunStatus::Failed);
    let msg = out.report.stages[0].message.clone().unwrap();
    assert!(
        msg.starts_with("gate `ready` passed for job `job-1`, but the delivered document `/nonexistent/doc.json` could not be loaded:"),
        "{msg}"
    );
}

#[test]
fn retry_caps_the_evaluations_and_sets_the_pause() {
    let gates = "  - name: ready\n    retry: {max_attempts: 5, delay_seconds: 5}\n    condition: {field: pdf_ir_ready, equals: true}\n";
    let (ledger, clock) = (Arc::new(InMemoryLedger::new()), Arc::new(FakeClock::default()));
    let start = clock.now();
    let out = run(&plan(gates, ""), ledger.clone(), clock.clone(), HostSettings::default());
    assert_eq!(out.report.status, RunStatus::Parked);
    assert_eq!(ledger.get("job-1", "gate.ready.attempts").unwrap(), Some(json!(5)));
    assert_eq!(clock.now().duration_since(start).unwrap(), Duration::from_secs(20));
}

#[test]
fn with_no_timeout_and_no_retry_a_gate_evaluates_once() {
    let gates = "  - name: ready\n    condition: {field: pdf_ir_ready, equals: true}\n";
    let ledger = Arc::new(InMemoryLedger::new());
    let out = run(&plan(gates, ""), ledger.clone(), Arc::new(FakeClock::default()), HostSettings::default());
    assert_eq!(out.report.status, RunStatus::Parked);
    assert_eq!(ledger.get("job-1", "gate.ready.attempts").unwrap(), Some(json!(1)));
    assert!(out.report.stages[0].message.as_deref().unwrap().contains("at its single evaluation"));
}

#[test]
fn the_host_caps_long_waits() {
    let (ledger, clock) = (Arc::new(InMemoryLedger::new()), Arc::new(FakeClock::default()));
    let start = clock.now();
    let host = HostSettings { max_wait: Some(Duration::from_secs(60)), ..Default::default() };
    let out = run(&plan(READY, ""), ledger.clone(), clock.clone(), host);
    assert_eq!(out.report.status, RunStatus::Parked);
    assert_eq!(clock.now().duration_since(start).unwrap(), Duration::from_secs(60));
    assert_eq!(ledger.get("job-1", "gate.ready.attempts").unwrap(), Some(json!(7)));
}

#[test]
fn the_stage_config_form_with_key_and_expected_is_evaluated() {
    let stage_config = "    config:\n      conditions:\n        - key: ledger.pdf_ir_ready\n          expected: true\n      timeout_seconds: 30\n      poll_interval_seconds: 10\n";
    let gates = "  - name: ready\n    condition: {field: pdf_ir_ready, equals: true}\n";
    let ledger = Arc::new(InMemoryLedger::new());
    ledger.set("job-1", "pdf_ir_ready", json!(false)).unwrap();
    let out = run(
        &plan(gates, stage_config),
        ledger.clone(),
        Arc::new(FakeClock::default()),
        HostSettings::default(),
    );
    assert_eq!(out.report.status, RunStatus::Parked);
    assert_eq!(ledger.get("job-1", "gate.ready.attempts").unwrap(), Some(json!(4)));
}

#[test]
fn a_changed_condition_keeps_its_baseline_across_a_park_and_passes_on_resume() {
    let gates = "  - name: revised\n    condition:\n      mode: all\n      clauses:\n        - {field: metadata.revision, operator: changed}\n";
    let p = plan(gates, "");
    let ledger = Arc::new(InMemoryLedger::new());
    ledger.set_metadata("job-1", "revision", json!(1)).unwrap();
    let clock = Arc::new(FakeClock::default());
    let runner = Runner::new().with_ledger(ledger.clone()).with_clock(clock);
    let first = runner.run(&p, Job::new("job-1", "pmc"));
    assert_eq!(first.report.status, RunStatus::Parked);
    // Nothing changed yet: still parked.
    let again = runner.run_from(&p, first.state);
    assert_eq!(again.report.status, RunStatus::Parked);
    ledger.set_metadata("job-1", "revision", json!(2)).unwrap();
    let resumed = runner.run_from(&p, again.state);
    assert_eq!(resumed.report.status, RunStatus::Completed, "{:#?}", resumed.report);
}

// ---------------------------------------------------------------------------------------------
// Hostile input: a delivered document that is not a regular file, or too big; a zero delay.

/// Runs a gate that passes at once with `pdf_ir_path` set to `path`; the failure message.
fn delivered_failure(path: &str) -> String {
    let ledger = Arc::new(InMemoryLedger::new());
    ledger.set("job-1", "pdf_ir_ready", json!(true)).unwrap();
    ledger.set("job-1", "pdf_ir_path", json!(path)).unwrap();
    let out = run(&plan(READY, ""), ledger, Arc::new(FakeClock::default()), HostSettings::default());
    assert_eq!(out.report.status, RunStatus::Failed, "{path}: {:#?}", out.report);
    out.report.stages[0].message.clone().unwrap_or_default()
}

#[cfg(unix)]
#[test]
fn a_fifo_as_the_delivered_document_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("doc.json");
    match std::process::Command::new("mkfifo").arg(&fifo).status() {
        Ok(s) if s.success() => {}
        _ => {
            println!("notice: mkfifo is unavailable; skipping");
            return;
        }
    }
    // Before the fix, reading it blocked the run forever: now a hang fails the test.
    let path = fifo.to_str().unwrap().to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(delivered_failure(&path));
    });
    let msg =
        rx.recv_timeout(Duration::from_secs(60)).expect("the gate returned (it did not block on the FIFO)");
    assert!(
        msg.ends_with(
            "could not be loaded: it is not a regular file (a FIFO); `pdf_ir_path` must name a JSON file"
        ),
        "{msg}"
    );
}

#[cfg(unix)]
#[test]
fn dev_zero_and_directories_are_refused_as_documents() {
    let msg = delivered_failure("/dev/zero");
    assert!(
        msg.ends_with("it is not a regular file (a device); `pdf_ir_path` must name a JSON file"),
        "{msg}"
    );
    let dir = tempfile::tempdir().unwrap();
    let msg = delivered_failure(dir.path().to_str().unwrap());
    assert!(
        msg.ends_with("it is not a regular file (a directory); `pdf_ir_path` must name a JSON file"),
        "{msg}"
    );
}

#[test]
fn a_document_over_the_size_cap_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    // Sparse: no disk space used, no time spent; the cap is checked before reading.
    std::fs::File::create(&big).unwrap().set_len(stages_builtin::gate::MAX_DOCUMENT_BYTES + 1).unwrap();
    let msg = delivered_failure(big.to_str().unwrap());
    assert!(
        msg.ends_with("it holds 67108865 bytes or more, over the 64 MiB a delivered document may hold"),
        "{msg}"
    );
}

#[test]
fn a_zero_delay_still_pauses_the_minimum_between_evaluations() {
    let gates = "  - name: ready\n    timeout_seconds: 60\n    retry: {max_attempts: 5, delay_seconds: 0}\n    condition: {field: pdf_ir_ready, equals: true}\n";
    let (ledger, clock) = (Arc::new(InMemoryLedger::new()), Arc::new(FakeClock::default()));
    let start = clock.now();
    let out = run(&plan(gates, ""), ledger.clone(), clock.clone(), HostSettings::default());
    assert_eq!(out.report.status, RunStatus::Parked);
    assert_eq!(ledger.get("job-1", "gate.ready.attempts").unwrap(), Some(json!(5)));
    // Four pauses of MIN_GATE_PAUSE_SECONDS (0.5 s), not four pauses of nothing.
    assert_eq!(clock.now().duration_since(start).unwrap(), Duration::from_secs(2));
}

#[test]
fn an_unbounded_retry_is_refused_when_planned() {
    let gates = "  - name: ready\n    retry: {max_attempts: 4294967295, delay_seconds: 0}\n    condition: {field: pdf_ir_ready, equals: true}\n";
    let yaml = format!(
        "name: g\nversion: 2025-01-01\nstages:\n  - name: gate_ready\n    type: gate\ngates:\n{gates}"
    );
    let loaded = spec::load_str("g.yaml", &yaml).unwrap();
    let e = Plan::new(&loaded.value, StageRegistry::global(), &PlanOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("g.yaml:8:12: error: gate `ready` has no `timeout_seconds` and its `retry` (4294967295 evaluations, 0.5 s apart)"),
        "{e}"
    );
}
