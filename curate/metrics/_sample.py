"""Seeded example sampling and pair drawing shared by the example-level metrics (gzip, embed, ngram)."""

from __future__ import annotations

import hashlib

import numpy as np

from curate import load


def sample_texts(dataset, n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Up to `n` records drawn without replacement (sorted indices) and their rendered texts."""
    total = len(dataset)
    if n <= 0 or n >= total:
        idx = np.arange(total)
    else:
        idx = np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))
    return idx, load.texts(dataset.select(idx.tolist()))


def small_sample_notes(dataset, n: int) -> list[str]:
    """The note a metric attaches when a dataset has fewer records than it samples."""
    return [f"used all {len(dataset)} records (fewer than n_examples={n})"] if len(dataset) < n else []


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from any values (fingerprints, names, seeds), stable across processes."""
    blob = "\0".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") >> 1


def draw_pairs(n_a: int, n_b: int, n_pairs: int, rng: np.random.Generator,
               distinct: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`n_pairs` pairs (a, b) drawn uniformly; all pairs when fewer exist. `distinct`: same set, a != b."""
    total = n_a * (n_b - 1) if distinct else n_a * n_b
    if total <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if total <= n_pairs:
        a, b = np.divmod(np.arange(n_a * n_b), n_b)
    else:
        a, b = rng.integers(0, n_a, size=n_pairs), rng.integers(0, n_b, size=n_pairs)
    if distinct:
        if total <= n_pairs:
            keep = a != b
            a, b = a[keep], b[keep]
        else:  # shift b past a: uniform over b != a
            b = rng.integers(0, n_b - 1, size=a.size)
            b = b + (b >= a)
    return a.astype(np.int64), b.astype(np.int64)


def same_sample(source, target) -> bool:
    """Whether two Prepared objects hold the very same sample (a set compared with itself)."""
    return source.fingerprint == target.fingerprint and source.used == target.used and \
        np.array_equal(source.data["idx"], target.data["idx"])
