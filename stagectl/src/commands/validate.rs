//! `stagectl validate`: every problem of every file, located; non-zero exit on any error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;
use stage_core::policy::PolicySet;
use stage_core::spec::{self, Diagnostic, Severity};
use stage_core::{Plan, PlanOptions, StageFactory, StageRegistry};

use crate::CliError;

pub(crate) fn policies(file: Option<&Path>) -> Result<PolicySet, CliError> {
    match file {
        None => Ok(PolicySet::builtin()),
        Some(f) => PolicySet::load_file(f).map(|l| l.value).map_err(|e| e.to_string().into()),
    }
}

/// Every pipeline file named or inside a named directory, sorted, with unreadable paths as
/// diagnostics.
fn files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            out.extend(spec::load_dir(p).into_iter().map(|(f, _)| f));
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// Validates one file: loads, plans against the registry and policies; all diagnostics.
///
/// Every problem is reported in one pass: a file with structural errors is not planned (its
/// data flow would report consequences of those errors, not new ones), but each of its stages
/// is still resolved against the registry (unknown stage types, and every bad field of every
/// stage's config), and the file's cross-stage rules and policy names are still checked.
pub(crate) fn validate_file(registry: &StageRegistry, file: &Path, options: &PlanOptions) -> Vec<Diagnostic> {
    let (spec, mut diags) = spec::load_file_partial(file);
    let Some(spec) = spec else { return diags };
    if diags.iter().any(Diagnostic::is_error) {
        let factory = StageFactory::new(registry);
        for stage in &spec.stages {
            if let Err(e) = factory.resolve(&spec, stage) {
                diags.extend(e);
            }
        }
        let is_gate = |t: &str| registry.get_metadata(t).is_some_and(stage_core::StageMetadata::parks);
        diags.extend(spec::check(&spec, &is_gate).diagnostics);
        if let Some(policies) = &options.policies {
            diags.extend(policies.check_names(&spec));
        }
    } else {
        match Plan::new(&spec, registry, options) {
            Ok(plan) => diags.extend(plan.warnings),
            Err(e) => diags.extend(e.errors.into_iter().chain(e.warnings)),
        }
    }
    diags.sort_by_key(|d| (d.line, d.column));
    diags.dedup();
    diags
}

/// `stagectl validate`: every file's diagnostics as text (one located line each, then a
/// count), or with `--json` as one object:
/// `{"ok", "files_checked", "files_with_errors", "errors", "diagnostics": [{"file",
/// "severity", "line", "column", "message"}], "files": [{"file", "ok", "diagnostics"}]}`.
pub(crate) fn validate(
    registry: &StageRegistry,
    paths: &[PathBuf],
    policy_file: Option<&Path>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let options = PlanOptions { policies: Some(policies(policy_file)?), ..PlanOptions::default() };
    let mut failed = 0;
    let mut report = Vec::new();
    let files = files(paths);
    if files.is_empty() {
        return Err("no pipeline files found (looked for .yaml and .yml)".into());
    }
    let mut flat = Vec::new();
    for file in &files {
        let diags = validate_file(registry, file, &options);
        let errors = diags.iter().filter(|d| d.is_error()).count();
        if errors > 0 {
            failed += 1;
        }
        if json {
            let name = file.display().to_string();
            let diags: Vec<_> = diags
                .iter()
                .map(|d| {
                    json!({
                        "file": name, "severity": d.severity.to_string(), "line": d.line,
                        "column": d.column, "message": d.message,
                    })
                })
                .collect();
            flat.extend(diags.iter().cloned());
            report.push(json!({ "file": name, "ok": errors == 0, "diagnostics": diags }));
        } else {
            for d in diags.iter().filter(|d| d.severity != Severity::Info) {
                outln!("{d}")?;
            }
            if errors == 0 {
                outln!("{}: ok", file.display())?;
            }
        }
    }
    if json {
        // One object: the verdict, the counts, every diagnostic (each naming its file), and
        // the same per file.
        let errors = flat.iter().filter(|d| d["severity"] == "error").count();
        let all = json!({
            "ok": failed == 0,
            "files_checked": files.len(),
            "files_with_errors": failed,
            "errors": errors,
            "diagnostics": flat,
            "files": report,
        });
        outln!("{}", serde_json::to_string_pretty(&all)?)?;
    } else {
        outln!("{} file(s), {} valid, {failed} with errors", files.len(), files.len() - failed)?;
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
