"""Facts of many sources in parallel worker processes (`curate.sourcepool`): the same facts, token
counts and batch token ids as computed here, and a ranking equal to a serial one that never holds
the records in the ranking's process. Also the probe loaded in a background thread (`probe.Warm`)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from test_rank_run import OPTIONS, numbers, world  # noqa: F401  (world: the fixture)
from curate import artefacts, batching, catalog, load, probe, sourcepool
from curate.catalog import SourceSpec
from curate.errors import CurateError
from curate.metrics import task2vec as t2v
from curate.rank import rank

NAMES = ["lean-target", "lean2", "chat", "cook"]


def cold(cache) -> None:
    for ns in ("task2vec", "task2vec-estimates", "batch-tokens", "sources", "tokens"):
        shutil.rmtree(cache / ns, ignore_errors=True)
    artefacts._LOADED.clear()


def token_entries(cache) -> dict[str, tuple]:
    out = {}
    for path in sorted((cache / "batch-tokens").glob("*/*.npz")):
        with np.load(path) as z:
            out[path.name] = (z["ids"].tolist(), z["lengths"].tolist())
    return out


def test_parallel_facts_and_batch_tokens_equal_serial_ones(world, isolated_cache):
    metric = t2v.Task2VecMetric.from_options({**OPTIONS, "probe": world.probe})
    jobs = [metric.records_job(0)]
    serial = sourcepool.gather(NAMES, world.probe, jobs, max_workers=1)
    for n in NAMES:  # the serial path holds the rows and tokenizes in prepare, as before
        metric.prepare(n, artefacts.LazySource(n, serial[n]), 0)
    want = token_entries(isolated_cache)
    cold(isolated_cache)
    seen, started = [], []
    parallel = sourcepool.gather(NAMES, world.probe, jobs, max_workers=2, on_cold=lambda: started.append(1),
                                 on_done=seen.append)
    assert parallel == serial and list(parallel) == NAMES
    assert sorted(seen) == sorted(NAMES) and started == [1]
    assert artefacts._LOADED == {}  # nothing held here: the workers read the records
    assert token_entries(isolated_cache) == want and len(want) == 4 * len(NAMES)
    again = sourcepool.gather(NAMES, world.probe, jobs, max_workers=2, on_cold=lambda: started.append(2))
    assert again == serial and started == [1]  # all cached: no worker, no on_cold


def test_parallel_ranking_equals_serial_and_reads_no_records_here(world, isolated_cache, monkeypatch):
    serial = rank(world, OPTIONS)
    cold(isolated_cache)
    monkeypatch.setenv("CURATE_WORKERS", "2")

    def forbidden(*_a, **_k):
        raise AssertionError("the ranking's process read records or tokenized batches")

    for mod, attr in ((load, "load_with_report"), (load, "iter_records"), (artefacts, "scan"),
                      (batching, "tokenize")):
        monkeypatch.setattr(mod, attr, forbidden)  # patched here only: the workers have their own
    parallel = rank(world, OPTIONS)
    assert numbers(parallel) == numbers(serial)
    assert json.dumps(parallel.to_json()["results"], sort_keys=True) == \
        json.dumps(serial.to_json()["results"], sort_keys=True)


def test_adaptive_parallel_ranking_equals_serial(world, isolated_cache, monkeypatch):
    world.adaptive = True
    serial = rank(world, OPTIONS)
    cold(isolated_cache)
    monkeypatch.setenv("CURATE_WORKERS", "2")
    monkeypatch.setattr(batching, "tokenize", lambda *_a, **_k: pytest.fail("tokenized here"))
    assert numbers(rank(world, OPTIONS)) == numbers(serial)  # K = 2 and K = 4 batch ids came from the workers


def test_a_worker_error_is_raised_here(tmp_path, isolated_cache):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "data.jsonl").write_text('{"id": "a", "text": "fine"}\n{not json\n')
    catalog.register(SourceSpec(name="bad", kind="text", license="MIT", path=str(folder),
                                fields={"id": "id", "informal": "text"}))
    good = tmp_path / "good"
    good.mkdir()
    (good / "data.jsonl").write_text('{"id": "a", "text": "fine"}\n')
    catalog.register(SourceSpec(name="good", kind="text", license="MIT", path=str(good),
                                fields={"id": "id", "informal": "text"}))
    with pytest.raises(CurateError, match="data.jsonl:2: malformed JSON"):
        sourcepool.gather(["good", "bad"], None, [], max_workers=2)


def test_workers_from_the_environment(monkeypatch):
    monkeypatch.setenv("CURATE_WORKERS", "3")
    assert sourcepool.workers() == 3 and sourcepool.workers(5) == 5
    monkeypatch.setenv("CURATE_WORKERS", "many")
    with pytest.raises(CurateError, match="CURATE_WORKERS"):
        sourcepool.workers()


def test_the_background_probe_load_gives_the_model_or_its_error(world):
    model, device = probe.Warm(world.probe, "cpu").get()
    assert device.type == "cpu" and not model.training
    with pytest.raises(CurateError, match="not a model folder"):
        probe.Warm("/", "cpu").get()  # a folder without config.json


def test_an_interrupt_terminates_the_workers(world, isolated_cache):
    import multiprocessing

    def stop(_name):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sourcepool.gather(NAMES, world.probe, [], max_workers=2, on_done=stop)
    assert multiprocessing.active_children() == []  # terminated and joined, none left behind


def test_an_interrupt_while_the_workers_start_arrives_once_they_have_started():
    import signal

    reached = []
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)  # a job started in the background inherits SIGINT ignored
    try:
        with pytest.raises(KeyboardInterrupt):
            with sourcepool._interrupts_held():
                signal.raise_signal(signal.SIGINT)
                reached.append("after the signal")  # held: the block runs on
        assert reached == ["after the signal"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is back
    finally:
        signal.signal(signal.SIGINT, inherited)
