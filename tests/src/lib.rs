//! Integration and compile-fail tests of the stage framework; see `tests/` and `ui/`.
//!
//! The fixture crates (`download-plugin`, `other-slice`) are dependencies of this package; each
//! test file names the ones it needs (`use download_plugin as _;`) so that they are linked.
