"""Coverage of the target's items: each target item in turn takes its nearest record not yet taken.

A mean score (gzip, n-gram importance, Task2Vec) rewards records close to the target *on average*, so a
small budget goes to the few topics most of the target shares. Coverage instead gives every target item
its own nearest records (by gzip NCD to that item): round after round, each item (closest-matched items
first) takes its nearest record that no item has taken yet. The order holds every record, so the mix's
diversity step and budget filler treat it like any other best-first order.

The distances are a (records × target items) float32 matrix: 4 bytes per pair (28k records × 186
ProofNet items = 21 MB); the round robin looks at most at `per_item` records per item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curate.select.base import RecordScorer, best_first
from curate.select.gzip import GzipScoreConfig, GzipScorer


def round_robin(dist: np.ndarray, per_item: int = 64) -> list[int]:
    """Every record once. First in rounds: each target item (ordered by its nearest distance, ties by
    position) takes its nearest record not taken yet, looking only among its `per_item` nearest (ties by
    record position); an item whose nearest are all taken drops out. Then the records not taken, by their
    distance to their own nearest item (ties by position); records with a NaN row (nothing to compare) last."""
    n, m = dist.shape
    nearest = _nearest(dist)
    rows = np.flatnonzero(~np.isnan(nearest))  # rows with something to compare (none when m == 0)
    order: list[int] = []
    taken = np.zeros(n, bool)
    if len(rows):
        d = dist[rows]
        near = rows[np.argsort(d, axis=0, kind="stable")[:per_item]]  # (L, items): each item's nearest first
        ptr = np.zeros(m, np.int64)
        active = [int(t) for t in np.argsort(d.min(axis=0), kind="stable")]
        while active:
            still = []
            for t in active:
                p = ptr[t]
                while p < len(near) and taken[near[p, t]]:
                    p += 1
                if p < len(near):
                    i = int(near[p, t])
                    taken[i] = True
                    order.append(i)
                    ptr[t] = p + 1
                    still.append(t)
            active = still
    order += [i for i in best_first(nearest) if not taken[i]]  # best_first puts NaN rows last
    return order


@dataclass
class CoverScoreConfig(GzipScoreConfig):
    n_targets: int = 256
    """Target items to cover: every item up to this many, a seeded sample of this many above it (0 = every
    item). Each record is compared with each of them, so the cost grows with it: 186 ProofNet items take
    ~2.9× the time of `gzip`'s 64."""
    per_item: int = 64
    """Each item's nearest records the round robin looks among; past them, records follow by the distance to
    their nearest item. 64 × 186 ProofNet items ≈ 12k records, far past any budget of ~1M tokens."""


class CoverageScorer(RecordScorer):
    """Orders records by round-robin coverage of the target's items (gzip NCD per record and item).

    Scores reported per record: `cover` = 1 − NCD to its nearest target item (why it was taken), `gzip` =
    1 − mean NCD over the items (the `gzip` strategy's score against these items)."""

    name = "cover"

    def __init__(self, config: CoverScoreConfig | None = None):
        self.config = config or CoverScoreConfig()

    def _distances(self, texts, target_texts) -> np.ndarray:
        return GzipScorer(self.config).distances(texts, target_texts)

    def score(self, texts, target_texts) -> np.ndarray:
        return _nearest(self._distances(texts, target_texts))

    def rank(self, texts, target_texts):
        return self.rank_distances(self._distances(texts, target_texts))

    def rank_distances(self, dist: np.ndarray):
        """`rank` from a (records × items) NCD matrix already computed."""
        with np.errstate(invalid="ignore"):
            mean = 1.0 - dist.astype(np.float64).mean(axis=1)
        return round_robin(dist, self.config.per_item), {"cover": _nearest(dist), "gzip": mean}


def _nearest(dist: np.ndarray) -> np.ndarray:
    """1 − the smallest NCD of each record (NaN where it was not scored)."""
    out = np.full(dist.shape[0], np.nan)
    ok = ~np.isnan(dist).any(axis=1) if dist.shape[1] else np.zeros(dist.shape[0], bool)
    if ok.any():
        out[ok] = 1.0 - dist[ok].min(axis=1).astype(np.float64)
    return out


__all__ = ["round_robin", "CoverScoreConfig", "CoverageScorer"]
