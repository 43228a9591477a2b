//! Tests over whole pipeline files: the real files of the compatibility folder, one test per
//! contract rule (exact messages), and malformed variants of the real files.

use super::*;
use std::path::PathBuf;

/// The compatibility folder (`pipelines/`, `resilience.yaml`), copied into the repository at
/// `tests/compat`.
pub(crate) fn compat_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/compat"))
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
        let gate_stages: Vec<usize> =
            (0..spec.stages.len()).filter(|&i| spec.stages[i].stage_type == "gate").collect();
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
        names.push(format!("{} {} {}", path.file_name().unwrap().to_string_lossy(), spec.name, spec.version));
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
    assert_eq!(loaded.value.stage("extract").unwrap().policy.as_deref(), Some("default"));
}

#[test]
fn real_file_with_a_bad_version() {
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
    assert_eq!(
        variant_errors(
            "pdf-two-phase-4b060878.yaml",
            "        - field: pdf_downloaded\n          operator: equals",
            "        - field: pdf_downloaded\n          operator: equal",
        ),
        ["pdf-two-phase-4b060878.yaml:72:21: error: unknown operator `equal` in a condition clause of gate `pdf_ir_ready`; did you mean `equals`?"]
    );
}

// ---------------------------------------------------------------------------------------------
// §1.1 required keys, unknown keys, all problems reported

#[test]
fn required_keys_are_reported_together() {
    assert_eq!(
        errors("metadata: {owner: x}\n"),
        [
            "p.yaml:1:1: error: missing required key `name` at top level",
            "p.yaml:1:1: error: missing required key `version` at top level",
            "p.yaml:1:1: error: missing required key `stages` at top level",
        ]
    );
    assert_eq!(
        errors(&format!("{HEAD}stages:\n  - type: ingest\n  - name: a\n")),
        [
            "p.yaml:4:5: error: missing required key `name` in stage #1",
            "p.yaml:5:5: error: missing required key `type` in stage `a`",
        ]
    );
    assert_eq!(
        errors("- a\n- b\n"),
        ["p.yaml:1:1: error: a pipeline file must be a mapping with `name`, `version` and `stages`, found a list"]
    );
    assert_eq!(
        errors(""),
        ["p.yaml:1:1: error: a pipeline file must be a mapping with `name`, `version` and `stages`, found null"]
    );
}

#[test]
fn unknown_keys_at_every_level_name_the_nearest_valid_key() {
    let text = format!(
        "{HEAD}owner: x\nmetadata: {{owners: x}}\nplugins: {{stage: []}}\nstages:\n  - name: a\n    type: ingest\n    polcy: default\n    metadata_overrides: {{state_keys: x}}\n  - name: g\n    type: gate\n    depends_on: [a]\ngates:\n  - name: g1\n    stage: g\n    resume_stag: x\n    retry: {{max_attempts: 2, delay: 1}}\n    condition: {{field: f, equals: 1, timeout: 3}}\n"
    );
    assert_eq!(
        errors(&text),
        [
            "p.yaml:3:1: error: unknown key `owner` at top level; valid keys: `name`, `version`, `applicable_sources`, `metadata`, `phase_order`, `plugins`, `stages`, `gates`",
            "p.yaml:4:12: error: unknown key `owners` in `metadata`; did you mean `owner`?",
            "p.yaml:5:11: error: unknown key `stage` in `plugins`; did you mean `stages`?",
            "p.yaml:9:5: error: unknown key `polcy` in stage `a`; did you mean `policy`?",
            "p.yaml:10:26: error: unknown key `state_keys` in `metadata_overrides` of stage `a`; did you mean `state_key`?",
            "p.yaml:17:5: error: unknown key `resume_stag` in gate `g1`; did you mean `resume_stage`?",
            "p.yaml:18:30: error: unknown key `delay` in `retry` of gate `g1`; did you mean `delay_seconds`?",
            "p.yaml:19:38: error: unknown key `timeout` in a condition clause of gate `g1`; did you mean `timeout_seconds`?",
        ]
    );
    // Without a near key, the valid keys are listed.
    assert_eq!(
        errors(&format!("{HEAD}stages:\n  - name: a\n    type: ingest\n    zzz: 1\n")),
        ["p.yaml:6:5: error: unknown key `zzz` in stage `a`; valid keys: `name`, `type`, `policy`, `depends_on`, `config`, `phase`, `gate`, `metadata_overrides`"]
    );
}

#[test]
fn type_errors_say_what_is_expected() {
    let text = format!(
        "{HEAD}applicable_sources: {{a: 1}}\nstages:\n  - name: a\n    type: ingest\n    depends_on: ingest\n    config: [1]\n  - name: b\n    type: [x]\n    depends_on: [a, {{x: 1}}]\n    policy: true\ngates:\n  - name: g\n    skip_download_on_resume: \"yes\"\n    timeout_seconds: \"900\"\n"
    );
    assert_eq!(
        errors(&text),
        [
            "p.yaml:3:21: error: `applicable_sources` must be a list of source names, found a mapping",
            "p.yaml:7:17: error: `depends_on` of stage `a` must be a list of stage names, found a string `ingest`",
            "p.yaml:8:13: error: `config` of stage `a` must be a mapping, found a list",
            "p.yaml:10:11: error: `type` of stage `b` must be a string, found a list",
            "p.yaml:11:21: error: `depends_on` of stage `b` must be a list of stage names; item 2 is a mapping",
            "p.yaml:12:13: error: `policy` of stage `b` must be a string, found a boolean `true`",
            "p.yaml:15:30: error: `skip_download_on_resume` of gate `g` must be `true` or `false`, found a string `yes`",
            "p.yaml:16:22: error: `timeout_seconds` of gate `g` must be a number, found a string `900`",
        ]
    );
}

// §1.2 names and versions

#[test]
fn names_types_and_gate_names_follow_the_pattern() {
    let text = "name: my pipeline\nversion: 2025-01-01\nstages:\n  - name: a.b\n    type: in/gest\n    gate: g!\ngates:\n  - name: \"g 1\"\n    resume_stage: a.b\n";
    assert_eq!(
        errors(text),
        [
            "p.yaml:1:7: error: pipeline name `my pipeline` is invalid: use only letters, digits, `_` and `-`",
            "p.yaml:4:11: error: stage name `a.b` is invalid: use only letters, digits, `_` and `-`",
            "p.yaml:5:11: error: stage type `in/gest` is invalid: use only letters, digits, `_` and `-`",
            "p.yaml:6:11: error: gate name `g!` is invalid: use only letters, digits, `_` and `-`",
            "p.yaml:8:11: error: gate name `g 1` is invalid: use only letters, digits, `_` and `-`",
            "p.yaml:9:19: error: `resume_stage` `a.b` is invalid: use only letters, digits, `_` and `-`",
        ]
    );
}

#[test]
fn version_is_a_date_quoted_or_not() {
    for v in ["2025-01-01", "\"2025-01-01\"", "'2025-01-01-rc1'", "2025-01-01-b2"] {
        let (spec, _) = ok(&format!("name: p\nversion: {v}\nstages: [{{name: a, type: t}}]\n"));
        assert!(spec.version.starts_with("2025-01-01"), "{v}");
    }
    assert_eq!(
        errors("name: p\nversion: 20250101\nstages: [{name: a, type: t}]\n"),
        ["p.yaml:2:10: error: invalid `version` `20250101`: expected a date `YYYY-MM-DD` with an optional `-suffix` of letters and digits (e.g. `2025-01-01` or `2025-01-01-rc1`)"]
    );
    assert_eq!(
        errors("name: p\nversion: true\nstages: [{name: a, type: t}]\n"),
        ["p.yaml:2:10: error: invalid `version` a boolean `true`: expected a date `YYYY-MM-DD` with an optional `-suffix` of letters and digits (e.g. `2025-01-01` or `2025-01-01-rc1`)"]
    );
}

#[test]
fn condition_fields_follow_their_pattern() {
    let text = format!("{HEAD}stages: [{{name: a, type: t}}]\ngates:\n  - name: g\n    condition: {{field: \"pdf ir\", equals: true}}\n");
    assert_eq!(
        errors(&text),
        ["p.yaml:6:24: error: field `pdf ir` in a condition clause of gate `g` is invalid: use only letters, digits, `_`, `-` and `.`"]
    );
}

// §1.3 distinct located errors

#[test]
fn duplicate_stage_names_point_at_the_second() {
    let text = format!("{HEAD}stages:\n  - name: a\n    type: t\n  - name: a\n    type: u\n");
    assert_eq!(
        errors(&text),
        ["p.yaml:6:11: error: duplicate stage name `a`: the stage at line 4 already has it; stage names must be unique"]
    );
}

#[test]
fn a_repeated_dependency_is_an_error() {
    let text = format!(
        "{HEAD}stages:\n  - name: a\n    type: t\n  - name: b\n    type: t\n    depends_on:\n      - a\n      - a\n"
    );
    assert_eq!(
        errors(&text),
        ["p.yaml:10:9: error: `a` is listed twice in `depends_on` of stage `b` (first at line 9)"]
    );
}

#[test]
fn unknown_and_self_dependencies() {
    let text = format!(
        "{HEAD}stages:\n  - name: chunk\n    type: t\n  - name: embed\n    type: t\n    depends_on: [chunck, embed, zzzzzz]\n"
    );
    assert_eq!(
        errors(&text),
        [
            "p.yaml:8:18: error: stage `embed` depends on unknown stage `chunck`; did you mean `chunk`?",
            "p.yaml:8:26: error: stage `embed` depends on itself; remove `embed` from its `depends_on`",
            "p.yaml:8:33: error: stage `embed` depends on unknown stage `zzzzzz`; stages: `chunk`",
        ]
    );
}

#[test]
fn cycles_are_named_in_dependency_order() {
    let text = format!(
        "{HEAD}stages:\n  - name: a\n    type: t\n    depends_on: [c]\n  - name: b\n    type: t\n    depends_on: [a]\n  - name: c\n    type: t\n    depends_on: [b]\n  - name: d\n    type: t\n    depends_on: [e]\n  - name: e\n    type: t\n    depends_on: [d]\n"
    );
    assert_eq!(
        errors(&text),
        [
            "p.yaml:6:18: error: dependency cycle: `a` → `c` → `b` → `a` (each stage depends on the next); remove one of these dependencies",
            "p.yaml:15:18: error: dependency cycle: `d` → `e` → `d` (each stage depends on the next); remove one of these dependencies",
        ]
    );
}

#[test]
fn gate_references_are_checked_when_loading() {
    let text = format!(
        "{HEAD}stages:\n  - name: chunk\n    type: t\ngates:\n  - name: g\n    stage: gate_g\n    resume_stage: chunkk\n    resume_phase: post_gate\n  - name: g\n    stage: chunk\n"
    );
    assert_eq!(
        errors(&text),
        [
            "p.yaml:8:12: error: `stage` of gate `g` names unknown stage `gate_g`; stages: `chunk`",
            "p.yaml:9:19: error: `resume_stage` of gate `g` names unknown stage `chunkk`; did you mean `chunk`?",
            "p.yaml:10:19: error: `resume_phase` `post_gate` of gate `g` is not in `phase_order`; did you mean `post-gate`?",
            "p.yaml:11:11: error: duplicate gate name `g`: the gate at line 7 already has it; gate names must be unique",
        ]
    );
}

// §1.4 repeated keys

#[test]
fn a_repeated_key_warns_and_the_last_value_wins() {
    let (spec, warnings) = ok(&format!("{HEAD}stages:\n  - name: a\n    type: t\n    type: u\n"));
    assert_eq!(spec.stages[0].stage_type, "u");
    assert_eq!(
        warnings,
        ["p.yaml:6:5: warning: key `type` repeated in one mapping (lines 5 and 6); the last value (line 6) wins"]
    );
}

#[test]
fn malformed_yaml_is_one_located_error() {
    assert_eq!(
        errors("name: p\nstages:\n  - name: a\n   type: t\n"),
        ["p.yaml:4:4: error: invalid YAML: while parsing a block collection, did not find expected '-' indicator"]
    );
}

// §1.6 plugins

#[test]
fn plugin_callables_are_accepted_and_reported_as_info() {
    let (spec, notes) = ok(&format!(
        "{HEAD}plugins:\n  stages:\n    - callable: \"pkg.mod:register\"\nstages: [{{name: a, type: t}}]\n"
    ));
    assert_eq!(spec.plugins[0].callable, "pkg.mod:register");
    assert_eq!(
        notes,
        ["p.yaml:5:17: info: plugin callable `pkg.mod:register` is accepted but not called: stages are linked, not loaded by name"]
    );
    assert_eq!(
        errors(&format!("{HEAD}plugins:\n  stages:\n    - call: x\nstages: [{{name: a, type: t}}]\n")),
        [
            "p.yaml:5:7: error: unknown key `call` in `plugins.stages` item 1; did you mean `callable`?",
            "p.yaml:5:7: error: missing required key `callable` in `plugins.stages` item 1",
        ]
    );
}

// §1.7 metadata_overrides

#[test]
fn metadata_overrides_accept_a_key_or_a_list() {
    let (spec, _) = ok(&format!(
        "{HEAD}stages:\n  - name: a\n    type: t\n    metadata_overrides:\n      state_key: out\n      description: d\n      dependencies: [\"@ledger\", ingest]\n  - name: b\n    type: t\n    metadata_overrides: {{state_key: [x, y]}}\n"
    ));
    let o = spec.stages[0].metadata_overrides.as_ref().unwrap();
    assert_eq!(o.state_key.as_deref(), Some(&["out".to_string()][..]));
    assert_eq!(o.description.as_deref(), Some("d"));
    assert_eq!(o.dependencies.as_deref(), Some(&["@ledger".to_string(), "ingest".to_string()][..]));
    let o = spec.stages[1].metadata_overrides.as_ref().unwrap();
    assert_eq!(o.state_key.as_ref().unwrap().len(), 2);
    assert_eq!(
        errors(&format!(
            "{HEAD}stages:\n  - name: a\n    type: t\n    metadata_overrides:\n      state_key: {{a: 1}}\n      dependencies: [\"@\", ok]\n"
        )),
        [
            "p.yaml:7:18: error: `state_key` in `metadata_overrides` of stage `a` must be a state key or a list of state keys, found a mapping",
            "p.yaml:8:22: error: `@` in `dependencies` in `metadata_overrides` of stage `a` is invalid: name a stage type, or a resource as `@name` (e.g. `@ledger`)",
        ]
    );
}

// Timing ranges, retry, `in` lists

#[test]
fn gate_timing_is_range_checked_at_every_level() {
    let text = format!(
        "{HEAD}stages: [{{name: a, type: t}}]\ngates:\n  - name: g\n    timeout_seconds: 0\n    poll_interval_seconds: 0.1\n    condition:\n      field: f\n      equals: 1\n      timeout_seconds: 86401\n      poll_interval_seconds: 301\n"
    );
    assert_eq!(
        errors(&text),
        [
            "p.yaml:6:22: error: `timeout_seconds` of gate `g` must be between 1 and 86400, found 0",
            "p.yaml:7:28: error: `poll_interval_seconds` of gate `g` must be between 0.5 and 300, found 0.1",
            "p.yaml:11:24: error: `timeout_seconds` in the condition of gate `g` must be between 1 and 86400, found 86401",
            "p.yaml:12:30: error: `poll_interval_seconds` in the condition of gate `g` must be between 0.5 and 300, found 301",
        ]
    );
}

#[test]
fn retry_takes_delay_or_backoff_seconds() {
    let text = format!(
        "{HEAD}stages: [{{name: a, type: t}}]\ngates:\n  - name: g\n    retry: {{max_attempts: 0, delay_seconds: 1, backoff_seconds: 2}}\n"
    );
    assert_eq!(
        errors(&text),
        [
            "p.yaml:6:27: error: `max_attempts` in `retry` of gate `g` must be between 1 and 4294967295, found 0",
            "p.yaml:6:65: error: `retry` of gate `g` gives both `delay_seconds` and `backoff_seconds` (the same setting); give one of them",
        ]
    );
}

#[test]
fn in_and_not_in_need_lists_and_operators_must_be_known() {
    let text = format!(
        "{HEAD}stages: [{{name: a, type: t}}]\ngates:\n  - name: g\n    conditions:\n      - {{field: s, operator: in, value: done}}\n      - {{field: s, operator: not_in, value: [a, b]}}\n      - any:\n          - {{field: s, operator: greater, value: 1}}\n"
    );
    assert_eq!(
        errors(&text),
        [
            "p.yaml:7:41: error: operator `in` in a condition clause of gate `g` needs a list as its value, found a string `done`",
            "p.yaml:10:34: error: unknown operator `greater` in a condition clause of gate `g`; valid operators: `equals`, `not_equals`, `exists`, `not_exists`, `in`, `not_in`, `changed`",
        ]
    );
}

#[test]
fn every_problem_of_a_file_is_reported() {
    let text = "name: p\nversion: 1\nstages:\n  - name: a\n    type: t\n    depends_on: [zz]\n    polcy: x\n  - name: a\n    type: t\n";
    assert_eq!(errors(text).len(), 4);
}

// The tree is kept for configs.

#[test]
fn config_is_kept_as_a_located_tree() {
    let (spec, _) = ok(&format!(
        "{HEAD}stages:\n  - name: dl\n    type: download\n    config:\n      storage:\n        base_path: /tmp/x\n      url_extractors:\n        - {{source: payload, path: pdf_url}}\n  - name: b\n    type: t\n"
    ));
    let s = &spec.stages[0];
    assert_eq!(s.config_json()["storage"]["base_path"], "/tmp/x");
    assert_eq!(s.config_loc(&["url_extractors".into(), 0.into(), "path".into()]), Loc::new(10, 35));
    assert_eq!(s.config_loc(&["storage".into(), "nope".into()]), Loc::new(8, 9));
    assert_eq!(spec.stages[1].config_json(), serde_json::json!({}));
    assert_eq!(spec.stages[1].policy_name(), "default");
    assert_eq!(spec.phase_order, DEFAULT_PHASE_ORDER);
}

#[test]
fn applicable_sources_empty_means_any() {
    let (spec, _) = ok(&format!("{HEAD}stages: [{{name: a, type: t}}]\n"));
    assert!(spec.accepts_source("pmc"));
    let (spec, _) = ok(&format!("{HEAD}applicable_sources: [pmc]\nstages: [{{name: a, type: t}}]\n"));
    assert!(spec.accepts_source("pmc"));
    assert!(!spec.accepts_source("openalex"));
}

#[test]
fn load_file_and_load_dir() {
    let dir = std::env::temp_dir().join(format!("spec-load-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("b.yml"), format!("{HEAD}stages: [{{name: a, type: t}}]\n")).unwrap();
    std::fs::write(dir.join("a.yaml"), "name: p\n").unwrap();
    std::fs::write(dir.join("c.txt"), "ignored").unwrap();
    let all = load_dir(&dir);
    let names: Vec<String> = all
        .iter()
        .map(|(p, r)| format!("{} {}", p.file_name().unwrap().to_string_lossy(), r.is_ok()))
        .collect();
    assert_eq!(names, ["a.yaml false", "b.yml true"]);
    let missing = load_file(dir.join("nope.yaml")).unwrap_err().to_string();
    assert!(
        missing.starts_with(&format!(
            "{}: error: cannot read the pipeline file: ",
            dir.join("nope.yaml").display()
        )),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_error_displays_one_problem_per_line() {
    let e = load_str("p.yaml", "name: p\nversion: x\nstages: 3\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "p.yaml:2:10: error: invalid `version` `x`: expected a date `YYYY-MM-DD` with an optional `-suffix` of letters and digits (e.g. `2025-01-01` or `2025-01-01-rc1`)\np.yaml:3:9: error: `stages` must be a list of stage mappings, found a number `3`"
    );
}

// ---------------------------------------------------------------------------------------------
// check(): gate binding (§3)

/// ingest → download → <gate stage> → chunk → embed, plus `extra` stage/gate text.
fn two_phase(gate_stage: &str, gate_extra: &str, gates: &str) -> String {
    format!(
        "{HEAD}stages:\n  - name: ingest\n    type: ingest\n  - name: download\n    type: download\n    depends_on: [ingest]\n  - name: {gate_stage}\n    type: gate\n    depends_on: [download]\n{gate_extra}  - name: chunk\n    type: chunk\n    depends_on: [{gate_stage}]\n  - name: embed\n    type: embed\n    depends_on: [chunk]\n{gates}"
    )
}

const DEF: &str =
    "gates:\n  - name: ready\n    resume_stage: chunk\n    condition: {field: pdf_ir_ready, equals: true}\n";

#[test]
fn binding_first_match_wins() {
    // 1. `gates[].stage`, even over a stage named `gate_<name>`.
    let text = format!(
        "{HEAD}stages:\n  - name: hold\n    type: gate\n  - name: gate_ready\n    type: gate\n    config: {{field: x, equals: 1}}\ngates:\n  - name: ready\n    stage: hold\n    condition: {{field: y, equals: 1}}\n"
    );
    let (_, c) = checked(&text);
    assert!(c.diagnostics.is_empty(), "{:?}", strings(&c.diagnostics));
    assert_eq!(c.stage_of_gate, [Some(0)]);
    assert_eq!(c.gate_of_stage[1].as_ref().unwrap().name, "gate_ready");
    // 2. The stage's `gate` key.
    let (_, c) = checked(&two_phase("waiter", "    gate: ready\n", DEF));
    assert!(c.diagnostics.is_empty(), "{:?}", strings(&c.diagnostics));
    assert_eq!(c.stage_of_gate, [Some(2)]);
    // 3. The stage's `config.gate`.
    let (_, c) = checked(&two_phase("waiter", "    config: {gate: ready}\n", DEF));
    assert!(c.diagnostics.is_empty(), "{:?}", strings(&c.diagnostics));
    assert_eq!(c.stage_of_gate, [Some(2)]);
    // 4. A gate stage named `gate_<name>`.
    let (_, c) = checked(&two_phase("gate_ready", "", DEF));
    assert_eq!(c.stage_of_gate, [Some(2)]);
    // 5. The only gate stage and the only definition.
    let (_, c) = checked(&two_phase("waiter", "", DEF));
    assert!(c.diagnostics.is_empty(), "{:?}", strings(&c.diagnostics));
    assert_eq!(c.stage_of_gate, [Some(2)]);
    let g = c.gate_of_stage[2].as_ref().unwrap();
    assert_eq!((g.name.as_str(), g.definition), ("ready", Some(0)));
    assert_eq!(g.poll_interval_seconds, DEFAULT_POLL_SECONDS);
    assert_eq!(g.timeout_seconds, None);
}

#[test]
fn gate_types_come_from_the_caller() {
    let text = two_phase("waiter", "", DEF).replace("    type: gate\n", "    type: hold\n");
    let (spec, _) = ok(&text);
    let c = check(&spec, &|t| t == "hold");
    assert!(c.diagnostics.is_empty(), "{:?}", strings(&c.diagnostics));
    assert_eq!(c.phases, ["pre-gate", "pre-gate", "gate", "post-gate", "post-gate"]);
    // With no gate type, the definition has nowhere to go.
    let c = check(&spec, &|_| false);
    assert_eq!(
        strings(&c.diagnostics),
        ["p.yaml:19:11: error: gate `ready` is not bound to any gate stage: give it `stage: <gate stage>`, set `gate: ready` on its gate stage, or name that stage `gate_ready`; this pipeline has no gate stage"]
    );
}

#[test]
fn an_unbound_gate_definition_is_an_error() {
    let text = two_phase("w1", "", DEF).replace(
        "  - name: chunk\n",
        "  - name: w2\n    type: gate\n    depends_on: [download]\n    config: {field: a, equals: 1}\n  - name: chunk\n",
    );
    assert_eq!(
        check_msgs(&text),
        [
            "p.yaml:9:11: error: gate stage `w1` has no condition: no entry of `gates` is bound to it and its `config` gives none",
            "p.yaml:23:11: error: gate `ready` is not bound to any gate stage: give it `stage: <gate stage>`, set `gate: ready` on its gate stage, or name that stage `gate_ready`; gate stages: `w1`, `w2`",
        ]
    );
}

#[test]
fn a_gate_bound_to_a_stage_that_is_not_a_gate() {
    let by_stage_key = two_phase(
        "gate_ready",
        "",
        "gates:\n  - name: ready\n    stage: download\n    condition: {field: f, equals: 1}\n",
    );
    assert_eq!(
        check_msgs(&by_stage_key),
        [
            "p.yaml:9:11: error: gate stage `gate_ready` has no condition: no entry of `gates` is bound to it and its `config` gives none",
            "p.yaml:20:12: error: gate `ready` is bound by its `stage` key to stage `download`, whose type `download` is not a gate stage type (it cannot park a run); gate stages: `gate_ready`",
        ]
    );
    let by_gate_key = two_phase("w", "", DEF)
        .replace("    depends_on: [ingest]\n", "    depends_on: [ingest]\n    gate: ready\n");
    assert_eq!(
        check_msgs(&by_gate_key),
        [
            "p.yaml:9:11: error: gate `ready` is bound by the stage's `gate` key to stage `download`, whose type `download` is not a gate stage type (it cannot park a run); gate stages: `w`",
            "p.yaml:10:11: error: gate stage `w` has no condition: no entry of `gates` is bound to it and its `config` gives none",
        ]
    );
    // A `gate` key on a stage that is not a gate, while the gate is bound elsewhere.
    let text =
        two_phase("w", "", "gates:\n  - name: ready\n    stage: w\n    condition: {field: f, equals: 1}\n")
            .replace("    type: ingest\n", "    type: ingest\n    gate: ready\n");
    assert_eq!(
        check_msgs(&text),
        ["p.yaml:6:11: error: stage `ingest` sets `gate` `ready`, but its type `ingest` is not a gate stage type (it cannot park a run); gate stages: `w`"]
    );
    // A gate stage naming the gate wins over a stage that is not a gate naming it too.
    let text = two_phase("w", "    gate: ready\n", DEF)
        .replace("    type: ingest\n", "    type: ingest\n    gate: ready\n");
    let (_, c) = checked(&text);
    assert_eq!(c.stage_of_gate, [Some(2)]);
    assert_eq!(
        strings(&c.diagnostics),
        ["p.yaml:6:11: error: stage `ingest` sets `gate` `ready`, but its type `ingest` is not a gate stage type (it cannot park a run); gate stages: `w`"]
    );
    // A `gate` key naming no definition on a stage that is not a gate.
    let text = format!("{HEAD}stages:\n  - name: a\n    type: t\n    gate: nowhere\n");
    assert_eq!(
        check_msgs(&text),
        ["p.yaml:6:11: error: stage `a` sets `gate` `nowhere`, but its type `t` is not a gate stage type (it cannot park a run); this pipeline has no gate stage"]
    );
}

#[test]
fn one_gate_stage_runs_one_gate() {
    let text = two_phase(
        "w",
        "",
        "gates:\n  - name: a\n    stage: w\n    condition: {field: f, equals: 1}\n  - name: b\n    stage: w\n    condition: {field: f, equals: 2}\n",
    );
    assert_eq!(
        check_msgs(&text),
        ["p.yaml:23:12: error: gate `b` is bound to stage `w`, which already runs gate `a` (line 19); a gate stage runs one gate"]
    );
}

#[test]
fn stage_side_gate_names_must_exist_or_bring_a_condition() {
    let text = two_phase("w", "    gate: redy\n", DEF)
        .replace("  - name: ready\n", "  - name: ready\n    stage: chunk\n");
    let (spec, _) = ok(&text);
    let c = check(&spec, &is_gate);
    assert_eq!(
        strings(&c.diagnostics),
        [
            "p.yaml:12:11: error: `gate` `redy` of stage `w` names no gate defined in `gates`; did you mean `ready`?; define it there or give the stage a condition in `config`",
            "p.yaml:21:12: error: gate `ready` is bound by its `stage` key to stage `chunk`, whose type `chunk` is not a gate stage type (it cannot park a run); gate stages: `w`",
        ]
    );
    // A stage-only gate: named by the stage, condition in its config.
    let (_, c) = checked(&two_phase(
        "w",
        "    gate: solo\n    config: {field: f, equals: 1, resume_stage: embed}\n",
        "",
    ));
    assert!(c.diagnostics.is_empty(), "{:?}", strings(&c.diagnostics));
    let g = c.gate_of_stage[2].as_ref().unwrap();
    assert_eq!((g.name.as_str(), g.definition), ("solo", None));
    assert_eq!(g.resume_stage.as_deref(), Some("embed"));
}

// Resume points

#[test]
fn resume_stage_must_descend_from_the_gate_stage() {
    let text = two_phase("gate_ready", "", &DEF.replace("resume_stage: chunk", "resume_stage: download"));
    assert_eq!(
        check_msgs(&text),
        ["p.yaml:20:19: error: `resume_stage` `download` of gate `ready` does not descend from its gate stage `gate_ready` (through `depends_on`); stages that do: `chunk`, `embed`"]
    );
}

#[test]
fn config_resume_stage_must_equal_the_definitions() {
    let text = two_phase("gate_ready", "    config: {resume_stage: embed}\n", DEF);
    assert_eq!(
        check_msgs(&text),
        ["p.yaml:12:28: error: `resume_stage` `embed` in `config` of gate stage `gate_ready` differs from `resume_stage` `chunk` of gate `ready` (line 20); they must be equal"]
    );
}

#[test]
fn resume_phase_must_come_after_the_gates_phase() {
    let text = two_phase(
        "gate_ready",
        "",
        &DEF.replace("    resume_stage", "    resume_phase: gate\n    resume_stage"),
    );
    assert_eq!(
        check_msgs(&text),
        ["p.yaml:20:19: error: `resume_phase` `gate` of gate `ready` must come after `gate`, the phase of its stage `gate_ready`, in `phase_order`; later phases: `post-gate`"]
    );
}

// Phases (§1.8)

#[test]
fn explicit_phases_must_agree() {
    let text = two_phase("gate_ready", "    phase: pre-gate\n", DEF)
        .replace("    depends_on: [chunk]\n", "    depends_on: [chunk]\n    phase: pre-gate\n")
        .replace("    type: ingest\n", "    type: ingest\n    phase: post-gate\n");
    assert_eq!(
        check_msgs(&text),
        [
            "p.yaml:6:12: error: stage `ingest` has `phase: post-gate`, but it descends from no gate stage, so its phase is `pre-gate`",
            "p.yaml:13:12: error: stage `gate_ready` has `phase: pre-gate`, but it is a gate stage, so its phase is `gate`",
            "p.yaml:20:12: error: stage `embed` has `phase: pre-gate`, but it descends from gate stage `gate_ready`, so its phase is `post-gate`",
        ]
    );
}

#[test]
fn custom_phase_labels_and_phase_order() {
    let text = format!(
        "{HEAD}phase_order: [fetch, pre-gate, publish]\nstages:\n  - name: a\n    type: t\n    phase: publish\n  - name: b\n    type: t\n    phase: fetch\n    depends_on: [a]\n  - name: c\n    type: t\n    phase: fetsh\n"
    );
    assert_eq!(
        errors(&text),
        ["p.yaml:14:12: error: phase `fetsh` of stage `c` is not in `phase_order`; did you mean `fetch`?"]
    );
    let (spec, c) = checked(&text.replace("fetsh", "pre-gate"));
    assert_eq!(spec.phase_order, ["fetch", "pre-gate", "publish"]);
    assert_eq!(c.phases, ["publish", "fetch", "pre-gate"]);
    assert_eq!(
        strings(&c.diagnostics),
        ["p.yaml:11:18: error: stage `b` (phase `fetch`) depends on `a`, whose phase `publish` comes later in `phase_order`; a stage may depend only on stages of its own or an earlier phase"]
    );
    assert_eq!(
        errors(&format!("{HEAD}phase_order: [a, b, a]\nstages: [{{name: s, type: t}}]\n")),
        ["p.yaml:3:21: error: phase `a` is listed twice in `phase_order` (first at line 3)"]
    );
}

// Effective gate (§3: stage config, then condition, then gate)

#[test]
fn stage_config_wins_with_warnings_where_it_differs() {
    let text = two_phase(
        "gate_ready",
        "    config:\n      conditions:\n        - {key: ledger.pdf_ir_ready, expected: false}\n      timeout_seconds: 1800\n      poll_interval_seconds: 10\n",
        "gates:\n  - name: ready\n    resume_stage: chunk\n    timeout_seconds: 60\n    poll_interval_seconds: 10\n    condition:\n      field: pdf_ir_ready\n      equals: true\n      timeout_seconds: 900\n",
    );
    let (_, c) = checked(&text);
    assert_eq!(
        strings(&c.diagnostics),
        [
            "p.yaml:14:9: warning: the condition in `config` of gate stage `gate_ready` differs from the condition of gate `ready` (line 29); the stage config's condition is used",
            "p.yaml:26:22: warning: `timeout_seconds` 60 of gate `ready` differs from 1800 in `config` of gate stage `gate_ready` (line 15), which wins: the most specific applies (stage config, then condition, then gate)",
            "p.yaml:31:24: warning: `timeout_seconds` 900 of the condition of gate `ready` differs from 1800 in `config` of gate stage `gate_ready` (line 15), which wins: the most specific applies (stage config, then condition, then gate)",
        ]
    );
    let g = c.gate_of_stage[2].as_ref().unwrap();
    assert_eq!(g.timeout_seconds, Some(1800.0));
    assert_eq!(g.poll_interval_seconds, 10.0);
    assert_eq!(
        g.condition,
        Condition::Clause(Clause {
            field: FieldRef::Ledger("pdf_ir_ready".into()),
            operator: Operator::Equals,
            value: Some(serde_json::json!(false)),
            previous_value: None,
        })
    );
}

#[test]
fn gate_stage_config_conditions_are_checked() {
    let text = two_phase(
        "gate_ready",
        "    config:\n      conditions:\n        - {key: a, expectd: 1}\n      timeout_seconds: 0\n",
        DEF,
    );
    assert_eq!(
        check_msgs(&text),
        [
            "p.yaml:14:11: error: a condition clause in `config` of gate stage `gate_ready` needs `equals` or an `operator` (one of `equals`, `not_equals`, `exists`, `not_exists`, `in`, `not_in`, `changed`)",
            "p.yaml:14:20: error: unknown key `expectd` in a condition clause in `config` of gate stage `gate_ready`; did you mean `expected`?",
            "p.yaml:15:24: error: `timeout_seconds` in `config` of gate stage `gate_ready` must be between 1 and 86400, found 0",
        ]
    );
}

#[test]
fn a_gate_needs_a_condition_somewhere() {
    let text = two_phase("gate_ready", "", "gates:\n  - name: ready\n    resume_stage: chunk\n");
    assert_eq!(
        check_msgs(&text),
        ["p.yaml:19:11: error: gate `ready` has no condition: give it `condition` or `conditions`, or give its stage `gate_ready` a condition in `config`"]
    );
}

// Execution order (§1.5)

#[test]
fn order_is_topological_with_declaration_order_ties() {
    let text = format!(
        "{HEAD}stages:\n  - name: kg\n    type: t\n    depends_on: [extract, index]\n  - name: index\n    type: t\n    depends_on: [ingest]\n  - name: extract\n    type: t\n    depends_on: [ingest]\n  - name: ingest\n    type: t\n  - name: audit\n    type: t\n"
    );
    let (_, c) = checked(&text);
    // ingest (3) and audit (4) are ready first: ingest was declared first.
    assert_eq!(c.order, [3, 1, 2, 0, 4]);
    assert!(c.diagnostics.is_empty());
}

// Hostile numbers: every gate number is range-checked where it is read, and a wait must be
// bounded.

#[test]
fn a_gate_whose_retries_wait_without_bound_is_an_error_at_retry() {
    let gates = |retry: &str, extra: &str| {
        format!(
            "gates:\n  - name: ready\n    resume_stage: chunk\n    condition: {{field: pdf_ir_ready, equals: true}}\n    retry: {retry}\n{extra}"
        )
    };
    // The adversarial input: 4,294,967,295 evaluations, no delay, no timeout (spun a core).
    let text = two_phase("waiter", "", &gates("{max_attempts: 4294967295, delay_seconds: 0}", ""));
    assert_eq!(
        check_msgs(&text),
        ["p.yaml:22:12: error: gate `ready` has no `timeout_seconds` and its `retry` (4294967295 evaluations, 0.5 s apart) may wait 2147483647 s, more than the longest gate wait (86400 s, one day); give the gate a `timeout_seconds` (1–86400) or at most 172801 `max_attempts` at this delay"]
    );
    // The poll interval is the pause when `retry` gives none.
    let text = two_phase("waiter", "", &gates("{max_attempts: 1000}", "    poll_interval_seconds: 300\n"));
    assert_eq!(
        check_msgs(&text),
        ["p.yaml:22:12: error: gate `ready` has no `timeout_seconds` and its `retry` (1000 evaluations, 300 s apart) may wait 299700 s, more than the longest gate wait (86400 s, one day); give the gate a `timeout_seconds` (1–86400) or at most 289 `max_attempts` at this delay"]
    );
    // A timeout bounds it; so does a retry within a day.
    let text = two_phase(
        "waiter",
        "",
        &gates("{max_attempts: 4294967295, delay_seconds: 0}", "    timeout_seconds: 60\n"),
    );
    assert_eq!(check_msgs(&text), Vec::<String>::new());
    let text = two_phase("waiter", "", &gates("{max_attempts: 289, delay_seconds: 300}", ""));
    assert_eq!(check_msgs(&text), Vec::<String>::new());
}

#[test]
fn hostile_gate_numbers_are_located_range_errors() {
    let text = format!(
        "{HEAD}stages: [{{name: a, type: t}}]\ngates:\n  - name: g\n    timeout_seconds: -1\n    poll_interval_seconds: .nan\n    retry: {{max_attempts: 1e308, delay_seconds: .inf}}\n  - name: h\n    timeout_seconds: 1e308\n    retry: {{max_attempts: -1, delay_seconds: -0.5}}\n"
    );
    assert_eq!(
        errors(&text),
        [
            "p.yaml:6:22: error: `timeout_seconds` of gate `g` must be between 1 and 86400, found -1",
            "p.yaml:7:28: error: `poll_interval_seconds` of gate `g` must be between 0.5 and 300, found .nan",
            "p.yaml:8:27: error: `max_attempts` in `retry` of gate `g` must be between 1 and 4294967295, found 1e308",
            "p.yaml:8:49: error: `delay_seconds` in `retry` of gate `g` must be between 0 and 86400, found .inf",
            "p.yaml:10:22: error: `timeout_seconds` of gate `h` must be between 1 and 86400, found 1e308",
            "p.yaml:11:27: error: `max_attempts` in `retry` of gate `h` must be between 1 and 4294967295, found -1",
            "p.yaml:11:46: error: `delay_seconds` in `retry` of gate `h` must be between 0 and 86400, found -0.5",
        ]
    );
}
