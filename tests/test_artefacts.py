"""Per-source facts from one pass, and sources too large to hold read as streams (issue 12 item 5)."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from tinymodels import char_tokenizer
from curate import artefacts, batching, catalog, load
from curate.catalog import SourceSpec

WORDS = ["theorem", "lemma", "by", "simp", "nat", "ring", "x", "+", "=", "hello", "story", "dog"]


def write_source(root, name: str, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "data.jsonl", "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"{name}{i}", "text": " ".join(rng.choice(WORDS, size=rng.integers(2, 12)))}) + "\n")
        fh.write(json.dumps({"id": "empty", "text": "  "}) + "\n")  # no text: skipped and counted, held or streamed
    catalog.register(SourceSpec(name=name, kind="text", license="MIT", path=str(folder),
                                fields={"id": "id", "informal": "text"}))


@pytest.fixture()
def tok():
    return char_tokenizer()


@pytest.fixture()
def source(tmp_path, isolated_cache):
    write_source(tmp_path / "data", "big", n=600)
    return "big"


def test_a_streamed_source_has_the_facts_of_a_loaded_one(source, tok, monkeypatch):
    monkeypatch.setattr(artefacts, "TOKEN_CHUNK", 64)  # several batched tokenizer calls
    monkeypatch.setattr("curate.tokens.maybe_tokenizer", lambda _m: tok)
    held = artefacts.facts(source, "any", use_cache=False)
    assert not held.streamed and held.records == 600 and held.skipped
    ds = load.load_source(source)
    assert held.fingerprint == load.fingerprint(ds)
    assert held.tokens == artefacts.count_tokens(load.texts(ds), tok)
    monkeypatch.setattr(artefacts, "HOLD_RECORDS", 50)
    streamed = artefacts.facts(source, "any", use_cache=False)
    assert streamed.streamed and not streamed.tokens_estimated
    assert (streamed.fingerprint, streamed.records, streamed.skipped, streamed.tokens) == \
        (held.fingerprint, held.records, held.skipped, held.tokens)


def test_streamed_select_gives_the_loaded_rows_in_the_order_asked(source):
    ds = load.load_source(source)
    stream = artefacts.StreamedSource(source, len(ds))
    rows = [599, 3, 0, 250, 4]
    assert stream.select(rows) == [ds[i] for i in rows]
    assert load.texts(stream.select(rows)) == load.texts(ds.select(rows))
    plan = batching.draw(len(ds), 4, 32, seed=0)  # the seeded batches: the same rows held or streamed
    flat = [r for b in plan.rows for r in b]
    assert stream.select(flat) == [ds[i] for i in flat]
    with pytest.raises(IndexError):
        stream.select([600])


def test_a_changed_streamed_source_is_one_clear_error(source, tmp_path):
    stream = artefacts.StreamedSource(source, 600)
    write_source(tmp_path / "data", source, n=100)
    from curate.errors import CurateError

    with pytest.raises(CurateError, match="changed while it was being ranked"):
        stream.select([5, 500])


def test_a_huge_source_is_counted_and_sampled_deterministically_in_bounded_memory(tmp_path, isolated_cache,
                                                                                  tok, monkeypatch):
    n = 20_000
    write_source(tmp_path / "data", "huge", n=n, seed=3)
    monkeypatch.setattr("curate.tokens.maybe_tokenizer", lambda _m: tok)
    monkeypatch.setattr(artefacts, "HOLD_RECORDS", 200)
    monkeypatch.setattr(artefacts, "SAMPLE_ABOVE", 1_000)
    monkeypatch.setattr(artefacts, "TOKEN_SAMPLE", 500)

    tracemalloc.start()
    try:
        f = artefacts.facts("huge", "any", use_cache=False)
        plan = batching.draw(f.records, 4, 32, seed=0)
        rows = artefacts.LazySource("huge", f).select([r for b in plan.rows for r in b])
        _, streamed_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        ds = load.load_with_report("huge")[0]  # what holding it would take (for the comparison only)
        _, held_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f.streamed and f.records == n and f.skipped
    assert f.fingerprint == load.fingerprint(ds)  # exact count and fingerprint from the stream
    assert rows == [ds[r] for b in plan.rows for r in b]  # the seeded batches a loaded copy would give
    assert streamed_peak < held_peak / 4, (streamed_peak, held_peak)

    exact = artefacts.count_tokens(load.texts(ds), tok)
    assert f.tokens_estimated is True and abs(f.tokens - exact) < 0.05 * exact  # 500 of 20,000, scaled up
    again = artefacts.facts("huge", "any", use_cache=False)
    assert (again.tokens, again.fingerprint, again.records) == (f.tokens, f.fingerprint, f.records)  # seeded


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["forml4", "gsm8k"])
def test_real_sources_streamed_give_the_held_facts_and_the_same_seeded_batches(name, isolated_cache, tok,
                                                                               monkeypatch):
    monkeypatch.setattr("curate.tokens.maybe_tokenizer", lambda _m: tok)
    held = artefacts.facts(name, "any", use_cache=False)
    assert not held.streamed
    monkeypatch.setattr(artefacts, "HOLD_RECORDS", 500)
    streamed = artefacts.facts(name, "any", use_cache=False)
    assert streamed.streamed
    assert (streamed.fingerprint, streamed.records, streamed.skipped, streamed.tokens) == \
        (held.fingerprint, held.records, held.skipped, held.tokens)
    plan = batching.draw(held.records, 4, 32, seed=0)
    rows = [r for b in plan.rows for r in b]
    assert load.texts(artefacts.StreamedSource(name, streamed.records).select(rows)) == \
        load.texts(load.load_source(name).select(rows))


def test_a_hub_like_stream_is_read_without_the_record_cap_and_sampled_deterministically(isolated_cache, tok,
                                                                                         monkeypatch):
    n = 3_000  # over the held threshold below and over the (patched) cap on hub sources loaded whole

    def hub_rows(spec, limit):  # stands in for datasets.load_dataset(..., streaming=True): a generator, once per pass
        assert limit is None  # a streamed hub source is not cut at load.DEFAULT_MAX_RECORDS
        rng = np.random.default_rng(7)
        for i in range(n):
            yield f"{spec.hub_id}#{i + 1}", spec.hub_split, i + 1, {"id": f"h{i}", "text": " ".join(rng.choice(WORDS, 6))}

    monkeypatch.setattr(load, "_hub_rows", hub_rows)
    monkeypatch.setattr(load, "DEFAULT_MAX_RECORDS", 1_000)
    monkeypatch.setattr("curate.tokens.maybe_tokenizer", lambda _m: tok)
    monkeypatch.setattr(artefacts, "HOLD_RECORDS", 100)
    monkeypatch.setattr(artefacts, "SAMPLE_ABOVE", 500)
    monkeypatch.setattr(artefacts, "TOKEN_SAMPLE", 200)
    catalog.register(SourceSpec(name="hubby", kind="text", license="MIT", hub_id="someone/hubby",
                                fields={"id": "id", "informal": "text"}))
    first, second = artefacts.facts("hubby", "any"), artefacts.facts("hubby", "any")  # hub: read on every run
    assert first.streamed and first.records == n and first.tokens_estimated
    assert (first.fingerprint, first.tokens) == (second.fingerprint, second.tokens)
    plan = batching.draw(first.records, 4, 32, seed=0)
    rows = [r for b in plan.rows for r in b]
    a = artefacts.LazySource("hubby", first).select(rows)
    b = artefacts.LazySource("hubby", second).select(rows)
    assert a == b and [r["id"] for r in a] == [f"h{i}" for i in rows]


def test_held_rows_are_the_loaded_rows_and_need_no_datasets(source, tok, monkeypatch):
    import os
    import subprocess
    import sys
    from pathlib import Path

    monkeypatch.setattr("curate.tokens.maybe_tokenizer", lambda _m: tok)
    f = artefacts.facts(source, "any", use_cache=False)
    held = artefacts._LOADED[(source, f.fingerprint)]
    assert isinstance(held, artefacts.HeldSource) and len(held) == f.records
    ds = load.load_source(source)
    rows = [599, 3, 0, 250, 4]
    assert held.select(rows) == [ds[i] for i in rows] and list(held) == list(ds)
    code = ("import sys; from curate import artefacts; f = artefacts.facts('big', None, use_cache=False); "
            "print(f.records, 'datasets' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.stdout.split() == ["600", "False"], proc.stderr  # facts from files alone: no datasets import
