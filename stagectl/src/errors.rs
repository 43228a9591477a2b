//! The error object `--json` prints: `{"error": {"message", "kind", "exit_code", ...}}`.

use std::process::ExitCode;

use serde_json::{json, Value};
use stage_core::{PlanError, RegistryError, UnknownStageType};

/// A run, a job or a field that is not there: `kind` `not_found`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NotFound(pub(crate) String);

/// The error object for `e`, with the extra facts its kind carries.
pub(crate) fn error_json(e: &(dyn std::error::Error + 'static), exit_code: u8) -> Value {
    let mut error = json!({ "message": e.to_string(), "kind": "error", "exit_code": exit_code });
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<RegistryError>() {
            error["kind"] = "registry".into();
            match r {
                RegistryError::Missing(types) => error["missing"] = json!(types),
                RegistryError::Problems(p) => {
                    error["problems"] = p.iter().map(ToString::to_string).collect::<Vec<_>>().into();
                }
                RegistryError::Replaced(r) => {
                    error["replaced"] = r.iter().map(|r| r.stage_type.clone()).collect::<Vec<_>>().into();
                }
            }
            break;
        }
        if let Some(u) = err.downcast_ref::<UnknownStageType>() {
            error["kind"] = "unknown_stage_type".into();
            error["suggestions"] = json!(u.suggestions);
            break;
        }
        if let Some(p) = err.downcast_ref::<PlanError>() {
            error["kind"] = "pipeline".into();
            error["diagnostics"] = p
                .errors
                .iter()
                .chain(&p.warnings)
                .map(|d| {
                    json!({
                        "severity": d.severity.to_string(), "line": d.line, "column": d.column,
                        "message": d.message,
                    })
                })
                .collect::<Vec<_>>()
                .into();
            break;
        }
        if err.downcast_ref::<NotFound>().is_some() {
            error["kind"] = "not_found".into();
            break;
        }
        if err.downcast_ref::<std::io::Error>().is_some() {
            error["kind"] = "io".into();
            break;
        }
        cur = err.source();
    }
    json!({ "error": error })
}

/// A command line clap refused: with `--json` among the arguments, the error object on stdout
/// (kind `usage`, exit 2); otherwise clap's own message. Help and version print as usual.
pub(crate) fn usage(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let wants_json = std::env::args_os().any(|a| a == "--json");
    if !wants_json || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let message = e.render().to_string();
    let message = message.trim().trim_start_matches("error: ").to_owned();
    let v = json!({ "error": { "message": message, "kind": "usage", "exit_code": 2 } });
    if outln!("{v}").is_err() {
        return ExitCode::from(crate::EXIT_BROKEN_PIPE);
    }
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_found_through_the_source_chain() {
        let unknown = UnknownStageType { stage_type: "chunck".into(), suggestions: vec!["chunk".into()] };
        let j = error_json(&unknown, 2);
        assert_eq!(j["error"]["kind"], "unknown_stage_type");
        assert_eq!(j["error"]["suggestions"], json!(["chunk"]));
        assert_eq!(j["error"]["message"], "unknown stage type `chunck`; did you mean `chunk`?");
        let missing = RegistryError::Missing(vec!["ocr".into()]);
        assert_eq!(error_json(&missing, 2)["error"]["missing"], json!(["ocr"]));
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        assert_eq!(error_json(&io, 2)["error"]["kind"], "io");
        let other: crate::CliError = "plain".into();
        assert_eq!(
            error_json(&*other, 2)["error"],
            json!({"message": "plain", "kind": "error", "exit_code": 2})
        );
    }
}
