"""Compression (NCD) metric."""

from __future__ import annotations

import gzip as gzip_lib
import zlib

import numpy as np

from curate.metrics._sample import draw_pairs
from curate.metrics.gzip import GzipConfig, GzipMetric, compressed_size
from curate.stats import bootstrap_pairs_ci


def test_raw_deflate_has_no_header_or_checksum():
    data = b"Prove that the square of an even integer is even. " * 3
    raw = compressed_size(data)
    assert raw == len(zlib.compress(data, 9)) - 6  # zlib: 2-byte header + 4-byte adler32
    assert raw < len(gzip_lib.compress(data, 9)) - 17  # gzip: >= 18 bytes of header and trailer
    assert compressed_size(b"") <= 2


def test_ncd_of_a_text_with_itself_is_small_and_unrelated_text_is_far(math_ds, cooking_ds):
    m = GzipMetric(GzipConfig(n_examples=8))
    a = m.prepare("math-toy", math_ds, 0)
    c = m.prepare("cooking-toy", cooking_ds, 0)
    i = np.arange(8)
    self_ncd = m._ncd(a, a, i, i)
    cross = m._ncd(a, c, i, i)
    assert (self_ncd < 0.35).all() and (cross > self_ncd).all()


def test_pairs_are_sampled_not_enumerated(math_ds, cooking_ds):
    m = GzipMetric(GzipConfig(n_pairs=100, n_boot=200))
    a, c = m.prepare("math-toy", math_ds, 0), m.prepare("cooking-toy", cooking_ds, 0)
    assert m.alignment(a, c).n == 100  # 40 × 40 = 1600 possible
    assert m.diversity(a).n == 100
    small = GzipMetric(GzipConfig(n_examples=5, n_pairs=100))
    s = small.prepare("math-toy", math_ds, 0)
    assert small.diversity(s).n == 5 * 4  # fewer pairs than asked exist: all distinct pairs


def test_draw_pairs_distinct_never_pairs_an_example_with_itself():
    rng = np.random.default_rng(0)
    i, j = draw_pairs(10, 10, 5000, rng, distinct=True)
    assert (i != j).all() and set(j.tolist()) == set(range(10))


def test_pair_bootstrap_ci_widens_when_pairs_share_few_units():
    rng = np.random.default_rng(0)
    unit_effect = rng.normal(size=20)
    i, j = rng.integers(0, 20, 4000), rng.integers(0, 4000, 4000)
    values = unit_effect[i] + 0.1 * rng.normal(size=4000)
    lo, hi = bootstrap_pairs_ci(values, i, j, 20, 4000, n_boot=500)
    naive = 2 * 1.96 * values.std() / np.sqrt(values.size)
    assert lo <= values.mean() <= hi
    assert hi - lo > 3 * naive  # 20 source units, not 4000 independent pairs
