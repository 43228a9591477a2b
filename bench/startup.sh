#!/usr/bin/env bash
# Whole-process start-up: a host linking 10,000 generated stages against one linking none.
#
#   bench/startup.sh            (needs bench/gen-plugins.py 0 and 10000 built; RUNS=300)
#
# Each host, run as `host-N startup`, builds the global registry (StageRegistry::global())
# and exits. hyperfine (apt-get install hyperfine) runs both side by side without a shell;
# without it, a repeated-spawn timer in Python does. Also printed: what linking the stages
# adds to the binary, and the .init_array section of each binary (code run before `main`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/bench-gen/release"
runs=${RUNS:-300}
for n in 0 10000; do
    [ -x "$bin/host-$n" ] || { echo "missing $bin/host-$n: run bench/gen-plugins.py $n" >&2; exit 1; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "### Start-up: host with 10,000 stages vs host with none"
echo
if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 30 --runs "$runs" --export-json "$out/h.json" \
        "$bin/host-0 startup" "$bin/host-10000 startup" >/dev/null
    python3 - "$out/h.json" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"]
base = statistics.median(r[0]["times"])
print(f"hyperfine, {len(r[0]['times'])} runs each, process spawn to exit\n")
print("| host | median | IQR / median | ratio to host-0 |")
print("|---|---:|---:|---:|")
for x in r:
    t = sorted(x["times"]); m = statistics.median(t)
    q1, q3 = t[len(t) // 4], t[3 * len(t) // 4]
    print(f"| {x['command'].split('/')[-1]} | {m * 1e3:.3f} ms | {(q3 - q1) / m * 100:.1f} % | {m / base:.3f} |")
PY
else
    python3 - "$bin" "$runs" <<'PY'
import subprocess, sys, time, statistics
bin, runs = sys.argv[1], int(sys.argv[2])
times = {0: [], 10000: []}
for _ in range(runs):
    for n in times:
        t = time.perf_counter(); subprocess.run([f"{bin}/host-{n}", "startup"], check=True)
        times[n].append(time.perf_counter() - t)
base = statistics.median(times[0])
print(f"repeated spawn from Python, {runs} runs each, round-robin\n")
print("| host | median | ratio to host-0 |\n|---|---:|---:|")
for n, t in times.items():
    print(f"| host-{n} startup | {statistics.median(t) * 1e3:.3f} ms | {statistics.median(t) / base:.3f} |")
PY
fi
echo
python3 - "$bin" <<'PY'
import os, re, subprocess, sys
bin = sys.argv[1]
def sections(f):
    out = subprocess.run(["readelf", "-SW", f], capture_output=True, text=True, check=True).stdout
    found = {}
    for m in re.finditer(r"\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", out):
        found[m.group(1)] = int(m.group(2), 16)
    return found
def relocs(f):
    out = subprocess.run(["readelf", "-rW", f], capture_output=True, text=True, check=True).stdout
    return sum(int(m.group(1)) for m in re.finditer(r"contains (\d+) entr", out))
base = os.path.getsize(f"{bin}/host-0")
print("| binary | file size | link-time registry section | dynamic relocations | .init_array |")
print("|---|---:|---:|---:|---:|")
for n in (0, 10000):
    f = f"{bin}/host-{n}"
    s = sections(f)
    reg = s.get("linkme_STAGE_CORE_STAGE_REGISTRY", 0)
    size = os.path.getsize(f)
    per = f" ({reg // n} B/stage; file +{(size - base) // n} B/stage)" if n else ""
    print(f"| host-{n} | {size:,} B | {reg:,} B{per} | {relocs(f):,} | {s.get('.init_array', 0)} B |")
PY
