"""Compression alignment per record (ZIP-FIT-like): 1 − mean NCD between the record and target items.

NCD as in `curate.metrics.gzip` (raw DEFLATE, no header bias, texts cut to `max_chars` so length does
not swamp content). Every text is compressed once; only record × target concatenations are
compressed per pair, against a seeded sample of `n_targets` target items (all when fewer). Large
pools are split into contiguous chunks scored in `workers` processes; each record's score is computed
the same way wherever it runs, so scores do not depend on the number of workers.
"""

from __future__ import annotations

import functools
import os
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
    """Target items each record is compared with (a seeded sample; all of them when fewer; 0 = all)."""
    seed: int = 0
    """Seed of the target sample."""
    workers: int = 0
    """Processes scoring the records (0 = one per CPU core, at most 8; 1 = in this process). Scores
    do not depend on it, only wall time does."""
    min_per_worker: int = 2000
    """Records per extra process below which it is not worth starting one."""


def _ncd_row(x: bytes, tb: list[bytes], ts: np.ndarray, level: int) -> np.ndarray:
    """NCD of one record against every target item."""
    cx = float(compressed_size(x, level))
    joint = np.array([compressed_size(x + b"\n" + y, level) for y in tb], dtype=np.float64)
    return (joint - np.minimum(cx, ts)) / np.maximum(np.maximum(cx, ts), 1.0)


def _ncd_scores(blobs: list[bytes], tb: list[bytes], ts: np.ndarray, level: int) -> np.ndarray:
    """1 − mean NCD per record (NaN for an empty one)."""
    out = np.full(len(blobs), np.nan)
    for i, x in enumerate(blobs):
        if x:
            out[i] = 1.0 - _ncd_row(x, tb, ts, level).mean()
    return out


def _ncd_matrix(blobs: list[bytes], tb: list[bytes], ts: np.ndarray, level: int) -> np.ndarray:
    """(records, target items) NCD, float32 (NaN rows for empty records)."""
    out = np.full((len(blobs), len(tb)), np.nan, dtype=np.float32)
    for i, x in enumerate(blobs):
        if x:
            out[i] = _ncd_row(x, tb, ts, level)
    return out


def _workers(config: GzipScoreConfig, n: int) -> int:
    want = config.workers or min(os.cpu_count() or 1, 8)
    return max(1, min(want, n // max(config.min_per_worker, 1)))


class GzipScorer(RecordScorer):
    name = "gzip"

    def __init__(self, config: GzipScoreConfig | None = None):
        self.config = config or GzipScoreConfig()

    def _blobs(self, texts: Sequence[str]) -> list[bytes]:
        return [t[: self.config.max_chars].encode("utf-8") for t in texts]

    def score(self, texts, target_texts) -> np.ndarray:
        return self._run(_ncd_scores, texts, target_texts, self.config.n_targets)

    def distances(self, texts, target_texts, n_targets: int | None = None) -> np.ndarray:
        """(len(texts), items) NCD of every record to each target item used (a seeded sample of
        `n_targets`, default the config's; 0 = every item), float32; NaN rows for empty records."""
        return self._run(_ncd_matrix, texts, target_texts, self.config.n_targets if n_targets is None else n_targets)

    def _run(self, fn, texts, target_texts, n_targets: int) -> np.ndarray:
        c = self.config
        targets = list(target_texts)
        if 0 < n_targets < len(targets):
            pick = np.sort(np.random.default_rng(c.seed).choice(len(targets), n_targets, replace=False))
            targets = [targets[i] for i in pick]
        tb = self._blobs(targets)
        ts = np.array([compressed_size(b, c.level) for b in tb], dtype=np.float64)
        blobs = self._blobs(texts)
        workers = _workers(c, len(blobs))
        if workers == 1:
            return fn(blobs, tb, ts, c.level)
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # fork where there is one: the children only compress bytes (no threads, no torch)
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else None)
        bounds = np.linspace(0, len(blobs), 4 * workers + 1).astype(int)
        part = functools.partial(fn, tb=tb, ts=ts, level=c.level)
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            return np.concatenate(list(pool.map(part, [blobs[a:b] for a, b in zip(bounds[:-1], bounds[1:])])))
