"""Peak resident memory (RSS) and wall time of `curate train` and `curate confirm` on this machine.

Each command runs in its own child process (through a one-child helper, so the peak read with
`getrusage(RUSAGE_CHILDREN)` belongs to that command alone), with a fresh cache folder (so the
base-model eval is computed, not read from the cache) that links to the pulled probe models.
Prints one table row per command: peak RSS, wall time, and the phase times the run recorded, then
per run the peaks it recorded after each phase (`peak_rss_mib` in metrics.json), steps and CEs.

    flock /tmp/curate-heavy.lock nice -n 5 python benchmarks/train_memory.py            # default train
    python benchmarks/train_memory.py --which train --budget 2048 --epochs 1                # one full batch
    python benchmarks/train_memory.py --which confirm                                      # tiny confirm
    python benchmarks/train_memory.py --code /tmp/snapshot                                  # another checkout

Peak RSS at the default settings does not depend on the budget or the epochs beyond the first full
batch (8 × 256 tokens), so `--budget 2048 --epochs 1` measures the same peak in a fraction of the time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(result: str, cmd: list[str]) -> None:
    """Helper mode: run `cmd`, then write its peak RSS (MiB) and wall time as JSON to `result`."""
    t0 = time.time()
    rc = subprocess.call(cmd)
    wall = time.time() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    Path(result).write_text(json.dumps({"rc": rc, "peak_rss_mib": peak_kib / 1024, "wall_s": wall}))


def measure(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> dict:
    """Run `cmd` through the helper; (rc, peak RSS MiB, wall seconds)."""
    result = log.with_suffix(".rss.json")
    with open(log, "w") as out:
        subprocess.call([sys.executable, __file__, "--child", str(result), "--", *cmd], env=env, cwd=cwd,
                        stdout=out, stderr=subprocess.STDOUT)
    return json.loads(result.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--which", default="train", help="train, confirm or train,confirm")
    ap.add_argument("--source", default="proofnet-valid")
    ap.add_argument("--target", default="proofnet")
    ap.add_argument("--budget", type=int, default=None, help="train budget (default: the command's, 8192)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--extra", default="", help="more flags for `curate train`, space separated")
    ap.add_argument("--confirm-sources", default="proofnet-valid,gsm8k")
    ap.add_argument("--confirm-budget", type=int, default=2048, help="one full 8 x 256 step per fine-tune")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for the commands (e.g. MALLOC_MMAP_THRESHOLD_=131072); repeatable")
    ap.add_argument("--code", default=str(ROOT), help="checkout whose curate/train packages run")
    ap.add_argument("--keep", action="store_true", help="keep the run folders (printed)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("cmd", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.cmd)

    code = Path(args.code).resolve()
    work = Path(tempfile.mkdtemp(prefix="train-memory-"))
    cache = work / "cache"
    cache.mkdir()
    base_cache = Path(os.environ.get("CURATE_CACHE", ROOT / ".cache" / "test")).expanduser()
    (cache / "models").symlink_to((base_cache / "models").resolve())
    env = {**os.environ, "CURATE_CACHE": str(cache), "PYTHONPATH": f"{code}{os.pathsep}{ROOT / 'tests'}",
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.setdefault("CURATE_DATA_HOME", str(ROOT.parent / "shared" / "data"))
    env.update(dict(kv.split("=", 1) for kv in args.env))
    cli = [sys.executable, "-m", "curate.cli"]
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {platform.node()}  {os.cpu_count()} CPUs  "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}  code {code}  env {' '.join(args.env) or '-'}")
    print("| command | rc | peak RSS (MiB) | wall (s) | base eval (s) | train (s) | tuned eval (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for which in args.which.split(","):
        out = work / which
        if which == "train":
            flags = ["--source", args.source, "--target", args.target, "--out", str(out)]
            flags += ["--budget", str(args.budget)] if args.budget else []
            flags += ["--epochs", str(args.epochs)] if args.epochs else []
            flags += args.extra.split()
            cmd = [*cli, "train", *flags]
        elif which == "confirm":
            cmd = [*cli, "confirm", "--target", args.target, "--metric", "gzip", "--no-mix", "--epochs", "1",
                   "--budget", str(args.confirm_budget), "--out", str(out)]
            for s in args.confirm_sources.split(","):
                cmd += ["--source", s]
        else:
            raise SystemExit(f"--which: train or confirm, got {which!r}")
        res = measure(cmd, env, code, work / f"{which}.log")
        runs = [out / "metrics.json"] if which == "train" else sorted((out / "runs").glob("*/metrics.json"))
        metrics = [json.loads(p.read_text()) for p in runs if p.exists()]

        def total(key: str) -> str:
            vals = [m.get(key) for m in metrics if m.get(key) is not None]
            return f"{sum(vals):.0f}" if vals else "-"

        shown = " ".join(a if a.startswith("-") or "/" not in a else Path(a).name for a in cmd[3:])
        print(f"| `curate {shown}` | {res['rc']} | {res['peak_rss_mib']:.0f} | {res['wall_s']:.0f} | "
              f"{total('eval_seconds_before')} | {total('train_seconds')} | {total('eval_seconds_after')} |", flush=True)
        for m in metrics:
            steps = len(m.get("train_loss", []))
            phases = ", ".join(f"{k} {v:,.0f}" for k, v in m.get("peak_rss_mib", {}).items())
            print(f"  {m['train']}: peak after {phases} MiB; {steps} steps, {m['train_seconds'] / max(steps, 1):.1f} s/step; "
                  f"CE {m['eval_ce_before']:.4f} -> {m['eval_ce_after']:.4f}", flush=True)
        if res["rc"] != 0:
            print("  " + "\n  ".join((work / f"{which}.log").read_text().splitlines()[-8:]))
    print(f"# load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.keep:
        print(f"# run folders under {work}")
    else:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
