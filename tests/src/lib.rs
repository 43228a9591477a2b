//! Integration and compile-fail tests of the stage framework; see `tests/` and `ui/`.
//!
//! The fixture crates (`download-plugin`, `other-slice`) are dependencies of this package; each
//! test file names the ones it needs (`use download_plugin as _;`) so that they are linked.

use std::path::PathBuf;

pub mod fuzz;

/// `../shared/compat` beside the repository, where the original platform's files are.
///
/// A fresh clone elsewhere has no `../shared`: then this returns `None` and the tests that
/// need it say so and pass, except under CI (`CI` set), where its absence is a failure.
pub fn compat_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/compat");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "CI must provide ../shared/compat beside the repository");
    eprintln!("skipped: {} is absent (it is not part of the repository)", dir.display());
    None
}

/// The pipeline files in `../shared/compat/pipelines`, sorted.
pub fn compat_pipelines() -> Vec<PathBuf> {
    let Some(dir) = compat_dir() else { return Vec::new() };
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
