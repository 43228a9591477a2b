#!/usr/bin/env bash
# Discovery in the design being replaced: plugins found through Python entry points.
#
#   bench/python-entrypoints.sh [N ...]        (default: 10 100 1000; RUNS=15 timed runs each)
#
# For each N: a throwaway virtual environment (in a temporary directory) with one local
# package declaring N entry points in group `medical_kg.orchestration.stages`, whose targets
# are trivial functions in one module, installed with pip. Then, RUNS times, in a fresh
# interpreter: `importlib.metadata.entry_points(group=...)` and `.load()` of each, as the
# original did; the median is printed, with (when bench/gen-plugins.py built host-N) the Rust
# registry build of the same number of stages measured in the same run, and the ratio.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs=${RUNS:-15}
counts=("$@")
[ ${#counts[@]} -eq 0 ] && counts=(10 100 1000)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python=${PYTHON:-python3}

median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

echo "### Python entry points: discovery + load (median of $runs fresh interpreters)"
echo
echo "$($python --version 2>&1), importlib.metadata"
echo
echo "| entry points | discovery + load | with \`import importlib.metadata\` | Rust \`StageRegistry::from_slice()\` (same N) | ratio Python / Rust |"
echo "|---:|---:|---:|---:|---:|"
for n in "${counts[@]}"; do
    pkg="$tmp/pkg-$n"
    mod="mkg_stages_$n"
    mkdir -p "$pkg/$mod"
    {
        echo '[build-system]'
        echo 'requires = ["setuptools>=61"]'
        echo 'build-backend = "setuptools.build_meta"'
        echo '[project]'
        echo "name = \"mkg-stages-$n\""
        echo 'version = "0.1.0"'
        echo '[tool.setuptools]'
        echo "packages = [\"$mod\"]"
        echo '[project.entry-points."medical_kg.orchestration.stages"]'
        for ((i = 0; i < n; i++)); do printf 'stage_%05d = "%s.stages:stage_%05d"\n' "$i" "$mod" "$i"; done
    } >"$pkg/pyproject.toml"
    : >"$pkg/$mod/__init__.py"
    for ((i = 0; i < n; i++)); do printf 'def stage_%05d(state):\n    return state\n\n' "$i"; done >"$pkg/$mod/stages.py"
    "$python" -m venv "$tmp/venv-$n"
    py="$tmp/venv-$n/bin/python"
    "$py" -m pip install -q --no-deps --no-build-isolation "$pkg" >/dev/null 2>&1 ||
        { "$py" -m pip install -q wheel >/dev/null && "$py" -m pip install -q --no-deps --no-build-isolation "$pkg" >/dev/null; }
    probe="
import time
t0 = time.perf_counter()
from importlib.metadata import entry_points
t1 = time.perf_counter()
loaded = [ep.load() for ep in entry_points(group='medical_kg.orchestration.stages')]
t2 = time.perf_counter()
assert len(loaded) == $n, len(loaded)
print(f'{(t2 - t1) * 1e9:.0f} {(t2 - t0) * 1e9:.0f}')"
    "$py" -c "$probe" >/dev/null # warm the file cache
    : >"$tmp/t-$n"
    for ((r = 0; r < runs; r++)); do "$py" -c "$probe" >>"$tmp/t-$n"; done
    disc=$(cut -d' ' -f1 "$tmp/t-$n" | median)
    withimport=$(cut -d' ' -f2 "$tmp/t-$n" | median)
    host="$root/target/bench-gen/release/host-$n"
    rust="n/a" ratio="n/a"
    if [ -x "$host" ]; then
        rust_ns=$("$host" registry | sed -n 's/^RESULT .* registry_ns=\([0-9.]*\).*/\1/p')
        rust=$(python3 -c "print(f'{$rust_ns/1e3:.2f} µs')")
        ratio=$(python3 -c "print(f'{$disc/$rust_ns:,.0f}×')")
    fi
    printf '| %s | %s | %s | %s | %s |\n' "$n" \
        "$(python3 -c "print(f'{$disc/1e6:.2f} ms')")" "$(python3 -c "print(f'{$withimport/1e6:.2f} ms')")" "$rust" "$ratio"
done
