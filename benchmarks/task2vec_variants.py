"""Task2Vec configs against a finished `curate confirm` / paper_ft run: Pearson r and Spearman ρ
between each config's alignment and the fine-tuned eval CE of the run's single sources.

    python benchmarks/task2vec_variants.py /tmp/paper-ft/report.json [more report.json ...] [-- label filters]

With several reports (paper_ft.py seeds), the CE of each source is the mean over them.

Embeddings come from the cache where the config allows (the distance is not part of the key).
"""

from __future__ import annotations

import json
import sys
import time

from curate import load
from curate.metrics.task2vec import Config, Task2VecMetric
from curate.stats import pearson, spearman

VARIANTS = {
    "head, K=4, task2vec distance (default)": Config(),
    "head, K=4, cosine distance": Config(distance="cosine"),
    "head, K=8, task2vec distance": Config(batches=8),
    "head, K=8, cosine distance": Config(batches=8, distance="cosine"),
    "body, K=4, task2vec distance": Config(scope="body"),
    "head, K=4, 256 tokens, task2vec distance": Config(max_length=256),
}


def main(report_paths: list[str], only: list[str]) -> None:
    reports = [json.load(open(p)) for p in report_paths]
    report = reports[0]
    ce = {r["name"]: sum(next(x["eval_ce_after"] for x in rep["rows"] if x["name"] == r["name"])
                         for rep in reports) / len(reports)
          for r in report["rows"] if r["role"] == "source"}
    for label, cfg in VARIANTS.items():
        if only and not any(o in label for o in only):
            continue
        start = time.time()
        metric = Task2VecMetric(cfg)
        target = metric.prepare(report["target"], load.load_source(report["target"]), 0)
        align = {s: metric.alignment(metric.prepare(s, load.load_source(s), 0), target).value for s in ce}
        xs, ys = [align[s] for s in ce], [ce[s] for s in ce]
        print(f"{label}: pearson {pearson(xs, ys):.3f} spearman {spearman(xs, ys):.3f} "
              f"({time.time() - start:.0f}s) " + " ".join(f"{s}={align[s]:.4f}" for s in ce), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    cut = args.index("--") if "--" in args else len(args)
    main(args[:cut], args[cut + 1:])
