//! The plugin stays light: it builds with at most 40 crates (itself and stage-core included),
//! because the state types it reads come from `stage-types`, not from `stages-builtin` (whose
//! SQLite, TLS, XML and embedding model would bring about 160).

use std::collections::BTreeSet;
use std::process::Command;

/// The most crates `cargo tree -p deid-plugin -e normal` may list (unique names).
const MAX_CRATES: usize = 40;

#[test]
fn the_plugin_builds_with_at_most_40_crates() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            "deid-plugin",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let names: BTreeSet<&str> = stdout.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(names.contains("deid-plugin") && names.contains("stage-core"), "{names:?}");
    assert!(!names.contains("stages-builtin"), "the plugin depends on stages-builtin again: {names:?}");
    assert!(
        names.len() <= MAX_CRATES,
        "deid-plugin builds with {} crates, more than {MAX_CRATES}: {}",
        names.len(),
        names.iter().copied().collect::<Vec<_>>().join(" ")
    );
}
