"""`curate rank` on a source too large to hold (issue 12 item 5): memory and time of the streamed
facts and seeded batches against loading the source whole, and whether they agree.

    python benchmarks/rank_stream.py --work DIR [--records N] [--from proofnet]

Writes DIR/data/big/data.jsonl: N records cycled from a real source's records (ids made unique,
a counter appended to each text so no two are equal), registers it as source `big` in the cache
DIR/cache, then runs, each in a fresh interpreter with its peak RSS:

    streamed  `artefacts.facts("big")` (the probe's tokenizer; exact count and fingerprint, tokens
              exact up to SAMPLE_ABOVE records or a labelled estimate) and the rows of the default
              task2vec batch plan (4 × 32, seed 0) through `LazySource.select` — a second pass
    whole     `load.load_with_report("big")` (what holding it takes), its fingerprint, the same rows

and prints a markdown table, whether fingerprint, record count and drawn rows agree, the machine's
load (`uptime`) and a `ratios:` line. Nothing under CURATE_DATA_HOME is written.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import hashlib, json, resource, sys, time
sys.path.insert(0, {root!r})
from curate import artefacts, batching, load
mode = sys.argv[1]
t0 = time.perf_counter()
if mode == "streamed":
    f = artefacts.facts("big")
    t1 = time.perf_counter()
    plan = batching.draw(f.records, 4, 32, 0)
    rows = artefacts.LazySource("big", f).select([r for b in plan.rows for r in b])
    out = {{"records": f.records, "fingerprint": f.fingerprint, "tokens": f.tokens, "estimated": f.tokens_estimated,
           "streamed": f.streamed, "facts_s": t1 - t0}}
else:
    ds = load.load_with_report("big")[0]
    t1 = time.perf_counter()
    plan = batching.draw(len(ds), 4, 32, 0)
    rows = ds.select([r for b in plan.rows for r in b])
    out = {{"records": len(ds), "fingerprint": load.fingerprint(ds), "facts_s": t1 - t0}}
out["rows_sha"] = hashlib.sha256("\0".join(load.texts(rows)).encode()).hexdigest()[:16]
out["wall_s"] = time.perf_counter() - t0
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps(out))
"""


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime unavailable"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--from", dest="origin", default="proofnet")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    cache = args.work / "cache"
    models = cache / "models"
    models.mkdir(parents=True, exist_ok=True)
    probe_src = Path(os.environ.get("CURATE_CACHE", ROOT / ".cache" / "test")) / "models" / "smollm2"
    if not (models / "smollm2").exists() and probe_src.exists():
        (models / "smollm2").symlink_to(probe_src.resolve())
    os.environ["CURATE_CACHE"] = str(cache)
    sys.path.insert(0, str(ROOT))
    from curate import catalog, load
    from curate.catalog import SourceSpec

    print(f"# {os.uname().nodename}, {os.cpu_count()} CPUs; {uptime()}")
    folder = args.work / "data" / "big"
    path = folder / "data.jsonl"
    if not path.exists() or sum(1 for _ in open(path)) != args.records:
        folder.mkdir(parents=True, exist_ok=True)
        base = list(load.load_source(args.origin))
        with open(path, "w") as fh:
            for i in range(args.records):
                r = base[i % len(base)]
                fh.write(json.dumps({"id": f"big{i}", "informal": f"{r['informal'] or ''} ({i})",
                                     "formal": r["formal"] or ""}) + "\n")
    catalog.register(SourceSpec(name="big", kind="pair", license="MIT", path=str(folder), formal_lang="lean4",
                                fields={"id": "id", "informal": "informal", "formal": "formal"}))
    print(f"source: {args.records:,} records cycled from {args.origin}, {path.stat().st_size / 2**20:.0f} MiB jsonl")
    res = {}
    for mode in ("streamed", "whole"):
        import shutil

        shutil.rmtree(cache / "sources", ignore_errors=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), mode], capture_output=True,
                              text=True, env=os.environ.copy())
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode or not line:
            print(f"{mode}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
            return 1
        res[mode] = json.loads(line[0][7:])
        res[mode]["process_s"] = time.perf_counter() - t0
    s, w = res["streamed"], res["whole"]
    print("\n| mode | wall (process) | reading/facts | peak RSS | records | tokens |\n|---|---:|---:|---:|---:|---:|")
    print(f"| streamed (facts + batches, 2 passes) | {s['process_s']:.1f} s | {s['facts_s']:.1f} s | "
          f"{s['peak_rss_mb']:.0f} MB | {s['records']:,} | {s['tokens']:,}{' (estimated)' if s['estimated'] else ''} |")
    print(f"| whole (load_with_report) | {w['process_s']:.1f} s | {w['facts_s']:.1f} s | {w['peak_rss_mb']:.0f} MB | "
          f"{w['records']:,} | — |")
    same = {k: s[k] == w[k] for k in ("records", "fingerprint", "rows_sha")}
    print(f"\nstreamed == whole: {same}; streamed source: {s['streamed']}")
    print(f"ratios: peak RSS streamed/whole {s['peak_rss_mb'] / w['peak_rss_mb']:.3f}, "
          f"wall streamed/whole {s['process_s'] / w['process_s']:.2f}; {uptime()}")
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
