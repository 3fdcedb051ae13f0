"""Compression alignment per record (ZIP-FIT-like): 1 − mean NCD between the record and target items.

NCD as in `curate.metrics.gzip` (raw DEFLATE, no header bias, texts cut to `max_chars` so length does
not swamp content). Every text is compressed once; only record × target concatenations are
compressed per pair, against a seeded sample of `n_targets` target items (all when fewer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from curate.metrics.gzip import compressed_size
from curate.select.base import RecordScorer


@dataclass
class GzipScoreConfig:
    max_chars: int = 300
    """Each text is cut to this many characters (as the gzip metric does)."""
    level: int = 9
    """zlib compression level."""
    n_targets: int = 64
    """Target items each record is compared with (a seeded sample; all of them when fewer)."""
    seed: int = 0
    """Seed of the target sample."""


class GzipScorer(RecordScorer):
    name = "gzip"

    def __init__(self, config: GzipScoreConfig | None = None):
        self.config = config or GzipScoreConfig()

    def _blobs(self, texts: Sequence[str]) -> list[bytes]:
        return [t[: self.config.max_chars].encode("utf-8") for t in texts]

    def score(self, texts, target_texts) -> np.ndarray:
        c = self.config
        targets = list(target_texts)
        if len(targets) > c.n_targets:
            pick = np.sort(np.random.default_rng(c.seed).choice(len(targets), c.n_targets, replace=False))
            targets = [targets[i] for i in pick]
        tb = self._blobs(targets)
        ts = np.array([compressed_size(b, c.level) for b in tb], dtype=np.float64)
        out = np.full(len(texts), np.nan)
        for i, x in enumerate(self._blobs(texts)):
            if not x:
                continue
            cx = float(compressed_size(x, c.level))
            joint = np.array([compressed_size(x + b"\n" + y, c.level) for y in tb], dtype=np.float64)
            ncd = (joint - np.minimum(cx, ts)) / np.maximum(np.maximum(cx, ts), 1.0)
            out[i] = 1.0 - ncd.mean()
        return out
