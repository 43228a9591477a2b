//! One module per command. [`run`] is public: a host can run batches from its own code.

pub(crate) mod graph;
pub(crate) mod ledger;
pub(crate) mod query;
pub(crate) mod restate;
pub(crate) mod resume;
pub mod run;
pub(crate) mod store;
pub(crate) mod validate;

use std::process::ExitCode;

use stage_core::StageRegistry;

use crate::describe::{describe_text, metadata_json};
use crate::table::table;
use crate::{Cli, CliError, Command};

pub(crate) fn dispatch(cli: Cli, registry: &'static StageRegistry) -> Result<ExitCode, CliError> {
    let json = cli.json;
    match cli.command {
        Command::List => list(registry, json),
        Command::Describe { stage_type } => {
            let meta = registry.get(&stage_type)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&metadata_json(registry, meta))?)?;
            } else {
                out!("{}", describe_text(registry, meta))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { paths, policies } => {
            validate::validate(registry, &paths, policies.as_deref(), json)
        }
        Command::Run { pipeline, jobs, run } => {
            run::run_command(registry, &pipeline, &jobs, &run::BatchOptions::from_args(&run, json), json)
        }
        Command::Resume { job_id, run } => {
            resume::resume(registry, &job_id, &run::BatchOptions::from_args(&run, json), json)
        }
        Command::Watch { once, until_idle, run } => {
            resume::watch(registry, &run::BatchOptions::from_args(&run, json), once, until_idle, json)
        }
        Command::Runs { job_id, store } => runs(&store, job_id.as_deref(), json),
        Command::Graph { pipeline, format } => graph::graph(registry, &pipeline, format, json),
        Command::Completions { shell } => {
            use std::io::Write as _;
            std::io::stdout().lock().write_all(&crate::completions(shell))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Query { store, what } => query::query(&store, what, json),
        Command::Ledger { store, restate: Some(url), what } => {
            let _ = store;
            restate::ledger(&url, what, json)
        }
        Command::Ledger { store, restate: None, what } => ledger::ledger(&store, what, json),
        Command::Balance { listen, workers } => restate::balance(listen, workers),
        Command::Serve { restate: _, listen, run } => {
            restate::serve(registry, listen, &run::BatchOptions::from_args(&run, json))
        }
        Command::Submit { pipeline, jobs, restate: ingress, admin, register, rerun, wait, run } => {
            let args = restate::SubmitArgs {
                pipeline: &pipeline,
                jobs: &jobs,
                ingress: &ingress,
                admin: admin.as_deref(),
                register: &register,
                rerun,
                wait,
            };
            restate::submit(registry, &args, &run::BatchOptions::from_args(&run, json), json)
        }
        Command::Status { job_id, restate: ingress } => restate::status(&ingress, &job_id, json),
    }
}

/// `stagectl runs`: every run and its status, or one run's record.
fn runs(store: &std::path::Path, job_id: Option<&str>, json: bool) -> Result<ExitCode, CliError> {
    let journal = crate::journal::Journal::open(store, false)?;
    let Some(job_id) = job_id else {
        let mut rows = Vec::new();
        for (job, status) in journal.list()? {
            // Each record read, so that a broken one is listed as such, with why.
            let (status, note) = match journal.load(&job) {
                Ok(Some(r)) => (status, format!("{} stage(s) recorded", r.stages.len())),
                Ok(None) => (status, String::new()),
                Err(e) => ("unreadable".to_owned(), e.to_string()),
            };
            rows.push(vec![job, status, note]);
        }
        if json {
            let all: Vec<_> = rows
                .iter()
                .map(|r| serde_json::json!({"job_id": r[0], "status": r[1], "note": r[2]}))
                .collect();
            outln!("{}", serde_json::to_string_pretty(&all)?)?;
        } else {
            outln!("{}", table(&["JOB", "STATUS", "NOTE"], &rows))?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    let run = journal.load(job_id)?.ok_or_else(|| {
        crate::errors::NotFound(format!("no stored run for job `{job_id}` in {}", store.display()))
    })?;
    // The record: the report (lines, and results as contract §4 gives them), and the state
    // (each stage's record and written values).
    let mut stages = serde_json::Map::new();
    let mut results = serde_json::Map::new();
    for s in &run.stages {
        let mut written = Vec::new();
        let mut raw = None;
        for (key, bytes) in &s.outputs {
            let value = crate::journal::to_json(bytes)?;
            if key.is_empty() {
                raw = Some(value);
            } else {
                written.push((key.clone(), value));
            }
        }
        if s.report.status == stage_core::StageStatus::Completed {
            let output = match (raw.clone(), written.as_slice()) {
                (Some(raw), _) => raw,
                (None, [(_, one)]) => one.clone(),
                (None, many) => many.iter().cloned().collect::<serde_json::Map<_, _>>().into(),
            };
            results.insert(
                s.report.name.clone(),
                serde_json::json!({"type": s.report.stage_type, "output": output}),
            );
        }
        let mut rec = serde_json::json!({"status": s.report.status, "report": s.report, "written": written});
        if let Some(raw) = raw {
            rec["raw"] = raw;
        }
        stages.insert(s.report.name.clone(), rec);
    }
    let report = run.report.clone().map(|mut r| {
        r["job_id"] = run.job.job_id.clone().into();
        r["status"] = run.status.clone().into();
        r["results"] = results.into();
        r
    });
    let record = serde_json::json!({
        "job_id": run.job.job_id,
        "status": run.status,
        "pipeline_path": run.pipeline_path,
        "report": report,
        "state": {"job": run.job, "stages": stages},
    });
    if json {
        outln!("{}", serde_json::to_string_pretty(&record)?)?;
    } else {
        outln!("job {} — {} — {}", run.job.job_id, run.status, run.pipeline_path.display())?;
        let rows: Vec<Vec<String>> = run
            .stages
            .iter()
            .map(|s| {
                vec![
                    s.report.name.clone(),
                    format!("{:?}", s.report.status).to_lowercase(),
                    s.report.output_count.to_string(),
                    s.report.message.clone().unwrap_or_default(),
                ]
            })
            .collect();
        outln!("{}", table(&["STAGE", "STATUS", "OUTPUTS", "NOTE"], &rows))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn list(registry: &StageRegistry, json: bool) -> Result<ExitCode, CliError> {
    if json {
        let all: Vec<_> = registry.iter().map(|m| metadata_json(registry, m)).collect();
        outln!("{}", serde_json::to_string_pretty(&all)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = registry
        .iter()
        .map(|m| {
            let keys = m.state_key().keys();
            let inputs: Vec<String> = m
                .inputs()
                .iter()
                .map(|i| if i.required { i.key.to_owned() } else { format!("{}?", i.key) })
                .collect();
            vec![
                m.stage_type().to_owned(),
                if keys.is_empty() { "-".into() } else { keys.join(", ") },
                if inputs.is_empty() { "-".into() } else { inputs.join(", ") },
                m.version().to_owned(),
                m.location().crate_name.to_owned(),
                m.description().lines().next().unwrap_or_default().to_owned(),
            ]
        })
        .collect();
    outln!("{}", table(&["TYPE", "WRITES", "READS", "VERSION", "CRATE", "DESCRIPTION"], &rows))?;
    for r in registry.replacements() {
        outln!("replaced: {r}")?;
    }
    for p in registry.problems() {
        errln!("warning: {p}");
    }
    Ok(ExitCode::SUCCESS)
}
