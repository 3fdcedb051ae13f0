"""Hashed n-gram importance (DSIR-style): mean log p_target(f) − log p_raw(f) over a record's features.

Features are `curate.metrics.ngram.hashed_features` (hashed unigrams + bigrams); both distributions
are add-one smoothed, p_raw from the candidate texts being scored (the whole pool), so a record's
score depends on the pool it competes in, as in DSIR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from curate.select.base import RecordScorer


def importance_scores(pool_texts: Sequence[str], target_texts: Sequence[str], n_buckets: int = 10_000,
                      chunk: int = 512) -> np.ndarray:
    """Per-record mean log importance weight log p_target(f) - log p_raw(f) over its hashed features."""
    from curate.metrics.ngram import hashed_features

    pool_texts, target_texts = list(pool_texts), list(target_texts)

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
        s = (f @ log_ratio) / np.maximum(n, 1)
        scores.append(np.where(n > 0, s, np.nan))  # a record without a token has no evidence
    return np.concatenate(scores) if scores else np.zeros(0)


@dataclass
class NgramScoreConfig:
    n_buckets: int = 10_000
    """Hash buckets for unigram + bigram features."""
    chunk: int = 512
    """Records featurised at a time (bounds memory: chunk × n_buckets floats); scores do not depend on it."""


class NgramScorer(RecordScorer):
    """Hashed n-gram importance weight per record (today's `select`)."""

    name = "ngram"

    def __init__(self, config: NgramScoreConfig | None = None):
        self.config = config or NgramScoreConfig()

    def score(self, texts, target_texts) -> np.ndarray:
        return importance_scores(texts, target_texts, self.config.n_buckets, self.config.chunk)
