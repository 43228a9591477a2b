//! A blocking client of the Restate server, for `stagectl submit`, `status`, `ledger set` and
//! the tests: the ingress (to submit runs, ask their status, signal them, wait for their
//! reports) and the admin API (to register a worker, query invocations, purge a run).

use std::time::Duration;

use serde_json::{json, Value};
use stage_core::RunReport;

use crate::{RestateError, RunInput, SERVICE};

/// A client of one Restate server.
#[derive(Debug, Clone)]
pub struct Client {
    ingress: String,
    admin: Option<String>,
    agent: ureq::Agent,
}

/// What `submit` did with a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// A new run was started.
    Started {
        /// Its invocation id.
        invocation: String,
    },
    /// The job's run was already submitted: it is reported, not run again.
    Existing {
        /// Its invocation id.
        invocation: String,
    },
}

/// One response: its status and body.
fn call(
    req: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    what: &str,
) -> Result<(u16, String), RestateError> {
    let mut resp =
        req.map_err(|e| RestateError::Server(format!("{what}: {e} (is the Restate server running?)")))?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| RestateError::Server(format!("{what}: reading the answer: {e}")))?;
    Ok((status, body))
}

fn ok_json(status: u16, body: &str, what: &str) -> Result<Value, RestateError> {
    if !(200..300).contains(&status) {
        return Err(RestateError::Server(format!("{what}: HTTP {status}: {}", body.trim())));
    }
    if body.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(body)
        .map_err(|e| RestateError::Server(format!("{what}: not JSON ({e}): {}", body.trim())))
}

/// `s` for a URL path segment: job ids are checked at submission (letters, digits, `-_.:@`),
/// so only the few reserved characters they may hold are escaped.
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// A client of the server whose ingress is at `ingress` (`http://127.0.0.1:8080`) and,
    /// when given, admin API at `admin` (`http://127.0.0.1:9070`). Each request waits at
    /// most `timeout`.
    pub fn new(ingress: &str, admin: Option<&str>, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Client {
            ingress: ingress.trim_end_matches('/').to_owned(),
            admin: admin.map(|a| a.trim_end_matches('/').to_owned()),
            agent,
        }
    }

    fn admin(&self) -> Result<&str, RestateError> {
        self.admin.as_deref().ok_or_else(|| RestateError::Server("no admin URL given (--admin)".to_owned()))
    }

    /// Starts the run of `input.job` (without waiting for it). A job whose run was already
    /// submitted is not run again: [`Submitted::Existing`].
    pub fn submit(&self, input: &RunInput) -> Result<Submitted, RestateError> {
        let job = &input.job.job_id;
        let what = format!("submitting job `{job}`");
        let body = serde_json::to_string(input).map_err(|e| RestateError::Codec(e.to_string()))?;
        let url = format!("{}/{SERVICE}/{}/run/send", self.ingress, segment(job));
        let (status, text) =
            call(self.agent.post(&url).header("content-type", "application/json").send(&body), &what)?;
        let v = ok_json(status, &text, &what)?;
        let invocation = v.get("invocationId").and_then(Value::as_str).unwrap_or_default().to_owned();
        match v.get("status").and_then(Value::as_str) {
            Some("PreviouslyAccepted") => Ok(Submitted::Existing { invocation }),
            _ => Ok(Submitted::Started { invocation }),
        }
    }

    /// Waits for job `job`'s run to end and returns its report.
    pub fn attach(&self, job: &str) -> Result<RunReport, RestateError> {
        let what = format!("waiting for job `{job}`");
        let url = format!("{}/restate/workflow/{SERVICE}/{}/attach", self.ingress, segment(job));
        let (status, text) = call(self.agent.get(&url).call(), &what)?;
        let v = ok_json(status, &text, &what)?;
        serde_json::from_value(v).map_err(|e| RestateError::Codec(format!("{what}: not a run report: {e}")))
    }

    /// Job `job`'s run status (see the `status` handler).
    pub fn status(&self, job: &str) -> Result<Value, RestateError> {
        let what = format!("asking job `{job}`'s status");
        let url = format!("{}/{SERVICE}/{}/status", self.ingress, segment(job));
        let (status, text) = call(self.agent.post(&url).send_empty(), &what)?;
        ok_json(status, &text, &what)
    }

    /// Sets ledger fields of job `job`'s run, waking its gate.
    pub fn signal(&self, job: &str, fields: &serde_json::Map<String, Value>) -> Result<Value, RestateError> {
        let what = format!("setting ledger fields of job `{job}`");
        let url = format!("{}/{SERVICE}/{}/signal", self.ingress, segment(job));
        let body = Value::Object(fields.clone()).to_string();
        let (status, text) =
            call(self.agent.post(&url).header("content-type", "application/json").send(&body), &what)?;
        ok_json(status, &text, &what)
    }

    /// Registers the worker endpoint at `uri` with the server (admin API), again if it changed.
    pub fn register(&self, uri: &str) -> Result<Value, RestateError> {
        let what = format!("registering worker {uri}");
        let url = format!("{}/deployments", self.admin()?);
        let body = json!({ "uri": uri, "force": true }).to_string();
        let (status, text) =
            call(self.agent.post(&url).header("content-type", "application/json").send(&body), &what)?;
        ok_json(status, &text, &what)
    }

    /// Runs an SQL query on the server's admin API; its rows.
    pub fn query(&self, sql: &str) -> Result<Vec<Value>, RestateError> {
        let what = "querying the server";
        let url = format!("{}/query", self.admin()?);
        let body = json!({ "query": sql }).to_string();
        let (status, text) = call(
            self.agent
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .send(&body),
            what,
        )?;
        let v = ok_json(status, &text, what)?;
        Ok(v.get("rows").and_then(Value::as_array).cloned().unwrap_or_default())
    }

    /// Forgets job `job`'s ended run (purges its invocation), so that it can be submitted
    /// again. A run still going is refused: cancel it first (`restate invocations cancel`).
    pub fn purge(&self, job: &str) -> Result<bool, RestateError> {
        let key = job.replace('\'', "''");
        let rows = self.query(&format!(
            "SELECT id, status FROM sys_invocation WHERE target_service_name = '{SERVICE}' \
             AND target_service_key = '{key}' AND target_handler_name = 'run'"
        ))?;
        let mut purged = false;
        for row in rows {
            let id = row.get("id").and_then(Value::as_str).unwrap_or_default();
            let status = row.get("status").and_then(Value::as_str).unwrap_or_default();
            if status != "completed" {
                return Err(RestateError::Server(format!(
                    "job `{job}`'s run is still {status} (invocation {id}): it can be run again only once it ended"
                )));
            }
            let what = format!("purging job `{job}`'s run");
            let url = format!("{}/invocations/{}/purge", self.admin()?, segment(id));
            let (status, text) = call(self.agent.patch(&url).send_empty(), &what)?;
            ok_json(status, &text, &what)?;
            purged = true;
        }
        Ok(purged)
    }
}
