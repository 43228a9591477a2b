#!/usr/bin/env python3
"""The embedding model's speed: chunks per second, and the `embed` stage's share of the main job.

1. `embed_throughput` (stages-builtin example, release): all-MiniLM-L6-v2 over the bundled
   corpus's chunks at batch sizes 1 / 8 / 32, with 1 and 2 threads (RAYON_NUM_THREADS).
2. The README's main job (examples/pipelines/literature.yaml over examples/jobs/corpus.jsonl,
   release `stagectl`, store on disk) with the model and with feature hashing: wall time and
   the `embed` stage's share of the stages' time (sum of `duration_ms` from `--json`).

    cargo build --release -p stagectl -p stages-builtin --bins --examples && scripts/fetch-model
    python3 bench/embed.py
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXE = os.path.join(ROOT, "target", "release", "stagectl")
THROUGHPUT = os.path.join(ROOT, "target", "release", "examples", "embed_throughput")
PIPELINE = os.path.join(ROOT, "examples", "pipelines", "literature.yaml")


def throughput():
    print("| threads | batch 1 chunks/s | batch 8 chunks/s | batch 32 chunks/s |")
    print("|---:|---:|---:|---:|")
    for threads in ("1", "2"):
        env = dict(os.environ, RAYON_NUM_THREADS=threads)
        p = subprocess.run([THROUGHPUT, "1", "8", "32"], env=env, capture_output=True, text=True, cwd=ROOT)
        if p.returncode != 0:
            sys.exit(f"embed_throughput failed: {p.stderr[-2000:]}")
        rates = []
        for line in p.stdout.splitlines():
            words = line.split()
            if "chunks/s" in words:
                rates.append(words[words.index("chunks/s") - 1])
        print(f"| {threads} | " + " | ".join(rates) + " |")
    print()
    print("```text")
    print(p.stdout.strip())
    print("```")


def main_job(jobs, hashing, runs=3):
    env = dict(os.environ)
    env.pop("STAGES_EMBEDDER", None)
    if hashing:
        env["STAGES_EMBEDDER"] = "feature-hashing"
    walls, shares, model = [], [], None
    for _ in range(runs):
        store = tempfile.mkdtemp(dir=os.path.join(ROOT, "target"))
        start = time.monotonic()
        p = subprocess.run([EXE, "run", PIPELINE, jobs, "--store", store, "--json", "--quiet"],
                           env=env, capture_output=True, text=True, cwd=ROOT)
        walls.append(time.monotonic() - start)
        shutil.rmtree(store, ignore_errors=True)
        if p.returncode != 0:
            sys.exit(f"main job failed: {p.stderr[-2000:]}")
        total = embed = 0
        for line in p.stdout.splitlines():
            report = json.loads(line)
            for stage in report["stages"]:
                total += stage["duration_ms"]
                if stage["type"] == "embed":
                    embed += stage["duration_ms"]
            for key, value in report.get("results", {}).items():
                if isinstance(value, dict) and "model" in value:
                    model = value["model"]
        shares.append(embed / total if total else 0.0)
    walls.sort()
    shares.sort()
    return walls[len(walls) // 2], shares[len(shares) // 2], model


def main():
    for exe in (EXE, THROUGHPUT):
        if not os.path.exists(exe):
            sys.exit(f"build first: {exe} is missing (see this script's docstring)")
    print("### all-MiniLM-L6-v2 throughput (release, bundled corpus chunks)\n")
    throughput()
    print("\n### The main job: the embed stage's share (release, median of 3)\n")
    print("| embedder | wall s | embed share of stage time |")
    print("|---|---:|---:|")
    jobs = os.path.join(ROOT, "examples", "jobs", "corpus.jsonl")
    for hashing in (False, True):
        wall, share, _ = main_job(jobs, hashing)
        name = "feature hashing" if hashing else "all-MiniLM-L6-v2"
        print(f"| {name} | {wall:.2f} | {share * 100:.1f} % |")


if __name__ == "__main__":
    main()
