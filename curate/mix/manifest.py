"""The mix's accounts: per-source conservation, the manifest, and the human-readable MIX.md."""

from __future__ import annotations

import platform
from typing import Any

REASONS = ("contamination", "exact_duplicate", "near_duplicate", "over_cap", "over_budget")
"""Every reason a record of a source the strategy draws from can fail to reach the output. Ranked
sources a strategy does not draw from (beyond top-k) are listed apart as `unused_sources`."""


def check_conservation(sources: dict[str, dict[str, Any]]) -> None:
    """Raise if any source's records in != records out + records removed (by reason)."""
    for name, s in sources.items():
        removed = sum(s["removed"].values())
        if s["in"] != s["out"] + removed:
            raise RuntimeError(f"mix accounting bug: source {name!r} has {s['in']} records in but "
                               f"{s['out']} out + {removed} removed {s['removed']}")


def versions() -> dict[str, str]:
    """Versions of what shaped the output (no torch import)."""
    import importlib.metadata as md

    from curate import __version__

    out = {"curate": __version__, "python": platform.python_version()}
    for pkg in ("datasets", "datasketch", "numpy", "pyarrow", "tokenizers", "transformers"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def mix_md(manifest: dict[str, Any]) -> str:
    """A short report of the mix, for people."""
    cfg, tot = manifest["config"], manifest["totals"]
    lines = [
        f"# Mix for `{manifest['target']['name']}`",
        "",
        f"Strategy **{cfg['strategy']}**, budget {cfg['budget']:,} tokens ({manifest['tokenizer']['name']} tokenizer), "
        f"seed {cfg['seed']}. Output: {tot['out']:,} records, {tot['tokens']:,} tokens "
        f"({100 * tot['tokens'] / cfg['budget']:.1f}% of budget) from {tot['in']:,} candidate records.",
        "",
        f"Decontaminated against {', '.join(e['name'] for e in manifest['eval_sets'])} "
        f"({cfg['ngram']}-gram overlap on normalised text; sides shorter than {cfg['min_ngram']} tokens by whole-text "
        f"match): {tot['removed'].get('contamination', 0)} records removed, listed in `removed.jsonl` with the "
        "eval item each matched.",
        "",
        "| rank | source | alignment | weight | in | out | tokens | " + " | ".join(REASONS) + " |",
        "|---:|---|---:|---:|---:|---:|---:|" + "---:|" * len(REASONS),
    ]
    for name, s in manifest["sources"].items():
        w = "" if s["weight"] is None else f"{s['weight']:.3f}"
        lines.append(f"| {s['rank']} | {name} | {s['alignment']:.4f} | {w} | {s['in']} | {s['out']} | {s['tokens']} | "
                     + " | ".join(str(s["removed"].get(r, 0)) for r in REASONS) + " |")
    if manifest.get("unused_sources"):
        lines += ["", "Ranked but not drawn from: "
                  + ", ".join(f"{u['source']} (rank {u['rank']})" for u in manifest["unused_sources"]) + "."]
    if manifest.get("notes"):
        lines += ["", "Notes:", *[f"- {n}" for n in manifest["notes"]]]
    lines += ["", "For every source: in = out + removed (checked when the mix was built). Files: `data.jsonl`, "
              "`data.parquet` (same rows), `manifest.json` (inputs, fingerprints, config, versions), "
              "`removed.jsonl` (every contaminated or duplicate record, with what it matched), `ranking.json` "
              "(the ranking used).", ""]
    return "\n".join(lines)


def dataset_card(mix_text: str) -> str:
    """README.md: the MIX.md text under a YAML header so `datasets.load_dataset(folder)` reads data.parquet."""
    header = ("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data.parquet\n---\n")
    return header + mix_text
