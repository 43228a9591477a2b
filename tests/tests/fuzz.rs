//! Fuzzing of the YAML loaders (`tests/src/fuzz.rs`, `tests/FUZZING.md`): every seed, and a
//! bounded run of mutants from fixed seeds, loads without a panic and with well-formed,
//! located diagnostics. Each failure the fuzzer found is a regression test below, with its
//! minimized input.

use stage_core::policy::PolicySet;
use stage_core::{spec, Plan, PlanOptions};
use stage_tests::fuzz::{self, Report};

/// The seed of the bounded run; three more are derived from it.
const SEED: u64 = 0x5EED_F022;
/// Iterations per seed (2,400 in all: about 7 s in a debug build). `FUZZ_ITERATIONS` changes it.
const ITERATIONS: usize = 600;

fn assert_clean(report: &Report) {
    let mut text = String::new();
    for f in &report.failures {
        text.push_str(&format!(
            "\n--- seed {} iteration {} ({} inputs): {}\nminimized input: {:?}\n",
            report.seed, f.iteration, f.count, f.message, f.minimized
        ));
    }
    assert!(report.failures.is_empty(), "the fuzzer found {} failure(s):{text}", report.failures.len());
}

/// Asserts that `text` passes every check, and returns the diagnostics `load_str` gives it,
/// one per line.
fn load_diagnostics(text: &str) -> String {
    fuzz::check_one(text).unwrap_or_else(|e| panic!("{e}\ninput: {text:?}"));
    match spec::load_str("fuzz.yaml", text) {
        Ok(l) => l.warnings.iter().map(|d| format!("{d}\n")).collect(),
        Err(e) => e.errors.iter().chain(&e.warnings).map(|d| format!("{d}\n")).collect(),
    }
}

#[test]
fn every_seed_passes_the_checks() {
    for (i, seed) in fuzz::seed_corpus().iter().chain(&fuzz::heavy_cases()).enumerate() {
        if let Err(e) = fuzz::check_one(seed) {
            panic!("seed #{i} fails: {e}\n{seed}");
        }
    }
}

#[test]
fn a_bounded_run_finds_no_failure() {
    let seeds = fuzz::seed_corpus();
    let iterations = std::env::var("FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(ITERATIONS);
    let started = std::time::Instant::now();
    let mut total = 0;
    let mut loaded = 0;
    for k in 0..4u64 {
        let report = fuzz::run(SEED.wrapping_add(k.wrapping_mul(0x9E37_79B9_7F4A_7C15)), iterations, &seeds);
        assert_clean(&report);
        total += report.iterations;
        loaded += report.stats.loaded;
    }
    eprintln!("{total} inputs ({loaded} loaded) in {:.1} s", started.elapsed().as_secs_f64());
    // The mutants are not all rejected: some load and reach the planner.
    assert!(loaded > total / 50, "only {loaded} of {total} inputs loaded");
}

#[test]
fn inputs_are_reproducible_from_seed_and_iteration() {
    let seeds = fuzz::seed_corpus();
    assert_eq!(fuzz::input(7, 123, &seeds), fuzz::input(7, 123, &seeds));
    let distinct: std::collections::HashSet<String> = (0..50).map(|i| fuzz::input(7, i, &seeds)).collect();
    assert!(distinct.len() > 40, "{} distinct inputs of 50", distinct.len());
    assert_ne!(fuzz::input(7, 1, &seeds), fuzz::input(8, 1, &seeds));
}

#[test]
fn the_shrinker_keeps_only_what_fails() {
    let small = fuzz::shrink("a: 1\nb: 2\nboom: 3\nc: [4]\n", 1_000, &mut |t| t.contains("boom"));
    assert_eq!(small, "boom");
    // A passing input is returned as it is.
    assert_eq!(fuzz::minimize("name: p\n"), "name: p\n");
}

// -------------------------------------------------------------------------------------------
// Regressions. One bug so far: file text quoted in a message (a key, a name, a policy) kept
// its line breaks and control characters, so a diagnostic could span lines (or carry a
// terminal escape); now they are escaped (`\n`, `\t`, `\u{8}`). One test per way the
// fuzzer found it, with its minimized input.

#[test]
fn regression_line_break_in_a_quoted_key_stays_on_one_line() {
    let out = load_diagnostics("\"a\\nb\": 1\n");
    assert!(out.starts_with("fuzz.yaml:1:1: error: unknown key `a\\nb` at top level"), "{out}");
    assert_eq!(out.lines().count(), out.matches("fuzz.yaml:").count(), "{out}");
}

#[test]
fn regression_tab_in_a_stage_key_is_escaped() {
    // Found as `load_str errors: message spans lines or holds control characters`.
    let out = load_diagnostics("stages: [{\"\\t\"}]");
    assert!(out.contains("unknown key `\\t` in stage #1"), "{out}");
}

#[test]
fn regression_control_character_in_a_plugin_callable_note_is_escaped() {
    // Found as `load_str warnings: message spans lines or holds control characters`.
    let out = load_diagnostics("plugins:\n stages:\n - callable: \"\\b\"");
    assert!(out.contains("info: plugin callable `\\u{8}` is accepted but not called"), "{out}");
}

#[test]
fn regression_tab_in_a_policy_key_is_escaped() {
    // Found as `PolicySet::load_str errors: message spans lines or holds control characters`.
    let text = "policies: {: {i\t1}}";
    fuzz::check_one(text).unwrap_or_else(|e| panic!("{e}"));
    let e = PolicySet::load_str("fuzz.yaml", text).unwrap_err().to_string();
    assert!(e.contains("unknown key `i\\t1` in policy"), "{e}");
    assert!(!e.contains('\t'), "{e}");
}

#[test]
fn regression_control_character_in_an_unknown_policy_name_is_escaped() {
    // Found as `Plan::new errors: message spans lines or holds control characters`.
    let text = "name: c\nversion: \"2025-01-01\"\nmetadata:\nstages:\n    - name: t\n      type: t\n      config:\n      policy: \"\\b\"";
    fuzz::check_one(text).unwrap_or_else(|e| panic!("{e}"));
    let spec = spec::load_str("fuzz.yaml", text).unwrap().value;
    let options = PlanOptions { policies: Some(PolicySet::builtin()), ..Default::default() };
    let e = Plan::new(&spec, fuzz::standin_registry(), &options).unwrap_err().to_string();
    assert!(e.contains("stage `t` uses unknown policy `\\u{8}`"), "{e}");
    assert_eq!(e.lines().count(), 2, "{e}");
}

// The second bug: saphyr-parser counts a directive's name and parameters (`%NAME param`) in
// bytes, so an error on a directive line with non-ASCII text was located past the end of
// its line (`1:20` on a 14-character line); such columns are now read as byte offsets and
// given in characters (`spec/yaml.rs`).

#[test]
fn regression_error_on_a_non_ascii_directive_line_is_within_the_line() {
    // Found as `load_str errors: column outside its line` (seed 42, iteration 394635).
    let out = load_diagnostics("%\u{fffd}\0");
    assert_eq!(out, "fuzz.yaml:1:3: error: invalid YAML: found unprintable character\n");
    let out = load_diagnostics("%YAM\u{fffd}\u{fffd}L\u{1b} 1\u{fffd}.2\0\nname: p\n");
    assert_eq!(out, "fuzz.yaml:1:14: error: invalid YAML: found unprintable character\n");
    // The policy loader reads YAML the same way.
    let e = PolicySet::load_str("fuzz.yaml", "%\u{fffd}\0").unwrap_err().to_string();
    assert_eq!(e, "fuzz.yaml:1:3: error: invalid YAML: found unprintable character");
}

// Found by the coverage-guided `policy_loader` target (`fuzz/`): at the end of a text that
// does not end with a line break, saphyr-parser reports a syntax error on the line after the
// last one (`7:1` in a six-line file), a line no editor shows; such errors (and nodes) are
// now located at the end of the last line (`spec/yaml.rs`), and the harness no longer
// accepts a line past the last one.

#[test]
fn regression_error_at_the_end_of_the_text_is_on_its_last_line() {
    let text =
        "policies:\n  default:\n    max_attempts: polic3\n    timeout_seconds: 30\n    backoies:\nff  ";
    let e = PolicySet::load_str("fuzz.yaml", text).unwrap_err().to_string();
    assert_eq!(e, "fuzz.yaml:6:5: error: invalid YAML: simple key expected");
    let out = load_diagnostics(text);
    assert_eq!(out, "fuzz.yaml:6:5: error: invalid YAML: simple key expected\n");
    // A node at the end of such a text, too (found by the bounded run once the harness
    // refused a line past the last one): `---` alone was an empty document on line 3.
    let out = load_diagnostics("---");
    assert!(out.starts_with("fuzz.yaml:1:4: error: a pipeline file must be a mapping"), "{out}");
    // Within the text, the parser's location stands (a line break ends the last line).
    let out = load_diagnostics("a:\n  b: 1\n c\n");
    assert!(out.starts_with("fuzz.yaml:3:"), "{out}");
}
