"""What the commands print: one function per command's result, each writing to the console it is given.

The command line (`curate.cli`) parses options, makes one library call and hands its result here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from rich.console import Console
from rich.table import Table


def fmt(x: Optional[float], digits: int = 4) -> str:
    return "" if x is None else f"{x:.{digits}f}"


MAX_DISAGREEMENTS = 10  # printed; the JSON has all of them


def ranking(result: dict, console: Console) -> None:
    """The ranking table, the metrics' agreement, their disagreements, what was left out and notes."""
    metrics = list(result["config"]["metrics"])
    table = Table(title=f"alignment to {result['target']} ({result['target_records']} records)")
    table.add_column("rank", justify="right")
    table.add_column("source")
    for m in metrics:
        table.add_column(f"{m} alignment [95% CI]", justify="right")
    table.add_column(f"{metrics[0]} diversity", justify="right")
    for col in ("records", "tokens", "license"):
        table.add_column(col, justify="right" if col != "license" else "left")
    for r in result["results"]:
        cells = [f"{a['alignment']:.4f} [{a['ci_low']:.4f}, {a['ci_high']:.4f}]"
                 for a in (r["alignments"][m] for m in metrics)]
        table.add_row(str(r["rank"]), r["source"], *cells, fmt(r["diversity"]), str(r["records"]),
                      "" if r["tokens"] is None else str(r["tokens"]), r["license"][:24])
    console.print(table)
    if result.get("agreement"):
        agree = Table(title="Spearman agreement between metrics")
        agree.add_column("metrics")
        agree.add_column("rho", justify="right")
        for pair, rho in result["agreement"].items():
            agree.add_row(pair.replace("~", " vs "), fmt(rho, 3))
        console.print(agree)
    shown = result.get("disagreements", [])[:MAX_DISAGREEMENTS]
    if shown:
        console.print("Metrics that order a pair of sources oppositely, each with disjoint 95% CIs:")
    for d in shown:
        a, b = d["sources"]
        sides = [f"{', '.join(m for m, h in d['higher'].items() if h == s)} put {s} higher" for s in (a, b)]
        console.print(f"  {a} vs {b}: {'; '.join(sides)}")
    if len(result.get("disagreements", [])) > len(shown):
        console.print(f"... and {len(result['disagreements']) - len(shown)} more pairs (all in the JSON)")
    for ex in result.get("excluded", []):
        console.print(f"[dim]left out {ex['source']}: {ex['reason']}[/dim]")
    for note in result.get("notes", []):
        console.print(f"[dim]note: {note}[/dim]")


def sources(rows: list[dict[str, Any]], data_home: Path, console: Console) -> None:
    """`curate sources`: one row per catalog source, then what is missing or skipped."""
    table = Table(title=f"sources (data home: {data_home})")
    for col in ("name", "role", "kind", "lang", "available", "records", "tokens", "license"):
        table.add_column(col, justify="right" if col in ("records", "tokens") else "left")
    for r in rows:
        avail = "yes" if r["available"] else ("hub" if r["location"].startswith("hub:") else "no")
        table.add_row(r["name"], r["role"], r["kind"], r["formal_lang"] or "", avail,
                      "" if r["records"] is None else str(r["records"]),
                      "" if r["tokens"] is None else str(r["tokens"]), r["license"][:28])
    console.print(table)
    if any(r["records"] is not None and r["tokens"] is None for r in rows):
        console.print("tokens need the probe tokenizer: run `curate models pull smollm2`")
    for r in rows:
        if r["skipped"]:
            console.print(f"{r['name']}: skipped {r['skipped']}")
        if r.get("error"):
            console.print(f"{r['name']}: {r['error']}")


def models(rows: list[dict[str, str]], models_dir: Path, console: Console) -> None:
    """`curate models`: built-in and cached probe models."""
    table = Table(title=f"models (cache: {models_dir})")
    for col in ("name", "state", "path", "description"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["name"], row["state"], row["path"], row["description"])
    console.print(table)
    console.print("Any local HF model folder or (online) hub id also works wherever a model is asked for.")


def confirm(report: dict, console: Console) -> None:
    """Alignment against fine-tuned CE per dataset, the correlations, and the mixes' comparison."""
    ms = report["metrics"]
    table = Table(title=f"alignment vs fine-tuned CE on {report['target']}")
    for col in ("dataset", "role", *[f"{m}" for m in ms], "CE before", "CE after"):
        table.add_column(col, justify="left" if col in ("dataset", "role") else "right")
    for row in sorted(report["rows"], key=lambda x: x["eval_ce_after"]):
        table.add_row(row["name"], row["role"], *[fmt(row["alignments"].get(m, {}).get("alignment")) for m in ms],
                      fmt(row["eval_ce_before"]), fmt(row["eval_ce_after"]))
    console.print(table)
    stats = Table(title="alignment vs CE over single sources")
    for col in ("metric", "Pearson r", "r²", "Spearman ρ", "n"):
        stats.add_column(col, justify="left" if col == "metric" else "right")
    for m, s in report["correlations"].items():
        stats.add_row(m, fmt(s["pearson"], 3), fmt(s["r2"], 3), fmt(s["spearman"], 3), str(s["n"]))
    console.print(stats)
    mc = report.get("mix_comparison") or {}
    if mc:
        console.print(f"top-aligned mix CE {mc['mix_top_ce']:.4f} vs random mix "
                      f"{fmt(mc['mix_random_ce'])}; sources at or below the top mix: "
                      f"{', '.join(mc['sources_beating_mix_top']) or 'none'}")
    for note in report.get("notes", []):
        console.print(f"[dim]note: {note}[/dim]")


def bench(res: dict[str, Any], title: str, console: Console) -> None:
    """`curate bench`: CE, perplexity, BLEU/chrF of the generations, typecheck rate."""
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("cross-entropy (nats/token)", fmt(res["ce"]))
    table.add_row("perplexity", fmt(res["perplexity"], 2))
    table.add_row(f"BLEU ({res['generation']['items']} items, {res['generation']['shots']}-shot)",
                  fmt(res["generation"]["bleu"], 2))
    table.add_row("chrF", fmt(res["generation"]["chrf"], 2))
    tc = res["typecheck"]
    table.add_row("typecheck rate", fmt(tc["rate"], 3) if tc["available"] else "not available")
    console.print(table)


def mix(m: dict[str, Any], strategy: str, budget: int, out: Path, console: Console) -> None:
    """`curate mix`: per source what came in, went out and was removed (from the manifest `m`)."""
    table = Table(title=f"mix for {m['target']['name']}: {strategy}, budget {budget:,} tokens")
    for col in ("rank", "source", "weight", "in", "out", "tokens", "removed"):
        table.add_column(col, justify="left" if col in ("source", "removed") else "right")
    for name, s in m["sources"].items():
        removed = ", ".join(f"{r} {n}" for r, n in s["removed"].items() if n)
        table.add_row(str(s["rank"]), name, "" if s["weight"] is None else f"{s['weight']:.3f}", str(s["in"]),
                      str(s["out"]), str(s["tokens"]), removed)
    console.print(table)
    t = m["totals"]
    console.print(f"{t['out']} records, {t['tokens']:,} tokens -> {out} "
                  f"({t['removed']['contamination']} contaminated records removed, listed in removed.jsonl)")
    for note in m["notes"]:
        console.print(f"note: {note}")
