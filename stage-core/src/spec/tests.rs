//! Tests over whole pipeline files: the real files of the compatibility folder, one test per
//! contract rule (exact messages), and malformed variants of the real files.

use super::*;
use std::path::PathBuf;

/// The compatibility folder (`pipelines/`, `resilience.yaml`), next to the crate.
pub(crate) fn compat_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/compat"))
}

/// Whether the compatibility folder is there; when it is not, prints a notice (and fails
/// under `CI`).
pub(crate) fn have_compat() -> bool {
    if compat_dir().join("pipelines").is_dir() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the compatibility folder {} is missing (CI is set)",
        compat_dir().display()
    );
    println!(
        "notice: {} is absent; skipping the compatibility-file test",
        compat_dir().display()
    );
    false
}

fn is_gate(t: &str) -> bool {
    t == "gate"
}

fn strings(d: &[Diagnostic]) -> Vec<String> {
    d.iter().map(ToString::to_string).collect()
}

/// Loads `text` as `p.yaml`, expecting success; returns the spec and its warnings.
fn ok(text: &str) -> (PipelineSpec, Vec<String>) {
    match load_str("p.yaml", text) {
        Ok(l) => (l.value, strings(&l.warnings)),
        Err(e) => panic!("unexpected load errors:\n{e}"),
    }
}

/// Loads `text` as `p.yaml`, expecting errors; returns them.
fn errors(text: &str) -> Vec<String> {
    match load_str("p.yaml", text) {
        Ok(_) => panic!("loaded without error:\n{text}"),
        Err(e) => strings(&e.errors),
    }
}

/// Loads (must succeed) then checks with `type == "gate"` as the gate type.
fn checked(text: &str) -> (PipelineSpec, Checked) {
    let (spec, _) = ok(text);
    let c = check(&spec, &is_gate);
    (spec, c)
}

fn check_msgs(text: &str) -> Vec<String> {
    strings(&checked(text).1.diagnostics)
}

/// A real file's text with `from` replaced by `to` (exactly one occurrence).
fn variant(file: &str, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(compat_dir().join("pipelines").join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(text.matches(from).count(), 1, "{from:?} in {file}");
    text.replacen(from, to, 1)
}

fn variant_errors(file: &str, from: &str, to: &str) -> Vec<String> {
    match load_str(file, &variant(file, from, to)) {
        Ok(_) => panic!("{file} variant loaded without error"),
        Err(e) => strings(&e.errors),
    }
}

const HEAD: &str = "name: p\nversion: \"2025-01-01\"\n";

// ---------------------------------------------------------------------------------------------
// The real files

#[test]
fn the_real_files_load_and_check_cleanly() {
    if !have_compat() {
        return;
    }
    let all = load_dir(compat_dir().join("pipelines"));
    assert_eq!(all.len(), 10);
    let mut names: Vec<String> = Vec::new();
    for (path, result) in all {
        let loaded = result.unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
        for w in &loaded.warnings {
            assert_eq!(w.severity, Severity::Info, "{w}");
            assert!(w.message.contains("linked, not loaded by name"), "{w}");
        }
        let c = check(&loaded.value, &is_gate);
        assert!(c.diagnostics.is_empty(), "{:?}", strings(&c.diagnostics));
        let spec = &loaded.value;
        let gate_stages: Vec<usize> = (0..spec.stages.len())
            .filter(|&i| spec.stages[i].stage_type == "gate")
            .collect();
        for &i in &gate_stages {
            let g = c.gate_of_stage[i].as_ref().expect("effective gate");
            assert_eq!(g.name, "pdf_ir_ready");
            assert_eq!(c.phases[i], "gate");
        }
        assert_eq!(c.gate_of_stage.iter().flatten().count(), gate_stages.len());
        let mut seen = vec![false; spec.stages.len()];
        for &i in &c.order {
            for d in spec.stages[i].dependency_names() {
                assert!(seen[spec.stage_index(d).unwrap()], "order respects depends_on");
            }
            seen[i] = true;
        }
        names.push(format!(
            "{} {} {}",
            path.file_name().unwrap().to_string_lossy(),
            spec.name,
            spec.version
        ));
    }
    assert_eq!(
        names,
        [
            "auto-8c1d4b2a.yaml auto 2025-01-01",
            "auto-adc8a0cb.yaml auto 2025-01-01",
            "clinical-trials-87ce90f7.yaml clinical-trials 2025-01-01",
            "pdf-two-phase-3cdc9de0.yaml pdf-two-phase 2025-01-01",
            "pdf-two-phase-4b060878.yaml pdf-two-phase 2025-01-01",
            "pdf-two-phase-58ddd922.yaml pdf-two-phase 2025-03-15",
            "pdf-two-phase-5f68a0ac.yaml pdf-two-phase 2025-01-01",
            "pdf-two-phase-629e520d.yaml pdf-two-phase 2025-01-01",
            "pmc-fulltext-500cef16.yaml pmc-fulltext 2025-01-01",
            "pmc-fulltext-fc706b6f.yaml pmc-fulltext 2025-01-01",
        ]
    );
}

#[test]
fn the_real_gates_resolve_to_their_effective_definitions() {
    if !have_compat() {
        return;
    }
    let dir = compat_dir().join("pipelines");
    let eff = |file: &str| {
        let spec = load_file(dir.join(file)).unwrap().value;
        let c = check(&spec, &is_gate);
        c.gate_of_stage[2].clone().unwrap()
    };
    // Config `{key, expected}` and the definition's shorthand agree; timing from config.
    let g = eff("pdf-two-phase-3cdc9de0.yaml");
    assert_eq!(
        g.condition,
        Condition::Clause(Clause {
            field: FieldRef::Ledger("pdf_ir_ready".into()),
            operator: Operator::Equals,
            value: Some(serde_json::json!(true)),
            previous_value: None,
        })
    );
    assert_eq!((g.timeout_seconds, g.poll_interval_seconds), (Some(900.0), 10.0));
    assert_eq!(g.resume_stage.as_deref(), Some("chunk"));
    // `stage:` binding, `match: all`, condition-level timing, retry.
    let g = eff("pdf-two-phase-4b060878.yaml");
    assert!(matches!(&g.condition, Condition::All(c) if c.len() == 2));
    assert_eq!((g.timeout_seconds, g.poll_interval_seconds), (Some(900.0), 10.0));
    let retry = g.retry.unwrap();
    assert_eq!((retry.max_attempts, retry.delay_seconds), (5, Some(5.0)));
    // Config shorthand `field/equals` and `config.gate`.
    let g = eff("pdf-two-phase-58ddd922.yaml");
    assert_eq!((g.timeout_seconds, g.poll_interval_seconds), (Some(1800.0), 15.0));
    // `conditions[]` with `all`/`any`, `metadata.x`, `resume_phase`, `backoff_seconds`.
    let g = eff("pdf-two-phase-629e520d.yaml");
    assert_eq!(g.resume_phase.as_deref(), Some("post-gate"));
    assert_eq!(g.retry.unwrap().delay_seconds, Some(15.0));
    let fields: Vec<String> = g.condition.fields().iter().map(|f| f.to_string()).collect();
    assert_eq!(fields, ["pdf_downloaded", "pdf_ir_ready", "metadata.pdf_ir_ready"]);
    // Bound as the only gate stage and the only definition.
    let g = eff("pmc-fulltext-fc706b6f.yaml");
    assert_eq!(g.resume_stage.as_deref(), Some("mineru_ir"));
    assert_eq!(g.definition, Some(0));
}

// ---------------------------------------------------------------------------------------------
// Malformed variants of the real files

#[test]
fn real_file_with_a_key_typo() {
    if !have_compat() {
        return;
    }
    assert_eq!(
        variant_errors(
            "auto-8c1d4b2a.yaml",
            "  - name: chunk\n    type: chunk\n    policy: default\n    depends_on:",
            "  - name: chunk\n    type: chunk\n    policy: default\n    depend_on:",
        ),
        ["auto-8c1d4b2a.yaml:28:5: error: unknown key `depend_on` in stage `chunk`; did you mean `depends_on`?"]
    );
}

#[test]
fn real_file_with_a_cycle() {
    if !have_compat() {
        return;
    }
    assert_eq!(
        variant_errors(
            "auto-8c1d4b2a.yaml",
            "  - name: parse\n    type: parse\n    policy: default\n    depends_on:\n      - ingest",
            "  - name: parse\n    type: parse\n    policy: default\n    depends_on:\n      - chunk",
        ),
        ["auto-8c1d4b2a.yaml:19:9: error: dependency cycle: `parse` → `chunk` → `ir_validation` → `parse` (each stage depends on the next); remove one of these dependencies"]
    );
}

#[test]
fn real_file_with_an_unknown_dependency() {
    if !have_compat() {
        return;
    }
    assert_eq!(
        variant_errors(
            "clinical-trials-87ce90f7.yaml",
            "      - extract\n",
            "      - extrakt\n",
        ),
        ["clinical-trials-87ce90f7.yaml:48:9: error: stage `kg` depends on unknown stage `extrakt`; did you mean `extract`?"]
    );
}

#[test]
fn real_file_with_a_gate_resuming_outside_its_descendants() {
    if !have_compat() {
        return;
    }
    let file = "pdf-two-phase-5f68a0ac.yaml";
    let text = variant(file, "    resume_stage: chunk\n", "    resume_stage: ingest\n");
    let spec = load_str(file, &text).unwrap().value;
    let c = check(&spec, &is_gate);
    assert_eq!(
        strings(&c.diagnostics),
        ["pdf-two-phase-5f68a0ac.yaml:52:19: error: `resume_stage` `ingest` of gate `pdf_ir_ready` does not descend from its gate stage `gate_pdf_ir_ready` (through `depends_on`); stages that do: `chunk`, `embed`, `index`, `extract`, `kg`"]
    );
}

#[test]
fn real_file_with_a_repeated_key_warns_and_keeps_the_last_value() {
    if !have_compat() {
        return;
    }
    let file = "pmc-fulltext-fc706b6f.yaml";
    let text = variant(
        file,
        "  - name: extract\n    type: extract\n    policy: gpu-bound\n",
        "  - name: extract\n    type: extract\n    policy: gpu-bound\n    policy: default\n",
    );
    let loaded = load_str(file, &text).unwrap();
    assert_eq!(
        strings(&loaded.warnings),
        ["pmc-fulltext-fc706b6f.yaml:45:5: warning: key `policy` repeated in one mapping (lines 44 and 45); the last value (line 45) wins"]
    );
    assert_eq!(
        loaded.value.stage("extract").unwrap().policy.as_deref(),
        Some("default")
    );
}

#[test]
fn real_file_with_a_bad_version() {
    if !have_compat() {
        return;
    }
    assert_eq!(
        variant_errors(
            "pdf-two-phase-58ddd922.yaml",
            "version: \"2025-03-15\"",
            "version: 2025-3-15",
        ),
        ["pdf-two-phase-58ddd922.yaml:2:10: error: invalid `version` `2025-3-15`: expected a date `YYYY-MM-DD` with an optional `-suffix` of letters and digits (e.g. `2025-01-01` or `2025-01-01-rc1`)"]
    );
}

#[test]
fn real_file_with_an_unknown_operator() {
    if !have_compat() {
        return;
    }
    assert_eq!(
        variant_errors(
            "pdf-two-phase-4b060878.yaml",
            "        - field: pdf_downloaded\n          operator: equals",
            "        - field: pdf_downloaded\n          operator: equal",
        ),
        ["pdf-two-phase-4b060878.yaml:72:21: error: unknown operator `equal` in a condition clause of gate `pdf_ir_ready`; did you mean `equals`?"]
    );
}
