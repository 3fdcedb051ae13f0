"""curate's mix strategies against DSIR and ZIP-FIT at the same token budget, fine-tuned and scored on ProofNet.

The pool: every local candidate except the ProofNet copies, decontaminated against the target and
deduplicated once by `curate mix` (strategy top-k over all of them, unlimited budget): every method
selects from exactly these records, and every selection is checked against the same contamination
index again before training. Each selection fills the budget (probe tokens, rendered text) to within
one record; every run trains with `train.lora` defaults (LoRA r=16, 2 epochs, fp32, seed) and is
scored on all ProofNet test items. Peers are called through their own packages, as their READMEs
do (`pip install 'curate[peers]'`): DSIR (`data-selection`, HashedNgramDSIR, hashed bigrams, 10k
buckets; `resample` with the largest sample count whose records fit the budget, found by bisection
with the seed fixed so that the samples are nested) and ZIP-FIT (`zip-fit`, gzip level 9; the first
records of its top-k list that fit).

Resumable: the pool, every selection (with its wall time) and every finished fine-tune are kept
under --out and reused when their inputs match (`train.confirm.fine_tune`). Each heavy step (pool,
peer and Task2Vec selections, each fine-tune) holds the shared lock /tmp/curate-heavy.lock while it
runs, and the process runs niced. On a GPU, fine-tunes and Task2Vec scoring use it.

    python benchmarks/peers.py --out /tmp/peers --budgets 8192 --seeds 0 \
        --methods dsir,zip-fit,random,top-k,task2vec-pre,hybrid
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import statistics
import sys
import time
from pathlib import Path

POOL = ["minif2f-lean4", "minif2f-isabelle", "dsp-isabelle-proofs", "putnambench-lean4", "putnambench-isabelle",
        "forml4", "mathlib3-codex-informal", "gsm8k", "math", "humaneval", "gpteacher-codegen", "gpteacher-roleplay",
        "self-instruct-human"]
RANKING = Path(__file__).parent / "results" / "rank_h100" / "rank-gpu.json"
CURATE_METHODS = ("top-k", "proportional", "select", "random", "gzip", "cover", "task2vec", "task2vec-pre", "hybrid")
PEERS = ("dsir", "zip-fit")
LOCK = os.environ.get("CURATE_HEAVY_LOCK", "/tmp/curate-heavy.lock")  # the shared heavy-work lock


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@contextlib.contextmanager
def heavy(log, what: str):
    """Hold the shared heavy-work lock for one step."""
    t = time.time()
    log(f"{what}: waiting for the heavy lock")
    with open(LOCK, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        waited = time.time() - t
        log(f"{what}: lock taken after {waited:.0f} s wait (load {load_avg()})")
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, data) -> None:
    from curate.cache import atomic_write_bytes

    atomic_write_bytes(path, json.dumps(data, indent=2, default=str, ensure_ascii=False).encode("utf-8"))


# ----------------------------------------------------------------------------- pool
def pool_ranking(path: Path) -> dict:
    """The ranking restricted to the pool's sources, renumbered."""
    data = json.loads(path.read_text(encoding="utf-8"))
    results = [dict(r) for r in data["results"] if r["source"] in POOL]
    missing = sorted(set(POOL) - {r["source"] for r in results})
    if missing:
        sys.exit(f"ranking {path} lacks pool sources {missing}")
    for i, r in enumerate(results, 1):
        r["rank"] = i
    return {**data, "results": results}


def build_pool(out: Path, ranking: dict, log) -> list[dict]:
    """Every clean record of the pool (rank order, then record order), built once by `curate mix`."""
    from curate.mix import MixConfig, build_mix

    folder = out / "pool"
    want = {"ranking": ranking["results"], "target": ranking["target"]}
    def ready() -> bool:
        return read_json(out / "pool.key.json") == want and (folder / "data.jsonl").exists()

    if ready():
        log("pool: reusing the decontaminated, deduplicated pool")
    else:
        with heavy(log, "pool"):
            if not ready():  # another run may have built it while this one waited
                t = time.time()
                build_mix(MixConfig(ranking=ranking, budget=10**12, strategy="top-k", k=len(POOL), out=folder))
                log(f"pool: built in {time.time() - t:.0f} s")
                write_json(out / "pool.key.json", want)
    # split on newlines only: texts hold other line separators (str.splitlines would cut records apart)
    rows = [json.loads(x) for x in (folder / "data.jsonl").read_text(encoding="utf-8").split("\n") if x]
    manifest = read_json(folder / "manifest.json")
    log(f"pool: {len(rows)} records, {sum(r['tokens'] for r in rows):,} tokens; removed "
        f"{manifest['totals']['removed']}")
    return rows


def target_texts(target: str) -> list[str]:
    from curate import load

    return load.texts(load.load_source(target))


# ----------------------------------------------------------------------------- selections
def fit_in_order(order: list[int], rows: list[dict], budget: int) -> list[int]:
    """Walk `order`, taking each record that still fits the budget (as `curate.mix.strategies.fill`)."""
    from curate.mix import strategies as st

    cands = [st.Candidate(rows[i]["source"], i, rows[i]["tokens"]) for i in order]
    taken, _ = st.fill({"pool": cands}, budget, {}, st.in_order)
    return [c.index for c in taken]


def select_curate(method: str, rows: list[dict], ranking: dict, budget: int, seed: int, args, log,
                  reuse: bool = True) -> dict:
    from curate.mix import strategies as st

    ranked_all = [r["source"] for r in ranking["results"]]
    k = args.k if method == "top-k" else None
    ranked = st.participating(method, ranked_all, k)
    align = {r["source"]: float(r["alignment"]) for r in ranking["results"]}
    pool = [st.Candidate(r["source"], i, r["tokens"]) for i, r in enumerate(rows) if r["source"] in ranked]
    pool.sort(key=lambda c: (ranked.index(c.source), c.index))
    texts = {i: r["text"] for i, r in enumerate(rows)}
    tgt = target_texts(ranking["target"])
    ctx = st.SelectContext(ranked=ranked, alignments={s: align[s] for s in ranked}, budget=budget, seed=seed,
                           text=lambda c: texts[c.index], target_texts=lambda: tgt,
                           prefilter=args.prefilter, prefilter_keep=args.prefilter_keep, diversity=args.diversity,
                           scorer=args.hybrid_scorer,
                           scorer_options={"task2vec": {"device": args.device, "precision": args.task2vec_precision},
                                           "gzip": {} if args.gzip_targets is None else {"n_targets": args.gzip_targets}})
    if method == "cover" and reuse:  # its distances depend on neither the seed nor the budget: computed once a run
        ctx.scorers["cover"] = _memo_cover
    sel = st.choose(method, pool, ctx)
    return {"indices": [c.index for c in sel.taken], "deferred": sel.deferred}


class _MemoCover:
    """`cover`'s scorer, keeping its last distance matrix for the same texts and targets (a peers run makes
    the same pool's selection for several seeds and budgets; the selection times of the reuses are ~0 s,
    so selection time is measured with --time-selection, which builds a fresh scorer)."""

    def __init__(self):
        self.key, self.dist = None, None

    def rank(self, texts, target_texts):
        from curate import select

        texts, target_texts = list(texts), list(target_texts)
        key = hash((tuple(texts), tuple(target_texts)))
        scorer = select.CoverageScorer()
        if key != self.key:
            self.key, self.dist = key, scorer._distances(texts, target_texts)
        return scorer.rank_distances(self.dist)


_memo_cover = _MemoCover()


def select_dsir(rows: list[dict], pool_file: Path, target_file: Path, work: Path, budget: int, seed: int,
                log) -> dict:
    import numpy as np
    from data_selection import HashedNgramDSIR

    work.mkdir(parents=True, exist_ok=True)
    dsir = HashedNgramDSIR([str(pool_file)], [str(target_file)], cache_dir=str(work / "cache"), num_proc=2,
                           ngrams=2, num_buckets=10_000)
    dsir.fit_importance_estimator(num_tokens_to_fit="auto")
    dsir.compute_importance_weights()
    where = {(r["source"], r["id"]): i for i, r in enumerate(rows)}

    def sample(n: int) -> list[int]:
        out = work / f"resampled-{n}"
        np.random.seed(seed)  # the same Gumbel noise every call: samples of growing n are nested
        dsir.resample(out_dir=str(out), num_to_sample=n, cache_dir=str(work / f"rcache-{n}"))
        got = []
        for f in sorted(out.glob("*.jsonl")):
            got += [where[(e["source"], e["id"])] for e in map(json.loads, filter(None, f.read_text(encoding="utf-8").split("\n")))]
        return got

    def tokens(idx: list[int]) -> int:
        return sum(rows[i]["tokens"] for i in idx)

    lo, hi = 0, 1
    while tokens(sample(hi)) <= budget:  # grow until over budget
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if tokens(sample(mid)) <= budget:
            lo = mid
        else:
            hi = mid
    chosen = sample(lo) if lo else []
    return {"indices": chosen, "num_to_sample": lo}


def zipfit_order(rows: list[dict], pool_file: Path, target_file: Path, work: Path, k: int, log) -> list[int]:
    from zip_fit import ZIPFIT

    work.mkdir(parents=True, exist_ok=True)
    out = work / "top_k_sequences.jsonl"
    ZIPFIT(str(pool_file), str(target_file), k=k, output_file=str(out), compression_algorithm="gzip",
           compress_level=9).run()
    by_text: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_text.setdefault(r["text"], []).append(i)
    order = []
    for line in filter(None, out.read_text(encoding="utf-8").split("\n")):
        hits = by_text.get(json.loads(line)["text"])
        if hits:
            order.append(hits.pop(0))
    return order


# ----------------------------------------------------------------------------- main
def composition(rows: list[dict], idx: list[int]) -> dict:
    tok: dict[str, int] = {}
    for i in idx:
        tok[rows[i]["source"]] = tok.get(rows[i]["source"], 0) + rows[i]["tokens"]
    total = sum(tok.values()) or 1
    return {s: {"tokens": t, "share": round(t / total, 4)} for s, t in sorted(tok.items(), key=lambda kv: -kv[1])}


def write_selection(folder: Path, rows: list[dict], idx: list[int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "data.jsonl", "w", encoding="utf-8", newline="\n") as fh:
        for i in idx:
            fh.write(json.dumps(rows[i], ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/peers"))
    ap.add_argument("--ranking", type=Path, default=RANKING, help="a `curate rank --json` ranking of the pool sources")
    ap.add_argument("--target", default="proofnet")
    ap.add_argument("--budgets", default="8192,32768")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--methods", default=",".join(("random", "top-k", "select", "gzip", "cover", "task2vec-pre", "hybrid") + PEERS))
    ap.add_argument("--k", type=int, default=1, help="top-k: sources")
    ap.add_argument("--prefilter-keep", type=int, default=1024)
    ap.add_argument("--prefilter", default="gzip", help="task2vec-pre: the cheap scorer (gzip | ngram)")
    ap.add_argument("--diversity", type=float, default=0.7)
    ap.add_argument("--gzip-targets", type=int, default=None,
                    help="gzip (and task2vec-pre's gzip pre-filter): target items each record is compared with "
                         "(default: GzipScoreConfig's)")
    ap.add_argument("--hybrid-scorer", default="ngram")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--task2vec-precision", default="fp32", help="task2vec, task2vec-pre: the trunk's precision (fp32 | bf16)")
    ap.add_argument("--mmap-threshold", type=float, default=None,
                    help="MiB; train.lora's heap setting for the fine-tunes (0 = glibc's own: faster, more memory)")
    ap.add_argument("--zipfit-k", type=int, default=3000, help="ZIP-FIT top-k list length (budget filled from it)")
    ap.add_argument("--tag", default="", help="suffix for method names (variants of settings)")
    ap.add_argument("--select-only", action="store_true", help="make the selections, train nothing")
    ap.add_argument("--report-only", action="store_true", help="report what has finished; compute nothing")
    ap.add_argument("--time-selection", action="store_true",
                    help="time every listed method's selection again from scratch, back to back (timing.json); "
                         "no fine-tunes, nothing else changed")
    args = ap.parse_args(argv)
    os.nice(5)

    from dataclasses import replace

    from curate import load
    from curate.mix.decontam import ContaminationIndex
    from train.confirm import finished_run, fine_tune
    from train.lora import LoraTrainConfig, mix_spec

    t0 = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t0:7.0f}s] {msg}", flush=True)

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    log(f"start; load {load_avg()}")
    ranking = pool_ranking(args.ranking)
    ranking["target"] = args.target
    rows = build_pool(out, ranking, log)
    pool_file = out / "pool" / "data.jsonl"
    target_ds = load.load_source(args.target)
    target_file = out / "target.jsonl"
    if not target_file.exists():
        target_file.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n"
                                       for t in load.texts(target_ds)), encoding="utf-8")
    index = ContaminationIndex(13, 8)  # curate mix's defaults
    index.add_dataset(target_ds)

    budgets = [int(b) for b in args.budgets.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = args.methods.split(",")
    for m in methods:
        if m not in CURATE_METHODS + PEERS:
            sys.exit(f"unknown method {m}")
    settings = {"task2vec_precision": args.task2vec_precision, "prefilter": args.prefilter, "prefilter_keep": args.prefilter_keep, "diversity": args.diversity, "k": args.k,
                "hybrid_scorer": args.hybrid_scorer, "zipfit_k": args.zipfit_k,
                "gzip_targets": args.gzip_targets}
    results = read_json(out / "results.json") or {}
    zip_cache: dict[str, list[int]] = {}

    grid = [(b, s, m) for b in budgets for s in seeds for m in methods]
    sels: dict[str, dict] = {}
    slow = ("dsir", "zip-fit", "cover", "task2vec", "task2vec-pre")

    def ensure(budget: int, seed: int, method: str) -> None:
        """Make (or reuse) one selection (the caller holds the heavy lock for the slow ones)."""
        name = f"{method}{args.tag}-b{budget}-s{seed}"
        sel_path = out / "selections" / f"{name}.json"
        key = {"method": method, "budget": budget, "seed": seed, "pool": pool_file.stat().st_size,
               "settings": {k: v for k, v in settings.items()
                            if (k == "k" and method == "top-k") or (k == "zipfit_k" and method == "zip-fit")
                            or (k == "prefilter" and method == "task2vec-pre")
                            or (k == "task2vec_precision" and method in ("task2vec", "task2vec-pre")
                                and v != "fp32")
                            or (k in ("prefilter_keep", "diversity", "hybrid_scorer")
                                and method in ("gzip", "cover", "task2vec", "task2vec-pre", "hybrid"))
                            or (k == "gzip_targets" and v is not None and method in ("gzip", "task2vec-pre", "hybrid"))}}
        sel = read_json(sel_path)
        if not (sel and sel.get("key") == key):
            if args.report_only:
                return
            t = time.time()
            if method == "dsir":
                extra = select_dsir(rows, pool_file, target_file, out / "work" / name, budget, seed, log)
            elif method == "zip-fit":
                zpath = out / "selections" / f"zip-fit-order-k{args.zipfit_k}.json"
                z = read_json(zpath)
                if not (z and z.get("pool") == key["pool"]):
                    t = time.time()
                    order = zipfit_order(rows, pool_file, target_file, out / "work" / "zip-fit", args.zipfit_k, log)
                    z = {"pool": key["pool"], "order": order, "seconds": time.time() - t}
                    write_json(zpath, z)
                # ZIP-FIT's ranking does not depend on the budget or seed: its time is the ranking's
                extra = {"indices": fit_in_order(z["order"], rows, budget)}
                t = time.time() - z["seconds"]
            else:
                extra = select_curate(method, rows, ranking, budget, seed, args, log)
            seconds = time.time() - t
            idx = extra.pop("indices")
            dirty = sum(index.match(rows[i]) is not None for i in idx)
            sel = {"key": key, "seconds": round(seconds, 2), "records": len(idx),
                   "tokens": sum(rows[i]["tokens"] for i in idx), "contaminated": dirty,
                   "composition": composition(rows, idx), "indices": idx, **extra}
            write_json(sel_path, sel)
            log(f"{name}: selected {sel['records']} records, {sel['tokens']} tokens in {seconds:.1f} s "
                f"(contaminated after selection: {dirty}); {', '.join(list(sel['composition'])[:4])}")
        sels[name] = sel
        res = {k: v for k, v in sel.items() if k not in ("indices", "key")}
        res.update(method=method + args.tag, budget=budget, seed=seed)
        results[name] = {**results.get(name, {}), **res}
        write_json(out / "results.json", results)

    if args.time_selection:  # every listed method's selection made again from scratch, back to back, one lock
        import shutil
        import tempfile

        timing = read_json(out / "timing.json") or []
        with heavy(log, "selection timing"):
            for budget, seed, method in grid:
                work = Path(tempfile.mkdtemp(prefix="peers-timing-"))
                t = time.time()
                if method == "dsir":
                    idx = select_dsir(rows, pool_file, target_file, work, budget, seed, log)["indices"]
                elif method == "zip-fit":
                    order = zipfit_order(rows, pool_file, target_file, work, args.zipfit_k, log)
                    idx = fit_in_order(order, rows, budget)
                else:
                    idx = select_curate(method, rows, ranking, budget, seed, args, log, reuse=False)["indices"]
                seconds = time.time() - t
                shutil.rmtree(work, ignore_errors=True)
                timing.append({"method": method, "budget": budget, "seed": seed, "seconds": round(seconds, 2),
                               "records": len(idx), "load": load_avg(), "cpus": os.cpu_count(),
                               "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())})
                log(f"timing {method} b{budget} s{seed}: {seconds:.1f} s ({len(idx)} records; load {load_avg()})")
        write_json(out / "timing.json", timing)
        this = timing[len(timing) - len(grid):]
        for budget, seed in {(r["budget"], r["seed"]) for r in this}:
            ref = [r["seconds"] for r in this if (r["budget"], r["seed"], r["method"]) == (budget, seed, "dsir")]
            for r in this:
                if (r["budget"], r["seed"]) == (budget, seed):
                    ratio = f"{r['seconds'] / ref[0]:.2f}x DSIR" if ref else ""
                    print(f"b{budget} s{seed} {r['method']:>14}: {r['seconds']:7.1f} s {ratio}")
        return 0

    # phase 1: the selections that take seconds, for every method (so each has its time and composition)
    for budget, seed, method in grid:
        if method not in slow:
            ensure(budget, seed, method)

    # phase 2: in --methods order within each budget and seed, one heavy-lock run per method: its slow
    # selection (if any and not made yet) and its fine-tune (so the first methods listed finish first)
    for budget, seed, method in grid:
        name = f"{method}{args.tag}-b{budget}-s{seed}"
        tcfg = replace(LoraTrainConfig(), budget=budget, seed=seed)
        if args.mmap_threshold is not None:  # execution only: not part of the run key, losses identical
            tcfg = replace(tcfg, mmap_threshold=int(args.mmap_threshold * 2**20))

        def finished():
            if name not in sels:
                return None
            folder = out / "data" / name
            write_selection(folder, rows, sels[name]["indices"])
            ds = load.load_source(mix_spec(folder, name))
            return ds, finished_run(name, ds, tcfg, out)

        got = finished()
        if got is not None and (got[1] is not None or args.select_only):
            hit = got[1]
        elif args.report_only or (args.select_only and method not in slow):
            hit = None
        else:
            with heavy(log, f"{name}: selection and fine-tune"):
                if method in slow:
                    ensure(budget, seed, method)
                hit = None
                if not args.select_only and name in sels:
                    ds, hit = finished()
                    if hit is None:
                        hit = fine_tune(name, ds, target_ds, tcfg, out, args.target, log)
        if hit is not None:
            results[name].update(ce_before=hit["eval_ce_before"], ce_after=hit["eval_ce_after"],
                                 train_tokens=hit["train_tokens"], train_seconds=hit["train_seconds"])
            write_json(out / "results.json", results)
            log(f"{name}: CE after {hit['eval_ce_after']:.4f}")

    # summary: per method and budget, mean ± sd over the seeds that finished
    groups: dict[tuple, list[dict]] = {}
    for r in results.values():
        groups.setdefault((r["budget"], r["method"]), []).append(r)
    lines = ["| budget | method | seeds | selection s | records | tokens | composition (token share) | CE after, mean ± sd | per seed |",
             "|---:|---|---:|---:|---:|---:|---|---:|---|"]
    for (budget, method), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], min(r.get("ce_after", 9) for r in kv[1]))):
        rs.sort(key=lambda r: r["seed"])
        ces = [r["ce_after"] for r in rs if "ce_after" in r]
        ce = (f"{statistics.mean(ces):.4f} ± {statistics.stdev(ces):.4f}" if len(ces) > 1 else
              f"{ces[0]:.4f}" if ces else "—")
        comp = ", ".join(f"{s} {v['share']:.2f}" for s, v in list(rs[0]["composition"].items())[:4])
        lines.append(f"| {budget} | {method} | {len(ces)} | {statistics.mean(r['seconds'] for r in rs):.1f} | "
                     f"{rs[0]['records']} | {rs[0]['tokens']} | {comp} | {ce} | "
                     f"{' '.join(f'{c:.4f}' for c in ces)} |")
    base = next((r["ce_before"] for r in results.values() if "ce_before" in r), None)
    text = "\n".join(lines) + (f"\n\nbase CE (no fine-tune): {base:.4f}\n" if base else "\n")
    (out / "report.md").write_text(text, encoding="utf-8")
    print("\n" + text)
    log(f"done; load {load_avg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
