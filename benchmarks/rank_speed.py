"""Where the time of `curate rank` goes: cold and cached default ranking, split by phase, peak RSS.

One run of `curate.rank.rank` in this process with the phases timed by wrapping the functions that
do them (nothing in the library is changed):

    load/render    reading source files into records (`artefacts.scan`, `load.load_with_report`),
                   rendering and fingerprinting them (`load.texts`, `load.fingerprint`); a source too
                   large to hold counts its streamed token count here too
    tokenize       tokenizer loading, token counts (`artefacts.count_tokens`), batch token ids
                   (`batching.tokenize`)
    probe load     `probe.load`
    forward        the probe trunk over each batch (`task2vec.final_hidden`)
    Fisher         the head Fisher from the features (`task2vec.head_fisher_from_features`)
    coefficients   distances and bootstrap CIs (`coefficients.alignment` / `diversity`)
    other          the rest (cache reads and writes, imports, bookkeeping)

and, for the cached case, the wall time of the CLI command itself in a fresh interpreter
(`python -m curate.cli rank ...`), which is what a user waits for.

    python benchmarks/rank_speed.py --cache-dir DIR [--cold] [--precision bf16] [--adaptive]
        [--source NAME ...] [--json OUT] [--compare BASE.json] [--cli]

`--cold` empties DIR's embedding, token and source caches first (the converted probe is kept).
`--compare BASE.json` prints, per source, |alignment − base| / base CI half-width and whether the
order is identical (the precision and adaptive-batch checks). Prints a markdown table, the machine
and its load (`uptime`), and a last `ratios:` line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHASES = ("load/render", "tokenize", "probe load", "forward", "Fisher", "coefficients")
SPENT: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
_DEPTH = {"n": 0}
THREADS: list[int] = []
"""torch threads picked at each `probe.set_threads` call (probe load, then before every CPU batch)."""


def timed(phase: str, fn):
    def wrapper(*args, **kwargs):
        outer = _DEPTH["n"] == 0  # only the outermost timed call counts (no double counting)
        _DEPTH["n"] += 1
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _DEPTH["n"] -= 1
            if outer:
                SPENT[phase] += time.perf_counter() - t0
                CALLS[phase] += 1
    return wrapper


def instrument() -> None:
    from curate import artefacts, batching, coefficients, load, probe, tokens
    from curate.metrics import task2vec as t2v

    for mod, name, phase in [(artefacts, "scan", "load/render"), (load, "load_with_report", "load/render"),
                             (load, "texts", "load/render"),
                             (load, "fingerprint", "load/render"), (tokens, "tokenizer_for", "tokenize"),
                             (artefacts, "count_tokens", "tokenize"), (batching, "tokenize", "tokenize"),
                             (probe, "load", "probe load"), (t2v, "final_hidden", "forward"),
                             (t2v, "head_fisher_from_features", "Fisher"), (coefficients, "alignment", "coefficients"),
                             (coefficients, "diversity", "coefficients")]:
        setattr(mod, name, timed(phase, getattr(mod, name)))
    set_threads = probe.set_threads

    def recorded(*args, **kwargs):
        n = set_threads(*args, **kwargs)
        THREADS.append(n)
        return n
    probe.set_threads = recorded


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime unavailable"


def compare(result: dict, base_path: Path) -> tuple[list[tuple], bool, float]:
    base = json.loads(base_path.read_text())
    b = {r["source"]: r for r in base["results"]}
    rows, worst = [], 0.0
    for r in result["results"]:
        o = b.get(r["source"])
        if o is None:
            continue
        half = (o["ci_high"] - o["ci_low"]) / 2
        moved = abs(r["alignment"] - o["alignment"]) / half if half > 0 else float("inf")
        worst = max(worst, moved)
        rows.append((r["source"], o["alignment"], r["alignment"], half, moved))
    same_order = [r["source"] for r in result["results"] if r["source"] in b] == \
        [r["source"] for r in base["results"] if r["source"] in {x[0] for x in rows}]
    return rows, same_order, worst


def precision_ratio(target: str, n: int, probe_name: str) -> None:
    """fp32 vs bf16 head embeddings of the same target batches, alternating, on this machine now."""
    import numpy as np

    from curate import artefacts, batching, load, tokens
    from curate.metrics import task2vec as t2v

    m = t2v.Task2VecMetric(t2v.Config(probe=probe_name))
    ds = load.load_source(target)
    plan = m.plan(len(ds), 0)
    tok = tokens.tokenizer_for(m.config.probe)
    model = m.model()
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    diffs = []
    for rows in plan.rows[:n]:
        batch = batching.collate(batching.tokenize(load.texts(ds.select(rows)), tok, m.config.max_length),
                                 batching.pad_id(tok))
        out = {}
        for prec in ("fp32", "bf16", "fp32", "bf16"):
            t0 = time.perf_counter()
            out[prec] = t2v.head_embedding(model, batch, precision=prec).numpy()
            times[prec].append(time.perf_counter() - t0)
        diffs.append(float(np.abs(out["bf16"] - out["fp32"]).max() / np.abs(out["fp32"]).max()))
    f, b = np.median(times["fp32"]), np.median(times["bf16"])
    print(f"\nprecision: {len(times['fp32'])} fp32 and {len(times['bf16'])} bf16 head embeddings of {target} batches "
          f"(32 x 128), alternating: median fp32 {f:.2f} s, bf16 {b:.2f} s, bf16/fp32 {b / f:.2f}; "
          f"max |bf16 - fp32| / max |fp32| per batch: {', '.join(f'{d:.2e}' for d in diffs)}")
    _ = artefacts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache-dir", type=Path, required=True)
    ap.add_argument("--cold", action="store_true", help="empty the embedding/token/source caches first")
    ap.add_argument("--target", default="proofnet")
    ap.add_argument("--probe", default="smollm2")
    ap.add_argument("--source", action="append", help="candidate (repeat); default: every available one")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--adaptive", action="store_true")
    ap.add_argument("--batches", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, help="write the ranking JSON here")
    ap.add_argument("--compare", type=Path, help="a base ranking JSON to compare alignments and order with")
    ap.add_argument("--cli", action="store_true", help="also time the CLI command in a fresh interpreter")
    ap.add_argument("--precision-ratio", type=int, default=0, metavar="N",
                    help="after the ranking, time N target batches in fp32 and in bf16, alternating (same batches, "
                         "same load), and print the per-batch times and their ratio")
    args = ap.parse_args()

    os.environ["CURATE_CACHE"] = str(args.cache_dir)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.cold:
        for ns in ("task2vec", "batch-tokens", "sources", "tokens"):
            shutil.rmtree(args.cache_dir / ns, ignore_errors=True)
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs; {uptime()}")

    t_start = time.perf_counter()
    from curate import progress
    from curate.rank import RankConfig, rank

    instrument()
    t_imports = time.perf_counter() - t_start
    config = RankConfig(target=args.target, sources=args.source, adaptive=args.adaptive, probe=args.probe)
    options = {"precision": args.precision, "threads": args.threads, "batches": args.batches}
    events: list[str] = []

    class Notes:
        def start(self, t): pass
        def advance(self, t): pass
        def end(self, t): pass
        def note(self, msg): events.append(msg)

    t0 = time.perf_counter()
    with progress.use(Notes()):
        ranking = rank(config, options)
    wall = time.perf_counter() - t0
    result = ranking.to_json()
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if args.json:
        ranking.write(args.json)

    threads = sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None
    print(f"\nrank(): {len(result['results'])} sources, wall {wall:.1f} s (+ {t_imports:.1f} s imports), "
          f"peak RSS {rss_gb:.2f} GB, precision {args.precision}, adaptive {args.adaptive}, "
          f"torch threads {threads if threads is not None else '(torch not imported)'}\n")
    print("| phase | seconds | share | calls |\n|---|---:|---:|---:|")
    accounted = 0.0
    for ph in PHASES:
        accounted += SPENT[ph]
        print(f"| {ph} | {SPENT[ph]:.2f} | {SPENT[ph] / wall:.0%} | {CALLS[ph]} |")
    print(f"| other | {wall - accounted:.2f} | {(wall - accounted) / wall:.0%} | |")
    print(f"| **total** | **{wall:.2f}** | 100% | |")
    for e in events:
        if "batch" in e:
            print(f"note: {e}")
    if THREADS:
        print(f"threads picked (probe load, then before each CPU batch after the first): {THREADS}")
    if args.adaptive:
        used = {r["source"]: r["alignments"]["task2vec"].get("batches") for r in result["results"]}
        print(f"\nbatches per source: {used} (sum {sum(v or 0 for v in used.values())} of "
              f"{(args.batches or 4) * len(used)} at fixed K)")
    if args.compare:
        rows, same, worst = compare(result, args.compare)
        print(f"\n| source | base alignment | this run | base CI half-width | moved / half-width |\n|---|---:|---:|---:|---:|")
        for s, a0, a1, h, m in rows:
            print(f"| {s} | {a0:.6f} | {a1:.6f} | {h:.6f} | {m:.4f} |")
        print(f"\norder identical: {same}; largest move {worst:.4f} CI half-widths")
        base = {r["source"]: r for r in json.loads(args.compare.read_text())["results"]}
        fields = ("records", "tokens", "ci_low", "ci_high", "diversity", "fingerprint")
        differ = {f: [r["source"] for r in result["results"] if r["source"] in base and r.get(f) != base[r["source"]].get(f)]
                  for f in fields}
        print("fields that differ from the base: " + (", ".join(f"{f} ({', '.join(v)})" for f, v in differ.items() if v)
                                                      or "none (records, tokens, CIs, diversity, fingerprints equal)"))
    if args.precision_ratio:
        precision_ratio(args.target, args.precision_ratio, args.probe)
    cli_wall = None
    if args.cli:
        cmd = [sys.executable, "-m", "curate.cli", "rank", "--target", args.target, "--probe", args.probe,
               *[x for s in (args.source or []) for x in ("--source", s)], "--json", str(args.cache_dir / "cli.json")]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        cli_wall = time.perf_counter() - t0
        print(f"\nCLI `{' '.join(cmd[1:])}`: exit {proc.returncode}, wall {cli_wall:.2f} s")
        if proc.returncode:
            print(proc.stderr[-2000:])
    print(f"\nratios: forward/total {SPENT['forward'] / wall:.3f}, fixed (load+tokenize+probe)/total "
          f"{(SPENT['load/render'] + SPENT['tokenize'] + SPENT['probe load']) / wall:.3f}"
          + (f", cli_wall {cli_wall:.2f} s" if cli_wall is not None else "") + f"; {uptime()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
