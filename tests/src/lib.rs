//! Integration and compile-fail tests of the stage framework; see `tests/` and `ui/`.
//!
//! The fixture crates (`download-plugin`, `other-slice`) are dependencies of this package; each
//! test file names the ones it needs (`use download_plugin as _;`) so that they are linked.

use std::path::PathBuf;

pub mod fuzz;

/// `tests/compat`: the original platform's pipeline files, policy file and compatibility
/// contract, copied into the repository (see `tests/compat/README.md`).
pub fn compat_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("compat")
}

/// The pipeline files in `tests/compat/pipelines`, sorted.
pub fn compat_pipelines() -> Vec<PathBuf> {
    let dir = compat_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("pipelines"))
        .expect("pipelines folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The guide's chapters (`docs/src/*.md`, an mdBook): their Rust samples compiled and run as
/// doctests, one item per chapter.
#[cfg(doctest)]
pub mod guide {
    #[doc = include_str!("../../docs/src/introduction.md")]
    pub struct Introduction;
    #[doc = include_str!("../../docs/src/quick-start.md")]
    pub struct QuickStart;
    #[doc = include_str!("../../docs/src/writing-stages.md")]
    pub struct WritingStages;
    #[doc = include_str!("../../docs/src/testing-stages.md")]
    pub struct TestingStages;
    #[doc = include_str!("../../docs/src/linking-plugins.md")]
    pub struct LinkingPlugins;
    #[doc = include_str!("../../docs/src/pipeline-files.md")]
    pub struct PipelineFiles;
    #[doc = include_str!("../../docs/src/operating-stagectl.md")]
    pub struct OperatingStagectl;
    #[doc = include_str!("../../docs/src/migrating-from-python.md")]
    pub struct MigratingFromPython;
    #[doc = include_str!("../../docs/src/architecture.md")]
    pub struct Architecture;
    #[doc = include_str!("../../docs/src/running-at-scale.md")]
    pub struct RunningAtScale;
    #[doc = include_str!("../../docs/src/running-on-restate.md")]
    pub struct RunningOnRestate;
}
