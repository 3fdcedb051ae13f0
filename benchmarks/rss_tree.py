"""Where a `curate mix` process tree's memory is: per process RSS, PSS and USS, sampled while it runs.

`benchmarks/scale.py` sums the RSS of the driver and its workers; forked workers share the driver's pages
(imports, tokenizer, decontamination index) copy-on-write, so that sum counts shared pages once per
process. This runs one `scale.py --child` mix (same config fields) and samples every process of its tree
every `--every` s with `/proc/<pid>/smaps_rollup` (psutil `memory_full_info`): peak RSS sum (scale.py's
"tree"), peak PSS sum (shared pages split between the processes that map them: what the tree really
holds) and peak USS per process (pages only that process holds).

    flock /tmp/curate-heavy.lock nice -n 5 python benchmarks/rss_tree.py --corpus /tmp/curate-scale/corpus-100000 \
        --config local:2:8 --work /tmp/memdev/rss2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import scale  # noqa: E402  (the mix child, its process-tree sampler and the output hashes)


def main() -> None:
    import psutil

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, help="a corpus made by benchmarks/scale.py (read only)")
    ap.add_argument("--config", default="local:2:8", help="engine:workers:shards, as scale.py --configs")
    ap.add_argument("--work", required=True, help="cache and output folder (never the corpus, never the repo)")
    ap.add_argument("--budget", type=int, default=2_000_000)
    ap.add_argument("--every", type=float, default=0.2, help="seconds between samples")
    args = ap.parse_args()

    from curate import probe as probe_mod

    corpus, work = Path(args.corpus), Path(args.work)
    counts = json.loads((corpus / "planted.json").read_text())["counts"]  # written by scale.py's make_corpus
    engine, workers, shards = args.config.split(":")
    spec = {"cache": str(work / "cache"), "corpus": str(corpus), "out": str(work / "out"),
            "probe": probe_mod.resolve("smollm2"), "engine": engine, "workers": int(workers), "budget": args.budget,
            "shard_records": math.ceil(max(counts.values()) / int(shards))}
    peak = {"rss_sum": 0, "pss_sum": 0, "uss_sum": 0, "driver_rss": 0, "driver_uss": 0, "worker_rss": 0,
            "worker_uss": 0, "worker_pss": 0, "samples": 0}
    load0 = os.getloadavg()

    def sample(p, procs):
        rss = pss = uss = 0
        for k in procs:
            try:
                m = k.memory_full_info()
            except psutil.Error:
                continue
            rss, pss, uss = rss + m.rss, pss + m.pss, uss + m.uss
            if k is p:
                peak["driver_rss"] = max(peak["driver_rss"], m.rss)
                peak["driver_uss"] = max(peak["driver_uss"], m.uss)
            else:
                peak["worker_rss"] = max(peak["worker_rss"], m.rss)
                peak["worker_uss"] = max(peak["worker_uss"], m.uss)
                peak["worker_pss"] = max(peak["worker_pss"], m.pss)
        peak["rss_sum"], peak["pss_sum"] = max(peak["rss_sum"], rss), max(peak["pss_sum"], pss)
        peak["uss_sum"] = max(peak["uss_sum"], uss)
        peak["samples"] += 1

    t0 = time.perf_counter()
    scale.watch(spec, sample, args.every, "mix")
    res = {"config": args.config, "shard_records": spec["shard_records"], "wall_s": time.perf_counter() - t0,
           **{k: (v / 2**20 if k != "samples" else v) for k, v in peak.items()},
           "sha": scale.output_sha(Path(spec["out"])),
           "load_start": load0, "load_end": os.getloadavg()}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
