"""The driver's compact state: exact-duplicate groups from digest prefixes, the columnar pool of a Corpus."""

from __future__ import annotations

import numpy as np

from curate.pipeline import dedup as dd


def test_exact_groups_equal_np_unique_even_when_prefixes_collide():
    rng = np.random.default_rng(0)
    n = 5000
    raw = np.frombuffer(rng.bytes(32 * n), dtype="S32").copy()
    raw[rng.choice(n, 400)] = raw[rng.choice(n, 400)]  # exact duplicates
    as_bytes = raw.view(np.uint8).reshape(n, 32)
    clash = rng.choice(n, 300, replace=False)
    as_bytes[clash, :8] = as_bytes[clash[0], :8]  # same first 8 bytes, different digests
    dup, rep_of = dd._exact_groups(raw)
    _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    rep = first[inverse.reshape(-1)]
    want = np.flatnonzero(rep != np.arange(n))
    assert len(want) > 300
    assert np.array_equal(dup, want) and np.array_equal(rep_of, rep[want])
    assert dd._exact_groups(raw[:1])[0].size == 0


def test_pool_holds_the_kept_records_as_columns(tmp_path):
    from curate.mix import strategies as st
    from curate.pipeline.corpus import _SHIFT, Corpus

    c = Corpus(tmp_path, ["a", "b"], 4)
    c.gkey = np.array([(0 << _SHIFT) | 3, (0 << _SHIFT) | 9, (1 << _SHIFT) | 0, (1 << _SHIFT) | 5], dtype=np.int64)
    c.tokens = np.array([10, 20, 30, 40], dtype=np.int64)
    pool = c.pool(np.array([1, 2, 3]))
    c.close()
    assert isinstance(pool, st.Pool) and pool.names == ["a", "b"]
    assert [(x.source, x.index, x.tokens) for x in pool.candidates()] == [("a", 9, 20), ("b", 0, 30), ("b", 5, 40)]
