"""Time each alignment metric (prepare source + prepare target + alignment + CI) on real data.

    CURATE_DATA_HOME=../shared/data HF_HUB_OFFLINE=1 python benchmarks/metrics_speed.py \
        --source gsm8k --target math --n 1000

Embeddings are recomputed (no cache). Task2Vec is timed only when `curate.metrics.task2vec` imports,
with its own default config (its sample size is in batches, not examples).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import time

from curate import load, metrics


def uptime() -> str:
    try:
        return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def options(name: str, n: int) -> dict:
    return {"gzip": {"n_examples": n}, "ngram": {"n_examples": n},
            "embed": {"n_examples": n, "use_cache": False}}.get(name, {"use_cache": False})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="gsm8k")
    ap.add_argument("--target", default="math")
    ap.add_argument("--n", type=int, default=1000, help="examples sampled per dataset")
    ap.add_argument("--metrics", default="gzip,ngram,embed,task2vec")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    src_ds, tgt_ds = load.load_source(args.source), load.load_source(args.target)
    load.fingerprint(src_ds), load.fingerprint(tgt_ds)  # warm the loaders: not part of any metric
    print(f"{platform.node()} {platform.processor() or platform.machine()} cpus={os.cpu_count()} {uptime()}")
    print(f"{args.source} ({len(src_ds)} records) vs {args.target} ({len(tgt_ds)} records), n={args.n}\n")
    rows = []
    for name in [m.strip() for m in args.metrics.split(",") if m.strip()]:
        if name == "task2vec" and importlib.util.find_spec("curate.metrics.task2vec") is None:
            print("task2vec: skipped (curate.metrics.task2vec is not importable yet)")
            continue
        m = metrics.metric_class(name).from_options({**options(name, args.n), "seed": args.seed})
        t0 = time.perf_counter()
        s = m.prepare(args.source, src_ds, args.seed)
        t = m.prepare(args.target, tgt_ds, args.seed)
        t1 = time.perf_counter()
        a = m.alignment(s, t)
        t2 = time.perf_counter()
        rows.append((name, s.used, t.used, t1 - t0, t2 - t1, t2 - t0, a))
        print(f"{name}: done in {t2 - t0:.2f} s ({uptime()})", flush=True)

    print(f"\n| metric | examples (src × tgt) | prepare s | alignment+CI s | total s | alignment [95% CI] |")
    print("|---|---|---:|---:|---:|---|")
    for name, ns, nt, tp, ta, tt, a in rows:
        print(f"| {name} | {ns} × {nt} | {tp:.2f} | {ta:.2f} | {tt:.2f} | "
              f"{a.value:.4f} [{a.ci_low:.4f}, {a.ci_high:.4f}] (n={a.n}) |")
    print(f"\n{uptime()}")


if __name__ == "__main__":
    main()
