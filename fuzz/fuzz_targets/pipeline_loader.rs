//! The pipeline loader on arbitrary bytes (as UTF-8, lossily).
//!
//! Must hold: no panic; every diagnostic is located and one line (the in-suite fuzzer's
//! oracle, `stage_tests::fuzz::check_one`: `load_str`, `load_file_partial`, `spec::check`,
//! `Plan::new` against stand-in stages and `PolicySet::load_str`); loading the same text
//! twice gives the same spec and the same diagnostics; a spec that loads plans against the
//! built-in registry of `stages-builtin` (with the built-in policies) or fails with located
//! errors, deterministically.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use stage_core::policy::PolicySet;
use stage_core::spec::{self, Diagnostic};
use stage_core::{Plan, PlanOptions, StageRegistry};

const PATH: &str = "fuzz/pipeline.yaml";

/// The registry of the stages linked into this binary: those of `stages-builtin`, and only
/// those (its stand-in and plugin crates are not referenced, so not linked).
fn builtin_registry() -> &'static StageRegistry {
    static R: OnceLock<&'static StageRegistry> = OnceLock::new();
    R.get_or_init(|| {
        // Referencing the crate links it, and with it its stage registrations.
        let _ = stages_builtin::ingest::served_sources();
        let registry = StageRegistry::global();
        assert!(registry.get_metadata("ingest").is_some(), "{:?}", registry.stage_types());
        assert!(registry.problems().is_empty(), "{:?}", registry.problems());
        registry
    })
}

fn options() -> &'static PlanOptions {
    static O: OnceLock<PlanOptions> = OnceLock::new();
    O.get_or_init(|| PlanOptions { policies: Some(PolicySet::builtin()), ..PlanOptions::default() })
}

fn located(what: &str, d: &Diagnostic) {
    assert_eq!(&*d.path, Path::new(PATH), "{what}: wrong path: {d}");
    assert!(!d.message.trim().is_empty(), "{what}: empty message: {d}");
    assert!(!d.message.contains(char::is_control), "{what}: message spans lines: {d:?}");
    assert!(d.line > 0 || (d.column == 0 && d.is_error()), "{what}: unlocated: {d:?}");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = stage_tests::fuzz::check_one(&text) {
        panic!("{e}");
    }
    let first = spec::load_str(PATH, &text);
    let again = spec::load_str(PATH, &text);
    assert_eq!(format!("{first:?}"), format!("{again:?}"), "loading twice differs");
    let Ok(loaded) = first else { return };
    let registry = builtin_registry();
    let planned = Plan::new(&loaded.value, registry, options());
    let replanned = Plan::new(&loaded.value, registry, options());
    match (&planned, &replanned) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.order, b.order, "planning twice differs");
            let mut order = a.order.clone();
            order.sort_unstable();
            assert_eq!(order, (0..a.stages.len()).collect::<Vec<_>>(), "order is not a permutation");
            a.warnings.iter().for_each(|d| located("plan warning", d));
        }
        (Err(a), Err(b)) => {
            assert!(!a.errors.is_empty(), "planning failed with no error");
            assert_eq!(a.to_string(), b.to_string(), "planning twice differs");
            a.errors.iter().for_each(|d| located("plan error", d));
        }
        _ => panic!("planning twice differs: {planned:?} vs {replanned:?}"),
    }
});
