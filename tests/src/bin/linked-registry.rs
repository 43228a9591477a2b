//! Prints the registry of a binary that links a plugin crate it never calls.
//!
//! `use download_plugin as _;` is the documented way to link a crate only for its stages.
use download_plugin as _;

fn main() {
    let registry = stage_core::StageRegistry::global();
    if let Err(e) = registry.require(["download"]) {
        eprintln!("{e}");
        std::process::exit(1);
    }
    for meta in registry.iter() {
        println!(
            "{} {:?} {} {}",
            meta.stage_type(),
            meta.state_key(),
            meta.version(),
            meta.location().crate_name
        );
    }
}
