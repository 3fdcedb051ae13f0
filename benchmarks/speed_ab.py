"""Records per CPU-second of one `curate mix` process, two code trees on the same corpus, in one run.

Each tree (the working tree and, say, a `git archive` of an earlier commit) runs the mix of
`benchmarks/scale.py` (its `--child` mode: top-k over the two synthetic sources, one local process) on the
same corpus, alternately, `--rounds` times each; reported per run: wall s, CPU s (user + system of the
child), records per CPU-second, load average; then the median ratio after/before and whether the two
trees wrote the same `data.jsonl`, `removed.jsonl` and `manifest.json` bytes.

    git archive HEAD~3 | (mkdir -p /tmp/before && tar x -C /tmp/before)
    python benchmarks/scale.py ...               # or: make the corpus once (scale.make_corpus)
    python benchmarks/speed_ab.py --before /tmp/before --corpus /tmp/speed/corpus-20000 --rounds 2

`--profile FILE` instead runs the working tree once under cProfile and prints where the CPU goes.
Needs the pulled probe (its tokenizer counts tokens).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = ("data.jsonl", "removed.jsonl", "manifest.json")


def run(tree: Path, corpus: Path, out: Path, probe: str, budget: int, profile: str | None = None) -> dict:
    cache = Path(tempfile.mkdtemp(prefix="speed-ab-cache-"))
    if out.exists():
        shutil.rmtree(out)
    spec = {"cache": str(cache), "corpus": str(corpus), "out": str(out), "probe": probe, "engine": "local",
            "workers": 1, "budget": budget, "shard_records": 10**9}
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(tree)}
    prof = ["-m", "cProfile", "-o", profile] if profile else []
    cmd = [sys.executable, *prof, str(tree / "benchmarks" / "scale.py"), "--child", json.dumps(spec)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tree)  # cwd: `-m` puts it on sys.path
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(cache, ignore_errors=True)
    if p.returncode != 0:
        raise SystemExit(f"{tree} failed:\n{p.stderr[-3000:]}")
    res = json.loads(p.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    sha = {f: hashlib.sha256((out / f).read_bytes()).hexdigest()[:16] for f in FILES}
    return {"tree": str(tree), "wall_s": wall, "cpu_s": cpu, "records": res["in"], "rec_per_cpu_s": res["in"] / cpu,
            "load": [load0, os.getloadavg()[0]], "sha": sha}


def check_tree(tree: Path) -> None:
    """The child must import curate from `tree`, not from an installed copy elsewhere."""
    code = "import curate, formal; print(curate.__file__); print(formal.__file__)"
    got = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(tree)},
                         capture_output=True, text=True, check=True, cwd=tree).stdout.split()
    if not all(Path(g).resolve().is_relative_to(tree.resolve()) for g in got):
        raise SystemExit(f"PYTHONPATH={tree} imports {got}: not that tree")


def profile_summary(path: str, top: int = 25) -> None:
    import pstats

    st = pstats.Stats(path)
    total = st.total_tt
    print(f"total {total:.1f} s (profiled)")
    groups = {"dedup keys": ("curate/pipeline/dedup.py", "keys_from_tokens"),
              "formal canonical": ("formal/canonical.py", None),
              "token counts": ("curate/pipeline/tokencount.py", None),
              "normalisation": ("curate/mix/text.py", None)}
    for name, (file, func) in groups.items():
        cum = max((v[3] for k, v in st.stats.items() if k[0].endswith(file) and (func is None or k[2] == func)),
                  default=0.0)
        tt = sum(v[2] for k, v in st.stats.items() if k[0].endswith(file))
        print(f"  {name:<18} own time in {file} {tt:6.1f} s ({tt / total:5.1%}); largest cumulative {cum:6.1f} s")
    st.sort_stats("tottime").print_stats(top)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, help="the other code tree (a git archive)")
    ap.add_argument("--after", type=Path, default=HERE.parent, help="default: this working tree")
    ap.add_argument("--corpus", type=Path, required=True, help="a corpus folder made by scale.make_corpus")
    ap.add_argument("--work", type=Path, default=Path("/tmp/speed-ab"))
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--budget", type=int, default=2_000_000)
    ap.add_argument("--probe", default=None)
    ap.add_argument("--profile", default=None, help="profile the --after tree once to this file instead")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from curate import probe as probe_mod

    probe = args.probe or probe_mod.resolve("smollm2")
    args.work.mkdir(parents=True, exist_ok=True)
    if args.profile:
        r = run(args.after, args.corpus, args.work / "out-profile", probe, args.budget, profile=args.profile)
        print(json.dumps(r))
        profile_summary(args.profile)
        return
    trees = {"before": args.before, "after": args.after}
    for t in trees.values():
        check_tree(t)
    rows = []
    for k in range(args.rounds):
        for name in (("before", "after") if k % 2 == 0 else ("after", "before")):  # alternate the order
            r = run(trees[name], args.corpus, args.work / f"out-{name}", probe, args.budget)
            r["name"] = name
            rows.append(r)
            print(f"{name:<6} {r['records']:,} records  wall {r['wall_s']:6.1f} s  CPU {r['cpu_s']:6.1f} s  "
                  f"{r['rec_per_cpu_s']:6.0f} rec/CPU-s  load {r['load'][0]:.2f}->{r['load'][1]:.2f}  "
                  f"sha {'/'.join(r['sha'].values())}", flush=True)
    med = {n: statistics.median(r["rec_per_cpu_s"] for r in rows if r["name"] == n) for n in trees}
    same = len({json.dumps(r["sha"], sort_keys=True) for r in rows}) == 1
    print(f"median rec/CPU-s: before {med['before']:.0f}, after {med['after']:.0f}: "
          f"{med['after'] / med['before']:.2f}x; same bytes: {'yes' if same else 'NO'}")
    if not same:
        for f in FILES:
            print(f"  {f}: " + ", ".join(sorted({r['name'] + ' ' + r['sha'][f] for r in rows})))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
