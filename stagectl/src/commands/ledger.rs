//! `stagectl ledger get|set`: read or flip a job's fields, as an external process would.

use std::path::Path;
use std::process::ExitCode;

use stage_core::Ledger;
use stages_builtin::ledger::SqliteLedger;

use crate::{CliError, LedgerCommand};

/// A value typed on the command line: JSON when it parses, else a plain string.
fn value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

/// `ledger get` prints the value (JSON) or the fields (`--json`: an object); `ledger set`
/// echoes what it set (`--json`: `{"job_id", "field", "value", "metadata"}`). A missing field
/// exits 1 (`--json`: the error object, kind `not_found`).
pub(crate) fn ledger(store: &Path, what: LedgerCommand, json: bool) -> Result<ExitCode, CliError> {
    std::fs::create_dir_all(store)?;
    let ledger = SqliteLedger::open(store)?;
    match what {
        LedgerCommand::Get { job_id, field: Some(field) } => match ledger.get(&job_id, &field)? {
            Some(v) => outln!("{v}")?,
            None => {
                let e = crate::errors::NotFound(format!("job `{job_id}` has no field `{field}`"));
                if json {
                    outln!("{}", crate::errors::error_json(&e, 1))?;
                } else {
                    errln!("{e}");
                }
                return Ok(ExitCode::FAILURE);
            }
        },
        LedgerCommand::Get { job_id, field: None } => {
            let fields = ledger.fields(&job_id)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&fields)?)?;
            } else if fields.is_empty() {
                outln!("job `{job_id}` has no fields")?;
            } else {
                for (k, v) in fields {
                    outln!("{k} = {v}")?;
                }
            }
        }
        LedgerCommand::Set { job_id, field, value: text, metadata } => {
            let v = value(&text);
            if metadata {
                ledger.set_metadata(&job_id, &field, v.clone())?;
            } else {
                ledger.set(&job_id, &field, v.clone())?;
            }
            if json {
                let set =
                    serde_json::json!({"job_id": job_id, "field": field, "value": v, "metadata": metadata});
                outln!("{}", serde_json::to_string_pretty(&set)?)?;
            } else {
                outln!("{job_id}: {}{field} = {v}", if metadata { "metadata." } else { "" })?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
