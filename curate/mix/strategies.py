"""Selection strategies: which clean candidate records fill the token budget, in what order.

Every strategy turns the candidate pool into queues plus a rule for which queue goes next; one
filler (`fill`) then walks them, taking a record when it fits both the budget and its source's cap
and skipping it (reason `over_budget` / `over_cap`) when it does not, so that smaller later records
can still use the room left. The result never exceeds the budget, and stops short of it by less
than the smallest record left unused.

- top-k: the k best-ranked sources, one after another in rank order.
- proportional: every source (or the k best) shares the budget by softmax(alignment / temperature);
  the next record comes from the source furthest below its share, so token shares track weights.
- select: DSIR-style fine-grained selection over the pooled records of all sources (or the k best):
  a record's score is the mean over its hashed unigram/bigram features of log p_target(f) -
  log p_raw(f), both feature distributions add-one smoothed (p_raw from the whole candidate pool);
  best score first.
- random: the pooled records of all sources in a seeded uniform random order (the baseline).

Example-level strategies (records scored against the target by a `curate.select` RecordScorer, over
the pooled records of all sources or the k best; best score first, near copies of records already
taken deferred, `SelectContext.diversity`):
- gzip: 1 − mean NCD of the record to target items (ZIP-FIT-like).
- cover (the `curate mix` default, picked by benchmarks/peers.py): coverage of the target's items: round after
  round, each target item takes its nearest record by NCD that no item has taken yet (`curate.select.coverage`).
- task2vec: the record's own exact head-Fisher embedding vs the target's batch embeddings (the
  ranking's distance). About one probe forward pass per record: 0.9 s a record on the 2-core CPU
  under load ~6 (benchmarks/RESULTS.md), so hours over the ~28k-record shared pool; use a GPU or:
- task2vec-pre: a cheap scorer over every record (`SelectContext.prefilter`, default gzip; or n-gram
  importance), then Task2Vec re-scores the best `prefilter_keep` (default 1,024); re-scored records
  first by their Task2Vec score.
- hybrid: source shares as `proportional` (softmax of the ranking's alignments), records within a
  source by their own score (`SelectContext.scorer`, default n-gram importance).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from curate.errors import CurateError

STRATEGIES = ("top-k", "proportional", "select", "random", "gzip", "cover", "task2vec", "task2vec-pre", "hybrid")
RECORD_STRATEGIES = ("select", "gzip", "cover", "task2vec", "task2vec-pre", "hybrid")
DEFAULT_K = 3
OVER_BUDGET, OVER_CAP = "over_budget", "over_cap"


@dataclass
class Candidate:
    """One clean record that may enter the mix."""

    source: str
    index: int
    """Row index in the source dataset."""
    tokens: int
    score: float | None = None
    """The record-scoring strategies' ordering score (None for other strategies)."""


@dataclass
class Pool:
    """The clean candidates as columns, in pool order (rank order, then record order): what the mix holds per
    record while it selects, ~20 bytes a record (a list of `Candidate`s and the filler's queues: ~220).
    top-k, proportional and random fill the budget from these columns (`fill_pool`); the record-scoring
    strategies need texts anyway and take `candidates()`."""

    names: list[str]
    """Source names; `source` holds indices into this list."""
    source: np.ndarray
    """(n,) int: each candidate's source (index into `names`)."""
    index: np.ndarray
    """(n,) int: row index in its source."""
    tokens: np.ndarray
    """(n,) int: token count."""

    def __len__(self) -> int:
        return len(self.tokens)

    def candidate(self, i: int) -> Candidate:
        return Candidate(self.names[int(self.source[i])], int(self.index[i]), int(self.tokens[i]))

    def candidates(self) -> list[Candidate]:
        return [self.candidate(i) for i in range(len(self))]

    @classmethod
    def of(cls, candidates: Sequence[Candidate], names: Sequence[str]) -> "Pool":
        code = {n: i for i, n in enumerate(names)}
        return cls(list(names), np.array([code[c.source] for c in candidates], dtype=np.int32),
                   np.array([c.index for c in candidates], dtype=np.int64),
                   np.array([c.tokens for c in candidates], dtype=np.int64))


_WHY = {1: OVER_BUDGET, 2: OVER_CAP}
_NO_CAP = np.iinfo(np.int64).max


class Skipped(Sequence):
    """The candidates a columnar fill left out, as (Candidate, reason) pairs in pool order, made on access;
    `counts()` without making them. Holds one byte per pool candidate."""

    def __init__(self, pool: Pool, why: np.ndarray):
        self.pool, self.why = pool, why
        self._at: np.ndarray | None = None

    def _positions(self) -> np.ndarray:
        if self._at is None:
            self._at = np.flatnonzero(self.why)
        return self._at

    def __len__(self) -> int:
        return int(np.count_nonzero(self.why))

    def __getitem__(self, i):  # type: ignore[override]
        at = self._positions()
        if isinstance(i, slice):
            return [(self.pool.candidate(int(p)), _WHY[int(self.why[p])]) for p in at[i]]
        p = int(at[i])
        return self.pool.candidate(p), _WHY[int(self.why[p])]

    def __iter__(self) -> Iterator[tuple[Candidate, str]]:
        for p in self._positions():
            yield self.pool.candidate(int(p)), _WHY[int(self.why[p])]

    def counts(self) -> dict[tuple[str, str], int]:
        """(source, reason) -> candidates left out."""
        out = {}
        for code, reason in _WHY.items():
            per = np.bincount(self.pool.source[self.why == code], minlength=len(self.pool.names))
            out.update({(self.pool.names[k], reason): int(v) for k, v in enumerate(per) if v})
        return out


def check_strategy(name: str) -> str:
    if name not in STRATEGIES:
        raise CurateError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    return name


def participating(strategy: str, ranked: Sequence[str], k: int | None) -> list[str]:
    """The sources a strategy draws from (ranked = source names best first)."""
    if strategy == "top-k":
        return list(ranked[: k or DEFAULT_K])
    if (strategy == "proportional" or strategy in RECORD_STRATEGIES) and k:
        return list(ranked[:k])
    return list(ranked)


def softmax_weights(alignments: dict[str, float], temperature: float) -> dict[str, float]:
    """softmax(alignment / temperature), in the order given."""
    top = max(alignments.values())
    ex = {s: math.exp((a - top) / temperature) for s, a in alignments.items()}
    z = sum(ex.values())
    return {s: e / z for s, e in ex.items()}


def fill(queues: dict[str, list[Candidate]], budget: int, caps: dict[str, int | None],
         pick: Callable[[list[str], dict[str, int]], str]) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    """Walk the queues (`pick` chooses the next queue from the non-empty ones, given tokens taken per
    queue); returns (taken in order, [(skipped, reason)])."""
    pending = {q: deque(c) for q, c in queues.items() if c}
    per_queue = {q: 0 for q in queues}
    per_source: dict[str, int] = {}
    total = 0
    taken: list[Candidate] = []
    skipped: list[tuple[Candidate, str]] = []
    active = [q for q in queues if q in pending]
    while active:
        q = pick(active, per_queue)
        c = pending[q].popleft()
        if not pending[q]:
            active.remove(q)
        used = per_source.get(c.source, 0)
        cap = caps.get(c.source)
        if cap is not None and used + c.tokens > cap:
            skipped.append((c, OVER_CAP))
        elif total + c.tokens > budget:
            skipped.append((c, OVER_BUDGET))
        else:
            taken.append(c)
            total += c.tokens
            per_source[c.source] = used + c.tokens
            per_queue[q] += c.tokens
    return taken, skipped


def fill_pool(pool: Pool, queues: dict[str, np.ndarray], budget: int, caps: dict[str, int | None],
              pick: Callable[[list[str], dict[str, int]], str]) -> tuple[np.ndarray, np.ndarray]:
    """`fill` over a columnar pool: each queue is an array of pool positions, and either the only queue or
    every queue holds one source's records. Returns (positions taken, in order; per pool candidate 0 =
    taken or in no queue, 1 = over_budget, 2 = over_cap): the same takes and reasons as `fill` over the
    same candidates, without a Python object per candidate. A skip changes nothing `pick` sees, so `fill`
    skips a run of records of one queue back to back: here the run up to the next record that fits (or
    the queue's end) is found and settled with numpy."""
    if len(queues) > 1:
        for name, q in queues.items():
            if len(q) and np.any(pool.source[q] != pool.source[q[0]]):
                raise ValueError(f"fill_pool: queue {name!r} mixes sources; give one queue, or one per source")
    tok, src = pool.tokens, pool.source
    why = np.zeros(len(pool), dtype=np.uint8)
    cap = np.array([_NO_CAP if caps.get(n) is None else int(caps[n]) for n in pool.names], dtype=np.int64)
    used = np.zeros(len(pool.names), dtype=np.int64)
    per_queue = {q: 0 for q in queues}
    ptr = {q: 0 for q in queues}
    total = 0
    taken: list[int] = []
    active = [q for q in queues if len(queues[q])]

    def next_fit(q: np.ndarray, j: int) -> int:
        """Index in q of the first record from j on that fits the budget and its source's cap; len(q) if none."""
        size = 64
        while j < len(q):
            idx = q[j:j + size]
            t = tok[idx]
            hit = np.flatnonzero((t <= budget - total) & (used[src[idx]] + t <= cap[src[idx]]))
            if len(hit):
                return j + int(hit[0])
            j += size
            size = min(2 * size, 1 << 16)
        return len(q)

    while active:
        name = pick(active, per_queue)
        q, p = queues[name], ptr[name]
        pos = int(q[p])
        t, s = int(tok[pos]), int(src[pos])
        if total + t <= budget and used[s] + t <= cap[s]:
            taken.append(pos)
            total += t
            used[s] += t
            per_queue[name] += t
            ptr[name] = p + 1
        else:  # skip up to the next record that fits: over its cap first, else over the budget
            f = next_fit(q, p + 1)
            idx = q[p:f]
            why[idx] = np.where(used[src[idx]] + tok[idx] > cap[src[idx]], 2, 1)
            ptr[name] = f
        if ptr[name] == len(q):
            active.remove(name)
    return np.asarray(taken, dtype=np.int64), why


def in_order(active: list[str], _taken: dict[str, int]) -> str:
    return active[0]


def proportional_pick(weights: dict[str, float]) -> Callable[[list[str], dict[str, int]], str]:
    def pick(active: list[str], taken: dict[str, int]) -> str:
        # furthest below its share; ties go to the better-ranked source (active keeps rank order)
        return min(active, key=lambda s: taken[s] / weights[s] if weights[s] > 0 else math.inf)

    return pick


def random_order(pool: list[Candidate], seed: int) -> list[Candidate]:
    perm = np.random.default_rng(seed).permutation(len(pool))
    return [pool[i] for i in perm]


from curate.select.ngram import importance_scores  # noqa: E402  (kept importable from here)


def select_order(pool: list[Candidate], scores: np.ndarray) -> list[Candidate]:
    """Best score first; ties keep pool order (rank order, then record order)."""
    from curate.select import best_first

    for c, s in zip(pool, scores):
        c.score = None if math.isnan(float(s)) else round(float(s), 6)
    rounded = np.array([np.nan if c.score is None else c.score for c in pool])
    return [pool[i] for i in best_first(rounded)]


# ----------------------------------------------------------------------------- one entry point
@dataclass
class SelectContext:
    """What a strategy may use besides the candidate pool (built by the mix, read by `choose`)."""

    ranked: list[str]
    """Participating source names, best first."""
    alignments: dict[str, float]
    """Each participating source's ranked alignment."""
    budget: int
    caps: dict[str, int | None] = field(default_factory=dict)
    seed: int = 0
    temperature: float = 0.1
    n_buckets: int = 10_000
    text: Callable[[Candidate], str] | None = None
    """A candidate's rendered text (needed by record-scoring strategies)."""
    target_texts: Callable[[], list[str]] | None = None
    """The target's rendered texts, loaded on first call (needed by record-scoring strategies)."""
    scorer: str = "ngram"
    """hybrid: the record scorer that orders records within a source (ngram | gzip | cover | task2vec | task2vec-pre)."""
    prefilter: str = "gzip"
    """task2vec-pre: the cheap scorer run over every record first (gzip | ngram); gzip, the best single
    record scorer measured (benchmarks/RESULTS.md, peers)."""
    prefilter_keep: int = 1024
    """task2vec-pre: records the pre-filter passes on to Task2Vec."""
    diversity: float = 0.7
    """gzip, cover, task2vec, task2vec-pre, hybrid: a record whose hashed n-gram cosine similarity to a record
    already taken reaches this is deferred behind all others (1.0 = off; `select` never defers)."""
    scorer_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Config fields per record scorer name (e.g. {"task2vec": {"device": "cuda"}})."""
    scorers: dict[str, Any] = field(default_factory=dict)
    """Ready RecordScorer instances by name, used instead of building them (tests, shared probes)."""


@dataclass
class Selection:
    taken: list[Candidate]
    """Records in the mix, in output order."""
    skipped: Sequence[tuple[Candidate, str]]
    """Candidates left out, with the reason (over_budget / over_cap); from a `Pool`, a `Skipped` view."""
    weights: dict[str, float] | None = None
    """proportional, hybrid: each source's share of the budget."""
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-record scores over the whole pool (pool order), by scorer name, for auditing (scores.parquet)."""
    deferred: int = 0
    """Records moved behind the others as near copies of records already taken (diversity)."""

    def skipped_counts(self) -> dict[tuple[str, str], int]:
        """(source, reason) -> candidates left out."""
        if isinstance(self.skipped, Skipped):
            return self.skipped.counts()
        return dict(Counter((c.source, why) for c, why in self.skipped))


def record_scorer(name: str, ctx: SelectContext):
    """The RecordScorer a record strategy uses (`ctx.scorers` first, then built from `ctx.scorer_options`)."""
    from curate import select

    if name in ctx.scorers:
        return ctx.scorers[name]
    if name == "task2vec-pre":
        if ctx.prefilter not in ("gzip", "ngram"):
            raise CurateError(f"prefilter must be gzip or ngram, not {ctx.prefilter!r}")
        return select.PrefilterScorer(record_scorer(ctx.prefilter, ctx), record_scorer("task2vec", ctx),
                                      ctx.prefilter_keep)
    opts = dict(ctx.scorer_options.get(name, {}))
    if name == "ngram":
        opts.setdefault("n_buckets", ctx.n_buckets)
    if name in ("gzip", "cover", "task2vec"):
        opts.setdefault("seed", ctx.seed)
    return select.make_scorer(name, **opts)


def _diverse(order: list[int], texts: list[str], pool: list[Candidate], ctx: SelectContext,
             wanted: int) -> tuple[list[int], int]:
    from curate.select import diverse_order

    new, deferred = diverse_order(order, texts, [c.tokens for c in pool], wanted, ctx.diversity, ctx.n_buckets)
    return new, len(deferred)


def _choose_columns(strategy: str, pool: Pool, ctx: SelectContext) -> Selection:
    """top-k, proportional and random over a columnar pool: the same selection as over its Candidates."""
    weights = None
    if strategy == "random":
        queues = {"pool": np.random.default_rng(ctx.seed).permutation(len(pool))}
        pick = in_order
    else:
        code = {n: i for i, n in enumerate(pool.names)}
        queues = {n: np.flatnonzero(pool.source == code[n]) if n in code else np.zeros(0, np.int64)
                  for n in ctx.ranked}
        pick = in_order
        if strategy == "proportional":
            weights = softmax_weights({n: ctx.alignments[n] for n in ctx.ranked}, ctx.temperature)
            pick = proportional_pick(weights)
    at, why = fill_pool(pool, queues, ctx.budget, ctx.caps, pick)
    return Selection([pool.candidate(int(p)) for p in at], Skipped(pool, why), weights=weights)


def choose(strategy: str, pool: list[Candidate] | Pool, ctx: SelectContext) -> Selection:
    """Run `strategy` over the clean candidate pool (pool order = rank order, then record order): a list of
    Candidates, or a columnar `Pool` (top-k, proportional and random then never make a Python object per
    candidate; the record-scoring strategies take its Candidates)."""
    check_strategy(strategy)
    if isinstance(pool, Pool):
        if strategy in ("top-k", "proportional", "random"):
            return _choose_columns(strategy, pool, ctx)
        pool = pool.candidates()
    if strategy in ("top-k", "proportional"):
        queues = {name: [c for c in pool if c.source == name] for name in ctx.ranked}
        if strategy == "top-k":
            taken, skipped = fill(queues, ctx.budget, ctx.caps, in_order)
            return Selection(taken, skipped)
        weights = softmax_weights({n: ctx.alignments[n] for n in ctx.ranked}, ctx.temperature)
        taken, skipped = fill(queues, ctx.budget, ctx.caps, proportional_pick(weights))
        return Selection(taken, skipped, weights=weights)
    if strategy == "random":
        taken, skipped = fill({"pool": random_order(pool, ctx.seed)}, ctx.budget, ctx.caps, in_order)
        return Selection(taken, skipped)
    if ctx.text is None or ctx.target_texts is None:
        raise CurateError(f"strategy {strategy} needs record texts and the target's texts")
    texts = [ctx.text(c) for c in pool]
    if strategy == "select":  # today's DSIR-style selection, unchanged: no diversity step
        scores = importance_scores(texts, ctx.target_texts(), ctx.n_buckets)
        taken, skipped = fill({"pool": select_order(pool, scores)}, ctx.budget, ctx.caps, in_order)
        return Selection(taken, skipped, scores={"ngram": scores})
    name = ctx.scorer if strategy == "hybrid" else strategy
    order, scores = record_scorer(name, ctx).rank(texts, ctx.target_texts())
    primary = scores.get("task2vec" if name == "task2vec-pre" else name)
    rank_of = np.empty(len(pool))
    rank_of[order] = np.arange(len(pool))
    for c, v in zip(pool, primary if primary is not None else [math.nan] * len(pool)):
        c.score = None if math.isnan(float(v)) else round(float(v), 6)
    if strategy == "hybrid":
        weights = softmax_weights({n: ctx.alignments[n] for n in ctx.ranked}, ctx.temperature)
        deferred = 0
        queues = {}
        for src in ctx.ranked:
            members = sorted((i for i, c in enumerate(pool) if c.source == src), key=lambda i: rank_of[i])
            wanted = int(math.ceil(weights[src] * ctx.budget))
            members, d = _diverse(members, texts, pool, ctx, wanted)
            deferred += d
            queues[src] = [pool[i] for i in members]
        taken, skipped = fill(queues, ctx.budget, ctx.caps, proportional_pick(weights))
        return Selection(taken, skipped, weights=weights, scores=scores, deferred=deferred)
    order, deferred = _diverse(order, texts, pool, ctx, ctx.budget)
    taken, skipped = fill({"pool": [pool[i] for i in order]}, ctx.budget, ctx.caps, in_order)
    return Selection(taken, skipped, scores=scores, deferred=deferred)
