//! Registry build (from an explicit list) and lookup, against a bare `FxHashMap` and a
//! hand-written `match`. Run with `cargo bench -p stage-core --bench registry`.
//!
//! The link-time registry at 10 / 1,000 / 10,000 stages is measured by `bench/gen-plugins.py`
//! (generated plugin crates); this file measures what needs no generated crate.

#[path = "../../bench/harness.rs"]
mod harness;

use harness::{black_box, Group};
use rustc_hash::FxHashMap;
use stage_core::__private::{InvokeResult, StageArgs};
use stage_core::{Location, StageMetadata, StageRegistry, StateKey};

fn noop(_: &StageArgs<'_>) -> InvokeResult {
    Ok(None)
}

const fn meta(stage_type: &'static str, key: &'static str) -> StageMetadata {
    StageMetadata::new(
        stage_type,
        "A stand-in.",
        noop,
        Location { crate_name: "bench", module_path: "bench", file: "registry.rs", line: 1 },
    )
    .with_state_key(StateKey::One(key))
    .with_outputs(&[], false)
    .__macro_checked()
}

/// The ten built-in stage types.
static BUILTIN: [StageMetadata; 10] = [
    meta("ingest", "payloads"),
    meta("parse", "document"),
    meta("ir-validation", "document"),
    meta("chunk", "chunks"),
    meta("embed", "embedding_batch"),
    meta("index", "index_receipt"),
    meta("extract", "entities"),
    meta("knowledge-graph", "graph_receipt"),
    meta("download", "downloaded_files"),
    meta("gate", "document"),
];

/// The hand-written lookup: a `match` on the type string.
#[inline(never)]
fn by_match(t: &str) -> Option<&'static StageMetadata> {
    let i = match t {
        "ingest" => 0,
        "parse" => 1,
        "ir-validation" => 2,
        "chunk" => 3,
        "embed" => 4,
        "index" => 5,
        "extract" => 6,
        "knowledge-graph" => 7,
        "download" => 8,
        "gate" => 9,
        _ => return None,
    };
    Some(&BUILTIN[i])
}

/// `n` registrations with distinct types (`gen-00000`, ...), leaked to `'static`.
fn generated(n: usize) -> Vec<&'static StageMetadata> {
    (0..n)
        .map(|i| {
            let t: &'static str = Box::leak(format!("gen-{i:05}").into_boxed_str());
            &*Box::leak(Box::new(meta(t, "out")))
        })
        .collect()
}

fn bare_map(entries: &[&'static StageMetadata]) -> FxHashMap<&'static str, &'static StageMetadata> {
    let mut map = FxHashMap::with_capacity_and_hasher(entries.len(), Default::default());
    for m in entries {
        map.insert(m.stage_type(), *m);
    }
    map
}

fn build() {
    for n in [10usize, 1_000, 10_000] {
        let entries = generated(n);
        let mut g = Group::new(&format!("registry build from a list, {n} stages"), "build");
        g.add("bare FxHashMap from the list", 1, || bare_map(black_box(&entries)));
        g.add("StageRegistry::builder().register_all(..).build()", 1, || {
            StageRegistry::builder().register_all(black_box(&entries).iter().copied()).build()
        });
        g.run();
    }
}

fn lookup() {
    let builtin: Vec<&'static StageMetadata> = BUILTIN.iter().collect();
    let registry = StageRegistry::builder().register_all(builtin.iter().copied()).build();
    let bare = bare_map(&builtin);
    // Owned strings, as a parsed pipeline holds them.
    let keys: Vec<String> = BUILTIN.iter().map(|m| m.stage_type().to_owned()).collect();
    let mut g = Group::new("lookup hits, 10 built-in types", "lookup");
    g.add("bare FxHashMap::get", keys.len() as u64, || {
        for k in black_box(&keys) {
            black_box(bare.get(k.as_str()).copied());
        }
    });
    g.add("hand-written match", keys.len() as u64, || {
        for k in black_box(&keys) {
            black_box(by_match(k));
        }
    });
    g.add("StageRegistry::get_metadata", keys.len() as u64, || {
        for k in black_box(&keys) {
            black_box(registry.get_metadata(k));
        }
    });
    g.add("StageRegistry::get (Result)", keys.len() as u64, || {
        for k in black_box(&keys) {
            black_box(registry.get(k).ok());
        }
    });
    g.run();

    let many = generated(1_000);
    let registry_1k = StageRegistry::builder().register_all(many.iter().copied()).build();
    let bare_1k = bare_map(&many);
    let keys_1k: Vec<String> = many.iter().step_by(37).map(|m| m.stage_type().to_owned()).collect();
    let mut g = Group::new("lookup hits, 1,000 registered types", "lookup");
    g.add("bare FxHashMap::get", keys_1k.len() as u64, || {
        for k in black_box(&keys_1k) {
            black_box(bare_1k.get(k.as_str()).copied());
        }
    });
    g.add("StageRegistry::get_metadata", keys_1k.len() as u64, || {
        for k in black_box(&keys_1k) {
            black_box(registry_1k.get_metadata(k));
        }
    });
    g.run();

    let misses: Vec<String> = ["chunck", "ingest2", "knowledge_graph", "zzz"].map(String::from).to_vec();
    let mut g = Group::new("lookup misses, 10 built-in types", "lookup");
    g.add("bare FxHashMap::get (None)", misses.len() as u64, || {
        for k in black_box(&misses) {
            black_box(bare.get(k.as_str()).copied());
        }
    });
    g.add("hand-written match (None)", misses.len() as u64, || {
        for k in black_box(&misses) {
            black_box(by_match(k));
        }
    });
    g.add("StageRegistry::get_metadata (None)", misses.len() as u64, || {
        for k in black_box(&misses) {
            black_box(registry.get_metadata(k));
        }
    });
    g.add("StageRegistry::get (error with suggestions)", misses.len() as u64, || {
        for k in black_box(&misses) {
            black_box(registry.get(k).err());
        }
    });
    g.run();
}

fn main() {
    build();
    lookup();
}
