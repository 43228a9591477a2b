//! Memory per registered stage: the heap a registry keeps per stage (after its build, and
//! with the sorted listing, which is computed when first asked for), against a bare
//! `FxHashMap` of the same entries, and the static metadata each `#[stage]` puts in the binary.
//! Counted by a global allocator that tracks live bytes (`cap`). Run with
//! `cargo bench -p stage-core --bench memory`.

#[path = "../../bench/harness.rs"]
mod harness;

use std::alloc::System;

use cap::Cap;
use rustc_hash::FxHashMap;
use stage_core::__private::{InvokeResult, StageArgs};
use stage_core::{InputSpec, Location, OutputType, StageMetadata, StageRegistry, StateKey};

/// The system allocator, counting the bytes live.
#[global_allocator]
static GLOBAL: Cap<System> = Cap::new(System, usize::MAX);

fn noop(_: &StageArgs<'_>) -> InvokeResult {
    Ok(None)
}

const INPUTS: &[InputSpec] = &[InputSpec::required::<Vec<u64>>("values")];
const OUTPUTS: &[OutputType] = &[OutputType::of::<Vec<u64>>()];

/// `n` registrations shaped like a typical `#[stage]` (one input, one key), leaked.
fn generated(n: usize) -> Vec<&'static StageMetadata> {
    (0..n)
        .map(|i| {
            let t: &'static str = Box::leak(format!("gen-{i:05}").into_boxed_str());
            let m = StageMetadata::new(
                t,
                "A generated stage.",
                noop,
                Location { crate_name: "bench", module_path: "bench", file: "memory.rs", line: 1 },
            )
            .with_state_key(StateKey::One("out"))
            .with_inputs(INPUTS)
            .with_outputs(OUTPUTS, false)
            .__macro_checked();
            &*Box::leak(Box::new(m))
        })
        .collect()
}

/// Heap bytes that `f`'s result keeps alive, and the result.
fn retained<T>(f: impl FnOnce() -> T) -> (isize, T) {
    let before = GLOBAL.allocated() as isize;
    let v = f();
    (GLOBAL.allocated() as isize - before, v)
}

fn main() {
    if !harness::selected("memory") {
        return;
    }
    println!("\n### memory per registered stage\n");
    println!(
        "Static, in the binary, per `#[stage]`: `StageMetadata` = {} bytes (plus its input, output and \
         state-key descriptors: {} bytes per input, {} per output type).\n",
        std::mem::size_of::<StageMetadata>(),
        std::mem::size_of::<InputSpec>(),
        std::mem::size_of::<OutputType>(),
    );
    println!("| registered stages | bare FxHashMap, bytes/stage | StageRegistry, bytes/stage | ratio | StageRegistry + sorted listing, bytes/stage |");
    println!("|---:|---:|---:|---:|---:|");
    for n in [10usize, 1_000, 10_000] {
        let entries = generated(n);
        let (bare, map) = retained(|| {
            let mut m: FxHashMap<&'static str, &'static StageMetadata> =
                FxHashMap::with_capacity_and_hasher(entries.len(), Default::default());
            for e in &entries {
                m.insert(e.stage_type(), *e);
            }
            m
        });
        let (reg, registry) =
            retained(|| StageRegistry::builder().register_all(entries.iter().copied()).build());
        let (listing, _) = retained(|| registry.stage_types().len());
        assert_eq!(map.len(), registry.len());
        let per = |b: isize| b as f64 / n as f64;
        println!(
            "| {n} | {:.1} | {:.1} | {:.3} | {:.1} |",
            per(bare),
            per(reg),
            reg as f64 / bare as f64,
            per(reg + listing)
        );
    }
}
