"""The mix's accounts: per-source conservation, the manifest, and the human-readable MIX.md."""

from __future__ import annotations

import platform
from typing import Any

from curate.pipeline.base import check_conservation  # noqa: F401  (the one conservation check lives there)

REASONS = ("contamination", "exact_duplicate", "near_duplicate", "over_cap", "over_budget")
"""Every reason a record of a source the strategy draws from can fail to reach the output. Ranked
sources a strategy does not draw from (beyond top-k) are listed apart as `unused_sources`."""




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
    shards = manifest.get("output_shards")
    data = ("`data.jsonl`, `data.parquet` (same rows)" if not shards else
            f"{len(shards)} shards `data-0000i-of-{len(shards):05d}.jsonl` / `.parquet` (same rows; per-shard counts in "
            "the manifest)")
    lines += ["", f"For every source: in = out + removed (checked when the mix was built). Files: {data}, "
              "`manifest.json` (inputs, fingerprints, config, versions), "
              "`removed.jsonl` (every contaminated or duplicate record, with what it matched), `ranking.json` "
              "(the ranking used).", ""]
    return "\n".join(lines)


def dataset_card(mix_text: str, data: str = "data.parquet") -> str:
    """README.md: the MIX.md text under a YAML header so `datasets.load_dataset(folder)` reads the data
    files, and `load_dataset(folder, "removed")` the removed records."""
    header = ("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: " + data + "\n"
              "- config_name: removed\n  data_files:\n  - split: train\n    path: removed.parquet\n---\n")
    return header + mix_text
