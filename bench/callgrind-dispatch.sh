#!/usr/bin/env bash
# Instructions per stage (callgrind: exact, repeatable, independent of machine load) of the
# four dispatch variants of stage-core/benches/dispatch.rs. Each variant runs 100 and 300
# times; the difference, divided by 200 runs x 10 stages, is the cost per stage without the
# set-up. Usage: bench/callgrind-dispatch.sh [out-dir]  (profiles are kept in out-dir).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/bench-results/callgrind}
mkdir -p "$out"
bin=$(cargo bench -p stage-core --bench dispatch --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "dispatch" and m.get("executable"):
        print(m["executable"])')
declare -A ir
for v in resolved string lazy runner; do
    for n in 100 300; do
        BENCH_PROFILE=$v BENCH_PROFILE_ITERS=$n valgrind --tool=callgrind \
            --callgrind-out-file="$out/dispatch.$v.$n.out" "$bin" 2>"$out/dispatch.$v.$n.log"
        ir[$v.$n]=$(grep -oP 'Collected : \K[0-9]+' "$out/dispatch.$v.$n.log")
    done
done
echo "| variant | instructions per stage | ratio to resolved |"
echo "|---|---:|---:|"
base=$(( (ir[resolved.300] - ir[resolved.100]) / 2000 ))
for v in resolved string lazy runner; do
    per=$(( (ir[$v.300] - ir[$v.100]) / 2000 ))
    echo "| $v | $per | $(python3 -c "print(f'{$per/$base:.3f}')") |"
done
