"""Executors: run a shard function over tasks, results back in task order.

- `LocalExecutor(workers=1)` runs in this process; `workers=N` uses N worker processes (the shared
  state is handed to each worker once, at start).
- `RayExecutor(address=None, workers=None)` (`curate.pipeline.ray_data`) runs the tasks with Ray Data:
  windows of shard tasks as datasets, the shard function as `map_batches` (on an actor pool for shard
  descriptions), order preserved; the shared state is put in the object store once. Without an address a local Ray is started
  (`workers` CPUs).

`map_sources` runs the mix's shard function over the shards of its sources (the read step,
`curate.pipeline.read`): the local engine reads them in this process; Ray's workers read them
themselves when they see this machine's disk.

At most `2 × workers` tasks are in flight (Ray: two windows; a window of shard descriptions holds up to
1,024 of them, each result a few MB), so memory does not grow with the corpus. A worker that dies raises `WorkerDied`; the caller discards everything of that run.
`shares_disk` says whether the workers see the driver's disk (then they may write there).
"""

from __future__ import annotations

import gc
import os
from collections import deque
from typing import Any, Callable, Iterable, Iterator

from curate.errors import CurateError
from curate.pipeline.ray_data import RayExecutor  # noqa: F401  (re-exported)

ENGINES = ("local", "ray")


class WorkerDied(CurateError):
    pass


class LocalExecutor:
    name = "local"
    shares_disk = True

    def __init__(self, workers: int = 1, read_in_workers: bool = False):
        if workers < 1:
            raise CurateError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.read_in_workers = read_in_workers
        """The workers read their shards (`curate.pipeline.read`); off by default: this process reads them."""

    def map_sources(self, shared, sources: list[str], shard_records: int, max_records: int | None,
                    fingerprints: dict[str, str]) -> Iterator[Any]:
        """`run_shard` over every shard of the sources, in order (`curate.pipeline.read.map_sources`)."""
        from curate.pipeline.read import map_sources

        return map_sources(self, shared, sources, shard_records, max_records, fingerprints, self.read_in_workers)

    def map(self, fn: Callable[[Any, Any], Any], shared: Any, tasks: Iterable[Any],
            light: Callable[[Any], bool] | None = None) -> Iterator[Any]:
        """`fn(shared, task)` per task, in task order (`light`: as `RayExecutor.map`; unused here)."""
        if self.workers == 1:
            for t in tasks:
                yield fn(shared, t)
            return
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        methods = mp.get_all_start_methods()
        ctx = mp.get_context("fork" if "fork" in methods else "spawn")
        # forked workers share this process's pages copy-on-write; a collection in a worker writes the
        # GC header of every inherited object and so copies its page: freeze them out of the collector
        frozen = ctx.get_start_method() == "fork" and gc.get_freeze_count() == 0
        if frozen:
            gc.freeze()
        pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init, initargs=(fn, shared))
        pending: deque = deque()
        try:
            it = iter(tasks)
            for t in it:
                pending.append(pool.submit(_call, t))
                if len(pending) >= 2 * self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BrokenProcessPool as exc:
            raise WorkerDied("a worker process died mid-run (killed, or out of memory); nothing was written, "
                             "run the command again") from exc
        finally:
            for f in pending:
                f.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            if frozen:
                gc.unfreeze()

    def close(self) -> None:
        pass


_WORKER: dict[str, Any] = {}


def _init(fn, shared) -> None:
    _WORKER["fn"], _WORKER["shared"] = fn, shared


def _call(task):
    return _WORKER["fn"](_WORKER["shared"], task)


def executor(engine: str = "local", workers: int = 1, address: str | None = None):
    if engine == "local":
        if address:
            raise CurateError("--ray-address needs --engine ray")
        return LocalExecutor(workers)
    if engine == "ray":
        return RayExecutor(address, workers if workers > 1 else None)
    raise CurateError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
