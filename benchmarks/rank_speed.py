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
(`python -m curate.cli rank ...`), which is what a user waits for. Phases run in this process only;
work in the facts' worker processes (`curate.sourcepool`) shows in the step walls below, and the probe
loading in its background thread (`probe.Warm`) overlaps other phases (then the phases add up to
more than the wall, and `probe wait` is what the ranking waited for it). Step walls: the wall time of
the progress tasks "rank: reading sources" (all per-source facts), "task2vec: tokenizing" and
"task2vec: batches" (the embedding loop: the probe wait, the forward passes and the head Fisher).

    python benchmarks/rank_speed.py --cache-dir DIR [--cold] [--precision bf16] [--adaptive]
        [--source NAME ...] [--json OUT] [--compare BASE.json] [--cli] [--replay REFCACHE]
        [--code CHECKOUT] [--summary OUT.json]

`--cold` empties DIR's embedding, estimate, token and source caches first (the converted probe is kept).
`--replay REFCACHE`: the fixed costs of a cold run without its model compute: every batch is still
computed as a cold run does it (records, token ids, the probe loaded, the batch collated), but its
embedding is read from REFCACHE's task2vec cache (same key) instead of running the probe on it — so
the ranking equals REFCACHE's. `--replay synthetic` makes each embedding up from its key instead
(no reference needed; two codes' rankings must then be equal). `--code CHECKOUT` imports `curate` from another checkout (a baseline
worktree), so old and new code are timed by the same harness. `--summary` writes the numbers as JSON.
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
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHASES = ("load/render", "tokenize", "probe load", "probe wait", "forward", "Fisher", "coefficients")
STEPS = ("rank: reading sources", "task2vec: tokenizing", "task2vec: batches")
SPENT: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
STEP_WALL: dict[str, float] = defaultdict(float)
_DEPTH = threading.local()
THREADS: list[int] = []
"""torch threads picked at each `probe.set_threads` call (probe load, then before every CPU batch)."""


def timed(phase: str, fn):
    def wrapper(*args, **kwargs):
        depth = getattr(_DEPTH, "n", 0)
        outer = depth == 0  # only a thread's outermost timed call counts (no double counting)
        _DEPTH.n = depth + 1
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _DEPTH.n -= 1
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
    if hasattr(probe, "Warm"):
        probe.Warm.get = timed("probe wait", probe.Warm.get)
    set_threads = probe.set_threads

    def recorded(*args, **kwargs):
        n = set_threads(*args, **kwargs)
        THREADS.append(n)
        return n
    probe.set_threads = recorded


def replay(ref_cache: str) -> None:
    """Serve every computed embedding from `ref_cache` (same key) instead of running the probe on the batch;
    all else a cold batch does — token ids, the probe loaded, the batch collated and moved — still runs.
    `synthetic` instead of a cache dir: a made-up embedding seeded by the key (gamma, vocabulary-sized),
    so two runs of different code on the same data get the same embeddings without any probe compute."""
    import numpy as np

    from curate.cache import Cache, key_hash
    from curate.metrics import task2vec as t2v

    compute, current = t2v.Task2VecMetric._compute, {}

    def keyed(self, key, *args, **kwargs):
        current["key"] = key
        return compute(self, key, *args, **kwargs)

    def embed(self, batch, seed):
        import torch

        batch.input_ids.to(self.device), batch.attention_mask.to(self.device)
        if ref_cache == "synthetic":
            rng = np.random.default_rng(int(key_hash(current["key"])[:15], 16))
            return torch.from_numpy(rng.gamma(0.5, 1e-4, size=self.model().config.vocab_size).astype(np.float32))
        ref = Cache("task2vec", root=Path(ref_cache)).get(current["key"], ".npz")
        if ref is None:
            raise SystemExit(f"--replay: {ref_cache} has no embedding for {current['key']}")
        return torch.from_numpy(np.asarray(ref["embedding"], dtype=np.float32))

    t2v.Task2VecMetric._compute, t2v.Task2VecMetric.embed = keyed, embed


class Steps:
    """A progress sink that times the progress tasks (step walls) and keeps the notes."""

    def __init__(self):
        self.events: list[str] = []
        self._open: dict[int, float] = {}

    def start(self, t):
        self._open[id(t)] = time.perf_counter()

    def advance(self, t):
        pass

    def end(self, t):
        STEP_WALL[t.step] += time.perf_counter() - self._open.pop(id(t), time.perf_counter())

    def note(self, msg):
        self.events.append(msg)


def device_name() -> str:
    """The GPU's name when torch was imported and sees one, else "cpu"."""
    torch = sys.modules.get("torch")
    return torch.cuda.get_device_name(0) if torch is not None and torch.cuda.is_available() else "cpu"


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
    ap.add_argument("--replay", metavar="REFCACHE",
                    help="read each computed embedding from this cache dir (or make one up: 'synthetic') "
                         "instead of running the probe")
    ap.add_argument("--code", type=Path, metavar="CHECKOUT", help="import curate from this checkout")
    ap.add_argument("--summary", type=Path, metavar="OUT", help="write the timings as JSON here")
    ap.add_argument("--precision-ratio", type=int, default=0, metavar="N",
                    help="after the ranking, time N target batches in fp32 and in bf16, alternating (same batches, "
                         "same load), and print the per-batch times and their ratio")
    args = ap.parse_args()
    code = (args.code or ROOT).resolve()
    sys.path.insert(0, str(code))

    os.environ["CURATE_CACHE"] = str(args.cache_dir)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.cold:
        for ns in ("task2vec", "task2vec-estimates", "batch-tokens", "sources", "tokens"):
            shutil.rmtree(args.cache_dir / ns, ignore_errors=True)
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs; {uptime()}")

    t_start = time.perf_counter()
    from curate import progress
    from curate.rank import RankConfig, rank

    instrument()
    if args.replay:
        replay(args.replay)
    t_imports = time.perf_counter() - t_start
    import curate
    print(f"# curate from {Path(curate.__file__).parent}")
    config = RankConfig(target=args.target, sources=args.source, adaptive=args.adaptive, probe=args.probe)
    options = {"precision": args.precision, "threads": args.threads, "batches": args.batches}
    sink = Steps()
    events = sink.events

    t0 = time.perf_counter()
    with progress.use(sink):
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
    print("\n| step (wall) | seconds |\n|---|---:|")
    for st in STEPS:
        print(f"| {st} | {STEP_WALL[st]:.2f} |")
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
    if args.summary:
        args.summary.write_text(json.dumps({
            "wall_s": wall, "imports_s": t_imports, "phases_s": {ph: SPENT[ph] for ph in PHASES},
            "steps_s": {st: STEP_WALL[st] for st in STEPS}, "cli_wall_s": cli_wall, "peak_rss_gb": rss_gb,
            "sources": len(result["results"]), "code": str(code), "replay": str(args.replay) if args.replay else None,
            "cold": args.cold, "uptime": uptime(), "threads": threads, "device": device_name()}, indent=1))
    print(f"\nratios: forward/total {SPENT['forward'] / wall:.3f}, fixed (load+tokenize+probe)/total "
          f"{(SPENT['load/render'] + SPENT['tokenize'] + SPENT['probe load']) / wall:.3f}"
          + (f", cli_wall {cli_wall:.2f} s" if cli_wall is not None else "") + f"; {uptime()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
