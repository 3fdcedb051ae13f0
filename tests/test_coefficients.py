"""Task2Vec / cosine distances as matrix ops, and the diversity / alignment coefficients."""

from __future__ import annotations

import math

import numpy as np
import pytest

from curate import coefficients
from curate.stats import bootstrap_matrix_ci


def naive_task2vec(e1, e2):
    s = e1 + e2
    u = np.divide(e1, s, out=np.zeros_like(e1), where=s != 0)
    v = np.divide(e2, s, out=np.zeros_like(e2), where=s != 0)
    return 1 - u @ v / (np.linalg.norm(u) * np.linalg.norm(v))


@pytest.fixture()
def embeddings():
    rng = np.random.default_rng(0)
    return rng.gamma(0.5, 1.0, size=(5, 40)), rng.gamma(0.5, 1.0, size=(3, 40))


def test_task2vec_distance_matches_pairwise_definition(embeddings, monkeypatch):
    a, b = embeddings
    a[0, :5] = 0
    b[1, :5] = 0  # coordinates where both are zero
    want = np.array([[naive_task2vec(x, y) for y in b] for x in a])
    np.testing.assert_allclose(coefficients.distance_matrix(a, b), want, rtol=1e-10)
    monkeypatch.setattr(coefficients, "_CHUNK_ELEMENTS", 50)  # one row per chunk
    np.testing.assert_allclose(coefficients.distance_matrix(a, b), want, rtol=1e-10)


def test_cosine_distance(embeddings):
    a, b = embeddings
    want = np.array([[1 - x @ y / (np.linalg.norm(x) * np.linalg.norm(y)) for y in b] for x in a])
    np.testing.assert_allclose(coefficients.distance_matrix(a, b, "cosine"), want, rtol=1e-10)
    with pytest.raises(ValueError):
        coefficients.distance_matrix(a, b, "euclid")


def test_distance_properties(embeddings):
    a, _ = embeddings
    m = coefficients.distance_matrix(a, a)
    np.testing.assert_allclose(np.diag(m), 0, atol=1e-12)
    np.testing.assert_allclose(m, m.T, atol=1e-12)
    assert (m[~np.eye(5, dtype=bool)] > 0).all()
    # the normalisation makes the distance blind to a common scale of both embeddings
    np.testing.assert_allclose(coefficients.distance_matrix(3 * a, 3 * a), m, atol=1e-12)


def test_diversity_and_alignment(embeddings):
    a, b = embeddings
    m = coefficients.distance_matrix(a, a)
    div = coefficients.diversity(a, n_boot=300)
    assert div.value == pytest.approx(m[np.triu_indices(5, 1)].mean())
    assert div.n == 10 and div.ci_low <= div.value <= div.ci_high
    al = coefficients.alignment(a, b, n_boot=300)
    assert al.value == pytest.approx(1 - coefficients.distance_matrix(a, b).mean())
    assert al.n == 15 and al.ci_low <= al.value <= al.ci_high < 1
    same = coefficients.alignment(a[:1], a[:1])
    assert (same.value, same.ci_low, same.ci_high, same.n) == (pytest.approx(1.0), pytest.approx(1.0), pytest.approx(1.0), 1)
    assert math.isnan(coefficients.diversity(a[:1]).value)


def _loop_ci(m, n_boot, seed, symmetric, level=0.95):
    """bootstrap_matrix_ci as it was written first: one resample at a time (the reference)."""
    rng = np.random.default_rng(seed)
    a, b = m.shape
    means = np.empty(n_boot)
    for k in range(n_boot):
        i = rng.integers(0, a, size=a)
        if symmetric:
            sub = m[np.ix_(i, i)]
            off = i[:, None] != i[None, :]
            means[k] = sub[off].mean() if off.any() else np.nan
        else:
            j = rng.integers(0, b, size=b)
            means[k] = m[np.ix_(i, j)].mean()
    means = means[~np.isnan(means)]
    if means.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def test_one_call_of_many_draws_gives_the_draws_of_many_calls():
    for a in range(1, 20):
        for seed in range(5):
            one, many = np.random.default_rng(seed), np.random.default_rng(seed)
            assert np.array_equal(one.integers(0, a, size=(300, a)),
                                  np.stack([many.integers(0, a, size=a) for _ in range(300)]))


@pytest.mark.parametrize("symmetric", [False, True])
def test_the_bootstrap_ci_is_bit_for_bit_the_one_resample_at_a_time_ci(symmetric):
    g = np.random.default_rng(1)
    for trial in range(60):
        a = int(g.integers(1, 12))
        b = a if symmetric or trial % 3 == 0 else int(g.integers(1, 12))
        m = g.random((a, b)) * 10 ** g.uniform(-8, 3)
        if symmetric:
            m = (m + m.T) / 2
        seed, n_boot = int(g.integers(0, 1000)), int(g.choice([1, 7, 500]))
        want = _loop_ci(m, n_boot, seed, symmetric)
        got = bootstrap_matrix_ci(m, n_boot=n_boot, seed=seed, symmetric=symmetric)
        assert got == want or (np.isnan(got[0]) and np.isnan(want[0])), (a, b, seed, n_boot)
