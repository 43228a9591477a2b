#!/usr/bin/env python3
"""How `stagectl query similar` and `query text` grow with the store: 3,600 / 36,000 / 360,000 chunks.

Builds synthetic stores with the release example `search_store` (through the index's own API,
not the pipeline: feature-hashing vectors, 256 dimensions, one job per 100 chunks; then the ANN
index is brought up to date as the `index` stage does), then times the release `stagectl` as a
user runs it (a process per query, store on disk, page cache warm): median and interquartile
range of --runs runs. Also: `similar` with the ANN index moved aside (brute force, to show the
cross-over), and the index's recall@10 against brute force.

    cargo build --release -p stagectl -p stages-builtin --example search_store
    python3 bench/search.py                       # 3,600 / 36,000 / 360,000 chunks
    python3 bench/search.py --sizes 3600 36000 --runs 21

Binaries are taken from $CARGO_TARGET_DIR (default: target/). Stores are written under
target/ and removed afterwards (the 360,000-chunk store is about 1.5 GB with its index).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
EXE = os.path.join(TARGET, "release", "stagectl")
BUILDER = os.path.join(TARGET, "release", "examples", "search_store")


def run(args):
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{args}: exit {p.returncode}\n{p.stderr[-2000:]}")
    return p.stdout


def timed(args, runs):
    """Wall milliseconds of `runs` runs of a command (after one warm-up): (median, q1, q3)."""
    run(args)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run(args)
        times.append((time.perf_counter() - start) * 1000)
    q = statistics.quantiles(times, n=4)
    return statistics.median(times), q[0], q[2]


def fmt(t, base):
    med, q1, q3 = t
    ratio = f" ({med / base[0]:.1f}×)" if base else ""
    return f"{med:.1f} [{q1:.1f}–{q3:.1f}]{ratio}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[3600, 36000, 360000])
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--recall-queries", type=int, default=100)
    a = ap.parse_args()
    for exe in (EXE, BUILDER):
        if not os.path.exists(exe):
            sys.exit(f"{exe} is missing: cargo build --release -p stagectl -p stages-builtin --example search_store")

    print("### Search (release `stagectl`, a process per query, feature hashing 256-d)\n")
    print(f"Median [interquartile range] of {a.runs} runs, in ms; (×) against the smallest store.\n")
    print("| chunks | build s (index + ANN) | `similar` | `similar`, brute force | `text`, common word | "
          "`text`, rare words | recall@10: by id / by score | ANN / brute force in process, ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = {}
    for n in a.sizes:
        with tempfile.TemporaryDirectory(dir=os.path.join(ROOT, "target")) as d:
            store = os.path.join(d, "store")
            built = json.loads(run([BUILDER, "build", store, str(n)]))
            w = built["words"]
            similar = [EXE, "query", "similar", f"{w[1]} {w[2]} {w[0]}", "--limit", "10", "--store", store]
            common = [EXE, "query", "text", f"{w[0]}", "--limit", "10", "--store", store]
            rare = [EXE, "query", "text", f"{w[2]} {w[1]}", "--limit", "10", "--store", store]
            t_similar = timed(similar, a.runs)
            t_common = timed(common, a.runs)
            t_rare = timed(rare, a.runs)
            recall = json.loads(run([BUILDER, "recall", store, str(a.recall_queries)]))
            meta = os.path.join(store, "store.ann.json")
            if os.path.exists(meta):
                os.rename(meta, meta + ".aside")
                t_brute = timed(similar, a.runs)
                os.rename(meta + ".aside", meta)
            else:
                t_brute = t_similar
            base = base or {"s": t_similar, "b": t_brute, "c": t_common, "r": t_rare}
            first = base["s"] is t_similar
            ann = "ANN" if os.path.exists(meta) else "brute force"
            print(f"| {n:,} ({ann}) | {built['index_s'] + built['ann_s']:.1f} ({built['ann_s']:.1f}) "
                  f"| {fmt(t_similar, None if first else base['s'])} "
                  f"| {fmt(t_brute, None if first else base['b'])} "
                  f"| {fmt(t_common, None if first else base['c'])} "
                  f"| {fmt(t_rare, None if first else base['r'])} "
                  f"| {recall['recall_at_10']:.3f} / {recall.get('recall_at_10_by_score', float('nan')):.3f} "
                  f"| {recall['search_ms']:.2f} / {recall['brute_force_ms']:.2f} |", flush=True)
            shutil.rmtree(store, ignore_errors=True)
    print()


if __name__ == "__main__":
    main()
