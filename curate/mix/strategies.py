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
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from curate.errors import CurateError

STRATEGIES = ("top-k", "proportional", "select", "random")
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
    """The `select` strategy's importance score (None for other strategies)."""


def check_strategy(name: str) -> str:
    if name not in STRATEGIES:
        raise CurateError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    return name


def participating(strategy: str, ranked: Sequence[str], k: int | None) -> list[str]:
    """The sources a strategy draws from (ranked = source names best first)."""
    if strategy == "top-k":
        return list(ranked[: k or DEFAULT_K])
    if strategy in ("proportional", "select") and k:
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


def importance_scores(pool_texts: list[str], target_texts: list[str], n_buckets: int = 10_000,
                      chunk: int = 512) -> np.ndarray:
    """Per-record mean log importance weight log p_target(f) - log p_raw(f) over its hashed features."""
    from curate.metrics.ngram import hashed_features

    def feats(texts: list[str]):
        for i in range(0, len(texts), chunk):
            yield hashed_features(texts[i:i + chunk], n_buckets=n_buckets, dtype=np.float64)

    tgt = sum((f.sum(axis=0) for f in feats(target_texts)), np.zeros(n_buckets))
    raw = np.zeros(n_buckets)
    for f in feats(pool_texts):
        raw += f.sum(axis=0)
    log_ratio = np.log((tgt + 1) / (tgt.sum() + n_buckets)) - np.log((raw + 1) / (raw.sum() + n_buckets))
    scores = []
    for f in feats(pool_texts):
        n = f.sum(axis=1)
        scores.append((f @ log_ratio) / np.maximum(n, 1))
    return np.concatenate(scores) if scores else np.zeros(0)


def select_order(pool: list[Candidate], scores: np.ndarray) -> list[Candidate]:
    """Best score first; ties keep pool order (rank order, then record order)."""
    for c, s in zip(pool, scores):
        c.score = round(float(s), 6)
    order = sorted(range(len(pool)), key=lambda i: (-pool[i].score, i))
    return [pool[i] for i in order]


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


@dataclass
class Selection:
    taken: list[Candidate]
    """Records in the mix, in output order."""
    skipped: list[tuple[Candidate, str]]
    """Candidates left out, with the reason (over_budget / over_cap)."""
    weights: dict[str, float] | None = None
    """proportional: each source's share of the budget."""
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-record scores over the whole pool (pool order), by scorer name, for auditing."""


def choose(strategy: str, pool: list[Candidate], ctx: SelectContext) -> Selection:
    """Run `strategy` over the clean candidate pool (pool order = rank order, then record order)."""
    check_strategy(strategy)
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
    # select
    if ctx.text is None or ctx.target_texts is None:
        raise CurateError(f"strategy {strategy} needs record texts and the target's texts")
    scores = importance_scores([ctx.text(c) for c in pool], ctx.target_texts(), ctx.n_buckets)
    taken, skipped = fill({"pool": select_order(pool, scores)}, ctx.budget, ctx.caps, in_order)
    return Selection(taken, skipped, scores={"ngram": scores})
