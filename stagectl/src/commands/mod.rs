//! One module per command. [`run`] is public: a host can run batches from its own code.

pub(crate) mod graph;
pub(crate) mod ledger;
pub(crate) mod query;
pub(crate) mod resume;
pub mod run;
pub(crate) mod store;
pub(crate) mod validate;

use std::process::ExitCode;

use stage_core::StageRegistry;

use crate::describe::{describe_text, metadata_json};
use crate::table::table;
use crate::{Cli, CliError, Command};

pub(crate) fn dispatch(cli: Cli, registry: &StageRegistry) -> Result<ExitCode, CliError> {
    let json = cli.json;
    match cli.command {
        Command::List => list(registry, json),
        Command::Describe { stage_type } => {
            let meta = registry.get(&stage_type)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&metadata_json(meta))?)?;
            } else {
                out!("{}", describe_text(meta))?;
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
        Command::Graph { pipeline, format } => graph::graph(registry, &pipeline, &format, json),
        Command::Query { store, what } => query::query(&store, what, json),
        Command::Ledger { store, what } => ledger::ledger(&store, what, json),
    }
}

fn list(registry: &StageRegistry, json: bool) -> Result<ExitCode, CliError> {
    if json {
        let all: Vec<_> = registry.iter().map(metadata_json).collect();
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
    for p in registry.problems() {
        errln!("warning: {p}");
    }
    Ok(ExitCode::SUCCESS)
}
