#!/usr/bin/env bash
# Peak resident memory of the main job (README: `stagectl run literature.yaml corpus.jsonl`),
# release build, fresh store each run, against the same binary doing almost nothing
# (`stagectl list`); GNU time's "Maximum resident set size", median of RUNS=5.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
runs=${RUNS:-5}
cargo build --release -q -p stagectl
bin="$root/target/release/stagectl"
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rss() { /usr/bin/time -f '%M %e' -o "$tmp/t" "$@" >/dev/null 2>&1; cat "$tmp/t"; }
declare -a job list secs
for ((r = 0; r < runs; r++)); do
    read -r kb s < <(rss "$bin" run examples/pipelines/literature.yaml examples/jobs/corpus.jsonl --store "$tmp/store-$r" --quiet)
    job+=("$kb"); secs+=("$s")
    read -r kb _ < <(rss "$bin" list)
    list+=("$kb")
done
python3 - "${job[*]}" "${list[*]}" "${secs[*]}" <<'PY'
import statistics, sys
job, lst, secs = ([float(x) for x in a.split()] for a in sys.argv[1:4])
mj, ml = statistics.median(job), statistics.median(lst)
print(f"### Peak resident memory (median of {len(job)} runs)\n")
print("| process | max RSS | ratio to `stagectl list` |")
print("|---|---:|---:|")
print(f"| `stagectl list` (start-up, registry, listing) | {ml / 1024:.1f} MiB | 1.000 |")
print(f"| main job: `stagectl run literature.yaml corpus.jsonl` (7 jobs, fresh store) | {mj / 1024:.1f} MiB | {mj / ml:.2f} |")
print(f"\n(main job wall time, median: {statistics.median(secs):.2f} s, process included)")
PY
