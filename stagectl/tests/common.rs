//! Shared by stagectl's integration tests: running the binary, a local PDF server, test data.
#![allow(dead_code, reason = "shared by several test binaries, each using a part")]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// `stagectl ARGS`, run from the repository root, with per-stage progress on stderr.
pub(crate) fn stagectl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stagectl"))
        .env("STAGES_EMBEDDER", "feature-hashing")
        .args(args)
        .current_dir(root())
        .output()
        .expect("stagectl runs")
}

pub(crate) fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

pub(crate) const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

/// A local HTTP server on a free port answering every GET with a small PDF. Runs for the
/// rest of the test process.
pub(crate) fn pdf_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                    line.clear();
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    PDF.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(PDF);
            });
        }
    });
    format!("http://{addr}")
}

/// A data directory like `examples/data`, whose PMC articles and OpenAlex works link their
/// PDFs to `server`.
pub(crate) fn data_dir(dir: &Path, server: &str) -> PathBuf {
    let data = dir.join("data");
    let src = root().join("examples/data");
    for sub in ["clinicaltrials", "pmc", "openalex", "semantic-scholar", "file"] {
        std::fs::create_dir_all(data.join(sub)).unwrap();
        for e in std::fs::read_dir(src.join(sub)).unwrap() {
            let p = e.unwrap().path();
            let mut text = std::fs::read_to_string(&p).unwrap();
            if sub == "pmc" {
                let name = p.file_stem().unwrap().to_string_lossy().to_string();
                text = text.replace(
                    &format!("xlink:href=\"{name}.pdf\""),
                    &format!("xlink:href=\"{server}/{name}.pdf\""),
                );
            }
            if sub == "openalex" {
                text = text.replace("https://example.org/pdf/", &format!("{server}/"));
            }
            std::fs::write(data.join(sub).join(p.file_name().unwrap()), text).unwrap();
        }
    }
    data
}

/// A job for `source` whose request names one record of the data directory, in the format
/// `adapter` reads.
pub(crate) fn job(job_id: &str, source: &str, adapter: &str, data: &Path) -> String {
    let path = match adapter {
        "clinicaltrials" | "clinical-trials" => "clinicaltrials/NCT90000001.json",
        "pmc" | "pmc-fulltext" => "pmc/PMC9000001.xml",
        "openalex" => "openalex/W9000000001.json",
        "semantic-scholar" => "semantic-scholar/5ynth0000000000000000000000000000000000a.json",
        _ => "file/records.jsonl",
    };
    serde_json::json!({
        "job_id": job_id,
        "source": source,
        "adapter_request": {"data_dir": data, "path": path},
    })
    .to_string()
}

/// The stored run record of a job, as `stagectl runs <job> --json` shows it.
pub(crate) fn record(store: &Path, job: &str) -> serde_json::Value {
    let out = stagectl(&["runs", job, "--json", "--store", store.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}
