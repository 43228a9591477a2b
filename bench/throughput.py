#!/usr/bin/env python3
"""What `stagectl run` costs beyond its stages, in its real configuration (SQLite ledger,
journal, defaults): the host's share of instructions, the store on disk against tmpfs, and
the progress output's share of CPU.

    cargo build --release -p stagectl
    python3 bench/throughput.py                 # all three, 700 jobs (callgrind: 70)
    python3 bench/throughput.py --jobs 700 --runs 5 --callgrind-jobs 70

- **Host share** (valgrind's callgrind, `--concurrency 1`, so one thread's instructions):
  the instructions spent inside the stages' own code (the glue the `#[stage]` macro wrote,
  which calls the stage function, and everything the function calls: SQLite for `index`,
  the parser for `parse`...), against the process's total. Every call from `stage_core`'s
  runner into a function of the stages' crate is a stage call; its inclusive cost is the
  stage's. The rest (planning, the runner, the journal, the ledger, reading the batch,
  printing) is the host's.
- **Disk vs tmpfs**: the same batch with `--store` on the repository's disk (`target/`) and
  on `/dev/shm`, alternated, `--runs` each: medians of wall time.
- **Progress**: the same batch with `--quiet` and with the default output (stderr to a file:
  one plain line per job), alternated: medians of user + system CPU seconds.

Jobs are the bundled synthetic corpus's records, cycled (as `bench/scale.py`), embedded with
feature hashing (`STAGES_EMBEDDER=feature-hashing`).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
EXE = os.path.join(TARGET, "release", "stagectl")
PIPELINE = os.path.join(ROOT, "examples", "pipelines", "literature.yaml")
DATA = os.path.join(ROOT, "examples", "data")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import RECORDS  # noqa: E402  (the same jobs as the scale benchmark)


def batch(path, n):
    with open(path, "w") as f:
        for i in range(n):
            source, rid = RECORDS[i % len(RECORDS)]
            f.write(json.dumps({"job_id": f"j{i}", "source": source,
                                "adapter_request": {"data_dir": DATA, "id": rid}}) + "\n")


def cpu_of(args, stderr_path=None):
    """(wall s, user + system CPU s) of one run, CPU from /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        start = time.monotonic()
        with open(stderr_path or os.devnull, "w") as err:
            p = subprocess.run(["/usr/bin/time", "-o", t.name, "-f", "%U %S"] + args,
                               stdout=subprocess.PIPE, stderr=err, text=True)
        wall = time.monotonic() - start
        if p.returncode != 0:
            sys.exit(f"{args}: exit {p.returncode}\n{p.stdout[-2000:]}")
        user, system = map(float, t.read().split()[-2:])
    return wall, user + system, p.stdout


def med(xs):
    return statistics.median(xs)


def iqr(xs):
    if len(xs) < 4:
        return float("nan")
    q = statistics.quantiles(xs, n=4)
    return (q[2] - q[0]) / med(xs) * 100


def disk_vs_tmpfs(jobs_file, n, runs):
    print(f"### Store on disk vs tmpfs ({n:,} jobs, {runs} runs each, alternated)\n")
    walls = {"disk": [], "tmpfs": []}
    for _ in range(runs):
        for where, parent in (("disk", os.path.join(ROOT, "target")), ("tmpfs", "/dev/shm")):
            d = tempfile.mkdtemp(dir=parent, prefix="stagectl-bench-")
            try:
                wall, _, out = cpu_of([EXE, "run", PIPELINE, jobs_file, "--store", os.path.join(d, "store"), "--quiet"])
                assert f"{n} job(s): {n} completed" in out, out[-500:]
                walls[where].append(wall)
            finally:
                shutil.rmtree(d)
    base = med(walls["tmpfs"])
    print("| store | wall s (median) | IQR | ms / job | ratio to tmpfs |")
    print("|---|---:|---:|---:|---:|")
    for where in ("tmpfs", "disk"):
        m = med(walls[where])
        print(f"| {where} | {m:.2f} | {iqr(walls[where]):.0f} % | {m / n * 1000:.2f} | {m / base:.2f}× |")
    print()


def progress(jobs_file, n, runs):
    print(f"### Progress output's share of CPU ({n:,} jobs, {runs} runs each, alternated; stderr to a file)\n")
    cpu = {"quiet": [], "progress": []}
    with tempfile.TemporaryDirectory(dir=os.path.join(ROOT, "target")) as d:
        for i in range(runs):
            for how in ("quiet", "progress"):
                store = os.path.join(d, f"{how}{i}")
                args = [EXE, "run", PIPELINE, jobs_file, "--store", store] + (["--quiet"] if how == "quiet" else [])
                _, c, out = cpu_of(args, stderr_path=os.path.join(d, "stderr.txt"))
                assert f"{n} job(s): {n} completed" in out, out[-500:]
                cpu[how].append(c)
                shutil.rmtree(store)
        lines = sum(1 for _ in open(os.path.join(d, "stderr.txt")))
    q, p = med(cpu["quiet"]), med(cpu["progress"])
    print("| output | CPU s (median) | IQR | share of CPU |")
    print("|---|---:|---:|---:|")
    print(f"| `--quiet` | {q:.2f} | {iqr(cpu['quiet']):.0f} % | – |")
    print(f"| default (progress lines, {lines:,} lines on stderr) | {p:.2f} | {iqr(cpu['progress']):.0f} % "
          f"| {(p - q) / p * 100:.1f} % |")
    print()


def callgrind_costs(path):
    """Parses a callgrind output file: (total Ir, {(caller, callee): inclusive Ir of the calls})."""
    names, total, calls = {}, 0, {}
    fn = cfn = None
    pending_call = False

    def name(kind, rest):
        m = re.match(r"\((\d+)\)(?: (.*))?", rest)
        if not m:
            return rest
        if m.group(2) is not None:
            names[(kind, m.group(1))] = m.group(2)
        return names.get((kind, m.group(1)), m.group(1))

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("fn="):
                fn = name("fn", line[3:])
            elif line.startswith("cfn="):
                cfn = name("fn", line[4:])
            elif line.startswith("calls="):
                pending_call = True
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = max(total, int(line.split()[1]))
            elif line and (line[0].isdigit() or line[0] in "+-*"):
                parts = line.split()
                if pending_call:
                    if len(parts) > 1:
                        calls[(fn, cfn)] = calls.get((fn, cfn), 0) + int(parts[1])
                    pending_call = False
    return total, calls


def host_share(n):
    print(f"### Host share of instructions (callgrind, {n} jobs, `--concurrency 1`, `--quiet`)\n")
    if not shutil.which("valgrind"):
        sys.exit("valgrind is needed for the host share (apt install valgrind)")
    with tempfile.TemporaryDirectory(dir=os.path.join(ROOT, "target")) as d:
        jobs_file = os.path.join(d, "jobs.jsonl")
        batch(jobs_file, n)
        out = os.path.join(d, "callgrind.out")
        p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                            EXE, "run", PIPELINE, jobs_file, "--store", os.path.join(d, "store"),
                            "--quiet", "--concurrency", "1"], capture_output=True, text=True)
        if p.returncode != 0 or f"{n} job(s): {n} completed" not in p.stdout:
            sys.exit(f"callgrind run failed: exit {p.returncode}\n{p.stdout[-1000:]}\n{p.stderr[-2000:]}")
        total, calls = callgrind_costs(out)
    host_report(total, calls)


def host_report(total, calls):
    """Prints the host share from a parsed callgrind profile."""
    # The stage functions: what the glue the macro wrote (`stage_core::__private::call*`)
    # calls, but for the glue's own conversions (stage_core's) and allocation.
    def glue(f):
        return f.startswith("stage_core::__private::call")

    def framework(f):
        return " as stage_core::" in f or f.startswith(("stage_core::", "<stage_core::", "alloc::", "core::", "<alloc::", "<core::", "__rust", "malloc", "free"))

    per_stage = {}
    for (caller, callee), ir in calls.items():
        if glue(caller or "") and not glue(callee or "") and not framework(callee or ""):
            per_stage[callee] = per_stage.get(callee, 0) + ir
    stages = sum(per_stage.values())

    def inclusive(pattern):
        return sum(ir for (caller, callee), ir in calls.items()
                   if re.search(pattern, callee or "") and not re.search(pattern, caller or ""))

    boundary = inclusive(r"^stage_core::run::attempt::CallRef::invoke$")
    host = total - stages
    print("| what | instructions | share |")
    print("|---|---:|---:|")
    print(f"| whole process | {total:,} | 100 % |")
    print(f"| the stage functions (what the `#[stage]` glue calls, and all they call) | {stages:,} | {stages / total * 100:.1f} % |")
    print(f"| **the host** (everything else) | {host:,} | **{host / total * 100:.1f} %** |")
    parts = [
        ("the call boundary: inputs handed over, context, panic guard, glue (`CallRef::invoke` less the stage functions)", boundary - stages),
        ("journal: one append per stage (`Journal as Checkpoint`)", inclusive(r"as stage_core::run::Checkpoint>::checkpoint$")),
        ("  of which encoding the outputs (MessagePack, LZ4)", inclusive(r"^stagectl::journal::encode$")),
        ("ledger: the stage's metrics (`SqliteLedger::set_many`)", inclusive(r"SqliteLedger as stage_core::context::Ledger>::set_many$")),
        ("opening the stores as resources (`Store as Resource>::create`)", inclusive(r"as stage_core::metadata::Resource>::create$")),
    ]
    for what, ir in parts:
        print(f"| {'&nbsp;&nbsp;' if what.startswith('  ') else ''}host: {what.strip()} | {ir:,} | {ir / total * 100:.1f} % |")
    print()
    print("Stage functions counted (callee of the glue: inclusive instructions):\n")
    for callee, ir in sorted(per_stage.items(), key=lambda kv: -kv[1])[:14]:
        print(f"- `{callee[:110]}`: {ir:,}")
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=700)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--callgrind-jobs", type=int, default=70)
    ap.add_argument("--only", choices=["host", "disk", "progress"], nargs="*")
    a = ap.parse_args()
    if not os.path.exists(EXE):
        sys.exit("build it first: cargo build --release -p stagectl")
    os.environ["STAGES_EMBEDDER"] = "feature-hashing"
    print(f"load before: {open('/proc/loadavg').read().split()[:3]}\n")
    only = set(a.only or ["host", "disk", "progress"])
    with tempfile.TemporaryDirectory(dir=os.path.join(ROOT, "target")) as d:
        jobs_file = os.path.join(d, "jobs.jsonl")
        batch(jobs_file, a.jobs)
        if "host" in only:
            host_share(a.callgrind_jobs)
        if "disk" in only:
            disk_vs_tmpfs(jobs_file, a.jobs, a.runs)
        if "progress" in only:
            progress(jobs_file, a.jobs, a.runs)


if __name__ == "__main__":
    main()
