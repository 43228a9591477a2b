#!/usr/bin/env bash
# Every benchmark in sequence, figures printed and kept in target/bench-results/<date>/.
# Run it on a quiet machine (nothing else building or running: check `uptime`, `ps aux`).
#
#   bench/all.sh              scripts (generated crates, start-up, Python, compile time, RSS)
#                             then `cargo bench` (registry, dispatch, pipelines, memory, batch)
#   SKIP_CARGO_BENCH=1 ...    the scripts only
#   SKIP_COMPILE_TIME=1 ...   without the compile-time measure (bench/compile-time.sh alone)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$root/target/bench-results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
log() { tee -a "$out/all.md"; }

{
    echo "## Machine"
    echo
    echo "- nproc: $(nproc); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "- $(rustc --version); $(cargo --version)"
    echo "- $(python3 --version 2>&1); $(uname -sr)"
    echo "- load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
} | log

echo "## 1. Registry ready (link-time slice, generated plugin crates)" | log
for n in 0 100; do python3 bench/gen-plugins.py "$n" --no-run; done
CARGO_TARGET_DIR=target/bench-gen cargo build --release -q --manifest-path target/bench-gen/ws/Cargo.toml \
    -p host-0 -p host-100
for n in 10 1000 10000; do python3 bench/gen-plugins.py "$n" | log; done
bench/startup.sh | log

echo "## 2. Discovery in the design being replaced (Python entry points)" | log
bench/python-entrypoints.sh 10 100 1000 | log

if [ -z "${SKIP_COMPILE_TIME:-}" ]; then
    echo "## 7. Compile time" | log
    bench/compile-time.sh 1000 | log
fi

echo "## 6. Memory: peak RSS of the main job" | log
bench/peak-rss.sh | log

if [ -z "${SKIP_CARGO_BENCH:-}" ]; then
    echo "## cargo bench (lookup, dispatch, pipelines, memory per stage, batch)" | log
    cargo bench -q -p stage-core -p stagectl --benches 2>/dev/null | grep -v '^running [0-9]* tests\?$\|^i*\( [0-9]*/[0-9]*\)\?$\|^test result: \|^$' | log
    echo "## 4. Dispatch, in instructions (callgrind)" | log
    bench/callgrind-dispatch.sh "$out/callgrind" | log
fi
echo
echo "figures kept in $out/all.md"
