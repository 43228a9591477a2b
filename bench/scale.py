#!/usr/bin/env python3
"""How the host's cost grows with the work: jobs, chained stages, document size.

Runs the release `stagectl` as a user would (store on disk, default settings, `--quiet`) and
prints Markdown tables with wall time, time per unit, peak RSS (from /usr/bin/time) and the
ratios the targets of BENCHMARKS.md ("Scale") are stated in.

    cargo build --release -p stagectl
    python3 bench/scale.py                 # jobs 700 / 7,000; chains; documents
    python3 bench/scale.py --jobs 700 7000 70000

Jobs are the bundled synthetic corpus's 13 records, each job one record by id, cycled.
Chains: `ingest -> parse -> N x ir-validation` (each stage reads and writes `document`).
Documents: one `file` record of N sections of 4 paragraphs, through the README pipeline.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXE = os.path.join(ROOT, "target", "release", "stagectl")
PIPELINE = os.path.join(ROOT, "examples", "pipelines", "literature.yaml")
DATA = os.path.join(ROOT, "examples", "data")

RECORDS = [
    ("clinicaltrials", "NCT90000001"), ("clinicaltrials", "NCT90000002"), ("clinicaltrials", "NCT90000003"),
    ("openalex", "W9000000001"), ("openalex", "W9000000002"), ("openalex", "W9000000003"),
    ("pmc", "PMC9000001"), ("pmc", "PMC9000002"),
    ("semantic-scholar", "5ynth0000000000000000000000000000000000a"),
    ("semantic-scholar", "5ynth0000000000000000000000000000000000b"),
]


def timed(args, cwd=ROOT):
    """Runs a command under /usr/bin/time: (wall seconds, peak RSS in MB, stdout)."""
    start = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "RSS %M"] + args, cwd=cwd, capture_output=True, text=True)
    wall = time.monotonic() - start
    if p.returncode not in (0, 1):
        sys.exit(f"{args}: exit {p.returncode}\n{p.stderr[-2000:]}")
    rss = int(re.findall(r"RSS (\d+)", p.stderr)[-1]) / 1024
    return wall, rss, p.stdout


def jobs(ns):
    print("### Jobs (README pipeline, store on disk)\n")
    print("| jobs | wall s | ms / job | peak RSS MB | journal KB / job | store KB / job |")
    print("|---:|---:|---:|---:|---:|---:|")
    base = None
    for n in ns:
        with tempfile.TemporaryDirectory(dir=os.path.join(ROOT, "target")) as d:
            path = os.path.join(d, "jobs.jsonl")
            with open(path, "w") as f:
                for i in range(n):
                    source, rid = RECORDS[i % len(RECORDS)]
                    f.write(json.dumps({"job_id": f"j{i}", "source": source,
                                        "adapter_request": {"data_dir": DATA, "id": rid}}) + "\n")
            store = os.path.join(d, "store")
            wall, rss, out = timed([EXE, "run", PIPELINE, path, "--store", store, "--quiet"])
            assert f"{n} job(s): {n} completed" in out, out[-500:]
            journal = os.path.getsize(os.path.join(store, "journal.sqlite"))
            total = sum(os.path.getsize(os.path.join(store, x)) for x in os.listdir(store)
                        if os.path.isfile(os.path.join(store, x)))
            per = wall / n * 1000
            base = base or (per, rss)
            print(f"| {n:,} | {wall:.1f} | {per:.2f} ({per / base[0]:.2f}×) | {rss:.0f} ({rss / base[1]:.2f}×) "
                  f"| {journal / n / 1024:.1f} | {total / n / 1024:.1f} |")
    print()


def chain_file(d, n):
    lines = ["name: chain", "version: 2026-12-05", "stages:", "  - name: ingest", "    type: ingest",
             "  - name: parse", "    type: parse", "    depends_on: [ingest]"]
    prev = "parse"
    for i in range(n):
        lines += [f"  - name: v{i}", "    type: ir-validation", f"    depends_on: [{prev}]"]
        prev = f"v{i}"
    path = os.path.join(d, f"chain{n}.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def chains(validate_ns, run_ns):
    print("### Chains (`ingest -> parse -> N x ir-validation`)\n")
    print("| stages | validate s | validate peak RSS MB | run s (one job) | run peak RSS MB |")
    print("|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(dir=os.path.join(ROOT, "target")) as d:
        for n in sorted(set(validate_ns) | set(run_ns)):
            path = chain_file(d, n)
            vw, vr, _ = timed([EXE, "validate", path])
            row = f"| {n:,} | {vw:.2f} | {vr:.0f} |"
            if n in run_ns:
                job = json.dumps({"job_id": "c", "source": "pmc", "adapter_request": {"data_dir": DATA, "id": "PMC9000001"}})
                rw, rr, out = timed([EXE, "run", path, job, "--store", os.path.join(d, f"s{n}"), "--quiet"])
                assert "1 completed" in out, out[-800:]
                row += f" {rw:.2f} | {rr:.0f} |"
            else:
                row += " | |"
            print(row)
    print()


def documents(ns):
    print("### Document size (README pipeline, one `file` record of N sections x 4 paragraphs)\n")
    print("| sections | source KB | wall s | journal KB | journal / source |")
    print("|---:|---:|---:|---:|---:|")
    para = ("Metformin reduces HbA1c in adults with type 2 diabetes, and aspirin inhibits COX-2 in "
            "platelets; patients on statins saw LDL cholesterol fall by a third over a year. ")
    for n in ns:
        with tempfile.TemporaryDirectory(dir=os.path.join(ROOT, "target")) as d:
            os.makedirs(os.path.join(d, "data", "file"))
            rec = {"id": "big", "title": f"A document of {n} sections",
                   "sections": [{"title": f"Section {i}", "paragraphs": [f"{para} ({i}.{k})" for k in range(4)]}
                                for i in range(n)]}
            src = os.path.join(d, "data", "file", "big.json")
            with open(src, "w") as f:
                json.dump(rec, f)
            job = json.dumps({"job_id": "big", "source": "file",
                              "adapter_request": {"data_dir": os.path.join(d, "data"), "path": "file/big.json"}})
            store = os.path.join(d, "store")
            wall, _, out = timed([EXE, "run", PIPELINE, job, "--store", store, "--quiet"])
            assert "1 completed" in out, out[-800:]
            src_kb = os.path.getsize(src) / 1024
            j_kb = os.path.getsize(os.path.join(store, "journal.sqlite")) / 1024
            print(f"| {n:,} | {src_kb:.0f} | {wall:.2f} | {j_kb:.0f} | {j_kb / src_kb:.1f}× |")
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, nargs="*", default=[700, 7000])
    ap.add_argument("--validate", type=int, nargs="*", default=[250, 1000, 2000, 8000, 20000])
    ap.add_argument("--run", type=int, nargs="*", default=[250, 1000])
    ap.add_argument("--sections", type=int, nargs="*", default=[100, 1000])
    a = ap.parse_args()
    if not os.path.exists(EXE):
        sys.exit("build it first: cargo build --release -p stagectl")
    os.environ.setdefault("STAGES_EMBEDDER", "feature-hashing")
    print(f"load before: {open('/proc/loadavg').read().split()[:3]}\n")
    if a.jobs:
        jobs(a.jobs)
    chains(a.validate, a.run)
    if a.sections:
        documents(a.sections)


if __name__ == "__main__":
    main()
