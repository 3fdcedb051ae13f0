"""Distances between batch embeddings, and the diversity / alignment coefficients built on them.

diversity(D) = mean distance over distinct pairs of D's batches;
alignment(S, T) = 1 − mean distance over all (S batch, T batch) pairs;
each with a 95% bootstrap CI that resamples batches (`curate.stats.bootstrap_matrix_ci`).
"""

from __future__ import annotations

import math

import numpy as np

from curate.metrics.base import Estimate
from curate.stats import bootstrap_matrix_ci

DISTANCES = ("task2vec", "cosine")
_CHUNK_ELEMENTS = 2**25  # bounds the (rows × cols × dim) temporary of the normalised distance


def _cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    sim = (a / np.where(na > 0, na, 1.0)) @ (b / np.where(nb > 0, nb, 1.0)).T
    return 1.0 - np.clip(sim, -1.0, 1.0)


def _task2vec_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 − cos(e1/(e1+e2), e2/(e1+e2)) for every pair; a coordinate where e1+e2 = 0 counts as 0."""
    out = np.empty((a.shape[0], b.shape[0]))
    rows = max(1, _CHUNK_ELEMENTS // max(1, b.shape[0] * a.shape[1]))
    for start in range(0, a.shape[0], rows):
        x = a[start:start + rows, None, :]
        y = b[None, :, :]
        s = x + y
        s = np.where(s != 0, s, np.inf)
        u, v = x / s, y / s
        num = (u * v).sum(-1)
        den = np.sqrt((u * u).sum(-1) * (v * v).sum(-1))
        out[start:start + rows] = 1.0 - np.clip(num / np.where(den > 0, den, 1.0), -1.0, 1.0)
    return out


def distance_matrix(a, b, kind: str = "task2vec") -> np.ndarray:
    """Distances between every row of `a` (m × d) and every row of `b` (n × d), as an m × n array."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"embeddings must be 2-D with equal width, got {a.shape} and {b.shape}")
    if kind == "task2vec":
        return _task2vec_distance(a, b)
    if kind == "cosine":
        return _cosine_distance(a, b)
    raise ValueError(f"unknown distance {kind!r}; choose from {', '.join(DISTANCES)}")


def diversity(embeddings, kind: str = "task2vec", n_boot: int = 2000, seed: int = 0) -> Estimate:
    """Mean distance over distinct within-set batch pairs (NaN with one batch: no pair exists)."""
    m = distance_matrix(embeddings, embeddings, kind)
    k = m.shape[0]
    if k < 2:
        return Estimate(math.nan, math.nan, math.nan, 0)
    off = ~np.eye(k, dtype=bool)
    lo, hi = bootstrap_matrix_ci(m, n_boot=n_boot, seed=seed, symmetric=True)
    return Estimate(float(m[off].mean()), lo, hi, k * (k - 1) // 2)


def alignment(source, target, kind: str = "task2vec", n_boot: int = 2000, seed: int = 0) -> Estimate:
    """1 − mean distance over all source × target batch pairs (a 1 × 1 matrix gives a point CI)."""
    m = distance_matrix(source, target, kind)
    lo, hi = bootstrap_matrix_ci(m, n_boot=n_boot, seed=seed)
    return Estimate(float(1.0 - m.mean()), 1.0 - hi, 1.0 - lo, m.size)
