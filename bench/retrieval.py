#!/usr/bin/env python3
"""Retrieval quality on real records: recall@5 and MRR@10 of four ways to search.

Indexes the repository's real public records (examples/real-records, through the README
pipeline examples/pipelines/literature.yaml and examples/jobs/real-records.jsonl) twice with the
release `stagectl`: once with the feature-hashing embedder, once with all-MiniLM-L6-v2 (its
weights must be in the default cache: `scripts/fetch-model`). Then it asks every query of
examples/retrieval/queries.jsonl (written for this project before any search was run on them:
nobody tuned to them) as a user would, through `stagectl query ... --json`:

- `hashing`: `query similar` on the feature-hashing store;
- `model`:   `query similar` on the model's store;
- `bm25`:    `query text` (SQLite FTS5, bm25; the same index in either store);
- `hybrid`:  `query hybrid` on the model's store (reciprocal-rank fusion of the two above).

Relevance is per document: a query lists the records that answer it. A ranking of chunks
becomes a ranking of documents by each document's best chunk. recall@5 is the share of a
query's relevant documents among the first 5 documents; MRR@10 is 1 / the place of the first
relevant document within the first 10 (0 when none is). Both are averaged over the queries.

    cargo build --release -p stagectl && scripts/fetch-model
    python3 bench/retrieval.py              # the table
    python3 bench/retrieval.py --misses     # and each query whose first relevant document is not first
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXE = os.path.join(ROOT, "target", "release", "stagectl")
PIPELINE = os.path.join(ROOT, "examples", "pipelines", "literature.yaml")
JOBS = os.path.join(ROOT, "examples", "jobs", "real-records.jsonl")
QUERIES = os.path.join(ROOT, "examples", "retrieval", "queries.jsonl")
DEPTH = 100  # chunks asked for per query: enough for 10 distinct documents


def build(store, hashing):
    shutil.rmtree(store, ignore_errors=True)
    env = dict(os.environ)
    env.pop("STAGES_EMBEDDER", None)
    if hashing:
        env["STAGES_EMBEDDER"] = "feature-hashing"
    start = time.monotonic()
    p = subprocess.run([EXE, "run", PIPELINE, JOBS, "--store", store, "--quiet"], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"indexing into {store} failed (exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return time.monotonic() - start


def ask(store, command, query):
    p = subprocess.run([EXE, "query", command, query, "--limit", str(DEPTH), "--store", store, "--json"],
                       cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"query {command} {query!r} failed (exit {p.returncode}): {p.stderr[-2000:]}")
    docs = []
    for hit in json.loads(p.stdout):
        if hit["doc_id"] not in docs:
            docs.append(hit["doc_id"])
    return docs


def scores(docs, relevant):
    recall = len(set(docs[:5]) & relevant) / len(relevant)
    first = next((i + 1 for i, d in enumerate(docs[:10]) if d in relevant), None)
    return recall, (1.0 / first if first else 0.0), first


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--misses", action="store_true", help="print the queries each method ranks imperfectly")
    ap.add_argument("--keep", default=os.path.join(ROOT, "target", "retrieval"), help="where the stores go")
    args = ap.parse_args()
    if not os.path.exists(EXE):
        sys.exit("build first: cargo build --release -p stagectl")
    queries = [json.loads(line) for line in open(QUERIES) if line.strip()]
    hashing_store = os.path.join(args.keep, "hashing")
    model_store = os.path.join(args.keep, "model")
    t_hashing = build(hashing_store, True)
    t_model = build(model_store, False)
    stats = subprocess.run([EXE, "query", "stats", "--store", model_store, "--json"], capture_output=True, text=True)
    chunks = json.loads(stats.stdout)["chunks"]
    methods = [
        ("feature hashing (`query similar`, hashing store)", hashing_store, "similar"),
        ("all-MiniLM-L6-v2 (`query similar`)", model_store, "similar"),
        ("BM25 (`query text`, FTS5)", model_store, "text"),
        ("hybrid: RRF of model + BM25 (`query hybrid`)", model_store, "hybrid"),
    ]
    print(f"{len(queries)} queries over {chunks} chunks of "
          f"{len({d for q in queries for d in q['relevant']})} relevant documents; "
          f"indexing: hashing {t_hashing:.1f} s, model {t_model:.1f} s (release)\n")
    print("| method | recall@5 | MRR@10 | first relevant document 1st | not in top 10 |")
    print("|---|---:|---:|---:|---:|")
    misses = []
    for name, store, command in methods:
        total_r = total_m = 0.0
        firsts = nones = 0
        for q in queries:
            docs = ask(store, command, q["query"])
            r, m, first = scores(docs, set(q["relevant"]))
            total_r += r
            total_m += m
            firsts += first == 1
            nones += first is None
            if first != 1:
                misses.append((name, q["query"], first, docs[:3]))
        n = len(queries)
        print(f"| {name} | {total_r / n:.3f} | {total_m / n:.3f} | {firsts} / {n} | {nones} |")
    if args.misses:
        print()
        for name, query, first, top in misses:
            print(f"- {name}: {query!r}: first relevant at {first}; top: {', '.join(top)}")


if __name__ == "__main__":
    main()
