"""Streamed sources: a seeded sample of a stream larger than memory, without holding it."""

from __future__ import annotations

import json
import tracemalloc

from curate import load


def big_stream(n: int):
    """A hub-like stream: records made on the fly, never all held (n × ~1 KB >> what the sample keeps)."""
    for i in range(n):
        yield {"id": f"r{i}", "informal": f"record {i} " + "x" * 1000}


def test_reservoir_is_deterministic_uniform_and_bounded():
    n, k = 200_000, 128
    tracemalloc.start()
    a, seen = load.reservoir(big_stream(n), k, seed=7)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seen == n and len(a) == k
    assert peak < 5 * 2**20  # the stream is ~200 MB; the sample holds ~128 KB
    b, _ = load.reservoir(big_stream(n), k, seed=7)
    c, _ = load.reservoir(big_stream(n), k, seed=8)
    assert [r["id"] for r in a] == [r["id"] for r in b] != [r["id"] for r in c]
    idx = [int(r["id"][1:]) for r in a]
    assert idx == sorted(idx) and len(set(idx)) == k  # stream order, no repeats
    assert min(idx) < n * 0.05 and max(idx) > n * 0.95  # drawn from the whole stream, not its head
    assert sum(i < n / 2 for i in idx) in range(k // 2 - 24, k // 2 + 25)


def test_short_stream_is_taken_whole():
    rows, seen = load.reservoir(big_stream(10), 50, seed=0)
    assert seen == 10 and [r["id"] for r in rows] == [f"r{i}" for i in range(10)]


def test_sample_source_streams_a_catalog_source(isolated_cache, tmp_path):
    from curate import catalog
    from curate.catalog import SourceSpec

    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "q": f"question {i}"}) + "\n" for i in range(3000)))
    catalog.register(SourceSpec(name="streamed", path=str(path), kind="informal", license="test",
                                fields={"id": "id", "informal": "q"}))
    s = load.sample_source("streamed", 64, seed=1)
    assert s.records == 3000 and len(s.rows) == 64
    assert [r["id"] for r in s.rows] == [r["id"] for r in load.sample_source("streamed", 64, seed=1).rows]
    capped = load.sample_source("streamed", 64, seed=1, limit=500)
    assert capped.records == 500 and all(int(r["id"][1:]) < 500 for r in capped.rows)
