//! Runs on a real Restate server (the pinned `@restatedev/restate-server`, installed by
//! `npm ci` in the repository root): the README pipeline gives the same results as embedded;
//! a two-phase run parks, survives the server's and the worker's SIGKILL, and completes when
//! its ledger field is set through the server, with no stage executed twice.
//!
//! With `CI=true` a missing server binary fails these tests; elsewhere they print
//! `SKIPPED: <reason>` and return.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{data_dir, job, pdf_server, record, root, stagectl, text};
use serde_json::Value;
use stage_restate::Client;

/// The native server binary (not the Node wrapper in `.bin`, which forwards only some signals).
fn server_binary() -> Option<PathBuf> {
    let p = root().join("node_modules/@restatedev/restate-server-linux-x64/bin/restate-server");
    if p.is_file() {
        return Some(p);
    }
    let why = format!("{} is missing: run `npm ci` in the repository root", p.display());
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true: {why}");
    println!("SKIPPED: {why}");
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A Restate server on loopback, at free ports, its data under `dir`.
struct Server {
    bin: PathBuf,
    dir: PathBuf,
    ingress: u16,
    admin: u16,
    node: u16,
    child: Option<Child>,
}

impl Server {
    fn start(bin: PathBuf, dir: &Path) -> Server {
        let mut s = Server {
            bin,
            dir: dir.to_owned(),
            ingress: free_port(),
            admin: free_port(),
            node: free_port(),
            child: None,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("server.log")).unwrap();
        let child = Command::new(&self.bin)
            .args(["--bind-ip", "127.0.0.1", "--listen-mode", "tcp", "--bind-port", &self.node.to_string()])
            .arg("--base-dir")
            .arg(self.dir.join("restate-data"))
            .env("RESTATE_INGRESS__BIND_PORT", self.ingress.to_string())
            .env("RESTATE_ADMIN__BIND_PORT", self.admin.to_string())
            .env("DO_NOT_TRACK", "1")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        // Ready when the admin SQL endpoint answers (health answers before the partitions).
        let client = self.client();
        let deadline = Instant::now() + Duration::from_secs(90);
        while client.query("SELECT 1").is_err() {
            assert!(
                Instant::now() < deadline,
                "the server never got ready: see {}/server.log",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGKILL.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn ingress(&self) -> String {
        format!("http://127.0.0.1:{}", self.ingress)
    }

    fn admin(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin)
    }

    fn client(&self) -> Client {
        Client::new(&self.ingress(), Some(&self.admin()), Duration::from_secs(30))
    }

    /// `stagectl submit PIPELINE JOBS` to this server, registering the worker (or balancer)
    /// at `register` and reading the store `store`; `extra` arguments after those.
    fn submit(
        &self,
        pipeline: &str,
        jobs: &str,
        register: &str,
        store: &str,
        extra: &[&str],
    ) -> std::process::Output {
        let (ingress, admin) = (self.ingress(), self.admin());
        let mut args =
            vec!["submit", pipeline, jobs, "--restate", &ingress, "--admin", &admin, "--register", register];
        args.extend_from_slice(&["--store", store]);
        args.extend_from_slice(extra);
        stagectl(&args)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `stagectl serve --restate` worker at a fixed port, its log in a file (appended to
/// across restarts).
struct Worker {
    port: u16,
    store: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    extra: Vec<String>,
}

impl Worker {
    fn start(store: &Path, log: &Path) -> Worker {
        Worker::start_with(store, log, &[])
    }

    /// With more `serve` arguments (`--rebase-paths`, `--policies`).
    fn start_with(store: &Path, log: &Path, extra: &[&str]) -> Worker {
        let extra = extra.iter().map(|s| (*s).to_owned()).collect();
        let mut w =
            Worker { port: free_port(), store: store.to_owned(), log: log.to_owned(), child: None, extra };
        w.spawn();
        w
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_stagectl"))
            .env("STAGES_EMBEDDER", "feature-hashing")
            .args(["serve", "--restate", "--listen", &format!("127.0.0.1:{}", self.port), "--quiet"])
            .arg("--store")
            .arg(&self.store)
            .args(&self.extra)
            .env("STAGECTL_LOG", "stage_restate=info,warn")
            .env("NO_COLOR", "1")
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        // Listening once it says so.
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert!(line.starts_with("listening on http://"), "worker said: {line:?}");
        self.child = Some(child);
    }

    fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// How many times each stage was executed, from the log's `step executed` lines.
    fn executions(&self, job: &str) -> std::collections::BTreeMap<String, usize> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut counts = std::collections::BTreeMap::new();
        let prefix = format!("step executed: job {job} stage ");
        for line in log.lines() {
            if let Some(i) = line.find(&prefix) {
                let stage = line[i + prefix.len()..].split_whitespace().next().unwrap_or("").to_owned();
                *counts.entry(stage).or_insert(0) += 1;
            }
        }
        counts
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// A report's comparable part: status, each stage's name, status and output count, results.
fn essence(report: &Value) -> Value {
    let stages: Vec<Value> = report["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| serde_json::json!([s["name"], s["status"], s["output_count"]]))
        .collect();
    serde_json::json!({"job": report["job_id"], "status": report["status"], "stages": stages, "results": report["results"]})
}

#[test]
fn restate_runs_the_readme_pipeline_with_the_same_results_as_embedded() {
    let Some(bin) = server_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin, dir.path());
    let worker = Worker::start(&dir.path().join("restate-store"), &dir.path().join("worker.log"));
    let jobs = dir.path().join("jobs.jsonl");
    let corpus = std::fs::read_to_string(root().join("examples/jobs/corpus.jsonl")).unwrap();
    let mut few: Vec<&str> = corpus.lines().filter(|l| !l.trim().is_empty()).take(4).collect();
    // And a job that fails permanently (no such record): failed once, not retried, as embedded.
    let bad = r#"{"job_id": "bad-1", "source": "pmc", "adapter_request": {"data_dir": "examples/data", "id": "PMC_NOPE"}}"#;
    few.push(bad);
    std::fs::write(&jobs, few.join("\n")).unwrap();
    let (jobs, pipeline) = (jobs.to_str().unwrap(), "examples/pipelines/literature.yaml");

    let embedded_store = dir.path().join("embedded-store");
    let e = embedded_store.to_str().unwrap();
    let embedded = stagectl(&["run", pipeline, jobs, "--store", e, "--json", "--quiet"]);
    assert_eq!(embedded.status.code(), Some(1), "one job failed: {}", text(&embedded));

    let restate_store = worker.store.to_str().unwrap().to_owned();
    let on_restate = server.submit(pipeline, jobs, &worker.uri(), &restate_store, &["--wait", "--json"]);
    assert_eq!(on_restate.status.code(), Some(1), "one job failed: {}", text(&on_restate));

    // Reports name their store (`index`, `kg`): the same once each store is `<store>`.
    let canon = |p: &str| std::fs::canonicalize(p).unwrap().to_str().unwrap().to_owned();
    let normal = |out: &[u8], store: &str| -> Vec<Value> {
        let text = String::from_utf8_lossy(out).replace(&canon(store), "<store>").replace(store, "<store>");
        let mut v: Vec<Value> = json_lines(text.as_bytes()).iter().map(essence).collect();
        v.sort_by_key(|v| v["job"].to_string());
        v
    };
    let a = normal(&embedded.stdout, e);
    let b = normal(&on_restate.stdout, &restate_store);
    // A request may expand into several jobs (one per record).
    assert!(a.len() >= few.len(), "{}", text(&embedded));
    assert!(a.iter().filter(|r| r["status"] == "completed").count() >= few.len() - 1, "{a:?}");
    assert_eq!(a.iter().filter(|r| r["status"] == "failed").count(), 1, "{a:?}");
    assert_eq!(a.len(), b.len(), "as many runs on Restate as embedded");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            x, y,
            "job {}: the same report (stages, counts, results) embedded and on Restate",
            x["job"]
        );
    }

    // The same index and graph rows.
    let stats = |s: &str| stagectl(&["query", "stats", "--json", "--store", s]).stdout;
    let (sa, sb) = (stats(e), stats(&restate_store));
    assert!(!sa.is_empty());
    assert_eq!(String::from_utf8_lossy(&sa), String::from_utf8_lossy(&sb));
    let search = |s: &str| stagectl(&["query", "text", "trial", "--json", "--store", s]).stdout;
    assert_eq!(String::from_utf8_lossy(&search(e)), String::from_utf8_lossy(&search(&restate_store)));

    // Submitting again does not run again; every stage ran once per job.
    let again = server.submit(pipeline, jobs, &worker.uri(), &restate_store, &[]);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(text(&again).matches("already submitted").count(), a.len(), "{}", text(&again));
    let first = serde_json::from_str::<Value>(few[0]).unwrap();
    let job = first["job_id"].as_str().unwrap();
    let runs = worker.executions(job);
    assert!(!runs.is_empty() && runs.values().all(|&n| n == 1), "{runs:?}");
    let failed = worker.executions("bad-1");
    assert_eq!(
        failed.into_iter().collect::<Vec<_>>(),
        [("ingest".to_owned(), 1)],
        "a permanent failure is not retried"
    );
}

/// The gated example pipeline: its gate polls the ledger for 2 s, then parks the run.
const GATED: &str = include_str!("../../examples/pipelines/gated.yaml");

fn wait_for_status(client: &Client, job: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(v) = client.status(job) {
            if v["status"] == want {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "job {job} never became {want}: {:?}", client.status(job));
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn restate_parked_run_survives_server_and_worker_sigkill_and_completes_on_signal() {
    let Some(bin) = server_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(bin, dir.path());
    let mut worker = Worker::start(&dir.path().join("store"), &dir.path().join("worker.log"));
    let pipeline = dir.path().join("gated.yaml");
    std::fs::write(&pipeline, GATED).unwrap();
    let job = r#"{"job_id": "g-1", "source": "pmc", "adapter_request": {"data_dir": "examples/data", "id": "PMC9000001"}}"#;
    let store = worker.store.to_str().unwrap().to_owned();
    let out = server.submit(pipeline.to_str().unwrap(), job, &worker.uri(), &store, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let client = server.client();
    let parked = wait_for_status(&client, "g-1", "parked");
    assert_eq!(parked["stage"], "wait", "{parked}");
    assert_eq!(parked["ledger"]["gate.go.status"], "parked", "{parked}");
    // The note tells the workflow's wait (2 s, polled every 0.5 s), not the one-evaluation step's.
    assert_eq!(
        parked["note"],
        "gate `go` did not pass within 2 s (4 evaluation(s)); the run is parked until it does",
        "{parked}"
    );

    server.kill();
    server.spawn();
    worker.kill();
    worker.spawn();
    let still = wait_for_status(&client, "g-1", "parked");
    assert_eq!(still["stage"], "wait");

    let set = stagectl(&["ledger", "set", "g-1", "go", "true", "--restate", &server.ingress()]);
    assert!(set.status.success(), "{}", text(&set));
    let report = Client::new(&server.ingress(), None, Duration::from_secs(120)).attach("g-1").unwrap();
    assert_eq!(report.status, stage_core::RunStatus::Completed, "{report:?}");
    assert_eq!(report.stages.len(), 8);
    assert!(report.stages.iter().all(|s| s.status == stage_core::StageStatus::Completed), "{report:?}");
    let done = wait_for_status(&client, "g-1", "completed");
    assert_eq!(done["ledger"]["go"], true);

    let runs = worker.executions("g-1");
    for stage in ["ingest", "parse", "chunk", "embed", "index", "extract", "kg"] {
        assert_eq!(runs.get(stage), Some(&1), "{stage} executed once: {runs:?}");
    }
    assert!(runs.get("wait").is_some_and(|&n| n >= 2), "the gate re-checked: {runs:?}");
}

/// `stagectl balance` on loopback in front of N workers (Restate registers one URI per
/// deployment): each request — one invocation attempt — goes to the next worker in turn.
struct Balancer {
    port: u16,
    child: Child,
}

fn balancer(backends: Vec<u16>) -> Balancer {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stagectl"))
        .args(["balance", "--listen", "127.0.0.1:0"])
        .args(backends.iter().map(|p| format!("127.0.0.1:{p}")))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let port = line
        .trim()
        .strip_prefix("balancing on http://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("balancer said: {line:?}"));
    Balancer { port, child }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn restate_two_workers_share_a_batch_and_each_job_completes_once() {
    let Some(bin) = server_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(bin, dir.path());
    let store = dir.path().join("store");
    let w1 = Worker::start(&store, &dir.path().join("worker1.log"));
    let w2 = Worker::start(&store, &dir.path().join("worker2.log"));
    let lb = balancer(vec![w1.port, w2.port]);

    // 100 jobs: the corpus's records again and again, each under its own id.
    let corpus = std::fs::read_to_string(root().join("examples/jobs/corpus.jsonl")).unwrap();
    let records: Vec<Value> =
        corpus.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
    let batch: Vec<String> = (0..100)
        .map(|i| {
            let mut job = records[i % records.len()].clone();
            job["job_id"] = Value::String(format!("b-{i:03}"));
            job.to_string()
        })
        .collect();
    let jobs = dir.path().join("batch.jsonl");
    std::fs::write(&jobs, batch.join("\n")).unwrap();
    let (jobs, pipeline) = (jobs.to_str().unwrap(), "examples/pipelines/literature.yaml");

    let embedded_store = dir.path().join("embedded-store");
    let e = embedded_store.to_str().unwrap();
    let started = Instant::now();
    let embedded = stagectl(&["run", pipeline, jobs, "--store", e, "--json", "--quiet"]);
    let embedded_secs = started.elapsed().as_secs_f64();
    assert!(embedded.status.success(), "{}", text(&embedded));

    let s = store.to_str().unwrap();
    let uri = format!("http://127.0.0.1:{}", lb.port);
    let started = Instant::now();
    let out = server.submit(pipeline, jobs, &uri, s, &["--wait", "--json"]);
    let restate_secs = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", text(&out));

    let canon = |p: &str| std::fs::canonicalize(p).unwrap().to_str().unwrap().to_owned();
    let normal = |out: &[u8], store: &str| -> Vec<Value> {
        let text = String::from_utf8_lossy(out).replace(&canon(store), "<store>").replace(store, "<store>");
        let mut v: Vec<Value> = json_lines(text.as_bytes()).iter().map(essence).collect();
        v.sort_by_key(|v| v["job"].to_string());
        v
    };
    let (a, b) = (normal(&embedded.stdout, e), normal(&out.stdout, s));
    assert!(a.len() >= 100, "{} runs", a.len());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "job {}: the same report embedded and on two workers", x["job"]);
    }
    let stats = |st: &str| {
        String::from_utf8_lossy(&stagectl(&["query", "stats", "--json", "--store", st]).stdout).into_owned()
    };
    assert_eq!(stats(e), stats(s), "the same index and graph rows");

    // Each job's stages executed exactly once, across both workers; both took a share.
    let (mut by1, mut by2) = (0, 0);
    for r in &b {
        let job = r["job"].as_str().unwrap();
        let (x, y) = (w1.executions(job), w2.executions(job));
        by1 += x.values().sum::<usize>();
        by2 += y.values().sum::<usize>();
        let stages = r["stages"].as_array().unwrap().len();
        let mut all = x.clone();
        for (k, n) in y {
            *all.entry(k).or_insert(0) += n;
        }
        assert_eq!(all.len(), stages, "job {job}: every stage executed: {all:?}");
        assert!(all.values().all(|&n| n == 1), "job {job}: no stage executed twice: {all:?}");
    }
    assert!(by1 > 0 && by2 > 0, "both workers executed steps: {by1} and {by2}");
    println!(
        "{} jobs: embedded {embedded_secs:.2} s ({:.0} jobs/s); Restate, 2 workers: {restate_secs:.2} s ({:.0} jobs/s); steps {by1} + {by2}",
        a.len(),
        a.len() as f64 / embedded_secs,
        a.len() as f64 / restate_secs
    );
}

/// `n` jobs: the corpus's records again and again, each under its own id, in a file.
fn batch_file(dir: &Path, n: usize) -> PathBuf {
    let corpus = std::fs::read_to_string(root().join("examples/jobs/corpus.jsonl")).unwrap();
    let records: Vec<Value> =
        corpus.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
    let batch: Vec<String> = (0..n)
        .map(|i| {
            let mut job = records[i % records.len()].clone();
            job["job_id"] = Value::String(format!("t-{i:04}"));
            job.to_string()
        })
        .collect();
    let path = dir.join(format!("batch-{n}.jsonl"));
    std::fs::write(&path, batch.join("\n")).unwrap();
    path
}

/// The benchmark (ignored by default: `cargo test -p stagectl --test restate -- --ignored
/// --nocapture`): `RESTATE_BENCH_JOBS` jobs (700) embedded, on one worker and on two, in one
/// run; prints runs/s for each.
#[test]
#[ignore]
fn restate_batch_throughput_one_and_two_workers_against_embedded() {
    let Some(bin) = server_binary() else { return };
    let n: usize = std::env::var("RESTATE_BENCH_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(700);
    let dir = tempfile::tempdir().unwrap();
    let jobs = batch_file(dir.path(), n);
    let (jobs, pipeline) = (jobs.to_str().unwrap(), "examples/pipelines/literature.yaml");
    let e = dir.path().join("embedded");
    let started = Instant::now();
    let out = stagectl(&[
        "run",
        pipeline,
        jobs,
        "--store",
        e.to_str().unwrap(),
        "--json",
        "--quiet",
        "--concurrency",
        "2",
    ]);
    let embedded_secs = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", text(&out));
    let runs = json_lines(&out.stdout).len();
    println!(
        "{runs} runs: embedded (--concurrency 2): {embedded_secs:.2} s, {:.1} runs/s",
        runs as f64 / embedded_secs
    );
    for workers in [1usize, 2] {
        let sub = dir.path().join(format!("w{workers}"));
        std::fs::create_dir_all(&sub).unwrap();
        let server = Server::start(bin.clone(), &sub);
        let store = sub.join("store");
        let ws: Vec<Worker> =
            (0..workers).map(|i| Worker::start(&store, &sub.join(format!("worker{i}.log")))).collect();
        let lb = balancer(ws.iter().map(|w| w.port).collect());
        let uri = format!("http://127.0.0.1:{}", lb.port);
        let started = Instant::now();
        let out = server.submit(pipeline, jobs, &uri, store.to_str().unwrap(), &["--wait", "--json"]);
        let secs = started.elapsed().as_secs_f64();
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(json_lines(&out.stdout).len(), runs);
        // Where the time goes: CPU seconds of each process of the run.
        let server_cpu = server.child.as_ref().map_or(0.0, |c| cpu_secs(c.id()));
        let worker_cpu: f64 = ws.iter().filter_map(|w| w.child.as_ref()).map(|c| cpu_secs(c.id())).sum();
        let lb_cpu = cpu_secs(lb.child.id());
        let steps = runs * STAGES_PER_RUN;
        println!(
            "{runs} runs: Restate, {workers} worker(s): {secs:.2} s, {:.1} runs/s, {:.2} ms more per stage than embedded; \
             CPU: server {server_cpu:.1} s, worker(s) {worker_cpu:.1} s, balancer {lb_cpu:.1} s ({:.2} / {:.2} ms per stage)",
            runs as f64 / secs,
            (secs - embedded_secs) * 1000.0 / steps as f64,
            server_cpu * 1000.0 / steps as f64,
            worker_cpu * 1000.0 / steps as f64,
        );
    }
}

/// Stages of the README pipeline (each one journaled step on Restate).
const STAGES_PER_RUN: usize = 9;

/// CPU seconds (user + system) process `pid` has used so far, from `/proc` (100 ticks a second).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<f64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0.0)).collect();
    // utime and stime are fields 14 and 15: indices 11 and 12 from the state.
    (fields.get(11).unwrap_or(&0.0) + fields.get(12).unwrap_or(&0.0)) / 100.0
}

/// The compatibility pipelines, copied into the repository (`tests/compat/pipelines`).
fn compat_files() -> Vec<PathBuf> {
    let dir = root().join("tests/compat/pipelines");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

#[test]
fn restate_runs_every_shared_compat_pipeline_like_embedded() {
    let Some(bin) = server_binary() else { return };
    let files = compat_files();
    assert_eq!(files.len(), 10, "tests/compat/pipelines holds the ten files");
    let pdfs = pdf_server();
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path(), &pdfs);
    let srv = dir.path().join("server");
    std::fs::create_dir_all(&srv).unwrap();
    let server = Server::start(bin, &srv);
    let rstore = dir.path().join("restate-store");
    let worker = Worker::start_with(
        &rstore,
        &dir.path().join("worker.log"),
        &["--rebase-paths", "--max-gate-wait", "0.5"],
    );
    let client = server.client();
    let rs = rstore.to_str().unwrap().to_owned();
    for (i, file) in files.iter().enumerate() {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        let yaml = std::fs::read_to_string(file).unwrap();
        let source = yaml
            .split("applicable_sources:")
            .nth(1)
            .and_then(|rest| rest.lines().find_map(|l| l.trim().strip_prefix("- ")))
            .unwrap_or("pmc")
            .to_owned();
        let adapter = yaml
            .lines()
            .find_map(|l| l.trim().strip_prefix("adapter: "))
            .filter(|a| *a != "auto")
            .unwrap_or(&source)
            .to_owned();
        let job_id = format!("compat-{i}");
        let the_job = job(&job_id, &source, &adapter, &data);
        let estore = dir.path().join(format!("embedded-{i}"));
        let es = estore.to_str().unwrap();
        let f = file.to_str().unwrap();
        let out = stagectl(&[
            "run",
            f,
            &the_job,
            "--store",
            es,
            "--max-gate-wait",
            "0.5",
            "--rebase-paths",
            "--json",
            "--quiet",
        ]);
        assert!(out.status.success(), "{name}: {}", text(&out));
        let sub = server.submit(f, &the_job, &worker.uri(), &rs, &["--rebase-paths"]);
        assert!(sub.status.success(), "{name}: {}", text(&sub));
        let mut embedded = json_lines(&out.stdout).into_iter().next().unwrap();
        if yaml.contains("type: gate") {
            // Parked on both; the converter delivers the document to both ledgers.
            assert_eq!(embedded["status"], "parked", "{name}");
            let parked = wait_for_status(&client, &job_id, "parked");
            assert_eq!(parked["ledger"]["gate.pdf_ir_ready.status"], "parked", "{name}: {parked}");
            let doc = serde_json::json!({
                "id": job_id, "title": "Converted article", "source": "pdf",
                "sections": [{"title": "Results", "paragraphs": [
                    "Metformin reduces HbA1c in type 2 diabetes. Atorvastatin lowers LDL cholesterol."
                ]}],
            });
            let doc_path = dir.path().join(format!("{job_id}.document.json"));
            std::fs::write(&doc_path, doc.to_string()).unwrap();
            let d = doc_path.to_str().unwrap();
            for (field, value) in [("pdf_ir_path", d), ("pdf_ir_ready", "true")] {
                let e = stagectl(&["ledger", "set", &job_id, field, value, "--store", es]);
                assert!(e.status.success(), "{}", text(&e));
                let r = stagectl(&["ledger", "set", &job_id, field, value, "--restate", &server.ingress()]);
                assert!(r.status.success(), "{}", text(&r));
            }
            let watch = stagectl(&["watch", "--once", "--store", es, "--rebase-paths"]);
            assert!(watch.status.success(), "{name}: {}", text(&watch));
            embedded = record(&estore, &job_id)["report"].clone();
            assert_eq!(embedded["status"], "completed", "{name}: {}", text(&watch));
        }
        let report = Client::new(&server.ingress(), None, Duration::from_secs(120)).attach(&job_id).unwrap();
        let on_restate = serde_json::to_value(&report).unwrap();
        let norm = |v: &Value, store: &str| -> Value {
            let canon = std::fs::canonicalize(store).unwrap();
            let t = v.to_string().replace(canon.to_str().unwrap(), "<store>").replace(store, "<store>");
            let v: Value = serde_json::from_str(&t).unwrap();
            let mut e = essence(&v);
            // A gate's count is its evaluations (a resumed run's, a workflow's re-checks):
            // every other stage's count, and every output, must be equal.
            if let Some(stages) = e["stages"].as_array_mut() {
                for (i, s) in stages.iter_mut().enumerate() {
                    if v["stages"][i]["type"] == "gate" {
                        s[2] = Value::Null;
                    }
                }
            }
            e
        };
        assert_eq!(
            norm(&embedded, es),
            norm(&on_restate, &rs),
            "{name}: the same report embedded and on Restate"
        );
    }
}
