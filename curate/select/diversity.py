"""Diversity inside a selection: defer records that are near copies of ones already taken.

Walk a best-first order; a record whose hashed unigram+bigram cosine similarity to any record
already accepted reaches `threshold` is deferred (moved behind every other record, in its order),
not dropped. The walk stops once the accepted records hold `tokens_wanted` tokens; records not yet
visited keep their order after the accepted ones, before the deferred ones.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def diverse_order(order: Sequence[int], texts: Sequence[str], tokens: Sequence[int], tokens_wanted: int,
                  threshold: float = 0.7, n_buckets: int = 10_000) -> tuple[list[int], list[int]]:
    """(new order, the deferred indices)."""
    from curate.metrics.ngram import hashed_features

    if threshold >= 1.0:
        return list(order), []
    accepted: list[int] = []
    deferred: list[int] = []
    vecs = np.zeros((0, n_buckets))
    have = 0
    pos = 0
    for pos, i in enumerate(order):
        if have >= tokens_wanted:
            break
        v = hashed_features([texts[i]], n_buckets=n_buckets, dtype=np.float64)[0]
        norm = np.linalg.norm(v)
        v = v / norm if norm > 0 else v
        if vecs.shape[0] and float((vecs @ v).max()) >= threshold:
            deferred.append(i)
            continue
        accepted.append(i)
        vecs = np.vstack([vecs, v[None]])
        have += tokens[i]
    else:
        pos = len(order)
    return accepted + list(order[pos:]) + deferred, deferred
