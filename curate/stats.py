"""Small statistics shared by every metric and report: bootstrap CIs and correlations."""

from __future__ import annotations

import numpy as np


def bootstrap_mean_ci(values, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of 1-D `values` (resampling the values)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return float("nan"), float("nan")
    if v.size == 1:
        return float(v[0]), float(v[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    means = v[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def bootstrap_matrix_ci(matrix, n_boot: int = 2000, seed: int = 0, level: float = 0.95,
                        symmetric: bool = False) -> tuple[float, float]:
    """CI of the mean of a pairwise matrix M[i, j], resampling rows and columns (the units drawn).

    For a cross matrix (source batches × target batches) rows and columns are resampled
    independently; for a symmetric within-set matrix one resample serves both and the diagonal
    (self-pairs) is excluded.
    """
    m = np.asarray(matrix, dtype=np.float64)
    rng = np.random.default_rng(seed)
    a, b = m.shape
    rows, cols = _resamples(rng, n_boot, a, None if symmetric else b)
    means = _resample_means(m, rows, cols, symmetric)
    means = means[~np.isnan(means)]
    if means.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def _resamples(rng: np.random.Generator, n_boot: int, a: int, b: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols): for each resample, `a` row draws then (unless b is None: cols = rows) `b` column draws,
    in the order the CI has always drawn them — one `rng.integers` call each. One call of many draws from
    the same range gives the same values as those calls in turn (tests/test_coefficients.py checks it),
    so when every call draws from one range (b None or b == a) a single call makes them all."""
    if b is None:
        rows = rng.integers(0, a, size=(n_boot, a))
        return rows, rows
    if b == a:
        both = rng.integers(0, a, size=(n_boot, 2, a))
        return both[:, 0], both[:, 1]
    rows, cols = np.empty((n_boot, a), dtype=np.int64), np.empty((n_boot, b), dtype=np.int64)
    for k in range(n_boot):
        rows[k] = rng.integers(0, a, size=a)
        cols[k] = rng.integers(0, b, size=b)
    return rows, cols


def _resample_means(m: np.ndarray, rows: np.ndarray, cols: np.ndarray, symmetric: bool) -> np.ndarray:
    """Mean of each resampled matrix m[rows[k]][:, cols[k]] (symmetric: without the pairs of a unit with
    itself; NaN where none is left), all at once. Bit for bit the one-at-a-time `sub.mean()`: each mean is
    numpy's summation over one contiguous row of the same values in the same order (rows holding equally
    many values are reduced together)."""
    sub = m[rows[:, :, None], cols[:, None, :]]  # (n_boot, a, b), C order
    if not symmetric:
        return sub.reshape(len(sub), -1).mean(axis=1)
    keep = rows[:, :, None] != rows[:, None, :]
    counts = keep.sum(axis=(1, 2))
    means = np.full(len(sub), np.nan)
    for n in np.unique(counts[counts > 0]):
        group = counts == n
        means[group] = sub[group][keep[group]].reshape(-1, n).mean(axis=1)
    return means


def pearson(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _ranks(x) -> np.ndarray:
    x = np.asarray(x, float)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty_like(x)
    ranks[order] = np.arange(x.size, dtype=float)
    for value in np.unique(x):  # average ties
        tie = x == value
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    return ranks


def spearman(x, y) -> float:
    return pearson(_ranks(x), _ranks(y))


def resample_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) multinomial counts: how often each of n units is drawn in each bootstrap resample."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


def centred_ci(point: float, replicates, level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of bootstrap `replicates`, shifted so its median sits on `point`.

    Plug-in statistics of resampled data (divergences, cosines of means) are biased by the
    resampling itself; re-centring keeps the bootstrap's width while the interval always holds the
    point estimate.
    """
    r = np.asarray(replicates, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return float(point), float(point)
    lo, mid, hi = np.quantile(r, [(1 - level) / 2, 0.5, 1 - (1 - level) / 2])
    shift = point - mid
    return float(lo + shift), float(hi + shift)


def bootstrap_pairs_ci(values, i, j, n_i: int, n_j: int, same: bool = False, n_boot: int = 1000,
                       seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """CI of the mean of `values[p]` measured on sampled pairs (i[p], j[p]) of units from two sets.

    The units are resampled, not the pairs: each bootstrap draws multinomial counts over the n_i
    and n_j units and weights pair p by count_i[i[p]] · count_j[j[p]] (one draw serves both sides
    when `same`, i.e. pairs within one set). This keeps the dependence between pairs that share a unit.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return (float(v[0]), float(v[0])) if v.size else (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    wi = resample_counts(n_i, n_boot, rng)
    wj = wi if same else resample_counts(n_j, n_boot, rng)
    w = wi[:, i] * wj[:, j]
    tot = w.sum(axis=1)
    ok = tot > 0
    reps = (w[ok] @ v) / tot[ok]
    return centred_ci(float(v.mean()), reps, level)
