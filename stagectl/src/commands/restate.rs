//! `stagectl serve --restate`, `submit`, `status` and `ledger … --restate`: runs on a Restate
//! server (see the `stage-restate` crate for the model, what is shared and what happens when
//! a process dies).

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;
use stage_core::{Plan, RunStatus, StageRegistry};
use stage_restate::{Client, RunInput, Submitted, WorkerConfig};

use crate::commands::run::{self, BatchOptions};
use crate::{CliError, LedgerCommand};

/// How long one request to the server may take (a `--wait` on a run is not bounded by it).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// `stagectl serve --restate`: a worker endpoint, until SIGTERM or SIGINT. Prints
/// `listening on http://<addr>` once it listens.
pub(crate) fn serve(
    registry: &'static StageRegistry,
    listen: SocketAddr,
    options: &BatchOptions,
) -> Result<ExitCode, CliError> {
    std::fs::create_dir_all(&options.store)?;
    let store = std::fs::canonicalize(&options.store)?;
    let options = BatchOptions { store: store.clone(), ..options.clone() };
    let config = WorkerConfig {
        registry,
        plan_options: run::plan_options(&options)?,
        store,
        rebase_paths: options.rebase_paths,
        max_gate_wait: options.max_gate_wait,
    };
    stage_restate::serve_blocking(config, listen, |addr| {
        // Tests and scripts read this line to find the port.
        let _ = outln!("listening on http://{addr}");
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `stagectl balance`: an HTTP/2 load balancer in front of `workers`, until SIGTERM or SIGINT.
/// Prints `balancing on http://<addr>` once it listens.
pub(crate) fn balance(listen: SocketAddr, workers: Vec<SocketAddr>) -> Result<ExitCode, CliError> {
    stage_restate::balancer::balance_blocking(listen, workers, |addr| {
        // Tests and scripts read this line to find the port.
        let _ = outln!("balancing on http://{addr}");
    })?;
    Ok(ExitCode::SUCCESS)
}

/// What `submit` is told.
pub(crate) struct SubmitArgs<'a> {
    pub(crate) pipeline: &'a Path,
    pub(crate) jobs: &'a str,
    pub(crate) ingress: &'a str,
    pub(crate) admin: Option<&'a str>,
    pub(crate) register: &'a [String],
    pub(crate) rerun: bool,
    pub(crate) wait: bool,
}

/// `stagectl submit`: one workflow per job, idempotent by job id (a job already submitted is
/// reported, not run again, unless `--rerun`); with `--wait`, each run's report.
pub(crate) fn submit(
    registry: &StageRegistry,
    a: &SubmitArgs<'_>,
    options: &BatchOptions,
    json: bool,
) -> Result<ExitCode, CliError> {
    let pipeline = std::fs::canonicalize(a.pipeline).map_err(|e| format!("{}: {e}", a.pipeline.display()))?;
    let plan = Plan::from_file(&pipeline, registry, &run::plan_options(options)?)?;
    for w in &plan.warnings {
        errln!("{w}");
    }
    let jobs = run::expand_jobs(&plan, run::read_jobs(a.jobs)?)?;
    let client = Client::new(a.ingress, a.admin, REQUEST_TIMEOUT);
    for uri in a.register {
        client.register(uri)?;
        if !json {
            outln!("registered worker {uri}")?;
        }
    }
    let fingerprint = plan.fingerprint().clone();
    let mut submitted = Vec::with_capacity(jobs.len());
    for job in jobs {
        if a.rerun && client.purge(&job.job_id)? && !json {
            outln!("{}: previous run purged", job.job_id)?;
        }
        let id = job.job_id.clone();
        let input = RunInput { pipeline: pipeline.clone(), fingerprint: fingerprint.clone(), job };
        let s = client.submit(&input)?;
        let (what, invocation) = match &s {
            Submitted::Started { invocation } => ("submitted", invocation),
            Submitted::Existing { invocation } => {
                ("already submitted (not run again; --rerun to run it again)", invocation)
            }
        };
        if json && !a.wait {
            outln!(
                "{}",
                serde_json::json!({"job_id": id, "submitted": what == "submitted", "invocation": invocation})
            )?;
        } else if !json {
            outln!("{id}: {what} ({invocation})")?;
        }
        submitted.push(id);
    }
    if !a.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let waiter = Client::new(a.ingress, a.admin, Duration::from_secs(24 * 3600));
    let mut ok = true;
    for id in &submitted {
        let report = waiter.attach(id)?;
        ok &= report.status != RunStatus::Failed;
        if json {
            outln!("{}", serde_json::to_string(&report)?)?;
        } else {
            outln!("{id}: {:?} ({} stage(s))", report.status, report.stages.len())?;
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `stagectl status --restate`: a run's status on the server.
pub(crate) fn status(ingress: &str, job_id: &str, json: bool) -> Result<ExitCode, CliError> {
    let v = Client::new(ingress, None, REQUEST_TIMEOUT).status(job_id)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    outln!("job {job_id}: {}", s("status"))?;
    if !s("stage").is_empty() {
        outln!("stage: {}", s("stage"))?;
    }
    if !s("note").is_empty() {
        outln!("note: {}", s("note"))?;
    }
    for line in v.get("stages").and_then(Value::as_array).into_iter().flatten() {
        let f = |k: &str| {
            line.get(k).map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned)).unwrap_or_default()
        };
        let ty = if f("type").is_empty() { f("stage_type") } else { f("type") };
        outln!("  {} ({ty}): {}", f("name"), f("status"))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `stagectl ledger … --restate`: a run's ledger read from, or fields set through, the
/// server (a set wakes the run's gate).
pub(crate) fn ledger(ingress: &str, what: LedgerCommand, json: bool) -> Result<ExitCode, CliError> {
    let client = Client::new(ingress, None, REQUEST_TIMEOUT);
    match what {
        LedgerCommand::Get { job_id, field } => {
            let v = client.status(&job_id)?;
            let ledger = v.get("ledger").cloned().unwrap_or(Value::Object(Default::default()));
            match field {
                Some(f) => match ledger.get(&f) {
                    Some(x) => outln!("{x}")?,
                    None => {
                        errln!("job `{job_id}` has no field `{f}` on the server");
                        return Ok(ExitCode::FAILURE);
                    }
                },
                None if json => outln!("{}", serde_json::to_string_pretty(&ledger)?)?,
                None => {
                    for (k, x) in ledger.as_object().into_iter().flatten() {
                        outln!("{k} = {x}")?;
                    }
                }
            }
        }
        LedgerCommand::Set { job_id, field, value, metadata } => {
            if metadata {
                return Err("--metadata is not supported with --restate: ledger fields only".into());
            }
            let v = serde_json::from_str(&value).unwrap_or(Value::String(value));
            let mut fields = serde_json::Map::new();
            fields.insert(field.clone(), v.clone());
            client.signal(&job_id, &fields)?;
            if !json {
                outln!("{job_id}: {field} = {v} (sent to the run)")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
