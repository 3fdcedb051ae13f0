"""The paper's experiment on this CPU: alignment to ProofNet vs LoRA-tuned ProofNet CE.

SmolLM2-135M, equal token budgets per source (default 8k tokens × 2 epochs), evaluated on the
ProofNet test split; Pearson r, r² and Spearman ρ per metric, the top-aligned mix vs a random mix
vs every single source, and the scatter plot. It is `train.confirm.run_confirm` with the paper's
source list plus a printed summary; resumable (rerun the same command after an interruption).

    python benchmarks/paper_ft.py --out /tmp/paper-ft            # ~40 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

SOURCES = ["proofnet-valid", "minif2f-lean4", "putnambench-lean4", "forml4", "mathlib3-codex-informal",
           "gsm8k", "math", "humaneval", "gpteacher-roleplay"]


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/paper-ft"))
    ap.add_argument("--target", default="proofnet")
    ap.add_argument("--sources", default=",".join(SOURCES), help="comma list")
    ap.add_argument("--metrics", default="all", help="all (those installed) or a comma list")
    ap.add_argument("--budget", type=int, default=8192)
    ap.add_argument("--batch-size", type=int, default=8, help="sequences of 256 tokens per LoRA step")
    ap.add_argument("--eval-limit", type=int, default=None,
                    help="score a seeded sample of this many target items (default: all)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-mix", action="store_true")
    ap.add_argument("--report-only", action="store_true",
                    help="train nothing; report the fine-tunes finished so far (another process may be running)")
    ap.add_argument("--precision", default="bf16", choices=["bf16", "no"],
                    help="bf16 autocast for training and eval (about 2x faster on this CPU) or float32")
    args = ap.parse_args(argv)

    from curate import metrics as metric_registry
    from train.confirm import ConfirmConfig, run_confirm
    from train.evaluate import EvalConfig
    from train.lora import LoraTrainConfig

    t0 = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t0:7.0f}s] {msg}", flush=True)

    log(f"start; load average {load_avg()}")
    cfg = ConfirmConfig(target=args.target, sources=args.sources.split(","), metrics=metric_registry.names(args.metrics),
                        budget=args.budget, seed=args.seed, mixes=not args.no_mix,
                        train_missing=not args.report_only,
                        train=LoraTrainConfig(epochs=args.epochs, mixed_precision=args.precision,
                                              batch_size=args.batch_size,
                                              eval=EvalConfig(autocast=args.precision, limit=args.eval_limit)))
    report = run_confirm(cfg, args.out, strict_metrics=args.metrics != "all", log=log)

    ms = report["metrics"]
    print(f"\n{'dataset':26s} {'role':6s} " + " ".join(f"{m:>9s}" for m in ms) + "  CE before  CE after")
    for r in sorted(report["rows"], key=lambda r: r["eval_ce_after"]):
        cells = " ".join(f"{r['alignments'][m]['alignment']:9.4f}" if m in r["alignments"] else " " * 9 for m in ms)
        print(f"{r['name']:26s} {r['role']:6s} {cells}  {r['eval_ce_before']:9.4f} {r['eval_ce_after']:9.4f}")
    print("\nmetric     Pearson r      r²   Spearman ρ   n")
    for m, s in report["correlations"].items():
        print(f"{m:10s} {s['pearson']:9.3f} {s['r2']:7.3f} {s['spearman']:11.3f} {s['n']:4d}")
    mc = report.get("mix_comparison") or {}
    if mc:
        print(f"\ntop-aligned mix CE {mc['mix_top_ce']:.4f}, random mix CE "
              f"{mc['mix_random_ce'] if mc['mix_random_ce'] is None else round(mc['mix_random_ce'], 4)}; "
              f"single sources at or below the top mix: {', '.join(mc['sources_beating_mix_top']) or 'none'}")
        for name, info in report["mixes"].items():
            print(f"  {name}: {info['records']} records, tokens by source {info['tokens_by_source']}")
    goals = []
    if "task2vec" in report["correlations"]:
        r = report["correlations"]["task2vec"]["pearson"]
        goals.append(f"Pearson r(task2vec, CE) = {r:.3f} (goal <= -0.95: {'met' if r <= -0.95 else 'missed'})")
    if mc and mc.get("mix_random_ce") is not None:
        others = [n for n in mc["sources_beating_mix_top"] if n != "proofnet-valid"]
        goals.append(f"top mix < random mix: {mc['beats_random']}; top mix beats every source but proofnet-valid: "
                     f"{not others}" + (f" (not: {', '.join(others)})" if others else ""))
    for g in goals:
        print("goal:", g)
    for n in report["notes"]:
        print("note:", n)
    log(f"done; load average {load_avg()}; report at {args.out}/report.md, plot at {args.out}/scatter.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
