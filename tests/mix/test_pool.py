"""The columnar candidate pool selects exactly what the list of Candidates selects (top-k, proportional, random)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from curate.mix import strategies as st

NAMES = ["a", "b", "c"]


def pool_of(n: int, seed: int) -> list[st.Candidate]:
    """Candidates in pool order (sources in rank order, records in order), tokens from tiny to large."""
    rng = np.random.default_rng(seed)
    sizes = sorted(rng.integers(0, n, 2))
    cut = [0, sizes[0], sizes[1], n]
    tokens = rng.choice([1, 2, 5, 20, 80, 300], n) * rng.integers(1, 4, n)
    return [st.Candidate(NAMES[k], i - cut[k], int(tokens[i])) for k in range(3) for i in range(cut[k], cut[k + 1])]


def ctx(budget: int, caps: dict, seed: int) -> st.SelectContext:
    return st.SelectContext(ranked=NAMES, alignments={"a": 0.9, "b": 0.85, "c": 0.6}, budget=budget, caps=caps,
                            seed=seed, temperature=0.05)


@pytest.mark.parametrize("strategy", ["top-k", "proportional", "random"])
@pytest.mark.parametrize("seed", range(6))
def test_pool_selects_what_candidates_select(strategy, seed):
    cands = pool_of(400 + 50 * seed, seed)
    total = sum(c.tokens for c in cands)
    for budget in (1, 37, total // 7, total // 2, total, 10 * total):
        for caps in ({}, {"a": total // 9}, {n: max(1, total // 20) for n in NAMES}):
            c = ctx(budget, caps, seed)
            want = st.choose(strategy, cands, c)
            got = st.choose(strategy, st.Pool.of(cands, NAMES), c)
            key = lambda x: (x.source, x.index, x.tokens)  # noqa: E731
            assert [key(x) for x in got.taken] == [key(x) for x in want.taken]
            assert got.skipped_counts() == want.skipped_counts() == \
                dict(Counter((x.source, why) for x, why in want.skipped))
            assert sorted((key(x), why) for x, why in got.skipped) == sorted((key(x), why) for x, why in want.skipped)
            assert len(got.skipped) == len(want.skipped) and got.weights == want.weights
            assert len(got.taken) + len(got.skipped) == len(cands)


def test_skipped_view_and_mixed_queue_refused():
    cands = pool_of(50, 1)
    pool = st.Pool.of(cands, NAMES)
    sel = st.choose("top-k", pool, ctx(30, {}, 0))
    assert isinstance(sel.skipped, st.Skipped) and sel.skipped[0] == list(sel.skipped)[0]
    assert sel.skipped[-2:] == list(sel.skipped)[-2:]
    with pytest.raises(ValueError, match="mixes sources"):
        st.fill_pool(pool, {"x": np.arange(len(pool)), "y": np.zeros(0, np.int64)}, 10, {}, st.in_order)


def test_record_strategies_take_a_pool_as_candidates():
    cands = pool_of(30, 2)
    texts = {(c.source, c.index): f"prove that {c.source} {c.index} is finite" for c in cands}
    c = ctx(200, {}, 0)
    c.text, c.target_texts = (lambda x: texts[(x.source, x.index)]), (lambda: ["prove that a group is finite"])
    want = st.choose("select", cands, c)
    got = st.choose("select", st.Pool.of(cands, NAMES), c)
    assert [(x.source, x.index, x.score) for x in got.taken] == [(x.source, x.index, x.score) for x in want.taken]
