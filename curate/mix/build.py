"""Build a fine-tuning mix: ranking -> decontaminate -> deduplicate -> select under a budget -> write.

The mix is a pipeline of `curate.pipeline` steps: sources are streamed in shards; per shard (on the
executor's workers) records are rendered and their tokens counted, decontaminated, and given dedup
keys; then, over compact columns of every shard, duplicates are resolved and the strategy fills the
budget. Sources are visited in rank order (best first) and each record in its source's order, so the
first copy of a duplicate that is kept is always the best-ranked one, whatever the sharding.
Decontamination and deduplication run over every record of the sources a strategy draws from, before
selection, so their counts do not depend on the budget. The output folder is written to a temporary
folder beside `out` and moved into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from curate import catalog, load, probe, tokens
from curate.errors import CurateError
from curate.mix import strategies as st
from curate.mix.decontam import ContaminationIndex
from curate.mix.dedup import EXACT
from curate.mix.manifest import REASONS, dataset_card, mix_md, versions
from curate.pipeline import dedup as dd
from curate.pipeline.dedup import Signer
from curate.pipeline.base import Accounts
from curate.pipeline.corpus import Corpus
from curate.pipeline.executor import ENGINES, executor
from curate.pipeline.steps import Shared
from curate.pipeline.worker_tokenizer import for_workers
from curate.records import COLUMNS
from curate.types import Ranking



@dataclass
class MixConfig:
    ranking: Any = None
    """A ranking (`curate.types.Ranking`, as `curate.rank.rank` returns, or its dict) or the path of its JSON;
    None = rank `sources` first."""
    budget: int = 0
    """Token budget of the output, counted with `tokenizer` on each record's rendered text."""
    strategy: str = "top-k"
    """top-k | proportional | select | random | gzip | cover | task2vec | task2vec-pre | hybrid (see
    `curate.mix.strategies`). `curate mix` defaults to cover (README, "Example-level strategies"); this library
    default is still top-k."""
    out: Path = Path("mix")
    """Output folder (replaced if it holds an earlier mix; refused if it holds anything else)."""
    seed: int = 0
    """Seed for the random strategy (and for ranking, when this run ranks)."""
    k: int | None = None
    """top-k: number of sources (default 3); proportional and select: draw only from the k best (default all)."""
    temperature: float = 0.1
    """proportional: weights are softmax(alignment / temperature); lower = more to the best sources."""
    cap: float | None = None
    """Per-source token cap: a value <= 1 is a fraction of the budget, above 1 a number of tokens."""
    tokenizer: Any = probe.DEFAULT_PROBE
    """Model name or folder whose tokenizer counts tokens, or a tokenizer object."""
    ngram: int = 13
    """Decontamination window in normalised tokens (shorter target sides use a shorter window)."""
    min_ngram: int = 8
    """Shortest decontamination window; target sides with fewer tokens match only as whole texts."""
    eval_sets: list[str] = field(default_factory=list)
    """Further catalog sources to decontaminate against, besides the ranking's target."""
    near_dedup: bool = True
    """Also remove near duplicates (MinHash LSH), not only exact ones."""
    near_threshold: float = 0.8
    """Estimated Jaccard similarity of word shingles at or above which a record is a near duplicate."""
    near_recall_weight: float = 0.99
    """LSH bands x rows: datasketch's optimum for `near_threshold` weighting false negatives by this (false
    positives by 1 minus it): 0.99 gives 18 x 7 at 0.8 / 128 permutations, which finds a one-word edit of a
    120-word text with probability ~1 - 1e-6 (0.5, datasketch's default, 9 x 13: ~97%). Candidates are still
    confirmed by their estimated Jaccard (`curate.pipeline.dedup`)."""
    formal_near: float = 0.1
    """Decontamination, formal side: a statement within this fraction of canonical-token edits of a target
    statement is a copy (`formal.canonical`; 0 = only equal canonical forms)."""
    shingle: int = 5
    """Word shingle length for near-duplicate MinHash."""
    num_perm: int = 128
    """MinHash permutations."""
    n_buckets: int = 10_000
    """select: hashed n-gram feature buckets."""
    target: str | None = None
    """Target to rank against when `ranking` is None."""
    sources: list[str] | None = None
    """Sources to rank when `ranking` is None (None = every available candidate)."""
    metric: str = "task2vec"
    """Metric to rank with when `ranking` is None."""
    metric_options: dict[str, Any] = field(default_factory=dict)
    """Options for that metric (see the metric's Config)."""
    output_shards: int = 1
    """Files the output is split into: 1 = data.jsonl + data.parquet; N > 1 = data-0000i-of-0000N.{jsonl,parquet}."""
    max_records: int | None = None
    """Read at most this many records of each source (None = every record; sources are streamed)."""
    engine: str = "local"
    """local | ray: where the per-shard steps run (the output does not depend on it)."""
    workers: int = 1
    """Worker processes (local) or CPUs of the local Ray started without `ray_address`."""
    ray_address: str | None = None
    """Address of a running Ray cluster (engine ray); None starts a local one."""
    shard_records: int = 20_000
    """Records per shard, the unit of work a worker gets (the output does not depend on it)."""


EXECUTION = ("engine", "workers", "ray_address", "shard_records")
"""Config fields that say how a mix is computed, not what it is: left out of the manifest."""
LATER_FIELDS = ("output_shards", "max_records")
"""Fields newer than the manifest format: recorded only when set, so older mixes rebuild byte for byte."""


@dataclass
class MixResult:
    out: Path
    manifest: dict[str, Any]


# ----------------------------------------------------------------------------- inputs
def load_ranking(ranking: Any) -> tuple[Ranking, dict, str]:
    """(the validated `Ranking`, its JSON dict as given — key order kept, for ranking.json —, sha256 of its
    canonical JSON); `ranking` is a `curate.types.Ranking`, its dict, or the path of its JSON."""
    typed = Ranking.from_json(ranking)
    if not typed.results:
        raise CurateError(f"{ranking if isinstance(ranking, (str, Path)) else 'ranking'} ranks no sources")
    if isinstance(ranking, (str, Path)):  # the file as written (key order kept), for ranking.json
        data = json.loads(Path(ranking).read_text(encoding="utf-8"))
    else:
        data = ranking if isinstance(ranking, dict) else typed.to_json()
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    return typed, data, digest


def _validate(config: MixConfig) -> None:
    st.check_strategy(config.strategy)
    if not isinstance(config.budget, int) or config.budget <= 0:
        raise CurateError(f"budget must be a positive number of tokens, got {config.budget!r}")
    if config.k is not None and config.k < 1:
        raise CurateError(f"k must be at least 1, got {config.k}")
    if config.temperature <= 0:
        raise CurateError(f"temperature must be positive, got {config.temperature}")
    if config.cap is not None and config.cap <= 0:
        raise CurateError(f"cap must be positive (a fraction <= 1 of the budget, or tokens), got {config.cap}")
    if not 1 <= config.min_ngram <= config.ngram:
        raise CurateError(f"need 1 <= min-ngram <= ngram, got ngram={config.ngram}, min-ngram={config.min_ngram}")
    if not 0 < config.near_threshold <= 1:
        raise CurateError(f"near-duplicate threshold must be in (0, 1], got {config.near_threshold}")
    if not 0 <= config.formal_near < 1:
        raise CurateError(f"--near-formal must be in [0, 1), got {config.formal_near}")
    if config.engine not in ENGINES:
        raise CurateError(f"unknown engine {config.engine!r}; choose from {', '.join(ENGINES)}")
    for name in ("workers", "shard_records", "output_shards"):
        if not isinstance(getattr(config, name), int) or getattr(config, name) < 1:
            raise CurateError(f"{name.replace('_', '-')} must be at least 1, got {getattr(config, name)!r}")
    if config.max_records is not None and config.max_records < 1:
        raise CurateError(f"max-records must be at least 1, got {config.max_records}")


def _tokenizer(config: MixConfig):
    """(tokenizer, name for cache keys and the manifest, whether record_lengths may cache)."""
    if isinstance(config.tokenizer, (str, Path)):
        name = str(config.tokenizer)
        return tokens.tokenizer_for(name), name, True
    tok = config.tokenizer
    return tok, getattr(tok, "name_or_path", "") or type(tok).__name__, False


def _out_tmp(out: Path) -> Path:
    """A fresh temporary folder for the new mix; fails early, before any work, if `out` is a file, is
    unwritable, or holds files that no earlier mix wrote (see curate.outdir)."""
    from curate import outdir

    outdir.check(out, "mix", legacy=_legacy_files(out))
    return outdir.new_tmp(out)


def _legacy_files(out: Path) -> tuple[str, ...]:
    """What a mix written before output markers holds: the files its manifest lists, and the manifest and cards."""
    try:
        files = json.loads((out / "manifest.json").read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError, AttributeError):
        return ()
    return (*files, "manifest.json", "MIX.md", "README.md")


def _install(tmp: Path, out: Path) -> None:
    """Move the finished mix into place, replacing only an earlier mix's files."""
    from curate import outdir

    outdir.install(tmp, out, "mix", legacy=_legacy_files(out))


# ----------------------------------------------------------------------------- build
def build_mix(config: MixConfig) -> MixResult:
    """Build the mix described by `config` and write it to `config.out`."""
    _validate(config)
    if config.ranking is None and not config.target:
        raise CurateError("give a ranking, or a target (and sources) to rank first")
    if config.ranking is not None and (config.target or config.sources):
        raise CurateError("give either a ranking or a target/sources to rank, not both")
    if config.ranking is not None:
        load_ranking(config.ranking)  # a bad ranking fails before anything is written
    out = Path(config.out)
    tmp = _out_tmp(out)  # an unwritable output fails before any ranking or loading
    try:
        notes: list[str] = []
        if config.ranking is None:
            ranking_in: Any = _rank(config)
            notes.append(f"ranked in this run with {config.metric}")
        else:
            ranking_in = config.ranking
        ranking, ranking_json, ranking_sha = load_ranking(ranking_in)
        manifest, rows, removed, scores = _build(config, ranking, ranking_sha, notes)
        if not rows:
            raise CurateError(f"no record fits the budget of {config.budget:,} tokens (or every one was removed); "
                              "raise --budget — nothing was written")
        _write(tmp, rows, removed, manifest, ranking_json, scores, config.output_shards)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _install(tmp, out)
    return MixResult(out=out, manifest=manifest)


def _rank(config: MixConfig) -> Ranking:
    from curate import metrics
    from curate.rank import RankConfig, rank

    tok_model = config.tokenizer if isinstance(config.tokenizer, str) else probe.DEFAULT_PROBE
    rconf = RankConfig(target=config.target, sources=config.sources, metrics=metrics.names(config.metric),
                       seed=config.seed, probe=tok_model)
    return rank(rconf, {**config.metric_options, "seed": config.seed})  # a curate.types.Ranking


def _start(config: MixConfig, ranking: Ranking) -> tuple[Any, tuple]:
    """The engine (`curate.pipeline.executor`) and `_setup`'s tokenizer and eval index, made at once: Ray's
    start-up (seconds, mostly waiting for its processes) on this thread, the setup on another."""
    with ThreadPoolExecutor(1, thread_name_prefix="curate-mix-setup") as pool:
        made = pool.submit(_setup, config, ranking)
        ex = executor(config.engine, config.workers, config.ray_address)
        try:
            return ex, made.result()
        except BaseException:
            ex.close()
            raise


def _setup(config: MixConfig, ranking: Ranking) -> tuple[Any, str, ContaminationIndex, list[dict]]:
    """(tokenizer, its name, the eval sets' index, the eval sets): the target first, then `config.eval_sets`;
    one index, built here and shipped to every worker."""
    tok, tok_name, _ = _tokenizer(config)
    index = ContaminationIndex(config.ngram, config.min_ngram, near=config.formal_near)
    eval_sets = []
    for name in dict.fromkeys([ranking.target, *config.eval_sets]):
        ds = load.load_source(name)
        index.add_dataset(ds)
        eval_sets.append({"name": name, "records": len(ds), "fingerprint": load.fingerprint(ds)})
    return tok, tok_name, index, eval_sets


def _build(config: MixConfig, ranking: Ranking, ranking_sha: str, notes: list[str]):
    """The mix as a pipeline: read (shards of each source) -> render and count tokens -> decontaminate
    -> dedup keys (map steps, on the executor's workers) -> global dedup -> select under the budget
    (global, on compact columns) -> the rows to write."""
    ranked = ranking.sources
    info = {r.source: r for r in ranking.results}
    for name in ranked:
        catalog.get(name)  # unknown sources fail before any work
    used = st.participating(config.strategy, ranked, config.k)
    accounts = Accounts(REASONS)
    fingerprints: dict[str, str] = {}
    candidate_tokens = {name: 0 for name in used}
    contaminated = []
    work = Path(tempfile.mkdtemp(dir=Path(config.out).parent, prefix=f".{Path(config.out).name}.work-"))
    corpus = Corpus(work, used, config.num_perm)
    try:
        ex, (tok, tok_name, index, eval_sets) = _start(config, ranking)
        try:
            notes += index.notes  # the target's problems held under other ids, indexed too
            if ranking.target_fingerprint and ranking.target_fingerprint != eval_sets[0]["fingerprint"]:
                notes.append(f"target {ranking.target} changed since it was ranked (fingerprint "
                             f"{ranking.target_fingerprint} then, {eval_sets[0]['fingerprint']} now)")
            signer = Signer(near=config.near_dedup, threshold=config.near_threshold, num_perm=config.num_perm,
                            shingle=config.shingle, recall_weight=config.near_recall_weight)
            shared = Shared(index=index, tokenizer=for_workers(tok), signer=signer)  # workers: no transformers
            shared.spill = str(work.resolve()) if ex.shares_disk else None  # workers write their rows there
            for res in ex.map_sources(shared, used, config.shard_records, config.max_records, fingerprints):
                corpus.add(res)
                accounts.add_in(res.source, res.n_in)
                candidate_tokens[res.source] += res.candidate_tokens
                for r in res.removed:
                    accounts.remove(res.source, r.reason)
                contaminated += res.removed
        finally:
            ex.close()
        corpus.finish(signer.b)
        for name in used:
            accounts.open(name)
            if info[name].fingerprint and info[name].fingerprint != fingerprints[name]:
                notes.append(f"source {name} changed since it was ranked (fingerprint {info[name].fingerprint} "
                             f"then, {fingerprints[name]} now)")

        # global dedup over every shard, then the clean pool in priority order
        res = corpus.resolve(signer)
        removed = _removed_rows(corpus, res, contaminated, accounts)
        kept = np.flatnonzero(res.status == dd.KEPT)
        pool: Any = corpus.pool(kept)  # columns: no Python object per record for top-k, proportional, random
        del kept
        if config.strategy in st.RECORD_STRATEGIES:  # they score texts; scores.parquet lists their Candidates
            pool = pool.candidates()

        # selection (global: compact candidates; texts read back from the spill only if a strategy asks)
        caps = {}
        if config.cap is not None:
            cap_tokens = int(config.cap * config.budget) if config.cap <= 1 else int(config.cap)
            caps = {name: cap_tokens for name in used}
        alignments = {n: float(info[n].alignment) for n in used}
        position = lambda c: corpus.position(c.source, c.index)  # noqa: E731
        ctx = st.SelectContext(
            ranked=used, alignments=alignments, budget=config.budget, caps=caps, seed=config.seed,
            temperature=config.temperature, n_buckets=config.n_buckets,
            text=lambda c: corpus.text(position(c)),
            target_texts=lambda: load.texts(load.load_source(ranking.target)),
            # the Task2Vec record scorer uses the mix's probe (`--probe`), as the ranking does
            scorer_options={"task2vec": {"probe": config.tokenizer}} if isinstance(config.tokenizer, str) else {})
        selection = st.choose(config.strategy, pool, ctx)
        scores = None
        if selection.scores:  # per-record scores of every candidate, for scores.parquet (curate.select.audit)
            from curate.select import audit
            scores = (audit.score_rows(pool, selection.scores, selection.taken,
                                       lambda c: corpus.record_id(position(c))), list(selection.scores))
        taken = selection.taken
        for (source, reason), n in selection.skipped_counts().items():
            accounts.remove(source, reason, n)
        where = [position(c) for c in taken]
        fetched = corpus.rows(where, [*COLUMNS, "text"])
        rows = []
        for c, p in zip(taken, where):
            accounts.add_out(c.source)
            row = fetched[p]
            row["tokens"] = c.tokens
            if c.score is not None:
                row["score"] = c.score
            rows.append(row)
    finally:
        corpus.close()
        shutil.rmtree(work, ignore_errors=True)
    accounts.check()

    sources: dict[str, dict[str, Any]] = {}
    weights = selection.weights or {}
    for name in used:
        a = accounts.sources[name]
        row = info[name]
        sources[name] = {"rank": row.given("rank", ranked.index(name) + 1), "alignment": row.alignment,
                         "weight": round(weights[name], 6) if name in weights else None,
                         "in": a["in"], "out": a["out"], "tokens": sum(c.tokens for c in taken if c.source == name),
                         "candidate_tokens": candidate_tokens[name], "removed": a["removed"],
                         "fingerprint": fingerprints[name], "ranked_fingerprint": row.given("fingerprint"),
                         "license": row.given("license")}
    totals = {"in": sum(s["in"] for s in sources.values()), "out": len(rows),
              "tokens": sum(s["tokens"] for s in sources.values()),
              "removed": {r: sum(s["removed"][r] for s in sources.values()) for r in REASONS}}
    cfg = {f.name: getattr(config, f.name) for f in fields(config)
           if f.name not in ("out", "ranking", "tokenizer") + EXECUTION
           and not (f.name in LATER_FIELDS and getattr(config, f.name) == f.default)}
    manifest = {
        "target": {"name": ranking.target, "fingerprint": eval_sets[0]["fingerprint"],
                   "ranked_fingerprint": ranking.given("target_fingerprint")},
        "eval_sets": eval_sets,
        "ranking": {"input": str(config.ranking) if isinstance(config.ranking, (str, Path)) else
                    ("ranked in this run" if config.ranking is None else "dict"), "copy": "ranking.json",
                    "sha256": ranking_sha, "primary_metric": ranking.given("primary_metric")},
        "tokenizer": {"name": tok_name, "vocab": len(tok)},
        "config": cfg,
        "sources": sources,
        "unused_sources": [{"source": r.source, "rank": r.given("rank"), "alignment": r.alignment}
                           for r in ranking.results if r.source not in sources],
        "totals": totals,
        "conservation": "checked: for every source, in = out + sum(removed)",
        "notes": notes,
        "versions": versions(),
    }
    return manifest, rows, removed, scores


def _removed_rows(corpus: Corpus, res, contaminated: list, accounts: Accounts) -> list[dict[str, Any]]:
    """removed.jsonl rows in priority order: contamination (map steps) and duplicates (global dedup)."""
    key = {name: i for i, name in enumerate(corpus.sources)}
    out = [((key[r.source], r.row), r.to_json()) for r in contaminated]
    for p in np.flatnonzero(res.status != dd.KEPT):
        reason = dd.STATUS[int(res.status[p])]
        source, other = corpus.source_of(p), int(res.kept_of[p])
        accounts.remove(source, reason)
        out.append(((key[source], corpus.row_of(p)),
                    {"source": source, "id": corpus.record_id(p), "reason": reason,
                     "kept": f"{corpus.source_of(other)}/{corpus.record_id(other)}",
                     "similarity": 1.0 if reason == EXACT else round(float(res.similarity[p]), 4)}))
    out.sort(key=lambda x: x[0])
    return [r for _, r in out]


# ----------------------------------------------------------------------------- output
REMOVED_SCHEMA = (("source", "string"), ("id", "string"), ("reason", "string"), ("target_id", "string"),
                  ("target_side", "string"), ("side", "string"), ("window", "int64"), ("ngram", "string"),
                  ("kept", "string"), ("similarity", "float64"))


def _removed_parquet(removed: list[dict], path: Path) -> None:
    """removed.jsonl as a Parquet table (one schema: a field a row lacks is null), the `removed` dataset."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    known = dict(REMOVED_SCHEMA)
    extra = list(dict.fromkeys(k for r in removed for k in r if k not in known))
    cols = {k: pa.array([r.get(k) for r in removed], type=getattr(pa, t)()) for k, t in REMOVED_SCHEMA}
    for k in extra:  # fields a newer matcher adds: stored as JSON text
        cols[k] = pa.array([None if r.get(k) is None else json.dumps(r[k], ensure_ascii=False) for r in removed],
                           pa.string())
    pq.write_table(pa.table(cols), path)


def shard_names(n: int) -> list[str]:
    """Stems of the output data files: `data` alone, or data-00000-of-0000n ... (the Hugging Face layout)."""
    return ["data"] if n == 1 else [f"data-{i:05d}-of-{n:05d}" for i in range(n)]


def _write(tmp: Path, rows: list[dict], removed: list[dict], manifest: dict, ranking: dict,
           scores: tuple[list[dict], list[str]] | None = None, shards: int = 1) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [pa.field(c, pa.string()) for c in (*COLUMNS, "text")] + [pa.field("tokens", pa.int64())]
    if rows and "score" in rows[0]:
        fields.append(pa.field("score", pa.float64()))
    schema = pa.schema(fields)
    bounds = [len(rows) * i // shards for i in range(shards + 1)]
    per_shard = []
    for i, stem in enumerate(shard_names(shards)):
        part = rows[bounds[i]:bounds[i + 1]]
        with open(tmp / f"{stem}.jsonl", "w", encoding="utf-8", newline="\n") as fh:
            for row in part:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        pq.write_table(pa.Table.from_pylist(part, schema=schema), tmp / f"{stem}.parquet")
        per_shard.append({"files": [f"{stem}.jsonl", f"{stem}.parquet"], "records": len(part),
                          "tokens": sum(r["tokens"] for r in part)})
    if shards > 1:
        manifest["output_shards"] = per_shard
    with open(tmp / "removed.jsonl", "w", encoding="utf-8", newline="\n") as fh:
        for r in removed:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    _removed_parquet(removed, tmp / "removed.parquet")
    if scores is not None:
        from curate.select.audit import write_scores
        write_scores(tmp / "scores.parquet", *scores)
    (tmp / "ranking.json").write_text(json.dumps(ranking, indent=2, ensure_ascii=False, default=str) + "\n",
                                      encoding="utf-8")
    manifest["files"] = {name: hashlib.sha256((tmp / name).read_bytes()).hexdigest()
                         for name in sorted(p.name for p in tmp.iterdir())}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n",
                                       encoding="utf-8")
    text = mix_md(manifest)
    (tmp / "MIX.md").write_text(text, encoding="utf-8")
    (tmp / "README.md").write_text(dataset_card(text, "data.parquet" if shards == 1 else "data-*.parquet"),
                                   encoding="utf-8")
