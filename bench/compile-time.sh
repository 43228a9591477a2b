#!/usr/bin/env bash
# Compile time of `#[stage]`: a crate with N (default 1,000) `#[stage]` functions against the
# same functions without the attribute, each crate alone rebuilt in release with its
# dependencies already built (its lib.rs touched; median of REPS=3, taken alternately); and the
# proc-macro crate's own build (stage-derive alone, its dependencies built; median of REPS).
# Wall time, and CPU time (user + system of cargo and the compiler, all threads): on a shared,
# busy machine the CPU time varies less. Crates from bench/gen-plugins.py, in target/bench-gen
# (never the repository's target).
#
#   bench/compile-time.sh [N]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n=${1:-1000}
reps=${REPS:-3}
export CARGO_TARGET_DIR="$root/target/bench-gen"
ws="$root/target/bench-gen/ws"
python3 "$root/bench/gen-plugins.py" "$n" --no-run
cargo_b() { cargo build --release -q --manifest-path "$ws/Cargo.toml" "$@"; }
cargo_b -p "plugins-$n" -p "plain-$n" # dependencies (and both crates) built once
now() { date +%s%N; }
cpu_file=$(mktemp)
trap 'rm -f "$cpu_file"' EXIT
# cargo_b under /usr/bin/time; prints its CPU time (user + system, children included) in ms.
cargo_cpu() {
    /usr/bin/time -f '%U %S' -o "$cpu_file" cargo build --release -q --manifest-path "$ws/Cargo.toml" "$@"
    awk '{ printf "%d\n", ($1 + $2) * 1000 }' "$cpu_file"
}
declare -a with without derive with_cpu without_cpu
for ((r = 0; r < reps; r++)); do
    for v in plugins plain; do
        touch "$ws/$v-$n/src/lib.rs"
        t=$(now)
        c=$(cargo_cpu -p "$v-$n")
        d=$(( ($(now) - t) / 1000000 ))
        if [ "$v" = plugins ]; then with+=("$d"); with_cpu+=("$c"); else without+=("$d"); without_cpu+=("$c"); fi
    done
done
for ((r = 0; r < reps; r++)); do
    cargo clean -q --release --manifest-path "$ws/Cargo.toml" -p stage-derive
    t=$(now)
    cargo_b -p stage-derive
    derive+=($(( ($(now) - t) / 1000000 )))
done
# Leave everything built for the other scripts.
cargo_b -p "plugins-$n" -p "plain-$n"
python3 - "$n" "${with[*]}" "${without[*]}" "${derive[*]}" "${with_cpu[*]}" "${without_cpu[*]}" <<'PY'
import statistics, sys
n = int(sys.argv[1])
w, p, d, wc, pc = ([int(x) for x in a.split()] for a in sys.argv[2:7])
mw, mp, md = statistics.median(w), statistics.median(p), statistics.median(d)
mwc, mpc = statistics.median(wc), statistics.median(pc)
print(f"### Compile time: {n} `#[stage]` functions vs the same without the attribute (release, crate alone, median of {len(w)})\n")
print("| crate | runs (ms) | median | ratio to plain | CPU runs (ms) | CPU median |")
print("|---|---|---:|---:|---|---:|")
print(f"| {n} functions, no attribute | {', '.join(map(str, p))} | {mp / 1e3:.2f} s | 1.000 | {', '.join(map(str, pc))} | {mpc / 1e3:.2f} s |")
print(f"| {n} `#[stage]` functions | {', '.join(map(str, w))} | {mw / 1e3:.2f} s | {mw / mp:.3f} | {', '.join(map(str, wc))} | {mwc / 1e3:.2f} s |")
print(f"\n`#[stage]` adds **{(mw - mp) / n:.2f} ms per stage** (target ≤ 5 ms); CPU time {(mwc - mpc) / n:.2f} ms per stage.\n")
print(f"| proc-macro crate `stage-derive` alone (release, dependencies built) | {', '.join(map(str, d))} | {md / 1e3:.2f} s | | | |")
PY
