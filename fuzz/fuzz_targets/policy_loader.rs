//! The policy loader (`PolicySet::load_str`) on arbitrary bytes (as UTF-8, lossily).
//!
//! Must hold: no panic; a refused file has errors, each located in the file (line and column
//! on a line of the text, or line 0 for a whole-file error) and one line; accepted policies
//! are within their documented ranges; loading twice gives the same result; an accepted set
//! checks the example pipeline's policy names with located diagnostics.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use stage_core::policy::PolicySet;
use stage_core::spec::{self, Diagnostic, PipelineSpec};

const PATH: &str = "fuzz/resilience.yaml";

fn example() -> &'static PipelineSpec {
    static S: OnceLock<PipelineSpec> = OnceLock::new();
    S.get_or_init(|| {
        let text = include_str!("../../examples/pipelines/literature.yaml");
        spec::load_str("examples/pipelines/literature.yaml", text).expect("the example loads").value
    })
}

/// Lines as YAML counts them (`\n`, `\r\n`, `\r`), in characters.
fn line_lengths(text: &str) -> Vec<usize> {
    text.replace("\r\n", "\n").split(['\n', '\r']).map(|l| l.chars().count()).collect()
}

fn located(what: &str, d: &Diagnostic, path: &str, lines: &[usize]) {
    assert_eq!(&*d.path, Path::new(path), "{what}: wrong path: {d}");
    assert!(!d.message.trim().is_empty(), "{what}: empty message: {d}");
    assert!(!d.message.contains(char::is_control), "{what}: message spans lines: {d:?}");
    if d.line == 0 {
        assert!(d.column == 0 && d.is_error(), "{what}: unlocated: {d:?}");
        return;
    }
    let len = lines.get(d.line as usize - 1).copied();
    assert!(len.is_some(), "{what}: line beyond the text: {d:?}");
    assert!(
        d.column >= 1 && d.column as usize <= len.unwrap_or(0) + 1,
        "{what}: column outside its line: {d:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = line_lengths(&text);
    let first = PolicySet::load_str(PATH, &text);
    let again = PolicySet::load_str(PATH, &text);
    assert_eq!(format!("{first:?}"), format!("{again:?}"), "loading twice differs");
    match first {
        Ok(loaded) => {
            loaded.warnings.iter().for_each(|d| located("warning", d, PATH, &lines));
            assert!(loaded.warnings.iter().all(|d| !d.is_error()), "an error among the warnings");
            for p in loaded.value.policies() {
                assert!((1..=10).contains(&p.max_attempts), "max_attempts out of range: {p:?}");
                assert!((1.0..=600.0).contains(&p.timeout_seconds), "timeout out of range: {p:?}");
                assert!(p.backoff.initial.is_finite() && p.backoff.initial >= 0.0, "backoff: {p:?}");
                assert!(p.backoff.maximum.is_finite() && p.backoff.maximum >= 0.0, "backoff: {p:?}");
                assert!(!p.name.is_empty(), "a policy without a name: {p:?}");
            }
            let spec = example();
            let example_lines = line_lengths(include_str!("../../examples/pipelines/literature.yaml"));
            for d in loaded.value.check_names(spec) {
                located("check_names", &d, "examples/pipelines/literature.yaml", &example_lines);
            }
        }
        Err(e) => {
            assert!(!e.errors.is_empty(), "refused with no error");
            assert!(e.errors.iter().all(Diagnostic::is_error), "a non-error among the errors");
            e.errors.iter().chain(&e.warnings).for_each(|d| located("diagnostic", d, PATH, &lines));
        }
    }
});
