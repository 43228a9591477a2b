//! Durable runs across processes: every shared pipeline file runs with the built-in stages;
//! two-phase files park at their gate, an external converter (another process) delivers the
//! document, `stagectl watch` (a new process) resumes them; a run killed with SIGKILL loses
//! no completed stage and leaves no duplicate rows.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{data_dir, job, pdf_server, record, root, stagectl, text};

fn compat_files() -> Vec<std::path::PathBuf> {
    let dir = root().join("tests/compat/pipelines");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

/// The converter: turns the downloaded PDF into a document file and says so in the ledger,
/// each step in its own process.
fn convert(store: &Path, job_id: &str) {
    let rec = record(store, job_id);
    let pdf =
        rec["state"]["stages"]["download"]["written"][0][1][0]["path"].as_str().expect("a downloaded file");
    assert!(std::fs::read(pdf).unwrap().starts_with(b"%PDF"), "the PDF is on disk");
    let doc = serde_json::json!({
        "id": job_id,
        "title": "Converted article",
        "source": "pdf",
        "metadata": {"converted_from": pdf},
        "sections": [{"title": "Results", "paragraphs": [
            "Metformin reduces HbA1c in type 2 diabetes. Atorvastatin lowers LDL cholesterol."
        ]}],
    });
    let doc_path = store.join(format!("{job_id}.document.json"));
    std::fs::write(&doc_path, doc.to_string()).unwrap();
    let s = store.to_str().unwrap();
    for (field, value) in [("pdf_ir_path", doc_path.to_str().unwrap()), ("pdf_ir_ready", "true")] {
        let out = stagectl(&["ledger", "set", job_id, field, value, "--store", s]);
        assert!(out.status.success(), "{}", text(&out));
    }
}

#[test]
fn every_shared_file_runs_with_the_built_in_stages_and_two_phase_files_resume_across_processes() {
    let files = compat_files();
    assert_eq!(files.len(), 10, "tests/compat/pipelines holds the ten files");
    let server = pdf_server();
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path(), &server);
    for (i, file) in files.iter().enumerate() {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        let store = dir.path().join(format!("store-{i}"));
        let s = store.to_str().unwrap();
        let yaml = std::fs::read_to_string(file).unwrap();
        let source = yaml
            .split("applicable_sources:")
            .nth(1)
            .and_then(|rest| rest.lines().find_map(|l| l.trim().strip_prefix("- ")))
            .unwrap_or("pmc")
            .to_owned();
        // The records come from the adapter the file names, else the one serving the source.
        let adapter = yaml
            .lines()
            .find_map(|l| l.trim().strip_prefix("adapter: "))
            .filter(|a| *a != "auto")
            .unwrap_or(&source)
            .to_owned();
        let job_id = format!("job-{i}");
        let out = stagectl(&[
            "run",
            file.to_str().unwrap(),
            &job(&job_id, &source, &adapter, &data),
            "--store",
            s,
            "--max-gate-wait",
            "0.5",
            "--rebase-paths",
        ]);
        assert!(out.status.success(), "{name}: {}", text(&out));
        let rec = record(&store, &job_id);
        let two_phase = yaml.contains("type: gate");
        if !two_phase {
            assert_eq!(rec["status"], "completed", "{name}: {}", text(&out));
            continue;
        }
        assert_eq!(rec["status"], "parked", "{name}: {}", text(&out));
        assert_eq!(
            String::from_utf8_lossy(
                &stagectl(&["ledger", "get", &job_id, "gate.pdf_ir_ready.status", "--store", s]).stdout
            )
            .trim(),
            "\"parked\""
        );
        // Not ready yet: resume says so and changes nothing.
        let early = stagectl(&["resume", &job_id, "--store", s]);
        assert_eq!(early.status.code(), Some(3), "{name}: {}", text(&early));
        assert!(text(&early).contains("is still parked at gate `pdf_ir_ready`"), "{}", text(&early));

        convert(&store, &job_id);
        let watch = logged(&["watch", "--once", "--store", s]);
        assert!(watch.status.success(), "{name}: {}", text(&watch));
        let resumed = text(&watch);
        assert!(resumed.contains("started job="), "{name}: stage events are logged:\n{resumed}");
        assert!(!resumed.contains(r#"stage="ingest""#), "{name}: completed stages re-ran:\n{resumed}");
        assert!(!resumed.contains(r#"stage="download""#), "{name}: the download re-ran:\n{resumed}");
        let rec = record(&store, &job_id);
        assert_eq!(rec["status"], "completed", "{name}: {resumed}");
        let results = &rec["report"]["results"];
        assert_eq!(results["download"]["type"], "download");
        assert!(
            results["chunk"]["output"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["text"].as_str().unwrap().contains("Metformin reduces HbA1c")),
            "{name}: the delivered document was chunked"
        );
        let stats: serde_json::Value =
            serde_json::from_slice(&stagectl(&["query", "stats", "--json", "--store", s]).stdout).unwrap();
        assert!(stats["edges"].as_u64().unwrap() >= 1, "{name}: {stats}");
    }
}

/// The gated example pipeline (`examples/pipelines/gated.yaml`) with its gate waiting 120 s
/// before it parks, so that a test can kill the run while it waits.
fn slow_gate() -> String {
    let gated = include_str!("../../examples/pipelines/gated.yaml");
    let slow = gated.replace("timeout_seconds: 2\n", "timeout_seconds: 120\n");
    assert_ne!(slow, gated, "examples/pipelines/gated.yaml no longer sets `timeout_seconds: 2`");
    slow
}

/// `stagectl` with every stage event logged (`started`, `completed`: one line each).
fn logged(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stagectl"))
        .env("STAGES_EMBEDDER", "feature-hashing")
        .args(args)
        .current_dir(root())
        .env("STAGECTL_LOG", "stage_core::run=info,warn")
        .output()
        .expect("stagectl runs")
}

#[test]
fn a_run_killed_between_two_stages_resumes_from_its_checkpoint_without_duplicate_rows() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("kill-me.yaml");
    std::fs::write(&pipeline, slow_gate()).unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let job = r#"{"job_id": "k-1", "source": "pmc", "adapter_request": {"data_dir": "examples/data", "id": "PMC9000001"}}"#;
    let mut child = Command::new(env!("CARGO_BIN_EXE_stagectl"))
        .env("STAGES_EMBEDDER", "feature-hashing")
        .args(["run", pipeline.to_str().unwrap(), job, "--store", s, "--quiet"])
        .current_dir(root())
        .spawn()
        .unwrap();
    // Wait until the checkpoint shows `index` completed: the run is now waiting at the gate.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = stagectl(&["runs", "k-1", "--json", "--store", s]);
        let done = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .is_ok_and(|r| r["state"]["stages"]["index"]["status"] == "completed");
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "the run never reached the gate");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let rec = record(&store, "k-1");
    assert_eq!(rec["status"], "running", "the killed run's last checkpoint");
    let indexed = rec["state"]["stages"]["index"]["report"]["output_count"].as_u64().unwrap();
    assert!(indexed > 0);

    assert!(stagectl(&["ledger", "set", "k-1", "go", "true", "--store", s]).status.success());
    let out = logged(&["resume", "k-1", "--store", s]);
    assert!(out.status.success(), "{}", text(&out));
    let all = text(&out);
    for stage in ["ingest", "parse", "chunk", "embed", "index"] {
        assert!(!all.contains(&format!("stage=\"{stage}\"")), "{stage} re-ran:\n{all}");
    }
    assert!(all.contains(r#"completed job="k-1" stage="kg""#), "{all}");
    let rec = record(&store, "k-1");
    assert_eq!(rec["status"], "completed");
    let stats: serde_json::Value =
        serde_json::from_slice(&stagectl(&["query", "stats", "--json", "--store", s]).stdout).unwrap();
    assert_eq!(stats["chunks"].as_u64().unwrap(), indexed, "no duplicate rows");
    // Running the job again from the start replaces its rows: still no duplicates.
    let again = stagectl(&["run", pipeline.to_str().unwrap(), job, "--store", s, "--quiet"]);
    assert!(again.status.success(), "{}", text(&again));
    let stats2: serde_json::Value =
        serde_json::from_slice(&stagectl(&["query", "stats", "--json", "--store", s]).stdout).unwrap();
    assert_eq!(stats2, stats);
}

#[test]
fn resume_refuses_when_the_pipeline_changed_in_a_way_that_breaks_the_stored_state() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("p.yaml");
    std::fs::write(&pipeline, slow_gate().replace("timeout_seconds: 120", "timeout_seconds: 1")).unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let job = r#"{"job_id": "c-1", "source": "pmc", "adapter_request": {"data_dir": "examples/data", "id": "PMC9000001"}}"#;
    let out = stagectl(&["run", pipeline.to_str().unwrap(), job, "--store", s, "--max-gate-wait", "0.5"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(record(&store, "c-1")["status"], "parked");
    // The completed stage `chunk` is renamed: the stored state has no place in the pipeline.
    let changed = slow_gate().replace("name: chunk\n", "name: chunking\n").replace("[chunk]", "[chunking]");
    std::fs::write(&pipeline, changed).unwrap();
    assert!(stagectl(&["ledger", "set", "c-1", "go", "true", "--store", s]).status.success());
    let out = stagectl(&["resume", "c-1", "--store", s]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(
            "error: job `c-1`: the stored run cannot resume: completed stage `chunk` is no longer in the pipeline; \
             run the job again from the start"
        ),
        "{}",
        text(&out)
    );
    // A change that keeps the stored state's shape resumes, with a warning.
    std::fs::write(&pipeline, slow_gate().replace("poll_interval_seconds: 0.5", "poll_interval_seconds: 1"))
        .unwrap();
    let out = stagectl(&["resume", "c-1", "--store", s]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("warning: job `c-1`: the pipeline file changed since the run was stored"),
        "{}",
        text(&out)
    );
}

/// Parked runs are leased: four `watch` processes and a `resume` started together on one
/// store resume every parked run exactly once (each resume is announced once, by the process
/// that took the run's lease), and every run completes.
#[test]
fn concurrent_watchers_and_a_resume_run_every_parked_run_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("p.yaml");
    std::fs::write(&pipeline, slow_gate().replace("timeout_seconds: 120", "timeout_seconds: 1")).unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let jobs = dir.path().join("jobs.jsonl");
    let ids: Vec<String> = (0..8).map(|i| format!("w-{i}")).collect();
    let lines: Vec<String> = ids
        .iter()
        .map(|id| {
            format!(r#"{{"job_id": "{id}", "source": "pmc", "adapter_request": {{"data_dir": "examples/data", "id": "PMC9000001"}}}}"#)
        })
        .collect();
    std::fs::write(&jobs, lines.join("\n")).unwrap();
    let out = stagectl(&[
        "run",
        pipeline.to_str().unwrap(),
        jobs.to_str().unwrap(),
        "--store",
        s,
        "--max-gate-wait",
        "0.2",
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    for id in &ids {
        assert_eq!(record(&store, id)["status"], "parked", "{id}");
        assert!(stagectl(&["ledger", "set", id, "go", "true", "--store", s]).status.success());
    }
    let spawn = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_stagectl"))
            .env("STAGES_EMBEDDER", "feature-hashing")
            .args(args)
            .current_dir(root())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut children: Vec<std::process::Child> =
        (0..4).map(|_| spawn(&["watch", "--until-idle", "--quiet", "--store", s])).collect();
    children.push(spawn(&["resume", "w-3", "--quiet", "--store", s]));
    let mut announced: Vec<String> = Vec::new();
    let mut resumed_by_resume = 0;
    for (k, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if k == 4 {
            // The resume either ran w-3 or found it taken (exit 3), or already completed.
            match out.status.code() {
                Some(0) if all.contains("job w-3 — pipeline gated — Completed") => resumed_by_resume += 1,
                Some(0) | Some(3) => {}
                other => panic!("resume: {other:?}: {all}"),
            }
        } else {
            assert!(out.status.success(), "watch: {all}");
            for line in all.lines().filter(|l| l.ends_with(": gate condition holds; resuming")) {
                announced.push(line.to_owned());
            }
        }
    }
    for id in &ids {
        let by_watchers = announced.iter().filter(|l| l.starts_with(&format!("job `{id}`:"))).count();
        let by_resume = usize::from(id == "w-3") * resumed_by_resume;
        assert_eq!(
            by_watchers + by_resume,
            1,
            "{id} resumed {by_watchers} + {by_resume} times: {announced:?}"
        );
        assert_eq!(record(&store, id)["status"], "completed", "{id}");
    }
}
