"""Build a fine-tuning mix: ranking -> decontaminate -> deduplicate -> select under a budget -> write.

Sources are visited in rank order (best first) and each record in its source's order, so the
first copy of a duplicate that is kept is always the best-ranked one. Decontamination and
deduplication run over every record of the sources a strategy draws from, before selection, so
their counts do not depend on the budget. The output folder is written to a temporary folder
beside `out` and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from curate import catalog, load, probe, tokens
from curate.errors import CurateError
from curate.mix import strategies as st
from curate.mix.decontam import ContaminationIndex
from curate.mix.dedup import Deduplicator
from curate.mix.manifest import REASONS, check_conservation, dataset_card, mix_md, versions
from curate.records import COLUMNS, render

RANKING_KEYS = ("target", "results")
RESULT_KEYS = ("source", "alignment")


@dataclass
class MixConfig:
    ranking: dict | Path | str | None = None
    """A ranking (the dict `curate.rank.rank` returns) or the path of its JSON; None = rank `sources` first."""
    budget: int = 0
    """Token budget of the output, counted with `tokenizer` on each record's rendered text."""
    strategy: str = "top-k"
    """top-k | proportional | select | random | gzip | task2vec | task2vec-pre | hybrid (see `curate.mix.strategies`)."""
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


@dataclass
class MixResult:
    out: Path
    manifest: dict[str, Any]


# ----------------------------------------------------------------------------- inputs
def load_ranking(ranking: dict | Path | str) -> tuple[dict, str]:
    """(validated ranking, sha256 of its canonical JSON)."""
    if isinstance(ranking, (str, Path)):
        path = Path(ranking)
        if not path.is_file():
            raise CurateError(f"ranking file {path} not found")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise CurateError(f"ranking file {path} is not UTF-8 text") from exc
        except json.JSONDecodeError as exc:
            raise CurateError(f"ranking file {path}:{exc.lineno}: malformed JSON ({exc.msg})") from exc
        where = str(path)
    else:
        data, where = ranking, "ranking"
    if not isinstance(data, dict) or any(k not in data for k in RANKING_KEYS):
        raise CurateError(f"{where} is not a curate ranking (needs keys {', '.join(RANKING_KEYS)}; "
                          "write one with `curate rank --json`)")
    results = data["results"]
    if not isinstance(results, list) or not results:
        raise CurateError(f"{where} ranks no sources")
    for i, r in enumerate(results, 1):
        if not isinstance(r, dict) or any(k not in r for k in RESULT_KEYS):
            raise CurateError(f"{where}: result {i} lacks {' or '.join(RESULT_KEYS)}")
        if not isinstance(r["alignment"], (int, float)):
            raise CurateError(f"{where}: result {i} ({r['source']}) has a non-numeric alignment")
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    return data, digest


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


def _tokenizer(config: MixConfig):
    """(tokenizer, name for cache keys and the manifest, whether record_lengths may cache)."""
    if isinstance(config.tokenizer, (str, Path)):
        name = str(config.tokenizer)
        return tokens.tokenizer_for(name), name, True
    tok = config.tokenizer
    return tok, getattr(tok, "name_or_path", "") or type(tok).__name__, False


def _lengths(ds, fp: str, tok, name: str, cacheable: bool) -> list[int]:
    if cacheable:
        return tokens.record_lengths(ds, tok, fp, name)
    texts = [render(r) for r in ds]
    out: list[int] = []
    for i in range(0, len(texts), 1024):
        out += tokens.lengths(texts[i:i + 1024], tok)
    return out


def _out_tmp(out: Path) -> Path:
    """A fresh temporary folder beside `out` (fails early, before any work, if `out` is unwritable)."""
    if out.exists() and not out.is_dir():
        raise CurateError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").exists():
        raise CurateError(f"output folder {out} is not empty and holds no earlier mix; choose another --out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    except OSError as exc:
        raise CurateError(f"cannot write output folder {out}: {exc.strerror or exc}") from exc


def _install(tmp: Path, out: Path) -> None:
    """Move the finished folder into place, replacing an earlier mix."""
    old = None
    try:
        if out.exists():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            os.replace(out, old / "mix")
        os.replace(tmp, out)
    except OSError as exc:
        raise CurateError(f"cannot write output folder {out}: {exc.strerror or exc}") from exc
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


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
            ranking_in: dict | Path | str = _rank(config)
            notes.append(f"ranked in this run with {config.metric}")
        else:
            ranking_in = config.ranking
        ranking, ranking_sha = load_ranking(ranking_in)
        manifest, rows, removed, scores = _build(config, ranking, ranking_sha, notes)
        _write(tmp, rows, removed, manifest, ranking, scores)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _install(tmp, out)
    return MixResult(out=out, manifest=manifest)


def _rank(config: MixConfig) -> dict:
    from curate import metrics
    from curate.rank import RankConfig, rank

    tok_model = config.tokenizer if isinstance(config.tokenizer, str) else probe.DEFAULT_PROBE
    rconf = RankConfig(target=config.target, sources=config.sources, metrics=metrics.names(config.metric),
                       seed=config.seed, probe=tok_model)
    return rank(rconf, {**config.metric_options, "seed": config.seed}).to_json()  # a Ranking; the dict until the mix reads the type


def _build(config: MixConfig, ranking: dict, ranking_sha: str, notes: list[str]):
    results = ranking["results"]
    ranked = [r["source"] for r in results]
    info = {r["source"]: r for r in results}
    for name in ranked:
        catalog.get(name)  # unknown sources fail before any work
    used = st.participating(config.strategy, ranked, config.k)
    tok, tok_name, cacheable = _tokenizer(config)

    # eval sets: the ranking's target first
    index = ContaminationIndex(config.ngram, config.min_ngram)
    eval_sets = []
    for name in dict.fromkeys([ranking["target"], *config.eval_sets]):
        ds = load.load_source(name)
        index.add_dataset(ds)
        eval_sets.append({"name": name, "records": len(ds), "fingerprint": load.fingerprint(ds)})
    if ranking.get("target_fingerprint") and ranking["target_fingerprint"] != eval_sets[0]["fingerprint"]:
        notes.append(f"target {ranking['target']} changed since it was ranked (fingerprint "
                     f"{ranking['target_fingerprint']} then, {eval_sets[0]['fingerprint']} now)")

    dedup = Deduplicator(near=config.near_dedup, threshold=config.near_threshold, num_perm=config.num_perm,
                         shingle=config.shingle)
    datasets: dict[str, Any] = {}
    sources: dict[str, dict[str, Any]] = {}
    pool: list[st.Candidate] = []
    removed: list[dict[str, Any]] = []
    for name in used:
        ds = load.load_source(name)
        fp = load.fingerprint(ds)
        if info[name].get("fingerprint") and info[name]["fingerprint"] != fp:
            notes.append(f"source {name} changed since it was ranked (fingerprint {info[name]['fingerprint']} "
                         f"then, {fp} now)")
        lengths = _lengths(ds, fp, tok, tok_name, cacheable)
        datasets[name] = ds
        counts = {r: 0 for r in REASONS}
        for i, row in enumerate(ds):
            hit = index.match(row)
            if hit is not None:
                counts["contamination"] += 1
                removed.append({"source": name, "id": row["id"], "reason": "contamination", **hit.to_json()})
                continue
            dup = dedup.check(f"{name}/{row['id']}", render(row))
            if dup is not None:
                counts[dup.reason] += 1
                removed.append({"source": name, "id": row["id"], "reason": dup.reason, "kept": dup.kept,
                                "similarity": dup.similarity})
                continue
            pool.append(st.Candidate(name, i, lengths[i]))
        sources[name] = {"rank": info[name].get("rank", ranked.index(name) + 1),
                         "alignment": info[name]["alignment"], "weight": None, "in": len(ds), "out": 0,
                         "tokens": 0, "candidate_tokens": sum(lengths), "removed": counts, "fingerprint": fp,
                         "ranked_fingerprint": info[name].get("fingerprint"), "license": info[name].get("license")}

    # selection
    caps = {}
    if config.cap is not None:
        cap_tokens = int(config.cap * config.budget) if config.cap <= 1 else int(config.cap)
        caps = {name: cap_tokens for name in used}
    alignments = {n: float(info[n]["alignment"]) for n in used}
    ctx = st.SelectContext(
        ranked=used, alignments=alignments, budget=config.budget, caps=caps, seed=config.seed,
        temperature=config.temperature, n_buckets=config.n_buckets,
        text=lambda c: render(datasets[c.source][c.index]),
        target_texts=lambda: load.texts(load.load_source(ranking["target"])))
    selection = st.choose(config.strategy, pool, ctx)
    scores = None
    if selection.scores:  # per-record scores of every candidate, for scores.parquet (curate.select.audit)
        from curate.select import audit
        scores = (audit.score_rows(pool, selection.scores, selection.taken,
                                   lambda c: datasets[c.source][c.index]["id"]), list(selection.scores))
    taken, skipped = selection.taken, selection.skipped
    if selection.weights is not None:
        for name, w in selection.weights.items():
            sources[name]["weight"] = round(w, 6)
    for c, reason in skipped:
        sources[c.source]["removed"][reason] += 1
    rows = []
    for c in taken:
        s = sources[c.source]
        s["out"] += 1
        s["tokens"] += c.tokens
        row = {k: datasets[c.source][c.index][k] for k in COLUMNS}
        row["text"] = render(row)
        row["tokens"] = c.tokens
        if c.score is not None:
            row["score"] = c.score
        rows.append(row)
    check_conservation(sources)

    totals = {"in": sum(s["in"] for s in sources.values()), "out": len(rows),
              "tokens": sum(s["tokens"] for s in sources.values()),
              "removed": {r: sum(s["removed"][r] for s in sources.values()) for r in REASONS}}
    cfg = {f.name: getattr(config, f.name) for f in fields(config) if f.name not in ("out", "ranking", "tokenizer")}
    manifest = {
        "target": {"name": ranking["target"], "fingerprint": eval_sets[0]["fingerprint"],
                   "ranked_fingerprint": ranking.get("target_fingerprint")},
        "eval_sets": eval_sets,
        "ranking": {"input": str(config.ranking) if isinstance(config.ranking, (str, Path)) else
                    ("ranked in this run" if config.ranking is None else "dict"), "copy": "ranking.json",
                    "sha256": ranking_sha, "primary_metric": ranking.get("primary_metric")},
        "tokenizer": {"name": tok_name, "vocab": len(tok)},
        "config": cfg,
        "sources": sources,
        "unused_sources": [{"source": r["source"], "rank": r.get("rank"), "alignment": r["alignment"]}
                           for r in results if r["source"] not in sources],
        "totals": totals,
        "conservation": "checked: for every source, in = out + sum(removed)",
        "notes": notes,
        "versions": versions(),
    }
    return manifest, rows, removed, scores


# ----------------------------------------------------------------------------- output
def _write(tmp: Path, rows: list[dict], removed: list[dict], manifest: dict, ranking: dict,
           scores: tuple[list[dict], list[str]] | None = None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [pa.field(c, pa.string()) for c in (*COLUMNS, "text")] + [pa.field("tokens", pa.int64())]
    if rows and "score" in rows[0]:
        fields.append(pa.field("score", pa.float64()))
    schema = pa.schema(fields)
    with open(tmp / "data.jsonl", "w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, tmp / "data.parquet")
    with open(tmp / "removed.jsonl", "w", encoding="utf-8", newline="\n") as fh:
        for r in removed:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
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
    (tmp / "README.md").write_text(dataset_card(text), encoding="utf-8")
