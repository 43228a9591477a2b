//! The `download` stage: fetches a job's PDF over HTTP(S) into storage and records it in the
//! ledger (contract §5).
//!
//! ## URLs
//!
//! Candidates, in order, de-duplicated, only `http://` and `https://` kept; the first that
//! downloads wins (one file per job):
//!
//! 1. `url_extractors[]{source, path}`, in order. `source: payload` (the default) evaluates
//!    [`UrlPath`] `path` over each record, `source: context` over the job context. A record's
//!    view is its `raw` JSON with the record's normalized fields (`pdf_url`, `doi`, `id`, ...)
//!    filling keys `raw` lacks (and `raw` itself under `raw`); the context's view is
//!    `{job_id, doc_id, tenant_id, correlation_id, source, metadata, adapter_request, payload}`
//!    (a leading `context.` in a context path is skipped).
//! 2. The older `sources[]{kind, attribute}`, in order: `attribute` over each record whose
//!    source is `kind`. A kind matches its own name and the other name its adapter serves
//!    (`clinicaltrials` = `clinical-trials`, `pmc` = `pmc-fulltext`, contract §4), nothing
//!    else.
//! 3. With no extractors and no `sources` entry matching the job's source: the defaults,
//!    `pdf_url`, `best_oa_location.pdf_url`, `best_oa_location.url`,
//!    `primary_location.pdf_url`, `locations[].pdf_url` over the records, then
//!    `metadata.pdf_url` over the context.
//!
//! Paths are taken one at a time over every record (path-major), so an extractor's order is an
//! order of preference. A job with no candidate fails, naming what was looked at.
//!
//! ## Storage
//!
//! `storage.base_path` (default: the host's run directory, else `./downloads`; relative paths
//! are under the run directory; absolute ones are honoured, or rebased under the run directory
//! when the host sets `rebase_absolute_paths`) and `storage.filename_template`
//! ([`FilenameTemplate`], default `{job_id}.pdf`). The file never lands outside the base
//! directory: the name is sanitized and each directory is resolved (symlinks followed) and
//! checked. Under a host that rebases paths (`stagectl --rebase-paths`) the run directory is
//! the only root: absolute base paths are rebased under it, and a `..` in `base_path` or in
//! the template, a template starting with `/`, or a directory on the way that resolves (through
//! a symlink) outside the run directory is refused with an error naming it. Templates are
//! bounded ([`MAX_TEMPLATE_BYTES`] bytes, [`MAX_TEMPLATE_DEPTH`] parts),
//! checked when the config is read. The body streams to a temporary file in the target directory, hashed on the way,
//! and is renamed into place only when complete; an existing file is replaced.
//!
//! ## HTTP
//!
//! `http.timeout_seconds` (45; capped by the host's `max_wait`) bounds each request, redirects
//! (at most 5) and body included; `http.max_attempts` (3) attempts per URL, pausing 0.25 s ×
//! the attempt number on the run's clock between them, retrying only what may pass next time
//! (timeouts, connection errors, 408, 429, 5xx); `http.user_agent`; `http.max_bytes` (100 MiB)
//! caps a body: a declared `Content-Length` over it fails before anything is written, a body
//! that streams past it is cut off and its partial file removed. A non-2xx status is an error.
//! Cancellation is checked between chunks and between attempts.
//!
//! ## Ledger
//!
//! Success: `pdf_downloaded = true`, `pdf_url`, `pdf_path`, `pdf_sha256`, `pdf_downloaded_at`
//! (RFC 3339, UTC), and a `pdf_download_error` left by an earlier failure is set to `null`.
//! Failure (no URL, unusable storage, every URL failed, cancelled): `pdf_downloaded = false`
//! and `pdf_download_error`, and the stage fails.

mod fetch;
mod path;
mod storage;
mod time;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use stage_core::{stage, Job, StageContext, StageError};

pub use path::{PathError, UrlPath};
pub use storage::{FilenameTemplate, TemplateError, MAX_TEMPLATE_BYTES, MAX_TEMPLATE_DEPTH, PLACEHOLDERS};

use crate::types::{DownloadedFile, Record};
use fetch::{FetchError, Fetcher};

/// The `download` stage's `config`. Every key is optional; an unknown key is a load-time error.
///
/// ```yaml
/// config:
///   url_extractors:
///     - {source: payload, path: best_oa_location.pdf_url}
///     - {source: context, path: metadata.pdf_url}
///   sources:                      # older form
///     - {kind: openalex, attribute: best_pdf_url}
///   storage: {base_path: /var/lib/pdfs, filename_template: "{doc_id}.pdf"}
///   http: {timeout_seconds: 45, max_attempts: 3, user_agent: Medical-KG/1.0, max_bytes: 104857600}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DownloadConfig {
    /// Where URLs are found, in order of preference.
    pub url_extractors: Vec<UrlExtractor>,
    /// The older form: a path per payload source.
    pub sources: Vec<SourceAttribute>,
    /// Where files go.
    pub storage: StorageConfig,
    /// HTTP behaviour.
    pub http: HttpConfig,
}

/// One `url_extractors[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlExtractor {
    /// What the path is evaluated over (default `payload`).
    #[serde(default)]
    pub source: ExtractorSource,
    /// The path.
    pub path: UrlPath,
}

/// What an extractor's path is evaluated over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExtractorSource {
    /// Each payload record.
    #[default]
    Payload,
    /// The job context.
    Context,
}

/// One `sources[]` entry (older form): for records from source `kind`, the URL is at
/// `attribute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceAttribute {
    /// The source name.
    pub kind: String,
    /// The path of the URL in the record.
    pub attribute: UrlPath,
}

/// `storage`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// The base directory (default: the run directory, else `./downloads`).
    pub base_path: Option<String>,
    /// The file name, relative to the base directory.
    pub filename_template: FilenameTemplate,
}

/// `http`. `timeout_seconds` must be positive, `max_attempts` 1–10, `max_bytes` positive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "HttpConfigFields")]
pub struct HttpConfig {
    /// Bounds each request, redirects and body included (default 45).
    pub timeout_seconds: f64,
    /// Attempts per URL (default 3).
    pub max_attempts: u32,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The largest body accepted, in bytes (default 100 MiB).
    pub max_bytes: u64,
}

/// The default `User-Agent`.
pub const DEFAULT_USER_AGENT: &str = concat!("stages-builtin-download/", env!("CARGO_PKG_VERSION"));

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout_seconds: 45.0,
            max_attempts: 3,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            max_bytes: 100 * 1024 * 1024,
        }
    }
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct HttpConfigFields {
    timeout_seconds: f64,
    max_attempts: u32,
    user_agent: String,
    max_bytes: u64,
}

impl Default for HttpConfigFields {
    fn default() -> Self {
        let d = HttpConfig::default();
        HttpConfigFields {
            timeout_seconds: d.timeout_seconds,
            max_attempts: d.max_attempts,
            user_agent: d.user_agent,
            max_bytes: d.max_bytes,
        }
    }
}

impl TryFrom<HttpConfigFields> for HttpConfig {
    type Error = String;
    fn try_from(f: HttpConfigFields) -> Result<Self, Self::Error> {
        if !(f.timeout_seconds.is_finite() && f.timeout_seconds > 0.0 && f.timeout_seconds <= 86_400.0) {
            return Err(format!("timeout_seconds must be in (0, 86400], not {}", f.timeout_seconds));
        }
        if !(1..=10).contains(&f.max_attempts) {
            return Err(format!("max_attempts must be 1–10, not {}", f.max_attempts));
        }
        if f.max_bytes == 0 {
            return Err("max_bytes must be positive".to_owned());
        }
        Ok(HttpConfig {
            timeout_seconds: f.timeout_seconds,
            max_attempts: f.max_attempts,
            user_agent: f.user_agent,
            max_bytes: f.max_bytes,
        })
    }
}

/// Why the download stage failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// No http(s) URL was found for the job.
    #[error("job `{job_id}`: no http(s) URL to download; looked at {looked_at}")]
    NoUrl {
        /// The job.
        job_id: String,
        /// What was looked at (and what was dropped).
        looked_at: String,
    },
    /// The target file cannot be placed.
    #[error("job `{job_id}`: cannot store the download: {reason}")]
    Storage {
        /// The job.
        job_id: String,
        /// Why.
        reason: String,
    },
    /// Every candidate URL failed.
    #[error("job `{job_id}`: download failed for every URL: {}", failures.join("; "))]
    AllFailed {
        /// The job.
        job_id: String,
        /// One entry per URL: `url: error (N attempts)`.
        failures: Vec<String>,
        /// Whether a later attempt may succeed: some URL failed in a way that may pass
        /// (a timeout, a connection error, HTTP 408, 429 or 5xx). Else (404, too large, a bad
        /// URL) the stage's failure is permanent and not retried.
        retryable: bool,
    },
    /// The runtime abandoned the attempt.
    #[error("job `{job_id}`: download cancelled")]
    Cancelled {
        /// The job.
        job_id: String,
    },
    /// The ledger could not record the download.
    #[error("job `{job_id}`: the ledger could not record the download: {reason}")]
    Ledger {
        /// The job.
        job_id: String,
        /// Why.
        reason: String,
    },
}

/// The default record paths, in order.
const DEFAULT_PAYLOAD_PATHS: &[&str] = &[
    "pdf_url",
    "best_oa_location.pdf_url",
    "best_oa_location.url",
    "primary_location.pdf_url",
    "locations[].pdf_url",
];

/// The default context path.
const DEFAULT_CONTEXT_PATH: &str = "metadata.pdf_url";

/// The source names that name the same adapter (contract §4).
const SOURCE_ALIASES: &[&[&str]] = &[&["clinicaltrials", "clinical-trials"], &["pmc", "pmc-fulltext"]];

/// Whether source names `a` and `b` name the same source.
fn same_source(a: &str, b: &str) -> bool {
    a == b || SOURCE_ALIASES.iter().any(|group| group.contains(&a) && group.contains(&b))
}

/// A record as extractor paths see it: `raw`, with the normalized fields filling what it lacks.
fn record_view(r: &Record) -> Value {
    let mut view = match &r.raw {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let mut normalized = match serde_json::to_value(r) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    normalized.remove("raw");
    for (k, v) in normalized {
        if view.get(&k).is_none_or(Value::is_null) {
            view.insert(k, v);
        }
    }
    view.entry("raw").or_insert_with(|| r.raw.clone());
    Value::Object(view)
}

/// The job context as extractor paths see it.
fn context_view(job: &Job) -> Value {
    json!({
        "job_id": job.job_id,
        "doc_id": job.doc_id,
        "tenant_id": job.tenant_id,
        "correlation_id": job.correlation_id,
        "source": job.source,
        "metadata": job.metadata,
        "adapter_request": job.adapter_request,
        "payload": job.payload,
    })
}

/// The URLs a job's download will try, and what was looked at to find them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UrlCandidates {
    /// http(s) URLs, de-duplicated, in order.
    pub urls: Vec<String>,
    /// The places looked at (`payload:best_oa_location.pdf_url`, `context:metadata.pdf_url`).
    pub looked_at: Vec<String>,
    /// Strings found that are not http(s) URLs (dropped).
    pub dropped: Vec<String>,
}

impl UrlCandidates {
    fn push(&mut self, s: &str) {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        let is_http =
            (lower.starts_with("http://") && s.len() > 7) || (lower.starts_with("https://") && s.len() > 8);
        if !is_http {
            if !s.is_empty() && !self.dropped.iter().any(|d| d == s) {
                self.dropped.push(s.to_owned());
            }
        } else if !self.urls.iter().any(|u| u == s) {
            self.urls.push(s.to_owned());
        }
    }

    fn describe(&self, records: usize) -> String {
        let mut out = format!("{} (over {records} record(s) and the job context)", self.looked_at.join(", "));
        if !self.dropped.is_empty() {
            let shown: Vec<String> = self.dropped.iter().take(5).map(|d| format!("`{d}`")).collect();
            out.push_str(&format!("; dropped values that are not http(s) URLs: {}", shown.join(", ")));
        }
        out
    }
}

impl DownloadConfig {
    /// The candidate URLs for `job` with its `payloads`, per the module's rules.
    pub fn candidate_urls(&self, job: &Job, payloads: &[Record]) -> UrlCandidates {
        let mut c = UrlCandidates::default();
        let views: Vec<(&str, Value)> = payloads
            .iter()
            .map(|r| {
                (if r.source.is_empty() { job.source.as_str() } else { r.source.as_str() }, record_view(r))
            })
            .collect();
        let context = context_view(job);
        let from_payloads = |c: &mut UrlCandidates, path: &UrlPath, kind: Option<&str>| {
            c.looked_at.push(match kind {
                Some(k) => format!("payload:{path} (source {k})"),
                None => format!("payload:{path}"),
            });
            for (source, view) in &views {
                if kind.is_none_or(|k| same_source(k, source)) {
                    for s in path.strings(view) {
                        c.push(s);
                    }
                }
            }
        };
        let from_context = |c: &mut UrlCandidates, path: &UrlPath| {
            c.looked_at.push(format!("context:{path}"));
            let path = if path.starts_with_key("context") { path.without_first() } else { path.clone() };
            for s in path.strings(&context) {
                c.push(s);
            }
        };

        for e in &self.url_extractors {
            match e.source {
                ExtractorSource::Payload => from_payloads(&mut c, &e.path, None),
                ExtractorSource::Context => from_context(&mut c, &e.path),
            }
        }
        let legacy_applies = self.sources.iter().any(|s| same_source(&s.kind, &job.source));
        if legacy_applies {
            for s in &self.sources {
                from_payloads(&mut c, &s.attribute, Some(&s.kind));
            }
        }
        if self.url_extractors.is_empty() && !legacy_applies {
            for p in DEFAULT_PAYLOAD_PATHS {
                from_payloads(&mut c, &UrlPath::parse(p).expect("valid default path"), None);
            }
            from_context(&mut c, &UrlPath::parse(DEFAULT_CONTEXT_PATH).expect("valid default path"));
        }
        c
    }
}

/// Records a failure in the ledger and returns it.
fn fail(ctx: &StageContext, error: DownloadError) -> DownloadError {
    let job = ctx.job().job_id.as_str();
    let ledger = ctx.ledger();
    let written = ledger
        .set(job, "pdf_downloaded", Value::Bool(false))
        .and_then(|()| ledger.set(job, "pdf_download_error", Value::String(error.to_string())));
    if let Err(e) = written {
        tracing::error!(job, error = %e, "download: the ledger could not record the failure");
    }
    error
}

/// Downloads the job's PDF: the first candidate URL (from `url_extractors`, the older
/// `sources`, or the defaults) that answers 2xx within the limits is streamed into storage,
/// hashed, and recorded in the ledger (`pdf_downloaded`, `pdf_url`, `pdf_path`,
/// `pdf_sha256`, `pdf_downloaded_at`). A job with no URL, or whose every URL fails, fails the
/// stage with `pdf_downloaded = false` and `pdf_download_error` in the ledger. A job with no
/// URL, or whose file cannot be stored, is not retried: another attempt cannot fix it.
#[stage(type = "download", state_key = "downloaded_files", dependencies = ["@ledger"])]
pub fn download(
    ctx: &StageContext,
    payloads: &Vec<Record>,
    #[config] cfg: &DownloadConfig,
) -> Result<Vec<DownloadedFile>, StageError> {
    download_files(ctx, payloads, cfg).map_err(|e| match e {
        DownloadError::NoUrl { .. }
        | DownloadError::Storage { .. }
        | DownloadError::AllFailed { retryable: false, .. } => StageError::permanent(e),
        other => StageError::retryable(other),
    })
}

/// The download stage's work, with its own error type.
pub fn download_files(
    ctx: &StageContext,
    payloads: &[Record],
    cfg: &DownloadConfig,
) -> Result<Vec<DownloadedFile>, DownloadError> {
    let job = ctx.job();
    let job_id = job.job_id.clone();

    let candidates = cfg.candidate_urls(job, payloads);
    if candidates.urls.is_empty() {
        let looked_at = candidates.describe(payloads.len());
        return Err(fail(ctx, DownloadError::NoUrl { job_id, looked_at }));
    }

    let now = ctx.clock().now();
    let relative = cfg.storage.filename_template.render(job, now);
    let storage_err = |reason: String| DownloadError::Storage { job_id: job_id.clone(), reason };
    let base = storage::base_dir(cfg.storage.base_path.as_deref(), ctx.host())
        .map_err(|e| fail(ctx, storage_err(format!("cannot resolve the base directory: {e}"))))?;
    let confined = storage::confined(ctx.host());
    if let (Some(_), Some(why)) = (confined, cfg.storage.filename_template.escape()) {
        return Err(fail(
            ctx,
            storage_err(format!(
                "`filename_template` `{}` is refused: {why}, and with rebased paths every download stays inside the run directory; write it relative, without `..`",
                cfg.storage.filename_template.as_str()
            )),
        ));
    }
    let target = storage::prepare_target(&base, &relative, confined)
        .map_err(|reason| fail(ctx, storage_err(reason)))?;
    let (dir, name) = match (target.parent(), target.file_name()) {
        (Some(d), Some(n)) => (d.to_path_buf(), n.to_string_lossy().into_owned()),
        _ => return Err(fail(ctx, storage_err(format!("{} has no file name", target.display())))),
    };

    // Checked when the config is read; converted without a possible panic all the same (an
    // `HttpConfig` built in code may hold anything).
    let mut timeout = stage_core::policy::duration_from_secs(cfg.http.timeout_seconds, 86_400.0)
        .max(Duration::from_millis(1));
    if let Some(cap) = ctx.host().max_wait {
        timeout = timeout.min(cap).max(Duration::from_millis(1));
    }
    let fetcher = Fetcher::new(timeout, &cfg.http.user_agent, cfg.http.max_bytes);
    let mut failures = Vec::new();
    let mut retryable = false;
    for url in &candidates.urls {
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            if ctx.is_cancelled() {
                break Err(FetchError::Cancelled);
            }
            match fetcher.fetch(ctx, url, &dir, &name) {
                Ok(f) => break Ok(f),
                Err(e) if e.retryable() && attempt < cfg.http.max_attempts => {
                    tracing::warn!(job = %job_id, url = %url, attempt, error = %e, "download: retrying");
                    ctx.clock().sleep(Duration::from_millis(250 * u64::from(attempt)));
                }
                Err(e) => break Err(e),
            }
        };
        let fetched = match outcome {
            Ok(f) => f,
            Err(FetchError::Cancelled) => return Err(fail(ctx, DownloadError::Cancelled { job_id })),
            Err(e) => {
                tracing::warn!(job = %job_id, url = %url, attempts = attempt, error = %e, "download: URL failed");
                retryable |= e.retryable();
                let plural = if attempt == 1 { "" } else { "s" };
                failures.push(format!("{url}: {e} ({attempt} attempt{plural})"));
                continue;
            }
        };
        if let Err(e) = std::fs::rename(&fetched.temp, &target) {
            let _ = std::fs::remove_file(&fetched.temp);
            return Err(fail(
                ctx,
                storage_err(format!("cannot move the download to {}: {e}", target.display())),
            ));
        }
        if let Some(ct) =
            fetched.content_type.as_deref().filter(|ct| !ct.to_ascii_lowercase().contains("pdf"))
        {
            tracing::warn!(job = %job_id, url = %url, content_type = ct, "download: the response is not a PDF");
        }
        let file = DownloadedFile {
            url: url.clone(),
            path: target.to_string_lossy().into_owned(),
            bytes: fetched.bytes,
            sha256: fetched.sha256,
            content_type: fetched.content_type,
        };
        record_success(ctx, &file, ctx.clock().now())
            .map_err(|reason| DownloadError::Ledger { job_id: job_id.clone(), reason })?;
        tracing::info!(job = %job_id, url = %url, path = %file.path, bytes = file.bytes, "download: done");
        return Ok(vec![file]);
    }
    Err(fail(ctx, DownloadError::AllFailed { job_id, failures, retryable }))
}

fn record_success(
    ctx: &StageContext,
    file: &DownloadedFile,
    at: std::time::SystemTime,
) -> Result<(), String> {
    let job = ctx.job().job_id.as_str();
    let ledger = ctx.ledger();
    let fields = [
        ("pdf_downloaded", Value::Bool(true)),
        ("pdf_url", Value::String(file.url.clone())),
        ("pdf_path", Value::String(file.path.clone())),
        ("pdf_sha256", Value::String(file.sha256.clone())),
        ("pdf_downloaded_at", Value::String(time::rfc3339_utc(at))),
    ];
    for (field, value) in fields {
        ledger.set(job, field, value).map_err(|e| format!("setting `{field}`: {e}"))?;
    }
    if ledger.get(job, "pdf_download_error").map_err(|e| e.to_string())?.is_some_and(|v| !v.is_null()) {
        ledger.set(job, "pdf_download_error", Value::Null).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Where the download for `job` would be written under `host` with `cfg`, at `now`: the
/// resolved base directory joined with the rendered file name (no directory is created).
pub fn target_path(
    cfg: &StorageConfig,
    host: &stage_core::HostSettings,
    job: &Job,
    now: std::time::SystemTime,
) -> std::io::Result<PathBuf> {
    Ok(storage::base_dir(cfg.base_path.as_deref(), host)?.join(cfg.filename_template.render(job, now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(source: &str, raw: Value) -> Record {
        Record {
            source: source.to_owned(),
            id: "r1".to_owned(),
            title: "t".to_owned(),
            abstract_text: None,
            sections: vec![],
            authors: vec![],
            year: None,
            doi: Some("10.1/x".to_owned()),
            pdf_url: None,
            raw,
        }
    }

    #[test]
    fn record_view_merges_raw_first() {
        let mut r = record("openalex", json!({"doi": "https://doi.org/10.1/x", "pdf_url": null, "x": 1}));
        r.pdf_url = Some("https://n/p.pdf".to_owned());
        let v = record_view(&r);
        assert_eq!(v["doi"], "https://doi.org/10.1/x", "raw wins");
        assert_eq!(v["pdf_url"], "https://n/p.pdf", "normalized fills a null");
        assert_eq!(v["raw"]["x"], 1);
        assert_eq!(v["source"], "openalex");
    }

    #[test]
    fn aliases() {
        assert!(same_source("pmc", "pmc-fulltext"));
        assert!(same_source("clinical-trials", "clinicaltrials"));
        assert!(!same_source("pmc", "openalex"));
        assert!(!same_source("OpenAlex", "openalex"));
    }

    #[test]
    fn http_validation() {
        let parse = |v: Value| serde_json::from_value::<HttpConfig>(v);
        assert_eq!(parse(json!({})).unwrap(), HttpConfig::default());
        assert!(parse(json!({"max_attempts": 0})).is_err());
        assert!(parse(json!({"timeout_seconds": 0})).is_err());
        assert!(parse(json!({"max_bytes": 0})).is_err());
        assert!(parse(json!({"retries": 1})).is_err());
        assert_eq!(parse(json!({"timeout_seconds": 1.5})).unwrap().timeout_seconds, 1.5);
    }
}
