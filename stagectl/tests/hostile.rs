//! Hostile command lines: numbers out of range are refused before anything runs, and a closed
//! stdout ends every command quietly. Each test spawns the binary; a hang would hold the test
//! past any reasonable bound, a panic shows as exit 101 and a `panicked` message.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{root, stagectl, text};

const PIPELINE: &str = "examples/pipelines/literature.yaml";
const JOB: &str = r#"{"job_id": "h-1", "source": "file"}"#;
const CT_JOB: &str = r#"{"job_id": "ct-1", "source": "clinicaltrials", "doc_id": "NCT90000001", "adapter_request": {"data_dir": "examples/data", "id": "NCT90000001"}}"#;

#[test]
fn hostile_max_gate_wait_values_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    for bad in ["-1", "nan", "NaN", "inf", "-inf", "1e308", "86401", "abc"] {
        let flag = format!("--max-gate-wait={bad}");
        let out = stagectl(&["run", PIPELINE, JOB, "--store", store.to_str().unwrap(), &flag]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{bad}: {err}");
        assert!(err.contains("--max-gate-wait"), "{bad}: {err}");
        assert!(err.contains("give seconds from 0 to 86400 (one day)"), "{bad}: {err}");
        assert!(!store.exists(), "{bad}: the store was created: the run started");
    }
    // The separate-argument form takes a negative number as the value, not as a flag.
    let out = stagectl(&["run", PIPELINE, JOB, "--store", store.to_str().unwrap(), "--max-gate-wait", "-1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("out of range; give seconds from 0 to 86400"), "{}", text(&out));
    assert!(!store.exists());
}

#[test]
fn hostile_counts_are_refused_with_their_range() {
    for (flag, bad) in [("--workers", "0"), ("--workers", "-3"), ("--concurrency", "99999999999999999999")] {
        let out = stagectl(&["run", PIPELINE, JOB, flag, bad]);
        assert_eq!(out.status.code(), Some(2), "{flag} {bad}: {}", text(&out));
        assert!(text(&out).contains("give a whole number from 1 to 1024"), "{flag} {bad}: {}", text(&out));
    }
    let out = stagectl(&["query", "text", "x", "--limit", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("give a whole number from 1 to 10000"), "{}", text(&out));
}

#[test]
fn a_hostile_policy_file_is_located_by_validate_and_refused_by_run() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("r.yaml");
    std::fs::write(
        &policies,
        "policies:\n  default:\n    max_attempts: 3\n    timeout_seconds: 30\n    backoff: {initial: 1e308, maximum: 1e308}\n",
    )
    .unwrap();
    let p = policies.to_str().unwrap();
    let out = stagectl(&["validate", PIPELINE, "--policies", p]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{p}:5:24: error: `initial` in `backoff` of policy `default` must be between 0 and 86400, found 1e308"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("{p}:5:40: error: `maximum` in `backoff`")), "{err}");
    let store = dir.path().join("store");
    let out = stagectl(&["run", PIPELINE, JOB, "--store", store.to_str().unwrap(), "--policies", p]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("must be between 0 and 86400, found 1e308"), "{}", text(&out));
    assert!(!store.join("runs").exists(), "no run was recorded");
}

/// Runs `stagectl ARGS` with its stdout a pipe whose reading end is already closed: the
/// first write fails with `EPIPE`, deterministically.
fn with_closed_stdout(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut child = Command::new(env!("CARGO_BIN_EXE_stagectl"))
        .env("STAGES_EMBEDDER", "feature-hashing")
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("stagectl runs");
    // A hang fails the test (after a generous 60 s) instead of holding the suite.
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("stagectl is waited for").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("stagectl {args:?} did not end within 60 s with its stdout closed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("stagectl ends")
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    // A store with a ledger, for the commands that read one.
    let set = stagectl(&["ledger", "set", "j", "f", "1", "--store", s]);
    assert!(set.status.success(), "{}", text(&set));
    let commands: Vec<Vec<&str>> = vec![
        vec!["list"],
        vec!["list", "--json"],
        vec!["describe", "chunk"],
        vec!["describe", "chunk", "--json"],
        vec!["validate", PIPELINE],
        vec!["graph", PIPELINE],
        vec!["graph", PIPELINE, "--json"],
        vec!["ledger", "get", "j", "--store", s],
        vec!["ledger", "get", "j", "f", "--store", s],
        vec!["run", PIPELINE, CT_JOB, "--store", s, "--quiet"],
        vec!["run", PIPELINE, CT_JOB, "--store", s, "--json"],
        vec!["query", "stats", "--store", s],
        vec!["query", "text", "trial", "--store", s],
    ];
    for args in commands {
        let out = with_closed_stdout(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
    }
}
