"""Corpus scale: `curate mix` over a synthetic corpus built from the shared data, on every engine.

The corpus: perturbed copies of real records (30% of words replaced, a random tag added, so copies of
one base are not near duplicates of each other), in two sources (jsonl shards), with planted
- exact duplicates (2%: an earlier record again, case/whitespace/punctuation changed),
- near duplicates (2%: an earlier record of >= 120 words with one plain word replaced; GENERATOR 2, in the corpus folder name),
- ProofNet test items (200, some upper-cased), which decontamination must remove.
Then one mix per configuration (engine, workers, shards), each in a fresh process; reported: wall time,
records/s, records per CPU-second (user + system time of the whole process tree, sampled every 0.1 s:
the per-core rate, less sensitive than wall time to other jobs on the machine), the load average, peak RSS (the driver, and the whole process tree including workers and Ray's own processes,
sampled every 0.1 s; the tree's RSS sum counts pages that forked workers share with the driver once per
process, so the tree's PSS sum is given too, every 2.5 s), the share of planted items removed, unplanted records removed as duplicates, and
whether every configuration wrote the same bytes (data.jsonl, removed.jsonl, manifest.json). The sampler runs on the
same cores as the mix, so it is kept cheap (the tree is walked once a second, the processes found are sampled
every 0.1 s) and its own CPU is printed: it walked and re-read the whole tree every 0.1 s until 2026-12-07, which
took ~40 s of CPU from a 1M Ray run (13 processes) and ~8 s from a local one.

    python benchmarks/scale.py --sizes 100k --configs local:1:1,local:1:2,local:1:8,local:2:2,ray:2:2
    python benchmarks/scale.py --sizes 1M --configs ray:2:30 --json r.json --append   # one config per lock

`--configs none` only writes the corpora.

`--reference` also times the issue's yardstick before and after every configuration, in this process: datasketch
`MinHash.bulk` (128 permutations, 5-word shingles) over the corpus's first 20,000 records (~8,000 records/s
on an idle core here when the goal was set), and prints the mix's records per CPU-second as a multiple
of it (the goal, 4,000 against ~8,000, is 0.5x). On a shared host whose speed drifts during a run, that
multiple moves less than the raw rate.

A configuration is engine:workers:shards (shards per source: shard_records = ceil(records / shards)); engine
`local`, `ray` (the mix starts a local Ray, as `curate mix --engine ray` does) or `ray-cluster` (a local Ray cluster
is started with `ray start --head` before the mix, which connects with `--ray-address auto`, and stopped after:
the time a mix takes on a running cluster; the cluster's processes are counted in CPU and memory).
Needs the shared data (CURATE_DATA_HOME) and the pulled probe (its tokenizer counts tokens).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

BASES = ("forml4", "mathlib3-codex-informal", "putnambench-lean4", "math", "gsm8k", "gpteacher-codegen")
SOURCES = ("synth-a", "synth-b")
SHARE_A = 0.6
PLANTED_PROOFNET = 200
GENERATOR = 2  # 2: a planted near duplicate changes one plain word (1: any whitespace piece); in the corpus folder's name


def amount(text: str) -> int:
    mult = {"k": 10**3, "m": 10**6}.get(text[-1].lower(), 1)
    return int(float(text[:-1] if mult > 1 else text) * mult)


# ----------------------------------------------------------------------------- corpus
def make_corpus(n: int, folder: Path, seed: int = 0) -> dict:
    """Write the corpus as jsonl shards (50k lines each) under folder/<source>/; returns the planted ids."""
    from curate import load

    done = folder / "planted.json"
    if done.exists():
        return json.loads(done.read_text())
    rng = random.Random(seed)
    bases = []
    for name in BASES:
        for row in load.load_source(name):
            bases.append((row.get("informal") or "", row.get("formal") or ""))
    vocab = sorted({w for inf, frm in bases[:20000] for w in (inf + " " + frm).split()})
    alpha_vocab = [w for w in vocab if w.isalpha()]
    target = list(load.load_source("proofnet"))
    long_ids: list[tuple[str, str, str]] = []  # (id, informal, formal) of records with >= 120 words
    recent: list[tuple[str, str, str]] = []  # a window of earlier records to copy from
    planted = {"exact": [], "near": [], "proofnet": []}
    pn_at = set(rng.sample(range(n), PLANTED_PROOFNET))
    files: dict[str, object] = {}
    counts = {s: 0 for s in SOURCES}

    def out(source: str):
        k = counts[source] // 50_000
        key = f"{source}-{k}"
        if key not in files:
            d = folder / source
            d.mkdir(parents=True, exist_ok=True)
            files[key] = open(d / f"part-{k:05d}.jsonl", "w", encoding="utf-8")
        counts[source] += 1
        return files[key]

    def perturb(text: str) -> str:
        words = text.split()
        return " ".join(rng.choice(vocab) if rng.random() < 0.3 else w for w in words)

    for i in range(n):
        source = SOURCES[0] if rng.random() < SHARE_A else SOURCES[1]
        r = rng.random()
        rid = f"r{i}"
        if i in pn_at:
            t = target[rng.randrange(len(target))]
            inf = t["informal"] if rng.random() < 0.5 else t["informal"].upper()
            rec, kind = (f"pn{i}", inf, t["formal"]), "proofnet"
        elif recent and r < 0.02:
            orig, inf, frm = rng.choice(recent)
            rec, kind = (f"dx{i}", "  " + inf.upper() + " !", frm), "exact"
        elif long_ids and r < 0.04:
            orig, inf, frm = rng.choice(long_ids)
            words = inf.split()
            # one word: a plain alphabetic one, so the tool's normaliser sees one token changed (a LaTeX or
            # punctuation blob such as `$(ax^6+bx^8)(x^5+f)$,` splits into many tokens: Jaccard ~0.87, not a
            # one-word edit; GENERATOR 1 picked any whitespace-separated piece)
            plain = [k for k, w in enumerate(words) if w.isalpha()] or list(range(len(words)))
            j = rng.choice(plain)
            words[j] = rng.choice(alpha_vocab) + "q"
            rec, kind = (f"dn{i}", " ".join(words), frm), "near"
        else:
            inf, frm = bases[rng.randrange(len(bases))]
            tag = " ".join(rng.choice(vocab) for _ in range(3))
            rec, kind = (rid, perturb(inf) + " " + tag, perturb(frm)), None
            if len(rec[1].split()) >= 120:
                long_ids.append(rec)
                if len(long_ids) > 2000:
                    long_ids.pop(rng.randrange(len(long_ids)))
            recent.append(rec)
            if len(recent) > 5000:
                recent.pop(rng.randrange(len(recent)))
        if kind == "proofnet":
            planted[kind].append(rec[0])
        elif kind:
            planted[kind].append([rec[0], orig])  # the pair: either copy may be the one removed (rank order)
        out(source).write(json.dumps({"id": rec[0], "informal": rec[1], "formal": rec[2]}, ensure_ascii=False) + "\n")
    for fh in files.values():
        fh.close()
    planted["counts"], planted["generator"] = counts, GENERATOR
    done.write_text(json.dumps(planted))
    return planted


# ----------------------------------------------------------------------------- one run (child process)
def child(args) -> None:
    from curate import catalog, settings
    from curate.catalog import SourceSpec
    from curate.mix import MixConfig, build_mix

    spec = json.loads(args.child)
    settings.set_cache_dir(spec["cache"])
    for s in SOURCES:
        catalog.register(SourceSpec(name=s, path=str(Path(spec["corpus"]) / s), kind="informal", license="synthetic",
                                    fields={"id": "id", "informal": "informal", "formal": "formal"}))
    ranking = {"target": "proofnet", "results": [{"rank": 1, "source": SOURCES[0], "alignment": 0.9},
                                                 {"rank": 2, "source": SOURCES[1], "alignment": 0.8}]}
    t0 = time.perf_counter()
    res = build_mix(MixConfig(ranking=ranking, budget=spec["budget"], strategy="top-k", k=2, out=Path(spec["out"]),
                              tokenizer=spec["probe"], engine=spec["engine"], workers=spec["workers"],
                              ray_address=spec.get("address"), shard_records=spec["shard_records"]))
    wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": wall, "in": res.manifest["totals"]["in"], "out": res.manifest["totals"]["out"],
                      "removed": res.manifest["totals"]["removed"]}))


TREE_EVERY = 10
"""Ticks between two walks of the process tree (a walk reads all of /proc: ~2 ms); in between, the processes
already found are sampled (a new process is found within a second; each keeps its last CPU figure)."""
PSS_EVERY = 25
"""Ticks between two PSS sums (smaps_rollup: ~0.5 ms a process of 1 GB, charged to the sampler)."""


def watch(spec: dict, sample: Callable, every: float, what: str) -> tuple[str, float]:
    """Run one `--child` mix of `spec` in a fresh process; call `sample(driver, processes)` (psutil objects of
    the driver and its whole tree) every `every` s while it runs; its stdout and the sampler's own CPU seconds
    (it runs on the same cores as the mix), or exit with the child's stderr."""
    import psutil

    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    stop = threading.Event()
    own = [0.0]

    def poll():
        p = psutil.Process(proc.pid)
        known: dict[int, Any] = {}  # pid -> psutil.Process, kept between walks (a fresh object re-reads /proc)
        tick = 0
        while not stop.is_set():
            try:
                if tick % TREE_EVERY == 0:
                    known = {k.pid: known.get(k.pid, k) for k in [p, *p.children(recursive=True)]}
                sample(p, list(known.values()))
            except psutil.Error:
                pass
            tick += 1
            own[0] = time.thread_time()
            stop.wait(every)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    stdout, stderr = proc.communicate()
    stop.set()
    th.join()
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed:\n{stderr[-3000:]}")
    return stdout, own[0]


def _role(proc) -> str:
    """What a process of the mix's tree is: a Ray worker, one of Ray's own processes (by executable), or other."""
    try:
        cmd = proc.cmdline()
        name = proc.name()
    except Exception:
        return "gone"
    text = " ".join(cmd[:3])
    if _ray_worker(text) or name.startswith("ray::"):
        return "ray worker"
    for part in RAY_PROCESSES:
        if part in text or part in name:
            return part.removesuffix(".py")
    return name


def _by_role(cpu: dict[int, float], names: dict[int, str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for pid, s in cpu.items():
        role = names.get(pid, "?")
        out[role] = out.get(role, 0.0) + s
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


@contextlib.contextmanager
def ray_cluster(workers: int):
    """A local Ray cluster of `workers` CPUs started (`ray start --head`) for the block and stopped after: the mix
    connects to it (`--ray-address auto`), so Ray's start-up is not in its time, as on a running cluster."""
    ray = str(Path(sys.executable).with_name("ray"))
    subprocess.run([ray, "stop", "--force"], capture_output=True)
    subprocess.run([ray, "start", "--head", f"--num-cpus={workers}", "--include-dashboard=false",
                    "--disable-usage-stats"], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True)


RAY_PROCESSES = ("raylet", "gcs_server", "dashboard", "log_monitor", "monitor.py", "runtime_env")
"""Ray's own processes, by a part of their command line."""


def _ray_worker(cmdline: str) -> bool:
    """A Ray worker process: `default_worker.py` until it runs a task, then retitled `ray::IDLE`, `ray::Actor.f`..."""
    return "default_worker.py" in cmdline or cmdline.startswith("ray::")


def _cluster_processes() -> list:
    """The running Ray cluster's processes (raylet, GCS, idle workers...): not children of the mix's driver."""
    import psutil

    out = []
    for k in psutil.process_iter(["cmdline"]):
        text = " ".join(k.info["cmdline"] or [])
        if _ray_worker(text) or any(part in text for part in RAY_PROCESSES):
            out.append(k)
    return out


def _alive(known: list, procs: list, look: bool) -> list:
    """`known` cluster processes, less those already in `procs`; `look`: first add workers the raylet started since."""
    import psutil

    seen = {k.pid for k in procs}
    if look:
        pids = {k.pid for k in known} | seen
        for k in psutil.process_iter(["cmdline"]):
            if k.pid not in pids and _ray_worker(" ".join(k.info["cmdline"] or [])):
                known.append(k)
    return [k for k in known if k.pid not in seen]


def output_sha(out: Path) -> dict:
    return {f: hashlib.sha256((out / f).read_bytes()).hexdigest()[:16]
            for f in ("data.jsonl", "removed.jsonl", "manifest.json")}


def run_one(cfg: str, n: int, corpus: Path, work: Path, probe: str, budget: int, counts: dict) -> dict:
    engine, workers, shards = cfg.split(":")
    largest = max(counts.values())
    cluster = engine == "ray-cluster"  # a Ray started before the mix (`ray start --head`), as on a cluster
    spec = {"cache": str(work / "cache"), "corpus": str(corpus), "out": str(work / f"out-{n}-{cfg.replace(':', '-')}"),
            "probe": probe, "engine": "ray" if cluster else engine, "workers": int(workers), "budget": budget,
            "shard_records": math.ceil(largest / int(shards)), "address": "auto" if cluster else None}
    with ray_cluster(int(workers)) if cluster else contextlib.nullcontext():
        return measure(cfg, n, spec)


def measure(cfg: str, n: int, spec: dict) -> dict:
    """One `--child` mix of `spec`, sampled: wall, CPU by process, peak memory, output hashes."""
    import psutil

    cluster_procs = _cluster_processes() if spec.get("address") else []  # their CPU and memory count too
    cpu0 = {}  # what the cluster's processes had used before the mix
    for k in cluster_procs:
        try:
            t = k.cpu_times()
            cpu0[k.pid] = t.user + t.system
        except psutil.Error:
            pass
    peak = {"driver": 0, "tree": 0, "pss": 0}  # pss: proportional set size summed over the tree (every PSS_EVERY ticks)
    cpu: dict[int, float] = {}  # pid -> user + system seconds, last seen (every process of the tree)
    names: dict[int, str] = {}  # pid -> what it is (driver, a Ray worker, raylet, ...), for the CPU split
    tick = [0]
    load0 = os.getloadavg()

    def sample(p, procs):
        driver = p.memory_info().rss
        tree = driver
        pss = 0
        for k in procs:
            try:
                if k is not p:
                    tree += k.memory_info().rss
                if tick[0] % PSS_EVERY == 0:  # smaps_rollup: shared pages split between the processes mapping them
                    pss += k.memory_full_info().pss
                t = k.cpu_times()
                cpu[k.pid] = t.user + t.system
                if k.pid not in names:
                    names[k.pid] = "driver" if k is p else _role(k)
            except psutil.Error:
                pass
        peak["driver"], peak["tree"] = max(peak["driver"], driver), max(peak["tree"], tree)
        peak["pss"] = max(peak["pss"], pss)
        tick[0] += 1

    look = bool(spec.get("address"))  # only a running cluster's new workers are not the driver's children
    stdout, sampler_cpu = watch(spec, lambda p, procs: sample(p, procs + _alive(cluster_procs, procs,
                                                                                   look and tick[0] % 10 == 0)),
                                0.1, cfg)
    for pid, s0 in cpu0.items():
        if pid in cpu:
            cpu[pid] -= s0
    result = json.loads(stdout.strip().splitlines()[-1])
    result["sha"] = output_sha(Path(spec["out"]))
    result.update(config=cfg, records=n, shard_records=spec["shard_records"], peak_rss_driver_mb=peak["driver"] / 2**20,
                  peak_rss_tree_mb=peak["tree"] / 2**20, peak_pss_tree_mb=peak["pss"] / 2**20, cpu_s=sum(cpu.values()),
                  cpu_by_role=_by_role(cpu, names), load_start=load0, load_end=os.getloadavg(),
                  sampler_cpu_s=sampler_cpu)
    return result


def minhash_reference(corpus: Path, n: int = 20_000) -> float:
    """Records per CPU-second of datasketch `MinHash.bulk` (128 permutations) over the first `n` records of
    the corpus's first shard (the sides' normalised tokens, 5-word shingles; tokenising is not timed)."""
    from datasketch import MinHash

    from curate.mix.text import tokens

    rows = []
    with open(corpus / SOURCES[0] / "part-00000.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            rows.append(tokens(r.get("informal")) + tokens(r.get("formal")))
            if len(rows) >= n:
                break
    shingles = [[" ".join(t[i:i + 5]).encode("utf-8") for i in range(max(1, len(t) - 4))] for t in rows]
    t0 = time.process_time()
    MinHash.bulk(shingles, num_perm=128)
    return len(shingles) / (time.process_time() - t0)


def recall(out: Path, planted: dict) -> dict:
    removed = {}
    with open(out / "removed.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            removed[r["id"]] = r["reason"]
    dup = ("exact_duplicate", "near_duplicate")
    plantset = {i for k in ("exact", "near") for pair in planted[k] for i in pair} | set(planted["proofnet"])

    def found(pairs):  # one copy of each planted pair removed as a duplicate
        return sum(removed.get(a) in dup or removed.get(b) in dup for a, b in pairs) / max(1, len(pairs))

    def gone(pairs):  # not both copies in the mix: one removed for any reason (decontamination runs first)
        return sum(a in removed or b in removed for a, b in pairs) / max(1, len(pairs))

    return {
        "exact": found(planted["exact"]),
        "near": found(planted["near"]),
        "exact_removed": gone(planted["exact"]),
        "near_removed": gone(planted["near"]),
        "proofnet": sum(removed.get(i) == "contamination" for i in planted["proofnet"]) / len(planted["proofnet"]),
        "planted": {k: len(planted[k]) for k in ("exact", "near", "proofnet")},
        "unplanted_removed": sum(1 for i in removed if i not in plantset),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100k", help="comma list of corpus sizes (100k, 1M, 3M)")
    ap.add_argument("--configs", default="local:1:1,local:1:2,local:1:8,local:2:2,ray:2:2")
    ap.add_argument("--work", default="/tmp/curate-scale", help="corpus, cache and outputs (never the repo)")
    ap.add_argument("--probe", default=None, help="model folder whose tokenizer counts tokens (default: the pulled smollm2)")
    ap.add_argument("--budget", default="2M", help="token budget of the mix")
    ap.add_argument("--json", default=None, help="write all results here")
    ap.add_argument("--append", action="store_true",
                    help="keep the results already in --json (runs under separate locks; identity checked over all)")
    ap.add_argument("--reference", action="store_true",
                    help="time datasketch MinHash.bulk before and after every configuration (see above)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    from curate import probe as probe_mod

    probe = args.probe or probe_mod.resolve("smollm2")
    work = Path(args.work)
    rows = json.loads(Path(args.json).read_text()) if args.append and args.json and Path(args.json).exists() else []
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    configs = [] if args.configs == "none" else args.configs.split(",")  # none: only make the corpora
    for size in args.sizes.split(","):
        n = amount(size)
        corpus = work / f"corpus-{n}-g{GENERATOR}"
        t0 = time.perf_counter()
        planted = make_corpus(n, corpus)
        print(f"corpus {n:,} records ({planted['counts']}) ready in {time.perf_counter() - t0:.0f} s", flush=True)
        for cfg in configs:
            ref0 = minhash_reference(corpus) if args.reference else None
            r = run_one(cfg, n, corpus, work, probe, amount(args.budget), planted["counts"])
            if ref0 is not None:
                r["minhash_reference"] = [ref0, minhash_reference(corpus)]
            r["commit"], r["started"] = commit, time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
            r["recall"] = recall(work / f"out-{n}-{cfg.replace(':', '-')}", planted)
            rows.append(r)
            rc = r["recall"]
            print(f"{n:>9,} {cfg:<12} {r['wall_s']:7.1f} s {r['in'] / r['wall_s']:8.0f} rec/s  "
                  f"{r['in'] / r['cpu_s']:6.0f} rec/CPU-s (CPU {r['cpu_s']:.0f} s; load {r['load_start'][0]:.1f}"
                  f"->{r['load_end'][0]:.1f})  "
                  f"RSS driver {r['peak_rss_driver_mb']:6.0f} MB tree {r['peak_rss_tree_mb']:6.0f} MB "
                  f"(PSS {r['peak_pss_tree_mb']:6.0f} MB)  "
                  f"recall (as duplicates / removed) exact {rc['exact']:.4f}/{rc['exact_removed']:.4f} "
                  f"near {rc['near']:.4f}/{rc['near_removed']:.4f} proofnet {rc['proofnet']:.3f}  "
                  f"unplanted removed {rc['unplanted_removed']}  sha {r['sha']['data.jsonl']}/"
                  f"{r['sha']['removed.jsonl']}/{r['sha']['manifest.json']}", flush=True)
            print(f"{'':>9} the sampler's own CPU: {r['sampler_cpu_s']:.1f} s (same cores, not counted above)", flush=True)
            if len(r["cpu_by_role"]) > 1:
                print(f"{'':>9} CPU s by process: " + ", ".join(f"{k} {v:.0f}" for k, v in r["cpu_by_role"].items()),
                      flush=True)
            if "minhash_reference" in r:
                ref = sum(r["minhash_reference"]) / 2
                print(f"{'':>9} MinHash.bulk reference {r['minhash_reference'][0]:,.0f} / "
                      f"{r['minhash_reference'][1]:,.0f} rec/CPU-s (before / after): the mix ran at "
                      f"{r['in'] / r['cpu_s'] / ref:.2f}x it (goal 4,000 / 8,000 = 0.50x)", flush=True)
            if args.json:  # after every configuration, so a stopped run keeps what it measured
                Path(args.json).write_text(json.dumps(rows, indent=2))
        same = {json.dumps(r["sha"], sort_keys=True) for r in rows if r["records"] == n}
        if same:
            print(f"{n:,}: identical output across {len([r for r in rows if r['records'] == n])} configs: "
                  f"{'yes' if len(same) == 1 else 'NO'}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
