"""Hashed n-gram featuriser and the n-gram alignment metric."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from curate.metrics.ngram import bucket_ids, hashed_features, tokenize


def test_features_count_unigrams_and_bigrams():
    x = hashed_features(["a b a b", ""], n_buckets=1000)
    assert x.shape == (2, 1000)
    assert x[0].sum() == 4 + 3  # 4 unigrams + 3 bigrams
    assert x[1].sum() == 0
    assert hashed_features(["a b a b"], n_buckets=1000, bigrams=False).sum() == 4


def test_normalisation_makes_case_and_spacing_irrelevant():
    a, b = hashed_features(["Prove  THAT x ≥ 0.", "prove that x ≥ 0."], n_buckets=4096)
    np.testing.assert_array_equal(a, b)
    assert tokenize("x^2, y") == ["x", "^", "2", ",", "y"]


def test_features_are_stable_across_processes():
    code = ("from curate.metrics.ngram import bucket_ids; "
            "print(bucket_ids('the cat sat on the mat', 997).tolist())")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")}
    assert len(outs) == 1
    assert outs.pop().strip() == str(bucket_ids("the cat sat on the mat", 997).tolist())


def test_jensen_shannon_bounds_and_symmetry():
    from curate.metrics.ngram import jensen_shannon

    p, q = np.array([3.0, 1.0, 0.0, 0.0]), np.array([0.0, 0.0, 2.0, 2.0])
    assert jensen_shannon(p, 2 * p) == 0.0  # counts are normalised: scale does not matter
    assert abs(jensen_shannon(p, q) - 1.0) < 1e-12  # disjoint support: the maximum, 1 bit
    r = np.array([1.0, 1.0, 1.0, 0.0])
    assert jensen_shannon(p, r) == jensen_shannon(r, p) and 0 < jensen_shannon(p, r) < 1


def test_ngram_alignment_is_one_for_itself_and_falls_with_vocabulary_overlap(math_ds, math2_ds, cooking_ds):
    from curate.metrics.ngram import NgramConfig, NgramMetric

    m = NgramMetric(NgramConfig(n_buckets=4096, n_boot=200))
    t = m.prepare("math-toy", math_ds, 0)
    same = m.alignment(t, t)
    assert (same.value, same.ci_low, same.ci_high) == (1.0, 1.0, 1.0)
    near, far = m.alignment(m.prepare("m2", math2_ds, 0), t), m.alignment(m.prepare("c", cooking_ds, 0), t)
    assert far.ci_high < near.ci_low < 1.0
    d = m.diversity(t)
    assert 0 < d.ci_low <= d.value <= d.ci_high < 1
