"""Rank candidate sources by alignment to a target eval set, under one or more metrics."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from curate import __version__, catalog, load, metrics, probe, tokens
from curate.errors import CurateError
from curate.stats import spearman


@dataclass
class RankConfig:
    target: str = "proofnet"
    """Catalog name of the eval set to align to."""
    sources: list[str] | None = None
    """Candidate sources; None = every available catalog source that holds none of the target's items."""
    metrics: list[str] = field(default_factory=lambda: [metrics.DEFAULT_METRIC])
    """Metrics to compute; the first one orders the table."""
    seed: int = 0
    """Seed for every sample drawn."""
    probe: str = probe.DEFAULT_PROBE
    """Model whose tokenizer counts tokens (and, for task2vec, whose Fisher embeds batches)."""


def candidate_sources(target: str) -> tuple[list[str], list[dict[str, str]]]:
    """Default candidates for `target`, and what was left out with why."""
    tspec = catalog.get(target)
    chosen, excluded = [], []
    for name, spec in catalog.all_specs().items():
        if name == target:
            continue
        overlap = set(spec.holds) & set(tspec.holds)
        if overlap:
            excluded.append({"source": name, "reason": f"holds the target's own items ({', '.join(sorted(overlap))})"})
        elif spec.is_hub:
            excluded.append({"source": name, "reason": "hub dataset (pass --source to include it when online)"})
        elif not load.available(spec):
            excluded.append({"source": name, "reason": f"data not found at {spec.location()}"})
        else:
            chosen.append(name)
    chosen, parts = catalog.drop_parts(chosen)
    return chosen, excluded + parts


def versions() -> dict[str, str]:
    import datasets
    import torch
    import transformers

    return {"curate": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "datasets": datasets.__version__}


def rank(config: RankConfig, metric_options: dict[str, Any] | None = None,
         on_step: Callable[[str], None] | None = None, steps: Callable[[int], None] | None = None) -> dict:
    """Compute the ranking; returns the JSON-able result (see README, "Ranking JSON")."""
    step = on_step or (lambda _msg: None)
    excluded: list[dict[str, str]] = []
    if config.sources:
        names = list(dict.fromkeys(config.sources))
        for name in names:
            catalog.get(name)  # unknown names fail before any work
        if config.target in names:
            raise CurateError(f"the target {config.target!r} cannot also be a source")
    else:
        names, excluded = candidate_sources(config.target)
        if not names:
            raise CurateError(f"no available candidate sources for target {config.target!r}; check the data home")
    metric_objs = {m: metrics.metric_class(m).from_options({**(metric_options or {}), "probe": config.probe})
                   for m in config.metrics}
    if steps:
        steps(len(metric_objs) * (len(names) + 1))

    tok = tokens.maybe_tokenizer(config.probe)
    target_ds = load.load_source(config.target)
    target_fp = load.fingerprint(target_ds)
    notes: list[str] = catalog.overlap_notes(config.target, names)
    rows: dict[str, dict[str, Any]] = {}
    for name in names:
        ds = load.load_source(name)
        fp = load.fingerprint(ds)
        spec = catalog.get(name)
        n_tokens = sum(tokens.record_lengths(ds, tok, fp, config.probe)) if tok is not None else None
        rows[name] = {"source": name, "records": len(ds), "tokens": n_tokens, "license": spec.license,
                      "kind": spec.kind, "formal_lang": spec.formal_lang, "fingerprint": fp, "alignments": {}}

    for mname, metric in metric_objs.items():
        step(f"{mname}: preparing target {config.target}")
        tprep = metric.prepare(config.target, target_ds, config.seed)
        notes += [f"{mname}/{config.target}: {n}" for n in tprep.notes]
        for name in names:
            step(f"{mname}: {name}")
            sprep = metric.prepare(name, load.load_source(name), config.seed)
            notes += [f"{mname}/{name}: {n}" for n in sprep.notes]
            a, d = metric.alignment(sprep, tprep), metric.diversity(sprep)
            rows[name]["alignments"][mname] = {
                "alignment": a.value, "ci_low": a.ci_low, "ci_high": a.ci_high, "pairs": a.n,
                "diversity": d.value, "diversity_ci_low": d.ci_low, "diversity_ci_high": d.ci_high, "used": sprep.used,
            }
        target_div = metric.diversity(tprep)
        notes.append(f"{mname}: target diversity {target_div.value:.4f} "
                     f"[{target_div.ci_low:.4f}, {target_div.ci_high:.4f}]")

    primary = config.metrics[0]
    results = []
    for row in rows.values():
        p = row["alignments"][primary]
        results.append({**{k: row[k] for k in ("source",)}, "alignment": p["alignment"], "ci_low": p["ci_low"],
                        "ci_high": p["ci_high"], "diversity": p["diversity"],
                        **{k: v for k, v in row.items() if k not in ("source", "alignments")},
                        "alignments": row["alignments"]})
    results.sort(key=lambda r: -r["alignment"])
    for i, r in enumerate(results, 1):
        r["rank"] = i

    agreement = {}
    ms = config.metrics
    for i in range(len(ms)):
        for j in range(i + 1, len(ms)):
            x = [r["alignments"][ms[i]]["alignment"] for r in results]
            y = [r["alignments"][ms[j]]["alignment"] for r in results]
            agreement[f"{ms[i]}~{ms[j]}"] = spearman(x, y)

    return {
        "target": config.target,
        "target_records": len(target_ds),
        "target_fingerprint": target_fp,
        "primary_metric": primary,
        "config": {**asdict(config), "sources": names, "metrics": {m: o.describe() for m, o in metric_objs.items()}},
        "versions": versions(),
        "excluded": excluded,
        "notes": notes,
        "results": results,
        "agreement": agreement,
        "disagreements": disagreements(results, ms),
    }


def confident_order(a: dict[str, float], b: dict[str, float]) -> int:
    """+1 if estimate a is above b with disjoint 95% CIs, -1 if below, 0 if they overlap."""
    if a["ci_low"] > b["ci_high"]:
        return 1
    if a["ci_high"] < b["ci_low"]:
        return -1
    return 0


def disagreements(results: list[dict], metrics: list[str]) -> list[dict]:
    """Source pairs that one metric puts confidently above the other and another metric confidently
    below (each with disjoint CIs): where the choice of metric changes the answer. In rank order."""
    out = []
    for i, a in enumerate(results):
        for b in results[i + 1:]:
            order = {m: confident_order(a["alignments"][m], b["alignments"][m]) for m in metrics}
            if 1 in order.values() and -1 in order.values():
                out.append({"sources": [a["source"], b["source"]],
                            "higher": {m: (a["source"] if o > 0 else b["source"] if o < 0 else None)
                                       for m, o in order.items()}})
    return out
