//! The `download` stage against a tiny local HTTP/1.1 server: success, hashing, ledger fields,
//! timeouts, attempts, statuses, redirects, size caps, storage safety, URL selection, config.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use stage_core::{
    FakeClock, HostSettings, InMemoryLedger, Job, Ledger, StageArgs, StageContext, StageRegistry, StateValue,
};
use stages_builtin::download::{download, download_files, DownloadConfig, DownloadError, UrlPath};
use stages_builtin::{DownloadedFile, Record};

// ---------------------------------------------------------------------------------------------
// The server

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
const OTHER_PDF: &[u8] = b"%PDF-1.7\nanother document\n%%EOF\n";

struct Server {
    base: String,
    hits: Mutex<HashMap<String, u32>>,
    agents: Mutex<HashMap<String, String>>,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<&'static Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server: &'static Server = Box::leak(Box::new(Server {
            base: format!("http://{addr}"),
            hits: Mutex::new(HashMap::new()),
            agents: Mutex::new(HashMap::new()),
        }));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = handle(server, stream);
                });
            }
        });
        server
    })
}

fn url(path: &str) -> String {
    format!("{}{path}", server().base)
}

/// Locks a server map, ignoring poisoning (a failed assertion elsewhere must not break the server).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Requests the server saw for `path` (query included).
fn hits(path: &str) -> u32 {
    lock(&server().hits).get(path).copied().unwrap_or(0)
}

/// The `User-Agent` of the last request for `path` (query included).
fn agent(path: &str) -> Option<String> {
    lock(&server().agents).get(path).cloned()
}

fn respond(s: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    s.flush()
}

fn pdf(s: &mut TcpStream, body: &[u8]) -> std::io::Result<()> {
    respond(s, "200 OK", &[("Content-Type", "application/pdf".to_owned())], body)
}

fn handle(server: &Server, mut stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("user-agent") {
                lock(&server.agents).insert(path.clone(), v.trim().to_owned());
            }
        }
    }
    let n = {
        let mut hits = lock(&server.hits);
        let n = hits.entry(path.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let s = &mut stream;
    // Tests add a query to get paths of their own (hit counts, user agents).
    match path.split('?').next().unwrap_or("/") {
        "/ok.pdf" => pdf(s, PDF),
        "/other.pdf" => pdf(s, OTHER_PDF),
        "/plain" => respond(s, "200 OK", &[], PDF),
        "/slow" => {
            std::thread::sleep(Duration::from_secs(3));
            pdf(s, PDF)
        }
        "/redirect" => respond(s, "302 Found", &[("Location", url("/ok.pdf"))], b""),
        "/redirect-relative" => {
            respond(s, "301 Moved Permanently", &[("Location", "/other.pdf".to_owned())], b"")
        }
        "/loop" => respond(s, "302 Found", &[("Location", "/loop".to_owned())], b""),
        "/big-declared" => {
            let head = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/pdf\r\n\
                        Content-Length: 10000000\r\n\r\n";
            s.write_all(head.as_bytes())?;
            s.write_all(&[b'x'; 1024])
        }
        "/big-chunked" => {
            let head = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/pdf\r\n\
                        Transfer-Encoding: chunked\r\n\r\n";
            s.write_all(head.as_bytes())?;
            for _ in 0..64 {
                s.write_all(b"400\r\n")?;
                s.write_all(&[b'x'; 1024])?;
                s.write_all(b"\r\n")?;
            }
            s.write_all(b"0\r\n\r\n")
        }
        "/big-unsized" => {
            s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/pdf\r\n\r\n")?;
            for _ in 0..64 {
                s.write_all(&[b'x'; 1024])?;
            }
            Ok(())
        }
        p if p.starts_with("/flaky/") => {
            if n == 1 {
                respond(s, "500 Internal Server Error", &[], b"try again")
            } else {
                pdf(s, PDF)
            }
        }
        p if p.starts_with("/status/") => {
            let code = p["/status/".len()..].split('/').next().unwrap_or("500");
            respond(s, &format!("{code} Status"), &[], b"nope")
        }
        _ => respond(s, "404 Not Found", &[], b"not found"),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn sha256(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

fn record(source: &str, pdf_url: Option<&str>, raw: Value) -> Record {
    Record {
        source: source.to_owned(),
        id: "W1".to_owned(),
        title: "A title".to_owned(),
        abstract_text: None,
        sections: vec![],
        authors: vec![],
        year: None,
        doi: None,
        pdf_url: pdf_url.map(str::to_owned),
        raw,
    }
}

fn cfg(v: Value) -> DownloadConfig {
    serde_json::from_value(v).unwrap_or_else(|e| panic!("config: {e}"))
}

/// A job, run directory and ledger for one test.
struct Case {
    job: Job,
    run: tempfile::TempDir,
    ledger: Arc<InMemoryLedger>,
    host: HostSettings,
}

impl Case {
    fn new(job_id: &str) -> Case {
        let run = tempfile::tempdir().expect("tempdir");
        let host = HostSettings { run_dir: Some(run.path().to_path_buf()), ..HostSettings::default() };
        Case { job: Job::new(job_id, "openalex"), run, ledger: Arc::new(InMemoryLedger::new()), host }
    }
    fn ctx(&self) -> StageContext {
        StageContext::new(Arc::new(self.job.clone()), "download", "download")
            .with_ledger(self.ledger.clone())
            .with_host(Arc::new(self.host.clone()))
            .with_clock(Arc::new(FakeClock::default()))
    }
    fn run(&self, records: &[Record], config: Value) -> Result<Vec<DownloadedFile>, DownloadError> {
        download_files(&self.ctx(), records, &cfg(config))
    }
    fn field(&self, f: &str) -> Option<Value> {
        self.ledger.get(&self.job.job_id, f).unwrap()
    }
    fn root(&self) -> PathBuf {
        self.run.path().canonicalize().unwrap()
    }
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn fast(extra: Value) -> Value {
    let mut http = json!({"timeout_seconds": 1, "max_attempts": 2});
    if let (Value::Object(h), Value::Object(e)) = (&mut http, extra) {
        h.extend(e);
    }
    json!({ "http": http })
}

// ---------------------------------------------------------------------------------------------
// Success, hashing, ledger, registry

#[test]
fn downloads_hashes_and_records_in_the_ledger() {
    let c = Case::new("job-ok");
    let recs = [record("openalex", Some(&url("/ok.pdf?ua")), json!({}))];
    let out = c.run(&recs, json!({"http": {"user_agent": "Medical-KG-Pipeline/1.0"}})).expect("download");
    assert_eq!(out.len(), 1);
    let f = &out[0];
    let expected_path = c.root().join("job-ok.pdf");
    assert_eq!(Path::new(&f.path), expected_path);
    assert_eq!(std::fs::read(&f.path).unwrap(), PDF);
    assert_eq!(f.sha256, sha256(PDF));
    assert_eq!(f.bytes, PDF.len() as u64);
    assert_eq!(f.url, url("/ok.pdf?ua"));
    assert_eq!(f.content_type.as_deref(), Some("application/pdf"));
    assert_eq!(files(&c.root()), ["job-ok.pdf"], "no temporary file left");

    assert_eq!(c.field("pdf_downloaded"), Some(json!(true)));
    assert_eq!(c.field("pdf_url"), Some(json!(url("/ok.pdf?ua"))));
    assert_eq!(c.field("pdf_path"), Some(json!(expected_path.to_string_lossy())));
    assert_eq!(c.field("pdf_sha256"), Some(json!(sha256(PDF))));
    assert_eq!(
        c.field("pdf_downloaded_at"),
        Some(json!("2023-11-14T22:13:20Z")),
        "the run's clock, RFC 3339 UTC"
    );
    assert_eq!(c.field("pdf_download_error"), None);
    assert_eq!(agent("/ok.pdf?ua").as_deref(), Some("Medical-KG-Pipeline/1.0"));

    // Running again replaces the file; an earlier failure's error is cleared.
    c.ledger.set("job-ok", "pdf_download_error", json!("old")).unwrap();
    let again = c.run(&[record("openalex", Some(&url("/other.pdf")), json!({}))], json!({})).unwrap();
    assert_eq!(std::fs::read(&again[0].path).unwrap(), OTHER_PDF);
    assert_eq!(c.field("pdf_download_error"), Some(Value::Null));
    assert_eq!(files(&c.root()), ["job-ok.pdf"]);
}

#[test]
fn missing_content_type_is_recorded_as_none() {
    let c = Case::new("job-plain");
    let out = c.run(&[record("openalex", Some(&url("/plain")), json!({}))], json!({})).unwrap();
    assert_eq!(out[0].content_type, None);
    assert_eq!(agent("/plain").as_deref(), Some(stages_builtin::download::DEFAULT_USER_AGENT));
    assert_eq!(out[0].sha256, sha256(PDF));
}

#[test]
fn registered_with_its_keys_description_and_config() {
    let meta = StageRegistry::global().get_metadata("download").expect("download is registered");
    assert_eq!(meta.state_key().keys(), ["downloaded_files"]);
    assert_eq!(meta.inputs().len(), 1);
    assert_eq!(meta.inputs()[0].key, "payloads");
    assert!(meta.inputs()[0].required);
    assert!(meta.description().starts_with("Downloads the job's PDF"), "{}", meta.description());
    assert_eq!(meta.dependencies(), ["@ledger"]);
    let spec = meta.config().expect("config");
    let defaults = spec.defaults().expect("an empty config is valid");
    assert_eq!(defaults["storage"]["filename_template"], "{job_id}.pdf");
    assert_eq!(defaults["http"]["timeout_seconds"], 45.0);
    assert_eq!(defaults["http"]["max_attempts"], 3);
    assert_eq!(defaults["http"]["max_bytes"], 100 * 1024 * 1024);
    let typo = spec.parse(json!({"http": {"timout_seconds": 5}})).unwrap_err();
    assert!(typo.message.contains("timout_seconds"), "{typo}");
    assert!(spec.parse(json!({"storag": {}})).is_err());
    assert!(spec.parse(json!({"storage": {"filename_template": "{nope}.pdf"}})).is_err());
    assert!(spec.parse(json!({"url_extractors": [{"source": "elsewhere", "path": "x"}]})).is_err());
    assert!(spec.parse(json!({"url_extractors": [{"path": "a..b"}]})).is_err());

    // Called through the registry.
    let c = Case::new("job-registry");
    let ctx = c.ctx();
    let payloads: Vec<Record> = vec![record("openalex", Some(&url("/ok.pdf")), json!({}))];
    let config = spec.parse(json!({"storage": {"filename_template": "reg/{job_id}"}})).unwrap();
    let inputs: [Option<&dyn StateValue>; 1] = [Some(&payloads)];
    let out =
        meta.invoke(&StageArgs::new(&ctx, &inputs, &["payloads"], Some(&config), &[])).unwrap().unwrap();
    let written = out.downcast_ref::<Vec<DownloadedFile>>().expect("Vec<DownloadedFile>");
    assert_eq!(Path::new(&written[0].path), c.root().join("reg/job-registry.pdf"));
    assert_eq!((meta.output_counter().count)(&*out), Ok(1));
}

/// The `download` configs of the real pipeline files (inline copies, plus the files
/// themselves when the compatibility folder is present) deserialize.
#[test]
fn real_pipeline_configs_deserialize() {
    let spec = StageRegistry::global().get_metadata("download").unwrap().config().unwrap();
    let inline = [
        json!({"sources": [{"kind": "openalex", "attribute": "best_pdf_url"}]}),
        json!({
            "storage": {"base_path": "/var/lib/medical-kg/pdfs", "filename_template": "{doc_id}.pdf"},
            "http": {"timeout_seconds": 45, "max_attempts": 3, "user_agent": "Medical-KG-Pipeline/1.0"},
            "url_extractors": [
                {"source": "payload", "path": "best_oa_location.pdf_url"},
                {"source": "payload", "path": "best_oa_location.url"},
                {"source": "payload", "path": "primary_location.pdf_url"},
                {"source": "payload", "path": "locations[].pdf_url"},
                {"source": "context", "path": "metadata.pdf_url"},
            ],
        }),
        Value::Null,
        json!({}),
    ];
    for v in inline {
        spec.parse(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"));
    }
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/compat/pipelines"));
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut seen = 0;
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let loaded = stage_core::spec::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
        for s in loaded.value.stages.iter().filter(|s| s.stage_type == "download") {
            spec.parse(s.config_json()).unwrap_or_else(|e| panic!("{}: {e} at {}", path.display(), e.path));
            seen += 1;
        }
    }
    assert!(seen >= 7, "expected the real files' download stages, saw {seen}");
}

// ---------------------------------------------------------------------------------------------
// HTTP behaviour

#[test]
fn slow_response_times_out() {
    let c = Case::new("job-slow");
    let started = Instant::now();
    let err = c
        .run(&[record("openalex", Some(&url("/slow")), json!({}))], fast(json!({"max_attempts": 1})))
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(2500), "took {:?}", started.elapsed());
    let msg = err.to_string();
    assert!(msg.contains("timed out after 1.0 s") && msg.contains("/slow"), "{msg}");
    assert_eq!(c.field("pdf_downloaded"), Some(json!(false)));
    assert_eq!(files(&c.root()), Vec::<String>::new());
}

#[test]
fn host_max_wait_caps_the_timeout() {
    let mut c = Case::new("job-maxwait");
    c.host.max_wait = Some(Duration::from_millis(500));
    let started = Instant::now();
    let err =
        c.run(&[record("openalex", Some(&url("/slow")), json!({}))], json!({"http": {"max_attempts": 1}}));
    assert!(err.unwrap_err().to_string().contains("timed out after 0.5 s"));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn server_error_then_success_on_the_second_attempt() {
    let c = Case::new("job-flaky");
    let u = url("/flaky/a");
    let out = c.run(&[record("openalex", Some(&u), json!({}))], fast(json!({}))).expect("second attempt");
    assert_eq!(hits("/flaky/a"), 2);
    assert_eq!(out[0].sha256, sha256(PDF));
    assert_eq!(c.field("pdf_downloaded"), Some(json!(true)));

    // With one attempt, the same kind of URL fails.
    let c = Case::new("job-flaky-once");
    let err =
        c.run(&[record("openalex", Some(&url("/flaky/b")), json!({}))], fast(json!({"max_attempts": 1})));
    assert!(err.unwrap_err().to_string().contains("HTTP status 500"));
    assert_eq!(hits("/flaky/b"), 1);
}

#[test]
fn every_url_failing_fails_the_stage_and_the_ledger_says_why() {
    let c = Case::new("job-allfail");
    let recs = [record(
        "openalex",
        Some(&url("/status/404")),
        json!({"best_oa_location": {"pdf_url": url("/status/503/x")}}),
    )];
    let err = c.run(&recs, fast(json!({"max_attempts": 3}))).unwrap_err();
    assert!(
        matches!(err, DownloadError::AllFailed { ref failures, retryable: true, .. } if failures.len() == 2),
        "a 503 may pass later: {err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("job `job-allfail`"), "{msg}");
    assert!(msg.contains("/status/404: HTTP status 404 (1 attempt)"), "404 is not retried: {msg}");
    assert!(msg.contains("/status/503/x: HTTP status 503 (3 attempts)"), "503 is: {msg}");
    assert_eq!(hits("/status/404"), 1);
    assert_eq!(hits("/status/503/x"), 3);
    assert_eq!(c.field("pdf_downloaded"), Some(json!(false)));
    assert_eq!(c.field("pdf_download_error"), Some(json!(msg)));
    assert_eq!(c.field("pdf_path"), None);
    assert_eq!(files(&c.root()), Vec::<String>::new());

    // Only a 404: another attempt of the stage cannot fix it.
    let c = Case::new("job-gone");
    let err =
        c.run(&[record("openalex", Some(&url("/status/404/gone")), json!({}))], fast(json!({}))).unwrap_err();
    assert!(matches!(err, DownloadError::AllFailed { retryable: false, .. }), "{err}");
}

#[test]
fn first_url_that_downloads_wins() {
    let c = Case::new("job-fallback");
    let recs = [record(
        "openalex",
        Some(&url("/status/404/first")),
        json!({"best_oa_location": {"pdf_url": url("/other.pdf")}, "primary_location": {"pdf_url": url("/ok.pdf")}}),
    )];
    let out = c.run(&recs, fast(json!({}))).unwrap();
    assert_eq!(out[0].url, url("/other.pdf"));
    assert_eq!(c.field("pdf_url"), Some(json!(url("/other.pdf"))));
    assert_eq!(std::fs::read(&out[0].path).unwrap(), OTHER_PDF);
}

#[test]
fn redirects_are_followed_and_loops_fail() {
    let c = Case::new("job-redirect");
    let out = c.run(&[record("openalex", Some(&url("/redirect")), json!({}))], fast(json!({}))).unwrap();
    assert_eq!(out[0].url, url("/redirect"), "the URL asked for");
    assert_eq!(std::fs::read(&out[0].path).unwrap(), PDF);
    let out =
        c.run(&[record("openalex", Some(&url("/redirect-relative")), json!({}))], fast(json!({}))).unwrap();
    assert_eq!(std::fs::read(&out[0].path).unwrap(), OTHER_PDF);

    let c = Case::new("job-loop");
    let err = c.run(&[record("openalex", Some(&url("/loop")), json!({}))], fast(json!({}))).unwrap_err();
    assert!(err.to_string().contains("too many redirects"), "{err}");
    assert!(hits("/loop") <= 6, "not retried: {}", hits("/loop"));
    assert_eq!(c.field("pdf_downloaded"), Some(json!(false)));
}

#[test]
fn oversized_responses_are_cut_off_and_leave_no_file() {
    for (path, needle) in [
        ("/big-declared", "Content-Length 10000000 bytes exceeds the limit of 10000 bytes"),
        ("/big-chunked", "more than the limit of 10000 bytes"),
        ("/big-unsized", "more than the limit of 10000 bytes"),
    ] {
        let c = Case::new("job-big");
        let err = c
            .run(&[record("openalex", Some(&url(path)), json!({}))], fast(json!({"max_bytes": 10_000})))
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{path}: {err}");
        assert_eq!(hits(path), 1, "{path}: a size error is not retried");
        assert_eq!(files(&c.root()), Vec::<String>::new(), "{path}: no file left");
        assert_eq!(c.field("pdf_downloaded"), Some(json!(false)));
    }
    // Exactly at the cap is fine.
    let c = Case::new("job-at-cap");
    let cap = PDF.len();
    let out = c.run(&[record("openalex", Some(&url("/ok.pdf")), json!({}))], fast(json!({"max_bytes": cap})));
    assert_eq!(out.unwrap()[0].bytes, cap as u64);
}

#[test]
fn cancelled_before_start_stops() {
    let c = Case::new("job-cancel");
    let cancel = stage_core::CancelToken::new();
    cancel.cancel();
    let ctx = c.ctx().with_cancel(cancel);
    let err = download(&ctx, &vec![record("openalex", Some(&url("/ok.pdf")), json!({}))], &cfg(json!({})));
    let err = err.unwrap_err();
    assert!(err.is_retryable(), "a cancelled download may be tried again");
    assert!(err.to_string().starts_with("job `job-cancel`: download cancelled"), "{err}");
    assert_eq!(c.field("pdf_downloaded"), Some(json!(false)));
    assert_eq!(files(&c.root()), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Storage

#[test]
fn filename_templates_are_sanitized_and_stay_inside_base_path() {
    let mut c = Case::new("job/../../x");
    c.job.doc_id = Some("10.1000/abc def".to_owned());
    c.job.tenant_id = Some("tenant 1".to_owned());
    let recs = [record("openalex", Some(&url("/ok.pdf")), json!({}))];
    let run = |template: &str| {
        let out = c.run(&recs, json!({"storage": {"filename_template": template}})).unwrap();
        let p = PathBuf::from(&out[0].path);
        assert!(p.starts_with(c.root()), "{template}: {} escapes {}", p.display(), c.root().display());
        assert!(p.is_file());
        p.strip_prefix(c.root()).unwrap().to_string_lossy().into_owned()
    };
    assert_eq!(run("{doc_id}.pdf"), "10.1000-abc-def.pdf");
    assert_eq!(run("{tenant_id}/{doc_id}"), "tenant-1/10.1000-abc-def.pdf");
    assert_eq!(run("{job_id}"), "job-..-..-x.pdf");
    assert_eq!(run("{timestamp}_{doc_id}.pdf"), "20231114T221320Z_10.1000-abc-def.pdf");
    assert_eq!(run("../../etc/passwd"), "etc/passwd.pdf");
    assert_eq!(run("/etc/passwd"), "etc/passwd.pdf");
    assert_eq!(run("a/../../../b:c?.PDF"), "a/b-c-.PDF");
    assert_eq!(run(".."), "job-..-..-x.pdf");
}

#[cfg(unix)]
#[test]
fn symlinked_directories_cannot_lead_outside() {
    let c = Case::new("job-link");
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), c.run.path().join("escape")).unwrap();
    let recs = [record("openalex", Some(&url("/ok.pdf")), json!({}))];
    let err = c.run(&recs, json!({"storage": {"filename_template": "escape/{job_id}.pdf"}})).unwrap_err();
    assert!(matches!(err, DownloadError::Storage { .. }), "{err}");
    assert!(err.to_string().contains("outside the base directory"), "{err}");
    assert_eq!(files(outside.path()), Vec::<String>::new());
    assert_eq!(c.field("pdf_downloaded"), Some(json!(false)));
}

#[test]
fn base_paths_absolute_relative_and_rebased() {
    let recs = [record("openalex", Some(&url("/ok.pdf")), json!({}))];
    let elsewhere = tempfile::tempdir().unwrap();
    let abs = elsewhere.path().join("pdfs");

    let c = Case::new("job-abs");
    let out = c.run(&recs, json!({"storage": {"base_path": abs.to_string_lossy()}})).unwrap();
    assert_eq!(
        Path::new(&out[0].path),
        abs.canonicalize().unwrap().join("job-abs.pdf"),
        "absolute is honoured"
    );

    let c = Case::new("job-rel");
    let out = c.run(&recs, json!({"storage": {"base_path": "pdfs/sub"}})).unwrap();
    assert_eq!(Path::new(&out[0].path), c.root().join("pdfs/sub/job-rel.pdf"), "relative: under the run dir");

    let mut c = Case::new("job-rebase");
    c.host.rebase_absolute_paths = true;
    let out = c.run(&recs, json!({"storage": {"base_path": "/var/lib/medical-kg/pdfs"}})).unwrap();
    assert_eq!(Path::new(&out[0].path), c.root().join("var/lib/medical-kg/pdfs/job-rebase.pdf"));
}

// ---------------------------------------------------------------------------------------------
// URL selection

fn candidates(job: &Job, recs: &[Record], config: Value) -> Vec<String> {
    cfg(config).candidate_urls(job, recs).urls
}

#[test]
fn url_extractor_paths_lists_indexes_and_mappings() {
    let job = Job::new("j", "openalex");
    let raw = json!({
        "locations": [{"pdf_url": "https://h/l0.pdf"}, {"pdf_url": null}, {"pdf_url": "https://h/l2.pdf"}],
        "mirrors": {"z": "https://h/z.pdf", "a": "https://h/a.pdf"},
        "links": [["https://h/n0.pdf"], ["https://h/n1.pdf"]],
    });
    let recs = [record("openalex", Some("https://h/norm.pdf"), raw)];
    let x = |path: &str| json!({"url_extractors": [{"source": "payload", "path": path}]});
    assert_eq!(candidates(&job, &recs, x("locations[].pdf_url")), ["https://h/l0.pdf", "https://h/l2.pdf"]);
    assert_eq!(candidates(&job, &recs, x("locations.2.pdf_url")), ["https://h/l2.pdf"]);
    assert_eq!(candidates(&job, &recs, x("locations[0].pdf_url")), ["https://h/l0.pdf"]);
    assert_eq!(candidates(&job, &recs, x("mirrors[]")), ["https://h/a.pdf", "https://h/z.pdf"]);
    assert_eq!(candidates(&job, &recs, x("links[][]")), ["https://h/n0.pdf", "https://h/n1.pdf"]);
    assert_eq!(
        candidates(&job, &recs, x("pdf_url")),
        ["https://h/norm.pdf"],
        "normalized fields are visible"
    );
    assert_eq!(candidates(&job, &recs, x("raw.links.1.0")), ["https://h/n1.pdf"]);
    assert!(candidates(&job, &recs, x("nothing.here")).is_empty());

    // Extractors are explicit: no defaults are added; context paths read the job context.
    let mut job = Job::new("j", "openalex");
    job.metadata.insert("pdf_url".to_owned(), json!("https://ctx/m.pdf"));
    let config = json!({"url_extractors": [
        {"source": "context", "path": "metadata.pdf_url"},
        {"source": "context", "path": "context.metadata.pdf_url"},
        {"path": "mirrors.a"},
    ]});
    assert_eq!(candidates(&job, &recs, config), ["https://ctx/m.pdf", "https://h/a.pdf"]);
}

#[test]
fn defaults_in_order_across_records() {
    let mut job = Job::new("j", "openalex");
    job.metadata.insert("pdf_url".to_owned(), json!("https://ctx/meta.pdf"));
    let r1 = record(
        "openalex",
        Some("https://h/1-pdf_url.pdf"),
        json!({
            "locations": [{"pdf_url": "https://h/1-loc.pdf"}],
            "primary_location": {"pdf_url": "https://h/1-primary.pdf"},
            "best_oa_location": {"pdf_url": "https://h/1-best.pdf", "url": "https://h/1-best-landing"},
        }),
    );
    let r2 = record("openalex", None, json!({"best_oa_location": {"pdf_url": "https://h/2-best.pdf"}}));
    let got = cfg(json!({})).candidate_urls(&job, &[r1, r2]);
    assert_eq!(
        got.urls,
        [
            "https://h/1-pdf_url.pdf",
            "https://h/1-best.pdf",
            "https://h/2-best.pdf",
            "https://h/1-best-landing",
            "https://h/1-primary.pdf",
            "https://h/1-loc.pdf",
            "https://ctx/meta.pdf",
        ]
    );
    assert_eq!(got.looked_at.last().map(String::as_str), Some("context:metadata.pdf_url"));
}

#[test]
fn legacy_sources_form() {
    let recs = [
        record("openalex", Some("https://h/default.pdf"), json!({"best_pdf_url": "https://h/legacy.pdf"})),
        record("pmc-fulltext", None, json!({"best_pdf_url": "https://h/pmc.pdf"})),
    ];
    let config = json!({"sources": [{"kind": "openalex", "attribute": "best_pdf_url"}]});
    // The job's source matches: only the entry's attribute, only over records of that source.
    assert_eq!(candidates(&Job::new("j", "openalex"), &recs, config.clone()), ["https://h/legacy.pdf"]);
    // No entry matches the job's source: the defaults.
    assert_eq!(candidates(&Job::new("j", "pmc"), &recs, config), ["https://h/default.pdf"]);
    // Aliases from the contract: `pmc` serves `pmc-fulltext` records.
    let config = json!({"sources": [{"kind": "pmc", "attribute": "best_pdf_url"}]});
    assert_eq!(candidates(&Job::new("j", "pmc-fulltext"), &recs, config.clone()), ["https://h/pmc.pdf"]);
    // Nothing looser than that: case differs, no match, defaults.
    let config = json!({"sources": [{"kind": "OpenAlex", "attribute": "best_pdf_url"}]});
    assert_eq!(candidates(&Job::new("j", "openalex"), &recs, config), ["https://h/default.pdf"]);
}

#[test]
fn only_http_urls_kept_and_deduplicated() {
    let job = Job::new("j", "openalex");
    let recs = [
        record(
            "openalex",
            Some("ftp://h/x.pdf"),
            json!({"locations": [
                {"pdf_url": "https://h/a.pdf"}, {"pdf_url": "file:///etc/passwd"}, {"pdf_url": "https://h/a.pdf"},
                {"pdf_url": "javascript:alert(1)"}, {"pdf_url": " HTTP://h/b.pdf "}, {"pdf_url": "http://"},
                {"pdf_url": 42}, {"pdf_url": "/relative.pdf"},
            ]}),
        ),
        record("openalex", Some("https://h/a.pdf"), json!({})),
    ];
    let got = cfg(json!({})).candidate_urls(&job, &recs);
    assert_eq!(got.urls, ["https://h/a.pdf", "HTTP://h/b.pdf"]);
    assert!(got.dropped.contains(&"file:///etc/passwd".to_owned()));
}

#[test]
fn no_url_fails_naming_the_job_and_what_was_looked_at() {
    let c = Case::new("job-permanent");
    let err = download(&c.ctx(), &vec![record("openalex", None, json!({}))], &cfg(json!({}))).unwrap_err();
    assert!(!err.is_retryable(), "no URL is not fixed by another attempt: {err}");
    let c = Case::new("job-nourl");
    let err =
        c.run(&[record("openalex", Some("ftp://h/x.pdf"), json!({"title": "x"}))], json!({})).unwrap_err();
    assert!(matches!(err, DownloadError::NoUrl { .. }));
    let msg = err.to_string();
    for needle in [
        "job `job-nourl`",
        "no http(s) URL",
        "payload:best_oa_location.pdf_url",
        "payload:locations[].pdf_url",
        "context:metadata.pdf_url",
        "`ftp://h/x.pdf`",
    ] {
        assert!(msg.contains(needle), "{needle} not in {msg}");
    }
    assert_eq!(c.field("pdf_downloaded"), Some(json!(false)));
    assert_eq!(c.field("pdf_download_error"), Some(json!(msg)));

    let c = Case::new("job-empty");
    assert!(matches!(c.run(&[], json!({})), Err(DownloadError::NoUrl { .. })));
}

#[test]
fn context_url_is_downloaded_when_payloads_have_none() {
    let mut c = Case::new("job-ctx");
    c.job.metadata.insert("pdf_url".to_owned(), json!(url("/ok.pdf")));
    let out = c.run(&[], json!({})).unwrap();
    assert_eq!(out[0].url, url("/ok.pdf"));
}

#[test]
fn path_evaluator_public_api() {
    let p: UrlPath = "a[].b".parse().unwrap();
    assert_eq!(p.as_str(), "a[].b");
    assert_eq!(p.strings(&json!({"a": {"x": {"b": "1"}, "y": {"b": "2"}}})), ["1", "2"]);
    assert!("a[".parse::<UrlPath>().is_err());
}

// ---------------------------------------------------------------------------------------------
// Hostile storage configs: bounded templates, confinement under rebased paths

#[test]
fn deep_and_long_templates_are_refused_when_read_before_anything_is_created() {
    let started = Instant::now();
    let deep = "d/".repeat(3_000) + "{job_id}.pdf";
    let e = serde_json::from_value::<DownloadConfig>(json!({"storage": {"filename_template": deep}}))
        .unwrap_err();
    assert!(e.to_string().contains("it is 6012 bytes long; a template may have at most 1024"), "{e}");
    let nine = "a/".repeat(8) + "{job_id}.pdf";
    let e = serde_json::from_value::<DownloadConfig>(json!({"storage": {"filename_template": nine}}))
        .unwrap_err();
    assert!(
        e.to_string().contains(
            "it has 9 `/`-separated parts; a template may have at most 8 (directories and the file name)"
        ),
        "{e}"
    );
    let eight = "a/".repeat(7) + "{job_id}.pdf";
    assert!(
        serde_json::from_value::<DownloadConfig>(json!({"storage": {"filename_template": eight}})).is_ok()
    );
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[test]
fn under_rebased_paths_dotdot_and_absolute_are_refused() {
    let recs = [record("openalex", Some(&url("/ok.pdf")), json!({}))];
    let mut c = Case::new("job-confined");
    c.host.rebase_absolute_paths = true;
    for (storage, expected) in [
        (
            json!({"base_path": "../outside"}),
            "`base_path` `../outside` has a `..` part, refused: with rebased paths every download stays inside the run directory",
        ),
        (json!({"base_path": "/var/../../etc"}), "`base_path` `/var/../../etc` has a `..` part, refused"),
        (
            json!({"filename_template": "../../{job_id}.pdf"}),
            "`filename_template` `../../{job_id}.pdf` is refused: it has a `..` part, and with rebased paths every download stays inside the run directory",
        ),
        (
            json!({"filename_template": "/etc/{job_id}.pdf"}),
            "`filename_template` `/etc/{job_id}.pdf` is refused: it starts with `/` (an absolute path)",
        ),
    ] {
        let err = c.run(&recs, json!({ "storage": storage.clone() })).unwrap_err();
        assert!(matches!(err, DownloadError::Storage { .. }), "{storage}: {err}");
        assert!(err.to_string().contains(expected), "{storage}: {err}");
        assert_eq!(c.field("pdf_downloaded"), Some(json!(false)));
    }
    assert!(!c.run.path().parent().unwrap().join("outside").exists());
    assert_eq!(files(c.run.path()), Vec::<String>::new(), "nothing was written");
    // Relative and absolute base paths without `..` land inside the run directory.
    let out =
        c.run(&recs, json!({"storage": {"base_path": "pdfs", "filename_template": "t/{job_id}"}})).unwrap();
    assert_eq!(Path::new(&out[0].path), c.root().join("pdfs/t/job-confined.pdf"));
    // Without rebasing, the template is flattened as before (contract §5).
    let c = Case::new("job-free");
    let out = c.run(&recs, json!({"storage": {"filename_template": "../../{job_id}.pdf"}})).unwrap();
    assert_eq!(Path::new(&out[0].path), c.root().join("job-free.pdf"));
}

#[cfg(unix)]
#[test]
fn under_rebased_paths_a_base_path_through_a_symlink_outside_is_refused() {
    let recs = [record("openalex", Some(&url("/ok.pdf")), json!({}))];
    let mut c = Case::new("job-link-base");
    c.host.rebase_absolute_paths = true;
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), c.run.path().join("var")).unwrap();
    let err = c.run(&recs, json!({"storage": {"base_path": "/var/pdfs"}})).unwrap_err();
    assert!(matches!(err, DownloadError::Storage { .. }), "{err}");
    assert!(err.to_string().contains("outside the run directory"), "{err}");
    assert_eq!(files(outside.path()), Vec::<String>::new(), "nothing created outside");
    assert!(!outside.path().join("pdfs").exists(), "no directory created outside");
    let err = c.run(&recs, json!({"storage": {"base_path": "var/pdfs"}})).unwrap_err();
    assert!(err.to_string().contains("outside the run directory"), "{err}");
    assert_eq!(files(outside.path()), Vec::<String>::new());
}
