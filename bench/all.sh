#!/usr/bin/env bash
# Every benchmark in sequence, figures printed and kept in target/bench-results/<date>/.
# Run it on a quiet machine (nothing else building or running: check `uptime`, `ps aux`).
#
#   bench/all.sh              scripts (generated crates, start-up, Python, compile time, RSS)
#                             then `cargo bench` (registry, dispatch, pipelines, memory, batch)
#   SKIP_CARGO_BENCH=1 ...    the scripts only
#   SKIP_COMPILE_TIME=1 ...   without the compile-time measure (bench/compile-time.sh alone)
#   BENCH_ONLY="scale search" bench/all.sh
#                             only the named parts: registry python compile-time rss cargo-bench
#                             dispatch scale throughput search (all of them when unset)
#   SCALE_JOBS="700 7000 70000"   the batch sizes of the scale part (this default: ~20 min)
#
# The scale, throughput and search parts build and use the release `stagectl` (feature-hashing
# embedder); the search part builds stores of 3,600 / 36,000 / 360,000 chunks (~1.5 GB of
# disk for the largest, removed afterwards).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$root/target/bench-results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
log() { tee -a "$out/all.md"; }
# Whether part $1 runs: every part, or those BENCH_ONLY names.
want() { [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]]; }

{
    echo "## Machine"
    echo
    echo "- nproc: $(nproc); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "- $(rustc --version); $(cargo --version)"
    echo "- $(python3 --version 2>&1); $(uname -sr)"
    echo "- load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
} | log

if want registry; then
    echo "## 1. Registry ready (link-time slice, generated plugin crates)" | log
    for n in 0 100; do python3 bench/gen-plugins.py "$n" --no-run; done
    CARGO_TARGET_DIR=target/bench-gen cargo build --release -q --manifest-path target/bench-gen/ws/Cargo.toml \
        -p host-0 -p host-100
    for n in 10 1000 10000; do python3 bench/gen-plugins.py "$n" | log; done
    bench/startup.sh | log
fi

if want python; then
    echo "## 2. Discovery in the design being replaced (Python entry points)" | log
    bench/python-entrypoints.sh 10 100 1000 | log
fi

if want compile-time && [ -z "${SKIP_COMPILE_TIME:-}" ]; then
    echo "## 7. Compile time" | log
    bench/compile-time.sh 1000 | log
fi

if want rss; then
    echo "## 6. Memory: peak RSS of the main job" | log
    bench/peak-rss.sh | log
fi

if want cargo-bench && [ -z "${SKIP_CARGO_BENCH:-}" ]; then
    echo "## cargo bench (lookup, dispatch, pipelines, memory per stage, batch)" | log
    cargo bench -q -p stage-core -p stagectl --benches 2>/dev/null | grep -v '^running [0-9]* tests\?$\|^i*\( [0-9]*/[0-9]*\)\?$\|^test result: \|^$' | log
fi
if want dispatch && [ -z "${SKIP_CARGO_BENCH:-}" ]; then
    # The headline: the runtime against the hand-written runner doing the same work, with
    # enough samples to keep the interquartile range small.
    echo "## 4. Dispatch, 101 samples (time)" | log
    BENCH_SAMPLES=101 cargo bench -q -p stage-core --bench dispatch 2>/dev/null | grep -v '^running [0-9]* tests\?$\|^i*\( [0-9]*/[0-9]*\)\?$\|^test result: \|^$' | log
    echo "## 4. Dispatch, in instructions (callgrind)" | log
    bench/callgrind-dispatch.sh "$out/callgrind" | log
fi

if want scale || want throughput || want search; then
    cargo build --release -q -p stagectl
fi
if want scale; then
    echo "## 8. Scale: jobs, chains, documents" | log
    # shellcheck disable=SC2086
    python3 bench/scale.py --jobs ${SCALE_JOBS:-700 7000 70000} | log
fi
if want throughput; then
    echo "## 8. Throughput: the host's share, disk vs tmpfs, progress" | log
    python3 bench/throughput.py | log
fi
if want search; then
    echo "## 8. Search at 3,600 / 36,000 / 360,000 chunks" | log
    cargo build --release -q -p stages-builtin --example search_store
    python3 bench/search.py | log
fi
echo
echo "figures kept in $out/all.md"
