"""Seed spread of the paper's experiment: several `paper_ft.py --seed S` reports side by side.

Each seed draws other training records and another LoRA init (the eval set is the same), so the
spread across seeds says which CE gaps between sources are real. Prints, per single source, the
mean ± sd of the tuned CE and the mean alignment per metric; per metric, Pearson r and Spearman ρ
against the mean CE and per seed; and every pairwise order of sources that all seeds agree on.
Metrics missing from the reports (say embed, when the fine-tunes ran where MiniLM was not
installed) are computed here with each report's seed.

    python benchmarks/paper_ft_seeds.py benchmarks/results/paper_ft_h100/report-s*.json --add embed
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def add_metric(reports: list[dict], metric: str) -> None:
    """Fill row['alignments'][metric] of single sources, computed with each report's seed (cached)."""
    from curate import load, metrics

    m = metrics.metric_class(metric).from_options({})
    for rep in reports:
        seed = rep["config"]["seed"]
        target = m.prepare(rep["target"], load.load_source(rep["target"]), seed)
        for row in rep["rows"]:
            if row["role"] == "source" and metric not in row["alignments"]:
                est = m.alignment(m.prepare(row["name"], load.load_source(row["name"]), seed), target)
                row["alignments"][metric] = {"alignment": est.value, "ci_low": est.ci_low, "ci_high": est.ci_high}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reports", nargs="+", type=Path, help="report.json files of paper_ft.py runs, one per seed")
    ap.add_argument("--add", default="", help="comma list of metrics to compute for reports that lack them")
    ap.add_argument("--json", type=Path, default=None, help="write the summary here")
    args = ap.parse_args(argv)

    from curate.stats import pearson, spearman

    reports = [json.loads(p.read_text(encoding="utf-8")) for p in args.reports]
    for metric in filter(None, args.add.split(",")):
        add_metric(reports, metric)
    seeds = [r["config"]["seed"] for r in reports]
    metric_names = [m for m in dict.fromkeys(m for r in reports for row in r["rows"] for m in row["alignments"])
                    if all(m in row["alignments"] for r in reports for row in r["rows"] if row["role"] == "source")]
    names = [row["name"] for row in reports[0]["rows"] if row["role"] == "source"]
    ce = {n: [next(x["eval_ce_after"] for x in r["rows"] if x["name"] == n) for r in reports] for n in names}
    align = {m: {n: [next(x["alignments"][m]["alignment"] for x in r["rows"] if x["name"] == n) for r in reports]
                 for n in names} for m in metric_names}
    mean_ce = {n: statistics.fmean(v) for n, v in ce.items()}
    sd = (lambda v: statistics.stdev(v) if len(v) > 1 else 0.0)

    print(f"seeds {seeds}; base CE {reports[0]['rows'][0]['eval_ce_before']:.4f}")
    print(f"\n{'source':26s} " + " ".join(f"{m:>9s}" for m in metric_names) + "   CE mean ±   sd   per seed")
    for n in sorted(names, key=mean_ce.get):
        cells = " ".join(f"{statistics.fmean(align[m][n]):9.4f}" for m in metric_names)
        print(f"{n:26s} {cells}   {mean_ce[n]:.4f} ± {sd(ce[n]):.4f}   " + " ".join(f"{c:.4f}" for c in ce[n]))

    print(f"\n{'metric':10s} {'r (mean CE)':>11s} {'ρ (mean CE)':>11s}   r per seed")
    corr = {}
    for m in metric_names:
        x = [statistics.fmean(align[m][n]) for n in names]
        y = [mean_ce[n] for n in names]
        per_seed = [pearson([align[m][n][i] for n in names], [ce[n][i] for n in names]) for i in range(len(reports))]
        corr[m] = {"pearson": pearson(x, y), "spearman": spearman(x, y), "pearson_per_seed": per_seed}
        print(f"{m:10s} {corr[m]['pearson']:11.3f} {corr[m]['spearman']:11.3f}   "
              + " ".join(f"{v:.3f}" for v in per_seed))

    # Orders every seed agrees on (a lower CE in every seed), and whether each metric agrees with them.
    print("\nsource pairs every seed orders the same way (A tunes to a lower CE than B), and each metric's verdict:")
    agreed = []
    for a in names:
        for b in names:
            if a != b and all(x < y for x, y in zip(ce[a], ce[b])):
                gap = mean_ce[b] - mean_ce[a]
                verdict = {m: statistics.fmean(align[m][a]) > statistics.fmean(align[m][b]) for m in metric_names}
                agreed.append({"better": a, "worse": b, "ce_gap": gap, "metric_agrees": verdict})
    for p in sorted(agreed, key=lambda p: -p["ce_gap"]):
        wrong = [m for m, ok in p["metric_agrees"].items() if not ok]
        if wrong or p["ce_gap"] < 0.15:
            print(f"  {p['better']:24s} < {p['worse']:24s} gap {p['ce_gap']:.3f}   "
                  + ("all metrics agree" if not wrong else "metrics that disagree: " + ", ".join(wrong)))
    print(f"  ({len(agreed)} pairs in all; pairs with a gap ≥ 0.15 that every metric gets right are not listed)")

    if args.json:
        args.json.write_text(json.dumps({"seeds": seeds, "ce": ce, "alignments": align, "correlations": corr,
                                         "agreed_orders": agreed}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
