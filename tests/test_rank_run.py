"""rank() end to end on tiny registered sources and a tiny probe: the typed result, rows reported as
they finish, interrupts, a cached rerun that loads nothing, adaptive batches, progress events."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tinymodels import char_tokenizer, tiny_llama
from curate import artefacts, catalog, load, probe, progress, tokens
from curate.catalog import SourceSpec
from curate.metrics import task2vec as t2v
from curate.rank import RankConfig, rank
from curate.types import Ranking

WORDS = {"lean": ["theorem", "lemma", ":=", "by", "simp", "nat", "ring", "x", "+", "="],
         "lean2": ["theorem", "lemma", ":=", "by", "omega", "int", "linarith", "y", "*", "<"],
         "chat": ["hello", "please", "write", "a", "story", "about", "my", "dog", "thanks", "you"],
         "cook": ["bake", "the", "bread", "for", "ten", "minutes", "add", "salt", "and", "butter"]}
OPTIONS = {"batches": 4, "batch_size": 4, "max_length": 32, "n_boot": 200}


def write_source(root, name: str, n: int = 24, seed: int = 0) -> None:
    rng = np.random.default_rng([seed, len(name)])
    words = WORDS[name.split("-")[0]]
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "data.jsonl", "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"{name}{i}", "text": " ".join(rng.choice(words, size=rng.integers(3, 20)))}) + "\n")
    catalog.register(SourceSpec(name=name, kind="text", license="MIT", path=str(folder),
                                fields={"id": "id", "informal": "text"}))


@pytest.fixture()
def world(tmp_path, isolated_cache):
    """Four registered sources (a target and three candidates) and a tiny saved probe."""
    for name in ("lean-target", "lean2", "chat", "cook"):
        write_source(tmp_path / "data", name, seed=1)
    path = tmp_path / "probe"
    tok = char_tokenizer(save_dir=path)
    tiny_llama(vocab_size=len(tok), pad_token_id=tok.pad_token_id).save_pretrained(path)
    return RankConfig(target="lean-target", sources=["lean2", "chat", "cook"], probe=str(path))


def numbers(r: Ranking) -> list[tuple]:
    return [(x.source, x.rank, x.alignment, x.ci_low, x.ci_high, x.diversity, x.records, x.tokens) for x in r.results]


def test_rank_returns_a_typed_ranking_and_reports_each_finished_row(world):
    seen: list[Ranking] = []
    result = rank(world, OPTIONS, on_row=seen.append)
    assert isinstance(result, Ranking) and result.complete and sorted(result.sources) == ["chat", "cook", "lean2"]
    assert [len(p.results) for p in seen] == [1, 2, 3, 3]  # a row as each source finishes, then the end
    assert [p.complete for p in seen] == [False, False, False, True]
    assert seen[-1].to_json() == result.to_json()
    for partial in seen[:-1]:  # each partial ranking is a valid ranking file on its own
        assert Ranking.from_json(json.loads(json.dumps(partial.to_json()))).complete is False
    assert result.results[0].source == "lean2"  # the other Lean-like source is the most aligned
    assert all(r.tokens and r.records == 24 for r in result.results)
    data = result.to_json()
    assert data["complete"] is True and data["results"][0]["alignments"]["task2vec"]["pairs"] == 16
    assert "batches" not in data["results"][0]["alignments"]["task2vec"]  # fixed K: not reported


def test_cached_rerun_loads_no_data_no_tokenizer_and_no_model_and_recomputes_no_ci(world, monkeypatch):
    first = rank(world, OPTIONS)

    def forbidden(*_a, **_k):
        raise AssertionError("a cached ranking loaded something")

    for mod, attr in ((probe, "load"), (load, "load_source"), (load, "load_with_report"), (load, "fingerprint"),
                      (tokens, "tokenizer_for"), (t2v.Task2VecMetric, "embed"), (t2v.coefficients, "alignment"),
                      (t2v.coefficients, "diversity")):
        monkeypatch.setattr(mod, attr, forbidden)
    again = rank(world, OPTIONS)
    assert numbers(again) == numbers(first)


def test_changed_source_files_are_read_again(world, tmp_path):
    before = artefacts.facts("chat", world.probe)
    write_source(tmp_path / "data", "chat", n=30, seed=2)
    after = artefacts.facts("chat", world.probe)
    assert after.records == 30 and after.fingerprint != before.fingerprint


def test_interrupt_keeps_the_partial_ranking_and_a_rerun_gives_the_uninterrupted_numbers(world, monkeypatch,
                                                                                          tmp_path):
    from curate import settings

    uninterrupted = rank(world, OPTIONS)
    registrations = catalog.registry_path().read_text()
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache2"))  # a fresh cache, same registrations
    settings._overrides.pop("cache_dir", None)
    (tmp_path / "cache2").mkdir()
    (tmp_path / "cache2" / "sources.json").write_text(registrations)
    real, calls = t2v.Task2VecMetric.embed, {"n": 0}

    def flaky(self, batch, seed):
        calls["n"] += 1
        if calls["n"] == 4 + 4 + 2:  # target, the first source, half of the second
            raise KeyboardInterrupt
        return real(self, batch, seed)

    monkeypatch.setattr(t2v.Task2VecMetric, "embed", flaky)
    with pytest.raises(KeyboardInterrupt) as info:
        rank(world, OPTIONS)
    partial = info.value.ranking
    assert partial.complete is False and partial.sources == [world.sources[0]]
    cached = list((tmp_path / "cache2" / "task2vec").glob("*/*.npz"))
    assert len(cached) == 4 + 4 + 1  # finished batches kept; the one in flight was discarded
    resumed = rank(world, OPTIONS)
    assert calls["n"] == 10 + (16 - 9)  # the rerun computed only the 7 missing batches
    assert numbers(resumed) == numbers(uninterrupted)


def test_adaptive_batches_grow_only_where_cis_overlap(world):
    world.adaptive = True
    result = rank(world, OPTIONS)
    used = {r.source: r.alignments["task2vec"].batches for r in result.results}
    assert set(used.values()) <= {2, 4}
    rows = result.results
    for i, r in enumerate(rows):  # the stopping rule: no source below the maximum overlaps a neighbour
        if used[r.source] < OPTIONS["batches"]:
            for j in (i - 1, i + 1):
                if 0 <= j < len(rows):
                    o = rows[j]
                    assert r.ci_low > o.ci_high or r.ci_high < o.ci_low
    assert all(r.alignments["task2vec"].pairs == used[r.source] * OPTIONS["batches"] for r in rows)


def test_adaptive_needs_two_start_batches(world):
    from curate.errors import CurateError

    world.adaptive, world.start_batches = True, 1
    with pytest.raises(CurateError, match="at least 2"):
        rank(world, OPTIONS)


class Recorder:
    def __init__(self):
        self.events = []

    def start(self, task):
        self.events.append(("start", task.step, task.total))

    def advance(self, task):
        self.events.append(("advance", task.step, task.done, dict(task.detail)))

    def end(self, task):
        self.events.append(("end", task.step, task.done))

    def note(self, msg):
        self.events.append(("note", msg))


def test_progress_per_batch_with_source_batch_and_expected_time(world):
    rec = Recorder()
    with progress.use(rec):
        rank(world, OPTIONS)
    starts = {e[1]: e[2] for e in rec.events if e[0] == "start"}
    assert starts["task2vec: batches"] == 16  # 4 datasets × 4 batches, none cached
    adv = [e for e in rec.events if e[0] == "advance" and e[1] == "task2vec: batches"]
    assert len(adv) == 16 and adv[-1][2] == 16
    assert {e[3]["source"] for e in adv} == {"lean-target", "lean2", "chat", "cook"}
    assert adv[5][3]["batch"] == "2/4" and "eta_s" in adv[5][3]
    notes = [e[1] for e in rec.events if e[0] == "note"]
    assert any("16 batches to embed" in n for n in notes)
    assert any("first batch took" in n and "15 more" in n for n in notes)
    rec2 = Recorder()
    with progress.use(rec2):
        rank(world, OPTIONS)  # all cached: nothing to embed, no batch events
    assert not [e for e in rec2.events if e[0] == "advance" and e[1] == "task2vec: batches"]


CACHED_RUN = """
import json, sys
from curate.rank import RankConfig, rank
config = RankConfig(**json.loads(sys.argv[1]))
result = rank(config, json.loads(sys.argv[2]))
heavy = sorted(m for m in ("torch", "transformers", "datasets", "tokenizers") if m in sys.modules)
print(json.dumps({"heavy": heavy, "top": result.results[0].source, "n": len(result.results)}))
"""


def test_cached_ranking_in_a_fresh_process_imports_no_torch_transformers_or_datasets(world, tmp_path):
    import os
    import subprocess
    import sys
    from dataclasses import asdict
    from pathlib import Path

    rank(world, OPTIONS)
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", CACHED_RUN, json.dumps(asdict(world)), json.dumps(OPTIONS)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root)}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"heavy": [], "top": "lean2", "n": 3}


def test_legacy_torch_entries_are_read_and_migrated(world):
    import torch

    from curate import settings

    first = rank(world, OPTIONS)
    root = settings.cache_dir() / "task2vec"
    for npz in root.glob("*/*.npz"):  # turn every entry into the format older versions wrote
        import numpy as np

        with np.load(npz) as z:
            torch.save({"embedding": torch.from_numpy(z["embedding"]), "tokens": int(z["tokens"])},
                       npz.with_suffix(".pt"))
        npz.unlink()
    again = rank(world, OPTIONS)
    assert numbers(again) == numbers(first)
    assert len(list(root.glob("*/*.npz"))) == 16  # migrated


RANK_PROC = """
import json, os, sys, time
from curate.metrics import task2vec as t2v
from curate.rank import RankConfig, rank
config, options, slow = RankConfig(**json.loads(sys.argv[1])), json.loads(sys.argv[2]), float(sys.argv[3])
real = t2v.Task2VecMetric.embed
def embed(self, batch, seed):  # slow batches, so that processes overlap or can be killed mid-run
    time.sleep(slow)
    return real(self, batch, seed)
t2v.Task2VecMetric.embed = embed
print(json.dumps(rank(config, options).to_json()))
"""


def _spawn(world, slow: float):
    import os
    import subprocess
    import sys
    from dataclasses import asdict
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen([sys.executable, "-c", RANK_PROC, json.dumps(asdict(world)), json.dumps(OPTIONS), str(slow)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)})


def test_two_concurrent_ranks_on_one_cache_agree_and_share_the_work(world):
    from curate import settings

    artefacts.facts(world.target, world.probe)  # (facts are computed by both otherwise: harmless, but slower)
    procs = [_spawn(world, 0.2) for _ in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert outs[0]["results"] == outs[1]["results"]
    assert len(list((settings.cache_dir() / "task2vec").glob("*/*.npz"))) == 16
    assert numbers(rank(world, OPTIONS)) == numbers(Ranking.from_json(outs[0]))


def test_sigkilled_rank_leaves_a_readable_cache_and_a_rerun_gives_the_same_numbers(world, tmp_path, monkeypatch):
    import signal
    import time

    from curate import settings

    proc = _spawn(world, 0.3)
    folder = settings.cache_dir() / "task2vec"
    end = time.monotonic() + 120
    while len(list(folder.glob("*/*.npz"))) < 6:  # some batches finished, more in flight
        assert time.monotonic() < end and proc.poll() is None, proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    kept = list(folder.glob("*/*.npz"))
    assert 6 <= len(kept) < 16
    import numpy as np

    for f in kept:  # every entry that exists reads back whole
        with np.load(f) as z:
            assert z["embedding"].dtype == np.float32 and z["embedding"].size > 0
    resumed = rank(world, OPTIONS)
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "fresh"))
    registrations = (tmp_path / "cache" / "sources.json").read_text()
    settings._overrides.pop("cache_dir", None)
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "sources.json").write_text(registrations)
    assert numbers(resumed) == numbers(rank(world, OPTIONS))  # same as a run that was never killed


def test_huge_sources_get_a_labelled_token_estimate_from_a_sample(world, monkeypatch):
    exact = artefacts.facts("chat", world.probe)
    assert exact.tokens_estimated is False
    monkeypatch.setattr(artefacts, "SAMPLE_ABOVE", 10)
    monkeypatch.setattr(artefacts, "TOKEN_SAMPLE", 12)
    est = artefacts.facts("chat", world.probe, use_cache=False)
    assert est.tokens_estimated is True and est.records == exact.records
    assert abs(est.tokens - exact.tokens) < 0.5 * exact.tokens  # 12 of 24 records, scaled up
    world.sources = ["chat"]
    result = rank(world, OPTIONS)  # the refreshed (estimated) facts are what the ranking reports
    assert result.to_json()["results"][0]["tokens_estimated"] is True
    assert any("chat: token count estimated from a sample of 12 records" in n for n in result.notes)


def test_token_counts_are_batched_and_equal_unbatched(monkeypatch):
    tok = char_tokenizer()
    texts = [f"text number {i} " * (i % 7 + 1) for i in range(50)]
    one = tokens.lengths(texts, tok)
    monkeypatch.setattr(tokens, "CHUNK", 7)
    assert tokens.lengths(texts, tok) == one
    assert artefacts.count_tokens(texts, tok) == sum(one)


def test_a_streamed_source_ranks_exactly_as_a_held_one_without_being_loaded(world, isolated_cache, monkeypatch):
    held = rank(world, OPTIONS)
    for ns in ("task2vec", "task2vec-estimates", "batch-tokens", "sources", "tokens"):  # all cold again
        shutil.rmtree(isolated_cache / ns, ignore_errors=True)
    artefacts._LOADED.clear()
    monkeypatch.setattr(artefacts, "HOLD_RECORDS", 10)  # every 24-record source is now "too large to hold"

    def forbidden(*_a, **_k):
        raise AssertionError("a streamed source was loaded whole")

    monkeypatch.setattr(load, "load_with_report", forbidden)
    monkeypatch.setattr(load, "load_source", forbidden)
    streamed = rank(world, OPTIONS)
    assert numbers(streamed) == numbers(held)  # same facts, same seeded batches, same embeddings
    assert all(any(f"{s}: 24 records, streamed" in n for n in streamed.notes) for s in ["lean2", "chat", "cook"])
