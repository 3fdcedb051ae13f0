"""The Ray engine (Ray Data): the same bytes as the local engine; a Ray task killed mid-run leaves no
output and a rerun completes; results in task order across windows; bad input keeps its one line.

One local Ray (2 CPUs) for the whole module: starting it costs ~10 s and ~1 GB."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from mixtools import build, cli_mix_args, register_awkward_sources
from mixtools import same_bytes as mix_same_bytes

from curate.errors import CurateError

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

FILES = ("data.jsonl", "data.parquet", "removed.jsonl", "removed.parquet", "manifest.json", "MIX.md")


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


def same_bytes(a: Path, b: Path) -> None:
    mix_same_bytes(a, b, FILES)


def leftovers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name not in ("cache", "ref"))


# ----------------------------------------------------------------------------- the executor
def square():
    def fn(shared, task):  # a closure: Ray pickles it by value (the test module is not importable in workers)
        if task == "bad":
            raise CurateError("bad.jsonl:3: malformed JSON")
        return (task * shared["k"], os.getpid())
    return fn


def test_results_come_back_in_task_order_across_windows(local_ray):
    from curate.pipeline.executor import RayExecutor

    ex = RayExecutor(workers=2, window=3)  # 3 shards per dataset: 10 tasks are 4 windows
    out = list(ex.map(square(), {"k": 3}, iter(range(10))))
    assert [v for v, _ in out] == [3 * i for i in range(10)]
    assert all(pid != os.getpid() for _, pid in out)  # the map ran in Ray workers, not in the driver
    assert ex.shares_disk  # a local Ray: every node is this machine
    ex.close()  # connected to the fixture's Ray, so this leaves it running
    assert ray.is_initialized()


def test_light_tasks_fill_longer_windows_in_task_order(local_ray):
    from curate.pipeline import ray_data
    from curate.pipeline.executor import RayExecutor

    it = iter(["heavy"] + list(range(30)))
    sizes = [len(w) for w in iter(lambda: ray_data._read_window(it, 2, light=lambda t: t != "heavy")[0], [])]
    assert sizes == [1 + 8, 16, 6]  # a heavy task weighs LIGHT (8) light ones; a window weighs 2 heavy tasks
    it = iter(["heavy"] + list(range(30)))
    pooled = [p for _, p in iter(lambda: ray_data._read_window(it, 2, light=lambda t: t != "heavy"), ([], False))]
    assert pooled == [False, True, True]  # only a window of light tasks alone may run on the actor pool
    ex = RayExecutor(workers=2, window=1)
    out = list(ex.map(square(), {"k": 2}, iter(range(20)), light=lambda t: True))
    assert [v for v, _ in out] == [2 * i for i in range(20)]


def where():
    def fn(shared, task):
        import ray as r
        return (task + shared["k"], r.get_runtime_context().get_actor_id())
    return fn


@pytest.mark.parametrize("light", [True, False])
def test_light_windows_run_on_an_actor_pool_heavy_ones_as_tasks(local_ray, monkeypatch, light):
    from curate.pipeline import ray_data
    from curate.pipeline.executor import RayExecutor

    monkeypatch.setattr(ray_data, "POOL_WINDOW", 4)  # light windows of max(LIGHT, 4 // 2) x 2 = 16 tasks
    out = list(RayExecutor(workers=2, window=2).map(where(), {"k": 1}, iter(range(40)),
                                                    light=(lambda t: True) if light else (lambda t: False)))
    assert [v for v, _ in out] == [i + 1 for i in range(40)]  # in task order across 3 (or 20) windows
    actors = {a for _, a in out}
    if light:
        assert None not in actors and 2 <= len(actors) <= 6  # two pool actors a window
    else:
        assert actors == {None}  # plain Ray tasks


@pytest.mark.parametrize("light", [None, lambda t: True])  # plain tasks, the actor pool
def test_bad_input_in_a_task_is_the_users_one_line_error(local_ray, light):
    from curate.pipeline.executor import RayExecutor

    with pytest.raises(CurateError, match=r"^bad.jsonl:3: malformed JSON$"):
        list(RayExecutor(workers=2, window=2).map(square(), {"k": 1}, [1, 2, "bad", 4], light=light))


# ----------------------------------------------------------------------------- the mix
@pytest.mark.parametrize("strategy", ["top-k", "proportional", "select", "random"])
def test_ray_gives_the_same_mix_as_local(sources, tmp_path, tok, local_ray, strategy, monkeypatch):
    from curate.pipeline.corpus import Corpus

    kw = dict(strategy=strategy, k=3, budget=10**6 if strategy == "top-k" else 3000)
    ref = build(tmp_path, tok, "ref", **kw)
    back = []  # what reaches the driver from each Ray task
    add = Corpus.add
    monkeypatch.setattr(Corpus, "add", lambda self, res: (back.append((res.path, res.table.column_names)),
                                                          add(self, res))[1])
    for shard_records in (4, 7):  # 4: ~20 shards, several Ray Data windows; a duplicate pair split across shards
        ray_mix = build(tmp_path, tok, f"ray-{shard_records}", engine="ray", workers=2,
                        shard_records=shard_records, **kw)
        same_bytes(ref.out, ray_mix.out)
    # the workers wrote the rows; only compact columns (and keys, removals) came back
    assert len(back) > 10 and all(path and cols == ["id", "tokens", "_row"] for path, cols in back)
    removed = ref.manifest["totals"]["removed"]
    assert removed["exact_duplicate"] and removed["near_duplicate"] and removed["contamination"]
    assert leftovers(tmp_path) == ["ray-4", "ray-7"]  # no work or temp folders left behind


def test_ray_workers_read_the_shards_and_give_the_serial_reads_mix(sources, tmp_path, tok, local_ray, monkeypatch):
    from curate import load

    register_awkward_sources(tmp_path / "src")
    kw = dict(strategy="top-k", k=3, budget=10**6)
    ref = build(tmp_path, tok, "ref", **kw)

    def driver_reads(*a, **k):
        raise AssertionError("the driver read a candidate source's records")

    monkeypatch.setattr(load, "iter_batches", driver_reads)  # the driver's read step (the workers have their own load)
    ray_mix = build(tmp_path, tok, "ray", engine="ray", workers=2, shard_records=3, **kw)
    same_bytes(ref.out, ray_mix.out)
    assert "b2#2" in (ray_mix.out / "data.jsonl").read_text()  # renamed by the driver, written by a worker
    assert leftovers(tmp_path) == ["ray", "src"]


def test_killed_ray_task_leaves_no_output_and_a_rerun_completes(sources, tmp_path, tok, local_ray, monkeypatch):
    from curate.mix import build as build_module
    from curate.pipeline.base import Step
    from curate.pipeline.executor import WorkerDied
    from curate.pipeline.steps import Shared

    driver = os.getpid()

    class DieOn(Step):  # defined here, so Ray pickles it by value into the workers
        name = "die-on"

        def process(self, rows):
            if any(r["id"] == "a10" for r in rows):
                if os.getpid() == driver:
                    raise RuntimeError("the fault must fire in a Ray worker, not in the test process")
                os.kill(os.getpid(), signal.SIGKILL)  # the Ray worker running this task dies mid-run
            return rows, []

    ref = build(tmp_path, tok, "ref")
    monkeypatch.setattr(build_module, "Shared", lambda **kw: Shared(**kw, extra_steps=[DieOn()]))
    with pytest.raises(WorkerDied, match="a Ray task died mid-run .*run the command again") as died:
        build(tmp_path, tok, "m", engine="ray", workers=2, shard_records=3)
    # the worker process died, not some other failure (a pool actor's death, or a plain task's worker's)
    assert "ActorDiedError" in str(died.value) or "WorkerCrashedError" in str(died.value)
    assert not (tmp_path / "m").exists()
    assert leftovers(tmp_path) == []  # no partial output, no temporary or work folder

    monkeypatch.setattr(build_module, "Shared", Shared)
    again = build(tmp_path, tok, "m", engine="ray", workers=2, shard_records=3)  # same Ray, fresh workers
    same_bytes(ref.out, again.out)


def test_cli_engine_ray(sources, tmp_path, local_ray):
    from curate.cli import main

    args = cli_mix_args(tmp_path)
    assert main([*args, "--out", str(tmp_path / "local")]) == 0
    assert main([*args, "--out", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2"]) == 0
    same_bytes(tmp_path / "local", tmp_path / "ray")


def test_an_address_nobody_listens_on_fails_in_one_line():
    from curate.pipeline.ray_data import _reachable

    with pytest.raises(CurateError, match=r"^cannot reach the Ray cluster at 127.0.0.1:1 .*--ray-address$"):
        _reachable("127.0.0.1:1")
    _reachable("auto")  # left to Ray, which fails fast by itself when no cluster runs


def test_a_ray_the_mix_starts_runs_its_workers_at_the_mix_priority(monkeypatch):
    """Ray renices its workers by +15 by default; the Ray a mix starts keeps them at the mix's own priority, as
    the local engine's workers are (a cluster it connects to keeps its own setting)."""
    from curate.pipeline.ray_data import RayExecutor

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    RayExecutor(workers=2)
    RayExecutor(address="auto", workers=2)
    assert calls[0]["_system_config"] == {"worker_niceness": 0} and calls[0]["num_cpus"] == 2
    assert "_system_config" not in calls[1]
