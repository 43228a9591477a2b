//! One HTTP(S) GET, streamed to a temporary file next to the target while it is hashed.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use stage_core::StageContext;

/// Redirects followed per request.
pub(crate) const MAX_REDIRECTS: u32 = 5;

/// Why one request failed.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// The request took longer than the timeout.
    Timeout(Duration),
    /// A status other than 2xx.
    Status(u16),
    /// The body is larger than allowed.
    TooLarge {
        /// The cap.
        max: u64,
        /// The declared length, when the response declared one over the cap.
        declared: Option<u64>,
    },
    /// More than [`MAX_REDIRECTS`] redirects.
    TooManyRedirects,
    /// The URL is not usable.
    BadUrl(String),
    /// Connection, TLS, protocol or read errors.
    Transport(String),
    /// The temporary file could not be written.
    Io(String),
    /// The runtime abandoned the attempt.
    Cancelled,
}

impl FetchError {
    /// Whether another attempt at the same URL may succeed.
    pub(crate) fn retryable(&self) -> bool {
        match self {
            FetchError::Timeout(_) | FetchError::Transport(_) => true,
            FetchError::Status(s) => *s == 408 || *s == 429 || *s >= 500,
            FetchError::TooLarge { .. }
            | FetchError::TooManyRedirects
            | FetchError::BadUrl(_)
            | FetchError::Io(_)
            | FetchError::Cancelled => false,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Timeout(t) => write!(f, "timed out after {:.1} s", t.as_secs_f64()),
            FetchError::Status(s) => write!(f, "HTTP status {s}"),
            FetchError::TooLarge { max, declared: Some(n) } => {
                write!(f, "response too large: Content-Length {n} bytes exceeds the limit of {max} bytes")
            }
            FetchError::TooLarge { max, declared: None } => {
                write!(f, "response too large: more than the limit of {max} bytes; cut off")
            }
            FetchError::TooManyRedirects => write!(f, "too many redirects (more than {MAX_REDIRECTS})"),
            FetchError::BadUrl(e) => write!(f, "bad URL: {e}"),
            FetchError::Transport(e) => write!(f, "{e}"),
            FetchError::Io(e) => write!(f, "cannot write the file: {e}"),
            FetchError::Cancelled => write!(f, "cancelled"),
        }
    }
}

/// A body fetched into a temporary file.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// The temporary file (in the target's directory).
    pub(crate) temp: PathBuf,
    /// Bytes written.
    pub(crate) bytes: u64,
    /// SHA-256, hex.
    pub(crate) sha256: String,
    /// The `Content-Type` header, when given.
    pub(crate) content_type: Option<String>,
}

/// An HTTP client for one stage call.
pub(crate) struct Fetcher {
    agent: ureq::Agent,
    timeout: Duration,
    max_bytes: u64,
}

/// Removes a temporary file unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn map_ureq(e: ureq::Error, timeout: Duration) -> FetchError {
    match e {
        ureq::Error::Timeout(_) => FetchError::Timeout(timeout),
        ureq::Error::StatusCode(s) => FetchError::Status(s),
        ureq::Error::TooManyRedirects => FetchError::TooManyRedirects,
        ureq::Error::BadUri(u) => FetchError::BadUrl(u),
        ureq::Error::Http(e) => FetchError::BadUrl(e.to_string()),
        ureq::Error::Io(e) => map_io(e, timeout),
        other => FetchError::Transport(other.to_string()),
    }
}

fn map_io(e: io::Error, timeout: Duration) -> FetchError {
    if e.kind() == io::ErrorKind::TimedOut {
        return FetchError::Timeout(timeout);
    }
    match e.into_inner().map(|inner| inner.downcast::<ureq::Error>()) {
        Some(Ok(u)) => map_ureq(*u, timeout),
        Some(Err(inner)) => FetchError::Transport(inner.to_string()),
        None => FetchError::Transport("read error".to_owned()),
    }
}

impl Fetcher {
    /// A client: `timeout` bounds each request (redirects and body included).
    pub(crate) fn new(timeout: Duration, user_agent: &str, max_bytes: u64) -> Fetcher {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .max_redirects(MAX_REDIRECTS)
            .max_redirects_will_error(true)
            .http_status_as_error(false)
            .user_agent(user_agent)
            .build();
        Fetcher { agent: ureq::Agent::new_with_config(config), timeout, max_bytes }
    }

    /// GETs `url` into a new temporary file in `dir` (named after `name`), hashing as it goes.
    /// On any error the temporary file is gone.
    pub(crate) fn fetch(
        &self,
        ctx: &StageContext,
        url: &str,
        dir: &Path,
        name: &str,
    ) -> Result<Fetched, FetchError> {
        let response = self.agent.get(url).call().map_err(|e| map_ureq(e, self.timeout))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(FetchError::Status(status));
        }
        let content_type = response
            .headers()
            .get(ureq::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        let body = response.into_body();
        if let Some(n) = body.content_length() {
            if n > self.max_bytes {
                return Err(FetchError::TooLarge { max: self.max_bytes, declared: Some(n) });
            }
        }

        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.{}-{n}.part", std::process::id()));
        let mut guard = TempGuard(Some(temp.clone()));
        let mut file: File = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| FetchError::Io(format!("{}: {e}", temp.display())))?;
        let mut reader = body.into_reader();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total: u64 = 0;
        loop {
            if ctx.is_cancelled() {
                return Err(FetchError::Cancelled);
            }
            let read = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(map_io(e, self.timeout)),
            };
            total += read as u64;
            if total > self.max_bytes {
                return Err(FetchError::TooLarge { max: self.max_bytes, declared: None });
            }
            hasher.update(&buf[..read]);
            file.write_all(&buf[..read]).map_err(|e| FetchError::Io(format!("{}: {e}", temp.display())))?;
        }
        file.sync_all().map_err(|e| FetchError::Io(format!("{}: {e}", temp.display())))?;
        drop(file);
        guard.0 = None;
        let sha256 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Fetched { temp, bytes: total, sha256, content_type })
    }
}
